"""Meeting events reach AWS targets on moto's server mode, read back by a
plain boto3 consumer (no Convene code on the reading side).

Starts moto_server on a free port and convene with --events-aws-endpoint-url
pointing at it and --events-eventbridge-bus. On moto:
  - an EventBridge rule matching `source: aws.chime` that targets an SQS queue;
  - an SQS queue named directly by the meetings' NotificationsConfiguration;
  - an SNS topic named by the meetings, with an SQS queue subscribed to it.
Several meetings each make four changes; every queue must get every event
once, in order per meeting.

Usage: python conformance/aws_sinks_moto.py path/to/convene path/to/moto_server
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import boto3

STORY = ["chime:MeetingStarted", "chime:AttendeeAdded", "chime:AttendeeDeleted",
         "chime:MeetingEnded"]
MEETINGS = 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, what, proc):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit(f"{what} exited early with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not listen on {port}")


def aws(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def setup_targets(endpoint, tag):
    """The three queues, the rule and the subscription; returns their names."""
    sqs, sns, eb = aws("sqs", endpoint), aws("sns", endpoint), aws("events", endpoint)
    queues = {}
    for name in ("direct", "rule", "sub"):
        url = sqs.create_queue(QueueName=f"{name}-{tag}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        queues[name] = (url, arn)
    bus = f"convene-{tag}"
    eb.create_event_bus(Name=bus)
    eb.put_rule(EventBusName=bus, Name="chime-meetings",
                EventPattern=json.dumps({"source": ["aws.chime"]}))
    eb.put_targets(EventBusName=bus, Rule="chime-meetings",
                   Targets=[{"Id": "queue", "Arn": queues["rule"][1]}])
    topic = sns.create_topic(Name=f"meetings-{tag}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queues["sub"][1])
    return sqs, queues, bus, topic


def start_convene(binary, data, endpoint, bus):
    env = dict(os.environ, CONVENE_ACCESS_KEY_ID="AKIDEXAMPLE",
               CONVENE_SECRET_ACCESS_KEY="secret", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_EC2_METADATA_DISABLED="true")
    ready = os.path.join(data, "ready.json")
    proc = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(data, "db"),
         "--ready-file", ready, "--events-aws-endpoint-url", endpoint,
         "--events-eventbridge-bus", bus],
        env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(data, "convene.log"), "w"))
    for _ in range(400):
        if os.path.exists(ready):
            return proc, json.load(open(ready))["endpoint"]
        if proc.poll() is not None:
            sys.exit("convene exited: " + open(os.path.join(data, "convene.log")).read())
        time.sleep(0.05)
    sys.exit("convene did not start")


def make_changes(endpoint, queue_arn, topic_arn):
    c = boto3.client("chime-sdk-meetings", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    meetings = []
    for i in range(MEETINGS):
        m = c.create_meeting(
            ClientRequestToken=str(uuid.uuid4()), MediaRegion="us-east-1",
            ExternalMeetingId=f"moto-{i}",
            NotificationsConfiguration={"SqsQueueArn": queue_arn, "SnsTopicArn": topic_arn},
        )["Meeting"]["MeetingId"]
        c.create_attendee(MeetingId=m, ExternalUserId=f"user-{i}")
        meetings.append(m)
    for m in meetings:
        for a in c.list_attendees(MeetingId=m)["Attendees"]:
            c.delete_attendee(MeetingId=m, AttendeeId=a["AttendeeId"])
        c.delete_meeting(MeetingId=m)
    return meetings


def read_all(sqs, url, want):
    """A plain consumer: receive, parse, delete, until `want` messages came."""
    got = []
    deadline = time.time() + 60
    while len(got) < want and time.time() < deadline:
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for msg in out.get("Messages", []):
            got.append(json.loads(msg["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return got


def check(name, envelopes, meetings):
    per = {}
    for e in envelopes:
        assert e["source"] == "aws.chime", (name, e)
        assert e["detail-type"] == "Chime Meeting State Change", (name, e)
        assert e["region"] == "us-east-1", (name, e)
        per.setdefault(e["detail"]["meetingId"], []).append(e["detail"]["eventType"])
    for m in meetings:
        assert per.get(m) == STORY, f"{name}: meeting {m} got {per.get(m)}"
    assert len(envelopes) == len(meetings) * len(STORY), (name, len(envelopes))
    print(f"ok: {name}: {len(envelopes)} events, in order per meeting")


def main():
    binary, moto_bin = sys.argv[1], sys.argv[2]
    port = free_port()
    moto = subprocess.Popen([moto_bin, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = tempfile.mkdtemp()
    server = None
    try:
        wait_listening(port, "moto_server", moto)
        moto_url = f"http://127.0.0.1:{port}"
        sqs, queues, bus, topic = setup_targets(moto_url, uuid.uuid4().hex[:8])
        server, endpoint = start_convene(binary, data, moto_url, bus)
        meetings = make_changes(endpoint, queues["direct"][1], topic)
        want = len(meetings) * len(STORY)
        # SQS: the envelope is the body.
        check("SQS SendMessageBatch", read_all(sqs, queues["direct"][0], want), meetings)
        # EventBridge: moto's own envelope around our detail, routed by the rule.
        check("EventBridge rule -> SQS", read_all(sqs, queues["rule"][0], want), meetings)
        # SNS -> SQS: SNS's notification; the envelope is its Message.
        notes = read_all(sqs, queues["sub"][0], want)
        check("SNS PublishBatch -> SQS", [json.loads(n["Message"]) for n in notes], meetings)
    finally:
        if server:
            server.terminate()
            server.wait()
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
