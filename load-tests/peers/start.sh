#!/usr/bin/env bash
# Starts the servers handoff-load compares handoff with, on loopback only.
#
#   start.sh y-websocket PORT   the y-websocket 1.5.4 server, in the foreground (exec: the pid is node's)
#   start.sh hocuspocus PORT    Hocuspocus 4.7.0, in the foreground
#   start.sh relay PORT         the no-CRDT relay (target/release/handoff-relay), in the foreground
#   start.sh all                all three in the background on 8091, 8092, 8090; pids in peers/run/*.pid
#
# `handoff-load typing --compare` calls this itself. The Node packages are pinned in package-lock.json and
# installed here on first use.
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$dir/../.." && pwd)

if [ ! -d "$dir/node_modules/y-websocket" ] || [ ! -d "$dir/node_modules/@hocuspocus/server" ]; then
  npm ci --prefix "$dir" --omit=optional --no-audit --no-fund --loglevel=error >&2
fi

case "${1:-}" in
  y-websocket)
    HOST=127.0.0.1 PORT="$2" exec node "$dir/node_modules/y-websocket/bin/server.js" ;;
  hocuspocus)
    HOST=127.0.0.1 PORT="$2" exec node "$dir/hocuspocus.mjs" ;;
  relay)
    exec "${HANDOFF_RELAY_BIN:-$repo/target/release/handoff-relay}" --listen "127.0.0.1:$2" ;;
  all)
    mkdir -p "$dir/run"
    for peer in relay:8090 y-websocket:8091 hocuspocus:8092; do
      name=${peer%%:*} port=${peer##*:}
      "$0" "$name" "$port" >"$dir/run/$name.log" 2>&1 &
      echo $! >"$dir/run/$name.pid"
      echo "$name on 127.0.0.1:$port (pid $!, log peers/run/$name.log)"
    done ;;
  *)
    echo "usage: $0 y-websocket|hocuspocus|relay PORT | all" >&2
    exit 2 ;;
esac
