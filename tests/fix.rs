//! "Fix with MODEL" end to end: the language server lints an open shell file, offers the
//! quick fix on its diagnostic, sends the block to the fake model and replaces exactly that
//! block, through the same gates as generated code (danger question, `bash -n`, shellcheck
//! again) and the editor's review when it has one.

#[path = "support/fake_model.rs"]
mod fake_model;
#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::path::PathBuf;

use fake_model::{FakeModel, FakeServer, Scenario};
use lsp_client::{ClientOptions, ConsentReply, TestClient};
use serde_json::{Value, json};

const FAST: &str = "llama3.2:11b-vision";
const CODE: &str = "qwen3-coder:30b-q4";
const HEAVY: &str = "llama3.1:70b";
const URI: &str = "file:///work/greet.sh";

/// SC2086 on line 3 (1-based), inside the function on lines 2–4.
const DOC: &str = "#!/bin/bash\ngreet() {\n  echo Hello $1\n}\ngreet world\n";
const FIXED: &str = "#!/bin/bash\ngreet() {\n  echo Hello \"$1\"\n}\ngreet world\n";
const FIX_REPLY: &str = "```bash\ngreet() {\n  echo Hello \"$1\"\n}\n```\n";

struct Setup {
    fake: FakeServer,
    client: TestClient,
    _dir: tempfile::TempDir,
}

/// `lsp_extra`: more lines of the `lsp:` section.
async fn setup(code: FakeModel, lsp_extra: &str, options: ClientOptions) -> Setup {
    assert!(
        llm_router_lsp::safety::Tools::detect().shellcheck.is_some(),
        "shellcheck is not installed: these tests need it (scripts/test.sh installs it with apt)"
    );
    let scenario = Scenario {
        models: vec![FakeModel::new(FAST, "fast"), code, FakeModel::new(HEAVY, "heavy")],
        ..Scenario::default()
    };
    let fake = FakeServer::start(scenario).await;
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("config.yaml");
    let config = format!(
        "language: en\nbackends:\n  local:\n    kind: ollama\n    url: \"{}\"\nvram:\n  probe:\n    kind: command\n    command: [echo, \"1000 10000\"]\nlsp:\n  preload: false\n{lsp_extra}",
        fake.url()
    );
    std::fs::write(&path, config).unwrap();
    let (client, _) = TestClient::start(&path, options).await;
    Setup { fake, client, _dir: dir }
}

/// Opens the document and waits for its SC2086 diagnostic.
async fn open_with_finding(client: &TestClient, text: &str) -> Value {
    client.open(URI, "shellscript", text).await;
    let found = client
        .wait_for(20, "the SC2086 diagnostic", |m| {
            m["method"] == "textDocument/publishDiagnostics" && sc2086(&m["params"]["diagnostics"]).is_some()
        })
        .await;
    sc2086(&found["params"]["diagnostics"]).unwrap()
}

fn sc2086(diagnostics: &Value) -> Option<Value> {
    diagnostics.as_array()?.iter().find(|d| d["message"].as_str().is_some_and(|m| m.starts_with("SC2086"))).cloned()
}

/// The code actions on the diagnostic's line, with the diagnostic in the context as editors
/// send it.
async fn actions_on(client: &TestClient, diagnostic: &Value) -> Vec<Value> {
    let r = client
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": URI}, "range": diagnostic["range"], "context": {"diagnostics": [diagnostic]}}),
        )
        .await;
    r["result"].as_array().cloned().unwrap_or_default()
}

async fn run_fix(client: &TestClient) -> Value {
    let diagnostic = open_with_finding(client, DOC).await;
    let actions = actions_on(client, &diagnostic).await;
    let fix = actions
        .iter()
        .find(|a| a["title"] == format!("Fix with {CODE}"))
        .unwrap_or_else(|| panic!("no fix action in {actions:#?}"))
        .clone();
    client.run_action(&actions, "Fix with").await;
    fix
}

