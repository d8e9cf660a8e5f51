//! What the user asks for: prompts per task, and turning answers into code.

pub mod edits;
pub mod extract;
pub mod prompts;

use serde::{Deserialize, Serialize};

/// The user's request, as picked from the editor's code actions or the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// A general question.
    #[default]
    Ask,
    /// Explain a command or a piece of code.
    Explain,
    /// Write code from a description.
    Generate,
}

impl Task {
    pub fn label(self) -> &'static str {
        match self {
            Task::Ask => "ask",
            Task::Explain => "explain",
            Task::Generate => "generate",
        }
    }
}
