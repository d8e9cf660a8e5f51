//! The check in the generate flow, shared by the language server and the command line:
//! after the model answers, check the code; when it fails `bash -n`, ask the next larger tier
//! once more with the error in the prompt (VRAM consent applies as usual). Also the texts
//! of the danger question.

use crate::actions::{Task, extract};
use crate::config::Language;
use crate::dispatch::{Consent, Dispatcher, Job, JobError, JobObserver, JobOutcome};
use crate::router::ModelTier;

use super::{CheckOptions, Dialect, Finding, Report};

/// The job's outcome and, for generated shell code, the check's report.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The answer to insert: the retry's when it answered.
    pub outcome: JobOutcome,
    pub safety: Option<GeneratedCheck>,
}

#[derive(Debug, Clone)]
pub struct GeneratedCheck {
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

/// Runs the check on the blocking pool.
pub async fn check_code(code: &str, options: CheckOptions) -> Report {
    let code = code.to_string();
    match tokio::task::spawn_blocking(move || super::check(&code, &options)).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Runs the job, then [`check_outcome`] (the command line's flow).
pub async fn run_checked(
    dispatcher: &Dispatcher,
    job: &Job,
    consent: &dyn Consent,
    observer: &mut dyn JobObserver,
    assume_shell: bool,
) -> Result<Checked, JobError> {
    let outcome = dispatcher.run(job, consent, observer).await?;
    Ok(check_outcome(dispatcher, job, outcome, consent, observer, assume_shell).await)
}

/// For generated shell code (see [`super::dialect_for`]): checks the code and, on a syntax
/// error, asks the next larger tier once more. `retry_consent` answers the VRAM question for
/// the retry. Other tasks and languages pass through unchanged.
pub async fn check_outcome(
    dispatcher: &Dispatcher,
    job: &Job,
    outcome: JobOutcome,
    retry_consent: &dyn Consent,
    observer: &mut dyn JobObserver,
    assume_shell: bool,
) -> Checked {
    let settings = dispatcher.config().safety.clone();
    if job.task != Task::Generate || !settings.check_generated {
        return Checked { outcome, safety: None };
    }
    let code = extract::code_from_answer(&outcome.text);
    let Some(dialect) = super::dialect_for(job.language.as_deref(), &outcome.text, &code, assume_shell) else {
        return Checked { outcome, safety: None };
    };
    let report = check_code(&code, CheckOptions::new(&settings, dialect)).await;
    let first = GeneratedCheck { code, dialect, report, retry: None };
    let error = match first.report.syntax_error() {
        Some(e) if settings.retry_on_syntax_error => describe(e),
        _ => return Checked { outcome, safety: Some(first) },
    };
    let Some(tier) = larger(outcome.decision.tier) else {
        return Checked { outcome, safety: Some(first) };
    };
    let retry_job = Job { text: retry_prompt(&job.text, &first.code, &error), tier: Some(tier), ..job.clone() };
    match dispatcher.run(&retry_job, retry_consent, observer).await {
        Ok(mut second) => {
            second.processing_time += outcome.processing_time;
            let code = extract::code_from_answer(&second.text);
            let dialect = super::dialect_for(job.language.as_deref(), &second.text, &code, true).unwrap_or(dialect);
            let report = check_code(&code, CheckOptions::new(&settings, dialect)).await;
            let retry =
                Retry::Answered { model: second.decision.model.clone(), error, fixed: report.syntax_error().is_none() };
            Checked { outcome: second, safety: Some(GeneratedCheck { code, dialect, report, retry: Some(retry) }) }
        }
        Err(e) => {
            tracing::info!("retry after a syntax error failed: {e}");
            let retry = Retry::Failed { error, problem: e.to_string().replace('\n', " ") };
            Checked { outcome, safety: Some(GeneratedCheck { retry: Some(retry), ..first }) }
        }
    }
}

/// The answers to the danger question, in the order they are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DangerAnswer {
    InsertAnyway,
    InsertAsComments,
    Cancel,
}

impl DangerAnswer {
    pub const ALL: [DangerAnswer; 3] =
        [DangerAnswer::InsertAnyway, DangerAnswer::InsertAsComments, DangerAnswer::Cancel];

    pub fn title(self, lang: Language) -> &'static str {
        match (self, lang) {
            (DangerAnswer::InsertAnyway, Language::En) => "Insert anyway",
            (DangerAnswer::InsertAsComments, Language::En) => "Insert as comments",
            (DangerAnswer::Cancel, Language::En) => "Cancel",
            (DangerAnswer::InsertAnyway, Language::De) => "Trotzdem einfügen",
            (DangerAnswer::InsertAsComments, Language::De) => "Als Kommentare einfügen",
            (DangerAnswer::Cancel, Language::De) => "Abbrechen",
        }
    }

    pub fn from_title(title: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.title(Language::En) == title || a.title(Language::De) == title)
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
        assert!(super::super::check_structure(&ins.text).is_empty());
    }

    #[test]
    fn texts() {
        assert_eq!(DangerAnswer::from_title("Insert as comments"), Some(DangerAnswer::InsertAsComments));
        assert_eq!(DangerAnswer::from_title("Trotzdem einfügen"), Some(DangerAnswer::InsertAnyway));
        assert_eq!(DangerAnswer::from_title("Continue"), None);
        let f = super::super::check_structure("ls\nrm -rf /\n");
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
