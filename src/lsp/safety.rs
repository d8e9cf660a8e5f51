//! The safety check in the language server: the question before dangerous generated code is
//! inserted, diagnostics on the inserted lines, and debounced diagnostics on open shell
//! documents (`safety.lint_open_documents`). `crate::safety` finds; this module converts its
//! findings to `textDocument/publishDiagnostics` (source "llm-router-lsp", the category as
//! `code`).
//!
//! Diagnostics of inserted code are anchored to the inserted lines' text, not to line
//! numbers: whenever diagnostics are published the lines are found again (like an edit's
//! selection, see `edits::relocate`), so edits above them, full-text or incremental sync,
//! and the order in which `didChange` and the edit's answer arrive do not matter. Once the
//! lines are changed, their diagnostics go.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tower_lsp_server::Client;
use tower_lsp_server::ls_types::request::ShowMessageRequest;
use tower_lsp_server::ls_types::*;

use super::documents::Changes;
use super::position::Encoding;
use super::state::Shared;
use crate::actions::edits::{self, LineInsert};
use crate::actions::{Answer, check};
use crate::config::Config;
use crate::safety::{self, CheckOptions, Dialect, DocumentCheck, Finding, Report, SafetyConfig, Severity};
use crate::vocab::DangerAnswer;

/// Wait after opening a document.
const OPEN_DELAY: Duration = Duration::from_millis(20);
/// Documents larger than this are not linted.
const MAX_LINT_BYTES: usize = 1024 * 1024;
pub(super) const SOURCE: &str = "llm-router-lsp";

/// A finding in inserted code: lines relative to the block, byte columns in those lines.
#[derive(Debug, Clone)]
struct BlockFinding {
    start: (usize, usize),
    end: (usize, usize),
    finding: Finding,
}

/// Inserted generated code with findings.
#[derive(Debug, Clone)]
struct Block {
    lines: Vec<String>,
    /// Where it was last found.
    line: usize,
    /// Found in the document at least once (the edit's didChange has arrived).
    seen: bool,
    findings: Vec<BlockFinding>,
}

/// Per-document state, kept in the server's state.
#[derive(Debug, Default)]
pub struct SafetyDocs {
    blocks: HashMap<Uri, Vec<Block>>,
    /// The last lint's diagnostics, for the version they were computed on.
    lint: HashMap<Uri, (i32, Vec<Diagnostic>)>,
    /// Bumped by every scheduled refresh; only the latest one publishes.
    generation: HashMap<Uri, u64>,
    /// Each linted document's parse and per-statement results, kept for the next change.
    /// Locked by the lint alone, which takes the document's changes while it holds it, so
    /// that two lints apply them in order.
    checks: HashMap<Uri, Arc<Mutex<Option<DocumentCheck>>>>,
}

/// Generated code's findings, before the edit (the code may be inserted as comments).
#[derive(Debug, Clone)]
pub struct Generated {
    code: String,
    findings: Vec<Finding>,
}

pub enum Gate {
    /// Insert this answer; `note` goes into the closing message.
    Insert { outcome: Box<Answer>, note: Option<String>, generated: Option<Generated> },
    /// The user cancelled at the danger question.
    Cancel { outcome: Box<Answer> },
}

