-- Neovim client for llm-router-lsp (Neovim 0.7.2 and later).
--
-- The server decides everything (which actions, which model, what to insert): this
-- module starts it for the configured filetypes, shows its progress and questions, and
-- offers keymaps that pick one of the server's code actions for the visual selection.
--
--   require("llm_router").setup({
--     config = "~/.config/llm-router-lsp/config.yaml",
--     keymaps = { explain = "<leader>le", generate = "<leader>lg" },
--   })

local M = {}

M.name = "llm_router"

M.default_filetypes = { "sh", "bash", "zsh", "fish", "dockerfile", "make", "yaml", "python", "lua" }

-- Server command ids, as carried by the server's code actions.
M.commands = {
  explain = "llm-router.explain",
  generate = "llm-router.generate",
  ask = "llm-router.ask",
  cancel = "llm-router.cancel",
  consent = "llm-router.consent",
  fix = "llm-router.fix",
}

-- Keys of the review window ("Fix with MODEL" and other edits sent for review).
M.review_keys = { accept = { "a", "y" }, reject = { "r", "n", "q", "<Esc>" } }

local state = {
  opts = nil,
  -- Running work-done progress: "client_id:token" -> { client_id, token, title, cancellable }
  progress = {},
}

local has_011 = vim.fn.has("nvim-0.11") == 1

-- Neovim 0.11 made client methods proper methods (client:request); before, they were
-- closures (client.request). Both spellings, without deprecation warnings.
local function client_request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function client_notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

-- Messages --------------------------------------------------------------------------
--
-- In a terminal, an echo longer than the command line (v:echospace) or several echoes in
-- one event-loop turn scroll the message area and raise "Press ENTER or type command to
-- continue", which waits for a key. Progress and the closing message arrive in bursts, so
-- every message here is one line cut to v:echospace, after a redraw that clears the last
-- one. Where the user replaced vim.notify (nvim-notify, snacks, noice), that shows the
-- full text instead: those never prompt.

-- The last full messages, for :LlmRouterMessages (a cut message ends in "…").
local recent = {}

local function builtin_notify()
  local info = debug.getinfo(vim.notify, "S")
  return info ~= nil and info.source == "@vim/_editor.lua"
end

--- `msg` as one line that fits the command line without a hit-enter prompt.
function M.fit(msg, room)
  msg = tostring(msg):gsub("%s*\r?\n%s*", " ")
  room = (room or vim.v.echospace) - 1
  if room < 1 or vim.fn.strdisplaywidth(msg) <= room then
    return room < 1 and "" or msg
  end
  local n = math.min(vim.fn.strchars(msg), room - 1)
  while n > 0 and vim.fn.strdisplaywidth(vim.fn.strcharpart(msg, 0, n)) > room - 1 do
    n = n - 1
  end
  return vim.fn.strcharpart(msg, 0, n) .. "…"
end

