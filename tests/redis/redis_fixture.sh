#!/usr/bin/env bash
# tests/redis/redis_fixture.sh - the ctest fixture's redis-server.
#
#   redis_fixture.sh start <dir>   start redis-server on a free 127.0.0.1 port, write the port
#                                  to <dir>/port (its pid is in <dir>/redis.pid)
#   redis_fixture.sh stop <dir>    stop it by pid and remove <dir>'s files
#
# No persistence (--save '' --appendonly no), loopback only, daemonized. The server is ours
# only when its pid file appears (Redis writes it after binding) and the server answering on
# the port reports that pid, so a port taken meanwhile by someone else is never mistaken for
# ours. REDIS_SERVER / REDIS_CLI override the binaries.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop <dir>" >&2
  exit 2
fi
server=${REDIS_SERVER:-redis-server}
cli=${REDIS_CLI:-redis-cli}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
  if [[ -f "$dir/redis.pid" ]]; then
    local pid
    pid=$(cat "$dir/redis.pid")
    if kill "$pid" 2>/dev/null; then
      # Wait (bounded) for it to exit so that the next run can reuse the directory.
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/redis.pid" "$dir/port" "$dir/redis.log"
}

case "$cmd" in
start)
  command -v "$server" >/dev/null || { echo "redis_fixture: $server not found (apt-get install redis-server)" >&2; exit 1; }
  mkdir -p "$dir"
  stop # a leftover from an interrupted run
  for _ in $(seq 1 20); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    port_in_use "$port" && continue
    "$server" --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log" || continue
    for _ in $(seq 1 100); do
      if [[ -s "$dir/redis.pid" ]]; then
        pid=$(cat "$dir/redis.pid")
        served=$("$cli" -p "$port" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
        if [[ "$served" == "$pid" ]]; then
          echo "$port" >"$dir/port"
          echo "redis_fixture: redis-server pid $pid on 127.0.0.1:$port"
          exit 0
        fi
      fi
      sleep 0.05
    done
    stop # it did not come up on this port (taken meanwhile?): try another
  done
  echo "redis_fixture: could not start redis-server (see $dir/redis.log)" >&2
  exit 1
  ;;
stop)
  stop
  ;;
*)
  echo "usage: $0 start|stop <dir>" >&2
  exit 2
  ;;
esac
