//! OpenAI-compatible servers: `/v1/chat/completions` streamed as Server-Sent Events, and
//! `/v1/models`. llama.cpp's llama-server, vLLM, LM Studio, LiteLLM and Ollama's `/v1` speak it.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::{
    AvailableModel, Backend, BackendError, BackendKind, ChatRequest, ChatResponse, LoadedModel, Operation,
    PullProgress, confidence_from_logprobs,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest line and longest event accepted from a server, as on the Ollama path: a server
/// that never ends a line or an event cannot grow the process.
const MAX_EVENT: usize = 4 * 1024 * 1024;

#[derive(Debug)]
enum SseError {
    TooLarge,
    Io(std::io::Error),
}

/// The `data` of each Server-Sent Event of a response body. Lines are read by tokio-util's
/// bounded `LinesCodec` (it scans each byte once) and the few SSE fields we need are parsed
/// here. This replaces eventsource-stream, which re-parsed its whole buffer on every chunk
/// (so a never-ending line kept a core busy and starved the timeout and cancel) and had no
/// size bound.
fn sse_events(response: reqwest::Response) -> impl futures_util::Stream<Item = Result<String, SseError>> {
    let reader = StreamReader::new(response.bytes_stream().map_err(std::io::Error::other));
    let lines = FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_EVENT));
    futures_util::stream::unfold((lines, false), |(mut lines, ended)| async move {
        if ended {
            return None;
        }
        let mut data = String::new();
        loop {
            match lines.next().await {
                None if data.is_empty() => return None,
                None => return Some((Ok(data), (lines, true))),
                Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                    return Some((Err(SseError::TooLarge), (lines, true)));
                }
                Some(Err(LinesCodecError::Io(e))) => return Some((Err(SseError::Io(e)), (lines, true))),
                Some(Ok(line)) => {
                    if line.is_empty() {
                        if data.is_empty() {
                            continue;
                        }
                        return Some((Ok(data), (lines, false)));
                    }
                    let (field, value) = match line.split_once(':') {
                        Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                        None => (line.as_str(), ""),
                    };
                    // `event`, `id`, `retry` and comments (`: ...`) carry nothing we use.
                    if field == "data" {
                        if data.len() + value.len() + 1 > MAX_EVENT {
                            return Some((Err(SseError::TooLarge), (lines, true)));
                        }
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(value);
                    }
                }
            }
        }
    })
}
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

pub struct OpenAiBackend {
    /// Base URL ending in `/v1`.
    base: String,
    client: reqwest::Client,
    api_key_env: Option<String>,
    logprobs: bool,
    busy_retry: Duration,
}

impl OpenAiBackend {
    pub fn new(url: &str, api_key_env: Option<String>, logprobs: bool, busy_retry: Duration) -> Self {
        let trimmed = url.trim_end_matches('/');
        let base = if trimmed.ends_with("/v1") { trimmed.to_string() } else { format!("{trimmed}/v1") };
        let client = reqwest::Client::builder().no_proxy().connect_timeout(CONNECT_TIMEOUT).build().unwrap_or_default();
        Self { base, client, api_key_env, logprobs, busy_retry }
    }

