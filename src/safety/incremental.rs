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
use super::walker::{self, Segment, ShellState, Statement, advance, point_at};
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
    let segments = walker::parse_segments(script, 0..script.len(), Point { row: 0, column: 0 }, None);
    let mut state = ShellState::initial(script);
    let mut checked = Vec::new();
    for Segment { range, tree } in &segments {
        let root = tree.root_node();
        let (nodes, statements) = walker::statements(tree, range.clone());
        for st in &statements {
            checked.push(check_statement(script, root, &nodes[st.nodes.clone()], st, &mut state));
        }
    }
    across(&mut checked);
    findings(script, &checked)
}

/// A chunk of an open document with its own tree: whole top-level statements, parsed on their
/// own. tree-sitter cannot reuse the top level of a bash parse (its statement lists are built
/// under grammar conflicts, "fragile"), so re-parsing one tree of the whole document costs
/// about half a fresh parse whatever the edit; a chunk's costs what its few kilobytes do.
struct Chunk {
    range: Range<usize>,
    /// `None` until parsed (new, or merged from two).
    tree: Option<tree_sitter::Tree>,
    /// Edited (or new) since it was parsed.
    dirty: bool,
    /// Parsed on its own, not yet checked against its neighbours.
    unverified: bool,
}

impl Chunk {
    fn unparsed(range: Range<usize>) -> Self {
        Chunk { range, tree: None, dirty: true, unverified: true }
    }
}

/// Chunks are cut at statements after this many bytes, and cut again when they grow past
/// four times it. The unit tests cut tiny chunks, so that their edits meet chunk boundaries.
const CHUNK_BYTES: usize = if cfg!(test) { 48 } else { 2048 };

/// The structural check of a document that changes: apply each edit with
/// [`DocumentCheck::edit`], then [`DocumentCheck::check`] for the findings of the text as it
/// is. The parse and each statement's results are kept in between (see the module's docs).
///
/// The parse is kept in chunks of whole statements, each its own tree, edited with
/// `Tree::edit` and parsed again with its old tree. A chunk holds only where the whole
/// document's parse would put the same statements: it must parse without error, and where it
/// meets a neighbour the two statements there must parse alike on their own (a heredoc, a
/// quote or a line continuation that runs on into the next chunk does not). Otherwise the two
/// become one chunk, and a syntax error makes the whole document one.
pub struct DocumentCheck {
    /// The text with every edit applied.
    text: String,
    /// The text `statements` describe.
    checked_text: String,
    /// In order, covering the text.
    chunks: Vec<Chunk>,
    statements: Vec<Checked>,
}

impl std::fmt::Debug for DocumentCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentCheck")
            .field("bytes", &self.text.len())
            .field("chunks", &self.chunks.len())
            .field("statements", &self.statements.len())
            .finish_non_exhaustive()
    }
}

impl DocumentCheck {
    pub fn new(text: String) -> Self {
        DocumentCheck { text, checked_text: String::new(), chunks: Vec::new(), statements: Vec::new() }
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
        if !self.chunks.is_empty() {
            let start_position = point_at(t, start);
            let edit = InputEdit {
                start_byte: start,
                old_end_byte: old_end,
                new_end_byte: start + new.len(),
                start_position,
                old_end_position: advance(start_position, &t[start..old_end]),
                new_end_position: advance(start_position, new),
            };
            self.edit_chunks(&edit);
        }
        self.text.replace_range(start..old_end, new);
        true
    }

    /// The chunks the edit touches become one, edited; those after it move.
    fn edit_chunks(&mut self, edit: &InputEdit) {
        let (start, old_end) = (edit.start_byte, edit.old_end_byte);
        let touches = |r: &Range<usize>| {
            (r.start < old_end && start < r.end) || (start == old_end && r.start <= start && start < r.end)
        };
        let first = self.chunks.iter().position(|c| touches(&c.range)).unwrap_or(self.chunks.len() - 1);
        let last = self.chunks.iter().rposition(|c| touches(&c.range)).unwrap_or(first);
        if last > first {
            let end = self.chunks[last].range.end;
            self.chunks.drain(first + 1..=last);
            let merged = &mut self.chunks[first];
            merged.range.end = end;
            merged.tree = None;
        }
        let shift = |at: usize| (at + edit.new_end_byte).saturating_sub(edit.old_end_byte);
        let touched = &mut self.chunks[first];
        touched.range.end = shift(touched.range.end.max(old_end));
        touched.dirty = true;
        touched.unverified = true;
        if let Some(tree) = &mut touched.tree {
            tree.edit(edit);
        }
        for c in &mut self.chunks[first + 1..] {
            c.range = shift(c.range.start)..shift(c.range.end);
            if let Some(tree) = &mut c.tree {
                tree.edit(edit);
            }
        }
    }

    fn points(&self, range: &Range<usize>) -> (Point, Point) {
        let start = point_at(&self.text, range.start);
        (start, advance(start, &self.text[range.clone()]))
    }

    fn parse_chunk(&self, range: &Range<usize>, old: Option<&tree_sitter::Tree>) -> Option<tree_sitter::Tree> {
        walker::parse_range(&self.text, range.clone(), self.points(range), old)
    }

