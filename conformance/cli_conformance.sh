#!/usr/bin/env bash
# AWS CLI conformance checks for Convene (Amazon Chime SDK Meetings emulator).
#
# Drives a *running* server through the real `aws chime-sdk-meetings` CLI (v1 from
# PyPI or v2) for all sixteen operations (the nine meetings/attendees operations,
# the two capability updates, transcription start/stop and the three tagging
# operations) and checks the results.
#
# Usage:
#   CONVENE_ENDPOINT=http://127.0.0.1:8080 bash conformance/cli_conformance.sh
#
# Environment:
#   CONVENE_ENDPOINT    base URL of the server (required)
#   CONVENE_ACCOUNT_ID  account id expected in MeetingArn (default 123456789012)
#   AWS_CLI             the aws executable to use (default: `aws` on PATH)
#   CONVENE_VERBOSE=1   also print every passing check
#   CONVENE_ACCESS_KEY_ID / CONVENE_SECRET_ACCESS_KEY
#                       the key to sign with (default AKIDEXAMPLE / secret). The
#                       server verifies every signature (SigV4), so it must know
#                       this key: start it with the same two variables set
#
# JSON is parsed with python3 (jq is not required).
# Exit status: 0 if all checks passed, 1 if any failed, 2 on a setup problem.
# The last line printed is always "cli: N passed, M failed".
set -euo pipefail

if [[ -z "${CONVENE_ENDPOINT:-}" ]]; then
  echo "CONVENE_ENDPOINT must be set, e.g. http://127.0.0.1:8080" >&2
  exit 2
fi
ACCOUNT="${CONVENE_ACCOUNT_ID:-123456789012}"
AWS_BIN="${AWS_CLI:-aws}"
VERBOSE="${CONVENE_VERBOSE:-}"
REGION=us-east-1

if ! command -v "$AWS_BIN" >/dev/null 2>&1; then
  echo "aws CLI not found (set AWS_CLI or put it on PATH)" >&2
  exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 not found" >&2
  exit 2
fi

# Dummy credentials, no retries, and no user config/profile leaking in.
export AWS_ACCESS_KEY_ID="${CONVENE_ACCESS_KEY_ID:-AKIDEXAMPLE}"
export AWS_SECRET_ACCESS_KEY="${CONVENE_SECRET_ACCESS_KEY:-secret}"
export AWS_MAX_ATTEMPTS=1
export AWS_DEFAULT_REGION=$REGION
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true
export AWS_PAGER=""
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL 2>/dev/null || true

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

PASS=0
FAIL=0
FAILURES=()
SECTION="?"

pass() {
  PASS=$((PASS + 1))
  if [[ -n "$VERBOSE" ]]; then echo "  ok   [$SECTION] $1"; fi
}
fail() {
  FAIL=$((FAIL + 1))
  local msg="[$SECTION] $1"
  if [[ -n "${2:-}" ]]; then msg+=$'\n         got: '"$2"; fi
  FAILURES+=("$msg")
  echo "  FAIL $msg"
}
# check DESC VALUE-DESCRIPTION COMMAND...  (runs COMMAND as the condition)
check() {
  local desc="$1" got="$2"
  shift 2
  if "$@"; then pass "$desc"; else fail "$desc" "$got"; fi
}

uuid4() { python3 -c 'import uuid; print(uuid.uuid4())'; }
uid() { echo "$1-$(python3 -c 'import uuid; print(uuid.uuid4().hex[:12])')"; }

cm() {
  "$AWS_BIN" chime-sdk-meetings "$@" --endpoint-url "$CONVENE_ENDPOINT" --region "$REGION" --output json
}

# run ARGS... : run one CLI call; stdout -> $TMP/out, stderr -> $TMP/err, exit code -> RC.
RC=0
run() {
  set +e
  cm "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
}

# j EXPR : evaluate a python expression over d (= the JSON in $TMP/out, or {} if empty).
# Prints strings raw, other values as JSON, None/missing as "".
j() {
  python3 - "$TMP/out" "$1" <<'PY'
import json, sys
try:
    raw = open(sys.argv[1]).read().strip()
    d = json.loads(raw) if raw else {}
    v = eval(sys.argv[2], {"d": d, "json": json})
except Exception:
    v = None
if v is None:
    print("")
elif isinstance(v, str):
    print(v)
else:
    print(json.dumps(v, sort_keys=True))
PY
}

