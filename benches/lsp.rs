//! The language server's own cost, over the in-process JSON-RPC client of the tests:
//!
//! - `lsp/code_action_10k_lines`: `textDocument/codeAction` request → response for a 3-line
//!   selection in an open 10,000-line shell script.
//! - `lsp/generate_job/*`: a whole "Generate script" job against a backend that answers at
//!   once (one chunk, no delay), from `workspace/executeCommand` to the `workspace/applyEdit`
//!   arriving at the client;
//! - `lsp/bare_chat/*`: the server's own chat request sent straight to that backend with
//!   reqwest and read to the end. The difference of the medians is what the server adds:
//!   progress, routing, the VRAM check's `/api/ps` and `/api/tags`, checking the answer,
//!   building and sending the edit. The summary splits it at the first `$/progress` that
//!   reports text: before the model answers, and after.
//!
//! Two backends: `fake_ollama` is the tests' fake (tests/support/fake_model.rs); its
//! sockets leave Nagle's algorithm on, so a response written in several pieces can wait for
//! the client's delayed ACK (up to ~40 ms on Linux), which swamps both numbers. `nodelay`
//! is the same protocol from a minimal axum app with TCP_NODELAY, which shows the server's
//! own share. Everything runs on one 2-worker tokio runtime; at the end the medians of every
//! measured job are printed with their difference.
//!
//! `cargo bench --bench lsp` (about a minute).

#[path = "../tests/support/fake_model.rs"]
mod fake_model;
#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime};
use fake_model::{FakeModel, FakeServer as FakeOllama, Scenario};
use lsp_client::{ClientOptions, TestClient};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const FAST: &str = "llama3.2:11b-vision";
const CODE: &str = "qwen3-coder:30b-q4";
const BIG: &str = "file:///bench/big.sh";
const JOB: &str = "file:///bench/job.sh";
const DESCRIPTION: &str = "# list files larger than 100MB";
const REPLY: &str = "```bash\nfind . -type f -size +100M\n```";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn big_script(lines: usize) -> String {
    let mut s = String::from("#!/bin/bash\nset -euo pipefail\n");
    for i in 2..lines {
        s.push_str(&match i % 4 {
            0 => format!("# step {i}: archive the data of host {i}\n"),
            1 => format!("tar -czf /srv/backup/host{i}.tgz /srv/data/host{i} && echo \"archived {i}\"\n"),
            2 => format!("find /var/log/host{i} -name '*.log' -mtime +7 -print0 | xargs -0 -r gzip -9\n"),
            _ => format!("if [ -d /srv/data/host{i} ]; then du -sh /srv/data/host{i}; fi\n"),
        });
    }
    s
}

/// The tests' fake with instant one-chunk replies.
async fn fake() -> FakeOllama {
    FakeOllama::start(Scenario {
        models: vec![
            FakeModel::new(FAST, "hi").with_chunks(&["hi"]),
            FakeModel::new(CODE, "").with_chunks(&[REPLY]).with_size(2 << 30),
        ],
        ..Scenario::default()
    })
    .await
}

