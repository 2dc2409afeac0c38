# Shared by the black-box benchmarks (tools/bench-http.sh, tools/bench-sdk.sh): sourced, not
# run. Installs wrk when missing, starts the release binary on a fresh SQLite file, writes wrk
# scripts that post a new event per request, and turns a wrk run into one summary line.

# wrk from Debian's packages, when it is not on the machine.
ensure_wrk() {
  command -v wrk >/dev/null && return
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk
}

# start_klaxon WORKDIR [NAME=VALUE…]: `klaxon serve` (release) with a clean environment plus
# the given variables, on a free port, its database and log in WORKDIR. Sets KLAXON_URL and
# KLAXON_PID; the caller kills KLAXON_PID when done.
start_klaxon() {
  local work=$1; shift
  local binary="$PWD/target/release/klaxon"
  (cd "$work" && exec env -i PATH="$PATH" PORT=0 DATABASE_URL="sqlite://$work/klaxon.db" \
    RUST_LOG=warn,klaxon=info "$@" "$binary" serve --log-format json >/dev/null 2>"$work/log") &
  KLAXON_PID=$!
  KLAXON_URL=""
  for _ in $(seq 1 100); do
    KLAXON_URL=$(sed -n 's/.*"message":"klaxon is listening","url":"\([^"]*\)".*/\1/p' "$work/log" | head -n1)
    [ -n "$KLAXON_URL" ] && return
    sleep 0.1
  done
  echo "klaxon did not start:" >&2
  cat "$work/log" >&2
  return 1
}

# wrk_line LABEL WRK-ARGS…: runs wrk (2 threads, BENCH_CONNECTIONS connections, BENCH_SECS
# seconds) and prints `LABEL requests/s=… p99=… non2xx=…`; the rate is also left in WRK_RPS.
wrk_line() {
  local label=$1; shift
  local out
  out=$(wrk -t2 -c"${BENCH_CONNECTIONS:-64}" -d"${BENCH_SECS:-8}s" --latency "$@")
  WRK_RPS=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  local p99 errors
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-34s requests/s=%s p99=%s non2xx=%s\n' "$label" "$WRK_RPS" "$p99" "${errors:-0}"
}

# wrk_post_script FILE: writes FILE, a wrk script for JSON POSTs: the prelude below, then the
# caller's Lua from stdin, which defines `request` and calls `unique()` once per request for
# a key no other request of any thread or run has (run start, thread id, counter; `tid` and
# `counter` are globals the body may use too).
wrk_post_script() {
  {
    cat <<'LUA'
local run = os.time()
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
counter = 0
function unique() counter = counter + 1; return run .. "-" .. tid .. "-" .. counter end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
LUA
    cat
  } >"$1"
}
