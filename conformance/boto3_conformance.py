#!/usr/bin/env python3
"""boto3 conformance checks for Convene (Amazon Chime SDK Meetings emulator).

Drives a *running* server through the real boto3 client and checks all sixteen
operations: the nine meetings/attendees operations (CreateMeeting,
CreateMeetingWithAttendees, GetMeeting, DeleteMeeting, CreateAttendee,
BatchCreateAttendee, GetAttendee, ListAttendees, DeleteAttendee), the capability
updates (UpdateAttendeeCapabilities, BatchUpdateAttendeeCapabilitiesExcept),
transcription (StartMeetingTranscription, StopMeetingTranscription) and tagging
(TagResource, UntagResource, ListTagsForResource).

Usage:
    CONVENE_ENDPOINT=http://127.0.0.1:8080 python3 conformance/boto3_conformance.py

Environment:
    CONVENE_ENDPOINT    base URL of the server (required)
    CONVENE_ACCOUNT_ID  account id expected in MeetingArn (default 123456789012)
    CONVENE_VERBOSE=1   also print every passing check
    CONVENE_ACCESS_KEY_ID / CONVENE_SECRET_ACCESS_KEY
                        the key to sign with (default AKIDEXAMPLE / secret). The
                        server verifies every signature (SigV4), so it must know
                        this key: start it with the same two variables set

Arguments: optional section names to run only those sections (see SECTIONS).

Needs Python >= 3.10 and boto3 (any version whose model has
MeetingFeatures.Video/Content/Attendee, i.e. botocore >= 1.34.5).
Exit status: 0 if every check passed, 1 if any failed, 2 on a setup problem.
The last line printed is always "boto3: N passed, M failed".
"""

import os
import re
import sys
import traceback
import uuid

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover
    print("boto3 is not installed (pip install boto3)", file=sys.stderr)
    sys.exit(2)

ENDPOINT = os.environ.get("CONVENE_ENDPOINT", "").strip()
ACCOUNT = os.environ.get("CONVENE_ACCOUNT_ID", "123456789012")
REGION = "us-east-1"
VERBOSE = os.environ.get("CONVENE_VERBOSE", "") not in ("", "0")

GUID_RE = re.compile(r"^[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}$")
PLACEMENT_KEYS = [
    "AudioHostUrl",
    "AudioFallbackUrl",
    "SignalingUrl",
    "TurnControlUrl",
    "ScreenDataUrl",
    "ScreenViewingUrl",
    "ScreenSharingUrl",
    "EventIngestionUrl",
]
ALL_SEND_RECEIVE = {"Audio": "SendReceive", "Video": "SendReceive", "Content": "SendReceive"}

PASSED = 0
FAILED = 0
FAILURES = []
SECTION = "?"


def check(cond, what, detail=None):
    """Record one check. Returns cond so callers can guard follow-up checks."""
    global PASSED, FAILED
    if cond:
        PASSED += 1
        if VERBOSE:
            print(f"  ok   [{SECTION}] {what}")
    else:
        FAILED += 1
        msg = f"[{SECTION}] {what}"
        if detail is not None:
            msg += f"\n         got: {detail!r}"
        FAILURES.append(msg)
        print(f"  FAIL {msg}")
    return bool(cond)


