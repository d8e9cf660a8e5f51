//! Open documents, kept in ropes with their versions, updated by incremental sync.

use std::collections::HashMap;

use ropey::Rope;
use tower_lsp_server::ls_types::{Range, TextDocumentContentChangeEvent, Uri};

use super::position::{Encoding, to_char};
use crate::actions::edits::LineSelection;

/// One change in bytes of the text before it: what the lint's incremental parse needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ByteEdit {
    pub start: usize,
    pub old_end: usize,
    pub text: String,
}

/// What changed since the lint last looked.
#[derive(Debug, Clone, PartialEq)]
pub enum Changes {
    Edits(Vec<ByteEdit>),
    /// The whole text is new (opened, full-text sync, or more edits than are worth keeping).
    Replaced,
}

/// More edits than this between two lints (a document nobody lints) count as a new text.
const MAX_PENDING_EDITS: usize = 512;

#[derive(Debug, Clone)]
pub struct Document {
    pub rope: Rope,
    pub version: i32,
    pub language_id: String,
    /// Running jobs' selected lines, moved through every change; `None` once a change
    /// touched them.
    anchors: HashMap<u64, Option<LineSelection>>,
    changes: Changes,
}

impl Document {
    pub fn new(text: &str, version: i32, language_id: &str) -> Self {
        Self {
            rope: Rope::from_str(text),
            version,
            language_id: language_id.to_string(),
            anchors: HashMap::new(),
            changes: Changes::Replaced,
        }
    }

