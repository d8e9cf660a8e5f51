//! A fake OpenAI-compatible HTTP server for tests (the dialect of llama.cpp's llama-server,
//! vLLM, LM Studio): `/v1/chat/completions` streamed as Server-Sent Events and `/v1/models`,
//! plus an optional API key and scripted failures (stalls, error events, malformed events,
//! aborted connections, HTTP errors, a stream that ends without `[DONE]`).
#![allow(dead_code)]

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

#[derive(Clone, Debug, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct Scenario {
    /// Served models (listed by /v1/models, usable by /v1/chat/completions).
    pub models: Vec<FakeModel>,
    /// When set, every `/v1` request must carry `Authorization: Bearer <this>`.
    pub require_key: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct FakeModel {
    pub id: String,
    pub reply: String,
    /// The pieces streamed; empty: `reply` split into pieces of up to three words.
    pub chunks: Vec<String>,
    pub chunk_delay_ms: u64,
    /// Logprob of each chunk, cycled; empty: the server returns no logprobs.
    pub logprobs: Vec<f64>,
    pub behaviour: Behaviour,
}

#[derive(Clone, Debug, Deserialize, Serialize, Default, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Behaviour {
    #[default]
    Reply,
    /// Streams `after_chunks` chunks, then sends nothing until the client goes away.
    Stall { after_chunks: usize },
    /// Streams `after_chunks` chunks, then `data: {"error": {"message": ..}}` and `[DONE]`.
    ErrorEvent { after_chunks: usize, message: String },
    /// Streams `after_chunks` chunks, then an event that is not JSON.
    Malformed { after_chunks: usize },
    /// Streams `after_chunks` chunks, then aborts the connection without `[DONE]`.
    Disconnect { after_chunks: usize },
    /// Answers every chat request with this status and raw body.
    Status { status: u16, body: String },
    /// The first chat request for this model gets 503, later ones are answered.
    BusyOnce,
    /// The finishing chunk, then the stream ends without `data: [DONE]` (llama.cpp does this).
    NoDone,
    /// Streams `after_chunks` chunks, then `data:` lines that never end an event, as fast as
    /// the client reads them.
    EndlessEvent { after_chunks: usize },
    /// Streams `after_chunks` chunks, then one line that never ends.
    EndlessLine { after_chunks: usize },
    /// Streams `after_chunks` chunks, then one `data:` line every 100 ms that never ends
    /// an event: output arrives, but no event.
    DripEvent { after_chunks: usize },
}

pub const BUSY_BODY: &str = r#"{"error":{"message":"Loading model","type":"unavailable_error","code":503}}"#;
pub const INVALID_KEY: &str = "Invalid API key";

impl FakeModel {
    pub fn new(id: &str, reply: &str) -> Self {
        FakeModel { id: id.into(), reply: reply.into(), ..Default::default() }
    }
    pub fn with_behaviour(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }
    pub fn with_logprobs(mut self, logprobs: &[f64]) -> Self {
        self.logprobs = logprobs.to_vec();
        self
    }
    pub fn with_chunks(mut self, chunks: &[&str]) -> Self {
        self.chunks = chunks.iter().map(|c| c.to_string()).collect();
        self.reply = self.chunks.concat();
        self
    }
    pub fn with_delay(mut self, chunk_delay_ms: u64) -> Self {
        self.chunk_delay_ms = chunk_delay_ms;
        self
    }
    /// The pieces streamed for this model, in order.
    pub fn stream_chunks(&self) -> Vec<String> {
        if self.chunks.is_empty() { split_reply(&self.reply) } else { self.chunks.clone() }
    }
}

pub fn default_scenario() -> Scenario {
    let models = ["llama3.2:11b-vision", "qwen3-coder:30b-q4", "llama3.1:70b"]
        .into_iter()
        .map(|id| FakeModel::new(id, &format!("fake answer from {id}")))
        .collect();
    Scenario { models, require_key: None }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The `Authorization` header as sent, if any.
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    models: Vec<FakeModel>,
    require_key: Option<String>,
    requests: Vec<RecordedRequest>,
    busy_seen: HashSet<String>,
    next_id: u64,
}

#[derive(Clone)]
struct App {
    inner: Arc<Mutex<Inner>>,
    /// Changes (sender dropped) when the FakeOpenAi is dropped; endless responses watch it
    /// so that shutdown never waits on them.
    shutdown: watch::Receiver<()>,
}

impl App {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }
}

