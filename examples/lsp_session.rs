//! A scripted editor session against llm-router-lsp over stdio, for scripts/demo.sh and
//! scripts/real-model-e2e.sh:
//!
//! `cargo run --example lsp_session -- --server target/release/llm-router-lsp [--config FILE]
//!  --file scripts/sample.sh --explain-line 6 --generate-line 8 [--verbose] [--json-result OUT]`
//!
//! It plays the editor with the tests' LSP client (tests/support/lsp_client.rs): starts the
//! server, opens the file, asks for the code actions on a line, executes "Explain command" on
//! one line and "Generate script" on another (one after the other), applies the edits to its
//! own copy of the buffer and answers the VRAM question with `--consent` (or its
//! translation). Then it checks what an editor user would see: the edit arrived, Explain's
//! comment lines sit directly above the explained line (each starting with the language's
//! comment prefix), Generate's lines directly after the description, every other line is
//! unchanged, `$/progress` begin/report/end arrived and the closing message names the model.
//! The comment prefixes, consent titles and command names come from the server's own crate,
//! so they cannot drift from it.
//!
//! Line numbers are 1-based, as an editor shows them, and refer to the file as given (the
//! Generate line is followed when Explain's comments push it down).
//!
//! Exit status: 0 every check passed; 1 an expected edit did not arrive within --timeout or
//! a check failed; 2 usage error, or the server could not be started or initialised.
//!
//! tests/lsp_session.rs runs this session against the fake model server.
// Also compiled into tests/lsp_session.rs, which does not call `main`.
#![allow(dead_code)]

#[path = "../tests/support/lsp_client.rs"]
pub mod lsp_client;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use llm_router_lsp::actions::edits::comment_prefix;
use llm_router_lsp::lsp::{CMD_CANCEL, CMD_EXPLAIN, CMD_GENERATE};
use llm_router_lsp::vocab::{ConsentAnswer, Language};
use lsp_client::{ClientOptions, ConsentReply, TestClient};
use serde_json::{Value, json};

/// The report the server streams while text arrives ("MODEL: N characters received").
const STREAMING_REPORT: &str = "characters received";

#[derive(Parser)]
#[command(about = "A scripted editor session against llm-router-lsp over stdio")]
pub struct Args {
    /// The llm-router-lsp binary.
    #[arg(long)]
    pub server: PathBuf,
    /// Config file passed to the server with --config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The file to open (a copy is edited in memory only).
    #[arg(long)]
    pub file: PathBuf,
    /// Run "Explain command" on this line (1-based).
    #[arg(long)]
    pub explain_line: Option<usize>,
    /// Run "Generate script" on this (description) line (1-based).
    #[arg(long)]
    pub generate_line: Option<usize>,
    /// Seconds to wait for each action.
    #[arg(long, default_value_t = 180.0)]
    pub timeout: f64,
    /// Title to pick at a VRAM question (English or German).
    #[arg(long, default_value = "Continue")]
    pub consent: String,
    /// Check that the closing messages name this model.
    #[arg(long)]
    pub expect_model: Option<String>,
    /// Keep the server's stderr in this file (default: a temporary file, printed on failure).
    #[arg(long)]
    pub server_log: Option<PathBuf>,
    /// Print the transcript.
    #[arg(long, short)]
    pub verbose: bool,
    /// Write what happened and the checks as JSON.
    #[arg(long)]
    pub json_result: Option<PathBuf>,
}

/// The LSP languageId this editor gives a file, by extension.
fn language_id(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        "sh" | "bash" | "zsh" => "shellscript",
        "py" => "python",
        "rs" => "rust",
        "js" => "javascript",
        "ts" => "typescript",
        "go" => "go",
        "lua" => "lua",
        _ => "plaintext",
    }
}

fn message_type(t: &Value) -> String {
    match t.as_i64() {
        Some(1) => "error".into(),
        Some(2) => "warning".into(),
        Some(3) => "info".into(),
        Some(4) => "log".into(),
        Some(5) => "debug".into(),
        _ => t.to_string(),
    }
}

// --- Text and UTF-16 positions ------------------------------------------------------------

/// Lines with their breaks, the last one possibly empty (as LSP counts lines: breaks are
/// \n, \r\n and \r).
fn split_lines_keepends(text: &str) -> Vec<&str> {
    let (bytes, mut out, mut start, mut i) = (text.as_bytes(), Vec::new(), 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                out.push(&text[start..=i]);
                start = i + 1;
            }
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.push(&text[start..i + 2]);
                i += 1;
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..=i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&text[start..]);
    out
}

