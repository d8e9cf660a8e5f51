//! The language server end to end: a real JSON-RPC client in-process over a duplex pipe,
//! the fake Ollama over real HTTP on 127.0.0.1.

#[path = "support/fake_model.rs"]
mod fake_model;
#[path = "support/lsp_client.rs"]
mod lsp_client;

use fake_model::{Behaviour, FakeModel, FakeServer as FakeOllama, Scenario};
use lsp_client::{ClientOptions, ConsentReply, TestClient};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

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
/// Tests see only the model requests their actions make: the background preload (which
/// would race with them) is off unless a test turns it on.
fn preload_off(extra: &str) -> String {
    if extra.contains("preload:") {
        extra.to_string()
    } else if extra.contains("lsp:\n") {
        extra.replacen("lsp:\n", "lsp:\n  preload: false\n", 1)
    } else {
        format!("{extra}lsp:\n  preload: false\n")
    }
}

fn config(dir: &tempfile::TempDir, fake: &FakeOllama, vram: &str, extra: &str) -> std::path::PathBuf {
    let extra = preload_off(extra);
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

/// A closing message with its seconds replaced by `T`: the time varies, the words do not.
fn timeless(message: &str) -> String {
    let Some(at) = message.find(" in ") else { return message.to_string() };
    let rest = &message[at + 4..];
    let Some(end) = rest.find(" s") else { return message.to_string() };
    format!("{} in T{}", &message[..at], &rest[end..])
}

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
    assert_eq!(timeless(&message), format!("{CODE} answered in T s: code generation, shell script"));
    // The full reasons go to the log.
    let log = client.messages("window/logMessage");
    let full = format!("{CODE} answered in ");
    assert!(
        log.iter().any(|m| m["params"]["message"].as_str().is_some_and(|t| t.starts_with(&full)
            && t.contains(
                "(code tier: generate: code generation goes to the code model; document language `shellscript`"
            ))),
        "{log:#?}"
    );
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# list files larger than 100MB\nfind . -type f -size +100M\n  tar -xzvf backup.tar.gz -C /opt\necho done\n"
    );
    let chat = &fake.chat_requests()[0];
    assert_eq!(chat["model"], CODE);
    assert_eq!(chat["keep_alive"], 600);
    assert_eq!(chat["messages"][1]["content"], "# list files larger than 100MB");
}

/// A model's whole script in the middle of the user's: its shebang is dropped, and its
/// `set -euo pipefail` would change how the user's later lines run, so it is left out and
/// the closing message says so.
#[tokio::test]
async fn generated_script_fits_the_existing_one() {
    let reply = "```bash\n#!/usr/bin/env bash\nset -euo pipefail\n\nfind . -type f -size +100M\n```";
    let (_fake, client, _dir) = setup(reply, "1000 10000", "", ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (1, 0), (1, 30)).await;
    client.run_action(&actions, "Generate script").await;
    let message = client.wait_show_message("answered").await;
    assert_eq!(
        timeless(&message),
        format!(
            "{CODE} answered in T s: code generation, shell script. \
             Left out `set -euo pipefail`: it would change how the rest of your script runs."
        )
    );
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# list files larger than 100MB\nfind . -type f -size +100M\n  tar -xzvf backup.tar.gz -C /opt\necho done\n"
    );
}

/// Regression: a range past the end of a file without a final line break explained its last
/// line but put the comments below it.
#[tokio::test]
async fn explain_past_the_end_lands_above_the_last_line() {
    let (_fake, client, _dir) = setup("Says hi.", "1000 10000", "", ClientOptions::default()).await;
    client.open(URI, "shellscript", "ls\necho hi").await;
    let actions = client.code_actions(URI, (5, 0), (5, 3)).await;
    client.run_action(&actions, "Explain command").await;
    client.wait_show_message("answered").await;
    assert_eq!(client.text(URI), "ls\n# Says hi.\necho hi");
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

    // Closed and reopened with other text (version 1 again): the selection is gone, so
    // nothing lands in the new text (regression: the explanation was inserted there).
    let (client, _) = TestClient::start(&path, ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (2, 2), (2, 33)).await;
    client.run_action(&actions, "Explain command").await;
    client.notify("textDocument/didClose", json!({"textDocument": {"uri": URI}})).await;
    let other = "echo other\necho text\nls -la\n";
    client.open(URI, "shellscript", other).await;
    let message = client.wait_show_message("nothing was inserted").await;
    assert!(message.contains("changed"), "{message}");
    assert_eq!(client.text(URI), other);
    assert!(client.messages("workspace/applyEdit").is_empty());
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

// ---------------------------------------------------------------------------------------
// Helpers for the matrix below.

/// The code model's answer used where a test needs a generated block.
const LS_BLOCK: &str = "```\nls -la\n```";
/// SCRIPT with the fast model's answer generated after the description.
const SCRIPT_FAST: &str = "#!/bin/bash\n# list files larger than 100MB\nThe fast model says hi.\n  tar -xzvf backup.tar.gz -C /opt\necho done\n";
/// SCRIPT with the code model's `ls -la` generated after the description.
const SCRIPT_CODE: &str =
    "#!/bin/bash\n# list files larger than 100MB\nls -la\n  tar -xzvf backup.tar.gz -C /opt\necho done\n";
/// The description line of SCRIPT.
const DESCRIPTION: ((u64, u64), (u64, u64)) = ((1, 0), (1, 30));
/// What a client without a dialog is told at the VRAM warning of "9000 10000" (2 GiB model).
const CHOOSE_VIA_ACTION: &str = "VRAM usage is 90.0% (about 110.5% after loading); loading qwen3-coder:30b-q4 may affect other applications. Choose \"Continue with qwen3-coder:30b-q4\" or \"Use fast model\" from the code actions on the selection.";
const CANCELLED_BY_USER: &str = "Cancelled: VRAM warning confirmed by user";
/// Closing the question is not confirming anything (a regression: it used to say so).
const DISMISSED: &str = "Cancelled: the VRAM question was closed without an answer; nothing was loaded.";

fn titles(actions: &[Value]) -> Vec<String> {
    actions.iter().map(|a| a["title"].as_str().unwrap().to_string()).collect()
}

fn task_titles(model: &str) -> Vec<String> {
    ["Explain command", "Generate script", "Ask the model"].iter().map(|t| format!("{t} ({model})")).collect()
}

/// Length of `s` in UTF-8 bytes or UTF-16 units.
fn units(s: &str, utf8: bool) -> u64 {
    if utf8 { s.len() as u64 } else { s.encode_utf16().count() as u64 }
}

/// The range of the first `needle` on line `line` of `text`, in the client's encoding.
fn span(text: &str, line: usize, needle: &str, utf8: bool) -> ((u64, u64), (u64, u64)) {
    let l = text.split('\n').nth(line).unwrap_or_else(|| panic!("no line {line} in {text:?}"));
    let at = l.find(needle).unwrap_or_else(|| panic!("{needle:?} not on line {line}: {l:?}"));
    let start = units(&l[..at], utf8);
    ((line as u64, start), (line as u64, start + units(needle, utf8)))
}

/// The last user message the fake received: exactly what the model saw.
fn last_user_message(fake: &FakeOllama) -> String {
    let chats = fake.chat_requests();
    let chat = chats.last().expect("a chat request");
    let messages = chat["messages"].as_array().unwrap();
    let user = messages.iter().rev().find(|m| m["role"] == "user").expect("a user message");
    user["content"].as_str().unwrap().to_string()
}

fn chat_models(fake: &FakeOllama) -> Vec<String> {
    fake.chat_requests().iter().map(|c| c["model"].as_str().unwrap().to_string()).collect()
}

fn write_config(dir: &tempfile::TempDir, url: &str, vram: &str, extra: &str) -> std::path::PathBuf {
    let extra = preload_off(extra);
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "language: en\nbackends:\n  local:\n    kind: ollama\n    url: \"{url}\"\n    busy_retry_ms: 50\nvram:\n  probe:\n    kind: command\n    command: [echo, \"{vram}\"]\n{extra}"
        ),
    )
    .unwrap();
    path
}