// A panicking test thread must not turn every later request into a panic.
fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct FakeOpenAi {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: Option<watch::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeOpenAi {
    pub async fn start(scenario: Scenario) -> FakeOpenAi {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), scenario).await.expect("fake openai: bind 127.0.0.1:0")
    }

    pub async fn start_on(addr: SocketAddr, scenario: Scenario) -> io::Result<FakeOpenAi> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            models: scenario.models,
            require_key: scenario.require_key,
            ..Default::default()
        }));
        let (stop, shutdown) = watch::channel(());
        let app = App { inner: inner.clone(), shutdown: shutdown.clone() };
        let router = Router::new().fallback(handle).with_state(app);
        let mut signal = shutdown;
        tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = signal.changed().await;
            });
            let _ = serve.await;
        });
        Ok(FakeOpenAi { addr, inner, stop: Some(stop), thread: None })
    }

    /// Serves from a thread of its own with its own runtime (for synchronous tests).
    pub fn spawn_in_thread(scenario: Scenario) -> FakeOpenAi {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = watch::channel(());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake openai: tokio runtime");
            rt.block_on(async move {
                let server = FakeOpenAi::start(scenario).await;
                let _ = ready_tx.send((server.addr, server.inner.clone()));
                let _ = stopped.changed().await;
                drop(server);
            });
            // Dropping the runtime cancels every connection task, stalled ones included.
            drop(rt);
        });
        let (addr, inner) = ready_rx.recv().expect("fake openai: server thread died");
        FakeOpenAi { addr, inner, stop: Some(stop), thread: Some(thread) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The base URL without `/v1`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner).requests.clone()
    }
    /// Bodies of the `/v1/chat/completions` requests, in order.
    pub fn chat_requests(&self) -> Vec<Value> {
        let inner = lock(&self.inner);
        inner.requests.iter().filter(|r| r.path == "/v1/chat/completions").map(|r| r.body.clone()).collect()
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Splits into pieces of at most three words; whitespace stays attached to the word before
/// it so that the pieces concatenate back to `reply`.
pub fn split_reply(reply: &str) -> Vec<String> {
    let (mut out, mut cur, mut words, mut prev_ws) = (Vec::new(), String::new(), 0, true);
    for c in reply.chars() {
        if !c.is_whitespace() && prev_ws {
            if words == 3 {
                out.push(std::mem::take(&mut cur));
                words = 0;
            }
            words += 1;
        }
        prev_ws = c.is_whitespace();
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn json_response(status: u16, value: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

/// OpenAI's error object.
fn error(status: u16, message: &str, kind: &str) -> Response {
    json_response(status, &json!({"error": {"message": message, "type": kind, "param": null, "code": null}}))
}

async fn handle(State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    if path == "/__requests" {
        let requests = app.lock().requests.clone();
        return json_response(200, &serde_json::to_value(requests).unwrap_or_default());
    }
    let parsed: Result<Value, String> = if body.is_empty() {
        Err("missing request body".into())
    } else {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    };
    let authorization = headers.get(header::AUTHORIZATION).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let required = {
        let mut inner = app.lock();
        inner.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            authorization: authorization.clone(),
            body: parsed.clone().unwrap_or(Value::Null),
        });
        inner.require_key.clone()
    };
    if let Some(key) = required
        && path.starts_with("/v1/")
        && authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")) != Some(key.as_str())
    {
        return error(401, INVALID_KEY, "invalid_request_error");
    }
    let (is_get, is_post) = (method == Method::GET || method == Method::HEAD, method == Method::POST);
    match path.as_str() {
        "/v1/models" if is_get => models(&app),
        "/v1/chat/completions" if is_post => {
            let req = match parsed {
                Ok(v) if v.is_object() => v,
                Ok(_) => return error(400, "expected a JSON object", "invalid_request_error"),
                Err(e) => return error(400, &format!("invalid JSON body: {e}"), "invalid_request_error"),
            };
            let Some(id) = req["model"].as_str().filter(|n| !n.is_empty()).map(str::to_string) else {
                return error(400, "you must provide a model parameter", "invalid_request_error");
            };
            chat(&app, &req, &id)
        }
        _ => error(404, &format!("Unknown request URL: {method} {path}"), "invalid_request_error"),
    }
}

fn models(app: &App) -> Response {
    let data: Vec<Value> = app
        .lock()
        .models
        .iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}))
        .collect();
    json_response(200, &json!({"object": "list", "data": data}))
}

/// The generation as planned when the request arrives.
struct Job {
    model: FakeModel,
    chunks: Vec<String>,
    logprobs: bool,
    id: String,
    created: u64,
}