    /// The key, read from the named variable at each request; never stored or logged. Spaces
    /// and line breaks around it (a key file saved with CRLF) are not part of it.
    fn api_key(&self) -> Option<String> {
        self.api_key_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok())
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
    }

    /// A request that could not be sent. reqwest refuses to build one whose key cannot be a
    /// header value; that is the key's fault, not the server's.
    fn send_error(&self, source: reqwest::Error) -> BackendError {
        match &self.api_key_env {
            Some(name) if source.is_builder() && self.api_key().is_some() => {
                BackendError::UnsendableApiKey { variable: name.clone() }
            }
            _ => BackendError::Unreachable { kind: BackendKind::OpenAiCompatible, address: self.base.clone(), source },
        }
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.api_key() {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    fn auth_hint(&self) -> String {
        match &self.api_key_env {
            Some(name) if self.api_key().is_none() => {
                format!("the API key is missing: set the environment variable {name}")
            }
            Some(name) => format!("the API key in the environment variable {name} was not accepted"),
            None => "the server wants an API key: name its environment variable in the backend's `api_key_env`".into(),
        }
    }

    async fn check_status(
        &self,
        response: reqwest::Response,
        model: Option<&str>,
    ) -> Result<reqwest::Response, BackendError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        let message = error_message(&body);
        let address = self.base.clone();
        Err(match (status.as_u16(), model) {
            (401 | 403, _) => BackendError::Unauthorized { address, status: status.as_u16(), hint: self.auth_hint() },
            (404, Some(m)) => {
                BackendError::ModelNotFound { kind: BackendKind::OpenAiCompatible, model: m.to_string(), address }
            }
            (429 | 503, _) => BackendError::Busy { address },
            (s, _) => BackendError::Http { address, status: s, message },
        })
    }

    async fn send_chat(&self, body: &serde_json::Value, model: &str) -> Result<reqwest::Response, BackendError> {
        let request = self.authorize(self.client.post(format!("{}/chat/completions", self.base)).json(body));
        let response = request.send().await.map_err(|source| self.send_error(source))?;
        self.check_status(response, Some(model)).await
    }
}

