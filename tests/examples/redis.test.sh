#!/usr/bin/env bash
# examples/redis: two redis_node processes on one real redis-server.
#   redis.test.sh <path to redis_node> <path to tests/redis/redis_fixture.sh>
# Proves: an emit on node A reaches a client of node B (and one on B a client of A) through
# Redis, with no second copy ahead of the next event (tests/redis proves exactly-once itself);
# a body that is not UTF-8 is a 400 and one too large once encoded a 413, not a crash.
source "$(dirname "${BASH_SOURCE[0]}")/support.sh"
app=$1
fixture=$2

stop_redis() { bash "$fixture" stop "$work/redis"; }
cleanup_hook=stop_redis
bash "$fixture" start "$work/redis" >/dev/null || fail "could not start redis-server"
redis_url="redis://127.0.0.1:$(cat "$work/redis/port")"

start_server node_a "$app" 127.0.0.1 0 "$redis_url" A
port_a=$port
start_server node_b "$app" 127.0.0.1 0 "$redis_url" B
port_b=$port

# Ready: both Redis links up and our subscriptions confirmed (what /health reports).
for p in "$port_a" "$port_b"; do
    ready=
    for _ in $(seq 1 200); do
        if curl -sS --max-time 5 "http://127.0.0.1:$p/health" | grep -q '"ready":true'; then
            ready=1
            break
        fi
        sleep 0.05
    done
    [[ -n "$ready" ]] || fail "node on port $p never reported ready: $(curl -sS "http://127.0.0.1:$p/health")"
done

open_stream on_a "http://127.0.0.1:$port_a/events"
open_stream on_b "http://127.0.0.1:$port_b/events"
expect on_a '^event: connection$'
expect on_b '^event: connection$'

status=$(status_of -d 'hello from A' "http://127.0.0.1:$port_a/emit")
[[ "$status" == 202 ]] || fail "POST /emit on A answered $status"
expect on_b '^data: \{"from":"A","text":"hello from A"\}$'

status=$(status_of -d 'hello from B' "http://127.0.0.1:$port_b/emit")
[[ "$status" == 202 ]] || fail "POST /emit on B answered $status"
expect on_a '^data: \{"from":"A","text":"hello from A"\}$' # its own, delivered locally
expect on_a '^data: \{"from":"B","text":"hello from B"\}$'
# B's next event is its own emit, not a second copy of A's.
expect on_b '^data: '
grep -q '"from":"B"' <<<"$(tail -n 1 "$work/on_b.stream")" ||
    fail "B's client got A's event twice"

status=$(printf 'bad \xff' | status_of --data-binary @- "http://127.0.0.1:$port_a/emit")
[[ "$status" == 400 ]] || fail "a body that is not UTF-8 answered $status, not 400"
# 600 000 quotes fit the 1 MiB body limit but not, escaped as JSON, a client's 1 MiB queue.
head -c 600000 /dev/zero | tr '\0' '"' >"$work/quotes"
status=$(status_of --data-binary @"$work/quotes" "http://127.0.0.1:$port_a/emit")
[[ "$status" == 413 ]] || fail "an event too large once encoded answered $status, not 413"
curl -sS --max-time 5 "http://127.0.0.1:$port_a/health" | grep -q '"ready":true' ||
    fail "node A is gone after a bad body"
echo "PASS"
