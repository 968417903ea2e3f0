#!/usr/bin/env bash
# The main job on a fresh machine: set up, create a workspace on the default (Docker) backend
# from a project folder, and run a command in it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
project="${1:-$PWD}"
name="${NEXUS_DEMO_NAME:-demo}"
cd "$project"
"$OLDPWD/.venv/bin/nexus" workspace create "$name"
"$OLDPWD/.venv/bin/nexus" workspace exec "$name" -- sh -c 'echo "hello from $(hostname)"; git --version; ls /workspace | head'
