//! A fix: one finding of a checker, the block around it, and how the model's corrected block
//! replaces that block. The faces find the finding (the editor's diagnostic, the file's lint
//! on the command line); the pipeline runs [`Task::Fix`](crate::vocab::Task::Fix) like any
//! task; this module says what a fix's answer does to the file.

use crate::safety::Finding;

/// A fix replaces at most this many lines: a function or a loop, not a file.
pub const MAX_BLOCK_LINES: usize = 40;

/// The finding a fix is for, as the model is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixTarget {
    /// What the finding is compared by after the fix ([`finding_code`]): `SC2086`,
    /// `syntax`, `delete-root`.
    pub code: String,
    /// The finding's message as the user saw it.
    pub message: String,
    /// The finding's line, 1-based within the block.
    pub line_in_block: usize,
}

/// A finding's identity across a fix: shellcheck's own code (`SC2086`, the start of its
/// message) for shellcheck's findings, else the category's code.
pub fn finding_code(category_code: &str, message: &str) -> String {
    let sc = message.split(':').next().unwrap_or("");
    if sc.len() > 2 && sc.starts_with("SC") && sc[2..].bytes().all(|b| b.is_ascii_digit()) {
        sc.to_string()
    } else {
        category_code.to_string()
    }
}

/// The finding in the fixed block that is the one the fix was for, if it is still there.
pub fn still_reported<'a>(target: &FixTarget, findings: &'a [Finding]) -> Option<&'a Finding> {
    findings.iter().find(|f| finding_code(f.category.code(), &f.message) == target.code)
}

/// The corrected block's lines, ready to stand where lines `start..=end` of `lines` stood:
/// the answer's code, without a shebang unless the block is the file's first line, and
/// indented like the block when the model dropped the indentation; with the number of the
/// code's first lines left out (so a finding's line in the code maps onto the file). `None`
/// when the answer has no code, or the same code as the block (nothing to replace).
pub fn replacement(lines: &[&str], start: usize, end: usize, code: &str) -> Option<(String, usize)> {
    let mut new: Vec<&str> = code.lines().collect();
    while new.last().is_some_and(|l| l.trim().is_empty()) {
        new.pop();
    }
    let mut skipped = 0;
    while new.first().is_some_and(|l| l.trim().is_empty() || (start > 0 && l.starts_with("#!"))) {
        new.remove(0);
        skipped += 1;
    }
    if new.is_empty() {
        return None;
    }
    let old = &lines[start.min(lines.len())..(end + 1).min(lines.len())];
    let indent = |l: &str| l.len() - l.trim_start_matches([' ', '\t']).len();
    let first_text = |ls: &[&str]| ls.iter().find(|l| !l.trim().is_empty()).map(|l| l[..indent(l)].to_string());
    let old_indent = first_text(old).unwrap_or_default();
    let new_indent = first_text(&new).unwrap_or_default();
    let reindent = new_indent.is_empty() && !old_indent.is_empty();
    let text: String = new
        .iter()
        .map(|l| if reindent && !l.trim().is_empty() { format!("{old_indent}{l}\n") } else { format!("{l}\n") })
        .collect();
    let before: String = old.iter().map(|l| format!("{l}\n")).collect();
    (text != before).then_some((text, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_codes() {
        for (category, message, expected) in [
            ("shellcheck", "SC2086: Double quote to prevent globbing and word splitting.", "SC2086"),
            ("shellcheck", "SC1009: The mentioned syntax error was in this simple command.", "SC1009"),
            ("syntax", "bash -n: unexpected EOF", "syntax"),
            ("delete-root", "`rm -rf /` deletes the whole system", "delete-root"),
            ("shellcheck", "SCx: not a code", "shellcheck"),
        ] {
            assert_eq!(finding_code(category, message), expected, "{message}");
        }
    }

    fn check(lines: &[&str], block: (usize, usize), code: &str, expected: Option<&str>) {
        assert_eq!(replacement(lines, block.0, block.1, code).map(|(t, _)| t).as_deref(), expected, "{code:?}");
    }

    #[test]
    fn replacements() {
        let file = ["#!/bin/bash", "greet() {", "  echo $1", "}", "greet"];
        check(&file, (1, 3), "greet() {\n  echo \"$1\"\n}\n", Some("greet() {\n  echo \"$1\"\n}\n"));
        // A shebang in the middle of the file is left out; blank lines around the code too.
        check(
            &file,
            (1, 3),
            "\n#!/usr/bin/env bash\ngreet() {\n  echo \"$1\"\n}\n\n",
            Some("greet() {\n  echo \"$1\"\n}\n"),
        );
        // The block's indentation when the model dropped it.
        let nested = ["main() {", "  for f in *; do", "    cat $f", "  done", "}"];
        check(
            &nested,
            (1, 3),
            "for f in *; do\n  cat \"$f\"\ndone",
            Some("  for f in *; do\n    cat \"$f\"\n  done\n"),
        );
        // The same code, or none: nothing to replace.
        check(&file, (1, 3), "greet() {\n  echo $1\n}\n", None);
        check(&file, (1, 3), "\n\n", None);
        // At the top of the file a shebang stays.
        check(&["#!/bin/sh", "echo $x"], (0, 1), "#!/bin/sh\necho \"$x\"\n", Some("#!/bin/sh\necho \"$x\"\n"));
        let skipped = replacement(&file, 1, 3, "\n#!/bin/bash\ngreet() {\n  echo \"$1\"\n}\n").map(|(_, n)| n);
        assert_eq!(skipped, Some(2));
    }
}
