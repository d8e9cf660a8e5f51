//! The script as the shell would run it: every simple command (through wrappers such as
//! `sudo`, `env`, `xargs`, `find -exec`, and inside pipelines, lists, loops, functions,
//! subshells, substitutions, `sh -c '…'`, `eval`, heredocs fed to a shell), every
//! redirection, downloads that a shell runs, and fork bombs. Quoted text, comments, heredocs
//! fed to other programs and the arguments of `echo`, `printf` or `grep` stay data.
//!
//! Parsed once with tree-sitter-bash; a thread-local parser is reused.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use tree_sitter::{Node, Parser, Tree};

use super::words::{self, Piece, Word, basename};

/// Nested scripts (`sh -c`, `eval`, heredocs) are followed this deep.
const MAX_DEPTH: usize = 4;
/// Nested scripts longer than this are not parsed.
const MAX_NESTED_BYTES: usize = 256 * 1024;

/// Programs that fetch from the network and can write what they fetch to stdout.
pub const DOWNLOADERS: &[&str] = &["curl", "wget", "fetch", "http", "https", "xh", "lwp-request", "GET", "aria2c"];
/// Shells: `-c STRING` runs the string; without a script operand they read the program from stdin.
pub const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "yash"];
/// Interpreters that read a program from stdin without a script operand.
pub const INTERPRETERS: &[&str] = &[
    "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua", "tclsh", "pwsh", "Rscript", "deno",
    "bun",
];
/// Options of interpreters whose argument is the program (`python -c`, `perl -e`).
const INLINE_PROGRAM_OPTIONS: &[&str] = &["-c", "-e", "-E", "-m", "-r", "-p", "--eval", "--print", "-x"];
/// Command substitutions that never expand to nothing.
const NON_EMPTY_SUBSTITUTIONS: &[&str] = &["pwd", "dirname", "realpath", "date", "hostname", "whoami", "id", "uname"];
/// Variables that are set and non-empty in any shell.
const NON_EMPTY_VARIABLES: &[&str] = &[
    "PWD",
    "OLDPWD",
    "USER",
    "LOGNAME",
    "SHELL",
    "PATH",
    "HOSTNAME",
    "UID",
    "EUID",
    "PPID",
    "BASHPID",
    "RANDOM",
    "SECONDS",
    "LINENO",
    "BASH",
    "BASH_VERSION",
    "$",
    "!",
    "?",
    "#",
    "-",
    "0",
];

/// A command that runs other commands: how to find the inner one.
pub struct Wrapper {
    pub name: &'static str,
    /// Options that take the next word as their argument.
    pub arg_options: &'static [&'static str],
    /// Options after which no command follows (`command -v`, `sudo -l`).
    pub no_command: &'static [&'static str],
    /// Options whose argument is a script (`env -S`, `flock -c`, `runuser -c`).
    pub script_options: &'static [&'static str],
    /// Operands before the command (`timeout DURATION`, `chroot DIR`).
    pub operands: usize,
    /// `NAME=VALUE` words may precede the command.
    pub assignments: bool,
}

const fn wrapper(name: &'static str, arg_options: &'static [&'static str]) -> Wrapper {
    Wrapper { name, arg_options, no_command: &[], script_options: &[], operands: 0, assignments: false }
}

/// The wrappers looked through. Data: add one here and the rules see through it.
pub const WRAPPERS: &[Wrapper] = &[
    Wrapper {
        no_command: &[
            "-l",
            "--list",
            "-v",
            "--validate",
            "-K",
            "--remove-timestamp",
            "-e",
            "--edit",
            "-V",
            "--version",
        ],
        assignments: true,
        ..wrapper(
            "sudo",
            &[
                "-u",
                "-g",
                "-C",
                "-D",
                "-p",
                "-r",
                "-t",
                "-T",
                "-U",
                "-h",
                "--user",
                "--group",
                "--close-from",
                "--chdir",
                "--prompt",
                "--role",
                "--type",
                "--command-timeout",
                "--other-user",
                "--host",
            ],
        )
    },
    wrapper("doas", &["-u", "-C"]),
    Wrapper {
        script_options: &["-S", "--split-string"],
        assignments: true,
        ..wrapper("env", &["-u", "--unset", "-C", "--chdir", "-P"])
    },
    Wrapper { no_command: &["-v", "-V"], ..wrapper("command", &[]) },
    wrapper("builtin", &[]),
    wrapper("exec", &["-a"]),
    wrapper("nohup", &[]),
    wrapper("time", &["-f", "--format", "-o", "--output"]),
    wrapper("nice", &["-n", "--adjustment"]),
    Wrapper { no_command: &["-p", "-P", "-u", "--pid", "--pgid", "--uid"], ..wrapper("ionice", &["-c", "-n"]) },
    Wrapper { operands: 1, ..wrapper("timeout", &["-s", "--signal", "-k", "--kill-after"]) },
    wrapper("stdbuf", &["-i", "-o", "-e", "--input", "--output", "--error"]),
    wrapper("setsid", &[]),
    Wrapper { operands: 1, ..wrapper("chroot", &["--userspec", "--groups"]) },
    Wrapper { operands: 1, no_command: &["-p", "--pid"], ..wrapper("taskset", &[]) },
    Wrapper { operands: 1, script_options: &["-c", "--command"], ..wrapper("flock", &["-w", "--timeout", "-E"]) },
    wrapper("unbuffer", &[]),
    wrapper("pkexec", &["--user"]),
    Wrapper { script_options: &["-c", "--command"], ..wrapper("runuser", &["-u", "-g", "-G", "--user", "--group"]) },
    wrapper("busybox", &[]),
    wrapper(
        "systemd-run",
        &["-u", "--unit", "-p", "--property", "--uid", "--gid", "-E", "--setenv", "--description", "--slice"],
    ),
    wrapper("catchsegv", &[]),
    wrapper("strace", &["-o", "-e", "-s", "-P", "-E", "-u"]),
];

/// One simple command as it runs: its name (basename), its arguments after wrappers.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub name: String,
    pub args: Vec<Word>,
    pub span: Range<usize>,
    /// The wrappers it ran through, outermost first.
    #[cfg_attr(not(test), allow(dead_code))]
    pub via: Vec<String>,
    /// A shell or interpreter that reads its program from stdin.
    pub stdin_program: bool,
    /// The working directory when known (after `cd /`), as expanded.
    pub cwd: Option<Vec<Piece>>,
    /// The command word as written (expanded): `./install.sh`, `"$TMP"`.
    pub program: Word,
    /// An earlier `cd` that may have gone somewhere else (home, or nowhere).
    pub risky_cd: Option<RiskyCd>,
    /// The text fed on stdin, when the script shows it (heredoc, `echo … |`, `<<<`).
    pub stdin_text: Option<String>,
    /// `> FILE`.
    pub stdout_to: Option<Word>,
    /// The commands this one runs as a script (`ssh host 'psql app'`), by index.
    pub inner: Range<usize>,
    /// `< FILE`.
    pub stdin_from: Option<Word>,
}

/// A `cd` whose target may be empty (unquoted: `cd` then goes home) or may fail unchecked
/// (the script stays where it was).
#[derive(Debug, Clone, PartialEq)]
pub struct RiskyCd {
    /// The `cd` as written, for messages.
    pub cd: String,
    /// The value that may be empty or missing, as written.
    pub var: String,
    pub goes_home: bool,
}

impl Cmd {
    /// A relative path made absolute with the known working directory.
    pub fn resolve(&self, w: &Word) -> Word {
        let relative = match w.pieces.first() {
            Some(Piece::Lit { text, .. }) => !text.starts_with('/'),
            // `for d in etc usr; do rm -rf "$d"`: every value relative.
            Some(Piece::OneOf(alts)) => {
                alts.iter().all(|a| matches!(a.first(), Some(Piece::Lit { text, .. }) if !text.starts_with('/')))
            }
            Some(Piece::Home | Piece::Opaque | Piece::MaybeEmpty { .. }) | None => false,
        };
        match &self.cwd {
            Some(cwd) if relative => {
                let mut pieces = cwd.clone();
                pieces.push(Piece::lit("/", true));
                pieces.extend(w.pieces.iter().cloned());
                Word { pieces, ..w.clone() }
            }
            _ => w.clone(),
        }
    }

    pub fn arg(&self, i: usize) -> Option<String> {
        self.args.get(i).and_then(Word::literal)
    }
}

#[derive(Debug, Clone)]
pub struct Redirect {
    /// `>`, `>>`, `&>`, `<`, …
    pub op: String,
    pub target: Word,
    pub span: Range<usize>,
}

impl Redirect {
    pub fn writes(&self) -> bool {
        matches!(self.op.as_str(), ">" | ">>" | ">|" | "&>" | "&>>" | "<>" | ">&")
    }
}

/// Downloaded code run by a shell or interpreter.
#[derive(Debug, Clone)]
pub struct DownloadExec {
    pub span: Range<usize>,
    pub downloader: String,
    pub interpreter: String,
}

#[derive(Debug, Clone)]
pub struct ForkBomb {
    pub span: Range<usize>,
    pub name: String,
}

