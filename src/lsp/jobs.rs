//! A code action's work: runs in its own task after `executeCommand` has answered. Progress,
//! the consent question, cancel, the edit and the closing message.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::notification::Progress as ProgressNotification;
use tower_lsp_server::ls_types::request::{ShowMessageRequest, WorkDoneProgressCreate};
use tower_lsp_server::ls_types::*;

use super::messages::{self, EditFailure};
use super::position::{line_end, to_char};
use super::safety;
use super::state::{PendingConsent, Shared};
use super::{CMD_ASK, CMD_EXPLAIN, CMD_GENERATE};
use crate::actions::edits::{self, LineInsert, LineSelection};
use crate::actions::fix::{self, FixTarget};
use crate::actions::summary;
use crate::actions::{Answer, Consent, ConsentError, Observer, Quiet, Request, VramWarning};
use crate::backend::BackendError;
use crate::config::{Config, OnDanger, Review, WarningWithoutDialog};
use crate::i18n::{self, ProgressEnd};
use crate::router::RouteDecision;
use crate::vocab::{ConsentAnswer, Language, ModelTier, Task};

#[derive(Debug, Clone, Deserialize)]
pub struct CommandArgs {
    pub uri: Uri,
    pub range: Range,
    #[serde(default)]
    pub version: Option<i32>,
}

/// `llm-router.fix`: the diagnostic as the editor has it, on the version it was shown for.
#[derive(Debug, Clone, Deserialize)]
pub struct FixArgs {
    pub uri: Uri,
    #[serde(default)]
    pub version: Option<i32>,
    pub diagnostic: Diagnostic,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConsentArgs {
    #[serde(flatten)]
    pub target: CommandArgs,
    pub task: Task,
    /// "continue" or "fast".
    pub answer: String,
}

pub fn task_of(command: &str) -> Option<Task> {
    match command {
        CMD_EXPLAIN => Some(Task::Explain),
        CMD_GENERATE => Some(Task::Generate),
        CMD_ASK => Some(Task::Ask),
        _ => None,
    }
}

pub fn command_of(task: Task) -> &'static str {
    match task {
        Task::Explain => CMD_EXPLAIN,
        Task::Generate => CMD_GENERATE,
        Task::Ask => CMD_ASK,
        Task::Fix => super::CMD_FIX,
    }
}

/// What a job needs from the document, taken when the command arrives.
#[derive(Debug, Clone)]
struct EditJob {
    task: Task,
    uri: Uri,
    range: Range,
    selection: LineSelection,
    /// The selected lines as the document moves them (`Documents::anchor`).
    anchor: u64,
    /// What the model sees: the selected text, or the cursor's line for an empty selection.
    text: String,
    language: String,
    version: i32,
    /// A fix: the finding; the selection is the block the answer replaces.
    fix: Option<FixJob>,
}

#[derive(Debug, Clone)]
struct FixJob {
    target: FixTarget,
    /// The finding's line in the document (0-based) when the fix was asked for.
    line: usize,
}

/// The annotation id of an edit sent for review.
const REVIEW: &str = "llm-router.review";

fn snapshot(shared: &Shared, task: Task, args: &CommandArgs) -> Result<EditJob, String> {
    let mut s = shared.lock();
    let doc = s.documents.get(&args.uri).ok_or_else(|| format!("{} is not open", args.uri.as_str()))?;
    // The range belongs to the version the action was offered for; on another version it
    // may point elsewhere.
    if args.version.is_some_and(|v| v != doc.version) {
        return Err("the document changed since the action was offered; pick the action again".into());
    }
    let r = args.range;
    let selection = doc.line_selection(&r);
    let selected = doc.lines(selection.start, selection.end);
    let start = to_char(&doc.rope, r.start, s.encoding);
    let end = to_char(&doc.rope, r.end, s.encoding).max(start);
    let exact = doc.rope.slice(start..end).to_string();
    let text = if exact.trim().is_empty() { selected.join("\n") } else { exact };
    if text.trim().is_empty() {
        return Err("the selection is empty".into());
    }
    let (language, version) = (doc.language_id.clone(), doc.version);
    let anchor = s.documents.anchor(&args.uri, selection.clone()).expect("the document is open");
    Ok(EditJob { task, uri: args.uri.clone(), range: r, selection, anchor, text, language, version, fix: None })
}

