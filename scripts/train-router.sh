#!/usr/bin/env bash
# Rebuilds src/router/intent-weights.bin from data/routing/ (deterministic) and prints the
# classifier's accuracy on data/routing/dev.tsv. Commit the weights with the data.
# Then: `cargo run -- route --eval data/routing/dev.tsv` for the whole router's figures.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --locked --quiet --example train_router
