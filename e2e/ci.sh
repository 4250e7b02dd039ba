#!/usr/bin/env bash
# Headless-browser end-to-end test of Convene's media plane (three Chromium tabs running the
# unmodified amazon-chime-sdk-js with fake cameras: audio, video, content share, data messages).
#
# Installs what it needs on a fresh Debian machine (Chromium and Node.js from apt if missing,
# the pinned npm packages with `npm ci`), builds the page bundle, and runs run.mjs.
#
#   CONVENE_ENDPOINT=http://127.0.0.1:8080 bash e2e/ci.sh
#
# CONVENE_ENDPOINT is the API base URL of a running server whose media plane is enabled; the
# key is CONVENE_ACCESS_KEY_ID / CONVENE_SECRET_ACCESS_KEY (default AKIDEXAMPLE / secret).
# Without CONVENE_ENDPOINT, the script starts the server itself from CONVENE_BIN (default
# target/debug/convene) on 127.0.0.1 with a fresh data directory and its media endpoint on a
# free UDP port (--media-listen 127.0.0.1:0), adding CONVENE_SERVE_ARGS, and stops it at the
# end; its log goes to e2e/artifacts/convene.log.
#
# Exit status: that of run.mjs (0 all passed, 1 a check failed, 2 setup problem).
# Browser console and signaling frames: e2e/artifacts/browser.log (E2E_ARTIFACTS to move it).
set -euo pipefail
cd "$(dirname "$0")"
e2e=$(pwd)
root=$(cd .. && pwd)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "e2e: need root to run: $*" >&2; return 1; fi
}
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

chromium_bin="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium_bin" ]; then
  echo "== e2e: installing chromium (apt)"
  apt_install chromium
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "== e2e: installing nodejs and npm (apt)"
  apt_install nodejs npm
fi
export CHROMIUM="$chromium_bin"
echo "== e2e: $("$chromium_bin" --version 2>/dev/null | head -n 1), node $(node --version)"

echo "== e2e: npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "== e2e: build the page bundle (esbuild)"
npm run --silent build

artifacts="${E2E_ARTIFACTS:-$e2e/artifacts}"
mkdir -p "$artifacts"
export E2E_ARTIFACTS="$artifacts"

server_pid=""
data=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -n "$data" ]; then rm -rf "$data"; fi
}
trap cleanup EXIT

if [ -z "${CONVENE_ENDPOINT:-}" ]; then
  bin="${CONVENE_BIN:-$root/target/debug/convene}"
  if [ ! -x "$bin" ]; then
    echo "e2e: CONVENE_ENDPOINT is not set and there is no server binary at $bin (cargo build first)" >&2
    exit 2
  fi
  export CONVENE_ACCESS_KEY_ID="${CONVENE_ACCESS_KEY_ID:-AKIDEXAMPLE}"
  export CONVENE_SECRET_ACCESS_KEY="${CONVENE_SECRET_ACCESS_KEY:-secret}"
  serve_args="${CONVENE_SERVE_ARGS:-}"
  # The media endpoint on a free UDP port, unless the caller chose one.
  if "$bin" serve --help 2>/dev/null | grep -q -- '--media-listen' && [[ "$serve_args" != *--media-listen* ]]; then
    serve_args="--media-listen 127.0.0.1:0 $serve_args"
  fi
  data=$(mktemp -d)
  log="$artifacts/convene.log"
  # shellcheck disable=SC2086 # serve_args is a list of flags
  CONVENE_LOG="${CONVENE_LOG:-convene=debug,info}" "$bin" serve --listen 127.0.0.1:0 --data-dir "$data/db" \
    $serve_args >"$log" 2>&1 &
  server_pid=$!
  addr=""
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/.*convene listening on http:\/\/\([^ ]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    echo "e2e: the server did not start:" >&2
    cat "$log" >&2
    exit 2
  fi
  export CONVENE_ENDPOINT="http://$addr"
  echo "== e2e: started $bin at $CONVENE_ENDPOINT (log: $log)"
fi

echo "== e2e: run.mjs against $CONVENE_ENDPOINT"
status=0
node run.mjs 2>&1 | tee "$artifacts/run.out" || status=${PIPESTATUS[0]}
if [ "$status" != 0 ] && [ -n "$server_pid" ]; then
  echo "== e2e: last lines of the server log ($log)"
  tail -n 40 "$log" | sed 's/\x1b\[[0-9;]*m//g'
  # keep the summary as the closing line
  grep -E '^e2e: [0-9]+ passed, [0-9]+ failed$' "$artifacts/run.out" | tail -n 1 || true
fi
exit "$status"
