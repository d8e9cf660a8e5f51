//! Configuration: the YAML schema, its defaults, the lookup order and error reporting.
//!
//! The file is parsed in two steps: serde-saphyr turns YAML into [`FileConfig`] (every
//! field optional, unknown keys rejected, budgets against hostile input), then
//! [`Config::resolve`] lays it over the defaults. Per-tier defaults differ (the fast model
//! times out after 30 s, the heavy one after 120 s), which is why the file schema and the
//! resolved config are separate types.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::vocab::{Language, ModelTier};

/// The commented default configuration, shipped as `config/default.yaml`.
pub const DEFAULT_YAML: &str = include_str!("../config/default.yaml");

/// Config files larger than this are refused before parsing.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

pub const DEFAULT_OLLAMA_PORT: u16 = 11434;
pub const DEFAULT_BACKEND: &str = "local";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: file is {size} bytes; config files are limited to {MAX_CONFIG_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse { path: PathBuf, line: u64, column: u64, message: String },
    #[error("{}: {key}: {message}", path.display())]
    Invalid { path: PathBuf, key: String, message: String },
}

/// The process environment, captured once so that lookups and defaults are pure functions
/// of it (and testable without mutating the environment).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub config_path: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub ollama_host: Option<String>,
    pub lang: Option<String>,
}

impl Environment {
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let lang =
            ["LC_ALL", "LC_MESSAGES", "LANG"].iter().find_map(|n| var(n)).map(|v| v.to_string_lossy().into_owned());
        Self {
            config_path: var("LLM_ROUTER_LSP_CONFIG").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            ollama_host: var("OLLAMA_HOST").map(|v| v.to_string_lossy().into_owned()),
            lang,
        }
    }
}

/// A model's expected VRAM footprint as written in the config: "7.9GB", "18-22GB", "512MiB".
/// A range is kept as written; predictions use its upper bound, erring towards a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct VramSize {
    pub text: String,
    pub low: u64,
    pub high: u64,
}

impl VramSize {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
        let (numbers, unit) = t.split_at(split);
        let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" | "k" => 1e3,
            "mb" | "m" => 1e6,
            "gb" | "g" => 1e9,
            "tb" | "t" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            other => return Err(format!("unknown unit `{other}` in `{t}` (expected e.g. 7.9GB, 18-22GB, 512MiB)")),
        };
        let parse_num = |s: &str| -> Result<u64, String> {
            let v: f64 =
                s.trim().parse().map_err(|_| format!("`{t}` is not a size (expected e.g. 7.9GB or 18-22GB)"))?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!("`{t}` is not a size"));
            }
            Ok((v * factor).round() as u64)
        };
        let (low, high) = match numbers.split_once('-') {
            Some((a, b)) => (parse_num(a)?, parse_num(b)?),
            None => {
                let v = parse_num(numbers)?;
                (v, v)
            }
        };
        if low > high {
            return Err(format!("`{t}`: range goes downwards"));
        }
        Ok(Self { text: t.to_string(), low, high })
    }
}

impl Serialize for VramSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for VramSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(b) => Ok(Self { text: b.to_string(), low: b, high: b }),
            Raw::Text(t) => Self::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The file schema: every field optional, unknown keys rejected.

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

// ---------------------------------------------------------------------------------------
// The resolved configuration.

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

fn default_true() -> bool {
    true
}

fn default_busy_retry_ms() -> u64 {
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

/// Chosen on the development set (`route --eval data/routing/dev.tsv`): see README, Routing.
pub const DEFAULT_INTENT_THRESHOLD: f64 = 0.4;

/// The keyword lists that ship with the server. In `intent` mode these are evidence;
/// any other keyword in the config is the user's own and forces the code tier.
pub fn builtin_keywords() -> impl Iterator<Item = &'static str> {
    [SPEC_LINUX_KEYWORDS, GERMAN_LINUX_KEYWORDS, SPEC_CODE_KEYWORDS, GERMAN_CODE_KEYWORDS]
        .into_iter()
        .flatten()
        .copied()
}

