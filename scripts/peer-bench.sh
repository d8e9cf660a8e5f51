#!/usr/bin/env bash
# Side-by-side against lsp-ai 0.7.0 (installed once into target/peers, about 8 minutes),
# same fake Ollama, same client: see examples/peer_bench.rs. Not part of the test run.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x target/peers/bin/lsp-ai ] || cargo install lsp-ai --version 0.7.0 --locked --root target/peers
cargo build --locked --release --bin llm-router-lsp --example fake_ollama --example peer_bench
target/release/examples/peer_bench target/release/llm-router-lsp target/peers/bin/lsp-ai \
  target/release/examples/fake_ollama "${1:-20}"
