#!/usr/bin/env bash
# Events/s that one SDK client process sends to a local Klaxon with 64 requests in flight
# (TypeScript, then Python), next to wrk on the same endpoint and `/health` in the same run:
# the SDK should not be the bottleneck below 10,000 events/s.
#
#   tools/bench-sdk.sh            # 8 s per phase; BENCH_SECS=N to change it
#
# It builds the release binary, installs wrk (Debian) when missing, builds the TypeScript
# SDK and a Python venv for the Python SDK (under target/), starts Klaxon on a fresh SQLite
# file with an API token, and prints one line per phase. Every phase posts the same small
# event (`{worker, n, note}`) with its own idempotency key, of a type no pipeline takes
# (ingest alone).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${BENCH_SECS:-8}
connections=64

if ! command -v wrk >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk
fi
cargo build --release --locked --bin klaxon
(cd clients/typescript && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent build)
venv=target/sdk-bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -e clients/python

work=$(mktemp -d)
token="bench-token-$(date +%s)-0123456789"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
binary="$PWD/target/release/klaxon"
(cd "$work" && exec env -i PATH="$PATH" PORT=0 DATABASE_URL="sqlite://$work/klaxon.db" \
  KLAXON_API_TOKEN="$token" RUST_LOG=warn,klaxon=info \
  "$binary" serve --log-format json >/dev/null 2>"$work/log") &
pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/.*"message":"klaxon is listening","url":"\([^"]*\)".*/\1/p' "$work/log" | head -n1)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "klaxon did not start:"; cat "$work/log"; exit 1; }

cat >"$work/ingest.lua" <<LUA
-- POST /v1/events with a fresh idempotency key per request (run, thread id, counter).
local run = os.time()
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
request = function()
  counter = counter + 1
  local body = '{"type":"bench.sdk.wrk","payload":{"worker":' .. tid .. ',"n":' .. counter .. ',"note":"sdk benchmark"},"idempotency_key":"wrk-' .. run .. '-' .. tid .. '-' .. counter .. '"}'
  return wrk.format(nil, "/v1/events", nil, body)
end
LUA

wrk_line() { # label, args…: one summary line from wrk's output
  local label=$1; shift
  local out; out=$(wrk -t2 -c"$connections" -d"${secs}s" --latency "$@")
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  local errors; errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-28s events/s=%s p99=%s non2xx=%s\n' "$label" "$rps" "$p99" "${errors:-0}"
}

echo "Klaxon release binary at $url, $connections in flight, ${secs}s per phase, $(nproc) cores"
wrk_line "wrk GET /health" "$url/health"
wrk_line "wrk POST /v1/events" -s "$work/ingest.lua" "$url/v1/events"
node clients/typescript/bench/ingest.mjs --url "$url" --token "$token" \
  --concurrency "$connections" --seconds "$secs"
"$venv/bin/python" clients/python/bench/ingest.py --url "$url" --token "$token" \
  --concurrency "$connections" --seconds "$secs"
wrk_line "wrk POST /v1/events (again)" -s "$work/ingest.lua" "$url/v1/events"
