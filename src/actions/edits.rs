//! Turning an answer into lines to insert, and finding where they belong after the user
//! kept typing. Works on whole lines; the language server converts to its own positions.

use super::extract::code_from_answer;
use crate::vocab::Task;

/// The line comment prefix for a document language (LSP `languageId`).
pub fn comment_prefix(language: &str) -> &'static str {
    match language {
        "c" | "cpp" | "csharp" | "objective-c" | "objective-cpp" | "rust" | "go" | "javascript" | "typescript"
        | "javascriptreact" | "typescriptreact" | "java" | "kotlin" | "swift" | "scala" | "dart" | "php" | "jsonc"
        | "zig" => "//",
        "lua" | "sql" | "haskell" | "elm" | "ada" => "--",
        "vim" => "\"",
        "tex" | "latex" | "erlang" => "%",
        // Shell, Python, YAML, Dockerfile, Makefile, TOML, Ruby, Perl, R, and anything unknown.
        _ => "#",
    }
}

/// Lines `start..=end` of the document that the user selected (whole lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSelection {
    pub start: usize,
    pub end: usize,
}

impl LineSelection {
    /// From an LSP-style range: a selection that ends at column 0 of a later line ends on the
    /// line before (what a line-wise visual selection sends).
    pub fn from_range(start_line: usize, end_line: usize, end_character: usize) -> Self {
        let end = if end_character == 0 && end_line > start_line { end_line - 1 } else { end_line };
        Self { start: start_line, end: end.max(start_line) }
    }
}

/// New lines to insert before line `line` (a document of N lines accepts `line == N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInsert {
    pub line: usize,
    /// Whole lines, each ending in `\n`.
    pub text: String,
}

fn indent_of(line: &str) -> &str {
    let trimmed = line.trim_start_matches([' ', '\t']);
    &line[..line.len() - trimmed.len()]
}

/// Words of `text` wrapped so that `prefix + line` stays within `width` columns; a word
/// longer than the room left stands on its own line. Paragraph breaks are kept.
pub fn wrap_as_comments(text: &str, indent: &str, prefix: &str, width: usize) -> String {
    let lead = format!("{indent}{prefix} ");
    let room = width.saturating_sub(lead.chars().count()).max(20);
    let mut out = String::new();
    let mut paragraph_gap = false;
    for line in text.trim().lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            paragraph_gap = true;
            continue;
        }
        if paragraph_gap && !out.is_empty() {
            out.push_str(&format!("{indent}{prefix}\n"));
        }
        paragraph_gap = false;
        let mut current = String::new();
        for word in words {
            if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > room {
                out.push_str(&format!("{lead}{current}\n"));
                current.clear();
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
        }
        if !current.is_empty() {
            out.push_str(&format!("{lead}{current}\n"));
        }
    }
    out
}

/// Where and what to insert for a finished task.
///
/// - Explain: the answer as comments directly above the first selected line, indented like it.
/// - Generate: the code (first fenced block, else the answer) on the lines after the selection,
///   indented like the first selected line; the selection (the description) stays.
/// - Ask: the answer as comments after the selection.
pub fn insertion(
    task: Task,
    lines: &[&str],
    selection: &LineSelection,
    language: &str,
    answer: &str,
    width: usize,
) -> LineInsert {
    let first = lines.get(selection.start).copied().unwrap_or("");
    let indent = indent_of(first);
    let after = (selection.end + 1).min(lines.len().max(selection.end + 1));
    match task {
        Task::Explain => LineInsert {
            line: selection.start,
            text: wrap_as_comments(answer, indent, comment_prefix(language), width),
        },
        Task::Ask => {
            LineInsert { line: after, text: wrap_as_comments(answer, indent, comment_prefix(language), width) }
        }
        Task::Generate => {
            let code = code_from_answer(answer);
            let mut text = String::new();
            for line in code.lines() {
                if !line.trim().is_empty() {
                    text.push_str(indent);
                    text.push_str(line);
                }
                text.push('\n');
            }
            LineInsert { line: after, text }
        }
    }
}