errtext() { tr '\n' ' ' <"$TMP/err" | cut -c1-400; }
outtext() { tr '\n' ' ' <"$TMP/out" | cut -c1-600; }

# ok DESC ARGS... : run a call that must succeed (exit 0, and valid JSON or empty stdout)
ok() {
  local desc="$1"
  shift
  run "$@"
  if [[ $RC -eq 0 ]]; then
    pass "$desc (exit 0)"
    return 0
  fi
  fail "$desc (exit 0)" "exit $RC: $(errtext)"
  return 1
}

# err DESC EXCEPTION OPERATION ARGS... : run a call that must fail with EXCEPTION
err() {
  local desc="$1" exc="$2" op="$3"
  shift 3
  run "$@"
  check "$desc: exits non-zero" "exit $RC, stdout: $(outtext)" test "$RC" -ne 0
  check "$desc: stderr names ($exc)" "$(errtext)" grep -qF "($exc)" "$TMP/err"
  check "$desc: stderr names the $op operation" "$(errtext)" grep -qF "$op operation" "$TMP/err"
}

is_guid() { [[ "$1" =~ ^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$ ]]; }
eq() { [[ "$1" == "$2" ]]; }
ne() { [[ "$1" != "$2" ]]; }

# check the Meeting object in $TMP/out (under key Meeting)
check_meeting() {
  local what="$1" ext="$2" mid arn sig missing
  mid="$(j 'd["Meeting"]["MeetingId"]')"
  check "$what: MeetingId is a GUID" "$mid" is_guid "$mid"
  arn="$(j 'd["Meeting"]["MeetingArn"]')"
  check "$what: MeetingArn == arn:aws:chime:$REGION:$ACCOUNT:meeting/<MeetingId>" "$arn" \
    eq "$arn" "arn:aws:chime:$REGION:$ACCOUNT:meeting/$mid"
  check "$what: MediaRegion echoed" "$(j 'd["Meeting"]["MediaRegion"]')" eq "$(j 'd["Meeting"]["MediaRegion"]')" "$REGION"
  check "$what: ExternalMeetingId echoed" "$(j 'd["Meeting"]["ExternalMeetingId"]')" \
    eq "$(j 'd["Meeting"]["ExternalMeetingId"]')" "$ext"
  missing="$(j '[k for k in ["AudioHostUrl","AudioFallbackUrl","SignalingUrl","TurnControlUrl","ScreenDataUrl","ScreenViewingUrl","ScreenSharingUrl","EventIngestionUrl"] if not (d["Meeting"].get("MediaPlacement") or {}).get(k)]')"
  check "$what: MediaPlacement has all 8 URLs" "missing: $missing" eq "$missing" "[]"
  sig="$(j 'd["Meeting"]["MediaPlacement"]["SignalingUrl"]')"
  check "$what: SignalingUrl has no '?' and ends with /control/<MeetingId>" "$sig" \
    eval '[[ "$sig" != *"?"* && "$sig" == *"/control/$mid" ]]'
}

echo "$("$AWS_BIN" --version 2>&1) against $CONVENE_ENDPOINT (account $ACCOUNT)"

# ---------------------------------------------------------------------------
SECTION=meeting
echo "== $SECTION"
TOKEN="$(uid tok)"
EXT="$(uid ext-meeting)"
MID=""
if ok "create-meeting" create-meeting --client-request-token "$TOKEN" --media-region "$REGION" --external-meeting-id "$EXT"; then
  check_meeting "create-meeting" "$EXT"
  MID="$(j 'd["Meeting"]["MeetingId"]')"
fi
if ok "create-meeting (same token)" create-meeting --client-request-token "$TOKEN" --media-region "$REGION" --external-meeting-id "$EXT"; then
  check "create-meeting with the same ClientRequestToken returns the same MeetingId" "$(j 'd["Meeting"]["MeetingId"]')" \
    eq "$(j 'd["Meeting"]["MeetingId"]')" "$MID"
fi
if [[ -z "$MID" ]]; then
  fail "cannot continue without a meeting"
  echo "cli: $PASS passed, $FAIL failed"
  exit 1
fi
if ok "get-meeting" get-meeting --meeting-id "$MID"; then
  check_meeting "get-meeting" "$EXT"
  check "get-meeting returns the requested meeting" "$(j 'd["Meeting"]["MeetingId"]')" eq "$(j 'd["Meeting"]["MeetingId"]')" "$MID"
