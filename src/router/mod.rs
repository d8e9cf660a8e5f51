//! Routing: which model tier answers a query, and why.

pub mod analyzer;
pub mod tokens;

use std::fmt;

use serde::Serialize;

pub use analyzer::{Analysis, KeywordHit, QueryAnalyzer, ShellSyntax};
pub use tokens::TokenEstimate;

use crate::config::{ModelsConfig, RoutingConfig};
use crate::vocab::{ModelTier, Task};

/// Why a tier was chosen. Shown to users ("honest routing") and in `--json` output.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    RoutingDisabled,
    Requested(ModelTier),
    Task(Task),
    Keywords(Vec<KeywordHit>),
    Shell(Vec<ShellSyntax>),
    Language(String),
    Tokens {
        estimate: TokenEstimate,
        threshold: usize,
    },
    HeavyTokens {
        estimate: TokenEstimate,
        threshold: usize,
    },
    NoCodeSignal,
    /// Set by the dispatcher when another model had to answer.
    Fallback {
        from: String,
        to: String,
        cause: String,
    },
    /// The user chose the fast model at the VRAM warning.
    FastAtWarning,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::RoutingDisabled => f.write_str("routing disabled: everything goes to the fast model"),
            Reason::Requested(t) => write!(f, "{t} tier requested"),
            Reason::Task(t) => write!(f, "{}: code generation goes to the code model", t.label()),
            Reason::Keywords(hits) => {
                let list: Vec<String> = hits.iter().map(ToString::to_string).collect();
                let noun = if hits.len() == 1 { "keyword" } else { "keywords" };
                write!(f, "{noun} {}", list.join(", "))
            }
            Reason::Shell(s) => {
                let list: Vec<String> = s.iter().map(ToString::to_string).collect();
                write!(f, "shell syntax: {}", list.join(", "))
            }
            Reason::Language(l) => write!(f, "document language `{l}`"),
            Reason::Tokens { estimate, threshold } => {
                let cmp = if estimate.exceeds(*threshold) { ">" } else { "≤" };
                write!(f, "{estimate} {cmp} {threshold}")
            }
            Reason::HeavyTokens { estimate: TokenEstimate::MoreThan(_), threshold } => {
                write!(f, "more than {threshold} tokens (heavy threshold)")
            }
            Reason::HeavyTokens { estimate, threshold } => write!(f, "{estimate} > {threshold} (heavy threshold)"),
            Reason::NoCodeSignal => f.write_str("no code keywords, shell syntax or long text"),
            Reason::Fallback { from, to, cause } => write!(f, "fallback from {from} to {to}: {cause}"),
            Reason::FastAtWarning => f.write_str("fast model chosen at the VRAM warning"),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// What the caller knows about a request besides its text.
#[derive(Debug, Clone, Default)]
pub struct RouteRequest<'a> {
    pub task: Task,
    /// LSP `languageId` or a name like `shellscript`, `python`.
    pub language: Option<&'a str>,
    pub tier: Option<ModelTier>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteDecision {
    pub tier: ModelTier,
    pub model: String,
    pub backend: String,
    pub reasons: Vec<Reason>,
    #[serde(skip)]
    pub tokens: TokenEstimate,
}

impl RouteDecision {
    pub fn reasons_text(&self) -> String {
        self.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    }
}

/// Decides the tier. Built once per configuration; deciding is pure and takes microseconds
/// (plus one bounded token count for texts longer than the threshold).
#[derive(Debug, Clone)]
pub struct Router {
    analyzer: QueryAnalyzer,
    routing: RoutingConfig,
    enabled: bool,
    /// Model and backend per tier, in `ModelTier` order.
    tiers: [(String, String); 3],
}

impl Router {
    pub fn new(routing: &RoutingConfig, models: &ModelsConfig) -> Self {
        let tier = |t: &crate::config::TierConfig| (t.name.clone(), t.backend.clone());
        Self {
            analyzer: QueryAnalyzer::new(routing),
            routing: routing.clone(),
            enabled: models.routing_enabled,
            tiers: [tier(&models.fast_model), tier(&models.code_model), tier(&models.heavy_model)],
        }
    }

    /// The model that answers for `tier`.
    pub fn model(&self, tier: ModelTier) -> &str {
        &self.tiers[tier as usize].0
    }

    pub fn analyzer(&self) -> &QueryAnalyzer {
        &self.analyzer
    }

    pub fn decide(&self, text: &str, request: &RouteRequest<'_>) -> RouteDecision {
        self.decide_with(text, request, true)
    }

    /// `count_tokens: false` never touches the tokenizer (for the editor's thread).
    pub fn decide_with(&self, text: &str, request: &RouteRequest<'_>, count_tokens: bool) -> RouteDecision {
        let (tier, reasons, tokens) = self.choose(text, request, count_tokens);
        self.decision_for(tier, reasons, tokens)
    }

