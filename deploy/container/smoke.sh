#!/usr/bin/env bash
# Builds the image from deploy/container/Dockerfile and runs it: /healthz must answer through the
# published port, as the image's unprivileged user, and SIGTERM must stop it cleanly. A manual check
# (deploy/README.md, "Container"), not part of CI: the image build compiles the server from scratch.
#
# Usage, from the repository root, as root, after deploy/container/build-base.sh:
#   deploy/container/smoke.sh
# ENGINE overrides the container command with its flags, e.g. on a host with cgroup v1 and no
# CAP_SYS_RESOURCE (deploy/README.md says why each flag):
#   ENGINE="podman --runtime runc" RUN_FLAGS="--ulimit nofile=20000:20000 --ulimit nproc=4096:4096" \
#     deploy/container/smoke.sh
# RUN_FLAGS adds flags to `build` and `run` (e.g. "--ulimit nofile=20000:20000 --ulimit nproc=4096:4096").
# BINARY=target/release/handoff builds only the runtime stage, around that binary and web-client/dist
# as built on this host (minutes instead of a full compile; the host's glibc must not be newer than
# the base's).
set -euo pipefail

ENGINE=${ENGINE:-podman}
RUN_FLAGS=${RUN_FLAGS:-}
IMAGE=${IMAGE:-localhost/handoff:smoke}
PORT=${PORT:-18080}
NAME=handoff-smoke-$$

# $ENGINE and $RUN_FLAGS are commands and flags: split on purpose.
if [ -n "${BINARY:-}" ]; then
  # The runtime stage as written, its `COPY --from=build /src/…` taken from a context laid out alike.
  context=$(mktemp -d)
  trap 'rm -rf "$context"' EXIT
  install -D -m 0755 "$BINARY" "$context/src/target/release/handoff"
  mkdir -p "$context/src/web-client" && cp -r web-client/dist "$context/src/web-client/dist"
  { grep '^ARG RUNTIME_BASE=' deploy/container/Dockerfile
    sed -n '/^FROM ${RUNTIME_BASE}/,$p' deploy/container/Dockerfile | sed 's#COPY --from=build /src/#COPY src/#'
  } > "$context/Dockerfile"
  # shellcheck disable=SC2086
  $ENGINE build --format docker $RUN_FLAGS -t "$IMAGE" "$context"
else
  # shellcheck disable=SC2086
  $ENGINE build --format docker --network host $RUN_FLAGS -f deploy/container/Dockerfile -t "$IMAGE" .
fi

cleanup() {
  # shellcheck disable=SC2086
  $ENGINE rm --force --volumes --time 1 "$NAME" >/dev/null 2>&1 || true
  rm -rf "${context:-/nonexistent}"
}
trap cleanup EXIT

# shellcheck disable=SC2086
$ENGINE run --detach --name "$NAME" $RUN_FLAGS -p "127.0.0.1:$PORT:8080" \
  -e HANDOFF_API_KEY="smoke-test-key-$(date +%s)-0123456789" "$IMAGE"

for _ in $(seq 1 60); do
  if curl --fail --silent --output /dev/null "http://127.0.0.1:$PORT/healthz"; then break; fi
  sleep 1
done
curl --fail --silent --show-error "http://127.0.0.1:$PORT/healthz"; echo
curl --fail --silent --show-error --output /dev/null "http://127.0.0.1:$PORT/readyz"
# The dashboard is built in: the page is the web client, not the "how to build it" notice.
curl --fail --silent --show-error "http://127.0.0.1:$PORT/" | grep -q '<script type="module"'

# shellcheck disable=SC2086
user=$($ENGINE exec "$NAME" id -u)
[ "$user" != 0 ] || { echo "the container runs as root" >&2; exit 1; }
# shellcheck disable=SC2086
$ENGINE exec "$NAME" curl --fail --silent --output /dev/null http://127.0.0.1:8080/healthz
# The image's own HEALTHCHECK, run now (podman runs it on demand; docker only on its schedule).
case "$ENGINE" in
  # shellcheck disable=SC2086
  podman*) $ENGINE healthcheck run "$NAME" && echo "HEALTHCHECK: healthy" ;;
esac
# shellcheck disable=SC2086
$ENGINE stop --time 90 "$NAME" >/dev/null
# shellcheck disable=SC2086
code=$($ENGINE inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] || { echo "handoff exited with $code on SIGTERM" >&2; $ENGINE logs "$NAME" | tail -20; exit 1; }
echo "container smoke test passed: /healthz, /readyz and the dashboard answered, uid $user, clean stop"
