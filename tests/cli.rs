//! Runs the built binary against the fake Ollama on 127.0.0.1 and checks stdout, stderr,
//! exit codes and what the server received.
//!
//! Every test writes its own config into a tempdir and clears the environment variables
//! the binary reads, so neither the user's config nor the machine's GPU matters: VRAM is
//! read with a command probe (`echo "USED TOTAL"`).

#[path = "support/cli_harness.rs"]
mod cli_harness;
#[path = "support/fake_model.rs"]
mod fake_model;

use cli_harness::{Output, assert_contains, isolated_program, json_out, merge, run};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fake_model::{BUSY_ERROR, Behaviour, FakeModel, FakeServer as FakeOllama, GIB, Scenario};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_llm-router-lsp");
const FAST: &str = "llama3.2:11b-vision";
const CODE: &str = "qwen3-coder:30b-q4";
const HEAVY: &str = "llama3.1:70b";
/// 29 bytes, no code signal: the fast model.
const FAST_Q: &str = "what is the capital of France";
/// 49 bytes with "grep" and "errors": the code model.
const CODE_Q: &str = "grep all errors in /var/log/syslog and count them";
const ASK_SYSTEM: &str = "You are a concise assistant for Linux and programming questions.";

// ---------------------------------------------------------------------------------------
// Harness

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    fake: Option<FakeOllama>,
}

/// The three configured models, 1 GiB each (small enough never to warn with the default
/// probe reading of 1000 / 10000 MiB).
fn standard() -> Scenario {
    scenario(vec![
        FakeModel::new(FAST, "fast answer"),
        FakeModel::new(CODE, "code answer"),
        FakeModel::new(HEAVY, "heavy answer"),
    ])
}

fn scenario(models: Vec<FakeModel>) -> Scenario {
    Scenario { models, ..Default::default() }
}

/// `standard()` with `model` replaced.
fn standard_with(model: FakeModel) -> Scenario {
    let mut s = standard();
    for m in &mut s.models {
        if m.name == model.name {
            *m = model.clone();
        }
    }
    s
}

fn probe(reading: &str) -> Value {
    json!({"vram": {"probe": {"kind": "command", "command": ["echo", reading]}}})
}

impl Setup {
    /// A fake serving `scenario`, and a config (written as JSON, which is YAML) pointing at
    /// it, with the probe reading 1000 / 10000 MiB and `overrides` laid over it.
    fn new(scenario: Scenario, overrides: Value) -> Self {
        let fake = FakeOllama::spawn_in_thread(scenario);
        let mut s = Self::with_url(&fake.url(), overrides);
        s.fake = Some(fake);
        s
    }

    /// No fake: the config points at `url`.
    fn with_url(url: &str, overrides: Value) -> Self {
        let mut config = json!({"backends": {"local": {"kind": "ollama", "url": url, "busy_retry_ms": 50}}});
        merge(&mut config, probe("1000 10000"));
        merge(&mut config, overrides);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
        Self { dir, config: path, fake: None }
    }

    fn fake(&self) -> &FakeOllama {
        self.fake.as_ref().expect("this setup has a fake")
    }

    fn url(&self) -> String {
        self.fake().url()
    }

    /// The binary with `--config` and an isolated environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = isolated(self.dir.path());
        c.arg("--config").arg(&self.config).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        run(self.command(args), None)
    }

    fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        run(self.command(args), Some(stdin))
    }

    fn chats(&self) -> Vec<Value> {
        self.fake().chat_requests()
    }

    /// The model of each chat request, in order.
    fn chat_models(&self) -> Vec<String> {
        self.chats().iter().map(|r| r["model"].as_str().unwrap_or_default().to_string()).collect()
    }
}

/// The binary with no inherited config, locale, Ollama address or log filter.
fn isolated(dir: &Path) -> Command {
    isolated_program(BIN, dir)
}

fn user_messages(system: &str, user: &str) -> Value {
    json!([{"role": "system", "content": system}, {"role": "user", "content": user}])
}

// ---------------------------------------------------------------------------------------
// route

#[test]
fn route_prints_the_decision_and_calls_no_model() {
    // The exact wording of every reason, on the spec's keyword rule (`routing.mode:
    // keywords`); the intent classifier's reasons are in `route_explains_the_intent`.
    let s = Setup::new(standard(), json!({"routing": {"mode": "keywords"}}));
    // (args, stdin, stdout)
    let check = |args: &[&str], stdin: Option<&str>, expected: &str| {
        let mut full = vec!["route"];
        full.extend_from_slice(args);
        let o = run(s.command(&full), stdin);
        assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, expected, ""), "route {args:?}");
    };
    check(
        &[FAST_Q],
        None,
        "tier:    fast\nmodel:   llama3.2:11b-vision (backend local)\nreasons:\n  \
         - no code keywords, shell syntax or long text\n  - at most 29 tokens (29 bytes) ≤ 500\n",
    );
    check(
        &[CODE_Q],
        None,
        "tier:    code\nmodel:   qwen3-coder:30b-q4 (backend local)\nreasons:\n  \
         - keywords \"grep\", \"error\" in \"errors\"\n  - at most 49 tokens (49 bytes) ≤ 500\n",
    );
    check(
        &["ls", "--language", "shellscript"],
        None,
        "tier:    code\nmodel:   qwen3-coder:30b-q4 (backend local)\nreasons:\n  \
         - document language `shellscript`\n  - at most 2 tokens (2 bytes) ≤ 500\n",
    );
    check(
        &["ls", "--language", "markdown"],
        None,
        "tier:    fast\nmodel:   llama3.2:11b-vision (backend local)\nreasons:\n  \
         - no code keywords, shell syntax or long text\n  - at most 2 tokens (2 bytes) ≤ 500\n",
    );
    check(
        &["hi", "--tier", "heavy"],
        None,
        "tier:    heavy\nmodel:   llama3.1:70b (backend local)\nreasons:\n  - heavy tier requested\n",
    );
    check(
        &["list files larger than 100MB", "--task", "generate"],
        None,
        "tier:    code\nmodel:   qwen3-coder:30b-q4 (backend local)\nreasons:\n  \
         - generate: code generation goes to the code model\n  - at most 28 tokens (28 bytes) ≤ 500\n",
    );
    check(
        &["-"],
        Some("ps aux | grep nginx\n"),
        "tier:    code\nmodel:   qwen3-coder:30b-q4 (backend local)\nreasons:\n  \
         - keywords \"ps\", \"grep\"\n  - shell syntax: a pipe\n  - at most 20 tokens (20 bytes) ≤ 500\n",
    );
    // Long texts are counted with the tokenizer: " hello" is one token.
    let long = format!("hello{}", " hello".repeat(600));
    check(
        &["-"],
        Some(&long),
        "tier:    code\nmodel:   qwen3-coder:30b-q4 (backend local)\nreasons:\n  - 601 tokens > 500\n",
    );
    let huge = " hello".repeat(5000);
    check(
        &["-"],
        Some(&huge),
        "tier:    heavy\nmodel:   llama3.1:70b (backend local)\nreasons:\n  \
         - more than 4000 tokens (heavy threshold)\n",
    );
    assert_eq!(s.fake().requests(), vec![], "route must not contact the backend");
}

