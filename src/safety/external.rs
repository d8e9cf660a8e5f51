//! The optional outside checks: `bash -n` (parses, never runs) and shellcheck's JSON. Both
//! are skipped when the program is not installed. The script goes in on stdin; each run has
//! a timeout.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Category, CheckOptions, Dialect, Finding, LineIndex, SafetyConfig, Severity, ShellcheckMode, ToolRun};

pub const BASH_TIMEOUT: Duration = Duration::from_secs(3);
pub const SHELLCHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the programs are; `None` when not installed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tools {
    pub bash: Option<PathBuf>,
    pub shellcheck: Option<PathBuf>,
}

impl Tools {
    /// Looked up on PATH once per process.
    pub fn detect() -> Tools {
        static TOOLS: OnceLock<Tools> = OnceLock::new();
        TOOLS.get_or_init(|| Tools { bash: find_program("bash"), shellcheck: find_program("shellcheck") }).clone()
    }
}

pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// The first line of `PROGRAM --version`, for `doctor`.
pub fn version(program: &Path) -> Option<String> {
    let out = run(program, &["--version"], "", Duration::from_secs(3)).ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // shellcheck prints "ShellCheck - …\nversion: 0.9.0\n…".
    let line = text.lines().find(|l| l.starts_with("version:")).or_else(|| text.lines().next())?;
    Some(line.trim_start_matches("version:").trim().to_string())
}

