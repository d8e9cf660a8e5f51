//! A job from request to answer: route, check VRAM (asking the user when it warns), stream
//! the model's answer, and fall back when a model fails. Shared by the command line and the
//! language server; neither knows the other's types.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::json;

use crate::actions::{Task, prompts};
use crate::backend::{Backend, BackendError, Backends, ChatRequest, KeepAlive, backends_from_config, same_model};
use crate::config::Config;
use crate::i18n::{self, ConsentAnswer};
use crate::router::{ModelTier, Reason, RouteDecision, RouteRequest, Router};
use crate::vram::{self, ModelCost, VramAssessment, VramProbe, VramReading, probe_from_config};

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Job {
    pub task: Task,
    pub text: String,
    pub language: Option<String>,
    pub tier: Option<ModelTier>,
}

/// The question put to the user before a bigger model loads.
#[derive(Debug, Clone, PartialEq)]
pub struct VramWarning {
    pub tier: ModelTier,
    pub model: String,
    pub assessment: VramAssessment,
    /// The spec's question in the user's language.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConsentError(pub String);

/// Asks the user whether to load a bigger model despite a VRAM warning.
#[async_trait]
pub trait Consent: Send + Sync {
    async fn confirm(&self, warning: &VramWarning) -> Result<ConsentAnswer, ConsentError>;
}

/// Progress of a job, for streaming output and editor progress.
pub trait JobObserver: Send {
    fn decided(&mut self, _decision: &RouteDecision) {}
    fn vram_checked(&mut self, _status: &VramStatus) {}
    fn model_started(&mut self, _decision: &RouteDecision) {}
    fn text(&mut self, _piece: &str) {}
    fn fell_back(&mut self, _from: &str, _to: &str, _cause: &BackendError) {}
}

/// An observer that ignores everything.
pub struct Quiet;
impl JobObserver for Quiet {}

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

#[derive(Debug, Clone)]
pub struct JobOutcome {
    pub text: String,
    /// The decision of the model that answered, with every reason including fallbacks.
    pub decision: RouteDecision,
    pub confidence: Option<f64>,
    pub vram: VramStatus,
    pub processing_time: Duration,
    /// What fell back to what, when a fallback happened.
    pub fallback: Option<String>,
}

impl JobOutcome {
    /// The spec's `/infer` result, plus `tier`, `reasons` and `fallback`.
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
        v
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
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

impl JobError {
    /// The spec's failure object: `{"error": ..., "fallback": ...}`.
    pub fn to_infer_json(&self) -> serde_json::Value {
        match self {
            JobError::Backend { fallback, .. } => json!({"error": self.to_string(), "fallback": fallback}),
            _ => json!({"error": self.to_string(), "fallback": null}),
        }
    }
}

pub struct Dispatcher {
    router: Arc<Router>,
    backends: Backends,
    probe: Arc<dyn VramProbe>,
}

impl Dispatcher {
    pub fn new(config: Config) -> Self {
        let backends = backends_from_config(&config.backends);
        let probe: Arc<dyn VramProbe> = Arc::from(probe_from_config(&config.vram.probe));
        Self::with_parts(config, backends, probe)
    }

    pub fn with_parts(config: Config, backends: Backends, probe: Arc<dyn VramProbe>) -> Self {
        Self { router: Arc::new(Router::new(config)), backends, probe }
    }

    pub fn config(&self) -> &Config {
        self.router.config()
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
    pub async fn route(&self, job: &Job) -> RouteDecision {
        let router = Arc::clone(&self.router);
        let needs_count = job.text.len() > router.config().routing.token_threshold;
        let decide = move |job: &Job| {
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

    pub async fn run(
        &self,
        job: &Job,
        consent: &dyn Consent,
        observer: &mut dyn JobObserver,
    ) -> Result<JobOutcome, JobError> {
        let started = Instant::now();
        let decision = self.route(job).await;
        self.run_decided(job, decision, started, consent, observer).await
    }

    /// `run` for a caller that routed already (to show the model before the work starts).
    pub async fn run_decided(
        &self,
        job: &Job,
        mut decision: RouteDecision,
        started: Instant,
        consent: &dyn Consent,
        observer: &mut dyn JobObserver,
    ) -> Result<JobOutcome, JobError> {
        observer.decided(&decision);
        let mut vram = self.check_vram(&mut decision, consent).await?;
        observer.vram_checked(&vram);
        let mut tried: Vec<ModelTier> = Vec::new();
        let mut fallbacks: Vec<String> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        loop {
            tried.push(decision.tier);
            observer.model_started(&decision);
            match self.attempt(&decision, job, observer).await {
                Ok(response) => {
                    return Ok(JobOutcome {
                        text: response.text,
                        decision,
                        confidence: response.confidence,
                        vram,
                        processing_time: started.elapsed(),
                        fallback: (!fallbacks.is_empty()).then(|| fallbacks.join("; ")),
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
                        return Err(JobError::Backend {
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
                        vram = self.check_vram(&mut decision, consent).await?;
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
        job: &Job,
        observer: &mut dyn JobObserver,
    ) -> Result<crate::backend::ChatResponse, BackendError> {
        let config = self.config();
        let tier = config.tier(decision.tier);
        let request = ChatRequest {
            model: decision.model.clone(),
            messages: prompts::messages(job.task, &job.text, job.language.as_deref(), config.language),
            timeout: Duration::from_secs(tier.timeout),
            keep_alive: KeepAlive::from_idle_unload(tier.idle_unload),
        };
        self.backend(&decision.backend).chat(&request, &mut |piece| observer.text(piece)).await
    }

    /// Reads VRAM and, before a bigger model on this machine, asks when usage is or would be
    /// above the threshold. May switch `decision` to the fast model or cancel the job.
    pub async fn check_vram(
        &self,
        decision: &mut RouteDecision,
        consent: &dyn Consent,
    ) -> Result<VramStatus, JobError> {
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
                Err(JobError::Cancelled { message: i18n::cancelled_by_user(config.language).to_string() })
            }
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
