"""Convene as a context manager, outside any fixture."""

import os
import stat

import pytest

from convene import Convene, ConveneError


def test_two_instances_side_by_side_and_nothing_left(tmp_path):
    tmp_a, tmp_b = tmp_path / "a", tmp_path / "b"
    tmp_a.mkdir()
    tmp_b.mkdir()
    # TMPDIR of each server: where its ephemeral data directory is made.
    with Convene(env={"TMPDIR": str(tmp_a)}) as a, Convene(env={"TMPDIR": str(tmp_b)}) as b:
        assert a.endpoint != b.endpoint
        assert a.media_address != b.media_address
        assert a.secret_access_key != b.secret_access_key
        assert [p.name.startswith("convene-ephemeral-") for p in tmp_a.iterdir()] == [True]
        m = a.client.create_meeting(
            ClientRequestToken="cm-1", MediaRegion="us-east-1", ExternalMeetingId="side-a"
        )["Meeting"]
        # The other instance has data of its own (and keys of its own).
        with pytest.raises(b.client.exceptions.NotFoundException):
            b.client.get_meeting(MeetingId=m["MeetingId"])
        assert stat.S_IMODE(a.ready_file.stat().st_mode) == 0o600
        ready_file, pid = a.ready_file, a.pid
    assert not a.running() and not b.running()
    assert not ready_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert list(tmp_a.iterdir()) == [] and list(tmp_b.iterdir()) == []


def test_configured_key_and_extra_flags():
    with Convene(
        access_key_id="AKIDPYTEST",
        secret_access_key="pytest-secret",
        account_id="111122223333",
        args=["--limits", "aws"],
    ) as server:
        assert server.access_key_id == "AKIDPYTEST"
        assert "secret_access_key" not in server.ready, "configured secrets are never announced"
        assert server.secret_access_key == "pytest-secret"
        m = server.client.create_meeting(
            ClientRequestToken="cm-2", MediaRegion="us-east-1", ExternalMeetingId="key"
        )["Meeting"]
        assert ":111122223333:" in m["MeetingArn"]


def test_a_server_that_cannot_start_is_reported():
    with pytest.raises(ConveneError) as e:
        Convene(args=["--account-id", "42"]).start()
    assert "exited" in str(e.value) and "12 digits" in str(e.value)


def test_a_missing_binary_is_reported(monkeypatch):
    monkeypatch.setenv("CONVENE_BIN", "/nonexistent/convene")
    with pytest.raises(ConveneError):
        Convene()
