//! `POST /infer`: one job per request, answered as JSON or as Server-Sent Events.
//!
//! The job runs in its own task, held by an abort-on-drop guard that lives in the handler
//! (JSON) or in the response body (SSE). When the client goes away hyper drops either, the
//! task is aborted, the pipeline's future is dropped and with it the backend connection:
//! that is how the model server learns of the cancel.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::{AppState, error_response, status};
use crate::actions::{ActionError, Consent, ConsentError, Observer, Pipeline, Request, VramWarning};
use crate::backend::{BackendError, BackendKind};
use crate::config::{OnDanger, OnVramWarning};
use crate::router::RouteDecision;
use crate::vocab::Task;
use crate::vocab::{ConsentAnswer, ModelTier};

/// The request body. Unknown fields are errors, so that a typo is not silently ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    pub query: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub tier: Option<ModelTier>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub task: Option<Task>,
}

/// Parses and checks a request body; the error says what was wrong.
pub fn parse_request(body: &[u8]) -> Result<InferRequest, String> {
    let request: InferRequest = serde_json::from_slice(body).map_err(|e| format!("malformed request body: {e}"))?;
    if request.query.is_empty() {
        return Err("malformed request body: `query` is empty".into());
    }
    Ok(request)
}

pub async fn infer(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let bad = |status: StatusCode, kind: &'static str, message: String| {
        state.metrics.count("none", kind);
        error_response(status, kind, message)
    };
    if !is_json(&headers) {
        return bad(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with `Content-Type: application/json`".into(),
        );
    }
    let limit = state.http.max_body_bytes;
    let body = match read_limited(&headers, body, limit).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return bad(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {limit} bytes (http.max_body_bytes)"),
            );
        }
        Err(BodyError::Read(e)) => {
            return bad(StatusCode::BAD_REQUEST, "bad_request", format!("cannot read the request body: {e}"));
        }
    };
    let request = match parse_request(&body) {
        Ok(r) => r,
        Err(message) => return bad(StatusCode::BAD_REQUEST, "bad_request", message),
    };
    let Ok(permit) = Arc::clone(&state.limit).try_acquire_owned() else {
        let mut response = bad(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!(
                "{} model requests are in flight already (http.max_concurrent); try again shortly",
                state.http.max_concurrent
            ),
        );
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return response;
    };
    let stream = request.stream.unwrap_or(false);
    let job = Request {
        task: request.task.unwrap_or_default(),
        text: request.query,
        language: request.language,
        tier: request.tier,
        raw: true,
        shell_by_default: true,
        shellcheck_later: false,
        fix: None,
    };
    let on_danger = state.http.on_danger;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let observer = HttpObserver {
        tx: tx.clone(),
        stream,
        held: (on_danger == OnDanger::Refuse).then(|| Withheld::new(job.task == Task::Generate)),
        flight: InFlight {
            permit: Some(permit),
            state: Arc::clone(&state),
            started: Instant::now(),
            tier: None,
            done: false,
        },
    };
    let task = AbortOnDrop(tokio::spawn(run_job(
        Arc::clone(&state.pipeline),
        job,
        state.http.on_vram_warning,
        on_danger,
        observer,
        tx,
    )));

    if !stream {
        while let Some(event) = rx.recv().await {
            if let Progress::Done(status, value) = event {
                drop(task);
                return json_response(status, &value);
            }
        }
        return job_vanished();
    }
    // A failure before the first piece of text still gets its own status; after that, the
    // status line is sent and a failure can only be an `error` event.
    let first = match rx.recv().await {
        Some(Progress::Done(status, value)) if !status.is_success() => return json_response(status, &value),
        Some(event) => event,
        None => return job_vanished(),
    };
    let events = futures_util::stream::unfold((Some(first), rx, Some(task)), |(next, mut rx, task)| async move {
        // After the final event the stream ends; the task has finished by then.
        task.as_ref()?;
        let event = match next {
            Some(e) => e,
            None => rx.recv().await?,
        };
        let done = matches!(event, Progress::Done(..));
        let sse = event.to_sse();
        Some((Ok::<Event, Infallible>(sse), (None, rx, if done { None } else { task })))
    });
    let mut response = Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))).into_response();
    response.headers_mut().insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    response
}