/// Decides what to insert: as is without danger; with danger, what the user picks. A client
/// without `window/showMessageRequest` (or no answer in time) gets the code as comments.
/// `replaces`: the edit replaces the user's text (a fix). Code as comments would replace it
/// with something that does not run, so there "insert as comments" keeps the text instead.
pub async fn gate(client: &Client, config: &Config, language: &str, replaces: bool, mut outcome: Answer) -> Gate {
    let Some(check) = outcome.check.clone() else {
        return Gate::Insert { outcome: Box::new(outcome), note: None, generated: None };
    };
    let lang = config.language;
    let mut notes: Vec<String> = check.retry.iter().map(|r| r.note(lang)).collect();
    let dangers: Vec<&Finding> = check.report.dangers().collect();
    if !dangers.is_empty() {
        let timeout = Duration::from_secs(config.lsp.request_timeout);
        let answer = ask(client, check::danger_message(lang, &dangers), lang, timeout).await;
        match answer {
            DangerAnswer::Cancel => return Gate::Cancel { outcome: Box::new(outcome) },
            DangerAnswer::InsertAsComments if replaces => return Gate::Cancel { outcome: Box::new(outcome) },
            DangerAnswer::InsertAsComments => {
                let prefix = edits::comment_prefix(language).to_string();
                outcome.text = format!("```\n{}```\n", check::as_comments(&check.code, &prefix));
            }
            DangerAnswer::InsertAnyway => {}
        }
        notes.push(check::inserted_note(lang, answer, dangers.len()));
    }
    let generated = (!check.report.findings.is_empty())
        .then(|| Generated { code: check.code.clone(), findings: check.report.findings.clone() });
    Gate::Insert { outcome: Box::new(outcome), note: (!notes.is_empty()).then(|| notes.join(" ")), generated }
}

async fn ask(client: &Client, message: String, lang: crate::vocab::Language, timeout: Duration) -> DangerAnswer {
    let params = ShowMessageRequestParams {
        typ: MessageType::WARNING,
        message,
        actions: Some(
            DangerAnswer::ALL
                .iter()
                .map(|a| MessageActionItem { title: a.title(lang).to_string(), properties: HashMap::new() })
                .collect(),
        ),
    };
    match tokio::time::timeout(timeout, client.send_request::<ShowMessageRequest>(params)).await {
        Ok(Ok(Some(item))) => DangerAnswer::from_title(&item.title).unwrap_or(DangerAnswer::Cancel),
        Ok(Ok(None)) => DangerAnswer::Cancel,
        Ok(Err(e)) => {
            tracing::info!("the editor cannot ask (window/showMessageRequest: {e}); inserting as comments");
            DangerAnswer::InsertAsComments
        }
        Err(_) => {
            tracing::info!("no answer to the danger question within {timeout:?}; inserting as comments");
            DangerAnswer::InsertAsComments
        }
    }
}

/// After the edit: remembers the inserted lines' findings and publishes them.
pub fn add_generated(shared: &Arc<Shared>, client: &Client, uri: &Uri, insert: &LineInsert, generated: Generated) {
    let lines: Vec<String> = insert.text.lines().map(str::to_string).collect();
    let code: Vec<&str> = generated.code.lines().collect();
    // Lines of the code may have been left out (edits::fit_code): the inserted line that
    // shows a line of the code, and the last inserted line at or before it.
    let origin = |i: usize| insert.origin.get(i).copied().unwrap_or(i);
    let shown = |line: usize| (0..lines.len()).find(|&i| origin(i) == line);
    let at_or_before = |line: usize| (0..lines.len()).rev().find(|&i| origin(i) <= line);
    // The code's columns shift by the inserted line's indentation and comment prefix.
    let column = |inserted: usize, column: usize| -> usize {
        let (Some(ins), Some(code)) = (lines.get(inserted), code.get(origin(inserted))) else { return column };
        let shift = if ins.ends_with(code) {
            ins.len() as isize - code.len() as isize
        } else {
            let lead = |s: &str| (s.len() - s.trim_start().len()) as isize;
            lead(ins) - lead(code)
        };
        column.saturating_add_signed(shift)
    };
    let findings = generated
        .findings
        .into_iter()
        .filter_map(|f| {
            let start = shown(f.start.line)?;
            let end = at_or_before(f.end.line).unwrap_or(start).max(start);
            let end_col = if origin(end) == f.end.line { column(end, f.end.column) } else { lines[end].len() };
            Some(BlockFinding { start: (start, column(start, f.start.column)), end: (end, end_col), finding: f })
        })
        .collect();
    let block = Block { lines, line: insert.line, seen: false, findings };
    shared.lock().safety.blocks.entry(uri.clone()).or_default().push(block);
    schedule(shared, client, uri.clone(), Duration::ZERO);
}

/// After didOpen: lints soon and publishes.
pub fn document_opened(shared: &Arc<Shared>, client: &Client, uri: Uri) {
    schedule(shared, client, uri, OPEN_DELAY);
}

