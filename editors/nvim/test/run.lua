-- Headless end-to-end test of the Neovim plugin against the real server and the fake
-- Ollama (Neovim 0.7.2+):
--
--   cargo build --bins --example fake_ollama
--   nvim --headless -u NONE -i NONE -n -c "luafile editors/nvim/test/run.lua"
--
-- LLM_ROUTER_LSP / FAKE_OLLAMA override the binaries' paths. Prints one line per case
-- and "N passed, N failed" last; exits non-zero when a case failed.

local source = debug.getinfo(1, "S").source:gsub("^@", "")
local test_dir = vim.fn.fnamemodify(source, ":p:h")
local plugin_dir = vim.fn.fnamemodify(test_dir, ":h")
local repo = vim.fn.fnamemodify(plugin_dir, ":h:h")
local SERVER = os.getenv("LLM_ROUTER_LSP") or (repo .. "/target/debug/llm-router-lsp")
local FAKE = os.getenv("FAKE_OLLAMA") or (repo .. "/target/debug/examples/fake_ollama")
local FAST, CODE, HEAVY = "llama3.2:11b-vision", "qwen3-coder:30b-q4", "llama3.1:70b"

vim.opt.runtimepath:prepend(plugin_dir)
vim.cmd("filetype on")
vim.g.mapleader = " "

local function out(line)
  io.stdout:write(line .. "\n")
  io.stdout:flush()
end

-- Neovim 0.11 turned client functions into methods (client:stop()).
local has_011 = vim.fn.has("nvim-0.11") == 1
local get_clients = vim.lsp.get_clients or vim.lsp.get_active_clients

local passed, failed = 0, 0
local tmp = vim.fn.tempname()
vim.fn.mkdir(tmp, "p")

-- Captured vim.notify calls (window/showMessage), progress, and vim.ui.select questions.
local notes, progress, questions = {}, {}, {}
local select_answer = nil -- function(items) -> item
vim.notify = function(msg, level)
  table.insert(notes, { msg = msg, level = level })
end
vim.ui.select = function(items, opts, on_choice)
  table.insert(questions, { items = items, prompt = opts and opts.prompt })
  on_choice(select_answer and select_answer(items) or nil)
end
-- Nothing may fall back to inputlist: that would block a headless run.
vim.fn.inputlist = function()
  error("inputlist called: the question should go through vim.ui.select")
end

local function write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function wait(ms, what, check)
  if not vim.wait(ms, check, 20) then
    error("timed out after " .. ms .. " ms waiting for " .. what, 2)
  end
end