fn strip_break(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// The byte index of a UTF-16 column in `line` (clamped to the line's end).
fn utf16_to_index(line: &str, character: usize) -> usize {
    let mut units = 0;
    for (i, c) in line.char_indices() {
        if units >= character {
            return i;
        }
        units += c.len_utf16();
    }
    line.len()
}

fn position_to_offset(text: &str, line: usize, character: usize) -> usize {
    let lines = split_lines_keepends(text);
    if line >= lines.len() {
        return text.len();
    }
    lines[..line].iter().map(|l| l.len()).sum::<usize>() + utf16_to_index(strip_break(lines[line]), character)
}

fn position(v: &Value) -> (usize, usize) {
    (v["line"].as_u64().unwrap_or(0) as usize, v["character"].as_u64().unwrap_or(0) as usize)
}

// --- The buffer with where each line came from ------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Origin {
    /// Still this line of the original file.
    Line(usize),
    /// Inserted by the edit being applied.
    Inserted,
    /// Inserted by an earlier edit, or changed.
    Other,
}

/// The document as this editor holds it. `origin[i]` is the original line that line i still
/// is; an edit that changes an original line marks `damaged`.
struct Buffer {
    text: String,
    original_lines: Vec<String>,
    origin: Vec<Origin>,
    damaged: Vec<String>,
}

impl Buffer {
    fn new(text: &str) -> Self {
        let original_lines: Vec<String> =
            split_lines_keepends(text).iter().map(|l| strip_break(l).to_string()).collect();
        let origin = (0..original_lines.len()).map(Origin::Line).collect();
        Buffer { text: text.to_string(), original_lines, origin, damaged: Vec::new() }
    }

    fn lines(&self) -> Vec<String> {
        split_lines_keepends(&self.text).iter().map(|l| strip_break(l).to_string()).collect()
    }

    fn line_of_original(&self, original: usize) -> Option<usize> {
        self.origin.iter().position(|o| *o == Origin::Line(original))
    }

    /// Applies text edits (UTF-16 positions); returns the indices of the lines they inserted,
    /// in the buffer as it is afterwards. Err: an edit that ends before it starts.
    fn apply(&mut self, edits: &[Value]) -> Result<Vec<usize>, String> {
        // From the end so earlier positions stay valid; for equal starts, in reverse array
        // order (LSP: inserts at one position apply in array order).
        let mut indexed: Vec<(usize, &Value)> = edits.iter().enumerate().collect();
        indexed.sort_by_key(|(i, e)| (position(&e["range"]["start"]), *i));
        indexed.reverse();
        for (_, edit) in indexed {
            let r = &edit["range"];
            let new_text = edit["newText"].as_str().unwrap_or_default();
            let ((sl, sc), (el, ec)) = (position(&r["start"]), position(&r["end"]));
            let start = position_to_offset(&self.text, sl, sc);
            let end = position_to_offset(&self.text, el, ec);
            if end < start {
                return Err(format!("edit with end before start: {r}"));
            }
            let pure_insert = start == end;
            if !pure_insert {
                self.damaged.push(format!("edit replaces text at {r}: {:?}", &self.text[start..end]));
            }
            let lines: Vec<String> = split_lines_keepends(&self.text).iter().map(|l| l.to_string()).collect();
            let (sl_c, el_c) = (sl.min(lines.len() - 1), el.min(lines.len() - 1));
            let first = strip_break(&lines[sl_c]);
            let prefix = &first[..utf16_to_index(first, sc)];
            let last = strip_break(&lines[el_c]);
            let suffix = &last[utf16_to_index(last, ec)..];
            let new_lines = split_lines_keepends(&format!("{prefix}{new_text}{suffix}")).len();
            let (prefix_empty, suffix_empty) = (prefix.is_empty(), suffix.is_empty());
            self.text.replace_range(start..end, new_text);
            let mut fresh = vec![Origin::Inserted; new_lines];
            let breaks = ['\n', '\r'];
            if pure_insert {
                let keeper = self.origin[sl_c];
                if prefix_empty && (new_text.ends_with(breaks) || new_text.is_empty()) {
                    fresh[new_lines - 1] = keeper; // inserted before the line: it is the last one
                } else if suffix_empty && new_text.starts_with(breaks) {
                    fresh[0] = keeper; // inserted after the line's end: it is the first one
                } else if !new_text.is_empty() {
                    self.damaged.push(format!("insertion inside line {sl} at column {sc}: {new_text:?}"));
                    fresh = vec![Origin::Other; new_lines];
                }
            } else {
                fresh = vec![Origin::Other; new_lines];
            }
            self.origin.splice(sl_c..=el_c, fresh);
        }
        let inserted = (0..self.origin.len()).filter(|&i| self.origin[i] == Origin::Inserted).collect();
        for o in &mut self.origin {
            if *o == Origin::Inserted {
                *o = Origin::Other;
            }
        }
        Ok(inserted)
    }