    /// The changes since the last call.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::replace(&mut self.changes, Changes::Edits(Vec::new()))
    }

    fn record(&mut self, edit: Option<ByteEdit>) {
        match (&mut self.changes, edit) {
            (Changes::Edits(edits), Some(e)) if edits.len() < MAX_PENDING_EDITS => edits.push(e),
            _ => self.changes = Changes::Replaced,
        }
    }

    /// Applies one change of `didChange` (a range edit, or the whole text), moving the
    /// anchors with it.
    pub fn apply(&mut self, change: &TextDocumentContentChangeEvent, enc: Encoding) {
        match change.range {
            Some(range) => {
                let start = to_char(&self.rope, range.start, enc);
                let end = to_char(&self.rope, range.end, enc).max(start);
                let moved: Vec<(u64, Option<usize>)> = self
                    .anchors
                    .iter()
                    .filter_map(|(id, a)| {
                        a.as_ref().map(|a| (*id, self.anchor_start_after(a, start, end, &change.text)))
                    })
                    .collect();
                let edit = ByteEdit {
                    start: self.rope.char_to_byte(start),
                    old_end: self.rope.char_to_byte(end),
                    text: change.text.clone(),
                };
                self.record(Some(edit));
                self.rope.remove(start..end);
                self.rope.insert(start, &change.text);
                for (id, new_start_char) in moved {
                    let slot = self.anchors.get_mut(&id).expect("collected from the map");
                    *slot = match (new_start_char, slot.take()) {
                        (Some(c), Some(a)) => {
                            let line = self.rope.char_to_line(c);
                            Some(LineSelection { start: line, end: line + (a.end - a.start) })
                        }
                        _ => None,
                    };
                }
            }
            None => {
                self.record(None);
                let new = Rope::from_str(&change.text);
                if self.anchors.values().any(Option::is_some) {
                    self.move_anchors_to(&new);
                }
                self.rope = new;
            }
        }
    }

    /// Where an anchor's first line starts after replacing chars `start..end` with `text`:
    /// `None` when the change touches its lines (then the selection is gone, and nothing
    /// may be inserted for it).
    fn anchor_start_after(&self, a: &LineSelection, start: usize, end: usize, text: &str) -> Option<usize> {
        let is_break = |c: char| c == '\n' || c == '\r';
        let last = self.last_line();
        if a.end > last {
            return None;
        }
        let first_char = self.rope.line_to_char(a.start);
        let last_line = self.rope.line(a.end);
        let n = last_line.len_chars();
        let breaks = (0..n.min(2)).take_while(|k| is_break(last_line.char(n - 1 - k))).count();
        let end_of_content = self.rope.line_to_char(a.end) + last_line.len_chars() - breaks;
        let inserted = text.chars().count();
        // Entirely above, and the first line still starts a line afterwards.
        let starts_line = match text.chars().last() {
            Some(c) => is_break(c),
            None => start == 0 || is_break(self.rope.char(start - 1)),
        };
        if end < first_char || (end == first_char && starts_line) {
            return Some(first_char - (end - start) + inserted);
        }
        // Entirely below: after the last line's text, not joining the next line onto it.
        let keeps_break = text.chars().next().is_none_or(is_break) && end == start;
        // On an empty last line, text put at its end is also put at its start: refuse.
        let has_content = end_of_content > self.rope.line_to_char(a.end);
        if start > end_of_content || (start == end_of_content && keeps_break && has_content) {
            return Some(first_char);
        }
        None
    }

    /// A whole-text change: the lines the old and new text share at the start stay, those
    /// they share at the end move by the difference; an anchor in between is gone.
    fn move_anchors_to(&mut self, new: &Rope) {
        let line = |r: &Rope, i: usize| r.line(i).chars().filter(|c| *c != '\n' && *c != '\r').collect::<String>();
        let (old_n, new_n) = (self.rope.len_lines(), new.len_lines());
        let prefix = (0..old_n.min(new_n)).take_while(|&i| line(&self.rope, i) == line(new, i)).count();
        let max_suffix = old_n.min(new_n) - prefix;
        let suffix =
            (0..max_suffix).take_while(|&k| line(&self.rope, old_n - 1 - k) == line(new, new_n - 1 - k)).count();
        for slot in self.anchors.values_mut() {
            *slot = slot.take().and_then(|a| {
                if a.end < prefix {
                    Some(a)
                } else if a.start >= old_n - suffix {
                    let shift = |l: usize| l + new_n - old_n;
                    Some(LineSelection { start: shift(a.start), end: shift(a.end) })
                } else {
                    None
                }
            });
        }
    }

    /// Starts tracking `selection`; see [`Documents::anchored`].
    fn add_anchor(&mut self, id: u64, selection: LineSelection) {
        self.anchors.insert(id, Some(selection));
    }

    /// Line `i` without its line break; empty past the end.
    pub fn line(&self, i: usize) -> String {
        if i >= self.rope.len_lines() {
            return String::new();
        }
        let s = self.rope.line(i).to_string();
        s.trim_end_matches(['\n', '\r']).to_string()
    }

    /// Lines `start..=end`, clamped to the document.
    /// The index of the last line (the empty one after a final line break counts).
    pub fn last_line(&self) -> usize {
        self.rope.len_lines().saturating_sub(1)
    }

    /// The whole lines a range covers, clamped to the document: a range past the end means
    /// the last line, as position conversion clamps it, so an answer goes where the text it
    /// was given is. Every place that matches a range to a job or a pending question uses it.
    pub fn line_selection(&self, range: &Range) -> LineSelection {
        let s =
            LineSelection::from_range(range.start.line as usize, range.end.line as usize, range.end.character as usize);
        let last = self.last_line();
        LineSelection { start: s.start.min(last), end: s.end.min(last) }
    }

    pub fn lines(&self, start: usize, end: usize) -> Vec<String> {
        let last = self.last_line();
        (start.min(last)..=end.min(last)).map(|i| self.line(i)).collect()
    }

    pub fn all_lines(&self) -> Vec<String> {
        self.lines(0, self.last_line())
    }

    /// "\r\n" when the document's first line break is one, so inserted lines match.
    pub fn line_break(&self) -> &'static str {
        for (i, c) in self.rope.chars().enumerate() {
            if c == '\n' {
                return if i > 0 && self.rope.char(i - 1) == '\r' { "\r\n" } else { "\n" };
            }
            if i > 10_000 {
                break;
            }
        }
        "\n"
    }
}

#[derive(Debug, Default)]
pub struct Documents {
    docs: HashMap<Uri, Document>,
    anchors: u64,
}

impl Documents {
    /// A reopened document replaces the old one and with it the old anchors: a job that
    /// began before the close finds its selection gone (version 1 again proves nothing).
    pub fn open(&mut self, uri: Uri, doc: Document) {
        self.docs.insert(uri, doc);
    }

    pub fn change(&mut self, uri: &Uri, version: i32, changes: &[TextDocumentContentChangeEvent], enc: Encoding) {
        if let Some(doc) = self.docs.get_mut(uri) {
            for c in changes {
                doc.apply(c, enc);
            }
            doc.version = version;
        } else {
            tracing::warn!(uri = uri.as_str(), "didChange for a document that is not open");
        }
    }

    pub fn close(&mut self, uri: &Uri) {
        self.docs.remove(uri);
    }

