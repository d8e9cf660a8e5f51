//! The safety check for shell code: what a script would do when run, from its structure.
//!
//! [`check_structure`] parses the script once with tree-sitter-bash, models every command as
//! the shell would run it (see [`model`], built by [`walker`] and [`commands`]) and applies the danger [`RULES`]. It is pure and
//! fast (budgets: a 100-line script under 1 ms, a 1,000-line one under 10 ms; `cargo bench
//! --bench safety`). [`check`] adds the optional outside checks: `bash -n` (syntax; parses,
//! never runs) and shellcheck.
//!
//! Findings carry a category, a severity, a one-line explanation and their exact byte and
//! line/column range (0-based, columns in bytes). Nothing here knows LSP; `crate::lsp`
//! converts findings to diagnostics, `crate::cli` prints them.

mod blocks;
mod commands;
pub mod external;
mod incremental;
mod model;
pub mod paths;
mod rules;
pub mod settings;
mod walker;
mod words;

use std::fmt;
use std::ops::Range;

use serde::Serialize;

pub use blocks::enclosing_block;
pub use commands::{DOWNLOADERS, INTERPRETERS, SHELLS, WRAPPERS, Wrapper};
pub use external::Tools;
pub use incremental::DocumentCheck;
pub use rules::{RULES, Rule};
pub use settings::{FileSafety, SafetyConfig, ShellcheckMode};

/// What a finding is about. The code (kebab-case) is what diagnostics and the CLI show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    DeleteRoot,
    DeleteSystem,
    DeleteHome,
    DeleteEmptyVar,
    DiskWrite,
    SystemPermissions,
    PipeToShell,
    OverwriteSystemFile,
    ForkBomb,
    KillAll,
    CrontabRemove,
    DownloadRun,
    EncodedPayload,
    Lockout,
    DataStore,
    SystemPackage,
    /// `bash -n`.
    Syntax,
    /// shellcheck's findings.
    Shellcheck,
}

impl Category {
    pub const DANGER: [Category; 16] = [
        Category::DeleteRoot,
        Category::DeleteSystem,
        Category::DeleteHome,
        Category::DeleteEmptyVar,
        Category::DiskWrite,
        Category::SystemPermissions,
        Category::PipeToShell,
        Category::OverwriteSystemFile,
        Category::ForkBomb,
        Category::KillAll,
        Category::CrontabRemove,
        Category::DownloadRun,
        Category::EncodedPayload,
        Category::Lockout,
        Category::DataStore,
        Category::SystemPackage,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Category::DeleteRoot => "delete-root",
            Category::DeleteSystem => "delete-system",
            Category::DeleteHome => "delete-home",
            Category::DeleteEmptyVar => "delete-empty-var",
            Category::DiskWrite => "disk-write",
            Category::SystemPermissions => "system-permissions",
            Category::PipeToShell => "pipe-to-shell",
            Category::OverwriteSystemFile => "overwrite-system-file",
            Category::ForkBomb => "fork-bomb",
            Category::KillAll => "kill-all",
            Category::CrontabRemove => "crontab-remove",
            Category::DownloadRun => "download-run",
            Category::EncodedPayload => "encoded-payload",
            Category::Lockout => "lockout",
            Category::DataStore => "data-store",
            Category::SystemPackage => "remove-system-package",
            Category::Syntax => "syntax",
            Category::Shellcheck => "shellcheck",
        }
    }

    pub fn is_danger(self) -> bool {
        !matches!(self, Category::Syntax | Category::Shellcheck)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Hint,
    Info,
    Warning,
    Error,
    /// Would destroy data or the system when run.
    Danger,
}

/// 0-based line and byte column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub category: Category,
    pub severity: Severity,
    /// One line.
    pub message: String,
    pub bytes: Range<usize>,
    pub start: Position,
    pub end: Position,
}

impl Finding {
    pub fn is_danger(&self) -> bool {
        self.severity == Severity::Danger
    }

    /// `NAME:LINE:COL: category: message`, 1-based, as linters print.
    pub fn lint_line(&self, name: &str) -> String {
        format!("{name}:{}:{}: {}: {}", self.start.line + 1, self.start.column + 1, self.category, self.message)
    }
}

