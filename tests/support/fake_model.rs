//! A fake model server for tests that speaks both dialects on one port, with the wire format
//! of the real servers:
//!
//! - Ollama: `/api/chat` and `/api/generate` streamed as NDJSON, `/api/tags`, `/api/ps`,
//!   `/api/show`, `/api/pull`, `/api/version`, `/`;
//! - OpenAI-compatible (llama.cpp's llama-server, vLLM, LM Studio): `/v1/chat/completions`
//!   streamed as Server-Sent Events, `/v1/models`, an optional API key.
//!
//! Every model of the scenario answers in both dialects, and one set of fault switches
//! ([`Behaviour`]: stall, error line, malformed line, disconnect, HTTP status such as 404,
//! 429 or 503, busy once, endless output, slow tokens through `chunk_delay_ms`) acts on
//! either. Runs in-process ([`FakeServer::start`], [`FakeServer::spawn_in_thread`]) or as
//! `cargo run --example fake_ollama`.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// Served models: pulled for Ollama (`/api/tags`), listed by `/v1/models`.
    pub models: Vec<FakeModel>,
    /// Models that `/api/pull` can fetch.
    pub pullable: Vec<FakeModel>,
    /// Names loaded at start (listed by `/api/ps`).
    pub loaded: Vec<String>,
    /// Like a real Ollama load: a chat for a model that is not loaded waits this long first
    /// (a second request during the load waits for the same load), then the model is loaded.
    pub load_delay_ms: u64,
    /// When set, every `/v1` request must carry `Authorization: Bearer <this>`.
    pub require_key: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct FakeModel {
    /// The Ollama name and the OpenAI model id.
    #[serde(alias = "id")]
    pub name: String,
    pub size: u64,
    pub reply: String,
    /// The pieces streamed (one token each); empty: `reply` split into pieces of up to three
    /// words.
    pub chunks: Vec<String>,
    /// Slow tokens: each piece is due this long after the one before.
    pub chunk_delay_ms: u64,
    /// Logprob of each chunk, cycled; empty: the server returns no logprobs.
    pub logprobs: Vec<f64>,
    pub behaviour: Behaviour,
}

/// The fault switches. "A line" is an NDJSON line in Ollama's dialect and a `data:` event in
/// the OpenAI dialect.
#[derive(Clone, Debug, Deserialize, Serialize, Default, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Behaviour {
    #[default]
    Reply,
    /// Streams `after_chunks` chunks, then sends nothing until the client goes away.
    Stall { after_chunks: usize },
    /// Streams `after_chunks` chunks, then the dialect's in-band error (Ollama
    /// `{"error": ..}`; OpenAI `data: {"error": {"message": ..}}` and `[DONE]`). Without
    /// streaming: HTTP 500 with the message.
    #[serde(alias = "error_event")]
    ErrorLine { after_chunks: usize, message: String },
    /// Streams `after_chunks` chunks, then a line that is not JSON.
    Malformed { after_chunks: usize },
    /// Streams `after_chunks` chunks, then aborts the connection.
    Disconnect { after_chunks: usize },
    /// Answers every chat with this status (404, 429, 503, ...) and the dialect's error
    /// object carrying `error` as its message.
    Status { status: u16, error: String },
    /// The first chat for this model gets 503 with the dialect's busy message, later ones
    /// are answered.
    BusyOnce,
    /// The reply, then the same sentence again and again until the client goes away.
    Loop,
    /// Streams `after_chunks` chunks, then a line that is not UTF-8.
    InvalidUtf8 { after_chunks: usize },
    /// A web page with status 200, as a proxy or another server on the port sends.
    Html,
    /// The reply, then the stream ends without its end marker (Ollama: no `done: true` line;
    /// OpenAI: the finishing chunk but no `data: [DONE]`, as llama.cpp does).
    NoDone,
    /// Streams `after_chunks` chunks, then output that never ends a line (OpenAI: `data:`
    /// lines that never end an event), as fast as the client reads it.
    EndlessEvent { after_chunks: usize },
    /// Streams `after_chunks` chunks, then one line that never ends.
    EndlessLine { after_chunks: usize },
    /// Streams `after_chunks` chunks, then a few bytes every 100 ms that never end a line
    /// (OpenAI: a `data:` line that never ends an event): output arrives, but no message.
    DripEvent { after_chunks: usize },
}