/// A fix's job: the block around the diagnostic's line, anchored like a selection.
fn fix_snapshot(shared: &Shared, args: &FixArgs) -> Result<EditJob, String> {
    let mut s = shared.lock();
    let doc = s.documents.get(&args.uri).ok_or_else(|| format!("{} is not open", args.uri.as_str()))?;
    if args.version.is_some_and(|v| v != doc.version) {
        return Err("the document changed since the action was offered; pick the action again".into());
    }
    let lines = doc.all_lines();
    let line = (args.diagnostic.range.start.line as usize).min(lines.len().saturating_sub(1));
    let (start, end) = crate::safety::enclosing_block(&lines.join("\n"), line, fix::MAX_BLOCK_LINES);
    let end = end.min(lines.len().saturating_sub(1)).max(start);
    let text: String = lines[start..=end].iter().map(|l| format!("{l}\n")).collect();
    let code = match &args.diagnostic.code {
        Some(NumberOrString::String(c)) => c.clone(),
        Some(NumberOrString::Number(n)) => n.to_string(),
        None => String::new(),
    };
    let target = FixTarget {
        code: fix::finding_code(&code, &args.diagnostic.message),
        message: args.diagnostic.message.clone(),
        line_in_block: line - start + 1,
    };
    let (language, version) = (doc.language_id.clone(), doc.version);
    let selection = LineSelection { start, end };
    let range = Range::new(Position::new(start as u32, 0), Position::new(end as u32, 0));
    let anchor = s.documents.anchor(&args.uri, selection.clone()).expect("the document is open");
    let fix = Some(FixJob { target, line });
    Ok(EditJob { task: Task::Fix, uri: args.uri.clone(), range, selection, anchor, text, language, version, fix })
}

