#!/usr/bin/env bash
# Neovim as a user sees it: Neovim in a real terminal (tmux), keys typed with
# `tmux send-keys`, the screen read with `tmux capture-pane`, the plugin's default settings
# and a plain init.lua (no replaced vim.ui.select or vim.notify), the real server and the
# fake Ollama. A hit-enter prompt ("Press ENTER") on any screen read fails the case: in a
# terminal it waits for a key, and the headless test never sees one.
#
#   editors/nvim/test/tmux.sh [NVIM]        (default: $NVIM, else nvim on PATH)
#
# Cases: Generate from the code action menu, Explain from the plugin's keymap, the VRAM
# question answered in the built-in menu (inputlist), Cancel generation from the menu, and
# "Fix with MODEL" on a shellcheck finding: accepted, rejected, scrolled when taller than the
# window, reviewed through vim.ui.select (review = "select"), and, on 0.11+, with only
# vim.lsp.enable (no setup()).
# Screen captures go to target/editor-tests/nvim-VERSION/. Prints "N passed, N failed".
# The scripts and screen patterns below hold shell text such as $1 on purpose:
# shellcheck disable=SC2016
set -uo pipefail
cd "$(dirname "$0")/../../.." || exit 1
root=$PWD
nvim_bin=${1:-${NVIM:-nvim}}
SERVER=${LLM_ROUTER_LSP:-$root/target/debug/llm-router-lsp}
FAKE=${FAKE_OLLAMA:-$root/target/debug/examples/fake_ollama}
FAST=llama3.2:11b-vision CODE=qwen3-coder:30b-q4

