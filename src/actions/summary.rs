//! The closing message's few words on why a model answered ("shell script, keyword `tar`").
//! Editors show it in a toast or the command line, where a list of every reason with token
//! counts is cut off and reads like a log line; the full reasons go to the log and `route`.

use crate::i18n;
use crate::router::{Reason, RouteDecision};
use crate::vocab::Language;

/// At most this many reasons: the message must fit an editor's command line.
const MAX_REASONS: usize = 3;

fn language_name(id: &str, lang: Language) -> String {
    let name = match id {
        "shellscript" | "sh" | "bash" | "zsh" | "ksh" | "fish" => {
            return match lang {
                Language::En => "shell script".into(),
                Language::De => "Shell-Skript".into(),
            };
        }
        "python" => "Python",
        "dockerfile" => "Dockerfile",
        "make" | "makefile" => "Makefile",
        "yaml" => "YAML",
        "lua" => "Lua",
        "rust" => "Rust",
        "go" => "Go",
        "javascript" => "JavaScript",
        "typescript" => "TypeScript",
        other => other,
    };
    match lang {
        Language::En => format!("{name} file"),
        Language::De => format!("{name}-Datei"),
    }
}

/// One reason in a few words, or `None` for one that says nothing to a user (a short text's
/// token count) or is told separately (a fallback).
pub fn short_reason(reason: &Reason, lang: Language) -> Option<String> {
    let en = lang == Language::En;
    let pick = |e: &str, d: &str| Some(if en { e } else { d }.to_string());
    match reason {
        Reason::RoutingDisabled => pick("routing off", "Routing aus"),
        Reason::Requested(t) => {
            Some(if en { format!("{t} model requested") } else { format!("{t}-Modell angefordert") })
        }
        Reason::Task(crate::vocab::Task::Fix) => pick("fix", "Korrektur"),
        Reason::Task(_) => pick("code generation", "Codegenerierung"),
        Reason::Keywords(hits) => {
            let mut words: Vec<String> = hits.iter().take(2).map(|h| format!("`{}`", h.keyword)).collect();
            if hits.len() > 2 {
                words.push("…".into());
            }
            let noun = match (en, hits.len()) {
                (true, 1) => "keyword",
                (true, _) => "keywords",
                (false, 1) => "Schlüsselwort",
                (false, _) => "Schlüsselwörter",
            };
            Some(format!("{noun} {}", words.join(", ")))
        }
        Reason::Shell(_) => pick("shell syntax", "Shell-Syntax"),
        Reason::Language(l) => Some(language_name(l, lang)),
        Reason::Tokens { estimate, threshold } if estimate.exceeds(*threshold) => pick("long text", "langer Text"),
        Reason::Tokens { .. } => None,
        Reason::HeavyTokens { .. } => pick("very long text", "sehr langer Text"),
        Reason::NoCodeSignal => pick("no code signals", "keine Code-Hinweise"),
        Reason::Intent { code: true, .. } => pick("reads as a code request", "klingt nach Code"),
        Reason::Intent { code: false, .. } => pick("general question", "allgemeine Frage"),
        Reason::Fallback { .. } => None,
        Reason::FastAtWarning => {
            pick("fast model chosen at the VRAM warning", "schnelles Modell bei der VRAM-Warnung gewählt")
        }
    }
}

/// The decision's reasons in a few words: the user's own choice first, at most three.
pub fn short_reasons(decision: &RouteDecision, lang: Language) -> String {
    let first = decision.reasons.iter().filter(|r| matches!(r, Reason::FastAtWarning));
    let rest = decision.reasons.iter().filter(|r| !matches!(r, Reason::FastAtWarning));
    // The classifier's verdict is shown beside a rule that decided; in a few words the
    // rule is the reason, and the verdict is left to the log.
    let ruled = decision.reasons.iter().any(|r| !matches!(r, Reason::Intent { .. }) && short_reason(r, lang).is_some());
    let shown = first.chain(rest).filter(|r| !(ruled && matches!(r, Reason::Intent { .. })));
    let mut words: Vec<String> = Vec::new();
    for text in shown.filter_map(|r| short_reason(r, lang)) {
        if !words.contains(&text) {
            words.push(text);
        }
    }
    words.truncate(MAX_REASONS);
    words.join(", ")
}