/// "Fix with MODEL" was picked on a diagnostic.
pub fn start_fix(shared: &Arc<Shared>, client: &Client, args: FixArgs) -> Result<(), String> {
    let job = fix_snapshot(shared, &args)?;
    spawn_job(shared, client, job, None);
    Ok(())
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

pub fn start(
    shared: &Arc<Shared>,
    client: &Client,
    task: Task,
    args: CommandArgs,
    preset: Option<ConsentAnswer>,
) -> Result<(), String> {
    let job = snapshot(shared, task, &args)?;
    spawn_job(shared, client, job, preset);
    Ok(())
}

fn spawn_job(shared: &Arc<Shared>, client: &Client, job: EditJob, preset: Option<ConsentAnswer>) {
    let progress = shared.lock().flags.work_done_progress;
    let token =
        progress.then(|| NumberOrString::String(format!("llm-router/{}", NEXT_TOKEN.fetch_add(1, Ordering::Relaxed))));
    let cancel = CancellationToken::new();
    // Registered before the task starts, so "Cancel generation" is offered at once.
    let id = shared.register_job(job.uri.clone(), token.clone(), cancel.clone());
    let (shared, client) = (Arc::clone(shared), client.clone());
    tokio::spawn(async move {
        let (uri, anchor) = (job.uri.clone(), job.anchor);
        run(&shared, &client, job, preset, token, cancel).await;
        shared.lock().documents.release(&uri, anchor);
        shared.finish_job(id);
    });
}

/// The user picked "Continue with MODEL" / "Use fast model" from the code actions.
pub fn start_with_consent(shared: &Arc<Shared>, client: &Client, args: ConsentArgs) -> Result<(), String> {
    let r = args.target.range;
    let selection = match shared.lock().documents.get(&args.target.uri) {
        Some(doc) => doc.line_selection(&r),
        None => LineSelection::from_range(r.start.line as usize, r.end.line as usize, r.end.character as usize),
    };
    let pending = shared.take_pending_consent(&args.target.uri, &selection);
    let answer = match args.answer.as_str() {
        "continue" => ConsentAnswer::Continue,
        "fast" => ConsentAnswer::UseFast,
        other => return Err(format!("unknown answer `{other}` (expected continue or fast)")),
    };
    let task = pending.map(|p| p.task).unwrap_or(args.task);
    start(shared, client, task, args.target, Some(answer))
}

enum Event {
    Decided(RouteDecision),
    Text(usize),
    FellBack { from: String, to: String, cause: String },
}

/// Sends job events to the progress forwarder; the pipeline's callbacks cannot await.
struct ChannelObserver(mpsc::UnboundedSender<Event>);

impl Observer for ChannelObserver {
    // `model_started` follows at once with the same decision (and again after a fallback).
    fn decided(&mut self, _: &RouteDecision) {}
    fn model_started(&mut self, d: &RouteDecision) {
        let _ = self.0.send(Event::Decided(d.clone()));
    }
    fn text(&mut self, piece: &str) {
        let _ = self.0.send(Event::Text(piece.chars().count()));
    }
    fn fell_back(&mut self, from: &str, to: &str, cause: &BackendError) {
        let _ = self.0.send(Event::FellBack { from: from.into(), to: to.into(), cause: cause.to_string() });
    }
}

async fn send_progress(client: &Client, token: &ProgressToken, value: WorkDoneProgress) {
    client
        .send_notification::<ProgressNotification>(ProgressParams {
            token: token.clone(),
            value: ProgressParamsValue::WorkDone(value),
        })
        .await;
}

fn report(message: String) -> WorkDoneProgress {
    WorkDoneProgress::Report(WorkDoneProgressReport {
        cancellable: Some(true),
        message: Some(message),
        percentage: None,
    })
}

/// Turns events into `$/progress` reports: the model's name as soon as it is known, then
/// how much text has arrived, at most every 100 ms.
async fn forward_progress(
    client: Client,
    token: Option<ProgressToken>,
    lang: Language,
    mut events: mpsc::UnboundedReceiver<Event>,
) {
    let mut model = String::new();
    let mut chars = 0usize;
    let mut last_report: Option<Instant> = None;
    while let Some(event) = events.recv().await {
        let Some(token) = &token else { continue };
        match event {
            Event::Decided(d) => {
                model = d.model.clone();
                let why = summary::short_reasons(&d, lang);
                send_progress(&client, token, report(format!("{}: {why}", d.model))).await;
            }
            Event::FellBack { from, to, cause } => {
                send_progress(&client, token, report(i18n::fell_back(lang, &from, &cause, &to))).await
            }
            Event::Text(n) => {
                chars += n;
                if last_report.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
                    last_report = Some(Instant::now());
                    send_progress(&client, token, report(i18n::characters_received(lang, &model, chars))).await;
                }
            }
        }
    }
}

/// Asks with `window/showMessageRequest`; without it (or without an answer in time), follows
/// `lsp.on_warning_without_dialog`.
struct LspConsent {
    client: Client,
    shared: Arc<Shared>,
    timeout: Duration,
    language: Language,
    policy: WarningWithoutDialog,
    preset: Option<ConsentAnswer>,
    /// Where "Continue with MODEL" can be offered as a code action.
    target: Option<PendingConsent>,
}

