"""Meeting events reach a Standard Webhooks receiver, verified by the
`standardwebhooks` package from PyPI (not by Convene's own code).

Starts convene with --events-webhook-url pointing at a local receiver, makes
changes with boto3, and checks that every event arrives, verified, in order.
Usage: python conformance/webhooks_verify.py path/to/convene
"""

import base64
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from standardwebhooks.webhooks import Webhook

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
received = []
failures = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            payload = Webhook(SECRET).verify(body.decode(), dict(self.headers))
            received.append((self.headers["webhook-id"], payload))
            self.send_response(204)
        except Exception as e:  # a bad signature fails the run
            failures.append(repr(e))
            self.send_response(400)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    binary = sys.argv[1]
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    data = tempfile.mkdtemp()
    env = dict(os.environ, CONVENE_EVENTS_WEBHOOK_SECRET=SECRET,
               CONVENE_ACCESS_KEY_ID="AKIDEXAMPLE", CONVENE_SECRET_ACCESS_KEY="secret")
    ready = os.path.join(data, "ready.json")
    server = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(data, "db"),
         "--ready-file", ready, "--events-webhook-url", url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        endpoint = json.load(open(ready))["endpoint"]
        c = boto3.client("chime-sdk-meetings", endpoint_url=endpoint, region_name="us-east-1",
                         aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
        m = c.create_meeting(ClientRequestToken="webhooks-1", MediaRegion="us-east-1",
                             ExternalMeetingId="webhooks")["Meeting"]["MeetingId"]
        a = c.create_attendee(MeetingId=m, ExternalUserId="alice")["Attendee"]["AttendeeId"]
        c.delete_attendee(MeetingId=m, AttendeeId=a)
        c.delete_meeting(MeetingId=m)
        want = ["chime:MeetingStarted", "chime:AttendeeAdded", "chime:AttendeeDeleted",
                "chime:MeetingEnded"]
        for _ in range(200):
            if len(received) >= len(want) or failures:
                break
            time.sleep(0.05)
        got = [p["detail"]["eventType"] for _, p in received]
        assert not failures, failures
        assert got == want, got
        for wid, p in received:
            assert p["id"] == wid and p["source"] == "aws.chime", p
            assert p["detail-type"] == "Chime Meeting State Change", p
        print(f"ok: {len(received)} events verified by standardwebhooks")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