/// The same answers from a minimal axum app with TCP_NODELAY: `/api/ps`, `/api/tags`, and
/// `/api/chat` streaming one chunk and the closing line as two pieces, like the fake.
async fn nodelay_ollama() -> String {
    use axum::body::Body;
    use axum::http::header;
    use axum::routing::{get, post};
    use axum::serve::ListenerExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/api/ps", get(|| async { axum::Json(json!({"models": []})) }))
        .route(
            "/api/tags",
            get(|| async {
                axum::Json(json!({"models": [{"name": FAST, "model": FAST, "size": 1u64 << 30}, {"name": CODE, "model": CODE, "size": 2u64 << 30}]}))
            }),
        )
        .route(
            "/api/chat",
            post(|axum::Json(request): axum::Json<Value>| async move {
                let model = request["model"].as_str().unwrap_or_default().to_string();
                let lines = [
                    json!({"model": model, "message": {"role": "assistant", "content": REPLY}, "done": false}),
                    json!({"model": model, "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "eval_count": 1}),
                ];
                let pieces = lines.map(|l| Ok::<_, std::io::Error>(format!("{l}\n")));
                ([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(futures_util::stream::iter(pieces)))
            }),
        );
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A server whose one backend is `url`, with a document to generate in.
async fn client_for(url: &str) -> (TestClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    // No VRAM probe (no process per job); the check still asks for /api/ps and /api/tags.
    let config = format!(
        "language: en\nbackends:\n  local:\n    kind: ollama\n    url: \"{url}\"\nvram:\n  probe:\n    kind: none\n"
    );
    std::fs::write(&path, config).unwrap();
    let (client, _) = TestClient::start(&path, ClientOptions::default()).await;
    client.open(JOB, "shellscript", &format!("#!/bin/bash\n{DESCRIPTION}\necho done\n")).await;
    (client, dir)
}

/// One generate job, timed at the client: executeCommand → the model's first text reported
/// in `$/progress` (`pre`) and → the `workspace/applyEdit` arriving (`total`). Then waits
/// (untimed) for the closing message and removes the generated line, so every job sees the
/// same document.
struct JobTimes {
    total: Duration,
    pre: Duration,
}

async fn generate_once(client: &TestClient) -> JobTimes {
    client.clear_received();
    let range = json!({"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": DESCRIPTION.len()}});
    let start = Instant::now();
    let response = client.execute("llm-router.generate", json!({"uri": JOB, "range": range})).await;
    assert_eq!(response["result"], Value::Null, "{response:#}");
    client.wait_until(10, "the closing message", |all| all.iter().any(|m| m["method"] == "window/showMessage")).await;
    let received = client.received_with_times();
    let at = |pred: &dyn Fn(&Value) -> bool| {
        received.iter().find(|(_, m)| pred(m)).map(|(t, _)| *t - start).expect("the message")
    };
    let total = at(&|m| m["method"] == "workspace/applyEdit");
    let pre = at(&|m| {
        m["method"] == "$/progress"
            && m["params"]["value"]["message"].as_str().is_some_and(|t| t.ends_with("characters received"))
    });
    let message = client.messages("window/showMessage");
    assert!(message[0]["params"]["message"].as_str().unwrap().starts_with(CODE), "{message:#?}");
    client.edit(JOB, (2, 0), (3, 0), "").await;
    JobTimes { total, pre }
}

fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort_unstable();
    s[s.len() / 2]
}

struct Summary {
    job: Duration,
    pre: Duration,
    bare: Duration,
}

/// Benchmarks the job and the bare chat on one backend; returns the medians of every
/// measured iteration (warm-up included).
fn job_vs_chat(group: &mut BenchmarkGroup<WallTime>, rt: &Runtime, name: &str, url: &str, chat: &Value) -> Summary {
    let (client, _dir) = rt.block_on(client_for(url));
    rt.block_on(generate_once(&client));
    assert_eq!(client.text(JOB), format!("#!/bin/bash\n{DESCRIPTION}\necho done\n"));
    let jobs = RefCell::new(Vec::new());
    group.bench_function(format!("generate_job/{name}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = generate_once(&client).await;
                    total += t.total;
                    jobs.borrow_mut().push(t);
                }
                total
            })
        })
    });
    let http = reqwest::Client::new();
    let chat_url = format!("{url}/api/chat");
    let bare = || async {
        let start = Instant::now();
        let response = http.post(&chat_url).json(chat).send().await.unwrap();
        assert!(response.status().is_success());
        let body = response.bytes().await.unwrap();
        let elapsed = start.elapsed();
        assert!(body.ends_with(b"\n") && String::from_utf8_lossy(&body).contains("\"done\":true"));
        elapsed
    };
    rt.block_on(bare());
    let chats = RefCell::new(Vec::new());
    group.bench_function(format!("bare_chat/{name}"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = bare().await;
                    chats.borrow_mut().push(t);
                    total += t;
                }
                total
            })
        })
    });
    let jobs = jobs.into_inner();
    Summary {
        job: median(&jobs.iter().map(|t| t.total).collect::<Vec<_>>()),
        pre: median(&jobs.iter().map(|t| t.pre).collect::<Vec<_>>()),
        bare: median(&chats.into_inner()),
    }
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let fake = rt.block_on(fake());
    let mut group = c.benchmark_group("lsp");
    group.sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(6));

    // (a) codeAction on a 10,000-line document, opened once.
    let (client, _dir) = rt.block_on(client_for(&fake.url()));
    // Titles count tokens once the tokenizer is loaded: measure that steady state.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !llm_router_lsp::router::tokens::is_loaded() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    rt.block_on(client.open(BIG, "shellscript", &big_script(10_000)));
    let actions = rt.block_on(client.code_actions(BIG, (5000, 0), (5002, 60)));
    assert_eq!(actions.len(), 3, "{actions:#?}");
    assert!(actions[0]["title"].as_str().unwrap().ends_with(&format!("({CODE})")), "{actions:#?}");
    group.bench_function("code_action_10k_lines", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                client.clear_received();
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(client.code_actions(BIG, (5000, 0), (5002, 60)).await);
                }
                start.elapsed()
            })
        })
    });

    // (b) The server's chat request, as the backend receives it, to replay bare.
    rt.block_on(generate_once(&client));
    let chat = fake.chat_requests().pop().expect("the server's chat request");
    assert_eq!(chat["model"], CODE);
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/api/ps", "/api/tags", "/api/chat"], "what one job asks the backend");
    drop(client);

    let mut summary = Vec::new();
    summary.push(("fake_ollama", job_vs_chat(&mut group, &rt, "fake_ollama", &fake.url(), &chat)));
    let nodelay = rt.block_on(nodelay_ollama());
    summary.push(("nodelay", job_vs_chat(&mut group, &rt, "nodelay", &nodelay, &chat)));
    group.finish();
    for (name, s) in summary {
        println!(
            "{name}: median generate job {:.3?}, median bare chat {:.3?}, added by the server {:.3?} \
             (executeCommand to the first text in $/progress {:.3?}, from there to applyEdit {:.3?})",
            s.job,
            s.bare,
            s.job.saturating_sub(s.bare),
            s.pre,
            s.job.saturating_sub(s.pre)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
