//! The check statement by statement, and [`DocumentCheck`]: the check of an open document
//! that changes a keystroke at a time.
//!
//! A script is checked one top-level statement at a time: the walk carries the shell's state
//! (variables, working directory, `set -e`) from one statement to the next, and each rule's
//! statement part sees only that statement's commands. What a rule needs from across the
//! script (a download on one line run on another) is its across-script part, which sees
//! only the commands it picks. So a statement's hits depend on its text and the state before
//! it, nothing else, and an open document keeps them: after an edit it re-parses with
//! tree-sitter's edit API, re-walks the statements whose text changed and those after them
//! until the state is the same as before, and reruns the across-script parts only when a
//! statement that holds commands they read changed. The findings are the same as a fresh
//! [`super::check_structure`] of the same text (a test compares them on random edits).

use std::ops::Range;
use std::sync::Arc;

use tree_sitter::{InputEdit, Node, Point};

use super::model::{Cmd, Model};
use super::rules::{Hit, RULES};
use super::walker::{self, ShellState, Statement};
use super::{Finding, LineIndex, Severity, sort_dedup};

/// The state before a statement is kept every this many statements: an edit re-walks at most
/// this many unchanged statements before it, and after it until the next kept state matches.
const CHECKPOINT_EVERY: usize = 16;

/// One statement's results, positions relative to its start.
struct Checked {
    len: usize,
    kinds: u64,
    /// The shell state before it, at checkpoints.
    before: Option<Arc<ShellState>>,
    hits: Vec<Hit>,
    /// The commands that across-script parts read.
    picked: Vec<Cmd>,
    /// The across-script parts' hits that fall in it.
    across_hits: Vec<Hit>,
}

fn relative(r: &Range<usize>, base: usize) -> Range<usize> {
    r.start.saturating_sub(base)..r.end.saturating_sub(base)
}

fn picked_by_a_rule(cmd: &Cmd) -> bool {
    RULES.iter().any(|r| r.across.as_ref().is_some_and(|a| (a.picks)(cmd)))
}

fn check_statement(src: &str, root: Node, nodes: &[Node], st: &Statement, state: &mut ShellState) -> Checked {
    let mut model = Model::default();
    walker::walk_statement(src, root, nodes, state, &mut model);
    let mut hits = Vec::new();
    for rule in RULES {
        (rule.detect)(&model, &mut hits);
    }
    let base = st.bytes.start;
    for h in &mut hits {
        h.span = relative(&h.span, base);
    }
    let picked = model
        .cmds
        .into_iter()
        .filter(picked_by_a_rule)
        .map(|mut c| {
            c.span = relative(&c.span, base);
            c.inner = 0..0;
            c
        })
        .collect();
    Checked { len: st.bytes.len(), kinds: st.kinds, before: None, hits, picked, across_hits: Vec::new() }
}

/// Runs the across-script parts over every statement's picked commands and files their hits
/// with the statements they fall in.
fn across(checked: &mut [Checked]) {
    let mut model = Model::default();
    let mut starts = Vec::with_capacity(checked.len());
    let mut start = 0;
    for c in checked.iter_mut() {
        c.across_hits.clear();
        starts.push(start);
        for cmd in &c.picked {
            let mut cmd = cmd.clone();
            cmd.span = cmd.span.start + start..cmd.span.end + start;
            model.cmds.push(cmd);
        }
        start += c.len;
    }
    if model.cmds.is_empty() {
        return;
    }
    let mut hits = Vec::new();
    for rule in RULES {
        if let Some(a) = &rule.across {
            (a.detect)(&model, &mut hits);
        }
    }
    for mut h in hits {
        let i = starts.partition_point(|s| *s <= h.span.start).saturating_sub(1);
        h.span = relative(&h.span, starts[i]);
        checked[i].across_hits.push(h);
    }
}

fn findings(src: &str, checked: &[Checked]) -> Vec<Finding> {
    let index = LineIndex::new(src);
    let mut out = Vec::new();
    let mut start = 0;
    for c in checked {
        for h in c.hits.iter().chain(&c.across_hits) {
            let bytes = h.span.start + start..h.span.end + start;
            out.push(index.finding(h.category, Severity::Danger, h.message.clone(), bytes));
        }
        start += c.len;
    }
    sort_dedup(&mut out);
    out
}