fi

# ---------------------------------------------------------------------------
SECTION=attendees
echo "== $SECTION"
U1="$(uid user1)"
A1="" T1=""
if ok "create-attendee" create-attendee --meeting-id "$MID" --external-user-id "$U1"; then
  A1="$(j 'd["Attendee"]["AttendeeId"]')"
  T1="$(j 'd["Attendee"]["JoinToken"]')"
  check "create-attendee: AttendeeId is a GUID" "$A1" is_guid "$A1"
  check "create-attendee: JoinToken present" "$T1" test -n "$T1"
  check "create-attendee: ExternalUserId echoed" "$(j 'd["Attendee"]["ExternalUserId"]')" eq "$(j 'd["Attendee"]["ExternalUserId"]')" "$U1"
  caps="$(j 'd["Attendee"]["Capabilities"]')"
  check "create-attendee: default Capabilities all SendReceive" "$caps" \
    eq "$caps" '{"Audio": "SendReceive", "Content": "SendReceive", "Video": "SendReceive"}'
fi
if ok "create-attendee (same ExternalUserId)" create-attendee --meeting-id "$MID" --external-user-id "$U1"; then
  check "create-attendee repeated: same AttendeeId" "$(j 'd["Attendee"]["AttendeeId"]')" eq "$(j 'd["Attendee"]["AttendeeId"]')" "$A1"
  check "create-attendee repeated: same JoinToken" "(differs)" eq "$(j 'd["Attendee"]["JoinToken"]')" "$T1"
fi
if ok "get-attendee" get-attendee --meeting-id "$MID" --attendee-id "$A1"; then
  check "get-attendee: same AttendeeId" "$(j 'd["Attendee"]["AttendeeId"]')" eq "$(j 'd["Attendee"]["AttendeeId"]')" "$A1"
  check "get-attendee: same JoinToken" "(differs)" eq "$(j 'd["Attendee"]["JoinToken"]')" "$T1"
  check "get-attendee: ExternalUserId" "$(j 'd["Attendee"]["ExternalUserId"]')" eq "$(j 'd["Attendee"]["ExternalUserId"]')" "$U1"
fi

U2="$(uid user2)" U3="$(uid user3)" U4="$(uid user4)"
BATCH="[{\"ExternalUserId\":\"$U2\"},{\"ExternalUserId\":\"$U3\"},{\"ExternalUserId\":\"$U4\"},{\"ExternalUserId\":\"aws:reserved\"}]"
IDS="$A1"
if ok "batch-create-attendee (3 valid + 1 reserved)" batch-create-attendee --meeting-id "$MID" --attendees "$BATCH"; then
  got="$(j '[a.get("ExternalUserId") for a in d.get("Attendees", [])]')"
  check "batch-create-attendee: 3 Attendees in request order" "$got" eq "$got" "[\"$U2\", \"$U3\", \"$U4\"]"
  got="$(j 'all(a.get("AttendeeId") and a.get("JoinToken") for a in d.get("Attendees", []))')"
  check "batch-create-attendee: every Attendee has AttendeeId and JoinToken" "$got" eq "$got" "true"
  got="$(j 'len(d.get("Errors") or [])')"
  check "batch-create-attendee: 1 entry in Errors" "$(outtext)" eq "$got" "1"
  got="$(j '[(e.get("ExternalUserId"), bool(e.get("ErrorCode")), bool(e.get("ErrorMessage"))) for e in d.get("Errors") or []]')"
  check "batch-create-attendee: Errors[0] has ExternalUserId/ErrorCode/ErrorMessage" "$got" \
    eq "$got" '[["aws:reserved", true, true]]'
  IDS="$IDS $(j '" ".join(a.get("AttendeeId") or "?" for a in d.get("Attendees", []))')"
fi

# list-attendees --max-results 2 with --next-token looping
SEEN=""
NEXT=""
PAGES=0
while :; do
  PAGES=$((PAGES + 1))
  if [[ -z "$NEXT" ]]; then
    ok "list-attendees page $PAGES" list-attendees --meeting-id "$MID" --max-results 2 || break
  else
    ok "list-attendees page $PAGES" list-attendees --meeting-id "$MID" --max-results 2 --next-token "$NEXT" || break
  fi
  n="$(j 'len(d.get("Attendees", []))')"
  check "list-attendees page $PAGES: at most 2 attendees" "$n" test "$n" -le 2
  page_ids="$(j '" ".join(a.get("AttendeeId") or "?" for a in d.get("Attendees", []))')"
  SEEN="${SEEN:+$SEEN }$page_ids"
  NEXT="$(j 'd.get("NextToken")')"
  if [[ -z "$NEXT" || $PAGES -ge 20 ]]; then break; fi