loud() { printf '\n!!! nvim-tmux: %s\n\n' "$*" >&2; }
command -v tmux >/dev/null || { loud "tmux is not installed: the Neovim terminal test cannot run"; exit 1; }
command -v "$nvim_bin" >/dev/null || { loud "no Neovim at '$nvim_bin'"; exit 1; }
# Each case starts Neovim from its own directory: a relative path must not depend on ours.
case $nvim_bin in */*) nvim_bin=$(realpath "$nvim_bin") ;; esac
if [ ! -x "$SERVER" ] || [ ! -x "$FAKE" ]; then loud "build first: cargo build --bins --example fake_ollama"; exit 1; fi

version=$("$nvim_bin" --version | head -n 1 | awk '{print $2}')
out=$root/target/editor-tests/nvim-$version
rm -rf "$out"
mkdir -p "$out"
work=$(mktemp -d)
sock=llm-router-nvim-$$
# start_fake runs in $(...), a subshell: the fakes' PIDs go to a file, not a variable.
pid_file=$work/fake.pids
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null
  [ -f "$pid_file" ] && while read -r p; do kill "$p" 2>/dev/null; done <"$pid_file"
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
# A session that lives for the whole run, so the tmux server does not exit between cases.
tmux -L "$sock" new-session -d -s keep -x 80 -y 10 "sleep 3600"
# A Neovim that exits leaves its last screen to read.
tmux -L "$sock" set-option -g remain-on-exit on >/dev/null
echo "Neovim $version ($nvim_bin), captures in $out"

# A fake Ollama whose code model answers $1 (in chunks every $2 ms when $2 > 0) and whose
# fast model answers $3. Prints its URL.
start_fake() {
  local code=$1 delay=$2 fast=$3 n
  n=$(($({ wc -l <"$pid_file"; } 2>/dev/null || echo 0) + 1))
  python3 - "$code" "$delay" "$fast" >"$work/scenario$n.json" <<'EOF'
import json, sys
code, delay, fast = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def model(name, size, reply, chunks=(), d=0):
    return {"name": name, "size": size, "reply": reply, "chunks": list(chunks), "chunk_delay_ms": d,
            "logprobs": [], "behaviour": {"kind": "reply"}}
chunks = [code[i:i + 4] for i in range(0, len(code), 4)] if delay else []
print(json.dumps({"models": [model("llama3.2:11b-vision", 500000000, fast),
                             model("qwen3-coder:30b-q4", 1000000000, code, chunks, delay),
                             model("llama3.1:70b", 2000000000, "heavy")],
                  "pullable": [], "loaded": []}))
EOF
  "$FAKE" --port 0 --scenario "$work/scenario$n.json" --ignore-stdin >"$work/fake$n.out" 2>&1 &
  echo $! >>"$pid_file"
  local i
  for i in $(seq 100); do
    grep -q '^listening on' "$work/fake$n.out" 2>/dev/null && break
    sleep 0.1
  done
  sed -n 's/^listening on //p' "$work/fake$n.out"
}

SCRIPT='#!/usr/bin/env bash
echo start
# list files larger than 100 MB
echo done'
GENERATED='```bash
#!/usr/bin/env bash
set -euo pipefail

find . -type f -size +100M
```'

# One Neovim in its own tmux session: $1 case name, $2 fake URL, $3 VRAM "USED TOTAL".
S=""
case_dir=""
start_nvim() {
  local name=$1 url=$2 probe=$3
  case_dir=$work/$name
  mkdir -p "$case_dir/cfg/nvim"
  printf 'language: en\nbackends:\n  local: {kind: ollama, url: "%s"}\nvram:\n  probe: {kind: command, command: [echo, "%s"]}\n' \
    "$url" "$probe" >"$case_dir/config.yaml"
  # CONFIG_EXTRA: more lines of the server's configuration.
  printf '%s' "${CONFIG_EXTRA:-}" >>"$case_dir/config.yaml"
  # init.lua as the README tells users to write it, plus the usual code action keymap
  # (Neovim 0.7 needs range_code_action for a selection). `on_attach` only leaves a mark
  # so the test knows when the server is ready.
  # SETUP_EXTRA: more options for setup(); ENABLE_ONLY=1: no setup() at all, the 0.11+
  # way (vim.lsp.config + vim.lsp.enable with the plugin's lsp/llm_router.lua).
  if [ -n "${ENABLE_ONLY:-}" ]; then
    cat >"$case_dir/cfg/nvim/init.lua" <<EOF
vim.g.mapleader = " "
vim.opt.runtimepath:prepend("$root/editors/nvim")
vim.lsp.config("llm_router", { cmd = { "$SERVER", "--config", "$case_dir/config.yaml" } })
vim.lsp.enable("llm_router")
vim.api.nvim_create_autocmd("LspAttach", {
  callback = function() vim.fn.writefile({ "attached" }, "$case_dir/attached") end,
})
EOF
  else
    cat >"$case_dir/cfg/nvim/init.lua" <<EOF
vim.g.mapleader = " "
vim.opt.runtimepath:prepend("$root/editors/nvim")
require("llm_router").setup({
  cmd = { "$SERVER" },
  config = "$case_dir/config.yaml",
  keymaps = { explain = "<leader>le", generate = "<leader>lg", cancel = "<leader>lc" },
  on_attach = function() vim.fn.writefile({ "attached" }, "$case_dir/attached") end,
  ${SETUP_EXTRA:-}
})
EOF
  fi
  cat >>"$case_dir/cfg/nvim/init.lua" <<EOF
vim.keymap.set("n", "<leader>ca", vim.lsp.buf.code_action)
if vim.fn.has("nvim-0.8") == 1 then
  vim.keymap.set("x", "<leader>ca", vim.lsp.buf.code_action)
else
  vim.keymap.set("x", "<leader>ca", ":<C-u>lua vim.lsp.buf.range_code_action()<CR>")
end
EOF
  printf '%s\n' "${DOC:-$SCRIPT}" >"$case_dir/script.sh"
  S=$name
  tmux -L "$sock" new-session -d -s "$S" -x 120 -y 30 \
    "cd '$case_dir' && env XDG_CONFIG_HOME='$case_dir/cfg' XDG_STATE_HOME='$case_dir/state' XDG_DATA_HOME='$case_dir/data' XDG_CACHE_HOME='$case_dir/cache' '$nvim_bin' -i NONE -n script.sh"
  local i
  for i in $(seq 200); do
    [ -e "$case_dir/attached" ] && return 0
    sleep 0.1
  done
  echo "the server did not attach within 20 s" >&2
  return 1
}

# The screen now; fails (2) on a hit-enter prompt.
screen() {
  local s
  s=$(tmux -L "$sock" capture-pane -p -t "$S")
  printf '%s\n' "$s"
  if grep -q 'Press ENTER' <<<"$s"; then
    echo "hit-enter prompt on the screen" >&2
    return 2
  fi
}
shot=0
# Saves the screen as target/editor-tests/nvim-VERSION/CASE-NN-LABEL.txt.
save() {
  shot=$((shot + 1))
  printf '%s\n' "$2" >"$out/$S-$(printf %02d $shot)-$1.txt"
}
keys() { tmux -L "$sock" send-keys -t "$S" "$@"; }
# Waits until the screen matches the regex $1 (within $2 s); fails on a hit-enter prompt.
wait_screen() {
  local want=$1 limit=${2:-20} deadline s
  deadline=$(($(date +%s) + limit))
  while :; do
    if ! s=$(screen); then
      save hit-enter "$s"
      printf '%s\n' "$s" >&2
      return 1
    fi
    if grep -Eq -- "$want" <<<"$s"; then
      save "$(tr -c 'A-Za-z0-9\n' - <<<"${want:0:24}")" "$s"
      return 0
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      save timeout "$s"
      echo "timed out after $limit s waiting for /$want/; the screen:" >&2
      printf '%s\n' "$s" >&2
      return 1
    fi
    sleep 0.1
  done
}
# Saves the buffer and compares the file with $1.
expect_file() {
  keys Escape ":w" Enter
  wait_screen 'written' 10 || return 1
  local got
  got=$(cat "$case_dir/script.sh")
  if [ "$got" != "$1" ]; then
    printf 'buffer differs:\n--- expected\n%s\n--- actual\n%s\n' "$1" "$got" >&2
    return 1
  fi
}
# The number the built-in menu (inputlist) gives the item titled $1.
menu_number() { screen | sed -n "s/^\([0-9]\+\)[.:] $1.*/\1/p" | head -n 1; }
quit() { keys Escape ":qa!" Enter; sleep 0.3; tmux -L "$sock" kill-session -t "$S" 2>/dev/null; }

