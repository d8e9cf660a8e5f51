//! The OpenAI-compatible backend end to end: the built binary and the in-process language
//! server against the fake OpenAI-compatible server (tests/support/fake_model.rs) over real
//! HTTP on 127.0.0.1.
//!
//! Every command-line test writes its own config into a tempdir and runs the binary with an
//! isolated environment: the API key's variable is set on the child process only, VRAM is
//! read with a command probe (`echo "USED TOTAL"`), and each tier's `vram_usage` is 1 GB, so
//! no VRAM warning asks for consent. Nothing but 127.0.0.1 is contacted.

#[path = "support/cli_harness.rs"]
mod cli_harness;
#[path = "support/fake_model.rs"]
mod fake_model;
#[path = "support/lsp_client.rs"]
mod lsp_client;

use cli_harness::{Output, assert_contains, isolated_program, json_out, merge};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fake_model::{Behaviour, FakeModel, FakeServer as FakeOpenAi, LOADING_ERROR, Scenario};
use lsp_client::{ClientOptions, TestClient};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_llm-router-lsp");
const FAST: &str = "llama-3.2-3b-instruct";
const CODE: &str = "qwen2.5-coder-32b-instruct";
const HEAVY: &str = "llama-3.1-70b-instruct";
/// No code signal: the fast model.
const FAST_Q: &str = "what is the capital of France";
/// "grep" and "errors": the code model.
const CODE_Q: &str = "grep all errors in /var/log/syslog and count them";
const KEY_VAR: &str = "TEST_KEY_VAR";
const KEY: &str = "sk-fake-7f3c9a1e5b2d4c6e8f0a-SECRET";
const WRONG_KEY: &str = "sk-wrong-0d1e2f3a4b5c6d7e-ALSOSECRET";

// ---------------------------------------------------------------------------------------
// Harness

fn standard() -> Scenario {
    Scenario {
        models: vec![
            FakeModel::new(FAST, "fast answer"),
            FakeModel::new(CODE, "code answer"),
            FakeModel::new(HEAVY, "heavy answer"),
        ],
        ..Default::default()
    }
}

/// `standard()` with `model` replaced (or added).
fn standard_with(model: FakeModel) -> Scenario {
    let mut s = standard();
    s.models.retain(|m| m.name != model.name);
    s.models.push(model);
    s
}

/// `standard()` without `id`.
fn standard_without(id: &str) -> Scenario {
    let mut s = standard();
    s.models.retain(|m| m.name != id);
    s
}

/// All tiers on the backend `oa` at `url`, 1 GB each, the probe reading 1000 / 10000 MiB.
fn openai_config(url: &str) -> Value {
    let tier = |name: &str| json!({"name": name, "backend": "oa", "vram_usage": "1GB"});
    json!({
        "language": "en",
        "backends": {"oa": {"kind": "openai", "url": url, "api_key_env": KEY_VAR, "busy_retry_ms": 50}},
        "models": {"fast_model": tier(FAST), "code_model": tier(CODE), "heavy_model": tier(HEAVY)},
        "vram": {"probe": {"kind": "command", "command": ["echo", "1000 10000"]}},
    })
}

/// A tempdir with a config file, and the fake server the config points at.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    fake: Option<FakeOpenAi>,
}

impl Setup {
    /// A fake serving `scenario` and a config (written as JSON, which is YAML) pointing at
    /// its `/v1`, with `overrides` laid over it.
    fn new(scenario: Scenario, overrides: Value) -> Self {
        let fake = FakeOpenAi::spawn_in_thread(scenario);
        let mut s = Self::with_url(&format!("{}/v1", fake.url()), overrides);
        s.fake = Some(fake);
        s
    }

    /// No fake: the config points at `url`.
    fn with_url(url: &str, overrides: Value) -> Self {
        let mut config = openai_config(url);
        merge(&mut config, overrides);
        Self::with_config(&config)
    }