/// After didChange: lints `safety.lint_delay_ms` after the last change (each change makes
/// the ones scheduled before it stale), and republishes.
pub fn document_changed(shared: &Arc<Shared>, client: &Client, uri: Uri) {
    let delay = Duration::from_millis(shared.lock().config.safety.lint_delay_ms);
    schedule(shared, client, uri, delay);
}

pub async fn document_closed(shared: &Shared, client: &Client, uri: &Uri) {
    let had = {
        let mut s = shared.lock();
        s.safety.generation.remove(uri);
        s.safety.checks.remove(uri);
        let lint = s.safety.lint.remove(uri).is_some_and(|(_, d)| !d.is_empty());
        s.safety.blocks.remove(uri).is_some() || lint
    };
    if had {
        client.publish_diagnostics(uri.clone(), Vec::new(), None).await;
    }
}

fn schedule(shared: &Arc<Shared>, client: &Client, uri: Uri, delay: Duration) {
    let generation = {
        let mut s = shared.lock();
        let g = s.safety.generation.entry(uri.clone()).or_default();
        *g += 1;
        *g
    };
    let (shared, client) = (Arc::clone(shared), client.clone());
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        refresh(&shared, &client, &uri, generation).await;
    });
}

fn current(shared: &Shared, uri: &Uri, generation: u64) -> bool {
    shared.lock().safety.generation.get(uri) == Some(&generation)
}