pub const SPEC_LINUX_KEYWORDS: &[&str] = &[
    "befehl",
    "command",
    "script",
    "bash",
    "shell",
    "systemctl",
    "grep",
    "awk",
    "sed",
    "find",
    "chmod",
    "chown",
    "mount",
    "df",
    "ps",
    "top",
    "htop",
    "ssh",
    "rsync",
    "tar",
    "zip",
    "cron",
    "service",
    "docker",
];
/// German words the spec's list lacks.
const GERMAN_LINUX_KEYWORDS: &[&str] = &["skript", "kommando", "terminal", "konsole"];
pub const SPEC_CODE_KEYWORDS: &[&str] = &[
    "programmiere",
    "code",
    "function",
    "class",
    "debug",
    "error",
    "exception",
    "syntax",
    "python",
    "javascript",
    "compile",
    "build",
    "test",
    "git",
    "repository",
];
const GERMAN_CODE_KEYWORDS: &[&str] = &["funktion", "fehler"];

/// `languageId`s whose documents hold code or shell: selected text there goes to the code model.
pub const CODE_LANGUAGES: &[&str] = &[
    "shellscript",
    "sh",
    "bash",
    "zsh",
    "fish",
    "powershell",
    "dockerfile",
    "makefile",
    "python",
    "rust",
    "go",
    "c",
    "cpp",
    "java",
    "javascript",
    "typescript",
    "javascriptreact",
    "typescriptreact",
    "lua",
    "ruby",
    "perl",
    "php",
    "sql",
    "haskell",
    "kotlin",
    "swift",
    "csharp",
    "scala",
];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Turns `OLLAMA_HOST` ("0.0.0.0", "host:port", ":11434", "http://host") into a URL a
/// client can connect to.
pub fn ollama_url_from_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    let (scheme, rest) = match host.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("http", host),
    };
    let (h, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => {
            (h.to_string(), p.to_string())
        }
        _ => (rest.to_string(), DEFAULT_OLLAMA_PORT.to_string()),
    };
    // A server bound to every interface is reached over loopback.
    let h = match h.as_str() {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "[::]" => "[::1]".to_string(),
        _ => h,
    };
    format!("{scheme}://{h}:{port}")
}

impl Config {
    /// Built-in defaults for this environment (`OLLAMA_HOST`, `LANG`).
    pub fn defaults(env: &Environment) -> Self {
        let url = env
            .ollama_host
            .as_deref()
            .map(ollama_url_from_host)
            .unwrap_or_else(|| format!("http://127.0.0.1:{DEFAULT_OLLAMA_PORT}"));
        let tier = |name: &str, timeout, idle, vram: &str, use_case: &str| TierConfig {
            name: name.to_string(),
            backend: DEFAULT_BACKEND.to_string(),
            timeout,
            idle_unload: idle,
            vram_usage: Some(VramSize::parse(vram).expect("built-in size parses")),
            use_case: Some(use_case.to_string()),
            fallback: None,
            max_tokens: None,
        };
        let mut heavy = tier("llama3.1:70b", 120, Some(300), "42GB", "Extreme complexity fallback");
        heavy.fallback = Some(true);
        Config {
            language: Language::from_locale(env.lang.as_deref()),
            models: ModelsConfig {
                routing_enabled: true,
                vram_monitoring: true,
                warning_threshold: 0.8,
                fallback_to_fast: true,
                fast_model: tier("llama3.2:11b-vision", 30, None, "7.9GB", "General queries, quick responses"),
                code_model: tier(
                    "qwen3-coder:30b-q4",
                    60,
                    Some(600),
                    "18-22GB",
                    "Linux commands, shell scripts, code generation",
                ),
                heavy_model: heavy,
            },
            routing: RoutingConfig {
                mode: RoutingMode::Intent,
                intent_threshold: DEFAULT_INTENT_THRESHOLD,
                token_threshold: 500,
                heavy_token_threshold: 4000,
                linux_keywords: [SPEC_LINUX_KEYWORDS, GERMAN_LINUX_KEYWORDS]
                    .concat()
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                code_keywords: [SPEC_CODE_KEYWORDS, GERMAN_CODE_KEYWORDS]
                    .concat()
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                extra_keywords: Vec::new(),
                code_languages: strings(CODE_LANGUAGES),
            },
            backends: BTreeMap::from([(
                DEFAULT_BACKEND.to_string(),
                BackendConfig::Ollama { url, busy_retry_ms: default_busy_retry_ms() },
            )]),
            vram: VramConfig { probe: ProbeConfig::Auto },
            lsp: LspConfig {
                on_warning_without_dialog: WarningWithoutDialog::AskViaAction,
                request_timeout: 60,
                comment_width: 80,
                show_model_in_titles: true,
                on_danger: OnDanger::Refuse,
                max_message_bytes: 64 * 1024 * 1024,
                preload: true,
            },
            http: HttpConfig {
                listen: "127.0.0.1:8765".to_string(),
                token_env: None,
                on_vram_warning: OnVramWarning::Fast,
                on_danger: OnDanger::Refuse,
                max_body_bytes: 1024 * 1024,
                max_concurrent: 4,
                max_connections: 64,
                header_read_timeout: 5,
                body_read_timeout: 10,
            },
            safety: crate::safety::SafetyConfig::default(),
            // An explanation is a few comment lines; a script may be long.
            answers: AnswersConfig {
                max_tokens: MaxTokens { ask: 1024, explain: 512, generate: 4096 },
                stop_on_repetition: true,
            },
        }
    }

