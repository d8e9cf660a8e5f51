//! The safety check end to end: the language server against the fake Ollama (a destructive
//! generated script and each answer to the question; a client without the dialog; the retry
//! after a syntax error; diagnostics on open shell documents), and the command line's exit
//! codes (`generate`, `check`).

#[path = "support/fake_model.rs"]
mod fake_model;
#[path = "support/lsp_client.rs"]
mod lsp_client;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fake_model::{FakeModel, FakeServer as FakeOllama, Scenario};
use lsp_client::{ClientOptions, ConsentReply, TestClient};
use serde_json::Value;

const FAST: &str = "llama3.2:11b-vision";
const CODE: &str = "qwen3-coder:30b-q4";
const HEAVY: &str = "llama3.1:70b";
const URI: &str = "file:///work/cleanup.sh";
const BIN: &str = env!("CARGO_BIN_EXE_llm-router-lsp");

/// The description on line 1; generated code goes after it, from line 2.
const DOC: &str = "#!/bin/bash\n# delete logs older than a week\necho done\n";
const DANGEROUS: &str =
    "Here:\n```bash\nfind /var/log -name '*.log' -mtime +7 -delete\nrm -rf /var/log /etc/passwd\n```\n";

fn scenario(code_reply: &str, heavy_reply: &str) -> Scenario {
    Scenario {
        models: vec![
            FakeModel::new(FAST, "fast"),
            FakeModel::new(CODE, code_reply),
            FakeModel::new(HEAVY, heavy_reply),
        ],
        ..Scenario::default()
    }
}

fn write_config(dir: &Path, fake: &FakeOllama, extra: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "language: en\nbackends:\n  local:\n    kind: ollama\n    url: \"{}\"\n    busy_retry_ms: 50\nvram:\n  probe:\n    kind: command\n    command: [echo, \"1000 10000\"]\n{extra}",
            fake.url()
        ),
    )
    .unwrap();
    path
}

async fn setup(code_reply: &str, heavy_reply: &str, extra: &str) -> (FakeOllama, TestClient, tempfile::TempDir) {
    let fake = FakeOllama::start(scenario(code_reply, heavy_reply)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &fake, extra);
    let (client, _) = TestClient::start(&path, ClientOptions::default()).await;
    (fake, client, dir)
}

async fn generate(client: &TestClient, uri: &str, language: &str, text: &str) {
    client.open(uri, language, text).await;
    let actions = client.code_actions(uri, (1, 0), (1, 100)).await;
    client.run_action(&actions, "Generate script").await;
}

fn bash_installed() -> bool {
    llm_router_lsp::safety::Tools::detect().bash.is_some()
}

/// The latest diagnostics published for `uri`, once they satisfy `pred`.
async fn diagnostics(client: &TestClient, uri: &str, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let latest = |all: &[Value]| -> Option<Vec<Value>> {
        all.iter()
            .rev()
            .find(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri)
            .map(|m| m["params"]["diagnostics"].as_array().cloned().unwrap_or_default())
    };
    client.wait_until(10, what, |all| latest(all).is_some_and(|d| pred(&d))).await;
    latest(&client.received()).unwrap()
}

fn has(diags: &[Value], code: &str, line: u64) -> bool {
    diags.iter().any(|d| d["code"] == code && d["range"]["start"]["line"] == line && d["source"] == "llm-router-lsp")
}

