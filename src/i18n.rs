//! User-facing texts in English and German (`language: en|de`).
//!
//! The German strings are the spec's, correctly encoded.

use crate::vocab::Language;

pub fn vram_warning_title(lang: Language) -> &'static str {
    match lang {
        Language::En => "VRAM warning",
        Language::De => "VRAM-Warnung",
    }
}

/// "85.3%" in English, "85,3 %" in German.
pub fn percent(fraction: f64, lang: Language) -> String {
    let p = format!("{:.1}", fraction * 100.0);
    match lang {
        Language::En => format!("{p}%"),
        Language::De => format!("{} %", p.replace('.', ",")),
    }
}

/// The spec's question: current usage, the target model, and whether to go on.
pub fn vram_warning(lang: Language, usage: f64, predicted: Option<f64>, model: &str) -> String {
    let after = |p: f64| match lang {
        Language::En => format!(" (about {} after loading it)", percent(p, lang)),
        Language::De => format!(" (etwa {} nach dem Laden)", percent(p, lang)),
    };
    let predicted = predicted.filter(|p| *p > usage).map(after).unwrap_or_default();
    match lang {
        Language::En => format!(
            "Current VRAM usage: {}{predicted}\nSwitching to {model} may affect other applications.\n\nContinue anyway?",
            percent(usage, lang)
        ),
        Language::De => format!(
            "Aktuelle VRAM-Nutzung: {}{predicted}\nWechsel zu {model} könnte andere Anwendungen beeinträchtigen.\n\nTrotzdem fortfahren?",
            percent(usage, lang)
        ),
    }
}

pub fn cancelled_by_user(lang: Language) -> &'static str {
    match lang {
        Language::En => "Cancelled: VRAM warning confirmed by user",
        Language::De => "Abgebrochen: VRAM-Warnung vom Benutzer bestätigt",
    }
}

/// Code action titles for a task, e.g. "Explain command".
/// The model was loaded in the background while the user picked the action.
pub fn preloaded(lang: Language) -> &'static str {
    match lang {
        Language::En => "(The model was already warm: loaded while you chose the action.)",
        Language::De => "(Das Modell war schon geladen: während Sie die Aktion gewählt haben.)",
    }
}

/// The VRAM question was closed without picking an answer.
pub fn vram_question_dismissed(lang: Language) -> &'static str {
    match lang {
        Language::En => "Cancelled: the VRAM question was closed without an answer; nothing was loaded.",
        Language::De => "Abgebrochen: Die VRAM-Frage wurde ohne Antwort geschlossen; nichts wurde geladen.",
    }
}

pub fn action_title(task: crate::vocab::Task, lang: Language) -> &'static str {
    use crate::vocab::Task;
    match (task, lang) {
        (Task::Explain, Language::En) => "Explain command",
        (Task::Generate, Language::En) => "Generate script",
        (Task::Ask, Language::En) => "Ask the model",
        (Task::Explain, Language::De) => "Befehl erklären",
        (Task::Generate, Language::De) => "Skript generieren",
        (Task::Fix, Language::En) => "Fix the finding",
        (Task::Fix, Language::De) => "Befund beheben",
        (Task::Ask, Language::De) => "Modell fragen",
    }
}

pub fn cancel_generation_title(lang: Language) -> &'static str {
    match lang {
        Language::En => "Cancel generation",
        Language::De => "Generierung abbrechen",
    }
}

/// The code action that answers a VRAM warning with "continue".
pub fn continue_with_title(lang: Language, model: &str, usage: f64) -> String {
    let pct = format!("{:.0}", usage * 100.0);
    match lang {
        Language::En => format!("Continue with {model} (VRAM {pct} %)"),
        Language::De => format!("Weiter mit {model} (VRAM {pct} %)"),
    }
}