async fn refresh(shared: &Arc<Shared>, client: &Client, uri: &Uri, generation: u64) {
    if !current(shared, uri, generation) {
        return;
    }
    let snapshot = {
        let mut s = shared.lock();
        let Some(doc) = s.documents.get(uri) else { return };
        let settings = s.config.safety.clone();
        let dialect = Dialect::from_language(&doc.language_id).filter(|_| settings.lint_open_documents);
        // Other documents hear from us only when they have (or had) something to show.
        let shown = s.safety.blocks.contains_key(uri) || s.safety.lint.get(uri).is_some_and(|(_, d)| !d.is_empty());
        if dialect.is_none() && !shown {
            return;
        }
        let stale = s.safety.lint.get(uri).is_none_or(|(v, _)| *v != doc.version);
        let (version, encoding) = (doc.version, s.encoding);
        let check = match dialect {
            Some(_) => Some(Arc::clone(s.safety.checks.entry(uri.clone()).or_default())),
            None => {
                s.safety.checks.remove(uri);
                None
            }
        };
        (dialect, stale, version, settings, encoding, check)
    };
    let (dialect, stale, mut version, settings, encoding, check) = snapshot;
    let mut lint = None;
    if let (Some(dialect), Some(check), true) = (dialect, check, stale) {
        let (shared, uri) = (Arc::clone(shared), uri.clone());
        let linted = tokio::task::spawn_blocking(move || lint_document(&shared, &uri, &check, dialect, &settings));
        match linted.await {
            Ok(Some((linted_version, text, report))) => {
                version = linted_version;
                let lines: Vec<&str> = text.split('\n').collect();
                lint = Some(report.findings.iter().map(|f| diagnostic(f, f.start, f.end, &lines, encoding)).collect());
            }
            Ok(None) => {}
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    } else if dialect.is_none() {
        lint = Some(Vec::new());
    }
    let diagnostics = {
        let mut s = shared.lock();
        if s.safety.generation.get(uri) != Some(&generation) {
            return;
        }
        let Some(doc) = s.documents.get(uri) else { return };
        if doc.version != version {
            return;
        }
        let doc_lines = doc.all_lines();
        let safety = &mut s.safety;
        if let Some(lint) = lint {
            safety.lint.insert(uri.clone(), (version, lint));
        }
        let mut all: Vec<Diagnostic> = safety.lint.get(uri).map(|(_, d)| d.clone()).unwrap_or_default();
        if let Some(blocks) = safety.blocks.get_mut(uri) {
            let current: Vec<&str> = doc_lines.iter().map(String::as_str).collect();
            blocks.retain_mut(|b| match edits::relocate(&b.lines, b.line, &current) {
                Some(start) => {
                    b.line = start;
                    b.seen = true;
                    true
                }
                None => !b.seen,
            });
            for b in blocks.iter().filter(|b| b.seen) {
                let lines: Vec<&str> = b.lines.iter().map(String::as_str).collect();
                for f in &b.findings {
                    let mut d = diagnostic(
                        &f.finding,
                        safety::Position { line: f.start.0, column: f.start.1 },
                        safety::Position { line: f.end.0, column: f.end.1 },
                        &lines,
                        encoding,
                    );
                    d.range.start.line += b.line as u32;
                    d.range.end.line += b.line as u32;
                    if !all.iter().any(|a| a.range == d.range && a.code == d.code) {
                        all.push(d);
                    }
                }
            }
        }
        all
    };
    client.publish_diagnostics(uri.clone(), diagnostics, Some(version)).await;
}

/// Lints an open document where it stands (on the blocking pool): its changes since the last
/// lint go into its [`DocumentCheck`] (incremental parse, only the touched statements walked
/// again), then `bash -n` and shellcheck. The version and text the report is for; `None` when
/// the document is closed or too large to lint.
fn lint_document(
    shared: &Shared,
    uri: &Uri,
    check: &Mutex<Option<DocumentCheck>>,
    dialect: Dialect,
    settings: &SafetyConfig,
) -> Option<(i32, String, Report)> {
    let mut slot = check.lock().unwrap_or_else(|p| p.into_inner());
    let version = {
        let mut s = shared.lock();
        let doc = s.documents.get_mut(uri)?;
        let changes = doc.take_changes();
        let len = doc.rope.len_bytes();
        if len > MAX_LINT_BYTES {
            *slot = None;
            return None;
        }
        // The edits' offsets are those of the editor's text; should the check's text differ
        // from it after them, it starts over from the document.
        let applied = match (slot.as_mut(), changes) {
            (Some(c), Changes::Edits(edits)) => {
                edits.iter().all(|e| c.edit(e.start, e.old_end, &e.text)) && c.text().len() == len
            }
            _ => false,
        };
        if !applied {
            *slot = Some(DocumentCheck::new(doc.rope.to_string()));
        }
        doc.version
    };
    let check = slot.as_mut()?;
    let structural = check.check();
    let text = check.text().to_string();
    drop(slot);
    let dialect = Dialect::from_shebang(&text).unwrap_or(dialect);
    let report = safety::check_with(structural, &text, &CheckOptions::new(settings, dialect));
    release_freed_memory(text.len());
    Some((version, text, report))
}

/// A finding as a diagnostic; `lines` are the text the positions refer to.
fn diagnostic(
    f: &Finding,
    start: safety::Position,
    end: safety::Position,
    lines: &[&str],
    enc: Encoding,
) -> Diagnostic {
    let position = |p: safety::Position| {
        let line = lines.get(p.line).copied().unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut col = p.column.min(line.len());
        while !line.is_char_boundary(col) {
            col -= 1;
        }
        let character = match enc {
            Encoding::Utf8 => col,
            Encoding::Utf16 => line[..col].encode_utf16().count(),
        };
        Position::new(p.line as u32, character as u32)
    };
    Diagnostic {
        range: Range::new(position(start), position(end)),
        severity: Some(match f.severity {
            Severity::Danger | Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Info => DiagnosticSeverity::INFORMATION,
            Severity::Hint => DiagnosticSeverity::HINT,
        }),
        code: Some(NumberOrString::String(f.category.code().to_string())),
        source: Some(SOURCE.to_string()),
        message: f.message.clone(),
        ..Diagnostic::default()
    }
}

/// Parsing a large script allocates tens of MB that are freed right after; glibc keeps
/// them in its arenas, so an editor with one big shell file open would hold them for
/// good. Hand them back to the system after a large lint.
fn release_freed_memory(text_len: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if text_len > 64 * 1024 {
        // SAFETY: malloc_trim only returns free heap pages to the kernel; it touches no
        // live allocation.
        unsafe {
            libc::malloc_trim(0);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = text_len;
}
