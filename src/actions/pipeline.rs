//! One request from start to answer: route, check VRAM (asking the user when it warns),
//! stream the model's answer, fall back when a model fails, then check generated shell code
//! (with one retry on a syntax error, see [`super::check`]). The command line, the language
//! server and the HTTP API all call [`Pipeline::run`]; none of them routes, falls back or
//! checks by itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::json;

use super::check::{self, CodeCheck};
use super::prompts;
use crate::backend::{Backend, BackendError, Backends, ChatRequest, KeepAlive, backends_from_config, same_model};
use crate::config::Config;
use crate::i18n;
use crate::router::{Reason, RouteDecision, RouteRequest, Router};
use crate::vocab::{ConsentAnswer, Language, ModelTier, Task};
use crate::vram::{self, ModelCost, VramAssessment, VramProbe, VramReading, probe_from_config};

/// What the user asked for, as each face hands it over.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub task: Task,
    pub text: String,
    /// The document's language (LSP `languageId`, `--language`, the JSON's `language`).
    pub language: Option<String>,
    pub tier: Option<ModelTier>,
    /// The whole answer goes back to the caller as it is (`infer`): shell code in the answer
    /// of any task is checked, not only a generated script's.
    pub raw: bool,
    /// Without a language or a fence tag, generated code is taken for a shell script (the
    /// command line and the APIs, whose users generate shell; an editor always says).
    pub shell_by_default: bool,
    /// The face shows shellcheck's findings itself, after the answer landed (the editor's
    /// lint of the open document): the check that gates the answer leaves shellcheck out,
    /// so it waits only for the structural check and `bash -n`.
    pub shellcheck_later: bool,
    /// For [`Task::Fix`]: the finding `text` (the block around it) is to be corrected for.
    pub fix: Option<super::FixTarget>,
}

