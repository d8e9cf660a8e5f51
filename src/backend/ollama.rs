//! Ollama's native API: `/api/chat` streamed as NDJSON, `/api/ps`, `/api/tags`, `/api/pull`.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::{
    AvailableModel, Backend, BackendError, BackendKind, ChatRequest, ChatResponse, LoadedModel, PullProgress,
    confidence_from_logprobs,
};

/// A line longer than this is not an Ollama chunk; refuse it rather than buffer without end.
const MAX_LINE: usize = 4 * 1024 * 1024;
/// A big model takes tens of seconds to load from disk.
const LOAD_TIMEOUT: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// `/api/ps`, `/api/tags`, `/api/version`: small answers that come at once or not at all.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// A pull may pause while the server verifies layers; beyond this it is stuck.
const PULL_SILENCE: Duration = Duration::from_secs(300);

pub struct OllamaBackend {
    base: String,
    client: reqwest::Client,
    busy_retry: Duration,
}

impl OllamaBackend {
    pub fn new(url: &str, busy_retry: Duration) -> Self {
        let client = reqwest::Client::builder()
            // A proxy from the environment must not see requests meant for a local server.
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self { base: url.trim_end_matches('/').to_string(), client, busy_retry }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn unreachable(&self, source: reqwest::Error) -> BackendError {
        BackendError::Unreachable { kind: BackendKind::Ollama, address: self.base.clone(), source }
    }

    /// Maps a non-success status to the error that tells the user what to do.
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
        let message = serde_json::from_str::<ErrorBody>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| body.trim().chars().take(300).collect());
        Err(match (status.as_u16(), model) {
            (404, Some(m)) => BackendError::ModelNotFound {
                kind: BackendKind::Ollama,
                model: m.to_string(),
                address: self.base.clone(),
            },
            (503, _) => BackendError::Busy { address: self.base.clone() },
            (s, _) => BackendError::Http { address: self.base.clone(), status: s, message },
        })
    }

    async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
        model: Option<&str>,
    ) -> Result<reqwest::Response, BackendError> {
        let response = self.client.post(self.url(path)).json(body).send().await.map_err(|e| self.unreachable(e))?;
        self.check_status(response, model).await
    }

    /// One retry after a short wait when the server's queue is full (503).
    async fn post_with_busy_retry(
        &self,
        path: &str,
        body: &serde_json::Value,
        model: &str,
    ) -> Result<reqwest::Response, BackendError> {
        match self.post(path, body, Some(model)).await {
            Err(BackendError::Busy { .. }) => {
                tracing::info!(model, "Ollama busy; retrying once in {:?}", self.busy_retry);
                tokio::time::sleep(self.busy_retry).await;
                self.post(path, body, Some(model)).await
            }
            other => other,
        }
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, BackendError> {
        let response =
            self.client.get(self.url(path)).timeout(METADATA_TIMEOUT).send().await.map_err(|e| self.unreachable(e))?;
        let response = self.check_status(response, None).await?;
        response.json::<T>().await.map_err(|e| BackendError::Http {
            address: self.base.clone(),
            status: 200,
            message: format!("unexpected answer from {path}: {e}"),
        })
    }
}

/// NDJSON lines of a response body, each bounded in length.
fn ndjson_lines(response: reqwest::Response) -> FramedRead<impl tokio::io::AsyncRead, LinesCodec> {
    let reader = StreamReader::new(response.bytes_stream().map_err(std::io::Error::other));
    FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE))
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

