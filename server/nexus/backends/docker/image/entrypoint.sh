#!/bin/sh
# Container start: give `nexus` the uid/gid that owns the mounted source folder (so files made in
# /workspace belong to the host user), then run sshd in the foreground. Installs nothing.
set -e
uid="${NEXUS_UID:-}"
gid="${NEXUS_GID:-}"
if [ -n "$uid" ] && [ "$(id -u nexus)" != "$uid" ]; then
  if [ -n "$gid" ] && [ "$(id -g nexus)" != "$gid" ]; then
    groupmod -o -g "$gid" nexus
    usermod -g "$gid" nexus
  fi
  usermod -o -u "$uid" nexus
  chown -R nexus:nexus /home/nexus
fi
if [ "$(id -u nexus)" = "0" ]; then
  # The folder belongs to root (Nexus runs as root on the host): `nexus` has root's uid to be able
  # to write there, and sshd must let that uid in -- with Nexus's key only, never a password.
  sed -i 's/^PermitRootLogin no$/PermitRootLogin prohibit-password/' /etc/ssh/sshd_config
fi
# Folders of the workspace's own (engine volumes, created root-owned): the workspace user's.
if [ -n "${NEXUS_OWNED_DIRS:-}" ]; then
  printf '%s\n' "$NEXUS_OWNED_DIRS" | while IFS= read -r dir; do
    [ -n "$dir" ] && [ -d "$dir" ] && chown nexus:nexus "$dir"
  done
fi
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
