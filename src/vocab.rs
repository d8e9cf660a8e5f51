//! The shared vocabulary: what a request is (`Task`), who answers (`ModelTier`), in which
//! language the user reads (`Language`), and the answers to the two questions the user can be
//! asked. Depends on nothing else in the crate, so every layer can use it without a cycle.

use std::fmt;

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
    /// Correct a block of code for one finding of a checker (the editor's "Fix with MODEL",
    /// `llm-router-lsp fix`). Not a task the APIs accept by name: a fix needs the finding.
    #[serde(skip)]
    Fix,
}

impl Task {
    pub fn label(self) -> &'static str {
        match self {
            Task::Ask => "ask",
            Task::Explain => "explain",
            Task::Generate => "generate",
            Task::Fix => "fix",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelTier {
    Fast,
    Code,
    Heavy,
}

impl ModelTier {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelTier::Fast => "fast",
            ModelTier::Code => "code",
            ModelTier::Heavy => "heavy",
        }
    }
}

impl fmt::Display for ModelTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ModelTier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fast" => Ok(ModelTier::Fast),
            "code" => Ok(ModelTier::Code),
            "heavy" => Ok(ModelTier::Heavy),
            _ => Err(format!("unknown tier `{s}` (expected fast, code or heavy)")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    De,
}

impl Language {
    pub(crate) fn from_locale(lang: Option<&str>) -> Self {
        match lang {
            Some(l) if l.to_ascii_lowercase().starts_with("de") => Language::De,
            _ => Language::En,
        }
    }
}

/// The three answers to the VRAM question, in the order they are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAnswer {
    Continue,
    UseFast,
    Cancel,
}

impl ConsentAnswer {
    pub const ALL: [ConsentAnswer; 3] = [ConsentAnswer::Continue, ConsentAnswer::UseFast, ConsentAnswer::Cancel];

    pub fn title(self, lang: Language) -> &'static str {
        match (self, lang) {
            (ConsentAnswer::Continue, Language::En) => "Continue",
            (ConsentAnswer::UseFast, Language::En) => "Use fast model",
            (ConsentAnswer::Cancel, Language::En) => "Cancel",
            (ConsentAnswer::Continue, Language::De) => "Fortfahren",
            (ConsentAnswer::UseFast, Language::De) => "Schnelles Modell verwenden",
            (ConsentAnswer::Cancel, Language::De) => "Abbrechen",
        }
    }

    pub fn from_title(title: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.title(Language::En) == title || a.title(Language::De) == title)
    }
}

/// The answers to the danger question, in the order they are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DangerAnswer {
    InsertAnyway,
    InsertAsComments,
    Cancel,
}

impl DangerAnswer {
    pub const ALL: [DangerAnswer; 3] =
        [DangerAnswer::InsertAnyway, DangerAnswer::InsertAsComments, DangerAnswer::Cancel];

    pub fn title(self, lang: Language) -> &'static str {
        match (self, lang) {
            (DangerAnswer::InsertAnyway, Language::En) => "Insert anyway",
            (DangerAnswer::InsertAsComments, Language::En) => "Insert as comments",
            (DangerAnswer::Cancel, Language::En) => "Cancel",
            (DangerAnswer::InsertAnyway, Language::De) => "Trotzdem einfügen",
            (DangerAnswer::InsertAsComments, Language::De) => "Als Kommentare einfügen",
            (DangerAnswer::Cancel, Language::De) => "Abbrechen",
        }
    }

    pub fn from_title(title: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.title(Language::En) == title || a.title(Language::De) == title)
    }
}

/// Why an answer ended before the model finished it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// The token bound was reached.
    MaxTokens(u32),
    /// The same text came again and again; the rest was not read.
    Repetition,
}