    fn with_config(config: &Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, serde_json::to_string_pretty(config).unwrap()).unwrap();
        Self { dir, config: path, fake: None }
    }

    fn fake(&self) -> &FakeOpenAi {
        self.fake.as_ref().expect("this setup has a fake")
    }

    /// The binary with `--config`, an isolated environment and the right key in its variable.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = isolated(self.dir.path());
        c.env(KEY_VAR, KEY).arg("--config").arg(&self.config).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        run(self.command(args))
    }

    fn chats(&self) -> Vec<Value> {
        self.fake().chat_requests()
    }

    fn chat_models(&self) -> Vec<String> {
        self.chats().iter().map(|r| r["model"].as_str().unwrap_or_default().to_string()).collect()
    }
}

/// The binary with no inherited config, locale, Ollama address, log filter or API key.
fn isolated(dir: &Path) -> Command {
    let mut c = isolated_program(BIN, dir);
    c.env_remove(KEY_VAR);
    c
}

/// Runs to completion (stdin: /dev/null), killing it after the harness's deadline.
fn run(command: Command) -> Output {
    cli_harness::run(command, None)
}

/// The last line the binary printed on stderr (its error message, on failure).
fn last_error(o: &Output) -> &str {
    o.stderr.lines().rfind(|l| l.starts_with("llm-router-lsp: ")).unwrap_or_default()
}

/// A loopback port nothing listens on.
/// A port nothing listens on. Not one freed from `bind(:0)`: a server of a test running in
/// parallel may be given it next. Port 9 (discard) lies below the ephemeral range.
fn closed_port() -> u16 {
    9
}

// ---------------------------------------------------------------------------------------
// Streaming answers

#[test]
fn ask_streams_the_exact_answer_and_sends_an_openai_request() {
    let fast = FakeModel::new(FAST, "").with_chunks(&["Paris", " is the", " capital", " of France."]);
    let s = Setup::new(standard_with(fast), json!({}));
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "Paris is the capital of France.\n"), "{o:?}");
    assert_contains(&o.stderr, &[&format!("answered by {FAST}")]);
    let chats = s.chats();
    assert_eq!(chats.len(), 1, "{chats:#?}");
    assert_eq!(chats[0]["model"], FAST);
    assert_eq!(chats[0]["stream"], true);
    assert_eq!(chats[0]["logprobs"], true);
    assert_eq!(chats[0]["messages"][0]["role"], "system");
    assert_eq!(chats[0]["messages"][1], json!({"role": "user", "content": FAST_Q}));
    // Ollama's fields have no place in an OpenAI request.
    assert!(chats[0].get("keep_alive").is_none() && chats[0].get("options").is_none(), "{:#}", chats[0]);
    let paths: Vec<String> = s.fake().requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(paths, ["POST /v1/chat/completions"], "the fast model needs no VRAM check");
}

#[test]
fn explain_and_generate_with_the_code_model() {
    let explanation = "Lists all files, hidden ones too,\nin long format.";
    let s = Setup::new(standard_with(FakeModel::new(CODE, explanation)), json!({}));
    let o = s.run(&["explain", "ls -la", "--language", "shellscript"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, format!("{explanation}\n").as_str()), "{o:?}");
    assert_eq!(s.chat_models(), [CODE]);
    assert_eq!(s.chats()[0]["messages"][1]["content"], "Explain this shellscript:\n\nls -la");
    // The VRAM check asked the server which models it has, and used the config's estimate.
    assert_contains(&o.stderr, &["VRAM 10.0%, 19.5% after loading"]);
    assert!(s.fake().requests().iter().any(|r| r.path == "/v1/models"));

    let reply = "Sure:\n```bash\nfind . -type f -size +100M\n```\nDone.";
    let s = Setup::new(
        standard_with(FakeModel::new(CODE, reply).with_chunks(&[
            "Sure:\n``",
            "`bash\nfind . -type f",
            " -size +100M\n``",
            "`\nDone.",
        ])),
        json!({}),
    );
    let o = s.run(&["generate", "list files larger than 100MB", "--language", "shellscript"]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "find . -type f -size +100M\n"), "{o:?}");
    assert_eq!(s.chat_models(), [CODE]);
}

