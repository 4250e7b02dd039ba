"""Under pytest-xdist every worker runs an instance of its own, all at the same time.

One test (on whichever worker) waits until every worker has announced its instance, then
checks them together: each ready file is in place, each instance answers with its own
credentials and has its own ports and data. The workers keep their instances until then
(conftest.py)."""

import json
import os
import time

import boto3
import pytest

from conftest import worker_count


def test_one_instance_per_worker_all_at_once(shared_dir):
    expected = worker_count()
    if os.environ.get("CI") == "true" and expected < 4:
        pytest.fail(f"CI runs this suite with -n 4, not {expected} worker(s)")
    try:
        deadline = time.monotonic() + 90
        while True:
            entries = sorted(shared_dir.glob("*.json"))
            if len(entries) >= expected:
                break
            assert time.monotonic() < deadline, (
                f"{len(entries)} of {expected} workers announced an instance: {entries}"
            )
            time.sleep(0.1)
        instances = [json.loads(p.read_text()) for p in entries]
        assert len(instances) == expected
        endpoints = {i["ready"]["endpoint"] for i in instances}
        medias = {i["ready"]["media_address"] for i in instances}
        assert len(endpoints) == len(medias) == expected
        meetings = []
        for inst in instances:
            # Announced by its ready file, still in place: the instance is running now.
            with open(inst["ready_file"]) as f:
                assert json.load(f) == inst["ready"]
            os.kill(inst["pid"], 0)
            ready = inst["ready"]
            client = boto3.client(
                "chime-sdk-meetings",
                endpoint_url=ready["endpoint"],
                region_name="us-east-1",
                aws_access_key_id=ready["access_key_id"],
                aws_secret_access_key=ready["secret_access_key"],
            )
            m = client.create_meeting(
                ClientRequestToken=f"parallel-{inst['worker']}",
                MediaRegion="us-east-1",
                ExternalMeetingId=inst["worker"],
            )["Meeting"]
            assert m["MediaPlacement"]["AudioHostUrl"] == ready["media_address"]
            meetings.append((client, m["MeetingId"]))
        # Each instance has data of its own.
        for i, (client, _) in enumerate(meetings):
            for j, (_, other) in enumerate(meetings):
                if i != j:
                    with pytest.raises(client.exceptions.NotFoundException):
                        client.get_meeting(MeetingId=other)
        print(f"{expected} instances at once: {sorted(endpoints)}")
    finally:
        (shared_dir / "checked").touch()
