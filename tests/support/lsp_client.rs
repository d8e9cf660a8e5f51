//! A small LSP client for tests, benchmarks and scripts: talks to the server with real
//! JSON-RPC framing, either in-process over a duplex pipe ([`TestClient::start`]) or to a
//! child process over its stdio ([`TestClient::spawn`]), answers the server's requests the
//! way an editor would (applying edits to its own copy of each document), and records
//! everything it receives.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
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
    /// Pick the first offered action whose title is one of these (a title and its
    /// translations); close the dialog when none is offered.
    PickOffered(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub utf8: bool,
    pub work_done_progress: bool,
    pub document_changes: bool,
    pub initialization_options: Value,
    /// `rootUri` (and the one workspace folder) sent with `initialize`.
    pub root_uri: Option<String>,
    /// Advertise `codeAction/resolve` (`resolveSupport` for `edit`, `dataSupport`), as the
    /// peers that compute an action's edit only when it is chosen need.
    pub code_action_resolve: bool,
    /// Advertise `changeAnnotationSupport`, as VS Code does: edits may come for review.
    pub change_annotations: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            utf8: false,
            work_done_progress: true,
            document_changes: true,
            initialization_options: Value::Null,
            root_uri: None,
            code_action_resolve: false,
            change_annotations: false,
        }
    }
}

/// One `workspace/applyEdit` as the client handled it.
#[derive(Debug, Clone)]
pub struct AppliedEdit {
    pub uri: String,
    /// The text edits, in the order the server sent them.
    pub edits: Vec<Value>,
    pub applied: bool,
    pub failure_reason: Option<String>,
}

/// Called with every message the server sends, as it arrives.
pub type Observer = Box<dyn Fn(&Value) + Send + Sync>;

type Writer = Box<dyn AsyncWrite + Send + Unpin>;

#[derive(Default)]
struct Shared {
    received: Vec<Value>,
    /// When each of `received` arrived (read, before it was answered).
    received_at: Vec<std::time::Instant>,
    documents: HashMap<String, (String, i32)>,
    consent: Option<ConsentReply>,
    /// The user's answer to an edit sent for review (annotated `needsConfirmation`):
    /// discard it when false. Accepted when unset.
    accept_reviewed: Option<bool>,
    pending: HashMap<i64, oneshot::Sender<Value>>,
    utf8: bool,
    edits: Vec<AppliedEdit>,
    observer: Option<Arc<Observer>>,
    /// The server closed its end (stdout EOF, or the pipe).
    closed: bool,
}

/// Where the server runs.
pub enum ServerSide {
    InProcess(tokio::task::JoinHandle<()>),
    Child(tokio::process::Child),
}

pub struct TestClient {
    writer: Arc<tokio::sync::Mutex<Writer>>,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
    next_id: Mutex<i64>,
    pub server: ServerSide,
}

