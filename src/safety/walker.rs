//! The walk over the tree-sitter parse, in the order the shell runs it: lists, pipelines,
//! loops, functions, subshells and substitutions, redirections and heredocs, variable
//! values, `cd`, guards on variables, and scripts nested in strings (`sh -c`, `eval`).
//! Each simple command found goes to [`super::commands`] to be interpreted.
//!
//! Parsed once with tree-sitter-bash; a thread-local parser is reused.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use tree_sitter::{Node, Parser, Point, Tree};

use super::commands::{SHELLS, WRAPPERS, decoder, downloader, is_assignment, which_name};
use super::model::{Cmd, DownloadExec, ForkBomb, Model, Redirect, RiskyCd};
use super::words::{self, Piece, Word, basename};

/// Nested scripts (`sh -c`, `eval`, heredocs) are followed this deep.
const MAX_DEPTH: usize = 4;
/// Nested scripts longer than this are not parsed.
const MAX_NESTED_BYTES: usize = 256 * 1024;

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

/// Parses `src`; with `old` (the tree of the text before, edited with `Tree::edit`) only
/// what the edits touched is parsed again.
pub(super) fn parse(src: &str, old: Option<&Tree>) -> Option<Tree> {
    with_parser(|parser| parser.parse(src, old))
}

/// Parses the bytes `range` of `src` alone, as if they were the whole script, with node
/// positions in `src`; `start`/`end` are the range's points.
pub(super) fn parse_range(
    src: &str,
    range: Range<usize>,
    (start, end): (Point, Point),
    old: Option<&Tree>,
) -> Option<Tree> {
    with_parser(|parser| {
        let included =
            tree_sitter::Range { start_byte: range.start, end_byte: range.end, start_point: start, end_point: end };
        parser.set_included_ranges(&[included]).ok()?;
        let tree = parser.parse(src, old);
        // The parser is shared: back to whole scripts.
        parser.set_included_ranges(&[]).ok()?;
        tree
    })
}

/// A stretch of a script parsed on its own.
pub(super) struct Segment {
    pub(super) range: Range<usize>,
    pub(super) tree: Tree,
}

/// Parses the bytes `range` of `src` (starting at `start`), with `old` as for [`parse`], as
/// the shell reads them: where tree-sitter-bash 0.25 runs a command on over a line break
/// (`a | b $c`, some lines, then a heredoc: every line in between becomes arguments of `b`),
/// the text is parsed again as two stretches split at that line break, and so on.
pub(super) fn parse_segments(src: &str, range: Range<usize>, start: Point, old: Option<&Tree>) -> Vec<Segment> {
    let end = advance(start, &src[range.clone()]);
    let Some(tree) = parse_range(src, range.clone(), (start, end), old) else { return Vec::new() };
    match run_on_line_break(src, &tree, &range, true) {
        Some(cut) => {
            let mut out = parse_segments(src, range.start..cut, start, None);
            out.extend(parse_segments(src, cut..range.end, advance(start, &src[range.start..cut]), None));
            out
        }
        None => vec![Segment { range, tree }],
    }
}

/// Where a command in `tree` runs on over an unescaped line break: the start of its first
/// word after it. With `heredocs_only`, only in statements with a heredoc (which is what
/// most often leads the grammar astray, and cheap to look for).
pub(super) fn run_on_line_break(src: &str, tree: &Tree, range: &Range<usize>, heredocs_only: bool) -> Option<usize> {
    let (nodes, sts) = statements(tree, range.clone());
    for st in &sts {
        let text = &src[st.bytes.clone()];
        if !((text.contains("<<") || !heredocs_only) && text.trim_end().contains('\n')) {
            continue;
        }
        for top in &nodes[st.nodes.clone()] {
            let mut cursor = top.walk();
            'walk: loop {
                let n = cursor.node();
                if n.kind_id() == command_kind() {
                    let kids = children(n);
                    for pair in kids.windows(2) {
                        if ends_line(&src[pair[0].end_byte()..pair[1].start_byte().max(pair[0].end_byte())]) {
                            return Some(pair[1].start_byte());
                        }
                    }
                }
                if cursor.goto_first_child() {
                    continue;
                }
                loop {
                    if cursor.goto_next_sibling() {
                        break;
                    }
                    if !cursor.goto_parent() {
                        break 'walk;
                    }
                }
            }
        }
    }
    None
}

