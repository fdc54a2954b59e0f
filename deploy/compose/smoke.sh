#!/usr/bin/env bash
# Runs the compose cluster for real and passes stock y-websocket clients through it: PostgreSQL and
# Redis, then the three handoff nodes, then nginx, each started once what it needs is healthy (as
# compose.yaml's `service_healthy` conditions say; podman-compose 1.0 does not wait on them itself, and
# its `up SERVICE` also runs what SERVICE depends on, which are then already up);
# then a room made through nginx, and stock y-websocket clients, two through nginx and one on each node,
# typing at once until they converge (server/tests/interop/cluster.mjs). Not interop.mjs: its 10 s wait
# for the other client's awareness is a single server's; across nodes a joiner sees a member's state at
# that member's next renewal (every 15 s), which cluster.mjs waits for. A manual check (deploy/README.md,
# "Compose cluster"), not part of CI: it needs a container engine and the images.
#
# Usage, from the repository root, as root, after deploy/container/build-base.sh:
#   deploy/compose/smoke.sh
# The handoff image (localhost/handoff:latest) is built from deploy/container/Dockerfile when missing.
# Environment:
#   COMPOSE    the compose command with its flags (default: podman-compose). On a host like the
#              project's (deploy/README.md says why each flag):
#              COMPOSE='podman-compose --podman-args=--runtime=runc
#                --podman-run-args=--ulimit=nofile=20000:20000 --podman-run-args=--ulimit=nproc=4096:4096'
#   NOFILE     the nodes' open-file limit when the host's hard limit is below compose.yaml's 65536
#   OFFICIAL=1 use the official images compose.yaml names instead of compose.debian.yaml's
#   KEEP=1     leave the cluster running (default: `down` at the end, and the volumes go too when this
#              script made the env files: a PostgreSQL volume keeps the password it was made with)
set -euo pipefail

COMPOSE=${COMPOSE:-podman-compose}
ENGINE=${ENGINE:-podman}
PROJECT=${PROJECT:-handoff}
PORT=8080  # nginx's published port in compose.yaml
PATIENCE_SECS=180

repo=$(pwd)
interop="$repo/server/tests/interop"
cd deploy/compose
scratch=$(mktemp -d)
made_env=()
files=(-f compose.yaml)
[ "${OFFICIAL:-0}" = 1 ] || files+=(-f compose.debian.yaml)
if [ -n "${NOFILE:-}" ]; then
  # A host whose hard limit is lower refuses the container outright (setrlimit: Operation not
  # permitted): lower it for the nodes alone, in an override beside compose.yaml's.
  {
    echo "services:"
    for n in 1 2 3; do
      echo "  handoff-$n: { ulimits: { nofile: { soft: $NOFILE, hard: $NOFILE } } }"
    done
  } > "$scratch/nofile.yaml"
  files+=(-f "$scratch/nofile.yaml")
fi

compose() {
  # $COMPOSE is a command with its flags: split on purpose.
  # shellcheck disable=SC2086
  $COMPOSE -p "$PROJECT" "${files[@]}" "$@"
}

