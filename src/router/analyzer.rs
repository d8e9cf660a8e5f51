//! The query analyzer: keywords (whole words, inflections, German compound heads), shell
//! syntax and the token count.
//!
//! Keywords are matched against words, never substrings, so "perhaps" is not `ps` and
//! "desktop" is not `top` (the spec's sketch matched substrings).

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::tokens::{self, TokenEstimate};
use crate::config::RoutingConfig;

/// Only this much of a selection is scanned for keywords and shell syntax. Anything longer
/// is far beyond the token threshold and goes to the code model regardless; capping the scan
/// keeps a 1 MB selection as cheap as a 10 KB one.
pub const SCAN_LIMIT: usize = 16 * 1024;

/// English and German endings that inflect a keyword: "errors", "debugging", "compiled",
/// "Befehle", "Befehlen", "programmieren", "getestet" is out of reach and that is fine.
const SUFFIXES: &[&str] = &[
    "ings", "ing", "ed", "d", "es", "s", "ers", "er", "e", "en", "n", "em", "t", "st", "te", "ten", "et", "ung",
    "ungen",
];

/// A keyword match: the keyword and the word of the text that matched it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordHit {
    pub keyword: String,
    pub word: String,
    /// A keyword of the user's own config, not of the built-in lists.
    pub own: bool,
}

impl fmt::Display for KeywordHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.word.eq_ignore_ascii_case(&self.keyword) {
            write!(f, "\"{}\"", self.keyword)
        } else {
            write!(f, "\"{}\" in \"{}\"", self.keyword, self.word)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellSyntax {
    Prompt,
    Shebang,
    Pipe,
    AndThen,
    Sudo,
    Flag,
}

impl fmt::Display for ShellSyntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShellSyntax::Prompt => "a `$ ` prompt",
            ShellSyntax::Shebang => "a `#!` line",
            ShellSyntax::Pipe => "a pipe",
            ShellSyntax::AndThen => "`&&`",
            ShellSyntax::Sudo => "`sudo`",
            ShellSyntax::Flag => "command-line flags",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub keywords: Vec<KeywordHit>,
    pub shell: Vec<ShellSyntax>,
    pub tokens: TokenEstimate,
    /// Whether the text was longer than [`SCAN_LIMIT`] and only its start was scanned.
    pub truncated_scan: bool,
}

/// Keywords prepared for matching. Built once per configuration.
#[derive(Debug, Clone)]
pub struct QueryAnalyzer {
    words: HashSet<String>,
    /// Keywords of 4+ letters by their first four bytes, for compound heads.
    heads: HashMap<[u8; 4], Vec<String>>,
    /// Keywords with spaces or symbols ("c++", "node.js"), matched as phrases.
    phrases: Vec<String>,
    /// The built-in keywords, to tell the user's own from them.
    builtin: HashSet<&'static str>,
    token_threshold: usize,
    heavy_token_threshold: usize,
}

impl QueryAnalyzer {
    pub fn new(routing: &RoutingConfig) -> Self {
        let mut words = HashSet::new();
        let mut heads: HashMap<[u8; 4], Vec<String>> = HashMap::new();
        let mut phrases = Vec::new();
        let all = routing.linux_keywords.iter().chain(&routing.code_keywords).chain(&routing.extra_keywords);
        for kw in all {
            let kw = kw.trim().to_lowercase();
            if kw.is_empty() {
                continue;
            }
            if kw.chars().all(char::is_alphanumeric) {
                if kw.chars().count() >= 4 && kw.len() >= 4 {
                    let key: [u8; 4] = kw.as_bytes()[..4].try_into().expect("4 bytes");
                    let list = heads.entry(key).or_default();
                    if !list.contains(&kw) {
                        list.push(kw.clone());
                    }
                }
                words.insert(kw);
            } else if !phrases.contains(&kw) {
                phrases.push(kw);
            }
        }
        Self {
            words,
            heads,
            phrases,
            builtin: crate::config::builtin_keywords().collect(),
            token_threshold: routing.token_threshold,
            heavy_token_threshold: routing.heavy_token_threshold,
        }
    }

