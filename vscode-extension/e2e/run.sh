#!/usr/bin/env bash
# End-to-end test of the extension in a real VS Code (code-server, driven by Playwright with
# the system Chromium): create a workspace from the palette, see it in the tree, the status bar
# item, its state-aware context menu, a terminal into it, open it in a new window (recorded, see
# below), a preview of a web server in it, its sync (pause, flush, resume, a conflict), a broken
# sidecar command and its welcome view, delete it, see it go; then a Daytona workspace's auto-stop
# warning and "Keep running", "Run Doctor", and a budget warning with "Show Usage".
#
# usage: run.sh ARTIFACTS_DIR
# env:   NEXUS_SIDECAR_COMMAND  sidecar command line (default: <repo>/.venv/bin/nexus-sidecar)
#        NEXUS_E2E_CACHE        tool cache for setup.sh (default: /var/cache/nexus-e2e)
#        NEXUS_E2E_BACKEND      backend picked in the create flow (default: docker)
#        NEXUS_E2E_TIMEOUT      seconds allowed for the browser part (default: 900)
#        NEXUS_E2E_VSIX         use this .vsix instead of building one
#        NEXUS_E2E_KEEP=1       keep the run directory (HOME, NEXUS_HOME, profiles) afterwards
#        NEXUS_E2E_TERMINAL_STOP  command run outside the editor to stop the workspace ({name} is
#                               replaced); default when the sidecar is a nexus-sidecar with the nexus
#                               CLI beside it: <that dir>/nexus workspace stop {name}; empty: skip
#        NEXUS_MUTAGEN          the Mutagen binary for the sync steps (default: the mutagen beside the
#                               nexus CLI, if any; unset: those steps are skipped)
#        NEXUS_E2E_CLEANUP      command deleting a workspace the test made, after a failed run
#                               (same default: <that dir>/nexus workspace delete --force {name})
#        DAYTONA_API_URL, DAYTONA_API_KEY  a Daytona API (the emulator in tests/daytona_emulator):
#                               the sidecar and the CLI use it, and the run sees an auto-stop
#                               warning and "Keep running" on a Daytona workspace (unset: skipped)
# Screenshots, code-server and extension logs go to ARTIFACTS_DIR.
#
# "Open in New Window" needs a Remote-SSH extension, which cannot run inside code-server, so the
# run sets NEXUS_E2E_RECORD_OPEN: the extension then writes the folder URI it would open to a
# file instead of opening a window, and the test checks that URI. Likewise "Open Preview" cannot
# open a browser there: NEXUS_E2E_RECORD_EXTERNAL makes it write the URL it would open to a file,
# and the driver fetches that URL (the page served by a web server it started in the workspace).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 ARTIFACTS_DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXT=$(dirname "$HERE")
REPO=$(dirname "$EXT")
ART=$(realpath -m "$1")
mkdir -p "$ART"
CACHE=$(realpath -m "${NEXUS_E2E_CACHE:-/var/cache/nexus-e2e}")
SIDECAR=${NEXUS_SIDECAR_COMMAND:-$REPO/.venv/bin/nexus-sidecar}
log() { echo "[e2e $(date +%T)] $*"; }

sidecar_exe=$(python3 -c 'import shlex,sys; print(shlex.split(sys.argv[1])[0])' "$SIDECAR")
if ! command -v "$sidecar_exe" >/dev/null 2>&1; then
  echo "sidecar not found: $sidecar_exe (set NEXUS_SIDECAR_COMMAND)" >&2
  exit 2
fi
# With the real sidecar, the nexus CLI installed beside it also stops the workspace from "a
# terminal" (the tree must follow) and, after a failed run, deletes what the test made.
cli=$(dirname "$(command -v "$sidecar_exe")")/nexus
if [ "$(basename "$sidecar_exe")" = nexus-sidecar ] && [ -x "$cli" ]; then
  [ -n "${NEXUS_E2E_TERMINAL_STOP+set}" ] || export NEXUS_E2E_TERMINAL_STOP="$cli workspace stop {name}"
  [ -n "${NEXUS_E2E_CLEANUP+set}" ] || NEXUS_E2E_CLEANUP="$cli workspace delete --force {name}"
  # ... and starts a web server in the workspace for "Open Preview", then lists the previews.
  export NEXUS_E2E_CLI=$cli
  # The real Mutagen installed beside them syncs a folder (the sync steps need it).
  if [ -z "${NEXUS_MUTAGEN:-}" ] && [ -x "$(dirname "$cli")/mutagen" ]; then
    export NEXUS_MUTAGEN=$(dirname "$cli")/mutagen
  fi
fi

s=$(date +%s)
bash "$HERE/setup.sh" "$CACHE"
log "setup took $(( $(date +%s) - s ))s"

VSIX=${NEXUS_E2E_VSIX:-}
if [ -z "$VSIX" ]; then
  log "building the extension"
  (
    cd "$EXT"
    [ -d node_modules ] || npm ci --no-audit --no-fund
    npx vsce package --no-dependencies -o "$ART/nexus-workspaces.vsix"
  ) > "$ART/build.log" 2>&1 || { tail -40 "$ART/build.log"; exit 1; }
  VSIX=$ART/nexus-workspaces.vsix
fi