/// Where the selected lines are now. `None` when they are gone or changed: then nothing is
/// inserted, because an edit in the wrong place is worse than none.
///
/// Unchanged position wins; otherwise the occurrence nearest to the old position.
pub fn relocate(selected: &[String], old_start: usize, current: &[&str]) -> Option<usize> {
    if selected.is_empty() || selected.len() > current.len() {
        return None;
    }
    let matches_at = |start: usize| selected.iter().zip(&current[start..]).all(|(a, b)| a == b);
    let last = current.len() - selected.len();
    (0..=last).filter(|&s| matches_at(s)).min_by_key(|&s| s.abs_diff(old_start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for (lang, prefix) in [
            ("shellscript", "#"),
            ("python", "#"),
            ("yaml", "#"),
            ("dockerfile", "#"),
            ("makefile", "#"),
            ("c", "//"),
            ("rust", "//"),
            ("go", "//"),
            ("typescript", "//"),
            ("java", "//"),
            ("lua", "--"),
            ("sql", "--"),
            ("haskell", "--"),
            ("plaintext", "#"),
        ] {
            assert_eq!(comment_prefix(lang), prefix, "{lang}");
        }
    }

    #[test]
    fn selection_from_ranges() {
        let check = |(sl, el, ec): (usize, usize, usize), expected: (usize, usize)| {
            let s = LineSelection::from_range(sl, el, ec);
            assert_eq!((s.start, s.end), expected, "{sl}:{el}:{ec}");
        };
        check((2, 2, 5), (2, 2));
        check((2, 4, 0), (2, 3));
        check((2, 2, 0), (2, 2));
        check((2, 4, 3), (2, 4));
    }

    #[test]
    fn explain_inserts_wrapped_comments_above() {
        let doc = ["#!/bin/sh", "  tar -xzvf backup.tar.gz -C /opt", "echo done"];
        let answer = "Extracts the gzip-compressed archive backup.tar.gz into /opt, listing every file as it goes.\n\nThe -C flag changes directory first.";
        let ins = insertion(Task::Explain, &doc, &LineSelection { start: 1, end: 1 }, "shellscript", answer, 40);
        assert_eq!(ins.line, 1);
        assert_eq!(
            ins.text,
            "  # Extracts the gzip-compressed archive\n  # backup.tar.gz into /opt, listing\n  # every file as it goes.\n  #\n  # The -C flag changes directory first.\n"
        );
        for line in ins.text.lines() {
            assert!(line.chars().count() <= 40, "{line:?}");
        }
    }

    #[test]
    fn generate_inserts_code_after_selection() {
        let doc = ["# list files larger than 100MB", "echo end"];
        let answer = "Sure:\n```bash\nfind . -type f -size +100M\n\nls\n```\nHope it helps";
        let ins = insertion(Task::Generate, &doc, &LineSelection { start: 0, end: 0 }, "shellscript", answer, 80);
        assert_eq!(ins, LineInsert { line: 1, text: "find . -type f -size +100M\n\nls\n".into() });
        // Indented like the description; at the end of the document.
        let doc = ["    # describe"];
        let ins = insertion(Task::Generate, &doc, &LineSelection { start: 0, end: 0 }, "python", "print(1)", 80);
        assert_eq!(ins, LineInsert { line: 1, text: "    print(1)\n".into() });
    }

    #[test]
    fn comment_styles_follow_language() {
        let doc = ["local x = 1"];
        let ins = insertion(Task::Explain, &doc, &LineSelection { start: 0, end: 0 }, "lua", "Sets x.", 80);
        assert_eq!(ins.text, "-- Sets x.\n");
        let ins = insertion(Task::Ask, &doc, &LineSelection { start: 0, end: 0 }, "rust", "Yes.", 80);
        assert_eq!(ins, LineInsert { line: 1, text: "// Yes.\n".into() });
    }

    #[test]
    fn wrapping_keeps_long_words_and_multibyte_text() {
        let w = wrap_as_comments("a https://example.org/a/very/long/url/that/does/not/fit b", "", "#", 30);
        assert_eq!(w, "# a\n# https://example.org/a/very/long/url/that/does/not/fit\n# b\n");
        let w = wrap_as_comments("Grüße 👋 aus Köln, 日本語 auch", "", "#", 24);
        assert_eq!(w, "# Grüße 👋 aus Köln, 日本語\n# auch\n");
    }

    #[test]
    fn relocation() {
        let sel = vec!["b".to_string(), "c".to_string()];
        let check = |current: &[&str], expected: Option<usize>| {
            assert_eq!(relocate(&sel, 1, current), expected, "{current:?}");
        };
        check(&["a", "b", "c"], Some(1));
        check(&["new", "a", "b", "c"], Some(2));
        check(&["b", "c", "x", "x", "b", "c"], Some(0));
        check(&["a", "b", "changed"], None);
        check(&[], None);
    }
}