pub const GIB: u64 = 1 << 30;
/// Ollama's answer (503) when its queue is full.
pub const BUSY_ERROR: &str = "server busy, please try again.  maximum pending requests exceeded";
/// llama.cpp's answer (503) while it loads the model.
pub const LOADING_ERROR: &str = "Loading model";
pub const INVALID_KEY: &str = "Invalid API key";

impl Default for FakeModel {
    fn default() -> Self {
        FakeModel {
            name: String::new(),
            size: GIB,
            reply: String::new(),
            chunks: Vec::new(),
            chunk_delay_ms: 0,
            logprobs: Vec::new(),
            behaviour: Behaviour::Reply,
        }
    }
}

impl FakeModel {
    pub fn new(name: &str, reply: &str) -> Self {
        FakeModel { name: name.into(), reply: reply.into(), ..Default::default() }
    }
    pub fn with_behaviour(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = size;
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
    let models = [
        ("llama3.2:11b-vision", 7_900_000_000),
        ("qwen3-coder:30b-q4", 19_000_000_000),
        ("llama3.1:70b", 42_000_000_000),
    ]
    .into_iter()
    .map(|(name, size)| FakeModel::new(name, &format!("fake answer from {name}")).with_size(size))
    .collect();
    Scenario { models, ..Default::default() }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The `Authorization` header as sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    pub body: Value,
}

/// The paths whose bodies [`FakeServer::chat_requests`] returns.
const CHAT_PATHS: [&str; 2] = ["/api/chat", "/v1/chat/completions"];

#[derive(Default)]
struct Inner {
    models: Vec<FakeModel>,
    pullable: Vec<FakeModel>,
    loaded: Vec<String>,
    load_delay: Duration,
    /// Loads in progress: when each model will be loaded.
    loading: HashMap<String, Instant>,
    require_key: Option<String>,
    requests: Vec<RecordedRequest>,
    busy_seen: HashSet<String>,
    next_id: u64,
}

#[derive(Clone)]
struct App {
    inner: Arc<Mutex<Inner>>,
    /// Changes (sender dropped) when the FakeServer is dropped; endless responses watch it
    /// so that shutdown never waits on them.
    shutdown: watch::Receiver<()>,
}

impl App {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }
    fn set_loaded(&self, name: &str, loaded: bool) {
        let mut inner = self.lock();
        inner.loaded.retain(|n| !same_model(n, name));
        if loaded {
            inner.loaded.push(name.to_string());
        }
    }
}

// A panicking test thread must not turn every later request into a panic.
fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct FakeServer {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: Option<watch::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    pub async fn start(scenario: Scenario) -> FakeServer {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), scenario).await.expect("fake server: bind 127.0.0.1:0")
    }

    pub async fn start_on(addr: SocketAddr, scenario: Scenario) -> io::Result<FakeServer> {
        use axum::serve::ListenerExt;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        // Real Ollama sets TCP_NODELAY; without it a reply written in pieces waits for the
        // client's delayed ACK (about 40 ms), which would dwarf what is being timed.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let inner = Arc::new(Mutex::new(Inner {
            models: scenario.models,
            pullable: scenario.pullable,
            loaded: scenario.loaded,
            load_delay: Duration::from_millis(scenario.load_delay_ms),
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
        Ok(FakeServer { addr, inner, stop: Some(stop), thread: None })
    }

    /// Serves from a thread of its own with its own runtime (for synchronous tests).
    pub fn spawn_in_thread(scenario: Scenario) -> FakeServer {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = watch::channel(());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake server: tokio runtime");
            rt.block_on(async move {
                let server = FakeServer::start(scenario).await;
                let _ = ready_tx.send((server.addr, server.inner.clone()));
                let _ = stopped.changed().await;
                drop(server);
            });
            // Dropping the runtime cancels every connection task, stalled ones included.
            drop(rt);
        });
        let (addr, inner) = ready_rx.recv().expect("fake server: server thread died");
        FakeServer { addr, inner, stop: Some(stop), thread: Some(thread) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The base URL: Ollama's address; the OpenAI dialect is under `/v1`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner).requests.clone()
    }
    /// Bodies of the chat requests (`/api/chat` and `/v1/chat/completions`), in order.
    pub fn chat_requests(&self) -> Vec<Value> {
        let inner = lock(&self.inner);
        inner.requests.iter().filter(|r| CHAT_PATHS.contains(&r.path.as_str())).map(|r| r.body.clone()).collect()
    }
    pub fn loaded(&self) -> Vec<String> {
        lock(&self.inner).loaded.clone()
    }
    /// Names of pulled models, in /api/tags order.
    pub fn pulled(&self) -> Vec<String> {
        lock(&self.inner).models.iter().map(|m| m.name.clone()).collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Splits into pieces of at most three words; whitespace stays attached to
/// the word before it so that the pieces concatenate back to `reply`.
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

/// RFC 3339 in UTC with nanoseconds, like Ollama's `created_at`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (secs, days) = (d.as_secs() % 86_400, (d.as_secs() / 86_400) as i64);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:09}Z", d.subsec_nanos())
}