local function echo(msg, hl, history)
  -- In a fast event (a luv callback) neither redraw nor echo is allowed.
  if vim.in_fast_event() then
    vim.schedule(function()
      echo(msg, hl, history)
    end)
    return
  end
  vim.cmd("redraw")
  vim.api.nvim_echo({ { M.fit(msg), hl } }, history, {})
  -- In Visual or Insert mode the mode message ("-- VISUAL LINE --") replaces the echo at
  -- once (0.11's code action menu returns to Visual mode): show it again on leaving.
  local mode = vim.api.nvim_get_mode().mode:sub(1, 1)
  if history and vim.o.showmode and vim.tbl_contains({ "v", "V", "\22", "i", "s", "S", "R" }, mode) then
    vim.api.nvim_create_autocmd("ModeChanged", {
      pattern = "*:n",
      once = true,
      callback = function()
        vim.schedule(function()
          vim.cmd("redraw")
          vim.api.nvim_echo({ { M.fit(msg), hl } }, false, {})
        end)
      end,
    })
  end
end

local levels_hl = {
  [vim.log.levels.ERROR] = "ErrorMsg",
  [vim.log.levels.WARN] = "WarningMsg",
}

local function notify(msg, level)
  level = level or vim.log.levels.INFO
  local text = "llm-router: " .. msg
  table.insert(recent, text)
  if #recent > 20 then
    table.remove(recent, 1)
  end
  local mode = state.opts and state.opts.messages or "auto"
  if mode == "notify" or (mode == "auto" and not builtin_notify()) then
    vim.notify(text, level)
  else
    echo(text, levels_hl[level], true)
  end
end

--- The last messages in full (newest last).
function M.messages()
  return recent
end

--- The llm-router client attached to `bufnr` (default: current buffer), or nil.
function M.get_client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local clients
  if vim.lsp.get_clients then
    clients = vim.lsp.get_clients({ bufnr = bufnr, name = M.name })
  else
    clients = vim.lsp.buf_get_clients(bufnr)
  end
  for _, client in pairs(clients) do
    if client.name == M.name then
      return client
    end
  end
  return nil
end

-- Handlers ----------------------------------------------------------------------------

local function show_progress(msg, value)
  local mode = state.opts and state.opts.progress
  if mode == false then
    return
  elseif type(mode) == "function" then
    mode(msg, value)
  elseif mode == "notify" then
    vim.notify("llm-router: " .. msg, vim.log.levels.INFO)
  else
    -- Not in the message history: a progress line is replaced by the next one.
    echo("llm-router: " .. msg, "ModeMsg", false)
  end
end

local function progress_handler(err, result, ctx, config)
  -- Keep Neovim's own bookkeeping (statusline plugins, LspProgress autocmds) working.
  local default = vim.lsp.handlers["$/progress"]
  if default and default ~= progress_handler then
    pcall(default, err, result, ctx, config)
  end
  if err or type(result) ~= "table" or type(result.value) ~= "table" then
    return
  end
  local value = result.value
  local key = tostring(ctx.client_id) .. ":" .. tostring(result.token)
  local entry = state.progress[key]
  if value.kind == "begin" then
    entry = {
      client_id = ctx.client_id,
      token = result.token,
      title = value.title or "working",
      cancellable = value.cancellable == true,
    }
    state.progress[key] = entry
  elseif value.kind == "report" and entry and value.cancellable ~= nil then
    entry.cancellable = value.cancellable
  elseif value.kind == "end" then
    state.progress[key] = nil
  end
  local title = entry and entry.title or "working"
  local msg
  if value.kind == "end" then
    msg = title .. ": " .. (value.message or "done")
  else
    msg = title
    if value.message and value.message ~= "" then
      msg = msg .. ": " .. value.message
    end
    if value.percentage then
      msg = string.format("%s (%d%%)", msg, value.percentage)
    end
  end
  show_progress(msg, value)
end

local message_levels = {
  [1] = vim.log.levels.ERROR,
  [2] = vim.log.levels.WARN,
  [3] = vim.log.levels.INFO,
  [4] = vim.log.levels.DEBUG,
}

local function show_message_handler(_, result)
  if type(result) == "table" and result.message then
    notify(result.message, message_levels[result.type] or vim.log.levels.INFO)
  end
  return vim.NIL
end

-- window/showMessageRequest through vim.ui.select, so that pickers (telescope, dressing,
-- snacks, ...) show the VRAM question. Neovim 0.10+ runs request handlers in a
-- coroutine that may yield; older versions wait here, processing events, until the
-- choice is made.
local function show_message_request_handler(_, result)
  if type(result) ~= "table" then
    return vim.NIL
  end
  local actions = result.actions or {}
  if #actions == 0 then
    notify(result.message or "", message_levels[result.type] or vim.log.levels.WARN)
    return vim.NIL
  end
  -- The question is the picker's prompt (the built-in one's first line); echoing it
  -- first as well would stack messages into a hit-enter prompt before the list.
  local select_opts = {
    prompt = "llm-router: " .. (result.message or ""):gsub("%s*\r?\n%s*", " "),
    format_item = function(action)
      return (action.title:gsub("\r?\n", " "))
    end,
    kind = "llm_router.message_request",
  }
  local co, is_main = coroutine.running()
  if co and not is_main then
    vim.ui.select(actions, select_opts, function(choice)
      vim.schedule(function()
        coroutine.resume(co, choice or vim.NIL)
      end)
    end)
    return coroutine.yield()
  end
  local done, answer = false, vim.NIL
  vim.ui.select(actions, select_opts, function(choice)
    done, answer = true, choice or vim.NIL
  end)
  if not done then
    vim.wait(10 * 60 * 1000, function()
      return done
    end, 50)
  end
  return answer
end

