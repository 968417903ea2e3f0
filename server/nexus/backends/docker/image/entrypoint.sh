#!/bin/sh
# Container start: give `nexus` the uid/gid that owns the mounted source folder (so files made in
# /workspace belong to the host user), then run sshd in the foreground. Installs nothing.
set -e
if [ -n "${NEXUS_UID:-}" ] && [ "$NEXUS_UID" != "0" ] && [ "$(id -u nexus)" != "$NEXUS_UID" ]; then
  if [ -n "${NEXUS_GID:-}" ] && [ "$NEXUS_GID" != "0" ]; then
    groupmod -o -g "$NEXUS_GID" nexus
  fi
  usermod -o -u "$NEXUS_UID" nexus
  chown -R nexus:nexus /home/nexus
fi
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