fn now() -> String {
    rfc3339(SystemTime::now())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// Ollama treats "llama3" and "llama3:latest" as the same model.
fn same_model(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        if s.rsplit('/').next().unwrap_or(s).contains(':') { s.to_string() } else { format!("{s}:latest") }
    };
    norm(a) == norm(b)
}

fn find<'a>(models: &'a [FakeModel], name: &str) -> Option<&'a FakeModel> {
    models.iter().find(|m| same_model(&m.name, name))
}

fn digest(name: &str) -> String {
    use std::hash::{Hash, Hasher};
    (0..4u8)
        .map(|salt| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (salt, name).hash(&mut h);
            format!("{:016x}", h.finish())
        })
        .collect()
}

fn details(name: &str) -> Value {
    // "llama3.1:70b" -> "70B", "qwen3-coder:30b-q4" -> "30B".
    let tag = name.rsplit_once(':').map_or("", |(_, t)| t);
    let parameter_size = tag
        .split('-')
        .find(|p| p.strip_suffix('b').is_some_and(|n| n.parse::<f64>().is_ok()))
        .map_or("8B".to_string(), str::to_uppercase);
    json!({"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
           "parameter_size": parameter_size, "quantization_level": "Q4_K_M"})
}

/// Which of the three streaming endpoints a generation answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Wire {
    OllamaChat,
    OllamaGenerate,
    OpenAi,
}

impl Wire {
    fn is_openai(self) -> bool {
        self == Wire::OpenAi
    }
    fn content_type(self) -> &'static str {
        if self.is_openai() { "application/json" } else { "application/json; charset=utf-8" }
    }
    /// The dialect's error object.
    fn error_body(self, status: u16, message: &str) -> Value {
        if !self.is_openai() {
            return json!({ "error": message });
        }
        let kind = match status {
            401 | 400 | 404 => "invalid_request_error",
            429 => "rate_limit_error",
            503 => "unavailable_error",
            _ => "server_error",
        };
        json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
    }
    fn error(self, status: u16, message: &str) -> Response {
        json_response(status, self.content_type(), &self.error_body(status, message))
    }
}

fn json_response(status: u16, content_type: &'static str, value: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, content_type)], value.to_string()).into_response()
}

fn ollama_json(status: u16, value: &Value) -> Response {
    json_response(status, Wire::OllamaChat.content_type(), value)
}

fn ollama_error(status: u16, message: &str) -> Response {
    Wire::OllamaChat.error(status, message)
}

fn openai_error(status: u16, message: &str) -> Response {
    Wire::OpenAi.error(status, message)
}