    /// The buffer with the inserted lines removed equals the original.
    fn intact(&self) -> bool {
        let kept: Vec<String> = self
            .lines()
            .into_iter()
            .zip(&self.origin)
            .filter(|(_, o)| matches!(o, Origin::Line(_)))
            .map(|(l, _)| l)
            .collect();
        let order: Vec<usize> =
            self.origin.iter().filter_map(|o| if let Origin::Line(n) = o { Some(*n) } else { None }).collect();
        self.damaged.is_empty()
            && kept == self.original_lines
            && order == (0..self.original_lines.len()).collect::<Vec<_>>()
    }

    fn inserted(&self) -> Vec<usize> {
        (0..self.origin.len()).filter(|&i| !matches!(self.origin[i], Origin::Line(_))).collect()
    }
}

// --- The transcript ---------------------------------------------------------------------------

/// Prints the transcript (with --verbose). A line that keeps changing (text received so far)
/// is rewritten in place on a terminal, elsewhere printed at most every 5 s, with its last
/// value before the next line.
struct Transcript {
    verbose: bool,
    tty: bool,
    status_shown: bool,
    status_unprinted: String,
    status_printed: Option<Instant>,
    last_report: Option<String>,
}

impl Transcript {
    fn say(&mut self, text: &str) {
        if !self.verbose {
            return;
        }
        let mut out = std::io::stdout().lock();
        if self.tty && self.status_shown {
            let _ = writeln!(out);
        } else if !self.tty && !self.status_unprinted.is_empty() {
            let _ = writeln!(out, "{}", self.status_unprinted);
        }
        self.status_shown = false;
        self.status_unprinted.clear();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    fn status(&mut self, text: &str) {
        if !self.verbose {
            return;
        }
        let mut out = std::io::stdout().lock();
        if self.tty {
            let _ = write!(out, "\r{text}\x1b[K");
            self.status_shown = true;
        } else if !self.status_shown || self.status_printed.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            let _ = writeln!(out, "{text}");
            self.status_shown = true;
            self.status_printed = Some(Instant::now());
            self.status_unprinted.clear();
        } else {
            self.status_unprinted = text.to_string();
        }
        let _ = out.flush();
    }

    /// A line for each message the server sends.
    fn server_message(&mut self, m: &Value, consent: &[String]) {
        let method = m["method"].as_str().unwrap_or_default();
        let params = &m["params"];
        match method {
            ""
            | "window/workDoneProgress/create"
            | "textDocument/publishDiagnostics"
            | "telemetry/event"
            | "$/logTrace" => {}
            "workspace/applyEdit" => {
                let edit = &params["edit"];
                let mut edits: Vec<Value> = Vec::new();
                for change in edit["documentChanges"].as_array().into_iter().flatten() {
                    edits.extend(change["edits"].as_array().cloned().unwrap_or_default());
                }
                for list in edit["changes"].as_object().into_iter().flat_map(|c| c.values()) {
                    edits.extend(list.as_array().cloned().unwrap_or_default());
                }
                let lines: usize =
                    edits.iter().map(|e| e["newText"].as_str().unwrap_or_default().matches('\n').count()).sum();
                self.say(&format!(
                    "  ← workspace/applyEdit: {} edit(s), {lines} line break(s) of new text",
                    edits.len()
                ));
            }
            "window/showMessageRequest" => {
                let actions: Vec<&str> =
                    params["actions"].as_array().into_iter().flatten().filter_map(|a| a["title"].as_str()).collect();
                let pick = pick(&actions, consent);
                self.say(&format!(
                    "  ? {}: {:?}",
                    message_type(&params["type"]),
                    params["message"].as_str().unwrap_or("")
                ));
                self.say(&format!("    choices {actions:?}; answering {pick:?}"));
            }
            "$/progress" => {
                let value = &params["value"];
                let text = |k: &str| value[k].as_str().unwrap_or_default().to_string();
                match value["kind"].as_str() {
                    Some("begin") => self.say(&format!("  ← progress begin: {} — {}", text("title"), text("message"))),
                    Some("report") => {
                        let msg = text("message");
                        if msg.ends_with(STREAMING_REPORT) {
                            self.status(&format!("  ← progress: {msg}"));
                        } else if self.last_report.as_deref() != Some(msg.as_str()) {
                            self.say(&format!("  ← progress: {msg}"));
                        }
                        self.last_report = Some(msg);
                    }
                    Some("end") => self.say(&format!("  ← progress end: {}", text("message"))),
                    _ => {}
                }
            }
            "window/showMessage" => self.say(&format!(
                "  ← showMessage [{}]: {}",
                message_type(&params["type"]),
                params["message"].as_str().unwrap_or_default()
            )),
            "window/logMessage" => {
                let text: String = params["message"].as_str().unwrap_or_default().chars().take(500).collect();
                self.say(&format!("  ← logMessage [{}]: {text}", message_type(&params["type"])));
            }
            other => {
                let text: String = params.to_string().chars().take(200).collect();
                self.say(&format!("  ← {other}: {text}"));
            }
        }
    }
}

