#!/usr/bin/env bash
# The main job on a fresh machine: set up, create a workspace on the default (Docker) backend
# from a project folder, and run a command in it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# A project folder to mount (default: a fresh sample folder; pass your own as $1).
project="${1:-$(mktemp -d /tmp/nexus-demo.XXXXXX)}"
[ -n "${1:-}" ] || echo "# sample project" > "$project/README.md"
name="${NEXUS_DEMO_NAME:-demo}"
cd "$project"
nexus="$OLDPWD/.venv/bin/nexus"
# run it twice and the second run reuses the workspace
"$nexus" workspace info "$name" >/dev/null 2>&1 || "$nexus" workspace create "$name"
"$nexus" workspace exec "$name" -- sh -c 'echo "hello from $(hostname)"; git --version; ls /workspace | head'