fn ndjson(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

fn lines(values: &[Value]) -> Response {
    ndjson(Body::from(values.iter().map(|v| format!("{v}\n")).collect::<String>()))
}

async fn handle(State(app): State<App>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    if path == "/__requests" {
        let requests = app.lock().requests.clone();
        return ollama_json(200, &serde_json::to_value(requests).unwrap_or_default());
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
    if path.starts_with("/v1/") {
        if let Some(key) = required
            && authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")) != Some(key.as_str())
        {
            return openai_error(401, INVALID_KEY);
        }
        return handle_openai(&app, &method, &path, parsed).await;
    }
    let (is_get, is_post) = (method == Method::GET || method == Method::HEAD, method == Method::POST);
    match path.as_str() {
        "/" if is_get => "Ollama is running".into_response(),
        "/api/version" if is_get => ollama_json(200, &json!({"version": "0.13.0"})),
        "/api/tags" if is_get => tags(&app),
        "/api/ps" if is_get => ps(&app),
        "/api/chat" | "/api/generate" | "/api/show" | "/api/pull" if is_post => {
            let req = match parsed {
                Ok(v) if v.is_object() => v,
                Ok(_) => return ollama_error(400, "json: cannot unmarshal request: expected an object"),
                Err(e) => return ollama_error(400, &e),
            };
            let Some(name) = req["model"].as_str().or(req["name"].as_str()).filter(|n| !n.is_empty()) else {
                return ollama_error(400, "model is required");
            };
            match path.as_str() {
                "/api/chat" => generate(&app, &req, name, Wire::OllamaChat).await,
                "/api/generate" => generate(&app, &req, name, Wire::OllamaGenerate).await,
                "/api/show" => show(&app, name),
                _ => pull(&app, &req, name),
            }
        }
        _ => (StatusCode::NOT_FOUND, "404 page not found").into_response(),
    }
}

async fn handle_openai(app: &App, method: &Method, path: &str, parsed: Result<Value, String>) -> Response {
    match path {
        "/v1/models" if method == Method::GET || method == Method::HEAD => models(app),
        "/v1/chat/completions" if method == Method::POST => {
            let req = match parsed {
                Ok(v) if v.is_object() => v,
                Ok(_) => return openai_error(400, "expected a JSON object"),
                Err(e) => return openai_error(400, &format!("invalid JSON body: {e}")),
            };
            let Some(id) = req["model"].as_str().filter(|n| !n.is_empty()).map(str::to_string) else {
                return openai_error(400, "you must provide a model parameter");
            };
            openai_chat(app, &req, &id).await
        }
        _ => openai_error(404, &format!("Unknown request URL: {method} {path}")),
    }
}

fn tags(app: &App) -> Response {
    let models: Vec<Value> = app
        .lock()
        .models
        .iter()
        .map(|m| {
            json!({"name": m.name, "model": m.name, "modified_at": "2025-01-01T00:00:00Z",
                   "size": m.size, "digest": digest(&m.name), "details": details(&m.name)})
        })
        .collect();
    ollama_json(200, &json!({ "models": models }))
}

fn ps(app: &App) -> Response {
    let expires = rfc3339(SystemTime::now() + Duration::from_secs(300));
    let inner = app.lock();
    let models: Vec<Value> = inner
        .loaded
        .iter()
        .map(|name| {
            let size = find(&inner.models, name).or(find(&inner.pullable, name)).map_or(GIB, |m| m.size);
            json!({"name": name, "model": name, "size": size, "digest": digest(name),
                   "details": details(name), "expires_at": expires, "size_vram": size,
                   "context_length": 4096})
        })
        .collect();
    ollama_json(200, &json!({ "models": models }))
}

fn models(app: &App) -> Response {
    let data: Vec<Value> = app
        .lock()
        .models
        .iter()
        .map(|m| json!({"id": m.name, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}))
        .collect();
    json_response(200, Wire::OpenAi.content_type(), &json!({"object": "list", "data": data}))
}

fn show(app: &App, name: &str) -> Response {
    if find(&app.lock().models, name).is_none() {
        return ollama_error(404, &format!("model '{name}' not found"));
    }
    ollama_json(
        200,
        &json!({"modelfile": "", "parameters": "", "template": "", "details": details(name),
                "model_info": {"general.architecture": "llama"}, "capabilities": ["completion"]}),
    )
}

fn pull(app: &App, req: &Value, name: &str) -> Response {
    let found = {
        let mut inner = app.lock();
        match find(&inner.models, name).or(find(&inner.pullable, name)).cloned() {
            Some(m) if find(&inner.models, name).is_none() => {
                inner.models.push(m.clone());
                Some(m)
            }
            other => other,
        }
    };
    let stream = req["stream"].as_bool().unwrap_or(true);
    let Some(model) = found else {
        let message = "pull model manifest: file does not exist";
        // Ollama reports pull failures in-band when streaming.
        return if stream { lines(&[json!({ "error": message })]) } else { ollama_error(500, message) };
    };
    if !stream {
        return ollama_json(200, &json!({"status": "success"}));
    }
    let digest = format!("sha256:{}", digest(&model.name));
    let mut out = vec![json!({"status": "pulling manifest"})];
    out.extend((0..=4).map(|i| {
        json!({"status": format!("pulling {}", &digest[7..19]), "digest": digest,
               "total": model.size, "completed": (u128::from(model.size) * i / 4) as u64})
    }));
    out.extend(["verifying sha256 digest", "writing manifest", "success"].map(|s| json!({ "status": s })));
    lines(&out)
}

fn keep_alive_zero(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.trim_end_matches(|c: char| c.is_ascii_alphabetic()).parse::<f64>() == Ok(0.0),
        _ => false,
    }
}

/// The answer to a chat whose model switch says it fails before generating, if it does.
fn refusal(app: &App, model: &FakeModel, wire: Wire) -> Option<Response> {
    match &model.behaviour {
        Behaviour::Status { status, error } => Some(wire.error(*status, error)),
        Behaviour::Html => Some(
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!DOCTYPE html><html><body>It works!</body></html>\n",
            )
                .into_response(),
        ),
        Behaviour::BusyOnce if app.lock().busy_seen.insert(model.name.clone()) => {
            Some(wire.error(503, if wire.is_openai() { LOADING_ERROR } else { BUSY_ERROR }))
        }
        _ => None,
    }
}

