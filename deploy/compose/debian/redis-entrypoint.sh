#!/bin/sh
# Runs redis-server with the arguments compose.yaml gives, reachable from the other containers: with no
# password and no config file Redis answers only on loopback (protected mode), and the official image
# turns that off for the same reason; the network is the compose project's own.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
