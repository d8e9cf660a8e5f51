//! User-facing texts in English and German (`language: en|de`).
//!
//! The German strings are the spec's, correctly encoded.

use crate::config::Language;

/// The three answers to the VRAM question, in the order they are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAnswer {
    Continue,
    UseFast,
    Cancel,
}

impl ConsentAnswer {
    pub const ALL: [ConsentAnswer; 3] = [ConsentAnswer::Continue, ConsentAnswer::UseFast, ConsentAnswer::Cancel];

    pub fn title(self, lang: Language) -> &'static str {
        match (self, lang) {
            (ConsentAnswer::Continue, Language::En) => "Continue",
            (ConsentAnswer::UseFast, Language::En) => "Use fast model",
            (ConsentAnswer::Cancel, Language::En) => "Cancel",
            (ConsentAnswer::Continue, Language::De) => "Fortfahren",
            (ConsentAnswer::UseFast, Language::De) => "Schnelles Modell verwenden",
            (ConsentAnswer::Cancel, Language::De) => "Abbrechen",
        }
    }

    pub fn from_title(title: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.title(Language::En) == title || a.title(Language::De) == title)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