done
check "list-attendees (max 2 per page): all 4 attendees exactly once in creation order" \
  "want [$IDS] got [$SEEN]" eq "$SEEN" "$IDS"
check "list-attendees: 4 attendees take 2 pages" "$PAGES" eq "$PAGES" "2"
err "list-attendees with garbage --next-token" BadRequestException ListAttendees \
  list-attendees --meeting-id "$MID" --next-token "garbage-not-a-token"

# delete-attendee, then get-attendee → 404; re-create gives a new attendee
if ok "delete-attendee" delete-attendee --meeting-id "$MID" --attendee-id "$A1"; then
  check "delete-attendee prints nothing" "$(outtext)" test ! -s "$TMP/out"
fi
err "get-attendee after delete-attendee" NotFoundException GetAttendee \
  get-attendee --meeting-id "$MID" --attendee-id "$A1"
if ok "create-attendee after delete (same ExternalUserId)" create-attendee --meeting-id "$MID" --external-user-id "$U1"; then
  check "re-created attendee has a NEW AttendeeId" "$(j 'd["Attendee"]["AttendeeId"]')" ne "$(j 'd["Attendee"]["AttendeeId"]')" "$A1"
  check "re-created attendee has a NEW JoinToken" "(same)" ne "$(j 'd["Attendee"]["JoinToken"]')" "$T1"
fi
err "get-attendee unknown AttendeeId" NotFoundException GetAttendee \
  get-attendee --meeting-id "$MID" --attendee-id "$(uuid4)"

FEAT='{"Audio":{"EchoReduction":"AVAILABLE"},"Video":{"MaxResolution":"HD"},"Content":{"MaxResolution":"FHD"},"Attendee":{"MaxCount":10}}'
if ok "create-meeting with --meeting-features/--tenant-ids/--tags" create-meeting --client-request-token "$(uid tok)" \
  --media-region "$REGION" --external-meeting-id "$(uid feat)" --meeting-features "$FEAT" \
  --tenant-ids tenant-a tenant_b --tags Key=team,Value=convene Key=env,Value=cli; then
  got="$(j 'd["Meeting"].get("MeetingFeatures")')"
  want="$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), sort_keys=True))' "$FEAT")"
  check "create-meeting echoes MeetingFeatures" "$got" eq "$got" "$want"
  got="$(j 'd["Meeting"].get("TenantIds")')"
  check "create-meeting echoes TenantIds" "$got" eq "$got" '["tenant-a", "tenant_b"]'
  FM="$(j 'd["Meeting"]["MeetingId"]')"
  if ok "create-attendee --capabilities shorthand" create-attendee --meeting-id "$FM" --external-user-id "$(uid u)" \
    --capabilities Audio=Send,Video=Receive,Content=None; then
    got="$(j 'd["Attendee"]["Capabilities"]')"
    check "create-attendee echoes explicit Capabilities" "$got" eq "$got" '{"Audio": "Send", "Content": "None", "Video": "Receive"}'
  fi
fi

# ---------------------------------------------------------------------------
SECTION=meeting-with-attendees
echo "== $SECTION"
TOKEN2="$(uid tok)" EXT2="$(uid mwa)" W1="$(uid mwa-u1)" W2="$(uid mwa-u2)"
MWA_ARGS=(create-meeting-with-attendees --client-request-token "$TOKEN2" --media-region "$REGION"
  --external-meeting-id "$EXT2" --attendees "[{\"ExternalUserId\":\"$W1\"},{\"ExternalUserId\":\"$W2\"}]")
MWA_ID="" MWA_ATT=""
if ok "create-meeting-with-attendees" "${MWA_ARGS[@]}"; then
  check_meeting "create-meeting-with-attendees" "$EXT2"
  MWA_ID="$(j 'd["Meeting"]["MeetingId"]')"
  got="$(j '[a.get("ExternalUserId") for a in d.get("Attendees", [])]')"
  check "create-meeting-with-attendees: 2 Attendees" "$got" eq "$got" "[\"$W1\", \"$W2\"]"
  MWA_ATT="$(j 'sorted((a.get("AttendeeId"), a.get("JoinToken")) for a in d.get("Attendees", []))')"
  got="$(j 'len(d.get("Errors") or [])')"
  check "create-meeting-with-attendees: no Errors" "$(outtext)" eq "$got" "0"
