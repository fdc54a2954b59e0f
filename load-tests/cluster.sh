#!/bin/bash
# Starts NODES handoff nodes as one cluster (a fresh PostgreSQL database as their shared store, Redis as
# their bus) and runs the typing scenario spread over them (`handoff-load typing --nodes`) at each
# room count: fan-out per (sender node → receiver node) pair, cross-node latency, each node's CPU per
# delivered update and Redis's CPU and commands per second. Needs cluster mode (`handoff serve
# --redis-url`); see docs/PERFORMANCE.md, "Cluster".
#
#   load-tests/cluster.sh NODES ROOMS...      e.g. load-tests/cluster.sh 3 100 500 1000
#
# Run from the repository root after cargo build --release -p handoff-server -p handoff-load.
# PG_URL (postgres://postgres@127.0.0.1:5432), REDIS_URL (redis://127.0.0.1:6379/), SECONDS_RUN (20),
# CLIENTS_PER_ROOM (3) and OUT (load-tests/results/cluster) set where and how much. Each room count
# gets nodes started afresh on a database of its own, dropped afterwards; the reports are written as
# OUT/cluster-NODESn-ROOMSr.json. Everything listens on 127.0.0.1 and stops at the end.
set -u
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/}
SECONDS_RUN=${SECONDS_RUN:-20}
CLIENTS_PER_ROOM=${CLIENTS_PER_ROOM:-3}
OUT=${OUT:-load-tests/results/cluster}
RELEASE=${CARGO_TARGET_DIR:-target}/release
HANDOFF=$RELEASE/handoff
LOAD=$RELEASE/handoff-load
FIRST_PORT=18950
# Seconds a node gets to open its port.
READY_S=30
API_KEY=cluster-load-api-key-0123456789
# Every node signs and checks room tokens with one secret: a token minted on one node opens the room
# on any other.
TOKEN_SECRET=cluster-load-token-secret-0123456789
[ $# -ge 2 ] || { sed -n 2,14p "$0"; exit 2; }
NODES=$1; shift

die() { echo "cluster: $*" >&2; exit 1; }
[ -x "$HANDOFF" ] && [ -x "$LOAD" ] || die "build first: cargo build --release -p handoff-server -p handoff-load"
"$HANDOFF" serve --help | grep -q -- '--redis-url' ||
  die "$HANDOFF has no --redis-url: this build lacks cluster mode (tracker issue 22), nothing to measure"
command -v psql >/dev/null || die "psql is needed to create each run's database"
psql "$PG_URL/postgres" -qAt -c 'select 1' >/dev/null || die "PostgreSQL does not answer at $PG_URL"
redis=${REDIS_URL#redis://}; redis=${redis%%/*}
(exec 3<>"/dev/tcp/${redis%%:*}/${redis##*:}") 2>/dev/null || die "Redis does not answer at $REDIS_URL"
mkdir -p "$OUT"

ready() {
  for _ in $(seq 1 $((READY_S * 10))); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "cluster: no node listens on 127.0.0.1:$1" >&2; return 1
}

pids=(); dirs=(); db=""
stop() {
  [ ${#pids[@]} -gt 0 ] && { kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; }
  [ ${#dirs[@]} -gt 0 ] && rm -rf "${dirs[@]}"
  [ -n "$db" ] && psql "$PG_URL/postgres" -qAt -c "drop database if exists $db" >/dev/null
  pids=(); dirs=(); db=""
}
trap stop EXIT

status=0
for rooms in "$@"; do
  db=handoff_cluster_$$_$rooms
  psql "$PG_URL/postgres" -qAt -c "create database $db" >/dev/null || die "cannot create database $db"
  nodes=""; node_pids=""
  for i in $(seq 0 $((NODES - 1))); do
    port=$((FIRST_PORT + i)); dir=$(mktemp -d); dirs+=("$dir")
    "$HANDOFF" serve --listen 127.0.0.1:$port --data-dir "$dir" --api-key "$API_KEY" \
      --token-secret "$TOKEN_SECRET" --store "$PG_URL/$db" --redis-url "$REDIS_URL" --log warn \
      >"$dir/log" 2>&1 &
    pids+=($!)
    ready $port || { cat "$dir/log" >&2; exit 1; }
    nodes="$nodes${nodes:+,}http://127.0.0.1:$port"
    node_pids="$node_pids${node_pids:+,}${pids[-1]}"
  done
  json="$OUT/cluster-${NODES}n-${rooms}r.json"
  echo "== $NODES nodes, $rooms rooms × $CLIENTS_PER_ROOM clients"
  "$LOAD" typing --target handoff --api-key "$API_KEY" --nodes "$nodes" --node-pids "$node_pids" \
    --redis-url "$REDIS_URL" \
    --rooms "$rooms" --clients-per-room "$CLIENTS_PER_ROOM" --duration-s "$SECONDS_RUN" --rhythm steady \
    --quiet --json "$json" || status=1
  stop
done
exit $status
