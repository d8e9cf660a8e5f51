//! Model servers behind one trait. Ollama's native API now; OpenAI-compatible servers plug
//! in the same way.

mod ollama;
mod openai;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

pub use ollama::{OllamaBackend, same_model};
pub use openai::OpenAiBackend;

use crate::config::BackendConfig;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: "system", content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: "user", content: content.into() }
    }
}

/// How long the server keeps a model loaded after a request (Ollama's `keep_alive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    Forever,
    Seconds(u64),
}

impl KeepAlive {
    /// From a tier's `idle_unload`: none or negative keeps the model loaded.
    pub fn from_idle_unload(idle_unload: Option<i64>) -> Self {
        match idle_unload {
            Some(s) if s >= 0 => KeepAlive::Seconds(s as u64),
            _ => KeepAlive::Forever,
        }
    }

    pub fn as_ollama(self) -> i64 {
        match self {
            KeepAlive::Forever => -1,
            KeepAlive::Seconds(s) => s as i64,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    /// Bounds the wait for the first piece of the answer and every silence after it.
    pub timeout: Duration,
    pub keep_alive: KeepAlive,
    /// Tokens the model may generate.
    pub max_tokens: Option<u32>,
    /// End the answer when it starts repeating itself.
    pub stop_on_repetition: bool,
}

pub use crate::vocab::Cut;

/// Whether the end of `text` is one piece of at least 8 bytes repeated 8 times or more
/// (a model stuck in a loop). Shorter periods are left alone: tables, rulers and
/// indentation repeat legitimately.
pub fn repeating(text: &str) -> bool {
    const MIN_PERIOD: usize = 8;
    const MAX_PERIOD: usize = 256;
    const REPEATS: usize = 8;
    let b = text.as_bytes();
    // The shortest period that fits decides: "-----" repeats with every period, but its
    // own is 1.
    for period in 1..=MAX_PERIOD {
        let span = period * REPEATS;
        if span > b.len() {
            break;
        }
        let tail = &b[b.len() - span..];
        if tail[period..].iter().zip(tail).all(|(x, y)| x == y) {
            return period >= MIN_PERIOD;
        }
    }
    false
}

/// A proxy's or another server's HTML page where an API answer was expected: the error
/// that says so, naming the API that was expected.
pub(crate) fn web_page_error(response: &reqwest::Response, address: &str, api: &str) -> Option<BackendError> {
    let html = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"));
    html.then(|| BackendError::Http {
        address: address.to_string(),
        status: response.status().as_u16(),
        message: format!("answered with a web page, not {api}: check the backend's url"),
    })
}

/// A read error in the middle of an answer: bytes that are not UTF-8 are a malformed
/// answer; anything else is a lost connection.
pub(crate) fn read_error(model: &str, address: &str, error: std::io::Error) -> BackendError {
    if error.kind() == std::io::ErrorKind::InvalidData {
        BackendError::Malformed { model: model.to_string(), line: "(a line that is not UTF-8)".into() }
    } else {
        BackendError::Disconnected { model: model.to_string(), address: address.to_string(), source: Box::new(error) }
    }
}

/// Calls [`repeating`] every so often, not on every piece.
#[derive(Debug, Default)]
pub struct RepetitionGuard {
    checked_at: usize,
}

impl RepetitionGuard {
    pub fn stuck(&mut self, text: &str) -> bool {
        if text.len() < self.checked_at + 64 {
            return false;
        }
        self.checked_at = text.len();
        repeating(text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub text: String,
    /// Set when the answer was ended early.
    pub cut: Option<Cut>,
    /// `exp(mean token logprob)` when the server returned logprobs; never made up.
    pub confidence: Option<f64>,
    pub eval_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadedModel {
    pub name: String,
    pub size_bytes: u64,
    pub vram_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvailableModel {
    pub name: String,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PullProgress {
    pub status: String,
    pub total: Option<u64>,
    pub completed: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    FirstToken,
    Silence,
}

/// Which kind of server a backend talks to. A failure is one variant whatever the kind; the
/// kind only changes what the user is told to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Ollama,
    OpenAiCompatible,
}

impl BackendKind {
    fn server(self) -> &'static str {
        match self {
            BackendKind::Ollama => "Ollama",
            BackendKind::OpenAiCompatible => "the OpenAI-compatible server",
        }
    }

    fn start_hint(self) -> &'static str {
        match self {
            BackendKind::Ollama => "start it with `ollama serve` (or set OLLAMA_HOST / the backend's url)",
            BackendKind::OpenAiCompatible => "is it running? (check the backend's url)",
        }
    }

    // The sentences predate the merged variant; scripts and users match on them, so each kind
    // keeps its own.
    fn model_not_found(self, model: &str, address: &str) -> String {
        match self {
            BackendKind::Ollama => format!(
                "model {model} is not available at {address}: run `ollama pull {model}` or `llm-router-lsp pull`"
            ),
            BackendKind::OpenAiCompatible => {
                format!("the server at {address} has no model {model}: check the tier's `name` against its /v1/models")
            }
        }
    }
}

/// What a backend cannot do at all, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Pull,
    Unload,
}

/// Backend failures, one variant per failure, each with what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot reach {} at {address}: {}", kind.server(), kind.start_hint())]
    Unreachable {
        kind: BackendKind,
        address: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{}", kind.model_not_found(model, address))]
    ModelNotFound { kind: BackendKind, model: String, address: String },
    #[error("{address} is busy (its request queue is full); try again in a moment")]
    Busy { address: String },
    #[error("{model} did not start answering within {} s (timeout of its tier)", .after.as_secs())]
    FirstTokenTimeout { model: String, after: Duration },
    #[error("{model} stalled: no output for {} s", .after.as_secs())]
    Stalled { model: String, after: Duration },
    #[error("{model} reported an error: {message}")]
    StreamError { model: String, message: String },
    #[error("{model} sent a malformed line: {line:?}")]
    Malformed { model: String, line: String },
    #[error("connection to {address} was lost while {model} was answering")]
    Disconnected {
        model: String,
        address: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{address} answered HTTP {status}: {message}")]
    Http { address: String, status: u16, message: String },
    #[error("{address} refused the request (HTTP {status}): {hint}")]
    Unauthorized { address: String, status: u16, hint: String },
    #[error("the API key in the environment variable {variable} cannot be sent: it contains a control character")]
    UnsendableApiKey { variable: String },
    #[error("{address} cannot {} {model}: {}", operation.verb(), operation.hint())]
    NotSupported { operation: Operation, model: String, address: String },
}

impl Operation {
    fn verb(self) -> &'static str {
        match self {
            Operation::Pull => "pull",
            Operation::Unload => "unload",
        }
    }

    // Only OpenAI-compatible servers lack these today, so the hint speaks of them.
    fn hint(self) -> &'static str {
        match self {
            Operation::Pull => "load it in that server (OpenAI-compatible servers have no pull)",
            Operation::Unload => "OpenAI-compatible servers manage their own memory",
        }
    }
}

impl BackendError {
    /// The model cannot be used at all (not pulled, server down): the fast model may stand in.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BackendError::Unreachable { .. } | BackendError::ModelNotFound { .. })
    }
}

#[async_trait]
pub trait Backend: Send + Sync {
    /// The base URL, for messages and the VRAM locality check.
    fn address(&self) -> &str;
    /// Streams the answer; `on_text` sees each piece as it arrives. Dropping the future
    /// closes the connection, which is how the server learns of a cancel.
    async fn chat(
        &self,
        request: &ChatRequest,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<ChatResponse, BackendError>;
    async fn version(&self) -> Result<String, BackendError>;
    async fn loaded_models(&self) -> Result<Vec<LoadedModel>, BackendError>;
    async fn available_models(&self) -> Result<Vec<AvailableModel>, BackendError>;
    async fn unload(&self, model: &str) -> Result<(), BackendError>;
    /// Loads `model` without asking anything, so a request soon after finds it warm.
    /// `Ok(false)`: this kind of server has no load call (OpenAI-compatible ones).
    async fn load(&self, _model: &str, _keep_alive: KeepAlive) -> Result<bool, BackendError> {
        Ok(false)
    }
    async fn pull(
        &self,
        model: &str,
        on_progress: &mut (dyn for<'p> FnMut(&'p PullProgress) + Send),
    ) -> Result<(), BackendError>;
}

/// The configured backends by name.
pub type Backends = BTreeMap<String, Arc<dyn Backend>>;

pub fn backends_from_config(configs: &BTreeMap<String, BackendConfig>) -> Backends {
    configs
        .iter()
        .map(|(name, c)| {
            let backend: Arc<dyn Backend> =
                match c {
                    BackendConfig::Ollama { url, busy_retry_ms } => {
                        Arc::new(OllamaBackend::new(url, Duration::from_millis(*busy_retry_ms)))
                    }
                    BackendConfig::Openai { url, api_key_env, logprobs, busy_retry_ms } => Arc::new(
                        OpenAiBackend::new(url, api_key_env.clone(), *logprobs, Duration::from_millis(*busy_retry_ms)),
                    ),
                };
            (name.clone(), backend)
        })
        .collect()
}

/// The next piece of a streamed answer within the tier's timeout. Before anything arrived
/// the timeout bounds the wait for the first token; after that, any silence.
pub(crate) async fn next_within<S>(
    stream: &mut S,
    timeout: Duration,
    received_any: bool,
    model: &str,
) -> Result<Option<S::Item>, BackendError>
where
    S: futures_util::Stream + Unpin,
{
    use futures_util::StreamExt;
    match tokio::time::timeout(timeout, stream.next()).await {
        Ok(next) => Ok(next),
        Err(_) if received_any => Err(BackendError::Stalled { model: model.to_string(), after: timeout }),
        Err(_) => Err(BackendError::FirstTokenTimeout { model: model.to_string(), after: timeout }),
    }
}

/// `exp(mean(logprobs))`: the geometric mean of token probabilities.
pub fn confidence_from_logprobs(logprobs: &[f64]) -> Option<f64> {
    if logprobs.is_empty() || logprobs.iter().any(|l| !l.is_finite()) {
        return None;
    }
    let mean = logprobs.iter().sum::<f64>() / logprobs.len() as f64;
    Some(mean.exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_is_a_long_piece_many_times() {
        for (text, expected) in [
            ("I will say this again. ".repeat(8), true),
            (format!("Here is the plan.\n{}", "step\tdo it now\n".repeat(9)), true),
            ("I will say this again. ".repeat(7), false),
            // Short periods repeat legitimately: rulers, tables, indentation.
            ("-".repeat(500), false),
            ("| 0 | 0 |\n".repeat(5), false),
            ("abc ".repeat(100), false),
            ("a normal answer that ends here.".into(), false),
        ] {
            assert_eq!(repeating(&text), expected, "{text:?}");
        }
    }

    #[test]
    fn keep_alive_per_tier() {
        let c = crate::config::Config::defaults(&crate::config::Environment::default());
        let check = |idle: Option<i64>, expected: i64| {
            assert_eq!(KeepAlive::from_idle_unload(idle).as_ollama(), expected, "{idle:?}");
        };
        check(c.models.fast_model.idle_unload, -1);
        check(c.models.code_model.idle_unload, 600);
        check(c.models.heavy_model.idle_unload, 300);
        check(Some(0), 0);
        check(Some(-5), -1);
    }

    #[test]
    fn confidence() {
        assert_eq!(confidence_from_logprobs(&[]), None);
        assert_eq!(confidence_from_logprobs(&[0.0, 0.0]), Some(1.0));
        let c = confidence_from_logprobs(&[-0.1, -0.3]).unwrap();
        assert!((c - (-0.2f64).exp()).abs() < 1e-12);
        assert_eq!(confidence_from_logprobs(&[f64::NEG_INFINITY]), None);
    }
}