/// The offered title the client answers with (the same rule as `ConsentReply::PickOffered`).
fn pick<'a>(offered: &[&'a str], wanted: &[String]) -> Option<&'a str> {
    offered.iter().copied().find(|t| wanted.iter().any(|w| w == t))
}

/// `--consent` and its translations, from the server's own titles.
fn consent_titles(consent: &str) -> Vec<String> {
    match ConsentAnswer::from_title(consent) {
        Some(answer) => [Language::En, Language::De].map(|l| answer.title(l).to_string()).to_vec(),
        None => vec![consent.to_string()],
    }
}

// --- One job ------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Task {
    Explain,
    Generate,
}

impl Task {
    fn name(self) -> &'static str {
        match self {
            Task::Explain => "explain",
            Task::Generate => "generate",
        }
    }
    fn command(self) -> &'static str {
        match self {
            Task::Explain => CMD_EXPLAIN,
            Task::Generate => CMD_GENERATE,
        }
    }
}

struct EditSeen {
    raw: Vec<Value>,
    inserted_at: Vec<usize>,
    lines: Vec<String>,
}

/// What one executed command produced.
struct Job {
    task: Task,
    /// 0-based, in the original file.
    original_line: usize,
    /// 0-based, in the buffer when the command was sent.
    line_at_start: usize,
    action_title: String,
    token: Option<Value>,
    progress: Vec<Value>,
    edits: Vec<EditSeen>,
    /// `{type, message}` of each showMessage, and each question with `request: true`.
    messages: Vec<Value>,
    logs: Vec<Value>,
    execute_answer_s: f64,
    seconds: f64,
    timed_out: bool,
    done: bool,
}

impl Job {
    fn progress_kinds(&self) -> Vec<&str> {
        self.progress.iter().map(|p| p["kind"].as_str().unwrap_or_default()).collect()
    }
}

/// Whether the job that produced `messages` is over: its closing showMessage came (after
/// its progress ended, or alone when it had no progress).
fn job_over(messages: &[Value]) -> bool {
    let (mut token, mut ended) = (None, false);
    for m in messages {
        match m["method"].as_str() {
            Some("window/workDoneProgress/create") => token = Some(m["params"]["token"].clone()),
            Some("$/progress") if Some(&m["params"]["token"]) == token.as_ref() => {
                ended |= m["params"]["value"]["kind"] == "end";
            }
            Some("window/showMessage") if token.is_none() || ended => return true,
            _ => {}
        }
    }
    false
}

struct Session {
    client: TestClient,
    uri: String,
    buffer: Buffer,
    transcript: Arc<Mutex<Transcript>>,
    consent: Vec<String>,
}

impl Session {
    fn say(&self, text: &str) {
        self.transcript.lock().unwrap().say(text);
    }