/// Told when the question could not be shown and the choice waits in the code actions.
pub fn choose_via_action(lang: Language, usage: f64, predicted: Option<f64>, model: &str) -> String {
    let mut pct = percent(usage, lang);
    if let Some(p) = predicted.filter(|p| *p > usage) {
        pct.push_str(&match lang {
            Language::En => format!(" (about {} after loading)", percent(p, lang)),
            Language::De => format!(" (etwa {} nach dem Laden)", percent(p, lang)),
        });
    }
    match lang {
        Language::En => format!(
            "VRAM usage is {pct}; loading {model} may affect other applications. Choose \"Continue with {model}\" or \"Use fast model\" from the code actions on the selection."
        ),
        Language::De => format!(
            "VRAM-Nutzung {pct}; {model} zu laden könnte andere Anwendungen beeinträchtigen. Wähle \"Weiter mit {model}\" oder \"Schnelles Modell verwenden\" in den Code-Aktionen der Auswahl."
        ),
    }
}

/// The closing message after an answer: which model, how long, and in a few words why
/// (`why` may be empty); `instead_of` names the model that failed first.
pub fn answered(lang: Language, model: &str, seconds: f64, why: &str, instead_of: Option<&str>) -> String {
    let secs = match lang {
        Language::En => format!("{seconds:.1}"),
        Language::De => format!("{seconds:.1}").replace('.', ","),
    };
    let mut s = match (lang, instead_of) {
        (Language::En, None) => format!("{model} answered in {secs} s"),
        (Language::En, Some(other)) => format!("{model} answered in {secs} s instead of {other} (see the log)"),
        (Language::De, None) => format!("{model} hat in {secs} s geantwortet"),
        (Language::De, Some(other)) => format!("{model} hat in {secs} s statt {other} geantwortet (siehe Log)"),
    };
    if !why.is_empty() {
        s.push_str(": ");
        s.push_str(why);
    }
    s
}

/// The same answer for the log: the tier, every reason, and the fallback in full.
pub fn answered_in_full(
    lang: Language,
    model: &str,
    seconds: f64,
    tier: &str,
    reasons: &str,
    fallback: Option<&str>,
) -> String {
    let secs = match lang {
        Language::En => format!("{seconds:.1}"),
        Language::De => format!("{seconds:.1}").replace('.', ","),
    };
    let mut s = match lang {
        Language::En => format!("{model} answered in {secs} s ({tier} tier: {reasons})"),
        Language::De => format!("{model} hat in {secs} s geantwortet ({tier}: {reasons})"),
    };
    if let Some(f) = fallback {
        s.push_str(match lang {
            Language::En => ". Fallback: ",
            Language::De => ". Ausweichmodell: ",
        });
        s.push_str(f);
    }
    s
}

/// Why an answer is incomplete, for the closing message, stderr and `/infer`'s `cut`.
pub fn answer_cut(lang: Language, cut: crate::vocab::Cut) -> String {
    use crate::vocab::Cut;
    match (lang, cut) {
        (Language::En, Cut::MaxTokens(n)) => {
            format!("The answer was cut at {n} tokens (answers.max_tokens); it may be incomplete.")
        }
        (Language::En, Cut::Repetition) => "The model kept repeating itself; the answer was ended there.".into(),
        (Language::De, Cut::MaxTokens(n)) => {
            format!(
                "Die Antwort wurde nach {n} Tokens abgeschnitten (answers.max_tokens); sie ist womöglich unvollständig."
            )
        }
        (Language::De, Cut::Repetition) => {
            "Das Modell hat sich ständig wiederholt; die Antwort wurde dort beendet.".into()
        }
    }
}

/// Generated lines left out because they would change how the rest of the script runs.
pub fn left_out(lang: Language, lines: &[String]) -> String {
    let list = lines.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ");
    match (lang, lines.len()) {
        (Language::En, 1) => format!("Left out {list}: it would change how the rest of your script runs."),
        (Language::En, _) => format!("Left out {list}: they would change how the rest of your script runs."),
        (Language::De, 1) => format!("Weggelassen: {list}, weil es das Verhalten des restlichen Skripts ändern würde."),
        (Language::De, _) => {
            format!("Weggelassen: {list}, weil sie das Verhalten des restlichen Skripts ändern würden.")
        }
    }
}