#[derive(Debug, Default)]
pub struct Model {
    pub cmds: Vec<Cmd>,
    pub redirects: Vec<Redirect>,
    pub downloads: Vec<DownloadExec>,
    /// Decoded text (`base64 -d`, `xxd -r`, `rev`) run by a shell (`downloader` is the decoder).
    pub decoded: Vec<DownloadExec>,
    pub fork_bombs: Vec<ForkBomb>,
    /// Pipelines: the command index of each stage.
    pub pipes: Vec<Vec<Option<usize>>>,
}

/// What [`Walker::visit`] does with a node kind.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Visit {
    Skip,
    Comment,
    Command,
    Assignment,
    Declaration,
    For,
    Pipeline,
    Redirected,
    FileRedirect,
    Function,
    /// `a && b`, `a || b`: guards such as `[ -n "$D" ] || exit 1`.
    List,
    If,
    /// A subshell or substitution: `cd` inside it does not change the directory outside.
    Subshell,
}

static VISITS: std::sync::OnceLock<Vec<Visit>> = std::sync::OnceLock::new();

fn visit_table() -> Vec<Visit> {
    let language: tree_sitter::Language = tree_sitter_bash::LANGUAGE.into();
    let mut table = vec![Visit::Skip; language.node_kind_count()];
    for (id, slot) in table.iter_mut().enumerate() {
        let Some(kind) = language.node_kind_for_id(id as u16) else { continue };
        if !language.node_kind_is_named(id as u16) {
            continue;
        }
        *slot = match kind {
            "comment" => Visit::Comment,
            "command" => Visit::Command,
            "variable_assignment" => Visit::Assignment,
            "declaration_command" | "unset_command" => Visit::Declaration,
            "for_statement" => Visit::For,
            "pipeline" => Visit::Pipeline,
            "redirected_statement" => Visit::Redirected,
            "file_redirect" => Visit::FileRedirect,
            "function_definition" => Visit::Function,
            "list" => Visit::List,
            "if_statement" => Visit::If,
            "subshell" | "command_substitution" | "process_substitution" => Visit::Subshell,
            _ => Visit::Skip,
        };
    }
    table
}

thread_local! {
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

fn parse(src: &str) -> Option<Tree> {
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut parser = Parser::new();
            parser.set_language(&tree_sitter_bash::LANGUAGE.into()).ok()?;
            *slot = Some(parser);
        }
        slot.as_mut()?.parse(src, None)
    })
}

/// Whether tree-sitter-bash parses `src` without an error node.
pub fn parses_cleanly(src: &str) -> bool {
    parse(src).is_some_and(|tree| !tree.root_node().has_error())
}

/// Builds the model of `src`.
pub fn build(src: &str) -> Model {
    let mut model = Model::default();
    if let Some(tree) = parse(src) {
        let mut walker = Walker::new(src, Mapping::Exact(0), &mut model, 0, Vars::default());
        walker.errexit = src.lines().next().is_some_and(|l| l.starts_with("#!") && l.contains(" -e"));
        walker.walk(tree.root_node());
    }
    model
}

/// Where a nested script's bytes are in the checked script.
#[derive(Debug, Clone)]
enum Mapping {
    /// The nested text is verbatim in the script, starting here.
    Exact(usize),
    /// Not verbatim (escapes, joined words): everything maps to this span.
    Whole(Range<usize>),
}

impl Mapping {
    fn map(&self, r: Range<usize>) -> Range<usize> {
        match self {
            Mapping::Exact(base) => r.start + base..r.end + base,
            Mapping::Whole(w) => w.clone(),
        }
    }
}

/// Known variable values: each a list of alternatives.
type Vars = HashMap<String, Vec<Vec<Piece>>>;

/// What a command's stdin carries, when the pipeline shows it.
#[derive(Debug, Clone, Default)]
struct Stdin {
    /// Literal text a shell on the receiving end would run.
    script: Option<(String, Mapping)>,
    /// The items `xargs` would read.
    items: Option<Vec<Word>>,
}

struct Walker<'s, 'm> {
    src: &'s str,
    map: Mapping,
    model: &'m mut Model,
    depth: usize,
    vars: Vars,
    /// Command nodes already interpreted (by id), with their command's index.
    built: HashMap<usize, Option<usize>>,
    /// The working directory after `cd` in the main flow, when known.
    cwd: Option<Vec<Piece>>,
    risky_cd: Option<RiskyCd>,
    /// `set -e` is on: a failing `cd` stops the script.
    errexit: bool,
    /// Guards that hold only inside a node (`[ -n "$D" ] && rm …`): the name and the node's end.
    scoped: Vec<(String, usize)>,
}

/// Marks kept beside the variables (so nested scripts of the same shell see them): a value
/// that came from a downloader or a decoder, and a variable a guard showed is not empty.
const MARK_DOWNLOAD: char = '\u{1}';
const MARK_DECODE: char = '\u{2}';
const MARK_GUARD: char = '\u{3}';

fn mark_key(mark: char, name: &str) -> String {
    let mut k = String::with_capacity(name.len() + 1);
    k.push(mark);
    k.push_str(name);
    k
}

/// Programs that decode text that a shell may then run.
fn decoder(words: &[&str]) -> Option<String> {
    let name = basename(words.first()?);
    let has = |o: &str| {
        words[1..]
            .iter()
            .any(|w| *w == o || (w.starts_with('-') && !w.starts_with("--") && o.len() == 2 && w.contains(&o[1..])))
    };
    let found = match name {
        "base64" | "base32" | "basenc" => has("-d") || has("--decode") || has("-D"),
        "xxd" => has("-r"),
        "rev" | "uudecode" => true,
        "openssl" => words.iter().any(|w| matches!(*w, "base64" | "enc" | "-base64")) && has("-d"),
        "printf" => words[1..].iter().any(|w| w.contains("\\x") || w.contains("\\0")),
        _ => false,
    };
    found.then(|| name.to_string())
}

fn downloader(words: &[&str]) -> Option<String> {
    let h = basename(words.first()?);
    DOWNLOADERS.contains(&h).then(|| h.to_string())
}

/// `$(which rm)`, `` `command -v rm` ``, `$(type -P rm)`: the program it names.
fn which_name(label: &str) -> Option<String> {
    let inner = label
        .strip_prefix("$(")
        .and_then(|l| l.strip_suffix(')'))
        .or_else(|| label.strip_prefix('`').and_then(|l| l.strip_suffix('`')))?;
    match inner.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["which", name] | ["command", "-v", name] | ["type", "-P" | "-p", name] => Some(name.to_string()),
        _ => None,
    }
}

