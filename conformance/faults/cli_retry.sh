#!/usr/bin/env bash
# README example, checked in CI: the AWS CLI retries CreateAttendee on
# throttling; the fault is set with curl. Needs a server started with
# --test-controls:  CONVENE_ENDPOINT=http://127.0.0.1:8080 bash conformance/faults/cli_retry.sh
set -euo pipefail
url="${CONVENE_ENDPOINT:?set CONVENE_ENDPOINT}"
export AWS_ACCESS_KEY_ID="${CONVENE_ACCESS_KEY_ID:-AKIDEXAMPLE}"
export AWS_SECRET_ACCESS_KEY="${CONVENE_SECRET_ACCESS_KEY:-secret}"
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null
export AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=3
aws="${AWS_CLI:-aws}"

meeting_id=$("$aws" chime-sdk-meetings create-meeting --endpoint-url "$url" \
  --client-request-token "cli-retry-$$-$RANDOM" --media-region us-east-1 \
  --external-meeting-id retry-demo --query Meeting.MeetingId --output text)

# The next two CreateAttendee calls answer ThrottlingException.
curl -sf -X PATCH "$url/_convene/chaos/faults" -H 'Content-Type: application/json' \
  -d '[{"service":"chime-sdk-meetings","operation":"CreateAttendee","count":2,"error":{"statusCode":429,"code":"ThrottlingException"}}]' >/dev/null

# The CLI retries (standard mode, 3 attempts) and succeeds on the third.
"$aws" chime-sdk-meetings create-attendee --endpoint-url "$url" \
  --meeting-id "$meeting_id" --external-user-id alice --query Attendee.AttendeeId --output text >/dev/null
left=$(curl -sf "$url/_convene/chaos/faults")
[ "$left" = "[]" ] || { echo "cli retry example FAILED: rules left: $left" >&2; exit 1; }

# Without retries the call fails with the modeled error.
curl -sf -X PATCH "$url/_convene/chaos/faults" -H 'Content-Type: application/json' \
  -d '[{"operation":"CreateAttendee","count":1,"error":{"code":"ThrottlingException"}}]' >/dev/null
if out=$(AWS_MAX_ATTEMPTS=1 "$aws" chime-sdk-meetings create-attendee --endpoint-url "$url" \
  --meeting-id "$meeting_id" --external-user-id bob 2>&1); then
  echo "cli retry example FAILED: expected ThrottlingException" >&2; exit 1
fi
case "$out" in
  *ThrottlingException*) ;;
  *) echo "cli retry example FAILED: $out" >&2; exit 1 ;;
esac
"$aws" chime-sdk-meetings delete-meeting --endpoint-url "$url" --meeting-id "$meeting_id"
echo "cli retry example: ok"
