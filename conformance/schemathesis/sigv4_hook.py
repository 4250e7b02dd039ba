"""Schemathesis hook: signs every request with AWS Signature Version 4.

Loaded with SCHEMATHESIS_HOOKS=sigv4_hook (this directory on PYTHONPATH). The key comes
from CONVENE_ACCESS_KEY_ID / CONVENE_SECRET_ACCESS_KEY (default AKIDEXAMPLE / secret), the
region from CONVENE_REGION (default us-east-1), the signing name is `chime`.

The signature is computed by botocore's SigV4Auth over the request exactly as `requests`
prepared it (method, URL, headers, body), as a `requests` auth callable, so that what is
signed is what is sent.
"""
import os
import random
import uuid
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDENTIALS = Credentials(
    os.environ.get("CONVENE_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    os.environ.get("CONVENE_SECRET_ACCESS_KEY", "secret"),
)
REGION = os.environ.get("CONVENE_REGION", "us-east-1")
# Headers a proxy or the HTTP library may change on the way: left out of the signature.
UNSIGNED = {"user-agent", "accept-encoding", "connection", "accept"}


def canonical_url(url: str) -> str:
    """The URL with its query re-encoded as SigV4 clients do (`%20`, never `+`), so that
    the query the server reads is the one that was signed."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode(pairs, quote_via=quote, safe="-_.~")
    return urlunsplit(parts._replace(query=query))


class SigV4(requests.auth.AuthBase):
    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.url = canonical_url(r.url)
        headers = {k: v for k, v in r.headers.items() if k.lower() not in UNSIGNED}
        body = r.body if r.body is not None else b""
        aws = AWSRequest(method=r.method, url=r.url, data=body, headers=headers)
        SigV4Auth(CREDENTIALS, "chime", REGION).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date"):
            r.headers[name] = aws.headers[name]
        return r


# The model leaves these members free-form, but the server (as AWS) accepts only the documented
# values: most generated requests get a usable value, so that meetings and attendees get created
# and the deeper operations are reached too.
MEDIA_REGIONS = ["us-east-1", "eu-central-1", "ap-southeast-1"]


def _realistic(body):
    if not isinstance(body, dict) or random.random() < 0.2:
        return
    if "MediaRegion" in body:
        body["MediaRegion"] = random.choice(MEDIA_REGIONS)
    for key in ("ExternalMeetingId", "ExternalUserId"):
        if key in body:
            body[key] = "st-" + uuid.uuid4().hex[:12]
    if "ClientRequestToken" in body:
        body["ClientRequestToken"] = uuid.uuid4().hex
    attendees = body.get("Attendees")
    # Negative cases may make Attendees anything at all; only a list is rewritten.
    for item in attendees if isinstance(attendees, list) else []:
        if isinstance(item, dict) and "ExternalUserId" in item:
            item["ExternalUserId"] = "st-" + uuid.uuid4().hex[:12]


@schemathesis.hook
def before_call(context, case, kwargs):
    _realistic(case.body)
    kwargs["auth"] = SigV4()
