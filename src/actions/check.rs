//! The check step of the pipeline: shell code in an answer is checked (see
//! [`crate::safety`]); when a generated script fails `bash -n`, the next larger tier is asked
//! once more with the error in the prompt (VRAM consent applies as usual). Also the texts of
//! the danger question, which every face words the same way.

use std::time::Instant;

use super::extract;
use super::pipeline::{Answer, Consent, Observer, Pipeline, Request};
use crate::safety::{self, CheckOptions, Dialect, Finding, Report};
use crate::vocab::{DangerAnswer, Language, ModelTier, Task};

/// The check of an answer's shell code.
#[derive(Debug, Clone)]
pub struct CodeCheck {
    /// The code as extracted from the answer (what is inserted).
    pub code: String,
    pub dialect: Dialect,
    pub report: Report,
    pub retry: Option<Retry>,
}

/// What happened on the retry after a syntax error.
#[derive(Debug, Clone, PartialEq)]
pub enum Retry {
    /// `model` answered; `fixed` when its code passes `bash -n`.
    Answered { model: String, error: String, fixed: bool },
    /// The retry did not answer (declined at the VRAM question, backend failure); the first
    /// answer stands.
    Failed { error: String, problem: String },
}

impl Retry {
    /// A sentence for the closing message.
    pub fn note(&self, lang: Language) -> String {
        match (self, lang) {
            (Retry::Answered { model, error, fixed }, Language::En) => format!(
                "Retried once with {model} because bash -n reported: {error}.{}",
                if *fixed { "" } else { " The new answer still has a syntax error." }
            ),
            (Retry::Answered { model, error, fixed }, Language::De) => format!(
                "Einmal mit {model} wiederholt, weil bash -n meldete: {error}.{}",
                if *fixed { "" } else { " Auch die neue Antwort hat einen Syntaxfehler." }
            ),
            (Retry::Failed { error, problem }, Language::En) => {
                format!("bash -n reported: {error}; the retry with a larger model failed ({problem}).")
            }
            (Retry::Failed { error, problem }, Language::De) => {
                format!("bash -n meldete: {error}; die Wiederholung mit einem größeren Modell schlug fehl ({problem}).")
            }
        }
    }
}

/// The next larger tier, for the retry.
pub fn larger(tier: ModelTier) -> Option<ModelTier> {
    match tier {
        ModelTier::Fast => Some(ModelTier::Code),
        ModelTier::Code => Some(ModelTier::Heavy),
        ModelTier::Heavy => None,
    }
}

/// The retry's request: the user's, the failed script and `bash -n`'s error.
pub fn retry_prompt(request: &str, code: &str, error: &str) -> String {
    format!(
        "{request}\n\nYour previous script does not parse; `bash -n` reported:\n{error}\n\nPrevious script:\n```bash\n{}\n```\nWrite the corrected script.",
        code.trim_end()
    )
}

fn describe(f: &Finding) -> String {
    format!("line {}: {}", f.start.line + 1, f.message.trim_start_matches("bash -n: "))
}

/// Which dialect the answer's code is checked as, or `None` when it is not checked: a
/// generated script (the document's language, the fence tag, or shell by default), or for a
/// raw answer (`infer`) of any task, a first fenced block tagged as shell.
pub fn applies(request: &Request, answer: &str, code: &str) -> Option<Dialect> {
    if matches!(request.task, Task::Generate | Task::Fix) {
        return safety::dialect_for(request.language.as_deref(), answer, code, request.shell_by_default);
    }
    if !request.raw {
        return None;
    }
    let dialect = safety::fence_info(answer).as_deref().and_then(Dialect::from_fence)?;
    Some(Dialect::from_shebang(code).unwrap_or(dialect))
}

/// Checks the answer's shell code (when [`applies`]) and, for a generated script with a
/// syntax error, asks the next larger tier once more; its answer replaces the first when
/// it arrives.
pub(super) async fn check_answer(
    pipeline: &Pipeline,
    request: &Request,
    answer: Answer,
    consent: &dyn Consent,
    observer: &mut dyn Observer,
) -> Answer {
    let settings = pipeline.config().safety.clone();
    if !settings.check_generated {
        return answer;
    }
    let code = extract::code_from_answer(&answer.text);
    let Some(dialect) = applies(request, &answer.text, &code) else {
        return answer;
    };
    // Where the face lints the document after the edit (the editor), the edit waits only for
    // what gates it: the structural check, and `bash -n` when tree-sitter-bash sees a syntax
    // error (then the retry needs bash's own message). A script tree-sitter parses cleanly
    // gets `bash -n` and shellcheck from the document's lint right after it lands, so a rare
    // disagreement still shows as a diagnostic; it is just not retried.
    let options = |dialect, code: &str| {
        let mut o = CheckOptions::new(&settings, dialect);
        if request.shellcheck_later {
            o.shellcheck = crate::safety::ShellcheckMode::Off;
            o.syntax = !safety::parses_cleanly(code);
        }
        o
    };
    // The check is part of the wait: "answered in" counts it.
    let check_started = Instant::now();
    let report = safety::check_async(&code, options(dialect, &code)).await;
    let answer = Answer { processing_time: answer.processing_time + check_started.elapsed(), ..answer };
    let first = CodeCheck { code, dialect, report, retry: None };
    let error = match first.report.syntax_error() {
        Some(e) if settings.retry_on_syntax_error && request.task == Task::Generate => describe(e),
        _ => return Answer { check: Some(first), ..answer },
    };
    let Some(tier) = larger(answer.decision.tier) else {
        return Answer { check: Some(first), ..answer };
    };
    observer.retrying(tier, &error);
    let retry_request =
        Request { text: retry_prompt(&request.text, &first.code, &error), tier: Some(tier), ..request.clone() };
    let decision = pipeline.route(&retry_request).await;
    match pipeline.answer(&retry_request, decision, Instant::now(), true, consent, observer).await {
        Ok(mut second) => {
            second.processing_time += answer.processing_time;
            let code = extract::code_from_answer(&second.text);
            let dialect =
                applies(&Request { shell_by_default: true, ..request.clone() }, &second.text, &code).unwrap_or(dialect);
            let check_started = Instant::now();
            let report = safety::check_async(&code, options(dialect, &code)).await;
            second.processing_time += check_started.elapsed();
            let retry =
                Retry::Answered { model: second.decision.model.clone(), error, fixed: report.syntax_error().is_none() };
            Answer { check: Some(CodeCheck { code, dialect, report, retry: Some(retry) }), ..second }
        }
        Err(e) => {
            tracing::info!("retry after a syntax error failed: {e}");
            let retry = Retry::Failed { error, problem: e.to_string().replace('\n', " ") };
            Answer { check: Some(CodeCheck { retry: Some(retry), ..first }), ..answer }
        }
    }
}

