//! What the language server tells its user about a request, made in one place: the closing
//! message, the sentence for each failure, the end of the progress. The texts in English and
//! German come from `i18n`; the log gets the whole error chain (`crate::error_chain`), the
//! message a short sentence.

use std::time::Duration;

use tower_lsp_server::ls_types::MessageType;

use crate::actions::{ActionError, Answer, summary};
use crate::i18n::{self, ProgressEnd};
use crate::vocab::Language;

/// Why an edit the server built did not land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditFailure {
    /// The selection changed (or the document closed) while the model answered.
    SelectionChanged,
    /// No answer to `workspace/applyEdit` within the timeout.
    NotAnswered(Duration),
    /// The editor answered with an error, or `applied: false` and a reason.
    Refused(String),
    /// The user rejected the edit in the editor's review.
    Discarded,
    /// A fix whose answer is the block as it was.
    Unchanged,
    /// A fix whose code does not parse (`bash -n`'s message): it would break the file.
    DoesNotParse(String),
}

impl EditFailure {
    pub fn sentence(&self, lang: Language, model: &str) -> String {
        match self {
            EditFailure::SelectionChanged => i18n::nothing_inserted_changed(lang, model),
            EditFailure::NotAnswered(after) => i18n::edit_not_answered(lang, after.as_secs()),
            EditFailure::Refused(why) => i18n::edit_refused(lang, why),
            EditFailure::Discarded => i18n::discarded_in_review(lang, model),
            EditFailure::Unchanged => i18n::fix_unchanged(lang, model),
            EditFailure::DoesNotParse(error) => i18n::fix_does_not_parse(lang, model, error),
        }
    }
}

/// A failed request as the user sees it: the message, its type, how the log records it,
/// and the progress's last words.
pub struct Failure {
    pub shown: MessageType,
    pub text: String,
    pub logged: MessageType,
    pub end: ProgressEnd,
}

pub fn failure(error: &ActionError) -> Failure {
    match error {
        ActionError::Cancelled { message } => Failure {
            shown: MessageType::INFO,
            text: message.clone(),
            logged: MessageType::INFO,
            end: ProgressEnd::Cancelled,
        },
        ActionError::ConsentUnavailable(c) => Failure {
            shown: MessageType::WARNING,
            text: c.0.clone(),
            logged: MessageType::INFO,
            end: ProgressEnd::WaitingForChoice,
        },
        ActionError::Backend { fallback, .. } => Failure {
            shown: MessageType::ERROR,
            text: format!("llm-router: {error} (fallback: {fallback})"),
            logged: MessageType::ERROR,
            end: ProgressEnd::Failed,
        },
    }
}

/// What was said besides the answer itself, for the closing message.
#[derive(Debug, Default)]
pub struct Extras<'a> {
    /// Lines of the answer left out so the code fits the file.
    pub dropped: &'a [String],
    /// The safety check's note (syntax retry, what was inserted despite a danger).
    pub note: Option<&'a str>,
    /// The model was loaded ahead of the request.
    pub preloaded: bool,
}

/// The short closing message after an edit landed ("qwen3-coder:30b-q4 answered in 5.2 s:
/// shell script, keyword `tar`"), and the full one for the log.
pub fn closing(lang: Language, answer: &Answer, extras: Extras<'_>) -> (String, String) {
    let secs = answer.processing_time.as_secs_f64();
    let (d, fallback) = (&answer.decision, answer.fallback.as_deref());
    let full = i18n::answered_in_full(lang, &d.model, secs, d.tier.as_str(), &d.reasons_text(), fallback);
    let mut summary = summary::closing_message(d, secs, lang);
    if !extras.dropped.is_empty() {
        summary = format!("{summary}. {}", i18n::left_out(lang, extras.dropped));
    }
    if let Some(note) = extras.note {
        summary = format!("{summary} {note}");
    }
    if let Some(cut) = answer.cut {
        summary = format!("{summary} {}", i18n::answer_cut(lang, cut));
    }
    if extras.preloaded {
        summary = format!("{summary} {}", i18n::preloaded(lang));
    }
    (summary, full)
}

/// The log line that keeps an answer that was not inserted: nothing is lost.
pub fn kept_in_log(answer: &Answer) -> String {
    format!("answer of {} (not inserted):\n{}", answer.decision.model, answer.text)
}