#[async_trait]
impl Consent for LspConsent {
    async fn confirm(&self, warning: &VramWarning) -> Result<ConsentAnswer, ConsentError> {
        // The user's answer was for the request; a retry after a syntax error asks anew.
        if let Some(p) = self.preset.filter(|_| !warning.retry) {
            return Ok(p);
        }
        let params = ShowMessageRequestParams {
            typ: MessageType::WARNING,
            message: warning.message.clone(),
            actions: Some(
                ConsentAnswer::ALL
                    .iter()
                    .map(|a| MessageActionItem {
                        title: a.title(self.language).to_string(),
                        properties: HashMap::new(),
                    })
                    .collect(),
            ),
        };
        match tokio::time::timeout(self.timeout, self.client.send_request::<ShowMessageRequest>(params)).await {
            Ok(Ok(Some(item))) => Ok(ConsentAnswer::from_title(&item.title).unwrap_or(ConsentAnswer::Cancel)),
            // Closed without a choice: nothing is loaded, and the message says that, not that
            // the user confirmed anything.
            Ok(Ok(None)) => Err(ConsentError(i18n::vram_question_dismissed(self.language).to_string())),
            Ok(Err(e)) => {
                tracing::info!(
                    "the editor cannot ask (window/showMessageRequest: {e}); following on_warning_without_dialog"
                );
                self.without_dialog(warning)
            }
            Err(_) => {
                tracing::info!("no answer to the VRAM question within {:?}", self.timeout);
                self.without_dialog(warning)
            }
        }
    }
}

impl LspConsent {
    fn without_dialog(&self, warning: &VramWarning) -> Result<ConsentAnswer, ConsentError> {
        match self.policy {
            WarningWithoutDialog::Fast => Ok(ConsentAnswer::UseFast),
            WarningWithoutDialog::Continue => Ok(ConsentAnswer::Continue),
            WarningWithoutDialog::Cancel => Ok(ConsentAnswer::Cancel),
            // A retry has no code action to offer: its request was never the user's.
            WarningWithoutDialog::AskViaAction => match self.target.as_ref().filter(|_| !warning.retry) {
                Some(target) => {
                    self.shared.add_pending_consent(PendingConsent {
                        model: warning.model.clone(),
                        usage: warning.assessment.usage,
                        ..target.clone()
                    });
                    Err(ConsentError(i18n::choose_via_action(
                        self.language,
                        warning.assessment.usage,
                        warning.assessment.predicted,
                        &warning.model,
                    )))
                }
                None => Err(ConsentError(format!(
                    "{} The editor could not ask; set lsp.on_warning_without_dialog to fast, continue or cancel.",
                    warning.message.replace('\n', " ")
                ))),
            },
        }
    }
}

fn lsp_consent(
    shared: &Arc<Shared>,
    client: &Client,
    preset: Option<ConsentAnswer>,
    target: Option<PendingConsent>,
) -> LspConsent {
    let config = shared.config();
    LspConsent {
        client: client.clone(),
        shared: Arc::clone(shared),
        timeout: Duration::from_secs(config.lsp.request_timeout),
        language: config.language,
        policy: config.lsp.on_warning_without_dialog,
        preset,
        target,
    }
}