fn codes(diags: &[Value]) -> Vec<String> {
    diags.iter().map(|d| d["code"].as_str().unwrap_or("").to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// The generate flow

#[tokio::test]
async fn dangerous_script_insert_anyway() {
    let (_fake, client, _dir) = setup(DANGEROUS, "x", "").await;
    client.set_consent(ConsentReply::Pick("Insert anyway".into()));
    generate(&client, URI, "shellscript", DOC).await;
    let message = client.wait_show_message("answered").await;
    assert!(message.contains("Inserted although it has 1 dangerous command(s)"), "{message}");
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# delete logs older than a week\nfind /var/log -name '*.log' -mtime +7 -delete\nrm -rf /var/log /etc/passwd\necho done\n"
    );
    let question = &client.messages("window/showMessageRequest")[0]["params"];
    assert_eq!(question["type"], 2);
    let text = question["message"].as_str().unwrap();
    assert!(text.contains("line 2: `rm -rf` deletes /var/log in the system directory /var (delete-system)"), "{text}");
    let titles: Vec<&str> =
        question["actions"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Insert anyway", "Insert as comments", "Cancel"]);
    // The inserted line carries the finding (once, though the document's own lint finds it too).
    let d = diagnostics(&client, URI, "delete-system on line 3", |d| has(d, "delete-system", 3)).await;
    let found: Vec<&Value> = d.iter().filter(|d| d["code"] == "delete-system").collect();
    assert_eq!(found.len(), 1, "{d:#?}");
    assert_eq!(found[0]["severity"], 1);
    assert_eq!(found[0]["range"]["start"]["character"], 0);
    assert_eq!(found[0]["range"]["end"]["character"], 27);
}

#[tokio::test]
async fn dangerous_script_insert_as_comments() {
    let (_fake, client, _dir) = setup(DANGEROUS, "x", "").await;
    client.set_consent(ConsentReply::Pick("Insert as comments".into()));
    generate(&client, URI, "shellscript", DOC).await;
    let message = client.wait_show_message("answered").await;
    assert!(message.contains("Inserted as comments"), "{message}");
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# delete logs older than a week\n# find /var/log -name '*.log' -mtime +7 -delete\n# rm -rf /var/log /etc/passwd\necho done\n"
    );
    // The finding points at the command inside the comment.
    let d = diagnostics(&client, URI, "delete-system on the commented line", |d| has(d, "delete-system", 3)).await;
    let f = d.iter().find(|d| d["code"] == "delete-system").unwrap();
    assert_eq!(f["range"]["start"]["character"], 2);
    assert_eq!(f["range"]["end"]["character"], 29);
    assert!(f["message"].as_str().unwrap().contains("/var/log"), "{f}");
}

#[tokio::test]
async fn dangerous_script_cancel() {
    let (fake, client, _dir) = setup(DANGEROUS, "x", "").await;
    client.set_consent(ConsentReply::Pick("Cancel".into()));
    generate(&client, URI, "shellscript", DOC).await;
    let message = client.wait_show_message("nothing was inserted").await;
    assert_eq!(message, "Cancelled; nothing was inserted.");
    assert_eq!(client.text(URI), DOC);
    assert!(client.messages("workspace/applyEdit").is_empty());
    assert_eq!(fake.chat_requests().len(), 1);
    // Dismissing the question cancels too.
    let (_fake, client, _dir) = setup(DANGEROUS, "x", "").await;
    client.set_consent(ConsentReply::Dismiss);
    generate(&client, URI, "shellscript", DOC).await;
    client.wait_show_message("nothing was inserted").await;
    assert_eq!(client.text(URI), DOC);
}

#[tokio::test]
async fn client_without_the_dialog_gets_comments_and_diagnostics() {
    let (_fake, client, _dir) = setup(DANGEROUS, "x", "").await;
    client.set_consent(ConsentReply::Unsupported);
    generate(&client, URI, "shellscript", DOC).await;
    client.wait_show_message("Inserted as comments").await;
    assert!(client.text(URI).contains("\n# rm -rf /var/log /etc/passwd\n"));
    diagnostics(&client, URI, "delete-system on the commented line", |d| has(d, "delete-system", 3)).await;
}

#[tokio::test]
async fn harmless_code_is_inserted_as_before() {
    let reply = "```bash\nfind /var/log -name '*.log' -mtime +7 -delete\necho \"never run rm -rf /\"\n```";
    let (_fake, client, _dir) = setup(reply, "x", "").await;
    client.set_consent(ConsentReply::Pick("Insert anyway".into()));
    generate(&client, URI, "shellscript", DOC).await;
    let message = client.wait_show_message("answered").await;
    assert!(message.starts_with(&format!("{CODE} answered in ")) && !message.contains("Insert"), "{message}");
    assert!(client.messages("window/showMessageRequest").is_empty());
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# delete logs older than a week\nfind /var/log -name '*.log' -mtime +7 -delete\necho \"never run rm -rf /\"\necho done\n"
    );
}