cleanup() {
  if [ "${KEEP:-0}" != 1 ]; then
    if [ ${#made_env[@]} -gt 0 ]; then compose down --volumes; else compose down; fi >/dev/null 2>&1 || true
  fi
  for f in "${made_env[@]}"; do rm -f "$f"; done
  rm -rf "$scratch"
}
trap cleanup EXIT

# Secrets: the host's env files if it has them, else fresh ones for this run only (0600, removed after).
secret() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
if [ ! -e postgres.env ] && [ ! -e handoff.env ]; then
  umask 077
  password=$(secret)
  printf 'POSTGRES_PASSWORD=%s\n' "$password" > postgres.env
  { printf 'HANDOFF_API_KEY=%s\n' "$(secret)"
    printf 'HANDOFF_TOKEN_SECRET=%s\n' "$(secret)"
    printf 'HANDOFF_METRICS_TOKEN=%s\n' "$(secret)"
    printf 'HANDOFF_WEBHOOK_SECRET=%s\n' "$(secret)"
    printf 'HANDOFF_STORE=postgres://handoff:%s@postgres:5432/handoff\n' "$password"
  } > handoff.env
  made_env=(postgres.env handoff.env)
  umask 022
fi
api_key=$(sed -n 's/^HANDOFF_API_KEY=//p' handoff.env)

container() { echo "${PROJECT}_$1_1"; }

# Waits until SERVICE's own health check passes.
healthy() {
  local name deadline=$((SECONDS + PATIENCE_SECS))
  name=$(container "$1")
  until $ENGINE healthcheck run "$name" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      echo "$1 is not healthy after ${PATIENCE_SECS}s:" >&2
      $ENGINE logs --tail 30 "$name" >&2 || true
      exit 1
    fi
    sleep 2
  done
  echo "$1: healthy"
}

compose up -d postgres redis
healthy postgres; healthy redis
compose up -d handoff-1 handoff-2 handoff-3
healthy handoff-1; healthy handoff-2; healthy handoff-3
compose up -d nginx
healthy nginx

base="http://127.0.0.1:$PORT"
curl --fail --silent --show-error "$base/healthz"; echo
# A room, made through the load balancer: a submission, then its promotion to a live room.
submission=$(curl --fail --silent --show-error -H "Authorization: Bearer $api_key" \
  -H 'Content-Type: application/json' "$base/api/v1/submissions" --data @- <<'JSON' | jq -r .id
{"candidate": {"name": "Cam Candidate", "email": "cam@example.com"},
 "exercise": {"title": "LRU cache", "language": "python"},
 "files": [{"path": "main.py", "content": "def add(a, b):\n    return a + b\n"},
           {"path": "src/util/strings.ts", "content": "export const s = 'naïve ✓';\n"}]}
JSON
)
curl --fail --silent --show-error -H "Authorization: Bearer $api_key" -H 'Content-Type: application/json' \
  "$base/api/v1/submissions/$submission/promote" --data '{"interviewer": {"name": "Ivy Interviewer"}}' \
  > "$scratch/room.json"
room=$(jq -r .room.id "$scratch/room.json")
echo "room $room (promoted through nginx)"

[ -e "$interop/node_modules/y-websocket/package.json" ] || (cd "$interop" && npm ci --no-audit --no-fund --loglevel=error)

# Clients on each node directly and two through nginx, all typing at once: every one must end with
# the same text holding everyone's edits (edits cross nodes through Redis).
urls=("ws://127.0.0.1:$PORT/ws" "ws://127.0.0.1:$PORT/ws")
for n in 1 2 3; do
  ip=$($ENGINE inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$(container "handoff-$n")")
  urls+=("ws://$ip:8080/ws")
done
printf '%s\n' "${urls[@]}" | jq -R . | jq -s --slurpfile r "$scratch/room.json" \
  '{ws_urls: ., room: $r[0].room.id, token: $r[0].tokens.candidate, file: "main.py", edits: 20}' \
  > "$scratch/cluster.json"
echo "clients: ${urls[*]}"
(cd "$interop" && node cluster.mjs "$scratch/cluster.json") | tail -1 > "$scratch/cluster.out"
jq -e .ok "$scratch/cluster.out" >/dev/null || { cat "$scratch/cluster.out" >&2; exit 1; }
echo "converged: $(jq -r .text "$scratch/cluster.out" | wc -c) bytes, the same on all ${#urls[@]} clients"

# The room's record through nginx, from whichever node answers (it commits the room first): the file
# holds exactly the text the clients converged on.
curl --fail --silent --show-error -H "Authorization: Bearer $api_key" "$base/api/v1/rooms/$room/export" \
  | jq -r '.files[] | select(.path == "main.py") | .content' > "$scratch/exported.txt"
jq -r .text "$scratch/cluster.out" > "$scratch/converged.txt"
cmp "$scratch/exported.txt" "$scratch/converged.txt"
echo "export through nginx: main.py equals the converged text"
# Redis as compose.yaml configures it: an append-only file, and no eviction.
redis_config=$($ENGINE exec "$(container redis)" redis-cli config get appendonly maxmemory-policy | paste -sd ' ')
[ "$redis_config" = "appendonly yes maxmemory-policy noeviction" ] || { echo "redis: $redis_config" >&2; exit 1; }
echo "redis: $redis_config"
for n in 1 2 3; do
  echo "handoff-$n runs as uid $($ENGINE exec "$(container "handoff-$n")" id -u)"
done
echo "compose smoke test passed: PostgreSQL, Redis, 3 nodes and nginx healthy; clients through nginx and on every node converged"