# --- Cases -----------------------------------------------------------------------------
case_generate() {
  start_nvim generate "$(start_fake "$GENERATED" 0 fast)" "1000 10000" || return 1
  keys 3G V " ca"
  wait_screen 'Generate script' || return 1
  local n
  n=$(menu_number "Generate script")
  [ -n "$n" ] || { echo "no Generate script in the menu" >&2; return 1; }
  # Neovim 0.11 returns to Visual mode after the menu; a user leaves it.
  keys "$n" Enter
  sleep 0.3
  keys Escape
  wait_screen "$CODE answered in" || return 1
  # One line that fits: a cut message ends in "…"; the full one is in :LlmRouterMessages.
  wait_screen "llm-router: $CODE answered in [0-9.]+ s: code generation, shell script" 1 || return 1
  expect_file '#!/usr/bin/env bash
echo start
# list files larger than 100 MB
find . -type f -size +100M
echo done' || return 1
  keys ":LlmRouterMessages" Enter
  sleep 0.5
  # That command prints every message in full on purpose, so its prompt is expected here.
  tmux -L "$sock" capture-pane -p -J -t "$S" >"$out/$S-messages.txt"
  # Neovim breaks long lines at the screen's width, wherever that falls: compare without
  # line breaks and spaces.
  tr -d '\n ' <"$out/$S-messages.txt" | grep -qF "$(tr -d ' ' <<<'Left out `set -euo pipefail`: it would change how the rest of your script runs.')" \
    || { echo "the full closing message is not in :LlmRouterMessages" >&2; return 1; }
  keys Enter
  quit
}

