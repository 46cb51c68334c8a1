#!/usr/bin/env bash
# examples/coroutines: the same server with co_spawn and awaitable (C++20).
#   coroutines.test.sh <path to coroutines_server>
# Proves: ordinary requests are answered by the coroutine session (GET / is the page), and a
# client of /events gets the stream and the ticks of the emitting coroutine.
source "$(dirname "${BASH_SOURCE[0]}")/support.sh"
app=$1

start_server coroutines "$app" 127.0.0.1 0 2

curl -sS --max-time 10 "http://127.0.0.1:$port/" | grep -q 'new EventSource("/events")' ||
    fail "GET / did not serve the page"
[[ "$(status_of "http://127.0.0.1:$port/nope")" == 404 ]] ||
    fail "GET /nope was not a 404"

open_stream events -i "http://127.0.0.1:$port/events"
expect events '^HTTP/1\.1 200'
expect events '^[Cc]ontent-[Tt]ype: text/event-stream$'
expect events '^event: connection$'
expect events '^event: tick$'
expect events '^data: \{"n":[0-9]+\}$'
echo "PASS"