/// After settings from the editor failed to apply: what the server runs on now.
pub fn settings_kept(lang: Language, on_defaults: bool) -> &'static str {
    match (lang, on_defaults) {
        (Language::En, true) => "Running on defaults.",
        (Language::En, false) => "The settings in force before stay (the config file and earlier good settings).",
        (Language::De, true) => "Es gelten die Voreinstellungen.",
        (Language::De, false) => {
            "Die bisherigen Einstellungen bleiben in Kraft (Konfigurationsdatei und frühere gültige Einstellungen)."
        }
    }
}

pub fn nothing_inserted_changed(lang: Language, model: &str) -> String {
    match lang {
        Language::En => format!(
            "The selected text changed while {model} was answering; nothing was inserted. The answer is in the server log (Output/`:LspLog`)."
        ),
        Language::De => format!(
            "Der ausgewählte Text hat sich geändert, während {model} antwortete; nichts wurde eingefügt. Die Antwort steht im Server-Log."
        ),
    }
}

pub fn cancelled_nothing_inserted(lang: Language) -> &'static str {
    match lang {
        Language::En => "Cancelled; nothing was inserted.",
        Language::De => "Abgebrochen; nichts wurde eingefügt.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::ConsentAnswer;

    #[test]
    fn spec_texts_are_correctly_encoded() {
        let de = vram_warning(Language::De, 0.853, None, "qwen3-coder:30b-q4");
        assert_eq!(
            de,
            "Aktuelle VRAM-Nutzung: 85,3 %\nWechsel zu qwen3-coder:30b-q4 könnte andere Anwendungen beeinträchtigen.\n\nTrotzdem fortfahren?"
        );
        assert_eq!(cancelled_by_user(Language::De), "Abgebrochen: VRAM-Warnung vom Benutzer bestätigt");
        let en = vram_warning(Language::En, 0.5, Some(0.95), "m");
        assert!(en.starts_with("Current VRAM usage: 50.0% (about 95.0% after loading it)\n"), "{en}");
        assert!(en.ends_with("Continue anyway?"));
    }

    #[test]
    fn answers_round_trip_through_titles() {
        for lang in [Language::En, Language::De] {
            for a in ConsentAnswer::ALL {
                assert_eq!(ConsentAnswer::from_title(a.title(lang)), Some(a));
            }
        }
        assert_eq!(ConsentAnswer::from_title("Maybe"), None);
    }
}

/// Why an edit the server sent did not land (the answer itself is kept in the log).
pub fn edit_not_answered(lang: Language, seconds: u64) -> String {
    match lang {
        Language::En => format!(
            "The editor did not answer the edit (workspace/applyEdit) within {seconds} s; the answer is in the server log."
        ),
        Language::De => format!(
            "Der Editor hat die Änderung (workspace/applyEdit) nicht binnen {seconds} s beantwortet; die Antwort steht im Server-Log."
        ),
    }
}

pub fn edit_refused(lang: Language, why: &str) -> String {
    match lang {
        Language::En => format!("The editor refused the edit ({why}); the answer is in the server log."),
        Language::De => format!("Der Editor hat die Änderung abgelehnt ({why}); die Antwort steht im Server-Log."),
    }
}

/// How a request's progress ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressEnd {
    Answered,
    Cancelled,
    WaitingForChoice,
    Failed,
}