case_explain() {
  start_nvim explain "$(start_fake 'Prints the word start on standard output, then goes on with the next command of the script.' 0 fast)" "1000 10000" || return 1
  keys 2G V " le"
  wait_screen "$CODE answered in" || return 1
  expect_file '#!/usr/bin/env bash
# Prints the word start on standard output, then goes on with the next command
# of the script.
echo start
# list files larger than 100 MB
echo done' || return 1
  quit
}

case_vram() {
  start_nvim vram "$(start_fake "$GENERATED" 0 'ls -la')" "9000 10000" || return 1
  keys 3G V " lg"
  wait_screen 'Current VRAM usage: 90.0%' || return 1
  local n
  n=$(menu_number "Use fast model")
  [ -n "$n" ] || { echo "no Use fast model in the question" >&2; return 1; }
  keys "$n" Enter
  wait_screen "$FAST answered in [0-9.]+ s: fast model chosen at the VRAM warning" || return 1
  expect_file '#!/usr/bin/env bash
echo start
# list files larger than 100 MB
ls -la
echo done' || return 1
  quit
}

case_cancel() {
  # About 30 s of streaming: long enough to cancel from the menu.
  start_nvim cancel "$(start_fake "$GENERATED" 500 fast)" "1000 10000" || return 1
  keys 3G V " lg"
  wait_screen 'characters received' || return 1
  keys 3G V " ca"
  wait_screen 'Cancel generation' || return 1
  local n
  n=$(menu_number "Cancel generation")
  [ -n "$n" ] || { echo "no Cancel generation in the menu" >&2; return 1; }
  keys "$n" Enter
  sleep 0.3
  keys Escape
  wait_screen 'Cancelled; nothing was inserted' || return 1
  expect_file "$SCRIPT" || return 1
  quit
}