    /// Asks for the code actions on the whole line, executes the one for the task, waits for
    /// the closing message (cancelling the job after `timeout`).
    async fn run(&mut self, task: Task, original_line: usize, timeout: Duration) -> Result<Job, String> {
        let line = self.buffer.line_of_original(original_line).ok_or("the line is gone from the buffer")?;
        let text = self.buffer.lines()[line].clone();
        let first_message = self.client.received().len();
        let first_edit = self.client.applied_edits().len();
        let range =
            json!({"start": {"line": line, "character": 0}, "end": {"line": line, "character": utf16_len(&text)}});
        self.say(&format!("\n→ textDocument/codeAction on line {}: {text:?}", line + 1));
        let actions = self
            .client
            .try_request(
                "textDocument/codeAction",
                json!({"textDocument": {"uri": self.uri}, "range": range, "context": {"diagnostics": [], "triggerKind": 1}}),
                Duration::from_secs(30),
            )
            .await?;
        let actions = actions.as_array().cloned().unwrap_or_default();
        for a in &actions {
            self.say(&format!("  ← action: {:?} ({})", a["title"].as_str().unwrap_or(""), a["command"]["command"]));
        }
        let chosen = actions.iter().find(|a| a["command"]["command"] == task.command()).ok_or_else(|| {
            let titles: Vec<&str> = actions.iter().filter_map(|a| a["title"].as_str()).collect();
            format!("no code action runs {} on line {}; got {titles:?}", task.command(), line + 1)
        })?;
        let title = chosen["title"].as_str().unwrap_or_default().to_string();
        let started = Instant::now();
        self.say(&format!("→ workspace/executeCommand {} ({title:?})", task.command()));
        let command = &chosen["command"];
        let answer = self
            .client
            .try_request(
                "workspace/executeCommand",
                json!({"command": command["command"], "arguments": command["arguments"]}),
                Duration::from_secs(30),
            )
            .await?;
        let execute_answer_s = started.elapsed().as_secs_f64();
        self.say(&format!("  ← executeCommand answered in {:.0} ms: {answer}", execute_answer_s * 1000.0));
        let over = |all: &[Value]| job_over(&all[first_message.min(all.len())..]);
        let mut done = self.client.wait_within(timeout, over).await;
        let timed_out = !done && !self.client.is_closed();
        if timed_out {
            self.say(&format!("  ! no closing message within {} s; cancelling the job", timeout.as_secs()));
            // As a user would: cancel it, so that its late answer is not taken for the next one's.
            let token = self.client.received()[first_message..]
                .iter()
                .find(|m| m["method"] == "window/workDoneProgress/create")
                .map(|m| m["params"]["token"].clone());
            match token {
                Some(token) => self.client.notify("window/workDoneProgress/cancel", json!({"token": token})).await,
                None => {
                    let cancel = json!({"command": CMD_CANCEL, "arguments": [{"uri": self.uri}]});
                    let sent = self.client.try_request("workspace/executeCommand", cancel, Duration::from_secs(10));
                    if let Err(e) = sent.await {
                        self.say(&format!("  ! cancelling failed: {e}"));
                    }
                }
            }
            done = self.client.wait_within(Duration::from_secs(30), over).await;
            if !done {
                self.say("  ! the job did not end within 30 s of the cancel");
            }
        }
        if self.client.is_closed() && !done {
            self.say("  ! the server closed the connection");
        }
        let seconds = started.elapsed().as_secs_f64();

        let mut job = Job {
            task,
            original_line,
            line_at_start: line,
            action_title: title,
            token: None,
            progress: Vec::new(),
            edits: Vec::new(),
            messages: Vec::new(),
            logs: Vec::new(),
            execute_answer_s,
            seconds,
            timed_out,
            done,
        };
        for m in &self.client.received()[first_message..] {
            let params = &m["params"];
            match m["method"].as_str().unwrap_or_default() {
                "window/workDoneProgress/create" if job.token.is_none() => job.token = Some(params["token"].clone()),
                "$/progress" if job.token.as_ref() == Some(&params["token"]) => {
                    job.progress.push(params["value"].clone())
                }
                "window/showMessage" => {
                    job.messages.push(json!({"type": message_type(&params["type"]), "message": params["message"]}))
                }
                "window/showMessageRequest" => {
                    let actions: Vec<&str> = params["actions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a["title"].as_str())
                        .collect();
                    let mut entry = params.clone();
                    entry["request"] = json!(true);
                    entry["answer"] = json!(pick(&actions, &self.consent));
                    job.messages.push(entry);
                }
                "window/logMessage" => {
                    job.logs.push(json!({"type": message_type(&params["type"]), "message": params["message"]}))
                }
                _ => {}
            }
        }
        for edit in &self.client.applied_edits()[first_edit..] {
            if !edit.applied || edit.uri != self.uri {
                self.say(&format!("  ! an edit was not applied: {}", edit.failure_reason.as_deref().unwrap_or("")));
                continue;
            }
            let inserted_at = self.buffer.apply(&edit.edits)?;
            let lines = self.buffer.lines();
            job.edits.push(EditSeen {
                raw: edit.edits.clone(),
                lines: inserted_at.iter().map(|&i| lines[i].clone()).collect(),
                inserted_at,
            });
        }
        Ok(job)
    }
}

// --- Checks -------------------------------------------------------------------------------------

/// The job's inserted lines in the final buffer: the run of inserted lines at the line it
/// was attached to (above it for Explain, after it for Generate).
fn job_inserted_now(buf: &Buffer, job: &Job) -> Vec<usize> {
    let Some(anchor) = buf.line_of_original(job.original_line) else { return Vec::new() };
    let inserted = |i: usize| !matches!(buf.origin[i], Origin::Line(_));
    match job.task {
        Task::Explain => (0..anchor).rev().take_while(|&i| inserted(i)).collect::<Vec<_>>().into_iter().rev().collect(),
        Task::Generate => (anchor + 1..buf.origin.len()).take_while(|&i| inserted(i)).collect(),
    }
}

/// 0-based indices as 1-based ranges: [5, 6, 7, 9] -> "6-8, 10".
fn line_ranges(indices: &[usize]) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &i in indices {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => runs.push((i, i)),
        }
    }
    let text: Vec<String> =
        runs.iter().map(|&(a, b)| if a == b { format!("{}", a + 1) } else { format!("{}-{}", a + 1, b + 1) }).collect();
    if text.is_empty() { "none".into() } else { text.join(", ") }
}