/// Line starts of a script, to turn byte offsets into positions.
pub(crate) struct LineIndex<'a> {
    src: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(src: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self { src, starts }
    }

    fn position(&self, byte: usize) -> Position {
        let byte = byte.min(self.src.len());
        let line = self.starts.partition_point(|s| *s <= byte).saturating_sub(1);
        Position { line, column: byte - self.starts[line] }
    }

    /// The last line that has text (a script's final newline starts no line of its own).
    fn last_line(&self) -> usize {
        match self.starts.last() {
            Some(&s) if s == self.src.len() && self.starts.len() > 1 => self.starts.len() - 2,
            _ => self.starts.len() - 1,
        }
    }

    fn line_start(&self, line: usize) -> usize {
        self.starts[line.min(self.last_line())]
    }

    /// The byte offset of the line's end, before its line break.
    pub fn line_end(&self, line: usize) -> usize {
        let line = line.min(self.last_line());
        let end = self.starts.get(line + 1).map(|s| s - 1).unwrap_or(self.src.len());
        if end > self.starts[line] && self.src.as_bytes().get(end - 1) == Some(&b'\r') { end - 1 } else { end }
    }

    /// The byte offset of a 0-based char column on a line, clamped to the line.
    pub fn char_position(&self, line: usize, column: usize) -> usize {
        let (start, end) = (self.line_start(line), self.line_end(line));
        let text = &self.src[start..end.max(start)];
        start + text.char_indices().nth(column).map(|(i, _)| i).unwrap_or(text.len())
    }

    pub fn finding(&self, category: Category, severity: Severity, message: String, bytes: Range<usize>) -> Finding {
        let (start, end) = (self.position(bytes.start), self.position(bytes.end));
        Finding { category, severity, message, bytes, start, end }
    }

    /// A finding on a whole line (clamped to the script), without leading indentation.
    pub fn line_finding(&self, category: Category, severity: Severity, message: String, line: usize) -> Finding {
        let (start, end) = (self.line_start(line), self.line_end(line));
        let indent = self.src[start..end].len() - self.src[start..end].trim_start().len();
        self.finding(category, severity, message, start + indent..end)
    }
}

/// Whether the script parses without errors in tree-sitter-bash (a full bash grammar): a
/// cheap, in-process stand-in for `bash -n` where waiting for a process matters.
pub fn parses_cleanly(script: &str) -> bool {
    model::parses_cleanly(script)
}

/// The structural danger check: no processes, no I/O.
pub fn check_structure(script: &str) -> Vec<Finding> {
    incremental::check_once(script)
}

fn sort_dedup(findings: &mut Vec<Finding>) {
    findings.sort_by_key(|f| (f.bytes.start, f.bytes.end, f.category));
    findings.dedup_by(|a, b| a.bytes == b.bytes && a.category == b.category);
}

/// The shell a script is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Bash,
    Sh,
    Zsh,
}

impl Dialect {
    /// From an LSP `languageId`: `shellscript`, `sh`, `bash`, `zsh`.
    pub fn from_language(language: &str) -> Option<Self> {
        match language {
            "shellscript" | "bash" | "shell" => Some(Dialect::Bash),
            "sh" => Some(Dialect::Sh),
            "zsh" => Some(Dialect::Zsh),
            _ => None,
        }
    }

    /// From a code fence's info string: ```` ```bash ````, `sh`, `shell`, `zsh`.
    pub fn from_fence(info: &str) -> Option<Self> {
        match info.to_ascii_lowercase().as_str() {
            "bash" | "shell" | "shellscript" | "shell-script" => Some(Dialect::Bash),
            "sh" | "posix" => Some(Dialect::Sh),
            "zsh" => Some(Dialect::Zsh),
            _ => None,
        }
    }

