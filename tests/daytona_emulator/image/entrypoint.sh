#!/bin/sh
# Host keys are created per sandbox on first start, then sshd runs in the foreground.
set -e
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