    /// Tracks a job's selected lines through every change until [`Documents::release`].
    pub fn anchor(&mut self, uri: &Uri, selection: LineSelection) -> Option<u64> {
        self.anchors += 1;
        let id = self.anchors;
        self.docs.get_mut(uri)?.add_anchor(id, selection);
        Some(id)
    }

    /// Where the anchored lines are now; `None` when a change touched them or the document
    /// was closed (a reopened document under the same URI has no anchors).
    pub fn anchored(&self, uri: &Uri, id: u64) -> Option<LineSelection> {
        self.docs.get(uri)?.anchors.get(&id)?.clone()
    }

    pub fn release(&mut self, uri: &Uri, id: u64) {
        if let Some(doc) = self.docs.get_mut(uri) {
            doc.anchors.remove(&id);
        }
    }

    pub fn get(&self, uri: &Uri) -> Option<&Document> {
        self.docs.get(uri)
    }

    pub fn get_mut(&mut self, uri: &Uri) -> Option<&mut Document> {
        self.docs.get_mut(uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::{Position, Range};

    fn change(range: ((u32, u32), (u32, u32)), text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(range.0.0, range.0.1), Position::new(range.1.0, range.1.1))),
            range_length: None,
            text: text.to_string(),
        }
    }

    /// (text, selected lines, change, where the selection is afterwards or None)
    #[test]
    fn anchors_move_with_changes_and_die_when_touched() {
        type Case = (&'static str, (usize, usize), ((u32, u32), (u32, u32)), &'static str, Option<(usize, usize)>);
        let cases: Vec<Case> = vec![
            // A line inserted above moves it down; one deleted above moves it up.
            ("a\nb\nsel\nc\n", (2, 2), ((0, 0), (0, 0)), "new\n", Some((3, 3))),
            ("a\nb\nsel\nc\n", (2, 2), ((0, 0), (1, 0)), "", Some((1, 1))),
            // Typing on a line above or below leaves it where it is.
            ("a\nb\nsel\nc\n", (2, 2), ((1, 1), (1, 1)), "xyz", Some((2, 2))),
            ("a\nb\nsel\nc\n", (2, 2), ((3, 0), (3, 1)), "", Some((2, 2))),
            // A line break added after its last line keeps it.
            ("a\nsel\nc", (1, 1), ((1, 3), (1, 3)), "\nnew", Some((1, 1))),
            // Touching it, deleting it, or joining it with a neighbour ends it.
            ("a\nb\nsel\nc\n", (2, 2), ((2, 1), (2, 2)), "", None),
            ("a\nb\nsel\nc\n", (2, 2), ((2, 0), (3, 0)), "", None),
            ("a\nb\nsel\nc\n", (2, 2), ((1, 1), (2, 0)), "", None),
            ("a\nb\nsel\nc\n", (2, 2), ((2, 3), (3, 0)), "", None),
            ("a\nb\nsel\nc\n", (2, 2), ((2, 0), (2, 0)), "x", None),
            // An identical line elsewhere does not count: the selection itself is gone.
            ("sel\nsel\n", (1, 1), ((1, 0), (2, 0)), "", None),
            // Multi-line selections, CRLF, emoji above (UTF-16 columns).
            ("😀\r\nx\r\ny\r\nz", (1, 2), ((0, 2), (0, 2)), "\r\n🎉", Some((2, 3))),
            ("😀\r\nx\r\ny\r\nz", (1, 2), ((2, 0), (2, 1)), "Y", None),
        ];
        for (text, (a, b), range, new, expected) in cases {
            let mut docs = Documents::default();
            let uri: Uri = "file:///t".parse().unwrap();
            docs.open(uri.clone(), Document::new(text, 1, "sh"));
            let id = docs.anchor(&uri, LineSelection { start: a, end: b }).unwrap();
            docs.change(&uri, 2, &[change(range, new)], Encoding::Utf16);
            let got = docs.anchored(&uri, id).map(|s| (s.start, s.end));
            assert_eq!(got, expected, "{text:?} lines {a}..={b}, {range:?} -> {new:?}");
        }
        // Whole-text sync: shared start and end lines are kept.
        let mut d = Document::new("a\nb\nsel\nc\n", 1, "sh");
        d.add_anchor(1, LineSelection { start: 2, end: 2 });
        d.add_anchor(2, LineSelection { start: 0, end: 0 });
        d.add_anchor(3, LineSelection { start: 1, end: 1 });
        d.apply(
            &TextDocumentContentChangeEvent { range: None, range_length: None, text: "a\nB\nB2\nsel\nc\n".into() },
            Encoding::Utf16,
        );
        assert_eq!(d.anchors[&1].clone().map(|s| s.start), Some(3));
        assert_eq!(d.anchors[&2].clone().map(|s| s.start), Some(0));
        assert_eq!(d.anchors[&3], None);
        // Closed and reopened: gone.
        let mut docs = Documents::default();
        let uri: Uri = "file:///t".parse().unwrap();
        docs.open(uri.clone(), Document::new("x\n", 1, "sh"));
        let id = docs.anchor(&uri, LineSelection { start: 0, end: 0 }).unwrap();
        docs.close(&uri);
        docs.open(uri.clone(), Document::new("x\n", 1, "sh"));
        assert_eq!(docs.anchored(&uri, id), None);
    }

    mod sync_model {
        //! Random incremental edits against a naive model: a vector of chars, each tagged
        //! with the line of the original text it came from. The rope must equal the model,
        //! and an anchor that survives must sit exactly where the model has the selected
        //! lines, whole and untouched (refusing is allowed, a wrong place is not).
        use super::*;
        use proptest::prelude::*;

        const ALPHABET: &[&str] = &["a", "b", "ü", "😀", "\n", "\r\n", "\r", " ", "x\n"];

        fn text_strategy() -> impl Strategy<Value = String> {
            proptest::collection::vec(proptest::sample::select(ALPHABET), 0..40).prop_map(|v| v.concat())
        }

        /// Original line of each char (`None` for inserted ones).
        fn tags(text: &str) -> Vec<(char, Option<usize>)> {
            let rope = Rope::from_str(text);
            text.chars().enumerate().map(|(i, c)| (c, Some(rope.char_to_line(i)))).collect()
        }

        /// The line index where lines `a..=b` of the original stand whole, if they do: the
        /// current lines there have the same text, every char of it from that original line.
        fn model_lines(model: &[(char, Option<usize>)], original: &Rope, a: usize, b: usize) -> Option<usize> {
            let content =
                |r: &Rope, i: usize| -> String { r.line(i).chars().filter(|c| *c != '\n' && *c != '\r').collect() };
            let text: String = model.iter().map(|(c, _)| *c).collect();
            let rope = Rope::from_str(&text);
            let first = model.iter().position(|(c, t)| *t == Some(a) && !matches!(c, '\n' | '\r'))?;
            let start = rope.char_to_line(first);
            for (k, line) in (a..=b).enumerate() {
                let l = start + k;
                if l >= rope.len_lines() || content(&rope, l) != content(original, line) {
                    return None;
                }
                let from = rope.line_to_char(l);
                let n = content(&rope, l).chars().count();
                if model[from..from + n].iter().any(|(_, t)| *t != Some(line)) {
                    return None;
                }
            }
            Some(start)
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 2000,
                rng_seed: proptest::test_runner::RngSeed::Fixed(0x005e_ed0f_a4c4),
                ..ProptestConfig::default()
            })]
            #[test]
            fn anchors_land_where_the_model_says_or_nowhere(
                text in text_strategy(),
                sel in (0usize..6, 0usize..3),
                edits in proptest::collection::vec((0usize..60, 0usize..6, text_strategy()), 1..8),
            ) {
                let original = Rope::from_str(&text);
                let last = original.len_lines() - 1;
                // The first line from the chosen one that has text: the model follows chars,
                // and an empty line has none of its own.
                let has_text = |i: usize| original.line(i).chars().any(|c| c != '\n' && c != '\r');
                let Some(a) = (sel.0.min(last)..=last).find(|&i| has_text(i)) else {
                    return Ok(());
                };
                let b = (a + sel.1).min(last);
                let mut doc = Document::new(&text, 1, "sh");
                doc.add_anchor(1, LineSelection { start: a, end: b });
                let mut model = tags(&text);
                for (start, len, new) in edits {
                    let n = doc.rope.len_chars();
                    let s = start.min(n);
                    let e = (s + len).min(n);
                    let range = Range::new(
                        super::super::super::position::from_char(&doc.rope, s, Encoding::Utf16),
                        super::super::super::position::from_char(&doc.rope, e, Encoding::Utf16),
                    );
                    // A position between \r and \n cannot be expressed in LSP; skip such edits.
                    let back = to_char(&doc.rope, range.start, Encoding::Utf16);
                    let back_end = to_char(&doc.rope, range.end, Encoding::Utf16);
                    if back != s || back_end != e {
                        continue;
                    }
                    doc.apply(&TextDocumentContentChangeEvent { range: Some(range), range_length: None, text: new.clone() }, Encoding::Utf16);
                    model.splice(s..e, new.chars().map(|c| (c, None)));
                    let model_text: String = model.iter().map(|(c, _)| *c).collect();
                    prop_assert_eq!(doc.rope.to_string(), model_text);
                }
                if let Some(got) = doc.anchors[&1].clone() {
                    prop_assert_eq!(Some(got.start), model_lines(&model, &original, a, b), "anchor survived where the model has no such lines");
                }
            }
        }
    }

    #[test]
    fn incremental_edits_with_emoji() {
        let mut d = Document::new("a😀b\nsecond\n", 1, "shellscript");
        // UTF-16: after 😀 is column 3.
        d.apply(&change(((0, 3), (0, 4)), "B"), Encoding::Utf16);
        assert_eq!(d.line(0), "a😀B");
        // UTF-8: 😀 spans bytes 1..5.
        d.apply(&change(((0, 1), (0, 5)), "🎉"), Encoding::Utf8);
        assert_eq!(d.line(0), "a🎉B");
        // Clamped: a range past the end replaces up to the end.
        d.apply(&change(((1, 2), (9, 9)), "X"), Encoding::Utf16);
        assert_eq!(d.rope.to_string(), "a🎉B\nseX");
    }

    /// What the lint gets: each change in bytes of the text before it; a whole new text
    /// (opened, full sync, too many edits) as `Replaced`.
    #[test]
    fn changes_are_kept_in_bytes_for_the_lint() {
        let edit = |start, old_end, text: &str| ByteEdit { start, old_end, text: text.into() };
        let mut d = Document::new("a😀b\nsecond\n", 1, "shellscript");
        assert_eq!(d.take_changes(), Changes::Replaced);
        assert_eq!(d.take_changes(), Changes::Edits(Vec::new()));
        // UTF-16 (0,3)..(0,4) is the `b` after the emoji: bytes 5..6.
        d.apply(&change(((0, 3), (0, 4)), "B"), Encoding::Utf16);
        d.apply(&change(((1, 0), (1, 0)), "é"), Encoding::Utf8);
        // Past the end: clamped, as the rope is.
        d.apply(&change(((1, 3), (9, 9)), ""), Encoding::Utf16);
        assert_eq!(d.take_changes(), Changes::Edits(vec![edit(5, 6, "B"), edit(7, 7, "é"), edit(11, 16, "")]));
        assert_eq!(d.rope.to_string(), "a😀B\nése");
        d.apply(&TextDocumentContentChangeEvent { range: None, range_length: None, text: "x".into() }, Encoding::Utf16);
        d.apply(&change(((0, 0), (0, 0)), "y"), Encoding::Utf16);
        assert_eq!(d.take_changes(), Changes::Replaced);
        for _ in 0..=MAX_PENDING_EDITS {
            d.apply(&change(((0, 0), (0, 0)), "y"), Encoding::Utf16);
        }
        assert_eq!(d.take_changes(), Changes::Replaced);
    }

    #[test]
    fn lines_and_breaks() {
        let d = Document::new("one\r\ntwo\r\n", 1, "sh");
        assert_eq!(d.lines(0, 5), vec!["one", "two", ""]);
        assert_eq!(d.line_break(), "\r\n");
        assert_eq!(Document::new("x", 1, "sh").line_break(), "\n");
    }

    #[test]
    fn line_selection_is_clamped_to_the_document() {
        use tower_lsp_server::ls_types::Position;
        let check = |text: &str, (sl, sc, el, ec): (u32, u32, u32, u32), expected: (usize, usize)| {
            let d = Document::new(text, 1, "sh");
            let s = d.line_selection(&Range::new(Position::new(sl, sc), Position::new(el, ec)));
            assert_eq!((s.start, s.end), expected, "{text:?} {sl}:{sc}-{el}:{ec}");
        };
        check("ls\necho hi", (1, 0, 1, 7), (1, 1));
        check("ls\necho hi", (5, 0, 5, 3), (1, 1));
        check("ls\necho hi", (0, 0, 9, 0), (0, 1));
        check("a\nb\n", (0, 0, 2, 0), (0, 1));
        check("a\nb\n", (7, 0, 9, 0), (2, 2));
    }
}
