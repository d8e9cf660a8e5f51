//! llm-router-lsp: routes editor and command-line requests to the right local model,
//! guarding GPU memory. See ARCHITECTURE.md for the code map.

// stdout belongs to the protocol (LSP) or to the command's output; nothing else writes there.
#![deny(clippy::print_stdout)]

pub mod actions;
pub mod backend;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod i18n;
pub mod router;
pub mod vram;