    /// Parses the dirty chunks and settles them with their neighbours, then cuts large
    /// clean chunks.
    fn settle_chunks(&mut self) {
        if self.chunks.is_empty() {
            self.chunks.push(Chunk::unparsed(0..self.text.len()));
        }
        loop {
            if let Some(i) = self.chunks.iter().position(|c| c.dirty) {
                let old = self.chunks[i].tree.take();
                let range = self.chunks[i].range.clone();
                let start = point_at(&self.text, range.start);
                let segments = walker::parse_segments(&self.text, range.clone(), start, old.as_ref());
                drop(old);
                // The whole document is parsed as a fresh check parses it: that stands.
                let whole = range == (0..self.text.len());
                if !whole && segments.iter().any(|sg| sg.tree.root_node().has_error()) {
                    // Error recovery is not local: the whole document, as a fresh check has it.
                    self.chunks = vec![Chunk::unparsed(0..self.text.len())];
                    continue;
                }
                let parts = segments.into_iter().map(|Segment { range, tree }| Chunk {
                    range,
                    tree: Some(tree),
                    dirty: false,
                    unverified: !whole,
                });
                self.chunks.splice(i..=i, parts);
                continue;
            }
            let Some(i) = self.chunks.iter().position(|c| c.unverified) else { break };
            self.chunks[i].unverified = false;
            let empty = self.chunks[i].tree.as_ref().is_none_or(|t| t.root_node().named_child_count() == 0);
            let merge_with = if self.chunks.len() == 1 {
                None
            } else if empty || (i > 0 && !joins_cleanly(self, &self.chunks[i - 1], &self.chunks[i])) {
                Some(i.saturating_sub(1))
            } else if i + 1 < self.chunks.len() && !joins_cleanly(self, &self.chunks[i], &self.chunks[i + 1]) {
                Some(i)
            } else {
                None
            };
            if let Some(a) = merge_with {
                let end = self.chunks[a + 1].range.end;
                self.chunks.remove(a + 1);
                self.chunks[a] = Chunk::unparsed(self.chunks[a].range.start..end);
            }
        }
        let mut i = 0;
        while i < self.chunks.len() {
            let parts = if self.chunks[i].range.len() > 4 * CHUNK_BYTES { self.cut(&self.chunks[i]) } else { None };
            match parts {
                Some(parts) => {
                    let n = parts.len();
                    self.chunks.splice(i..=i, parts);
                    i += n;
                }
                None => i += 1,
            }
        }
    }

    /// A clean chunk cut into chunks of about [`CHUNK_BYTES`] at its statements, each parsed on
    /// its own; `None` when a part parses differently from the whole anywhere.
    fn cut(&self, chunk: &Chunk) -> Option<Vec<Chunk>> {
        let tree = chunk.tree.as_ref().filter(|t| !t.root_node().has_error())?;
        let (nodes, sts) = walker::statements(tree, chunk.range.clone());
        let mut bounds = vec![0];
        let mut size = 0;
        for (k, st) in sts.iter().enumerate().skip(1) {
            size += sts[k - 1].bytes.len();
            if size >= CHUNK_BYTES && chunk.range.end - st.bytes.start >= CHUNK_BYTES / 2 {
                bounds.push(k);
                size = 0;
            }
        }
        if bounds.len() < 2 {
            return None;
        }
        bounds.push(sts.len());
        let mut parts = Vec::with_capacity(bounds.len() - 1);
        for w in bounds.windows(2) {
            let whole = &sts[w[0]..w[1]];
            let range = whole[0].bytes.start..whole[whole.len() - 1].bytes.end;
            let part = self.parse_chunk(&range, None)?;
            let (part_nodes, part_sts) = walker::statements(&part, range.clone());
            let same = part_sts.len() == whole.len()
                && part_sts.iter().zip(whole).all(|(p, o)| {
                    p.bytes == o.bytes
                        && p.kinds == o.kinds
                        && walker::shape(&part_nodes[p.nodes.clone()], 0) == walker::shape(&nodes[o.nodes.clone()], 0)
                });
            if !same || part.root_node().has_error() {
                return None;
            }
            parts.push(Chunk { range, tree: Some(part), dirty: false, unverified: false });
        }
        Some(parts)
    }

    /// Whether a chunk's parse has a command run on over a line break (see
    /// [`walker::parse_segments`]): where it does, the parse depends on where it started.
    #[cfg(test)]
    fn runs_on(&self) -> bool {
        self.chunks.iter().any(|c| {
            c.tree.as_ref().is_some_and(|t| walker::run_on_line_break(&self.text, t, &c.range, false).is_some())
        })
    }