/// Only reached if the job's task panicked.
fn job_vanished() -> Response {
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "the job ended without an answer".into())
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, axum::Json(value)).into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

enum BodyError {
    TooLarge,
    Read(axum::Error),
}

/// Reads the body, stopping as soon as it is known to be over `limit`.
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Read)?;
        if out.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// What the job task reports.
enum Progress {
    Text(String),
    Fallback {
        from: String,
        to: String,
        cause: String,
    },
    /// The generated code does not parse and a larger tier is asked; the text starts anew.
    Retry {
        tier: ModelTier,
        error: String,
    },
    Done(StatusCode, Value),
}

impl Progress {
    fn to_sse(&self) -> Event {
        let (name, data) = match self {
            Progress::Text(t) => ("text", json!({ "text": t })),
            Progress::Fallback { from, to, cause } => ("fallback", json!({"from": from, "to": to, "cause": cause})),
            Progress::Retry { tier, error } => ("retry", json!({"tier": tier, "error": error})),
            Progress::Done(status, value) if status.is_success() => ("result", value.clone()),
            Progress::Done(_, value) => ("error", value.clone()),
        };
        Event::default().event(name).data(data.to_string())
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A model request in flight: holds its place under `http.max_concurrent` and counts itself
/// in the metrics when it ends, also when it ends by being dropped (client disconnect).
struct InFlight {
    /// Released as soon as the answer is ready, before the client has read it.
    permit: Option<OwnedSemaphorePermit>,
    state: Arc<AppState>,
    started: Instant,
    tier: Option<ModelTier>,
    done: bool,
}

impl InFlight {
    fn tier_label(&self) -> &'static str {
        self.tier.map_or("none", ModelTier::as_str)
    }

    fn finish(&mut self, tier: Option<ModelTier>, outcome: &str) {
        if let Some(t) = tier {
            self.tier = Some(t);
        }
        self.done = true;
        self.permit = None;
        let elapsed = self.started.elapsed();
        self.state.metrics.observe(self.tier_label(), outcome, elapsed);
        tracing::info!(tier = self.tier_label(), outcome, seconds = elapsed.as_secs_f64(), "POST /infer");
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            let elapsed = self.started.elapsed();
            self.state.metrics.observe(self.tier_label(), "disconnected", elapsed);
            tracing::info!(tier = self.tier_label(), seconds = elapsed.as_secs_f64(), "POST /infer: client went away");
        }
    }
}

struct HttpObserver {
    tx: mpsc::UnboundedSender<Progress>,
    stream: bool,
    /// With `http.on_danger: refuse`, streamed code waits for the check.
    held: Option<Withheld>,
    flight: InFlight,
}

impl HttpObserver {
    fn send_text(&self, text: String) {
        if self.stream && !text.is_empty() {
            let _ = self.tx.send(Progress::Text(text));
        }
    }

    /// The check passed (or reports only): the withheld text goes out before the result.
    fn release(&mut self) {
        if let Some(text) = self.held.as_mut().map(Withheld::release) {
            self.send_text(text);
        }
    }
}

/// Streamed text that may be code the check has not seen yet: everything from the first
/// line that opens a fenced block (for `generate`, everything: an answer without a fence is
/// code too) waits until the answer is checked. Prose before it streams as it arrives,
/// held back at most until its line ends (the line might open a fence).
#[derive(Debug, Default)]
struct Withheld {
    hold_all: bool,
    /// The start of the current line, not yet known not to open a fence.
    line: String,
    held: String,
}

impl Withheld {
    fn new(hold_all: bool) -> Self {
        Self { hold_all, ..Default::default() }
    }

    /// What can be sent now of `piece`.
    fn push(&mut self, piece: &str) -> String {
        if self.hold_all || !self.held.is_empty() {
            self.held.push_str(piece);
            return String::new();
        }
        self.line.push_str(piece);
        let mut out = String::new();
        while let Some(end) = self.line.find('\n') {
            if self.line[..end].trim_start().starts_with("```") {
                self.held = std::mem::take(&mut self.line);
                return out;
            }
            out.extend(self.line.drain(..=end));
        }
        let start = self.line.trim_start();
        let may_open_fence = start.starts_with("```") || "```".starts_with(start);
        if !may_open_fence {
            out.push_str(&std::mem::take(&mut self.line));
        }
        out
    }