impl Job {
    fn chunk(&self, delta: Value, logprobs: Value, finish_reason: Value) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model.id,
               "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}]})
    }
    fn content_chunk(&self, i: usize) -> Value {
        let text = &self.chunks[i];
        let logprobs = if self.logprobs {
            json!({"content": [{"token": text, "logprob": self.logprob(i), "top_logprobs": []}]})
        } else {
            Value::Null
        };
        self.chunk(json!({"role": "assistant", "content": text}), logprobs, Value::Null)
    }
    fn finish_chunk(&self) -> Value {
        self.chunk(json!({}), Value::Null, json!("stop"))
    }
    fn logprob(&self, i: usize) -> f64 {
        self.model.logprobs[i % self.model.logprobs.len()]
    }
    fn stop_after(&self) -> usize {
        match &self.model.behaviour {
            Behaviour::Stall { after_chunks }
            | Behaviour::ErrorEvent { after_chunks, .. }
            | Behaviour::Malformed { after_chunks }
            | Behaviour::Disconnect { after_chunks }
            | Behaviour::EndlessEvent { after_chunks }
            | Behaviour::EndlessLine { after_chunks }
            | Behaviour::DripEvent { after_chunks } => (*after_chunks).min(self.chunks.len()),
            _ => self.chunks.len(),
        }
    }
    fn malformed(&self) -> String {
        format!("data: {{\"id\":\"{}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"delta\":\n\n", self.id)
    }
    /// The whole answer as one `chat.completion` object (`"stream": false`).
    fn completion(&self) -> Value {
        let logprobs = if self.logprobs {
            let content: Vec<Value> = (0..self.chunks.len())
                .map(|i| json!({"token": self.chunks[i], "logprob": self.logprob(i), "top_logprobs": []}))
                .collect();
            json!({ "content": content })
        } else {
            Value::Null
        };
        let n = self.chunks.len();
        json!({"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model.id,
               "choices": [{"index": 0, "message": {"role": "assistant", "content": self.chunks.concat()},
                            "logprobs": logprobs, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n}})
    }
}

fn chat(app: &App, req: &Value, id: &str) -> Response {
    let (model, job_id) = {
        let mut inner = app.lock();
        let Some(model) = inner.models.iter().find(|m| m.id == id).cloned() else {
            return error(404, &format!("The model `{id}` does not exist."), "invalid_request_error");
        };
        match &model.behaviour {
            Behaviour::Status { status, body } => {
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return (status, [(header::CONTENT_TYPE, "application/json")], body.clone()).into_response();
            }
            Behaviour::BusyOnce if inner.busy_seen.insert(model.id.clone()) => {
                return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/json")], BUSY_BODY)
                    .into_response();
            }
            _ => {}
        }
        inner.next_id += 1;
        (model, format!("chatcmpl-fake{}", inner.next_id))
    };
    let job = Job {
        chunks: model.stream_chunks(),
        logprobs: req["logprobs"] == json!(true) && !model.logprobs.is_empty(),
        id: job_id,
        created: unix_now(),
        model,
    };
    if req["stream"].as_bool().unwrap_or(false) {
        return stream_chat(app.clone(), job);
    }
    match &job.model.behaviour {
        Behaviour::ErrorEvent { message, .. } => error(500, message, "server_error"),
        Behaviour::Malformed { .. } => {
            ([(header::CONTENT_TYPE, "application/json")], "{\"id\":\"chatcmpl\",\"choices\":[").into_response()
        }
        Behaviour::Disconnect { .. } => {
            let s = futures_util::stream::once(async { Err::<Bytes, _>(io::Error::other("fake disconnect")) });
            Body::from_stream(s).into_response()
        }
        Behaviour::Stall { .. } => {
            let mut shutdown = app.shutdown.clone();
            let s = futures_util::stream::once(async move {
                let _ = shutdown.changed().await;
                Err::<Bytes, _>(io::Error::other("fake openai shutting down"))
            });
            Body::from_stream(s).into_response()
        }
        _ => json_response(200, &job.completion()),
    }
}

type Chunk = Result<Bytes, io::Error>;

fn stream_chat(app: App, job: Job) -> Response {
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let mut shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = produce(&tx, &job) => {}
            _ = shutdown.changed() => { let _ = tx.send(Err(io::Error::other("fake openai shutting down"))).await; }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(body))
        .into_response()
}

fn event(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// Returns early (None) once the client has gone away.
async fn produce(tx: &mpsc::Sender<Chunk>, job: &Job) -> Option<()> {
    let send = |text: String| async move { tx.send(Ok(Bytes::from(text))).await.ok() };
    for i in 0..job.stop_after() {
        tokio::time::sleep(Duration::from_millis(job.model.chunk_delay_ms)).await;
        send(event(&job.content_chunk(i))).await?;
    }
    match &job.model.behaviour {
        Behaviour::Stall { .. } => tx.closed().await,
        Behaviour::ErrorEvent { message, .. } => {
            send(event(&json!({"error": {"message": message, "type": "server_error", "code": 500}}))).await?;
            send("data: [DONE]\n\n".into()).await?;
        }
        Behaviour::Malformed { .. } => send(job.malformed()).await?,
        Behaviour::Disconnect { .. } => {
            // Give hyper time to flush the earlier chunks: a body error closes the socket
            // without writing what is still buffered.
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(Err(io::Error::other("fake disconnect"))).await.ok()?;
        }
        Behaviour::NoDone => send(event(&job.finish_chunk())).await?,
        Behaviour::EndlessEvent { .. } => loop {
            send("data: {\"choices\": []}\n".repeat(1000)).await?;
        },
        Behaviour::EndlessLine { .. } => {
            send("data: ".into()).await?;
            loop {
                send("x".repeat(64 * 1024)).await?;
            }
        }
        Behaviour::DripEvent { .. } => loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            send("data: {\"choices\": []}\n".into()).await?;
        },
        _ => {
            send(event(&job.finish_chunk())).await?;
            send("data: [DONE]\n\n".into()).await?;
        }
    }
    Some(())
}
