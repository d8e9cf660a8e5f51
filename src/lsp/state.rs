//! The server's state behind one lock that is never held across an `.await`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::ls_types::*;

use super::documents::{Document, Documents};
use super::position::Encoding;
use super::{CMD_CANCEL, CMD_CONSENT};
use crate::actions::Pipeline;
use crate::actions::edits::LineSelection;
use crate::config::{self, Config, Environment, FileConfig};
use crate::i18n;
use crate::router::{RouteDecision, RouteRequest};
use crate::vocab::Task;

/// What the client can do, read once from `initialize`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientFlags {
    pub work_done_progress: bool,
    pub document_changes: bool,
    /// `workspace.workspaceEdit.changeAnnotationSupport`: the editor can show an edit for
    /// review before it lands.
    pub change_annotations: bool,
}

pub struct RunningJob {
    pub uri: Uri,
    pub token: Option<ProgressToken>,
    pub cancel: CancellationToken,
}

/// A VRAM question that could not be asked; its answers wait as code actions.
#[derive(Debug, Clone)]
pub struct PendingConsent {
    pub uri: Uri,
    pub selection: LineSelection,
    pub range: Range,
    pub version: i32,
    pub task: Task,
    pub model: String,
    pub usage: f64,
}

pub struct State {
    pub documents: Documents,
    /// Where requests run; rebuilt with `config` whenever the settings change.
    pub pipeline: Arc<Pipeline>,
    /// The settings the server itself reads (language, `lsp.*`, `safety.*`, routing for titles).
    pub config: Arc<Config>,
    pub encoding: Encoding,
    pub flags: ClientFlags,
    pub jobs: HashMap<u64, RunningJob>,
    pub next_job: u64,
    pub pending_consent: Vec<PendingConsent>,
    /// A config error to show once, after `initialized`.
    pub config_error: Option<String>,
    /// Diagnostics of the safety check.
    pub safety: super::safety::SafetyDocs,
    pub preload: super::preload::PreloadState,
}

pub struct Shared {
    state: Mutex<State>,
    config_path: Option<PathBuf>,
    env: Environment,
}

impl Shared {
    pub fn new(config_path: Option<PathBuf>, env: Environment) -> Self {
        let (config, error) = match config::load(config_path.as_deref(), &env) {
            Ok((c, _)) => (c, None),
            Err(e) => (Config::defaults(&env), Some(format!("llm-router-lsp: {e}. Running on defaults."))),
        };
        if let Some(e) = &error {
            tracing::error!("{e}");
        }
        Self {
            state: Mutex::new(State {
                documents: Documents::default(),
                pipeline: Arc::new(Pipeline::new(config.clone())),
                config: Arc::new(config),
                encoding: Encoding::Utf16,
                flags: ClientFlags::default(),
                jobs: HashMap::new(),
                next_job: 1,
                pending_consent: Vec::new(),
                config_error: error,
                safety: Default::default(),
                preload: Default::default(),
            }),
            config_path,
            env,
        }
    }