async fn run(
    shared: &Arc<Shared>,
    client: &Client,
    job: EditJob,
    preset: Option<ConsentAnswer>,
    token: Option<ProgressToken>,
    cancel: CancellationToken,
) {
    let (pipeline, config) = (shared.pipeline(), shared.config());
    let lang = config.language;
    let timeout = Duration::from_secs(config.lsp.request_timeout);
    let token = match token {
        Some(t) => match tokio::time::timeout(
            timeout,
            client.send_request::<WorkDoneProgressCreate>(WorkDoneProgressCreateParams { token: t.clone() }),
        )
        .await
        {
            Ok(Ok(())) => Some(t),
            _ => None,
        },
        None => None,
    };
    let started = Instant::now();
    let request = Request {
        task: job.task,
        text: job.text.clone(),
        language: Some(job.language.clone()),
        tier: None,
        raw: false,
        shell_by_default: false,
        // The lint of the open document shows shellcheck's findings once the code is in.
        // A fix is checked whole (shellcheck too): whether its finding is gone decides what
        // the closing message may claim. The lint shows the rest after any other edit.
        shellcheck_later: config.safety.lint_open_documents && job.fix.is_none(),
        fix: job.fix.as_ref().map(|f| f.target.clone()),
    };
    let decision = pipeline.route(&request).await;
    if let Some(t) = &token {
        // The progress opens with the model that is about to answer.
        let begin = WorkDoneProgressBegin {
            title: i18n::action_title(job.task, lang).to_string(),
            cancellable: Some(true),
            message: Some(format!("{} ({} tier)", decision.model, decision.tier)),
            percentage: None,
        };
        send_progress(client, t, WorkDoneProgress::Begin(begin)).await;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let forwarder = tokio::spawn(forward_progress(client.clone(), token.clone(), lang, rx));
    // "Continue with MODEL" replays a selection's task; a fix's diagnostic is not part of it,
    // so a fix without the dialog follows the policy's message instead.
    let target = job.fix.is_none().then(|| PendingConsent {
        uri: job.uri.clone(),
        selection: job.selection.clone(),
        range: job.range,
        version: job.version,
        task: job.task,
        model: String::new(),
        usage: 0.0,
    });
    let consent = lsp_consent(shared, client, preset, target);
    let mut observer = ChannelObserver(tx);
    let result = tokio::select! {
        r = pipeline.run_routed(&request, decision, started, &consent, &mut observer) => Some(r),
        _ = cancel.cancelled() => None,
    };
    drop(observer);
    let _ = forwarder.await;

    // The progress ends with the model's outcome; the edit follows, then one closing message.
    let end = |end: ProgressEnd, model: &str| {
        let message = i18n::progress_end(lang, end, model);
        async move {
            if let Some(t) = &token {
                send_progress(client, t, WorkDoneProgress::End(WorkDoneProgressEnd { message: Some(message) })).await;
            }
        }
    };
    let (typ, text) = match result {
        None => {
            end(ProgressEnd::Cancelled, "").await;
            (MessageType::INFO, i18n::cancelled_nothing_inserted(lang).to_string())
        }
        Some(Err(e)) => {
            let failure = messages::failure(&e);
            client.log_message(failure.logged, format!("{}: {}", job.task.label(), crate::error_chain(&e))).await;
            end(failure.end, "").await;
            (failure.shown, failure.text)
        }
        Some(Ok(answer)) => {
            end(ProgressEnd::Answered, &answer.decision.model).await;
            let replaces = job.fix.is_some();
            let (outcome, note, generated) = match safety::gate(client, &config, &job.language, replaces, answer).await
            {
                safety::Gate::Insert { outcome, note, generated } => (outcome, note, generated),
                safety::Gate::Cancel { outcome } => {
                    client.log_message(MessageType::INFO, messages::kept_in_log(&outcome)).await;
                    client.show_message(MessageType::INFO, i18n::cancelled_nothing_inserted(lang)).await;
                    return;
                }
            };
            if let Some(fix) = &job.fix {
                land_fix(shared, client, &job, fix, &outcome, note.as_deref(), &config).await
            } else {
                match apply_insert(shared, client, &job, &outcome, &config).await {
                    Ok(insert) => {
                        if let Some(generated) = generated {
                            safety::add_generated(shared, client, &job.uri, &insert, generated);
                        }
                        let model = &outcome.decision.model;
                        let preloaded = shared.lock().preload.done.iter().any(|(m, at)| m == model && *at <= started);
                        let extras = messages::Extras { dropped: &insert.dropped, note: note.as_deref(), preloaded };
                        let (summary, full) = messages::closing(lang, &outcome, extras);
                        client.log_message(MessageType::INFO, full).await;
                        (MessageType::INFO, summary)
                    }
                    Err(failure) => {
                        client.log_message(MessageType::INFO, messages::kept_in_log(&outcome)).await;
                        (MessageType::WARNING, failure.sentence(lang, &outcome.decision.model))
                    }
                }
            }
        }
    };
    client.show_message(typ, text).await;
}

/// Whether an edit goes to the editor's review: by `lsp.review`, for editors that can show
/// one (change annotations on versioned document edits).
fn reviewed(shared: &Shared, config: &Config, replaces: bool) -> bool {
    let flags = &shared.lock().flags;
    let wanted = match config.lsp.review {
        Review::Never => false,
        Review::Auto => replaces,
        Review::Always => true,
    };
    wanted && flags.change_annotations && flags.document_changes
}

/// A fix's answer replaces its block, after its own gates: code that does not parse, or the
/// block unchanged, replaces nothing; the closing message says whether the finding is gone.
async fn land_fix(
    shared: &Shared,
    client: &Client,
    job: &EditJob,
    fix: &FixJob,
    outcome: &Answer,
    note: Option<&str>,
    config: &Config,
) -> (MessageType, String) {
    let lang = config.language;
    let model = &outcome.decision.model;
    let check = outcome.check.as_ref();
    let kept = |failure: EditFailure| async move {
        client.log_message(MessageType::INFO, messages::kept_in_log(outcome)).await;
        (MessageType::WARNING, failure.sentence(lang, model))
    };
    if let Some(e) = check.and_then(|c| c.report.syntax_error()) {
        return kept(EditFailure::DoesNotParse(e.message.trim_start_matches("bash -n: ").to_string())).await;
    }
    let code = check.map_or_else(|| crate::actions::extract::code_from_answer(&outcome.text), |c| c.code.clone());
    let review = reviewed(shared, config, true).then(|| ChangeAnnotation {
        label: i18n::fix_with_title(lang, model),
        needs_confirmation: Some(true),
        description: Some(i18n::fix_review_description(lang, &fix.target.code, fix.line + 1)),
    });
    let reviewing = review.is_some();
    let timeout = Duration::from_secs(config.lsp.request_timeout);
    let landed =
        apply(shared, client, &job.uri, timeout, reviewing, || build_fix_edit(shared, job, &code, review.clone()));
    let (block, skipped) = match landed.await {
        Ok(landed) => landed,
        Err(failure) => return kept(failure).await,
    };
    let extras = messages::Extras { dropped: &[], note, preloaded: false };
    let (summary, full) = messages::closing(lang, outcome, extras);
    client.log_message(MessageType::INFO, full).await;
    let verdict = fix_verdict(lang, &fix.target, check, &block, skipped);
    let undo = (!reviewing).then(|| i18n::undo_hint(lang));
    let mut text = summary;
    for sentence in [verdict, undo.map(str::to_string)].into_iter().flatten() {
        let stop = if text.ends_with(['.', ')']) { " " } else { ". " };
        text = format!("{text}{stop}{sentence}");
    }
    (MessageType::INFO, text)
}

/// What the closing message may say about the finding: gone, still there, or nothing when
/// the checker that reported it did not run on the fix.
fn fix_verdict(
    lang: Language,
    target: &FixTarget,
    check: Option<&crate::actions::CodeCheck>,
    block: &LineSelection,
    skipped: usize,
) -> Option<String> {
    let check = check?;
    let by_shellcheck = target.code.starts_with("SC");
    if by_shellcheck && check.report.shellcheck != crate::safety::ToolRun::Ran {
        return None;
    }
    Some(match fix::still_reported(target, &check.report.findings) {
        Some(f) => i18n::fix_still_reported(lang, &target.code, block.start + f.start.line.saturating_sub(skipped) + 1),
        None => i18n::fixed(lang, &target.code, block.start + 1, block.end + 1),
    })
}

/// The replaced block's lines in the document after the edit, and the code's leading lines
/// left out (see `fix::replacement`).
fn build_fix_edit(
    shared: &Shared,
    job: &EditJob,
    code: &str,
    review: Option<ChangeAnnotation>,
) -> Result<(WorkspaceEdit, i32, (LineSelection, usize)), EditFailure> {
    let s = shared.lock();
    let block = s.documents.anchored(&job.uri, job.anchor).ok_or(EditFailure::SelectionChanged)?;
    let doc = s.documents.get(&job.uri).ok_or(EditFailure::SelectionChanged)?;
    let lines_owned = doc.all_lines();
    let lines: Vec<&str> = lines_owned.iter().map(String::as_str).collect();
    let (text, skipped) = fix::replacement(&lines, block.start, block.end, code).ok_or(EditFailure::Unchanged)?;
    let new_lines = text.lines().count();
    let brk = doc.line_break();
    let last = doc.last_line();
    let start = Position::new(block.start as u32, 0);
    let (end, new_text) = if block.end < last {
        (Position::new(block.end as u32 + 1, 0), text.replace('\n', brk))
    } else {
        // The block ends the document: its last line keeps having no line break.
        (line_end(&doc.rope, last, s.encoding), text.strip_suffix('\n').unwrap_or(&text).replace('\n', brk))
    };
    let edit =
        workspace_edit(&s.flags, &job.uri, doc.version, TextEdit { range: Range::new(start, end), new_text }, review);
    let landed = LineSelection { start: block.start, end: block.start + new_lines.saturating_sub(1) };
    Ok((edit, doc.version, (landed, skipped)))
}

/// One text edit as the editor takes it: versioned and, for review, annotated.
fn workspace_edit(
    flags: &super::state::ClientFlags,
    uri: &Uri,
    version: i32,
    edit: TextEdit,
    review: Option<ChangeAnnotation>,
) -> WorkspaceEdit {
    if !flags.document_changes {
        return WorkspaceEdit { changes: Some(HashMap::from([(uri.clone(), vec![edit])])), ..WorkspaceEdit::default() };
    }
    let (edit, annotations) = match review {
        Some(a) => (
            OneOf::Right(AnnotatedTextEdit { text_edit: edit, annotation_id: REVIEW.to_string() }),
            Some(HashMap::from([(REVIEW.to_string(), a)])),
        ),
        None => (OneOf::Left(edit), None),
    };
    WorkspaceEdit {
        document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
            text_document: OptionalVersionedTextDocumentIdentifier { uri: uri.clone(), version: Some(version) },
            edits: vec![edit],
        }])),
        change_annotations: annotations,
        ..WorkspaceEdit::default()
    }
}

