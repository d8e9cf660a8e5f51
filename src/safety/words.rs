//! Shell words as the shell would expand them, as far as a static check can know: literal
//! text (quoted or not), `~`/`$HOME`, values that may be empty, values that are unknown but
//! never empty, and known alternatives (a loop variable over literal words).

use std::ops::Range;

/// Marks the home directory in an expanded path (`~`, `$HOME`).
pub(crate) const HOME: char = '\u{E000}';
/// Marks an unknown, non-empty part (it may stand for several path segments).
pub(crate) const OPAQUE: char = '\u{E001}';

/// Most alternatives a word is expanded into; more are not looked at.
const MAX_CANDIDATES: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    /// Literal text. `quoted` text has no glob or brace meaning.
    Lit { text: String, quoted: bool },
    /// `~`, `~user` or `$HOME`.
    Home,
    /// A non-empty value that is not known (`${X:?}`, `$$`, `$((…))`, `<(…)`).
    Opaque,
    /// A value that may be empty or unset, as written (`$DIR`, `$(mktemp -d)`).
    MaybeEmpty { label: String },
    /// One of several known values.
    OneOf(Vec<Vec<Piece>>),
}

impl Piece {
    pub fn lit(text: &str, quoted: bool) -> Self {
        Piece::Lit { text: text.to_string(), quoted }
    }
}

/// An expanded word and where it was written (bytes of the checked script).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Word {
    pub pieces: Vec<Piece>,
    pub span: Range<usize>,
    /// The downloader run inside a command or process substitution of this word.
    pub downloads: Option<String>,
    /// The decoder (`base64 -d`, `xxd -r`, `rev`) run inside a substitution of this word.
    pub decodes: Option<String>,
    /// Where the word was written in the text of the walker that expanded it.
    pub local: Option<Range<usize>>,
}

impl Word {
    /// The text when the word is fully literal.
    pub fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit { text, .. } => out.push_str(text),
                Piece::OneOf(alts) if alts.len() == 1 => out.push_str(&Word::from_pieces(alts[0].clone()).literal()?),
                _ => return None,
            }
        }
        Some(out)
    }

    pub(crate) fn from_pieces(pieces: Vec<Piece>) -> Self {
        Word { pieces, ..Word::default() }
    }

    /// The word for messages: unknown parts as written.
    pub fn display(&self) -> String {
        fn go(pieces: &[Piece], out: &mut String) {
            for p in pieces {
                match p {
                    Piece::Lit { text, .. } => out.push_str(text),
                    Piece::Home => out.push('~'),
                    Piece::Opaque => out.push('…'),
                    Piece::MaybeEmpty { label } => out.push_str(label),
                    Piece::OneOf(alts) => match alts.as_slice() {
                        [one] => go(one, out),
                        _ => out.push('…'),
                    },
                }
            }
        }
        let mut out = String::new();
        go(&self.pieces, &mut out);
        out
    }

    /// Starts with a literal `-` (an option), and is not just `-`.
    pub fn is_option(&self) -> bool {
        match self.pieces.first() {
            Some(Piece::Lit { text, .. }) => text.starts_with('-') && (text.len() > 1 || self.pieces.len() > 1),
            _ => false,
        }
    }

    /// Removes a literal prefix such as `of=`; `None` when the word does not start with it.
    pub fn strip_prefix(&self, prefix: &str) -> Option<Word> {
        let mut pieces = self.pieces.clone();
        let mut rest = prefix;
        while !rest.is_empty() {
            let Some(Piece::Lit { text, quoted }) = pieces.first().cloned() else {
                return None;
            };
            if let Some(after) = text.strip_prefix(rest) {
                pieces[0] = Piece::Lit { text: after.to_string(), quoted };
                rest = "";
            } else if let Some(r) = rest.strip_prefix(text.as_str()) {
                pieces.remove(0);
                rest = r;
            } else {
                return None;
            }
        }
        Some(Word { pieces, local: None, ..self.clone() })
    }

    /// The expansions to look at: every known alternative, and each value that may be empty
    /// taken as empty and as unknown.
    pub fn candidates(&self) -> Vec<Candidate> {
        let mut out = vec![Candidate::default()];
        expand(&self.pieces, &mut out);
        out
    }
}

/// One expansion of a word, encoded for [`super::paths`]: quoted glob characters are
/// escaped with `\`, [`HOME`] and [`OPAQUE`] stand for those parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Candidate {
    pub text: String,
    /// The values (as written) taken as empty in this candidate.
    pub empty: Vec<String>,
}

