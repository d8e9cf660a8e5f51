//! Pulling code out of a model's answer.

/// The body of the first fenced code block (```` ``` ```` or `~~~`), or the whole answer
/// (trimmed) when it has none. An unterminated block runs to the end of the answer.
pub fn code_from_answer(answer: &str) -> String {
    let mut lines = answer.lines();
    let mut fence: Option<&str> = None;
    for line in lines.by_ref() {
        let t = line.trim_start();
        if t.starts_with("```") {
            fence = Some("```");
            break;
        }
        if t.starts_with("~~~") {
            fence = Some("~~~");
            break;
        }
    }
    let Some(fence) = fence else {
        return answer.trim().to_string();
    };
    let mut body = Vec::new();
    for line in lines {
        if line.trim_start().starts_with(fence)
            && line.trim().trim_start_matches(fence.chars().next().unwrap()).is_empty()
        {
            break;
        }
        body.push(line);
    }
    let mut code = body.join("\n");
    if !code.is_empty() {
        code.push('\n');
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(answer: &str, expected: &str) {
        assert_eq!(code_from_answer(answer), expected, "answer: {answer:?}");
    }

    #[test]
    fn table() {
        check("Here:\n```bash\nfind . -size +100M\n```\nDone.", "find . -size +100M\n");
        check("```\na\nb\n```\n```\nsecond\n```", "a\nb\n");
        check("just text\n", "just text");
        check("  find . -size +100M  ", "find . -size +100M");
        check("~~~sh\nls\n~~~", "ls\n");
        check("```sh\nunterminated\nblock", "unterminated\nblock\n");
        check("```\n```", "");
        check("```python\nprint('```')\n```", "print('```')\n");
        check("  ```bash\n  indented\n  ```", "  indented\n");
    }
}
