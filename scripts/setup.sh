#!/usr/bin/env bash
# Sets up everything Nexus and its tests need on a fresh Debian machine (idempotent):
# a Docker engine with a locally built base image, the OpenSSH client, and a virtualenv
# with Nexus installed in it (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  bash scripts/docker-engine.sh
else
  sudo -E bash scripts/docker-engine.sh
fi

# Node.js for the VS Code extension (the e2e test adds its own Node 24 and code-server).
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq nodejs npm >/dev/null; else sudo apt-get install -y -qq nodejs npm >/dev/null; fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test,dev]'
# Mutagen (file sync) for the sync tests: the real binary with its agents bundle beside it, from
# MUTAGEN_DIR (default ../shared/bin next to this checkout), into the venv's bin, which is on PATH
# once the venv is active. A user installs Mutagen from its release page or package manager.
MUTAGEN_DIR="${MUTAGEN_DIR:-$(cd .. && pwd)/shared/bin}"
if [ -x "$MUTAGEN_DIR/mutagen" ] && [ -f "$MUTAGEN_DIR/mutagen-agents.tar.gz" ]; then
  install -m 0755 "$MUTAGEN_DIR/mutagen" .venv/bin/mutagen
  install -m 0644 "$MUTAGEN_DIR/mutagen-agents.tar.gz" .venv/bin/mutagen-agents.tar.gz
fi
if [ -x .venv/bin/mutagen ]; then
  echo "mutagen installed: $(.venv/bin/mutagen version)"
else
  echo "mutagen not found in $MUTAGEN_DIR: the sync tests will fail (set MUTAGEN_DIR)" >&2
fi
echo "nexus installed: $(.venv/bin/nexus version)"
