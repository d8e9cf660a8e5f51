//! Runs the tests' fake model server (tests/support/fake_model.rs) as its own process, both
//! dialects on one port (Ollama at the address, the OpenAI-compatible API under `/v1`):
//! `cargo run --example fake_ollama -- [--port N] [--scenario FILE.json] [--load-delay SECONDS] [--ignore-stdin]`
//!
//! Prints `listening on http://127.0.0.1:PORT` once, then serves until killed
//! or until stdin reaches EOF, so that a parent that dies takes it down
//! (`--ignore-stdin` turns that off, e.g. for `&` in a shell).

#[path = "../tests/support/fake_model.rs"]
mod fake_model;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::io::AsyncReadExt;

fn parse_args() -> Result<(u16, fake_model::Scenario, bool), String> {
    let (mut port, mut scenario, mut ignore_stdin) = (0, fake_model::default_scenario(), false);
    let mut load_delay_ms = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let v = args.next().ok_or("--port needs a value")?;
                port = v.parse().map_err(|e| format!("bad --port {v:?}: {e}"))?;
            }
            "--scenario" => {
                let path = args.next().ok_or("--scenario needs a file")?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                scenario = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
            }
            "--ignore-stdin" => ignore_stdin = true,
            // Simulates loading: the first chat for a model not yet loaded waits this long.
            "--load-delay" => {
                let v = args.next().ok_or("--load-delay needs seconds")?;
                let secs: f64 = v.parse().map_err(|e| format!("bad --load-delay {v:?}: {e}"))?;
                load_delay_ms = Some((secs * 1000.0) as u64);
            }
            "-h" | "--help" => {
                return Err(
                    "usage: fake_ollama [--port N] [--scenario FILE.json] [--load-delay SECONDS] [--ignore-stdin]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let Some(ms) = load_delay_ms {
        scenario.load_delay_ms = ms;
    }
    Ok((port, scenario, ignore_stdin))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (port, scenario, ignore_stdin) = match parse_args() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("fake_ollama: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match fake_model::FakeServer::start_on(SocketAddr::from(([127, 0, 0, 1], port)), scenario).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake_ollama: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "listening on {}", server.url());
    let _ = stdout.flush();
    drop(stdout);
    if ignore_stdin {
        std::future::pending::<()>().await;
    }
    let (mut stdin, mut buf) = (tokio::io::stdin(), [0u8; 1024]);
    while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    drop(server);
    ExitCode::SUCCESS
}
