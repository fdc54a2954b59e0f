#!/usr/bin/env bash
# Makes `redis-server` (and `redis-cli`) available for the cluster tests (server/tests/cluster.rs), which
# start their own Redis processes on free loopback ports with AOF on: only the binaries are needed, no
# service is started. Installs Debian's redis-server when missing; fails loudly when it is still missing.
set -euo pipefail

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "redis: installing Debian's redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server redis-tools
  # The package may start a system Redis on 6379; the tests do not use it.
fi
command -v redis-server >/dev/null 2>&1 || { echo "redis: redis-server is still missing" >&2; exit 1; }
redis-server --version
