//! The messages sent to the model for each task.

use super::FixTarget;
use crate::backend::Message;
use crate::vocab::Language;
use crate::vocab::Task;

/// System and user messages for a task. `language` is the document's (e.g. `shellscript`),
/// `ui` the language the user reads; `fix` the finding a [`Task::Fix`] is for.
pub fn messages(task: Task, text: &str, language: Option<&str>, ui: Language, fix: Option<&FixTarget>) -> Vec<Message> {
    let lang = language.filter(|l| !l.is_empty() && *l != "plaintext");
    let reply_in = match ui {
        Language::En => "",
        Language::De => " Antworte auf Deutsch.",
    };
    let system = match task {
        Task::Ask => format!("You are a concise assistant for Linux and programming questions.{reply_in}"),
        Task::Explain => format!(
            "You explain shell commands and code to a developer. Say what it does, step by step, \
             in a few short sentences of plain text without Markdown. Warn about anything \
             destructive.{reply_in}"
        ),
        Task::Generate => {
            let target = lang.map(|l| format!(" in {l}")).unwrap_or_default();
            format!(
                "You write code{target}. Answer with exactly one fenced code block containing only \
                 the code, no explanation. Prefer safe, idempotent commands; never delete data \
                 unless asked.{reply_in}"
            )
        }
        Task::Fix => {
            let target = lang.map(|l| format!(" in {l}")).unwrap_or_default();
            format!(
                "You fix code{target}. You get one block of a larger file and a problem a checker \
                 reported in it. Answer with exactly one fenced code block containing only the \
                 corrected block: the same lines with that problem fixed and nothing else changed, \
                 nothing added before or after it, no explanation. Never add commands that delete \
                 data.{reply_in}"
            )
        }
    };
    let user = match (task, lang) {
        (Task::Ask, _) => text.to_string(),
        (Task::Explain, Some(l)) => format!("Explain this {l}:\n\n{text}"),
        (Task::Explain, None) => format!("Explain this:\n\n{text}"),
        (Task::Generate, _) => text.to_string(),
        (Task::Fix, _) => {
            let problem = match fix {
                Some(f) if f.message.starts_with(&f.code) => format!("line {}: {}", f.line_in_block, f.message),
                Some(f) => format!("line {}: {} ({})", f.line_in_block, f.message, f.code),
                None => "a problem".to_string(),
            };
            let fence = match lang {
                Some("shellscript") | None => "bash",
                Some(l) => l,
            };
            format!("The checker reported on {problem}\n\n```{fence}\n{}\n```", text.trim_end_matches('\n'))
        }
    };
    vec![Message::system(system), Message::user(user)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_asks_for_one_block_in_the_document_language() {
        let m = messages(Task::Generate, "list big files", Some("shellscript"), Language::En, None);
        assert_eq!(m.len(), 2);
        assert!(m[0].content.contains("in shellscript"));
        assert!(m[0].content.contains("one fenced code block"));
        assert_eq!(m[1].content, "list big files");
    }

    #[test]
    fn a_fix_names_the_finding_and_fences_the_block() {
        let target = FixTarget {
            code: "SC2086".into(),
            message: "SC2086: Double quote to prevent globbing.".into(),
            line_in_block: 2,
        };
        let m = messages(Task::Fix, "f() {\n  echo $1\n}\n", Some("shellscript"), Language::En, Some(&target));
        assert!(m[0].content.contains("only the corrected block"), "{}", m[0].content);
        assert_eq!(
            m[1].content,
            "The checker reported on line 2: SC2086: Double quote to prevent globbing.\n\n```bash\nf() {\n  echo $1\n}\n```"
        );
        let target = FixTarget { code: "delete-root".into(), message: "deletes /".into(), line_in_block: 1 };
        let m = messages(Task::Fix, "rm -rf /$x", Some("shellscript"), Language::De, Some(&target));
        assert!(
            m[1].content.starts_with("The checker reported on line 1: deletes / (delete-root)"),
            "{}",
            m[1].content
        );
        assert!(m[0].content.contains("Deutsch"));
    }

    #[test]
    fn german_users_get_german_answers() {
        let m = messages(Task::Explain, "ls -la", None, Language::De, None);
        assert!(m[0].content.contains("Deutsch"));
        assert!(m[1].content.ends_with("ls -la"));
    }
}
