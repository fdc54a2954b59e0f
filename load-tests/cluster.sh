#!/bin/bash
# Measures cluster mode against a single node in one run. At each room count it runs, one after another:
#   1. single: one handoff node as a team runs it (SQLite, no Redis), `handoff-load typing --nodes URL
#      --node-pids PID` (one node): fan-out latency, the server's CPU per delivered update and its
#      server-side fan-out (handoff_fanout_seconds);
#   2. cluster: NODES nodes on a fresh PostgreSQL database and this script's own Redis (AOF on,
#      noeviction), `typing --nodes … --node-pids … --redis-url …`: fan-out per (sender node → receiver
#      node) pair, cross-node latency, each node's CPU per delivered update and server-side fan-out
#      (handoff_fanout_seconds), Redis's CPU and commands per second;
#   3. cluster-affinity: the same cluster, new rooms, `--layout affinity`: every client of room r on node
#      r mod NODES (as routing by room id places them): each node's CPU per delivered update when no key
#      crosses nodes;
#   4. kill: the same cluster, new rooms, the last node killed with SIGKILL KILL_AFTER seconds into
#      typing (`--kill-node-after`): its clients rejoin the others; convergence time, keys lost.
# Before each run the host's load average (`uptime`) is printed and saved beside the reports.
#
#   load-tests/cluster.sh NODES ROOMS...      e.g. load-tests/cluster.sh 3 300 1000 2000
#
# Run from the repository root after cargo build --release -p handoff-server -p handoff-load.
# HANDOFF (target/release/handoff: the server binary), PG_URL (postgres://postgres@127.0.0.1:5432),
# REDIS_PORT (18949), FIRST_PORT (18950: the nodes listen on
# it and the next ports), SECONDS_RUN (30), DRAIN_S (5: how
# long watchers wait for late keys after the last one), KILL_AFTER (15),
# CLIENTS_PER_ROOM (3), OUT (load-tests/results/cluster) and PREFIX (none) set where and how much; RUNS
# (single,cluster,kill; cluster-affinity also exists) picks the runs. Reports:
# OUT/PREFIXcluster-single-ROOMSr.json, OUT/PREFIXcluster-NODESn-ROOMSr.json (with Redis's INFO
# commandstats over that run in OUT/PREFIXcluster-NODESn-ROOMSr-redis.txt; the same with -affinity
# before .json and -redis.txt for cluster-affinity), OUT/PREFIXcluster-NODESn-ROOMSr-kill.json and
# OUT/PREFIXcluster-uptime.txt. Each room count gets a fresh database and Redis, dropped afterwards.
# Everything listens on 127.0.0.1 and stops at the end.
set -u
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_PORT=${REDIS_PORT:-18949}
SECONDS_RUN=${SECONDS_RUN:-30}
KILL_AFTER=${KILL_AFTER:-15}
DRAIN_S=${DRAIN_S:-5}
CLIENTS_PER_ROOM=${CLIENTS_PER_ROOM:-3}
OUT=${OUT:-load-tests/results/cluster}
PREFIX=${PREFIX:-}
RUNS=${RUNS:-single,cluster,kill}
RELEASE=${CARGO_TARGET_DIR:-target}/release
HANDOFF=${HANDOFF:-$RELEASE/handoff}
LOAD=$RELEASE/handoff-load
FIRST_PORT=${FIRST_PORT:-18950}
# Seconds a node or Redis gets to open its port.
READY_S=30
API_KEY=cluster-load-api-key-0123456789
# Every node signs and checks room tokens with one secret: a token minted on one node opens the room
# on any other.
TOKEN_SECRET=cluster-load-token-secret-0123456789
[ $# -ge 2 ] || { sed -n 2,30p "$0"; exit 2; }
NODES=$1; shift

die() { echo "cluster: $*" >&2; exit 1; }
[ -x "$HANDOFF" ] && [ -x "$LOAD" ] || die "build first: cargo build --release -p handoff-server -p handoff-load"
"$HANDOFF" serve --help | grep -q -- '--redis-url' ||
  die "$HANDOFF has no --redis-url: this build lacks cluster mode (tracker issue 22), nothing to measure"
command -v psql >/dev/null || die "psql is needed to create each run's database"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
  die "redis-server and redis-cli are needed (the script runs its own Redis)"
psql "$PG_URL/postgres" -qAt -c 'select 1' >/dev/null || die "PostgreSQL does not answer at $PG_URL"
mkdir -p "$OUT"
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/
uptimes="$OUT/${PREFIX}cluster-uptime.txt"

ready() {
  for _ in $(seq 1 $((READY_S * 10))); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "cluster: nothing listens on 127.0.0.1:$1" >&2; return 1
}

pids=(); dirs=(); db=""
stop() {
  [ ${#pids[@]} -gt 0 ] && { kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; }
  [ ${#dirs[@]} -gt 0 ] && rm -rf "${dirs[@]}"
  [ -n "$db" ] && psql "$PG_URL/postgres" -qAt -c "drop database if exists $db with (force)" >/dev/null
  pids=(); dirs=(); db=""
}
trap stop EXIT

# Starts a handoff node on port $1 with the arguments after it; sets node_pid.
node() {
  local port=$1; shift
  local dir; dir=$(mktemp -d); dirs+=("$dir")
  "$HANDOFF" serve --listen 127.0.0.1:$port --data-dir "$dir" --api-key "$API_KEY" \
    --token-secret "$TOKEN_SECRET" --log warn --voice false "$@" >"$dir/log" 2>&1 &
  pids+=($!); node_pid=$!
  ready $port || { cat "$dir/log" >&2; exit 1; }
}

# Notes the load average before run $1.
load_average() { echo "$1: $(uptime)" | tee -a "$uptimes"; }

typing=(typing --target handoff --api-key "$API_KEY" --clients-per-room "$CLIENTS_PER_ROOM"
  --duration-s "$SECONDS_RUN" --drain-s "$DRAIN_S" --rhythm steady --quiet)
status=0
for rooms in "$@"; do
  if [[ ,$RUNS, == *,single,* ]]; then
    node $FIRST_PORT
    echo "== single node (SQLite), $rooms rooms × $CLIENTS_PER_ROOM clients"
    load_average "single ${rooms}r"
    "$LOAD" "${typing[@]}" --nodes http://127.0.0.1:$FIRST_PORT --node-pids "$node_pid" --rooms "$rooms" \
      --json "$OUT/${PREFIX}cluster-single-${rooms}r.json" || status=1
    stop
  fi
  [[ ,$RUNS, == *,cluster,* || ,$RUNS, == *,cluster-affinity,* || ,$RUNS, == *,kill,* ]] || continue

  dir=$(mktemp -d); dirs+=("$dir")
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --appendonly yes --maxmemory-policy noeviction \
    --save "" --dir "$dir" >"$dir/redis.log" 2>&1 &
  pids+=($!)
  ready "$REDIS_PORT" || { cat "$dir/redis.log" >&2; exit 1; }
  db=handoff_cluster_$$_$rooms
  psql "$PG_URL/postgres" -qAt -c "create database $db" >/dev/null || die "cannot create database $db"
  nodes=""; node_pids=""
  for i in $(seq 0 $((NODES - 1))); do
    node $((FIRST_PORT + i)) --store "$PG_URL/$db" --redis-url "$REDIS_URL"
    nodes="$nodes${nodes:+,}http://127.0.0.1:$((FIRST_PORT + i))"
    node_pids="$node_pids${node_pids:+,}$node_pid"
  done
  cluster=(--nodes "$nodes" --node-pids "$node_pids" --redis-url "$REDIS_URL" --rooms "$rooms")
  if [[ ,$RUNS, == *,cluster,* ]]; then
    echo "== $NODES nodes, $rooms rooms × $CLIENTS_PER_ROOM clients"
    load_average "cluster ${NODES}n ${rooms}r"
    redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
    "$LOAD" "${typing[@]}" "${cluster[@]}" --json "$OUT/${PREFIX}cluster-${NODES}n-${rooms}r.json" || status=1
    # Where Redis's time went, per command (a script's own calls included).
    redis-cli -p "$REDIS_PORT" info commandstats >"$OUT/${PREFIX}cluster-${NODES}n-${rooms}r-redis.txt"
  fi
  if [[ ,$RUNS, == *,cluster-affinity,* ]]; then
    echo "== $NODES nodes, $rooms rooms × $CLIENTS_PER_ROOM clients, every client of a room on one node"
    load_average "cluster-affinity ${NODES}n ${rooms}r"
    redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
    "$LOAD" "${typing[@]}" "${cluster[@]}" --layout affinity \
      --json "$OUT/${PREFIX}cluster-${NODES}n-${rooms}r-affinity.json" || status=1
    redis-cli -p "$REDIS_PORT" info commandstats >"$OUT/${PREFIX}cluster-${NODES}n-${rooms}r-affinity-redis.txt"
  fi
  if [[ ,$RUNS, == *,kill,* ]]; then
    echo "== $NODES nodes, $rooms rooms × $CLIENTS_PER_ROOM clients, node $((NODES - 1)) killed after ${KILL_AFTER} s"
    load_average "kill ${NODES}n ${rooms}r"
    "$LOAD" "${typing[@]}" "${cluster[@]}" --kill-node-after "$KILL_AFTER" \
      --json "$OUT/${PREFIX}cluster-${NODES}n-${rooms}r-kill.json" || status=1
  fi
  stop
done
exit $status
