#!/usr/bin/env bash
# The HTTP paths users see, measured black-box: the release binary on loopback, driven by wrk
# (2 threads, 64 connections, 8 s per phase), each path printed next to `GET /health` in the
# same run as the yardstick (the ratio is what to compare across machines).
#
#   tools/bench-http.sh           # BENCH_SECS=N, BENCH_CONNECTIONS=N to change the load
#
# Paths, each request a new event (its own key or ticket id):
# - `POST /v1/events`: a 400-byte support ticket, which the built-in `support-escalations`
#   pipeline classifies in the background;
# - `POST /webhooks/ticket`: a Merge `Ticket.changed` webhook for a NORMAL ticket, stored and
#   run through the built-in Merge pipelines (no call: the ticket is not urgent).
# It builds the release binary and installs wrk when missing (tools/bench-lib.sh); Klaxon
# runs with zero configuration (sandbox mode) on a fresh SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/bench-lib.sh

ensure_wrk
cargo build --release --locked --bin klaxon
work=$(mktemp -d)
trap 'kill "${KLAXON_PID:-}" 2>/dev/null; rm -rf "$work"' EXIT
start_klaxon "$work"

wrk_post_script "$work/ticket.lua" <<'LUA'
-- About 400 bytes: what a help desk sends for a new ticket.
request = function()
  local key = unique()
  local body = '{"type":"support.ticket.created","idempotency_key":"t-' .. key .. '","payload":{"id":"T-' .. key .. '","subject":"Checkout page returns an error for some customers","body":"Since this morning a few of our customers see an error when they pay; retrying sometimes works. Order numbers attached.","customer_tier":"enterprise","customer":"acme-corp","requester":"ops@acme.example"}}'
  return wrk.format(nil, "/v1/events", nil, body)
end
LUA
wrk_post_script "$work/merge.lua" <<'LUA'
-- A Merge Ticket.changed webhook (docs/merge.md), unsigned (loopback, no secret set).
request = function()
  local key = unique()
  local body = '{"hook":{"id":"5d3c1b57-6f40-4b6a-9a35-2b7c0d1e9f10","event":"Ticket.changed","target":"https://klaxon.example.com/webhooks/ticket"},"linked_account":{"id":"a1b2c3d4-0000-4000-8000-000000000001","integration_slug":"zendesk","category":"ticketing"},"data":{"id":"b7e1f3a2-' .. key .. '","name":"Printer on floor 3 is out of toner","priority":"NORMAL","status":"OPEN"}}'
  return wrk.format(nil, "/webhooks/ticket", nil, body)
end
LUA

echo "Klaxon release binary at $KLAXON_URL (sandbox mode), ${BENCH_CONNECTIONS:-64} connections, ${BENCH_SECS:-8}s per phase, $(nproc) cores"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
wrk_line "GET /health" "$KLAXON_URL/health"
health=$WRK_RPS
wrk_line "POST /v1/events (400-byte ticket)" -s "$work/ticket.lua" "$KLAXON_URL/v1/events"
echo "  ratio to /health: $(ratio "$WRK_RPS" "$health")"
wrk_line "POST /webhooks/ticket (NORMAL)" -s "$work/merge.lua" "$KLAXON_URL/webhooks/ticket"
echo "  ratio to /health: $(ratio "$WRK_RPS" "$health")"
wrk_line "GET /health (again)" "$KLAXON_URL/health"
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$KLAXON_PID/status" 2>/dev/null || echo "?")
echo "server peak RSS: ${rss_kb} kB; binary: $(du -h target/release/klaxon | cut -f1)"
