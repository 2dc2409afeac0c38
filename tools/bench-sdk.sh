#!/usr/bin/env bash
# Events/s that one SDK client process sends to a local Klaxon with 64 requests in flight
# (TypeScript, then Python), next to wrk on the same endpoint and `/health` in the same run:
# the SDK should not be the bottleneck below 10,000 events/s.
#
#   tools/bench-sdk.sh            # 8 s per phase; BENCH_SECS=N to change it
#
# It builds the release binary, installs wrk (Debian) when missing (tools/bench-lib.sh),
# builds the TypeScript SDK and a Python venv for the Python SDK (under target/), starts
# Klaxon on a fresh SQLite file with an API token, and prints one line per phase. Every phase posts the same small
# event (`{worker, n, note}`) with its own idempotency key, of a type no pipeline takes
# (ingest alone).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh
export BENCH_SECS=${BENCH_SECS:-8} BENCH_CONNECTIONS=64

ensure_wrk
cargo build --release --locked --bin klaxon
(cd clients/typescript && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent build)
venv=target/sdk-bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -e clients/python

work=$(mktemp -d)
token="bench-token-$(date +%s)-0123456789"
trap 'kill "${KLAXON_PID:-}" 2>/dev/null; rm -rf "$work"' EXIT
start_klaxon "$work" KLAXON_API_TOKEN="$token"

wrk_post_script "$work/ingest.lua" <<LUA
-- POST /v1/events with a fresh idempotency key per request.
wrk.headers["Authorization"] = "Bearer $token"
request = function()
  local key = unique()
  local body = '{"type":"bench.sdk.wrk","payload":{"worker":' .. tid .. ',"n":' .. counter .. ',"note":"sdk benchmark"},"idempotency_key":"wrk-' .. key .. '"}'
  return wrk.format(nil, "/v1/events", nil, body)
end
LUA

echo "Klaxon release binary at $KLAXON_URL, $BENCH_CONNECTIONS in flight, ${BENCH_SECS}s per phase, $(nproc) cores"
wrk_line "wrk GET /health" "$KLAXON_URL/health"
wrk_line "wrk POST /v1/events" -s "$work/ingest.lua" "$KLAXON_URL/v1/events"
node clients/typescript/bench/ingest.mjs --url "$KLAXON_URL" --token "$token" \
  --concurrency "$BENCH_CONNECTIONS" --seconds "$BENCH_SECS"
"$venv/bin/python" clients/python/bench/ingest.py --url "$KLAXON_URL" --token "$token" \
  --concurrency "$BENCH_CONNECTIONS" --seconds "$BENCH_SECS"
wrk_line "wrk POST /v1/events (again)" -s "$work/ingest.lua" "$KLAXON_URL/v1/events"