    pub fn decision_for(&self, tier: ModelTier, reasons: Vec<Reason>, tokens: TokenEstimate) -> RouteDecision {
        let (model, backend) = self.tiers[tier as usize].clone();
        RouteDecision { tier, model, backend, reasons, tokens }
    }

    fn choose(
        &self,
        text: &str,
        request: &RouteRequest<'_>,
        count_tokens: bool,
    ) -> (ModelTier, Vec<Reason>, TokenEstimate) {
        if !self.enabled {
            return (ModelTier::Fast, vec![Reason::RoutingDisabled], TokenEstimate::AtMost(text.len()));
        }
        let analysis = self.analyzer.analyze_with(text, count_tokens);
        let tokens = analysis.tokens;
        if let Some(tier) = request.tier {
            return (tier, vec![Reason::Requested(tier)], tokens);
        }
        let heavy = self.analyzer.heavy_token_threshold();
        if tokens.exceeds(heavy) {
            return (ModelTier::Heavy, vec![Reason::HeavyTokens { estimate: tokens, threshold: heavy }], tokens);
        }
        let mut reasons = Vec::new();
        if request.task == Task::Generate {
            reasons.push(Reason::Task(Task::Generate));
        }
        if !analysis.keywords.is_empty() {
            reasons.push(Reason::Keywords(analysis.keywords));
        }
        if !analysis.shell.is_empty() {
            reasons.push(Reason::Shell(analysis.shell));
        }
        if let Some(lang) = request.language {
            let lang = lang.to_ascii_lowercase();
            if self.routing.code_languages.iter().any(|l| l.eq_ignore_ascii_case(&lang)) {
                reasons.push(Reason::Language(lang));
            }
        }
        let threshold = self.analyzer.token_threshold();
        let long = tokens.exceeds(threshold);
        let tier = if reasons.is_empty() && !long { ModelTier::Fast } else { ModelTier::Code };
        reasons.push(Reason::Tokens { estimate: tokens, threshold });
        if tier == ModelTier::Fast {
            reasons.insert(0, Reason::NoCodeSignal);
        }
        (tier, reasons, tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Environment};

    fn router() -> Router {
        let c = Config::defaults(&Environment::default());
        Router::new(&c.routing, &c.models)
    }

    fn check(text: &str, language: Option<&str>, task: Task, expected: ModelTier) {
        let d = router().decide(text, &RouteRequest { task, language, tier: None });
        assert_eq!(d.tier, expected, "{text:?} ({language:?}, {task:?}): {}", d.reasons_text());
        assert_eq!(d.model, router().model(expected));
        assert!(!d.reasons.is_empty());
    }

    #[test]
    fn decisions() {
        use ModelTier::*;
        use Task::*;
        check("what is the capital of France", None, Ask, Fast);
        check("perhaps convert the pdf on my desktop", None, Ask, Fast);
        check("grep for errors", None, Ask, Code);
        check("Wie lautet der Befehl zum Entpacken?", None, Ask, Code);
        check("tar -xzvf backup.tar.gz -C /opt", None, Explain, Code);
        check("ls -la", None, Explain, Code);
        check("ls", None, Explain, Fast);
        check("ls", Some("shellscript"), Explain, Code);
        check("hello there", Some("markdown"), Ask, Fast);
        check("list files larger than 100MB", None, Generate, Code);
        check(&" hello".repeat(501), None, Ask, Code);
        check(&" hello".repeat(4001), None, Ask, Heavy);
    }

    #[test]
    fn explicit_tier_and_disabled_routing() {
        let r = router();
        let d = r.decide("hi", &RouteRequest { tier: Some(ModelTier::Heavy), ..Default::default() });
        assert_eq!((d.tier, d.model.as_str()), (ModelTier::Heavy, "llama3.1:70b"));
        assert_eq!(d.reasons, vec![Reason::Requested(ModelTier::Heavy)]);

        let mut c = Config::defaults(&Environment::default());
        c.models.routing_enabled = false;
        let d = Router::new(&c.routing, &c.models).decide("grep | awk", &RouteRequest::default());
        assert_eq!(d.tier, ModelTier::Fast);
        assert_eq!(d.reasons, vec![Reason::RoutingDisabled]);
    }

    #[test]
    fn reasons_explain() {
        let d = router().decide("ps aux | grep nginx", &RouteRequest::default());
        let text = d.reasons_text();
        assert!(text.contains("keywords \"ps\", \"grep\""), "{text}");
        assert!(text.contains("shell syntax: a pipe"), "{text}");
        assert!(text.contains("at most 19 tokens (19 bytes) ≤ 500"), "{text}");
    }
}