/// The end of a request's progress: the few words an editor shows beside its spinner.
pub fn progress_end(lang: Language, end: ProgressEnd, model: &str) -> String {
    use ProgressEnd::*;
    match (lang, end) {
        (Language::En, Answered) => format!("{model} answered"),
        (Language::En, Cancelled) => "Cancelled".into(),
        (Language::En, WaitingForChoice) => "Waiting for a choice".into(),
        (Language::En, Failed) => "Failed".into(),
        (Language::De, Answered) => format!("{model} hat geantwortet"),
        (Language::De, Cancelled) => "Abgebrochen".into(),
        (Language::De, WaitingForChoice) => "Wartet auf eine Auswahl".into(),
        (Language::De, Failed) => "Fehlgeschlagen".into(),
    }
}

/// The progress report while an answer streams in; editors show it beside their spinner.
pub fn characters_received(lang: Language, model: &str, chars: usize) -> String {
    match lang {
        Language::En => format!("{model}: {chars} characters received"),
        Language::De => format!("{model}: {chars} Zeichen empfangen"),
    }
}

/// A model failed and another answers in its place (a progress report).
pub fn fell_back(lang: Language, from: &str, cause: &str, to: &str) -> String {
    match lang {
        Language::En => format!("{from} failed ({cause}); {to} answers instead"),
        Language::De => format!("{from} ist fehlgeschlagen ({cause}); {to} antwortet stattdessen"),
    }
}

/// The quick fix on a diagnostic.
pub fn fix_with_title(lang: Language, model: &str) -> String {
    match lang {
        Language::En => format!("Fix with {model}"),
        Language::De => format!("Mit {model} beheben"),
    }
}

/// The change annotation's description: what the reviewed edit is for.
pub fn fix_review_description(lang: Language, code: &str, line: usize) -> String {
    match lang {
        Language::En => format!("{code} on line {line}: review the change before it lands"),
        Language::De => format!("{code} in Zeile {line}: Änderung prüfen, bevor sie übernommen wird"),
    }
}

/// After a fix landed and its finding is gone; lines are 1-based.
pub fn fixed(lang: Language, code: &str, first: usize, last: usize) -> String {
    let lines = |word: &str, words: &str| {
        if first == last { format!("{word} {first}") } else { format!("{words} {first}–{last}") }
    };
    match lang {
        Language::En => format!("{code} fixed in {}.", lines("line", "lines")),
        Language::De => format!("{code} in {} behoben.", lines("Zeile", "Zeilen")),
    }
}

/// After a fix landed but the checker still reports its finding: nothing is claimed fixed.
pub fn fix_still_reported(lang: Language, code: &str, line: usize) -> String {
    match lang {
        Language::En => format!("{code} is still reported on line {line}: the change did not fix it."),
        Language::De => format!("{code} wird in Zeile {line} weiterhin gemeldet: Die Änderung hat es nicht behoben."),
    }
}

/// An edit that replaced text in an editor without a review step (Helix): one undo, `u` in
/// Helix and Neovim, restores the block.
pub fn undo_hint(lang: Language) -> &'static str {
    match lang {
        Language::En => "One `u` undoes it.",
        Language::De => "Ein `u` macht es rückgängig.",
    }
}

pub fn fix_unchanged(lang: Language, model: &str) -> String {
    match lang {
        Language::En => format!("{model} returned the block unchanged; nothing was replaced."),
        Language::De => format!("{model} hat den Block unverändert zurückgegeben; nichts wurde ersetzt."),
    }
}

pub fn fix_does_not_parse(lang: Language, model: &str, error: &str) -> String {
    match lang {
        Language::En => format!("{model}'s fix does not parse ({error}); nothing was replaced."),
        Language::De => format!("Die Korrektur von {model} ist syntaktisch falsch ({error}); nichts wurde ersetzt."),
    }
}

pub fn discarded_in_review(lang: Language, model: &str) -> String {
    match lang {
        Language::En => format!("{model}'s change was discarded in review; nothing changed."),
        Language::De => format!("Die Änderung von {model} wurde bei der Prüfung verworfen; nichts wurde geändert."),
    }
}