/// The generation as planned when the request arrives.
struct Job {
    wire: Wire,
    model: FakeModel,
    chunks: Vec<String>,
    /// Ollama's `options.num_predict` ended the reply: `done_reason: length`.
    cut: bool,
    logprobs: bool,
    prompt_tokens: usize,
    start: Instant,
    /// The OpenAI completion id.
    id: String,
    created: u64,
}

impl Job {
    /// One streamed piece, framed for the wire.
    fn piece(&self, text: &str, logprob: Option<f64>) -> String {
        match self.wire {
            Wire::OpenAi => {
                let logprobs = logprob
                    .map_or(Value::Null, |lp| json!({"content": [{"token": text, "logprob": lp, "top_logprobs": []}]}));
                event(&self.openai_chunk(json!({"role": "assistant", "content": text}), logprobs, Value::Null))
            }
            wire => {
                let mut line = ollama_line(wire, &self.model.name, text, json!({"done": false}));
                if let Some(lp) = logprob {
                    line["logprobs"] = json!([{"token": text, "logprob": lp}]);
                }
                format!("{line}\n")
            }
        }
    }
    fn chunk(&self, i: usize) -> String {
        self.piece(&self.chunks[i], self.logprobs.then(|| self.logprob(i)))
    }
    fn logprob(&self, i: usize) -> f64 {
        self.model.logprobs[i % self.model.logprobs.len()]
    }
    fn openai_chunk(&self, delta: Value, logprobs: Value, finish_reason: Value) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model.name,
               "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}]})
    }
    fn finish_reason(&self) -> &'static str {
        if self.cut { "length" } else { "stop" }
    }
    /// Ollama's closing object, carrying `content` (empty when streamed).
    fn done(&self, content: &str) -> Value {
        let n = self.chunks.len() as u64;
        let mut rest = json!({"done": true,
               "done_reason": self.finish_reason(), "total_duration": self.start.elapsed().as_nanos() as u64 + 1,
               "load_duration": 1_000_000, "prompt_eval_count": self.prompt_tokens,
               "prompt_eval_duration": 2_000_000, "eval_count": n, "eval_duration": 10_000_000 * n});
        if self.wire == Wire::OllamaGenerate {
            rest["context"] = json!([]);
        }
        ollama_line(self.wire, &self.model.name, content, rest)
    }
    /// What ends a good stream.
    fn end(&self) -> String {
        match self.wire {
            Wire::OpenAi => format!("{}data: [DONE]\n\n", self.finish_event()),
            _ => format!("{}\n", self.done("")),
        }
    }
    fn finish_event(&self) -> String {
        event(&self.openai_chunk(json!({}), Value::Null, json!(self.finish_reason())))
    }
    fn in_band_error(&self, message: &str) -> String {
        match self.wire {
            Wire::OpenAi => format!(
                "{}data: [DONE]\n\n",
                event(&json!({"error": {"message": message, "type": "server_error", "code": 500}}))
            ),
            _ => format!("{}\n", json!({ "error": message })),
        }
    }
    fn malformed(&self) -> String {
        match self.wire {
            Wire::OpenAi => {
                format!(
                    "data: {{\"id\":\"{}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"delta\":\n\n",
                    self.id
                )
            }
            _ => format!("{{\"model\":\"{}\",\"message\":{{\"role\":\"assistant\",\"content\":\n", self.model.name),
        }
    }
    fn invalid_utf8(&self) -> &'static [u8] {
        match self.wire {
            Wire::OpenAi => b"data: {\"choices\": [{\"delta\": {\"content\": \"\xff\xfe\"}}]}\n\n",
            _ => b"{\"message\": {\"content\": \"\xff\xfe\"}}\n",
        }
    }
    /// The start of a line that never ends, and what keeps it going.
    fn endless_line(&self) -> (&'static str, &'static str) {
        match self.wire {
            Wire::OpenAi => ("data: ", "x"),
            _ => ("{\"message\": {\"content\": \"", "x"),
        }
    }
    /// Output that never completes a message, sent as fast as the client reads.
    fn endless_event(&self) -> String {
        match self.wire {
            Wire::OpenAi => "data: {\"choices\": []}\n".repeat(1000),
            _ => "x".repeat(64 * 1024),
        }
    }
    fn drip(&self) -> &'static str {
        match self.wire {
            Wire::OpenAi => "data: {\"choices\": []}\n",
            _ => "x",
        }
    }
    fn stop_after(&self) -> usize {
        match &self.model.behaviour {
            Behaviour::Stall { after_chunks }
            | Behaviour::ErrorLine { after_chunks, .. }
            | Behaviour::Malformed { after_chunks }
            | Behaviour::Disconnect { after_chunks }
            | Behaviour::InvalidUtf8 { after_chunks }
            | Behaviour::EndlessEvent { after_chunks }
            | Behaviour::EndlessLine { after_chunks }
            | Behaviour::DripEvent { after_chunks } => (*after_chunks).min(self.chunks.len()),
            _ => self.chunks.len(),
        }
    }
    /// The whole answer as one object (`"stream": false`).
    fn whole(&self) -> Value {
        let pairs = || (0..self.chunks.len()).map(|i| (self.chunks[i].clone(), self.logprob(i)));
        if self.wire != Wire::OpenAi {
            let mut done = self.done(&self.chunks.concat());
            if self.logprobs {
                done["logprobs"] = pairs().map(|(t, lp)| json!({"token": t, "logprob": lp})).collect();
            }
            return done;
        }
        let logprobs = if self.logprobs {
            let content: Vec<Value> =
                pairs().map(|(t, lp)| json!({"token": t, "logprob": lp, "top_logprobs": []})).collect();
            json!({ "content": content })
        } else {
            Value::Null
        };
        let n = self.chunks.len();
        json!({"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model.name,
               "choices": [{"index": 0, "message": {"role": "assistant", "content": self.chunks.concat()},
                            "logprobs": logprobs, "finish_reason": self.finish_reason()}],
               "usage": {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n}})
    }
}

