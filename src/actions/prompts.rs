//! The messages sent to the model for each task.

use crate::backend::Message;
use crate::vocab::Language;
use crate::vocab::Task;

/// System and user messages for a task. `language` is the document's (e.g. `shellscript`),
/// `ui` the language the user reads.
pub fn messages(task: Task, text: &str, language: Option<&str>, ui: Language) -> Vec<Message> {
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
    };
    let user = match (task, lang) {
        (Task::Ask, _) => text.to_string(),
        (Task::Explain, Some(l)) => format!("Explain this {l}:\n\n{text}"),
        (Task::Explain, None) => format!("Explain this:\n\n{text}"),
        (Task::Generate, _) => text.to_string(),
    };
    vec![Message::system(system), Message::user(user)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_asks_for_one_block_in_the_document_language() {
        let m = messages(Task::Generate, "list big files", Some("shellscript"), Language::En);
        assert_eq!(m.len(), 2);
        assert!(m[0].content.contains("in shellscript"));
        assert!(m[0].content.contains("one fenced code block"));
        assert_eq!(m[1].content, "list big files");
    }

    #[test]
    fn german_users_get_german_answers() {
        let m = messages(Task::Explain, "ls -la", None, Language::De);
        assert!(m[0].content.contains("Deutsch"));
        assert!(m[1].content.ends_with("ls -la"));
    }
}