/// A test on one variable: its name, and whether the test being true means the variable is
/// set and not empty (`-n "$D"`, `-d "$D"`) or the opposite (`-z "$D"`, `! -d "$D"`).
fn test_on_variable(text: &str) -> Option<(String, bool)> {
    let toks: Vec<&str> = text.split_whitespace().filter(|t| !matches!(*t, "[" | "]" | "[[" | "]]" | "test")).collect();
    let (negated, rest) = match toks.as_slice() {
        ["!", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let (op, var) = match rest {
        [op, var] => (*op, *var),
        _ => return None,
    };
    let nonempty_when_true = match op {
        "-n" | "-d" | "-e" | "-f" | "-s" | "-w" => true,
        "-z" => false,
        _ => return None,
    };
    let name = var.trim_matches('"').strip_prefix('$')?;
    let name = name.trim_start_matches('{').trim_end_matches('}');
    let name = name.split([':', '-', '}']).next().unwrap_or("");
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((name.to_string(), nonempty_when_true != negated))
}

/// Text that leaves the script or function when it runs (`exit 1`, `return`, `die "…"`).
fn exits(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| matches!(w, "exit" | "return" | "die" | "fail" | "fatal" | "abort"))
}

/// Parsed `find` arguments.
#[derive(Debug, Clone, Default)]
pub struct Find {
    pub starts: Vec<Word>,
    /// Tests that narrow what is found (`-name`, `-mtime`, …); `-type` alone does not.
    pub filters: bool,
    pub delete: bool,
    /// The start paths themselves are found (no `-mindepth 1`).
    pub includes_starts: bool,
    /// Argument ranges of `-exec`/`-execdir`/`-ok`/`-okdir` clauses, without the terminator.
    pub execs: Vec<Range<usize>>,
}

const FIND_FILTERS: &[&str] = &[
    "-name",
    "-iname",
    "-path",
    "-ipath",
    "-wholename",
    "-iwholename",
    "-regex",
    "-iregex",
    "-lname",
    "-ilname",
    "-mtime",
    "-mmin",
    "-atime",
    "-amin",
    "-ctime",
    "-cmin",
    "-newer",
    "-anewer",
    "-cnewer",
    "-newermt",
    "-size",
    "-user",
    "-group",
    "-uid",
    "-gid",
    "-nouser",
    "-nogroup",
    "-perm",
    "-empty",
    "-links",
    "-inum",
    "-samefile",
];

pub fn parse_find(args: &[Word]) -> Find {
    let lit = |i: usize| args.get(i).and_then(Word::literal);
    let mut i = 0;
    while let Some(t) = lit(i) {
        match t.as_str() {
            "-H" | "-L" | "-P" => i += 1,
            "-D" => i += 2,
            t if t.starts_with("-O") => i += 1,
            _ => break,
        }
    }
    let mut find = Find { includes_starts: true, ..Find::default() };
    while let Some(w) = args.get(i) {
        match w.literal().as_deref() {
            Some(t) if t.starts_with('-') || matches!(t, "(" | "!" | ",") => break,
            _ => find.starts.push(w.clone()),
        }
        i += 1;
    }
    while i < args.len() {
        let t = lit(i).unwrap_or_default();
        match t.as_str() {
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                let start = i + 1;
                let mut end = start;
                while end < args.len() && !matches!(lit(end).as_deref(), Some(";" | "+")) {
                    end += 1;
                }
                find.execs.push(start..end);
                i = end + 1;
                continue;
            }
            "-delete" => find.delete = true,
            "-mindepth" => {
                find.includes_starts = lit(i + 1).as_deref() == Some("0");
                i += 1;
            }
            t if FIND_FILTERS.contains(&t) => {
                find.filters = true;
                if !matches!(t, "-empty" | "-nouser" | "-nogroup") {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    find
}

impl Find {
    /// What `{}` (or `find … | xargs`) stands for: without filters the start paths and their
    /// direct contents (`/var` and `/var/*`); with filters something deeper and unknown.
    pub fn items(&self, span: &Range<usize>) -> Vec<Word> {
        let mut out = Vec::new();
        for start in &self.starts {
            let mut child = start.clone();
            child.span = span.clone();
            if self.filters {
                child.pieces.extend([Piece::lit("/", true), Piece::lit(super::paths::FOUND, false)]);
            } else {
                if self.includes_starts {
                    let mut s = start.clone();
                    s.span = span.clone();
                    out.push(s);
                }
                child.pieces.extend([Piece::lit("/", true), Piece::lit("*", false)]);
            }
            out.push(child);
        }
        out
    }
}

/// How a shell is invoked.
enum ShellMode {
    /// `-c STRING`: the argument index of the string.
    Command(usize),
    /// The program comes from stdin.
    Stdin,
    /// A script file (or something unknown) is the program.
    File,
}

fn shell_mode(args: &[Word]) -> ShellMode {
    let (mut i, mut c, mut s) = (0, false, false);
    while let Some(t) = args.get(i).and_then(Word::literal) {
        if t == "--" || t == "-" {
            i += 1;
            break;
        }
        if !(t.starts_with('-') || t.starts_with('+')) || t.len() < 2 {
            break;
        }
        if t.starts_with("--") {
            i += if matches!(t.as_str(), "--rcfile" | "--init-file") { 2 } else { 1 };
            continue;
        }
        c |= t.contains('c');
        s |= t.contains('s');
        i += if t.contains('o') || t.contains('O') { 2 } else { 1 };
    }
    if c {
        return if i < args.len() { ShellMode::Command(i) } else { ShellMode::File };
    }
    if s || i >= args.len() { ShellMode::Stdin } else { ShellMode::File }
}

fn interpreter_reads_stdin(args: &[Word]) -> bool {
    for w in args {
        match w.literal().as_deref() {
            Some("-") => return true,
            Some(t) if INLINE_PROGRAM_OPTIONS.contains(&t) => return false,
            Some(t) if t.starts_with('-') => {}
            _ => return false,
        }
    }
    true
}

fn is_assignment(text: &str) -> bool {
    let Some((name, _)) = text.split_once('=') else { return false };
    !name.is_empty()
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

enum Inner {
    At(usize),
    NoCommand,
    Script(usize),
}

impl Wrapper {
    fn inner(&self, words: &[Word], mut i: usize) -> Inner {
        while let Some(t) = words.get(i).and_then(Word::literal) {
            if t == "--" {
                i += 1;
                break;
            }
            if self.name == "env" && t == "-" {
                i += 1;
                continue;
            }
            if !t.starts_with('-') || t == "-" {
                break;
            }
            if self.no_command.contains(&t.as_str()) {
                return Inner::NoCommand;
            }
            if self.script_options.contains(&t.as_str()) {
                return Inner::Script(i + 1);
            }
            i += if self.arg_options.contains(&t.as_str()) { 2 } else { 1 };
        }
        if self.assignments {
            // `PATH="$PATH"`: the name and `=` are literal even when the value is not.
            while words.get(i).is_some_and(
                |w| matches!(w.pieces.first(), Some(Piece::Lit { text, quoted: false }) if is_assignment(text)),
            ) {
                i += 1;
            }
        }
        i += self.operands;
        if i < words.len() { Inner::At(i) } else { Inner::NoCommand }
    }
}

/// `xargs` options: the index of the command and the replace string (`-I R`).
fn xargs_inner(words: &[Word], mut i: usize) -> (usize, Option<String>) {
    let mut replace = None;
    const ARG: &[&str] =
        &["-a", "--arg-file", "-d", "--delimiter", "-E", "-L", "-n", "--max-args", "-P", "--max-procs", "-s"];
    while let Some(t) = words.get(i).and_then(Word::literal) {
        if t == "--" {
            i += 1;
            break;
        }
        if !t.starts_with('-') || t == "-" {
            break;
        }
        if t == "-I" {
            replace = words.get(i + 1).and_then(Word::literal);
            i += 2;
            continue;
        }
        if let Some(r) = t.strip_prefix("-I").or_else(|| t.strip_prefix("--replace=")) {
            replace = Some(r.to_string());
        } else if t == "-i" || t == "--replace" {
            replace = Some("{}".into());
        } else if let Some(r) = t.strip_prefix("-i") {
            replace = Some(r.to_string());
        }
        i += if ARG.contains(&t.as_str()) { 2 } else { 1 };
    }
    (i, replace)
}

/// Splits words at whitespace that came from unquoted expansions (`cmd="rm -rf /"; $cmd`).
fn split_fields(words: Vec<Word>) -> Vec<Word> {
    let needs = |w: &Word| {
        w.pieces.iter().any(|p| matches!(p, Piece::Lit { text, quoted: false } if text.contains(char::is_whitespace)))
    };
    if !words.iter().any(needs) {
        return words;
    }
    let mut out = Vec::new();
    for w in words {
        if !needs(&w) {
            out.push(w);
            continue;
        }
        let mut current: Vec<Piece> = Vec::new();
        for p in w.pieces.iter().cloned() {
            match p {
                Piece::Lit { text, quoted: false } if text.contains(char::is_whitespace) => {
                    let mut parts = text.split(char::is_whitespace).peekable();
                    while let Some(part) = parts.next() {
                        if !part.is_empty() {
                            current.push(Piece::lit(part, false));
                        }
                        if parts.peek().is_some() && !current.is_empty() {
                            out.push(Word { pieces: std::mem::take(&mut current), ..w.clone() });
                        }
                    }
                }
                other => current.push(other),
            }
        }
        if !current.is_empty() {
            out.push(Word { pieces: current, ..w });
        }
    }
    out
}

fn requote(pieces: &[Piece], quoted: bool) -> Vec<Piece> {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Lit { text, .. } => Piece::Lit { text: text.clone(), quoted },
            Piece::OneOf(alts) => Piece::OneOf(alts.iter().map(|a| requote(a, quoted)).collect()),
            other => other.clone(),
        })
        .collect()
}

fn children(node: Node) -> Vec<Node> {
    let mut cursor = node.walk();
    node.children(&mut cursor).collect()
}

/// A pipeline member's command node (through redirections and `!`).
fn primary_command(stage: Node) -> Option<Node> {
    match stage.kind() {
        "command" => Some(stage),
        "redirected_statement" | "negated_command" => {
            stage.child_by_field_name("body").or_else(|| stage.named_child(0)).and_then(primary_command)
        }
        _ => None,
    }
}

/// Runs in the background or in a pipeline (below `stop`, when given).
fn is_forked(node: Node, stop: Option<Node>) -> bool {
    let mut current = Some(node);
    while let Some(n) = current {
        if Some(n) == stop {
            break;
        }
        if n.kind() == "pipeline" || n.next_sibling().is_some_and(|s| s.kind() == "&") {
            return true;
        }
        current = n.parent();
    }
    false
}

fn inside_loop(node: Node) -> bool {
    let mut current = node.parent();
    while let Some(n) = current {
        if matches!(n.kind(), "while_statement" | "for_statement" | "c_style_for_statement" | "function_definition") {
            return true;
        }
        current = n.parent();
    }
    false
}

impl<'s, 'm> Walker<'s, 'm> {
    fn new(src: &'s str, map: Mapping, model: &'m mut Model, depth: usize, vars: Vars) -> Self {
        Walker {
            src,
            map,
            model,
            depth,
            vars,
            built: HashMap::new(),
            cwd: None,
            risky_cd: None,
            errexit: false,
            scoped: Vec::new(),
        }
    }

    fn text(&self, node: Node) -> &'s str {
        &self.src[node.byte_range()]
    }

    fn span(&self, node: Node) -> Range<usize> {
        self.map.map(node.byte_range())
    }

    /// Visits every node in order. Ancestors are kept on a stack: `Node::parent` searches
    /// from the root and would make the walk quadratic.
    fn walk(&mut self, root: Node) {
        let mut cursor = root.walk();
        let mut ancestors: Vec<Node> = Vec::new();
        let mut saved: Vec<(Option<Vec<Piece>>, Option<RiskyCd>)> = Vec::new();
        let table = VISITS.get_or_init(visit_table);
        let is_subshell = |n: Node| table.get(n.kind_id() as usize) == Some(&Visit::Subshell);
        loop {
            let node = cursor.node();
            if self.visit(node, &ancestors) && cursor.goto_first_child() {
                if is_subshell(node) {
                    saved.push((self.cwd.clone(), self.risky_cd.clone()));
                }
                ancestors.push(node);
                continue;
            }
            loop {
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    return;
                }
                if let Some(n) = ancestors.pop()
                    && is_subshell(n)
                    && let Some((cwd, risky)) = saved.pop()
                {
                    self.cwd = cwd;
                    self.risky_cd = risky;
                }
            }
        }
    }

    /// Handles a node before its children; false skips them.
    fn visit(&mut self, node: Node, ancestors: &[Node]) -> bool {
        // By kind id: `Node::kind` converts a C string on every call.
        let visit = VISITS.get_or_init(visit_table).get(node.kind_id() as usize).copied().unwrap_or(Visit::Skip);
        match visit {
            Visit::Skip => {}
            Visit::Comment => return false,
            Visit::Command => {
                while let Some((name, _)) = self.scoped.last().filter(|(_, end)| *end <= node.start_byte()) {
                    let key = mark_key(MARK_GUARD, name);
                    self.scoped.pop();
                    self.vars.remove(&key);
                }
                let nested = self.may_nest(node);
                if let Some(i) = self.command_index(node, &Stdin::default()) {
                    // `cd` changes the directory for what follows (a subshell's is restored
                    // when it ends; a pipeline stage runs in its own).
                    let name = self.model.cmds[i].name.as_str();
                    if matches!(name, "cd" | "pushd" | "popd") && !ancestors.iter().any(|a| a.kind() == "pipeline") {
                        let cmd = self.model.cmds[i].clone();
                        self.cwd = self.cd(&cmd);
                        self.risky_cd = self.risky(&cmd, node, ancestors);
                    } else if name == "set" {
                        let cmd = &self.model.cmds[i];
                        let on =
                            cmd.args.iter().filter_map(Word::literal).any(|t| {
                                t == "errexit" || (t.starts_with('-') && !t.starts_with("--") && t.contains('e'))
                            });
                        self.errexit |= on;
                    }
                }
                let text = self.text(node);
                if text.contains(":?") {
                    self.guard_expansions(text);
                }
                return nested;
            }
            Visit::Assignment => {
                if ancestors.last().is_none_or(|p| p.kind() != "command") {
                    self.assign(node);
                }
                return self.may_nest(node);
            }
            Visit::Declaration => {
                for child in children(node) {
                    if child.kind() == "variable_name" {
                        self.vars.remove(self.text(child));
                    }
                }
            }
            Visit::For => self.for_loop(node),
            Visit::Pipeline => self.pipeline(node, ancestors),
            Visit::Redirected => self.redirected(node),
            Visit::FileRedirect => self.file_redirect(node),
            Visit::Function => self.function(node),
            Visit::List => self.list_guard(node),
            Visit::If => self.if_guard(node),
            Visit::Subshell => {}
        }
        true
    }

    /// `: "${D:?}"`, `rm -rf "${D:?}/x"`: after this command `D` is set and not empty.
    fn guard_expansions(&mut self, text: &str) {
        for (i, _) in text.match_indices("${") {
            let rest = &text[i + 2..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && rest[name.len()..].starts_with(":?") {
                self.vars.insert(mark_key(MARK_GUARD, &name), Vec::new());
            }
        }
    }

    fn guard_within(&mut self, name: String, end: usize) {
        if !self.vars.contains_key(&mark_key(MARK_GUARD, &name)) {
            self.scoped.push((name.clone(), end));
            self.guard(name);
        }
    }

    fn guard(&mut self, name: String) {
        self.vars.insert(mark_key(MARK_GUARD, &name), Vec::new());
    }

    /// `[ -n "$D" ] || exit 1`, `[ -z "$D" ] && exit`, `[ -d "$D" ] && rm -rf "$D/"`.
    fn list_guard(&mut self, node: Node) {
        let kids = children(node);
        let [left, op, right, ..] = kids.as_slice() else { return };
        if !matches!(left.kind(), "test_command" | "command") {
            return;
        }
        let Some((name, nonempty_when_true)) = test_on_variable(self.text(*left)) else { return };
        match op.kind() {
            "||" if nonempty_when_true && exits(self.text(*right)) => self.guard(name),
            "&&" if !nonempty_when_true && exits(self.text(*right)) => self.guard(name),
            "&&" if nonempty_when_true => self.guard_within(name, node.end_byte()),
            _ => {}
        }
    }

    /// `if [ -z "$D" ]; then exit 1; fi`, `if [ -n "$D" ]; then rm -rf "$D/"; fi`.
    fn if_guard(&mut self, node: Node) {
        let Some(cond) = node.child_by_field_name("condition") else { return };
        let Some((name, nonempty_when_true)) = test_on_variable(self.text(cond).trim_end_matches(';')) else {
            return;
        };
        let body_exits = children(node)
            .iter()
            .skip_while(|c| c.kind() != "then")
            .take_while(|c| !matches!(c.kind(), "else_clause" | "elif_clause" | "fi"))
            .any(|c| exits(self.text(*c)));
        if body_exits && !nonempty_when_true {
            self.guard(name);
        } else if nonempty_when_true {
            self.guard_within(name, node.end_byte());
        }
    }

    /// Whether `cd` may leave the script somewhere it did not mean to be.
    fn risky(&self, cmd: &Cmd, node: Node, ancestors: &[Node]) -> Option<RiskyCd> {
        if cmd.name != "cd" {
            return None;
        }
        let target = cmd.args.iter().find(|a| !a.is_option())?;
        if target.literal().is_some() {
            return None;
        }
        let written = target.local.clone().and_then(|r| self.src.get(r)).unwrap_or("");
        let cd = format!("cd {written}");
        let may_be_empty = target.candidates().iter().any(|c| c.text.is_empty());
        if !may_be_empty {
            return None;
        }
        if written.starts_with('$') {
            return Some(RiskyCd { cd, var: target.display(), goes_home: true });
        }
        // Checked: `cd "$D" && …`, `cd "$D" || exit`, `if cd "$D"; then`, or `set -e`.
        let chained = node.next_sibling().is_some_and(|s| matches!(s.kind(), "&&" | "||"));
        let in_condition = ancestors.last().is_some_and(|a| {
            matches!(a.kind(), "if_statement" | "while_statement" | "elif_clause" | "list" | "negated_command")
        });
        if chained || in_condition || self.errexit {
            return None;
        }
        Some(RiskyCd { cd, var: target.display(), goes_home: false })
    }

    /// Whether a command or assignment can hold more to visit (substitutions, redirections);
    /// most hold only words, and skipping them halves the walk.
    fn may_nest(&self, node: Node) -> bool {
        let text = self.text(node).as_bytes();
        text.iter().any(|b| matches!(b, b'`' | b'<' | b'>')) || text.windows(2).any(|w| w == b"$(")
    }

    /// The command for a `command` node, interpreting it once.
    fn command_index(&mut self, node: Node, stdin: &Stdin) -> Option<usize> {
        if let Some(idx) = self.built.get(&node.id()) {
            return *idx;
        }
        self.built.insert(node.id(), None);
        let mut words = Vec::new();
        let mut stdin = stdin.clone();
        let mut fed: (Option<String>, Option<String>) = (None, None);
        let mut cursor = node.walk();
        if cursor.goto_first_child() {
            loop {
                let child = cursor.node();
                match cursor.field_name() {
                    Some("name") | Some("argument") => words.push(self.eval(child)),
                    _ if child.kind() == "herestring_redirect" => {
                        if let Some(arg) = child.named_child(0) {
                            let w = self.eval(arg);
                            fed = (w.downloads.clone(), w.decodes.clone());
                            if let Some(text) = w.literal() {
                                let span = w.span.clone();
                                stdin.items = Some(
                                    text.split_whitespace()
                                        .map(|t| Word {
                                            pieces: vec![Piece::lit(t, true)],
                                            span: span.clone(),
                                            ..Word::default()
                                        })
                                        .collect(),
                                );
                                stdin.script = Some((text, self.sub_mapping(&w)));
                            }
                        }
                    }
                    _ => {}
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        if let Some(name) = node.child_by_field_name("name")
            && matches!(self.text(name), "$0" | "${0}" | "\"$0\"")
            && is_forked(node, None)
            && inside_loop(node)
        {
            self.model.fork_bombs.push(ForkBomb { span: self.span(node), name: "$0".into() });
        }
        if let Some(Word { pieces, .. }) = words.first_mut()
            && let [Piece::MaybeEmpty { label }] = pieces.as_slice()
            && let Some(name) = which_name(label)
        {
            *pieces = vec![Piece::lit(&name, true)];
        }
        let span = self.span(node);
        let idx = self.interpret(split_fields(words), span.clone(), &stdin, Vec::new());
        self.built.insert(node.id(), idx);
        if let Some(i) = idx
            && self.model.cmds[i].stdin_program
        {
            let interpreter = self.model.cmds[i].name.clone();
            if let Some(d) = fed.0 {
                self.model.downloads.push(DownloadExec {
                    span: span.clone(),
                    downloader: d,
                    interpreter: interpreter.clone(),
                });
            }
            if let Some(d) = fed.1 {
                self.model.decoded.push(DownloadExec { span, downloader: d, interpreter });
            }
        }
        idx
    }

    /// Looks through wrappers and records the command that runs; follows scripts passed as
    /// strings. Returns the index of the outermost recorded command.
    fn interpret(
        &mut self,
        words: Vec<Word>,
        span: Range<usize>,
        stdin: &Stdin,
        mut via: Vec<String>,
    ) -> Option<usize> {
        let mut i = 0;
        let mut xargs_replace: Option<Option<String>> = None;
        loop {
            let name = basename(&words.get(i)?.literal().unwrap_or_default()).to_string();
            if let Some(w) = WRAPPERS.iter().find(|w| w.name == name) {
                match w.inner(&words, i + 1) {
                    Inner::At(j) => {
                        via.push(name);
                        i = j;
                        continue;
                    }
                    Inner::Script(j) => {
                        if let Some(word) = words.get(j) {
                            self.script_word(word, false);
                        }
                        break;
                    }
                    Inner::NoCommand => break,
                }
            }
            if name == "xargs" {
                let (j, replace) = xargs_inner(&words, i + 1);
                if j >= words.len() {
                    break;
                }
                via.push(name);
                xargs_replace = Some(replace);
                i = j;
                continue;
            }
            break;
        }
        let name = basename(&words[i].literal().unwrap_or_default()).to_string();
        let mut words = words;
        let mut args: Vec<Word> = words.split_off(i + 1);
        let program = words.pop().unwrap_or_default();
        if let (Some(replace), Some(items)) = (&xargs_replace, &stdin.items) {
            match replace {
                Some(r) if args.iter().any(|a| a.literal().as_deref() == Some(r.as_str())) => {
                    args = args
                        .into_iter()
                        .flat_map(|a| if a.literal().as_deref() == Some(r.as_str()) { items.clone() } else { vec![a] })
                        .collect();
                }
                _ => args.extend(items.iter().cloned()),
            }
        }
        let mut stdin_program = false;
        let is_shell = SHELLS.contains(&name.as_str());
        let is_interpreter = INTERPRETERS.contains(&name.as_str()) || name.starts_with("python3.");
        if is_shell {
            match shell_mode(&args) {
                ShellMode::Command(k) => self.script_word(&args[k], false),
                ShellMode::Stdin => stdin_program = true,
                ShellMode::File => {}
            }
        } else if is_interpreter {
            stdin_program = interpreter_reads_stdin(&args);
        }
        if (is_shell || is_interpreter || matches!(name.as_str(), "eval" | "source" | "."))
            && let Some(d) = args.iter().find_map(|a| a.downloads.clone())
        {
            {
                self.model.downloads.push(DownloadExec {
                    span: span.clone(),
                    downloader: d,
                    interpreter: name.clone(),
                });
            }
        }
        if (is_shell || is_interpreter || matches!(name.as_str(), "eval" | "source" | "."))
            && let Some(d) = args.iter().find_map(|a| a.decodes.clone())
        {
            self.model.decoded.push(DownloadExec { span: span.clone(), downloader: d, interpreter: name.clone() });
        }
        // `$(echo cm0gLXJmIC8K | base64 -d)` as the command: the shell runs the decoded words.
        if let Some(d) = program.decodes.clone() {
            self.model.decoded.push(DownloadExec {
                span: span.clone(),
                downloader: d,
                interpreter: "the shell".into(),
            });
        }
        if let Some(d) = program.downloads.clone() {
            self.model.downloads.push(DownloadExec {
                span: span.clone(),
                downloader: d,
                interpreter: "the shell".into(),
            });
        }
        if matches!(name.as_str(), "source" | ".")
            && args
                .first()
                .and_then(Word::literal)
                .is_some_and(|t| matches!(t.as_str(), "/dev/stdin" | "/proc/self/fd/0"))
        {
            stdin_program = true;
        }
        if is_interpreter {
            self.program_calls(&args, &span);
        }
        if stdin_program && let Some((text, map)) = &stdin.script {
            self.nested(text, map.clone(), Vars::default());
        }
        let inner_start = self.model.cmds.len();
        match name.as_str() {
            "eval" => self.script_words(&args, true),
            "trap" => {
                if let Some(first) = args.first().filter(|a| !a.is_option() && a.literal().as_deref() != Some("-")) {
                    self.script_word(first, true);
                }
            }
            "su" => {
                let mut k = 0;
                while k < args.len() {
                    match args[k].literal().as_deref() {
                        Some("-c" | "--command") => {
                            if let Some(w) = args.get(k + 1) {
                                self.script_word(w, false);
                            }
                            k += 1;
                        }
                        Some(t) if t.starts_with("--command=") => {
                            if let Some(w) = args[k].strip_prefix("--command=") {
                                self.script_word(&w, false);
                            }
                        }
                        _ => {}
                    }
                    k += 1;
                }
            }
            "ssh" => {
                const ARG: &[&str] = &[
                    "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o", "-p", "-Q",
                    "-R", "-S", "-W", "-w",
                ];
                let mut k = 0;
                while let Some(t) = args.get(k).and_then(Word::literal).filter(|t| t.starts_with('-')) {
                    k += if ARG.contains(&t.as_str()) { 2 } else { 1 };
                }
                // args[k] is the host; what follows is the remote command.
                if k + 1 < args.len() {
                    self.script_words(&args[k + 1..], false);
                    // `ssh host bash -s <<EOF`, `ssh host 'sudo sh'`: the remote shell reads stdin.
                    let remote: Vec<String> = args[k + 1..]
                        .iter()
                        .filter_map(Word::literal)
                        .flat_map(|t| t.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                        .collect();
                    if let Some(p) = remote.iter().position(|t| SHELLS.contains(&basename(t))) {
                        let rest: Vec<Word> = remote[p + 1..]
                            .iter()
                            .map(|t| Word { pieces: vec![Piece::lit(t, true)], ..Word::default() })
                            .collect();
                        stdin_program |= matches!(shell_mode(&rest), ShellMode::Stdin);
                    }
                } else {
                    stdin_program = true;
                }
            }
            // `pssh -h hosts -i 'CMD'`, `pdsh -w hosts CMD`: the last word runs on every host.
            "pssh" | "parallel-ssh" | "pdsh" | "clush" => {
                if let Some(last) = args.last().filter(|a| !a.is_option()) {
                    self.script_word(last, false);
                }
            }
            // `docker exec -it redis redis-cli FLUSHALL`, `kubectl exec pod -- CMD`.
            "docker" | "podman" | "kubectl" | "oc"
                if args.first().and_then(Word::literal).as_deref() == Some("exec") =>
            {
                let start = if let Some(dd) = args.iter().position(|a| a.literal().as_deref() == Some("--")) {
                    Some(dd + 1)
                } else if name == "docker" || name == "podman" {
                    const ARG: &[&str] = &["-e", "--env", "-u", "--user", "-w", "--workdir", "--env-file"];
                    let mut k = 1;
                    while let Some(t) = args.get(k).and_then(Word::literal).filter(|t| t.starts_with('-')) {
                        k += if ARG.contains(&t.as_str()) { 2 } else { 1 };
                    }
                    Some(k + 1)
                } else {
                    None
                };
                if let Some(start) = start.filter(|s| *s < args.len()) {
                    let mut inner_via = via.clone();
                    inner_via.push(name.clone());
                    self.interpret(args[start..].to_vec(), span.clone(), &Stdin::default(), inner_via);
                }
            }
            "watch" => {
                const ARG: &[&str] = &["-n", "--interval", "-q", "--equexit"];
                let mut k = 0;
                while let Some(t) = args.get(k).and_then(Word::literal).filter(|t| t.starts_with('-')) {
                    k += if ARG.contains(&t.as_str()) { 2 } else { 1 };
                }
                self.script_words(&args[k.min(args.len())..], false);
            }
            "read" | "mapfile" | "readarray" => {
                let mut k = 0;
                while k < args.len() {
                    match args[k].literal() {
                        Some(t) if matches!(t.as_str(), "-a" | "-d" | "-i" | "-n" | "-N" | "-p" | "-t" | "-u") => {
                            k += 1;
                        }
                        Some(t) if !t.starts_with('-') => {
                            self.vars.remove(&t);
                        }
                        _ => {}
                    }
                    k += 1;
                }
            }
            "find" => {
                let find = parse_find(&args);
                let items = find.items(&span);
                for clause in &find.execs {
                    let clause_words: Vec<Word> = args[clause.clone()]
                        .iter()
                        .flat_map(|w| match w.literal().as_deref() {
                            Some("{}") => items.clone(),
                            _ => vec![w.clone()],
                        })
                        .collect();
                    let mut inner_via = via.clone();
                    inner_via.push("find".into());
                    self.interpret(clause_words, span.clone(), &Stdin::default(), inner_via);
                }
            }
            _ => {}
        }
        let stdin_text = stdin.script.as_ref().map(|(t, _)| t.clone());
        self.model.cmds.push(Cmd {
            name,
            args,
            span,
            via,
            stdin_program,
            cwd: self.cwd.clone(),
            program,
            risky_cd: self.risky_cd.clone(),
            stdin_text,
            stdout_to: None,
            stdin_from: None,
            inner: inner_start..self.model.cmds.len(),
        });
        Some(self.model.cmds.len() - 1)
    }

    /// An interpreter's inline program that runs shell commands or deletes trees:
    /// `os.system("rm -rf /")`, `system("…")`, `shutil.rmtree('/etc')`, `FileUtils.rm_rf(…)`.
    /// The command strings are checked as shell; a tree deletion as `rm -rf PATH`.
    fn program_calls(&mut self, args: &[Word], span: &Range<usize>) {
        let Some(text) = args.windows(2).find_map(|w| {
            let opt = w[0].literal()?;
            (opt.starts_with('-') && !opt.starts_with("--") && matches!(opt.chars().last(), Some('c' | 'e' | 'E')))
                .then(|| w[1].literal())
                .flatten()
        }) else {
            return;
        };
        self.program_text_calls(&text, span);
    }

    fn program_text_calls(&mut self, text: &str, span: &Range<usize>) {
        let decodes = text.contains("b64decode") || text.contains("decode_base64") || text.contains("unpack(\"m");
        if decodes && ["system", "popen", "subprocess", "exec", "eval", "`"].iter().any(|c| text.contains(c)) {
            self.model.decoded.push(DownloadExec {
                span: span.clone(),
                downloader: "base64".into(),
                interpreter: "the program".into(),
            });
        }
        const SHELL_CALLS: &[&str] = &[
            "system(",
            "system ",
            "popen(",
            "subprocess.run(",
            "subprocess.call(",
            "check_call(",
            "check_output(",
            "exec(\"",
            "execSync(",
        ];
        const TREE_DELETES: &[&str] = &["rmtree(", "rm_rf(", "remove_tree(", "rmSync(", "rimraf("];
        let mut scripts = Vec::new();
        for (calls, delete) in [(SHELL_CALLS, false), (TREE_DELETES, true)] {
            for call in calls {
                for (i, _) in text.match_indices(call) {
                    let rest = text[i + call.len()..].trim_start();
                    let arg = match rest.chars().next() {
                        Some(q @ ('"' | '\'')) => rest[1..].split(q).next().map(str::to_string),
                        _ if delete && rest.starts_with("Dir.home") => Some("~".to_string()),
                        _ if delete && rest.starts_with("os.path.expanduser(") => Some("~".to_string()),
                        _ => None,
                    };
                    if let Some(arg) = arg {
                        scripts.push(if delete { format!("rm -rf '{}'", arg.replace('\'', "")) } else { arg });
                    }
                }
            }
        }
        for script in scripts.into_iter().take(8) {
            let script = script.replacen("'~'", "~", 1);
            self.nested(&script, Mapping::Whole(span.clone()), Vars::default());
        }
    }

    /// The directory after `cd ARG`: absolute, home, or relative to a known one.
    fn cd(&self, cmd: &Cmd) -> Option<Vec<Piece>> {
        let operands: Vec<&Word> = cmd.args.iter().filter(|a| !a.is_option()).collect();
        match (cmd.name.as_str(), operands.as_slice()) {
            ("cd", []) => Some(vec![Piece::Home]),
            ("cd" | "pushd", [dir]) if dir.literal().as_deref() != Some("-") => {
                let resolved = cmd.resolve(dir);
                match resolved.pieces.first() {
                    Some(Piece::Lit { text, .. }) if text.starts_with('/') => Some(resolved.pieces),
                    Some(Piece::Home) => Some(resolved.pieces),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Follows a string that a shell will run (`sh -c STRING`, `eval`, `trap`).
    fn script_word(&mut self, word: &Word, same_shell: bool) {
        let vars = if same_shell { self.vars.clone() } else { Vars::default() };
        if let Some(text) = word.literal() {
            self.nested(&text, self.sub_mapping(word), vars);
        } else if word.downloads.is_none()
            && word.decodes.is_none()
            && let Some(r) = word.local.clone()
            && let Some(inner) = self.src.get(r.clone()).and_then(|t| t.strip_prefix('"')?.strip_suffix('"'))
        {
            // `sh -c "rm -rf $DIR/"`, `ssh host "sudo rm -rf $P"`: the expansions are unknown
            // here; checked as the shell that runs the text would see them.
            let inner = inner.to_string();
            let map = match &self.map {
                Mapping::Exact(base) => Mapping::Exact(base + r.start + 1),
                Mapping::Whole(w) => Mapping::Whole(w.clone()),
            };
            self.nested(&inner, map, vars);
        }
    }

    /// Several words joined with spaces (`eval a b`, `ssh host cmd args`).
    fn script_words(&mut self, words: &[Word], same_shell: bool) {
        if let [one] = words {
            return self.script_word(one, same_shell);
        }
        let texts: Option<Vec<String>> = words.iter().map(Word::literal).collect();
        let (Some(texts), Some(first), Some(last)) = (texts, words.first(), words.last()) else { return };
        let vars = if same_shell { self.vars.clone() } else { Vars::default() };
        self.nested(&texts.join(" "), Mapping::Whole(first.span.start..last.span.end), vars);
    }

    /// Where a script passed as a word is: exactly, when its text stands verbatim (quoted or
    /// not) in the source; else the whole word.
    fn sub_mapping(&self, word: &Word) -> Mapping {
        if let (Mapping::Exact(base), Some(r), Some(text)) = (&self.map, &word.local, word.literal()) {
            if self.src.get(r.clone()) == Some(text.as_str()) {
                return Mapping::Exact(base + r.start);
            }
            if r.len() >= 2 && self.src.get(r.start + 1..r.end - 1) == Some(text.as_str()) {
                return Mapping::Exact(base + r.start + 1);
            }
        }
        Mapping::Whole(word.span.clone())
    }

    fn nested(&mut self, text: &str, map: Mapping, vars: Vars) {
        if self.depth >= MAX_DEPTH || text.len() > MAX_NESTED_BYTES || text.trim().is_empty() {
            return;
        }
        let Some(tree) = parse(text) else { return };
        Walker::new(text, map, self.model, self.depth + 1, vars).walk(tree.root_node());
    }

    fn assign(&mut self, node: Node) {
        let Some(name) = node.child_by_field_name("name").filter(|n| n.kind() == "variable_name") else { return };
        let name = self.text(name).to_string();
        if children(node).iter().any(|c| c.kind() == "+=") {
            self.vars.remove(&name);
            return;
        }
        let value = match node.child_by_field_name("value") {
            Some(v) => self.eval(v),
            None => Word { pieces: vec![Piece::lit("", true)], ..Word::default() },
        };
        for (mark, from) in [(MARK_DOWNLOAD, &value.downloads), (MARK_DECODE, &value.decodes)] {
            match from {
                Some(d) => self.vars.insert(mark_key(mark, &name), vec![vec![Piece::lit(d, true)]]),
                None => self.vars.remove(&mark_key(mark, &name)),
            };
        }
        self.vars.insert(name, vec![value.pieces]);
    }

    fn for_loop(&mut self, node: Node) {
        let Some(var) = node.child_by_field_name("variable") else { return };
        let name = self.text(var).to_string();
        let mut values = Vec::new();
        let mut cursor = node.walk();
        for child in node.children_by_field_name("value", &mut cursor) {
            values.push(self.eval(child).pieces);
        }
        if values.is_empty() || values.len() > 64 {
            self.vars.remove(&name);
        } else {
            self.vars.insert(name, values);
        }
    }

    fn pipeline(&mut self, node: Node, ancestors: &[Node]) {
        let mut stdin = Stdin::default();
        // `cat <<EOF | bash`: tree-sitter puts the pipeline inside the heredoc.
        if let [.., redirected, heredoc] = ancestors
            && heredoc.kind() == "heredoc_redirect"
        {
            let feeder = redirected
                .child_by_field_name("body")
                .filter(|b| b.kind() == "command")
                .and_then(|b| b.child_by_field_name("name"))
                .map(|n| self.text(n));
            if feeder == Some("cat")
                && let Some(body) = children(*heredoc).into_iter().find(|c| c.kind() == "heredoc_body")
            {
                stdin.script = Some((self.text(body).to_string(), self.body_mapping(body)));
            }
        }
        let stages: Vec<Node> = children(node).into_iter().filter(|c| c.is_named() && c.kind() != "comment").collect();
        let mut commands = Vec::with_capacity(stages.len());
        for stage in &stages {
            let idx = primary_command(*stage).and_then(|c| self.command_index(c, &stdin));
            stdin = idx.map(|i| self.stdout_of(&self.model.cmds[i])).unwrap_or_default();
            commands.push(idx);
        }
        // Decoded text piped into a shell or interpreter.
        for (k, idx) in commands.iter().enumerate().skip(1) {
            let Some(i) = *idx else { continue };
            if !self.model.cmds[i].stdin_program {
                continue;
            }
            if let Some(d) = stages[..k].iter().find_map(|s| self.head_in(*s, decoder)) {
                let interpreter = self.model.cmds[i].name.clone();
                self.model.decoded.push(DownloadExec { span: self.span(node), downloader: d, interpreter });
                break;
            }
        }
        self.model.pipes.push(commands.clone());
        // Downloaded code piped into a shell or interpreter.
        for (k, idx) in commands.iter().enumerate().skip(1) {
            let Some(i) = *idx else { continue };
            if !self.model.cmds[i].stdin_program {
                continue;
            }
            if let Some(downloader) = stages[..k].iter().find_map(|s| self.head_in(*s, self::downloader)) {
                let interpreter = self.model.cmds[i].name.clone();
                self.model.downloads.push(DownloadExec { span: self.span(node), downloader, interpreter });
                break;
            }
        }
    }

    /// What a command writes to stdout, when it is literal: `echo`, `printf`, `find`.
    fn stdout_of(&self, cmd: &Cmd) -> Stdin {
        match cmd.name.as_str() {
            "echo" | "printf" => {
                let mut args = cmd.args.as_slice();
                let mut escapes = cmd.name == "printf";
                if cmd.name == "echo" {
                    while let Some(t) = args.first().and_then(Word::literal).filter(|t| {
                        t.len() > 1 && t.starts_with('-') && t[1..].chars().all(|c| matches!(c, 'n' | 'e' | 'E'))
                    }) {
                        escapes |= t.contains('e');
                        args = &args[1..];
                    }
                } else if let Some(format) = args.first().and_then(Word::literal) {
                    if format.contains('%') && !matches!(format.as_str(), "%s" | "%s\\n" | "%b" | "%b\\n") {
                        return Stdin::default();
                    }
                    args = if format.contains('%') { &args[1..] } else { args };
                }
                let texts: Option<Vec<String>> = args.iter().map(Word::literal).collect();
                let Some(texts) = texts else { return Stdin::default() };
                let mut text = texts.join(if cmd.name == "printf" { "\n" } else { " " });
                if escapes {
                    text = words::ansi_c(&text);
                }
                let items = text
                    .split_whitespace()
                    .map(|t| Word { pieces: vec![Piece::lit(t, true)], span: cmd.span.clone(), ..Word::default() })
                    .collect();
                Stdin { script: Some((text, Mapping::Whole(cmd.span.clone()))), items: Some(items) }
            }
            "find" => Stdin { script: None, items: Some(parse_find(&cmd.args).items(&cmd.span)) },
            _ => Stdin::default(),
        }
    }

    fn body_mapping(&self, body: Node) -> Mapping {
        match &self.map {
            Mapping::Exact(base) => Mapping::Exact(base + body.start_byte()),
            Mapping::Whole(w) => Mapping::Whole(w.clone()),
        }
    }

    fn redirected(&mut self, node: Node) {
        let Some(body) = node.child_by_field_name("body").filter(|b| b.kind() == "command") else { return };
        let Some(idx) = self.command_index(body, &Stdin::default()) else { return };
        let stdin_program = self.model.cmds[idx].stdin_program;
        let name = self.model.cmds[idx].name.clone();
        for child in children(node) {
            match child.kind() {
                "heredoc_redirect" => {
                    if let Some(b) = children(child).into_iter().find(|c| c.kind() == "heredoc_body") {
                        self.model.cmds[idx].stdin_text = Some(self.text(b).to_string());
                        // `ssh db 'psql app' <<SQL`: the remote command reads the heredoc.
                        let inner = self.model.cmds[idx].inner.clone();
                        if name == "ssh"
                            && let Some(first) = inner.clone().next()
                            && self.model.cmds[first].stdin_text.is_none()
                        {
                            self.model.cmds[first].stdin_text = Some(self.text(b).to_string());
                        }
                        if stdin_program && (SHELLS.contains(&name.as_str()) || name == "ssh") {
                            self.nested(self.text(b), self.body_mapping(b), Vars::default());
                        } else if stdin_program {
                            let span = self.span(node);
                            self.program_text_calls(self.text(b), &span);
                        }
                    }
                }
                "file_redirect" => {
                    let op = children(child).into_iter().find(|c| !c.is_named()).map(|c| c.kind());
                    let Some(target) = child.child_by_field_name("destination").map(|d| self.eval(d)) else {
                        continue;
                    };
                    match op {
                        Some("<") => {
                            let span = self.span(node);
                            if stdin_program && let Some(d) = target.downloads.clone() {
                                self.model.downloads.push(DownloadExec {
                                    span: span.clone(),
                                    downloader: d,
                                    interpreter: name.clone(),
                                });
                            }
                            if stdin_program && let Some(d) = target.decodes.clone() {
                                self.model.decoded.push(DownloadExec {
                                    span,
                                    downloader: d,
                                    interpreter: name.clone(),
                                });
                            }
                            self.model.cmds[idx].stdin_from = Some(target);
                        }
                        Some(">" | ">>" | ">|" | "&>" | "&>>") => self.model.cmds[idx].stdout_to = Some(target),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    fn file_redirect(&mut self, node: Node) {
        let Some(op) = children(node).into_iter().find(|c| !c.is_named()).map(|c| c.kind().to_string()) else {
            return;
        };
        let Some(dest) = node.child_by_field_name("destination") else { return };
        if matches!(op.as_str(), ">&" | "<&") && matches!(dest.kind(), "number" | "simple_expansion") {
            return;
        }
        let target = self.eval(dest);
        self.model.redirects.push(Redirect { op, target, span: self.span(node) });
    }

    fn function(&mut self, node: Node) {
        let (Some(name), Some(body)) = (node.child_by_field_name("name"), node.child_by_field_name("body")) else {
            return;
        };
        let name = self.text(name).to_string();
        let mut stack = vec![body];
        while let Some(n) = stack.pop() {
            if n.kind() == "function_definition" {
                continue;
            }
            if n.kind() == "command"
                && n.child_by_field_name("name").is_some_and(|c| self.text(c) == name)
                && is_forked(n, Some(body))
            {
                self.model.fork_bombs.push(ForkBomb { span: self.span(node), name });
                return;
            }
            stack.extend(children(n));
        }
    }

    /// The first command inside `node` that `pick` names (by its words as written).
    fn head_in(&self, node: Node, pick: fn(&[&str]) -> Option<String>) -> Option<String> {
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            if n.kind() == "command" {
                let mut cursor = n.walk();
                let words: Vec<&str> = n
                    .children(&mut cursor)
                    .filter(|c| c.kind() == "command_name" || c.is_named() && c.kind() != "variable_assignment")
                    .map(|c| self.text(c).trim_matches(['"', '\'']))
                    .collect();
                let head = words.iter().position(|w| {
                    let b = basename(w);
                    !(w.starts_with('-') || is_assignment(w) || WRAPPERS.iter().any(|x| x.name == b))
                });
                if let Some(found) = head.and_then(|h| pick(&words[h..])) {
                    return Some(found);
                }
            }
            stack.extend(children(n));
        }
        None
    }

    /// Expands a word node.
    fn eval(&self, node: Node) -> Word {
        let mut word = Word { span: self.span(node), local: Some(node.byte_range()), ..Word::default() };
        self.eval_into(node, &mut word, false, true);
        word
    }

    fn eval_into(&self, node: Node, word: &mut Word, quoted: bool, at_start: bool) {
        let text = self.text(node);
        match node.kind() {
            "word" | "number" | "brace_expression" | "regex" | "extglob_pattern" => {
                if quoted {
                    word.pieces.push(Piece::lit(text, true));
                } else {
                    words::unquoted(text, at_start, &mut word.pieces);
                }
            }
            "raw_string" => word.pieces.push(Piece::lit(text.get(1..text.len().saturating_sub(1)).unwrap_or(""), true)),
            "ansi_c_string" => word
                .pieces
                .push(Piece::lit(&words::ansi_c(text.get(2..text.len().saturating_sub(1)).unwrap_or("")), true)),
            "string" | "translated_string" => {
                let r = node.byte_range();
                let open = if node.kind() == "translated_string" { 2 } else { 1 };
                let (start, end) = (r.start + open, r.end.saturating_sub(1).max(r.start + open));
                let mut pos = start;
                for child in children(node) {
                    if matches!(
                        child.kind(),
                        "simple_expansion" | "expansion" | "command_substitution" | "arithmetic_expansion"
                    ) {
                        if child.start_byte() > pos {
                            let gap = &self.src[pos..child.start_byte()];
                            word.pieces.push(Piece::lit(&words::double_quoted(gap), true));
                        }
                        self.eval_into(child, word, true, false);
                        pos = child.end_byte();
                    }
                }
                if end > pos {
                    word.pieces.push(Piece::lit(&words::double_quoted(&self.src[pos..end]), true));
                }
            }
            "simple_expansion" => {
                let name = node.named_child(0).map(|n| self.text(n)).unwrap_or("");
                let pieces = self.var(name, text);
                word.pieces.extend(requote(&pieces, quoted));
                self.marks_into(name, word);
            }
            "expansion" => {
                let pieces = self.expansion(node, word);
                word.pieces.extend(requote(&pieces, quoted));
                let kids = children(node);
                if let Some(v) = kids.iter().find(|c| c.kind() == "variable_name") {
                    self.marks_into(self.text(*v), word);
                }
            }
            "command_substitution" => {
                if let Some(d) = self.head_in(node, downloader) {
                    word.downloads = Some(d);
                }
                if let Some(d) = self.head_in(node, decoder) {
                    word.decodes = Some(d);
                }
                let inner = node.named_child(0);
                let head = inner
                    .filter(|n| n.kind() == "command")
                    .and_then(|n| n.child_by_field_name("name"))
                    .map(|n| self.text(n));
                if head.is_some_and(|h| NON_EMPTY_SUBSTITUTIONS.contains(&h)) {
                    word.pieces.push(Piece::Opaque);
                } else {
                    let label: String = text.chars().take(160).collect();
                    word.pieces.push(Piece::MaybeEmpty { label });
                }
            }
            "process_substitution" => {
                if let Some(d) = self.head_in(node, downloader) {
                    word.downloads = Some(d);
                }
                if let Some(d) = self.head_in(node, decoder) {
                    word.decodes = Some(d);
                }
                word.pieces.push(Piece::Opaque);
            }
            "arithmetic_expansion" => word.pieces.push(Piece::Opaque),
            "concatenation" | "command_name" => {
                for (i, child) in children(node).into_iter().enumerate() {
                    self.eval_into(child, word, quoted, at_start && i == 0);
                }
            }
            _ => word.pieces.push(Piece::lit(text, quoted)),
        }
    }

    /// `${…}`: plain, with a default, an error check, a length or a transformation.
    fn expansion(&self, node: Node, word: &mut Word) -> Vec<Piece> {
        let kids = children(node);
        let label = self.text(node);
        let Some(vpos) = kids.iter().position(|c| matches!(c.kind(), "variable_name" | "special_variable_name")) else {
            return vec![Piece::MaybeEmpty { label: label.into() }];
        };
        let name = self.text(kids[vpos]);
        if kids[..vpos].iter().any(|c| matches!(c.kind(), "#" | "!")) {
            // ${#X} is a number; ${!X} is indirect.
            return if kids[..vpos].iter().any(|c| c.kind() == "#") {
                vec![Piece::Opaque]
            } else {
                vec![Piece::MaybeEmpty { label: label.into() }]
            };
        }
        let op = kids[vpos + 1..].iter().find(|c| !c.is_named() && c.kind() != "}").map(|c| c.kind());
        let known =
            self.vars.contains_key(name) || name == "HOME" || self.vars.contains_key(&mark_key(MARK_GUARD, name));
        match op {
            None => self.var(name, label),
            Some(":-" | "-" | ":=" | "=") => {
                if known {
                    return self.var(name, label);
                }
                let mut default = Word::default();
                for child in kids[vpos + 1..].iter().filter(|c| c.is_named()) {
                    self.eval_into(*child, &mut default, false, false);
                }
                if default.downloads.is_some() {
                    word.downloads = default.downloads;
                }
                if default.pieces.is_empty() {
                    vec![Piece::MaybeEmpty { label: label.into() }]
                } else {
                    vec![Piece::OneOf(vec![vec![Piece::Opaque], default.pieces])]
                }
            }
            Some(":?") => {
                if known {
                    self.var(name, label)
                } else {
                    vec![Piece::Opaque]
                }
            }
            Some("?") => self.var(name, label),
            _ => vec![Piece::MaybeEmpty { label: label.into() }],
        }
    }

    /// A variable that holds downloaded or decoded text passes that on.
    fn marks_into(&self, name: &str, word: &mut Word) {
        if self.vars.len() < 2 {
            return;
        }
        let mark = |m: char| {
            self.vars
                .get(&mark_key(m, name))
                .and_then(|v| v.first())
                .and_then(|p| Word::from_pieces(p.clone()).literal())
        };
        if let Some(d) = mark(MARK_DOWNLOAD) {
            word.downloads = Some(d);
        }
        if let Some(d) = mark(MARK_DECODE) {
            word.decodes = Some(d);
        }
    }

    fn var(&self, name: &str, label: &str) -> Vec<Piece> {
        if let Some(alts) = self.vars.get(name) {
            return match alts.as_slice() {
                [one] => one.clone(),
                _ => vec![Piece::OneOf(alts.clone())],
            };
        }
        if name == "HOME" {
            vec![Piece::Home]
        } else if NON_EMPTY_VARIABLES.contains(&name) || self.vars.contains_key(&mark_key(MARK_GUARD, name)) {
            vec![Piece::Opaque]
        } else {
            vec![Piece::MaybeEmpty { label: label.to_string() }]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(src: &str) -> Vec<(String, Vec<String>, Vec<String>)> {
        build(src).cmds.into_iter().map(|c| (c.name, c.args.iter().map(Word::display).collect(), c.via)).collect()
    }

    fn names(src: &str) -> Vec<String> {
        let mut n: Vec<String> = build(src).cmds.into_iter().map(|c| c.name).collect();
        n.sort();
        n
    }

    #[test]
    fn wrappers_are_looked_through() {
        let c = cmds("sudo -u root -E env FOO=1 nice -n 5 timeout 10 rm -rf /tmp/x");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0, "rm");
        assert_eq!(c[0].1, ["-rf", "/tmp/x"]);
        assert_eq!(c[0].2, ["sudo", "env", "nice", "timeout"]);
        assert_eq!(cmds("command -v rm")[0].0, "command");
        assert_eq!(cmds("/bin/rm x")[0].0, "rm");
        assert_eq!(cmds("\\rm x")[0].0, "rm");
        assert_eq!(cmds("r''m x")[0].0, "rm");
    }

    #[test]
    fn nesting_is_followed() {
        assert_eq!(names("f() { (echo $(rm -rf a) | grep x) & }"), ["echo", "grep", "rm"]);
        assert_eq!(names("bash -c 'rm -rf a; ls'"), ["bash", "ls", "rm"]);
        assert_eq!(names("eval \"rm x\""), ["eval", "rm"]);
        assert_eq!(names("sudo sh -c \"rm x\""), ["rm", "sh"]);
        assert_eq!(names("bash <<EOF\nrm x\nEOF\n"), ["bash", "rm"]);
        assert_eq!(names("cat <<EOF | bash\nrm x\nEOF\n"), ["bash", "cat", "rm"]);
        assert_eq!(names("cat <<EOF\nrm x\nEOF\n"), ["cat"]);
        assert_eq!(names("echo 'rm x' | sh"), ["echo", "rm", "sh"]);
        assert_eq!(names("echo 'rm x' | grep rm"), ["echo", "grep"]);
        assert_eq!(names("bash <<< 'rm x'"), ["bash", "rm"]);
        assert_eq!(names("trap 'rm x' EXIT"), ["rm", "trap"]);
        assert_eq!(names("ssh host 'rm x'"), ["rm", "ssh"]);
        assert_eq!(names("find . -name x -exec rm {} \\;"), ["find", "rm"]);
        assert_eq!(names("# rm -rf /\necho \"rm -rf /\""), ["echo"]);
        assert_eq!(names("cmd='rm -rf x'; $cmd"), ["rm"]);
    }

    #[test]
    fn nested_spans_map_back() {
        let src = "x; bash -c 'rm -rf a'";
        let m = build(src);
        let rm = m.cmds.iter().find(|c| c.name == "rm").unwrap();
        assert_eq!(&src[rm.span.clone()], "rm -rf a");
        let src = "ls\nbash <<EOF\n  rm -rf a\nEOF\n";
        let m = build(src);
        let rm = m.cmds.iter().find(|c| c.name == "rm").unwrap();
        assert_eq!(&src[rm.span.clone()], "rm -rf a");
    }

    #[test]
    fn variables_are_followed() {
        let c = cmds("D=/etc; rm -rf \"$D\"");
        assert_eq!(c[0].1, ["-rf", "/etc"]);
        let c = cmds("for d in /bin /usr; do rm -rf $d; done");
        assert_eq!(c[0].1, ["-rf", "…"]);
        let w = &build("for d in /bin /usr; do rm -rf $d; done").cmds[0].args[1];
        let texts: Vec<String> = w.candidates().into_iter().map(|c| c.text).collect();
        assert_eq!(texts, ["/bin", "/usr"]);
        let c = cmds("rm -rf \"$DIR/\" ${X:?}/ ~/a $HOME");
        assert_eq!(c[0].1, ["-rf", "$DIR/", "…/", "~/a", "~"]);
    }

    #[test]
    fn xargs_and_find_items() {
        let m = build("echo /etc /usr | xargs rm -rf");
        let rm = m.cmds.iter().find(|c| c.name == "rm").unwrap();
        assert_eq!(rm.args.iter().map(Word::display).collect::<Vec<_>>(), ["-rf", "/etc", "/usr"]);
        assert_eq!(rm.via, ["xargs"]);
        let m = build("find /var -exec rm -rf {} +");
        let rm = m.cmds.iter().find(|c| c.name == "rm").unwrap();
        assert_eq!(rm.args.iter().map(Word::display).collect::<Vec<_>>(), ["-rf", "/var", "/var/*"]);
    }

    #[test]
    fn downloads_and_fork_bombs() {
        assert_eq!(build("curl -fsSL https://x | sudo bash").downloads.len(), 1);
        assert_eq!(build("wget -qO- https://x | python3 -").downloads.len(), 1);
        assert_eq!(build("bash <(curl -s https://x)").downloads.len(), 1);
        assert_eq!(build("sh -c \"$(curl -fsSL https://x)\"").downloads.len(), 1);
        assert_eq!(build("curl -s https://x | python3 script.py").downloads.len(), 0);
        assert_eq!(build("curl -s https://x | grep y | sh").downloads.len(), 1);
        assert_eq!(build("curl -o x.tar https://x | tar x").downloads.len(), 0);
        assert_eq!(build(":(){ :|:& };:").fork_bombs.len(), 1);
        assert_eq!(build("bomb() { bomb & bomb; }; bomb").fork_bombs.len(), 1);
        assert_eq!(build("walk() { walk \"$1/x\"; }").fork_bombs.len(), 0);
    }
}