    pub fn token_threshold(&self) -> usize {
        self.token_threshold
    }

    pub fn heavy_token_threshold(&self) -> usize {
        self.heavy_token_threshold
    }

    pub fn analyze(&self, text: &str) -> Analysis {
        self.analyze_with(text, true)
    }

    /// With `count_tokens: false` the tokenizer is not touched: texts longer than the
    /// threshold report only the byte bound. For callers that must not wait for it.
    pub fn analyze_with(&self, text: &str, count_tokens: bool) -> Analysis {
        let scanned = prefix_at_char_boundary(text, SCAN_LIMIT);
        let tokens = if count_tokens || text.len() <= self.token_threshold {
            tokens::estimate(text, self.token_threshold, self.heavy_token_threshold)
        } else {
            TokenEstimate::AtMost(text.len())
        };
        Analysis {
            keywords: self.keywords(scanned),
            shell: shell_syntax(scanned),
            tokens,
            truncated_scan: scanned.len() < text.len(),
        }
    }

    pub fn keywords(&self, text: &str) -> Vec<KeywordHit> {
        let mut hits: Vec<KeywordHit> = Vec::new();
        let mut lower = String::new();
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            lower.clear();
            if word.is_ascii() {
                lower.push_str(word);
                lower.make_ascii_lowercase();
            } else {
                lower.extend(word.chars().flat_map(char::to_lowercase));
            }
            if let Some(kw) = self.match_word(&lower)
                && !hits.iter().any(|h| h.keyword == kw)
            {
                let own = !self.builtin.contains(kw);
                hits.push(KeywordHit { keyword: kw.to_string(), word: word.to_string(), own });
            }
        }
        if !self.phrases.is_empty() {
            let lower_text = text.to_lowercase();
            for phrase in &self.phrases {
                if contains_phrase(&lower_text, phrase) {
                    let own = !self.builtin.contains(phrase.as_str());
                    hits.push(KeywordHit { keyword: phrase.clone(), word: phrase.clone(), own });
                }
            }
        }
        hits
    }

    /// The keyword a lowercase word stands for, if any.
    fn match_word<'a>(&'a self, word: &str) -> Option<&'a str> {
        if let Some(k) = self.words.get(word) {
            return Some(k);
        }
        let mut stem_e = String::new();
        for suffix in SUFFIXES {
            let Some(stem) = word.strip_suffix(suffix) else {
                continue;
            };
            if stem.len() < 2 {
                continue;
            }
            if let Some(k) = self.words.get(stem) {
                return Some(k);
            }
            // "coding" -> "cod" + "e", "programmieren" -> "programmier" + "e"
            stem_e.clear();
            stem_e.push_str(stem);
            stem_e.push('e');
            if let Some(k) = self.words.get(stem_e.as_str()) {
                return Some(k);
            }
            // "debugging" -> "debugg" -> "debug"
            let b = stem.as_bytes();
            if b.len() >= 3
                && b[b.len() - 1] == b[b.len() - 2]
                && !is_vowel(b[b.len() - 1])
                && let Some(k) = self.words.get(&stem[..stem.len() - 1])
            {
                return Some(k);
            }
        }
        self.compound_head(word)
    }

    /// "Befehlszeile" starts with "befehl", "Dockerfile" with "docker". The rest must look
    /// like a word of its own (a consonant, at least three letters) so that "mountain" and
    /// "classic" stay clear of `mount` and `class`.
    fn compound_head<'a>(&'a self, word: &str) -> Option<&'a str> {
        let key: [u8; 4] = word.as_bytes().get(..4)?.try_into().ok()?;
        let candidates = self.heads.get(&key)?;
        candidates
            .iter()
            .filter(|kw| {
                word.strip_prefix(kw.as_str()).is_some_and(|rest| {
                    let rest = rest.strip_prefix('s').filter(|r| r.len() >= 3).unwrap_or(rest);
                    rest.len() >= 3 && rest.as_bytes()[0].is_ascii_alphabetic() && !is_vowel(rest.as_bytes()[0])
                })
            })
            .max_by_key(|kw| kw.len())
            .map(String::as_str)
    }
}

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