fi
if ok "create-meeting-with-attendees (same token)" "${MWA_ARGS[@]}"; then
  check "create-meeting-with-attendees replay: same MeetingId" "$(j 'd["Meeting"]["MeetingId"]')" \
    eq "$(j 'd["Meeting"]["MeetingId"]')" "$MWA_ID"
  got="$(j 'sorted((a.get("AttendeeId"), a.get("JoinToken")) for a in d.get("Attendees", []))')"
  check "create-meeting-with-attendees replay: same attendees" "first $MWA_ATT replay $got" eq "$got" "$MWA_ATT"
fi
if [[ -n "$MWA_ID" ]] && ok "list-attendees on the new meeting" list-attendees --meeting-id "$MWA_ID"; then
  got="$(j 'len(d.get("Attendees", []))')"
  check "list-attendees shows the 2 attendees" "$got" eq "$got" "2"
fi

# ---------------------------------------------------------------------------
SECTION=delete-meeting
echo "== $SECTION"
if ok "delete-meeting" delete-meeting --meeting-id "$MID"; then
  check "delete-meeting prints nothing" "$(outtext)" test ! -s "$TMP/out"
fi
err "get-meeting after delete-meeting" NotFoundException GetMeeting get-meeting --meeting-id "$MID"
err "get-attendee on a deleted meeting" NotFoundException GetAttendee \
  get-attendee --meeting-id "$MID" --attendee-id "$(echo "$IDS" | cut -d' ' -f2)"
err "create-attendee on a deleted meeting" NotFoundException CreateAttendee \
  create-attendee --meeting-id "$MID" --external-user-id "$(uid late)"
err "list-attendees on a deleted meeting" NotFoundException ListAttendees list-attendees --meeting-id "$MID"
err "delete-meeting twice" NotFoundException DeleteMeeting delete-meeting --meeting-id "$MID"

# ---------------------------------------------------------------------------
SECTION=errors
echo "== $SECTION"
err "get-meeting unknown UUID" NotFoundException GetMeeting get-meeting --meeting-id "$(uuid4)"
err "get-meeting 'not-a-guid'" BadRequestException GetMeeting get-meeting --meeting-id not-a-guid
err "create-meeting --media-region mars-1" BadRequestException CreateMeeting \
  create-meeting --client-request-token "$(uid tok)" --media-region mars-1 --external-meeting-id "$(uid m)"
err "create-meeting --external-meeting-id aws:x" BadRequestException CreateMeeting \
  create-meeting --client-request-token "$(uid tok)" --media-region "$REGION" --external-meeting-id "aws:x"
if ok "create-meeting (for error cases)" create-meeting --client-request-token "$(uid tok)" --media-region "$REGION" \
  --external-meeting-id "$(uid m)"; then
  EM="$(j 'd["Meeting"]["MeetingId"]')"
  err "create-attendee Content=SendReceive with Video=None" BadRequestException CreateAttendee \
    create-attendee --meeting-id "$EM" --external-user-id "$(uid u)" \
    --capabilities Audio=SendReceive,Video=None,Content=SendReceive
  err "create-attendee --external-user-id aws:x" BadRequestException CreateAttendee \
    create-attendee --meeting-id "$EM" --external-user-id "aws:x"
  BIG="$(python3 -c 'import json; print(json.dumps([{"ExternalUserId": "batch-user-%03d" % i} for i in range(101)]))')"
  err "batch-create-attendee with 101 items" BadRequestException BatchCreateAttendee \
    batch-create-attendee --meeting-id "$EM" --attendees "$BIG"
  err "list-attendees --max-results 101" BadRequestException ListAttendees \
    list-attendees --meeting-id "$EM" --max-results 101
  ok "delete-meeting (cleanup)" delete-meeting --meeting-id "$EM" || true
