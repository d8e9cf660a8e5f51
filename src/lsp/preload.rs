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

use super::state::Shared;
use crate::actions::Preload;
use crate::router::RouteDecision;

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

/// After a code action request: preloads `decision`'s model once the selection settles.
pub fn schedule(shared: &Arc<Shared>, decision: RouteDecision) {
    let generation = {
        let mut s = shared.lock();
        if !s.config.lsp.preload {
            return;
        }
        s.preload.generation += 1;
        s.preload.generation
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