fn command_kind() -> u16 {
    static ID: std::sync::OnceLock<u16> = std::sync::OnceLock::new();
    *ID.get_or_init(|| tree_sitter::Language::from(tree_sitter_bash::LANGUAGE).id_for_node_kind("command", true))
}

/// The row and byte column of `byte`, as tree-sitter counts them (rows end at `\n`).
pub(super) fn point_at(text: &str, byte: usize) -> Point {
    advance(Point { row: 0, column: 0 }, &text[..byte])
}

/// The point after `text` when it starts at `from`.
pub(super) fn advance(from: Point, text: &str) -> Point {
    let bytes = text.as_bytes();
    match bytes.iter().rposition(|b| *b == b'\n') {
        Some(last) => {
            Point { row: from.row + bytes.iter().filter(|b| **b == b'\n').count(), column: bytes.len() - last - 1 }
        }
        None => Point { row: from.row, column: from.column + bytes.len() },
    }
}

fn with_parser(f: impl FnOnce(&mut Parser) -> Option<Tree>) -> Option<Tree> {
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let mut parser = Parser::new();
            parser.set_language(&tree_sitter_bash::LANGUAGE.into()).ok()?;
            *slot = Some(parser);
        }
        f(slot.as_mut()?)
    })
}

/// A hash of the shape of the subtrees `nodes`: every node's kind and byte range, relative to
/// `base`. Two parses of the same text that differ anywhere in it differ here.
pub(super) fn shape(nodes: &[Node], base: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |v: u64| h = (h ^ v).wrapping_mul(0x0100_0000_01b3);
    for top in nodes {
        let mut cursor = top.walk();
        'walk: loop {
            let n = cursor.node();
            mix(u64::from(n.kind_id()));
            mix(n.start_byte().wrapping_sub(base) as u64);
            mix(n.end_byte().wrapping_sub(base) as u64);
            if cursor.goto_first_child() {
                continue;
            }
            loop {
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    break 'walk;
                }
            }
        }
    }
    h
}

/// What the shell carries from one top-level statement to the next: variables (with their
/// marks), the working directory, a risky `cd`, `set -e`. Guards scoped to a node end with
/// their statement, so they are not part of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ShellState {
    vars: Vars,
    cwd: Option<Vec<Piece>>,
    risky_cd: Option<RiskyCd>,
    errexit: bool,
    callables: Callables,
}

/// Names a later command may call that run other commands: `f() { … }`, `alias n='…'`.
/// Shared: the incremental check keeps the state after every statement, and most
/// statements define nothing.
pub(super) type Callables = std::sync::Arc<HashMap<String, Callable>>;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Callable {
    /// A function's body, as written.
    Function(std::sync::Arc<FunctionBody>),
    /// An alias's text.
    Alias(String),
}

/// A function's body and, once it has been called, its parse: a function called many
/// times (or defined again with the same text) is parsed once.
#[derive(Debug)]
pub(super) struct FunctionBody {
    text: String,
    tree: std::sync::OnceLock<Option<Tree>>,
}

impl PartialEq for FunctionBody {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl ShellState {
    /// Before the first statement: `#!/bin/sh -e` starts with errexit on.
    pub(super) fn initial(src: &str) -> Self {
        let errexit = src.lines().next().is_some_and(|l| l.starts_with("#!") && l.contains(" -e"));
        ShellState { errexit, ..ShellState::default() }
    }
}

/// A top-level statement with the tokens after it (`;`, `&`): the unit the walk can resume at.
/// It covers the script's bytes up to the next statement, so that two scripts share a
/// statement exactly when they share its text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Statement {
    /// Indices into the root's children.
    pub(super) nodes: Range<usize>,
    pub(super) bytes: Range<usize>,
    /// The node kinds it consists of, hashed: the same text parsed differently is not the same.
    pub(super) kinds: u64,
}

