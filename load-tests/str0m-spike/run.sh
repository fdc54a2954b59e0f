#!/bin/bash
# Builds the str0m spike and measures its server's cost per forwarded Opus packet (README.md).
#
#   load-tests/str0m-spike/run.sh cpu [ROOMS...]   server CPU from /proc per forwarded packet, and
#                                                  loss (default rooms: 10 50 100)
#   load-tests/str0m-spike/run.sh callgrind        user-space instructions per forwarded packet at
#                                                  1 room, as load-tests/callgrind-voice.sh counts them
#
# WARMUP_S (3) and DURATION_S (10) shape the cpu runs; SERVER_NICE=-10 runs the server ahead of
# everything else on the machine (as root), so a crowded host does not starve its one thread. KEEP=FILE keeps the callgrind dump; BIN_DIR, below. Listens on
# 127.0.0.1 only and stops by itself. Needs cargo, libssl-dev, and for callgrind valgrind.
set -eu
cd "$(dirname "$0")"
UDP=127.0.0.1:47000
SIGNAL=127.0.0.1:47001
mode=${1:-}
[ -n "$mode" ] && shift || { sed -n 2,11p "$0"; exit 2; }
# BIN_DIR=DIR runs a server built elsewhere (another crypto backend, debug line tables for
# callgrind_annotate); the clients are always this build's.
cargo build --release --quiet
bin=target/release
server_bin=${BIN_DIR:-$bin}/server
out=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null; wait "${server:-}" 2>/dev/null; rm -rf "$out"' EXIT

# The server's "forwarded user-ticks system-ticks" line (see src/lib.rs, STATS).
stats() { exec 3<>/dev/tcp/127.0.0.1/${SIGNAL##*:}; echo STATS >&3; cat <&3; exec 3<&-; }
wait_listening() {
  for _ in $(seq 1 600); do
    (exec 3<>/dev/tcp/127.0.0.1/${SIGNAL##*:}) 2>/dev/null && return 0
    sleep 0.1
  done
  echo "run.sh: nothing listens on $SIGNAL" >&2; exit 1
}

case $mode in
cpu)
  for rooms in "${@:-10 50 100}"; do
    for r in $rooms; do
      nice -n "${SERVER_NICE:-0}" "$server_bin" $UDP $SIGNAL >"$out/server.log" 2>&1 &
      server=$!
      wait_listening
      echo "uptime: $(uptime)"
      "$bin/clients" $SIGNAL "$r" "${WARMUP_S:-3}" "${DURATION_S:-10}"
      # The server socket's own drops (full receive buffer), the last column of /proc/net/udp.
      awk -v port=":$(printf %04X "${UDP##*:}")" '$2 ~ port"$" {print "server socket drops: " $NF}' /proc/net/udp
      kill $server; wait $server 2>/dev/null || true
      grep -v '^listening' "$out/server.log" | head -5 >&2 || true
    done
  done
  ;;
callgrind)
  # Valgrind runs the server about fifty times slower; one room is what it keeps up with. The count
  # covers 10 s from 30 s after the clients start, as in callgrind-voice.sh.
  WARM_S=30; COUNT_S=10
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" "$server_bin" $UDP $SIGNAL \
    >/dev/null 2>"$out/valgrind.log" &
  server=$!
  wait_listening
  echo "uptime: $(uptime)"
  "$bin/clients" $SIGNAL 1 $((WARM_S - 5)) $((COUNT_S + 5)) >"$out/clients.log" 2>&1 &
  clients=$!
  sleep $WARM_S
  callgrind_control -z $server >/dev/null 2>&1
  before=$(stats)
  sleep $COUNT_S
  callgrind_control -d $server >/dev/null 2>&1
  after=$(stats)
  wait $clients || { cat "$out/clients.log" >&2; exit 1; }
  cat "$out/clients.log"
  total=$(grep -h '^summary:' "$out"/cg.*.1 | awk '{print $2}')
  packets=$(( ${after%% *} - ${before%% *} ))
  [ -z "${KEEP:-}" ] || cp "$out"/cg.*.1 "$KEEP"
  echo "instructions: $total over ${COUNT_S} s, $packets packets forwarded: $((total / packets)) per packet"
  ;;
*) sed -n 2,11p "$0"; exit 2 ;;
esac
