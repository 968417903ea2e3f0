#!/usr/bin/env bash
# Installs and starts a local Docker engine and provides the base image the
# workspace Dockerfile expects, without any image registry: the base image is
# a debootstrap of Debian bookworm imported into the engine (cached: skipped
# when the engine already has it).
set -euo pipefail

BASE_TAG="${NEXUS_BASE_IMAGE:-debian:bookworm-slim}"
MIRROR="${NEXUS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v ssh >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v ssh-agent >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v git >/dev/null 2>&1 || need_apt+=(git)
if [ "${#need_apt[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/nexus-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start"; tail -50 /var/log/nexus-dockerd.log; exit 1; }
fi

if ! docker image inspect "$BASE_TAG" >/dev/null 2>&1; then
  echo "building base image $BASE_TAG with debootstrap"
  rootfs=$(mktemp -d /var/tmp/nexus-rootfs.XXXXXX)
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/var/log/nexus-debootstrap.log 2>&1 \
    || { tail -30 /var/log/nexus-debootstrap.log; exit 1; }
  # The image's apt must use the same mirror as the host.
  echo "deb $MIRROR bookworm main" > "$rootfs/etc/apt/sources.list"
  cp /etc/apt/apt.conf.d/99artifact-registry "$rootfs/etc/apt/apt.conf.d/" 2>/dev/null || true
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import - "$BASE_TAG" >/dev/null
  rm -rf "$rootfs"
fi
echo "docker engine ready; base image $BASE_TAG present"
