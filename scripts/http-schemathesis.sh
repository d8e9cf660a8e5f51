#!/usr/bin/env bash
# Property-based test of the HTTP API against its OpenAPI document: schemathesis generates
# requests from the document the server serves (/openapi.json, the same as
# openapi/openapi.json), sends them to `llm-router-lsp serve-http`, which talks to the fake
# Ollama, and checks every answer against the document. No 5xx may come back except the
# backend errors the document lists; the fake backend is healthy, so none is expected.
#
# Installs schemathesis from PyPI into target/schemathesis-venv on first use (python3 with
# venv needed). Everything listens on 127.0.0.1 only.
#
# Environment: MAX_EXAMPLES (default 50, per operation), SCHEMATHESIS_SEED (default 1; set
# it empty for a random run), SKIP_BUILD=1 to use binaries built already.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${MAX_EXAMPLES:-50}
SCHEMATHESIS_SEED=${SCHEMATHESIS_SEED-1}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
mkdir -p "$TARGET_DIR"
TARGET_DIR=$(cd "$TARGET_DIR" && pwd)
VENV="$TARGET_DIR/schemathesis-venv"
started=$(date +%s)

say() { printf '==> %s\n' "$*" >&2; }

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ "${SKIP_BUILD:-}" != 1 ]; then
  say "building llm-router-lsp and the fake Ollama"
  cargo build --quiet --bin llm-router-lsp --example fake_ollama
fi
BIN="$TARGET_DIR/debug/llm-router-lsp"
FAKE="$TARGET_DIR/debug/examples/fake_ollama"

work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits for "listening on URL" in $1 (written by process $2) and prints the URL.
wait_listening() {
  local file=$1 pid=$2 i
  for i in $(seq 1 200); do
    if grep -q '^listening on ' "$file" 2>/dev/null; then
      sed -n 's/^listening on //p' "$file" | head -n1
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited before listening:" >&2
      cat "$file" "$file.err" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.05
  done
  echo "timed out waiting for $file" >&2
  return 1
}

"$FAKE" --port 0 --ignore-stdin >"$work/fake.out" 2>"$work/fake.out.err" &
pids+=($!)
fake_url=$(wait_listening "$work/fake.out" "${pids[-1]}")

# VRAM reads 80 %: code and heavy queries warn, and http.on_vram_warning (fast) decides.
cat >"$work/config.yaml" <<EOF
backends:
  local: {kind: ollama, url: "$fake_url", busy_retry_ms: 50}
vram:
  probe: {kind: command, command: [echo, "8000 10000"]}
EOF

env -u LLM_ROUTER_LSP_CONFIG -u OLLAMA_HOST -u HTTP_PROXY -u http_proxy RUST_LOG=warn \
  HOME="$work" XDG_CONFIG_HOME="$work" \
  "$BIN" --config "$work/config.yaml" serve-http --listen 127.0.0.1:0 \
  >"$work/server.out" 2>"$work/server.out.err" &
pids+=($!)
base=$(wait_listening "$work/server.out" "${pids[-1]}")
say "serve-http at $base, fake Ollama at $fake_url"

seed_args=()
[ -n "$SCHEMATHESIS_SEED" ] && seed_args=(--seed "$SCHEMATHESIS_SEED")

# Checks: all but ignored_auth, which expects a 401 without credentials; the document
# makes the token optional (it is needed only when http.token_env is set, and this run
# is on loopback without one). tests/http.rs covers auth.
# It runs in the temporary folder, where it keeps its cache (.schemathesis/).
status=0
(cd "$work" && NO_COLOR=1 "$VENV/bin/schemathesis" run "$base/openapi.json" \
  --url "$base" \
  --checks all --exclude-checks ignored_auth \
  --max-examples "$MAX_EXAMPLES" "${seed_args[@]}" \
  --workers 1 --request-timeout 30 --no-shrink \
  --suppress-health-check too_slow \
  --report junit --report-dir "$TARGET_DIR/schemathesis-report") || status=$?

if [ "$status" -ne 0 ]; then
  echo "--- serve-http stderr ---" >&2
  tail -n 50 "$work/server.out.err" >&2 || true
fi
say "schemathesis exit $status after $(($(date +%s) - started)) s"
exit "$status"
