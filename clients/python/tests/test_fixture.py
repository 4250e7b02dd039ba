"""The session fixture: a running instance with a ready client."""

import json
import os
import stat
import subprocess
import sys
import uuid

import pytest


def token():
    return uuid.uuid4().hex


def test_ready_file_announces_the_instance(convene):
    path = convene.ready_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    announced = json.loads(path.read_text())
    assert announced == convene.ready
    assert set(announced) == {
        "endpoint",
        "media_address",
        "access_key_id",
        "account_id",
        "secret_access_key",
    }
    assert convene.endpoint.startswith("http://127.0.0.1:")
    assert not convene.endpoint.endswith(":8080")
    host, port = convene.media_address.rsplit(":", 1)
    assert host == "127.0.0.1" and port not in ("0", "3478")
    assert convene.account_id == "123456789012"
    assert convene.running()


def test_client_creates_meetings_on_this_instance(convene, convene_client):
    meeting = convene_client.create_meeting(
        ClientRequestToken=token(), MediaRegion="us-east-1", ExternalMeetingId="fixture"
    )["Meeting"]
    placement = meeting["MediaPlacement"]
    assert placement["AudioHostUrl"] == convene.media_address
    port = convene.endpoint.rsplit(":", 1)[1]
    assert placement["SignalingUrl"].startswith(f"ws://127.0.0.1:{port}/control/")
    assert f":{convene.account_id}:meeting/" in meeting["MeetingArn"]
    got = convene_client.get_meeting(MeetingId=meeting["MeetingId"])["Meeting"]
    assert got["MeetingId"] == meeting["MeetingId"]
    convene_client.delete_meeting(MeetingId=meeting["MeetingId"])
    with pytest.raises(convene_client.exceptions.NotFoundException):
        convene_client.get_meeting(MeetingId=meeting["MeetingId"])


def test_attendees(convene_client):
    meeting = convene_client.create_meeting(
        ClientRequestToken=token(), MediaRegion="eu-west-1", ExternalMeetingId="attendees"
    )["Meeting"]
    for user in ("alice", "bob", "carol"):
        convene_client.create_attendee(MeetingId=meeting["MeetingId"], ExternalUserId=user)
    listed = convene_client.list_attendees(MeetingId=meeting["MeetingId"])["Attendees"]
    assert [a["ExternalUserId"] for a in listed] == ["alice", "bob", "carol"]


def test_credentials_work_for_new_clients(convene):
    client = convene.new_client()
    assert client is not convene.client
    client.create_meeting(
        ClientRequestToken=token(), MediaRegion="us-east-1", ExternalMeetingId="new-client"
    )
    wrong = convene.new_client(aws_secret_access_key="not-the-secret")
    with pytest.raises(wrong.exceptions.ClientError) as e:
        wrong.create_meeting(
            ClientRequestToken=token(), MediaRegion="us-east-1", ExternalMeetingId="wrong"
        )
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_aws_env_points_a_subprocess_at_the_instance(convene):
    # boto3 in a child process, configured by the environment alone (no endpoint_url).
    code = (
        "import boto3\n"
        "c = boto3.client('chime-sdk-meetings')\n"
        "m = c.create_meeting(ClientRequestToken='env-1', MediaRegion='us-east-1',"
        " ExternalMeetingId='env')['Meeting']\n"
        "print(m['MeetingId'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(convene.aws_env())
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    meeting_id = out.stdout.strip()
    assert convene.client.get_meeting(MeetingId=meeting_id)["Meeting"]["MeetingId"] == meeting_id