# A fresh, isolated run directory (short path: VS Code puts unix sockets in TMPDIR).
R=$(mktemp -d "${E2E_TMP:-/tmp}/nexus-e2e.XXXXXX")
mkdir -p "$R"/{ud/User,ud/Machine,ext,home,xdg/config,xdg/data,xdg/cache,tmp,nexus-home,project}
export HOME=$R/home NEXUS_HOME=$R/nexus-home TMPDIR=$R/tmp
export XDG_CONFIG_HOME=$R/xdg/config XDG_DATA_HOME=$R/xdg/data XDG_CACHE_HOME=$R/xdg/cache
export PATH=$CACHE/node24/bin:$PATH
export NEXUS_E2E_RECORD_OPEN=$R/open-record.json
export NEXUS_E2E_RECORD_EXTERNAL=$R/external-record.json
export FAKE_SIDECAR_DELAY_MS=${FAKE_SIDECAR_DELAY_MS:-3000}
log "run directory $R, sidecar: $SIDECAR"

# Auto-stop warnings come early and the activity is read every second, so that a Daytona workspace
# created with --auto-stop 1 warns at once (the sidecar reads this config when it starts).
if [ -n "${DAYTONA_API_URL:-}" ] && [ -n "${NEXUS_E2E_CLI:-}" ]; then
  "$NEXUS_E2E_CLI" config set backends.daytona.auto_stop_warning_minutes 2 > /dev/null
  "$NEXUS_E2E_CLI" config set backends.daytona.activity_poll_interval 1 > /dev/null
fi

# The folder opened in the editor (and the source of the workspace): a small git repository.
(
  cd "$R/project"
  printf '# e2e project\n' > README.md
  if command -v git >/dev/null 2>&1; then
    git init -q -b main . && git -c user.name=e2e -c user.email=e2e@localhost add -A \
      && git -c user.name=e2e -c user.email=e2e@localhost commit -qm init
  fi
)

# The sidecar settings are machine-scoped: code-server's extension host (a "remote" one) reads
# them from the Machine settings, so they are written there as well as to the User settings.
python3 - "$R/ud" "$SIDECAR" <<'PY'
import json, sys
ud, sidecar = sys.argv[1:]
nexus = {"nexus.sidecar.command": sidecar, "nexus.logLevel": "debug"}
json.dump(nexus, open(f"{ud}/Machine/settings.json", "w"), indent=2)
json.dump({
    "workbench.startupEditor": "none", "telemetry.telemetryLevel": "off", "update.mode": "none",
    "extensions.autoCheckUpdates": False, "extensions.autoUpdate": False,
    "workbench.enableExperiments": False, "security.workspace.trust.enabled": False,
    "chat.disableAIFeatures": True, "workbench.tips.enabled": False,
    # the DOM renderer, so the driver can read what the terminal shows
    "terminal.integrated.gpuAcceleration": "off", "terminal.integrated.enablePersistentSessions": False,
    **nexus,
}, open(f"{ud}/User/settings.json", "w"), indent=2)
PY

CS=$CACHE/cs/node_modules/.bin/code-server
COMMON=(--user-data-dir "$R/ud" --extensions-dir "$R/ext" --config "$R/config.yaml")
timeout 120 "$CS" "${COMMON[@]}" --install-extension "$VSIX" > "$ART/install.log" 2>&1 \
  || { cat "$ART/install.log"; exit 1; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid "$CS" "${COMMON[@]}" --bind-addr "127.0.0.1:$PORT" --auth none --disable-telemetry \
  --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  "$R/project" > "$ART/code-server.log" 2>&1 &
CSPID=$!

cleanup() {
  kill -- -"$CSPID" 2>/dev/null || true
  sleep 1
  kill -9 -- -"$CSPID" 2>/dev/null || true
  find "$R/ud/logs" -name '*Nexus*.log' -exec cp {} "$ART/" \; 2>/dev/null || true
  if [ -n "${NEXUS_E2E_CLEANUP:-}" ] && [ -f "$ART/result.json" ]; then
    for n in $(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r["ok"] or print(r["workspace"], r["workspace"] + "-c", *r.get("otherWorkspaces", []))' "$ART/result.json"); do
      log "cleanup: ${NEXUS_E2E_CLEANUP//\{name\}/$n}"
      (cd "$R/project" && timeout 120 bash -c "${NEXUS_E2E_CLEANUP//\{name\}/$n}") > /dev/null 2>&1 || true
    done
  fi
  # the Mutagen daemon the sync steps started (it is not in code-server's process group)
  if [ -n "${NEXUS_MUTAGEN:-}" ] && [ -d "$NEXUS_HOME/sync/mutagen" ]; then
    MUTAGEN_DATA_DIRECTORY=$NEXUS_HOME/sync/mutagen timeout 30 "$NEXUS_MUTAGEN" daemon stop > /dev/null 2>&1 || true
  fi
  cp "$NEXUS_E2E_RECORD_OPEN" "$NEXUS_E2E_RECORD_EXTERNAL" "$ART/" 2>/dev/null || true
  if [ "${NEXUS_E2E_KEEP:-0}" = 1 ]; then log "kept $R"; else rm -rf "$R"; fi
}
trap cleanup EXIT

for _ in $(seq 1 150); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
  kill -0 "$CSPID" 2>/dev/null || { cat "$ART/code-server.log"; exit 1; }
  sleep 0.2
done
log "code-server on 127.0.0.1:$PORT"

PW_CORE=$CACHE/tools/node_modules/playwright-core \
NEXUS_E2E_RUN_DIR=$R \
  timeout "${NEXUS_E2E_TIMEOUT:-900}" node "$HERE/driver.js" "http://127.0.0.1:$PORT/" "$ART"
