//! How much of a model switch the preload hides. The fake Ollama simulates loading: a chat
//! for a model that is not loaded waits `LOAD` first. Each run starts a fresh fake (nothing
//! loaded) and a fresh server, asks for the code actions on a shell selection, "thinks" for
//! `THINK` as a user reading the menu does, picks "Generate script" and times until the
//! edit arrives. Preload on and off alternate, run by run.
//!
//! `cargo bench --bench preload` (about a minute). Expected: with preload on, the time to
//! the edit drops by about `THINK` (the load overlaps the think time).

#[path = "../tests/support/fake_model.rs"]
mod fake_model;
#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use std::time::{Duration, Instant};

use fake_model::{FakeModel, FakeServer as FakeOllama, Scenario};
use lsp_client::{ClientOptions, TestClient};

const CODE: &str = "qwen3-coder:30b-q4";
const FAST: &str = "llama3.2:11b-vision";
const LOAD: Duration = Duration::from_secs(2);
const THINK: Duration = Duration::from_secs(1);
const RUNS: usize = 5;
const URI: &str = "file:///bench/job.sh";

async fn one_run(preload: bool) -> Duration {
    let scenario = Scenario {
        models: vec![FakeModel::new(FAST, "fast"), FakeModel::new(CODE, "```bash\nfind . -type f -size +100M\n```")],
        load_delay_ms: LOAD.as_millis() as u64,
        ..Scenario::default()
    };
    let fake = FakeOllama::start(scenario).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    let config = format!(
        "language: en\nbackends:\n  local:\n    kind: ollama\n    url: \"{}\"\nvram:\n  probe:\n    kind: command\n    command: [echo, \"1000 10000\"]\nlsp:\n  preload: {preload}\n",
        fake.url()
    );
    std::fs::write(&path, config).unwrap();
    let (client, _) = TestClient::start(&path, ClientOptions::default()).await;
    client.open(URI, "shellscript", "#!/bin/bash\n# list files larger than 100MB\necho done\n").await;
    let actions = client.code_actions(URI, (1, 0), (1, 30)).await;
    tokio::time::sleep(THINK).await;
    let started = Instant::now();
    client.run_action(&actions, "Generate script").await;
    client.wait_for(30, "the edit", |m| m["method"] == "workspace/applyEdit").await;
    started.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (mut on, mut off) = (Vec::new(), Vec::new());
    runtime.block_on(async {
        for _ in 0..RUNS {
            on.push(one_run(true).await);
            off.push(one_run(false).await);
        }
    });
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "preload: action to edit with a {:.0} s load and {:.0} s think time, {RUNS} runs each, interleaved",
        LOAD.as_secs_f64(),
        THINK.as_secs_f64()
    );
    println!("  preload on:  median {:7.1} ms", ms(median(on)));
    println!("  preload off: median {:7.1} ms", ms(median(off)));
}