fn check_job(buf: &Buffer, job: &Job, prefix: &str, expect_model: Option<&str>, timeout: f64) -> Vec<Value> {
    let mut checks = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        checks.push(json!({"job": job.task.name(), "check": name, "ok": ok, "detail": detail}));
    };
    let inserted_lines: Vec<&String> = job.edits.iter().flat_map(|e| &e.lines).collect();
    let why = if !job.edits.is_empty() {
        format!("{} applyEdit(s), {} line(s)", job.edits.len(), inserted_lines.len())
    } else if job.timed_out {
        format!("no workspace/applyEdit within {timeout:.0} s (then cancelled)")
    } else if job.done {
        "the job ended without a workspace/applyEdit".into()
    } else {
        format!("no workspace/applyEdit within {timeout:.0} s")
    };
    check("edit arrived", !job.edits.is_empty() && !inserted_lines.is_empty() && !job.timed_out, why);
    if let Some(last) = job.edits.last() {
        let at = &last.inserted_at;
        let contiguous = !at.is_empty() && at.windows(2).all(|w| w[1] == w[0] + 1);
        check("inserted lines are one block", contiguous, format!("lines {}", line_ranges(at)));
        let now = job_inserted_now(buf, job);
        let anchor = buf.line_of_original(job.original_line).map_or(0, |a| a + 1);
        let placed = now.len() == inserted_lines.len() && !now.is_empty();
        match job.task {
            Task::Explain => {
                let detail = format!(
                    "{} comment line(s) directly above line {anchor}, {} inserted",
                    now.len(),
                    inserted_lines.len()
                );
                check("placed directly above the explained line", placed, detail);
                let bad: Vec<&&String> =
                    inserted_lines.iter().filter(|l| !l.trim_start().starts_with(prefix)).collect();
                let detail = if bad.is_empty() {
                    String::new()
                } else {
                    format!("not comments: {:?}", &bad[..bad.len().min(3)])
                };
                check(&format!("every inserted line starts with '{prefix}'"), bad.is_empty(), detail);
            }
            Task::Generate => {
                let detail =
                    format!("{} line(s) directly after line {anchor}, {} inserted", now.len(), inserted_lines.len());
                check("placed directly after the description line", placed, detail);
                check(
                    "generated code is not empty",
                    inserted_lines.iter().any(|l| !l.trim().is_empty()),
                    String::new(),
                );
            }
        }
    }
    let kinds = job.progress_kinds();
    let reports: Vec<&Value> = job.progress.iter().filter(|p| p["kind"] == "report").collect();
    let streamed =
        reports.iter().filter(|p| p["message"].as_str().is_some_and(|m| m.contains(STREAMING_REPORT))).count();
    let token = job.token.as_ref().map_or("None".into(), Value::to_string);
    check(
        "progress begin/report/end",
        job.token.is_some() && kinds.first() == Some(&"begin") && kinds.last() == Some(&"end") && !reports.is_empty(),
        format!("token {token}: {} notification(s), {} report(s)", kinds.len(), reports.len()),
    );
    check("streaming seen (reports of text received)", streamed > 0, format!("{streamed} report(s)"));
    let last = job.messages.iter().rfind(|m| m.get("request").is_none());
    let text = |m: &Value| m["message"].as_str().unwrap_or_default().to_string();
    check(
        "closing window/showMessage",
        last.is_some_and(|m| m["type"] == "info"),
        last.map_or("none".into(), |m| format!("[{}] {}", m["type"].as_str().unwrap_or(""), text(m))),
    );
    if let Some(model) = expect_model {
        check(
            &format!("closing message names {model}"),
            last.is_some_and(|m| text(m).contains(model)),
            last.map(text).unwrap_or_default(),
        );
    }
    checks
}

