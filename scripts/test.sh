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

step "cargo test"
cargo test --locked

step "HTTP endpoint: schemathesis against openapi/openapi.json"
scripts/http-schemathesis.sh

if [ -x scripts/editor-tests.sh ]; then
  step "editor integrations"
  scripts/editor-tests.sh
fi

step "all tests passed"