-- Review ---------------------------------------------------------------------------
-- The server sends edits that replace the user's text ("Fix with MODEL") with a change
-- annotation that needs confirmation, because the plugin advertises changeAnnotationSupport
-- (M.capabilities). Neither 0.7.2 nor 0.11.4 advertises it nor reads annotations: their
-- own handler would apply such an edit unseen. This one shows the change as a diff in a
-- floating window (or through vim.ui.select with `review = "select"`, or when no float
-- opens) and applies it only on accept; other edits go to Neovim's handler unchanged.

local function needs_review(edit)
  for _, annotation in pairs(edit.changeAnnotations or {}) do
    if annotation.needsConfirmation then
      return true
    end
  end
  return false
end

-- The label and description of the edit's first annotation that needs confirmation.
local function review_label(edit)
  for _, annotation in pairs(edit.changeAnnotations or {}) do
    if annotation.needsConfirmation then
      return annotation.label, annotation.description
    end
  end
end

-- The unified diff of each document the edit changes, computed on a scratch copy.
local function review_diff(edit, offset_encoding)
  local out = {}
  for _, change in ipairs(edit.documentChanges or {}) do
    if change.textDocument and change.edits then
      local bufnr = vim.uri_to_bufnr(change.textDocument.uri)
      vim.fn.bufload(bufnr)
      local before = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
      local scratch = vim.api.nvim_create_buf(false, true)
      vim.api.nvim_buf_set_lines(scratch, 0, -1, false, before)
      vim.lsp.util.apply_text_edits(change.edits, scratch, offset_encoding)
      local after = vim.api.nvim_buf_get_lines(scratch, 0, -1, false)
      vim.api.nvim_buf_delete(scratch, { force = true })
      -- vim.diff became vim.text.diff in 0.12; 0.7.2 has only vim.diff.
      local diff = (vim.text and vim.text.diff or vim.diff)(
        table.concat(before, "\n") .. "\n",
        table.concat(after, "\n") .. "\n",
        { result_type = "unified", ctxlen = 3 }
      )
      table.insert(out, "--- " .. vim.fn.fnamemodify(vim.uri_to_fname(change.textDocument.uri), ":~:."))
      for line in (diff or ""):gmatch("([^\n]*)\n") do
        table.insert(out, line)
      end
    end
  end
  return out
end

local function termcode(key)
  return vim.api.nvim_replace_termcodes(key, true, false, true)
end

-- Keys that scroll a diff taller than the window, as the normal-mode command they run.
local review_scroll = {
  j = "\5",
  ["<Down>"] = "\5",
  k = "\25",
  ["<Up>"] = "\25",
  ["<C-d>"] = "\4",
  ["<PageDown>"] = "\4",
  ["<Space>"] = "\4",
  ["<C-u>"] = "\21",
  ["<PageUp>"] = "\21",
  g = "gg",
  G = "G",
}

-- The name in M.review_keys / review_scroll of what getcharstr() returned.
local function key_name(c)
  for _, group in ipairs({ M.review_keys.accept, M.review_keys.reject, vim.tbl_keys(review_scroll) }) do
    for _, name in ipairs(group) do
      if c == name or (name:sub(1, 1) == "<" and c == termcode(name)) then
        return name
      end
    end
  end
  return c
end

-- A float with the review's text: the title, the description, the diff and `footer`.
-- `enter`: focus it (the modal review) or not (a preview beside a picker). Returns the
-- window, its buffer and whether the text is taller than the window; nil when no float
-- can be opened.
local function open_review_float(title, description, lines, footer, enter)
  local body = { title }
  if description and description ~= "" then
    table.insert(body, description)
  end
  table.insert(body, "")
  vim.list_extend(body, lines)
  local height = math.min(#body + (footer and 2 or 0), vim.o.lines - 4)
  local scrolls = #body + (footer and 2 or 0) > height
  if footer then
    vim.list_extend(body, { "", scrolls and footer .. "   j/k scroll" or footer })
  end
  local width = 20
  for _, l in ipairs(body) do
    width = math.max(width, vim.fn.strdisplaywidth(l))
  end
  width = math.min(width + 2, vim.o.columns - 4)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, body)
  vim.bo[buf].filetype = "diff"
  vim.bo[buf].modifiable = false
  local ok, win = pcall(vim.api.nvim_open_win, buf, enter, {
    relative = "editor",
    width = width,
    height = height,
    row = math.max(0, math.floor((vim.o.lines - height) / 2) - 1),
    col = math.max(0, math.floor((vim.o.columns - width) / 2)),
    style = "minimal",
    border = "rounded",
  })
  if not ok then
    vim.api.nvim_buf_delete(buf, { force = true })
    return nil
  end
  pcall(vim.api.nvim_win_set_option, win, "winhl", "Normal:NormalFloat")
  return win, buf, scrolls
