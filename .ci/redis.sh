#!/usr/bin/env bash
# Makes Redis answer on 127.0.0.1:6379, as the tests that need it expect (server/tests/check.rs pings
# it), and installs the redis-server binary the cluster tests (server/tests/cluster.rs) start themselves
# on free ports with AOF on: a fresh Debian machine lacks both, and those tests fail rather than skip.
#
# Idempotent: a Redis that already answers is left as it is. Otherwise Debian's redis-server is
# installed when missing and started in the background, without persistence (the tests keep nothing).
set -euo pipefail

# Seconds to wait for a started Redis to answer.
START_PATIENCE_S=30

answers() {
  redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG
}

if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && answers; then
  echo "redis: answering on 127.0.0.1:6379 (left as it is)"
  exit 0
fi
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "redis: installing Debian's redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server redis-tools
fi
if ! answers; then
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes
fi
for _ in $(seq "$START_PATIENCE_S"); do
  answers && { echo "redis: answering on 127.0.0.1:6379"; exit 0; }
  sleep 1
done
echo "redis: not answering on 127.0.0.1:6379 after ${START_PATIENCE_S}s" >&2
exit 1