fi
if ok "create-meeting MeetingFeatures Attendee MaxCount=2" create-meeting --client-request-token "$(uid tok)" \
  --media-region "$REGION" --external-meeting-id "$(uid m)" --meeting-features '{"Attendee":{"MaxCount":2}}'; then
  LM="$(j 'd["Meeting"]["MeetingId"]')"
  got="$(j 'd["Meeting"].get("MeetingFeatures")')"
  check "create-meeting echoes MeetingFeatures" "$got" eq "$got" '{"Attendee": {"MaxCount": 2}}'
  ok "create-attendee 1 of 2" create-attendee --meeting-id "$LM" --external-user-id "$(uid a)" || true
  ok "create-attendee 2 of 2" create-attendee --meeting-id "$LM" --external-user-id "$(uid b)" || true
  err "third create-attendee on a MaxCount=2 meeting" LimitExceededException CreateAttendee \
    create-attendee --meeting-id "$LM" --external-user-id "$(uid c)"
fi
if ok "create-meeting MeetingFeatures Video MaxResolution None" create-meeting --client-request-token "$(uid tok)" \
  --media-region "$REGION" --external-meeting-id "$(uid m)" --meeting-features '{"Video":{"MaxResolution":"None"}}'; then
  VM="$(j 'd["Meeting"]["MeetingId"]')"
  err "create-attendee Video=Send on a Video=None meeting" BadRequestException CreateAttendee \
    create-attendee --meeting-id "$VM" --external-user-id "$(uid u)" \
    --capabilities Audio=SendReceive,Video=Send,Content=None
fi

# ---------------------------------------------------------------------------
SECTION=capabilities
echo "== $SECTION"
C0="$(uid cap-u0)" C1="$(uid cap-u1)" C2="$(uid cap-u2)"
CM="" CA0="" CA1="" CA2=""
if ok "create-meeting-with-attendees (3 attendees)" create-meeting-with-attendees --client-request-token "$(uid tok)" \
  --media-region "$REGION" --external-meeting-id "$(uid caps)" \
  --attendees "[{\"ExternalUserId\":\"$C0\"},{\"ExternalUserId\":\"$C1\"},{\"ExternalUserId\":\"$C2\"}]"; then
  CM="$(j 'd["Meeting"]["MeetingId"]')"
  CA0="$(j 'd["Attendees"][0]["AttendeeId"]')"
  CA1="$(j 'd["Attendees"][1]["AttendeeId"]')"
  CA2="$(j 'd["Attendees"][2]["AttendeeId"]')"
fi
if [[ -n "$CM" && -n "$CA2" ]]; then
  if ok "update-attendee-capabilities" update-attendee-capabilities --meeting-id "$CM" --attendee-id "$CA0" \
    --capabilities Audio=Receive,Video=Send,Content=None; then
    got="$(j '[d["Attendee"]["AttendeeId"], d["Attendee"]["ExternalUserId"], d["Attendee"]["Capabilities"]]')"
    check "update-attendee-capabilities returns the updated Attendee" "$got" \
      eq "$got" "[\"$CA0\", \"$C0\", {\"Audio\": \"Receive\", \"Content\": \"None\", \"Video\": \"Send\"}]"
  fi
  err "update-attendee-capabilities Content=SendReceive with Video=None" BadRequestException UpdateAttendeeCapabilities \
    update-attendee-capabilities --meeting-id "$CM" --attendee-id "$CA0" \
    --capabilities Audio=SendReceive,Video=None,Content=SendReceive
  if ok "batch-update-attendee-capabilities-except" batch-update-attendee-capabilities-except --meeting-id "$CM" \
    --excluded-attendee-ids AttendeeId="$CA0" --capabilities Audio=SendReceive,Video=Receive,Content=Receive; then
    check "batch-update-attendee-capabilities-except prints nothing" "$(outtext)" test ! -s "$TMP/out"
  fi
  err "batch-update-attendee-capabilities-except with a 'not-a-guid' excluded id" BadRequestException \
    BatchUpdateAttendeeCapabilitiesExcept batch-update-attendee-capabilities-except --meeting-id "$CM" \
    --excluded-attendee-ids AttendeeId="$CA0" AttendeeId=not-a-guid --capabilities Audio=None,Video=None,Content=None
  if ok "list-attendees after the capability updates" list-attendees --meeting-id "$CM"; then
    got="$(j '{a["AttendeeId"]: a["Capabilities"] for a in d.get("Attendees", [])}')"
    want="{\"$CA0\": {\"Audio\": \"Receive\", \"Content\": \"None\", \"Video\": \"Send\"}"
    want+=", \"$CA1\": {\"Audio\": \"SendReceive\", \"Content\": \"Receive\", \"Video\": \"Receive\"}"
    want+=", \"$CA2\": {\"Audio\": \"SendReceive\", \"Content\": \"Receive\", \"Video\": \"Receive\"}}"
    want="$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]), sort_keys=True))' "$want")"
    check "all but the excluded attendee updated; the rejected batch changed nothing" "$got" eq "$got" "$want"
  fi
