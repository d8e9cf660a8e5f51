//! A small LSP client for tests: talks to the server in-process over a duplex pipe with real
//! JSON-RPC framing, answers the server's requests the way an editor would (applying edits
//! to its own copy of each document), and records everything it receives.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream, WriteHalf};
use tokio::sync::{Notify, oneshot};

/// How the client answers `window/showMessageRequest`.
#[derive(Debug, Clone)]
pub enum ConsentReply {
    /// Pick the action with this title.
    Pick(String),
    /// Close the dialog without a choice (`null`).
    Dismiss,
    /// Answer "method not found", as Helix 25.07 does.
    Unsupported,
    /// Never answer.
    Ignore,
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub utf8: bool,
    pub work_done_progress: bool,
    pub document_changes: bool,
    pub initialization_options: Value,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { utf8: false, work_done_progress: true, document_changes: true, initialization_options: Value::Null }
    }
}

#[derive(Default)]
struct Shared {
    received: Vec<Value>,
    /// When each of `received` arrived (read, before it was answered).
    received_at: Vec<std::time::Instant>,
    documents: HashMap<String, (String, i32)>,
    consent: Option<ConsentReply>,
    pending: HashMap<i64, oneshot::Sender<Value>>,
    utf8: bool,
}

pub struct TestClient {
    writer: Arc<tokio::sync::Mutex<WriteHalf<DuplexStream>>>,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
    next_id: Mutex<i64>,
    pub server: tokio::task::JoinHandle<()>,
}

async fn write_message(writer: &tokio::sync::Mutex<WriteHalf<DuplexStream>>, msg: &Value) {
    let body = serde_json::to_string(msg).unwrap();
    let mut w = writer.lock().await;
    w.write_all(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).await.unwrap();
    w.flush().await.unwrap();
}

/// Char index of an LSP position in `text` (clamped), counting columns in UTF-8 bytes or
/// UTF-16 units. Independent of the server's own conversion on purpose.
pub fn offset_of(text: &str, line: u64, character: u64, utf8: bool) -> usize {
    let mut byte = 0;
    let mut current = 0;
    while current < line {
        match text[byte..].find('\n') {
            Some(i) => byte += i + 1,
            None => return text.len(),
        }
        current += 1;
    }
    let mut col = 0u64;
    for (i, c) in text[byte..].char_indices() {
        if c == '\n' || c == '\r' || col >= character {
            return byte + i;
        }
        col += if utf8 { c.len_utf8() as u64 } else { c.len_utf16() as u64 };
    }
    text.len()
}

fn apply_text_edits(text: &mut String, edits: &[Value], utf8: bool) {
    // Apply from the end so earlier offsets stay valid.
    let mut resolved: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| {
            let r = &e["range"];
            let s =
                offset_of(text, r["start"]["line"].as_u64().unwrap(), r["start"]["character"].as_u64().unwrap(), utf8);
            let en = offset_of(text, r["end"]["line"].as_u64().unwrap(), r["end"]["character"].as_u64().unwrap(), utf8);
            (s, en, e["newText"].as_str().unwrap().to_string())
        })
        .collect();
    resolved.sort_by_key(|(s, _, _)| std::cmp::Reverse(*s));
    for (s, e, t) in resolved {
        text.replace_range(s..e, &t);
    }
}

