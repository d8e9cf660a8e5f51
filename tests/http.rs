//! The HTTP API over real HTTP on 127.0.0.1: the router served in-process (and the built
//! binary for start-up, refusal and auth from the environment), against the fake Ollama.
//!
//! VRAM is read with a command probe (`echo "USED TOTAL"` in MiB), so the machine's GPU
//! does not matter.

#[path = "support/fake_model.rs"]
mod fake_model;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fake_model::{BUSY_ERROR, Behaviour, FakeModel, FakeServer as FakeOllama, Scenario};
use futures_util::StreamExt;
use llm_router_lsp::actions::Pipeline;
use llm_router_lsp::config::{BackendConfig, Config, Environment, OnDanger, OnVramWarning, ProbeConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_llm-router-lsp");
const FAST: &str = "llama3.2:11b-vision";
const CODE: &str = "qwen3-coder:30b-q4";
const HEAVY: &str = "llama3.1:70b";
/// No code signal: the fast model.
const FAST_Q: &str = "what is the capital of France";
/// "grep" and "errors": the code model.
const CODE_Q: &str = "grep all errors in /var/log/syslog and count them";
/// Anything slower than this fails the test instead of hanging the suite.
const DEADLINE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// Harness

fn standard() -> Scenario {
    scenario(vec![
        FakeModel::new(FAST, "fast answer"),
        FakeModel::new(CODE, "code answer"),
        FakeModel::new(HEAVY, "heavy answer"),
    ])
}

fn scenario(models: Vec<FakeModel>) -> Scenario {
    Scenario { models, ..Default::default() }
}

/// `standard()` with `model` replaced.
fn standard_with(model: FakeModel) -> Scenario {
    let mut s = standard();
    for m in &mut s.models {
        if m.name == model.name {
            *m = model.clone();
        }
    }
    s
}

/// Defaults pointing at `url`, VRAM read as 1000 / 10000 MiB.
fn config_for(url: &str) -> Config {
    let mut c = Config::defaults(&Environment::default());
    c.backends.insert("local".into(), BackendConfig::Ollama { url: url.into(), busy_retry_ms: 50 });
    c.vram.probe = probe("1000 10000");
    c
}

fn probe(reading: &str) -> ProbeConfig {
    ProbeConfig::Command { command: vec!["echo".into(), reading.into()] }
}

/// The API served in-process on 127.0.0.1:0.
struct Server {
    addr: SocketAddr,
    client: reqwest::Client,
    fake: Option<FakeOllama>,
}

impl Server {
    async fn start(scenario: Scenario, tweak: impl FnOnce(&mut Config)) -> Server {
        let fake = FakeOllama::start(scenario).await;
        let mut server = Self::start_at(&fake.url(), None, tweak).await;
        server.fake = Some(fake);
        server
    }

    async fn start_at(url: &str, token: Option<&str>, tweak: impl FnOnce(&mut Config)) -> Server {
        let mut config = config_for(url);
        tweak(&mut config);
        let app = llm_router_lsp::http::router(
            Arc::new(Pipeline::new(config.clone())),
            config.http.clone(),
            token.map(str::to_string),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let http = config.http.clone();
        tokio::spawn(async move { llm_router_lsp::http::serve_on(listener, app, &http, std::future::pending()).await });
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Server { addr, client, fake: None }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn fake(&self) -> &FakeOllama {
        self.fake.as_ref().expect("this server has a fake")
    }

    fn chat_models(&self) -> Vec<String> {
        self.fake().chat_requests().iter().map(|r| r["model"].as_str().unwrap_or_default().to_string()).collect()
    }

    fn post(&self, body: Value) -> reqwest::RequestBuilder {
        self.client.post(self.url("/infer")).json(&body)
    }

    async fn infer(&self, body: Value) -> (StatusCode, Value) {
        json_of(self.post(body).send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        json_of(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    async fn metrics(&self) -> String {
        let r = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let ct = r.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        r.text().await.unwrap()
    }

    /// Waits until `/metrics` has `line`.
    async fn wait_for_metric(&self, line: &str) -> String {
        let started = Instant::now();
        loop {
            let text = self.metrics().await;
            if text.lines().any(|l| l == line) {
                return text;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no {line:?} in /metrics:\n{text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn json_of(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text:?}"));
    (status, value)
}

/// Runs a test body under [`DEADLINE`].
async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(DEADLINE, f).await.expect("the test ran past its deadline")
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    event: String,
    data: Value,
}

/// Reads SSE events from a streaming response, one at a time.
struct SseReader {
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

impl SseReader {
    fn new(r: reqwest::Response) -> Self {
        Self { stream: r.bytes_stream().boxed(), buffer: String::new() }
    }

    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut data) = (String::from("message"), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(Sse { event, data: serde_json::from_str(&data).expect("event data is JSON") });
            }
            let chunk = self.stream.next().await?.expect("stream reads");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn all(mut self) -> Vec<Sse> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            out.push(e);
        }
        out
    }
}

/// A TCP proxy in front of the fake that counts the connections open through it, so that
/// a test sees the backend connection close. Closing the client side closes the server side.
struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (open, total) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (o, t) = (Arc::clone(&open), Arc::clone(&total));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                o.fetch_add(1, Ordering::SeqCst);
                t.fetch_add(1, Ordering::SeqCst);
                let o = Arc::clone(&o);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let (mut ri, mut wi) = inbound.split();
                        let (mut ro, mut wo) = outbound.split();
                        // Either side closing ends both: the fake sees the router hang up.
                        tokio::select! {
                            _ = tokio::io::copy(&mut ri, &mut wo) => {}
                            _ = tokio::io::copy(&mut ro, &mut wi) => {}
                        }
                    }
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Proxy { addr, open, total }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn wait_closed(&self) {
        let started = Instant::now();
        while self.open.load(Ordering::SeqCst) > 0 {
            assert!(started.elapsed() < Duration::from_secs(3), "the backend connection stayed open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A port nothing listens on.
/// A port nothing listens on. Not one freed from `bind(:0)`: a server of a test running in
/// parallel may be given it next (this flaked: the "unreachable" backend answered 404).
/// Port 9 (discard) lies below the ephemeral range that `:0` binds draw from.
fn closed_port_url() -> String {
    "http://127.0.0.1:9".to_string()
}

#[track_caller]
fn assert_contains(haystack: &str, needles: &[&str]) {
    for n in needles {
        assert!(haystack.contains(n), "{haystack:?} should contain {n:?}");
    }
}

// ---------------------------------------------------------------------------------------
// POST /infer

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infer_answers_with_the_spec_object() {
    within(async {
        let s = Server::start(standard(), |_| {}).await;
        let (status, v) = s.infer(json!({"query": CODE_Q})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["response"], "code answer");
        assert_eq!(v["model_used"], CODE);
        assert_eq!(v["tier"], "code");
        assert_eq!(v["confidence"], Value::Null);
        assert!((v["vram_usage"].as_f64().unwrap() - 0.1).abs() < 1e-9, "{v}");
        assert!(v["processing_time"].as_f64().unwrap() >= 0.0);
        assert_contains(&v["reasons"].to_string(), &["grep"]);
        assert!(v.get("fallback").is_none() && v.get("vram_decision").is_none(), "{v}");

        let (status, v) = s.infer(json!({"query": FAST_Q, "tier": "heavy", "language": null, "task": "explain"})).await;
        assert_eq!((status, v["model_used"].as_str()), (StatusCode::OK, Some(HEAVY)), "{v}");
        assert_eq!(s.chat_models(), [CODE, HEAVY]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vram_warning_is_decided_by_the_config_and_reported() {
    within(async {
        for (policy, status, model) in [
            (OnVramWarning::Fast, StatusCode::OK, Some(FAST)),
            (OnVramWarning::Continue, StatusCode::OK, Some(CODE)),
            (OnVramWarning::Cancel, StatusCode::CONFLICT, None),
        ] {
            let s = Server::start(standard(), |c| {
                c.vram.probe = probe("9000 10000");
                c.http.on_vram_warning = policy;
            })
            .await;
            let (got, v) = s.infer(json!({"query": CODE_Q})).await;
            assert_eq!(got, status, "{policy:?}: {v}");
            assert_eq!(v["vram_decision"], policy.as_str(), "{v}");
            assert_contains(v["vram_warning"].as_str().unwrap(), &["90.0%"]);
            assert_eq!(v["model_used"].as_str(), model, "{v}");
            assert_eq!(s.chat_models(), model.into_iter().collect::<Vec<_>>(), "{policy:?}");
            if policy == OnVramWarning::Cancel {
                assert_eq!(v["kind"], "vram_cancelled");
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_failures_have_their_statuses() {
    within(async {
        // Stalled with a 1 s timeout: 504.
        let s = Server::start(
            standard_with(FakeModel::new(FAST, "a b c d e f").with_behaviour(Behaviour::Stall { after_chunks: 1 })),
            |c| c.models.fast_model.timeout = 1,
        )
        .await;
        let (status, v) = s.infer(json!({"query": FAST_Q})).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{v}");
        assert_eq!((v["kind"].as_str(), v["tier"].as_str()), (Some("timeout"), Some("fast")), "{v}");
        assert_contains(v["error"].as_str().unwrap(), &["stalled"]);
        assert_eq!(v["fallback"], "none: the fast model is the last resort");

        // Busy, also on the retry: 503.
        let busy =
            FakeModel::new(FAST, "x").with_behaviour(Behaviour::Status { status: 503, error: BUSY_ERROR.into() });
        let s = Server::start(standard_with(busy), |_| {}).await;
        let (status, v) = s.infer(json!({"query": FAST_Q})).await;
        assert_eq!((status, v["kind"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("backend_busy")), "{v}");
        assert_eq!(s.chat_models(), [FAST, FAST], "one retry");

        // Not pulled, no fallback: 404 with what to pull.
        let s = Server::start(standard(), |c| {
            c.models.code_model.name = "missing-coder:7b".into();
            c.models.fallback_to_fast = false;
        })
        .await;
        let (status, v) = s.infer(json!({"query": CODE_Q})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
        assert_eq!(v["pull"], "ollama pull missing-coder:7b");
        assert_contains(v["error"].as_str().unwrap(), &["ollama pull missing-coder:7b"]);
        assert_eq!(v["fallback"], "none: fallback_to_fast is off");

        // Nothing listening: 502.
        let s = Server::start_at(&closed_port_url(), None, |_| {}).await;
        let (status, v) = s.infer(json!({"query": FAST_Q})).await;
        assert_eq!((status, v["kind"].as_str()), (StatusCode::BAD_GATEWAY, Some("backend_unreachable")), "{v}");
        assert_contains(v["error"].as_str().unwrap(), &["cannot reach Ollama"]);

        // A model failing mid-answer, with a fallback that works: 200, and the answer says so.
        let broken = FakeModel::new(CODE, "one two three four")
            .with_behaviour(Behaviour::ErrorLine { after_chunks: 1, message: "CUDA error".into() });
        let s = Server::start(standard_with(broken), |_| {}).await;
        let (status, v) = s.infer(json!({"query": CODE_Q})).await;
        assert_eq!((status, v["model_used"].as_str()), (StatusCode::OK, Some(HEAVY)), "{v}");
        assert_contains(v["fallback"].as_str().unwrap(), &[CODE, "CUDA error", HEAVY]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_400_415_and_413() {
    within(async {
        let s = Server::start(standard(), |c| c.http.max_body_bytes = 1024).await;
        for (body, expected) in [
            ("not json", "malformed request body"),
            ("{}", "missing field `query`"),
            (r#"{"query": ""}"#, "`query` is empty"),
            (r#"{"query": 5}"#, "invalid type"),
            (r#"{"query": "x", "tier": "huge"}"#, "unknown variant `huge`"),
            (r#"{"query": "x", "stream": "yes"}"#, "invalid type"),
            (r#"{"query": "x", "colour": "blue"}"#, "unknown field `colour`"),
            ("[1, 2]", "malformed request body"),
        ] {
            let r = s.client.post(s.url("/infer")).header("content-type", "application/json").body(body);
            let (status, v) = json_of(r.send().await.unwrap()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
            assert_eq!(v["kind"], "bad_request");
            assert_contains(v["error"].as_str().unwrap(), &[expected]);
        }
        let r = s.client.post(s.url("/infer")).header("content-type", "text/plain").body(r#"{"query":"x"}"#);
        let (status, v) = json_of(r.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
        let r = s.client.post(s.url("/infer")).body(r#"{"query":"x"}"#);
        assert_eq!(r.send().await.unwrap().status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let (status, v) = s.infer(json!({"query": "x".repeat(2000)})).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
        assert_contains(v["error"].as_str().unwrap(), &["1024 bytes", "http.max_body_bytes"]);
        // Without a Content-Length (chunked), the limit holds as well.
        let chunks = futures_util::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(vec![b' '; 400])));
        let r = s
            .client
            .post(s.url("/infer"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(chunks));
        assert_eq!(r.send().await.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(s.chat_models().is_empty());

        // The default limit is 1 MiB.
        let s = Server::start(standard(), |_| {}).await;
        let (status, _) = s.infer(json!({"query": "y".repeat(1024 * 1024)})).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let (status, v) = s.infer(json!({"query": "y ".repeat(100 * 1024)})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let metrics = s.metrics().await;
        assert_contains(&metrics, &["llm_router_requests_total{tier=\"none\",outcome=\"body_too_large\"} 1"]);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_sends_text_then_the_result() {
    within(async {
        let s =
            Server::start(standard_with(FakeModel::new(FAST, "").with_chunks(&["Par", "is ", "it is"])), |_| {}).await;
        let r = s.post(json!({"query": FAST_Q, "stream": true})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[reqwest::header::CONTENT_TYPE], "text/event-stream");
        let events = SseReader::new(r).all().await;
        let texts: Vec<&str> =
            events.iter().filter(|e| e.event == "text").map(|e| e.data["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["Par", "is ", "it is"]);
        let last = events.last().unwrap();
        assert_eq!(last.event, "result", "{events:?}");
        assert_eq!(
            (last.data["response"].as_str(), last.data["model_used"].as_str()),
            (Some("Paris it is"), Some(FAST))
        );
        assert_eq!(events.len(), 4);

        // A failure before any text keeps its status.
        let s = Server::start(standard(), |c| {
            c.models.fast_model.name = "gone:1b".into();
        })
        .await;
        let (status, v) = s.infer(json!({"query": FAST_Q, "stream": true})).await;
        assert_eq!((status, v["pull"].as_str()), (StatusCode::NOT_FOUND, Some("ollama pull gone:1b")), "{v}");

        // After text, a failure is the last event.
        let broken = FakeModel::new(FAST, "one two three four five six")
            .with_behaviour(Behaviour::ErrorLine { after_chunks: 1, message: "out of memory".into() });
        let s = Server::start(standard_with(broken), |_| {}).await;
        let r = s.post(json!({"query": FAST_Q, "stream": true})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let events = SseReader::new(r).all().await;
        assert_eq!(events[0], Sse { event: "text".into(), data: json!({"text": "one two three "}) });
        let last = events.last().unwrap();
        assert_eq!(last.event, "error", "{events:?}");
        assert_eq!((last.data["status"].as_u64(), last.data["kind"].as_str()), (Some(502), Some("backend_error")));
        assert_contains(last.data["error"].as_str().unwrap(), &["out of memory"]);

        // A fallback in the middle is announced, and the result says so.
        let broken = FakeModel::new(CODE, "alpha beta gamma delta epsilon")
            .with_behaviour(Behaviour::Disconnect { after_chunks: 1 });
        let s = Server::start(standard_with(broken), |_| {}).await;
        let r = s.post(json!({"query": CODE_Q, "stream": true})).send().await.unwrap();
        let events = SseReader::new(r).all().await;
        let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(names, ["text", "fallback", "text", "result"], "{events:?}");
        assert_eq!((events[1].data["from"].as_str(), events[1].data["to"].as_str()), (Some(CODE), Some(HEAVY)));
        assert_eq!(events[2].data["text"], "heavy answer");
        assert_eq!(events[3].data["model_used"], HEAVY);
        assert!(events[3].data["fallback"].is_string());
    })
    .await
}

/// The model answers an infer request with a destructive command in a shell block.
const DANGEROUS: &str = "Here you go:\n```bash\nrm -rf /\n```\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangerous_shell_code_is_refused_or_reported() {
    within(async {
        let dangerous = || standard_with(FakeModel::new(CODE, DANGEROUS));
        // Default `http.on_danger: refuse`: 422, the findings, and no code.
        let s = Server::start(dangerous(), |_| {}).await;
        for task in ["ask", "generate"] {
            let (status, v) = s.infer(json!({"query": CODE_Q, "task": task})).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{task}: {v}");
            assert_eq!((v["kind"].as_str(), v["status"].as_u64()), (Some("dangerous_code"), Some(422)), "{v}");
            assert_eq!(v["findings"][0]["category"], "delete-root", "{v}");
            assert_eq!(v["model_used"], CODE);
            assert!(v.get("response").is_none() && !v.to_string().contains("rm -rf /\\n"), "{v}");
            assert_contains(v["error"].as_str().unwrap(), &["withheld", "line 1", "delete-root"]);
        }
        // Streaming: the code never goes out, the prose before it does; the error comes last.
        let r = s.post(json!({"query": CODE_Q, "stream": true})).send().await.unwrap();
        let events = SseReader::new(r).all().await;
        let streamed: String =
            events.iter().filter(|e| e.event == "text").map(|e| e.data["text"].to_string()).collect();
        assert!(!streamed.contains("rm -rf") && streamed.contains("Here you go"), "{events:?}");
        let last = events.last().unwrap();
        assert_eq!((last.event.as_str(), last.data["kind"].as_str()), ("error", Some("dangerous_code")), "{events:?}");
        // Harmless shell code passes with its (empty) findings; plain prose carries none.
        let s = Server::start(standard_with(FakeModel::new(CODE, "```bash\nls -la /tmp\n```\n")), |_| {}).await;
        let (status, v) = s.infer(json!({"query": CODE_Q})).await;
        assert_eq!((status, &v["findings"]), (StatusCode::OK, &json!([])), "{v}");
        let (_, v) = s.infer(json!({"query": FAST_Q})).await;
        assert!(v.get("findings").is_none(), "{v}");

        // `report`: the code with the findings beside it, streamed as it came.
        let s = Server::start(dangerous(), |c| c.http.on_danger = OnDanger::Report).await;
        let (status, v) = s.infer(json!({"query": CODE_Q})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["response"], DANGEROUS);
        assert_eq!(v["findings"][0]["category"], "delete-root", "{v}");
        assert_eq!(v["findings"][0]["severity"], "danger", "{v}");
    })
    .await
}

/// A slow fast model: `n` pieces, one every 100 ms.
fn slow_fast_model(n: usize) -> FakeModel {
    let words: Vec<String> = (0..n).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    FakeModel::new(FAST, "").with_chunks(&refs).with_delay(100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_cancels_the_backend_request() {
    within(async {
        // 30 s of answer; the test is over long before, unless the cancel fails.
        let fake = FakeOllama::start(standard_with(slow_fast_model(300))).await;
        let proxy = Proxy::start(fake.addr()).await;
        let s = Server::start_at(&proxy.url(), None, |_| {}).await;

        // Streaming: read one piece, then hang up.
        let r = s.post(json!({"query": FAST_Q, "stream": true})).send().await.unwrap();
        let mut events = SseReader::new(r);
        assert_eq!(events.next().await.unwrap().event, "text");
        s.wait_for_metric("llm_router_in_flight_requests 1").await;
        assert_eq!(proxy.open.load(Ordering::SeqCst), 1);
        drop(events);
        proxy.wait_closed().await;
        s.wait_for_metric("llm_router_in_flight_requests 0").await;
        s.wait_for_metric("llm_router_requests_total{tier=\"fast\",outcome=\"disconnected\"} 1").await;

        // JSON: the client gives up before the answer.
        let err = s.post(json!({"query": FAST_Q})).timeout(Duration::from_millis(500)).send().await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        s.wait_for_metric("llm_router_requests_total{tier=\"fast\",outcome=\"disconnected\"} 2").await;
        assert_eq!(proxy.total.load(Ordering::SeqCst), 2, "one backend connection per request");
        proxy.wait_closed().await;
        s.wait_for_metric("llm_router_in_flight_requests 0").await;
        assert_eq!(fake.chat_requests().len(), 2);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnecting_while_the_model_is_silent_cancels_too() {
    within(async {
        let stalled = FakeModel::new(FAST, "a b c d e f").with_behaviour(Behaviour::Stall { after_chunks: 1 });
        let fake = FakeOllama::start(standard_with(stalled)).await;
        let proxy = Proxy::start(fake.addr()).await;
        let s = Server::start_at(&proxy.url(), None, |c| c.models.fast_model.timeout = 30).await;
        for (n, stream) in [(1, true), (2, false)] {
            let r = s.post(json!({"query": FAST_Q, "stream": stream}));
            if stream {
                let mut events = SseReader::new(r.send().await.unwrap());
                assert_eq!(events.next().await.unwrap().event, "text");
            } else {
                assert!(r.timeout(Duration::from_millis(300)).send().await.unwrap_err().is_timeout());
            }
            let line = format!("llm_router_requests_total{{tier=\"fast\",outcome=\"disconnected\"}} {n}");
            s.wait_for_metric(&line).await;
            assert_eq!(proxy.total.load(Ordering::SeqCst), n);
            proxy.wait_closed().await;
            s.wait_for_metric("llm_router_in_flight_requests 0").await;
        }
    })
    .await
}

/// Reads from a raw connection until it closes or `within` passes: Some(bytes) if closed.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_and_connection_floods_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    within(async {
        let s = Server::start(standard(), |c| {
            c.http.header_read_timeout = 1;
            c.http.body_read_timeout = 1;
            c.http.max_connections = 3;
        })
        .await;
        // Headers that never end: closed after the header timeout.
        let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        slow.write_all(b"POST /infer HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
        let started = Instant::now();
        assert!(closed_within(&mut slow, Duration::from_secs(5)).await.is_some(), "a slow header is cut off");
        assert!(started.elapsed() >= Duration::from_millis(900), "not before the timeout: {:?}", started.elapsed());
        // A body that never arrives: 408.
        let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        slow.write_all(
            b"POST /infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"q",
        )
        .await
        .unwrap();
        let answer = closed_within(&mut slow, Duration::from_secs(5)).await.expect("answered and closed");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("http.body_read_timeout (1 s)"), "{answer}");
        // Three idle connections hold every slot; the fourth is closed at once, and a slot
        // comes back when one of them goes.
        let mut idle = Vec::new();
        for _ in 0..3 {
            idle.push(tokio::net::TcpStream::connect(s.addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut extra = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        assert!(closed_within(&mut extra, Duration::from_millis(500)).await.is_some(), "over the cap: closed");
        // The idle ones time out on their headers and free their slots.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (status, _) = s.get("/health").await;
        assert_eq!(status, StatusCode::OK);
        drop(idle);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_are_limited() {
    within(async {
        let s = Server::start(standard_with(slow_fast_model(40)), |c| c.http.max_concurrent = 2).await;
        let mut streams = Vec::new();
        for _ in 0..2 {
            let r = s.post(json!({"query": FAST_Q, "stream": true})).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            streams.push(SseReader::new(r));
        }
        s.wait_for_metric("llm_router_in_flight_requests 2").await;
        let r = s.post(json!({"query": FAST_Q})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[reqwest::header::RETRY_AFTER], "1");
        let (_, v) = json_of(r).await;
        assert_contains(v["error"].as_str().unwrap(), &["http.max_concurrent"]);
        // Routing calls no model and is not limited.
        let (status, _) = s.get("/route?q=hello").await;
        assert_eq!(status, StatusCode::OK);
        // Several at once while full: every one is refused at once, none waits.
        let started = Instant::now();
        let refused = futures_util::future::join_all((0..5).map(|_| s.post(json!({"query": FAST_Q})).send())).await;
        assert!(refused.iter().all(|r| r.as_ref().unwrap().status() == StatusCode::TOO_MANY_REQUESTS));
        assert!(started.elapsed() < Duration::from_secs(2));
        // When one finishes, a new one is served.
        let first = streams.remove(0).all().await;
        assert_eq!(first.last().unwrap().event, "result");
        let (status, v) = s.infer(json!({"query": FAST_Q, "tier": "code"})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        drop(streams);
        let metrics = s.wait_for_metric("llm_router_in_flight_requests 0").await;
        assert_contains(&metrics, &["llm_router_requests_total{tier=\"none\",outcome=\"too_many_requests\"} 6"]);
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Auth

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_when_configured() {
    within(async {
        let fake = FakeOllama::start(standard()).await;
        let s = Server::start_at(&fake.url(), Some("s3cret-token"), |_| {}).await;
        for path in ["/health", "/route?q=x", "/metrics", "/openapi.json", "/nowhere"] {
            let r = s.client.get(s.url(path)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(r.headers()[reqwest::header::WWW_AUTHENTICATE], "Bearer");
            let (_, v) = json_of(r).await;
            assert_eq!(v["kind"], "unauthorized");
            assert!(!v.to_string().contains("s3cret"), "{v}");
        }
        for auth in ["Bearer wrong", "Bearer s3cret-toke", "Bearer s3cret-token2", "Basic s3cret-token", "s3cret-token"]
        {
            let r = s.post(json!({"query": FAST_Q})).header("authorization", auth).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth}");
        }
        assert!(fake.chat_requests().is_empty());
        let r = s.post(json!({"query": FAST_Q})).bearer_auth("s3cret-token").send().await.unwrap();
        let (status, v) = json_of(r).await;
        assert_eq!((status, v["model_used"].as_str()), (StatusCode::OK, Some(FAST)), "{v}");
        // With a token, any Host name is fine.
        let r = s.client.get(s.url("/health")).header("host", "router.example:8765").bearer_auth("s3cret-token");
        assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_loopback_host_names_are_answered() {
    within(async {
        let s = Server::start(standard(), |_| {}).await;
        let (status, _) = s.infer(json!({"query": FAST_Q})).await;
        assert_eq!(status, StatusCode::OK, "no token needed on loopback");
        for host in ["localhost:8765", "127.0.0.1", "[::1]:1"] {
            let r = s.client.get(s.url("/health")).header("host", host).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{host}");
        }
        let r = s.post(json!({"query": FAST_Q})).header("host", "attacker.example").send().await.unwrap();
        let (status, v) = json_of(r).await;
        assert_eq!((status, v["kind"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden_host")), "{v}");
        assert_eq!(s.chat_models(), [FAST]);
    })
    .await
}

// ---------------------------------------------------------------------------------------
// GET endpoints

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_decides_without_calling_a_model() {
    within(async {
        let s = Server::start(standard(), |_| {}).await;
        let (status, v) = s.get("/route?q=grep+all+errors").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(
            (v["tier"].as_str(), v["model"].as_str(), v["backend"].as_str()),
            (Some("code"), Some(CODE), Some("local"))
        );
        assert_contains(&v["reasons"].to_string(), &["grep"]);
        assert!(v["tokens"].is_string());
        let (_, v) = s.get("/route?q=hello&tier=heavy").await;
        assert_eq!(v["model"], HEAVY);
        let (_, v) = s.get("/route?q=x%3Dy&language=python").await;
        assert_eq!(v["tier"], "code");
        let (_, v) = s.get("/route?q=make+a+list&task=generate").await;
        assert_eq!(v["tier"], "code");
        for (path, expected) in [
            ("/route", "missing query parameter `q`"),
            ("/route?q=", "missing query parameter `q`"),
            ("/route?q=x&tier=huge", "unknown variant `huge`"),
            ("/route?q=x&task=sing", "unknown variant `sing`"),
        ] {
            let (status, v) = s.get(path).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {v}");
            assert_contains(v["error"].as_str().unwrap(), &[expected]);
        }
        assert!(s.fake().chat_requests().is_empty());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_backends_and_vram() {
    within(async {
        let s = Server::start(standard(), |_| {}).await;
        let (status, v) = s.get("/health").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "ok");
        let local = &v["backends"]["local"];
        assert_eq!((local["reachable"].as_bool(), local["version"].as_str()), (Some(true), Some("0.13.0")), "{v}");
        assert_eq!(local["used_by"], json!(["fast", "code", "heavy"]));
        assert_eq!((v["vram"]["ok"].as_bool(), v["vram"]["probe"].as_str()), (Some(true), Some("command")));
        assert!((v["vram"]["usage"].as_f64().unwrap() - 0.1).abs() < 1e-9);

        let s = Server::start_at(&closed_port_url(), None, |c| {
            c.vram.probe = ProbeConfig::Command { command: vec!["false".into()] };
        })
        .await;
        let (status, v) = s.get("/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        assert_eq!(
            (v["status"].as_str(), v["backends"]["local"]["reachable"].as_bool()),
            (Some("unavailable"), Some(false))
        );
        assert_contains(v["backends"]["local"]["error"].as_str().unwrap(), &["cannot reach"]);
        assert_eq!(v["vram"]["ok"], false);
        assert!(v["vram"]["error"].is_string());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_tier_and_outcome() {
    within(async {
        let s = Server::start(standard(), |c| c.models.code_model.name = "missing:1b".into()).await;
        s.infer(json!({"query": FAST_Q})).await;
        s.infer(json!({"query": FAST_Q})).await;
        s.infer(json!({"query": FAST_Q, "tier": "heavy"})).await;
        // The code model is missing: the fast model stands in.
        let (_, v) = s.infer(json!({"query": CODE_Q})).await;
        assert_eq!(v["model_used"], FAST);
        s.infer(json!({"query": ""})).await;
        let text = s.metrics().await;
        for line in [
            "llm_router_requests_total{tier=\"fast\",outcome=\"ok\"} 3",
            "llm_router_requests_total{tier=\"heavy\",outcome=\"ok\"} 1",
            "llm_router_requests_total{tier=\"none\",outcome=\"bad_request\"} 1",
            "llm_router_request_seconds_count 4",
            "llm_router_request_seconds_bucket{le=\"+Inf\"} 4",
            "# TYPE llm_router_request_seconds histogram",
            "llm_router_in_flight_requests 0",
            "llm_router_max_concurrent 4",
            "llm_router_vram_usage_ratio 0.1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_served_and_unknown_paths_are_json_404() {
    within(async {
        let s = Server::start(standard(), |_| {}).await;
        let (status, doc) = s.get("/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        let file: Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(doc, file);
        let (status, v) = s.get("/nowhere").await;
        assert_eq!((status, v["kind"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
        let r = s.client.delete(s.url("/infer")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[reqwest::header::ALLOW], "POST");
    })
    .await
}

// ---------------------------------------------------------------------------------------
// The binary

/// The binary with a config in `dir`, no inherited config, locale or Ollama address.
fn command(dir: &std::path::Path, config: &Value, args: &[&str]) -> Command {
    let path = dir.join("config.yaml");
    std::fs::write(&path, serde_json::to_string_pretty(config).unwrap()).unwrap();
    let mut c = Command::new(BIN);
    for var in ["LLM_ROUTER_LSP_CONFIG", "OLLAMA_HOST", "LC_ALL", "LC_MESSAGES", "HTTP_PROXY", "http_proxy"] {
        c.env_remove(var);
    }
    c.env("LANG", "C").env("HOME", dir).env("XDG_CONFIG_HOME", dir).env("RUST_LOG", "debug");
    c.arg("--config").arg(&path).arg("serve-http").args(args);
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn wait_exit(mut child: Child) -> (i32, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned());
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("serve-http did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills the server when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_refuses_a_public_address_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({"vram": {"probe": {"kind": "none"}}});
    let (code, stderr) = wait_exit(command(dir.path(), &config, &["--listen", "0.0.0.0:0"]).spawn().unwrap());
    assert_eq!(code, 2, "{stderr}");
    assert_contains(&stderr, &["refusing to listen on 0.0.0.0:0 without a token", "http.token_env"]);

    let config =
        json!({"vram": {"probe": {"kind": "none"}}, "http": {"token_env": "ROUTER_TEST_TOKEN", "listen": "0.0.0.0:0"}});
    let mut c = command(dir.path(), &config, &[]);
    c.env_remove("ROUTER_TEST_TOKEN");
    let (code, stderr) = wait_exit(c.spawn().unwrap());
    assert_eq!(code, 2, "{stderr}");
    assert_contains(&stderr, &["ROUTER_TEST_TOKEN", "unset or empty"]);

    let (code, stderr) = wait_exit(command(dir.path(), &config, &["--listen", "nowhere"]).spawn().unwrap());
    assert_eq!(code, 2, "{stderr}");
    assert_contains(&stderr, &["expected IP:PORT"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_with_a_token_from_the_environment() {
    let fake = FakeOllama::start(standard()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "backends": {"local": {"kind": "ollama", "url": fake.url()}},
        "vram": {"probe": {"kind": "command", "command": ["echo", "1000 10000"]}},
        "http": {"token_env": "ROUTER_TEST_TOKEN"},
    });
    let token = "tok-0123456789abcdef";
    let mut c = command(dir.path(), &config, &["--listen", "127.0.0.1:0"]);
    c.env("ROUTER_TEST_TOKEN", token);
    let mut child = Running(c.spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let stderr = child.0.stderr.take().unwrap();
    let stderr_text = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    within(async {
        let r = client.post(format!("{base}/infer")).json(&json!({"query": FAST_Q})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = client.post(format!("{base}/infer")).json(&json!({"query": FAST_Q})).bearer_auth("nope").send().await;
        assert_eq!(r.unwrap().status(), StatusCode::UNAUTHORIZED);
        let r = client.post(format!("{base}/infer")).json(&json!({"query": FAST_Q})).bearer_auth(token).send().await;
        let (status, v) = json_of(r.unwrap()).await;
        assert_eq!((status, v["response"].as_str()), (StatusCode::OK, Some("fast answer")), "{v}");
    })
    .await;
    drop(child);
    let log = stderr_text.join().unwrap();
    assert!(log.contains("POST /infer"), "debug log expected: {log}");
    assert!(!log.contains(token), "the token was logged:\n{log}");
}