/// The structural check of a script, once.
pub(super) fn check_once(script: &str) -> Vec<Finding> {
    let Some(tree) = walker::parse(script, None) else { return Vec::new() };
    let root = tree.root_node();
    let (nodes, statements) = walker::statements(&tree, script.len());
    let mut state = ShellState::initial(script);
    let mut checked: Vec<Checked> =
        statements.iter().map(|st| check_statement(script, root, &nodes[st.nodes.clone()], st, &mut state)).collect();
    across(&mut checked);
    findings(script, &checked)
}

/// The structural check of a document that changes: apply each edit with
/// [`DocumentCheck::edit`], then [`DocumentCheck::check`] for the findings of the text as it
/// is. The parse and each statement's results are kept in between (see the module's docs).
pub struct DocumentCheck {
    /// The text with every edit applied.
    text: String,
    /// The text `statements` and `tree` (before its edits) describe.
    checked_text: String,
    tree: Option<tree_sitter::Tree>,
    statements: Vec<Checked>,
}

impl std::fmt::Debug for DocumentCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentCheck")
            .field("bytes", &self.text.len())
            .field("statements", &self.statements.len())
            .finish_non_exhaustive()
    }
}

impl DocumentCheck {
    pub fn new(text: String) -> Self {
        DocumentCheck { text, checked_text: String::new(), tree: None, statements: Vec::new() }
    }

    /// The text with every edit applied.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Replaces bytes `start..old_end` with `new`. Refuses (false, nothing changed) a range
    /// that is not in the text or not on character boundaries: the text is then not what the
    /// editor has, and the caller starts over with the whole text.
    pub fn edit(&mut self, start: usize, old_end: usize, new: &str) -> bool {
        let t = &self.text;
        if start > old_end || old_end > t.len() || !t.is_char_boundary(start) || !t.is_char_boundary(old_end) {
            return false;
        }
        if let Some(tree) = &mut self.tree {
            let start_position = point_at(t, start);
            let old_end_position = advance(start_position, &t[start..old_end]);
            let new_end_position = advance(start_position, new);
            tree.edit(&InputEdit {
                start_byte: start,
                old_end_byte: old_end,
                new_end_byte: start + new.len(),
                start_position,
                old_end_position,
                new_end_position,
            });
        }
        self.text.replace_range(start..old_end, new);
        true
    }

    /// The findings for the text as edited, sorted by position.
    pub fn check(&mut self) -> Vec<Finding> {
        let old_tree = self.tree.take();
        let Some(tree) = walker::parse(&self.text, old_tree.as_ref()) else {
            self.statements.clear();
            self.checked_text.clone_from(&self.text);
            return Vec::new();
        };
        drop(old_tree);
        let root = tree.root_node();
        let src = self.text.as_str();
        let (nodes, sts) = walker::statements(&tree, src.len());
        let old = std::mem::take(&mut self.statements);
        let old_src = self.checked_text.as_bytes();
        let same = |o: &Checked, o_start: usize, n: &Statement| {
            o.len == n.bytes.len()
                && o.kinds == n.kinds
                && old_src.get(o_start..o_start + o.len) == src.as_bytes().get(n.bytes.clone())
        };
        let (n_old, n_new) = (old.len(), sts.len());
        // The statements the edits left alone, at the start and at the end.
        let (mut p, mut o_start) = (0, 0);
        while p < n_old.min(n_new) && same(&old[p], o_start, &sts[p]) {
            o_start += old[p].len;
            p += 1;
        }
        let (mut s, mut o_end) = (0, old_src.len());
        while s < (n_old - p).min(n_new - p)
            && same(&old[n_old - 1 - s], o_end - old[n_old - 1 - s].len, &sts[n_new - 1 - s])
        {
            o_end -= old[n_old - 1 - s].len;
            s += 1;
        }
        // The state before statement p: from the last checkpoint at or before it (the first
        // statement's comes from the text itself: `#!/bin/sh -e`).
        let restart = (1..=p.min(n_old.saturating_sub(1))).rev().find_map(|i| old[i].before.as_deref().map(|b| (i, b)));
        let (mut state, walk_from) = match restart {
            Some((i, b)) if p < n_new => (b.clone(), i),
            _ => (ShellState::initial(src), 0),
        };
        let checkpoint = |i: usize, state: &ShellState| {
            (i > 0 && i.is_multiple_of(CHECKPOINT_EVERY)).then(|| Arc::new(state.clone()))
        };
        let mut new = Vec::with_capacity(n_new);
        let mut old = old.into_iter();
        let mut rerun = n_old == 0;
        for i in 0..p {
            let o = old.next().expect("p <= n_old");
            if p < n_new && i >= walk_from {
                let mut scratch = Model::default();
                walker::walk_statement(src, root, &nodes[sts[i].nodes.clone()], &mut state, &mut scratch);
            }
            new.push(o);
        }
        for _ in p..n_old - s {
            let o = old.next().expect("p + s <= n_old");
            rerun |= !o.picked.is_empty() || !o.across_hits.is_empty();
        }
        for (i, st) in sts.iter().enumerate().take(n_new - s).skip(p) {
            let before = checkpoint(i, &state);
            let mut c = check_statement(src, root, &nodes[st.nodes.clone()], st, &mut state);
            c.before = before;
            rerun |= !c.picked.is_empty();
            new.push(c);
        }
        let mut converged = false;
        for (i, st) in sts.iter().enumerate().skip(n_new - s) {
            let o = old.next().expect("s <= n_old");
            converged = converged || o.before.as_deref().is_some_and(|b| *b == state);
            if converged {
                new.push(o);
                continue;
            }
            rerun |= !o.picked.is_empty() || !o.across_hits.is_empty();
            let before = checkpoint(i, &state);
            let mut c = check_statement(src, root, &nodes[st.nodes.clone()], st, &mut state);
            c.before = before;
            rerun |= !c.picked.is_empty();
            new.push(c);
        }
        if rerun {
            across(&mut new);
        }
        let findings = findings(src, &new);
        drop(nodes);
        self.statements = new;
        self.tree = Some(tree);
        self.checked_text.clone_from(&self.text);
        findings
    }
}

