#!/bin/bash
# The benchmark matrix of docs/PERFORMANCE.md, one scenario after another (about 25 minutes).
# Run from the repository root after
#   cargo build --release -p handoff-server -p handoff-load
set -u
R=${RESULTS:-load-tests/results}; D=$(date +%F)
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
T=$CARGO_TARGET_DIR/release
C="--compare --quiet --handoff-bin $T/handoff --relay-bin $T/handoff-relay"
L=$T/handoff-load
run() { echo "### $*"; "$@"; echo "### exit $?"; }
run $L typing $C --rooms 300 --duration-s 20 --json $R/$D-typing-compare-300.json
run $L typing $C --rooms 1000 --duration-s 20 --json $R/$D-typing-compare-1000.json
# the relay as it wrote before 2026-11-23 (every frame through a writer task), for earlier results
run $L typing $C --targets relay --relay-arg=--writes=tasks --rooms 300 --duration-s 20 --json $R/$D-typing-relay-tasks-300.json
run $L typing $C --targets handoff,relay,y-websocket --rooms 2000 --duration-s 20 --json $R/$D-typing-compare-2000.json
run $L typing $C --targets handoff --handoff-arg=--store=memory:// --rooms 300 --duration-s 20 --json $R/$D-typing-memory-300.json
run $L typing $C --targets handoff --handoff-arg=--store=memory:// --rooms 1000 --duration-s 20 --json $R/$D-typing-memory-1000.json
run $L join-storm $C --targets handoff,y-websocket,hocuspocus --json $R/$D-join-storm-compare.json
run $L promote $C --targets handoff --count 200 --json $R/$D-promote.json
run $L reconnect-storm $C --targets handoff,y-websocket,hocuspocus --rooms 300 --json $R/$D-reconnect-storm-compare.json
run $L large-paste $C --rooms 100 --keys-per-sec 0.5 --duration-s 20 --json $R/$D-large-paste-compare.json
run $L typing $C --targets handoff --procs 2 --rooms 1000 --duration-s 20 --json $R/$D-typing-procs2-1000.json
# idle: a server started here, its pid read by the tool
IDLE_DIR=$(mktemp -d)
$T/handoff serve --listen 127.0.0.1:18181 --api-key bench-sh-api-key-0123 --data-dir "$IDLE_DIR" --log warn >/dev/null 2>&1 &
IPID=$!; sleep 2
run $L idle --server http://127.0.0.1:18181 --api-key bench-sh-api-key-0123 --server-pid $IPID --rooms 2000 --json $R/$D-idle-2000-rooms.json
kill $IPID; wait $IPID; rm -rf "$IDLE_DIR"
# idle in rooms holding a 200 KiB submission: what a large first sync leaves behind per connection
IDLE_DIR=$(mktemp -d)
$T/handoff serve --listen 127.0.0.1:18181 --api-key bench-sh-api-key-0123 --data-dir "$IDLE_DIR" --log warn >/dev/null 2>&1 &
IPID=$!; sleep 2
run $L idle --server http://127.0.0.1:18181 --api-key bench-sh-api-key-0123 --server-pid $IPID --rooms 100 --clients-per-room 4 --bytes 204800 --json $R/$D-idle-100-rooms-200k.json
kill $IPID; wait $IPID; rm -rf "$IDLE_DIR"
# the soak edits: past 200 characters (after about 33 s) each key also deletes one, so RSS growth is
# not the typed text
run $L soak $C --targets handoff --rooms 300 --duration-s 300 --keep-chars 200 --json $R/$D-soak-300.json
# voice: handoff launched with voice on loopback, 3 speakers per room at 50 packets/s (docs/PERFORMANCE.md, Voice)
for n in 10 50 100; do
  run $L voice --launch --handoff-bin $T/handoff --rooms $n --warmup-s 3 --duration-s 20 --json $R/$D-voice-$n.json
done
run $L voice --launch --handoff-bin $T/handoff --rooms 100 --warmup-s 3 --duration-s 20 --with-typing --json $R/$D-voice-100-typing.json
echo "### all done"
