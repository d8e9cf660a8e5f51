//! Idle memory of the language server: starts it over stdio with the tests' LSP client
//! (tests/support/lsp_client.rs), waits a second after `initialize`, and prints VmRSS from
//! /proc/PID/status; then opens a 10,000-line shell file, waits for its lint's diagnostics
//! and a second more, and prints it again.
//!
//! `cargo run --release --example measure_rss -- [BINARY]` (default target/release/llm-router-lsp)

#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use lsp_client::{ClientOptions, ServerSide, TestClient};

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn run(binary: &str) -> Result<(), String> {
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = home.path().join("config.yaml");
    std::fs::write(
        &config,
        "backends:\n  local:\n    kind: ollama\n    url: http://127.0.0.1:9\nvram:\n  probe: {kind: none}\n",
    )
    .map_err(|e| e.to_string())?;
    let mut command = tokio::process::Command::new(binary);
    command
        .arg("--config")
        .arg(&config)
        .env_clear()
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("LANG", "C")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stderr(Stdio::null());
    let started = Instant::now();
    let (client, _) = TestClient::spawn(command, ClientOptions::default(), None).await?;
    let answered = started.elapsed();
    let ServerSide::Child(child) = &client.server else { unreachable!("spawn starts a child") };
    let pid = child.id().ok_or("the server exited")?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_kib(pid).ok_or("no VmRSS for the server")?;
    let text: String = (0..10_000).map(|i| format!("echo line {i} && ls -la /tmp | grep foo\n")).collect();
    client.open("file:///big.sh", "shellscript", &text).await;
    // The lint (with shellcheck when installed) ends in publishDiagnostics and hands its
    // parse memory back after that; on a busy machine that can take seconds.
    let linted = client
        .wait_within(Duration::from_secs(60), |all| {
            all.iter()
                .any(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == "file:///big.sh")
        })
        .await;
    if !linted {
        return Err("no diagnostics for the opened file within 60 s".into());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let opened = rss_kib(pid).ok_or("no VmRSS for the server")?;
    client.shutdown().await;
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("initialize answered after {:.1} ms (process start included)", answered.as_secs_f64() * 1000.0);
    println!("idle RSS after initialize: {:.1} MiB", mib(idle));
    println!(
        "after opening a 10,000-line shell file: {:.1} MiB (+{:.1} MiB)",
        mib(opened),
        mib(opened.saturating_sub(idle))
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let binary = std::env::args().nth(1).unwrap_or_else(|| "target/release/llm-router-lsp".into());
    match run(&binary).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("measure_rss: {e}");
            ExitCode::FAILURE
        }
    }
}
