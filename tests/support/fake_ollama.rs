//! A fake Ollama HTTP server for tests: same wire format as the real one,
//! plus scripted failures (stalls, mid-stream errors, aborted connections).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

#[derive(Clone, Debug, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct Scenario {
    /// Pulled models (listed by /api/tags, usable by /api/chat).
    pub models: Vec<FakeModel>,
    /// Models that /api/pull can fetch.
    pub pullable: Vec<FakeModel>,
    /// Names loaded at start (listed by /api/ps).
    pub loaded: Vec<String>,
    /// Like a real load: a chat for a model that is not loaded waits this long first (a
    /// second request during the load waits for the same load), then the model is loaded.
    pub load_delay_ms: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct FakeModel {
    pub name: String,
    pub size: u64,
    pub reply: String,
    pub chunks: Vec<String>,
    pub chunk_delay_ms: u64,
    pub logprobs: Vec<f64>,
    pub behaviour: Behaviour,
}

#[derive(Clone, Debug, Deserialize, Serialize, Default, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Behaviour {
    #[default]
    Reply,
    Stall {
        after_chunks: usize,
    },
    ErrorLine {
        after_chunks: usize,
        message: String,
    },
    Malformed {
        after_chunks: usize,
    },
    Disconnect {
        after_chunks: usize,
    },
    Status {
        status: u16,
        error: String,
    },
    BusyOnce,
    /// The reply, then the same sentence again and again until the client goes away.
    Loop,
    /// Streams `after_chunks` chunks, then a line that is not UTF-8.
    InvalidUtf8 {
        after_chunks: usize,
    },
    /// A web page with status 200, as a proxy or another server on the port sends.
    Html,
}

pub const GIB: u64 = 1 << 30;
pub const BUSY_ERROR: &str = "server busy, please try again.  maximum pending requests exceeded";

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
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    models: Vec<FakeModel>,
    pullable: Vec<FakeModel>,
    loaded: Vec<String>,
    load_delay: Duration,
    /// Loads in progress: when each model will be loaded.
    loading: HashMap<String, Instant>,
    requests: Vec<RecordedRequest>,
    busy_seen: HashSet<String>,
}

#[derive(Clone)]
struct App {
    inner: Arc<Mutex<Inner>>,
    /// Changes (sender dropped) when the FakeOllama is dropped; endless
    /// responses watch it so that shutdown never waits on them.
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

pub struct FakeOllama {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: Option<watch::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeOllama {
    pub async fn start(scenario: Scenario) -> FakeOllama {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), scenario).await.expect("fake ollama: bind 127.0.0.1:0")
    }

    pub async fn start_on(addr: SocketAddr, scenario: Scenario) -> io::Result<FakeOllama> {
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
        Ok(FakeOllama { addr, inner, stop: Some(stop), thread: None })
    }

    pub fn spawn_in_thread(scenario: Scenario) -> FakeOllama {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = watch::channel(());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("fake ollama: tokio runtime");
            rt.block_on(async move {
                let server = FakeOllama::start(scenario).await;
                let _ = ready_tx.send((server.addr, server.inner.clone()));
                let _ = stopped.changed().await;
                drop(server);
            });
            // Dropping the runtime cancels every connection task, stalled ones included.
            drop(rt);
        });
        let (addr, inner) = ready_rx.recv().expect("fake ollama: server thread died");
        FakeOllama { addr, inner, stop: Some(stop), thread: Some(thread) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner).requests.clone()
    }
    pub fn chat_requests(&self) -> Vec<Value> {
        let inner = lock(&self.inner);
        inner.requests.iter().filter(|r| r.path == "/api/chat").map(|r| r.body.clone()).collect()
    }
    pub fn loaded(&self) -> Vec<String> {
        lock(&self.inner).loaded.clone()
    }
    /// Names of pulled models, in /api/tags order.
    pub fn pulled(&self) -> Vec<String> {
        lock(&self.inner).models.iter().map(|m| m.name.clone()).collect()
    }
}

impl Drop for FakeOllama {
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

fn json_response(status: u16, value: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], value.to_string()).into_response()
}

fn error(status: u16, message: &str) -> Response {
    json_response(status, &json!({ "error": message }))
}