#[tokio::test]
async fn sc2086_is_fixed_by_replacing_exactly_its_block() {
    let s = setup(FakeModel::new(CODE, FIX_REPLY), "", ClientOptions::default()).await;
    let action = run_fix(&s.client).await;
    assert_eq!(action["kind"], "quickfix");
    assert!(action["diagnostics"][0]["message"].as_str().unwrap().starts_with("SC2086"), "{action:#}");
    let message = s.client.wait_show_message("answered").await;
    assert_eq!(s.client.text(URI), FIXED);
    assert!(message.contains("SC2086 fixed in lines 2–4."), "{message}");
    assert!(message.ends_with("shell script. SC2086 fixed in lines 2–4. One `u` undoes it."), "{message}");
    // The edit replaces lines 2–4 and nothing else.
    let edits = s.client.applied_edits();
    assert_eq!(edits.len(), 1, "{edits:#?}");
    assert_eq!(
        edits[0].edits[0]["range"],
        json!({"start": {"line": 1, "character": 0}, "end": {"line": 4, "character": 0}})
    );
    // The model got the block, the finding and its line in the block, on the code tier.
    let chat = s.fake.chat_requests();
    let last = chat.last().unwrap();
    assert_eq!(last["model"], CODE);
    let prompt = last["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.starts_with("The checker reported on line 2: SC2086"), "{prompt}");
    assert!(prompt.ends_with("```bash\ngreet() {\n  echo Hello $1\n}\n```"), "{prompt}");
    // The routing reason says why the code model answered.
    let log: Vec<String> = s
        .client
        .messages("window/logMessage")
        .iter()
        .filter_map(|m| m["params"]["message"].as_str().map(str::to_string))
        .collect();
    assert!(log.iter().any(|l| l.contains("fix: fixing code goes to the code model")), "{log:#?}");
}

#[tokio::test]
async fn only_the_servers_own_diagnostics_get_the_fix() {
    let s = setup(FakeModel::new(CODE, FIX_REPLY), "", ClientOptions::default()).await;
    let mut diagnostic = open_with_finding(&s.client, DOC).await;
    diagnostic["source"] = json!("bashls");
    let actions = actions_on(&s.client, &diagnostic).await;
    assert!(!actions.iter().any(|a| a["title"].as_str().unwrap().starts_with("Fix with")), "{actions:#?}");
}

#[tokio::test]
async fn a_fix_that_adds_a_danger_is_gated() {
    let dangerous = "```bash\ngreet() {\n  echo Hello \"$1\"\n  rm -rf /\n}\n```\n";
    for (reply, expected) in [
        (ConsentReply::Pick("Cancel".into()), "Cancelled"),
        // Without the dialog (Helix): code as comments would replace the block with text that
        // does not run, so nothing is replaced.
        (ConsentReply::Unsupported, "Cancelled"),
    ] {
        let s = setup(FakeModel::new(CODE, dangerous), "", ClientOptions::default()).await;
        s.client.set_consent(reply.clone());
        run_fix(&s.client).await;
        let message = s.client.wait_show_message(expected).await;
        assert_eq!(s.client.text(URI), DOC, "{reply:?}: {message}");
        assert!(s.client.applied_edits().is_empty(), "{reply:?}");
        if matches!(reply, ConsentReply::Pick(_)) {
            let question = &s.client.messages("window/showMessageRequest")[0]["params"]["message"];
            assert!(question.as_str().unwrap().contains("delete-root"), "{question}");
        }
    }
    // "Insert anyway" replaces the block, and the message says what was inserted.
    let s = setup(FakeModel::new(CODE, dangerous), "", ClientOptions::default()).await;
    s.client.set_consent(ConsentReply::Pick("Insert anyway".into()));
    run_fix(&s.client).await;
    let message = s.client.wait_show_message("answered").await;
    assert!(s.client.text(URI).contains("  rm -rf /\n"), "{message}");
    assert!(message.contains("dangerous"), "{message}");
}

#[tokio::test]
async fn a_finding_that_remains_is_reported_not_claimed_fixed() {
    let reply = "```bash\ngreet() {\n  echo Hi $1\n}\n```\n";
    let s = setup(FakeModel::new(CODE, reply), "", ClientOptions::default()).await;
    run_fix(&s.client).await;
    let message = s.client.wait_show_message("answered").await;
    assert!(message.contains("SC2086 is still reported on line 3: the change did not fix it."), "{message}");
    assert!(!message.contains("fixed in"), "{message}");
}

#[tokio::test]
async fn a_fix_that_does_not_parse_or_changes_nothing_replaces_nothing() {
    for (reply, expected) in [
        ("```bash\ngreet() {\n  echo \"Hello $1\n}\n```\n", "fix does not parse"),
        ("```bash\ngreet() {\n  echo Hello $1\n}\n```\n", "returned the block unchanged; nothing was replaced."),
    ] {
        let s = setup(FakeModel::new(CODE, reply), "", ClientOptions::default()).await;
        run_fix(&s.client).await;
        let message = s.client.wait_show_message(expected).await;
        assert_eq!(s.client.text(URI), DOC, "{message}");
        assert!(s.client.applied_edits().is_empty(), "{message}");
    }
}

#[tokio::test]
async fn the_block_edited_meanwhile_is_not_replaced() {
    // Slow tokens: the user types in the block while the model answers.
    let slow = FakeModel::new(CODE, FIX_REPLY).with_delay(150);
    let s = setup(slow, "", ClientOptions::default()).await;
    run_fix(&s.client).await;
    s.client.edit(URI, (2, 7), (2, 12), "Hi").await;
    let message = s.client.wait_show_message("nothing").await;
    assert_eq!(s.client.text(URI), "#!/bin/bash\ngreet() {\n  echo Hi $1\n}\ngreet world\n", "{message}");
    assert!(s.client.applied_edits().is_empty(), "{message}");
    // An edit elsewhere moves the block and the fix still lands on it.
    let s = setup(FakeModel::new(CODE, FIX_REPLY).with_delay(150), "", ClientOptions::default()).await;
    run_fix(&s.client).await;
    s.client.edit(URI, (0, 11), (0, 11), "\n# greets").await;
    s.client.wait_show_message("answered").await;
    assert_eq!(s.client.text(URI), "#!/bin/bash\n# greets\ngreet() {\n  echo Hello \"$1\"\n}\ngreet world\n");
}

#[tokio::test]
async fn editors_with_change_annotations_review_the_fix() {
    let options = || ClientOptions { change_annotations: true, ..ClientOptions::default() };
    // Accepted: the annotated edit lands; no undo hint, the editor showed the change.
    let s = setup(FakeModel::new(CODE, FIX_REPLY), "", options()).await;
    run_fix(&s.client).await;
    let message = s.client.wait_show_message("answered").await;
    assert_eq!(s.client.text(URI), FIXED);
    assert!(message.contains("SC2086 fixed"), "{message}");
    assert!(!message.contains("undoes"), "{message}");
    let sent = &s.client.messages("workspace/applyEdit")[0]["params"]["edit"];
    let annotation = &sent["changeAnnotations"]["llm-router.review"];
    assert_eq!(annotation["needsConfirmation"], true, "{sent:#}");
    assert_eq!(annotation["label"], format!("Fix with {CODE}"));
    assert!(annotation["description"].as_str().unwrap().starts_with("SC2086 on line 3"), "{annotation}");
    assert_eq!(sent["documentChanges"][0]["edits"][0]["annotationId"], "llm-router.review");

    // Discarded in review: nothing changes, and the message says so.
    let s = setup(FakeModel::new(CODE, FIX_REPLY), "", options()).await;
    s.client.set_review(false);
    run_fix(&s.client).await;
    let message = s.client.wait_show_message("discarded").await;
    assert_eq!(message, format!("{CODE}'s change was discarded in review; nothing changed."));
    assert_eq!(s.client.text(URI), DOC);

    // `lsp.review: never`: a plain edit, with the undo hint.
    let s = setup(FakeModel::new(CODE, FIX_REPLY), "  review: never\n", options()).await;
    run_fix(&s.client).await;
    let message = s.client.wait_show_message("answered").await;
    assert!(message.contains("One `u` undoes it."), "{message}");
    let sent = &s.client.messages("workspace/applyEdit")[0]["params"]["edit"];
    assert!(sent.get("changeAnnotations").is_none_or(Value::is_null), "{sent:#}");
    assert_eq!(s.client.text(URI), FIXED);
}

#[tokio::test]
async fn review_always_sends_inserts_for_review_too() {
    let options = ClientOptions { change_annotations: true, ..ClientOptions::default() };
    let reply = "```bash\nfind . -size +100M\n```\n";
    let s = setup(FakeModel::new(CODE, reply), "  review: always\n", options).await;
    s.client.open(URI, "shellscript", "#!/bin/bash\n# list big files\n").await;
    let actions = s.client.code_actions(URI, (1, 0), (1, 16)).await;
    s.client.run_action(&actions, "Generate script").await;
    s.client.wait_show_message("answered").await;
    let sent = &s.client.messages("workspace/applyEdit")[0]["params"]["edit"];
    assert_eq!(sent["changeAnnotations"]["llm-router.review"]["needsConfirmation"], true, "{sent:#}");
    assert_eq!(s.client.text(URI), "#!/bin/bash\n# list big files\nfind . -size +100M\n");
}