    /// The lock; a panic elsewhere must not take the server down with a poisoned mutex.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn pipeline(&self) -> Arc<Pipeline> {
        Arc::clone(&self.lock().pipeline)
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.lock().config)
    }

    fn set_config(&self, config: Config) {
        let pipeline = Arc::new(Pipeline::new(config.clone()));
        let mut s = self.lock();
        s.pipeline = pipeline;
        s.config = Arc::new(config);
    }

    pub fn initialize(&self, params: &InitializeParams) -> Encoding {
        let caps = &params.capabilities;
        let encoding = Encoding::negotiate(caps);
        let flags = ClientFlags {
            work_done_progress: caps.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false),
            document_changes: caps
                .workspace
                .as_ref()
                .and_then(|w| w.workspace_edit.as_ref())
                .and_then(|e| e.document_changes)
                .unwrap_or(false),
            change_annotations: caps
                .workspace
                .as_ref()
                .and_then(|w| w.workspace_edit.as_ref())
                .is_some_and(|e| e.change_annotation_support.is_some()),
        };
        {
            let mut s = self.lock();
            s.encoding = encoding;
            s.flags = flags;
        }
        if let Some(options) = params.initialization_options.as_ref().filter(|v| !v.is_null())
            && let Err(message) = self.apply_overrides(options, "initializationOptions")
        {
            self.lock().config_error = Some(message);
        }
        encoding
    }

    pub fn take_config_error(&self) -> Option<String> {
        self.lock().config_error.take()
    }

    /// `workspace/didChangeConfiguration`: settings under `llmRouter`/`llm-router`, or the
    /// object itself. On error the settings in force stay, and the server says so.
    pub fn reconfigure(&self, settings: &Value) -> Result<(), String> {
        let section = settings.get("llmRouter").or_else(|| settings.get("llm-router")).unwrap_or(settings);
        if section.is_null() || section.as_object().is_some_and(|o| o.is_empty()) {
            return Ok(());
        }
        self.apply_overrides(section, "workspace/didChangeConfiguration")
    }

    fn apply_overrides(&self, overrides: &Value, source: &str) -> Result<(), String> {
        // A broken config file was reported at start; overrides then apply to the defaults.
        let base = config::load(self.config_path.as_deref(), &self.env)
            .map(|(c, _)| c)
            .unwrap_or_else(|_| Config::defaults(&self.env));
        let result = serde_json::from_value::<FileConfig>(overrides.clone())
            .map_err(|e| format!("{source}: {e}"))
            .and_then(|file| base.apply(file, Path::new(source)).map_err(|e| e.to_string()));
        match result {
            Ok(config) => {
                self.set_config(config);
                Ok(())
            }
            Err(message) => {
                // Nothing is lost to a typo: the file's settings and earlier good overrides stay.
                tracing::error!("{message}");
                let current = self.config();
                let on_defaults = *current == Config::defaults(&self.env);
                Err(format!("llm-router-lsp: {message}. {}", crate::i18n::settings_kept(current.language, on_defaults)))
            }
        }
    }

    pub fn did_open(&self, doc: TextDocumentItem) {
        self.lock().documents.open(doc.uri, Document::new(&doc.text, doc.version, &doc.language_id));
    }

    pub fn did_change(&self, id: &VersionedTextDocumentIdentifier, changes: &[TextDocumentContentChangeEvent]) {
        let mut s = self.lock();
        let enc = s.encoding;
        s.documents.change(&id.uri, id.version, changes, enc);
    }

    pub fn did_close(&self, uri: &Uri) {
        let mut s = self.lock();
        s.documents.close(uri);
        s.pending_consent.retain(|p| &p.uri != uri);
    }

    /// The actions for a range. Calls no model and loads nothing slow: the route for the
    /// title counts tokens only when the tokenizer is already loaded.
    /// Also returns the decision for the selection's content (the Explain one), which the
    /// preload acts on.
    /// The actions on `range`: cancel and the VRAM question's answers while they apply,
    /// "Fix with MODEL" for each of the server's own `diagnostics` the editor sent, then the
    /// tasks on the selection.
    pub fn code_actions(
        &self,
        uri: &Uri,
        range: Range,
        diagnostics: &[Diagnostic],
    ) -> (Vec<CodeActionOrCommand>, Option<RouteDecision>) {
        let s = self.lock();
        let Some(doc) = s.documents.get(uri) else {
            return (Vec::new(), None);
        };
        let config = Arc::clone(&s.config);
        let lang = config.language;
        let selection = doc.line_selection(&range);
        let args = serde_json::json!({"uri": uri.as_str(), "range": range, "version": doc.version});
        let mut actions = Vec::new();
        let running: Vec<&RunningJob> = s.jobs.values().filter(|j| &j.uri == uri).collect();
        if !running.is_empty() {
            actions.push(command_action(
                i18n::cancel_generation_title(lang).to_string(),
                CMD_CANCEL,
                serde_json::json!({"uri": uri.as_str()}),
            ));
        }
        for p in s.pending_consent.iter().filter(|p| &p.uri == uri && overlaps(&p.selection, &selection)) {
            let consent = |answer: &str| serde_json::json!({"uri": uri.as_str(), "range": p.range, "version": p.version, "task": p.task, "answer": answer});
            actions.push(command_action(
                i18n::continue_with_title(lang, &p.model, p.usage),
                CMD_CONSENT,
                consent("continue"),
            ));
            actions.push(command_action(
                crate::vocab::ConsentAnswer::UseFast.title(lang).to_string(),
                CMD_CONSENT,
                consent("fast"),
            ));
        }
        let router = s.pipeline.router();
        for d in diagnostics.iter().filter(|d| d.source.as_deref() == Some(super::safety::SOURCE)) {
            let line = doc.line(d.range.start.line as usize);
            let decision = router.decide_with(
                &line,
                &RouteRequest { task: Task::Fix, language: Some(&doc.language_id), tier: None },
                false,
            );
            let title = i18n::fix_with_title(lang, &decision.model);
            let arg = serde_json::json!({"uri": uri.as_str(), "version": doc.version, "diagnostic": d});
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: title.clone(),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![d.clone()]),
                command: Some(Command { title, command: super::CMD_FIX.to_string(), arguments: Some(vec![arg]) }),
                ..CodeAction::default()
            }));
        }
        let text = doc.lines(selection.start, selection.end).join("\n");
        if text.trim().is_empty() {
            return (actions, None);
        }
        // The tokenizer (about 30 MB) is loaded only once a text long enough to need a count
        // appears, in the background; until then titles of long selections name no model.
        if text.len() > config.routing.token_threshold {
            crate::router::tokens::warm_up_in_background();
        }
        let count = crate::router::tokens::is_loaded() && text.len() <= 64 * 1024;
        let mut content_decision = None;
        for task in [Task::Explain, Task::Generate, Task::Ask] {
            let mut title = i18n::action_title(task, lang).to_string();
            let decision =
                router.decide_with(&text, &RouteRequest { task, language: Some(&doc.language_id), tier: None }, count);
            // Without a count, a long text's tier is not known yet: say nothing rather than guess.
            if config.lsp.show_model_in_titles && (count || text.len() <= config.routing.token_threshold) {
                title.push_str(&format!(" ({})", decision.model));
            }
            actions.push(command_action(title, super::jobs::command_of(task), args.clone()));
            if task == Task::Explain {
                content_decision = Some(decision);
            }
        }
        (actions, content_decision)
    }

    pub fn register_job(&self, uri: Uri, token: Option<ProgressToken>, cancel: CancellationToken) -> u64 {
        let mut s = self.lock();
        let id = s.next_job;
        s.next_job += 1;
        s.jobs.insert(id, RunningJob { uri, token, cancel });
        id
    }

    pub fn finish_job(&self, id: u64) {
        self.lock().jobs.remove(&id);
    }

    pub fn cancel_by_token(&self, token: &ProgressToken) {
        for job in self.lock().jobs.values().filter(|j| j.token.as_ref() == Some(token)) {
            job.cancel.cancel();
        }
    }

    /// Cancels the jobs on `uri` (all jobs when `None`); returns how many.
    pub fn cancel_jobs(&self, uri: Option<&Uri>) -> usize {
        let s = self.lock();
        let mut n = 0;
        for job in s.jobs.values().filter(|j| uri.is_none_or(|u| &j.uri == u)) {
            job.cancel.cancel();
            n += 1;
        }
        n
    }

    pub fn cancel_all(&self) {
        self.cancel_jobs(None);
    }

    pub fn add_pending_consent(&self, p: PendingConsent) {
        let mut s = self.lock();
        s.pending_consent.retain(|q| !(q.uri == p.uri && q.selection == p.selection));
        s.pending_consent.push(p);
    }

    pub fn take_pending_consent(&self, uri: &Uri, selection: &LineSelection) -> Option<PendingConsent> {
        let mut s = self.lock();
        let i = s.pending_consent.iter().position(|p| &p.uri == uri && &p.selection == selection)?;
        Some(s.pending_consent.remove(i))
    }
}

fn overlaps(a: &LineSelection, b: &LineSelection) -> bool {
    a.start <= b.end && b.start <= a.end
}

fn command_action(title: String, command: &str, arg: Value) -> CodeActionOrCommand {
    CodeActionOrCommand::CodeAction(CodeAction {
        title: title.clone(),
        kind: Some(CodeActionKind::REFACTOR_REWRITE),
        command: Some(Command { title, command: command.to_string(), arguments: Some(vec![arg]) }),
        ..CodeAction::default()
    })
}