/// An Ollama line: model, time, the text (`message` for chat, `response` for generate), then
/// `rest`, in Ollama's key order.
fn ollama_line(wire: Wire, model: &str, text: &str, rest: Value) -> Value {
    let mut line = serde_json::Map::new();
    line.insert("model".into(), json!(model));
    line.insert("created_at".into(), json!(now()));
    if wire == Wire::OllamaChat {
        line.insert("message".into(), json!({"role": "assistant", "content": text}));
    } else {
        line.insert("response".into(), json!(text));
    }
    if let Value::Object(rest) = rest {
        line.extend(rest);
    }
    Value::Object(line)
}

fn event(data: &Value) -> String {
    format!("data: {data}\n\n")
}

/// Ollama's `/api/chat` and `/api/generate`.
async fn generate(app: &App, req: &Value, name: &str, wire: Wire) -> Response {
    let Some(model) = find(&app.lock().models, name).cloned() else {
        return ollama_error(404, &format!("model \"{name}\" not found, try pulling it first"));
    };
    if let Some(response) = refusal(app, &model, wire) {
        return response;
    }
    let stream = req["stream"].as_bool().unwrap_or(true);
    let unload = keep_alive_zero(&req["keep_alive"]);
    let prompt: Vec<String> = if wire == Wire::OllamaChat {
        let messages = req["messages"].as_array().cloned().unwrap_or_default();
        messages.iter().map(|m| m["content"].as_str().unwrap_or_default().to_string()).collect()
    } else {
        req["prompt"].as_str().filter(|p| !p.is_empty()).map(str::to_string).into_iter().collect()
    };
    let canonical = model.name.clone();
    let ready_at = {
        let mut inner = app.lock();
        let loaded = inner.loaded.iter().any(|n| same_model(n, &canonical));
        let delay = inner.load_delay;
        (!loaded && !unload && !delay.is_zero())
            .then(|| *inner.loading.entry(canonical.clone()).or_insert_with(|| Instant::now() + delay))
    };
    if let Some(at) = ready_at {
        tokio::time::sleep_until(at.into()).await;
        app.lock().loading.remove(&canonical);
    }
    if prompt.is_empty() {
        // Nothing to answer: a load (or with keep_alive 0 an unload).
        app.set_loaded(&canonical, !unload);
        let reason = if unload { "unload" } else { "load" };
        let line = ollama_line(wire, name, "", json!({"done_reason": reason, "done": true}));
        return if stream { lines(&[line]) } else { ollama_json(200, &line) };
    }
    app.set_loaded(&canonical, true);
    let chars: usize = prompt.iter().map(String::len).sum();
    // Like Ollama, `num_predict` ends the reply after that many tokens (a chunk is a token).
    let mut chunks = model.stream_chunks();
    let limit = req["options"]["num_predict"].as_u64().map_or(usize::MAX, |n| n as usize);
    let cut = chunks.len() > limit;
    chunks.truncate(limit);
    let job = Job {
        wire,
        chunks,
        cut,
        logprobs: req["logprobs"] == json!(true) && !model.logprobs.is_empty(),
        prompt_tokens: chars / 4 + prompt.len(),
        start: Instant::now(),
        id: String::new(),
        created: unix_now(),
        model,
    };
    if stream {
        let on_end = unload.then(|| (app.clone(), canonical.clone()));
        return stream_response(app, job, on_end);
    }
    let delay = Duration::from_millis(job.model.chunk_delay_ms.saturating_mul(job.chunks.len() as u64));
    let response = whole_response(app, &job, delay).await;
    if unload {
        app.set_loaded(&canonical, false);
    }
    response
}