    fn release(&mut self) -> String {
        let mut text = std::mem::take(&mut self.line);
        text.push_str(&std::mem::take(&mut self.held));
        text
    }

    /// A retry's answer replaces the first: what was withheld of it is dropped.
    fn restart(&mut self) {
        self.line.clear();
        self.held.clear();
    }
}

impl Observer for HttpObserver {
    fn decided(&mut self, decision: &RouteDecision) {
        self.flight.tier = Some(decision.tier);
    }
    fn model_started(&mut self, decision: &RouteDecision) {
        self.flight.tier = Some(decision.tier);
    }
    fn text(&mut self, piece: &str) {
        if !self.stream {
            return;
        }
        let now = match self.held.as_mut() {
            Some(held) => held.push(piece),
            None => piece.to_string(),
        };
        self.send_text(now);
    }
    fn retrying(&mut self, tier: ModelTier, syntax_error: &str) {
        if let Some(held) = self.held.as_mut() {
            held.restart();
        }
        if self.stream {
            let _ = self.tx.send(Progress::Retry { tier, error: syntax_error.to_string() });
        }
    }
    fn fell_back(&mut self, from: &str, to: &str, cause: &BackendError) {
        if self.stream {
            let _ = self.tx.send(Progress::Fallback { from: from.into(), to: to.into(), cause: cause.to_string() });
        }
    }
}

/// Answers the VRAM question from `http.on_vram_warning`, and remembers what it answered.
pub struct PolicyConsent {
    policy: OnVramWarning,
    warned: Mutex<Option<String>>,
}

impl PolicyConsent {
    pub fn new(policy: OnVramWarning) -> Self {
        Self { policy, warned: Mutex::new(None) }
    }

