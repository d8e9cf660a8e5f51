//! The one place where LSP positions meet document offsets. Positions are counted in the
//! negotiated encoding (UTF-8 bytes or UTF-16 code units); anything past the end of a line
//! or the document is clamped, never a panic.

use ropey::Rope;
use tower_lsp_server::ls_types::{ClientCapabilities, Position, PositionEncodingKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

impl Encoding {
    /// UTF-8 when the client offers it (no conversion needed), else the mandatory UTF-16.
    pub fn negotiate(caps: &ClientCapabilities) -> Self {
        let offered = caps.general.as_ref().and_then(|g| g.position_encodings.as_ref());
        match offered {
            Some(list) if list.contains(&PositionEncodingKind::UTF8) => Encoding::Utf8,
            _ => Encoding::Utf16,
        }
    }

    pub fn kind(self) -> PositionEncodingKind {
        match self {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }
    }
}

/// Chars of line `line` without its line break.
fn line_len_chars(rope: &Rope, line: usize) -> usize {
    let slice = rope.line(line);
    let mut len = slice.len_chars();
    // With `cr_lines`, a line ends in "\n", "\r\n" or "\r".
    if len > 0 && slice.char(len - 1) == '\n' {
        len -= 1;
    }
    if len > 0 && slice.char(len - 1) == '\r' {
        len -= 1;
    }
    len
}

/// The char index of `pos`, clamped to the document and to the line's end.
pub fn to_char(rope: &Rope, pos: Position, enc: Encoding) -> usize {
    let line = pos.line as usize;
    if line >= rope.len_lines() {
        return rope.len_chars();
    }
    let start = rope.line_to_char(line);
    let end = start + line_len_chars(rope, line);
    let col = pos.character as usize;
    let idx = match enc {
        Encoding::Utf8 => {
            let start_b = rope.char_to_byte(start);
            let end_b = rope.char_to_byte(end);
            // A byte offset inside a char lands on that char.
            rope.byte_to_char((start_b + col).min(end_b))
        }
        Encoding::Utf16 => {
            let start_u = rope.char_to_utf16_cu(start);
            let end_u = rope.char_to_utf16_cu(end);
            rope.utf16_cu_to_char((start_u + col).min(end_u))
        }
    };
    idx.clamp(start, end)
}

/// The position of char index `idx` (clamped to the document).
pub fn from_char(rope: &Rope, idx: usize, enc: Encoding) -> Position {
    let idx = idx.min(rope.len_chars());
    let line = rope.char_to_line(idx);
    let start = rope.line_to_char(line);
    let character = match enc {
        Encoding::Utf8 => rope.char_to_byte(idx) - rope.char_to_byte(start),
        Encoding::Utf16 => rope.char_to_utf16_cu(idx) - rope.char_to_utf16_cu(start),
    };
    Position::new(line as u32, character as u32)
}

/// The end of line `line` (before its break).
pub fn line_end(rope: &Rope, line: usize, enc: Encoding) -> Position {
    let line = line.min(rope.len_lines().saturating_sub(1));
    from_char(rope, rope.line_to_char(line) + line_len_chars(rope, line), enc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, pos: (u32, u32), enc: Encoding, expected_char: usize) {
        let rope = Rope::from_str(text);
        let got = to_char(&rope, Position::new(pos.0, pos.1), enc);
        assert_eq!(got, expected_char, "{text:?} {pos:?} {enc:?}");
    }

    #[test]
    fn table() {
        use Encoding::*;
        // "a😀b": 😀 is 2 UTF-16 units and 4 UTF-8 bytes.
        check("a😀b", (0, 1), Utf16, 1);
        check("a😀b", (0, 3), Utf16, 2);
        check("a😀b", (0, 5), Utf8, 2);
        // Inside a surrogate pair / a multi-byte char: lands on that char's start.
        check("a😀b", (0, 2), Utf16, 1);
        check("a😀b", (0, 3), Utf8, 1);
        // Past the end of a line: its end, not the next line.
        check("ab\ncd", (0, 99), Utf16, 2);
        check("ab\r\ncd", (0, 99), Utf16, 2);
        // Past the end of the document.
        check("ab\ncd", (7, 0), Utf8, 5);
        check("日本語\nx", (1, 1), Utf16, 5);
        check("日本語\nx", (0, 6), Utf8, 2);
    }

    #[test]
    fn round_trip_multibyte() {
        let text = "écho 👩‍👩‍👧 日本\r\n𝄞 clef\rend\n";
        let rope = Rope::from_str(text);
        for enc in [Encoding::Utf8, Encoding::Utf16] {
            for idx in 0..=rope.len_chars() {
                let pos = from_char(&rope, idx, enc);
                let back = to_char(&rope, pos, enc);
                // Line breaks sit past a line's end and clamp to it.
                let c = if idx < rope.len_chars() { rope.char(idx) } else { ' ' };
                if c != '\n' && c != '\r' {
                    assert_eq!(back, idx, "{enc:?} idx {idx} pos {pos:?}");
                }
            }
        }
    }

    #[test]
    fn line_ends() {
        let rope = Rope::from_str("a😀\nxy");
        assert_eq!(line_end(&rope, 0, Encoding::Utf16), Position::new(0, 3));
        assert_eq!(line_end(&rope, 0, Encoding::Utf8), Position::new(0, 5));
        assert_eq!(line_end(&rope, 9, Encoding::Utf8), Position::new(1, 2));
    }
}
