//! Side-by-side latency of llm-router-lsp and lsp-ai 0.7.0 over stdio, against the same
//! instantly answering fake Ollama (`examples/fake_ollama.rs`, TCP_NODELAY like real Ollama).
//!
//! For each case both servers are driven by the tests' LSP client
//! (tests/support/lsp_client.rs), interleaved A B A B: the time from choosing the action
//! (ours: `workspace/executeCommand`; lsp-ai: `codeAction/resolve`, where it runs the model)
//! to the edit arriving at the client (ours: the `workspace/applyEdit` request; lsp-ai: the
//! resolve response), both taken from the moment the client read the message. Prints median,
//! min and max per server and the ratio of the medians. Run through scripts/peer-bench.sh,
//! which builds and installs both:
//!
//! `peer_bench OURS LSP_AI FAKE_OLLAMA [ROUNDS]`
//!
//! Cases: Generate on a one-line description, Explain on one line (both answered at once),
//! and Generate with a 300-token answer streamed at 200 tokens/s.

#[path = "../tests/support/lsp_client.rs"]
mod lsp_client;

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use lsp_client::{ClientOptions, TestClient};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const CODE: &str = "qwen3-coder:30b-q4";
const FAST: &str = "llama3.2:11b-vision";
const REPLY: &str = "```bash\nfind . -type f -size +100M\n```";
const WARM_UP: usize = 2;

#[derive(Clone, Copy, PartialEq)]
enum Case {
    Generate,
    Explain,
}

impl Case {
    fn text(self) -> &'static str {
        match self {
            Case::Generate => "#!/bin/bash\n# list files larger than 100MB\necho done\n",
            Case::Explain => "#!/bin/bash\ntar -xzvf backup.tar.gz -C /opt\necho done\n",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Case::Generate => "Generate script",
            Case::Explain => "Explain command",
        }
    }

    fn lspai_prompt(self) -> &'static str {
        match self {
            Case::Generate => "Write a shell script for: {CODE}",
            Case::Explain => "Explain this command: {CODE}",
        }
    }
}

struct Fake {
    child: tokio::process::Child,
    url: String,
}