    /// The warning's first line, when one was answered.
    pub fn warning(&self) -> Option<String> {
        self.warned.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Adds `vram_decision` and `vram_warning` to an answer when a warning was answered.
    pub fn annotate(&self, value: &mut Value) {
        if let Some(w) = self.warning() {
            value["vram_decision"] = json!(self.policy.as_str());
            value["vram_warning"] = json!(w);
        }
    }
}

#[async_trait]
impl Consent for PolicyConsent {
    async fn confirm(&self, warning: &VramWarning) -> Result<ConsentAnswer, ConsentError> {
        let first_line = warning.message.lines().next().unwrap_or_default().to_string();
        *self.warned.lock().unwrap_or_else(|e| e.into_inner()) = Some(first_line);
        Ok(match self.policy {
            OnVramWarning::Fast => ConsentAnswer::UseFast,
            OnVramWarning::Cancel => ConsentAnswer::Cancel,
            OnVramWarning::Continue => ConsentAnswer::Continue,
        })
    }
}

async fn run_job(
    pipeline: Arc<Pipeline>,
    job: Request,
    policy: OnVramWarning,
    on_danger: OnDanger,
    mut observer: HttpObserver,
    tx: mpsc::UnboundedSender<Progress>,
) {
    let consent = PolicyConsent::new(policy);
    let result = pipeline.run(&job, &consent, &mut observer).await;
    let (status, mut value) = match result {
        Ok(answer) if answer.has_danger() && on_danger == OnDanger::Refuse => {
            observer.flight.finish(Some(answer.decision.tier), "dangerous_code");
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let mut value = answer.to_refused_json(pipeline.config().language);
            value["status"] = json!(status.as_u16());
            (status, value)
        }
        Ok(answer) => {
            observer.release();
            observer.flight.finish(Some(answer.decision.tier), "ok");
            (StatusCode::OK, answer.to_infer_json())
        }
        Err(error) => {
            let (status, kind) = status::classify(&error);
            let tier = match &error {
                ActionError::Backend { tier, .. } => Some(*tier),
                _ => None,
            };
            observer.flight.finish(tier, kind);
            (status, error_json(&error, status, kind))
        }
    };
    consent.annotate(&mut value);
    let _ = tx.send(Progress::Done(status, value));
}

/// The spec's failure object plus `status`, `kind`, and for backend failures the model and
/// tier (and for a model that is not pulled, the command that pulls it).
pub fn error_json(error: &ActionError, status: StatusCode, kind: &str) -> Value {
    let mut v = error.to_infer_json();
    v["status"] = json!(status.as_u16());
    v["kind"] = json!(kind);
    if let ActionError::Backend { model, tier, source, .. } = error {
        v["model"] = json!(model);
        v["tier"] = json!(tier);
        if let BackendError::ModelNotFound { kind: BackendKind::Ollama, model, .. } = source {
            v["pull"] = json!(format!("ollama pull {model}"));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_parsing_says_what_was_wrong() {
        let ok = parse_request(br#"{"query":"hi","tier":"code","stream":true,"language":"sh"}"#).unwrap();
        assert_eq!((ok.query.as_str(), ok.tier, ok.stream), ("hi", Some(ModelTier::Code), Some(true)));
        let err = |body: &str| parse_request(body.as_bytes()).unwrap_err();
        assert!(err("{}").contains("missing field `query`"), "{}", err("{}"));
        assert!(err(r#"{"query":""}"#).contains("`query` is empty"));
        assert!(err(r#"{"query":"x","tier":"huge"}"#).contains("unknown variant `huge`"));
        assert!(err(r#"{"query":"x","colour":1}"#).contains("unknown field `colour`"));
        assert!(err("not json").contains("malformed request body"));
        assert!(err(r#"{"query":1}"#).contains("invalid type"));
    }

    #[test]
    fn code_waits_for_the_check() {
        // (hold_all, pieces, sent as they came, released after the check)
        let cases: [(bool, &[&str], &str, &str); 6] = [
            (false, &["Par", "is.\n", "Done"], "Paris.\nDone", ""),
            (false, &["Try:\n``", "`bash\nrm -rf /\n```\n"], "Try:\n", "```bash\nrm -rf /\n```\n"),
            (false, &["Try:\n  ```sh\nls\n", "```\nafter\n"], "Try:\n", "  ```sh\nls\n```\nafter\n"),
            (false, &["a `tick` is fine\n"], "a `tick` is fine\n", ""),
            (false, &["Grüße ", "`", "`x"], "Grüße ``x", ""),
            (true, &["rm -rf /\n"], "", "rm -rf /\n"),
        ];
        for (hold_all, pieces, sent, released) in cases {
            let mut w = Withheld::new(hold_all);
            let now: String = pieces.iter().map(|p| w.push(p)).collect();
            assert_eq!((now.as_str(), w.release().as_str()), (sent, released), "{pieces:?}");
        }
        let mut w = Withheld::new(false);
        assert_eq!(w.push("x\n```\nrm\n"), "x\n");
        w.restart();
        assert_eq!(w.release(), "");
    }

    #[test]
    fn json_content_types() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn policy_consent_answers_and_remembers() {
        let warning = VramWarning {
            tier: ModelTier::Code,
            model: "m".into(),
            assessment: crate::vram::assess(
                &crate::vram::VramReading::empty("t", "n"),
                crate::vram::ModelCost::Unknown,
                0.8,
            ),
            message: "VRAM at 90%\n\nmore".into(),
            retry: false,
        };
        for (policy, answer) in [
            (OnVramWarning::Fast, ConsentAnswer::UseFast),
            (OnVramWarning::Cancel, ConsentAnswer::Cancel),
            (OnVramWarning::Continue, ConsentAnswer::Continue),
        ] {
            let c = PolicyConsent::new(policy);
            let mut v = json!({});
            c.annotate(&mut v);
            assert_eq!(v, json!({}));
            assert_eq!(c.confirm(&warning).await.unwrap(), answer);
            c.annotate(&mut v);
            assert_eq!(v, json!({"vram_decision": policy.as_str(), "vram_warning": "VRAM at 90%"}));
        }
    }
}
