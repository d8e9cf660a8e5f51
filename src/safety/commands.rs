//! Interpreting one simple command as it runs: the wrappers it goes through (`sudo`, `env`,
//! `xargs`, `find -exec`, `docker exec`, …), the options that decide what runs (`sh -c`,
//! `bash -s`, `python3 -`), the program that really runs, and the scripts it runs in turn
//! (`ssh HOST 'CMD'`, `eval`, `trap`, an interpreter's `os.system(…)`), which go back to
//! [`super::walker`] to be walked.

use std::ops::Range;

use super::model::{Cmd, DownloadExec};
use super::walker::{Mapping, Stdin, Vars, Walker};
use super::words::{self, Piece, Word, basename};

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

/// Programs that decode text that a shell may then run.
pub(super) fn decoder(words: &[&str]) -> Option<String> {
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

pub(super) fn downloader(words: &[&str]) -> Option<String> {
    let h = basename(words.first()?);
    DOWNLOADERS.contains(&h).then(|| h.to_string())
}

/// `$(which rm)`, `` `command -v rm` ``, `$(type -P rm)`: the program it names.
pub(super) fn which_name(label: &str) -> Option<String> {
    let inner = label
        .strip_prefix("$(")
        .and_then(|l| l.strip_suffix(')'))
        .or_else(|| label.strip_prefix('`').and_then(|l| l.strip_suffix('`')))?;
    match inner.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["which", name] | ["command", "-v", name] | ["type", "-P" | "-p", name] => Some(name.to_string()),
        _ => None,
    }
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

pub(super) fn is_assignment(text: &str) -> bool {
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

impl Walker<'_, '_> {
    /// Looks through wrappers and records the command that runs; follows scripts passed as
    /// strings. Returns the index of the outermost recorded command.
    pub(super) fn interpret(
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

    pub(super) fn program_text_calls(&mut self, text: &str, span: &Range<usize>) {
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
    pub(super) fn cd(&self, cmd: &Cmd) -> Option<Vec<Piece>> {
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

    /// What a command writes to stdout, when it is literal: `echo`, `printf`, `find`.
    pub(super) fn stdout_of(&self, cmd: &Cmd) -> Stdin {
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
}