impl TestClient {
    /// Starts the server in-process with `--config config_path` and initializes it.
    pub async fn start(config_path: &std::path::Path, options: ClientOptions) -> (Self, Value) {
        let env = llm_router_lsp::config::Environment::default();
        let (service, socket) = llm_router_lsp::lsp::service(Some(config_path.to_path_buf()), env);
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server_io);
        let server = tokio::spawn(async move {
            tower_lsp_server::Server::new(server_read, server_write, socket).serve(service).await;
        });
        let (client_read, client_write) = tokio::io::split(client_io);
        let writer = Arc::new(tokio::sync::Mutex::new(client_write));
        let shared = Arc::new(Mutex::new(Shared { utf8: options.utf8, ..Shared::default() }));
        let notify = Arc::new(Notify::new());
        tokio::spawn(read_loop(
            BufReader::new(client_read),
            Arc::clone(&writer),
            Arc::clone(&shared),
            Arc::clone(&notify),
        ));
        let client = TestClient { writer, shared, notify, next_id: Mutex::new(1), server };
        let encodings = if options.utf8 { json!(["utf-8", "utf-16"]) } else { json!(["utf-16"]) };
        let init = client
            .request(
                "initialize",
                json!({
                    "processId": null,
                    "rootUri": null,
                    "capabilities": {
                        "general": {"positionEncodings": encodings},
                        "window": {"workDoneProgress": options.work_done_progress, "showMessage": {}},
                        "workspace": {"workspaceEdit": {"documentChanges": options.document_changes}, "applyEdit": true},
                    },
                    "initializationOptions": options.initialization_options,
                }),
            )
            .await;
        client.notify("initialized", json!({})).await;
        (client, init)
    }

    pub fn set_consent(&self, reply: ConsentReply) {
        self.shared.lock().unwrap().consent = Some(reply);
    }

    pub async fn request(&self, method: &str, params: Value) -> Value {
        let id = {
            let mut n = self.next_id.lock().unwrap();
            *n += 1;
            *n
        };
        let (tx, rx) = oneshot::channel();
        self.shared.lock().unwrap().pending.insert(id, tx);
        write_message(&self.writer, &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        tokio::time::timeout(Duration::from_secs(20), rx).await.expect("response in time").expect("response")
    }

    /// Sends a request without waiting; returns its id (for `$/cancelRequest`).
    pub async fn request_later(&self, method: &str, params: Value) -> (i64, oneshot::Receiver<Value>) {
        let id = {
            let mut n = self.next_id.lock().unwrap();
            *n += 1;
            *n
        };
        let (tx, rx) = oneshot::channel();
        self.shared.lock().unwrap().pending.insert(id, tx);
        write_message(&self.writer, &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        (id, rx)
    }

    pub async fn notify(&self, method: &str, params: Value) {
        write_message(&self.writer, &json!({"jsonrpc": "2.0", "method": method, "params": params})).await;
    }

    pub async fn open(&self, uri: &str, language: &str, text: &str) {
        self.shared.lock().unwrap().documents.insert(uri.to_string(), (text.to_string(), 1));
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}),
        )
        .await;
    }

    /// Edits the client's copy and tells the server (incremental sync).
    pub async fn edit(&self, uri: &str, start: (u64, u64), end: (u64, u64), new_text: &str) {
        let change = json!({"range": {"start": {"line": start.0, "character": start.1}, "end": {"line": end.0, "character": end.1}}, "text": new_text});
        let version = {
            let mut s = self.shared.lock().unwrap();
            let utf8 = s.utf8;
            let doc = s.documents.get_mut(uri).expect("open document");
            apply_text_edits(&mut doc.0, std::slice::from_ref(&change_as_edit(&change)), utf8);
            doc.1 += 1;
            doc.1
        };
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}),
        )
        .await;
    }

    pub fn text(&self, uri: &str) -> String {
        self.shared.lock().unwrap().documents[uri].0.clone()
    }

    /// Forgets what was received so far (long benchmark loops).
    pub fn clear_received(&self) {
        let mut s = self.shared.lock().unwrap();
        s.received.clear();
        s.received_at.clear();
    }

    pub fn received(&self) -> Vec<Value> {
        self.shared.lock().unwrap().received.clone()
    }

    /// Each received message with the moment it arrived.
    pub fn received_with_times(&self) -> Vec<(std::time::Instant, Value)> {
        let s = self.shared.lock().unwrap();
        s.received_at.iter().copied().zip(s.received.iter().cloned()).collect()
    }

    pub fn messages(&self, method: &str) -> Vec<Value> {
        self.received().into_iter().filter(|m| m["method"] == method).collect()
    }

    /// Waits until a received message satisfies `pred`; panics after `secs`.
    pub async fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let notified = self.notify.notified();
            if let Some(m) = self.received().into_iter().find(|m| pred(m)) {
                return m;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {what}; received: {:#?}", self.received());
            }
        }
    }

    /// Waits until the received messages as a whole satisfy `pred`; panics after `secs`.
    pub async fn wait_until(&self, secs: u64, what: &str, pred: impl Fn(&[Value]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let notified = self.notify.notified();
            if pred(&self.received()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {what}; received: {:#?}", self.received());
            }
        }
    }

    /// `(type, text)` of every `window/showMessage` so far, in order.
    pub fn show_messages(&self) -> Vec<(i64, String)> {
        self.messages("window/showMessage")
            .iter()
            .map(|m| (m["params"]["type"].as_i64().unwrap(), m["params"]["message"].as_str().unwrap().to_string()))
            .collect()
    }

    /// Waits for the `n`th (1-based) `window/showMessage` containing `contains` and returns
    /// its text: for a client that runs several jobs one after the other.
    pub async fn wait_nth_show_message(&self, contains: &str, n: usize) -> String {
        let matching = |all: &[Value]| -> Vec<String> {
            all.iter()
                .filter(|m| m["method"] == "window/showMessage")
                .filter_map(|m| m["params"]["message"].as_str())
                .filter(|t| t.contains(contains))
                .map(str::to_string)
                .collect()
        };
        self.wait_until(20, &format!("showMessage #{n} containing {contains:?}"), |all| matching(all).len() >= n).await;
        matching(&self.received()).swap_remove(n - 1)
    }

    /// `workspace/executeCommand`; the whole response (`result` or `error`).
    pub async fn execute(&self, command: &str, argument: Value) -> Value {
        self.request("workspace/executeCommand", json!({"command": command, "arguments": [argument]})).await
    }

    /// Waits for the job's closing `window/showMessage` and returns its text.
    pub async fn wait_show_message(&self, contains: &str) -> String {
        let m = self
            .wait_for(20, &format!("showMessage containing {contains:?}"), |m| {
                m["method"] == "window/showMessage"
                    && m["params"]["message"].as_str().is_some_and(|t| t.contains(contains))
            })
            .await;
        m["params"]["message"].as_str().unwrap().to_string()
    }

    pub async fn code_actions(&self, uri: &str, start: (u64, u64), end: (u64, u64)) -> Vec<Value> {
        let r = self
            .request(
                "textDocument/codeAction",
                json!({"textDocument": {"uri": uri}, "range": {"start": {"line": start.0, "character": start.1}, "end": {"line": end.0, "character": end.1}}, "context": {"diagnostics": []}}),
            )
            .await;
        r["result"].as_array().cloned().unwrap_or_default()
    }

    /// Executes the action whose title starts with `title_prefix`.
    pub async fn run_action(&self, actions: &[Value], title_prefix: &str) -> Value {
        let action = actions
            .iter()
            .find(|a| a["title"].as_str().is_some_and(|t| t.starts_with(title_prefix)))
            .unwrap_or_else(|| panic!("no action {title_prefix:?} in {actions:#?}"));
        let cmd = &action["command"];
        self.request("workspace/executeCommand", json!({"command": cmd["command"], "arguments": cmd["arguments"]}))
            .await
    }
}