#[test]
fn infer_json_confidence_from_logprobs_or_null() {
    let fast = FakeModel::new(FAST, "").with_chunks(&["forty", " two"]).with_logprobs(&[-0.1, -0.3]);
    let s = Setup::new(standard_with(fast), json!({}));
    let o = s.run(&["infer", "--json", FAST_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = json_out(&o);
    assert_eq!(v["response"], "forty two");
    assert_eq!(v["model_used"], FAST);
    assert_eq!(v["tier"], "fast");
    let confidence = v["confidence"].as_f64().expect("a confidence");
    assert!((confidence - (-0.2f64).exp()).abs() < 1e-9, "{confidence}");
    assert!(v.get("fallback").is_none(), "{v:#}");

    // A server without logprobs: null, never made up.
    let s = Setup::new(standard(), json!({}));
    let v = json_out(&s.run(&["infer", "--json", FAST_Q]));
    assert_eq!((v["response"].as_str(), v["confidence"].is_null()), (Some("fast answer"), true), "{v:#}");

    // `logprobs: false`: not asked for, so none, even from a server that has them.
    let fast = FakeModel::new(FAST, "forty two").with_logprobs(&[-0.1]);
    let s = Setup::new(standard_with(fast), json!({"backends": {"oa": {"logprobs": false}}}));
    let v = json_out(&s.run(&["infer", "--json", FAST_Q]));
    assert_eq!((v["response"].as_str(), v["confidence"].is_null()), (Some("forty two"), true), "{v:#}");
    assert!(s.chats()[0].get("logprobs").is_none(), "{:#}", s.chats()[0]);
}

#[test]
fn done_marker_and_streams_without_it() {
    // `[DONE]` inside the answer's text is text, not the end of the stream.
    let fast = FakeModel::new(FAST, "").with_chunks(&["write [DONE]", " when finished"]);
    let s = Setup::new(standard_with(fast), json!({}));
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "write [DONE] when finished\n"), "{o:?}");

    // llama.cpp may end the stream after the finishing chunk without `[DONE]`.
    let fast = FakeModel::new(FAST, "no done marker here").with_behaviour(Behaviour::NoDone);
    let s = Setup::new(standard_with(fast), json!({}));
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "no done marker here\n"), "{o:?}");
}

#[test]
fn url_without_v1_works_too() {
    let fake = FakeOpenAi::spawn_in_thread(standard());
    let mut s = Setup::with_url(&format!("{}/", fake.url()), json!({}));
    s.fake = Some(fake);
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "fast answer\n"), "{o:?}");
    assert_eq!(s.chat_models(), [FAST]);
}

// ---------------------------------------------------------------------------------------
// API key

#[test]
fn api_key_is_sent_as_bearer_and_never_printed() {
    let s = Setup::new(Scenario { require_key: Some(KEY.into()), ..standard() }, json!({}));
    // A code query also lists /v1/models for the VRAM check: that request is authorized too.
    let mut c = s.command(&["infer", "--json", CODE_Q]);
    c.env("RUST_LOG", "trace");
    let o = run(c);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(json_out(&o)["response"], "code answer");
    let requests = s.fake().requests();
    assert!(requests.iter().any(|r| r.path == "/v1/models"), "{requests:#?}");
    assert!(requests.iter().any(|r| r.path == "/v1/chat/completions"), "{requests:#?}");
    for r in &requests {
        assert_eq!(r.authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()), "{} {}", r.method, r.path);
    }
    assert!(o.stderr.len() > 1000, "trace logging should be on: {o:?}");
    assert!(!o.stdout.contains(KEY) && !o.stderr.contains(KEY), "the key leaked: {o:?}");
    // Nor any part of it that would identify it.
    assert!(!o.stderr.contains("7f3c9a1e5b2d4c6e8f0a"), "{o:?}");

    // Neither a rejected key, at the most verbose level, nor in `doctor`.
    for args in [&["ask", FAST_Q][..], &["doctor"], &["infer", "--json", CODE_Q]] {
        let mut c = s.command(args);
        c.env(KEY_VAR, WRONG_KEY).env("RUST_LOG", "trace");
        let o = run(c);
        assert_eq!(o.code, 1, "{args:?}: {o:?}");
        for secret in [KEY, WRONG_KEY, "0d1e2f3a4b5c6d7e"] {
            assert!(!o.stdout.contains(secret) && !o.stderr.contains(secret), "{args:?} leaked {secret}: {o:?}");
        }
    }
}