#[tokio::test]
async fn other_languages_skip_the_check_unless_fenced_as_shell() {
    // Python: not checked.
    let reply = "```python\nimport shutil\nshutil.rmtree('/')\n```";
    let (_fake, client, _dir) = setup(reply, "x", "").await;
    generate(&client, "file:///work/x.py", "python", "# x\n# remove everything\n").await;
    client.wait_show_message("answered").await;
    assert!(client.messages("window/showMessageRequest").is_empty());
    // Markdown with a bash block: checked.
    let (_fake, client, _dir) = setup("```bash\nrm -rf ~\n```", "x", "").await;
    client.set_consent(ConsentReply::Pick("Cancel".into()));
    generate(&client, "file:///work/notes.md", "markdown", "# notes\nclean my home\n").await;
    client.wait_show_message("nothing was inserted").await;
    let question = client.messages("window/showMessageRequest");
    assert!(question[0]["params"]["message"].as_str().unwrap().contains("delete-home"), "{question:?}");
}

#[tokio::test]
async fn syntax_error_retries_once_on_the_larger_tier() {
    if !bash_installed() {
        eprintln!("bash is not installed: skipped");
        return;
    }
    let broken = "```bash\nif [ -d /tmp/x ]; then\n  echo yes\n```";
    let (fake, client, _dir) = setup(broken, "```bash\nif [ -d /tmp/x ]; then\n  echo yes\nfi\n```", "").await;
    generate(&client, URI, "shellscript", DOC).await;
    let message = client.wait_show_message("answered").await;
    assert!(message.starts_with(&format!("{HEAVY} answered in ")), "{message}");
    assert!(message.contains(&format!("Retried once with {HEAVY} because bash -n reported: line ")), "{message}");
    assert!(message.contains("syntax error"), "{message}");
    let chats = fake.chat_requests();
    assert_eq!(chats.len(), 2);
    assert_eq!((chats[0]["model"].as_str(), chats[1]["model"].as_str()), (Some(CODE), Some(HEAVY)));
    let prompt = chats[1]["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.starts_with("# delete logs older than a week\n\n") && prompt.contains("syntax error"), "{prompt}");
    assert!(client.text(URI).contains("  echo yes\nfi\necho done\n"), "{}", client.text(URI));

    // Off: one request, the code inserted with the syntax error as a diagnostic.
    let (fake, client, _dir) = setup(broken, "x", "safety:\n  retry_on_syntax_error: false\n").await;
    generate(&client, URI, "shellscript", DOC).await;
    let message = client.wait_show_message("answered").await;
    assert!(!message.contains("Retried"), "{message}");
    assert_eq!(fake.chat_requests().len(), 1);
    diagnostics(&client, URI, "a syntax diagnostic", |d| codes(d).contains(&"syntax".to_string())).await;
}

#[tokio::test]
async fn check_generated_off_inserts_without_asking() {
    let (_fake, client, _dir) =
        setup(DANGEROUS, "x", "safety:\n  check_generated: false\n  lint_open_documents: false\n").await;
    generate(&client, URI, "shellscript", DOC).await;
    client.wait_show_message("answered").await;
    assert!(client.messages("window/showMessageRequest").is_empty());
    assert!(client.text(URI).contains("\nrm -rf /var/log /etc/passwd\n"));
}

// ---------------------------------------------------------------------------------------
// Open documents

#[tokio::test]
async fn open_shell_documents_get_diagnostics() {
    let (_fake, client, _dir) = setup("x", "x", "").await;
    let text =
        "#!/bin/bash\necho \"never run rm -rf /\"\n  sudo rm -rf \"$TARGET/\"\necho \"😀\"; curl -s https://x | sh\n";
    client.open(URI, "shellscript", text).await;
    let d =
        diagnostics(&client, URI, "two dangers", |d| has(d, "delete-empty-var", 2) && has(d, "pipe-to-shell", 3)).await;
    assert!(!has(&d, "delete-root", 1), "echo's argument is data: {d:#?}");
    let empty_var = d.iter().find(|d| d["code"] == "delete-empty-var").unwrap();
    assert_eq!(empty_var["range"]["start"]["character"], 2);
    assert!(empty_var["message"].as_str().unwrap().contains("${TARGET:?}"));
    // UTF-16 columns: `echo "😀"; ` is 11 code units.
    let pipe = d.iter().find(|d| d["code"] == "pipe-to-shell").unwrap();
    assert_eq!(pipe["range"]["start"]["character"], 11);
    // Fixing the line clears its diagnostic.
    client.edit(URI, (2, 14), (2, 24), "\"${TARGET:?}/\"").await;
    let d = diagnostics(&client, URI, "the fixed line", |d| !has(d, "delete-empty-var", 2)).await;
    assert!(has(&d, "pipe-to-shell", 3), "{d:#?}");
    // Closing clears everything.
    client.notify("textDocument/didClose", serde_json::json!({"textDocument": {"uri": URI}})).await;
    diagnostics(&client, URI, "no diagnostics after close", |d| d.is_empty()).await;
}

/// Typed a keystroke at a time (incremental sync, UTF-16 columns after an emoji), the lint
/// re-parses only what changed; its diagnostics are those of the same text opened fresh.
#[tokio::test]
async fn edited_documents_get_the_diagnostics_of_a_fresh_open() {
    let (_fake, client, _dir) = setup("x", "x", "").await;
    let padding = "echo padding\n".repeat(40);
    let text = format!("#!/bin/bash\nD=/tmp/build\necho \"😀\"\n{padding}rm -rf \"$D\"\n");
    client.open(URI, "shellscript", &text).await;
    diagnostics(&client, URI, "the first lint", |d| d.is_empty()).await;
    // A variable far above changes what the last line deletes.
    client.edit(URI, (1, 2), (1, 12), "/etc").await;
    // Typed after the emoji, one character at a time: `echo "😀"` is 9 UTF-16 code units.
    for (i, c) in "; rm -rf ~".chars().enumerate() {
        client.edit(URI, (2, 9 + i as u64), (2, 9 + i as u64), &c.to_string()).await;
    }
    let edited = diagnostics(&client, URI, "both dangers after the edits", |d| {
        has(d, "delete-home", 2) && has(d, "delete-system", 43)
    })
    .await;
    assert_eq!(client.text(URI).lines().nth(2), Some("echo \"😀\"; rm -rf ~"));
    let fresh_uri = "file:///work/fresh.sh";
    client.open(fresh_uri, "shellscript", &client.text(URI)).await;
    let fresh = diagnostics(&client, fresh_uri, "the fresh open", |d| !d.is_empty()).await;
    assert_eq!(edited, fresh);
    // Deleting the dangerous lines clears them.
    client.edit(URI, (2, 9), (2, 19), "").await;
    client.edit(URI, (43, 0), (44, 0), "").await;
    // (`D` is now unused: shellcheck, when installed, says so.)
    let d = diagnostics(&client, URI, "no dangers left", |d| codes(d).iter().all(|c| c == "shellcheck")).await;
    assert!(d.iter().all(|d| d["severity"] != 1), "{d:#?}");
}

/// A burst of keystrokes is linted once, when it pauses: one publish, for the last version.
/// (The delay, 2 s, is a hundred times the gap between keystrokes; nothing measures how fast
/// the lint is. With `lint_delay_ms: 0` each keystroke publishes.)
#[tokio::test]
async fn a_burst_of_changes_is_linted_once() {
    let (_fake, client, _dir) = setup("x", "x", "safety:\n  lint_delay_ms: 2000\n").await;
    client.open(URI, "shellscript", "#!/bin/bash\necho start\n").await;
    diagnostics(&client, URI, "the lint after opening", |d| d.is_empty()).await;
    let publishes =
        || client.messages("textDocument/publishDiagnostics").into_iter().filter(|m| m["params"]["uri"] == URI);
    let before = publishes().count();
    let typed = "sudo rm -rf --no-preserve-root /";
    for (i, c) in typed.chars().enumerate() {
        client.edit(URI, (2, i as u64), (2, i as u64), &c.to_string()).await;
        // Typing speed: long enough for an undebounced lint of each keystroke to publish.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    diagnostics(&client, URI, "the finding after the burst", |d| has(d, "delete-root", 2)).await;
    let after: Vec<Value> = publishes().skip(before).collect();
    assert_eq!(after.len(), 1, "one lint for {} changes: {after:#?}", typed.len());
    assert_eq!(after[0]["params"]["version"], 1 + typed.len() as u64);
}

#[tokio::test]
async fn other_languages_and_lint_off_get_no_diagnostics() {
    let (_fake, client, _dir) = setup("x", "x", "").await;
    client.open("file:///work/a.py", "python", "import os\nos.system('rm -rf /')\nrm = 1\n").await;
    client.open("file:///work/b.sh", "sh", "rm -rf /\n").await;
    diagnostics(&client, "file:///work/b.sh", "the sh document", |d| has(d, "delete-root", 0)).await;
    let py: Vec<Value> = client
        .messages("textDocument/publishDiagnostics")
        .into_iter()
        .filter(|m| m["params"]["uri"] == "file:///work/a.py")
        .flat_map(|m| m["params"]["diagnostics"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(py.is_empty(), "{py:?}");

    let (_fake, client, _dir) = setup("x", "x", "safety:\n  lint_open_documents: false\n").await;
    client.open(URI, "bash", "rm -rf /\n").await;
    client.open("file:///work/z.zsh", "zsh", "ls\n").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let any: Vec<Value> = client
        .messages("textDocument/publishDiagnostics")
        .into_iter()
        .flat_map(|m| m["params"]["diagnostics"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(any.is_empty(), "{any:?}");
}

// ---------------------------------------------------------------------------------------
// The command line

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_cli(config: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("LLM_ROUTER_LSP_CONFIG")
        .env_remove("OLLAMA_HOST")
        .env("LANG", "C")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

#[test]
fn cli_generate_exit_codes() {
    let fake = FakeOllama::spawn_in_thread(scenario("```bash\ncurl -fsSL https://x.example | sudo bash\n```", "x"));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &fake, "");
    let q = "install the tool";
    let o = run_cli(&config, &["generate", q, "--language", "shellscript"], "");
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert_eq!(o.stdout, "", "dangerous code is not printed");
    assert!(
        o.stderr.contains("generated:1:1: pipe-to-shell: code downloaded by `curl` is run by `bash`"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("--allow-dangerous"), "{}", o.stderr);
    let o = run_cli(&config, &["generate", q, "--language", "shellscript", "--allow-dangerous"], "");
    assert_eq!((o.code, o.stdout.as_str()), (0, "curl -fsSL https://x.example | sudo bash\n"), "{}", o.stderr);
    assert!(o.stderr.contains("pipe-to-shell"), "{}", o.stderr);
    // Without --language the answer is taken for shell; a Python block is not checked.
    let o = run_cli(&config, &["generate", q], "");
    assert_eq!(o.code, 3, "{}", o.stderr);

    let fake = FakeOllama::spawn_in_thread(scenario("```python\nos.system('curl x | sh')\n```", "x"));
    let config = write_config(dir.path(), &fake, "");
    let o = run_cli(&config, &["generate", q], "");
    assert_eq!(o.code, 0, "{}", o.stderr);

    let fake = FakeOllama::spawn_in_thread(scenario("```bash\ndu -sh /var/log\n```", "x"));
    let config = write_config(dir.path(), &fake, "");
    let o = run_cli(&config, &["generate", q, "--language", "bash"], "");
    assert_eq!((o.code, o.stdout.as_str()), (0, "du -sh /var/log\n"), "{}", o.stderr);
    assert!(!o.stderr.contains("generated:"), "{}", o.stderr);
}

#[test]
fn cli_check_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "safety:\n  shellcheck: false\n").unwrap();
    let script = dir.path().join("clean.sh");
    std::fs::write(&script, "#!/bin/bash\n# rm -rf /\necho 'rm -rf /'\n  rm -rf \"$DIR\"/*\n").unwrap();
    let o = run_cli(&config, &["check", script.to_str().unwrap()], "");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let name = script.display().to_string();
    assert!(
        o.stdout.starts_with(&format!("{name}:4:3: delete-empty-var: `rm -rf $DIR/*`: if $DIR is empty")),
        "{}",
        o.stdout
    );
    assert_eq!(o.stdout.lines().count(), 1, "{}", o.stdout);

    std::fs::write(&script, "#!/bin/bash\necho \"never run rm -rf /\"\n").unwrap();
    let o = run_cli(&config, &["check", script.to_str().unwrap()], "");
    assert_eq!((o.code, o.stdout.as_str()), (0, ""), "{}", o.stderr);

    // stdin, with `-` or without a file.
    let o = run_cli(&config, &["check", "-"], "kill -9 -1\n");
    assert_eq!(o.code, 1);
    assert!(o.stdout.starts_with("-:1:1: kill-all: "), "{}", o.stdout);
    let o = run_cli(&config, &["check"], "ls -la\n");
    assert_eq!((o.code, o.stdout.as_str()), (0, ""), "{}", o.stderr);

    // A syntax error counts when bash is there.
    if bash_installed() {
        let o = run_cli(&config, &["check"], "if true; then\n");
        assert_eq!(o.code, 1);
        assert!(o.stdout.contains(": syntax: bash -n: "), "{}", o.stdout);
    }
    // An unreadable file is a usage error.
    let o = run_cli(&config, &["check", "/nonexistent/x.sh"], "");
    assert_eq!(o.code, 2, "{}", o.stderr);
}

// ---------------------------------------------------------------------------------------
// The corpus

/// Snippets of one file in `tests/data/safety/`, each with its `### ` title.
fn snippets(file: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/safety").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            out.push((title.to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// Detection and false alarms of the structural check over our own corpus (the targets:
/// at least 95 % of destructive snippets flagged, at most 2 % of harmless ones).
/// `cargo test --test safety corpus -- --nocapture` prints the rates and every miss.
#[test]
fn corpus_detection_and_false_alarms() {
    let destructive = snippets("destructive.txt");
    let harmless = snippets("harmless.txt");
    assert!(destructive.len() >= 150 && harmless.len() >= 150, "{} / {}", destructive.len(), harmless.len());
    let danger =
        |s: &str| llm_router_lsp::safety::check_structure(s).into_iter().filter(|f| f.is_danger()).collect::<Vec<_>>();
    let mut missed = Vec::new();
    for (title, body) in &destructive {
        if danger(body).is_empty() {
            missed.push(title.as_str());
        }
    }
    let mut alarms = Vec::new();
    for (title, body) in &harmless {
        let found = danger(body);
        if let Some(f) = found.first() {
            alarms.push(format!("{title}: {}: {}", f.category, f.message));
        }
    }
    let detection = 100.0 * (destructive.len() - missed.len()) as f64 / destructive.len() as f64;
    let false_alarms = 100.0 * alarms.len() as f64 / harmless.len() as f64;
    eprintln!(
        "safety corpus: {} destructive, {} harmless; detection {detection:.1} %, false alarms {false_alarms:.1} %",
        destructive.len(),
        harmless.len()
    );
    for m in &missed {
        eprintln!("  missed: {m}");
    }
    for a in &alarms {
        eprintln!("  false alarm: {a}");
    }
    assert!(detection >= 95.0, "detection {detection:.1} % is below 95 %: {missed:?}");
    assert!(false_alarms <= 2.0, "false alarms {false_alarms:.1} % are above 2 %: {alarms:#?}");
}
