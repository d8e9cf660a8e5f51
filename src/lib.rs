//! llm-router-lsp: routes editor and command-line requests to the right local model,
//! guarding GPU memory. See ARCHITECTURE.md for the code map.

// stdout belongs to the protocol (LSP) or to the command's output; nothing else writes there.
#![deny(clippy::print_stdout)]

pub mod actions;
pub mod backend;
pub mod cli;
pub mod config;
pub mod http;
pub mod i18n;
pub mod lsp;
pub mod router;
pub mod safety;
pub mod vocab;
pub mod vram;

/// An error and its causes: the first line is the sentence a user acts on, the rest is for
/// the log.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(&format!("\n  caused by: {s_text}"));
        }
        source = s.source();
    }
    text
}