#[test]
fn route_explains_the_intent() {
    let s = Setup::new(standard(), json!({}));
    // (query, tier, how the reasons start)
    for (query, tier, start) in [
        (FAST_Q, "fast", "  - intent: general "),
        (CODE_Q, "code", "  - intent: code "),
        ("what program is holding port 5432 open?", "code", "  - intent: code "),
        ("Welche Fehler machen Anfänger beim Joggen?", "fast", "  - intent: general "),
    ] {
        let o = s.run(&["route", query]);
        assert_eq!(o.code, 0, "{o:?}");
        assert!(o.stdout.starts_with(&format!("tier:    {tier}\n")), "{query}: {o:?}");
        let reasons: Vec<&str> = o.stdout.lines().skip(3).collect();
        assert!(reasons[0].starts_with(start), "{query}: {o:?}");
        // The verdict's probability, two decimals.
        let p: f64 = reasons[0][start.len()..start.len() + 4].parse().unwrap();
        assert!((0.5..=1.0).contains(&p), "{query}: {o:?}");
        // The words that pushed the decision, quoted.
        assert!(reasons[0].contains(" (\""), "{query}: {o:?}");
        assert!(reasons.last().unwrap().contains("≤ 500"), "{query}: {o:?}");
    }
}

#[test]
fn route_eval_reports_accuracy_per_group() {
    let s = Setup::new(standard(), json!({}));
    let file = s.dir.path().join("dev.tsv");
    std::fs::write(
        &file,
        "label\tgroup\tlanguage\ttext\n\
         code\tlinux\t\tgrep all errors in /var/log/syslog and count them\n\
         general\tprose\t\twhat is the capital of France\n\
         general\tprose\tpython\tideas for a class reunion\n",
    )
    .unwrap();
    let o = s.run(&["route", "--eval", file.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_contains(
        &o.stdout,
        &[
            "accuracy: 2/3 = 66.7 %\n",
            "  linux                1/1     100.0 %\n",
            "  prose                1/2      50.0 %\n",
            "  general              1      1\n",
            "  code                 0      1\n",
            "misroutes: 1\n",
            "  [prose] expected general: ideas for a class reunion\n",
            "document language `python`",
        ],
    );
    // A broken file names the line.
    std::fs::write(&file, "label\tgroup\tlanguage\ttext\nmaybe\tx\t\ty\n").unwrap();
    let o = s.run(&["route", "--eval", file.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{o:?}");
    assert_contains(&o.stderr, &["dev.tsv: line 2: label \"maybe\" is neither `code` nor `general`"]);
    assert_eq!(s.fake().requests(), vec![]);
}

#[test]
fn route_json() {
    let s = Setup::new(standard(), json!({"routing": {"mode": "keywords"}}));
    let check = |args: &[&str], stdin: Option<&str>, expected: Value| {
        let mut full = vec!["route", "--json"];
        full.extend_from_slice(args);
        let o = run(s.command(&full), stdin);
        assert_eq!(o.code, 0, "{o:?}");
        let got: Value = serde_json::from_str(&o.stdout).unwrap();
        assert_eq!(got, expected, "route --json {args:?}");
    };
    check(
        &[FAST_Q],
        None,
        json!({"tier": "fast", "model": FAST, "backend": "local", "tokens": "at most 29 tokens (29 bytes)",
               "reasons": ["no code keywords, shell syntax or long text", "at most 29 tokens (29 bytes) ≤ 500"]}),
    );
    check(
        &[CODE_Q],
        None,
        json!({"tier": "code", "model": CODE, "backend": "local", "tokens": "at most 49 tokens (49 bytes)",
               "reasons": ["keywords \"grep\", \"error\" in \"errors\"", "at most 49 tokens (49 bytes) ≤ 500"]}),
    );
    check(
        &["ls", "--language", "shellscript"],
        None,
        json!({"tier": "code", "model": CODE, "backend": "local", "tokens": "at most 2 tokens (2 bytes)",
               "reasons": ["document language `shellscript`", "at most 2 tokens (2 bytes) ≤ 500"]}),
    );
    check(
        &["--tier", "heavy", "what"],
        None,
        json!({"tier": "heavy", "model": HEAVY, "backend": "local", "tokens": "at most 4 tokens (4 bytes)",
               "reasons": ["heavy tier requested"]}),
    );
    check(
        &["-"],
        Some("tar -xzvf backup.tar.gz -C /opt"),
        json!({"tier": "code", "model": CODE, "backend": "local", "tokens": "at most 31 tokens (31 bytes)",
               "reasons": ["keyword \"tar\"", "shell syntax: command-line flags", "at most 31 tokens (31 bytes) ≤ 500"]}),
    );
    assert_eq!(s.fake().requests(), vec![]);
}

#[test]
fn route_usage_errors_exit_2() {
    let s = Setup::with_url("http://127.0.0.1:9", json!({}));
    let check = |args: &[&str], stdin: Option<&str>, expected: &str| {
        let o = run(s.command(args), stdin);
        assert_eq!(o.code, 2, "{args:?}: {o:?}");
        assert_eq!(o.stdout, "", "{args:?}");
        assert_contains(&o.stderr, &[expected]);
    };
    check(&["route", "x", "--tier", "huge"], None, "unknown tier `huge`");
    check(&["route", "x", "--task", "sing"], None, "unknown task `sing`");
    check(&["route", "-"], Some("  \n"), "the query from stdin is empty");
    check(&["route"], None, "<QUERY>");
    check(&["frobnicate"], None, "frobnicate");
    check(&["ask", "x", "--yes", "--fast-on-warning"], None, "cannot be used with");
}

/// A backend that is not on this machine: only routed, never contacted.
#[test]
fn remote_backend_is_routed_and_shown_without_contact() {
    let s = Setup::with_url(
        "http://127.0.0.1:9",
        json!({"backends": {"gpu-box": {"kind": "ollama", "url": "http://10.255.255.1:11434"}},
               "models": {"heavy_model": {"backend": "gpu-box"}}}),
    );
    let o = s.run(&["route", "--tier", "heavy", "hi"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout,
        "tier:    heavy\nmodel:   llama3.1:70b (backend gpu-box)\nreasons:\n  - heavy tier requested\n"
    );
    let o = s.run(&["route", FAST_Q]);
    assert_contains(&o.stdout, &["(backend local)"]);
    let o = s.run(&["config", "show"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_contains(
        &o.stdout,
        &[
            "  gpu-box:\n    kind: ollama\n    url: http://10.255.255.1:11434\n    busy_retry_ms: 1000\n",
            "    backend: gpu-box\n",
        ],
    );
    let o = s.run(&["config", "check"]);
    assert_eq!((o.code, o.stdout), (0, format!("{}: OK\n", s.config.display())));
}

// ---------------------------------------------------------------------------------------
// ask, explain, generate

#[test]
fn ask_streams_the_answer() {
    let s = Setup::new(
        standard_with(FakeModel::new(FAST, "Paris is the capital of France.")),
        json!({"routing": {"mode": "keywords"}}),
    );
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "Paris is the capital of France.\n"), "{o:?}");
    assert_contains(
        &o.stderr,
        &[
            "llm-router-lsp: fast model llama3.2:11b-vision (no code keywords, shell syntax or long text; at most 29 tokens (29 bytes) ≤ 500)\n",
            "llm-router-lsp: answered by llama3.2:11b-vision in ",
        ],
    );
    let chats = s.chats();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0]["model"], FAST);
    assert_eq!(chats[0]["stream"], true);
    assert_eq!(chats[0]["messages"], user_messages(ASK_SYSTEM, FAST_Q));
}

#[test]
fn answers_are_bounded_and_say_so() {
    // The token bound goes to Ollama as num_predict; a cut answer says so. (The fake
    // streams three words per chunk and counts a chunk as a token.)
    let reply = "one two three four five six";
    let s = Setup::new(
        standard_with(FakeModel::new(FAST, reply)),
        json!({"answers": {"max_tokens": {"ask": 1}}, "models": {"fast_model": {"max_tokens": 100}}}),
    );
    let o = s.run(&["ask", "--tier", "fast", FAST_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!o.stdout.is_empty() && reply.starts_with(o.stdout.trim_end()) && o.stdout.trim_end() != reply, "{o:?}");
    assert_contains(&o.stderr, &["The answer was cut at 1 tokens (answers.max_tokens); it may be incomplete."]);
    assert_eq!(s.chats()[0]["options"]["num_predict"], 1);
    // A tier's own cap lowers the task's bound; an answer within it is not said to be cut.
    let s =
        Setup::new(standard_with(FakeModel::new(FAST, "short")), json!({"models": {"fast_model": {"max_tokens": 2}}}));
    let o = s.run(&["ask", "--tier", "fast", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "short\n"), "{o:?}");
    assert!(!o.stderr.contains("cut at"), "{o:?}");
    assert_eq!(s.chats()[0]["options"]["num_predict"], 2);
    // A model stuck in a loop is stopped, and the user is told.
    let looping = FakeModel::new(FAST, "Here goes. ").with_behaviour(Behaviour::Loop);
    let s = Setup::new(standard_with(looping), json!({}));
    let o = s.run(&["ask", "--tier", "fast", FAST_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with("Here goes. I will say this again. "), "{o:?}");
    assert!(o.stdout.len() < 2000, "stopped soon after the loop began: {} bytes", o.stdout.len());
    assert_contains(&o.stderr, &["The model kept repeating itself; the answer was ended there."]);
}

#[test]
fn ask_keeps_a_trailing_newline_and_reads_stdin() {
    let s = Setup::new(standard_with(FakeModel::new(CODE, "line one\nline two\n")), json!({}));
    let o = s.run_stdin(&["ask", "-"], "why does grep fail\n");
    assert_eq!((o.code, o.stdout.as_str()), (0, "line one\nline two\n"), "{o:?}");
    assert_eq!(s.chat_models(), [CODE]);
    assert_eq!(s.chats()[0]["messages"], user_messages(ASK_SYSTEM, "why does grep fail\n"));
}

#[test]
fn explain_sends_the_explain_prompt() {
    let s = Setup::new(standard_with(FakeModel::new(CODE, "Lists all files, long format.")), json!({}));
    let o = s.run(&["explain", "ls -la", "--language", "shellscript"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "Lists all files, long format.\n"), "{o:?}");
    let chats = s.chats();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0]["model"], CODE);
    let messages = chats[0]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    assert_contains(messages[0]["content"].as_str().unwrap(), &["You explain shell commands and code"]);
    assert_eq!(messages[1], json!({"role": "user", "content": "Explain this shellscript:\n\nls -la"}));
}

#[test]
fn generate_prints_only_the_code() {
    // (reply, stdout)
    let check = |reply: &str, expected: &str| {
        let s = Setup::new(standard_with(FakeModel::new(CODE, reply)), json!({}));
        let o = s.run(&["generate", "list files larger than 100MB", "--language", "shellscript"]);
        assert_eq!((o.code, o.stdout.as_str()), (0, expected), "reply {reply:?}: {o:?}");
        assert_contains(&o.stderr, &["answered by qwen3-coder:30b-q4"]);
        let chats = s.chats();
        assert_eq!(chats.len(), 1);
        assert_eq!(chats[0]["model"], CODE);
        assert_contains(
            chats[0]["messages"][0]["content"].as_str().unwrap(),
            &["in shellscript", "one fenced code block"],
        );
        assert_eq!(chats[0]["messages"][1]["content"], "list files larger than 100MB");
    };
    check(
        "Here is the command:\n```bash\nfind . -type f -size +100M\n```\nIt lists big files.\n```\nsecond block\n```\n",
        "find . -type f -size +100M\n",
    );
    check("```sh\nls\ndu -sh *\n```", "ls\ndu -sh *\n");
    // No fence: the whole answer, trimmed, as a line.
    check("  find . -size +100M  ", "find . -size +100M\n");
}

// ---------------------------------------------------------------------------------------
// infer --json

#[test]
fn infer_json_fields() {
    let reply = "a b c d e f";
    let s = Setup::new(
        standard_with(FakeModel::new(FAST, reply).with_logprobs(&[-0.1, -0.3])),
        json!({"routing": {"mode": "keywords"}}),
    );
    let o = s.run(&["infer", "--json", FAST_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    let mut v = json_out(&o);
    let time = v.as_object_mut().unwrap().remove("processing_time").expect("processing_time");
    assert!(time.as_f64().is_some_and(|t| (0.0..30.0).contains(&t)), "{time}");
    let confidence = v.as_object_mut().unwrap().remove("confidence").unwrap();
    // Two chunks ("a b c ", "d e f"), logprobs -0.1 and -0.3: exp(-0.2).
    assert!((confidence.as_f64().unwrap() - (-0.2f64).exp()).abs() < 1e-9, "{confidence}");
    assert_eq!(
        v,
        json!({"response": reply, "model_used": FAST, "vram_usage": 0.1, "tier": "fast",
               "reasons": ["no code keywords, shell syntax or long text", "at most 29 tokens (29 bytes) ≤ 500"]})
    );
    assert_eq!(s.chats()[0]["logprobs"], true);
}

#[test]
fn infer_confidence_is_null_without_logprobs() {
    let s = Setup::new(standard(), json!({}));
    let o = s.run(&["infer", "--json", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = json_out(&o);
    assert_eq!(v["confidence"], Value::Null);
    assert_eq!(v["response"], "code answer");
    assert_eq!(v["model_used"], CODE);
    assert_eq!(v["tier"], "code");
    assert_eq!(v["vram_usage"], 0.1);
    assert!(v.get("fallback").is_none(), "{v}");
}

// ---------------------------------------------------------------------------------------
// keep_alive

#[test]
fn keep_alive_per_tier_on_the_wire() {
    // (config overrides, tier, model, keep_alive)
    let check = |overrides: Value, tier: &str, model: &str, keep_alive: i64| {
        let s = Setup::new(standard(), overrides.clone());
        let o = s.run(&["ask", "--tier", tier, "hello"]);
        assert_eq!(o.code, 0, "{tier} {overrides}: {o:?}");
        let chats = s.chats();
        assert_eq!(chats.len(), 1);
        assert_eq!(
            (chats[0]["model"].as_str().unwrap(), &chats[0]["keep_alive"]),
            (model, &json!(keep_alive)),
            "{tier} {overrides}"
        );
    };
    check(json!({}), "fast", FAST, -1);
    check(json!({}), "code", CODE, 600);
    check(json!({}), "heavy", HEAVY, 300);
    let custom = json!({"models": {"fast_model": {"idle_unload": 120}, "code_model": {"idle_unload": 42},
                                   "heavy_model": {"idle_unload": null}}});
    check(custom.clone(), "fast", FAST, 120);
    check(custom.clone(), "code", CODE, 42);
    check(custom, "heavy", HEAVY, -1);
}

// ---------------------------------------------------------------------------------------
// failures and fallbacks

fn without(name: &str) -> Scenario {
    let mut s = standard();
    s.models.retain(|m| m.name != name);
    s
}

/// The code model's estimate is what the VRAM check uses for a model that is not pulled;
/// keep it small so these tests are about the fallback, not the warning.
fn small_code_estimate() -> Value {
    json!({"models": {"code_model": {"vram_usage": "1GB"}}})
}

#[test]
fn missing_model_falls_back_to_fast() {
    let s = Setup::new(without(CODE), small_code_estimate());
    let o = s.run(&["infer", "--json", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = json_out(&o);
    let url = s.url();
    let cause = format!("model {CODE} is not available at {url}: run `ollama pull {CODE}` or `llm-router-lsp pull`");
    assert_eq!(v["response"], "fast answer");
    assert_eq!(v["model_used"], FAST);
    assert_eq!(v["tier"], "fast");
    assert_eq!(v["fallback"], format!("{CODE} (code) failed: {cause}; {FAST} (fast) answered instead"));
    assert_eq!(
        v["reasons"].as_array().unwrap().last().unwrap(),
        &json!(format!("fallback from {CODE} to {FAST}: {cause}"))
    );
    assert_eq!(s.chat_models(), [CODE, FAST]);
    assert_contains(&o.stderr, &[&format!("llm-router-lsp: {CODE} failed ({cause}); {FAST} answers instead")]);

    let o = s.run(&["ask", CODE_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "fast answer\n"), "{o:?}");
}

#[test]
fn missing_model_without_fallback_fails() {
    let s =
        Setup::new(without(CODE), json!({"models": {"fallback_to_fast": false, "code_model": {"vram_usage": "1GB"}}}));
    let o = s.run(&["ask", CODE_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_contains(
        &o.stderr,
        &[&format!("llm-router-lsp: model {CODE} is not available at {}: run `ollama pull {CODE}`", s.url())],
    );
    assert_eq!(s.chat_models(), [CODE]);

    let o = s.run(&["infer", "--json", CODE_Q]);
    assert_eq!(o.code, 1, "{o:?}");
    let v = json_out(&o);
    assert_contains(v["error"].as_str().unwrap(), &[&format!("ollama pull {CODE}")]);
    assert_eq!(v["fallback"], "none: fallback_to_fast is off");
}

fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn unreachable_backend() {
    let url = dead_url();
    let s = Setup::with_url(&url, json!({}));
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_contains(
        &o.stderr,
        &[&format!("llm-router-lsp: cannot reach Ollama at {url}: start it with `ollama serve`")],
    );

    // A code query falls back to the fast model, which is just as unreachable.
    let s = Setup::with_url(&url, json!({"models": {"vram_monitoring": false}}));
    let o = s.run(&["infer", "--json", CODE_Q]);
    assert_eq!(o.code, 1, "{o:?}");
    let v = json_out(&o);
    assert_contains(v["error"].as_str().unwrap(), &["ollama serve", &url]);
    assert_contains(
        v["fallback"].as_str().unwrap(),
        &[&format!("{CODE} (code) failed"), &format!("{FAST} (fast) took over and failed too")],
    );
    assert_contains(&o.stderr, &["ollama serve", &url]);
}

#[test]
fn code_model_stall_falls_back_to_heavy() {
    let stall = FakeModel::new(CODE, "never").with_behaviour(Behaviour::Stall { after_chunks: 0 });
    let s = Setup::new(standard_with(stall), json!({"models": {"code_model": {"timeout": 1}}}));
    let o = s.run(&["infer", "--json", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = json_out(&o);
    assert_eq!(
        (v["response"].as_str(), v["model_used"].as_str(), v["tier"].as_str()),
        (Some("heavy answer"), Some(HEAVY), Some("heavy"))
    );
    assert_eq!(
        v["fallback"],
        format!(
            "{CODE} (code) failed: {CODE} did not start answering within 1 s (timeout of its tier); {HEAVY} (heavy) answered instead"
        )
    );
    assert_eq!(s.chat_models(), [CODE, HEAVY]);
    assert_eq!(s.chats()[1]["keep_alive"], 300);
}

#[test]
fn stall_mid_answer_ends_the_partial_line_before_the_heavy_answer() {
    let stall = FakeModel::new(CODE, "")
        .with_chunks(&["partial ", "rest"])
        .with_behaviour(Behaviour::Stall { after_chunks: 1 });
    let s = Setup::new(standard_with(stall), json!({"models": {"code_model": {"timeout": 1}}}));
    let o = s.run(&["ask", CODE_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "partial \nheavy answer\n"), "{o:?}");
    assert_contains(
        &o.stderr,
        &[&format!("{CODE} failed ({CODE} stalled: no output for 1 s); {HEAVY} answers instead")],
    );
}

#[test]
fn stall_without_heavy_fallback_fails() {
    // (after_chunks, message)
    let check = |after_chunks: usize, expected: &str| {
        let stall = FakeModel::new(CODE, "")
            .with_chunks(&["partial ", "rest"])
            .with_behaviour(Behaviour::Stall { after_chunks });
        let s = Setup::new(
            standard_with(stall),
            json!({"models": {"code_model": {"timeout": 1}, "heavy_model": {"fallback": false}}}),
        );
        let o = s.run(&["infer", "--json", CODE_Q]);
        assert_eq!(o.code, 1, "{o:?}");
        let v = json_out(&o);
        assert_eq!(v, json!({"error": expected, "fallback": "none: heavy_model.fallback is off"}));
        assert_contains(&o.stderr, &[&format!("llm-router-lsp: {expected}\n")]);
        assert_eq!(s.chat_models(), [CODE]);
    };
    check(0, &format!("{CODE} did not start answering within 1 s (timeout of its tier)"));
    check(1, &format!("{CODE} stalled: no output for 1 s"));
}

#[test]
fn broken_streams_fail_clearly() {
    // (behaviour of the fast model, stdout, message)
    let check = |behaviour: Behaviour, stdout: &str, expected: &dyn Fn(&str) -> String| {
        let model = FakeModel::new(FAST, "").with_chunks(&["The answer ", "is 42."]).with_behaviour(behaviour.clone());
        let s = Setup::new(standard_with(model), json!({}));
        let o = s.run(&["ask", FAST_Q]);
        assert_eq!((o.code, o.stdout.as_str()), (1, stdout), "{behaviour:?}: {o:?}");
        assert_contains(&o.stderr, &[&format!("llm-router-lsp: {}", expected(&s.url()))]);
        assert!(!o.stderr.contains("answers instead"), "the fast model has no fallback: {o:?}");
        assert!(!o.stderr.contains('\x1b'), "no terminal, no colours: {o:?}");
    };
    check(
        Behaviour::ErrorLine { after_chunks: 1, message: "CUDA error: out of memory".into() },
        "The answer \n",
        &|_| format!("{FAST} reported an error: CUDA error: out of memory\n"),
    );
    check(Behaviour::Malformed { after_chunks: 1 }, "The answer \n", &|_| {
        format!(
            "{FAST} sent a malformed line: \"{{\\\"model\\\":\\\"{FAST}\\\",\\\"message\\\":{{\\\"role\\\":\\\"assistant\\\",\\\"content\\\":\""
        )
    });
    check(Behaviour::Disconnect { after_chunks: 1 }, "The answer \n", &|url| {
        format!("connection to {url} was lost while {FAST} was answering")
    });
    check(Behaviour::ErrorLine { after_chunks: 0, message: "boom".into() }, "", &|_| {
        format!("{FAST} reported an error: boom\n")
    });
    check(Behaviour::Status { status: 500, error: "llama runner process has terminated".into() }, "", &|url| {
        format!("{url} answered HTTP 500: llama runner process has terminated\n")
    });
    // Regressions: these were reported as a lost connection.
    check(Behaviour::InvalidUtf8 { after_chunks: 1 }, "The answer \n", &|_| {
        format!("{FAST} sent a malformed line: \"(a line that is not UTF-8)\"\n")
    });
    check(Behaviour::Html, "", &|url| {
        format!("{url} answered HTTP 200: answered with a web page, not Ollama's API: check the backend's url\n")
    });
}

#[test]
fn broken_code_stream_with_fallback_off_and_on() {
    let broken = || {
        FakeModel::new(CODE, "")
            .with_chunks(&["x ", "y"])
            .with_behaviour(Behaviour::ErrorLine { after_chunks: 1, message: "oops".into() })
    };
    let s = Setup::new(standard_with(broken()), json!({"models": {"heavy_model": {"fallback": false}}}));
    let o = s.run(&["ask", CODE_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (1, "x \n"), "{o:?}");
    assert_contains(&o.stderr, &[&format!("llm-router-lsp: {CODE} reported an error: oops\n")]);

    let s = Setup::new(standard_with(broken()), json!({}));
    let o = s.run(&["infer", "--json", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = json_out(&o);
    assert_eq!(v["model_used"], HEAVY);
    assert_eq!(
        v["fallback"],
        format!("{CODE} (code) failed: {CODE} reported an error: oops; {HEAVY} (heavy) answered instead")
    );
}

#[test]
fn busy_once_is_retried() {
    let s = Setup::new(
        standard_with(FakeModel::new(FAST, "after the wait").with_behaviour(Behaviour::BusyOnce)),
        json!({}),
    );
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "after the wait\n"), "{o:?}");
    assert_eq!(s.chat_models(), [FAST, FAST]);
    assert_eq!(s.chats()[0], s.chats()[1], "the retry repeats the request");
}

#[test]
fn always_busy_fails() {
    let busy = FakeModel::new(FAST, "x").with_behaviour(Behaviour::Status { status: 503, error: BUSY_ERROR.into() });
    let s = Setup::new(standard_with(busy), json!({}));
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_contains(
        &o.stderr,
        &[&format!("llm-router-lsp: {} is busy (its request queue is full); try again in a moment\n", s.url())],
    );
    assert_eq!(s.chat_models(), [FAST, FAST], "one retry, no more");
}

// ---------------------------------------------------------------------------------------
// VRAM warning

fn high_vram() -> Value {
    probe("9000 10000")
}

#[test]
fn vram_warning_with_flags() {
    let s = Setup::new(standard(), high_vram());
    let o = s.run(&["ask", "--yes", CODE_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "code answer\n"), "{o:?}");
    assert_contains(
        &o.stderr,
        &["llm-router-lsp: Current VRAM usage: 90.0% (about 100.2% after loading it) (--yes: continuing)\n"],
    );
    assert_eq!(s.chat_models(), [CODE]);

    let s = Setup::new(standard(), high_vram());
    let o = s.run(&["infer", "--fast-on-warning", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = json_out(&o);
    assert_eq!(
        (v["model_used"].as_str(), v["tier"].as_str(), v["vram_usage"].as_f64()),
        (Some(FAST), Some("fast"), Some(0.9))
    );
    assert_eq!(v["reasons"].as_array().unwrap().last().unwrap(), "fast model chosen at the VRAM warning");
    assert_contains(&o.stderr, &["(--fast-on-warning: using the fast model)"]);
    assert_eq!(s.chat_models(), [FAST]);
}

#[test]
fn vram_warning_without_terminal_is_a_usage_error() {
    let s = Setup::new(standard(), high_vram());
    let o = s.run(&["ask", CODE_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (2, ""), "{o:?}");
    assert_contains(
        &o.stderr,
        &[
            "llm-router-lsp: Current VRAM usage: 90.0% (about 100.2% after loading it)\nSwitching to qwen3-coder:30b-q4 may affect other applications.\nContinue anyway?\n",
            "There is no terminal to ask on: pass --yes to load qwen3-coder:30b-q4 anyway, or --fast-on-warning to use the fast model.",
        ],
    );
    assert_eq!(s.chats(), Vec::<Value>::new(), "nothing is loaded without consent");
    let o = s.run(&["infer", "--json", CODE_Q]);
    assert_eq!(o.code, 2, "{o:?}");
    let v = json_out(&o);
    assert_eq!(v["fallback"], Value::Null);
    assert_contains(v["error"].as_str().unwrap(), &["Current VRAM usage: 90.0%", "pass --yes"]);
    assert_eq!(s.chats(), Vec::<Value>::new());

    // The fast model needs no consent.
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "fast answer\n"), "{o:?}");

    // German.
    let s = Setup::new(standard(), json!({"language": "de", "vram": {"probe": {"command": ["echo", "9000 10000"]}}}));
    let o = s.run(&["ask", CODE_Q]);
    assert_eq!(o.code, 2, "{o:?}");
    assert_contains(
        &o.stderr,
        &[
            "Aktuelle VRAM-Nutzung: 90,0 % (etwa 100,2 % nach dem Laden)\nWechsel zu qwen3-coder:30b-q4 könnte andere Anwendungen beeinträchtigen.",
        ],
    );
    assert_eq!(s.chats(), Vec::<Value>::new());
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs `args` on a pseudo-terminal (util-linux `script`) and types `typed` into it.
/// stdout and stderr arrive together, with `\r\n` turned back into `\n`. `None` when
/// `script` is not installed.
fn run_on_pty(s: &Setup, args: &[&str], typed: &str) -> Option<Output> {
    run_shell_on_pty(s, "", args, typed)
}

/// [`run_on_pty`] with a shell pipeline (`before`, e.g. `printf x |`) ahead of the binary.
fn run_shell_on_pty(s: &Setup, before: &str, args: &[&str], typed: &str) -> Option<Output> {
    if Command::new("script").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        eprintln!("skipped: util-linux `script` is not installed");
        return None;
    }
    let mut line = format!("{before} {} --config {}", shell_quote(BIN), shell_quote(s.config.to_str().unwrap()));
    for a in args {
        line.push(' ');
        line.push_str(&shell_quote(a));
    }
    let mut c = isolated_program("script", s.dir.path());
    c.args(["-qec", &line, "/dev/null"]).env("SHELL", "/bin/sh");
    let mut o = run(c, Some(typed));
    o.stdout = o.stdout.replace("\r\n", "\n");
    Some(o)
}

#[test]
fn vram_warning_asks_on_the_terminal() {
    let s = Setup::new(standard(), high_vram());
    let Some(o) = run_on_pty(&s, &["ask", CODE_Q], "3\n") else {
        return;
    };
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(
        &o.stdout,
        &[
            "VRAM warning: Current VRAM usage: 90.0% (about 100.2% after loading it)\nSwitching to qwen3-coder:30b-q4 may affect other applications.\n\nContinue anyway?\n",
            "1) Continue  2) Use fast model  3) Cancel [1-3]: ",
            "llm-router-lsp: Cancelled: VRAM warning confirmed by user\n",
        ],
    );
    assert_eq!(s.chats(), Vec::<Value>::new());

    let Some(o) = run_on_pty(&s, &["ask", CODE_Q], "2\n") else {
        return;
    };
    assert_eq!(o.code, 0, "{o:?}");
    assert_contains(&o.stdout, &["\nfast answer\n", "answered by llama3.2:11b-vision"]);
    assert_eq!(s.chat_models(), [FAST]);

    let Some(o) = run_on_pty(&s, &["ask", CODE_Q], "maybe\n1\n") else {
        return;
    };
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout.matches("[1-3]: ").count(), 2, "asks again after a wrong answer: {o:?}");
    assert_contains(&o.stdout, &["\ncode answer\n"]);
    assert_eq!(s.chat_models(), [FAST, CODE]);
}

#[test]
fn vram_warning_asks_on_the_terminal_when_the_query_is_piped() {
    let s = Setup::new(standard(), high_vram());
    let Some(o) = run_shell_on_pty(&s, &format!("printf %s {} |", shell_quote(CODE_Q)), &["ask", "-"], "1\n") else {
        return;
    };
    assert_eq!(o.code, 0, "{o:?}");
    assert_contains(&o.stdout, &["Continue anyway?\n", "\ncode answer\n"]);
    assert_eq!(s.chat_models(), [CODE]);
    assert_eq!(s.chats()[0]["messages"][1]["content"], CODE_Q);
}

#[test]
fn vram_warning_in_german_on_the_terminal() {
    let s = Setup::new(standard(), json!({"language": "de", "vram": {"probe": {"command": ["echo", "9000 10000"]}}}));
    let Some(o) = run_on_pty(&s, &["ask", CODE_Q], "3\n") else {
        return;
    };
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(
        &o.stdout,
        &[
            "VRAM-Warnung: Aktuelle VRAM-Nutzung: 90,0 %",
            "Wechsel zu qwen3-coder:30b-q4 könnte andere Anwendungen beeinträchtigen.\n\nTrotzdem fortfahren?\n",
            "1) Fortfahren  2) Schnelles Modell verwenden  3) Abbrechen [1-3]: ",
            "llm-router-lsp: Abgebrochen: VRAM-Warnung vom Benutzer bestätigt\n",
        ],
    );
    assert_eq!(s.chats(), Vec::<Value>::new());
}

#[test]
fn heavy_fallback_is_checked_for_vram_too() {
    // The code model (1 GiB: 60 %) stalls; the heavy one (4 GiB: 91 %) needs consent.
    let sc = || {
        let mut sc = standard_with(FakeModel::new(CODE, "").with_behaviour(Behaviour::Stall { after_chunks: 0 }));
        sc.models[2] = FakeModel::new(HEAVY, "heavy answer").with_size(4 * GIB);
        sc
    };
    let config = || {
        let mut c = probe("5000 10000");
        merge(&mut c, json!({"models": {"code_model": {"timeout": 1}}}));
        c
    };
    let s = Setup::new(sc(), config());
    let o = s.run(&["infer", CODE_Q]);
    assert_eq!(o.code, 2, "{o:?}");
    assert_contains(
        &o.stderr,
        &["Switching to llama3.1:70b may affect other applications.", "There is no terminal to ask on"],
    );
    assert_eq!(s.chat_models(), [CODE]);

    let s = Setup::new(sc(), config());
    let o = s.run(&["infer", "--yes", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(json_out(&o)["model_used"], HEAVY);
    assert_eq!(s.chat_models(), [CODE, HEAVY]);

    let s = Setup::new(sc(), config());
    let o = s.run(&["infer", "--fast-on-warning", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = json_out(&o);
    assert_eq!((v["model_used"].as_str(), v["tier"].as_str()), (Some(FAST), Some("fast")));
    assert_eq!(
        v["fallback"],
        format!(
            "{CODE} (code) failed: {CODE} did not start answering within 1 s (timeout of its tier); \
             {FAST} (fast) answered instead; it was chosen at the VRAM warning before {HEAVY} (heavy)"
        )
    );
    assert_eq!(s.chat_models(), [CODE, FAST]);
}

#[test]
fn vram_probe_failure_or_monitoring_off_does_not_block() {
    // (config, stderr note, vram_usage)
    let check = |overrides: Value, note: &str| {
        let s = Setup::new(standard(), overrides);
        let o = s.run(&["infer", CODE_Q]);
        assert_eq!(o.code, 0, "{o:?}");
        let v = json_out(&o);
        assert_eq!((v["model_used"].as_str(), v["vram_usage"].as_f64()), (Some(CODE), Some(0.0)));
        assert_contains(&o.stderr, &[note]);
    };
    check(
        json!({"vram": {"probe": {"command": ["false"]}}}),
        "llm-router-lsp: VRAM probe failed: VRAM command `false` failed",
    );
    check(
        json!({"vram": {"probe": {"command": ["echo", "lots"]}}}),
        "printed \"lots\\n\"; expected `USED TOTAL` in MiB per line",
    );
    check(
        json!({"models": {"vram_monitoring": false}}),
        "llm-router-lsp: VRAM monitoring is off (models.vram_monitoring)\n",
    );
    check(json!({"vram": {"probe": {"kind": "none"}}}), "llm-router-lsp: VRAM 0.0%");
}

#[test]
fn predicted_usage_warns_unless_the_model_is_loaded() {
    // 5000 of 10000 MiB used (50 %), plus a 4 GiB model: about 91 %.
    let big_code = || standard_with(FakeModel::new(CODE, "code answer").with_size(4 * GIB));
    let s = Setup::new(big_code(), probe("5000 10000"));
    let o = s.run(&["ask", CODE_Q]);
    assert_eq!(o.code, 2, "{o:?}");
    assert_contains(&o.stderr, &["Current VRAM usage: 50.0% (about 91.0% after loading it)"]);
    assert_eq!(s.chats(), Vec::<Value>::new());

    let mut loaded = big_code();
    loaded.loaded = vec![CODE.into()];
    let s = Setup::new(loaded, probe("5000 10000"));
    let o = s.run(&["ask", CODE_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "code answer\n"), "{o:?}");
    assert_contains(&o.stderr, &["llm-router-lsp: VRAM 50.0%, 50.0% after loading\n"]);
    assert_eq!(s.chat_models(), [CODE]);

    // A smaller model stays below the threshold.
    let s = Setup::new(standard(), probe("5000 10000"));
    let o = s.run(&["ask", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_contains(&o.stderr, &["llm-router-lsp: VRAM 50.0%, 60.2% after loading\n"]);
}

// ---------------------------------------------------------------------------------------
// vram, doctor, pull, unload

#[test]
fn vram_shows_the_command_probe() {
    let s = Setup::with_url("http://127.0.0.1:9", json!({}));
    let o = s.run(&["vram"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_contains(
        &o.stdout,
        &[
            "command: GPU 0: 1000 / 10000 MiB (10.0%)\ncommand: total: 1000 / 10000 MiB (10.0%)\nconfigured probe (command): usage 10.0%\n",
        ],
    );
    let o = s.run(&["vram", "--json"]);
    assert_eq!(o.code, 0, "{o:?}");
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["configured"]["kind"], "command");
    assert_eq!(v["configured"]["result"]["usage"], 0.1);
    assert_eq!(
        v["probes"]["command"]["reading"]["devices"][0],
        json!({"name": "GPU 0", "used_bytes": 1000u64 << 20, "total_bytes": 10000u64 << 20})
    );

    let s = Setup::with_url("http://127.0.0.1:9", json!({"vram": {"probe": {"command": ["false"]}}}));
    let o = s.run(&["vram"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_contains(&o.stdout, &["configured probe (command): failed: VRAM command `false` failed"]);
}

#[test]
fn doctor_all_pulled() {
    let s = Setup::new(standard(), json!({}));
    let o = s.run(&["doctor"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "{o:?}");
    let expected = format!(
        "config: {}: OK\nbackend local ({}): reachable, version 0.13.0\n  fast model {FAST}: pulled (1.1 GB)\n  \
         code model {CODE}: pulled (1.1 GB)\n  heavy model {HEAVY}: pulled (1.1 GB)\nVRAM probe command: usage 10.0%\n\
         preload: on (lsp.preload): in the editor, the model a selection goes to loads while you pick an action, and \
         the closing message says when it was already warm\n",
        s.config.display(),
        s.url()
    );
    // Then the safety tools, which depend on what this machine has installed.
    let rest = o.stdout.strip_prefix(&expected).unwrap_or_else(|| panic!("{expected:?} does not start {o:?}"));
    for line in rest.lines() {
        assert!(line.starts_with("safety: ") && !line.contains("PROBLEM"), "{line:?} in {o:?}");
    }
    assert_eq!(s.chats(), Vec::<Value>::new(), "doctor loads nothing");
}

#[test]
fn doctor_reports_problems() {
    let s = Setup::new(without(HEAVY), json!({}));
    let o = s.run(&["doctor"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(
        &o.stdout,
        &[&format!("  heavy model {HEAVY}: PROBLEM: not pulled; run `ollama pull {HEAVY}` or `llm-router-lsp pull`\n")],
    );
    assert_contains(&o.stderr, &["llm-router-lsp: 1 problem(s) found; see above\n"]);

    let url = dead_url();
    let s = Setup::with_url(&url, json!({"vram": {"probe": {"command": ["false"]}}}));
    let o = s.run(&["doctor"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(
        &o.stdout,
        &["backend local: PROBLEM: cannot reach Ollama at", &url, "ollama serve", "VRAM probe command: PROBLEM: "],
    );
    assert_contains(&o.stderr, &["2 problem(s) found"]);
}

#[test]
fn pull_configured_models() {
    let mut sc = without(CODE);
    sc.pullable = vec![FakeModel::new(CODE, "code answer")];
    let s = Setup::new(sc, json!({}));
    let o = s.run(&["pull"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, ""), "{o:?}");
    assert_contains(
        &o.stderr,
        &[&format!("pulled {FAST}\n"), &format!("pulled {CODE}\n"), &format!("pulled {HEAVY}\n")],
    );
    let mut pulled = s.fake().pulled();
    pulled.sort();
    assert_eq!(pulled, [HEAVY, FAST, CODE]);
    let pulls: Vec<Value> =
        s.fake().requests().into_iter().filter(|r| r.path == "/api/pull").map(|r| r.body["model"].clone()).collect();
    assert_eq!(pulls, [FAST, CODE, HEAVY]);
    // Afterwards the code model answers.
    let o = s.run(&["ask", CODE_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "code answer\n"), "{o:?}");
}

#[test]
fn pull_one_model() {
    let mut sc = standard();
    sc.pullable = vec![FakeModel::new("tinyllama", "hi")];
    let s = Setup::new(sc, json!({}));
    let o = s.run(&["pull", "tinyllama"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_contains(&o.stderr, &["pulled tinyllama\n"]);
    assert!(s.fake().pulled().contains(&"tinyllama".to_string()));

    let o = s.run(&["pull", "no-such-model:7b"]);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_contains(
        &o.stderr,
        &[
            "llm-router-lsp: pulling no-such-model:7b failed: no-such-model:7b reported an error: pull model manifest: file does not exist\n",
            "llm-router-lsp: could not pull: no-such-model:7b\n",
        ],
    );
    assert!(!s.fake().pulled().contains(&"no-such-model:7b".to_string()));
}

#[test]
fn unload_loaded_configured_models() {
    let mut sc = standard();
    sc.loaded = vec![FAST.into(), HEAVY.into()];
    let s = Setup::new(sc, json!({}));
    let o = s.run(&["unload"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, format!("unloaded {FAST}\nunloaded {HEAVY}\n").as_str()), "{o:?}");
    assert_eq!(s.fake().loaded(), Vec::<String>::new());
    let chats = s.chats();
    assert_eq!(chats.len(), 2);
    for (chat, model) in chats.iter().zip([FAST, HEAVY]) {
        assert_eq!((&chat["model"], &chat["messages"], &chat["keep_alive"]), (&json!(model), &json!([]), &json!(0)));
    }

    let o = s.run(&["unload"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "no configured model is loaded\n"), "{o:?}");
    assert_eq!(s.chats().len(), 2);
}

#[test]
fn unload_one_model() {
    let mut sc = standard();
    sc.models.push(FakeModel::new("mistral:7b", "x"));
    sc.loaded = vec![FAST.into(), "mistral:7b".into()];
    let s = Setup::new(sc, json!({}));
    let o = s.run(&["unload", "mistral:7b"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "unloaded mistral:7b\n"), "{o:?}");
    assert_eq!(s.fake().loaded(), [FAST]);
    assert_eq!(s.chats()[0]["keep_alive"], 0);

    let o = s.run(&["unload", "ghost:1b"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(&o.stderr, &["model ghost:1b is not available at"]);
    assert_eq!(s.fake().loaded(), [FAST]);
}

// ---------------------------------------------------------------------------------------
// config

fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

#[test]
fn config_check_shipped_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["config/module_a.yaml", "config/default.yaml"] {
        let path = repo_file(name);
        let o = run(
            {
                let mut c = isolated(dir.path());
                c.args(["config", "check"]).arg(&path);
                c
            },
            None,
        );
        assert_eq!(
            (o.code, o.stdout.clone(), o.stderr.as_str()),
            (0, format!("{}: OK\n", path.display()), ""),
            "{o:?}"
        );
    }
}

#[test]
fn config_errors_name_the_place() {
    let dir = tempfile::tempdir().unwrap();
    // (file text, message after `PATH:`)
    let check = |text: &str, expected: &str| {
        let path = dir.path().join("broken.yaml");
        std::fs::write(&path, text).unwrap();
        let want = format!("llm-router-lsp: {}:{expected}", path.display());
        for args in
            [vec!["config", "check", path.to_str().unwrap()], vec!["--config", path.to_str().unwrap(), "route", "x"]]
        {
            let mut c = isolated(dir.path());
            c.args(&args);
            let o = run(c, None);
            assert_eq!((o.code, o.stdout.as_str()), (2, ""), "{args:?}: {o:?}");
            assert!(o.stderr.starts_with(&want), "{:?} should start with {want:?}", o.stderr);
        }
    };
    check("models:\n  fast_model:\n    nmae: x\n", "3:5: unknown field `nmae`");
    check("colour: blue\n", "1:1: unknown field `colour`");
    check("models:\n  warning_threshold: lots\n", "2:22: ");
    check("models: [1, 2\n", "");
    check("models:\n  warning_threshold: 80\n", " models.warning_threshold: expected a fraction between 0 and 1");
    check(
        "models:\n  code_model:\n    backend: gpu\n",
        " models.code_model.backend: no backend named `gpu` (defined: local)",
    );
    check(
        "backends:\n  local:\n    kind: ollama\n    url: localhost\n",
        " backends.local.url: expected an http:// or https:// URL",
    );
    check("vram:\n  probe:\n    kind: command\n    command: []\n", " vram.probe.command: expected a program");

    let missing = dir.path().join("missing.yaml");
    let mut c = isolated(dir.path());
    c.arg("--config").arg(&missing).args(["ask", "x"]);
    let o = run(c, None);
    assert_eq!(o.code, 2, "{o:?}");
    assert_contains(&o.stderr, &[&format!("{}: cannot read: ", missing.display())]);
}

#[test]
fn config_default_prints_the_shipped_file() {
    let dir = tempfile::tempdir().unwrap();
    // Even with a broken config in place.
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "nonsense: [").unwrap();
    let mut c = isolated(dir.path());
    c.arg("--config").arg(&broken).args(["config", "default"]);
    let o = run(c, None);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, include_str!("../config/default.yaml"), ""));
}

fn show(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = isolated(dir);
    c.args(args).args(["config", "show"]);
    for (k, v) in env {
        c.env(k, v);
    }
    run(c, None)
}

#[test]
fn config_show_and_lookup_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Nothing anywhere: built-in defaults.
    let o = show(d, &[], &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with("# effective configuration (from built-in defaults)\nlanguage: en\n"), "{o:?}");
    assert_contains(
        &o.stdout,
        &["    url: http://127.0.0.1:11434\n", "    name: llama3.2:11b-vision\n", "    kind: auto\n"],
    );
    let defaults = o.stdout;

    // $XDG_CONFIG_HOME/llm-router-lsp/config.yaml
    let xdg_file = d.join("llm-router-lsp/config.yaml");
    std::fs::create_dir_all(xdg_file.parent().unwrap()).unwrap();
    std::fs::write(&xdg_file, "models:\n  code_model:\n    name: xdg-coder\n").unwrap();
    let o = show(d, &[], &[]);
    assert!(o.stdout.starts_with(&format!("# effective configuration (from {})\n", xdg_file.display())), "{o:?}");
    assert_contains(&o.stdout, &["    name: xdg-coder\n"]);

    // $LLM_ROUTER_LSP_CONFIG beats XDG.
    let env_file = d.join("env.yaml");
    std::fs::write(&env_file, "language: de\nmodels:\n  code_model:\n    name: env-coder\n    timeout: 7\n").unwrap();
    let o = show(d, &[], &[("LLM_ROUTER_LSP_CONFIG", env_file.to_str().unwrap())]);
    assert!(
        o.stdout.starts_with(&format!("# effective configuration (from {})\nlanguage: de\n", env_file.display())),
        "{o:?}"
    );
    assert_contains(&o.stdout, &["    name: env-coder\n    backend: local\n    timeout: 7\n"]);

    // --config beats both.
    let flag_file = d.join("flag.yaml");
    std::fs::write(&flag_file, "models:\n  code_model:\n    name: flag-coder\n").unwrap();
    let o =
        show(d, &["--config", flag_file.to_str().unwrap()], &[("LLM_ROUTER_LSP_CONFIG", env_file.to_str().unwrap())]);
    assert!(o.stdout.starts_with(&format!("# effective configuration (from {})\n", flag_file.display())), "{o:?}");
    assert_contains(&o.stdout, &["    name: flag-coder\n"]);

    // A named file must exist, even when the XDG one does.
    let o = show(d, &[], &[("LLM_ROUTER_LSP_CONFIG", d.join("nope.yaml").to_str().unwrap())]);
    assert_eq!(o.code, 2, "{o:?}");
    assert_contains(&o.stderr, &["nope.yaml: cannot read"]);

    // `config check` without a path checks what the lookup finds.
    let mut c = isolated(d);
    c.args(["config", "check"]);
    let o = run(c, None);
    assert_eq!((o.code, o.stdout), (0, format!("{}: OK\n", xdg_file.display())));

    // What `config show` prints is a valid config that shows the same.
    std::fs::remove_file(&xdg_file).unwrap();
    let shown = d.join("shown.yaml");
    std::fs::write(&shown, &defaults).unwrap();
    let o = show(d, &["--config", shown.to_str().unwrap()], &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout.split_once('\n').unwrap().1, defaults.split_once('\n').unwrap().1);
}

#[test]
fn environment_sets_defaults() {
    let dir = tempfile::tempdir().unwrap();
    // (variable, value, expected text)
    let check = |var: &str, value: &str, expected: &str| {
        let o = show(dir.path(), &[], &[(var, value)]);
        assert_eq!(o.code, 0, "{o:?}");
        assert_contains(&o.stdout, &[expected]);
    };
    check("OLLAMA_HOST", "127.0.0.1:5000", "    url: http://127.0.0.1:5000\n");
    check("OLLAMA_HOST", "0.0.0.0", "    url: http://127.0.0.1:11434\n");
    check("OLLAMA_HOST", "http://gpu-box:8080/", "    url: http://gpu-box:8080\n");
    check("LANG", "de_DE.UTF-8", "language: de\n");
    check("LC_ALL", "de_AT.UTF-8", "language: de\n");

    // A file's url beats OLLAMA_HOST; the file's other backends keep theirs.
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, "backends:\n  local:\n    kind: ollama\n    url: http://127.0.0.1:7777\n").unwrap();
    let o = show(dir.path(), &["--config", file.to_str().unwrap()], &[("OLLAMA_HOST", "127.0.0.1:5000")]);
    assert_contains(&o.stdout, &["    url: http://127.0.0.1:7777\n"]);

    // OLLAMA_HOST is where requests go when the file does not say.
    let fake = FakeOllama::spawn_in_thread(standard());
    let file = dir.path().join("probe-only.yaml");
    std::fs::write(&file, "vram:\n  probe:\n    kind: none\n").unwrap();
    let mut c = isolated(dir.path());
    c.arg("--config").arg(&file).args(["ask", FAST_Q]).env("OLLAMA_HOST", fake.addr().to_string());
    let o = run(c, None);
    assert_eq!((o.code, o.stdout.as_str()), (0, "fast answer\n"), "{o:?}");
    assert_eq!(fake.chat_requests().len(), 1);
}

// ---------------------------------------------------------------------------------------
// fix

const UNQUOTED: &str = "#!/bin/bash\ngreet() {\n  echo Hello $1\n}\ngreet world\n";
const QUOTED: &str = "#!/bin/bash\ngreet() {\n  echo Hello \"$1\"\n}\ngreet world\n";

/// A setup whose code model answers `reply`, and the unquoted script in its directory.
fn fix_setup(reply: &str) -> (Setup, PathBuf) {
    assert!(
        llm_router_lsp::safety::Tools::detect().shellcheck.is_some(),
        "shellcheck is not installed: the fix tests need it (scripts/test.sh installs it with apt)"
    );
    let s = Setup::new(standard_with(FakeModel::new(CODE, reply)), json!({}));
    let file = s.dir.path().join("greet.sh");
    std::fs::write(&file, UNQUOTED).unwrap();
    (s, file)
}

#[test]
fn fix_prints_a_diff_and_writes_it_with_write() {
    let (s, file) = fix_setup("```bash\ngreet() {\n  echo Hello \"$1\"\n}\n```");
    let name = file.display().to_string();
    let o = s.run(&["fix", &format!("{name}:3")]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout,
        format!(
            "--- a/{name}\n+++ b/{name}\n@@ -1,5 +1,5 @@\n #!/bin/bash\n greet() {{\n-  echo Hello $1\n+  echo Hello \"$1\"\n }}\n greet world\n"
        )
    );
    assert_contains(
        &o.stderr,
        &[&format!("fixing {name}:3:"), "SC2086", "block lines 2–4", "answered by qwen3-coder:30b-q4"],
    );
    assert_contains(&o.stderr, &["fix: fixing code goes to the code model"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), UNQUOTED, "written without --write");
    // Without a line: the first finding. --write applies the change.
    let o = s.run(&["fix", &name, "--write"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_contains(&o.stderr, &[&format!("wrote {name}")]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), QUOTED);
    // Nothing left to fix.
    let o = s.run(&["fix", &name]);
    assert_eq!((o.code, o.stdout.as_str()), (0, ""), "{o:?}");
    assert_contains(&o.stderr, &["no findings; nothing to fix"]);
    let o = s.run(&["fix", &format!("{name}:1")]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(&o.stderr, &[&format!("{name}:1: no finding on that line")]);
    let o = s.run(&["fix", &format!("{name}:x")]);
    assert_eq!(o.code, 2, "{o:?}");
}

#[test]
fn fix_gates_like_generate() {
    // (reply, exit code, stderr, stdout is a diff)
    let cases = [
        (
            "```bash\ngreet() {\n  echo Hi $1\n}\n```",
            4,
            "SC2086 is still reported on line 3: the change did not fix it. Nothing was written.",
            true,
        ),
        (
            "```bash\ngreet() {\n  echo Hello \"$1\"\n  rm -rf /\n}\n```",
            3,
            "the fix is dangerous (see above); nothing was changed",
            false,
        ),
        ("```bash\ngreet() {\n  echo \"Hello $1\n}\n```", 1, "fix does not parse", false),
        (
            "```bash\ngreet() {\n  echo Hello $1\n}\n```",
            1,
            "returned the block unchanged; nothing was replaced.",
            false,
        ),
    ];
    for (reply, code, stderr, diff) in cases {
        let (s, file) = fix_setup(reply);
        let o = s.run(&["fix", &file.display().to_string(), "--write"]);
        assert_eq!(o.code, code, "{reply}: {o:?}");
        assert_contains(&o.stderr, &[stderr]);
        assert_eq!(o.stdout.starts_with("--- a/"), diff, "{reply}: {o:?}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), UNQUOTED, "{reply}");
    }
}