end

local function close_review_float(win, buf)
  pcall(vim.api.nvim_win_close, win, true)
  pcall(vim.api.nvim_buf_delete, buf, { force = true })
end

-- The modal review: draws the diff, reads keys until one of M.review_keys; true on
-- accept. Modal because Neovim replies to the server with the handler's return value:
-- the answer must be known before it returns (getcharstr() waits for a key, and the
-- screen is redrawn before each). Returns nil when no float could be opened.
local function review_in_float(title, description, lines)
  local accept, reject = M.review_keys.accept, M.review_keys.reject
  local footer = ("%s accept   %s reject"):format(table.concat(accept, "/"), table.concat(reject, "/"))
  local win, buf, scrolls = open_review_float(title, description, lines, footer, true)
  if not win then
    return nil
  end
  -- The keys stay on the message line while a long diff scrolls the footer out of view.
  local prompt = ("llm-router: %s? %s%s"):format(title, footer, scrolls and "   j/k scroll" or "")
  local answer
  while answer == nil do
    vim.cmd("redraw")
    vim.api.nvim_echo({ { prompt:sub(1, math.max(1, vim.v.echospace)), "Question" } }, false, {})
    local ok_key, c = pcall(vim.fn.getcharstr)
    if not ok_key or c == "\3" then
      answer = false -- <C-c>
    else
      local k = key_name(c)
      if vim.tbl_contains(accept, k) then
        answer = true
      elseif vim.tbl_contains(reject, k) then
        answer = false
      elseif review_scroll[k] then
        vim.api.nvim_win_call(win, function()
          vim.cmd("normal! " .. review_scroll[k])
        end)
      end
    end
  end
  close_review_float(win, buf)
  vim.cmd("redraw")
  vim.api.nvim_echo({ { "" } }, false, {})
  return answer
end

-- Whether vim.ui.select is still Neovim's own (an inputlist), not a picker plugin's.
local function builtin_select()
  local info = debug.getinfo(vim.ui.select, "S")
  return info ~= nil and (info.source or ""):match("vim[/\\]ui%.lua$") ~= nil
end

-- The review through vim.ui.select: true on accept. The built-in select gets the diff in
-- its prompt, so the inputlist shows it above the choices (an echo before it would raise
-- "Press ENTER"); a picker plugin gets a one-line prompt and the diff in an unfocused
-- float beside it while that can open.
-- The built-in select and other synchronous ones answer before vim.ui.select returns. A
-- picker that answers later (dressing, telescope-ui-select, snacks) can be waited for only
-- where Neovim runs this handler in a coroutine (0.11.4 does; 0.7.2 does not, and there
-- vim.wait would not even pass keys to the picker): otherwise the change is discarded at
-- once, and a late answer is told so.
local function review_with_select(title, description, lines)
  local items = { "Accept", "Reject" }
  local prompt = ("llm-router: %s?"):format(title)
  local preview
  if builtin_select() then
    prompt = table.concat(vim.list_extend({ prompt, description or "" }, lines), "\n")
  else
    local win, buf = open_review_float(title, description, lines, nil, false)
    preview = win and { win, buf }
  end
  local function done_with_preview()
    if preview then
      close_review_float(preview[1], preview[2])
      preview = nil
    end
  end
  local co, is_main = coroutine.running()
  if co and not is_main then
    vim.ui.select(items, { prompt = prompt }, function(choice)
      vim.schedule(function()
        coroutine.resume(co, choice)
      end)
    end)
    local choice = coroutine.yield()
    done_with_preview()
    return choice == "Accept"
  end
  local answered, choice, late = false, nil, false
  vim.ui.select(items, { prompt = prompt }, function(c)
    if late then
      notify(("%s: answered after the change had been discarded; nothing was applied"):format(title), vim.log.levels.WARN)
    end
    answered, choice = true, c
  end)
  late = not answered
  done_with_preview()
  return choice == "Accept"
end