fn expand(pieces: &[Piece], out: &mut Vec<Candidate>) {
    for p in pieces {
        match p {
            Piece::Lit { text, quoted } => {
                for c in out.iter_mut() {
                    push_lit(&mut c.text, text, *quoted);
                }
            }
            Piece::Home => out.iter_mut().for_each(|c| c.text.push(HOME)),
            Piece::Opaque => out.iter_mut().for_each(|c| c.text.push(OPAQUE)),
            Piece::MaybeEmpty { label } => {
                let mut empty = out.clone();
                for c in &mut empty {
                    c.empty.push(label.clone());
                }
                out.iter_mut().for_each(|c| c.text.push(OPAQUE));
                out.extend(empty);
                out.truncate(MAX_CANDIDATES);
            }
            Piece::OneOf(alts) => {
                let mut all = Vec::new();
                for alt in alts {
                    let mut branch = out.clone();
                    expand(alt, &mut branch);
                    all.extend(branch);
                    if all.len() >= MAX_CANDIDATES {
                        break;
                    }
                }
                all.truncate(MAX_CANDIDATES);
                *out = all;
            }
        }
    }
}

fn push_lit(out: &mut String, text: &str, quoted: bool) {
    if !quoted {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | ',' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The text of an unquoted word: backslash escapes become quoted characters, a leading `~`
/// (or `~user`) the home directory.
pub(crate) fn unquoted(text: &str, at_start: bool, out: &mut Vec<Piece>) {
    let mut rest = text;
    if at_start && rest.starts_with('~') {
        let end = rest.find('/').unwrap_or(rest.len());
        let user = &rest[1..end];
        if user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            out.push(Piece::Home);
            rest = &rest[end..];
        }
    }
    let mut plain = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\n') | None => {}
                Some(e) => {
                    if !plain.is_empty() {
                        out.push(Piece::Lit { text: std::mem::take(&mut plain), quoted: false });
                    }
                    out.push(Piece::Lit { text: e.to_string(), quoted: true });
                }
            }
        } else {
            plain.push(c);
        }
    }
    if !plain.is_empty() {
        out.push(Piece::Lit { text: plain, quoted: false });
    }
}

/// The content of a double-quoted string's literal part: `\"`, `\\`, `\$`, `` \` `` and
/// `\<newline>` are escapes, any other backslash stays.
pub(crate) fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('"' | '\\' | '$' | '`') => out.push(chars.next().unwrap_or('\\')),
                Some('\n') => {
                    chars.next();
                }
                _ => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `$'…'` without the quotes: the common escapes decoded.
pub(crate) fn ansi_c(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('e' | 'E') => out.push('\u{1b}'),
            Some('x') => {
                let hex: String = chars.clone().take(2).take_while(|c| c.is_ascii_hexdigit()).collect();
                for _ in 0..hex.len() {
                    chars.next();
                }
                if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The last path component: `/usr/bin/rm` is `rm`.
pub(crate) fn basename(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(pieces: Vec<Piece>) -> Word {
        Word { pieces, ..Word::default() }
    }

    #[test]
    fn unquoted_words() {
        let mut out = Vec::new();
        unquoted("~/x\\*y", true, &mut out);
        assert_eq!(out, vec![Piece::Home, Piece::lit("/x", false), Piece::lit("*", true), Piece::lit("y", false)]);
        let mut out = Vec::new();
        unquoted("a~b", true, &mut out);
        assert_eq!(out, vec![Piece::lit("a~b", false)]);
        let mut out = Vec::new();
        unquoted("~root", true, &mut out);
        assert_eq!(out, vec![Piece::Home]);
    }

    #[test]
    fn escapes() {
        assert_eq!(double_quoted(r#"a\"b\\c\$d\e"#), r#"a"b\c$d\e"#);
        assert_eq!(ansi_c(r"a\nb\x41\'"), "a\nbA'");
    }

    #[test]
    fn candidates_take_maybe_empty_values_both_ways() {
        let w = word(vec![Piece::MaybeEmpty { label: "$D".into() }, Piece::lit("/*", true)]);
        let c = w.candidates();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], Candidate { text: format!("{OPAQUE}/\\*"), empty: vec![] });
        assert_eq!(c[1], Candidate { text: "/\\*".into(), empty: vec!["$D".into()] });
        let w = word(vec![Piece::OneOf(vec![vec![Piece::lit("/a", false)], vec![Piece::lit("/b", false)]])]);
        let texts: Vec<String> = w.candidates().into_iter().map(|c| c.text).collect();
        assert_eq!(texts, ["/a", "/b"]);
    }

    #[test]
    fn literal_and_prefix() {
        let w = word(vec![Piece::lit("of=", false), Piece::lit("/dev/sda", true)]);
        assert_eq!(w.literal().as_deref(), Some("of=/dev/sda"));
        assert_eq!(w.strip_prefix("of=").unwrap().literal().as_deref(), Some("/dev/sda"));
        assert!(w.strip_prefix("if=").is_none());
        assert!(word(vec![Piece::Opaque]).literal().is_none());
        assert_eq!(basename("/usr/bin/rm"), "rm");
    }
}