fn change_as_edit(change: &Value) -> Value {
    json!({"range": change["range"], "newText": change["text"]})
}

async fn read_loop(
    mut reader: BufReader<tokio::io::ReadHalf<DuplexStream>>,
    writer: Arc<tokio::sync::Mutex<WriteHalf<DuplexStream>>>,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
) {
    loop {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let msg: Value = serde_json::from_slice(&body).unwrap();
        let at = std::time::Instant::now();
        for reply in handle(&msg, &shared) {
            write_message(&writer, &reply).await;
        }
        {
            let mut s = shared.lock().unwrap();
            s.received.push(msg);
            s.received_at.push(at);
        }
        notify.notify_waiters();
    }
}

/// Answers a server request like an editor (after applying an edit, an editor reports the
/// change with didChange); resolves responses to our own requests.
fn handle(msg: &Value, shared: &Mutex<Shared>) -> Vec<Value> {
    let mut s = shared.lock().unwrap();
    if msg.get("method").is_none() {
        if let Some(id) = msg["id"].as_i64()
            && let Some(tx) = s.pending.remove(&id)
        {
            let _ = tx.send(msg.clone());
        }
        return Vec::new();
    }
    let Some(id) = msg.get("id").cloned() else {
        return Vec::new();
    };
    let ok = |result: Value| vec![json!({"jsonrpc": "2.0", "id": id, "result": result})];
    match msg["method"].as_str().unwrap() {
        "window/workDoneProgress/create" => ok(Value::Null),
        "window/showMessageRequest" => match s.consent.clone().unwrap_or(ConsentReply::Unsupported) {
            ConsentReply::Pick(title) => ok(json!({"title": title})),
            ConsentReply::Dismiss => ok(Value::Null),
            ConsentReply::Unsupported => {
                vec![json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}})]
            }
            ConsentReply::Ignore => Vec::new(),
        },
        "workspace/applyEdit" => {
            let utf8 = s.utf8;
            let edit = &msg["params"]["edit"];
            let mut applied = true;
            let mut touched = Vec::new();
            if let Some(changes) = edit["documentChanges"].as_array() {
                for dc in changes {
                    let uri = dc["textDocument"]["uri"].as_str().unwrap();
                    let version = dc["textDocument"]["version"].as_i64();
                    let doc = s.documents.get_mut(uri).unwrap();
                    if version.is_some_and(|v| v != doc.1 as i64) {
                        applied = false;
                        continue;
                    }
                    apply_text_edits(&mut doc.0, dc["edits"].as_array().unwrap(), utf8);
                    doc.1 += 1;
                    touched.push(uri.to_string());
                }
            } else if let Some(changes) = edit["changes"].as_object() {
                for (uri, edits) in changes {
                    let doc = s.documents.get_mut(uri).unwrap();
                    apply_text_edits(&mut doc.0, edits.as_array().unwrap(), utf8);
                    doc.1 += 1;
                    touched.push(uri.clone());
                }
            }
            let mut out = ok(json!({"applied": applied}));
            for uri in touched {
                let (text, version) = s.documents[&uri].clone();
                out.push(json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}}));
            }
            out
        }
        _ => ok(Value::Null),
    }
}
