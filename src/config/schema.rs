//! The file schema: what a config file may say. Every field optional, unknown keys rejected.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::*;
use crate::vocab::Language;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub language: Option<Language>,
    pub models: Option<FileModels>,
    pub routing: Option<FileRouting>,
    pub backends: Option<BTreeMap<String, BackendConfig>>,
    pub vram: Option<FileVram>,
    pub lsp: Option<FileLsp>,
    pub http: Option<FileHttp>,
    pub safety: Option<crate::safety::FileSafety>,
    pub answers: Option<FileAnswers>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAnswers {
    pub max_tokens: Option<FileMaxTokens>,
    pub stop_on_repetition: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMaxTokens {
    pub ask: Option<u32>,
    pub explain: Option<u32>,
    pub generate: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHttp {
    pub listen: Option<String>,
    pub token_env: Option<String>,
    pub on_vram_warning: Option<OnVramWarning>,
    pub on_danger: Option<OnDanger>,
    pub max_body_bytes: Option<usize>,
    pub max_concurrent: Option<usize>,
    pub max_connections: Option<usize>,
    pub header_read_timeout: Option<u64>,
    pub body_read_timeout: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLsp {
    pub on_warning_without_dialog: Option<WarningWithoutDialog>,
    pub request_timeout: Option<u64>,
    pub comment_width: Option<usize>,
    pub show_model_in_titles: Option<bool>,
    pub on_danger: Option<OnDanger>,
    pub max_message_bytes: Option<usize>,
    pub preload: Option<bool>,
    pub review: Option<Review>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileModels {
    pub routing_enabled: Option<bool>,
    pub vram_monitoring: Option<bool>,
    pub warning_threshold: Option<f64>,
    pub fallback_to_fast: Option<bool>,
    pub fast_model: Option<FileTier>,
    pub code_model: Option<FileTier>,
    pub heavy_model: Option<FileTier>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTier {
    pub name: Option<String>,
    pub backend: Option<String>,
    pub timeout: Option<u64>,
    /// `null` keeps the model loaded; a number unloads it after that many idle seconds.
    #[serde(default, deserialize_with = "some_or_null")]
    pub idle_unload: Option<Option<i64>>,
    pub vram_usage: Option<VramSize>,
    pub use_case: Option<String>,
    pub fallback: Option<bool>,
    pub max_tokens: Option<u32>,
}

/// Tells "key absent" (outer None) from "key: null" (Some(None)).
fn some_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRouting {
    pub mode: Option<RoutingMode>,
    pub intent_threshold: Option<f64>,
    pub token_threshold: Option<usize>,
    pub heavy_token_threshold: Option<usize>,
    pub linux_keywords: Option<Vec<String>>,
    pub code_keywords: Option<Vec<String>>,
    pub extra_keywords: Option<Vec<String>>,
    pub code_languages: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileVram {
    pub probe: Option<ProbeConfig>,
}
