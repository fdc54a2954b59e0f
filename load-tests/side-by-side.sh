#!/bin/bash
# Runs the typing scenario against several servers at the same time, one generator each, and prints
# each server's CPU per delivered update. On a shared host whose speed drifts from minute to minute,
# runs one after another disagree by more than the differences measured here; servers loaded side by
# side meet the same host. Each figure is followed by its user-space part (the rest is the kernel's,
# on the server's behalf). Used in docs/PERFORMANCE.md (eighth and eleventh runs).
#
#   load-tests/side-by-side.sh NAME=SERVER ...   SERVER is a handoff binary with optional arguments
#                                                 (BINARY:ARGS), or relay (relay:ARGS), y-websocket
#                                                 or hocuspocus
#   load-tests/side-by-side.sh durable=target/release/handoff "memory=target/release/handoff:--store memory://"
#   load-tests/side-by-side.sh handoff=target/release/handoff relay=relay y=y-websocket
#   load-tests/side-by-side.sh relay=relay "hop=relay:--hop room"
#
# ROOMS (200 each), SECONDS_RUN (40) and ROUNDS (1) set the load. Run from the repository root after
# cargo build --release -p handoff-server -p handoff-load. Everything listens on 127.0.0.1 and stops
# by itself at the end of each round.
set -u
ROOMS=${ROOMS:-200}; SECONDS_RUN=${SECONDS_RUN:-40}; ROUNDS=${ROUNDS:-1}
RELEASE=${CARGO_TARGET_DIR:-target}/release
LOAD=$RELEASE/handoff-load
FIRST_PORT=18850
# Seconds a server gets to open its port.
READY_S=20
[ $# -ge 1 ] || { sed -n 2,17p "$0"; exit 2; }

ready() {
  for _ in $(seq 1 $((READY_S * 10))); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "side-by-side: nothing listens on 127.0.0.1:$1" >&2; return 1
}
# Whatever is still running when the script stops (a server that never opened its port) goes with it.
all=(); alldirs=()
trap 'kill "${all[@]}" 2>/dev/null; rm -rf "${alldirs[@]}"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  pids=(); loads=(); dirs=(); logs=(); port=$FIRST_PORT
  for spec in "$@"; do
    name=${spec%%=*}; rest=${spec#*=}; bin=${rest%%:*}; args=""
    [ "$rest" != "$bin" ] && args=${rest#*:}
    dir=$(mktemp -d); log=$(mktemp); alldirs+=("$dir" "$log")
    case $bin in
      relay)
        # shellcheck disable=SC2086
        "$RELEASE/handoff-relay" --listen 127.0.0.1:$port $args >/dev/null 2>&1 &
        target=(--target relay --server ws://127.0.0.1:$port) ;;
      y-websocket | hocuspocus)
        bash load-tests/peers/start.sh "$bin" $port >/dev/null 2>&1 &
        target=(--target "$bin" --server ws://127.0.0.1:$port) ;;
      *)
        # $args unquoted on purpose: it holds the server's extra arguments, split on spaces.
        # shellcheck disable=SC2086
        "$bin" serve --listen 127.0.0.1:$port --data-dir "$dir" --api-key side-by-side-api-key --log warn $args \
          >/dev/null 2>&1 &
        target=(--target handoff --server http://127.0.0.1:$port --api-key side-by-side-api-key) ;;
    esac
    pid=$!
    all+=("$pid")
    ready $port || exit 1
    "$LOAD" typing "${target[@]}" --server-pid $pid --rooms "$ROOMS" --duration-s "$SECONDS_RUN" \
      --rhythm steady --quiet >"$log" 2>&1 &
    all+=($!)
    pids+=("$pid"); loads+=($!); dirs+=("$dir"); logs+=("$log:$name"); port=$((port + 1))
  done
  for l in "${loads[@]}"; do wait "$l"; done
  line="round $round:"
  for entry in "${logs[@]}"; do
    log=${entry%%:*}; name=${entry#*:}
    cpu=$(grep -o '[0-9.]* µs per delivered update' "$log" | cut -d' ' -f1)
    lost=$(grep -o '[0-9]* lost' "$log" | head -1 | cut -d' ' -f1)
    # "server CPU 2.00 s (user 1.20, system 0.80) …": the user part of the µs per update.
    user=$(grep -m1 '^server CPU' "$log" | sed -E 's/^server CPU +([0-9.]+) s \(user ([0-9.]+),.*/\1 \2/' |
      awk -v c="${cpu:-0}" '$1 > 0 { printf "%.1f", c * $2 / $1 }')
    line="$line $name ${cpu:-?} µs/update (user ${user:-?}, lost ${lost:-?})"
    rm -f "$log"
  done
  for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null; done
  for d in "${dirs[@]}"; do rm -rf "$d"; done
  echo "$line"
done