/// An insert's edit (Generate, Explain, Ask), for review only with `lsp.review: always`.
async fn apply_insert(
    shared: &Shared,
    client: &Client,
    job: &EditJob,
    outcome: &Answer,
    config: &Config,
) -> Result<LineInsert, EditFailure> {
    let lang = config.language;
    let review = reviewed(shared, config, false).then(|| ChangeAnnotation {
        label: format!("{} ({})", i18n::action_title(job.task, lang), outcome.decision.model),
        needs_confirmation: Some(true),
        description: None,
    });
    let (width, timeout) = (config.lsp.comment_width, Duration::from_secs(config.lsp.request_timeout));
    let reviewing = review.is_some();
    let build = || build_edit(shared, job, &outcome.text, width, review.clone()).ok_or(EditFailure::SelectionChanged);
    apply(shared, client, &job.uri, timeout, reviewing, build).await
}

/// Builds the edit against the document as it is now and sends it; a version race (the
/// user typed between build and apply) gets one more try. `reviewed`: the editor showed
/// it to the user, so `applied: false` on the same version means they discarded it, and
/// the answer may take as long as the user reads the change: no `timeout` then (after
/// one, a change accepted later would still land while the message said it had not).
async fn apply<T>(
    shared: &Shared,
    client: &Client,
    uri: &Uri,
    timeout: Duration,
    reviewed: bool,
    build: impl Fn() -> Result<(WorkspaceEdit, i32, T), EditFailure>,
) -> Result<T, EditFailure> {
    for _attempt in 0..2 {
        let (edit, version, landed) = build()?;
        let answer = if reviewed {
            client.apply_edit(edit).await
        } else {
            tokio::time::timeout(timeout, client.apply_edit(edit))
                .await
                .map_err(|_| EditFailure::NotAnswered(timeout))?
        };
        let response = answer.map_err(|e| EditFailure::Refused(e.to_string()))?;
        if response.applied {
            return Ok(landed);
        }
        let current = shared.lock().documents.get(uri).map(|d| d.version);
        if current == Some(version) {
            if reviewed {
                return Err(EditFailure::Discarded);
            }
            return Err(EditFailure::Refused(
                response.failure_reason.unwrap_or_else(|| "applied: false, no reason given".into()),
            ));
        }
    }
    Err(EditFailure::SelectionChanged)
}