local function apply_edit_handler(err, result, ctx, config)
  local edit = type(result) == "table" and result.edit or nil
  if not edit or not needs_review(edit) then
    return vim.lsp.handlers["workspace/applyEdit"](err, result, ctx, config)
  end
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local encoding = client and client.offset_encoding or "utf-16"
  local title, description = review_label(edit)
  title = title or result.label or "Apply the change"
  local lines = review_diff(edit, encoding)
  local accepted
  if not (state.opts and state.opts.review == "select") then
    accepted = review_in_float(title, description, lines)
  end
  if accepted == nil then
    accepted = review_with_select(title, description, lines)
  end
  if not accepted then
    return { applied = false, failureReason = "rejected in review" }
  end
  local ok, failure = pcall(vim.lsp.util.apply_workspace_edit, edit, encoding)
  return { applied = ok, failureReason = (not ok) and tostring(failure) or nil }
end

M.handlers = {
  ["$/progress"] = progress_handler,
  ["window/showMessage"] = show_message_handler,
  ["window/showMessageRequest"] = show_message_request_handler,
  ["workspace/applyEdit"] = apply_edit_handler,
}

-- What the plugin adds to the client's capabilities: versioned document edits with change
-- annotations, which Neovim applies but does not advertise, so that edits that replace
-- text come for review (the float above) instead of landing unseen.
function M.capabilities(extra)
  local base = vim.lsp.protocol.make_client_capabilities()
  local ours = { workspace = { workspaceEdit = { documentChanges = true, changeAnnotationSupport = { groupsOnLabel = true } } } }
  return vim.tbl_deep_extend("force", base, ours, extra or {})
end

-- Ranges ------------------------------------------------------------------------------

