# tests/examples/support.sh - sourced by the example tests: start real example processes on
# free loopback ports and read their streams with curl, as a user would.
#
#   start_server NAME CMD...      runs CMD (given port 0), sets $port from its
#                                 "listening on <address>:<port>" line
#   open_stream NAME CURL-ARGS... opens `curl -sSN CURL-ARGS` as stream NAME
#   expect NAME REGEX             reads stream NAME until a line matches REGEX; fails (with
#                                 what it read) if the stream ends first or goes quiet 10 s
#   expect_end NAME               reads stream NAME to its end; fails if another event comes,
#                                 curl fails (e.g. its --max-time) or it stays open 10 s
#   status_of CURL-ARGS...        prints the HTTP status of a request (000: no answer)
#   fail MESSAGE                  prints MESSAGE and the servers' output, exits 1
#
# Everything is stopped by pid on exit; the work directory is $work.
set -euo pipefail

work=$(mktemp -d "${TMPDIR:-/tmp}/sse-example-test.XXXXXX")
pids=()
declare -A stream_fd=()

cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n "${cleanup_hook:-}" ]]; then "$cleanup_hook" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    local log
    for log in "$work"/*.log "$work"/*.stream; do
        [[ -f "$log" ]] && { echo "--- $(basename "$log")" >&2; cat "$log" >&2; }
    done
    exit 1
}

start_server() {
    local name=$1
    shift
    "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
    local pid=$! _
    port=
    for _ in $(seq 1 200); do # up to 10 s to bind (a cold start under load)
        port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$work/$name.log")
        [[ -n "$port" ]] && { echo "$name listening on 127.0.0.1:$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || fail "$name exited before it listened"
        sleep 0.05
    done
    fail "$name did not print its port"
}

open_stream() {
    local name=$1 fd
    shift
    # --max-time bounds a test that would otherwise wait for an event forever.
    exec {fd}< <(exec curl -sSN --max-time 20 "$@" 2>&1)
    pids+=($!)
    stream_fd[$name]=$fd
    : >"$work/$name.stream"
}

expect() {
    local name=$1 pattern=$2 line
    local fd=${stream_fd[$name]}
    while IFS= read -r -t 10 -u "$fd" line; do
        line=${line%$'\r'} # header lines end in CRLF
        printf '%s\n' "$line" >>"$work/$name.stream"
        if [[ "$line" =~ $pattern ]]; then
            echo "$name: $line"
            return 0
        fi
    done
    fail "stream $name ended or went quiet before a line matching: $pattern"
}

expect_end() {
    local name=$1 line status
    local fd=${stream_fd[$name]}
    while true; do
        status=0
        IFS= read -r -t 10 -u "$fd" line || status=$?
        ((status == 0)) || break
        line=${line%$'\r'}
        printf '%s\n' "$line" >>"$work/$name.stream"
        # The rest of the last event may follow; another event, or curl's own error, may not.
        [[ "$line" =~ ^(event:|curl:) ]] && fail "stream $name went on: $line"
    done
    ((status > 128)) && fail "stream $name did not end" # read timed out
    echo "$name: ended"
}

status_of() {
    curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$@" 2>>"$work/curl.log" || true
}
