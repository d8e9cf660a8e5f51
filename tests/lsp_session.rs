//! The LSP test client over a child process's stdio, and the scripted editor session of
//! scripts/demo.sh and scripts/real-model-e2e.sh (examples/lsp_session.rs), both against the
//! built server binary and the fake model server.

#[path = "support/cli_harness.rs"]
mod cli_harness;
#[path = "support/fake_model.rs"]
mod fake_model;
#[path = "../examples/lsp_session.rs"]
mod lsp_session;

use std::path::{Path, PathBuf};

use clap::Parser;
use fake_model::{Behaviour, FakeModel, FakeServer, Scenario};
use lsp_session::lsp_client::{ClientOptions, TestClient};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_llm-router-lsp");
const FAST: &str = "llama3.2:11b-vision";
const CODE: &str = "qwen3-coder:30b-q4";
const HEAVY: &str = "llama3.1:70b";
const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sample.sh");

fn scenario(code_reply: &str) -> Scenario {
    Scenario {
        models: vec![
            FakeModel::new(FAST, "The fast model says hi."),
            FakeModel::new(CODE, code_reply),
            FakeModel::new(HEAVY, "The heavy model says hi."),
        ],
        ..Scenario::default()
    }
}

/// A config for the fake, with the VRAM probe reading `vram` ("USED TOTAL" in MiB).
fn config(dir: &Path, fake: &FakeServer, vram: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "language: en\nbackends:\n  local:\n    kind: ollama\n    url: \"{}\"\nvram:\n  probe:\n    kind: command\n    command: [echo, \"{vram}\"]\nlsp:\n  preload: false\n",
            fake.url()
        ),
    )
    .unwrap();
    path
}

fn server_command(dir: &Path, config: &Path) -> tokio::process::Command {
    let mut c = cli_harness::isolated_program(BIN, dir);
    c.arg("--config").arg(config).arg("--stdio").stderr(std::process::Stdio::null());
    tokio::process::Command::from(c)
}

#[tokio::test]
async fn the_client_drives_a_child_over_stdio() {
    let fake = FakeServer::start(scenario("```bash\nfind . -type f -size +100M\n```")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &fake, "1000 10000");
    let (client, init) =
        TestClient::spawn(server_command(dir.path(), &config), ClientOptions::default(), None).await.unwrap();
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-16");
    let uri = "file:///work/backup.sh";
    let script = "#!/bin/bash\n# list files larger than 100MB\necho done\n";
    client.open(uri, "shellscript", script).await;
    let actions = client.code_actions(uri, (1, 0), (1, 30)).await;
    client.run_action(&actions, "Generate script").await;
    let message = client.wait_show_message("answered").await;
    assert!(message.starts_with(&format!("{CODE} answered in ")), "{message}");
    assert_eq!(
        client.text(uri),
        "#!/bin/bash\n# list files larger than 100MB\nfind . -type f -size +100M\necho done\n"
    );
    let edits = client.applied_edits();
    assert_eq!((edits.len(), edits[0].applied), (1, true), "{edits:?}");
    assert_eq!(client.shutdown().await, Some(0), "shutdown and exit: status 0");
}

#[tokio::test]
async fn requests_fail_cleanly_once_the_child_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "vram:\n  probe: {kind: none}\n").unwrap();
    let (client, _) =
        TestClient::spawn(server_command(dir.path(), &config), ClientOptions::default(), None).await.unwrap();
    let _ = client.try_request("shutdown", Value::Null, std::time::Duration::from_secs(10)).await;
    client.notify("exit", Value::Null).await;
    let answer = client.try_request("textDocument/codeAction", Value::Null, std::time::Duration::from_secs(10)).await;
    assert!(answer.is_err(), "{answer:?}");
    assert!(!client.wait_within(std::time::Duration::from_secs(10), |_| false).await);
    assert!(client.is_closed());

    let missing = tokio::process::Command::new(dir.path().join("no-such-server"));
    let err = TestClient::spawn(missing, ClientOptions::default(), None).await.err().unwrap();
    assert!(err.starts_with("cannot start"), "{err}");
}

fn sample_line(starts: &str) -> usize {
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    text.lines().position(|l| l == starts).unwrap() + 1
}

/// Runs the session as the scripts do; (exit status, the JSON result).
fn session(dir: &Path, config: &Path, extra: &[&str]) -> (u8, Value) {
    let json = dir.join("session.json");
    let explain = sample_line("tar -xzvf backup.tar.gz -C /opt").to_string();
    let generate = sample_line("# list files larger than 100MB").to_string();
    let mut argv = vec!["lsp_session", "--server", BIN, "--config", config.to_str().unwrap(), "--file", SAMPLE];
    argv.extend(["--explain-line", &explain, "--generate-line", &generate, "--timeout", "20", "--verbose"]);
    argv.extend(["--json-result", json.to_str().unwrap()]);
    argv.extend(extra);
    let status = lsp_session::run(lsp_session::Args::try_parse_from(argv).unwrap());
    (status, serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap())
}

