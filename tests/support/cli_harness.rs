//! Running the built binary in tests: an isolated environment, a deadline, captured output.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// No command may run longer than this; a hang fails the test instead of blocking the suite.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Lays `patch` over `base`, object by object.
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

/// `program` with no inherited config, locale, Ollama address, log filter or proxy, and
/// its home and XDG config in `dir`.
pub fn isolated_program(program: &str, dir: &Path) -> Command {
    let mut c = Command::new(program);
    for var in [
        "LLM_ROUTER_LSP_CONFIG",
        "OLLAMA_HOST",
        "LC_ALL",
        "LC_MESSAGES",
        "RUST_LOG",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(var);
    }
    c.env("LANG", "C").env("XDG_CONFIG_HOME", dir).env("HOME", dir).current_dir(dir);
    c
}

/// Runs to completion (stdin: `input`, else /dev/null), killing it after [`DEADLINE`].
pub fn run(mut command: Command, input: Option<&str>) -> Output {
    command
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn the binary");
    if let Some(text) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
    }
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} ran longer than {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output { code: status.code().unwrap_or(-1), stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

#[track_caller]
pub fn assert_contains(haystack: &str, needles: &[&str]) {
    for n in needles {
        assert!(haystack.contains(n), "{n:?} not in:\n{haystack}");
    }
}

/// stdout as the one JSON line that `infer` prints.
#[track_caller]
pub fn json_out(o: &Output) -> Value {
    assert!(o.stdout.ends_with('\n') && o.stdout.trim_end().lines().count() == 1, "one JSON line expected: {o:?}");
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {o:?}"))
}
