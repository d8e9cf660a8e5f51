//! The `safety:` section of the configuration (file schema and resolved values).

use serde::{Deserialize, Serialize};

/// Whether to run shellcheck: `auto` (when installed), `true` (expected; `doctor` reports it
/// missing), `false` (never).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShellcheckMode {
    #[default]
    Auto,
    On,
    Off,
}

impl Serialize for ShellcheckMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ShellcheckMode::Auto => s.serialize_str("auto"),
            ShellcheckMode::On => s.serialize_bool(true),
            ShellcheckMode::Off => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for ShellcheckMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Bool(true)) => Ok(ShellcheckMode::On),
            Ok(Raw::Bool(false)) => Ok(ShellcheckMode::Off),
            Ok(Raw::Text(t)) if t == "auto" => Ok(ShellcheckMode::Auto),
            Ok(Raw::Text(t)) => Err(serde::de::Error::custom(format!("expected auto, true or false, found `{t}`"))),
            Err(_) => Err(serde::de::Error::custom("expected auto, true or false")),
        }
    }
}

/// What the file may say; every key optional, unknown keys rejected.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSafety {
    pub check_generated: Option<bool>,
    pub retry_on_syntax_error: Option<bool>,
    pub lint_open_documents: Option<bool>,
    pub lint_delay_ms: Option<u64>,
    pub shellcheck: Option<ShellcheckMode>,
}

/// The resolved `safety:` settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SafetyConfig {
    /// Check generated shell code before it is inserted (or printed by `generate`).
    pub check_generated: bool,
    /// When generated code fails `bash -n`, ask the next larger model once more.
    pub retry_on_syntax_error: bool,
    /// Show the check's findings as diagnostics on open shell documents.
    pub lint_open_documents: bool,
    /// How long after the last change an open document is linted (typing goes on).
    pub lint_delay_ms: u64,
    pub shellcheck: ShellcheckMode,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            check_generated: true,
            retry_on_syntax_error: true,
            lint_open_documents: true,
            lint_delay_ms: 300,
            shellcheck: ShellcheckMode::Auto,
        }
    }
}

impl SafetyConfig {
    pub fn apply(&mut self, file: FileSafety) {
        let set = |slot: &mut bool, v: Option<bool>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut self.check_generated, file.check_generated);
        set(&mut self.retry_on_syntax_error, file.retry_on_syntax_error);
        set(&mut self.lint_open_documents, file.lint_open_documents);
        if let Some(ms) = file.lint_delay_ms {
            self.lint_delay_ms = ms;
        }
        if let Some(s) = file.shellcheck {
            self.shellcheck = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shellcheck_accepts_auto_and_booleans() {
        let parse = |v: serde_json::Value| serde_json::from_value::<ShellcheckMode>(v);
        assert_eq!(parse(serde_json::json!("auto")).unwrap(), ShellcheckMode::Auto);
        assert_eq!(parse(serde_json::json!(true)).unwrap(), ShellcheckMode::On);
        assert_eq!(parse(serde_json::json!(false)).unwrap(), ShellcheckMode::Off);
        assert!(parse(serde_json::json!("yes")).unwrap_err().to_string().contains("expected auto, true or false"));
        assert_eq!(serde_json::to_value(ShellcheckMode::Auto).unwrap(), "auto");
        let mut c = SafetyConfig::default();
        c.apply(FileSafety { lint_open_documents: Some(false), ..FileSafety::default() });
        assert!(!c.lint_open_documents && c.check_generated);
    }
}
