//! The language server end to end: a real JSON-RPC client in-process over a duplex pipe,
//! the fake Ollama over real HTTP on 127.0.0.1.

#[path = "support/fake_ollama.rs"]
mod fake_ollama;
#[path = "support/lsp_client.rs"]
mod lsp_client;

use fake_ollama::{Behaviour, FakeModel, FakeOllama, Scenario};
use lsp_client::{ClientOptions, ConsentReply, TestClient};
use serde_json::json;

const FAST: &str = "llama3.2:11b-vision";
const CODE: &str = "qwen3-coder:30b-q4";
const HEAVY: &str = "llama3.1:70b";
const URI: &str = "file:///work/backup.sh";

fn scenario(code_reply: &str) -> Scenario {
    Scenario {
        models: vec![
            FakeModel::new(FAST, "The fast model says hi."),
            FakeModel::new(CODE, code_reply).with_size(2 * 1024 * 1024 * 1024),
            FakeModel::new(HEAVY, "The heavy model says hi."),
        ],
        ..Scenario::default()
    }
}

/// Writes a config for the fake; `vram` is the command probe's "USED TOTAL" line.
fn config(dir: &tempfile::TempDir, fake: &FakeOllama, vram: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "language: en\nbackends:\n  local:\n    kind: ollama\n    url: \"{}\"\n    busy_retry_ms: 50\nvram:\n  probe:\n    kind: command\n    command: [echo, \"{vram}\"]\n{extra}",
            fake.url()
        ),
    )
    .unwrap();
    path
}

async fn setup(
    code_reply: &str,
    vram: &str,
    extra: &str,
    options: ClientOptions,
) -> (FakeOllama, TestClient, tempfile::TempDir) {
    let fake = FakeOllama::start(scenario(code_reply)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = config(&dir, &fake, vram, extra);
    let (client, _) = TestClient::start(&path, options).await;
    (fake, client, dir)
}

const SCRIPT: &str = "#!/bin/bash\n# list files larger than 100MB\n  tar -xzvf backup.tar.gz -C /opt\necho done\n";

#[tokio::test]
async fn actions_are_offered_with_the_model_that_would_answer() {
    let (_fake, client, _dir) = setup("x", "1000 10000", "", ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (2, 2), (2, 33)).await;
    let titles: Vec<&str> = actions.iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [format!("Explain command ({CODE})"), format!("Generate script ({CODE})"), format!("Ask the model ({CODE})"),]
    );
    let cmd = &actions[0]["command"];
    assert_eq!(cmd["command"], "llm-router.explain");
    assert_eq!(cmd["arguments"][0]["uri"], URI);
    assert_eq!(cmd["arguments"][0]["version"], 1);
    // A plain-text document and a prose line go to the fast model.
    client.open("file:///notes.txt", "plaintext", "what is the capital of France\n").await;
    let actions = client.code_actions("file:///notes.txt", (0, 0), (0, 0)).await;
    assert_eq!(actions[0]["title"], format!("Explain command ({FAST})"));
    assert_eq!(actions[2]["title"], format!("Ask the model ({FAST})"));
}

#[tokio::test]
async fn generate_inserts_the_code_after_the_description() {
    let reply = "Here you go:\n```bash\nfind . -type f -size +100M\n```\nEnjoy.";
    let (fake, client, _dir) = setup(reply, "1000 10000", "", ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (1, 0), (1, 30)).await;
    let response = client.run_action(&actions, "Generate script").await;
    assert_eq!(response["result"], serde_json::Value::Null, "executeCommand answers at once");
    let message = client.wait_show_message("answered").await;
    assert!(message.starts_with(&format!("{CODE} answered in ")), "{message}");
    assert!(message.contains("code generation"), "{message}");
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# list files larger than 100MB\nfind . -type f -size +100M\n  tar -xzvf backup.tar.gz -C /opt\necho done\n"
    );
    let chat = &fake.chat_requests()[0];
    assert_eq!(chat["model"], CODE);
    assert_eq!(chat["keep_alive"], 600);
    assert_eq!(chat["messages"][1]["content"], "# list files larger than 100MB");
}

#[tokio::test]
async fn explain_inserts_comments_above_with_progress() {
    let reply = "Extracts the gzip-compressed archive backup.tar.gz into /opt, listing each file as it goes.";
    let (_fake, client, _dir) = setup(reply, "1000 10000", "", ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (2, 2), (2, 33)).await;
    client.run_action(&actions, "Explain command").await;
    client.wait_show_message("answered").await;
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# list files larger than 100MB\n  # Extracts the gzip-compressed archive backup.tar.gz into /opt, listing each\n  # file as it goes.\n  tar -xzvf backup.tar.gz -C /opt\necho done\n"
    );
    let kinds: Vec<String> = client
        .messages("$/progress")
        .iter()
        .map(|m| m["params"]["value"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("begin"));
    assert_eq!(kinds.last().map(String::as_str), Some("end"));
    assert!(kinds.iter().filter(|k| *k == "report").count() >= 2, "{kinds:?}");
    let progress = client.messages("$/progress");
    assert_eq!(progress[0]["params"]["value"]["cancellable"], true);
    assert!(progress.iter().any(|m| m["params"]["value"]["message"].as_str().is_some_and(|t| t.starts_with(CODE))));
}

