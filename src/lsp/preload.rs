//! Hiding the model switch: when the editor asks for code actions on a selection, the
//! model that would answer is loaded in the background if that is free (see
//! `Pipeline::preload`), so that by the time the user has picked an action it is warm.
//!
//! Debounced: only the last request within [`SETTLE`] preloads, so a cursor moving through
//! a file does not load a model per line; at most one preload per model at a time; never
//! when loading would need the VRAM question; off with `lsp.preload: false`. The code
//! action answer never waits for it. The model preloaded is the one the selection's
//! content routes to (the Explain decision): Generate's code model is preloaded when the
//! content says code, which is when the user most likely wants it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tower_lsp_server::ls_types::{Range, Uri};

use super::state::Shared;
use crate::actions::Preload;
use crate::router::RouteRequest;
use crate::vocab::Task;

/// How long the selection must stay put before a preload starts.
pub const SETTLE: Duration = Duration::from_millis(300);

#[derive(Debug, Default)]
pub struct PreloadState {
    /// Bumped by every code action request; a preload only starts if it is still current.
    generation: u64,
    in_flight: HashSet<String>,
    /// Models this server preloaded, and when: the closing message and `doctor` say so.
    pub done: Vec<(String, Instant)>,
}

pub fn after_code_actions(shared: &Arc<Shared>, uri: &Uri, range: Range) {
    let (decision, generation) = {
        let mut s = shared.lock();
        if !s.config.lsp.preload {
            return;
        }
        let Some(doc) = s.documents.get(uri) else {
            return;
        };
        let selection = doc.line_selection(&range);
        let text = doc.lines(selection.start, selection.end).join("\n");
        if text.trim().is_empty() {
            return;
        }
        let count = crate::router::tokens::is_loaded() && text.len() <= 64 * 1024;
        let request = RouteRequest { task: Task::Explain, language: Some(&doc.language_id), tier: None };
        let decision = s.pipeline.router().decide_with(&text, &request, count);
        s.preload.generation += 1;
        (decision, s.preload.generation)
    };
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        tokio::time::sleep(SETTLE).await;
        let pipeline = {
            let mut s = shared.lock();
            if s.preload.generation != generation || !s.preload.in_flight.insert(decision.model.clone()) {
                return;
            }
            Arc::clone(&s.pipeline)
        };
        let result = pipeline.preload(&decision).await;
        let mut s = shared.lock();
        s.preload.in_flight.remove(&decision.model);
        match result {
            Preload::Loaded => {
                tracing::info!(model = %decision.model, "preloaded for the selection's likely request");
                s.preload.done.retain(|(m, _)| m != &decision.model);
                s.preload.done.push((decision.model.clone(), Instant::now()));
            }
            Preload::AlreadyWarm => tracing::debug!(model = %decision.model, "already loaded; no preload"),
            Preload::Skipped(why) => tracing::debug!(model = %decision.model, "no preload: {why}"),
        }
    });
}
