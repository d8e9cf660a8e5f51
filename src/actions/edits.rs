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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineInsert {
    pub line: usize,
    /// Whole lines, each ending in `\n`.
    pub text: String,
    /// Generated code only: for each inserted line, the line of the answer's code it came
    /// from (lines are dropped, so findings on the code need this to find their line).
    pub origin: Vec<usize>,
    /// Lines of the answer left out because they would change how the rest of the user's
    /// script runs (`set -e`, `shopt`, `IFS=`); the user is told.
    pub dropped: Vec<String>,
}

impl LineInsert {
    fn comments(line: usize, text: String) -> Self {
        Self { line, text, ..Self::default() }
    }
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
///   fitted to the file ([`fit_code`]); the selection (the description) stays.
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
        Task::Explain => {
            LineInsert::comments(selection.start, wrap_as_comments(answer, indent, comment_prefix(language), width))
        }
        Task::Ask => LineInsert::comments(after, wrap_as_comments(answer, indent, comment_prefix(language), width)),
        // A fix replaces its block (`fix::replacement`); as an insert it is code, like a script.
        Task::Generate | Task::Fix => {
            let indent = block_indent(lines, selection);
            fit_code(&code_from_answer(answer), lines, after, indent, language)
        }
    }
}

fn is_shell(language: &str) -> bool {
    matches!(language, "shellscript" | "sh" | "bash" | "zsh" | "ksh")
}

/// The indentation of the block the code goes into: the first selected line that has text
/// (the description), else the line the code will stand before, else the one above.
fn block_indent<'a>(lines: &[&'a str], selection: &LineSelection) -> &'a str {
    let has_text = |i: &usize| lines.get(*i).is_some_and(|l| !l.trim().is_empty());
    let selected = (selection.start..=selection.end).find(has_text);
    let below = || (selection.end + 1..lines.len()).find(has_text);
    let above = || (0..selection.start).rev().find(has_text);
    selected.or_else(below).or_else(above).map_or("", |i| indent_of(lines[i]))
}

/// A line that changes how every later line of a shell script runs: `set` with options
/// (`set -e`, `set -euo pipefail`, `set +x`, `set -o pipefail`), `shopt -s/-u`, and a plain
/// `IFS=…` assignment. `IFS= read -r line` (an assignment for one command) and `set -- a b`
/// (positional parameters) are not.
pub fn is_script_wide_option(line: &str) -> bool {
    let words = shell_words(line);
    let Some(first) = words.first() else { return false };
    match first.as_str() {
        "set" => words.get(1).is_some_and(|w| (w.starts_with('-') || w.starts_with('+')) && w != "--" && w != "-"),
        "shopt" => words.get(1).is_some_and(|w| matches!(w.as_str(), "-s" | "-u" | "-o" | "-so" | "-uo")),
        w => w.starts_with("IFS=") && words.len() == 1,
    }
}