fn ndjson(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

fn lines(values: &[Value]) -> Response {
    ndjson(Body::from(values.iter().map(|v| format!("{v}\n")).collect::<String>()))
}

async fn handle(State(app): State<App>, method: Method, uri: Uri, body: Bytes) -> Response {
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
    app.lock().requests.push(RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        body: parsed.clone().unwrap_or(Value::Null),
    });
    let (is_get, is_post) = (method == Method::GET || method == Method::HEAD, method == Method::POST);
    match path.as_str() {
        "/" if is_get => "Ollama is running".into_response(),
        "/api/version" if is_get => json_response(200, &json!({"version": "0.13.0"})),
        "/api/tags" if is_get => tags(&app),
        "/api/ps" if is_get => ps(&app),
        "/api/chat" | "/api/show" | "/api/pull" if is_post => {
            let req = match parsed {
                Ok(v) if v.is_object() => v,
                Ok(_) => return error(400, "json: cannot unmarshal request: expected an object"),
                Err(e) => return error(400, &e),
            };
            let Some(name) = req["model"].as_str().or(req["name"].as_str()).filter(|n| !n.is_empty()) else {
                return error(400, "model is required");
            };
            match path.as_str() {
                "/api/chat" => chat(&app, &req, name).await,
                "/api/show" => show(&app, name),
                _ => pull(&app, &req, name),
            }
        }
        _ => (StatusCode::NOT_FOUND, "404 page not found").into_response(),
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
    json_response(200, &json!({ "models": models }))
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
    json_response(200, &json!({ "models": models }))
}

fn show(app: &App, name: &str) -> Response {
    if find(&app.lock().models, name).is_none() {
        return error(404, &format!("model '{name}' not found"));
    }
    json_response(
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
        return if stream { lines(&[json!({ "error": message })]) } else { error(500, message) };
    };
    if !stream {
        return json_response(200, &json!({"status": "success"}));
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

/// The generation as planned when the request arrives.
struct Job {
    model: FakeModel,
    chunks: Vec<String>,
    /// `options.num_predict` ended the reply: `done_reason: length`.
    cut: bool,
    logprobs: bool,
    prompt_tokens: usize,
    start: Instant,
}

impl Job {
    fn chunk(&self, i: usize) -> Value {
        let text = &self.chunks[i];
        let mut line = json!({"model": self.model.name, "created_at": now(),
                              "message": {"role": "assistant", "content": text}, "done": false});
        if self.logprobs {
            line["logprobs"] = json!([{"token": text, "logprob": self.logprob(i)}]);
        }
        line
    }
    fn logprob(&self, i: usize) -> f64 {
        self.model.logprobs[i % self.model.logprobs.len()]
    }
    fn done(&self, content: &str) -> Value {
        let n = self.chunks.len() as u64;
        json!({"model": self.model.name, "created_at": now(),
               "message": {"role": "assistant", "content": content}, "done": true,
               "done_reason": if self.cut { "length" } else { "stop" }, "total_duration": self.start.elapsed().as_nanos() as u64 + 1,
               "load_duration": 1_000_000, "prompt_eval_count": self.prompt_tokens,
               "prompt_eval_duration": 2_000_000, "eval_count": n, "eval_duration": 10_000_000 * n})
    }
    fn stop_after(&self) -> usize {
        match &self.model.behaviour {
            Behaviour::Stall { after_chunks }
            | Behaviour::ErrorLine { after_chunks, .. }
            | Behaviour::Malformed { after_chunks }
            | Behaviour::Disconnect { after_chunks }
            | Behaviour::InvalidUtf8 { after_chunks } => (*after_chunks).min(self.chunks.len()),
            _ => self.chunks.len(),
        }
    }
    fn malformed(&self) -> String {
        format!("{{\"model\":\"{}\",\"message\":{{\"role\":\"assistant\",\"content\":\n", self.model.name)
    }
}

async fn chat(app: &App, req: &Value, name: &str) -> Response {
    let Some(model) = find(&app.lock().models, name).cloned() else {
        return error(404, &format!("model \"{name}\" not found, try pulling it first"));
    };
    match &model.behaviour {
        Behaviour::Status { status, error: e } => return error(*status, e),
        Behaviour::Html => {
            return (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!DOCTYPE html><html><body>It works!</body></html>\n",
            )
                .into_response();
        }
        Behaviour::BusyOnce if app.lock().busy_seen.insert(model.name.clone()) => {
            return error(503, BUSY_ERROR);
        }
        _ => {}
    }
    let stream = req["stream"].as_bool().unwrap_or(true);
    let unload = keep_alive_zero(&req["keep_alive"]);
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
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
    if messages.is_empty() {
        app.set_loaded(&canonical, !unload);
        let line = json!({"model": name, "created_at": now(), "message": {"role": "assistant", "content": ""},
                          "done_reason": if unload { "unload" } else { "load" }, "done": true});
        return if stream { lines(&[line]) } else { json_response(200, &line) };
    }
    app.set_loaded(&canonical, true);
    let chars: usize = messages.iter().map(|m| m["content"].as_str().map_or(0, str::len)).sum();
    // Like Ollama, `num_predict` ends the reply after that many tokens (a chunk is a token).
    let mut chunks = model.stream_chunks();
    let limit = req["options"]["num_predict"].as_u64().map_or(usize::MAX, |n| n as usize);
    let cut = chunks.len() > limit;
    chunks.truncate(limit);
    let job = Job {
        chunks,
        cut,
        logprobs: req["logprobs"] == json!(true) && !model.logprobs.is_empty(),
        prompt_tokens: chars / 4 + messages.len(),
        start: Instant::now(),
        model,
    };
    if stream {
        return stream_chat(app.clone(), job, unload);
    }
    let mut shutdown = app.shutdown.clone();
    let delay = Duration::from_millis(job.model.chunk_delay_ms.saturating_mul(job.chunks.len() as u64));
    let response = match &job.model.behaviour {
        Behaviour::Stall { .. } => {
            let _ = shutdown.changed().await;
            error(500, "fake ollama shutting down")
        }
        Behaviour::ErrorLine { message, .. } => error(500, message),
        Behaviour::Malformed { .. } => {
            ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], job.malformed()).into_response()
        }
        Behaviour::Disconnect { .. } => {
            let s = futures_util::stream::once(async { Err::<Bytes, _>(io::Error::other("fake disconnect")) });
            Body::from_stream(s).into_response()
        }
        _ => {
            tokio::time::sleep(delay).await;
            let mut done = job.done(&job.chunks.concat());
            if job.logprobs {
                done["logprobs"] =
                    (0..job.chunks.len()).map(|i| json!({"token": job.chunks[i], "logprob": job.logprob(i)})).collect();
            }
            json_response(200, &done)
        }
    };
    if unload {
        app.set_loaded(&canonical, false);
    }
    response
}

type Chunk = Result<Bytes, io::Error>;

fn stream_chat(app: App, job: Job, unload: bool) -> Response {
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let mut shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = produce(&tx, &job) => {}
            _ = shutdown.changed() => { let _ = tx.send(Err(io::Error::other("fake ollama shutting down"))).await; }
        }
        if unload {
            app.set_loaded(&job.model.name, false);
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    ndjson(Body::from_stream(body))
}

/// Returns early (None) once the client has gone away.
async fn produce(tx: &mpsc::Sender<Chunk>, job: &Job) -> Option<()> {
    let send = |line: String| async move { tx.send(Ok(Bytes::from(line))).await.ok() };
    // Chunk i at start + (i + 1) × delay, not delay after the previous one: timer slack must
    // not add up over hundreds of chunks (a streamed and an unstreamed answer take as long).
    let start = tokio::time::Instant::now();
    for i in 0..job.stop_after() {
        let due = start + Duration::from_millis(job.model.chunk_delay_ms) * (i as u32 + 1);
        tokio::time::sleep_until(due).await;
        send(format!("{}\n", job.chunk(i))).await?;
    }
    match &job.model.behaviour {
        Behaviour::Stall { .. } => tx.closed().await,
        Behaviour::ErrorLine { message, .. } => send(format!("{}\n", json!({ "error": message }))).await?,
        Behaviour::Malformed { .. } => send(job.malformed()).await?,
        Behaviour::InvalidUtf8 { .. } => {
            tx.send(Ok(Bytes::from_static(b"{\"message\": {\"content\": \"\xff\xfe\"}}\n"))).await.ok()?;
        }
        Behaviour::Loop => loop {
            let line = json!({"model": job.model.name, "created_at": now(),
                              "message": {"role": "assistant", "content": "I will say this again. "}, "done": false});
            send(format!("{line}\n")).await?;
        },
        Behaviour::Disconnect { .. } => {
            // Give hyper time to flush the earlier chunks: a body error
            // closes the socket without writing what is still buffered.
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(Err(io::Error::other("fake disconnect"))).await.ok()?;
        }
        _ => send(format!("{}\n", job.done(""))).await?,
    }
    Some(())
}
