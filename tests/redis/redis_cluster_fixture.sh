#!/usr/bin/env bash
# tests/redis/redis_cluster_fixture.sh - the ctest fixture's Redis Cluster: 3 masters, 3 replicas.
#
#   redis_cluster_fixture.sh start <dir>   start 6 redis-server nodes on free 127.0.0.1 ports,
#                                          join them with `redis-cli --cluster create
#                                          --cluster-replicas 1`, wait until every node says
#                                          cluster_state:ok and sees 3 masters and 3 replicas,
#                                          then write the ports to <dir>/ports, one a line,
#                                          the seed (first node) first
#   redis_cluster_fixture.sh stop <dir>    stop the nodes by pid and remove <dir>'s files
#
# Each node lives in <dir>/node-<i>/ (nodes.conf, pid file, log). No persistence, loopback only,
# daemonized; replicas sync at once (no diskless-sync delay) and are pinged every second. As in redis_fixture.sh, a node is ours only when its pid file appears and the
# server answering on the port reports that pid, so a port taken meanwhile by someone else (the
# single-server fixture, a test's private server) is never mistaken for ours: we move on to
# another. Each node's cluster bus gets its own free port (--cluster-port), and all ports come
# from below the kernel's ephemeral range.
# REDIS_SERVER / REDIS_CLI override the binaries; REDIS_CLUSTER_NODE_TIMEOUT (ms, default 5000)
# sets cluster-node-timeout, i.e. how soon a dead master's replica is promoted.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop <dir>" >&2
  exit 2