#[test]
fn missing_key_variable_is_named() {
    let s = Setup::new(Scenario { require_key: Some(KEY.into()), ..standard() }, json!({}));
    for unset in [true, false] {
        let mut c = s.command(&["ask", FAST_Q]);
        if unset {
            c.env_remove(KEY_VAR);
        } else {
            c.env(KEY_VAR, "");
        }
        let o = run(c);
        assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
        let error = last_error(&o);
        assert_contains(
            error,
            &["refused the request (HTTP 401)", "the API key is missing", "set the environment variable TEST_KEY_VAR"],
        );
    }
    // Nothing was sent in place of the key.
    let requests = s.fake().requests();
    assert_eq!(requests.len(), 2, "one request each, no retry on 401: {requests:#?}");
    assert!(requests.iter().all(|r| r.authorization.is_none()), "{requests:#?}");
}

#[test]
fn key_with_a_trailing_line_break_is_used_trimmed() {
    let s = Setup::new(Scenario { require_key: Some(KEY.into()), ..standard() }, json!({}));
    let mut c = s.command(&["ask", FAST_Q]);
    c.env(KEY_VAR, format!("{KEY}\r\n"));
    let o = run(c);
    assert_eq!((o.code, o.stdout.as_str()), (0, "fast answer\n"), "{o:?}");
    assert_eq!(s.fake().requests()[0].authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));

    // A key that cannot be a header value is the key's fault, not an unreachable server's.
    let mut c = s.command(&["ask", FAST_Q]);
    c.env(KEY_VAR, "sk-fake\u{1}7f3c9a1e");
    let o = run(c);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_contains(last_error(&o), &["the API key in the environment variable TEST_KEY_VAR cannot be sent"]);
    assert!(!o.stderr.contains("cannot reach") && !o.stderr.contains("7f3c9a1e"), "{o:?}");
    assert_eq!(s.fake().requests().len(), 1, "nothing sent");
}

#[test]
fn wrong_key_names_the_variable() {
    let s = Setup::new(Scenario { require_key: Some(KEY.into()), ..standard() }, json!({}));
    let mut c = s.command(&["ask", FAST_Q]);
    c.env(KEY_VAR, WRONG_KEY);
    let o = run(c);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_contains(
        last_error(&o),
        &["refused the request (HTTP 401)", "the API key in the environment variable TEST_KEY_VAR was not accepted"],
    );
    assert_eq!(s.fake().requests()[0].authorization.as_deref(), Some(format!("Bearer {WRONG_KEY}").as_str()));

    // A server that wants a key, and a backend that names no variable: say where it goes.
    let s = Setup::new(
        Scenario { require_key: Some(KEY.into()), ..standard() },
        json!({"backends": {"oa": {"api_key_env": null}}}),
    );
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(last_error(&o), &["wants an API key", "api_key_env"]);
}

// ---------------------------------------------------------------------------------------
// Server errors