def uid(prefix):
    """A fresh value valid as ExternalMeetingId/ExternalUserId/ClientRequestToken."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_client(**extra):
    # NOTE: in botocore `retries.max_attempts` means *retries* (so 1 = one retry);
    # `total_max_attempts` (which takes precedence) = 1 means a single attempt, no retry.
    cfg = Config(retries={"max_attempts": 1, "total_max_attempts": 1}, **extra)
    return boto3.client(
        "chime-sdk-meetings",
        region_name=REGION,
        endpoint_url=ENDPOINT,
        aws_access_key_id=os.environ.get("CONVENE_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        aws_secret_access_key=os.environ.get("CONVENE_SECRET_ACCESS_KEY", "secret"),
        config=cfg,
    )


CLIENT = None
RAW = None  # client with parameter_validation=False
LAST_ERROR = None  # the ClientError.response of the last error expect_error saw


def status(resp):
    return resp.get("ResponseMetadata", {}).get("HTTPStatusCode")


def expect_error(fn, exc_names, http_status, what, **kwargs):
    """Call fn(**kwargs) expecting a modeled error.

    exc_names: a class name or a tuple of acceptable class names.
    http_status: expected HTTP status (int), or dict name->status.
    Returns the class name actually raised (or None)."""
    global LAST_ERROR
    if isinstance(exc_names, str):
        exc_names = (exc_names,)
    LAST_ERROR = None
    try:
        resp = fn(**kwargs)
    except ClientError as e:
        LAST_ERROR = e.response
        code = e.response.get("Error", {}).get("Code")
        got_status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        matched = None
        client = getattr(fn, "__self__", CLIENT)
        for name in exc_names:
            cls = getattr(client.exceptions, name)
            if isinstance(e, cls):
                matched = name
        check(matched is not None,
              f"{what}: raises client.exceptions.{'/'.join(exc_names)}",
              f"{type(e).__name__} code={code!r} status={got_status} msg={e.response.get('Error', {}).get('Message')!r}")
        check(code in exc_names,
              f"{what}: Error.Code is {'/'.join(exc_names)}", code)
        want = http_status.get(code) if isinstance(http_status, dict) else http_status
        if want is not None:
            check(got_status == want, f"{what}: HTTP status {want}", got_status)
        rid = e.response.get("ResponseMetadata", {}).get("RequestId")
        check(bool(rid), f"{what}: error response carries x-amzn-RequestId", rid)
        msg = e.response.get("Error", {}).get("Message")
        check(isinstance(msg, str) and msg != "", f"{what}: error has a non-empty Message", msg)
        return code
    except Exception as e:  # e.g. ParamValidationError, connection errors
        check(False, f"{what}: raises {'/'.join(exc_names)}", f"{type(e).__name__}: {e}")
        return None
    else:
        check(False, f"{what}: raises {'/'.join(exc_names)}",
              f"no error, HTTP {status(resp)}: {strip_meta(resp)}")
        return None


def strip_meta(resp):
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def check_meeting_shape(m, *, external_meeting_id=None, media_region=REGION, what="Meeting"):
    mid = m.get("MeetingId")
    check(isinstance(mid, str) and GUID_RE.match(mid) is not None, f"{what}.MeetingId is a GUID", mid)
    check(m.get("MeetingArn") == f"arn:aws:chime:{REGION}:{ACCOUNT}:meeting/{mid}",
          f"{what}.MeetingArn == arn:aws:chime:{REGION}:{ACCOUNT}:meeting/<MeetingId>", m.get("MeetingArn"))
    check(m.get("MediaRegion") == media_region, f"{what}.MediaRegion == {media_region}", m.get("MediaRegion"))
    if external_meeting_id is not None:
        check(m.get("ExternalMeetingId") == external_meeting_id, f"{what}.ExternalMeetingId echoed",
              m.get("ExternalMeetingId"))
    mp = m.get("MediaPlacement") or {}
    missing = [k for k in PLACEMENT_KEYS if not (isinstance(mp.get(k), str) and mp.get(k))]
    check(not missing, f"{what}.MediaPlacement has all 8 URLs non-empty", {"missing": missing, "got": mp})
    sig = mp.get("SignalingUrl") or ""
    check("?" not in sig, f"{what}.MediaPlacement.SignalingUrl has no '?'", sig)
    check(isinstance(mid, str) and sig.endswith(f"/control/{mid}"),
          f"{what}.MediaPlacement.SignalingUrl ends with /control/<MeetingId>", sig)


def check_attendee_shape(a, *, external_user_id=None, caps=ALL_SEND_RECEIVE, what="Attendee"):
    aid = a.get("AttendeeId")
    check(isinstance(aid, str) and GUID_RE.match(aid) is not None, f"{what}.AttendeeId is a GUID", aid)
    jt = a.get("JoinToken")
    check(isinstance(jt, str) and 2 <= len(jt) <= 2048, f"{what}.JoinToken present (2..2048 chars)", jt)
    if external_user_id is not None:
        check(a.get("ExternalUserId") == external_user_id, f"{what}.ExternalUserId echoed", a.get("ExternalUserId"))
    if caps is not None:
        check(a.get("Capabilities") == caps, f"{what}.Capabilities == {caps}", a.get("Capabilities"))


def new_meeting(**extra):
    kwargs = dict(ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("mtg"))
    kwargs.update(extra)
    return CLIENT.create_meeting(**kwargs)["Meeting"]


# ---------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------

def t_create_meeting():
    token, ext = uid("tok"), uid("ext-meeting")
    resp = CLIENT.create_meeting(ClientRequestToken=token, MediaRegion=REGION, ExternalMeetingId=ext)
    check(status(resp) == 200, "CreateMeeting returns HTTP 200", status(resp))
    rid = resp["ResponseMetadata"].get("RequestId")
    check(bool(rid), "CreateMeeting: ResponseMetadata.RequestId (x-amzn-RequestId) non-empty", rid)
    m = resp.get("Meeting") or {}
    check_meeting_shape(m, external_meeting_id=ext)
    mid = m.get("MeetingId")

    # idempotency via ClientRequestToken
    resp2 = CLIENT.create_meeting(ClientRequestToken=token, MediaRegion=REGION, ExternalMeetingId=ext)
    m2 = resp2.get("Meeting") or {}
    check(m2.get("MeetingId") == mid, "CreateMeeting with the same ClientRequestToken returns the same MeetingId",
          (mid, m2.get("MeetingId")))
    check(m2.get("MediaPlacement") == m.get("MediaPlacement"),
          "CreateMeeting token replay returns the same MediaPlacement")

    # a different token gives a different meeting
    m3 = new_meeting(ExternalMeetingId=ext)
    check(m3.get("MeetingId") != mid, "CreateMeeting with a new token creates a new meeting", m3.get("MeetingId"))

    # GetMeeting
    g = CLIENT.get_meeting(MeetingId=mid)
    check(status(g) == 200, "GetMeeting returns HTTP 200", status(g))
    check(bool(g["ResponseMetadata"].get("RequestId")), "GetMeeting: RequestId non-empty")
    gm = g.get("Meeting") or {}
    check_meeting_shape(gm, external_meeting_id=ext, what="GetMeeting.Meeting")
    check(gm.get("MeetingId") == mid, "GetMeeting returns the requested meeting", gm.get("MeetingId"))
    check(gm.get("MediaPlacement") == m.get("MediaPlacement"), "GetMeeting MediaPlacement == CreateMeeting's",
          (gm.get("MediaPlacement"), m.get("MediaPlacement")))
    # GUIDs are case-insensitive hex; upper-case id should either find it or be a clean 4xx, never 5xx
    try:
        CLIENT.get_meeting(MeetingId=mid.upper())
        check(True, "GetMeeting with upper-case MeetingId does not 5xx")
    except ClientError as e:
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] < 500,
              "GetMeeting with upper-case MeetingId does not 5xx", e.response["Error"])


def t_attendees():
    m = new_meeting()
    mid = m["MeetingId"]

    # CreateAttendee with default capabilities
    u1 = uid("user1")
    r = CLIENT.create_attendee(MeetingId=mid, ExternalUserId=u1)
    check(status(r) == 200, "CreateAttendee returns HTTP 200", status(r))
    check(bool(r["ResponseMetadata"].get("RequestId")), "CreateAttendee: RequestId non-empty")
    a1 = r.get("Attendee") or {}
    check_attendee_shape(a1, external_user_id=u1, caps=ALL_SEND_RECEIVE, what="CreateAttendee.Attendee")

    # same ExternalUserId → same attendee
    a1b = CLIENT.create_attendee(MeetingId=mid, ExternalUserId=u1).get("Attendee") or {}
    check(a1b.get("AttendeeId") == a1.get("AttendeeId"),
          "CreateAttendee repeated with same ExternalUserId returns the same AttendeeId",
          (a1.get("AttendeeId"), a1b.get("AttendeeId")))
    check(a1b.get("JoinToken") == a1.get("JoinToken"),
          "CreateAttendee repeated with same ExternalUserId returns the same JoinToken")

    # GetAttendee
    g = CLIENT.get_attendee(MeetingId=mid, AttendeeId=a1["AttendeeId"])
    check(status(g) == 200, "GetAttendee returns HTTP 200", status(g))
    ga = g.get("Attendee") or {}
    check_attendee_shape(ga, external_user_id=u1, what="GetAttendee.Attendee")
    check(ga.get("AttendeeId") == a1["AttendeeId"] and ga.get("JoinToken") == a1["JoinToken"],
          "GetAttendee returns the same AttendeeId and JoinToken", ga)

    # BatchCreateAttendee: 3 new + 1 invalid (reserved aws: prefix; pattern violation reaches the server)
    users = [uid("user2"), uid("user3"), uid("user4")]
    b = CLIENT.batch_create_attendee(
        MeetingId=mid,
        Attendees=[{"ExternalUserId": u} for u in users] + [{"ExternalUserId": "aws:reserved"}],
    )
    check(status(b) == 200, "BatchCreateAttendee returns HTTP 200", status(b))
    batts = b.get("Attendees") or []
    berrs = b.get("Errors") or []
    check(len(batts) == 3, "BatchCreateAttendee: 3 Attendees created", len(batts))
    check([a.get("ExternalUserId") for a in batts] == users,
          "BatchCreateAttendee: Attendees in request order with ExternalUserIds echoed",
          [a.get("ExternalUserId") for a in batts])
    for i, a in enumerate(batts):
        check_attendee_shape(a, caps=ALL_SEND_RECEIVE, what=f"BatchCreateAttendee.Attendees[{i}]")
    check(len(berrs) == 1, "BatchCreateAttendee: exactly 1 entry in Errors", berrs)
    if berrs:
        e0 = berrs[0]
        check(e0.get("ExternalUserId") == "aws:reserved", "BatchCreateAttendee.Errors[0].ExternalUserId echoed", e0)
        check(bool(e0.get("ErrorCode")), "BatchCreateAttendee.Errors[0].ErrorCode non-empty", e0)
        check(bool(e0.get("ErrorMessage")), "BatchCreateAttendee.Errors[0].ErrorMessage non-empty", e0)
    ids = [a1["AttendeeId"]] + [a.get("AttendeeId") for a in batts]
    check(len(set(ids)) == len(ids), "all AttendeeIds are distinct", ids)
    tokens = [a1["JoinToken"]] + [a.get("JoinToken") for a in batts]
    check(len(set(tokens)) == len(tokens), "all JoinTokens are distinct")

    # ListAttendees, page by page, MaxResults=2
    seen, pages, next_token = [], 0, None
    while True:
        kw = {"MeetingId": mid, "MaxResults": 2}
        if next_token is not None:
            kw["NextToken"] = next_token
        page = CLIENT.list_attendees(**kw)
        pages += 1
        if pages == 1:
            check(status(page) == 200, "ListAttendees returns HTTP 200", status(page))
        atts = page.get("Attendees")
        check(isinstance(atts, list) and len(atts) <= 2, f"ListAttendees page {pages}: at most 2 Attendees",
              atts)
        seen.extend(atts or [])
        next_token = page.get("NextToken")
        if not next_token or pages > 20:
            break
    check(pages <= 20, "ListAttendees pagination terminates", pages)
    seen_ids = [a.get("AttendeeId") for a in seen]
    check(seen_ids == ids, "ListAttendees (MaxResults=2): every attendee exactly once, in creation order",
          {"want": ids, "got": seen_ids})
    check(pages == 2, "ListAttendees: 4 attendees with MaxResults=2 take exactly 2 pages", pages)
    by_id = {a.get("AttendeeId"): a for a in seen}
    check(by_id.get(a1["AttendeeId"], {}).get("JoinToken") == a1["JoinToken"]
          and by_id.get(a1["AttendeeId"], {}).get("ExternalUserId") == u1,
          "ListAttendees entries carry ExternalUserId and JoinToken")
    # without MaxResults (default page size) following all pages gives the same list
    seen2, next_token, n = [], None, 0
    while n < 20:
        kw = {"MeetingId": mid}
        if next_token:
            kw["NextToken"] = next_token
        page = CLIENT.list_attendees(**kw)
        seen2.extend(a.get("AttendeeId") for a in page.get("Attendees") or [])
        next_token = page.get("NextToken")
        n += 1
        if not next_token:
            break
    check(seen2 == ids, "ListAttendees (default page size): same attendees in creation order", seen2)

    # bad NextToken / MaxResults
    expect_error(CLIENT.list_attendees, "BadRequestException", 400, "ListAttendees with garbage NextToken",
                 MeetingId=mid, NextToken="garbage-not-a-token!!")
    expect_error(RAW.list_attendees, "BadRequestException", 400, "ListAttendees MaxResults=0",
                 MeetingId=mid, MaxResults=0)
    expect_error(CLIENT.list_attendees, "BadRequestException", 400, "ListAttendees MaxResults=101",
                 MeetingId=mid, MaxResults=101)

    # DeleteAttendee → GetAttendee 404 → recreate gives a NEW attendee
    d = CLIENT.delete_attendee(MeetingId=mid, AttendeeId=a1["AttendeeId"])
    check(status(d) == 204, "DeleteAttendee returns HTTP 204", status(d))
    check(bool(d["ResponseMetadata"].get("RequestId")), "DeleteAttendee: RequestId non-empty")
    expect_error(CLIENT.get_attendee, "NotFoundException", 404, "GetAttendee after DeleteAttendee",
                 MeetingId=mid, AttendeeId=a1["AttendeeId"])
    expect_error(CLIENT.delete_attendee, "NotFoundException", 404, "DeleteAttendee twice",
                 MeetingId=mid, AttendeeId=a1["AttendeeId"])
    listed = [a.get("AttendeeId") for a in CLIENT.list_attendees(MeetingId=mid, MaxResults=100).get("Attendees", [])]
    check(a1["AttendeeId"] not in listed and len(listed) == 3, "ListAttendees no longer shows the deleted attendee",
          listed)
    a1n = CLIENT.create_attendee(MeetingId=mid, ExternalUserId=u1).get("Attendee") or {}
    check_attendee_shape(a1n, external_user_id=u1, what="re-created Attendee")
    check(a1n.get("AttendeeId") != a1["AttendeeId"],
          "CreateAttendee after DeleteAttendee (same ExternalUserId) gives a NEW AttendeeId",
          (a1["AttendeeId"], a1n.get("AttendeeId")))
    check(a1n.get("JoinToken") != a1["JoinToken"],
          "CreateAttendee after DeleteAttendee (same ExternalUserId) gives a NEW JoinToken")

    # unknown / malformed attendee ids
    expect_error(CLIENT.get_attendee, "NotFoundException", 404, "GetAttendee unknown AttendeeId",
                 MeetingId=mid, AttendeeId=str(uuid.uuid4()))
    expect_error(CLIENT.get_attendee, ("BadRequestException", "NotFoundException"),
                 {"BadRequestException": 400, "NotFoundException": 404}, "GetAttendee malformed AttendeeId",
                 MeetingId=mid, AttendeeId="not-a-guid")
    expect_error(CLIENT.create_attendee, "NotFoundException", 404, "CreateAttendee on unknown meeting",
                 MeetingId=str(uuid.uuid4()), ExternalUserId=uid("u"))
    expect_error(CLIENT.create_attendee, "BadRequestException", 400, "CreateAttendee ExternalUserId 'aws:x'",
                 MeetingId=mid, ExternalUserId="aws:x")
    expect_error(RAW.create_attendee, "BadRequestException", 400, "CreateAttendee ExternalUserId of 65 chars",
                 MeetingId=mid, ExternalUserId="u" * 65)
    expect_error(CLIENT.list_attendees, "NotFoundException", 404, "ListAttendees on unknown meeting",
                 MeetingId=str(uuid.uuid4()))

    # explicit capabilities are echoed
    caps = {"Audio": "Send", "Video": "Receive", "Content": "None"}
    ac = CLIENT.create_attendee(MeetingId=mid, ExternalUserId=uid("caps"), Capabilities=caps).get("Attendee") or {}
    check(ac.get("Capabilities") == caps, "CreateAttendee echoes explicit Capabilities", ac.get("Capabilities"))


def t_create_meeting_with_attendees():
    token, ext = uid("tok"), uid("mwa")
    users = [uid("mwa-u1"), uid("mwa-u2")]
    kw = dict(ClientRequestToken=token, MediaRegion=REGION, ExternalMeetingId=ext,
              Attendees=[{"ExternalUserId": u} for u in users])
    r = CLIENT.create_meeting_with_attendees(**kw)
    check(status(r) == 200, "CreateMeetingWithAttendees returns HTTP 200", status(r))
    check(bool(r["ResponseMetadata"].get("RequestId")), "CreateMeetingWithAttendees: RequestId non-empty")
    m = r.get("Meeting") or {}
    check_meeting_shape(m, external_meeting_id=ext, what="CreateMeetingWithAttendees.Meeting")
    atts = r.get("Attendees") or []
    check(len(atts) == 2, "CreateMeetingWithAttendees: 2 Attendees", atts)
    check([a.get("ExternalUserId") for a in atts] == users, "CreateMeetingWithAttendees: ExternalUserIds in order",
          [a.get("ExternalUserId") for a in atts])
    for i, a in enumerate(atts):
        check_attendee_shape(a, what=f"CreateMeetingWithAttendees.Attendees[{i}]")
    check(not r.get("Errors"), "CreateMeetingWithAttendees: Errors absent or empty", r.get("Errors"))

    r2 = CLIENT.create_meeting_with_attendees(**kw)
    m2 = r2.get("Meeting") or {}
    check(m2.get("MeetingId") == m.get("MeetingId"),
          "CreateMeetingWithAttendees token replay returns the same MeetingId", (m.get("MeetingId"), m2.get("MeetingId")))
    ids1 = sorted((a.get("ExternalUserId"), a.get("AttendeeId"), a.get("JoinToken")) for a in atts)
    ids2 = sorted((a.get("ExternalUserId"), a.get("AttendeeId"), a.get("JoinToken")) for a in r2.get("Attendees") or [])
    check(ids1 == ids2, "CreateMeetingWithAttendees token replay returns the same attendees", {"first": ids1, "replay": ids2})

    # the meeting and its attendees are real
    if m.get("MeetingId"):
        listed = [a.get("AttendeeId") for a in
                  CLIENT.list_attendees(MeetingId=m["MeetingId"], MaxResults=100).get("Attendees", [])]
        check(listed == [a.get("AttendeeId") for a in atts],
              "ListAttendees on the CreateMeetingWithAttendees meeting shows exactly its 2 attendees", listed)
        if atts:
            ga = CLIENT.get_attendee(MeetingId=m["MeetingId"], AttendeeId=atts[0]["AttendeeId"]).get("Attendee", {})
            check(ga.get("JoinToken") == atts[0].get("JoinToken"), "GetAttendee on a CreateMeetingWithAttendees attendee")

    # one invalid attendee: the model has an Errors list, so partial success (1 Attendee + 1 Errors
    # entry) is expected; a whole-request BadRequestException is also tolerated (reported as info).
    try:
        r3 = CLIENT.create_meeting_with_attendees(
            ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("mwa"),
            Attendees=[{"ExternalUserId": uid("ok")}, {"ExternalUserId": "aws:bad"}])
        errs = r3.get("Errors") or []
        check(len(r3.get("Attendees") or []) == 1 and len(errs) == 1
              and errs[0].get("ExternalUserId") == "aws:bad" and errs[0].get("ErrorCode"),
              "CreateMeetingWithAttendees with 1 valid + 1 reserved user: 1 Attendee + 1 Errors entry",
              strip_meta(r3))
        print("  info [create-meeting-with-attendees] 1 valid + 1 reserved user -> partial success")
    except ClientError as e:
        check(e.response["Error"]["Code"] == "BadRequestException",
              "CreateMeetingWithAttendees with 1 valid + 1 reserved user: partial success or BadRequestException",
              e.response["Error"])
        print("  info [create-meeting-with-attendees] 1 valid + 1 reserved user -> whole request rejected")
    # more than 20 attendees (boto3 does not check list max)
    expect_error(CLIENT.create_meeting_with_attendees, "BadRequestException", 400,
                 "CreateMeetingWithAttendees with 21 attendees",
                 ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("mwa"),
                 Attendees=[{"ExternalUserId": f"user-{i:02d}"} for i in range(21)])


def t_errors():
    expect_error(CLIENT.get_meeting, "NotFoundException", 404, "GetMeeting unknown UUID",
                 MeetingId=str(uuid.uuid4()))
    expect_error(CLIENT.get_meeting, "BadRequestException", 400, "GetMeeting 'not-a-guid'",
                 MeetingId="not-a-guid")
    expect_error(CLIENT.delete_meeting, "NotFoundException", 404, "DeleteMeeting unknown UUID",
                 MeetingId=str(uuid.uuid4()))
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting MediaRegion 'mars-1'",
                 ClientRequestToken=uid("tok"), MediaRegion="mars-1", ExternalMeetingId=uid("mtg"))
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting ExternalMeetingId 'aws:x'",
                 ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId="aws:x")
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting ExternalMeetingId 'AWS:x' (case-insensitive)",
                 ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId="AWS:x")
    expect_error(RAW.create_meeting, "BadRequestException", 400, "CreateMeeting without ExternalMeetingId",
                 ClientRequestToken=uid("tok"), MediaRegion=REGION)
    expect_error(RAW.create_meeting, "BadRequestException", 400, "CreateMeeting MaxCount=0",
                 ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("mtg"),
                 MeetingFeatures={"Attendee": {"MaxCount": 0}})
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting MaxCount=251",
                 ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("mtg"),
                 MeetingFeatures={"Attendee": {"MaxCount": 251}})

    m = new_meeting()
    mid = m["MeetingId"]
    # Content SendReceive requires Video SendReceive/Receive
    expect_error(CLIENT.create_attendee, "BadRequestException", 400,
                 "CreateAttendee Capabilities Content=SendReceive with Video=None",
                 MeetingId=mid, ExternalUserId=uid("u"),
                 Capabilities={"Audio": "SendReceive", "Video": "None", "Content": "SendReceive"})
    # invalid enum reaches the server (boto3 does not check enums)
    expect_error(CLIENT.create_attendee, "BadRequestException", 400,
                 "CreateAttendee Capabilities Audio='Loud' (bad enum)",
                 MeetingId=mid, ExternalUserId=uid("u"),
                 Capabilities={"Audio": "Loud", "Video": "None", "Content": "None"})
    # batch with 101 items (boto3 checks only the list minimum, so this reaches the server)
    expect_error(CLIENT.batch_create_attendee, "BadRequestException", 400, "BatchCreateAttendee with 101 items",
                 MeetingId=mid, Attendees=[{"ExternalUserId": f"batch-user-{i:03d}"} for i in range(101)])
    # and the same through a client with parameter_validation=False, plus an empty list
    expect_error(RAW.batch_create_attendee, "BadRequestException", 400,
                 "BatchCreateAttendee with 0 items (parameter_validation=False)",
                 MeetingId=mid, Attendees=[])
    listed = CLIENT.list_attendees(MeetingId=mid, MaxResults=100).get("Attendees", [])
    check(listed == [], "rejected requests created no attendees", [a.get("ExternalUserId") for a in listed])

    # Video MaxResolution None: explicit Video=Send rejected
    mv = new_meeting(MeetingFeatures={"Video": {"MaxResolution": "None"}})
    expect_error(CLIENT.create_attendee, "BadRequestException", 400,
                 "CreateAttendee Video=Send on a meeting with Video.MaxResolution=None",
                 MeetingId=mv["MeetingId"], ExternalUserId=uid("u"),
                 Capabilities={"Audio": "SendReceive", "Video": "Send", "Content": "None"})
    # documented special default: meeting Video.MaxResolution=None, Content not None, no capabilities
    # in the request -> attendee gets Audio SendReceive, Video Receive, Content SendReceive.
    try:
        dv = CLIENT.create_attendee(MeetingId=mv["MeetingId"], ExternalUserId=uid("u")).get("Attendee", {})
        want = {"Audio": "SendReceive", "Video": "Receive", "Content": "SendReceive"}
        check(dv.get("Capabilities") == want,
              f"default Capabilities on a Video.MaxResolution=None meeting == {want}", dv.get("Capabilities"))
    except ClientError as e:
        check(False, "CreateAttendee with default Capabilities on a Video=None meeting succeeds", e.response["Error"])

    # Attendee MaxCount=2 → third attendee LimitExceededException (400)
    ml = new_meeting(MeetingFeatures={"Attendee": {"MaxCount": 2}})
    CLIENT.create_attendee(MeetingId=ml["MeetingId"], ExternalUserId=uid("a"))
    CLIENT.create_attendee(MeetingId=ml["MeetingId"], ExternalUserId=uid("b"))
    expect_error(CLIENT.create_attendee, "LimitExceededException", 400,
                 "third CreateAttendee on a MaxCount=2 meeting", MeetingId=ml["MeetingId"], ExternalUserId=uid("c"))

    # DeleteMeeting → 404 on get_meeting / get_attendee / create_attendee / list_attendees
    md = new_meeting()
    att = CLIENT.create_attendee(MeetingId=md["MeetingId"], ExternalUserId=uid("x"))["Attendee"]
    d = CLIENT.delete_meeting(MeetingId=md["MeetingId"])
    check(status(d) == 204, "DeleteMeeting returns HTTP 204", status(d))
    check(bool(d["ResponseMetadata"].get("RequestId")), "DeleteMeeting: RequestId non-empty")
    expect_error(CLIENT.get_meeting, "NotFoundException", 404, "GetMeeting after DeleteMeeting",
                 MeetingId=md["MeetingId"])
    expect_error(CLIENT.get_attendee, "NotFoundException", 404, "GetAttendee on a deleted meeting",
                 MeetingId=md["MeetingId"], AttendeeId=att["AttendeeId"])
    expect_error(CLIENT.create_attendee, "NotFoundException", 404, "CreateAttendee on a deleted meeting",
                 MeetingId=md["MeetingId"], ExternalUserId=uid("y"))
    expect_error(CLIENT.list_attendees, "NotFoundException", 404, "ListAttendees on a deleted meeting",
                 MeetingId=md["MeetingId"])
    expect_error(CLIENT.delete_meeting, "NotFoundException", 404, "DeleteMeeting twice",
                 MeetingId=md["MeetingId"])


def t_replicas():
    p = new_meeting()
    pid = p["MeetingId"]
    r = new_meeting(PrimaryMeetingId=pid)
    check(r.get("PrimaryMeetingId") == pid, "replica Meeting.PrimaryMeetingId echoed", r.get("PrimaryMeetingId"))
    check(r.get("MeetingId") != pid, "replica has its own MeetingId", r.get("MeetingId"))
    check(CLIENT.get_meeting(MeetingId=r["MeetingId"])["Meeting"].get("PrimaryMeetingId") == pid,
          "GetMeeting on the replica shows PrimaryMeetingId")
    check(not p.get("PrimaryMeetingId"), "primary has no PrimaryMeetingId", p.get("PrimaryMeetingId"))

    code = expect_error(CLIENT.create_meeting, ("NotFoundException", "BadRequestException"),
                        {"NotFoundException": 404, "BadRequestException": 400},
                        "CreateMeeting with unknown PrimaryMeetingId",
                        ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("rep"),
                        PrimaryMeetingId=str(uuid.uuid4()))
    print(f"  info [replicas] unknown PrimaryMeetingId → {code}")
    code = expect_error(CLIENT.create_meeting, ("NotFoundException", "BadRequestException"),
                        {"NotFoundException": 404, "BadRequestException": 400},
                        "CreateMeeting with a replica as PrimaryMeetingId",
                        ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("rep"),
                        PrimaryMeetingId=r["MeetingId"])
    print(f"  info [replicas] replica as PrimaryMeetingId → {code}")

    CLIENT.delete_meeting(MeetingId=pid)
    expect_error(CLIENT.get_meeting, "NotFoundException", 404, "GetMeeting on a replica after its primary is deleted",
                 MeetingId=r["MeetingId"])


def t_features_tags_tenants():
    features = {
        "Audio": {"EchoReduction": "AVAILABLE"},
        "Video": {"MaxResolution": "HD"},
        "Content": {"MaxResolution": "FHD"},
        "Attendee": {"MaxCount": 10},
    }
    tenants = ["tenant-a", "tenant_b"]
    tags = [{"Key": "team", "Value": "convene"}, {"Key": "env", "Value": "conformance"}]
    m = new_meeting(MeetingFeatures=features, TenantIds=tenants, Tags=tags)
    check(m.get("MeetingFeatures") == features, "CreateMeeting echoes MeetingFeatures", m.get("MeetingFeatures"))
    check(m.get("TenantIds") == tenants, "CreateMeeting echoes TenantIds", m.get("TenantIds"))
    check("Tags" not in m, "Meeting output has no Tags member (not in the Meeting shape)", m.get("Tags"))
    g = CLIENT.get_meeting(MeetingId=m["MeetingId"])["Meeting"]
    check(g.get("MeetingFeatures") == features, "GetMeeting returns MeetingFeatures", g.get("MeetingFeatures"))
    check(g.get("TenantIds") == tenants, "GetMeeting returns TenantIds", g.get("TenantIds"))

    mw = CLIENT.create_meeting_with_attendees(
        ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("mwa"),
        MeetingFeatures=features, TenantIds=tenants, Tags=tags,
        Attendees=[{"ExternalUserId": uid("u")}])["Meeting"]
    check(mw.get("MeetingFeatures") == features, "CreateMeetingWithAttendees echoes MeetingFeatures",
          mw.get("MeetingFeatures"))
    check(mw.get("TenantIds") == tenants, "CreateMeetingWithAttendees echoes TenantIds", mw.get("TenantIds"))

    # other media region: MediaRegion echoed (ARN region is the control/client region us-east-1)
    o = new_meeting(MediaRegion="eu-central-1")
    check(o.get("MediaRegion") == "eu-central-1", "CreateMeeting MediaRegion eu-central-1 echoed", o.get("MediaRegion"))

    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting TenantId with 'aaaa' run",
                 ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("mtg"),
                 TenantIds=["xaaaay"])
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting 6 TenantIds",
                 ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("mtg"),
                 TenantIds=[f"tenant{i}" for i in range(6)])


def t_more_validation():
    """Further spec-derived checks (model constraints and documented rules)."""
    # every documented MediaRegion is accepted and echoed
    regions = ("af-south-1 ap-northeast-1 ap-northeast-2 ap-south-1 ap-southeast-1 ap-southeast-2 "
               "ca-central-1 eu-central-1 eu-north-1 eu-south-1 eu-west-1 eu-west-2 eu-west-3 sa-east-1 "
               "us-east-1 us-east-2 us-west-1 us-west-2 us-gov-east-1 us-gov-west-1").split()
    bad_regions = []
    for r in regions:
        try:
            if new_meeting(MediaRegion=r).get("MediaRegion") != r:
                bad_regions.append((r, "not echoed"))
        except ClientError as e:
            bad_regions.append((r, e.response["Error"]["Code"]))
    check(not bad_regions, "all 20 documented MediaRegions are accepted and echoed", bad_regions)

    # documented ExternalMeetingId / ExternalUserId character set, including À-ÿ, spaces and punctuation
    fancy_mid = "Team (sync) #1: a/b [x] {y} «z» 'q' \"w\" | Zoë"
    m = new_meeting(ExternalMeetingId=fancy_mid, MeetingHostId="host-Ünïcode")
    check(m.get("ExternalMeetingId") == fancy_mid, "ExternalMeetingId with documented punctuation/À-ÿ echoed",
          m.get("ExternalMeetingId"))
    check(m.get("MeetingHostId") == "host-Ünïcode", "MeetingHostId echoed in Meeting", m.get("MeetingHostId"))
    mid = m["MeetingId"]
    fancy_uid = "Zoë Ünïcode"  # letters, a space and À-ÿ only
    a = CLIENT.create_attendee(MeetingId=mid, ExternalUserId=fancy_uid).get("Attendee", {})
    check(a.get("ExternalUserId") == fancy_uid, "ExternalUserId with À-ÿ and a space echoed", a.get("ExternalUserId"))
    # Smithy @length counts Unicode scalar values, not UTF-8 bytes: 64 x 'é' (128 bytes) is in range
    long_uid = "é" * 64
    try:
        la = CLIENT.create_attendee(MeetingId=mid, ExternalUserId=long_uid).get("Attendee", {})
        check(la.get("ExternalUserId") == long_uid, "ExternalUserId of 64 'é' (128 UTF-8 bytes) accepted", la)
    except ClientError as e:
        check(False, "ExternalUserId of 64 'é' (128 UTF-8 bytes) accepted (length counts characters)",
              e.response["Error"])
    expect_error(CLIENT.create_attendee, "BadRequestException", 400, "CreateAttendee ExternalUserId of 65 'é'",
                 MeetingId=mid, ExternalUserId="é" * 65)
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting ExternalMeetingId with '<'",
                 ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId="bad<id>")
    expect_error(CLIENT.create_attendee, "BadRequestException", 400, "CreateAttendee ExternalUserId with '*'",
                 MeetingId=mid, ExternalUserId="bad*user")
    expect_error(CLIENT.create_attendee, "BadRequestException", 400, "CreateAttendee ExternalUserId with emoji",
                 MeetingId=mid, ExternalUserId="user-\U0001F600")

    # enum / pattern / list-length violations reach the server (boto3 checks none of them)
    base = dict(MediaRegion=REGION)
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting EchoReduction='MAYBE'",
                 ClientRequestToken=uid("tok"), ExternalMeetingId=uid("m"),
                 MeetingFeatures={"Audio": {"EchoReduction": "MAYBE"}}, **base)
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting Video.MaxResolution='UHD'",
                 ClientRequestToken=uid("tok"), ExternalMeetingId=uid("m"),
                 MeetingFeatures={"Video": {"MaxResolution": "UHD"}}, **base)
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting MediaPlacementNetworkType='Bogus'",
                 ClientRequestToken=uid("tok"), ExternalMeetingId=uid("m"), MediaPlacementNetworkType="Bogus", **base)
    ds = new_meeting(MediaPlacementNetworkType="DualStack")
    check("MediaPlacementNetworkType" not in ds and bool(ds.get("MediaPlacement")),
          "CreateMeeting MediaPlacementNetworkType=DualStack accepted (not echoed)", sorted(ds))
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting NotificationsConfiguration bad ARN",
                 ClientRequestToken=uid("tok"), ExternalMeetingId=uid("m"),
                 NotificationsConfiguration={"SqsQueueArn": "not-an-arn"}, **base)
    nm = new_meeting(NotificationsConfiguration={"SqsQueueArn": "arn:aws:sqs:us-east-1:111122223333:queue"})
    check("NotificationsConfiguration" not in nm, "CreateMeeting with a valid NotificationsConfiguration succeeds",
          sorted(nm))
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting with 51 Tags",
                 ClientRequestToken=uid("tok"), ExternalMeetingId=uid("m"),
                 Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)], **base)
    expect_error(RAW.create_meeting, "BadRequestException", 400, "CreateMeeting with empty TenantIds list",
                 ClientRequestToken=uid("tok"), ExternalMeetingId=uid("m"), TenantIds=[], **base)
    expect_error(RAW.create_meeting, "BadRequestException", 400, "CreateMeeting ClientRequestToken of 1 char",
                 ClientRequestToken="x", ExternalMeetingId=uid("m"), **base)
    expect_error(CLIENT.create_meeting, "BadRequestException", 400, "CreateMeeting ClientRequestToken of 65 chars",
                 ClientRequestToken="t" * 65, ExternalMeetingId=uid("m"), **base)

    # Content.MaxResolution=None: Content Receive rejected
    mc = new_meeting(MeetingFeatures={"Content": {"MaxResolution": "None"}})
    expect_error(CLIENT.create_attendee, "BadRequestException", 400,
                 "CreateAttendee Content=Receive on a Content.MaxResolution=None meeting",
                 MeetingId=mc["MeetingId"], ExternalUserId=uid("u"),
                 Capabilities={"Audio": "SendReceive", "Video": "SendReceive", "Content": "Receive"})
    ok_caps = {"Audio": "SendReceive", "Video": "SendReceive", "Content": "None"}
    ac = CLIENT.create_attendee(MeetingId=mc["MeetingId"], ExternalUserId=uid("u"), Capabilities=ok_caps)
    check(ac.get("Attendee", {}).get("Capabilities") == ok_caps,
          "CreateAttendee Content=None on a Content.MaxResolution=None meeting succeeds", ac.get("Attendee"))
    # the same capability rule inside a batch becomes an Errors entry (or a whole-request 400)
    try:
        b = CLIENT.batch_create_attendee(MeetingId=mc["MeetingId"], Attendees=[
            {"ExternalUserId": uid("ok")},
            {"ExternalUserId": uid("bad"), "Capabilities": {"Audio": "SendReceive", "Video": "None",
                                                            "Content": "SendReceive"}}])
        check(len(b.get("Errors") or []) == 1, "BatchCreateAttendee with one capability violation: 1 Errors entry",
              strip_meta(b))
    except ClientError as e:
        check(e.response["Error"]["Code"] == "BadRequestException",
              "BatchCreateAttendee with one capability violation: Errors entry or BadRequestException",
              e.response["Error"])


def t_limits():
    # exact list maxima are accepted
    m = new_meeting()
    b = CLIENT.batch_create_attendee(MeetingId=m["MeetingId"],
                                     Attendees=[{"ExternalUserId": f"batch-user-{i:03d}"} for i in range(100)])
    check(len(b.get("Attendees") or []) == 100 and not b.get("Errors"),
          "BatchCreateAttendee with exactly 100 items succeeds", (len(b.get("Attendees") or []), b.get("Errors")))
    seen, tok, n = [], None, 0
    while n < 10:
        kw = {"MeetingId": m["MeetingId"], "MaxResults": 100}
        if tok:
            kw["NextToken"] = tok
        page = CLIENT.list_attendees(**kw)
        seen.extend(a["ExternalUserId"] for a in page.get("Attendees", []))
        tok, n = page.get("NextToken"), n + 1
        if not tok:
            break
    check(seen == [f"batch-user-{i:03d}" for i in range(100)],
          "ListAttendees MaxResults=100 returns the 100 batch attendees in order", (n, len(seen)))
    # batch repeating an existing ExternalUserId returns the existing attendee
    first = b["Attendees"][0] if b.get("Attendees") else {}
    b2 = CLIENT.batch_create_attendee(MeetingId=m["MeetingId"], Attendees=[{"ExternalUserId": "batch-user-000"}])
    got = (b2.get("Attendees") or [{}])[0]
    check(got.get("AttendeeId") == first.get("AttendeeId") and got.get("JoinToken") == first.get("JoinToken"),
          "BatchCreateAttendee with an existing ExternalUserId returns the existing attendee", got)
    w = CLIENT.create_meeting_with_attendees(
        ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("mwa"),
        Attendees=[{"ExternalUserId": f"mwa-user-{i:02d}"} for i in range(20)])
    check(len(w.get("Attendees") or []) == 20, "CreateMeetingWithAttendees with exactly 20 attendees succeeds",
          len(w.get("Attendees") or []))

    # MaxCount: deleted attendees free their slot; repeating an existing user uses no slot
    ml = new_meeting(MeetingFeatures={"Attendee": {"MaxCount": 2}})
    lid = ml["MeetingId"]
    x = CLIENT.create_attendee(MeetingId=lid, ExternalUserId="slot-x")["Attendee"]
    CLIENT.create_attendee(MeetingId=lid, ExternalUserId="slot-y")
    try:
        again = CLIENT.create_attendee(MeetingId=lid, ExternalUserId="slot-x")["Attendee"]
        check(again.get("AttendeeId") == x["AttendeeId"],
              "CreateAttendee repeating an existing user on a full meeting returns it (uses no slot)", again)
    except ClientError as e:
        check(False, "CreateAttendee repeating an existing user on a full meeting returns it (uses no slot)",
              e.response["Error"])
    try:
        bb = CLIENT.batch_create_attendee(MeetingId=lid, Attendees=[{"ExternalUserId": "slot-z"}])
        errs = bb.get("Errors") or []
        check(not bb.get("Attendees") and len(errs) == 1,
              "BatchCreateAttendee on a full meeting: no attendee created (Errors entry)", strip_meta(bb))
        print(f"  info [limits] BatchCreateAttendee on a full meeting -> Errors entry {errs[:1]}")
    except ClientError as e:
        check(e.response["Error"]["Code"] == "LimitExceededException",
              "BatchCreateAttendee on a full meeting: Errors entry or LimitExceededException", e.response["Error"])
        print("  info [limits] BatchCreateAttendee on a full meeting -> LimitExceededException")
    CLIENT.delete_attendee(MeetingId=lid, AttendeeId=x["AttendeeId"])
    try:
        z = CLIENT.create_attendee(MeetingId=lid, ExternalUserId="slot-z")["Attendee"]
        check(bool(z.get("AttendeeId")), "CreateAttendee after DeleteAttendee frees a MaxCount slot")
    except ClientError as e:
        check(False, "CreateAttendee after DeleteAttendee frees a MaxCount slot", e.response["Error"])
    listed = [a["ExternalUserId"] for a in CLIENT.list_attendees(MeetingId=lid).get("Attendees", [])]
    check(listed == ["slot-y", "slot-z"], "ListAttendees on the MaxCount=2 meeting", listed)

    # error body: modeled members parsed from the JSON body; body RequestId matches the header
    try:
        CLIENT.get_meeting(MeetingId=str(uuid.uuid4()))
        check(False, "GetMeeting unknown id raises")
    except ClientError as e:
        hdr = e.response["ResponseMetadata"].get("RequestId")
        body_rid = e.response.get("RequestId")
        check(body_rid in (None, hdr), "error body RequestId (if present) equals x-amzn-RequestId", (body_rid, hdr))
        check(isinstance(e.response.get("Message"), str) and e.response.get("Message"),
              "error body carries a Message member", e.response.get("Message"))


def t_concurrency():
    """Idempotency and limits must hold when identical requests race."""
    from concurrent.futures import ThreadPoolExecutor

    def attempt(fn, **kw):
        try:
            return ("ok", fn(**kw))
        except ClientError as e:
            return (e.response["Error"]["Code"], e.response["Error"].get("Message"))
        except Exception as e:  # noqa: BLE001
            return (type(e).__name__, str(e))

    n = 8
    with ThreadPoolExecutor(max_workers=n) as pool:
        # same ClientRequestToken in parallel: one meeting (ConflictException tolerated, per its doc)
        token, ext = uid("race"), uid("race")
        res = list(pool.map(lambda _: attempt(CLIENT.create_meeting, ClientRequestToken=token,
                                                  MediaRegion=REGION, ExternalMeetingId=ext), range(n)))
        ids = {r[1]["Meeting"]["MeetingId"] for r in res if r[0] == "ok"}
        others = [r for r in res if r[0] not in ("ok", "ConflictException")]
        check(len(ids) == 1 and not others,
              f"{n} parallel CreateMeeting with one token -> one MeetingId (Conflict tolerated)",
              {"ids": ids, "other": others[:3]})

        m = new_meeting()
        mid = m["MeetingId"]
        res = list(pool.map(lambda _: attempt(CLIENT.create_attendee, MeetingId=mid, ExternalUserId="racer"),
                            range(n)))
        aids = {r[1]["Attendee"]["AttendeeId"] for r in res if r[0] == "ok"}
        others = [r for r in res if r[0] != "ok"]
        check(len(aids) == 1 and not others, f"{n} parallel CreateAttendee same ExternalUserId -> one attendee",
              {"ids": aids, "errors": others[:3]})
        listed = CLIENT.list_attendees(MeetingId=mid).get("Attendees", [])
        check(len(listed) == 1, "ListAttendees after the race shows exactly 1 attendee", len(listed))

        ml = new_meeting(MeetingFeatures={"Attendee": {"MaxCount": 3}})
        res = list(pool.map(lambda i: attempt(CLIENT.create_attendee, MeetingId=ml["MeetingId"],
                                              ExternalUserId=f"racer-{i}"), range(n)))
        okc = sum(1 for r in res if r[0] == "ok")
        lim = sum(1 for r in res if r[0] == "LimitExceededException")
        check(okc == 3 and lim == n - 3,
              f"{n} parallel CreateAttendee on a MaxCount=3 meeting -> 3 created, {n - 3} LimitExceeded",
              [r[0] for r in res])
        listed = CLIENT.list_attendees(MeetingId=ml["MeetingId"]).get("Attendees", [])
        check(len(listed) == 3, "MaxCount=3 meeting holds exactly 3 attendees after the race", len(listed))


def t_pagination():
    """NextToken robustness beyond the happy path."""
    m = new_meeting()
    mid = m["MeetingId"]
    ids = [CLIENT.create_attendee(MeetingId=mid, ExternalUserId=f"pg-user-{i}")["Attendee"]["AttendeeId"]
           for i in range(5)]
    p1 = CLIENT.list_attendees(MeetingId=mid, MaxResults=2)
    check([a["AttendeeId"] for a in p1.get("Attendees", [])] == ids[:2], "page 1 holds the first 2 attendees")
    tok = p1.get("NextToken")
    check(bool(tok), "page 1 carries a NextToken", p1)
    # deleting an already-returned attendee must not make the next page skip anyone
    CLIENT.delete_attendee(MeetingId=mid, AttendeeId=ids[1])
    rest, n = [], 0
    while tok and n < 10:
        pg = CLIENT.list_attendees(MeetingId=mid, MaxResults=2, NextToken=tok)
        rest.extend(a["AttendeeId"] for a in pg.get("Attendees", []))
        tok, n = pg.get("NextToken"), n + 1
    check(rest == ids[2:], "deleting a seen attendee mid-pagination does not skip or repeat the rest",
          {"want": ids[2:], "got": rest})
    # a token from another meeting is not valid here
    other = new_meeting()
    CLIENT.create_attendee(MeetingId=other["MeetingId"], ExternalUserId="pg-other")
    p1 = CLIENT.list_attendees(MeetingId=mid, MaxResults=1)
    if p1.get("NextToken"):
        expect_error(CLIENT.list_attendees, "BadRequestException", 400,
                     "ListAttendees with a NextToken issued for another meeting",
                     MeetingId=other["MeetingId"], NextToken=p1["NextToken"])
    expect_error(CLIENT.list_attendees, "BadRequestException", 400, "ListAttendees with empty-ish NextToken '='",
                 MeetingId=mid, NextToken="=")


def caps_by_id(mid):
    """AttendeeId -> Capabilities for every attendee of a meeting (one ListAttendees page)."""
    atts = CLIENT.list_attendees(MeetingId=mid, MaxResults=100).get("Attendees", [])
    return {a.get("AttendeeId"): a.get("Capabilities") for a in atts}


def t_capabilities():
    """UpdateAttendeeCapabilities and BatchUpdateAttendeeCapabilitiesExcept."""
    users = [uid("cap-u0"), uid("cap-u1"), uid("cap-u2")]
    w = CLIENT.create_meeting_with_attendees(
        ClientRequestToken=uid("tok"), MediaRegion=REGION, ExternalMeetingId=uid("caps"),
        Attendees=[{"ExternalUserId": u} for u in users])
    mid = w["Meeting"]["MeetingId"]
    atts = w.get("Attendees") or []
    if not check(len(atts) == 3, "CreateMeetingWithAttendees for the capability tests: 3 attendees", strip_meta(w)):
        return
    a0, a1, a2 = (a["AttendeeId"] for a in atts)

    # UpdateAttendeeCapabilities: success returns the updated Attendee
    new_caps = {"Audio": "Receive", "Video": "Send", "Content": "None"}
    r = CLIENT.update_attendee_capabilities(MeetingId=mid, AttendeeId=a0, Capabilities=new_caps)
    check(status(r) == 200, "UpdateAttendeeCapabilities returns HTTP 200", status(r))
    check(bool(r["ResponseMetadata"].get("RequestId")), "UpdateAttendeeCapabilities: RequestId non-empty")
    ua = r.get("Attendee") or {}
    check_attendee_shape(ua, external_user_id=users[0], caps=new_caps, what="UpdateAttendeeCapabilities.Attendee")
    check(ua.get("AttendeeId") == a0 and ua.get("JoinToken") == atts[0].get("JoinToken"),
          "UpdateAttendeeCapabilities.Attendee keeps its AttendeeId and JoinToken", ua)
    ga = CLIENT.get_attendee(MeetingId=mid, AttendeeId=a0).get("Attendee", {})
    check(ga.get("Capabilities") == new_caps, "GetAttendee shows the updated Capabilities", ga.get("Capabilities"))
    before = caps_by_id(mid)
    check(before.get(a1) == ALL_SEND_RECEIVE and before.get(a2) == ALL_SEND_RECEIVE,
          "UpdateAttendeeCapabilities changed no other attendee", before)

    # UpdateAttendeeCapabilities: errors
    expect_error(CLIENT.update_attendee_capabilities, "BadRequestException", 400,
                 "UpdateAttendeeCapabilities Content=SendReceive with Video=None",
                 MeetingId=mid, AttendeeId=a0,
                 Capabilities={"Audio": "SendReceive", "Video": "None", "Content": "SendReceive"})
    expect_error(CLIENT.update_attendee_capabilities, "BadRequestException", 400,
                 "UpdateAttendeeCapabilities Audio='Loud' (bad enum)",
                 MeetingId=mid, AttendeeId=a0, Capabilities={"Audio": "Loud", "Video": "None", "Content": "None"})
    expect_error(CLIENT.update_attendee_capabilities, "NotFoundException", 404,
                 "UpdateAttendeeCapabilities unknown AttendeeId",
                 MeetingId=mid, AttendeeId=str(uuid.uuid4()), Capabilities=new_caps)
    expect_error(CLIENT.update_attendee_capabilities, "NotFoundException", 404,
                 "UpdateAttendeeCapabilities on unknown meeting",
                 MeetingId=str(uuid.uuid4()), AttendeeId=a0, Capabilities=new_caps)
    check(caps_by_id(mid) == before, "rejected UpdateAttendeeCapabilities changed nothing")

    # BatchUpdateAttendeeCapabilitiesExcept: everyone but the excluded attendee
    batch_caps = {"Audio": "SendReceive", "Video": "Receive", "Content": "Receive"}
    b = CLIENT.batch_update_attendee_capabilities_except(
        MeetingId=mid, ExcludedAttendeeIds=[{"AttendeeId": a0}], Capabilities=batch_caps)
    check(status(b) == 200, "BatchUpdateAttendeeCapabilitiesExcept returns HTTP 200", status(b))
    check(bool(b["ResponseMetadata"].get("RequestId")), "BatchUpdateAttendeeCapabilitiesExcept: RequestId non-empty")
    check(strip_meta(b) == {}, "BatchUpdateAttendeeCapabilitiesExcept returns an empty body", strip_meta(b))
    after = caps_by_id(mid)
    check(after.get(a0) == new_caps, "BatchUpdateAttendeeCapabilitiesExcept left the excluded attendee alone",
          after.get(a0))
    check(after.get(a1) == batch_caps and after.get(a2) == batch_caps,
          "BatchUpdateAttendeeCapabilitiesExcept updated every other attendee", after)

    # BatchUpdateAttendeeCapabilitiesExcept: errors, and nothing changes (atomic)
    expect_error(CLIENT.batch_update_attendee_capabilities_except, "BadRequestException", 400,
                 "BatchUpdateAttendeeCapabilitiesExcept ExcludedAttendeeIds with 'not-a-guid'",
                 MeetingId=mid, ExcludedAttendeeIds=[{"AttendeeId": a0}, {"AttendeeId": "not-a-guid"}],
                 Capabilities=ALL_SEND_RECEIVE)
    expect_error(CLIENT.batch_update_attendee_capabilities_except, "BadRequestException", 400,
                 "BatchUpdateAttendeeCapabilitiesExcept Content=SendReceive with Video=None",
                 MeetingId=mid, ExcludedAttendeeIds=[{"AttendeeId": a0}],
                 Capabilities={"Audio": "SendReceive", "Video": "None", "Content": "SendReceive"})
    expect_error(CLIENT.batch_update_attendee_capabilities_except, "NotFoundException", 404,
                 "BatchUpdateAttendeeCapabilitiesExcept on unknown meeting",
                 MeetingId=str(uuid.uuid4()), ExcludedAttendeeIds=[{"AttendeeId": a0}], Capabilities=batch_caps)
    check(caps_by_id(mid) == after, "rejected BatchUpdateAttendeeCapabilitiesExcept changed no attendee",
          {"before": after, "after": caps_by_id(mid)})


def t_transcription():
    """StartMeetingTranscription and StopMeetingTranscription."""
    mid = new_meeting()["MeetingId"]
    en_us = {"EngineTranscribeSettings": {"LanguageCode": "en-US"}}

    expect_error(CLIENT.stop_meeting_transcription, "UnprocessableEntityException", 422,
                 "StopMeetingTranscription when none was started", MeetingId=mid)

    r = CLIENT.start_meeting_transcription(MeetingId=mid, TranscriptionConfiguration=en_us)
    check(status(r) == 200, "StartMeetingTranscription returns HTTP 200", status(r))
    check(bool(r["ResponseMetadata"].get("RequestId")), "StartMeetingTranscription: RequestId non-empty")
    check(strip_meta(r) == {}, "StartMeetingTranscription returns an empty body", strip_meta(r))

    # a second Start replaces the configuration (one transcription, so one Stop ends it)
    medical = {"EngineTranscribeMedicalSettings": {"LanguageCode": "en-US", "Specialty": "PRIMARYCARE",
                                                   "Type": "CONVERSATION"}}
    r2 = CLIENT.start_meeting_transcription(MeetingId=mid, TranscriptionConfiguration=medical)
    check(status(r2) == 200, "second StartMeetingTranscription (replacing the first) returns HTTP 200", status(r2))

    s = CLIENT.stop_meeting_transcription(MeetingId=mid)
    check(status(s) == 200, "StopMeetingTranscription returns HTTP 200", status(s))
    check(bool(s["ResponseMetadata"].get("RequestId")), "StopMeetingTranscription: RequestId non-empty")
    check(strip_meta(s) == {}, "StopMeetingTranscription returns an empty body", strip_meta(s))
    expect_error(CLIENT.stop_meeting_transcription, "UnprocessableEntityException", 422,
                 "StopMeetingTranscription after it was stopped (the second Start replaced, not added)",
                 MeetingId=mid)

    # Start errors; a rejected Start starts nothing
    expect_error(CLIENT.start_meeting_transcription, "BadRequestException", 400,
                 "StartMeetingTranscription with both engines",
                 MeetingId=mid, TranscriptionConfiguration={**en_us, **medical})
    expect_error(CLIENT.start_meeting_transcription, "BadRequestException", 400,
                 "StartMeetingTranscription with no engine",
                 MeetingId=mid, TranscriptionConfiguration={})
    expect_error(CLIENT.start_meeting_transcription, "BadRequestException", 400,
                 "StartMeetingTranscription ContentIdentificationType with ContentRedactionType",
                 MeetingId=mid, TranscriptionConfiguration={"EngineTranscribeSettings": {
                     "LanguageCode": "en-US", "ContentIdentificationType": "PII", "ContentRedactionType": "PII"}})
    expect_error(CLIENT.start_meeting_transcription, "BadRequestException", 400,
                 "StartMeetingTranscription LanguageCode 'xx-XX' (bad enum)",
                 MeetingId=mid, TranscriptionConfiguration={"EngineTranscribeSettings": {"LanguageCode": "xx-XX"}})
    expect_error(CLIENT.stop_meeting_transcription, "UnprocessableEntityException", 422,
                 "StopMeetingTranscription after only rejected Starts", MeetingId=mid)
    expect_error(CLIENT.start_meeting_transcription, "NotFoundException", 404,
                 "StartMeetingTranscription on unknown meeting",
                 MeetingId=str(uuid.uuid4()), TranscriptionConfiguration=en_us)
    expect_error(CLIENT.stop_meeting_transcription, "NotFoundException", 404,
                 "StopMeetingTranscription on unknown meeting", MeetingId=str(uuid.uuid4()))
    expect_error(CLIENT.start_meeting_transcription, "BadRequestException", 400,
                 "StartMeetingTranscription 'not-a-guid' MeetingId",
                 MeetingId="not-a-guid", TranscriptionConfiguration=en_us)


def t_tags():
    """TagResource, UntagResource and ListTagsForResource."""
    created = [{"Key": "team", "Value": "convene"}, {"Key": "env", "Value": "conformance"}]
    m = new_meeting(Tags=created)
    arn = m["MeetingArn"]

    ls = CLIENT.list_tags_for_resource(ResourceARN=arn)
    check(status(ls) == 200, "ListTagsForResource returns HTTP 200", status(ls))
    check(bool(ls["ResponseMetadata"].get("RequestId")), "ListTagsForResource: RequestId non-empty")
    check(ls.get("Tags") == created, "ListTagsForResource shows the CreateMeeting Tags in order", ls.get("Tags"))
    plain = new_meeting()
    lp = CLIENT.list_tags_for_resource(ResourceARN=plain["MeetingArn"])
    check(lp.get("Tags", []) == [], "ListTagsForResource on an untagged meeting: no tags", strip_meta(lp))

    t = CLIENT.tag_resource(ResourceARN=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}])
    check(status(t) == 204, "TagResource returns HTTP 204", status(t))
    check(bool(t["ResponseMetadata"].get("RequestId")), "TagResource: RequestId non-empty")
    check(strip_meta(t) == {}, "TagResource returns no body", strip_meta(t))
    want = created + [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}]
    got = CLIENT.list_tags_for_resource(ResourceARN=arn).get("Tags")
    check(got == want, "ListTagsForResource after TagResource: new tags appended in order", got)

    # an existing key: value replaced, position (first added) kept
    CLIENT.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "renamed"}])
    want[0] = {"Key": "team", "Value": "renamed"}
    got = CLIENT.list_tags_for_resource(ResourceARN=arn).get("Tags")
    check(got == want, "TagResource on an existing key replaces its value and keeps its place", got)

    u = CLIENT.untag_resource(ResourceARN=arn, TagKeys=["a", "never-there"])
    check(status(u) == 204, "UntagResource returns HTTP 204 (absent keys ignored)", status(u))
    check(bool(u["ResponseMetadata"].get("RequestId")), "UntagResource: RequestId non-empty")
    check(strip_meta(u) == {}, "UntagResource returns no body", strip_meta(u))
    want = [x for x in want if x["Key"] != "a"]
    got = CLIENT.list_tags_for_resource(ResourceARN=arn).get("Tags")
    check(got == want, "ListTagsForResource after UntagResource", got)
    u2 = CLIENT.untag_resource(ResourceARN=arn, TagKeys=["only-absent"])
    check(status(u2) == 204, "UntagResource of only absent keys succeeds", status(u2))

    # the 50-tag limit: exactly 50 is fine, one more new key is TooManyTagsException and nothing changes
    have = len(want)  # 3
    fill = [{"Key": f"fill-{i:02d}", "Value": "v"} for i in range(50 - have)]
    CLIENT.tag_resource(ResourceARN=arn, Tags=fill)
    want = want + fill
    got = CLIENT.list_tags_for_resource(ResourceARN=arn).get("Tags") or []
    check(got == want and len(got) == 50, "TagResource up to exactly 50 tags succeeds", len(got))
    expect_error(CLIENT.tag_resource, "TooManyTagsException", 400, "TagResource making 51 tags",
                 ResourceARN=arn, Tags=[{"Key": "env", "Value": "changed"}, {"Key": "one-too-many", "Value": "v"}])
    got = CLIENT.list_tags_for_resource(ResourceARN=arn).get("Tags")
    check(got == want, "rejected TagResource (too many tags) changed nothing", got)
    r = CLIENT.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "at-limit"}])
    check(status(r) == 204, "TagResource replacing a value at 50 tags succeeds", status(r))
    want[1] = {"Key": "env", "Value": "at-limit"}
    plain_arn = plain["MeetingArn"]
    # 51 items break the model's TagList max (50) itself: model validation, so BadRequestException
    # (as for CreateMeeting with 51 Tags)
    expect_error(CLIENT.tag_resource, "BadRequestException", 400, "TagResource with 51 tags in one request",
                 ResourceARN=plain_arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    check(CLIENT.list_tags_for_resource(ResourceARN=plain_arn).get("Tags", []) == [],
          "rejected 51-tag TagResource added nothing")

    # reserved and malformed keys, malformed ARNs
    expect_error(CLIENT.tag_resource, "BadRequestException", 400, "TagResource key 'aws:reserved'",
                 ResourceARN=plain_arn, Tags=[{"Key": "ok", "Value": "v"}, {"Key": "aws:reserved", "Value": "v"}])
    expect_error(RAW.tag_resource, "BadRequestException", 400, "TagResource key of 129 chars",
                 ResourceARN=plain_arn, Tags=[{"Key": "k" * 129, "Value": "v"}])
    check(CLIENT.list_tags_for_resource(ResourceARN=plain_arn).get("Tags", []) == [],
          "rejected TagResource requests added nothing")
    for op, kw in ((CLIENT.tag_resource, {"Tags": [{"Key": "k", "Value": "v"}]}),
                   (CLIENT.untag_resource, {"TagKeys": ["k"]}),
                   (CLIENT.list_tags_for_resource, {})):
        name = op.__name__
        expect_error(op, "BadRequestException", 400, f"{name} ResourceARN 'not-an-arn'",
                     ResourceARN="not-an-arn", **kw)

    # well-formed ARNs of meetings that do not exist here: ResourceNotFoundException with ResourceName
    unknown = f"arn:aws:chime:{REGION}:{ACCOUNT}:meeting/{uuid.uuid4()}"
    for op, kw in ((CLIENT.tag_resource, {"Tags": [{"Key": "k", "Value": "v"}]}),
                   (CLIENT.untag_resource, {"TagKeys": ["k"]}),
                   (CLIENT.list_tags_for_resource, {})):
        name = op.__name__
        expect_error(op, "ResourceNotFoundException", 404, f"{name} on an unknown meeting ARN",
                     ResourceARN=unknown, **kw)
        rn = (LAST_ERROR or {}).get("ResourceName")
        check(rn == unknown, f"{name} ResourceNotFoundException carries ResourceName == the ARN", rn)
    other_region = f"arn:aws:chime:us-west-2:{ACCOUNT}:meeting/{m['MeetingId']}"
    expect_error(CLIENT.list_tags_for_resource, "ResourceNotFoundException", 404,
                 "ListTagsForResource with the meeting's id under another control region", ResourceARN=other_region)
    other_acct = "999999999999" if ACCOUNT != "999999999999" else "111111111111"
    expect_error(CLIENT.tag_resource, "ResourceNotFoundException", 404,
                 "TagResource with the meeting's id under another account",
                 ResourceARN=f"arn:aws:chime:{REGION}:{other_acct}:meeting/{m['MeetingId']}",
                 Tags=[{"Key": "k", "Value": "v"}])

    # DeleteMeeting removes the tags with the meeting
    CLIENT.delete_meeting(MeetingId=m["MeetingId"])
    expect_error(CLIENT.list_tags_for_resource, "ResourceNotFoundException", 404,
                 "ListTagsForResource on a deleted meeting", ResourceARN=arn)


SECTIONS = [
    ("create-meeting", t_create_meeting),
    ("attendees", t_attendees),
    ("create-meeting-with-attendees", t_create_meeting_with_attendees),
    ("errors", t_errors),
    ("replicas", t_replicas),
    ("features", t_features_tags_tenants),
    ("more-validation", t_more_validation),
    ("limits", t_limits),
    ("pagination", t_pagination),
    ("concurrency", t_concurrency),
    ("capabilities", t_capabilities),
    ("transcription", t_transcription),
    ("tags", t_tags),
]


def main():
    global CLIENT, RAW, SECTION
    if not ENDPOINT:
        print("CONVENE_ENDPOINT must be set, e.g. http://127.0.0.1:8080", file=sys.stderr)
        return 2
    CLIENT = make_client()
    RAW = make_client(parameter_validation=False)
    print(f"boto3 {boto3.__version__} against {ENDPOINT} (account {ACCOUNT})")
    only = set(sys.argv[1:])
    for name, fn in SECTIONS:
        if only and name not in only:
            continue
        SECTION = name
        print(f"== {name}")
        try:
            fn()
        except Exception as e:  # an unexpected error aborts the section, counts as one failure
            detail = e.response.get("Error") if isinstance(e, ClientError) else str(e)
            check(False, f"section aborted by unexpected {type(e).__name__}", detail)
            if VERBOSE:
                traceback.print_exc()
    if FAILURES:
        print(f"\n{len(FAILURES)} failure(s):")
        for f in FAILURES:
            print(f"  - {f}")
    print(f"boto3: {PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