UNQUOTED='#!/usr/bin/env bash
greet() {
  echo Hello $1
}
greet world'
QUOTED='#!/usr/bin/env bash
greet() {
  echo Hello "$1"
}
greet world'
FIX_REPLY='```bash
greet() {
  echo Hello "$1"
}
```'

# Opens the code action menu on line 3 until it offers "Fix with" (the lint's diagnostics
# arrive a moment after the file opens), picks it, and waits for the review window to show
# the regex $1 (default: the fixed line of $UNQUOTED).
open_fix_review() {
  local diff_line=${1:-'\+  echo Hello "\$1"'}
  local n="" _try
  for _try in $(seq 10); do
    keys 3G " ca"
    if wait_screen "Fix with $CODE" 3 2>/dev/null; then
      n=$(menu_number "Fix with $CODE")
      [ -n "$n" ] && break
    fi
    keys Escape
    sleep 0.5
  done
  [ -n "$n" ] || { echo "no Fix with $CODE in the menu" >&2; return 1; }
  keys "$n" Enter
  wait_screen "$diff_line" || return 1
  wait_screen 'a/y accept' 1 || return 1
}

case_fix_accept() {
  DOC=$UNQUOTED start_nvim fix_accept "$(start_fake "$FIX_REPLY" 0 fast)" "1000 10000" || return 1
  open_fix_review || return 1
  keys a
  wait_screen "SC2086 fixed in lines 2–4" || return 1
  expect_file "$QUOTED" || return 1
  quit
}

# review = "select": the diff on the message area and the built-in menu (inputlist).
case_fix_select() {
  DOC=$UNQUOTED SETUP_EXTRA='review = "select",' start_nvim fix_select "$(start_fake "$FIX_REPLY" 0 fast)" "1000 10000" || return 1
  local n="" _try
  for _try in $(seq 10); do
    keys 3G " ca"
    if wait_screen "Fix with $CODE" 3 2>/dev/null; then
      n=$(menu_number "Fix with $CODE")
      [ -n "$n" ] && break
    fi
    keys Escape
    sleep 0.5
  done
  [ -n "$n" ] || { echo "no Fix with $CODE in the menu" >&2; return 1; }
  keys "$n" Enter
  wait_screen "llm-router: Fix with $CODE\\?" || return 1
  wait_screen '^\+  echo Hello "\$1"' 1 || return 1
  n=$(menu_number Accept)
  [ -n "$n" ] || { echo "no Accept in the review menu" >&2; return 1; }
  keys "$n" Enter
  wait_screen "SC2086 fixed in lines 2–4" || return 1
  expect_file "$QUOTED" || return 1
  quit
}

# A block taller than the window: the footer offers j/k, the end of the diff is reached
# with G, and the whole block is replaced.
LONG_UNQUOTED="#!/usr/bin/env bash
greet() {
$(for i in $(seq 15); do printf '  echo %s $1\n' "$i"; done)
}
greet world"
LONG_QUOTED=${LONG_UNQUOTED//\$1/\"\$1\"}
LONG_REPLY="\`\`\`bash
$(sed -n '2,18p' <<<"$LONG_QUOTED")
\`\`\`"
case_fix_scroll() {
  DOC=$LONG_UNQUOTED start_nvim fix_scroll "$(start_fake "$LONG_REPLY" 0 fast)" "1000 10000" || return 1
  open_fix_review '\+  echo 1 "\$1"' || return 1
  wait_screen 'j/k scroll' 1 || return 1
  if screen | grep -q '+  echo 15 "\$1"'; then
    echo "the end of the diff is on screen before scrolling: the window is not cut" >&2
    return 1
  fi
  keys G
  wait_screen '\+  echo 15 "\$1"' 5 || return 1
  keys y
  wait_screen "SC2086 fixed in lines 2–18" || return 1
  expect_file "$LONG_QUOTED" || return 1
  quit
}

# Neovim 0.11+ without setup(): lsp/llm_router.lua alone brings the review.
case_fix_enable() {
  DOC=$UNQUOTED ENABLE_ONLY=1 start_nvim fix_enable "$(start_fake "$FIX_REPLY" 0 fast)" "1000 10000" || return 1
  open_fix_review || return 1
  keys a
  wait_screen "SC2086 fixed in lines 2–4" || return 1
  expect_file "$QUOTED" || return 1
  quit
}

# A review that takes longer than the server's request_timeout: the server waits for the
# user, and the message says what happened.
case_fix_slow_review() {
  DOC=$UNQUOTED CONFIG_EXTRA=$'lsp:\n  request_timeout: 2\n' start_nvim fix_slow_review "$(start_fake "$FIX_REPLY" 0 fast)" "1000 10000" || return 1
  open_fix_review || return 1
  sleep 4
  keys a
  wait_screen "SC2086 fixed in lines 2–4" || return 1
  expect_file "$QUOTED" || return 1
  quit
}

case_fix_reject() {
  DOC=$UNQUOTED start_nvim fix_reject "$(start_fake "$FIX_REPLY" 0 fast)" "1000 10000" || return 1
  open_fix_review || return 1
  keys r
  wait_screen "discarded in review; nothing changed" || return 1
  expect_file "$UNQUOTED" || return 1
  quit
}

passed=0
failed=0
default_cases="generate explain vram cancel fix_accept fix_reject fix_select fix_scroll fix_slow_review"
if "$nvim_bin" --headless -u NONE -i NONE -n -c 'if !has("nvim-0.11") | cquit | endif' -c 'qa!' 2>/dev/null; then
  default_cases="$default_cases fix_enable"
else
  echo "skipped fix_enable: vim.lsp.enable without setup() needs Neovim 0.11+"
fi
for c in ${CASES:-$default_cases}; do
  started=$(date +%s)
  if "case_$c"; then
    passed=$((passed + 1))
    echo "ok     $c ($(($(date +%s) - started)) s)"
  else
    failed=$((failed + 1))
    echo "FAILED $c ($(($(date +%s) - started)) s)"
    quit
  fi
done
echo "nvim-tmux (Neovim $version): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
