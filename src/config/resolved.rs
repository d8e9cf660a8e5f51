//! The resolved configuration: every field set, the defaults laid under the file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::*;
use crate::vocab::Language;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    pub language: Language,
    pub models: ModelsConfig,
    pub routing: RoutingConfig,
    pub backends: BTreeMap<String, BackendConfig>,
    pub vram: VramConfig,
    pub lsp: LspConfig,
    pub http: HttpConfig,
    /// The safety check of shell code (`crate::safety`).
    pub safety: crate::safety::SafetyConfig,
    /// How long answers may get.
    pub answers: AnswersConfig,
}

/// Bounds on answers, so a model that rambles or loops cannot fill the document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswersConfig {
    /// Tokens the model may generate per task (Ollama `num_predict`, OpenAI `max_tokens`);
    /// a tier's own `max_tokens` lowers it for that tier.
    pub max_tokens: MaxTokens,
    /// End the answer when the model repeats the same text over and over.
    pub stop_on_repetition: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaxTokens {
    pub ask: u32,
    pub explain: u32,
    pub generate: u32,
}

/// The HTTP API's settings (`serve-http`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpConfig {
    /// `IP:PORT`; `--listen` overrides. A non-loopback address needs a token.
    pub listen: String,
    /// Name of the environment variable holding the bearer token; the token itself never
    /// appears in a config file, and is never logged.
    pub token_env: Option<String>,
    /// Nobody can be asked over HTTP: what to do at a VRAM warning.
    pub on_vram_warning: OnVramWarning,
    /// Nobody can be asked over HTTP: what to do with an answer whose shell code the safety
    /// check finds dangerous.
    pub on_danger: OnDanger,
    /// Larger request bodies are answered with 413.
    pub max_body_bytes: usize,
    /// Model requests in flight at once; more are answered with 429.
    pub max_concurrent: usize,
    /// Open connections at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers (against slow-loris clients).
    pub header_read_timeout: u64,
    /// Seconds a client has to send a request's body; then 408.
    pub body_read_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnVramWarning {
    Fast,
    Cancel,
    Continue,
}

impl OnVramWarning {
    pub fn as_str(self) -> &'static str {
        match self {
            OnVramWarning::Fast => "fast",
            OnVramWarning::Cancel => "cancel",
            OnVramWarning::Continue => "continue",
        }
    }
}

/// What an answer that nobody can be asked about does when its shell code is dangerous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDanger {
    /// No code: an error (HTTP 422) with the findings.
    Refuse,
    /// The answer as it is, with the findings beside it.
    Report,
}

/// The language server's own settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LspConfig {
    /// What to do at a VRAM warning when the editor cannot show the question
    /// (`window/showMessageRequest` unsupported or unanswered in time).
    pub on_warning_without_dialog: WarningWithoutDialog,
    /// Seconds to wait for the editor's answer to any request the server sends it.
    pub request_timeout: u64,
    /// Explanations inserted as comments are wrapped to this many columns.
    pub comment_width: usize,
    /// Action titles end with the model that would answer.
    pub show_model_in_titles: bool,
    /// The `llm-router.infer` command cannot ask: what its answer does when its shell code
    /// is dangerous (the editor's own actions ask instead).
    pub on_danger: OnDanger,
    /// Messages from the editor larger than this are refused without being buffered.
    pub max_message_bytes: usize,
    /// Load the model a selection would go to while the user picks an action.
    pub preload: bool,
    /// Which edits the editor shows for review before they land.
    pub review: Review,
}

/// Which edits go to the editor's review (a change annotation with `needsConfirmation`, for
/// editors that support them; the others apply the edit and the message says how to undo).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Review {
    /// Edits that replace or delete the user's text (fixes); plain inserts land directly.
    Auto,
    /// Every edit, inserts too.
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningWithoutDialog {
    /// Offer "Continue with MODEL" / "Use fast model" as code actions on the same range.
    AskViaAction,
    Fast,
    Continue,
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelsConfig {
    pub routing_enabled: bool,
    pub vram_monitoring: bool,
    pub warning_threshold: f64,
    pub fallback_to_fast: bool,
    pub fast_model: TierConfig,
    pub code_model: TierConfig,
    pub heavy_model: TierConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierConfig {
    pub name: String,
    pub backend: String,
    /// Seconds to wait for the first token, and for each further piece of the answer.
    pub timeout: u64,
    pub idle_unload: Option<i64>,
    pub vram_usage: Option<VramSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_case: Option<String>,
    /// Heavy tier only: take over when the code model fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<bool>,
    /// A cap on tokens per answer for this tier, below `answers.max_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutingConfig {
    /// `intent` (the classifier, with keywords and shell syntax as evidence) or `keywords`
    /// (the spec's lists as triggers).
    pub mode: RoutingMode,
    /// In `intent` mode: the code probability from which a request goes to the code model.
    pub intent_threshold: f64,
    pub token_threshold: usize,
    pub heavy_token_threshold: usize,
    pub linux_keywords: Vec<String>,
    pub code_keywords: Vec<String>,
    pub extra_keywords: Vec<String>,
    pub code_languages: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    /// The intent classifier decides; the built-in keywords and shell syntax count as
    /// evidence, and keywords of the user's own always send a request to the code model.
    Intent,
    /// The spec's rule: any keyword (as a word) or shell syntax sends a request to the code
    /// model.
    Keywords,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackendConfig {
    /// Ollama's native API (`/api/chat`, `/api/ps`, ...).
    Ollama {
        url: String,
        /// Wait before the one retry after "server busy" (HTTP 503).
        #[serde(default = "default_busy_retry_ms")]
        busy_retry_ms: u64,
    },
    /// Any server with `/v1/chat/completions`: llama.cpp's llama-server, vLLM, LM Studio,
    /// LiteLLM, Ollama's `/v1`.
    Openai {
        /// Base URL, with or without the trailing `/v1`.
        url: String,
        /// Name of the environment variable that holds the API key. The key itself never
        /// appears in a config file, and is never logged.
        #[serde(default)]
        api_key_env: Option<String>,
        /// Ask for logprobs (for `confidence`); turn off for servers that reject the field.
        #[serde(default = "default_true")]
        logprobs: bool,
        #[serde(default = "default_busy_retry_ms")]
        busy_retry_ms: u64,
    },
}

pub(super) fn default_true() -> bool {
    true
}

pub(super) fn default_busy_retry_ms() -> u64 {
    1000
}

impl BackendConfig {
    pub fn url(&self) -> &str {
        match self {
            BackendConfig::Ollama { url, .. } | BackendConfig::Openai { url, .. } => url,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VramConfig {
    pub probe: ProbeConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProbeConfig {
    /// NVML, then AMD sysfs; no GPU means usage 0.0.
    Auto,
    Nvml,
    Amd {
        #[serde(default = "default_drm_root")]
        drm_root: PathBuf,
    },
    /// A command that prints `USED TOTAL` in MiB, one line per GPU.
    Command {
        command: Vec<String>,
    },
    None,
}

pub fn default_drm_root() -> PathBuf {
    PathBuf::from("/sys/class/drm")
}

/// Chosen on the development set (`route --eval data/routing/dev-en.tsv data/routing/dev-de.tsv`): see README, Routing.
pub const DEFAULT_INTENT_THRESHOLD: f64 = 0.4;