/// The root's children and the statements they form, in order, covering `cover` (the
/// bytes parsed: the whole script, or the range a tree was parsed from).
pub(super) fn statements(tree: &Tree, cover: Range<usize>) -> (Vec<Node<'_>>, Vec<Statement>) {
    let nodes = children(tree.root_node());
    let mut out: Vec<Statement> = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        match out.last_mut() {
            Some(last) if !node.is_named() => last.nodes.end = i + 1,
            _ => {
                if let Some(last) = out.last_mut() {
                    last.bytes.end = node.start_byte();
                }
                let start = if out.is_empty() { cover.start } else { node.start_byte() };
                out.push(Statement { nodes: i..i + 1, bytes: start..cover.end, kinds: 0 });
            }
        }
    }
    for st in &mut out {
        // FNV-1a over the kind ids.
        st.kinds = nodes[st.nodes.clone()]
            .iter()
            .fold(0xcbf2_9ce4_8422_2325, |h: u64, n| (h ^ u64::from(n.kind_id())).wrapping_mul(0x0100_0000_01b3));
    }
    (nodes, out)
}

/// Walks one top-level statement (`nodes`, children of `root`) from `state`, adding to
/// `model`, and leaves the state after it in `state`.
pub(super) fn walk_statement(src: &str, root: Node, nodes: &[Node], state: &mut ShellState, model: &mut Model) {
    let ShellState { vars, cwd, risky_cd, errexit, callables } = std::mem::take(state);
    let mut walker = Walker::new(src, Mapping::Exact(0), model, 0, vars);
    walker.cwd = cwd;
    walker.risky_cd = risky_cd;
    walker.errexit = errexit;
    walker.callables = callables;
    for node in nodes {
        walker.walk_below(*node, Some(root));
    }
    // Guards that held inside a node of this statement end with it.
    while let Some((name, _)) = walker.scoped.pop() {
        walker.vars.remove(&mark_key(MARK_GUARD, &name));
    }
    *state = ShellState {
        vars: walker.vars,
        cwd: walker.cwd,
        risky_cd: walker.risky_cd,
        errexit: walker.errexit,
        callables: walker.callables,
    };
}

/// Where a nested script's bytes are in the checked script.
#[derive(Debug, Clone)]
pub(super) enum Mapping {
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
pub(super) type Vars = HashMap<String, Vec<Vec<Piece>>>;

/// What a command's stdin carries, when the pipeline shows it.
#[derive(Debug, Clone, Default)]
pub(super) struct Stdin {
    /// Literal text a shell on the receiving end would run.
    pub(super) script: Option<(String, Mapping)>,
    /// The items `xargs` would read.
    pub(super) items: Option<Vec<Word>>,
}

pub(super) struct Walker<'s, 'm> {
    pub(super) src: &'s str,
    pub(super) map: Mapping,
    pub(super) model: &'m mut Model,
    pub(super) depth: usize,
    pub(super) vars: Vars,
    /// Command nodes already interpreted (by id), with their command's index.
    pub(super) built: HashMap<usize, Option<usize>>,
    /// The working directory after `cd` in the main flow, when known.
    pub(super) cwd: Option<Vec<Piece>>,
    pub(super) risky_cd: Option<RiskyCd>,
    /// `set -e` is on: a failing `cd` stops the script.
    pub(super) errexit: bool,
    /// Guards that hold only inside a node (`[ -n "$D" ] && rm …`): the name and the node's end.
    pub(super) scoped: Vec<(String, usize)>,
    /// Functions and aliases defined so far.
    pub(super) callables: Callables,
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

/// Whether the text between two words of a command holds a line break that is not escaped.
fn ends_line(gap: &str) -> bool {
    gap.match_indices('\n').any(|(i, _)| !gap[..i].trim_end_matches('\r').ends_with('\\'))
}

/// Text that leaves the script or function when it runs (`exit 1`, `return`, `die "…"`).
fn exits(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| matches!(w, "exit" | "return" | "die" | "fail" | "fatal" | "abort"))
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
    pub(super) fn new(src: &'s str, map: Mapping, model: &'m mut Model, depth: usize, vars: Vars) -> Self {
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
            callables: Callables::default(),
        }
    }