    /// The token bound for `task` on `tier`: the task's, lowered by the tier's own cap.
    pub fn max_tokens(&self, task: crate::vocab::Task, tier: ModelTier) -> u32 {
        use crate::vocab::Task;
        let m = &self.answers.max_tokens;
        let per_task = match task {
            Task::Ask => m.ask,
            Task::Explain => m.explain,
            Task::Generate => m.generate,
        };
        self.tier(tier).max_tokens.map_or(per_task, |cap| cap.min(per_task))
    }

    pub fn tier(&self, tier: ModelTier) -> &TierConfig {
        match tier {
            ModelTier::Fast => &self.models.fast_model,
            ModelTier::Code => &self.models.code_model,
            ModelTier::Heavy => &self.models.heavy_model,
        }
    }

    /// Lays a parsed file over `self` and validates the result. `path` names the source
    /// in error messages.
    pub fn apply(mut self, file: FileConfig, path: &Path) -> Result<Self, ConfigError> {
        if let Some(l) = file.language {
            self.language = l;
        }
        if let Some(m) = file.models {
            let c = &mut self.models;
            set(&mut c.routing_enabled, m.routing_enabled);
            set(&mut c.vram_monitoring, m.vram_monitoring);
            set(&mut c.warning_threshold, m.warning_threshold);
            set(&mut c.fallback_to_fast, m.fallback_to_fast);
            for (tier, file_tier) in [
                (&mut c.fast_model, m.fast_model),
                (&mut c.code_model, m.code_model),
                (&mut c.heavy_model, m.heavy_model),
            ] {
                if let Some(t) = file_tier {
                    set(&mut tier.name, t.name);
                    set(&mut tier.backend, t.backend);
                    set(&mut tier.timeout, t.timeout);
                    set(&mut tier.idle_unload, t.idle_unload);
                    if t.vram_usage.is_some() {
                        tier.vram_usage = t.vram_usage;
                    }
                    if t.use_case.is_some() {
                        tier.use_case = t.use_case;
                    }
                    if t.fallback.is_some() {
                        tier.fallback = t.fallback;
                    }
                    if t.max_tokens.is_some() {
                        tier.max_tokens = t.max_tokens;
                    }
                }
            }
        }
        if let Some(r) = file.routing {
            let c = &mut self.routing;
            set(&mut c.mode, r.mode);
            set(&mut c.intent_threshold, r.intent_threshold);
            set(&mut c.token_threshold, r.token_threshold);
            set(&mut c.heavy_token_threshold, r.heavy_token_threshold);
            set(&mut c.linux_keywords, r.linux_keywords);
            set(&mut c.code_keywords, r.code_keywords);
            set(&mut c.extra_keywords, r.extra_keywords);
            set(&mut c.code_languages, r.code_languages);
        }
        if let Some(b) = file.backends {
            self.backends.extend(b);
        }
        if let Some(v) = file.vram {
            set(&mut self.vram.probe, v.probe);
        }
        if let Some(l) = file.lsp {
            let c = &mut self.lsp;
            set(&mut c.on_warning_without_dialog, l.on_warning_without_dialog);
            set(&mut c.request_timeout, l.request_timeout);
            set(&mut c.comment_width, l.comment_width);
            set(&mut c.show_model_in_titles, l.show_model_in_titles);
            set(&mut c.on_danger, l.on_danger);
            set(&mut c.max_message_bytes, l.max_message_bytes);
            set(&mut c.preload, l.preload);
        }
        if let Some(h) = file.http {
            let c = &mut self.http;
            set(&mut c.listen, h.listen);
            if h.token_env.is_some() {
                c.token_env = h.token_env;
            }
            set(&mut c.on_vram_warning, h.on_vram_warning);
            set(&mut c.on_danger, h.on_danger);
            set(&mut c.max_body_bytes, h.max_body_bytes);
            set(&mut c.max_concurrent, h.max_concurrent);
            set(&mut c.max_connections, h.max_connections);
            set(&mut c.header_read_timeout, h.header_read_timeout);
            set(&mut c.body_read_timeout, h.body_read_timeout);
        }
        if let Some(s) = file.safety {
            self.safety.apply(s);
        }
        if let Some(a) = file.answers {
            set(&mut self.answers.stop_on_repetition, a.stop_on_repetition);
            if let Some(m) = a.max_tokens {
                set(&mut self.answers.max_tokens.ask, m.ask);
                set(&mut self.answers.max_tokens.explain, m.explain);
                set(&mut self.answers.max_tokens.generate, m.generate);
            }
        }
        self.validate(path)?;
        Ok(self)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let t = self.models.warning_threshold;
        if !(t > 0.0 && t <= 1.0) {
            return Err(invalid(
                "models.warning_threshold",
                format!("expected a fraction between 0 and 1 (0.8 means 80 %), found {t}"),
            ));
        }
        for (key, tier) in [
            ("models.fast_model", &self.models.fast_model),
            ("models.code_model", &self.models.code_model),
            ("models.heavy_model", &self.models.heavy_model),
        ] {
            if tier.name.trim().is_empty() {
                return Err(invalid(&format!("{key}.name"), "expected a model name".into()));
            }
            if tier.timeout == 0 {
                return Err(invalid(&format!("{key}.timeout"), "expected seconds, at least 1".into()));
            }
            if !self.backends.contains_key(&tier.backend) {
                let known: Vec<_> = self.backends.keys().map(String::as_str).collect();
                return Err(invalid(
                    &format!("{key}.backend"),
                    format!("no backend named `{}` (defined: {})", tier.backend, known.join(", ")),
                ));
            }
            if tier.fallback.is_some() && key != "models.heavy_model" {
                return Err(invalid(
                    &format!("{key}.fallback"),
                    "only heavy_model has `fallback` (it takes over when the code model fails)".into(),
                ));
            }
        }
        if !(self.routing.intent_threshold > 0.0 && self.routing.intent_threshold < 1.0) {
            return Err(invalid(
                "routing.intent_threshold",
                format!("expected a probability between 0 and 1 (exclusive), found {}", self.routing.intent_threshold),
            ));
        }
        if self.routing.heavy_token_threshold <= self.routing.token_threshold {
            return Err(invalid(
                "routing.heavy_token_threshold",
                format!("expected more than routing.token_threshold ({})", self.routing.token_threshold),
            ));
        }
        for (name, backend) in &self.backends {
            let url = backend.url();
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return Err(invalid(
                        &format!("backends.{name}.url"),
                        format!("expected an http:// or https:// URL, found `{url}`"),
                    ));
                }
            }
        }
        if let ProbeConfig::Command { command } = &self.vram.probe
            && (command.is_empty() || command[0].trim().is_empty())
        {
            return Err(invalid(
                    "vram.probe.command",
                    "expected a program and its arguments, e.g. [nvidia-smi, --query-gpu=memory.used,memory.total, --format=csv,noheader,nounits]".into(),
                ));
        }
        if self.lsp.request_timeout == 0 {
            return Err(invalid("lsp.request_timeout", "expected seconds, at least 1".into()));
        }
        if self.lsp.comment_width < 20 {
            return Err(invalid("lsp.comment_width", "expected at least 20 columns".into()));
        }
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "http.listen",
                format!("expected IP:PORT such as 127.0.0.1:8765, found `{}`", self.http.listen),
            ));
        }
        if self.http.token_env.as_deref().is_some_and(|v| v.trim().is_empty() || v.contains(['=', '\0'])) {
            return Err(invalid("http.token_env", "expected the name of an environment variable".into()));
        }
        for (key, value) in [
            ("answers.max_tokens.ask", u64::from(self.answers.max_tokens.ask)),
            ("answers.max_tokens.explain", u64::from(self.answers.max_tokens.explain)),
            ("answers.max_tokens.generate", u64::from(self.answers.max_tokens.generate)),
            ("http.max_connections", self.http.max_connections as u64),
            ("http.header_read_timeout", self.http.header_read_timeout),
            ("http.body_read_timeout", self.http.body_read_timeout),
        ] {
            if value == 0 {
                return Err(invalid(key, "expected at least 1".into()));
            }
        }
        if self.http.max_body_bytes == 0 {
            return Err(invalid("http.max_body_bytes", "expected bytes, at least 1".into()));
        }
        if self.http.max_concurrent == 0 {
            return Err(invalid("http.max_concurrent", "expected at least 1".into()));
        }
        Ok(())
    }

    /// YAML of the effective configuration, for `config show`.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn parse_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    // A config file is small and flat; anything far beyond these is an attack or a mistake.
    if let Some(b) = options.budget.as_mut() {
        b.max_depth = 32;
        b.max_nodes = 50_000;
        b.max_aliases = 1_000;
        b.max_anchors = 1_000;
        b.max_documents = 1;
        b.max_total_scalar_bytes = MAX_CONFIG_BYTES as usize;
    }
    options
}

