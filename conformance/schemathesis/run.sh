#!/usr/bin/env bash
# Schemathesis against a running Convene: reads /openapi.json from the server, generates
# requests for every operation (signed with SigV4 by sigv4_hook.py) and fails on any 5xx
# or any response that does not match the document.
#
#   CONVENE_ENDPOINT=http://127.0.0.1:8080 CONVENE_ACCESS_KEY_ID=AKIDEXAMPLE \
#   CONVENE_SECRET_ACCESS_KEY=secret bash conformance/schemathesis/run.sh
#
# SCHEMATHESIS (default: schemathesis on PATH), SCHEMATHESIS_MAX_EXAMPLES (default 25 per
# operation) and SCHEMATHESIS_MAX_TIME (default 120 seconds for the whole run) tune it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${CONVENE_ENDPOINT:?CONVENE_ENDPOINT must name a running server}"
st="${SCHEMATHESIS:-schemathesis}"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export SCHEMATHESIS_HOOKS=sigv4_hook
# Reports and caches go to a temporary directory, not into the repository.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$st" run "$CONVENE_ENDPOINT/openapi.json" \
  --url "$CONVENE_ENDPOINT" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-120}" \
  --workers 1 \
  --seed "${SCHEMATHESIS_SEED:-20210715}" \
  --request-timeout 10 \
  --no-color