async fn start_fake(binary: &Path, dir: &Path, streamed: bool) -> Result<Fake, String> {
    let code = if streamed {
        // 300 tokens at 200 tokens/s: what the server adds on top of a streamed answer.
        let mut chunks = vec!["```bash\n".to_string()];
        chunks.extend((0..298).map(|i| format!("echo {i}\n")));
        chunks.push("```".into());
        json!({"name": CODE, "reply": "", "chunks": chunks, "chunk_delay_ms": 5})
    } else {
        json!({"name": CODE, "reply": REPLY})
    };
    let scenario = json!({"models": [{"name": FAST, "reply": "fast"}, code], "loaded": [FAST, CODE]});
    let path = dir.join(if streamed { "streamed.json" } else { "instant.json" });
    std::fs::write(&path, scenario.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut child = tokio::process::Command::new(binary)
        .arg("--scenario")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout from the fake")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).await.map_err(|e| e.to_string())?;
    let url = line.split_whitespace().last().ok_or("the fake printed no address")?.to_string();
    Ok(Fake { child, url })
}

fn quiet(binary: &Path, home: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(binary);
    c.env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("LANG", "C")
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stderr(Stdio::null());
    c
}

async fn ours(binary: &Path, home: &Path, url: &str) -> Result<TestClient, String> {
    let config = home.join("ours.yaml");
    let yaml = format!(
        "backends:\n  local:\n    kind: ollama\n    url: \"{url}\"\nvram:\n  probe: {{kind: none}}\nlsp:\n  preload: false\n"
    );
    std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
    let mut command = quiet(binary, home);
    command.arg("--config").arg(&config);
    let options = ClientOptions { code_action_resolve: true, ..ClientOptions::default() };
    Ok(TestClient::spawn(command, options, None).await?.0)
}

async fn lspai(binary: &Path, home: &Path, url: &str, case: Case) -> Result<TestClient, String> {
    let options = json!({
        "memory": {"file_store": {}},
        "models": {"m": {"type": "ollama", "model": CODE, "chat_endpoint": format!("{url}/api/chat"),
                         "generate_endpoint": format!("{url}/api/generate")}},
        "actions": [{"action_display_name": "Run", "model": "m",
                     "parameters": {"max_context": 4096, "messages": [{"role": "user", "content": case.lspai_prompt()}]},
                     "post_process": {"extractor": "(?s)```\\w*\\n(.*?)```"}}],
    });
    let options =
        ClientOptions { code_action_resolve: true, initialization_options: options, ..ClientOptions::default() };
    Ok(TestClient::spawn(quiet(binary, home), options, None).await?.0)
}

/// Opens a fresh document for round `n` and returns the code actions on its second line.
async fn open_with_actions(c: &TestClient, case: Case, n: usize) -> (String, Vec<Value>) {
    let uri = format!("file:///bench/{}{n}.sh", case.title().replace(' ', "-"));
    c.open(&uri, "shellscript", case.text()).await;
    let actions = c.code_actions(&uri, (1, 0), (1, 30)).await;
    (uri, actions)
}

/// When the client read the first message satisfying `pred`, waiting up to 30 s for it.
async fn arrival(c: &TestClient, what: &str, pred: impl Fn(&Value) -> bool) -> Instant {
    c.wait_for(30, what, &pred).await;
    c.received_with_times().into_iter().find(|(_, m)| pred(m)).map(|(at, _)| at).expect("just received")
}

async fn time_ours(c: &TestClient, case: Case, n: usize) -> Duration {
    let (_, actions) = open_with_actions(c, case, n).await;
    let action = actions
        .iter()
        .find(|a| a["title"].as_str().is_some_and(|t| t.starts_with(case.title())))
        .unwrap_or_else(|| panic!("no {:?} action in {actions:#?}", case.title()));
    let command = &action["command"];
    c.clear_received();
    let start = Instant::now();
    let params = json!({"command": command["command"], "arguments": command["arguments"]});
    let _pending = c.request_later("workspace/executeCommand", params).await;
    let at = arrival(c, "workspace/applyEdit", |m| m["method"] == "workspace/applyEdit").await;
    c.wait_for(30, "the closing message", |m| m["method"] == "window/showMessage").await;
    at - start
}

async fn time_lspai(c: &TestClient, case: Case, n: usize) -> Duration {
    let (_, actions) = open_with_actions(c, case, n).await;
    let action = actions.first().cloned().expect("lsp-ai offers its action");
    c.clear_received();
    let start = Instant::now();
    let (id, _rx) = c.request_later("codeAction/resolve", action).await;
    let is_response = |m: &Value| m["id"] == id && m.get("method").is_none();
    let at = arrival(c, "the resolve response", is_response).await;
    let response = c.received().into_iter().find(is_response).expect("just received");
    assert!(response["result"].get("edit").is_some(), "lsp-ai resolved no edit: {response}");
    at - start
}

/// Median, min and max in milliseconds.
fn stats(xs: &mut [Duration]) -> (f64, f64, f64) {
    xs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = xs.len();
    let median = if n % 2 == 1 { ms(xs[n / 2]) } else { (ms(xs[n / 2 - 1]) + ms(xs[n / 2])) / 2.0 };
    (median, ms(xs[0]), ms(xs[n - 1]))
}

async fn run(ours_bin: PathBuf, lspai_bin: PathBuf, fake_bin: PathBuf, rounds: usize) -> Result<(), String> {
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let shellcheck = std::process::Command::new("sh")
        .args(["-c", "command -v shellcheck"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    println!(
        "peer bench: {rounds} rounds per case, interleaved; shellcheck {}",
        if shellcheck { "installed" } else { "not installed" }
    );
    println!("{:<10} {:<34} {:<34} ratio", "case", "llm-router-lsp median (min-max)", "lsp-ai 0.7.0 median (min-max)");
    for (name, case, streamed) in
        [("generate", Case::Generate, false), ("explain", Case::Explain, false), ("streamed", Case::Generate, true)]
    {
        let mut fake = start_fake(&fake_bin, home.path(), streamed).await?;
        let a = ours(&ours_bin, home.path(), &fake.url).await?;
        let lspai_home = tempfile::tempdir().map_err(|e| e.to_string())?;
        let b = lspai(&lspai_bin, lspai_home.path(), &fake.url, case).await?;
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        for n in 0..rounds + WARM_UP {
            let (x, y) = (time_ours(&a, case, n).await, time_lspai(&b, case, n).await);
            if n >= WARM_UP {
                ta.push(x);
                tb.push(y);
            }
        }
        a.shutdown().await;
        b.shutdown().await;
        let _ = fake.child.kill().await;
        let ((ma, la, ha), (mb, lb, hb)) = (stats(&mut ta), stats(&mut tb));
        println!(
            "{name:<10} {:<34} {:<34} {:.2}",
            format!("{ma:.1} ms ({la:.1}-{ha:.1})"),
            format!("{mb:.1} ms ({lb:.1}-{hb:.1})"),
            ma / mb
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(ours), Some(lspai), Some(fake)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: peer_bench OURS LSP_AI FAKE_OLLAMA [ROUNDS]");
        return ExitCode::from(2);
    };
    let rounds = match args.get(3).map(|r| r.parse::<usize>()) {
        None => 20,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("peer_bench: ROUNDS must be a positive number");
            return ExitCode::from(2);
        }
    };
    match run(ours.into(), lspai.into(), fake.into(), rounds).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peer_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
