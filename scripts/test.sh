#!/usr/bin/env bash
# Runs every test: formatting, lints, the Rust tests (unit, CLI, language server), and the
# editor integrations (Neovim headless, VS Code extension build/lint/package/protocol test,
# Helix snippet, and Neovim, Helix and VS Code driven as a user would). Installs what it
# needs on a fresh Debian machine (apt, npm). CI runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

# The safety tests and "Fix with MODEL" re-run shellcheck on the model's code.
if ! command -v shellcheck >/dev/null 2>&1; then
  step "installing shellcheck (apt)"
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends shellcheck \
    || printf '\n!!! test.sh: shellcheck could not be installed: the fix tests will FAIL\n\n' >&2
fi

step "cargo test"
cargo test --locked

step "HTTP endpoint: schemathesis against openapi/openapi.json"
scripts/http-schemathesis.sh

if [ -x scripts/editor-tests.sh ]; then
  step "editor integrations"
  scripts/editor-tests.sh
fi

step "all tests passed"
