#!/usr/bin/env bash
# Builds the two base images the Dockerfile starts from, out of Debian's own packages with debootstrap,
# so that building handoff's image needs no image registry (deploy/README.md, "Container"):
#
#   localhost/handoff-build-base:trixie    Debian 13 + rustc and cargo (trixie-backports), Node.js, npm,
#                                          a C compiler
#   localhost/handoff-runtime-base:trixie  Debian 13 minbase + ca-certificates, curl (the health check)
#
# Both use one Debian suite, so the binary built in the first links against the glibc of the second.
# trixie, because its Node.js (20.19) is the web client's engine. Its own rustc (1.85) is older than the
# workspace's rust-version (1.95: the locked yrs uses `if let` guards), so rustc and cargo come from
# trixie-backports: Debian's current Rust, built for trixie's glibc.
#
# Usage (as root; needs debootstrap, and podman or docker to import):
#   deploy/container/build-base.sh [build|runtime|all]      # default: all
# Environment: MIRROR (default http://deb.debian.org/debian), SUITE (default trixie), OUT (where the
# tarballs go, default ./target/container-base), IMPORT=0 to only write the tarballs, ENGINE (podman or
# docker; default the first found).
set -euo pipefail

what=${1:-all}
SUITE=${SUITE:-trixie}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
OUT=${OUT:-target/container-base}
IMPORT=${IMPORT:-1}

# The runtime needs only TLS roots (webhooks, PostgreSQL over TLS) and curl for HEALTHCHECK.
RUNTIME_PACKAGES=ca-certificates,curl
# server/build.rs builds the web client with npm; ring and the bundled SQLite need a C compiler.
BUILD_PACKAGES=ca-certificates,curl,rustc,cargo,nodejs,npm,gcc,libc6-dev,pkg-config,git
# Of those, the ones taken from $SUITE-backports (with what they depend on there); the rest from $SUITE.
BUILD_BACKPORTS=rustc,cargo

engine() {
  if [ -n "${ENGINE:-}" ]; then echo "$ENGINE"; return; fi
  for e in podman docker; do
    if command -v "$e" >/dev/null 2>&1; then echo "$e"; return; fi
  done
  echo "neither podman nor docker is installed: set IMPORT=0 or install one" >&2
  return 1
}

# rootfs NAME PACKAGES [BACKPORTS]: debootstrap a minimal Debian into $OUT/NAME, add PACKAGES with apt
# (those also in BACKPORTS from $SUITE-backports), trim it, and tar it.
rootfs() {
  local name=$1 packages=$2 backports=${3:-} dir="$OUT/$1" p later=""
  rm -rf "$dir"
  mkdir -p "$dir"
  debootstrap --variant=minbase "$SUITE" "$dir" "$MIRROR"
  if [ -n "$backports" ]; then
    echo "deb $MIRROR $SUITE-backports main" > "$dir/etc/apt/sources.list.d/backports.list"
    # Installed after the rest, as PACKAGE/RELEASE: with everything else already in from $SUITE, apt
    # takes from backports only what they need and $SUITE lacks (in one go it also pulls backports'
    # libcurl for cargo, which $SUITE's curl cannot go with).
    packages=",$packages,"
    for p in ${backports//,/ }; do packages=${packages//,$p,/,}; later="$later $p/$SUITE-backports"; done
    packages=${packages#,}; packages=${packages%,}
  fi
  # apt, not debootstrap's --include: debootstrap's own resolver leaves npm's dependencies out (npm
  # then stays unconfigured).
  mount -t proc proc "$dir/proc"
  if ! chroot "$dir" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends ${packages//,/ } \
      && { [ -z '$later' ] || DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends $later; }"; then
    umount "$dir/proc"
    echo "installing $packages $later into $name failed" >&2
    return 1
  fi
  umount "$dir/proc"
  # Package lists and the download cache belong to the build host, not to every image layer.
  chroot "$dir" apt-get clean
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/log/*.log "$dir"/tmp/*
  tar --numeric-owner -C "$dir" -cf "$OUT/$name.tar" .
  rm -rf "$dir"
  echo "$OUT/$name.tar"
}

import() {
  local name=$1
  [ "$IMPORT" = 1 ] || return 0
  local e  # a command with its flags, e.g. "podman --storage-driver vfs": split on purpose
  e=$(engine)
  $e import "$OUT/$name.tar" "localhost/$name:$SUITE"
}

command -v debootstrap >/dev/null || { echo "apt-get install debootstrap" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "debootstrap needs root" >&2; exit 1; }
mkdir -p "$OUT"

case "$what" in
  build) rootfs handoff-build-base "$BUILD_PACKAGES" "$BUILD_BACKPORTS"; import handoff-build-base ;;
  runtime) rootfs handoff-runtime-base "$RUNTIME_PACKAGES"; import handoff-runtime-base ;;
  all)
    rootfs handoff-runtime-base "$RUNTIME_PACKAGES"; import handoff-runtime-base
    rootfs handoff-build-base "$BUILD_PACKAGES" "$BUILD_BACKPORTS"; import handoff-build-base
    ;;
  *) echo "usage: $0 [build|runtime|all]" >&2; exit 2 ;;
esac
