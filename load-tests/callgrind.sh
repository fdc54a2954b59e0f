#!/bin/bash
# Counts the user-space instructions a server spends on typing, under callgrind. Instructions, unlike
# CPU seconds, do not drift with the host, so two builds compare to within a couple of percent; the
# kernel's share (sockets, wake-ups) is not counted. Used in docs/PERFORMANCE.md (ninth run).
#
#   load-tests/callgrind.sh SERVER [ARGS...]   SERVER is a handoff binary, or relay
#   load-tests/callgrind.sh target/release/handoff
#   load-tests/callgrind.sh target/release/handoff --store memory://
#
# ROOMS (20) typists at 5 keys/s, steady, for 16 s; the count covers 10 s of it, from 5 s in, and is
# printed with the keys typed in that window. Needs valgrind (apt-get install valgrind). Run from the
# repository root after cargo build --release -p handoff-server -p handoff-load. Listens on 127.0.0.1
# only and stops by itself.
set -eu
ROOMS=${ROOMS:-20}
RELEASE=${CARGO_TARGET_DIR:-target}/release
PORT=18840
# Seconds of typing before the count starts, and seconds counted (the run types for 16 s).
WARM_S=5; COUNT_S=10; RUN_S=16; KEYS_PER_S=5
# Seconds the server gets to open its port: valgrind starts it about fifty times slower.
READY_S=60
[ $# -ge 1 ] || { sed -n 2,13p "$0"; exit 2; }
bin=$1; shift
out=$(mktemp -d)
# The server is waited for, so that the next run finds the port free.
trap 'kill "${server:-}" 2>/dev/null; wait "${server:-}" 2>/dev/null; rm -rf "$out"' EXIT
if [ "$bin" = relay ]; then
  cmd=("$RELEASE/handoff-relay" --listen 127.0.0.1:$PORT)
  target=(--target relay --server ws://127.0.0.1:$PORT)
else
  cmd=("$bin" serve --listen 127.0.0.1:$PORT --data-dir "$out/data" --api-key callgrind-api-key-0123 --log warn "$@")
  target=(--target handoff --server http://127.0.0.1:$PORT --api-key callgrind-api-key-0123)
fi
valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" "${cmd[@]}" >/dev/null 2>"$out/valgrind.log" &
server=$!
ready=no
for _ in $(seq 1 $((READY_S * 10))); do
  (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && { ready=yes; break; }
  sleep 0.1
done
[ $ready = yes ] || { echo "callgrind: nothing listens on 127.0.0.1:$PORT" >&2; exit 1; }
"$RELEASE/handoff-load" typing "${target[@]}" --rooms "$ROOMS" --keys-per-sec $KEYS_PER_S \
  --duration-s $RUN_S --rhythm steady --quiet >"$out/load.log" 2>&1 &
load=$!
sleep $WARM_S
callgrind_control -z $server >/dev/null 2>&1
sleep $COUNT_S
callgrind_control -d $server >/dev/null 2>&1
wait $load || { cat "$out/load.log" >&2; exit 1; }
grep -h "lost" "$out/load.log"
total=$(grep -h '^summary:' "$out"/cg.*.1 | awk '{print $2}')
keys=$((ROOMS * KEYS_PER_S * COUNT_S))
# KEEP=FILE keeps the dump, for callgrind_annotate.
[ -z "${KEEP:-}" ] || cp "$out"/cg.*.1 "$KEEP"
echo "instructions: $total over ${COUNT_S} s, $keys keys typed: $((total / keys)) per key"