async fn setup_with(
    scenario: Scenario,
    vram: &str,
    extra: &str,
    options: ClientOptions,
) -> (FakeOllama, TestClient, tempfile::TempDir) {
    let fake = FakeOllama::start(scenario).await;
    let dir = tempfile::tempdir().unwrap();
    let path = config(&dir, &fake, vram, extra);
    let (client, _) = TestClient::start(&path, options).await;
    (fake, client, dir)
}

fn error_code(response: &Value) -> i64 {
    response["error"]["code"].as_i64().unwrap_or_else(|| panic!("an error response: {response:#}"))
}

// ---------------------------------------------------------------------------------------
// VRAM warnings for clients that cannot ask.

#[tokio::test]
async fn vram_warning_without_dialog_offers_the_choice_as_code_actions() {
    let (fake, client, _dir) = setup(LS_BLOCK, "9000 10000", "", ClientOptions::default()).await;
    client.set_consent(ConsentReply::Unsupported);
    client.open(URI, "shellscript", SCRIPT).await;
    let (start, end) = DESCRIPTION;
    let actions = client.code_actions(URI, start, end).await;
    assert_eq!(titles(&actions), task_titles(CODE));
    client.run_action(&actions, "Generate script").await;
    assert_eq!(client.wait_show_message("code actions").await, CHOOSE_VIA_ACTION);
    assert_eq!(client.show_messages(), [(2, CHOOSE_VIA_ACTION.to_string())]);
    assert_eq!(client.text(URI), SCRIPT);
    assert!(client.messages("workspace/applyEdit").is_empty());
    assert!(fake.chat_requests().is_empty());
    let progress = client.messages("$/progress");
    assert_eq!(progress.last().unwrap()["params"]["value"]["kind"], "end");

    // The answers wait as code actions on the same range.
    let actions = client.code_actions(URI, start, end).await;
    let mut expected = vec![format!("Continue with {CODE} (VRAM 90 %)"), "Use fast model".to_string()];
    expected.extend(task_titles(CODE));
    assert_eq!(titles(&actions), expected);
    client.run_action(&actions, "Use fast model").await;
    let message = client.wait_show_message("answered").await;
    assert_eq!(
        timeless(&message),
        format!("{FAST} answered in T s: fast model chosen at the VRAM warning, code generation, shell script")
    );
    assert_eq!(client.text(URI), SCRIPT_FAST);
    assert_eq!(chat_models(&fake), [FAST]);
    assert_eq!(last_user_message(&fake), "# list files larger than 100MB");

    // Used up: the next request on the range asks again; "Continue with …" loads the code model.
    let actions = client.code_actions(URI, start, end).await;
    assert_eq!(titles(&actions), task_titles(CODE));
    client.run_action(&actions, "Generate script").await;
    client.wait_nth_show_message("code actions", 2).await;
    let actions = client.code_actions(URI, start, end).await;
    client.run_action(&actions, "Continue with").await;
    client.wait_nth_show_message("answered", 2).await;
    assert_eq!(chat_models(&fake), [FAST, CODE]);
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# list files larger than 100MB\nls -la\nThe fast model says hi.\n  tar -xzvf backup.tar.gz -C /opt\necho done\n"
    );
    // Nothing else was said: one notice per question, one closing message per answer.
    assert_eq!(client.show_messages().len(), 4, "{:#?}", client.show_messages());
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The model answered and its generated block landed.
    Answered(&'static str),
    /// Cancelled with this message; nothing was sent to a model.
    Cancelled(&'static str),
    /// The choice waits as code actions.
    ViaAction,
}

#[tokio::test]
async fn vram_warning_without_dialog_follows_the_configured_policy() {
    let cases: [(&str, ConsentReply, &str, Expect); 7] = [
        (
            "unsupported, fast",
            ConsentReply::Unsupported,
            "lsp:\n  on_warning_without_dialog: fast\n",
            Expect::Answered(FAST),
        ),
        (
            "unsupported, continue",
            ConsentReply::Unsupported,
            "lsp:\n  on_warning_without_dialog: continue\n",
            Expect::Answered(CODE),
        ),
        (
            "unsupported, cancel",
            ConsentReply::Unsupported,
            "lsp:\n  on_warning_without_dialog: cancel\n",
            Expect::Cancelled(CANCELLED_BY_USER),
        ),
        ("no answer in time", ConsentReply::Ignore, "lsp:\n  request_timeout: 1\n", Expect::ViaAction),
        (
            "no answer in time, fast",
            ConsentReply::Ignore,
            "lsp:\n  request_timeout: 1\n  on_warning_without_dialog: fast\n",
            Expect::Answered(FAST),
        ),
        ("dismissed", ConsentReply::Dismiss, "", Expect::Cancelled(DISMISSED)),
        (
            "dismissed, policy fast",
            ConsentReply::Dismiss,
            "lsp:\n  on_warning_without_dialog: fast\n",
            Expect::Cancelled(DISMISSED),
        ),
    ];
    for (name, reply, extra, expect) in cases {
        let (fake, client, _dir) = setup(LS_BLOCK, "9000 10000", extra, ClientOptions::default()).await;
        client.set_consent(reply.clone());
        client.open(URI, "shellscript", SCRIPT).await;
        let (start, end) = DESCRIPTION;
        let actions = client.code_actions(URI, start, end).await;
        let started = Instant::now();
        client.run_action(&actions, "Generate script").await;
        match expect {
            Expect::Answered(model) => {
                let message = client.wait_show_message("answered").await;
                assert!(message.starts_with(&format!("{model} answered in ")), "{name}: {message}");
                assert_eq!(chat_models(&fake), [model], "{name}");
                let expected = if model == FAST { SCRIPT_FAST } else { SCRIPT_CODE };
                assert_eq!(client.text(URI), expected, "{name}");
            }
            Expect::Cancelled(text) => {
                assert_eq!(client.wait_show_message("Cancelled").await, text, "{name}");
                assert!(fake.chat_requests().is_empty(), "{name}");
                assert_eq!(client.text(URI), SCRIPT, "{name}");
                assert!(client.messages("workspace/applyEdit").is_empty(), "{name}");
            }
            Expect::ViaAction => {
                assert_eq!(client.wait_show_message("code actions").await, CHOOSE_VIA_ACTION, "{name}");
                assert!(fake.chat_requests().is_empty(), "{name}");
                assert_eq!(client.text(URI), SCRIPT, "{name}");
                let actions = client.code_actions(URI, start, end).await;
                assert_eq!(
                    titles(&actions)[..2],
                    [format!("Continue with {CODE} (VRAM 90 %)"), "Use fast model".into()],
                    "{name}"
                );
            }
        }
        if matches!(reply, ConsentReply::Ignore) {
            assert!(started.elapsed() >= Duration::from_secs(1), "{name}: waited for the answer");
        }
        assert_eq!(client.show_messages().len(), 1, "{name}: {:#?}", client.show_messages());
        assert_eq!(client.messages("window/showMessageRequest").len(), 1, "{name}: asked once");
    }
}

// ---------------------------------------------------------------------------------------
// Cancel.

#[tokio::test]
async fn cancel_through_the_code_action_inserts_nothing() {
    let slow = FakeModel::new(CODE, "one two three four five six seven eight").with_delay(300);
    let (fake, client, _dir) = setup_with(
        Scenario { models: vec![FakeModel::new(FAST, "x"), slow], ..Scenario::default() },
        "1000 10000",
        "",
        ClientOptions::default(),
    )
    .await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (2, 2), (2, 33)).await;
    client.run_action(&actions, "Explain command").await;
    client.wait_for(10, "progress begin", |m| m["params"]["value"]["kind"] == "begin").await;
    // Cancel while the model is answering.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.chat_requests().is_empty() {
        assert!(Instant::now() < deadline, "the chat did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let during = client.code_actions(URI, (2, 2), (2, 33)).await;
    let mut expected = vec!["Cancel generation".to_string()];
    expected.extend(task_titles(CODE));
    assert_eq!(titles(&during), expected);
    let response = client.run_action(&during, "Cancel generation").await;
    assert_eq!(response["result"], json!({"cancelled": 1}));
    assert_eq!(client.wait_show_message("Cancelled").await, "Cancelled; nothing was inserted.");
    let progress = client.messages("$/progress");
    assert_eq!(progress.last().unwrap()["params"]["value"], json!({"kind": "end", "message": "Cancelled"}));
    assert_eq!(client.text(URI), SCRIPT);
    assert!(client.messages("workspace/applyEdit").is_empty());
    assert_eq!(chat_models(&fake), [CODE]);
    // The job is over: nothing left to cancel.
    assert_eq!(titles(&client.code_actions(URI, (2, 2), (2, 33)).await), task_titles(CODE));
    let response = client.execute("llm-router.cancel", json!({"uri": URI})).await;
    assert_eq!(response["result"], json!({"cancelled": 0}));
    assert_eq!(client.show_messages().len(), 1);
}

/// A TCP relay in front of the fake that notes which connection carried `/api/chat` and
/// when the server under test closed it (the close goes on to the fake).
struct Relay {
    addr: std::net::SocketAddr,
    conns: std::sync::Arc<std::sync::Mutex<Vec<RelayConn>>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct RelayConn {
    chat: bool,
    closed: bool,
}

impl Relay {
    async fn start(upstream: std::net::SocketAddr) -> Relay {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = std::sync::Arc::new(std::sync::Mutex::new(Vec::<RelayConn>::new()));
        let all = conns.clone();
        tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let Ok(up) = tokio::net::TcpStream::connect(upstream).await else { continue };
                let i = {
                    let mut v = all.lock().unwrap();
                    v.push(RelayConn::default());
                    v.len() - 1
                };
                let all = all.clone();
                tokio::spawn(async move {
                    let (mut down_r, mut down_w) = down.into_split();
                    let (mut up_r, mut up_w) = up.into_split();
                    let back = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut up_r, &mut down_w).await;
                    });
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match down_r.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if buf[..n].windows(14).any(|w| w == b"POST /api/chat") {
                            all.lock().unwrap()[i].chat = true;
                        }
                        if up_w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    all.lock().unwrap()[i].closed = true;
                    // Closes the fake's side as well.
                    back.abort();
                    drop(up_w);
                });
            }
        });
        Relay { addr, conns }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// (a connection carried a chat, and every such connection is closed).
    fn chat_state(&self) -> (bool, bool) {
        let v = self.conns.lock().unwrap();
        let chats: Vec<&RelayConn> = v.iter().filter(|c| c.chat).collect();
        (!chats.is_empty(), !chats.is_empty() && chats.iter().all(|c| c.closed))
    }

    async fn wait(&self, what: &str, within: Duration, pred: impl Fn((bool, bool)) -> bool) {
        let deadline = Instant::now() + within;
        while !pred(self.chat_state()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {:?}", self.conns.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn cancel_request_on_infer_closes_the_model_connection() {
    // 24 pieces of 3 words, 250 ms apart: six seconds unless cancelled.
    let long = ["alpha beta gamma "; 24].concat();
    let fake = FakeOllama::start(Scenario {
        models: vec![FakeModel::new(FAST, &long).with_delay(250)],
        ..Scenario::default()
    })
    .await;
    let relay = Relay::start(fake.addr()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(&dir, &relay.url(), "1000 10000", "");
    let (client, _) = TestClient::start(&path, ClientOptions::default()).await;
    let started = Instant::now();
    let (id, response) = client
        .request_later(
            "workspace/executeCommand",
            json!({"command": "llm-router.infer", "arguments": [{"query": "say something long"}]}),
        )
        .await;
    relay.wait("the chat to start", Duration::from_secs(5), |(seen, _)| seen).await;
    client.notify("$/cancelRequest", json!({"id": id})).await;
    let response = tokio::time::timeout(Duration::from_secs(5), response).await.expect("a response").unwrap();
    assert_eq!(error_code(&response), -32800, "{response:#}");
    relay.wait("the chat connection to close", Duration::from_secs(2), |(_, closed)| closed).await;
    assert!(started.elapsed() < Duration::from_secs(4), "stopped early: {:?}", started.elapsed());
    assert_eq!(chat_models(&fake), [FAST]);
    // Nothing was said or inserted, and the server keeps serving.
    assert!(client.show_messages().is_empty());
    assert!(client.messages("workspace/applyEdit").is_empty());
    client.open(URI, "shellscript", SCRIPT).await;
    assert_eq!(client.code_actions(URI, (2, 2), (2, 33)).await.len(), 3);
}

// ---------------------------------------------------------------------------------------
// llm-router.infer

#[tokio::test]
async fn infer_returns_the_result_object() {
    let scenario = Scenario {
        models: vec![
            FakeModel::new(FAST, "Paris.").with_logprobs(&[-0.5]),
            FakeModel::new(CODE, "It unpacks the archive.").with_size(2 * 1024 * 1024 * 1024),
            FakeModel::new(HEAVY, "Heavy thoughts."),
        ],
        ..Scenario::default()
    };
    let (fake, client, _dir) = setup_with(scenario, "1000 10000", "", ClientOptions::default()).await;
    let keys = ["confidence", "model_used", "processing_time", "reasons", "response", "tier", "vram_usage"];
    let check_shape = |result: &Value| {
        let mut got: Vec<&str> = result.as_object().unwrap().keys().map(String::as_str).collect();
        got.sort_unstable();
        assert_eq!(got, keys, "{result:#}");
        assert!(result["processing_time"].as_f64().is_some_and(|t| (0.0..10.0).contains(&t)), "{result:#}");
        assert!(
            result["reasons"].as_array().is_some_and(|r| !r.is_empty() && r.iter().all(Value::is_string)),
            "{result:#}"
        );
        assert_eq!(result["vram_usage"], 0.1, "{result:#}");
    };

    // {query}: a prose question goes to the fast model.
    let response = client.execute("llm-router.infer", json!({"query": "what is the capital of France"})).await;
    let result = &response["result"];
    check_shape(result);
    assert_eq!(result["response"], "Paris.");
    assert_eq!(result["model_used"], FAST);
    assert_eq!(result["tier"], "fast");
    assert!((result["confidence"].as_f64().unwrap() - (-0.5f64).exp()).abs() < 1e-9, "{result:#}");
    assert_eq!(last_user_message(&fake), "what is the capital of France");

    // {query, tier}
    let response =
        client.execute("llm-router.infer", json!({"query": "what is the capital of France", "tier": "heavy"})).await;
    let result = &response["result"];
    check_shape(result);
    assert_eq!((result["model_used"].as_str(), result["tier"].as_str()), (Some(HEAVY), Some("heavy")));
    assert_eq!(result["response"], "Heavy thoughts.");
    assert_eq!(result["confidence"], Value::Null);

    // {uri, range}: the selection of a shell script goes to the code model.
    client.open(URI, "shellscript", SCRIPT).await;
    let range = json!({"start": {"line": 2, "character": 2}, "end": {"line": 2, "character": 33}});
    let response = client.execute("llm-router.infer", json!({"uri": URI, "range": range})).await;
    let result = &response["result"];
    check_shape(result);
    assert_eq!(result["response"], "It unpacks the archive.");
    assert_eq!((result["model_used"].as_str(), result["tier"].as_str()), (Some(CODE), Some("code")));
    assert!(result["reasons"].to_string().contains("shellscript"), "{result:#}");
    assert_eq!(last_user_message(&fake), "tar -xzvf backup.tar.gz -C /opt");
    // Inference only: no edit, no message.
    assert_eq!(client.text(URI), SCRIPT);
    assert!(client.messages("workspace/applyEdit").is_empty());
    assert!(client.show_messages().is_empty());
}

#[tokio::test]
async fn infer_withholds_dangerous_shell_code_and_shows_the_finding() {
    let answer = "Sure:\n```bash\nrm -rf /\n```\n";
    for (extra, withheld) in [("", true), ("lsp:\n  on_danger: report\n", false)] {
        let scenario = Scenario {
            models: vec![FakeModel::new(FAST, answer), FakeModel::new(CODE, answer), FakeModel::new(HEAVY, answer)],
            ..Scenario::default()
        };
        let (_fake, client, _dir) = setup_with(scenario, "1000 10000", extra, ClientOptions::default()).await;
        let response = client.execute("llm-router.infer", json!({"query": "what is the capital of France"})).await;
        let result = &response["result"];
        assert_eq!(result["findings"][0]["category"], "delete-root", "{result:#}");
        assert_eq!(result["model_used"], FAST, "{result:#}");
        if withheld {
            assert_eq!(result["kind"], "dangerous_code", "{result:#}");
            assert!(result.get("response").is_none(), "{result:#}");
        } else {
            assert_eq!(result["response"], answer, "{result:#}");
        }
        // The user sees the finding, whatever the client does with the result.
        let message = client.wait_show_message("llm-router:").await;
        assert!(message.contains("line 1") && message.contains("delete-root"), "{message}");
        assert_eq!(message.contains("withheld"), withheld, "{message}");
        assert!(client.messages("workspace/applyEdit").is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// Backend failures.

#[tokio::test]
async fn backend_down_is_one_clear_message() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    // A large GPU: the estimated size of the code model does not warn.
    let path = write_config(&dir, &format!("http://127.0.0.1:{port}"), "1000 100000", "");
    let (client, _) = TestClient::start(&path, ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let (start, end) = DESCRIPTION;
    let actions = client.code_actions(URI, start, end).await;
    client.run_action(&actions, "Generate script").await;
    let message = client.wait_show_message("llm-router:").await;
    assert!(message.contains("start it with `ollama serve`"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("llama3.2:11b-vision (fast) took over and failed too"), "{message}");
    assert!(!message.contains("answered instead"), "regression: a failed fallback was said to answer: {message}");
    assert_eq!(client.show_messages(), [(1, message.clone())]);
    let progress = client.messages("$/progress");
    assert_eq!(progress.last().unwrap()["params"]["value"], json!({"kind": "end", "message": "Failed"}));
    assert_eq!(client.text(URI), SCRIPT);
    assert!(client.messages("workspace/applyEdit").is_empty());
    // infer says the same in its result object.
    let response = client.execute("llm-router.infer", json!({"query": "hello"})).await;
    let error = response["result"]["error"].as_str().unwrap();
    assert!(error.contains("ollama serve"), "{response:#}");
    assert_eq!(response["result"]["fallback"], "none: the fast model is the last resort");
}

#[tokio::test]
async fn preload_warms_the_model_while_the_user_picks() {
    let empty_chats = |fake: &FakeOllama| -> Vec<Value> {
        fake.chat_requests().into_iter().filter(|c| c["messages"].as_array().is_some_and(|m| m.is_empty())).collect()
    };
    // (name, vram reading, extra config, expected preloads)
    for (name, vram, extra, expected) in [
        ("on", "1000 10000", "lsp:\n  preload: true\n", vec![CODE]),
        ("off", "1000 10000", "lsp:\n  preload: false\n", vec![]),
        // Loading would need the VRAM question: nothing is loaded behind the user's back.
        ("would warn", "9000 10000", "lsp:\n  preload: true\n", vec![]),
    ] {
        let (fake, client, _dir) = setup(LS_BLOCK, vram, extra, ClientOptions::default()).await;
        client.open(URI, "shellscript", SCRIPT).await;
        // A cursor moving through the file: only the last request, once it settles, preloads.
        let started = Instant::now();
        for line in 0..3 {
            client.code_actions(URI, (line, 0), (line, 0)).await;
        }
        assert!(started.elapsed() < Duration::from_millis(250), "{name}: code actions did not wait for a preload");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let preloads: Vec<String> =
            empty_chats(&fake).iter().map(|c| c["model"].as_str().unwrap().to_string()).collect();
        assert_eq!(preloads, expected, "{name}");
        if !expected.is_empty() {
            assert_eq!(
                empty_chats(&fake)[0]["keep_alive"],
                json!(600),
                "{name}: the code tier's keep_alive (idle_unload)"
            );
            assert!(fake.loaded().contains(&CODE.to_string()), "{name}");
            // Warm now: asking again preloads nothing more.
            let actions = client.code_actions(URI, (2, 2), (2, 33)).await;
            tokio::time::sleep(Duration::from_millis(800)).await;
            assert_eq!(empty_chats(&fake).len(), 1, "{name}");
            // The closing message says the switch was hidden.
            client.run_action(&actions, "Explain command").await;
            let message = client.wait_show_message("answered").await;
            assert!(message.ends_with("(The model was already warm: loaded while you chose the action.)"), "{message}");
        }
    }
}

#[tokio::test]
async fn missing_model_says_pull_or_falls_back() {
    let only_fast =
        || Scenario { models: vec![FakeModel::new(FAST, "```\nfind . -size +100M\n```")], ..Scenario::default() };
    let (start, end) = DESCRIPTION;

    // Without fallback: the user is told how to get the model.
    let (fake, client, _dir) =
        setup_with(only_fast(), "1000 10000", "models:\n  fallback_to_fast: false\n", ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, start, end).await;
    client.run_action(&actions, "Generate script").await;
    let message = client.wait_show_message("llm-router:").await;
    assert!(message.contains(&format!("run `ollama pull {CODE}`")), "{message}");
    assert!(message.contains("fallback: none: fallback_to_fast is off"), "{message}");
    assert_eq!(client.show_messages(), [(1, message.clone())]);
    assert_eq!(client.text(URI), SCRIPT);
    assert_eq!(chat_models(&fake), [CODE]);

    // With the default fallback: the fast model answers, and the closing message says so.
    let (fake, client, _dir) = setup_with(only_fast(), "1000 10000", "", ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, start, end).await;
    client.run_action(&actions, "Generate script").await;
    let message = client.wait_show_message("answered").await;
    assert_eq!(
        timeless(&message),
        format!("{FAST} answered in T s instead of {CODE} (see the log): code generation, shell script")
    );
    assert_eq!(client.show_messages(), [(3, message.clone())]);
    assert_eq!(chat_models(&fake), [CODE, FAST]);
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# list files larger than 100MB\nfind . -size +100M\n  tar -xzvf backup.tar.gz -C /opt\necho done\n"
    );
}

// ---------------------------------------------------------------------------------------
// Multi-byte text in both position encodings.

#[tokio::test]
async fn multibyte_text_in_utf16_and_utf8() {
    const REPLY: &str = "Zeigt Zeilen mit 日本 👋.";
    const NOTE: &str = "# Zeigt Zeilen mit 日本 👋.\n";
    const DOC: &str = "#!/bin/bash\n# 日本語のファイル 👋 を探す\necho \"👋 日本語\" | grep 日本\n";
    for utf8 in [false, true] {
        let enc = if utf8 { "utf-8" } else { "utf-16" };
        let slow_code = FakeModel::new(CODE, REPLY).with_size(2 * 1024 * 1024 * 1024).with_delay(150);
        let scenario = Scenario { models: vec![FakeModel::new(FAST, "x"), slow_code], ..Scenario::default() };
        let (fake, client, _dir) =
            setup_with(scenario, "1000 10000", "", ClientOptions { utf8, ..ClientOptions::default() }).await;
        let mut answered = 0;
        client.open(URI, "shellscript", DOC).await;

        // Explain exactly `grep 日本`.
        let (start, end) = span(DOC, 2, "grep 日本", utf8);
        let actions = client.code_actions(URI, start, end).await;
        client.run_action(&actions, "Explain command").await;
        answered += 1;
        client.wait_nth_show_message("answered", answered).await;
        assert_eq!(last_user_message(&fake), "Explain this shellscript:\n\ngrep 日本", "{enc}");
        let expected = format!("#!/bin/bash\n# 日本語のファイル 👋 を探す\n{NOTE}echo \"👋 日本語\" | grep 日本\n");
        assert_eq!(client.text(URI), expected, "{enc}");

        // Ask about exactly `👋 日本語` (a surrogate pair in UTF-16, four bytes in UTF-8).
        let (start, end) = span(&client.text(URI), 3, "👋 日本語", utf8);
        let actions = client.code_actions(URI, start, end).await;
        client.run_action(&actions, "Ask the model").await;
        answered += 1;
        client.wait_nth_show_message("answered", answered).await;
        assert_eq!(last_user_message(&fake), "👋 日本語", "{enc}");
        let expected =
            format!("#!/bin/bash\n# 日本語のファイル 👋 を探す\n{NOTE}echo \"👋 日本語\" | grep 日本\n{NOTE}");
        assert_eq!(client.text(URI), expected, "{enc}");

        // A column inside a character lands on its start: from inside 👋 (between the
        // surrogates in UTF-16) to one unit past the start of 語 (inside it in UTF-8, after
        // it in UTF-16, where it is one unit).
        let ((line, s), _) = span(&expected, 3, "👋", utf8);
        let ((_, e), _) = span(&expected, 3, "語", utf8);
        let range = json!({"start": {"line": line, "character": s + 1}, "end": {"line": line, "character": e + 1}});
        let response = client.execute("llm-router.infer", json!({"uri": URI, "range": range})).await;
        assert_eq!(response["result"]["response"], REPLY, "{enc}: {response:#}");
        assert_eq!(last_user_message(&fake), if utf8 { "👋 日本" } else { "👋 日本語" }, "{enc}");

        // Incremental edits with multi-byte text, then a job on the new positions.
        let (start, end) = span(&expected, 3, "日本語", utf8);
        client.edit(URI, start, end, "中文🎉").await;
        let (start, _) = span(&expected, 1, "👋", utf8);
        client.edit(URI, start, start, "🎉 ").await;
        let edited =
            format!("#!/bin/bash\n# 日本語のファイル 🎉 👋 を探す\n{NOTE}echo \"👋 中文🎉\" | grep 日本\n{NOTE}");
        assert_eq!(client.text(URI), edited, "{enc}");
        // The server's copy is the client's: the whole document, as the model sees it.
        let whole = json!({"start": {"line": 0, "character": 0}, "end": {"line": 99, "character": 0}});
        client.execute("llm-router.infer", json!({"uri": URI, "range": whole})).await;
        assert_eq!(last_user_message(&fake), edited, "{enc}");
        let (start, end) = span(&edited, 3, "grep 日本", utf8);
        let actions = client.code_actions(URI, start, end).await;
        // Open, two applied answers, two edits.
        assert_eq!(actions[0]["command"]["arguments"][0]["version"], 5, "{enc}");
        client.run_action(&actions, "Explain command").await;
        answered += 1;
        client.wait_nth_show_message("answered", answered).await;
        assert_eq!(last_user_message(&fake), "Explain this shellscript:\n\ngrep 日本", "{enc}");
        let expected =
            format!("#!/bin/bash\n# 日本語のファイル 🎉 👋 を探す\n{NOTE}{NOTE}echo \"👋 中文🎉\" | grep 日本\n{NOTE}");
        assert_eq!(client.text(URI), expected, "{enc}");

        // A multi-byte line added above while the model answers: the note follows the command.
        let (start, end) = span(&expected, 4, "grep 日本", utf8);
        let actions = client.code_actions(URI, start, end).await;
        client.run_action(&actions, "Explain command").await;
        client.edit(URI, (0, 0), (0, 0), "# 中文 🎉\n").await;
        answered += 1;
        client.wait_nth_show_message("answered", answered).await;
        let expected = format!(
            "# 中文 🎉\n#!/bin/bash\n# 日本語のファイル 🎉 👋 を探す\n{NOTE}{NOTE}{NOTE}echo \"👋 中文🎉\" | grep 日本\n{NOTE}"
        );
        assert_eq!(client.text(URI), expected, "{enc}");

        // After a last line of multi-byte text without a line break.
        let tail = "file:///work/tail.sh";
        client.open(tail, "shellscript", "ls\necho 日本語 👋").await;
        let (start, end) = span("ls\necho 日本語 👋", 1, "echo 日本語 👋", utf8);
        let actions = client.code_actions(tail, start, end).await;
        client.run_action(&actions, "Ask the model").await;
        answered += 1;
        client.wait_nth_show_message("answered", answered).await;
        assert_eq!(last_user_message(&fake), "echo 日本語 👋", "{enc}");
        assert_eq!(client.text(tail), format!("ls\necho 日本語 👋\n{}", NOTE.trim_end()), "{enc}");
        assert!(client.show_messages().iter().all(|(t, _)| *t == 3), "{enc}: {:#?}", client.show_messages());
    }
}

// ---------------------------------------------------------------------------------------
// Client capabilities.

#[tokio::test]
async fn edits_and_progress_follow_client_capabilities() {
    let cases = [
        ("defaults", ClientOptions::default()),
        ("no documentChanges", ClientOptions { document_changes: false, ..ClientOptions::default() }),
        ("no workDoneProgress", ClientOptions { work_done_progress: false, ..ClientOptions::default() }),
    ];
    for (name, options) in cases {
        let (document_changes, progress) = (options.document_changes, options.work_done_progress);
        let (_fake, client, _dir) = setup(LS_BLOCK, "1000 10000", "", options).await;
        client.open(URI, "shellscript", SCRIPT).await;
        let (start, end) = DESCRIPTION;
        let actions = client.code_actions(URI, start, end).await;
        client.run_action(&actions, "Generate script").await;
        client.wait_show_message("answered").await;
        assert_eq!(client.text(URI), SCRIPT_CODE, "{name}");
        let edits = client.messages("workspace/applyEdit");
        assert_eq!(edits.len(), 1, "{name}");
        let edit = &edits[0]["params"]["edit"];
        let text_edit = json!({"range": {"start": {"line": 2, "character": 0}, "end": {"line": 2, "character": 0}}, "newText": "ls -la\n"});
        if document_changes {
            assert_eq!(
                edit,
                &json!({"documentChanges": [{"textDocument": {"uri": URI, "version": 1}, "edits": [text_edit]}]}),
                "{name}"
            );
        } else {
            assert_eq!(edit, &json!({"changes": {URI: [text_edit]}}), "{name}");
        }
        let creates = client.messages("window/workDoneProgress/create").len();
        let reports = client.messages("$/progress").len();
        if progress {
            assert_eq!(creates, 1, "{name}");
            assert!(reports >= 3, "{name}: {reports}");
        } else {
            assert_eq!((creates, reports), (0, 0), "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Configuration errors and changes.

#[tokio::test]
async fn broken_config_file_is_reported_once_and_defaults_serve() {
    let cases = [
        ("type error", "language: en\nmodels:\n  routing_enabled: maybe\n", "3:20: invalid boolean"),
        ("a list for a mapping", "language: en\nmodels: [\n  fast\n", "2:9: expected mapping start"),
    ];
    for (name, text, at) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        let (client, _) = TestClient::start(&path, ClientOptions::default()).await;
        let message = client.wait_show_message("Running on defaults").await;
        assert_eq!(message, format!("llm-router-lsp: {}:{at}. Running on defaults.", path.display()), "{name}");
        // The server answers on defaults.
        client.open(URI, "shellscript", SCRIPT).await;
        assert_eq!(titles(&client.code_actions(URI, (2, 2), (2, 33)).await), task_titles(CODE), "{name}");
        client.open("file:///notes.txt", "plaintext", "what is the capital of France\n").await;
        let prose = titles(&client.code_actions("file:///notes.txt", (0, 0), (0, 0)).await);
        // Generating code goes to the code model whatever the text.
        let expected = [
            format!("Explain command ({FAST})"),
            format!("Generate script ({CODE})"),
            format!("Ask the model ({FAST})"),
        ];
        assert_eq!(prose, expected, "{name}");
        assert_eq!(client.show_messages(), [(1, message.clone())], "{name}");
    }
}

#[tokio::test]
async fn initialization_options_with_an_unknown_key_are_named() {
    let cases = [
        ("top level", json!({"bogus": 1}), "`bogus`"),
        ("nested", json!({"models": {"routing_enabld": false}}), "`routing_enabld`"),
    ];
    for (name, options, key) in cases {
        let (_fake, client, _dir) = setup(
            LS_BLOCK,
            "1000 10000",
            "",
            ClientOptions { initialization_options: options, ..ClientOptions::default() },
        )
        .await;
        let message = client.wait_show_message(key).await;
        assert!(message.starts_with("llm-router-lsp: initializationOptions: unknown field"), "{name}: {message}");
        // The config file's settings stay in force.
        assert!(
            message.ends_with("The settings in force before stay (the config file and earlier good settings)."),
            "{name}: {message}"
        );
        client.open(URI, "shellscript", SCRIPT).await;
        assert_eq!(titles(&client.code_actions(URI, (2, 2), (2, 33)).await), task_titles(CODE), "{name}");
        assert_eq!(client.show_messages(), [(1, message.clone())], "{name}");
    }
}

#[tokio::test]
async fn german_titles_and_consent_from_initialization_options() {
    let german = || ClientOptions { initialization_options: json!({"language": "de"}), ..ClientOptions::default() };
    let (start, end) = DESCRIPTION;
    let de_titles: Vec<String> =
        ["Befehl erklären", "Skript generieren", "Modell fragen"].iter().map(|t| format!("{t} ({CODE})")).collect();

    // The dialog: German answers; "Abbrechen" cancels.
    let (fake, client, _dir) = setup(LS_BLOCK, "9000 10000", "", german()).await;
    client.set_consent(ConsentReply::Pick("Abbrechen".into()));
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, start, end).await;
    assert_eq!(titles(&actions), de_titles);
    client.run_action(&actions, "Skript generieren").await;
    assert_eq!(client.wait_show_message("Abgebrochen").await, "Abgebrochen: VRAM-Warnung vom Benutzer bestätigt");
    let question = &client.messages("window/showMessageRequest")[0]["params"];
    assert!(question["message"].as_str().unwrap().starts_with("Aktuelle VRAM-Nutzung: 90,0 %"), "{question:#}");
    let answers: Vec<&str> =
        question["actions"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(answers, ["Fortfahren", "Schnelles Modell verwenden", "Abbrechen"]);
    assert!(fake.chat_requests().is_empty());
    assert_eq!(client.text(URI), SCRIPT);

    // "Fortfahren" loads the code model.
    client.set_consent(ConsentReply::Pick("Fortfahren".into()));
    client.run_action(&client.code_actions(URI, start, end).await, "Skript generieren").await;
    let message = client.wait_show_message("geantwortet").await;
    assert!(message.starts_with(&format!("{CODE} hat in ")), "{message}");
    assert_eq!(client.text(URI), SCRIPT_CODE);

    // Without the dialog: German code actions.
    let (fake, client, _dir) = setup(LS_BLOCK, "9000 10000", "", german()).await;
    client.set_consent(ConsentReply::Unsupported);
    client.open(URI, "shellscript", SCRIPT).await;
    client.run_action(&client.code_actions(URI, start, end).await, "Skript generieren").await;
    client.wait_show_message("Code-Aktionen").await;
    let actions = client.code_actions(URI, start, end).await;
    let mut expected = vec![format!("Weiter mit {CODE} (VRAM 90 %)"), "Schnelles Modell verwenden".to_string()];
    expected.extend(de_titles.iter().cloned());
    assert_eq!(titles(&actions), expected);
    client.run_action(&actions, "Schnelles Modell verwenden").await;
    client.wait_show_message("geantwortet").await;
    assert_eq!(chat_models(&fake), [FAST]);
    assert_eq!(client.text(URI), SCRIPT_FAST);
}

#[tokio::test]
async fn did_change_configuration_applies_at_once() {
    let (fake, client, _dir) = setup(LS_BLOCK, "1000 10000", "", ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    assert_eq!(titles(&client.code_actions(URI, (2, 2), (2, 33)).await), task_titles(CODE));
    client
        .notify(
            "workspace/didChangeConfiguration",
            json!({"settings": {"llmRouter": {"models": {"routing_enabled": false}}}}),
        )
        .await;
    let actions = client.code_actions(URI, (2, 2), (2, 33)).await;
    assert_eq!(titles(&actions), task_titles(FAST));
    client.run_action(&actions, "Explain command").await;
    let message = client.wait_show_message("answered").await;
    assert_eq!(timeless(&message), format!("{FAST} answered in T s: routing off"));
    assert_eq!(chat_models(&fake), [FAST]);
    assert!(client.show_messages().iter().all(|(t, _)| *t == 3));
    // An unknown key there is named too, and the last good settings stay in force (routing
    // stays disabled): a typo in the editor's settings loses nothing.
    client
        .notify("workspace/didChangeConfiguration", json!({"settings": {"llmRouter": {"lsp": {"colour": "red"}}}}))
        .await;
    let message = client.wait_show_message("`colour`").await;
    assert!(message.starts_with("llm-router-lsp: workspace/didChangeConfiguration: unknown field"), "{message}");
    assert!(
        message.ends_with("The settings in force before stay (the config file and earlier good settings)."),
        "{message}"
    );
    assert_eq!(titles(&client.code_actions(URI, (2, 2), (2, 33)).await), task_titles(FAST));
}

// ---------------------------------------------------------------------------------------
// Where the answer goes: comment styles, ends of documents, line breaks, odd ranges.

struct EditCase {
    name: &'static str,
    language: &'static str,
    text: &'static str,
    range: ((u64, u64), (u64, u64)),
    action: &'static str,
    reply: &'static str,
    /// The last user message, when it is worth checking.
    model_sees: Option<&'static str>,
    expected: &'static str,
}

async fn run_edit_case(c: &EditCase) {
    let (fake, client, _dir) = setup(c.reply, "1000 10000", "", ClientOptions::default()).await;
    client.open(URI, c.language, c.text).await;
    let actions = client.code_actions(URI, c.range.0, c.range.1).await;
    let response = client.run_action(&actions, c.action).await;
    assert_eq!(response["result"], Value::Null, "{}: {response:#}", c.name);
    let message = client.wait_show_message("answered").await;
    assert!(message.starts_with(&format!("{CODE} answered")), "{}: {message}", c.name);
    assert_eq!(client.text(URI), c.expected, "{}", c.name);
    if let Some(sees) = c.model_sees {
        assert_eq!(last_user_message(&fake), sees, "{}", c.name);
    }
}

/// `(line, column)` pairs for a whole line of ASCII text.
const fn line_range(line: u64, len: u64) -> ((u64, u64), (u64, u64)) {
    ((line, 0), (line, len))
}

#[tokio::test]
async fn answers_land_in_the_right_place() {
    let cases = [
        EditCase {
            name: "python: # and the indentation of the selection",
            language: "python",
            text: "def f():\n    return os.listdir('.')\n",
            range: ((1, 4), (1, 26)),
            action: "Explain command",
            reply: "Lists the current directory.",
            model_sees: Some("Explain this python:\n\nreturn os.listdir('.')"),
            expected: "def f():\n    # Lists the current directory.\n    return os.listdir('.')\n",
        },
        EditCase {
            name: "rust: //",
            language: "rust",
            text: "fn main() {\n    let x = 1;\n}\n",
            range: ((1, 4), (1, 14)),
            action: "Explain command",
            reply: "Binds x to 1.",
            model_sees: Some("Explain this rust:\n\nlet x = 1;"),
            expected: "fn main() {\n    // Binds x to 1.\n    let x = 1;\n}\n",
        },
        EditCase {
            name: "lua: -- and a tab indent",
            language: "lua",
            text: "local t = {}\n\tfor k in pairs(t) do print(k) end\n",
            range: ((1, 0), (2, 0)),
            action: "Explain command",
            reply: "Prints each key of t.",
            model_sees: Some("Explain this lua:\n\n\tfor k in pairs(t) do print(k) end\n"),
            expected: "local t = {}\n\t-- Prints each key of t.\n\tfor k in pairs(t) do print(k) end\n",
        },
        EditCase {
            name: "generate after a last line without a line break",
            language: "shellscript",
            text: "#!/bin/bash\n# list files larger than 100MB",
            range: line_range(1, 30),
            action: "Generate script",
            reply: "```bash\nset -e\nfind . -size +100M\n```",
            model_sees: Some("# list files larger than 100MB"),
            expected: "#!/bin/bash\n# list files larger than 100MB\nset -e\nfind . -size +100M",
        },
        EditCase {
            name: "ask after a last line without a line break",
            language: "python",
            text: "x = 1\nprint(x)",
            range: line_range(1, 8),
            action: "Ask the model",
            reply: "It prints 1.",
            model_sees: Some("print(x)"),
            expected: "x = 1\nprint(x)\n# It prints 1.",
        },
        EditCase {
            name: "CRLF: generated lines get CRLF",
            language: "shellscript",
            text: "#!/bin/bash\r\n# list files larger than 100MB\r\necho done\r\n",
            range: line_range(1, 30),
            action: "Generate script",
            reply: "```bash\nset -e\nfind . -size +100M\n```",
            model_sees: Some("# list files larger than 100MB"),
            // `set -e` would change `echo done`: left out (and said so).
            expected: "#!/bin/bash\r\n# list files larger than 100MB\r\nfind . -size +100M\r\necho done\r\n",
        },
        EditCase {
            name: "CRLF: wrapped comments get CRLF",
            language: "shellscript",
            text: "#!/bin/bash\r\n  tar -xzvf backup.tar.gz -C /opt\r\n",
            range: ((1, 2), (1, 33)),
            action: "Explain command",
            reply: "Extracts the gzip-compressed archive backup.tar.gz into /opt, listing each file as it goes.",
            model_sees: Some("Explain this shellscript:\n\ntar -xzvf backup.tar.gz -C /opt"),
            expected: "#!/bin/bash\r\n  # Extracts the gzip-compressed archive backup.tar.gz into /opt, listing each\r\n  # file as it goes.\r\n  tar -xzvf backup.tar.gz -C /opt\r\n",
        },
        EditCase {
            name: "CRLF: after a last line without a line break",
            language: "shellscript",
            text: "#!/bin/bash\r\n# list files larger than 100MB",
            range: line_range(1, 30),
            action: "Generate script",
            reply: "```bash\nset -e\nfind . -size +100M\n```",
            model_sees: None,
            expected: "#!/bin/bash\r\n# list files larger than 100MB\r\nset -e\r\nfind . -size +100M",
        },
        EditCase {
            name: "columns past the end of the line",
            language: "shellscript",
            text: SCRIPT,
            range: ((2, 500), (2, 900)),
            action: "Explain command",
            reply: "Unpacks the archive.",
            model_sees: Some("Explain this shellscript:\n\n  tar -xzvf backup.tar.gz -C /opt"),
            expected: "#!/bin/bash\n# list files larger than 100MB\n  # Unpacks the archive.\n  tar -xzvf backup.tar.gz -C /opt\necho done\n",
        },
        EditCase {
            name: "lines past the end of the document",
            language: "shellscript",
            text: SCRIPT,
            range: ((3, 0), (99, 0)),
            action: "Generate script",
            reply: LS_BLOCK,
            model_sees: Some("echo done\n"),
            expected: "#!/bin/bash\n# list files larger than 100MB\n  tar -xzvf backup.tar.gz -C /opt\necho done\nls -la\n",
        },
        EditCase {
            name: "lines past the end of a document without a final line break",
            language: "shellscript",
            text: "#!/bin/bash\necho done",
            range: ((1, 0), (40, 40)),
            action: "Ask the model",
            reply: "It prints done.",
            model_sees: Some("echo done"),
            expected: "#!/bin/bash\necho done\n# It prints done.",
        },
    ];
    for c in &cases {
        run_edit_case(c).await;
    }
}

#[tokio::test]
async fn positions_past_the_end_never_panic() {
    let (fake, client, _dir) = setup(LS_BLOCK, "1000 10000", "", ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let max = u32::MAX as u64;
    for (range, expected) in [
        (((2, 500), (2, 900)), task_titles(CODE)),
        (((1, 0), (99, 99)), task_titles(CODE)),
        (((3, 0), (max, max)), task_titles(CODE)),
        // Only the empty last line, or nothing at all: no text, no actions.
        (((50, 0), (60, 0)), vec![]),
        (((max, max), (max, max)), vec![]),
        // Reversed: read from the start line.
        (((2, 10), (1, 0)), task_titles(CODE)),
    ] {
        assert_eq!(titles(&client.code_actions(URI, range.0, range.1).await), expected, "{range:?}");
    }
    for range in [((50, 0), (60, 0)), ((max, max), (max, max))] {
        let r = json!({"start": {"line": range.0.0, "character": range.0.1}, "end": {"line": range.1.0, "character": range.1.1}});
        let response = client.execute("llm-router.explain", json!({"uri": URI, "range": r, "version": 1})).await;
        assert_eq!(error_code(&response), -32602, "{range:?}");
        assert!(response["error"]["message"].as_str().unwrap().contains("empty"), "{response:#}");
    }
    assert!(fake.chat_requests().is_empty());
    assert_eq!(client.text(URI), SCRIPT);
    assert_eq!(client.code_actions(URI, (2, 2), (2, 33)).await.len(), 3);
}

// ---------------------------------------------------------------------------------------
// executeCommand errors.

#[tokio::test]
async fn execute_command_errors_leave_the_server_serving() {
    let (fake, client, _dir) = setup("Unpacks the archive.", "1000 10000", "", ClientOptions::default()).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (2, 2), (2, 33)).await;

    // A stale version: the range may point elsewhere now.
    client.edit(URI, (0, 0), (0, 0), "set -e\n").await;
    let response = client.run_action(&actions, "Explain command").await;
    assert_eq!(error_code(&response), -32602);
    assert!(
        response["error"]["message"].as_str().unwrap().contains("changed since the action was offered"),
        "{response:#}"
    );

    let range = json!({"start": {"line": 3, "character": 2}, "end": {"line": 3, "character": 33}});
    let malformed = [
        ("unknown command", "llm-router.nope", json!({"uri": URI, "range": range})),
        ("not an object", "llm-router.explain", json!("nonsense")),
        ("no range", "llm-router.generate", json!({"uri": URI})),
        (
            "negative line",
            "llm-router.ask",
            json!({"uri": URI, "range": {"start": {"line": -1, "character": 0}, "end": {"line": 0, "character": 0}}}),
        ),
        ("not a uri", "llm-router.explain", json!({"uri": 42, "range": range})),
        ("not open", "llm-router.explain", json!({"uri": "file:///elsewhere.sh", "range": range})),
        (
            "consent: unknown answer",
            "llm-router.consent",
            json!({"uri": URI, "range": range, "task": "generate", "answer": "maybe"}),
        ),
        (
            "consent: unknown task",
            "llm-router.consent",
            json!({"uri": URI, "range": range, "task": "dance", "answer": "fast"}),
        ),
        ("infer: nothing to ask", "llm-router.infer", json!({})),
        ("infer: query not a string", "llm-router.infer", json!({"query": 5})),
    ];
    for (name, command, argument) in malformed {
        let response = client.execute(command, argument).await;
        assert_eq!(error_code(&response), -32602, "{name}: {response:#}");
        assert!(response["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}");
    }
    let unknown = client.execute("llm-router.nope", json!({})).await;
    assert!(unknown["error"]["message"].as_str().unwrap().contains("unknown command `llm-router.nope`"), "{unknown:#}");
    // No arguments at all.
    let response =
        client.request("workspace/executeCommand", json!({"command": "llm-router.explain", "arguments": []})).await;
    assert_eq!(error_code(&response), -32602, "{response:#}");

    assert!(fake.chat_requests().is_empty());
    assert!(client.messages("workspace/applyEdit").is_empty());
    assert!(client.show_messages().is_empty());
    let edited = format!("set -e\n{SCRIPT}");
    assert_eq!(client.text(URI), edited);

    // Still serving: fresh actions work.
    let actions = client.code_actions(URI, (3, 2), (3, 33)).await;
    assert_eq!(titles(&actions), task_titles(CODE));
    client.run_action(&actions, "Explain command").await;
    client.wait_show_message("answered").await;
    assert_eq!(client.text(URI), edited.replace("  tar", "  # Unpacks the archive.\n  tar"));
}