    /// From a `#!` line.
    pub fn from_shebang(script: &str) -> Option<Self> {
        let first = script.lines().next()?.strip_prefix("#!")?;
        let mut parts = first.split_whitespace();
        let mut program = parts.next().map(words::basename)?;
        if program == "env" {
            program = parts.find(|p| !p.starts_with('-')).map(words::basename)?;
        }
        match program {
            "bash" => Some(Dialect::Bash),
            "sh" | "dash" | "ash" | "ksh" | "mksh" => Some(Dialect::Sh),
            "zsh" => Some(Dialect::Zsh),
            _ => None,
        }
    }
}

/// Languages whose open documents are linted.
pub fn is_shell_language(language: &str) -> bool {
    Dialect::from_language(language).is_some()
}

/// The info string of an answer's first code fence (```` ```bash ```` gives `bash`, a bare
/// fence ""); `None` without a fence.
pub fn fence_info(answer: &str) -> Option<String> {
    answer.lines().find_map(|l| {
        let t = l.trim_start();
        let rest = t.strip_prefix("```").or_else(|| t.strip_prefix("~~~"))?;
        Some(rest.trim_start_matches(['`', '~']).split_whitespace().next().unwrap_or("").to_ascii_lowercase())
    })
}

/// Whether generated code is shell, and which: the document's language, else the answer's
/// fence; with `assume_shell` (the command line) an answer without a language is shell too.
/// The code's own `#!` line wins.
pub fn dialect_for(language: Option<&str>, answer: &str, code: &str, assume_shell: bool) -> Option<Dialect> {
    let language = language.filter(|l| !l.is_empty() && *l != "plaintext");
    let fence = fence_info(answer);
    let dialect = language
        .and_then(Dialect::from_language)
        .or_else(|| fence.as_deref().and_then(Dialect::from_fence))
        .or_else(|| {
            (assume_shell && language.is_none() && fence.as_deref().unwrap_or("").is_empty()).then_some(Dialect::Bash)
        })?;
    Some(Dialect::from_shebang(code).unwrap_or(dialect))
}

/// [`check`] on the blocking pool (it may run `bash -n` and shellcheck).
pub async fn check_async(code: &str, options: CheckOptions) -> Report {
    let code = code.to_string();
    match tokio::task::spawn_blocking(move || check(&code, &options)).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// How [`check`] runs.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub dialect: Dialect,
    /// Run `bash -n` (bash and sh scripts only).
    pub syntax: bool,
    pub shellcheck: ShellcheckMode,
    pub tools: Tools,
}

impl CheckOptions {
    pub fn new(settings: &SafetyConfig, dialect: Dialect) -> Self {
        Self { dialect, syntax: true, shellcheck: settings.shellcheck, tools: Tools::detect() }
    }
}

/// Whether an outside check ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolRun {
    Ran,
    /// Not installed.
    Missing,
    /// Turned off, or not for this dialect.
    Skipped,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Sorted by position.
    pub findings: Vec<Finding>,
    pub syntax: ToolRun,
    pub shellcheck: ToolRun,
}

impl Report {
    pub fn has_danger(&self) -> bool {
        self.findings.iter().any(Finding::is_danger)
    }

    pub fn dangers(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_danger())
    }

    /// `bash -n`'s error, when the script does not parse.
    pub fn syntax_error(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.category == Category::Syntax && f.severity == Severity::Error)
    }
}

/// The structural check plus `bash -n` and shellcheck when installed. Blocks while those run
/// (a few milliseconds each, at most their timeouts): call it off the async threads.
pub fn check(script: &str, options: &CheckOptions) -> Report {
    check_with(check_structure(script), script, options)
}

