#!/usr/bin/env bash
# examples/existing_app: Beast's http_server_async with /events handed to sse.
#   existing_app.test.sh <path to existing_app>
# Proves: the app still serves its files (GET /), and a client of /events gets a real event
# stream (200, text/event-stream, the connection event, then the app's ticks).
source "$(dirname "${BASH_SOURCE[0]}")/support.sh"
app=$1

echo '<p>served from doc_root</p>' >"$work/index.html"
start_server existing_app "$app" 127.0.0.1 0 "$work" 2

[[ "$(curl -sS --max-time 10 "http://127.0.0.1:$port/")" == '<p>served from doc_root</p>' ]] ||
    fail "GET / did not serve doc_root/index.html"

open_stream events -i "http://127.0.0.1:$port/events"
expect events '^HTTP/1\.1 200'
expect events '^[Cc]ontent-[Tt]ype: text/event-stream$'
expect events '^event: connection$'
expect events '^event: tick$'
expect events '^data: \{"n":[0-9]+\}$'
echo "PASS"