    /// The findings for the text as edited, sorted by position.
    pub fn check(&mut self) -> Vec<Finding> {
        self.settle_chunks();
        let src = self.text.as_str();
        // Every chunk's statements, with the root each hangs from.
        let mut nodes: Vec<Node> = Vec::new();
        let mut sts: Vec<Statement> = Vec::new();
        let mut roots: Vec<Node> = Vec::new();
        for chunk in &self.chunks {
            let Some(tree) = &chunk.tree else { continue };
            let (n, s) = walker::statements(tree, chunk.range.clone());
            let offset = nodes.len();
            nodes.extend(n);
            for mut st in s {
                st.nodes = st.nodes.start + offset..st.nodes.end + offset;
                roots.push(tree.root_node());
                sts.push(st);
            }
        }
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
        for (i, st) in sts.iter().enumerate().take(p) {
            let o = old.next().expect("p <= n_old");
            if p < n_new && i >= walk_from {
                let mut scratch = Model::default();
                walker::walk_statement(src, roots[i], &nodes[st.nodes.clone()], &mut state, &mut scratch);
            }
            new.push(o);
        }
        for _ in p..n_old - s {
            let o = old.next().expect("p + s <= n_old");
            rerun |= !o.picked.is_empty() || !o.across_hits.is_empty();
        }
        for (i, st) in sts.iter().enumerate().take(n_new - s).skip(p) {
            let before = checkpoint(i, &state);
            let mut c = check_statement(src, roots[i], &nodes[st.nodes.clone()], st, &mut state);
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
            let mut c = check_statement(src, roots[i], &nodes[st.nodes.clone()], st, &mut state);
            c.before = before;
            rerun |= !c.picked.is_empty();
            new.push(c);
        }
        if rerun {
            across(&mut new);
        }
        let findings = findings(src, &new);
        self.statements = new;
        self.checked_text.clone_from(&self.text);
        findings
    }
}

/// Whether two neighbouring chunks meet where a parse of both would put a statement
/// boundary: their statements either side of it, parsed together on their own, come out as
/// the same two statements.
fn joins_cleanly(doc: &DocumentCheck, left: &Chunk, right: &Chunk) -> bool {
    let (Some(lt), Some(rt)) = (&left.tree, &right.tree) else { return false };
    let (l_nodes, l_sts) = walker::statements(lt, left.range.clone());
    let (r_nodes, r_sts) = walker::statements(rt, right.range.clone());
    let (Some(l), Some(r)) = (l_sts.last(), r_sts.first()) else { return false };
    let window = l.bytes.start..r.bytes.end;
    let segments = walker::parse_segments(&doc.text, window.clone(), point_at(&doc.text, window.start), None);
    if segments.iter().any(|sg| sg.tree.root_node().has_error()) {
        return false;
    }
    let mut w_nodes = Vec::new();
    let mut w_sts = Vec::new();
    for sg in &segments {
        let (n, s) = walker::statements(&sg.tree, sg.range.clone());
        let offset = w_nodes.len();
        w_nodes.extend(n);
        w_sts.extend(s.into_iter().map(|mut st| {
            st.nodes = st.nodes.start + offset..st.nodes.end + offset;
            st
        }));
    }
    let alike = |a: &Statement, a_nodes: &[Node], b: &Statement, b_nodes: &[Node]| {
        a.bytes == b.bytes
            && a.kinds == b.kinds
            && walker::shape(&a_nodes[a.nodes.clone()], 0) == walker::shape(&b_nodes[b.nodes.clone()], 0)
    };
    w_sts.len() == 2 && alike(&w_sts[0], &w_nodes, l, &l_nodes) && alike(&w_sts[1], &w_nodes, r, &r_nodes)
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

    /// Whether the fresh parse of `text` has a command run on over a line break.
    fn runs_on(text: &str) -> bool {
        let tree = walker::parse(text, None).expect("parses");
        walker::run_on_line_break(text, &tree, &(0..text.len()), false).is_some()
    }

    /// Compares, unless either parse has a command that runs on over a line break:
    /// tree-sitter-bash 0.25 parses those differently depending on where the parse started
    /// (the whole file, or the chunk). Returns whether it compared.
    fn compare(doc: &mut DocumentCheck) -> Result<bool, TestCaseError> {
        let incremental = doc.check();
        if doc.runs_on() || runs_on(doc.text()) {
            return Ok(false);
        }
        prop_assert_eq!(incremental, check_structure(doc.text()), "{}", doc.text());
        Ok(true)
    }

    static COMPARED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 300,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x1ec7_0ed1_7500),
            ..ProptestConfig::default()
        })]
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
            let count = |compared: bool| {
                let counter = if compared { &COMPARED } else { &SKIPPED };
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            };
            count(compare(&mut doc)?);
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
                    count(compare(&mut doc)?);
                }
            }
            count(compare(&mut doc)?);
        }
    }

    /// Random edits, checked incrementally, give what a fresh check of the same text gives;
    /// and the comparisons are not mostly skipped.
    #[test]
    fn random_edits_give_what_a_fresh_check_gives_mostly_compared() {
        random_edits_give_what_a_fresh_check_gives();
        let compared = COMPARED.load(std::sync::atomic::Ordering::Relaxed);
        let skipped = SKIPPED.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("random edits: {compared} compared, {skipped} skipped");
        assert!(compared >= 9 * skipped, "{compared} compared, {skipped} skipped");
    }
}
