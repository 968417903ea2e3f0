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
# The variables given with `create --env`: sshd hands them to every session (exec, ssh, the
# editor's), through SetEnv lines in a file of their own (OpenSSH 8.7+; an older sshd rejects
# the directive, and then the file is left out rather than the workspace left without sshd).
mkdir -p /run/sshd
env_conf=/etc/ssh/nexus_env.conf
sed -i "\\|^Include $env_conf\$|d" /etc/ssh/sshd_config
if [ -n "${NEXUS_ENV_NAMES:-}" ]; then
  # one SetEnv line with every variable: sshd keeps only the first SetEnv it reads
  nl='
'
  printf '%s\n' "$NEXUS_ENV_NAMES" | while IFS= read -r name; do
    case "$name" in '' | [!A-Za-z_]* | *[!A-Za-z0-9_]*) continue ;; esac
    value="$(printenv "$name")" || continue
    case "$value" in *"$nl"*) echo "nexus: $name has a line break: not passed to sessions" >&2; continue ;; esac
    escaped="$(printf '%s' "$value" | sed 's/\\/\\\\/g; s/"/\\"/g')"
    printf ' "%s=%s"' "$name" "$escaped"
  done > "$env_conf.values"
  { printf 'SetEnv'; cat "$env_conf.values"; printf '\n'; } > "$env_conf"
  rm -f "$env_conf.values"
  sed -i "1i Include $env_conf" /etc/ssh/sshd_config
  if ! /usr/sbin/sshd -t 2>/dev/null; then
    sed -i "\\|^Include $env_conf\$|d" /etc/ssh/sshd_config
    echo "nexus: this sshd cannot pass --env variables to sessions (SetEnv needs OpenSSH 8.7+)" >&2
  fi
fi
exec /usr/sbin/sshd -D -e