fn failed_checks(result: &Value) -> Vec<String> {
    result["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] != true)
        .map(|c| format!("{}: {} ({})", c["job"], c["check"], c["detail"]))
        .collect()
}

#[test]
fn the_scripted_session_passes_against_the_fake() {
    let reply = "Extracts backup.tar.gz into /opt.\n```bash\nfind . -type f -size +100M\n```";
    let fake = FakeServer::spawn_in_thread(scenario(reply));
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &fake, "1000 10000");
    let (status, result) = session(dir.path(), &config, &["--expect-model", CODE]);
    assert_eq!((status, failed_checks(&result)), (0, Vec::<String>::new()), "{result:#}");
    let names: Vec<&str> = result["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
    for need in [
        "edit arrived",
        "placed directly above the explained line",
        "every inserted line starts with '#'",
        "placed directly after the description line",
        "streaming seen (reports of text received)",
        "rest of the buffer intact",
        "position encoding is utf-16",
    ] {
        assert!(names.contains(&need), "{need:?} not in {names:?}");
    }
    let text = result["final_text"].as_str().unwrap();
    let original = std::fs::read_to_string(SAMPLE).unwrap();
    let explain = original.find("tar -xzvf").unwrap();
    // Explain comments out the whole answer above the line, Generate inserts its code.
    let comments = "# Extracts backup.tar.gz into /opt.\n# ```bash\n# find . -type f -size +100M\n# ```\ntar -xzvf";
    assert!(text.contains(comments), "{text}");
    assert!(text.contains("# list files larger than 100MB\nfind . -type f -size +100M\n"), "{text}");
    assert_eq!(&text[..explain], &original[..explain], "the lines above are unchanged");
    assert_eq!(result["server_exit"], 0);
}

#[test]
fn the_scripted_session_fails_when_the_model_is_not_named() {
    let fake = FakeServer::spawn_in_thread(scenario("Extracts backup.tar.gz into /opt.\n```bash\nls\n```"));
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &fake, "1000 10000");
    let (status, result) = session(dir.path(), &config, &["--expect-model", "some-other-model"]);
    assert_eq!(status, 1);
    let failed = failed_checks(&result);
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|c| c.contains("closing message names some-other-model")), "{failed:?}");
}

#[test]
fn the_scripted_session_fails_when_no_edit_arrives() {
    let mut scenario = scenario("x");
    for m in &mut scenario.models {
        m.behaviour = Behaviour::Status { status: 500, error: "llama runner process has terminated".into() };
    }
    let fake = FakeServer::spawn_in_thread(scenario);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &fake, "1000 10000");
    let (status, result) = session(dir.path(), &config, &[]);
    assert_eq!(status, 1);
    let failed = failed_checks(&result);
    for job in ["explain", "generate"] {
        for check in ["edit arrived", "closing window/showMessage"] {
            let want = format!("\"{job}\": \"{check}\"");
            assert!(failed.iter().any(|c| c.starts_with(&want)), "{want} not in {failed:?}");
        }
    }
    assert_eq!(result["final_text"].as_str().unwrap(), std::fs::read_to_string(SAMPLE).unwrap());
}

/// The VRAM question is answered with `--consent`, given in English or German, through the
/// server's own titles.
#[test]
fn the_scripted_session_answers_the_vram_question() {
    for (consent, model) in [("Continue", CODE), ("Schnelles Modell verwenden", FAST)] {
        // A fresh fake: the code model is not loaded yet.
        let fake = FakeServer::spawn_in_thread(scenario("Extracts backup.tar.gz into /opt.\n```bash\nls\n```"));
        let dir = tempfile::tempdir().unwrap();
        // 9500 of 10000 MiB used: loading the code model needs the user's consent.
        let config = config(dir.path(), &fake, "9500 10000");
        let (_, result) = session(dir.path(), &config, &["--consent", consent]);
        let questions: Vec<&Value> =
            result["jobs"][0]["messages"].as_array().unwrap().iter().filter(|m| m["request"] == true).collect();
        assert!(!questions.is_empty(), "{consent}: no question asked: {result:#}");
        let answer = questions[0]["answer"].as_str().unwrap_or_default();
        let english = llm_router_lsp::vocab::ConsentAnswer::from_title(consent).unwrap();
        assert_eq!(answer, english.title(llm_router_lsp::vocab::Language::En), "{consent}");
        let closing = result["jobs"][0]["messages"].as_array().unwrap().last().unwrap()["message"].as_str().unwrap();
        assert!(closing.contains(model), "{consent}: {closing}");
    }
}