/// The model that failed before this one answered (the last fallback's), if any.
pub fn instead_of(decision: &RouteDecision) -> Option<&str> {
    decision.reasons.iter().rev().find_map(|r| match r {
        Reason::Fallback { from, .. } => Some(from.as_str()),
        _ => None,
    })
}

/// "qwen3-coder:30b-q4 answered in 5.2 s: shell script, keyword `tar`".
pub fn closing_message(decision: &RouteDecision, seconds: f64, lang: Language) -> String {
    i18n::answered(lang, &decision.model, seconds, &short_reasons(decision, lang), instead_of(decision))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{KeywordHit, TokenEstimate};
    use crate::vocab::{ModelTier, Task};

    fn decision(model: &str, reasons: Vec<Reason>) -> RouteDecision {
        RouteDecision {
            tier: ModelTier::Code,
            model: model.into(),
            backend: "local".into(),
            reasons,
            tokens: TokenEstimate::AtMost(10),
        }
    }

    fn hit(k: &str) -> KeywordHit {
        KeywordHit { keyword: k.into(), word: k.into(), own: false }
    }

    fn intent(code: bool) -> Reason {
        Reason::Intent { code, probability: 0.9, evidence: vec!["list".into()] }
    }

    #[test]
    fn closing_messages() {
        let short = TokenEstimate::AtMost(30);
        let explain = decision(
            "qwen3-coder:30b-q4",
            vec![
                Reason::Keywords(vec![hit("tar")]),
                Reason::Language("shellscript".into()),
                Reason::Tokens { estimate: short, threshold: 500 },
            ],
        );
        let fell_back = decision(
            "llama3.2:11b-vision",
            vec![
                Reason::Task(Task::Generate),
                Reason::Language("python".into()),
                Reason::Fallback {
                    from: "qwen3-coder:30b-q4".into(),
                    to: "llama3.2:11b-vision".into(),
                    cause: "x".into(),
                },
            ],
        );
        let many = decision(
            "m",
            vec![
                Reason::Task(Task::Generate),
                Reason::Keywords(vec![hit("tar"), hit("grep"), hit("awk")]),
                Reason::Shell(vec![]),
                Reason::Language("sh".into()),
                Reason::FastAtWarning,
            ],
        );
        #[rustfmt::skip]
        let cases = [
            (&explain, 5.23, Language::En, "qwen3-coder:30b-q4 answered in 5.2 s: keyword `tar`, shell script"),
            (&explain, 5.23, Language::De, "qwen3-coder:30b-q4 hat in 5,2 s geantwortet: Schlüsselwort `tar`, Shell-Skript"),
            (&fell_back, 0.04, Language::En,
             "llama3.2:11b-vision answered in 0.0 s instead of qwen3-coder:30b-q4 (see the log): code generation, Python file"),
            (&fell_back, 0.04, Language::De,
             "llama3.2:11b-vision hat in 0,0 s statt qwen3-coder:30b-q4 geantwortet (siehe Log): Codegenerierung, Python-Datei"),
            (&many, 1.0, Language::En,
             "m answered in 1.0 s: fast model chosen at the VRAM warning, code generation, keywords `tar`, `grep`, …"),
            (&decision("m", vec![Reason::Tokens { estimate: short, threshold: 500 }]), 1.0, Language::En,
             "m answered in 1.0 s"),
            (&decision("m", vec![Reason::Language("sh".into()), intent(true)]), 1.0, Language::En,
             "m answered in 1.0 s: shell script"),
            (&decision("m", vec![intent(false), Reason::Tokens { estimate: short, threshold: 500 }]), 1.0, Language::De,
             "m hat in 1,0 s geantwortet: allgemeine Frage"),
        ];
        for (d, secs, lang, expected) in cases {
            assert_eq!(closing_message(d, secs, lang), expected);
        }
    }
}