/// The OpenAI dialect's `/v1/chat/completions`.
async fn openai_chat(app: &App, req: &Value, id: &str) -> Response {
    let (model, job_id) = {
        let mut inner = app.lock();
        let Some(model) = inner.models.iter().find(|m| m.name == id).cloned() else {
            return openai_error(404, &format!("The model `{id}` does not exist."));
        };
        inner.next_id += 1;
        (model, format!("chatcmpl-fake{}", inner.next_id))
    };
    if let Some(response) = refusal(app, &model, Wire::OpenAi) {
        return response;
    }
    let job = Job {
        wire: Wire::OpenAi,
        chunks: model.stream_chunks(),
        cut: false,
        logprobs: req["logprobs"] == json!(true) && !model.logprobs.is_empty(),
        prompt_tokens: 10,
        start: Instant::now(),
        id: job_id,
        created: unix_now(),
        model,
    };
    if req["stream"].as_bool().unwrap_or(false) {
        return stream_response(app, job, None);
    }
    let delay = Duration::from_millis(job.model.chunk_delay_ms.saturating_mul(job.chunks.len() as u64));
    whole_response(app, &job, delay).await
}

/// The answer without streaming, with the switches that apply to it.
async fn whole_response(app: &App, job: &Job, delay: Duration) -> Response {
    let content_type = job.wire.content_type();
    match &job.model.behaviour {
        Behaviour::Stall { .. } if !job.wire.is_openai() => {
            let _ = app.shutdown.clone().changed().await;
            ollama_error(500, "fake server shutting down")
        }
        Behaviour::Stall { .. } => {
            let mut shutdown = app.shutdown.clone();
            let s = futures_util::stream::once(async move {
                let _ = shutdown.changed().await;
                Err::<Bytes, _>(io::Error::other("fake server shutting down"))
            });
            Body::from_stream(s).into_response()
        }
        Behaviour::ErrorLine { message, .. } => job.wire.error(500, message),
        Behaviour::Malformed { .. } if job.wire.is_openai() => {
            ([(header::CONTENT_TYPE, content_type)], "{\"id\":\"chatcmpl\",\"choices\":[").into_response()
        }
        Behaviour::Malformed { .. } => ([(header::CONTENT_TYPE, content_type)], job.malformed()).into_response(),
        Behaviour::Disconnect { .. } => {
            let s = futures_util::stream::once(async { Err::<Bytes, _>(io::Error::other("fake disconnect")) });
            Body::from_stream(s).into_response()
        }
        _ => {
            tokio::time::sleep(delay).await;
            json_response(200, content_type, &job.whole())
        }
    }
}

