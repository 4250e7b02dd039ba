"""boto3's side of the console end-to-end test (e2e/console.mjs).

    python console_boto3.py create NAME         -> {"MeetingId": ..., "Attendees": [{...}, ...]}
    python console_boto3.py attendees MEETING   -> {"Attendees": [...]} or {"Error": code}
    python console_boto3.py attendee MEETING ID -> {"Attendee": {...}} or {"Error": code}
    python console_boto3.py meeting MEETING     -> {"Meeting": {...}} or {"Error": code}

Endpoint and key: CONVENE_ENDPOINT, CONVENE_ACCESS_KEY_ID, CONVENE_SECRET_ACCESS_KEY.
"""
import json
import os
import sys
import uuid

import boto3
import botocore.config
import botocore.exceptions


def client():
    return boto3.client(
        "chime-sdk-meetings",
        endpoint_url=os.environ["CONVENE_ENDPOINT"],
        region_name=os.environ.get("CONVENE_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("CONVENE_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        aws_secret_access_key=os.environ.get("CONVENE_SECRET_ACCESS_KEY", "secret"),
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def main(argv):
    c = client()
    cmd = argv[1]
    try:
        if cmd == "create":
            r = c.create_meeting_with_attendees(
                ClientRequestToken=str(uuid.uuid4()),
                MediaRegion="us-east-1",
                ExternalMeetingId=argv[2],
                Attendees=[{"ExternalUserId": "alice"}, {"ExternalUserId": "bob"}],
                Tags=[{"Key": "team", "Value": "console-e2e"}],
            )
            out = {"MeetingId": r["Meeting"]["MeetingId"], "Attendees": r["Attendees"]}
        elif cmd == "attendees":
            out = {"Attendees": c.list_attendees(MeetingId=argv[2])["Attendees"]}
        elif cmd == "attendee":
            out = {"Attendee": c.get_attendee(MeetingId=argv[2], AttendeeId=argv[3])["Attendee"]}
        elif cmd == "meeting":
            out = {"Meeting": c.get_meeting(MeetingId=argv[2])["Meeting"]}
        else:
            raise SystemExit(f"unknown command {cmd}")
    except botocore.exceptions.ClientError as e:
        out = {"Error": e.response["Error"]["Code"]}
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(sys.argv)