/// The row and byte column of `byte`, as tree-sitter counts them (rows end at `\n`).
fn point_at(text: &str, byte: usize) -> Point {
    advance(Point { row: 0, column: 0 }, &text[..byte])
}

fn advance(from: Point, text: &str) -> Point {
    let bytes = text.as_bytes();
    match bytes.iter().rposition(|b| *b == b'\n') {
        Some(last) => {
            Point { row: from.row + bytes.iter().filter(|b| **b == b'\n').count(), column: bytes.len() - last - 1 }
        }
        None => Point { row: from.row, column: from.column + bytes.len() },
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::safety::{check_structure, model};

    const DESTRUCTIVE: &str = include_str!("../../tests/data/safety/destructive.txt");
    const HARMLESS: &str = include_str!("../../tests/data/safety/harmless.txt");

    fn corpus() -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in DESTRUCTIVE.lines().chain(HARMLESS.lines()) {
            if line.starts_with("### ") {
                out.push(String::new());
            } else if let Some(body) = out.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        out.extend(RULES.iter().flat_map(|r| r.examples.iter().map(|e| e.to_string())));
        out
    }

    /// Every rule on the model of the whole script at once, across-script parts included.
    fn whole(script: &str) -> Vec<Finding> {
        let m = model::build(script);
        let mut hits = Vec::new();
        for rule in RULES {
            (rule.detect)(&m, &mut hits);
            if let Some(a) = &rule.across {
                (a.detect)(&m, &mut hits);
            }
        }
        let index = LineIndex::new(script);
        let mut out: Vec<Finding> =
            hits.into_iter().map(|h| index.finding(h.category, Severity::Danger, h.message, h.span)).collect();
        sort_dedup(&mut out);
        out
    }

    /// The statement parts find in each statement what they find in the whole script, and
    /// the across-script parts read nothing but what they pick.
    #[test]
    fn statement_by_statement_finds_what_the_whole_script_shows() {
        for script in corpus() {
            assert_eq!(check_once(&script), whole(&script), "{script}");
        }
    }

    /// A document edited and checked again against a fresh check of the same text.
    fn edited(base: &str, edits: &[(usize, usize, &str)]) {
        let mut doc = DocumentCheck::new(base.to_string());
        assert_eq!(doc.check(), check_structure(base));
        for &(start, end, text) in edits {
            assert!(doc.edit(start, end, text));
            assert_eq!(doc.check(), check_structure(doc.text()), "after {start}..{end} -> {text:?}:\n{}", doc.text());
        }
    }

    #[test]
    fn edits_give_what_a_fresh_check_gives() {
        let padding = "echo padding\n".repeat(40);
        // A variable's value changes what a command far below deletes.
        let script = format!("D=/tmp/build\n{padding}rm -rf \"$D\"\n{padding}");
        let at = script.find("/tmp/build").unwrap();
        edited(&script, &[(at, at + 10, "/etc"), (at, at + 4, "/tmp/x"), (at, at + 6, "")]);
        // A download far above the line that runs it, then a checksum check in between.
        let script = format!("curl -fsSLo i.sh https://x/i.sh\n{padding}sh i.sh\n");
        let mid = script.find("sh i.sh").unwrap();
        edited(&script, &[(mid, mid, "sha256sum -c i.sh.sha256\n"), (mid, mid + 25, "")]);
        // `set -e` on the first line, an unterminated quote, a heredoc opened and closed.
        let script = format!("#!/bin/sh\ncd \"$DIR\"\n{padding}rm -rf *\n");
        edited(&script, &[(9, 9, " -e"), (9, 12, ""), (20, 20, "'"), (20, 21, ""), (10, 10, "cat <<EOF\n")]);
        // Typing a command a character at a time, and deleting everything.
        let mut edits = Vec::new();
        let typed = "sudo rm -rf /usr/lib\n";
        for (i, _) in typed.char_indices() {
            edits.push((12 * 13 + i, 12 * 13 + i, &typed[i..i + 1]));
        }
        let mut script_edits: Vec<(usize, usize, &str)> = edits;
        script_edits.push((0, padding.len() + typed.len(), ""));
        edited(&padding, &script_edits);
    }

    #[test]
    fn edits_outside_the_text_are_refused() {
        let mut doc = DocumentCheck::new("é\n".into());
        assert!(!doc.edit(1, 1, "x"));
        assert!(!doc.edit(2, 1, "x"));
        assert!(!doc.edit(0, 9, "x"));
        assert_eq!(doc.text(), "é\n");
    }

    /// Fragments that make and break shell structure.
    const FRAGMENTS: &[&str] = &[
        "x",
        " ",
        "\n",
        "'",
        "\"",
        "$",
        "{",
        "}",
        "(",
        ")",
        ";",
        "&",
        "|",
        "\\",
        "#",
        "é",
        "rm -rf ",
        "/",
        "/etc",
        "\"$D\"",
        "D=/usr/lib\n",
        "cd $D\n",
        "<<EOF\n",
        "EOF\n",
        "if [ -n \"$D\" ]; then\n",
        "fi\n",
        "set -e\n",
        "curl -o f https://x/f\n",
        "sh f\n",
        "iptables -P INPUT DROP\n",
        "ufw allow 22\n",
        "visudo -c\n",
        "tee /etc/sudoers.d/x\n",
        "mkfs.ext4 /dev/sdb\n",
        "lvcreate -n sdb vg\n",
        "f() { rm -rf \"$1\"; }\n",
        "#!/bin/sh -e\n",
        " -e",
        "unset D\n",
        "for D in /etc /tmp; do\n",
        "done\n",
    ];

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 300,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x1ec7_0ed1_7500),
            ..ProptestConfig::default()
        })]
        #[test]
        fn random_edits_give_what_a_fresh_check_gives(
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 2..40),
            edits in proptest::collection::vec(
                (any::<prop::sample::Index>(), 0usize..12, prop::sample::select(FRAGMENTS), any::<bool>()),
                1..14,
            ),
        ) {
            let corpus = corpus();
            let base: String = picks.iter().map(|i| corpus[i.index(corpus.len())].as_str()).collect();
            let mut doc = DocumentCheck::new(base.clone());
            prop_assert_eq!(doc.check(), check_structure(&base));
            for (at, len, text, check_now) in edits {
                let t = doc.text();
                let mut start = at.index(t.len() + 1);
                while !t.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (start + len).min(t.len());
                while !t.is_char_boundary(end) {
                    end += 1;
                }
                prop_assert!(doc.edit(start, end, text));
                if check_now {
                    let fresh = check_structure(doc.text());
                    prop_assert_eq!(doc.check(), fresh, "{}", doc.text());
                }
            }
            let fresh = check_structure(doc.text());
            prop_assert_eq!(doc.check(), fresh, "{}", doc.text());
        }
    }
}
