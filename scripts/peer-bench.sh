#!/usr/bin/env bash
# Side-by-side against lsp-ai 0.7.0 (installed once into target/peers, about 8 minutes),
# same fake Ollama, same client: see scripts/peer-bench.py. Not part of the test run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/peers/bin/lsp-ai ] || cargo install lsp-ai --version 0.7.0 --locked --root target/peers
cargo build --locked --release --bin llm-router-lsp --example fake_ollama
python3 scripts/peer-bench.py target/release/llm-router-lsp target/peers/bin/lsp-ai \
  target/release/examples/fake_ollama "${1:-20}"