fn numbered(text: &str, inserted: &[usize]) -> String {
    let mut lines: Vec<&str> = split_lines_keepends(text).into_iter().map(strip_break).collect();
    if lines.last() == Some(&"") && text.ends_with(['\n', '\r']) {
        lines.pop();
    }
    let width = lines.len().to_string().len();
    let rows: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}{:>width$} | {l}", if inserted.contains(&i) { '+' } else { ' ' }, i + 1))
        .collect();
    rows.join("\n")
}

fn main() -> ExitCode {
    ExitCode::from(run(Args::parse()))
}

/// The whole session; the exit status.
pub fn run(args: Args) -> u8 {
    let usage = |message: String| -> u8 {
        eprintln!("lsp_session: {message}");
        2
    };
    if args.explain_line.is_none() && args.generate_line.is_none() {
        return usage("give --explain-line and/or --generate-line".into());
    }
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => return usage(format!("cannot read {}: {e}", args.file.display())),
    };
    let n_lines = split_lines_keepends(&text).len();
    for (name, value) in [("--explain-line", args.explain_line), ("--generate-line", args.generate_line)] {
        if let Some(v) = value
            && !(1..=n_lines).contains(&v)
        {
            return usage(format!("{name} {v} is outside the file (1-{n_lines})"));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    match runtime {
        Ok(rt) => rt.block_on(session(args, text)),
        Err(e) => usage(format!("tokio runtime: {e}")),
    }
}

async fn session(args: Args, text: String) -> u8 {
    let started = Instant::now();
    let log_path = args
        .server_log
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("lsp_session-{}.log", std::process::id())));
    let log = match std::fs::File::create(&log_path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("lsp_session: cannot write {}: {e}", log_path.display());
            return 2;
        }
    };
    let mut server_cmd = vec![args.server.display().to_string()];
    if let Some(config) = &args.config {
        server_cmd.extend(["--config".to_string(), config.display().to_string()]);
    }
    server_cmd.push("--stdio".into());
    let mut command = tokio::process::Command::new(&server_cmd[0]);
    command.args(&server_cmd[1..]).stderr(log);

    let file = std::path::absolute(&args.file).unwrap_or_else(|_| args.file.clone());
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let root_uri = url::Url::from_directory_path(&dir).map(|u| u.to_string()).ok();
    let uri = url::Url::from_file_path(&file).map(|u| u.to_string()).unwrap_or_default();
    let transcript = Arc::new(Mutex::new(Transcript {
        verbose: args.verbose,
        tty: std::io::stdout().is_terminal(),
        status_shown: false,
        status_unprinted: String::new(),
        status_printed: None,
        last_report: None,
    }));
    let consent = consent_titles(&args.consent);
    let observer = {
        let (transcript, consent) = (Arc::clone(&transcript), consent.clone());
        Box::new(move |m: &Value| transcript.lock().unwrap().server_message(m, &consent))
    };
    let options = ClientOptions { root_uri, ..ClientOptions::default() };

    println!("--- {} before ---\n{}\n", args.file.display(), numbered(&text, &[]));
    let mut result = json!({"file": args.file.display().to_string(), "server": server_cmd, "jobs": [], "checks": []});
    let mut checks: Vec<Value> = Vec::new();
    let (client, init) = match TestClient::spawn(command, options, Some(observer)).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("lsp_session: {e}");
            print_log_tail(&log_path);
            return 2;
        }
    };
    client.set_consent(ConsentReply::PickOffered(consent.clone()));
    let caps = &init["capabilities"];
    result["initialize"] = json!({"serverInfo": init["serverInfo"], "positionEncoding": caps["positionEncoding"]});
    transcript.lock().unwrap().say(&format!(
        "← initialize: {} positionEncoding={} commands={}",
        init["serverInfo"], caps["positionEncoding"], caps["executeCommandProvider"]["commands"]
    ));
    let encoding = caps["positionEncoding"].as_str().unwrap_or("utf-16");
    checks.push(
        json!({"job": "-", "check": "position encoding is utf-16", "ok": encoding == "utf-16", "detail": encoding}),
    );
    let language = language_id(&args.file);
    client.open(&uri, language, &text).await;
    // Let a config error shown after `initialized` arrive before the first job.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (kind, message) in client.show_messages() {
        eprintln!("lsp_session: the server said [{}]: {message}", message_type(&json!(kind)));
    }
    let mut session = Session { client, uri, buffer: Buffer::new(&text), transcript, consent };
    let plan: Vec<(Task, usize)> = [(Task::Explain, args.explain_line), (Task::Generate, args.generate_line)]
        .into_iter()
        .filter_map(|(task, line)| line.map(|l| (task, l - 1)))
        .collect();
    let timeout = Duration::from_secs_f64(args.timeout);
    let mut jobs = Vec::new();
    let mut error = None;
    for (task, line) in plan {
        match session.run(task, line, timeout).await {
            Ok(job) => jobs.push(job),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let prefix = comment_prefix(language);
    for job in &jobs {
        checks.extend(check_job(&session.buffer, job, prefix, args.expect_model.as_deref(), args.timeout));
    }
    let buf = &session.buffer;
    let detail = if buf.damaged.is_empty() {
        "the buffer without the inserted lines equals the original".to_string()
    } else {
        buf.damaged.join("; ")
    };
    checks.push(json!({"job": "-", "check": "rest of the buffer intact", "ok": buf.intact(), "detail": detail}));
    if session.client.text(&session.uri) != buf.text {
        checks.push(json!({"job": "-", "check": "the client's copy matches the replayed edits", "ok": false,
                           "detail": "the test client and this session disagree on the buffer"}));
    }
    let inserted = buf.inserted();
    println!(
        "\n--- {} after ({} line(s) inserted, marked +) ---\n{}\n",
        args.file.display(),
        inserted.len(),
        numbered(&buf.text, &inserted)
    );
    result["jobs"] = jobs
        .iter()
        .map(|job| {
            let reports: Vec<&Value> = job
                .progress
                .iter()
                .filter(|p| p["kind"] == "report")
                .map(|p| &p["message"])
                .filter(|m| m.as_str().is_some_and(|m| !m.contains(STREAMING_REPORT)))
                .collect();
            json!({
                "task": job.task.name(), "command": job.task.command(), "action_title": job.action_title,
                "line": job.original_line + 1, "line_at_start": job.line_at_start + 1, "token": job.token,
                "execute_answer_s": job.execute_answer_s, "seconds": (job.seconds * 100.0).round() / 100.0,
                "progress": job.progress, "routing": reports,
                "edits": job.edits.iter().map(|e| json!({
                    "inserted_at": e.inserted_at.iter().map(|i| i + 1).collect::<Vec<_>>(),
                    "lines": e.lines, "raw": e.raw})).collect::<Vec<_>>(),
                "messages": job.messages, "logs": job.logs,
            })
        })
        .collect();
    result["final_text"] = json!(buf.text);
    let mut status = 0;
    if let Some(e) = &error {
        eprintln!("lsp_session: {e}");
        result["error"] = json!(e);
        status = 1;
    }
    let code = session.client.shutdown().await;
    result["server_exit"] = json!(code);
    result["checks"] = json!(checks);
    let seconds = started.elapsed().as_secs_f64();
    result["seconds"] = json!((seconds * 100.0).round() / 100.0);

    println!("checks:");
    for c in &checks {
        let detail = c["detail"].as_str().unwrap_or_default();
        let detail = if detail.is_empty() { String::new() } else { format!(" ({detail})") };
        let mark = if c["ok"] == true { "ok" } else { "FAIL" };
        println!("  [{mark}] {}: {}{detail}", c["job"].as_str().unwrap_or(""), c["check"].as_str().unwrap_or(""));
    }
    if status == 0 && checks.iter().any(|c| c["ok"] != true) {
        status = 1;
    }
    if code.is_some_and(|c| c != 0) {
        eprintln!("lsp_session: the server exited with status {}", code.unwrap_or_default());
    }
    if status != 0 {
        print_log_tail(&log_path);
    } else if args.server_log.is_none() {
        let _ = std::fs::remove_file(&log_path);
    }
    if let Some(path) = &args.json_result {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let text = serde_json::to_string_pretty(&result).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("lsp_session: cannot write {}: {e}", path.display());
        }
    }
    println!("lsp_session: {} in {seconds:.1} s", if status == 0 { "passed" } else { "FAILED" });
    status
}

fn print_log_tail(path: &Path) {
    let log = std::fs::read(path).unwrap_or_default();
    let tail = String::from_utf8_lossy(&log[log.len().saturating_sub(4000)..]).into_owned();
    if !tail.trim().is_empty() {
        eprintln!("--- server stderr (tail, {}) ---\n{tail}", path.display());
    }
}