fn contains_phrase(text: &str, phrase: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    text.match_indices(phrase)
        .any(|(i, m)| !is_word(text[..i].chars().next_back()) && !is_word(text[i + m.len()..].chars().next()))
}

pub(crate) fn prefix_at_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether every line with a `|` is a markdown table row (`| Name | Score |`), whose bars
/// are no pipes.
pub fn pipes_only_in_tables(text: &str) -> bool {
    prefix_at_char_boundary(text, SCAN_LIMIT).lines().filter(|l| l.contains('|')).all(|l| {
        let l = l.trim();
        l.starts_with('|') && l.ends_with('|')
    })
}

/// Shell syntax that marks text as a command even without a keyword.
pub fn shell_syntax(text: &str) -> Vec<ShellSyntax> {
    let mut found = Vec::new();
    let mut add = |s: ShellSyntax| {
        if !found.contains(&s) {
            found.push(s);
        }
    };
    if text.trim_start().starts_with("#!") {
        add(ShellSyntax::Shebang);
    }
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with("$ ") {
            add(ShellSyntax::Prompt);
        }
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'|' => {
                    let before = line[..i].trim_end();
                    let after = line[i + 1..].trim_start();
                    // `a | b`, `a || b`; not a leading table border.
                    if !before.is_empty() && !after.is_empty() && !after.starts_with('|') {
                        add(ShellSyntax::Pipe);
                    }
                }
                b'&' if bytes.get(i + 1) == Some(&b'&') => add(ShellSyntax::AndThen),
                b'-' => {
                    let at_word_start = i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t';
                    let rest = &bytes[i + 1..];
                    let flag = match rest {
                        [b'-', c, ..] => c.is_ascii_alphabetic(),
                        [c, ..] => c.is_ascii_alphabetic(),
                        [] => false,
                    };
                    // A flag follows a command word: "ls -la", not a bullet "- item".
                    if at_word_start && flag && i > 0 {
                        add(ShellSyntax::Flag);
                    }
                }
                _ => {}
            }
        }
        if line.starts_with("sudo ") || line.contains(" sudo ") || line.contains("|sudo ") || line.contains(";sudo ") {
            add(ShellSyntax::Sudo);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Environment};

    fn analyzer() -> QueryAnalyzer {
        QueryAnalyzer::new(&Config::defaults(&Environment::default()).routing)
    }

    /// `expected`: the keywords that must match, in order; empty means none.
    fn check(text: &str, expected: &[&str]) {
        let got: Vec<String> = analyzer().keywords(text).into_iter().map(|h| h.keyword).collect();
        assert_eq!(got, expected, "keywords of {text:?}");
    }

    #[test]
    fn substring_traps_do_not_match() {
        for text in [
            "perhaps",
            "https://example.org",
            "convert it to pdf",
            "stop it",
            "my desktop",
            "the latest version",
            "decode this",
            "a mountain",
            "a classic",
            "topic",
            "target",
            "testament",
            "psychology",
            "codec",
            "finder's fee?",
        ] {
            let got: Vec<String> = analyzer().keywords(text).into_iter().map(|h| h.keyword).collect();
            // "finder" is an inflection of "find"; the rest must be empty.
            if text.starts_with("finder") {
                assert_eq!(got, ["find"]);
            } else {
                assert!(got.is_empty(), "{text:?} matched {got:?}");
            }
        }
    }

    #[test]
    fn whole_words_and_inflections() {
        check("ps aux", &["ps"]);
        check("show top processes", &["top"]);
        check("df -h", &["df"]);
        check("why so many errors?", &["error"]);
        check("Debugging the parser", &["debug"]);
        check("it compiled fine", &["compile"]);
        check("coding style", &["code"]);
        check("grepping logs", &["grep"]);
        check("Tests failed", &["test"]);
        check("mounted drives", &["mount"]);
        check("two classes", &["class"]);
    }

    #[test]
    fn german() {
        check("Welche Befehle gibt es?", &["befehl"]);
        check("Ich will programmieren", &["programmiere"]);
        check("Die Befehlszeile öffnen", &["befehl"]);
        check("Schreib mir ein Skript", &["skript"]);
        check("Kommando ausführen", &["kommando"]);
        check("im Terminal", &["terminal"]);
        check("auf der Konsole", &["konsole"]);
        check("eine Funktion", &["funktion"]);
        check("Fehlermeldung verstehen", &["fehler"]);
        check("Fehlern", &["fehler"]);
        check("Funktionen", &["funktion"]);
        check("Größe der Datei", &[]);
    }

    #[test]
    fn compound_heads() {
        check("Dockerfile", &["docker"]);
        check("crontab -e", &["cron"]);
        check("Shellskript", &["shell"]);
    }

    #[test]
    fn configured_phrases() {
        let mut routing = Config::defaults(&Environment::default()).routing;
        routing.extra_keywords = vec!["c++".into(), "node.js".into(), "Kubernetes".into()];
        let a = QueryAnalyzer::new(&routing);
        let kws = |t: &str| a.keywords(t).into_iter().map(|h| h.keyword).collect::<Vec<_>>();
        assert_eq!(kws("templates in C++ please"), ["c++"]);
        assert_eq!(kws("a node.js app"), ["node.js"]);
        assert_eq!(kws("anode.jsx"), Vec::<String>::new());
        assert_eq!(kws("kubernetes cluster"), ["kubernetes"]);
    }

    #[test]
    fn replaced_keyword_lists() {
        let mut routing = Config::defaults(&Environment::default()).routing;
        routing.linux_keywords = vec!["zfs".into()];
        routing.code_keywords = vec![];
        let a = QueryAnalyzer::new(&routing);
        assert_eq!(a.keywords("grep and zfs").len(), 1);
    }

    #[test]
    fn shell_syntax_table() {
        use ShellSyntax::*;
        let check = |text: &str, expected: &[ShellSyntax]| {
            assert_eq!(shell_syntax(text), expected, "shell syntax of {text:?}");
        };
        check("$ ls", &[Prompt]);
        check("#!/bin/bash\necho hi", &[Shebang]);
        check("cat x | wc -l", &[Pipe, Flag]);
        check("make && make install", &[AndThen]);
        check("sudo apt update", &[Sudo]);
        check("ls -la", &[Flag]);
        check("git push --force", &[Flag]);
        check("rm -rf /tmp/x", &[Flag]);
        check("a well-known fact", &[]);
        check("- a bullet point", &[]);
        check("costs -5 euros", &[]);
        check("what is the weather like", &[]);
        check("| a | b |", &[Pipe]);
        check("pay $5 now", &[]);
    }

    #[test]
    fn token_bounds_at_threshold() {
        let a = analyzer();
        // "hello" repeated: " hello" is one cl100k token.
        let text_500 = format!("hello{}", " hello".repeat(499));
        let text_501 = format!("hello{}", " hello".repeat(500));
        assert_eq!(tokens::count(&text_500), 500);
        assert_eq!(tokens::count(&text_501), 501);
        assert_eq!(a.analyze(&text_500).tokens, TokenEstimate::Exact(500));
        assert!(!a.analyze(&text_500).tokens.exceeds(500));
        assert_eq!(a.analyze(&text_501).tokens, TokenEstimate::Exact(501));
        assert!(a.analyze(&text_501).tokens.exceeds(500));
        // At most 500 bytes: not counted at all.
        assert_eq!(a.analyze(&"x".repeat(500)).tokens, TokenEstimate::AtMost(500));
        // Counting stops at the heavy threshold.
        let huge = " hello".repeat(200_000);
        assert_eq!(a.analyze(&huge).tokens, TokenEstimate::MoreThan(4000));
        assert!(a.analyze(&huge).truncated_scan);
    }

    #[test]
    fn scan_limit_respects_char_boundaries() {
        let text = "ä".repeat(SCAN_LIMIT);
        let a = analyzer().analyze_with(&text, false);
        assert!(a.truncated_scan);
        assert_eq!(a.tokens, TokenEstimate::AtMost(text.len()));
    }
}