/// The question put to the user before a bigger model loads.
#[derive(Debug, Clone, PartialEq)]
pub struct VramWarning {
    pub tier: ModelTier,
    pub model: String,
    pub assessment: VramAssessment,
    /// The spec's question in the user's language.
    pub message: String,
    /// Asked for the retry after a syntax error, not for the request itself.
    pub retry: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConsentError(pub String);

/// Asks the user whether to load a bigger model despite a VRAM warning.
#[async_trait]
pub trait Consent: Send + Sync {
    async fn confirm(&self, warning: &VramWarning) -> Result<ConsentAnswer, ConsentError>;
}

/// Progress of a request, for streaming output and editor progress.
pub trait Observer: Send {
    fn decided(&mut self, _decision: &RouteDecision) {}
    fn vram_checked(&mut self, _status: &VramStatus) {}
    fn model_started(&mut self, _decision: &RouteDecision) {}
    fn text(&mut self, _piece: &str) {}
    fn fell_back(&mut self, _from: &str, _to: &str, _cause: &BackendError) {}
    /// The generated code does not parse; a larger tier is asked once more.
    fn retrying(&mut self, _tier: ModelTier, _syntax_error: &str) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VramStatus {
    pub usage: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reading: Option<VramReading>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<VramAssessment>,
    /// Why there was no check, or why it could not be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The answer to a request: the model's text and, for shell code, the check's findings.
#[derive(Debug, Clone)]
pub struct Answer {
    pub text: String,
    /// The decision of the model that answered, with every reason including fallbacks.
    pub decision: RouteDecision,
    pub confidence: Option<f64>,
    pub vram: VramStatus,
    pub processing_time: Duration,
    /// What fell back to what, when a fallback happened.
    pub fallback: Option<String>,
    /// The check of the answer's shell code, when it has some (see [`check::applies`]).
    pub check: Option<CodeCheck>,
    /// Set when the answer was ended early (token bound, repetition): faces say so.
    pub cut: Option<crate::backend::Cut>,
}

impl Answer {
    pub fn has_danger(&self) -> bool {
        self.check.as_ref().is_some_and(|c| c.report.has_danger())
    }

    /// The danger findings in a sentence, for a face that shows them beside the answer.
    pub fn danger_summary(&self, lang: Language, withheld: bool) -> Option<String> {
        let check = self.check.as_ref().filter(|c| c.report.has_danger())?;
        let dangers: Vec<&crate::safety::Finding> = check.report.dangers().collect();
        Some(check::refusal_message(lang, &dangers, withheld))
    }

    /// The spec's `/infer` result, plus `tier`, `reasons`, `fallback` and, when the answer's
    /// shell code was checked, `findings`.
    pub fn to_infer_json(&self) -> serde_json::Value {
        let mut v = json!({
            "response": self.text,
            "confidence": self.confidence,
            "model_used": self.decision.model,
            "vram_usage": self.vram.usage,
            "processing_time": self.processing_time.as_secs_f64(),
            "tier": self.decision.tier,
            "reasons": self.decision.reasons,
        });
        if let Some(f) = &self.fallback {
            v["fallback"] = json!(f);
        }
        if let Some(cut) = self.cut {
            v["cut"] = json!(crate::i18n::answer_cut(Language::En, cut));
        }
        if let Some(c) = &self.check {
            v["findings"] = json!(c.report.findings);
            if let Some(r) = &c.retry {
                v["retry"] = json!(r.note(Language::En));
            }
        }
        v
    }

    /// The result when the answer's dangerous code is withheld (nobody could be asked): the
    /// spec's failure object with `kind: dangerous_code`, the findings and who answered,
    /// but no `response`.
    pub fn to_refused_json(&self, lang: Language) -> serde_json::Value {
        let findings = self.check.as_ref().map(|c| c.report.findings.clone()).unwrap_or_default();
        let dangers: Vec<&crate::safety::Finding> = findings.iter().filter(|f| f.is_danger()).collect();
        json!({
            "error": check::refusal_message(lang, &dangers, true),
            "fallback": self.fallback,
            "kind": "dangerous_code",
            "findings": findings,
            "model_used": self.decision.model,
            "tier": self.decision.tier,
            "reasons": self.decision.reasons,
            "processing_time": self.processing_time.as_secs_f64(),
        })
    }
}

/// What [`Pipeline::preload`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Preload {
    Loaded,
    AlreadyWarm,
    Skipped(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The user answered "Cancel" at the VRAM warning.
    #[error("{message}")]
    Cancelled { message: String },
    /// Nobody could be asked (no terminal, no flag; or the editor could not show the question).
    #[error("{0}")]
    ConsentUnavailable(#[from] ConsentError),
    #[error("{source}")]
    Backend {
        model: String,
        tier: ModelTier,
        #[source]
        source: BackendError,
        /// What fallback was tried, or why none was.
        fallback: String,
    },
}

impl ActionError {
    /// The spec's failure object: `{"error": ..., "fallback": ...}`.
    pub fn to_infer_json(&self) -> serde_json::Value {
        match self {
            ActionError::Backend { fallback, .. } => json!({"error": self.to_string(), "fallback": fallback}),
            _ => json!({"error": self.to_string(), "fallback": null}),
        }
    }
}

/// What a request runs on: the configuration, the router, the backends and the VRAM probe.
/// Built once per configuration and shared.
pub struct Pipeline {
    config: Arc<Config>,
    router: Arc<Router>,
    backends: Backends,
    probe: Arc<dyn VramProbe>,
}

impl Pipeline {
    pub fn new(config: Config) -> Self {
        let backends = backends_from_config(&config.backends);
        let probe: Arc<dyn VramProbe> = Arc::from(probe_from_config(&config.vram.probe));
        Self::with_parts(config, backends, probe)
    }

    pub fn with_parts(config: Config, backends: Backends, probe: Arc<dyn VramProbe>) -> Self {
        let router = Arc::new(Router::new(&config.routing, &config.models));
        Self { config: Arc::new(config), router, backends, probe }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    pub fn probe(&self) -> &Arc<dyn VramProbe> {
        &self.probe
    }

    pub fn backend(&self, name: &str) -> &Arc<dyn Backend> {
        // Config validation guarantees every tier's backend exists.
        &self.backends[name]
    }

    /// Routes without blocking the async thread: texts long enough to need the tokenizer
    /// are counted on the blocking pool.
    pub async fn route(&self, job: &Request) -> RouteDecision {
        let router = Arc::clone(&self.router);
        let needs_count = job.text.len() > self.config.routing.token_threshold;
        let decide = move |job: &Request| {
            router
                .decide(&job.text, &RouteRequest { task: job.task, language: job.language.as_deref(), tier: job.tier })
        };
        if needs_count {
            let job = job.clone();
            match tokio::task::spawn_blocking(move || decide(&job)).await {
                Ok(d) => d,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        } else {
            decide(job)
        }
    }

    /// The one entry point: a request from routing to the checked answer.
    pub async fn run(
        &self,
        request: &Request,
        consent: &dyn Consent,
        observer: &mut dyn Observer,
    ) -> Result<Answer, ActionError> {
        let started = Instant::now();
        let decision = self.route(request).await;
        self.run_routed(request, decision, started, consent, observer).await
    }

    /// [`Pipeline::run`] for a caller that routed already (to show the model before the
    /// work starts).
    pub async fn run_routed(
        &self,
        request: &Request,
        decision: RouteDecision,
        started: Instant,
        consent: &dyn Consent,
        observer: &mut dyn Observer,
    ) -> Result<Answer, ActionError> {
        let answer = self.answer(request, decision, started, false, consent, observer).await?;
        Ok(check::check_answer(self, request, answer, consent, observer).await)
    }

    /// Route decided, VRAM checked, the model streamed, fallbacks taken: the unchecked answer.
    /// `retry`: this is the retry after a syntax error (the VRAM question says so).
    pub(super) async fn answer(
        &self,
        job: &Request,
        mut decision: RouteDecision,
        started: Instant,
        retry: bool,
        consent: &dyn Consent,
        observer: &mut dyn Observer,
    ) -> Result<Answer, ActionError> {
        observer.decided(&decision);
        let mut vram = self.check_vram(&mut decision, retry, consent).await?;
        observer.vram_checked(&vram);
        let mut tried: Vec<ModelTier> = Vec::new();
        let mut fallbacks: Vec<String> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        loop {
            tried.push(decision.tier);
            observer.model_started(&decision);
            match self.attempt(&decision, job, observer).await {
                Ok(response) => {
                    return Ok(Answer {
                        text: response.text,
                        decision,
                        confidence: response.confidence,
                        vram,
                        processing_time: started.elapsed(),
                        fallback: (!fallbacks.is_empty()).then(|| fallbacks.join("; ")),
                        check: None,
                        cut: response.cut,
                    });
                }
                Err(error) => {
                    // The user gets the error once, from the caller; the log keeps the detail.
                    tracing::info!(model = %decision.model, tier = %decision.tier, error = %error, "model failed");
                    let Some(next) = self.fallback_tier(decision.tier, &error, &tried) else {
                        let fallback = if fallbacks.is_empty() {
                            self.why_no_fallback(decision.tier, &error)
                        } else {
                            // Only the failures: the model that "answered instead" did not.
                            format!(
                                "{}; {} ({}) took over and failed too",
                                failures.join("; "),
                                decision.model,
                                decision.tier
                            )
                        };
                        return Err(ActionError::Backend {
                            model: decision.model,
                            tier: decision.tier,
                            source: error,
                            fallback,
                        });
                    };
                    let next_model = self.config().tier(next).name.clone();
                    observer.fell_back(&decision.model, &next_model, &error);
                    let failed = format!("{} ({}) failed: {error}", decision.model, decision.tier);
                    let mut reasons = decision.reasons.clone();
                    reasons.push(Reason::Fallback {
                        from: decision.model.clone(),
                        to: next_model.clone(),
                        cause: error.to_string(),
                    });
                    decision = self.router.decision_for(next, reasons, decision.tokens);
                    if next != ModelTier::Fast {
                        vram = self.check_vram(&mut decision, retry, consent).await?;
                        observer.vram_checked(&vram);
                    }
                    // The VRAM check may have put the fast model in the fallback's place.
                    let instead = if decision.tier == next {
                        format!("{next_model} ({next}) answered instead")
                    } else {
                        format!(
                            "{} ({}) answered instead; it was chosen at the VRAM warning before {next_model} ({next})",
                            decision.model, decision.tier
                        )
                    };
                    fallbacks.push(format!("{failed}; {instead}"));
                    failures.push(failed);
                }
            }
        }
    }

    fn fallback_tier(&self, tier: ModelTier, error: &BackendError, tried: &[ModelTier]) -> Option<ModelTier> {
        let models = &self.config().models;
        let untried = |t: ModelTier| !tried.contains(&t);
        if error.is_unavailable() {
            (tier != ModelTier::Fast && models.fallback_to_fast && untried(ModelTier::Fast)).then_some(ModelTier::Fast)
        } else {
            (tier == ModelTier::Code && models.heavy_model.fallback.unwrap_or(false) && untried(ModelTier::Heavy))
                .then_some(ModelTier::Heavy)
        }
    }

    fn why_no_fallback(&self, tier: ModelTier, error: &BackendError) -> String {
        match tier {
            ModelTier::Fast => "none: the fast model is the last resort".into(),
            _ if error.is_unavailable() => "none: fallback_to_fast is off".into(),
            ModelTier::Code => "none: heavy_model.fallback is off".into(),
            ModelTier::Heavy => "none: the heavy model is only replaced when unavailable".into(),
        }
    }

    async fn attempt(
        &self,
        decision: &RouteDecision,
        job: &Request,
        observer: &mut dyn Observer,
    ) -> Result<crate::backend::ChatResponse, BackendError> {
        let config = self.config();
        let tier = config.tier(decision.tier);
        let request = ChatRequest {
            model: decision.model.clone(),
            messages: prompts::messages(
                job.task,
                &job.text,
                job.language.as_deref(),
                config.language,
                job.fix.as_ref(),
            ),
            timeout: Duration::from_secs(tier.timeout),
            keep_alive: KeepAlive::from_idle_unload(tier.idle_unload),
            max_tokens: Some(config.max_tokens(job.task, decision.tier)),
            stop_on_repetition: config.answers.stop_on_repetition,
        };
        self.backend(&decision.backend).chat(&request, &mut |piece| observer.text(piece)).await
    }

    /// Reads VRAM and, before a bigger model on this machine, asks when usage is or would be
    /// above the threshold. May switch `decision` to the fast model or cancel the job.
    async fn check_vram(
        &self,
        decision: &mut RouteDecision,
        retry: bool,
        consent: &dyn Consent,
    ) -> Result<VramStatus, ActionError> {
        let config = self.config();
        if !config.models.vram_monitoring {
            return Ok(VramStatus {
                note: Some("VRAM monitoring is off (models.vram_monitoring)".into()),
                ..Default::default()
            });
        }
        let reading = match self.probe.read().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("VRAM probe failed: {e}");
                return Ok(VramStatus { note: Some(format!("VRAM probe failed: {e}")), ..Default::default() });
            }
        };
        let mut status = VramStatus { usage: reading.usage(), reading: Some(reading), ..Default::default() };
        if decision.tier == ModelTier::Fast {
            return Ok(status);
        }
        let backend = self.backend(&decision.backend);
        if !vram::is_local_url(backend.address()) {
            status.note = Some(format!("VRAM check skipped: {} is not on this machine", backend.address()));
            return Ok(status);
        }
        let Some(cost) = self.model_cost(backend.as_ref(), decision.tier, &decision.model).await else {
            // Loading will fail and the fallback decides; a warning now would ask for nothing.
            status.note =
                Some(format!("VRAM check skipped: {} is not available on {}", decision.model, backend.address()));
            return Ok(status);
        };
        let reading = status.reading.as_ref().expect("set above");
        let assessment = vram::assess(reading, cost, config.models.warning_threshold);
        status.assessment = Some(assessment.clone());
        if !assessment.warn {
            return Ok(status);
        }
        let warning = VramWarning {
            tier: decision.tier,
            model: decision.model.clone(),
            message: i18n::vram_warning(config.language, assessment.usage, assessment.predicted, &decision.model),
            assessment,
            retry,
        };
        match consent.confirm(&warning).await? {
            ConsentAnswer::Continue => Ok(status),
            ConsentAnswer::UseFast => {
                let mut reasons = decision.reasons.clone();
                reasons.push(Reason::FastAtWarning);
                *decision = self.router.decision_for(ModelTier::Fast, reasons, decision.tokens);
                Ok(status)
            }
            ConsentAnswer::Cancel => {
                Err(ActionError::Cancelled { message: i18n::cancelled_by_user(config.language).to_string() })
            }
        }
    }

    /// Loads the decided model in the background if that is free: it is not loaded yet, the
    /// backend is on this machine and can load on request, and loading would not bring
    /// VRAM over the warning threshold (then the user must be asked first, at the request).
    pub async fn preload(&self, decision: &RouteDecision) -> Preload {
        let config = self.config();
        let backend = self.backend(&decision.backend);
        if !vram::is_local_url(backend.address()) {
            return Preload::Skipped(format!("{} is not on this machine", backend.address()));
        }
        let cost = match self.model_cost(backend.as_ref(), decision.tier, &decision.model).await {
            Some(ModelCost::AlreadyLoaded) => return Preload::AlreadyWarm,
            Some(cost) => cost,
            None => return Preload::Skipped(format!("{} is not available", decision.model)),
        };
        if config.models.vram_monitoring && decision.tier != ModelTier::Fast {
            match self.probe.read().await {
                Ok(reading) if vram::assess(&reading, cost, config.models.warning_threshold).warn => {
                    return Preload::Skipped("loading it would bring VRAM over the warning threshold".into());
                }
                Ok(_) => {}
                Err(e) => return Preload::Skipped(format!("VRAM cannot be read: {e}")),
            }
        }
        let keep_alive = KeepAlive::from_idle_unload(config.tier(decision.tier).idle_unload);
        match backend.load(&decision.model, keep_alive).await {
            Ok(true) => Preload::Loaded,
            Ok(false) => Preload::Skipped("the backend has no load call".into()),
            Err(e) => Preload::Skipped(e.to_string()),
        }
    }

    /// Loaded already costs nothing; else the backend's size for the pulled model; else the
    /// config's estimate. `None` when the backend lists its models and this one is not there.
    async fn model_cost(&self, backend: &dyn Backend, tier: ModelTier, model: &str) -> Option<ModelCost> {
        if let Ok(loaded) = backend.loaded_models().await
            && loaded.iter().any(|m| same_model(&m.name, model))
        {
            return Some(ModelCost::AlreadyLoaded);
        }
        match backend.available_models().await {
            Ok(available) => match available.iter().find(|m| same_model(&m.name, model)) {
                Some(m) if m.size_bytes > 0 => return Some(ModelCost::Reported(m.size_bytes)),
                Some(_) => {}
                None => return None,
            },
            // The server is down: the request will fail and the fallback decides.
            Err(e) if e.is_unavailable() => return None,
            Err(_) => {}
        }
        Some(match &self.config().tier(tier).vram_usage {
            Some(size) => ModelCost::Estimated(size.high),
            None => ModelCost::Unknown,
        })
    }
}