#[test]
fn unknown_model_names_v1_models_and_the_fast_model_stands_in() {
    let s = Setup::new(standard_without(CODE), json!({}));
    let o = s.run(&["infer", "--json", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = json_out(&o);
    assert_eq!((v["response"].as_str(), v["model_used"].as_str()), (Some("fast answer"), Some(FAST)), "{v:#}");
    let fallback = v["fallback"].as_str().unwrap();
    assert_contains(fallback, &[CODE, "check the tier's `name` against its /v1/models", "answered instead"]);
    assert_eq!(s.chat_models(), [CODE, FAST]);

    // Without the fallback: the error, and what to check.
    let s = Setup::new(standard_without(CODE), json!({"models": {"fallback_to_fast": false}}));
    let o = s.run(&["ask", CODE_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_contains(last_error(&o), &[&format!("has no model {CODE}"), "/v1/models"]);
}

#[test]
fn busy_server_gets_one_retry() {
    let fast = FakeModel::new(FAST, "after the wait").with_behaviour(Behaviour::BusyOnce);
    let s = Setup::new(standard_with(fast), json!({}));
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "after the wait\n"), "{o:?}");
    assert_eq!(s.chat_models(), [FAST, FAST]);

    for (status, error) in [(503, LOADING_ERROR), (429, "Rate limit reached")] {
        let fast = FakeModel::new(FAST, "never").with_behaviour(Behaviour::Status { status, error: error.into() });
        let s = Setup::new(standard_with(fast), json!({}));
        let o = s.run(&["ask", FAST_Q]);
        assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{status}: {o:?}");
        assert_contains(last_error(&o), &["is busy", "try again"]);
        assert_eq!(s.chat_models(), [FAST, FAST], "{status}: exactly one retry");
    }
}

#[test]
fn other_http_errors_carry_the_servers_message() {
    let error = "context length exceeded".into();
    let fast = FakeModel::new(FAST, "x").with_behaviour(Behaviour::Status { status: 400, error });
    let s = Setup::new(standard_with(fast), json!({}));
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_contains(last_error(&o), &["answered HTTP 400: context length exceeded"]);
}

#[test]
fn stream_failures_are_clear() {
    // (behaviour, expected stdout, phrases of the error)
    let cases: Vec<(Behaviour, &str, Vec<String>)> = vec![
        (Behaviour::Malformed { after_chunks: 1 }, "one two three \n", vec![format!("{FAST} sent a malformed line")]),
        (
            Behaviour::ErrorLine { after_chunks: 1, message: "CUDA out of memory".into() },
            "one two three \n",
            vec![format!("{FAST} reported an error: CUDA out of memory")],
        ),
        (
            Behaviour::Disconnect { after_chunks: 1 },
            "one two three \n",
            vec!["connection to http://127.0.0.1:".into(), format!("/v1 was lost while {FAST} was answering")],
        ),
        (Behaviour::Stall { after_chunks: 1 }, "one two three \n", vec![format!("{FAST} stalled: no output for 1 s")]),
        // Bounded: a server that never ends an event or a line is cut off at 4 MiB.
        (
            Behaviour::EndlessEvent { after_chunks: 1 },
            "one two three \n",
            vec![format!("{FAST} sent a malformed line: \"(an event or line over 4194304 bytes)\"")],
        ),
        (
            Behaviour::EndlessLine { after_chunks: 1 },
            "one two three \n",
            vec![format!("{FAST} sent a malformed line: \"(an event or line over 4194304 bytes)\"")],
        ),
        // Bytes that never make an event are no output: the tier's timeout holds.
        (
            Behaviour::DripEvent { after_chunks: 1 },
            "one two three \n",
            vec![format!("{FAST} stalled: no output for 1 s")],
        ),
        (
            Behaviour::Stall { after_chunks: 0 },
            "",
            vec![format!("{FAST} did not start answering within 1 s (timeout of its tier)")],
        ),
    ];
    for (behaviour, stdout, phrases) in cases {
        let fast = FakeModel::new(FAST, "one two three four five six").with_behaviour(behaviour.clone());
        // Only the stalls wait for the tier's timeout; a slow machine must not fail the others.
        let timeout = if matches!(behaviour, Behaviour::Stall { .. } | Behaviour::DripEvent { .. }) { 1 } else { 30 };
        let s = Setup::new(standard_with(fast), json!({"models": {"fast_model": {"timeout": timeout}}}));
        let started = Instant::now();
        let o = s.run(&["ask", FAST_Q]);
        assert_eq!((o.code, o.stdout.as_str()), (1, stdout), "{behaviour:?}: {o:?}");
        let error = last_error(&o);
        for p in &phrases {
            assert!(error.contains(p.as_str()), "{behaviour:?}: {p:?} not in {error:?}\n{o:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{behaviour:?} took {:?}", started.elapsed());

        // The same failure as the spec's failure object.
        let o = s.run(&["infer", "--json", FAST_Q]);
        assert_eq!(o.code, 1, "{o:?}");
        let v = json_out(&o);
        assert!(v["error"].as_str().unwrap().contains(phrases[0].as_str()), "{v:#}");
        assert_eq!(v["fallback"], "none: the fast model is the last resort");
    }
}

#[test]
fn code_stall_falls_back_to_heavy_when_enabled() {
    let code = FakeModel::new(CODE, "partial code answer").with_behaviour(Behaviour::Stall { after_chunks: 1 });
    let overrides = json!({"models": {"code_model": {"timeout": 1}}});
    let s = Setup::new(standard_with(code.clone()), overrides.clone());
    let o = s.run(&["infer", "--json", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    let v = json_out(&o);
    assert_eq!((v["response"].as_str(), v["model_used"].as_str()), (Some("heavy answer"), Some(HEAVY)), "{v:#}");
    assert_contains(v["fallback"].as_str().unwrap(), &[&format!("{CODE} stalled: no output for 1 s")]);
    assert_eq!(s.chat_models(), [CODE, HEAVY]);

    let mut off = overrides;
    merge(&mut off, json!({"models": {"heavy_model": {"fallback": false}}}));
    let s = Setup::new(standard_with(code), off);
    let o = s.run(&["infer", "--json", CODE_Q]);
    assert_eq!(o.code, 1, "{o:?}");
    let v = json_out(&o);
    assert_contains(v["error"].as_str().unwrap(), &[&format!("{CODE} stalled")]);
    assert_eq!(v["fallback"], "none: heavy_model.fallback is off");
    assert_eq!(s.chat_models(), [CODE]);
}

#[test]
fn unreachable_server_is_named() {
    let url = format!("http://127.0.0.1:{}/v1", closed_port());
    let s = Setup::with_url(&url, json!({}));
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_contains(
        last_error(&o),
        &[&format!("cannot reach the OpenAI-compatible server at {url}: is it running? (check the backend's url)")],
    );
    let o = s.run(&["doctor"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(&o.stdout, &["backend oa: PROBLEM: cannot reach the OpenAI-compatible server"]);
}

// ---------------------------------------------------------------------------------------
// Mixed backends, doctor, pull/unload, remote servers

#[test]
fn mixed_tiers_go_to_their_own_servers() {
    let ollama = FakeOpenAi::spawn_in_thread(Scenario {
        models: vec![FakeModel::new(FAST, "ollama says hi")],
        ..Default::default()
    });
    let openai = FakeOpenAi::spawn_in_thread(standard());
    let mut config = openai_config(&format!("{}/v1", openai.url()));
    merge(
        &mut config,
        json!({"backends": {"local": {"kind": "ollama", "url": ollama.url(), "busy_retry_ms": 50}},
               "models": {"fast_model": {"backend": "local"}}}),
    );
    let s = Setup::with_config(&config);

    let o = s.run(&["ask", CODE_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "code answer\n"), "{o:?}");
    let o = s.run(&["ask", FAST_Q]);
    assert_eq!((o.code, o.stdout.as_str()), (0, "ollama says hi\n"), "{o:?}");
    let openai_models: Vec<Value> = openai.chat_requests().iter().map(|r| r["model"].clone()).collect();
    let ollama_models: Vec<Value> = ollama.chat_requests().iter().map(|r| r["model"].clone()).collect();
    assert_eq!((openai_models, ollama_models), (vec![json!(CODE)], vec![json!(FAST)]));

    let o = s.run(&["route", CODE_Q]);
    assert_contains(&o.stdout, &[&format!("model:   {CODE} (backend oa)")]);
    let o = s.run(&["route", FAST_Q]);
    assert_contains(&o.stdout, &[&format!("model:   {FAST} (backend local)")]);
}

#[test]
fn doctor_lists_the_openai_backend_and_its_models() {
    let s = Setup::new(Scenario { require_key: Some(KEY.into()), ..standard() }, json!({}));
    let o = s.run(&["doctor"]);
    assert_eq!(o.code, 0, "{o:?}");
    let url = format!("{}/v1", s.fake().url());
    assert_contains(&o.stdout, &[&format!("backend oa ({url}): reachable, version OpenAI-compatible, 3 model(s)")]);
    for (tier, model) in [("fast", FAST), ("code", CODE), ("heavy", HEAVY)] {
        assert_contains(&o.stdout, &[&format!("  {tier} model {model}: ")]);
    }
    let backend_lines = o.stdout.lines().filter(|l| l.starts_with("backend ") || l.starts_with("  "));
    assert!(backend_lines.clone().count() == 4 && backend_lines.clone().all(|l| !l.contains("PROBLEM")), "{o:?}");
    // The unused default Ollama backend is not checked.
    assert!(!o.stdout.contains("backend local"), "{o:?}");

    // A tier whose model the server does not have.
    let s = Setup::new(standard_without(HEAVY), json!({}));
    let o = s.run(&["doctor"]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(&o.stdout, &[&format!("heavy model {HEAVY}: PROBLEM")]);
    assert_contains(last_error(&o), &["1 problem(s) found"]);

    // The key's variable unset: doctor says which one.
    let s = Setup::new(Scenario { require_key: Some(KEY.into()), ..standard() }, json!({}));
    let mut c = s.command(&["doctor"]);
    c.env_remove(KEY_VAR);
    let o = run(c);
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(&o.stdout, &["backend oa: PROBLEM:", "HTTP 401", "set the environment variable TEST_KEY_VAR"]);
}

#[test]
fn pull_and_unload_are_not_supported() {
    let s = Setup::new(standard(), json!({}));
    let o = s.run(&["pull"]);
    assert_eq!(o.code, 1, "{o:?}");
    for model in [FAST, CODE, HEAVY] {
        assert_contains(&o.stderr, &[&format!("pulling {model} failed: "), &format!("cannot pull {model}")]);
    }
    assert_contains(&o.stderr, &["OpenAI-compatible servers have no pull"]);
    assert_contains(last_error(&o), &[&format!("could not pull: {FAST}, {CODE}, {HEAVY}")]);

    let o = s.run(&["pull", CODE]);
    assert_eq!(o.code, 1, "{o:?}");
    assert_contains(&o.stderr, &[&format!("cannot pull {CODE}: load it in that server")]);

    let o = s.run(&["unload", CODE]);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    assert_contains(
        last_error(&o),
        &[&format!("cannot unload {CODE}: OpenAI-compatible servers manage their own memory")],
    );
    assert!(s.fake().requests().is_empty(), "{:#?}", s.fake().requests());
}

#[test]
fn remote_openai_backend_config_and_route_without_network() {
    // 192.0.2.0/24 is TEST-NET-1: never contacted here, only configured.
    let s = Setup::with_url("https://192.0.2.10:8443/v1", json!({}));
    let o = s.run(&["config", "check"]);
    assert_eq!((o.code, o.stdout.trim_end()), (0, format!("{}: OK", s.config.display()).as_str()), "{o:?}");
    let o = s.run(&["route", CODE_Q]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_contains(&o.stdout, &["tier:    code\n", &format!("model:   {CODE} (backend oa)")]);
    let o = s.run(&["config", "show"]);
    assert_contains(&o.stdout, &["kind: openai", "https://192.0.2.10:8443/v1", "api_key_env: TEST_KEY_VAR"]);
    assert!(!o.stdout.contains(KEY), "{o:?}");
}

// ---------------------------------------------------------------------------------------
// The language server

const URI: &str = "file:///work/backup.sh";
const SCRIPT: &str = "#!/bin/bash\n# list files larger than 100MB\n  tar -xzvf backup.tar.gz -C /opt\necho done\n";
/// A variable no test sets: the in-process server reads the key from this process.
const UNSET_VAR: &str = "LLM_ROUTER_LSP_TEST_OPENAI_KEY_NEVER_SET";

async fn lsp_setup(scenario: Scenario, api_key_env: Option<&str>) -> (FakeOpenAi, TestClient, tempfile::TempDir) {
    assert!(std::env::var_os(UNSET_VAR).is_none(), "{UNSET_VAR} must not be set");
    let fake = FakeOpenAi::start(scenario).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = openai_config(&format!("{}/v1", fake.url()));
    config["backends"]["oa"]["api_key_env"] = json!(api_key_env);
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    let (client, _) = TestClient::start(&path, ClientOptions::default()).await;
    (fake, client, dir)
}

#[tokio::test]
async fn lsp_generate_and_explain_with_the_openai_backend() {
    let reply = "Here you go:\n```bash\nfind . -type f -size +100M\n```\nEnjoy.";
    let (fake, client, _dir) = lsp_setup(standard_with(FakeModel::new(CODE, reply)), None).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (1, 0), (1, 30)).await;
    assert_eq!(actions[1]["title"], format!("Generate script ({CODE})"));
    client.run_action(&actions, "Generate script").await;
    let message = client.wait_show_message("answered").await;
    assert!(message.starts_with(&format!("{CODE} answered in ")), "{message}");
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# list files larger than 100MB\nfind . -type f -size +100M\n  tar -xzvf backup.tar.gz -C /opt\necho done\n"
    );
    assert_eq!(fake.chat_requests()[0]["model"], CODE);
    assert_eq!(fake.chat_requests()[0]["stream"], true);

    let reply = "Extracts the gzip-compressed archive backup.tar.gz into /opt, listing each file as it goes.";
    let (_fake, client, _dir) = lsp_setup(standard_with(FakeModel::new(CODE, reply)), None).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (2, 2), (2, 33)).await;
    client.run_action(&actions, "Explain command").await;
    client.wait_show_message("answered").await;
    assert_eq!(
        client.text(URI),
        "#!/bin/bash\n# list files larger than 100MB\n  # Extracts the gzip-compressed archive backup.tar.gz into /opt, listing each\n  # file as it goes.\n  tar -xzvf backup.tar.gz -C /opt\necho done\n"
    );
}

#[tokio::test]
async fn lsp_unauthorized_is_one_clear_message_naming_the_variable() {
    let scenario = Scenario { require_key: Some(KEY.into()), ..standard() };
    let (fake, client, _dir) = lsp_setup(scenario, Some(UNSET_VAR)).await;
    client.open(URI, "shellscript", SCRIPT).await;
    let actions = client.code_actions(URI, (1, 0), (1, 30)).await;
    client.run_action(&actions, "Generate script").await;
    let message = client.wait_show_message("llm-router:").await;
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(
        message.contains(&format!("the API key is missing: set the environment variable {UNSET_VAR}")),
        "{message}"
    );
    // The job is over once its progress ends; nothing else is shown.
    client.wait_for(10, "progress end", |m| m["params"]["value"]["kind"] == "end").await;
    let shown = client.messages("window/showMessage");
    assert_eq!(shown.len(), 1, "{shown:#?}");
    assert_eq!(shown[0]["params"]["type"], 1, "an error");
    assert_eq!(client.text(URI), SCRIPT);
    assert!(fake.chat_requests().iter().all(|r| r["model"] == CODE || r["model"] == HEAVY));
}