else
  fail "capabilities: no meeting with 3 attendees to work on"
fi

# ---------------------------------------------------------------------------
SECTION=transcription
echo "== $SECTION"
if [[ -n "$CM" ]]; then
  if ok "start-meeting-transcription (en-US)" start-meeting-transcription --meeting-id "$CM" \
    --transcription-configuration '{"EngineTranscribeSettings":{"LanguageCode":"en-US"}}'; then
    check "start-meeting-transcription prints nothing" "$(outtext)" test ! -s "$TMP/out"
  fi
  err "start-meeting-transcription with both engines" BadRequestException StartMeetingTranscription \
    start-meeting-transcription --meeting-id "$CM" --transcription-configuration \
    '{"EngineTranscribeSettings":{"LanguageCode":"en-US"},"EngineTranscribeMedicalSettings":{"LanguageCode":"en-US","Specialty":"PRIMARYCARE","Type":"CONVERSATION"}}'
  if ok "stop-meeting-transcription" stop-meeting-transcription --meeting-id "$CM"; then
    check "stop-meeting-transcription prints nothing" "$(outtext)" test ! -s "$TMP/out"
  fi
  err "stop-meeting-transcription when none is running" UnprocessableEntityException StopMeetingTranscription \
    stop-meeting-transcription --meeting-id "$CM"
else
  fail "transcription: no meeting to work on"
fi

# ---------------------------------------------------------------------------
SECTION=tags
echo "== $SECTION"
# FM was created (attendees section) with --tags Key=team,Value=convene Key=env,Value=cli
if [[ -n "${FM:-}" ]]; then
  FARN="arn:aws:chime:$REGION:$ACCOUNT:meeting/$FM"
  if ok "tag-resource (3 new tags)" tag-resource --resource-arn "$FARN" \
    --tags Key=a,Value=1 Key=b,Value=2 Key=c,Value=3; then
    check "tag-resource prints nothing" "$(outtext)" test ! -s "$TMP/out"
  fi
  if ok "untag-resource (one present key, one absent key)" untag-resource --resource-arn "$FARN" --tag-keys b absent-key; then
    check "untag-resource prints nothing" "$(outtext)" test ! -s "$TMP/out"
  fi
  MANY="$(python3 -c 'import json; print(json.dumps([{"Key": "fill-%02d" % i, "Value": "v"} for i in range(47)]))')"
  err "tag-resource taking the meeting to 51 tags" TooManyTagsException TagResource \
    tag-resource --resource-arn "$FARN" --tags "$MANY"
  if ok "list-tags-for-resource" list-tags-for-resource --resource-arn "$FARN"; then
    got="$(j 'd.get("Tags")')"
    check "list-tags-for-resource: tags in first-added order, b untagged, the rejected 51st tag changed nothing" "$got" \
      eq "$got" '[{"Key": "team", "Value": "convene"}, {"Key": "env", "Value": "cli"}, {"Key": "a", "Value": "1"}, {"Key": "c", "Value": "3"}]'
  fi
else
  fail "tags: no tagged meeting (FM) to work on"
fi
err "list-tags-for-resource on a deleted meeting's ARN" ResourceNotFoundException ListTagsForResource \
  list-tags-for-resource --resource-arn "arn:aws:chime:$REGION:$ACCOUNT:meeting/$MID"
err "untag-resource --resource-arn not-an-arn" BadRequestException UntagResource \
  untag-resource --resource-arn not-an-arn --tag-keys a

# ---------------------------------------------------------------------------
if [[ ${#FAILURES[@]} -gt 0 ]]; then
  echo
  echo "${#FAILURES[@]} failure(s):"
  for f in "${FAILURES[@]}"; do echo "  - $f"; done
fi
echo "cli: $PASS passed, $FAIL failed"
if [[ $FAIL -gt 0 ]]; then exit 1; fi
exit 0
