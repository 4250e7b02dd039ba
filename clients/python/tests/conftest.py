"""Every worker announces its instance in a directory shared by the workers of the run, and
keeps it running until the instances have been seen together (test_parallel.py)."""

import json
import os
import time
from pathlib import Path

import pytest

#: How long a worker keeps its instance for the others to be checked.
HOLD_SECONDS = 120


def worker_count() -> int:
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is a child of the run's own directory.
    root = base.parent if "PYTEST_XDIST_WORKER" in os.environ else base
    d = root / "convene-instances"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture(scope="session", autouse=True)
def announced_instance(convene, shared_dir):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    entry = {
        "worker": worker,
        "pid": convene.pid,
        "ready_file": str(convene.ready_file),
        "ready": convene.ready,
    }
    tmp = shared_dir / f".{worker}.json.tmp"
    tmp.write_text(json.dumps(entry))
    tmp.rename(shared_dir / f"{worker}.json")
    yield convene
    if worker_count() > 1:
        deadline = time.monotonic() + HOLD_SECONDS
        while not (shared_dir / "checked").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