/// The words of one simple shell line, quotes kept inside words, up to a comment; no words
/// for anything with `;`, `&&`, `|`, redirections or a continuation: not a plain option line.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = line.trim().chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                word.push(c);
            }
            (Some('"'), '\\') => {
                word.push(c);
                word.extend(chars.next());
            }
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.push(c);
            }
            (None, '\\') => {
                word.push(c);
                word.extend(chars.next());
            }
            (None, '#') if word.is_empty() => break,
            (None, ';' | '&' | '|' | '(' | ')' | '<' | '>' | '`') => return Vec::new(),
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (None, c) => word.push(c),
        }
    }
    if quote.is_some() || line.trim_end().ends_with('\\') {
        return Vec::new();
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Generated code made to fit the place it lands (line `at` of `lines`):
/// - a leading shebang is dropped unless the code lands at the top of an empty file (a
///   `#!` anywhere but line 1 is only a comment, and a second one misleads);
/// - in a shell file with code after `at`, lines that change how the rest of the script
///   runs ([`is_script_wide_option`]) are dropped and listed in `dropped`: they would
///   silently change the user's following lines (`set -e` makes every failing command exit);
/// - the code's own common indentation is replaced by `indent` (the surrounding block), with
///   tabs for the code's indentation steps when the block is indented with tabs.
pub fn fit_code(code: &str, lines: &[&str], at: usize, indent: &str, language: &str) -> LineInsert {
    let code_lines: Vec<&str> = code.lines().collect();
    let mut keep: Vec<usize> = (0..code_lines.len()).collect();
    let mut dropped = Vec::new();
    let empty_file = lines.iter().all(|l| l.trim().is_empty());
    if let Some(&first) = keep.iter().find(|&&i| !code_lines[i].trim().is_empty())
        && code_lines[first].trim_start().starts_with("#!")
        && !(at == 0 && empty_file)
    {
        keep.retain(|&i| i != first);
    }
    let code_follows = lines.iter().skip(at).any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    });
    if is_shell(language) && code_follows {
        keep.retain(|&i| {
            // Only the code's top level: inside a function or block an option is the
            // generated code's own business.
            let top = indent_of(code_lines[i]).is_empty();
            let wide = top && is_script_wide_option(code_lines[i]);
            if wide {
                dropped.push(code_lines[i].trim().to_string());
            }
            !wide
        });
    }
    // Blank lines left at the start (after a dropped shebang) or at the end are noise.
    while keep.first().is_some_and(|&i| code_lines[i].trim().is_empty()) {
        keep.remove(0);
    }
    while keep.last().is_some_and(|&i| code_lines[i].trim().is_empty()) {
        keep.pop();
    }
    let common = keep
        .iter()
        .map(|&i| code_lines[i])
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent_of(l).len())
        .min()
        .unwrap_or(0);
    // The code's indentation step in spaces (its smallest indentation after dedenting).
    let step = keep
        .iter()
        .map(|&i| &code_lines[i][common.min(code_lines[i].len())..])
        .map(indent_of)
        .filter(|w| !w.is_empty() && !w.contains('\t'))
        .map(str::len)
        .min()
        .unwrap_or(4);
    let tabs = indent.contains('\t');
    let mut text = String::new();
    for &i in &keep {
        let line = code_lines[i];
        if !line.trim().is_empty() {
            let rest = &line[common.min(line.len())..];
            let own = indent_of(rest);
            text.push_str(indent);
            if tabs && !own.contains('\t') {
                text.push_str(&"\t".repeat(own.len() / step));
                text.push_str(&" ".repeat(own.len() % step));
            } else {
                text.push_str(own);
            }
            text.push_str(&rest[own.len()..]);
        }
        text.push('\n');
    }
    LineInsert { line: at, text, origin: keep, dropped }
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
        assert_eq!((ins.line, ins.text.as_str()), (1, "find . -type f -size +100M\n\nls\n"));
        assert_eq!(ins.origin, [0, 1, 2]);
        // Indented like the description; at the end of the document.
        let doc = ["    # describe"];
        let ins = insertion(Task::Generate, &doc, &LineSelection { start: 0, end: 0 }, "python", "print(1)", 80);
        assert_eq!((ins.line, ins.text.as_str()), (1, "    print(1)\n"));
    }

    /// Generated code in the places users put it: (case, document, selected line, language,
    /// answer's code, expected insert, expected dropped lines).
    #[test]
    fn generated_code_fits_the_file() {
        const FULL: &str = "#!/usr/bin/env bash\nset -euo pipefail\n\ntar -czf etc.tgz /etc\n";
        let script = ["#!/bin/bash", "# back up /etc", "echo start", "rm -f old.tgz"];
        /// (case, document, selected line, language, code, inserted text, dropped lines)
        type Case<'a> = (&'a str, &'a [&'a str], usize, &'a str, &'a str, &'a str, &'a [&'a str]);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            ("middle of a script: shebang and set dropped",
             &script, 1, "shellscript", FULL, "tar -czf etc.tgz /etc\n", &["set -euo pipefail"]),
            ("end of a script: nothing follows, so options stay; shebang still dropped",
             &["#!/bin/bash", "echo start", "# back up /etc"], 2, "shellscript", FULL,
             "set -euo pipefail\n\ntar -czf etc.tgz /etc\n", &[]),
            ("only comments follow: options stay",
             &["# back up /etc", "", "# end"], 0, "shellscript", FULL,
             "set -euo pipefail\n\ntar -czf etc.tgz /etc\n", &[]),
            ("every script-wide option, each dropped and named",
             &script, 1, "bash",
             "set -e\nset -u\nset -o pipefail\nset -x\nset +e # relax\nshopt -s nullglob\nIFS=$'\\n\\t'\nIFS=\"\"\nls\n",
             "ls\n",
             &["set -e", "set -u", "set -o pipefail", "set -x", "set +e # relax", "shopt -s nullglob", "IFS=$'\\n\\t'", "IFS=\"\""]),
            ("look-alikes that change nothing after them stay",
             &script, 1, "shellscript",
             "IFS= read -r line < f\nset -- a b\nset -e; cd /tmp\necho \"set -e\"\n# set -e\n",
             "IFS= read -r line < f\nset -- a b\nset -e; cd /tmp\necho \"set -e\"\n# set -e\n", &[]),
            ("inside a function the option is the function's own",
             &script, 1, "shellscript", "f() {\n  set -x\n  ls\n}\n", "f() {\n  set -x\n  ls\n}\n", &[]),
            ("not a shell file: only the shebang goes",
             &["# list files", "print(1)"], 0, "python", "#!/usr/bin/env python3\nimport os\nprint(os.listdir())\n",
             "import os\nprint(os.listdir())\n", &[]),
            ("indented block: the code's own indentation is replaced by the block's",
             &["f() {", "    # list big files", "    echo hi", "}"], 1, "shellscript",
             "  for f in *; do\n    echo \"$f\"\n  done\n",
             "    for f in *; do\n      echo \"$f\"\n    done\n", &[]),
            ("tab-indented block: the code's steps become tabs",
             &["f() {", "\t# loop", "\techo hi", "}"], 1, "shellscript",
             "for f in *; do\n  echo \"$f\"\ndone\n", "\tfor f in *; do\n\t\techo \"$f\"\n\tdone\n", &[]),
            ("blank selected line: the indentation of the line below",
             &["if true; then", "", "  echo hi", "fi"], 1, "shellscript", "ls\n", "  ls\n", &[]),
        ];
        for (name, doc, line, language, code, text, dropped) in cases {
            let answer = format!("```bash\n{code}```");
            let ins =
                insertion(Task::Generate, doc, &LineSelection { start: *line, end: *line }, language, &answer, 80);
            assert_eq!(ins.line, line + 1, "{name}");
            assert_eq!(ins.text, *text, "{name}");
            assert_eq!(ins.dropped, *dropped, "{name}");
            // Every inserted line names its line in the code, with the same text.
            let code_lines: Vec<&str> = code.lines().collect();
            assert_eq!(ins.origin.len(), ins.text.lines().count(), "{name}");
            for (inserted, &o) in ins.text.lines().zip(&ins.origin) {
                assert_eq!(inserted.trim(), code_lines[o].trim(), "{name}");
            }
        }
    }

    #[test]
    fn a_shebang_stays_only_at_the_top_of_an_empty_file() {
        let code = "#!/usr/bin/env bash\nset -e\nls\n";
        for (doc, at, expected) in [
            (&[][..], 0, code),
            (&["", "  "][..], 0, code),
            // Code follows: `set -e` would change it.
            (&["echo hi"][..], 0, "ls\n"),
            (&["# a description"][..], 1, "set -e\nls\n"),
        ] {
            let ins = fit_code(code, doc, at, "", "shellscript");
            assert_eq!(ins.text, expected, "{doc:?} at {at}");
        }
        // Code before the shebang line is not a leading shebang.
        assert_eq!(fit_code("ls\n#!/bin/sh\n", &[], 0, "", "sh").text, "ls\n#!/bin/sh\n");
    }

    #[test]
    fn comment_styles_follow_language() {
        let doc = ["local x = 1"];
        let ins = insertion(Task::Explain, &doc, &LineSelection { start: 0, end: 0 }, "lua", "Sets x.", 80);
        assert_eq!(ins.text, "-- Sets x.\n");
        let ins = insertion(Task::Ask, &doc, &LineSelection { start: 0, end: 0 }, "rust", "Yes.", 80);
        assert_eq!(ins, LineInsert::comments(1, "// Yes.\n".into()));
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