/// Parses YAML text into the file schema; errors carry `path:line:column`.
pub fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    // An empty file (or one of comments only) means "all defaults".
    if text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    }) {
        return Ok(FileConfig::default());
    }
    serde_saphyr::from_str_with_options::<FileConfig>(text, parse_options()).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        ConfigError::Parse { path: path.to_path_buf(), line, column, message: clean_message(&e.to_string()) }
    })
}

/// serde-saphyr prefixes its own location; ours comes first, so drop theirs.
fn clean_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let mut msg = first;
    for prefix in ["error: ", "Error: "] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            msg = rest;
        }
    }
    if let Some(idx) = msg.find(" at line ") {
        msg = &msg[..idx];
    }
    msg.trim_end_matches(':').trim().to_string()
}

/// Where the effective configuration came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    File(PathBuf),
    Defaults,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Defaults => f.write_str("built-in defaults"),
        }
    }
}

/// The config file to read: `--config`, then `$LLM_ROUTER_LSP_CONFIG`, then the XDG path if
/// it exists. `None` means built-in defaults. An explicitly named file must exist.
pub fn locate(explicit: Option<&Path>, env: &Environment) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit {
        return Some((p.to_path_buf(), true));
    }
    if let Some(p) = &env.config_path {
        return Some((p.clone(), true));
    }
    let base = env.xdg_config_home.clone().or_else(|| env.home.as_ref().map(|h| h.join(".config")))?;
    let p = base.join("llm-router-lsp").join("config.yaml");
    p.is_file().then_some((p, false))
}