/// The danger question: each finding's line and explanation (at most five).
pub fn danger_message(lang: Language, dangers: &[&Finding]) -> String {
    let mut lines: Vec<String> = dangers.iter().take(5).map(|f| format!("{} ({})", describe(f), f.category)).collect();
    if dangers.len() > 5 {
        lines.push(match lang {
            Language::En => format!("… and {} more", dangers.len() - 5),
            Language::De => format!("… und {} weitere", dangers.len() - 5),
        });
    }
    match lang {
        Language::En => format!(
            "The generated script may destroy data or the system:\n{}\n\nInsert it anyway, insert it as comments, or cancel?",
            lines.join("\n")
        ),
        Language::De => format!(
            "Das erzeugte Skript kann Daten oder das System zerstören:\n{}\n\nTrotzdem einfügen, als Kommentare einfügen oder abbrechen?",
            lines.join("\n")
        ),
    }
}

/// Why an answer's code was withheld where nobody could be asked (`infer`, the HTTP API).
/// `withheld: false` when it was returned anyway (`on_danger: report`).
pub fn refusal_message(lang: Language, dangers: &[&Finding], withheld: bool) -> String {
    let lines: Vec<String> = dangers.iter().take(5).map(|f| format!("{} ({})", describe(f), f.category)).collect();
    let lines = lines.join("; ");
    match (lang, withheld) {
        (Language::En, true) => {
            format!("The answer's shell code may destroy data or the system and was withheld: {lines}")
        }
        (Language::En, false) => format!("The answer's shell code may destroy data or the system: {lines}"),
        (Language::De, true) => {
            format!("Der Shell-Code der Antwort kann Daten oder das System zerstören und wurde zurückgehalten: {lines}")
        }
        (Language::De, false) => format!("Der Shell-Code der Antwort kann Daten oder das System zerstören: {lines}"),
    }
}

/// A sentence for the closing message after dangerous code was inserted.
pub fn inserted_note(lang: Language, answer: DangerAnswer, dangers: usize) -> String {
    match (lang, answer) {
        (Language::En, DangerAnswer::InsertAsComments) => {
            format!("Inserted as comments: {dangers} dangerous command(s); see the diagnostics.")
        }
        (Language::En, _) => format!("Inserted although it has {dangers} dangerous command(s); see the diagnostics."),
        (Language::De, DangerAnswer::InsertAsComments) => {
            format!("Als Kommentare eingefügt: {dangers} gefährliche(r) Befehl(e); siehe Diagnosen.")
        }
        (Language::De, _) => format!("Trotz {dangers} gefährlicher Befehle eingefügt; siehe Diagnosen."),
    }
}

/// Each non-empty line behind `prefix ` (`# rm -rf /`); the answer to insert instead.
pub fn as_comments(code: &str, prefix: &str) -> String {
    let mut out = String::new();
    for line in code.lines() {
        if !line.trim().is_empty() {
            out.push_str(prefix);
            out.push(' ');
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::edits::{LineSelection, insertion};

    #[test]
    fn comments_round_trip_through_insertion() {
        let code = "rm -rf /\n\n  echo done\n";
        let commented = as_comments(code, "#");
        assert_eq!(commented, "# rm -rf /\n\n#   echo done\n");
        // Inserted as the answer, the commented code lands verbatim (indented like the selection).
        let answer = format!("```\n{commented}```\n");
        let ins =
            insertion(Task::Generate, &["  # clean"], &LineSelection { start: 0, end: 0 }, "shellscript", &answer, 80);
        assert_eq!(ins.text, "  # rm -rf /\n\n  #   echo done\n");
        assert!(crate::safety::check_structure(&ins.text).is_empty());
    }

    #[test]
    fn texts() {
        assert_eq!(DangerAnswer::from_title("Insert as comments"), Some(DangerAnswer::InsertAsComments));
        assert_eq!(DangerAnswer::from_title("Trotzdem einfügen"), Some(DangerAnswer::InsertAnyway));
        assert_eq!(DangerAnswer::from_title("Continue"), None);
        let f = crate::safety::check_structure("ls\nrm -rf /\n");
        let refs: Vec<&Finding> = f.iter().collect();
        let m = danger_message(Language::En, &refs);
        assert!(m.contains("line 2: `rm -rf` deletes the root directory /") && m.contains("(delete-root)"), "{m}");
        assert_eq!(larger(ModelTier::Fast), Some(ModelTier::Code));
        assert_eq!(larger(ModelTier::Heavy), None);
        let p = retry_prompt("list files", "ls )\n", "line 1: syntax error");
        assert!(
            p.starts_with("list files\n\n") && p.contains("```bash\nls )\n```") && p.contains("line 1: syntax error")
        );
    }
}
