"""README example, checked in CI: test that an application retries CreateAttendee
on throttling, with boto3 against a server started with --test-controls.

    CONVENE_ENDPOINT=http://127.0.0.1:8080 python conformance/faults/boto3_retry.py
"""

import json
import os
import sys
import urllib.request
import uuid

import boto3
import botocore.config

ENDPOINT = os.environ["CONVENE_ENDPOINT"].rstrip("/")


def control(method, path, body=None):
    """A test control request (unsigned: they are served before SigV4)."""
    req = urllib.request.Request(
        ENDPOINT + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def chime(max_attempts):
    return boto3.client(
        "chime-sdk-meetings",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("CONVENE_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        aws_secret_access_key=os.environ.get("CONVENE_SECRET_ACCESS_KEY", "secret"),
        config=botocore.config.Config(retries={"mode": "standard", "total_max_attempts": max_attempts}),
    )


# The application code under test: add an attendee, relying on the SDK's retries.
def add_attendee(client, meeting_id, user):
    return client.create_attendee(MeetingId=meeting_id, ExternalUserId=user)["Attendee"]


def main():
    client = chime(max_attempts=3)
    meeting_id = client.create_meeting(
        ClientRequestToken=str(uuid.uuid4()), MediaRegion="us-east-1", ExternalMeetingId="retry-demo"
    )["Meeting"]["MeetingId"]
    rule = {
        "service": "chime-sdk-meetings",
        "operation": "CreateAttendee",
        "count": 2,
        "error": {"statusCode": 429, "code": "ThrottlingException"},
    }

    # The next two CreateAttendee calls are throttled; the third attempt succeeds.
    control("PATCH", "/_convene/chaos/faults", [rule])
    attendee = add_attendee(client, meeting_id, "alice")
    assert attendee["ExternalUserId"] == "alice"
    assert control("GET", "/_convene/chaos/faults") == [], "both throttled attempts were made"

    # Without retries the application sees the modeled exception class.
    control("PATCH", "/_convene/chaos/faults", [rule])
    no_retries = chime(max_attempts=1)
    try:
        add_attendee(no_retries, meeting_id, "bob")
        raise AssertionError("expected ThrottlingException")
    except no_retries.exceptions.ThrottlingException as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    control("DELETE", "/_convene/chaos/faults", [rule])

    # ServiceUnavailableException carries Retry-After.
    unavailable = {
        "operation": "GetMeeting",
        "count": 1,
        "error": {"code": "ServiceUnavailableException", "retryAfterSeconds": 5},
    }
    control("PATCH", "/_convene/chaos/faults", [unavailable])
    try:
        no_retries.get_meeting(MeetingId=meeting_id)
        raise AssertionError("expected ServiceUnavailableException")
    except no_retries.exceptions.ServiceUnavailableException as e:
        assert e.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "5"
        assert e.response["RetryAfterSeconds"] == "5"
    client.delete_meeting(MeetingId=meeting_id)
    print("boto3 retry example: ok")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report and fail
        print(f"boto3 retry example FAILED: {e!r}", file=sys.stderr)
        sys.exit(1)