pub struct Output {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `program args` with `input` on stdin; kills it after `timeout`.
pub fn run(program: &Path, args: &[&str], input: &str, timeout: Duration) -> Result<Output, String> {
    let mut child = Command::new(program)
        .args(args)
        // A non-interactive bash would source these even with -n.
        .env_remove("BASH_ENV")
        .env_remove("ENV")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let mut stdin = child.stdin.take();
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(input.as_bytes());
        }
    });
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = read(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = read(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} took longer than {} s", program.display(), timeout.as_secs()));
            }
            Err(e) => return Err(format!("waiting for {}: {e}", program.display())),
        }
    };
    let _ = writer.join();
    Ok(Output {
        success: status.success(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// `bash -n`: syntax errors (and warnings) as findings.
pub fn bash_syntax(bash: &Path, script: &str) -> Result<Vec<Finding>, String> {
    let out = run(bash, &["--norc", "--noprofile", "-n", "/dev/stdin"], script, BASH_TIMEOUT)?;
    Ok(parse_bash_errors(&String::from_utf8_lossy(&out.stderr), out.success, script))
}

/// Reads bash's `/dev/stdin: line N: message` lines. The line echoing the offending code
/// ("line 3: `fi'") is dropped; only the first error is kept.
pub fn parse_bash_errors(stderr: &str, success: bool, script: &str) -> Vec<Finding> {
    let index = LineIndex::new(script);
    let mut out = Vec::new();
    let mut error_seen = false;
    for l in stderr.lines() {
        let Some(rest) = l.split_once(": line ").map(|(_, r)| r) else { continue };
        let Some((n, message)) = rest.split_once(": ") else { continue };
        let Ok(n) = n.trim().parse::<usize>() else { continue };
        if message.starts_with('`') {
            continue;
        }
        let (severity, message) = match message.strip_prefix("warning: ") {
            Some(w) => (Severity::Warning, w),
            None if error_seen => continue,
            None => {
                error_seen = true;
                (Severity::Error, message)
            }
        };
        out.push(index.line_finding(Category::Syntax, severity, format!("bash -n: {message}"), n.saturating_sub(1)));
    }
    if !success && !error_seen {
        let message = stderr.lines().last().unwrap_or("syntax error").trim().to_string();
        out.push(index.line_finding(Category::Syntax, Severity::Error, format!("bash -n: {message}"), 0));
    }
    out
}

/// shellcheck's findings (`--format=json1`, read from stdin).
pub fn shellcheck(program: &Path, script: &str, dialect: Dialect) -> Result<Vec<Finding>, String> {
    let mut args = vec!["--format=json1"];
    if !script.starts_with("#!") {
        args.push(if dialect == Dialect::Sh { "--shell=sh" } else { "--shell=bash" });
    }
    args.push("-");
    let out = run(program, &args, script, SHELLCHECK_TIMEOUT)?;
    if out.stdout.is_empty() && !out.success {
        return Err(format!("shellcheck failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    parse_shellcheck(&String::from_utf8_lossy(&out.stdout), script)
}

#[derive(Deserialize)]
struct Json1 {
    comments: Vec<Comment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Comment {
    line: usize,
    end_line: usize,
    column: usize,
    end_column: usize,
    level: String,
    code: u32,
    message: String,
}

/// json1 positions are 1-based, in characters, tabs counting as one.
pub fn parse_shellcheck(json: &str, script: &str) -> Result<Vec<Finding>, String> {
    let parsed: Json1 = serde_json::from_str(json).map_err(|e| format!("unexpected shellcheck output: {e}"))?;
    let index = LineIndex::new(script);
    Ok(parsed
        .comments
        .into_iter()
        .map(|c| {
            let severity = match c.level.as_str() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                "info" => Severity::Info,
                _ => Severity::Hint,
            };
            let start = index.char_position(c.line.saturating_sub(1), c.column.saturating_sub(1));
            let mut end = index.char_position(c.end_line.saturating_sub(1), c.end_column.saturating_sub(1));
            if end <= start {
                end = index.line_end(c.line.saturating_sub(1)).max(start);
            }
            index.finding(Category::Shellcheck, severity, format!("SC{}: {}", c.code, c.message), start..end)
        })
        .collect())
}

/// `doctor`'s lines about bash and shellcheck, and how many are problems (only a missing
/// shellcheck that the config asks for with `true`).
pub fn doctor(settings: &SafetyConfig) -> (String, usize) {
    let tools = Tools::detect();
    let mut out = String::new();
    let mut problems = 0;
    match &tools.bash {
        Some(p) => out.push_str(&format!(
            "safety: bash -n checks generated scripts ({}, {})\n",
            version(p).unwrap_or_else(|| "version unknown".into()),
            p.display()
        )),
        None => out.push_str(
            "safety: bash not found (optional): no syntax check, no retry on syntax errors; the structural check runs\n",
        ),
    }
    match (&tools.shellcheck, settings.shellcheck) {
        (_, ShellcheckMode::Off) => out.push_str("safety: shellcheck off (safety.shellcheck: false)\n"),
        (Some(p), _) => out.push_str(&format!(
            "safety: shellcheck {} ({})\n",
            version(p).unwrap_or_else(|| "version unknown".into()),
            p.display()
        )),
        (None, ShellcheckMode::Auto) => {
            out.push_str("safety: shellcheck not installed (optional; used when found, safety.shellcheck: auto)\n")
        }
        (None, ShellcheckMode::On) => {
            problems += 1;
            out.push_str("safety: shellcheck: PROBLEM: safety.shellcheck is true but shellcheck is not on PATH\n");
        }
    }
    (out, problems)
}

/// `check FILE`: the findings as lint lines, notes for stderr, and the failure message when
/// anything was found.
pub async fn check_file(name: &str, script: &str, settings: &SafetyConfig) -> (String, Vec<String>, Option<String>) {
    let dialect =
        Dialect::from_shebang(script).unwrap_or(if name.ends_with(".zsh") { Dialect::Zsh } else { Dialect::Bash });
    let report = super::check_async(script, CheckOptions::new(settings, dialect)).await;
    let mut notes = Vec::new();
    match &report.syntax {
        ToolRun::Missing => notes.push("bash not found: no syntax check (bash -n)".to_string()),
        ToolRun::Failed(e) => notes.push(format!("bash -n failed: {e}")),
        _ => {}
    }
    match &report.shellcheck {
        ToolRun::Missing if settings.shellcheck == ShellcheckMode::On => {
            notes.push("shellcheck not found (safety.shellcheck is true)".to_string())
        }
        ToolRun::Failed(e) => notes.push(e.clone()),
        _ => {}
    }
    let out: String = report.findings.iter().map(|f| f.lint_line(name) + "\n").collect();
    let dangers = report.dangers().count();
    let failed = (!report.findings.is_empty())
        .then(|| format!("{name}: {} finding(s), {dangers} dangerous", report.findings.len()));
    (out, notes, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_errors() {
        let script = "echo 1\n\nls )\n";
        let f = parse_bash_errors(
            "/dev/stdin: line 3: syntax error near unexpected token `)'\n/dev/stdin: line 3: `ls )'\n",
            false,
            script,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].message, "bash -n: syntax error near unexpected token `)'");
        assert_eq!((f[0].start.line, f[0].start.column, f[0].end.column), (2, 0, 4));
        assert_eq!(f[0].severity, Severity::Error);
        // Past the end: the last line.
        let f = parse_bash_errors(
            "/dev/stdin: line 2: unexpected EOF while looking for matching `)'\n",
            false,
            "echo $(\n",
        );
        assert_eq!(f[0].start.line, 0);
        let f = parse_bash_errors(
            "/dev/stdin: line 3: warning: here-document at line 2 delimited by end-of-file (wanted `EOF')\n",
            true,
            "a\ncat <<EOF\nx\n",
        );
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn shellcheck_json() {
        let script = "echo $1\n\tls $x | grep é\n";
        let json = r#"{"comments":[{"file":"-","line":2,"endLine":2,"column":5,"endColumn":7,"level":"info","code":2086,"message":"Double quote to prevent globbing and word splitting.","fix":null}]}"#;
        let f = parse_shellcheck(json, script).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(&script[f[0].bytes.clone()], "$x");
        assert_eq!(f[0].category, Category::Shellcheck);
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].message.starts_with("SC2086: "));
        assert!(parse_shellcheck("not json", script).is_err());
    }

    #[test]
    fn real_tools_when_installed() {
        let tools = Tools::detect();
        if let Some(bash) = &tools.bash {
            assert!(bash_syntax(bash, "echo ok\n").unwrap().is_empty());
            let f = bash_syntax(bash, "if true; then\n  echo x\n").unwrap();
            assert_eq!(f.len(), 1, "{f:?}");
            assert_eq!(f[0].severity, Severity::Error);
            // Parsing never runs anything.
            let dir = tempfile::tempdir().unwrap();
            let marker = dir.path().join("ran");
            assert!(bash_syntax(bash, &format!("touch {}\n", marker.display())).unwrap().is_empty());
            assert!(!marker.exists());
        }
        if let Some(sc) = &tools.shellcheck {
            let f = shellcheck(sc, "echo $1\n", Dialect::Bash).unwrap();
            assert!(f.iter().any(|f| f.message.starts_with("SC2086")), "{f:?}");
        }
    }

    #[test]
    fn timeouts_kill_the_program() {
        let Some(sleep) = find_program("sleep") else { return };
        let started = Instant::now();
        let err = run(&sleep, &["5"], "", Duration::from_millis(100)).err().unwrap();
        assert!(err.contains("took longer"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