fi
server=${REDIS_SERVER:-redis-server}
cli=${REDIS_CLI:-redis-cli}
node_timeout=${REDIS_CLUSTER_NODE_TIMEOUT:-5000}
nodes=6

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Stops every node at once (SIGTERM, then SIGKILL after 5 s) and removes the node directories.
stop() {
  local d pids=()
  for d in "$dir"/node-*; do
    [[ -f "$d/redis.pid" ]] || continue
    pids+=("$(cat "$d/redis.pid")")
  done
  if ((${#pids[@]})); then
    kill "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 100); do # bounded wait, so that the next run can reuse the directory
      kill -0 "${pids[@]}" 2>/dev/null || break # true while any is still alive
      sleep 0.05
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
  fi
  rm -rf "$dir"/node-* "$dir/ports" "$dir/create.log"
}

# Stops one node (one that did not come up as ours).
stop_node() { # <node dir>
  local pid
  [[ -f "$1/redis.pid" ]] || return 0
  pid=$(cat "$1/redis.pid")
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1/redis.pid"
}

# Ports come from below the kernel's ephemeral range: a port there may be the local end of
# someone's outgoing connection, which a connect test cannot see but which makes bind fail.
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
port_base=12000
port_span=$((ephemeral_low - port_base))
((port_span >= 2000)) || { port_base=20000; port_span=40000; }

# Picks a free port that is not one of "$@" (ports of nodes launched just before, which may not
# be bound yet).
pick_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((port_base + (RANDOM * 32768 + RANDOM) % port_span))
    [[ " $* " == *" $port "* ]] && continue
    port_in_use "$port" || { echo "$port"; return 0; }
  done
  return 1
}

# Launches node <i> (daemonized) on <port>, its cluster bus on <bus port>; does not wait.
launch_node() {
  local d="$dir/node-$1"
  mkdir -p "$d"
  rm -f "$d/nodes.conf" "$d/redis.pid" "$d/redis.log"
  "$server" --port "$2" --cluster-port "$3" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout "$node_timeout" --repl-diskless-sync-delay 0 \
    --repl-ping-replica-period 1 --shutdown-timeout 0 \
    --pidfile "$d/redis.pid" --dir "$d" --logfile "$d/redis.log" >/dev/null
}

# True once node <i> answers on <port> with the pid it wrote (5 s at most).
node_is_ours() {
  local d="$dir/node-$1" pid served
  for _ in $(seq 1 100); do
    grep -q aborting "$d/redis.log" 2>/dev/null && return 1 # e.g. a port taken meanwhile
    if [[ -s "$d/redis.pid" ]]; then
      pid=$(cat "$d/redis.pid")
      served=$("$cli" -p "$2" info server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')
      [[ "$served" == "$pid" ]] && return 0
    fi
    sleep 0.05
  done
  return 1
}

# True when the node on port $1 is ready: state ok, all slots served, and its view of the
# cluster holds 3 masters and 3 synced replicas, all connected, none failing or handshaking.
node_ready() {
  local info view
  info=$("$cli" -p "$1" cluster info 2>/dev/null | tr -d '\r') || return 1
  [[ "$info" == *"cluster_state:ok"* && "$info" == *"cluster_slots_ok:16384"* ]] || return 1
  view=$("$cli" -p "$1" cluster nodes 2>/dev/null) || return 1
  [[ "$view" != *fail* && "$view" != *handshake* && "$view" != *noaddr* ]] || return 1
  # Fields: id addr flags master-id ping pong epoch link-state slots...
  [[ $(awk '$3 ~ /master/ && $8 == "connected"' <<<"$view" | wc -l) -eq 3 ]] || return 1
  [[ $(awk '$3 ~ /slave/ && $8 == "connected"' <<<"$view" | wc -l) -eq 3 ]] || return 1
  # A replica whose replication offset is still 0 counts as "loading" and CLUSTER SLOTS leaves
  # it out: wait until all six are "online" (the master's pings to its replicas, every
  # repl-ping-replica-period, move the offset on an idle cluster).
  [[ $("$cli" -p "$1" cluster shards 2>/dev/null | grep -cx online) -eq 6 ]] || return 1
}

case "$cmd" in
start)
  command -v "$server" >/dev/null || { echo "redis_cluster_fixture: $server not found (apt-get install redis-server)" >&2; exit 1; }
  command -v "$cli" >/dev/null || { echo "redis_cluster_fixture: $cli not found (apt-get install redis-tools)" >&2; exit 1; }
  mkdir -p "$dir"
  stop # a leftover from an interrupted run
  # Launch all six at once (they start in parallel), then check each is ours; a node that
  # lost its port to someone else is moved to another, up to 20 times.
  ports=()
  buses=()
  for i in $(seq 1 "$nodes"); do
    port=$(pick_port "${ports[@]}" "${buses[@]}") || { echo "redis_cluster_fixture: no free port" >&2; stop; exit 1; }
    bus=$(pick_port "${ports[@]}" "${buses[@]}" "$port") || { stop; exit 1; }
    ports+=("$port")
    buses+=("$bus")
    launch_node "$i" "$port" "$bus" || true
  done
  for i in $(seq 1 "$nodes"); do
    tries=0
    until node_is_ours "$i" "${ports[i - 1]}"; do
      echo "redis_cluster_fixture: node $i did not come up on ports ${ports[i - 1]}/${buses[i - 1]}:" \
        "$(tail -n 1 "$dir/node-$i/redis.log" 2>/dev/null)" >&2
      stop_node "$dir/node-$i"
      if ((++tries >= 20)); then
        echo "redis_cluster_fixture: could not start node $i (see $dir/node-$i/redis.log)" >&2
        stop
        exit 1
      fi
      ports[i - 1]=$(pick_port "${ports[@]}" "${buses[@]}") || { stop; exit 1; }
      buses[i - 1]=$(pick_port "${ports[@]}" "${buses[@]}") || { stop; exit 1; }
      launch_node "$i" "${ports[i - 1]}" "${buses[i - 1]}" || true
    done
  done
  addresses=()
  for p in "${ports[@]}"; do addresses+=("127.0.0.1:$p"); done
  if ! "$cli" --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes \
    >"$dir/create.log" 2>&1; then
    cat "$dir/create.log" >&2
    echo "redis_cluster_fixture: redis-cli --cluster create failed" >&2
    stop
    exit 1
  fi
  for _ in $(seq 1 600); do # 30 s at most; usually 1-3 s
    ready=1
    for p in "${ports[@]}"; do
      node_ready "$p" || { ready=0; break; }
    done
    if ((ready)); then
      printf '%s\n' "${ports[@]}" >"$dir/ports"
      echo "redis_cluster_fixture: cluster on 127.0.0.1 ports ${ports[*]} (seed ${ports[0]})"
      exit 0
    fi
    sleep 0.05
  done
  echo "redis_cluster_fixture: the cluster did not become ready; node 1's view:" >&2
  "$cli" -p "${ports[0]}" cluster nodes >&2 || true
  stop
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
