//! The pipeline on its own: an in-process backend that answers from a script, a fixed VRAM
//! reading and scripted consent. Fallback chains, consent answers, the syntax retry,
//! cancellation and which answers are checked.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::backend::{
    AvailableModel, Backend, BackendError, BackendKind, Backends, ChatRequest, ChatResponse, LoadedModel, PullProgress,
};
use crate::config::{Config, Environment};
use crate::safety::Category;
use crate::vocab::{ConsentAnswer, ModelTier, Task};
use crate::vram::{DeviceMemory, VramError, VramProbe, VramReading};

const FAST: &str = "llama3.2:11b-vision";
const CODE: &str = "qwen3-coder:30b-q4";
const HEAVY: &str = "llama3.1:70b";
const GIB: u64 = 1024 * 1024 * 1024;

/// One scripted reply of a model.
#[derive(Debug, Clone)]
enum Reply {
    Text(&'static str),
    /// Fails while answering (the heavy model may take over).
    Fails,
    /// Not pulled (the fast model may stand in).
    Missing,
    /// Never answers (for cancellation).
    Hangs,
}

#[derive(Default)]
struct ScriptedBackend {
    replies: Mutex<HashMap<&'static str, VecDeque<Reply>>>,
    calls: Mutex<Vec<String>>,
}

impl ScriptedBackend {
    fn new(replies: &[(&'static str, Reply)]) -> Self {
        let b = Self::default();
        for (model, reply) in replies {
            b.replies.lock().unwrap().entry(model).or_default().push_back(reply.clone());
        }
        b
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl Backend for ScriptedBackend {
    fn address(&self) -> &str {
        "http://127.0.0.1:11434"
    }

    async fn chat(
        &self,
        request: &ChatRequest,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<ChatResponse, BackendError> {
        self.calls.lock().unwrap().push(request.model.clone());
        let reply = self.replies.lock().unwrap().get_mut(request.model.as_str()).and_then(VecDeque::pop_front);
        let model = request.model.clone();
        match reply {
            Some(Reply::Text(text)) => {
                on_text(text);
                Ok(ChatResponse { text: text.into(), cut: None, confidence: None, eval_count: None })
            }
            Some(Reply::Fails) => Err(BackendError::StreamError { model, message: "out of memory".into() }),
            Some(Reply::Missing) => {
                Err(BackendError::ModelNotFound { kind: BackendKind::Ollama, model, address: self.address().into() })
            }
            Some(Reply::Hangs) => std::future::pending().await,
            None => panic!("no reply scripted for {model}"),
        }
    }

    async fn version(&self) -> Result<String, BackendError> {
        Ok("scripted".into())
    }

    async fn loaded_models(&self) -> Result<Vec<LoadedModel>, BackendError> {
        Ok(Vec::new())
    }

    async fn available_models(&self) -> Result<Vec<AvailableModel>, BackendError> {
        Ok([FAST, CODE, HEAVY].iter().map(|m| AvailableModel { name: m.to_string(), size_bytes: GIB }).collect())
    }

    async fn unload(&self, _model: &str) -> Result<(), BackendError> {
        Ok(())
    }

    async fn pull(
        &self,
        _model: &str,
        _on_progress: &mut (dyn for<'p> FnMut(&'p PullProgress) + Send),
    ) -> Result<(), BackendError> {
        Ok(())
    }
}

/// `used` of 100 GiB in use.
struct FixedProbe(u64);

#[async_trait]
impl VramProbe for FixedProbe {
    fn name(&self) -> &'static str {
        "fixed"
    }
    async fn read(&self) -> Result<VramReading, VramError> {
        let device = DeviceMemory { name: "gpu".into(), used_bytes: self.0 * GIB, total_bytes: 100 * GIB };
        Ok(VramReading { probe: "fixed".into(), devices: vec![device], note: None })
    }
}

/// Answers the VRAM question from a script; remembers who was asked about, and whether for
/// a retry.
#[derive(Default)]
struct ScriptedConsent {
    answers: Mutex<VecDeque<ConsentAnswer>>,
    asked: Mutex<Vec<(String, bool)>>,
}

#[async_trait]
impl Consent for ScriptedConsent {
    async fn confirm(&self, warning: &VramWarning) -> Result<ConsentAnswer, ConsentError> {
        self.asked.lock().unwrap().push((warning.model.clone(), warning.retry));
        self.answers.lock().unwrap().pop_front().ok_or_else(|| ConsentError("nobody to ask".into()))
    }
}

struct Setup {
    pipeline: Pipeline,
    backend: Arc<ScriptedBackend>,
    consent: ScriptedConsent,
}

fn setup(replies: &[(&'static str, Reply)], used_gib: u64, answers: &[ConsentAnswer]) -> Setup {
    let config = Config::defaults(&Environment::default());
    let backend = Arc::new(ScriptedBackend::new(replies));
    let backends: Backends =
        config.backends.keys().map(|name| (name.clone(), Arc::clone(&backend) as Arc<dyn Backend>)).collect();
    let pipeline = Pipeline::with_parts(config, backends, Arc::new(FixedProbe(used_gib)));
    let consent = ScriptedConsent { answers: Mutex::new(answers.iter().copied().collect()), ..Default::default() };
    Setup { pipeline, backend, consent }
}

fn request(task: Task, text: &str) -> Request {
    Request { task, text: text.into(), shell_by_default: true, ..Default::default() }
}

/// Replies per model, in order.
type Script = Vec<(&'static str, Reply)>;

/// (task, raw, language, answer, checked, danger)
type CheckCase = (Task, bool, Option<&'static str>, &'static str, bool, bool);

/// "grep" routes to the code model.
const CODE_QUERY: &str = "grep all errors in the syslog";

/// What a case expects: the model that answered (or the error's start), the models called
/// in order, and who the user was asked about.
struct Expect {
    outcome: Result<&'static str, &'static str>,
    calls: &'static [&'static str],
    asked: &'static [(&'static str, bool)],
}

async fn check(name: &str, s: Setup, req: Request, expect: Expect) -> Option<Answer> {
    let result = s.pipeline.run(&req, &s.consent, &mut Quiet).await;
    let answer = match (&result, expect.outcome) {
        (Ok(a), Ok(model)) => {
            assert_eq!(a.decision.model, model, "{name}: {}", a.decision.reasons_text());
            Some(a.clone())
        }
        (Err(e), Err(start)) => {
            assert!(e.to_string().starts_with(start), "{name}: {e}");
            None
        }
        (r, _) => panic!("{name}: unexpected {r:?}"),
    };
    assert_eq!(s.backend.calls(), expect.calls, "{name}: models called");
    let asked: Vec<(String, bool)> = expect.asked.iter().map(|(m, r)| (m.to_string(), *r)).collect();
    assert_eq!(*s.consent.asked.lock().unwrap(), asked, "{name}: consent asked");
    answer
}

#[tokio::test]
async fn fallback_chains() {
    use Reply::*;
    let ok = |model| Expect { outcome: Ok(model), calls: &[], asked: &[] };
    let cases: Vec<(&str, Script, Expect)> = vec![
        ("code answers", vec![(CODE, Text("grep -c error /var/log/syslog"))], Expect { calls: &[CODE], ..ok(CODE) }),
        (
            "code fails, heavy takes over",
            vec![(CODE, Fails), (HEAVY, Text("heavy"))],
            Expect { calls: &[CODE, HEAVY], ..ok(HEAVY) },
        ),
        (
            "code missing, fast stands in",
            vec![(CODE, Missing), (FAST, Text("fast"))],
            Expect { calls: &[CODE, FAST], ..ok(FAST) },
        ),
        (
            "code fails, heavy missing, fast stands in",
            vec![(CODE, Fails), (HEAVY, Missing), (FAST, Text("fast"))],
            Expect { calls: &[CODE, HEAVY, FAST], ..ok(FAST) },
        ),
        (
            "everything fails",
            vec![(CODE, Fails), (HEAVY, Fails)],
            Expect { outcome: Err(HEAVY), calls: &[CODE, HEAVY], asked: &[] },
        ),
    ];
    for (name, replies, expect) in cases {
        let s = setup(&replies, 1, &[]);
        let answer = check(name, s, request(Task::Ask, CODE_QUERY), expect).await;
        if let Some(a) = answer.filter(|a| a.decision.model != CODE) {
            let fallback = a.fallback.expect("a fallback says what happened");
            assert!(fallback.contains(&format!("{CODE} (code) failed")), "{name}: {fallback}");
        }
    }
}

#[tokio::test]
async fn consent_answers() {
    use ConsentAnswer::*;
    let replies = [(CODE, Reply::Text("code")), (FAST, Reply::Text("fast"))];
    let cases: [(&str, &[ConsentAnswer], Expect); 4] = [
        ("continue", &[Continue], Expect { outcome: Ok(CODE), calls: &[CODE], asked: &[(CODE, false)] }),
        ("use fast", &[UseFast], Expect { outcome: Ok(FAST), calls: &[FAST], asked: &[(CODE, false)] }),
        ("cancel", &[Cancel], Expect { outcome: Err("Cancelled"), calls: &[], asked: &[(CODE, false)] }),
        ("nobody to ask", &[], Expect { outcome: Err("nobody to ask"), calls: &[], asked: &[(CODE, false)] }),
    ];
    for (name, answers, expect) in cases {
        // 90 GiB of 100 in use: above the 80 % threshold, so the code model is asked about.
        let s = setup(&replies, 90, answers);
        let answer = check(name, s, request(Task::Ask, CODE_QUERY), expect).await;
        if let Some(a) = answer.filter(|a| a.decision.model == FAST) {
            assert!(a.decision.reasons_text().contains("fast model chosen at the VRAM warning"), "{name}");
        }
    }
    // Below the threshold nobody is asked.
    let s = setup(&replies, 1, &[]);
    check("quiet GPU", s, request(Task::Ask, CODE_QUERY), Expect { outcome: Ok(CODE), calls: &[CODE], asked: &[] })
        .await;
}

#[tokio::test]
async fn syntax_retry() {
    if crate::safety::Tools::detect().bash.is_none() {
        return; // `bash -n` finds the syntax error; without bash there is nothing to retry.
    }
    let broken = "```bash\nif [ -d /tmp ]; then\n  echo yes\n```\n";
    let fixed = "```bash\nif [ -d /tmp ]; then\n  echo yes\nfi\n```\n";
    let s = setup(&[(CODE, Reply::Text(broken)), (HEAVY, Reply::Text(fixed))], 1, &[]);
    let a = check(
        "the retry fixes it",
        s,
        request(Task::Generate, "check whether /tmp exists"),
        Expect { outcome: Ok(HEAVY), calls: &[CODE, HEAVY], asked: &[] },
    )
    .await
    .unwrap();
    let checked = a.check.expect("checked");
    assert_eq!(checked.code, "if [ -d /tmp ]; then\n  echo yes\nfi\n");
    assert!(
        matches!(&checked.retry, Some(Retry::Answered { model, fixed: true, .. }) if model == HEAVY),
        "{checked:?}"
    );

    // The retry's VRAM question says it is for the retry; declining keeps the first answer.
    let s = setup(&[(CODE, Reply::Text(broken))], 90, &[ConsentAnswer::Continue, ConsentAnswer::Cancel]);
    let a = check(
        "retry declined",
        s,
        request(Task::Generate, "check whether /tmp exists"),
        Expect { outcome: Ok(CODE), calls: &[CODE], asked: &[(CODE, false), (HEAVY, true)] },
    )
    .await
    .unwrap();
    let checked = a.check.expect("checked");
    assert!(matches!(checked.retry, Some(Retry::Failed { .. })), "{checked:?}");
    assert!(checked.report.syntax_error().is_some());
}

#[tokio::test]
async fn cancellation_drops_the_request() {
    let s = setup(&[(CODE, Reply::Hangs)], 1, &[]);
    let req = request(Task::Ask, CODE_QUERY);
    let mut quiet = Quiet;
    let run = s.pipeline.run(&req, &s.consent, &mut quiet);
    assert!(tokio::time::timeout(Duration::from_millis(50), run).await.is_err());
    assert_eq!(s.backend.calls(), [CODE]);
}

#[tokio::test]
async fn which_answers_are_checked() {
    let dangerous = "Like this:\n```bash\nrm -rf /\n```\n";
    let cases: [CheckCase; 9] = [
        (Task::Generate, false, Some("shellscript"), dangerous, true, true),
        (Task::Generate, false, None, "rm -rf /\n", true, true),
        (Task::Generate, false, Some("python"), "```python\nprint(1)\n```\n", false, false),
        // The editor's explanations are inserted as comments: not run, not checked.
        (Task::Explain, false, Some("shellscript"), dangerous, false, false),
        (Task::Ask, false, None, dangerous, false, false),
        // `infer` returns the answer to a program: a shell block in any task's answer is checked.
        (Task::Ask, true, None, dangerous, true, true),
        (Task::Explain, true, None, "```sh\nls -la\n```\n", true, false),
        (Task::Ask, true, None, "```python\nimport os\n```\n", false, false),
        (Task::Ask, true, None, "Paris.", false, false),
    ];
    for (task, raw, language, reply, checked, danger) in cases {
        let name = format!("{task:?} raw={raw} {language:?} {reply:?}");
        let s = setup(&[(CODE, Reply::Text(reply))], 1, &[]);
        let req =
            Request { raw, language: language.map(str::to_string), tier: Some(ModelTier::Code), ..request(task, "x") };
        let a = s.pipeline.run(&req, &s.consent, &mut Quiet).await.unwrap();
        assert_eq!(a.check.is_some(), checked, "{name}");
        assert_eq!(a.has_danger(), danger, "{name}");
        if danger {
            let finding = &a.check.as_ref().unwrap().report.findings[0];
            assert_eq!(finding.category, Category::DeleteRoot, "{name}");
            let refused = a.to_refused_json(crate::vocab::Language::En);
            assert!(refused.get("response").is_none() && refused["kind"] == "dangerous_code", "{name}: {refused}");
            assert_eq!(a.to_infer_json()["findings"][0]["category"], "delete-root", "{name}");
        }
    }
}

/// The editor's generate waits only for what gates the edit: the structural check, and
/// `bash -n` only when tree-sitter-bash sees a syntax error (for the retry); shellcheck's
/// findings and `bash -n` on clean code come later from the document's lint. Other faces
/// run both before answering.
#[tokio::test]
async fn the_editor_waits_only_for_what_gates_the_edit() {
    use crate::safety::ToolRun;
    // (shellcheck_later, code, shellcheck skipped, bash -n skipped)
    let cases = [
        (true, "```bash\nls \"$1\"\n```\n", true, true),
        (true, "```bash\nif then fi\n```\n", true, false),
        (false, "```bash\nls \"$1\"\n```\n", false, false),
    ];
    for (later, reply, shellcheck_skipped, syntax_skipped) in cases {
        let s = setup(&[(CODE, Reply::Text(reply)), (HEAVY, Reply::Text(reply))], 1, &[]);
        let req = Request { shellcheck_later: later, tier: Some(ModelTier::Code), ..request(Task::Generate, "x") };
        let a = s.pipeline.run(&req, &s.consent, &mut Quiet).await.unwrap();
        let report = &a.check.as_ref().expect("checked").report;
        assert_eq!(report.shellcheck == ToolRun::Skipped, shellcheck_skipped, "later={later} {reply:?}");
        assert_eq!(report.syntax == ToolRun::Skipped, syntax_skipped, "later={later} {reply:?}: {:?}", report.syntax);
    }
}
