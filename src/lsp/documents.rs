//! Open documents, kept in ropes with their versions, updated by incremental sync.

use std::collections::HashMap;

use ropey::Rope;
use tower_lsp_server::ls_types::{Range, TextDocumentContentChangeEvent, Uri};

use super::position::{Encoding, to_char};
use crate::actions::edits::LineSelection;

#[derive(Debug, Clone)]
pub struct Document {
    pub rope: Rope,
    pub version: i32,
    pub language_id: String,
    /// Which `didOpen` this is: a reopened document starts again at version 1, so the
    /// version alone cannot tell an edit's target from a new text under the same URI.
    pub opened: u64,
}

impl Document {
    pub fn new(text: &str, version: i32, language_id: &str) -> Self {
        Self { rope: Rope::from_str(text), version, language_id: language_id.to_string(), opened: 0 }
    }

    /// Applies one change of `didChange` (a range edit, or the whole text).
    pub fn apply(&mut self, change: &TextDocumentContentChangeEvent, enc: Encoding) {
        match change.range {
            Some(range) => {
                let start = to_char(&self.rope, range.start, enc);
                let end = to_char(&self.rope, range.end, enc).max(start);
                self.rope.remove(start..end);
                self.rope.insert(start, &change.text);
            }
            None => self.rope = Rope::from_str(&change.text),
        }
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
    opens: u64,
}

impl Documents {
    pub fn open(&mut self, uri: Uri, mut doc: Document) {
        self.opens += 1;
        doc.opened = self.opens;
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

    pub fn get(&self, uri: &Uri) -> Option<&Document> {
        self.docs.get(uri)
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
