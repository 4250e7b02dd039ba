"""The test-control helpers (convene.faults) against a real instance started with
--test-controls (one per pytest-xdist worker, beside the session's plain instance)."""

import time
import uuid

import pytest

from convene import Convene
from convene.faults import ControlError, Controls, advance_clock, fault, latency


@pytest.fixture(scope="module")
def server():
    with Convene(args=["--test-controls"]) as s:
        yield s


@pytest.fixture
def chime(server):
    import botocore.config

    return server.new_client(
        config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})
    )


@pytest.fixture
def meeting_id(chime):
    return chime.create_meeting(
        ClientRequestToken=str(uuid.uuid4()), MediaRegion="us-east-1", ExternalMeetingId="helper"
    )["Meeting"]["MeetingId"]


def test_a_fault_lasts_for_the_block(server, chime, meeting_id):
    with fault(server, operation="CreateAttendee", code="ThrottlingException") as rule:
        assert rule["error"]["code"] == "ThrottlingException"
        for _ in range(2):
            with pytest.raises(chime.exceptions.ThrottlingException):
                chime.create_attendee(MeetingId=meeting_id, ExternalUserId="alice")
    assert Controls(server).faults() == []
    chime.create_attendee(MeetingId=meeting_id, ExternalUserId="alice")


def test_the_block_cleans_up_after_an_exception(server, chime, meeting_id):
    with pytest.raises(RuntimeError):
        with fault(server, operation="GetMeeting", code="ServiceFailureException"):
            raise RuntimeError("the test failed")
    assert Controls(server).faults() == []
    chime.get_meeting(MeetingId=meeting_id)


def test_count_meeting_and_retry_after(server, chime, meeting_id):
    with fault(
        server,
        operation="GetMeeting",
        meeting_id=meeting_id,
        count=1,
        retry_after_seconds=9,
    ):
        with pytest.raises(chime.exceptions.ServiceUnavailableException) as e:
            chime.get_meeting(MeetingId=meeting_id)
        assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "9"
        chime.get_meeting(MeetingId=meeting_id)  # the count is spent


def test_rules_the_model_refuses_raise_at_once(server):
    with pytest.raises(ControlError) as e:
        with fault(server, operation="GetMeeting", code="LimitExceededException"):
            pass
    assert e.value.status == 400
    assert "GetMeeting cannot raise LimitExceededException" in e.value.message


def test_latency_for_the_block(server, chime, meeting_id):
    with latency(server, 300, operation="GetMeeting"):
        started = time.monotonic()
        chime.get_meeting(MeetingId=meeting_id)
        assert time.monotonic() - started >= 0.3
    assert Controls(server).effects()["operations"] == {}


def test_the_clock_ends_meetings(server, chime, meeting_id):
    answer = advance_clock(server, 24 * 3600)
    assert meeting_id in [m["meetingId"] for m in answer["endedMeetings"]]
    with pytest.raises(chime.exceptions.NotFoundException):
        chime.get_meeting(MeetingId=meeting_id)


def test_endpoint_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("CONVENE_ENDPOINT", server.endpoint)
    assert isinstance(Controls().clock()["offsetSeconds"], int)


def test_the_plain_fixture_has_no_controls(convene):
    # The session's instance runs without --test-controls: the controls are unknown routes.
    with pytest.raises(ControlError) as e:
        Controls(convene).faults()
    assert e.value.status != 200