fn build_edit(
    shared: &Shared,
    job: &EditJob,
    answer: &str,
    width: usize,
    review: Option<ChangeAnnotation>,
) -> Option<(WorkspaceEdit, i32, LineInsert)> {
    let s = shared.lock();
    // Tracked, not searched: an identical line elsewhere is not the selection.
    let selection = s.documents.anchored(&job.uri, job.anchor)?;
    let doc = s.documents.get(&job.uri)?;
    let lines_owned = doc.all_lines();
    let lines: Vec<&str> = lines_owned.iter().map(String::as_str).collect();
    let insert = edits::insertion(job.task, &lines, &selection, &job.language, answer, width);
    if insert.text.trim().is_empty() {
        return None;
    }
    let brk = doc.line_break();
    let text = insert.text.replace('\n', brk);
    let last = doc.last_line();
    let (position, new_text) = if insert.line <= last {
        (Position::new(insert.line as u32, 0), text)
    } else if doc.line(last).is_empty() {
        // Past the end of a document that ends with a line break (a range beyond its last
        // line): on the empty last line, like after its last line.
        (Position::new(last as u32, 0), text)
    } else {
        // After a last line without a line break.
        (line_end(&doc.rope, last, s.encoding), format!("{brk}{}", text.strip_suffix(brk).unwrap_or(&text)))
    };
    let text_edit = TextEdit { range: Range::new(position, position), new_text };
    let edit = workspace_edit(&s.flags, &job.uri, doc.version, text_edit, review);
    Some((edit, doc.version, insert))
}

