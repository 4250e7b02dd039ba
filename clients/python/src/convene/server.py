"""One Convene process: started on free ports, announced by its ready file, stopped cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

__all__ = ["Convene", "ConveneError", "find_binary"]

#: Where the binary is looked for first.
BIN_ENV = "CONVENE_BIN"


class ConveneError(RuntimeError):
    """Convene could not be found, did not start, or did not stop."""


def find_binary(binary: Optional[str] = None) -> str:
    """The ``convene`` executable: ``binary`` if given, else ``$CONVENE_BIN``, else ``PATH``."""
    candidate = binary or os.environ.get(BIN_ENV) or shutil.which("convene")
    if not candidate:
        raise ConveneError(
            "the convene binary was not found: put it on PATH or set CONVENE_BIN "
            "(for example CONVENE_BIN=target/debug/convene after `cargo build`)"
        )
    path = shutil.which(candidate) or candidate
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ConveneError(f"{candidate} is not an executable file")
    return path


def _stop_process(proc: subprocess.Popen, timeout: float) -> Optional[int]:
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


class Convene:
    """A Convene instance of its own, for tests.

    It listens on 127.0.0.1 with a free HTTP port and a free media port, keeps its data in a
    temporary directory removed when it stops (``--ephemeral``), and unless ``access_key_id``
    and ``secret_access_key`` are given, uses a key pair generated for the run. ``start()``
    returns once the server answers requests (its ``--ready-file`` has appeared)::

        with Convene() as server:
            meeting = server.client.create_meeting(
                ClientRequestToken="t1", MediaRegion="us-east-1", ExternalMeetingId="m1")

    ``CONVENE_*`` variables of the calling environment are not passed on, so that an
    exported ``CONVENE_LISTEN`` or ``CONVENE_DATA_DIR`` cannot change where it runs; pass
    settings through ``args`` (extra ``convene serve`` flags) or ``env``.
    """

    def __init__(
        self,
        binary: Optional[str] = None,
        *,
        args: Sequence[str] = (),
        env: Optional[Mapping[str, str]] = None,
        access_key_id: Optional[str] = None,
        secret_access_key: Optional[str] = None,
        account_id: Optional[str] = None,
        region: str = "us-east-1",
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        self.binary = find_binary(binary)
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.region = region
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._given_key = (access_key_id, secret_access_key)
        self._account_id = account_id
        self._proc: Optional[subprocess.Popen] = None
        self._dir: Optional[Path] = None
        self._finalizer: Optional[weakref.finalize] = None
        self._client = None
        #: The ready JSON the server wrote (endpoint, media_address, access_key_id, account_id).
        self.ready: Dict[str, Any] = {}

    # ---- what a test uses ----

    @property
    def endpoint(self) -> str:
        """Base URL of the API, for example ``http://127.0.0.1:40123``."""
        return self._require("endpoint")

    @property
    def media_address(self) -> str:
        """``ip:port`` of the media (WebRTC, UDP) endpoint."""
        return self._require("media_address")

    @property
    def access_key_id(self) -> str:
        return self._require("access_key_id")

    @property
    def secret_access_key(self) -> str:
        secret = self.ready.get("secret_access_key") or self._given_key[1]
        if not secret:
            raise ConveneError("the server announced no secret and none was given")
        return secret

    @property
    def account_id(self) -> str:
        return self._require("account_id")

    @property
    def credentials(self) -> Dict[str, str]:
        """Keyword arguments for ``boto3.client`` / ``boto3.Session``."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "region_name": self.region,
        }

    @property
    def client(self):
        """A boto3 ``chime-sdk-meetings`` client for this instance (made once)."""
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self, service: str = "chime-sdk-meetings", **kwargs: Any):
        """A new boto3 client pointed at this instance; ``kwargs`` go to ``boto3.client``."""
        import boto3

        options: Dict[str, Any] = {"endpoint_url": self.endpoint, **self.credentials}
        options.update(kwargs)
        return boto3.client(service, **options)

    def aws_env(self) -> Dict[str, str]:
        """Environment variables that point any AWS SDK or the AWS CLI at this instance."""
        return {
            "AWS_ENDPOINT_URL_CHIME_SDK_MEETINGS": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc else None

    @property
    def ready_file(self) -> Path:
        if self._dir is None:
            raise ConveneError("not started")
        return self._dir / "ready.json"

    @property
    def log_file(self) -> Path:
        """Where the server's stderr (its log) goes while it runs."""
        if self._dir is None:
            raise ConveneError("not started")
        return self._dir / "convene.log"

    def log(self) -> str:
        """The server's log so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ---- life cycle ----

    def start(self) -> "Convene":
        if self._proc is not None:
            raise ConveneError("already started")
        self._dir = Path(tempfile.mkdtemp(prefix="convene-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVENE_")}
        if self._given_key[0] is not None:
            env["CONVENE_ACCESS_KEY_ID"] = self._given_key[0]
            env["CONVENE_SECRET_ACCESS_KEY"] = self._given_key[1]
        if self._account_id is not None:
            env["CONVENE_ACCOUNT_ID"] = self._account_id
        env.update(self.extra_env)
        argv = [
            self.binary,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ephemeral",
            "--ready-file",
            str(self.ready_file),
            *self.args,
        ]
        with open(self.log_file, "wb") as log, open(self._dir / "stdout", "wb") as out:
            self._proc = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=log
            )
        # Stopped even if the caller forgets to (or the interpreter exits first).
        self._finalizer = weakref.finalize(
            self, _cleanup, self._proc, self._dir, self.stop_timeout
        )
        try:
            self.ready = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> Dict[str, Any]:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                text = self.ready_file.read_text()
            except FileNotFoundError:
                text = None
            if text:
                return json.loads(text)
            code = self._proc.poll()
            if code is not None:
                raise ConveneError(
                    f"convene exited with status {code} before it was ready; its log:\n"
                    + self.log()[-4000:]
                )
            if time.monotonic() > deadline:
                raise ConveneError(
                    f"convene was not ready within {self.startup_timeout} s; its log:\n"
                    + self.log()[-4000:]
                )
            time.sleep(0.02)

    def stop(self) -> Optional[int]:
        """Stops the server (SIGTERM, then SIGKILL after ``stop_timeout``) and removes its
        files. Returns its exit status (None if it had to be killed)."""
        code = None
        if self._proc is not None:
            code = _stop_process(self._proc, self.stop_timeout)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._client = None
        return code

    def __enter__(self) -> "Convene":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _require(self, key: str) -> str:
        if key not in self.ready:
            raise ConveneError("not started" if not self.ready else f"the ready file has no {key}")
        return self.ready[key]

    def __repr__(self) -> str:
        where = self.ready.get("endpoint", "not started")
        return f"<Convene {where}>"


def _cleanup(proc: subprocess.Popen, directory: Path, timeout: float) -> None:
    _stop_process(proc, timeout)
    shutil.rmtree(directory, ignore_errors=True)