#[tokio::test]
async fn consent_cancel_leaves_the_buffer_untouched() {
    let (fake, client, _dir) = setup("```\nrm -rf /\n```", "9000 10000", "", ClientOptions::default()).await;
    client.set_consent(ConsentReply::Pick("Cancel".into()));
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (1, 0), (1, 30)).await;
    client.run_action(&actions, "Generate script").await;
    let message = client.wait_show_message("Cancelled").await;
    assert_eq!(message, "Cancelled: VRAM warning confirmed by user");
    assert_eq!(client.text(URI), SCRIPT);
    assert!(fake.chat_requests().is_empty());
    let question = &client.messages("window/showMessageRequest")[0]["params"];
    assert_eq!(question["type"], 2);
    assert!(question["message"].as_str().unwrap().starts_with("Current VRAM usage: 90.0%"));
    let titles: Vec<&str> =
        question["actions"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Continue", "Use fast model", "Cancel"]);
}

#[tokio::test]
async fn consent_use_fast_and_continue() {
    for (answer, model) in [("Use fast model", FAST), ("Continue", CODE)] {
        let (fake, client, _dir) = setup("```\nls -la\n```", "9000 10000", "", ClientOptions::default()).await;
        client.set_consent(ConsentReply::Pick(answer.into()));
        client.open(URI, "shellscript", SCRIPT).await;
        let actions = client.code_actions(URI, (1, 0), (1, 30)).await;
        client.run_action(&actions, "Generate script").await;
        client.wait_show_message("answered").await;
        assert_eq!(fake.chat_requests()[0]["model"], model, "{answer}");
    }
}

#[tokio::test]
async fn cancel_through_progress_stops_the_model_and_inserts_nothing() {
    let slow = FakeModel::new(CODE, "one two three four five six seven eight").with_delay(300);
    let fake =
        FakeOllama::start(Scenario { models: vec![FakeModel::new(FAST, "x"), slow], ..Scenario::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let (client, _) = TestClient::start(&config(&dir, &fake, "1000 10000", ""), ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (2, 2), (2, 33)).await;
    client.run_action(&actions, "Explain command").await;
    let begin = client.wait_for(10, "progress begin", |m| m["params"]["value"]["kind"] == "begin").await;
    let token = begin["params"]["token"].clone();
    // While it runs, "Cancel generation" is offered too.
    let during = client.code_actions(URI, (2, 2), (2, 33)).await;
    assert_eq!(during[0]["title"], "Cancel generation");
    client.notify("window/workDoneProgress/cancel", json!({"token": token})).await;
    client.wait_show_message("Cancelled; nothing was inserted.").await;
    assert_eq!(client.text(URI), SCRIPT);
    assert!(client.messages("workspace/applyEdit").is_empty());
}

#[tokio::test]
async fn edited_document_anchors_or_refuses() {
    let slow = FakeModel::new(CODE, "Unpacks the archive.").with_delay(200);
    let fake =
        FakeOllama::start(Scenario { models: vec![FakeModel::new(FAST, "x"), slow], ..Scenario::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let path = config(&dir, &fake, "1000 10000", "");

    // Lines added above the selection: the explanation follows the command.
    let (client, _) = TestClient::start(&path, ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (2, 2), (2, 33)).await;
    client.run_action(&actions, "Explain command").await;
    client.edit(URI, (0, 0), (0, 0), "set -e\n").await;
    client.wait_show_message("answered").await;
    assert_eq!(
        client.text(URI),
        "set -e\n#!/bin/bash\n# list files larger than 100MB\n  # Unpacks the archive.\n  tar -xzvf backup.tar.gz -C /opt\necho done\n"
    );

    // The selected line itself changed: nothing is inserted, the user is told.
    let (client, _) = TestClient::start(&path, ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (2, 2), (2, 33)).await;
    client.run_action(&actions, "Explain command").await;
    client.edit(URI, (2, 2), (2, 5), "zip").await;
    let message = client.wait_show_message("nothing was inserted").await;
    assert!(message.contains("changed"), "{message}");
    assert_eq!(client.text(URI), SCRIPT.replace("  tar -xzvf", "  zip -xzvf"));
}

#[tokio::test]
async fn backend_failures_are_one_clear_sentence() {
    let fake = FakeOllama::start(Scenario {
        models: vec![FakeModel::new(FAST, "x").with_behaviour(Behaviour::Status { status: 500, error: "boom".into() })],
        ..Scenario::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (client, _) = TestClient::start(&config(&dir, &fake, "1000 10000", ""), ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (1, 0), (1, 30)).await;
    client.run_action(&actions, "Generate script").await;
    // The code model is not pulled: the fast model is tried, and fails too.
    let message = client.wait_show_message("llm-router:").await;
    assert!(message.contains("HTTP 500"), "{message}");
    assert_eq!(client.text(URI), SCRIPT);
    // The server keeps serving.
    assert_eq!(client.code_actions(URI, (1, 0), (1, 30)).await.len(), 3);
}
