#!/bin/bash
# Counts the user-space instructions a handoff server spends per forwarded voice packet, under callgrind
# (the voice counterpart of callgrind.sh). Instructions, unlike CPU seconds, do not drift with the host
# nor with the other processes on it; the kernel's share (UDP sends and receives, wake-ups) is not
# counted. Used in docs/PERFORMANCE.md ("Voice", second run).
#
#   load-tests/callgrind-voice.sh SERVER        SERVER is a handoff binary
#   load-tests/callgrind-voice.sh target/release/handoff
#   RECORD=1 load-tests/callgrind-voice.sh target/release/handoff   # the rooms record voice
#
# ROOMS (1) rooms × 3 speakers through the SFU (valgrind runs the server about fifty times slower, so
# one room is what it keeps up with); the count covers 10 s, from 30 s in, divided by the packets the
# server forwarded in those 10 s (handoff_voice_packets_forwarded_total, read from /metrics at both
# ends). Needs valgrind and curl. Run from the repository root after
# cargo build --release -p handoff-server -p handoff-load. Listens on 127.0.0.1 only, stops by itself.
set -eu
ROOMS=${ROOMS:-1}
RELEASE=${CARGO_TARGET_DIR:-target}/release
PORT=18877
KEY=callgrind-api-key-0123
# Seconds the server gets to open its port: valgrind starts it about fifty times slower.
READY_S=60
WARM_S=30; COUNT_S=10
[ $# -ge 1 ] || { sed -n 2,15p "$0"; exit 2; }
bin=$1; shift
out=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null; wait "${server:-}" 2>/dev/null; rm -rf "$out"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" "$bin" serve --listen 127.0.0.1:$PORT \
  --data-dir "$out/data" --api-key $KEY --log warn --voice-bind-ip 127.0.0.1 --voice-udp-ports 43000-43099 \
  "$@" >/dev/null 2>"$out/valgrind.log" &
server=$!
ready=no
for _ in $(seq 1 $((READY_S * 10))); do
  (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && { ready=yes; break; }
  sleep 0.1
done
[ $ready = yes ] || { echo "callgrind-voice: nothing listens on 127.0.0.1:$PORT" >&2; exit 1; }
"$RELEASE/handoff-load" voice --server http://127.0.0.1:$PORT --api-key $KEY --rooms "$ROOMS" \
  --warmup-s $((WARM_S - 5)) --duration-s $((COUNT_S + 5)) ${RECORD:+--record-voice} --quiet >"$out/load.log" 2>&1 &
load=$!
forwarded() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^handoff_voice_packets_forwarded_total/{print $2}'; }
sleep $WARM_S
callgrind_control -z $server >/dev/null 2>&1
before=$(forwarded)
sleep $COUNT_S
callgrind_control -d $server >/dev/null 2>&1
after=$(forwarded)
wait $load || { cat "$out/load.log" >&2; exit 1; }
grep -h "deliveries" "$out/load.log"
total=$(grep -h '^summary:' "$out"/cg.*.1 | awk '{print $2}')
packets=$((after - before))
# KEEP=FILE keeps the dump, for callgrind_annotate.
[ -z "${KEEP:-}" ] || cp "$out"/cg.*.1 "$KEEP"
echo "instructions: $total over ${COUNT_S} s, $packets packets forwarded: $((total / packets)) per packet"