#[derive(Debug, Deserialize)]
struct InferArgs {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    tier: Option<ModelTier>,
    #[serde(default)]
    task: Option<Task>,
    #[serde(flatten)]
    target: Option<CommandArgs>,
}

/// `llm-router.infer`: the spec's result object as the command's result.
pub async fn infer(shared: &Arc<Shared>, client: &Client, arg: Value) -> RpcResult<Value> {
    let args: InferArgs = serde_json::from_value(arg)
        .map_err(|e| RpcError::invalid_params(format!("expected {{query}} or {{uri, range}}: {e}")))?;
    let task = args.task.unwrap_or(Task::Ask);
    let (text, language) = match (&args.query, &args.target) {
        (Some(q), _) => (q.clone(), args.language.clone()),
        (None, Some(target)) => {
            let job = snapshot(shared, task, target).map_err(RpcError::invalid_params)?;
            (job.text, Some(job.language))
        }
        (None, None) => return Err(RpcError::invalid_params("expected {query} or {uri, range}")),
    };
    let (pipeline, config) = (shared.pipeline(), shared.config());
    let consent = lsp_consent(shared, client, None, None);
    let request = Request {
        task,
        text,
        language,
        tier: args.tier,
        raw: true,
        shell_by_default: true,
        shellcheck_later: false,
        fix: None,
    };
    Ok(match pipeline.run(&request, &consent, &mut Quiet).await {
        Ok(answer) => {
            let withheld = config.lsp.on_danger == OnDanger::Refuse;
            if let Some(summary) = answer.danger_summary(config.language, withheld) {
                // The user sees the danger, whatever the client does with the result.
                client.show_message(MessageType::WARNING, format!("llm-router: {summary}")).await;
            }
            if withheld && answer.has_danger() {
                answer.to_refused_json(config.language)
            } else {
                answer.to_infer_json()
            }
        }
        Err(e) => e.to_infer_json(),
    })
}