local function eq(actual, expected, what)
  if not vim.deep_equal(actual, expected) then
    error(string.format("%s:\n  expected: %s\n  actual:   %s", what, vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

local function starts_with(s, prefix)
  return type(s) == "string" and s:sub(1, #prefix) == prefix
end

-- Fake Ollama ---------------------------------------------------------------------

local fake_job = nil

local function start_fake(replies)
  local sizes = { [FAST] = 500000000, [CODE] = 1000000000, [HEAVY] = 2000000000 }
  local models = {}
  for _, name in ipairs({ FAST, CODE, HEAVY }) do
    table.insert(models, {
      name = name,
      size = sizes[name],
      reply = replies[name] or ("fake answer from " .. name),
      chunks = {},
      chunk_delay_ms = 0,
      logprobs = {},
      behaviour = { kind = "reply" },
    })
  end
  local scenario = tmp .. "/scenario.json"
  write_file(scenario, vim.fn.json_encode({ models = models, pullable = {}, loaded = {} }))
  local stdout = ""
  -- stdin stays a pipe: the fake exits when it closes, so it never outlives this test.
  fake_job = vim.fn.jobstart({ FAKE, "--port", "0", "--scenario", scenario }, {
    on_stdout = function(_, data)
      stdout = stdout .. table.concat(data, "\n")
    end,
  })
  assert(fake_job > 0, "cannot start " .. FAKE)
  wait(20000, "fake_ollama's first line", function()
    return stdout:find("\n") ~= nil
  end)
  local url = stdout:match("^listening on (http://127%.0%.0%.1:%d+)\n")
  assert(url, "unexpected first line from fake_ollama: " .. vim.inspect(stdout))
  return url
end

local function stop_all()
  for _, client in pairs(get_clients()) do
    if has_011 then
      client:stop(true)
    else
      client.stop(true)
    end
  end
  vim.wait(5000, function()
    return #get_clients() == 0
  end, 20)
  if fake_job then
    vim.fn.jobstop(fake_job)
    fake_job = nil
  end
end

-- A server for one case: a fresh fake with `replies`, VRAM probe `probe` ("USED TOTAL").
local llm_router = require("llm_router")
local function session(replies, probe)
  stop_all()
  local url = start_fake(replies)
  local config = tmp .. "/config.yaml"
  write_file(
    config,
    string.format(
      'language: en\nbackends:\n  local: {kind: ollama, url: "%s"}\n'
        .. 'vram:\n  probe: {kind: command, command: [echo, "%s"]}\n',
      url,
      probe or "1000 10000"
    )
  )
  notes, progress, questions, select_answer = {}, {}, {}, nil
  llm_router.setup({
    cmd = { SERVER },
    config = config,
    keymaps = { explain = "<leader>le", generate = "<leader>lg" },
    progress = function(msg, value)
      table.insert(progress, { msg = msg, kind = value.kind })
    end,
  })
end

local SCRIPT = {
  "#!/usr/bin/env bash",
  "set -euo pipefail",
  "",
  "    # list files larger than 100 MB below the current directory",
  "    du -sh /var/log/* | sort -h",
  "echo done",
}

local file_count = 0
-- Opens a new .sh file with SCRIPT and waits for the server to be attached.
local function open_script()
  file_count = file_count + 1
  local path = string.format("%s/script%d.sh", tmp, file_count)
  write_file(path, table.concat(SCRIPT, "\n") .. "\n")
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  local bufnr = vim.api.nvim_get_current_buf()
  eq(vim.bo[bufnr].filetype, "sh", "filetype")
  wait(20000, "the llm_router client to attach and initialize", function()
    local client = llm_router.get_client(bufnr)
    return client ~= nil and client.initialized == true
  end)
  return bufnr
end

local function lines(bufnr)
  return vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
end

-- Presses keys as a user would (mappings apply).
local function keys(s)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(s, true, false, true), "mx", false)
end

local function code_actions(bufnr, range)
  local client = llm_router.get_client(bufnr)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = range,
    context = { diagnostics = {} },
  }
  local response
  if has_011 then
    response = client:request_sync("textDocument/codeAction", params, 10000, bufnr)
  else
    response = client.request_sync("textDocument/codeAction", params, 10000, bufnr)
  end
  assert(response and not response.err, "codeAction failed: " .. vim.inspect(response))
  return response.result or {}
end

local function note_matching(pattern)
  for _, note in ipairs(notes) do
    if note.msg:find(pattern, 1, true) then
      return note
    end
  end
  return nil
end

local function case(name, body)
  local ok, err = xpcall(body, debug.traceback)
  if ok then
    passed = passed + 1
    out("ok - " .. name)
  else
    failed = failed + 1
    out("not ok - " .. name)
    out("  " .. tostring(err):gsub("\n", "\n  "))
    out("  notifications: " .. vim.inspect(notes))
    out("  progress: " .. vim.inspect(progress))
    local log = vim.lsp.get_log_path()
    if vim.fn.filereadable(log) == 1 then
      local tail = vim.fn.readfile(log, "", -30)
      out("  lsp.log (tail):\n    " .. table.concat(tail, "\n    "))
    end
  end
end

-- Cases ---------------------------------------------------------------------------

if vim.fn.executable(SERVER) ~= 1 or vim.fn.executable(FAKE) ~= 1 then
  out("missing " .. SERVER .. " or " .. FAKE .. ": run `cargo build --bins --example fake_ollama`")
  out("0 passed, 1 failed")
  os.exit(1)
end

case("code actions on a selection: titles and commands", function()
  session({})
  local bufnr = open_script()
  -- Visual line selection of line 5 (the command), as the plugin computes it.
  local range = llm_router.selection_range(bufnr, "V", { 5, 1 }, { 5, 1 })
  eq(range, { start = { line = 4, character = 0 }, ["end"] = { line = 5, character = 0 } }, "range")
  local actions = code_actions(bufnr, range)
  local by_command = {}
  for _, action in ipairs(actions) do
    local command = type(action.command) == "table" and action.command or action
    by_command[command.command] = action
  end
  for id, title in pairs({
    ["llm-router.explain"] = "Explain command",
    ["llm-router.generate"] = "Generate script",
    ["llm-router.ask"] = "Ask the model",
  }) do
    local action = by_command[id]
    assert(action, "no action for " .. id .. " in " .. vim.inspect(actions))
    assert(starts_with(action.title, title), id .. ": title " .. vim.inspect(action.title))
    eq(action.kind, "refactor.rewrite", id .. ": kind")
    local args = action.command.arguments
    eq(args[1].uri, vim.uri_from_bufnr(bufnr), id .. ": uri")
    eq(args[1].range, range, id .. ": range")
  end
  -- A character-wise selection inside line 5.
  eq(
    llm_router.selection_range(bufnr, "v", { 5, 5 }, { 5, 31 }),
    { start = { line = 4, character = 4 }, ["end"] = { line = 4, character = 31 } },
    "charwise range"
  )
end)

case("Generate script inserts the code after the selected line", function()
  session({ [CODE] = "Here is the script:\n\n```bash\nfind . -type f -size +100M -print\n\nls -lh\n```\nDone." })
  local bufnr = open_script()
  keys("4GV<leader>lg")
  wait(30000, "the generated code", function()
    return #lines(bufnr) > #SCRIPT
  end)
  eq(lines(bufnr), {
    "#!/usr/bin/env bash",
    "set -euo pipefail",
    "",
    "    # list files larger than 100 MB below the current directory",
    "    find . -type f -size +100M -print",
    "",
    "    ls -lh",
    "    du -sh /var/log/* | sort -h",
    "echo done",
  }, "buffer after Generate script")
  wait(10000, "a message naming the model", function()
    return note_matching(CODE) ~= nil
  end)
  -- Progress went through the plugin's handler: begin, reports, end.
  wait(10000, "the end of the progress", function()
    return #progress > 0 and progress[#progress].kind == "end"
  end)
  eq(progress[1].kind, "begin", "first progress")
  assert(starts_with(progress[1].msg, "Generate script"), "progress title: " .. vim.inspect(progress))
  eq(llm_router.progress(), {}, "no progress left running")
end)

case("Explain command inserts wrapped comments above the selection", function()
  session({
    [CODE] = "Shows the disk usage of every entry below /var/log in human-readable units and sorts "
      .. "the list by size, so that the biggest entries come last.\n\nIt only reads; nothing is changed.",
  })
  local bufnr = open_script()
  keys("5GV<leader>le")
  wait(30000, "the explanation", function()
    return #lines(bufnr) > #SCRIPT
  end)
  eq(lines(bufnr), {
    "#!/usr/bin/env bash",
    "set -euo pipefail",
    "",
    "    # list files larger than 100 MB below the current directory",
    "    # Shows the disk usage of every entry below /var/log in human-readable units",
    "    # and sorts the list by size, so that the biggest entries come last.",
    "    #",
    "    # It only reads; nothing is changed.",
    "    du -sh /var/log/* | sort -h",
    "echo done",
  }, "buffer after Explain command")
  wait(10000, "a message naming the model", function()
    return note_matching(CODE) ~= nil
  end)
end)

case(":LlmRouterExplain on a line range does the same as the keymap", function()
  session({ [CODE] = "Lists the disk usage, smallest first." })
  local bufnr = open_script()
  vim.cmd("5LlmRouterExplain")
  wait(30000, "the explanation", function()
    return #lines(bufnr) > #SCRIPT
  end)
  eq(lines(bufnr)[5], "    # Lists the disk usage, smallest first.", "the comment above line 5")
  eq(lines(bufnr)[6], "    du -sh /var/log/* | sort -h", "the command, moved down")
  eq(#lines(bufnr), #SCRIPT + 1, "one line inserted")
end)

case("a character-wise selection works too", function()
  session({ [CODE] = "Sorts by size." })
  local bufnr = open_script()
  keys("5G^vf|<leader>le")
  wait(30000, "the explanation", function()
    return #lines(bufnr) > #SCRIPT
  end)
  eq(lines(bufnr)[5], "    # Sorts by size.", "the comment above line 5")
  eq(#lines(bufnr), #SCRIPT + 1, "one line inserted")
end)

case("VRAM warning answered Cancel leaves the buffer untouched", function()
  session({ [CODE] = "```bash\necho should-not-appear\n```" }, "9000 10000")
  select_answer = function(items)
    for _, item in ipairs(items) do
      if item.title == "Cancel" then
        return item
      end
    end
    return nil
  end
  local bufnr = open_script()
  keys("4GV<leader>lg")
  wait(30000, "the cancellation message", function()
    return note_matching("Cancelled: VRAM warning confirmed by user") ~= nil
  end)
  assert(#questions >= 1, "no question was asked")
  local titles = {}
  for _, item in ipairs(questions[1].items) do
    table.insert(titles, item.title)
  end
  eq(titles, { "Continue", "Use fast model", "Cancel" }, "the question's choices")
  vim.wait(500)
  eq(lines(bufnr), SCRIPT, "buffer after Cancel")
end)

stop_all()
vim.fn.delete(tmp, "rf")
out(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