local function utf16_col(line, byte)
  if byte <= 0 then
    return 0
  end
  byte = math.min(byte, #line)
  local _, utf16 = vim.str_utfindex(line, byte)
  return utf16
end

local function buf_line(bufnr, lnum)
  return vim.api.nvim_buf_get_lines(bufnr, lnum - 1, lnum, false)[1] or ""
end

--- LSP range of a selection from (line, col) to (line, col), 1-based lines and byte
--- columns as getpos() gives them, in `mode` ("v", "V", or CTRL-V).
function M.selection_range(bufnr, mode, start_pos, end_pos)
  local s, e = start_pos, end_pos
  if s[1] > e[1] or (s[1] == e[1] and s[2] > e[2]) then
    s, e = e, s
  end
  if mode == "v" then
    local first, last = buf_line(bufnr, s[1]), buf_line(bufnr, e[1])
    return {
      start = { line = s[1] - 1, character = utf16_col(first, s[2] - 1) },
      -- getpos() points at the first byte of the last selected character: the range
      -- ends after that character (str_utfindex rounds up inside a character).
      ["end"] = { line = e[1] - 1, character = utf16_col(last, e[2]) },
    }
  end
  -- Linewise (and blockwise): whole lines. Ending at column 0 of the next line is what
  -- a line selection sends; at the end of the buffer, end at the last line's end.
  local count = vim.api.nvim_buf_line_count(bufnr)
  local finish
  if e[1] < count then
    finish = { line = e[1], character = 0 }
  else
    local last = buf_line(bufnr, e[1])
    finish = { line = e[1] - 1, character = utf16_col(last, #last) }
  end
  return { start = { line = s[1] - 1, character = 0 }, ["end"] = finish }
end

-- The range for the current mode: the visual selection (leaving visual mode), or the
-- cursor's position (the server reads an empty range as the cursor's line).
local function current_range(bufnr)
  local mode = vim.api.nvim_get_mode().mode
  local v = mode:sub(1, 1)
  if v == "v" or v == "V" or v == "\22" then
    local start_pos = vim.fn.getpos("v")
    local end_pos = vim.fn.getpos(".")
    local esc = vim.api.nvim_replace_termcodes("<Esc>", true, false, true)
    vim.api.nvim_feedkeys(esc, "nx", false)
    return M.selection_range(bufnr, v, { start_pos[2], start_pos[3] }, { end_pos[2], end_pos[3] })
  end
  local cursor = vim.api.nvim_win_get_cursor(0)
  local col = utf16_col(buf_line(bufnr, cursor[1]), cursor[2])
  local pos = { line = cursor[1] - 1, character = col }
  return { start = pos, ["end"] = pos }
end

-- Code actions ------------------------------------------------------------------------

local function command_of(action)
  if type(action.command) == "string" then
    return action
  end
  return action.command
end

local function execute(client, bufnr, action)
  if action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding or "utf-16")
  end
  local command = command_of(action)
  if command then
    client_request(client, "workspace/executeCommand", {
      command = command.command,
      arguments = command.arguments,
    }, function(err)
      if err then
        notify("command failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      end
    end, bufnr)
  end
end

--- Asks the server for its code actions on `range` and calls `callback(actions, client)`.
function M.request_actions(bufnr, range, callback)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = M.get_client(bufnr)
  if not client then
    notify("the server is not attached to this buffer", vim.log.levels.WARN)
    return
  end
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = range,
    context = { diagnostics = {}, triggerKind = 1 },
  }
  client_request(client, "textDocument/codeAction", params, function(err, result)
    if err then
      notify("code actions failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    callback(result or {}, client)
  end, bufnr)
end

--- Runs the server's action for `task` ("explain", "generate", "ask", "cancel") on the
--- visual selection (or the cursor's line). When the server offers the VRAM choice
--- instead, it is asked with vim.ui.select.
function M.run(task, range)
  local bufnr = vim.api.nvim_get_current_buf()
  range = range or current_range(bufnr)
  local wanted = M.commands[task] or task
  M.request_actions(bufnr, range, function(actions, client)
    local consent = {}
    for _, action in ipairs(actions) do
      local command = command_of(action)
      if command and command.command == wanted then
        execute(client, bufnr, action)
        return
      end
      if command and command.command == M.commands.consent then
        table.insert(consent, action)
      end
    end
    if #consent > 0 then
      vim.ui.select(consent, {
        prompt = "llm-router: GPU memory is nearly full",
        format_item = function(action)
          return action.title
        end,
      }, function(choice)
        if choice then
          execute(client, bufnr, choice)
        end
      end)
      return
    end
    notify(string.format("the server offers no %q action here", task), vim.log.levels.WARN)
  end)
end

function M.explain(range)
  M.run("explain", range)
end

function M.generate(range)
  M.run("generate", range)
end

function M.ask(range)
  M.run("ask", range)
end

--- Cancels running jobs: through cancellable progress, else the server's action.
function M.cancel()
  local sent = false
  for key, entry in pairs(state.progress) do
    local client = vim.lsp.get_client_by_id(entry.client_id)
    if client and entry.cancellable then
      client_notify(client, "window/workDoneProgress/cancel", { token = entry.token })
      state.progress[key] = nil
      sent = true
    end
  end
  if not sent then
    M.run("cancel")
  end
end

-- Starting the server -----------------------------------------------------------------

local function expand_cmd(opts)
  local cmd = vim.deepcopy(opts.cmd or { "llm-router-lsp" })
  if type(cmd) == "string" then
    cmd = { cmd }
  end
  if opts.config and opts.config ~= "" then
    table.insert(cmd, "--config")
    table.insert(cmd, vim.fn.expand(opts.config))
  end
  return cmd
end

local function find_root(bufnr, markers)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local dir = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or vim.fn.getcwd()
  for _, marker in ipairs(markers) do
    local found = vim.fn.finddir(marker, dir .. ";")
    if found == "" then
      found = vim.fn.findfile(marker, dir .. ";")
    end
    if found ~= "" then
      return vim.fn.fnamemodify(found, ":p:h:h")
    end
  end
  return dir
end

local function map_keys(bufnr, keymaps)
  if type(keymaps) ~= "table" then
    return
  end
  local descriptions = {
    explain = "Explain command (llm-router)",
    generate = "Generate script (llm-router)",
    ask = "Ask the model (llm-router)",
    cancel = "Cancel generation (llm-router)",
  }
  for task, lhs in pairs(keymaps) do
    if descriptions[task] and lhs then
      local modes = task == "cancel" and { "n", "x" } or { "x", "n" }
      vim.keymap.set(modes, lhs, function()
        if task == "cancel" then
          M.cancel()
        else
          M.run(task)
        end
      end, { buffer = bufnr, silent = true, desc = descriptions[task] })
    end
  end
end

local function on_attach_for(opts)
  return function(client, bufnr)
    map_keys(bufnr, opts.keymaps)
    if opts.on_attach then
      opts.on_attach(client, bufnr)
    end
  end
end

local function client_config(opts)
  return {
    name = M.name,
    cmd = expand_cmd(opts),
    filetypes = opts.filetypes,
    root_markers = opts.root_markers,
    handlers = vim.tbl_extend("force", {}, M.handlers, opts.handlers or {}),
    on_attach = on_attach_for(opts),
    capabilities = M.capabilities(opts.capabilities),
    init_options = opts.init_options,
  }
end

-- Neovim 0.7-0.10: start (or reuse) a client for the buffer's root and attach it.
local function attach(bufnr, opts)
  if M.get_client(bufnr) then
    return
  end
  local config = client_config(opts)
  config.root_dir = find_root(bufnr, opts.root_markers)
  config.filetypes, config.root_markers = nil, nil
  if vim.lsp.start then
    vim.lsp.start(config, { bufnr = bufnr })
    return
  end
  state.clients = state.clients or {}
  local id = state.clients[config.root_dir]
  local existing = id and vim.lsp.get_client_by_id(id)
  if not existing or existing.is_stopped() then
    id = vim.lsp.start_client(config)
    if not id then
      notify("cannot start " .. table.concat(config.cmd, " "), vim.log.levels.ERROR)
      return
    end
    state.clients[config.root_dir] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
end

local function user_commands()
  local function range_of(args)
    local bufnr = vim.api.nvim_get_current_buf()
    if args.range and args.range > 0 then
      return M.selection_range(bufnr, "V", { args.line1, 1 }, { args.line2, 1 })
    end
    return nil
  end
  vim.api.nvim_create_user_command("LlmRouterExplain", function(args)
    M.run("explain", range_of(args))
  end, { range = true, desc = "llm-router: Explain command" })
  vim.api.nvim_create_user_command("LlmRouterGenerate", function(args)
    M.run("generate", range_of(args))
  end, { range = true, desc = "llm-router: Generate script" })
  vim.api.nvim_create_user_command("LlmRouterAsk", function(args)
    M.run("ask", range_of(args))
  end, { range = true, desc = "llm-router: Ask the model" })
  vim.api.nvim_create_user_command("LlmRouterCancel", function()
    M.cancel()
  end, { desc = "llm-router: Cancel generation" })
  vim.api.nvim_create_user_command("LlmRouterMessages", function()
    vim.api.nvim_echo({ { table.concat(recent, "\n") } }, false, {})
  end, { desc = "llm-router: the last messages in full" })
end

--- Options:
---   cmd             server command (list), default { "llm-router-lsp" }
---   config          server configuration file, passed as --config
---   filetypes       default M.default_filetypes; extra_filetypes adds to it
---   keymaps         nil maps nothing; e.g. { explain = "<leader>le", generate = "<leader>lg",
---                   ask = "<leader>la", cancel = "<leader>lc" } (visual and normal mode)
---   on_attach       function(client, bufnr)
---   root_markers    default { ".git" }
---   progress        "echo" (default: one line cut to fit), "notify", false, or function(msg, value)
---   messages        "auto" (default: vim.notify if replaced, else a one-line echo), "notify", "echo"
---   review          "float" (default: the diff in a floating window) or "select" (vim.ui.select)
---   capabilities, handlers, init_options: passed to the client
function M.setup(opts)
  opts = vim.tbl_extend("force", {}, opts or {})
  local filetypes = vim.deepcopy(opts.filetypes or M.default_filetypes)
  for _, ft in ipairs(opts.extra_filetypes or {}) do
    if not vim.tbl_contains(filetypes, ft) then
      table.insert(filetypes, ft)
    end
  end
  opts.filetypes = filetypes
  opts.root_markers = opts.root_markers or { ".git" }
  state.opts = opts
  user_commands()

  if vim.lsp.config and vim.lsp.enable then
    -- Neovim 0.11+: lsp/llm_router.lua gives the defaults; these options override them.
    vim.lsp.config(M.name, client_config(opts))
    vim.lsp.enable(M.name)
    return
  end

  local group = vim.api.nvim_create_augroup("llm_router", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = filetypes,
    callback = function(args)
      attach(args.buf, opts)
    end,
    desc = "llm-router: start the language server",
  })
  -- Buffers already open when setup() runs.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(filetypes, vim.bo[bufnr].filetype) then
      attach(bufnr, opts)
    end
  end
end

-- For tests and statuslines: the running progress entries.
function M.progress()
  return state.progress
end

return M