/// Writes one framed message; false when the server's end is gone.
async fn write_message(writer: &tokio::sync::Mutex<Writer>, msg: &Value) -> bool {
    let body = serde_json::to_string(msg).unwrap();
    let mut w = writer.lock().await;
    let framed = format!("Content-Length: {}\r\n\r\n{body}", body.len());
    w.write_all(framed.as_bytes()).await.is_ok() && w.flush().await.is_ok()
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
        let client = Self::connect(client_read, Box::new(client_write), ServerSide::InProcess(server), &options);
        let init = client.initialize(&options).await.expect("initialize answered");
        (client, init)
    }

    /// Starts `command` (the server binary with its arguments) as a child process, talks to
    /// it over its stdin and stdout, and initializes it. stderr is left as `command` has it.
    /// Err: the process could not be started, or `initialize` failed or got no answer.
    pub async fn spawn(
        mut command: tokio::process::Command,
        options: ClientOptions,
        observer: Option<Observer>,
    ) -> Result<(Self, Value), String> {
        use std::process::Stdio;
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("no pipes to the child".into());
        };
        let client = Self::connect(stdout, Box::new(stdin), ServerSide::Child(child), &options);
        if let Some(observer) = observer {
            client.shared.lock().unwrap().observer = Some(Arc::new(observer));
        }
        let init = client.initialize(&options).await?;
        Ok((client, init))
    }

    fn connect(
        reader: impl AsyncRead + Send + Unpin + 'static,
        writer: Writer,
        server: ServerSide,
        options: &ClientOptions,
    ) -> Self {
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let shared = Arc::new(Mutex::new(Shared { utf8: options.utf8, ..Shared::default() }));
        let notify = Arc::new(Notify::new());
        tokio::spawn(read_loop(BufReader::new(reader), Arc::clone(&writer), Arc::clone(&shared), Arc::clone(&notify)));
        TestClient { writer, shared, notify, next_id: Mutex::new(1), server }
    }

    async fn initialize(&self, options: &ClientOptions) -> Result<Value, String> {
        let encodings = if options.utf8 { json!(["utf-8", "utf-16"]) } else { json!(["utf-16"]) };
        let folders = options.root_uri.as_ref().map(|uri| json!([{"uri": uri, "name": "root"}]));
        let init = self
            .try_request(
                "initialize",
                json!({
                    "processId": null,
                    "clientInfo": {"name": "llm-router-lsp test client"},
                    "rootUri": options.root_uri,
                    "workspaceFolders": folders,
                    "capabilities": {
                        "general": {"positionEncodings": encodings},
                        "window": {"workDoneProgress": options.work_done_progress, "showMessage": {}},
                        "workspace": {
                            "workspaceEdit": if options.change_annotations {
                                json!({"documentChanges": options.document_changes, "changeAnnotationSupport": {"groupsOnLabel": true}})
                            } else {
                                json!({"documentChanges": options.document_changes})
                            },
                            "applyEdit": true,
                        },
                        "textDocument": if options.code_action_resolve {
                            json!({"codeAction": {"resolveSupport": {"properties": ["edit"]}, "dataSupport": true}})
                        } else {
                            json!({})
                        },
                    },
                    "initializationOptions": options.initialization_options,
                }),
                Duration::from_secs(30),
            )
            .await?;
        self.notify("initialized", json!({})).await;
        Ok(init)
    }

    /// How the user answers the editor's review of an annotated edit.
    pub fn set_review(&self, accept: bool) {
        self.shared.lock().unwrap().accept_reviewed = Some(accept);
    }

    pub fn set_consent(&self, reply: ConsentReply) {
        self.shared.lock().unwrap().consent = Some(reply);
    }

    /// Sends a request and waits for its response (`result` or `error`); panics after 20 s.
    pub async fn request(&self, method: &str, params: Value) -> Value {
        let (_, rx) = self.request_later(method, params).await;
        tokio::time::timeout(Duration::from_secs(20), rx).await.expect("response in time").expect("response")
    }

    /// Like [`Self::request`], for callers that must not panic: Err when no response came
    /// within `timeout`, the server went away, or the response is an error.
    pub async fn try_request(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, String> {
        let (_, rx) = self.request_later(method, params).await;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(format!("no answer to {method} within {} s", timeout.as_secs())),
            Ok(Err(_)) => Err(format!("{method}: the server closed the connection")),
            Ok(Ok(response)) if response.get("error").is_some() => {
                Err(format!("{method} failed: {}", response["error"]))
            }
            Ok(Ok(response)) => Ok(response["result"].clone()),
        }
    }

    /// Asks the server to shut down and exit; for a child process, its exit status (killed
    /// when it does not exit within 10 s).
    pub async fn shutdown(mut self) -> Option<i32> {
        if !self.is_closed() {
            let _ = self.try_request("shutdown", Value::Null, Duration::from_secs(10)).await;
            self.notify("exit", Value::Null).await;
        }
        match &mut self.server {
            ServerSide::InProcess(_) => None,
            ServerSide::Child(child) => match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                Ok(Ok(status)) => status.code(),
                _ => {
                    let _ = child.kill().await;
                    child.wait().await.ok().and_then(|s| s.code())
                }
            },
        }
    }

    /// The server has closed the connection.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().unwrap().closed
    }

    /// Every `workspace/applyEdit` so far, in order.
    pub fn applied_edits(&self) -> Vec<AppliedEdit> {
        self.shared.lock().unwrap().edits.clone()
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
        if !write_message(&self.writer, &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await
        {
            // The response will never come: the receiver sees the sender dropped.
            self.shared.lock().unwrap().pending.remove(&id);
        }
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
        if !self.wait_within(Duration::from_secs(secs), pred).await {
            panic!("timed out waiting for {what}; received: {:#?}", self.received());
        }
    }

    /// Waits until the received messages as a whole satisfy `pred`, the server closes the
    /// connection, or `timeout` passes; whether `pred` held.
    pub async fn wait_within(&self, timeout: Duration, pred: impl Fn(&[Value]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if pred(&self.received()) {
                return true;
            }
            if self.is_closed() || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return pred(&self.received());
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
    reader: BufReader<impl AsyncRead + Unpin>,
    writer: Arc<tokio::sync::Mutex<Writer>>,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
) {
    read_messages(reader, &writer, &shared, &notify).await;
    let mut s = shared.lock().unwrap();
    s.closed = true;
    // Dropping the senders tells every waiting request that no response will come.
    s.pending.clear();
    drop(s);
    notify.notify_waiters();
}

async fn read_messages(
    mut reader: BufReader<impl AsyncRead + Unpin>,
    writer: &tokio::sync::Mutex<Writer>,
    shared: &Mutex<Shared>,
    notify: &Notify,
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
        let observer = shared.lock().unwrap().observer.clone();
        if let Some(observer) = observer {
            observer(&msg);
        }
        for reply in handle(&msg, shared) {
            write_message(writer, &reply).await;
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
            ConsentReply::PickOffered(titles) => {
                let offered = msg["params"]["actions"].as_array().cloned().unwrap_or_default();
                let pick = offered.iter().filter_map(|a| a["title"].as_str()).find(|t| titles.iter().any(|w| w == t));
                ok(pick.map_or(Value::Null, |title| json!({"title": title})))
            }
        },
        "workspace/configuration" => {
            ok(msg["params"]["items"].as_array().map_or(json!([]), |items| json!(vec![Value::Null; items.len()])))
        }
        "workspace/applyEdit" => {
            let utf8 = s.utf8;
            let edit = &msg["params"]["edit"];
            let for_review = edit["changeAnnotations"]
                .as_object()
                .is_some_and(|a| a.values().any(|v| v["needsConfirmation"] == true));
            if for_review && s.accept_reviewed == Some(false) {
                let uri = edit["documentChanges"][0]["textDocument"]["uri"].as_str().unwrap_or_default().to_string();
                let edits = edit["documentChanges"][0]["edits"].as_array().cloned().unwrap_or_default();
                let reason = "discarded in review".to_string();
                s.edits.push(AppliedEdit { uri, edits, applied: false, failure_reason: Some(reason.clone()) });
                return ok(json!({"applied": false, "failureReason": reason}));
            }
            let mut applied = true;
            let mut touched = Vec::new();
            // (uri, version the edit is for, its text edits)
            let mut parts: Vec<(String, Option<i64>, Vec<Value>)> = Vec::new();
            if let Some(changes) = edit["documentChanges"].as_array() {
                for dc in changes {
                    let uri = dc["textDocument"]["uri"].as_str().unwrap_or_default().to_string();
                    let edits = dc["edits"].as_array().cloned().unwrap_or_default();
                    parts.push((uri, dc["textDocument"]["version"].as_i64(), edits));
                }
            } else if let Some(changes) = edit["changes"].as_object() {
                for (uri, edits) in changes {
                    parts.push((uri.clone(), None, edits.as_array().cloned().unwrap_or_default()));
                }
            }
            for (uri, version, edits) in parts {
                let failure_reason = match s.documents.get_mut(&uri) {
                    None => Some(format!("unknown document {uri}")),
                    Some(doc) if version.is_some_and(|v| v != doc.1 as i64) => {
                        Some(format!("version {} is not the document's {}", version.unwrap_or_default(), doc.1))
                    }
                    Some(doc) => {
                        apply_text_edits(&mut doc.0, &edits, utf8);
                        doc.1 += 1;
                        touched.push(uri.clone());
                        None
                    }
                };
                applied &= failure_reason.is_none();
                s.edits.push(AppliedEdit { uri, edits, applied: failure_reason.is_none(), failure_reason });
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