/// [`check`] with the structural findings already made (by a [`DocumentCheck`]).
pub fn check_with(structural: Vec<Finding>, script: &str, options: &CheckOptions) -> Report {
    let mut findings = structural;
    let posix_like = matches!(options.dialect, Dialect::Bash | Dialect::Sh);
    let syntax = match (&options.tools.bash, options.syntax && posix_like) {
        (_, false) => ToolRun::Skipped,
        (None, true) => ToolRun::Missing,
        (Some(bash), true) => match external::bash_syntax(bash, script) {
            Ok(f) => {
                findings.extend(f);
                ToolRun::Ran
            }
            Err(e) => ToolRun::Failed(e),
        },
    };
    let shellcheck = match (&options.tools.shellcheck, options.shellcheck != ShellcheckMode::Off && posix_like) {
        (_, false) => ToolRun::Skipped,
        (None, true) => ToolRun::Missing,
        (Some(sc), true) => match external::shellcheck(sc, script, options.dialect) {
            Ok(f) => {
                findings.extend(f);
                ToolRun::Ran
            }
            Err(e) => ToolRun::Failed(e),
        },
    };
    sort_dedup(&mut findings);
    Report { findings, syntax, shellcheck }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_exact() {
        let src = "echo start\n  sudo rm -rf /\n";
        let f = check_structure(src);
        assert_eq!(f.len(), 1);
        assert_eq!(&src[f[0].bytes.clone()], "sudo rm -rf /");
        assert_eq!((f[0].start, f[0].end), (Position { line: 1, column: 2 }, Position { line: 1, column: 15 }));
        assert_eq!(f[0].category, Category::DeleteRoot);
        assert_eq!(f[0].severity, Severity::Danger);
        assert_eq!(f[0].lint_line("x.sh"), format!("x.sh:2:3: delete-root: {}", f[0].message));
        assert!(!f[0].message.contains('\n'));
    }

    #[test]
    fn every_danger_category_has_a_rule() {
        for c in Category::DANGER {
            assert!(RULES.iter().any(|r| r.categories.contains(&c)), "{c}");
            assert!(c.is_danger());
        }
        assert!(!Category::Syntax.is_danger());
    }

    #[test]
    fn dialects() {
        assert_eq!(Dialect::from_shebang("#!/usr/bin/env bash\n"), Some(Dialect::Bash));
        assert_eq!(Dialect::from_shebang("#!/bin/sh -e\n"), Some(Dialect::Sh));
        assert_eq!(Dialect::from_shebang("#!/usr/bin/python3\n"), None);
        assert_eq!(fence_info("Here:\n```Bash\nls\n```"), Some("bash".into()));
        assert_eq!(fence_info("```\nls\n```"), Some(String::new()));
        assert_eq!(fence_info("ls"), None);
        assert_eq!(dialect_for(Some("shellscript"), "x", "x", false), Some(Dialect::Bash));
        assert_eq!(dialect_for(Some("python"), "```python\nx\n```", "x", true), None);
        assert_eq!(dialect_for(Some("markdown"), "```sh\nls\n```", "ls", false), Some(Dialect::Sh));
        assert_eq!(dialect_for(None, "ls -la", "ls -la", true), Some(Dialect::Bash));
        assert_eq!(dialect_for(None, "ls -la", "ls -la", false), None);
        assert_eq!(dialect_for(Some("zsh"), "x", "#!/bin/bash\nx", false), Some(Dialect::Bash));
    }

    #[test]
    fn check_adds_syntax_errors_when_bash_is_there() {
        let options = CheckOptions {
            dialect: Dialect::Bash,
            syntax: true,
            shellcheck: ShellcheckMode::Off,
            tools: Tools { bash: external::find_program("bash"), shellcheck: None },
        };
        let r = check("if true; then\n  rm -rf /\n", &options);
        assert!(r.has_danger());
        match options.tools.bash {
            Some(_) => {
                assert_eq!(r.syntax, ToolRun::Ran);
                assert!(r.syntax_error().is_some(), "{r:?}");
            }
            None => assert_eq!(r.syntax, ToolRun::Missing),
        }
        assert_eq!(r.shellcheck, ToolRun::Skipped);
        let zsh = CheckOptions { dialect: Dialect::Zsh, ..options };
        assert_eq!(check("ls", &zsh).syntax, ToolRun::Skipped);
    }

    #[test]
    fn large_and_odd_input_does_not_panic() {
        let deep = format!("{}x{}", "$(".repeat(500), ")".repeat(500));
        check_structure(&deep);
        check_structure("\u{0}\u{ffff}'\"`$(((");
        check_structure("");
        let big = "rm -rf \"$X\"/a\n".repeat(5000);
        check_structure(&big);
    }
}