/// Reads and resolves the configuration following the lookup order.
pub fn load(explicit: Option<&Path>, env: &Environment) -> Result<(Config, ConfigSource), ConfigError> {
    match locate(explicit, env) {
        None => Ok((Config::defaults(env), ConfigSource::Defaults)),
        Some((path, _)) => {
            let config = load_file(&path, env)?;
            Ok((config, ConfigSource::File(path)))
        }
    }
}

pub fn load_file(path: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let read_err = |source| ConfigError::Read { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge { path: path.to_path_buf(), size: meta.len() });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    load_str(&text, path, env)
}

pub fn load_str(text: &str, path: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let file = parse_file(text, path)?;
    Config::defaults(env).apply(file, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::default()
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        load_str(text, Path::new("test.yaml"), &env())
    }

    #[test]
    fn spec_module_a_loads_unchanged() {
        let text = include_str!("../config/module_a.yaml");
        let c = load(text).expect("spec config loads");
        assert_eq!(c.models.fast_model.name, "llama3.2:11b-vision");
        assert_eq!(c.models.fast_model.timeout, 30);
        assert_eq!(c.models.code_model.idle_unload, Some(600));
        assert_eq!(c.models.heavy_model.timeout, 120);
        assert_eq!(c.models.heavy_model.idle_unload, Some(300));
        assert_eq!(c.models.warning_threshold, 0.8);
        // Everything the spec file does not mention keeps its default.
        assert_eq!(c, Config::defaults(&env()));
    }

    #[test]
    fn default_yaml_equals_builtin_defaults() {
        let c = load(DEFAULT_YAML).expect("default.yaml loads");
        assert_eq!(c, Config::defaults(&env()));
    }

    #[test]
    fn spec_defaults() {
        let c = Config::defaults(&env());
        let m = &c.models;
        assert!(m.routing_enabled && m.vram_monitoring && m.fallback_to_fast);
        assert_eq!(
            (m.fast_model.name.as_str(), m.fast_model.timeout, m.fast_model.idle_unload),
            ("llama3.2:11b-vision", 30, None)
        );
        assert_eq!(
            (m.code_model.name.as_str(), m.code_model.timeout, m.code_model.idle_unload),
            ("qwen3-coder:30b-q4", 60, Some(600))
        );
        assert_eq!(
            (m.heavy_model.name.as_str(), m.heavy_model.timeout, m.heavy_model.idle_unload),
            ("llama3.1:70b", 120, Some(300))
        );
        assert_eq!(m.code_model.vram_usage.as_ref().unwrap().high, 22_000_000_000);
        assert_eq!(m.fast_model.vram_usage.as_ref().unwrap().high, 7_900_000_000);
        assert_eq!(c.routing.token_threshold, 500);
    }

    #[test]
    fn vram_sizes() {
        let check = |text: &str, expected: Option<(u64, u64)>| {
            let got = VramSize::parse(text).ok().map(|s| (s.low, s.high));
            assert_eq!(got, expected, "{text}");
        };
        check("7.9GB", Some((7_900_000_000, 7_900_000_000)));
        check("18-22GB", Some((18_000_000_000, 22_000_000_000)));
        check("42GB", Some((42_000_000_000, 42_000_000_000)));
        check("512MiB", Some((536_870_912, 536_870_912)));
        check(" 8 GiB ", Some((8_589_934_592, 8_589_934_592)));
        check("22-18GB", None);
        check("lots", None);
        check("5XB", None);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let check = |text: &str, expected_prefix: &str, expected_words: &[&str]| {
            let err = load(text).unwrap_err().to_string();
            assert!(err.starts_with(expected_prefix), "{err:?} should start with {expected_prefix:?}");
            for w in expected_words {
                assert!(err.contains(w), "{err:?} should mention {w:?}");
            }
        };
        check("models:\n  fast_model:\n    nmae: x\n", "test.yaml:3:5: ", &["nmae"]);
        check("models:\n  warning_threshold: lots\n", "test.yaml:2:22: ", &[]);
        check("colour: blue\n", "test.yaml:1:1: ", &["colour"]);
        check("models: [1, 2\n", "test.yaml:", &[]);
        check("backends:\n  gpu:\n    kind: ollam\n    url: http://x\n", "test.yaml:", &["ollam"]);
        check("vram:\n  probe:\n    kind: command\n    comand: [x]\n", "test.yaml:", &["comand"]);
    }

    #[test]
    fn validation_names_the_key() {
        let check = |text: &str, expected: &str| {
            let err = load(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} should contain {expected:?}");
        };
        check("models:\n  warning_threshold: 80\n", "models.warning_threshold");
        check("models:\n  code_model:\n    backend: gpu\n", "no backend named `gpu`");
        check("models:\n  fast_model:\n    fallback: true\n", "models.fast_model.fallback");
        check("backends:\n  local:\n    kind: ollama\n    url: localhost\n", "backends.local.url");
        check("vram:\n  probe:\n    kind: command\n    command: []\n", "vram.probe.command");
        check("routing:\n  heavy_token_threshold: 100\n", "routing.heavy_token_threshold");
        check("http:\n  listen: localhost\n", "http.listen");
        check("http:\n  max_concurrent: 0\n", "http.max_concurrent");
        check("http:\n  max_body_bytes: 0\n", "http.max_body_bytes");
        check("http:\n  token_env: \"\"\n", "http.token_env");
    }

    #[test]
    fn tiers_keep_their_own_defaults() {
        let c = load("models:\n  code_model:\n    name: my-coder\n").unwrap();
        assert_eq!(c.models.code_model.name, "my-coder");
        assert_eq!(c.models.code_model.timeout, 60);
        assert_eq!(c.models.code_model.idle_unload, Some(600));
        let c = load("models:\n  code_model:\n    idle_unload: null\n").unwrap();
        assert_eq!(c.models.code_model.idle_unload, None);
    }

    #[test]
    fn per_tier_backends() {
        let c = load(
            "backends:\n  gpu-box:\n    kind: ollama\n    url: http://10.0.0.5:11434\nmodels:\n  heavy_model:\n    backend: gpu-box\n",
        )
        .unwrap();
        assert_eq!(c.models.heavy_model.backend, "gpu-box");
        assert_eq!(c.models.fast_model.backend, "local");
        assert!(c.backends.contains_key("local"));
    }

    #[test]
    fn openai_backends() {
        let c = load(
            "backends:\n  vllm:\n    kind: openai\n    url: http://10.0.0.5:8000/v1\n    api_key_env: VLLM_KEY\nmodels:\n  heavy_model:\n    backend: vllm\n",
        )
        .unwrap();
        assert_eq!(
            c.backends["vllm"],
            BackendConfig::Openai {
                url: "http://10.0.0.5:8000/v1".into(),
                api_key_env: Some("VLLM_KEY".into()),
                logprobs: true,
                busy_retry_ms: 1000
            }
        );
        // A key in the file is an unknown field, not a secret we keep.
        let err = load("backends:\n  vllm:\n    kind: openai\n    url: http://x\n    api_key: sk-123\n").unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
    }

    #[test]
    fn ollama_host_forms() {
        let check = |host: &str, expected: &str| assert_eq!(ollama_url_from_host(host), expected, "{host}");
        check("0.0.0.0", "http://127.0.0.1:11434");
        check("127.0.0.1:9999", "http://127.0.0.1:9999");
        check(":11500", "http://127.0.0.1:11500");
        check("http://gpu-box:8080/", "http://gpu-box:8080");
        check("https://ollama.example", "https://ollama.example:11434");
        check("gpu-box", "http://gpu-box:11434");
    }

    #[test]
    fn ollama_host_sets_default_backend_and_lang_sets_language() {
        let env = Environment {
            ollama_host: Some("127.0.0.1:5000".into()),
            lang: Some("de_DE.UTF-8".into()),
            ..Environment::default()
        };
        let c = Config::defaults(&env);
        assert_eq!(c.backends["local"].url(), "http://127.0.0.1:5000");
        assert_eq!(c.language, Language::De);
    }

    #[test]
    fn lookup_order() {
        let dir = tempfile::tempdir().unwrap();
        let xdg = dir.path().join("xdg");
        std::fs::create_dir_all(xdg.join("llm-router-lsp")).unwrap();
        let xdg_file = xdg.join("llm-router-lsp/config.yaml");
        let mut env = Environment { xdg_config_home: Some(xdg.clone()), ..Environment::default() };
        assert_eq!(locate(None, &env), None, "no file: defaults");
        std::fs::write(&xdg_file, "language: de\n").unwrap();
        assert_eq!(locate(None, &env), Some((xdg_file.clone(), false)));
        env.config_path = Some(PathBuf::from("/env.yaml"));
        assert_eq!(locate(None, &env), Some((PathBuf::from("/env.yaml"), true)));
        assert_eq!(locate(Some(Path::new("/flag.yaml")), &env), Some((PathBuf::from("/flag.yaml"), true)));
        env.config_path = None;
        let (c, source) = super::load(None, &env).unwrap();
        assert_eq!(c.language, Language::De);
        assert_eq!(source, ConfigSource::File(xdg_file));
    }

    #[test]
    fn hostile_yaml_is_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(load(&bomb).is_err());
        let deep = format!("models: {}{}", "[".repeat(200), "]".repeat(200));
        assert!(load(&deep).is_err());
    }

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(load("# nothing\n\n").unwrap(), Config::defaults(&env()));
    }
}