type Chunk = Result<Bytes, io::Error>;

/// Streams `job`; `unload_after` names a model to mark unloaded once the stream ends.
fn stream_response(app: &App, job: Job, unload_after: Option<(App, String)>) -> Response {
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let mut shutdown = app.shutdown.clone();
    let wire = job.wire;
    tokio::spawn(async move {
        tokio::select! {
            _ = produce(&tx, &job) => {}
            _ = shutdown.changed() => { let _ = tx.send(Err(io::Error::other("fake server shutting down"))).await; }
        }
        if let Some((app, name)) = unload_after {
            app.set_loaded(&name, false);
        }
    });
    let body =
        Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) }));
    if wire.is_openai() {
        ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
    } else {
        ndjson(body)
    }
}

/// Returns early (None) once the client has gone away.
async fn produce(tx: &mpsc::Sender<Chunk>, job: &Job) -> Option<()> {
    let send = |text: String| async move { tx.send(Ok(Bytes::from(text))).await.ok() };
    // Chunk i at start + (i + 1) × delay, not delay after the previous one: timer slack must
    // not add up over hundreds of chunks (a streamed and an unstreamed answer take as long).
    let start = tokio::time::Instant::now();
    for i in 0..job.stop_after() {
        let due = start + Duration::from_millis(job.model.chunk_delay_ms) * (i as u32 + 1);
        tokio::time::sleep_until(due).await;
        send(job.chunk(i)).await?;
    }
    match &job.model.behaviour {
        Behaviour::Stall { .. } => tx.closed().await,
        Behaviour::ErrorLine { message, .. } => send(job.in_band_error(message)).await?,
        Behaviour::Malformed { .. } => send(job.malformed()).await?,
        Behaviour::InvalidUtf8 { .. } => tx.send(Ok(Bytes::from_static(job.invalid_utf8()))).await.ok()?,
        Behaviour::Loop => loop {
            send(job.piece("I will say this again. ", None)).await?;
        },
        Behaviour::Disconnect { .. } => {
            // Give hyper time to flush the earlier chunks: a body error
            // closes the socket without writing what is still buffered.
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(Err(io::Error::other("fake disconnect"))).await.ok()?;
        }
        Behaviour::NoDone if job.wire.is_openai() => send(job.finish_event()).await?,
        Behaviour::NoDone => {}
        Behaviour::EndlessEvent { .. } => loop {
            send(job.endless_event()).await?;
        },
        Behaviour::EndlessLine { .. } => {
            let (head, filler) = job.endless_line();
            send(head.into()).await?;
            loop {
                send(filler.repeat(64 * 1024)).await?;
            }
        }
        Behaviour::DripEvent { .. } => loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            send(job.drip().into()).await?;
        },
        _ => send(job.end()).await?,
    }
    Some(())
}
