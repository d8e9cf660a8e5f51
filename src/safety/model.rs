//! The script as the shell would run it: every simple command (through wrappers such as
//! `sudo`, `env`, `xargs`, `find -exec`, and inside pipelines, lists, loops, functions,
//! subshells, substitutions, `sh -c '…'`, `eval`, heredocs fed to a shell), every
//! redirection, downloads that a shell runs, and fork bombs. Quoted text, comments, heredocs
//! fed to other programs and the arguments of `echo`, `printf` or `grep` stay data.
//!
//! Two halves build it: [`super::walker`] walks the tree-sitter parse the way the shell runs
//! it (lists, pipelines, redirections, variables, guards, nested scripts) and
//! [`super::commands`] interprets each simple command (wrappers, options, which program
//! really runs and what it runs in turn). The rules read only this model.

use std::ops::Range;

use super::walker;
use super::words::{Piece, Word};

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

/// Whether tree-sitter-bash parses `src` without an error node.
pub fn parses_cleanly(src: &str) -> bool {
    walker::parse(src, None).is_some_and(|tree| !tree.root_node().has_error())
}

/// Builds the model of `src`, statement by statement, in one: what the rules would see if
/// they saw the whole script at once.
#[cfg(test)]
pub fn build(src: &str) -> Model {
    let mut model = Model::default();
    let start = tree_sitter::Point { row: 0, column: 0 };
    let mut state = walker::ShellState::initial(src);
    for walker::Segment { range, tree } in walker::parse_segments(src, 0..src.len(), start, None) {
        let (nodes, statements) = walker::statements(&tree, range);
        for st in &statements {
            walker::walk_statement(src, tree.root_node(), &nodes[st.nodes.clone()], &mut state, &mut model);
        }
    }
    model
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
