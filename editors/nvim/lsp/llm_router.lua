-- Neovim 0.11+ configuration for llm-router-lsp: `vim.lsp.enable("llm_router")` with
-- editors/nvim on 'runtimepath' starts it; require("llm_router").setup() adds keymaps
-- and options (it calls vim.lsp.config/vim.lsp.enable itself).
local ok, llm_router = pcall(require, "llm_router")

return {
  cmd = { "llm-router-lsp" },
  filetypes = { "sh", "bash", "zsh", "fish", "dockerfile", "make", "yaml", "python", "lua" },
  root_markers = { ".git" },
  handlers = ok and llm_router.handlers or nil,
  -- Change annotations, so that fixes come for review in the plugin's diff window.
  capabilities = ok and llm_router.capabilities() or nil,
}