    pub(super) fn text(&self, node: Node) -> &'s str {
        &self.src[node.byte_range()]
    }

    pub(super) fn span(&self, node: Node) -> Range<usize> {
        self.map.map(node.byte_range())
    }

    /// Visits every node in order. Ancestors are kept on a stack: `Node::parent` searches
    /// from the root and would make the walk quadratic.
    fn walk(&mut self, root: Node) {
        self.walk_below(root, None);
    }

    /// [`Walker::walk`] of a subtree whose node has `parent` (the script's root).
    fn walk_below(&mut self, top: Node, parent: Option<Node>) {
        let mut cursor = top.walk();
        let mut ancestors: Vec<Node> = parent.into_iter().collect();
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
                    } else if matches!(name, "alias" | "unalias") {
                        let cmd = self.model.cmds[i].clone();
                        self.define_aliases(&cmd);
                    } else if self.callables.contains_key(name) {
                        let cmd = self.model.cmds[i].clone();
                        self.call(&cmd);
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
        // tree-sitter-bash 0.25 can run a command on over line breaks (`a | b $c` … `<<EOF`
        // lines below makes every line in between arguments of `b`): the shell ends it at the
        // first unescaped line break, and what follows is checked as the commands it is.
        let mut end = node.end_byte();
        let mut rest = None;
        if cursor.goto_first_child() {
            let mut prev_end: Option<usize> = None;
            loop {
                let child = cursor.node();
                if let Some(e) = prev_end
                    && ends_line(&self.src[e..child.start_byte().max(e)])
                {
                    (end, rest) = (e, Some(child.start_byte()));
                    break;
                }
                prev_end = Some(child.end_byte());
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
        let span = self.map.map(node.start_byte()..end);
        let idx = self.interpret(split_fields(words), span.clone(), &stdin, Vec::new());
        self.built.insert(node.id(), idx);
        if let Some(r) = rest {
            let map = match &self.map {
                Mapping::Exact(base) => Mapping::Exact(base + r),
                Mapping::Whole(w) => Mapping::Whole(w.clone()),
            };
            let text = &self.src[r..node.end_byte()];
            self.nested(text, map, self.vars.clone());
        }
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

    /// Follows a string that a shell will run (`sh -c STRING`, `eval`, `trap`).
    pub(super) fn script_word(&mut self, word: &Word, same_shell: bool) {
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
    pub(super) fn script_words(&mut self, words: &[Word], same_shell: bool) {
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
    pub(super) fn sub_mapping(&self, word: &Word) -> Mapping {
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

    pub(super) fn nested(&mut self, text: &str, map: Mapping, vars: Vars) {
        if self.depth >= MAX_DEPTH || text.len() > MAX_NESTED_BYTES || text.trim().is_empty() {
            return;
        }
        let Some(tree) = parse(text, None) else { return };
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

    /// `alias nuke='rm -rf /'` (and `unalias nuke`): what a later `nuke` runs.
    fn define_aliases(&mut self, cmd: &Cmd) {
        for arg in cmd.args.iter().filter_map(Word::literal) {
            if cmd.name == "unalias" {
                std::sync::Arc::make_mut(&mut self.callables).remove(&arg);
            } else if let Some((name, text)) = arg.split_once('=')
                && !name.is_empty()
            {
                std::sync::Arc::make_mut(&mut self.callables)
                    .insert(name.to_string(), Callable::Alias(text.to_string()));
            }
        }
    }

    /// A call of a function or alias defined earlier: its commands run here, checked at the
    /// call. A function's body is checked where it is defined; at a call with arguments it
    /// is checked again with `$1`… bound to them (`f() { rm -rf "$1"; }; f /`).
    fn call(&mut self, cmd: &Cmd) {
        let Some(callable) = self.callables.get(&cmd.name).cloned() else { return };
        let map = Mapping::Whole(cmd.span.clone());
        match callable {
            Callable::Function(body) => {
                if cmd.args.is_empty() {
                    return;
                }
                let mut vars = self.vars.clone();
                for (n, arg) in cmd.args.iter().take(9).enumerate() {
                    vars.insert((n + 1).to_string(), vec![arg.pieces.clone()]);
                }
                // `"$@"` is each argument in turn: like a loop variable, any of them.
                let each: Vec<Vec<Piece>> = cmd.args.iter().map(|a| a.pieces.clone()).collect();
                vars.insert("@".into(), each.clone());
                vars.insert("*".into(), each);
                if self.depth >= MAX_DEPTH || body.text.len() > MAX_NESTED_BYTES {
                    return;
                }
                let Some(tree) = body.tree.get_or_init(|| parse(&body.text, None)) else { return };
                let mut walker = Walker::new(&body.text, map, self.model, self.depth + 1, vars);
                walker.callables = self.callables.clone();
                walker.walk(tree.root_node());
            }
            Callable::Alias(text) => {
                let rest: Option<Vec<String>> = cmd.args.iter().map(Word::literal).collect();
                let script = match rest {
                    Some(rest) if !rest.is_empty() => format!("{text} {}", rest.join(" ")),
                    _ => text,
                };
                self.nested_calling(&script, map, self.vars.clone());
            }
        }
    }

    /// [`Walker::nested`] for a call: the called text sees the same functions and aliases.
    fn nested_calling(&mut self, text: &str, map: Mapping, vars: Vars) {
        if self.depth >= MAX_DEPTH || text.len() > MAX_NESTED_BYTES || text.trim().is_empty() {
            return;
        }
        let Some(tree) = parse(text, None) else { return };
        let mut walker = Walker::new(text, map, self.model, self.depth + 1, vars);
        walker.callables = self.callables.clone();
        walker.walk(tree.root_node());
    }

    fn function(&mut self, node: Node) {
        let (Some(name), Some(body)) = (node.child_by_field_name("name"), node.child_by_field_name("body")) else {
            return;
        };
        let name = self.text(name).to_string();
        let text = self.text(body).to_string();
        let callable = Callable::Function(std::sync::Arc::new(FunctionBody { text, tree: Default::default() }));
        // A definition the script repeats (the same text again) leaves the state shared.
        if self.callables.get(&name) != Some(&callable) {
            std::sync::Arc::make_mut(&mut self.callables).insert(name.clone(), callable);
        }
        // A fork bomb calls itself: a body without its name needs no look.
        if !self.text(body).contains(name.as_str()) {
            return;
        }
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
                // An unterminated string (a syntax error) has no closing quote to leave out.
                let close = usize::from(text.len() > open && text.ends_with('"'));
                let (start, end) = (r.start + open, (r.end - close).max(r.start + open));
                let mut pos = start;
                for child in children(node) {
                    if matches!(
                        child.kind(),
                        "simple_expansion" | "expansion" | "command_substitution" | "arithmetic_expansion"
                    ) {
                        if child.start_byte() > pos {
                            let gap = self.src.get(pos..child.start_byte()).unwrap_or("");
                            word.pieces.push(Piece::lit(&words::double_quoted(gap), true));
                        }
                        self.eval_into(child, word, true, false);
                        pos = child.end_byte();
                    }
                }
                if end > pos {
                    word.pieces.push(Piece::lit(&words::double_quoted(self.src.get(pos..end).unwrap_or("")), true));
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