#[derive(Deserialize)]
struct ChatChunk {
    #[serde(default)]
    message: Option<ChunkMessage>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    logprobs: Option<Vec<TokenLogprob>>,
    #[serde(default)]
    eval_count: Option<u64>,
    /// `stop`, or `length` when `num_predict` ended the answer.
    #[serde(default)]
    done_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChunkMessage {
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct TokenLogprob {
    logprob: f64,
}

#[derive(Deserialize)]
struct ModelList<T> {
    #[serde(default = "Vec::new")]
    models: Vec<T>,
}

#[derive(Deserialize)]
struct PsEntry {
    name: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    size_vram: u64,
}

#[derive(Deserialize)]
struct TagEntry {
    name: String,
    #[serde(default)]
    size: u64,
}

#[derive(Deserialize)]
struct PullLine {
    #[serde(default)]
    status: String,
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    completed: Option<u64>,
    #[serde(default)]
    error: Option<String>,
}

fn truncate(line: &str) -> String {
    let mut s: String = line.chars().take(200).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

#[async_trait]
impl Backend for OllamaBackend {
    fn address(&self) -> &str {
        &self.base
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<ChatResponse, BackendError> {
        let model = request.model.as_str();
        let mut body = json!({
            "model": model,
            "messages": request.messages,
            "stream": true,
            "keep_alive": request.keep_alive.as_ollama(),
            "logprobs": true,
        });
        if let Some(n) = request.max_tokens {
            body["options"] = json!({"num_predict": n});
        }
        let first_token_timeout =
            || BackendError::FirstTokenTimeout { model: model.to_string(), after: request.timeout };
        let response = tokio::time::timeout(request.timeout, self.post_with_busy_retry("/api/chat", &body, model))
            .await
            .map_err(|_| first_token_timeout())??;
        if let Some(e) = super::web_page_error(&response, &self.base, "Ollama's API") {
            return Err(e);
        }
        let mut lines = ndjson_lines(response);
        let mut text = String::new();
        let mut logprobs = Vec::new();
        let mut received_any = false;
        let mut guard = super::RepetitionGuard::default();
        loop {
            let next = super::next_within(&mut lines, request.timeout, received_any, model).await?;
            let line = match next {
                Some(Ok(line)) => line,
                Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                    return Err(BackendError::Malformed {
                        model: model.to_string(),
                        line: format!("(a line over {MAX_LINE} bytes)"),
                    });
                }
                Some(Err(LinesCodecError::Io(e))) => return Err(super::read_error(model, &self.base, e)),
                None => {
                    return Err(BackendError::Disconnected {
                        model: model.to_string(),
                        address: self.base.clone(),
                        source: "the answer ended before its final `done` line".into(),
                    });
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            received_any = true;
            let chunk: ChatChunk = serde_json::from_str(&line)
                .map_err(|_| BackendError::Malformed { model: model.to_string(), line: truncate(&line) })?;
            if let Some(message) = chunk.error {
                return Err(BackendError::StreamError { model: model.to_string(), message });
            }
            if let Some(m) = chunk.message
                && !m.content.is_empty()
            {
                on_text(&m.content);
                text.push_str(&m.content);
                if request.stop_on_repetition && guard.stuck(&text) {
                    // Dropping the response closes the connection: Ollama stops generating.
                    return Ok(ChatResponse {
                        text,
                        cut: Some(super::Cut::Repetition),
                        confidence: confidence_from_logprobs(&logprobs),
                        eval_count: None,
                    });
                }
            }
            if let Some(lp) = chunk.logprobs {
                logprobs.extend(lp.into_iter().map(|t| t.logprob));
            }
            if chunk.done {
                let cut = (chunk.done_reason.as_deref() == Some("length"))
                    .then(|| request.max_tokens.map(super::Cut::MaxTokens))
                    .flatten();
                return Ok(ChatResponse {
                    text,
                    cut,
                    confidence: confidence_from_logprobs(&logprobs),
                    eval_count: chunk.eval_count,
                });
            }
        }
    }

    async fn version(&self) -> Result<String, BackendError> {
        #[derive(Deserialize)]
        struct Version {
            version: String,
        }
        self.get_json::<Version>("/api/version").await.map(|v| v.version)
    }

    async fn loaded_models(&self) -> Result<Vec<LoadedModel>, BackendError> {
        let list: ModelList<PsEntry> = self.get_json("/api/ps").await?;
        Ok(list
            .models
            .into_iter()
            .map(|m| LoadedModel { name: m.name, size_bytes: m.size, vram_bytes: m.size_vram })
            .collect())
    }

    async fn available_models(&self) -> Result<Vec<AvailableModel>, BackendError> {
        let list: ModelList<TagEntry> = self.get_json("/api/tags").await?;
        Ok(list.models.into_iter().map(|m| AvailableModel { name: m.name, size_bytes: m.size }).collect())
    }

    async fn unload(&self, model: &str) -> Result<(), BackendError> {
        // Ollama's own mechanism: an empty request with keep_alive 0.
        let body = json!({"model": model, "messages": [], "keep_alive": 0, "stream": false});
        let response = tokio::time::timeout(METADATA_TIMEOUT, self.post("/api/chat", &body, Some(model)))
            .await
            .map_err(|_| BackendError::FirstTokenTimeout { model: model.to_string(), after: METADATA_TIMEOUT })??;
        let _ = response.bytes().await;
        Ok(())
    }

    async fn load(&self, model: &str, keep_alive: super::KeepAlive) -> Result<bool, BackendError> {
        // Ollama's own preload: an empty request loads the model and keeps it for keep_alive.
        let body = json!({"model": model, "messages": [], "keep_alive": keep_alive.as_ollama(), "stream": false});
        let response = tokio::time::timeout(LOAD_TIMEOUT, self.post("/api/chat", &body, Some(model)))
            .await
            .map_err(|_| BackendError::FirstTokenTimeout { model: model.to_string(), after: LOAD_TIMEOUT })??;
        let _ = response.bytes().await;
        Ok(true)
    }

    async fn pull(
        &self,
        model: &str,
        on_progress: &mut (dyn for<'p> FnMut(&'p PullProgress) + Send),
    ) -> Result<(), BackendError> {
        let body = json!({"model": model, "stream": true});
        let response = self.post("/api/pull", &body, Some(model)).await?;
        let mut lines = ndjson_lines(response);
        let mut success = false;
        loop {
            let next = tokio::time::timeout(PULL_SILENCE, lines.next())
                .await
                .map_err(|_| BackendError::Stalled { model: model.to_string(), after: PULL_SILENCE })?;
            let line = match next {
                Some(Ok(line)) => line,
                Some(Err(e)) => {
                    return Err(BackendError::Disconnected {
                        model: model.to_string(),
                        address: self.base.clone(),
                        source: Box::new(e),
                    });
                }
                None => break,
            };
            if line.trim().is_empty() {
                continue;
            }
            let p: PullLine = serde_json::from_str(&line)
                .map_err(|_| BackendError::Malformed { model: model.to_string(), line: truncate(&line) })?;
            if let Some(message) = p.error {
                return Err(BackendError::StreamError { model: model.to_string(), message });
            }
            success |= p.status == "success";
            on_progress(&PullProgress { status: p.status, total: p.total, completed: p.completed });
        }
        if success {
            Ok(())
        } else {
            Err(BackendError::Disconnected {
                model: model.to_string(),
                address: self.base.clone(),
                source: "the pull ended without `success`".into(),
            })
        }
    }
}

/// Ollama treats `llama3` and `llama3:latest` as the same model.
pub fn same_model(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> (&str, &str) {
        s.split_once(':').unwrap_or((s, "latest"))
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names() {
        assert!(same_model("llama3", "llama3:latest"));
        assert!(same_model("qwen3-coder:30b-q4", "qwen3-coder:30b-q4"));
        assert!(!same_model("qwen3-coder:30b-q4", "qwen3-coder:30b"));
    }
}