/// OpenAI's `{"error": {"message"}}`, llama.cpp's and vLLM's variants, or the raw text.
fn error_message(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    v["error"]["message"]
        .as_str()
        .or_else(|| v["error"].as_str())
        .or_else(|| v["message"].as_str())
        .or_else(|| v["detail"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| body.trim().chars().take(300).collect())
}

/// The `error` of an event: OpenAI's and vLLM's object, or TGI's plain string.
fn event_error_message(error: &serde_json::Value) -> String {
    error_message(&json!({ "error": error }).to_string())
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    logprobs: Option<ChoiceLogprobs>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceLogprobs {
    #[serde(default)]
    content: Option<Vec<TokenLogprob>>,
}

#[derive(Deserialize)]
struct TokenLogprob {
    logprob: f64,
}

#[async_trait]
impl Backend for OpenAiBackend {
    fn address(&self) -> &str {
        &self.base
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<ChatResponse, BackendError> {
        let model = request.model.as_str();
        let mut body = json!({"model": model, "messages": request.messages, "stream": true});
        if let Some(n) = request.max_tokens {
            body["max_tokens"] = json!(n);
        }
        if self.logprobs {
            body["logprobs"] = json!(true);
        }
        let first_token_timeout =
            || BackendError::FirstTokenTimeout { model: model.to_string(), after: request.timeout };
        let send = async {
            match self.send_chat(&body, model).await {
                Err(BackendError::Busy { .. }) => {
                    tokio::time::sleep(self.busy_retry).await;
                    self.send_chat(&body, model).await
                }
                other => other,
            }
        };
        let response = tokio::time::timeout(request.timeout, send).await.map_err(|_| first_token_timeout())??;
        if let Some(e) = super::web_page_error(&response, &self.base, "an OpenAI-compatible API") {
            return Err(e);
        }
        let mut events = Box::pin(sse_events(response));
        let mut text = String::new();
        let mut logprobs = Vec::new();
        let mut received_any = false;
        let mut finished = false;
        let mut cut = None;
        let mut guard = super::RepetitionGuard::default();
        loop {
            let next = super::next_within(&mut events, request.timeout, received_any, model).await?;
            let event = match next {
                Some(Ok(event)) => event,
                Some(Err(SseError::TooLarge)) => {
                    return Err(BackendError::Malformed {
                        model: model.to_string(),
                        line: format!("(an event or line over {MAX_EVENT} bytes)"),
                    });
                }
                Some(Err(SseError::Io(e))) => return Err(super::read_error(model, &self.base, e)),
                // Some servers end the stream after the finishing chunk without `[DONE]`.
                None if finished => break,
                None => {
                    return Err(BackendError::Disconnected {
                        model: model.to_string(),
                        address: self.base.clone(),
                        source: "the stream ended before `[DONE]`".into(),
                    });
                }
            };
            received_any = true;
            let data = event.trim();
            if data == "[DONE]" {
                break;
            }
            if data.is_empty() {
                continue;
            }
            let chunk: Chunk = serde_json::from_str(data).map_err(|_| BackendError::Malformed {
                model: model.to_string(),
                line: data.chars().take(200).collect(),
            })?;
            if let Some(error) = chunk.error {
                return Err(BackendError::StreamError {
                    model: model.to_string(),
                    message: event_error_message(&error),
                });
            }
            for choice in chunk.choices {
                if let Some(content) = choice.delta.and_then(|d| d.content).filter(|c| !c.is_empty()) {
                    on_text(&content);
                    text.push_str(&content);
                }
                if choice.finish_reason.as_deref() == Some("length") {
                    cut = request.max_tokens.map(super::Cut::MaxTokens);
                }
                if let Some(lp) = choice.logprobs.and_then(|l| l.content) {
                    logprobs.extend(lp.into_iter().map(|t| t.logprob));
                }
                finished |= choice.finish_reason.is_some();
            }
            if request.stop_on_repetition && guard.stuck(&text) {
                cut = Some(super::Cut::Repetition);
                break;
            }
        }
        Ok(ChatResponse { text, cut, confidence: confidence_from_logprobs(&logprobs), eval_count: None })
    }

    async fn version(&self) -> Result<String, BackendError> {
        let models = self.available_models().await?;
        Ok(format!("OpenAI-compatible, {} model(s)", models.len()))
    }

    /// The OpenAI API does not say what is loaded.
    async fn loaded_models(&self) -> Result<Vec<LoadedModel>, BackendError> {
        Ok(Vec::new())
    }

    async fn available_models(&self) -> Result<Vec<AvailableModel>, BackendError> {
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            data: Vec<Entry>,
        }
        #[derive(Deserialize)]
        struct Entry {
            id: String,
        }
        let request = self.authorize(self.client.get(format!("{}/models", self.base)).timeout(METADATA_TIMEOUT));
        let response = request.send().await.map_err(|source| self.send_error(source))?;
        let response = self.check_status(response, None).await?;
        let list: List = response.json().await.map_err(|e| BackendError::Http {
            address: self.base.clone(),
            status: 200,
            message: format!("unexpected answer from /v1/models: {e}"),
        })?;
        // Sizes are unknown here: the VRAM check falls back to the config's estimate.
        Ok(list.data.into_iter().map(|m| AvailableModel { name: m.id, size_bytes: 0 }).collect())
    }

    async fn unload(&self, model: &str) -> Result<(), BackendError> {
        Err(BackendError::NotSupported {
            operation: Operation::Unload,
            model: model.to_string(),
            address: self.base.clone(),
        })
    }

    async fn pull(
        &self,
        model: &str,
        _on_progress: &mut (dyn for<'p> FnMut(&'p PullProgress) + Send),
    ) -> Result<(), BackendError> {
        Err(BackendError::NotSupported {
            operation: Operation::Pull,
            model: model.to_string(),
            address: self.base.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        for (url, base) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
            ("http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1"),
            ("https://llm.example/v1/", "https://llm.example/v1"),
        ] {
            assert_eq!(OpenAiBackend::new(url, None, true, Duration::ZERO).base, base, "{url}");
        }
    }

    #[test]
    fn error_bodies() {
        assert_eq!(error_message(r#"{"error":{"message":"bad key","type":"auth"}}"#), "bad key");
        assert_eq!(error_message(r#"{"error":"model missing"}"#), "model missing");
        assert_eq!(error_message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(error_message("plain text\n"), "plain text");
    }

    #[test]
    fn stream_error_events() {
        assert_eq!(event_error_message(&json!({"message": "CUDA out of memory", "code": 500})), "CUDA out of memory");
        // TGI sends `{"error": "...", "error_type": "..."}`: the text, without JSON quotes.
        assert_eq!(event_error_message(&json!("Input validation error")), "Input validation error");
    }
}
