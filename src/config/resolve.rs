//! From defaults and a parsed file to a resolved [`Config`].

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::vocab::{Language, ModelTier};

/// Turns `OLLAMA_HOST` ("0.0.0.0", "host:port", ":11434", "http://host") into a URL a
/// client can connect to.
pub fn ollama_url_from_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    let (scheme, rest) = match host.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("http", host),
    };
    let (h, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => {
            (h.to_string(), p.to_string())
        }
        _ => (rest.to_string(), DEFAULT_OLLAMA_PORT.to_string()),
    };
    // A server bound to every interface is reached over loopback.
    let h = match h.as_str() {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "[::]" => "[::1]".to_string(),
        _ => h,
    };
    format!("{scheme}://{h}:{port}")
}

impl Config {
    /// Built-in defaults for this environment (`OLLAMA_HOST`, `LANG`).
    pub fn defaults(env: &Environment) -> Self {
        let url = env
            .ollama_host
            .as_deref()
            .map(ollama_url_from_host)
            .unwrap_or_else(|| format!("http://127.0.0.1:{DEFAULT_OLLAMA_PORT}"));
        let tier = |name: &str, timeout, idle, vram: &str, use_case: &str| TierConfig {
            name: name.to_string(),
            backend: DEFAULT_BACKEND.to_string(),
            timeout,
            idle_unload: idle,
            vram_usage: Some(VramSize::parse(vram).expect("built-in size parses")),
            use_case: Some(use_case.to_string()),
            fallback: None,
            max_tokens: None,
        };
        let mut heavy = tier("llama3.1:70b", 120, Some(300), "42GB", "Extreme complexity fallback");
        heavy.fallback = Some(true);
        Config {
            language: Language::from_locale(env.lang.as_deref()),
            models: ModelsConfig {
                routing_enabled: true,
                vram_monitoring: true,
                warning_threshold: 0.8,
                fallback_to_fast: true,
                fast_model: tier("llama3.2:11b-vision", 30, None, "7.9GB", "General queries, quick responses"),
                code_model: tier(
                    "qwen3-coder:30b-q4",
                    60,
                    Some(600),
                    "18-22GB",
                    "Linux commands, shell scripts, code generation",
                ),
                heavy_model: heavy,
            },
            routing: RoutingConfig {
                mode: RoutingMode::Intent,
                intent_threshold: DEFAULT_INTENT_THRESHOLD,
                token_threshold: 500,
                heavy_token_threshold: 4000,
                linux_keywords: [SPEC_LINUX_KEYWORDS, GERMAN_LINUX_KEYWORDS]
                    .concat()
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                code_keywords: [SPEC_CODE_KEYWORDS, GERMAN_CODE_KEYWORDS]
                    .concat()
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                extra_keywords: Vec::new(),
                code_languages: strings(CODE_LANGUAGES),
            },
            backends: BTreeMap::from([(
                DEFAULT_BACKEND.to_string(),
                BackendConfig::Ollama { url, busy_retry_ms: default_busy_retry_ms() },
            )]),
            vram: VramConfig { probe: ProbeConfig::Auto },
            lsp: LspConfig {
                on_warning_without_dialog: WarningWithoutDialog::AskViaAction,
                request_timeout: 60,
                comment_width: 80,
                show_model_in_titles: true,
                on_danger: OnDanger::Refuse,
                max_message_bytes: 64 * 1024 * 1024,
                preload: true,
                review: Review::Auto,
            },
            http: HttpConfig {
                listen: "127.0.0.1:8765".to_string(),
                token_env: None,
                on_vram_warning: OnVramWarning::Fast,
                on_danger: OnDanger::Refuse,
                max_body_bytes: 1024 * 1024,
                max_concurrent: 4,
                max_connections: 64,
                header_read_timeout: 5,
                body_read_timeout: 10,
            },
            safety: crate::safety::SafetyConfig::default(),
            // An explanation is a few comment lines; a script may be long.
            answers: AnswersConfig {
                max_tokens: MaxTokens { ask: 1024, explain: 512, generate: 4096 },
                stop_on_repetition: true,
            },
        }
    }

    /// The token bound for `task` on `tier`: the task's, lowered by the tier's own cap.
    pub fn max_tokens(&self, task: crate::vocab::Task, tier: ModelTier) -> u32 {
        use crate::vocab::Task;
        let m = &self.answers.max_tokens;
        let per_task = match task {
            Task::Ask => m.ask,
            Task::Explain => m.explain,
            // A fix is a block of code, like a generated script.
            Task::Generate | Task::Fix => m.generate,
        };
        self.tier(tier).max_tokens.map_or(per_task, |cap| cap.min(per_task))
    }

    pub fn tier(&self, tier: ModelTier) -> &TierConfig {
        match tier {
            ModelTier::Fast => &self.models.fast_model,
            ModelTier::Code => &self.models.code_model,
            ModelTier::Heavy => &self.models.heavy_model,
        }
    }

    /// Lays a parsed file over `self` and validates the result. `path` names the source
    /// in error messages.
    pub fn apply(mut self, file: FileConfig, path: &Path) -> Result<Self, ConfigError> {
        if let Some(l) = file.language {
            self.language = l;
        }
        if let Some(m) = file.models {
            let c = &mut self.models;
            set(&mut c.routing_enabled, m.routing_enabled);
            set(&mut c.vram_monitoring, m.vram_monitoring);
            set(&mut c.warning_threshold, m.warning_threshold);
            set(&mut c.fallback_to_fast, m.fallback_to_fast);
            for (tier, file_tier) in [
                (&mut c.fast_model, m.fast_model),
                (&mut c.code_model, m.code_model),
                (&mut c.heavy_model, m.heavy_model),
            ] {
                if let Some(t) = file_tier {
                    set(&mut tier.name, t.name);
                    set(&mut tier.backend, t.backend);
                    set(&mut tier.timeout, t.timeout);
                    set(&mut tier.idle_unload, t.idle_unload);
                    if t.vram_usage.is_some() {
                        tier.vram_usage = t.vram_usage;
                    }
                    if t.use_case.is_some() {
                        tier.use_case = t.use_case;
                    }
                    if t.fallback.is_some() {
                        tier.fallback = t.fallback;
                    }
                    if t.max_tokens.is_some() {
                        tier.max_tokens = t.max_tokens;
                    }
                }
            }
        }
        if let Some(r) = file.routing {
            let c = &mut self.routing;
            set(&mut c.mode, r.mode);
            set(&mut c.intent_threshold, r.intent_threshold);
            set(&mut c.token_threshold, r.token_threshold);
            set(&mut c.heavy_token_threshold, r.heavy_token_threshold);
            set(&mut c.linux_keywords, r.linux_keywords);
            set(&mut c.code_keywords, r.code_keywords);
            set(&mut c.extra_keywords, r.extra_keywords);
            set(&mut c.code_languages, r.code_languages);
        }
        if let Some(b) = file.backends {
            self.backends.extend(b);
        }
        if let Some(v) = file.vram {
            set(&mut self.vram.probe, v.probe);
        }
        if let Some(l) = file.lsp {
            let c = &mut self.lsp;
            set(&mut c.on_warning_without_dialog, l.on_warning_without_dialog);
            set(&mut c.request_timeout, l.request_timeout);
            set(&mut c.comment_width, l.comment_width);
            set(&mut c.show_model_in_titles, l.show_model_in_titles);
            set(&mut c.on_danger, l.on_danger);
            set(&mut c.max_message_bytes, l.max_message_bytes);
            set(&mut c.preload, l.preload);
            set(&mut c.review, l.review);
        }
        if let Some(h) = file.http {
            let c = &mut self.http;
            set(&mut c.listen, h.listen);
            if h.token_env.is_some() {
                c.token_env = h.token_env;
            }
            set(&mut c.on_vram_warning, h.on_vram_warning);
            set(&mut c.on_danger, h.on_danger);
            set(&mut c.max_body_bytes, h.max_body_bytes);
            set(&mut c.max_concurrent, h.max_concurrent);
            set(&mut c.max_connections, h.max_connections);
            set(&mut c.header_read_timeout, h.header_read_timeout);
            set(&mut c.body_read_timeout, h.body_read_timeout);
        }
        if let Some(s) = file.safety {
            self.safety.apply(s);
        }
        if let Some(a) = file.answers {
            set(&mut self.answers.stop_on_repetition, a.stop_on_repetition);
            if let Some(m) = a.max_tokens {
                set(&mut self.answers.max_tokens.ask, m.ask);
                set(&mut self.answers.max_tokens.explain, m.explain);
                set(&mut self.answers.max_tokens.generate, m.generate);
            }
        }
        self.validate(path)?;
        Ok(self)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let t = self.models.warning_threshold;
        if !(t > 0.0 && t <= 1.0) {
            return Err(invalid(
                "models.warning_threshold",
                format!("expected a fraction between 0 and 1 (0.8 means 80 %), found {t}"),
            ));
        }
        for (key, tier) in [
            ("models.fast_model", &self.models.fast_model),
            ("models.code_model", &self.models.code_model),
            ("models.heavy_model", &self.models.heavy_model),
        ] {
            if tier.name.trim().is_empty() {
                return Err(invalid(&format!("{key}.name"), "expected a model name".into()));
            }
            if tier.timeout == 0 {
                return Err(invalid(&format!("{key}.timeout"), "expected seconds, at least 1".into()));
            }
            if !self.backends.contains_key(&tier.backend) {
                let known: Vec<_> = self.backends.keys().map(String::as_str).collect();
                return Err(invalid(
                    &format!("{key}.backend"),
                    format!("no backend named `{}` (defined: {})", tier.backend, known.join(", ")),
                ));
            }
            if tier.fallback.is_some() && key != "models.heavy_model" {
                return Err(invalid(
                    &format!("{key}.fallback"),
                    "only heavy_model has `fallback` (it takes over when the code model fails)".into(),
                ));
            }
        }
        if !(self.routing.intent_threshold > 0.0 && self.routing.intent_threshold < 1.0) {
            return Err(invalid(
                "routing.intent_threshold",
                format!("expected a probability between 0 and 1 (exclusive), found {}", self.routing.intent_threshold),
            ));
        }
        if self.routing.heavy_token_threshold <= self.routing.token_threshold {
            return Err(invalid(
                "routing.heavy_token_threshold",
                format!("expected more than routing.token_threshold ({})", self.routing.token_threshold),
            ));
        }
        for (name, backend) in &self.backends {
            let url = backend.url();
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return Err(invalid(
                        &format!("backends.{name}.url"),
                        format!("expected an http:// or https:// URL, found `{url}`"),
                    ));
                }
            }
        }
        if let ProbeConfig::Command { command } = &self.vram.probe
            && (command.is_empty() || command[0].trim().is_empty())
        {
            return Err(invalid(
                    "vram.probe.command",
                    "expected a program and its arguments, e.g. [nvidia-smi, --query-gpu=memory.used,memory.total, --format=csv,noheader,nounits]".into(),
                ));
        }
        if self.lsp.request_timeout == 0 {
            return Err(invalid("lsp.request_timeout", "expected seconds, at least 1".into()));
        }
        if self.lsp.comment_width < 20 {
            return Err(invalid("lsp.comment_width", "expected at least 20 columns".into()));
        }
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "http.listen",
                format!("expected IP:PORT such as 127.0.0.1:8765, found `{}`", self.http.listen),
            ));
        }
        if self.http.token_env.as_deref().is_some_and(|v| v.trim().is_empty() || v.contains(['=', '\0'])) {
            return Err(invalid("http.token_env", "expected the name of an environment variable".into()));
        }
        for (key, value) in [
            ("answers.max_tokens.ask", u64::from(self.answers.max_tokens.ask)),
            ("answers.max_tokens.explain", u64::from(self.answers.max_tokens.explain)),
            ("answers.max_tokens.generate", u64::from(self.answers.max_tokens.generate)),
            ("http.max_connections", self.http.max_connections as u64),
            ("http.header_read_timeout", self.http.header_read_timeout),
            ("http.body_read_timeout", self.http.body_read_timeout),
        ] {
            if value == 0 {
                return Err(invalid(key, "expected at least 1".into()));
            }
        }
        if self.http.max_body_bytes == 0 {
            return Err(invalid("http.max_body_bytes", "expected bytes, at least 1".into()));
        }
        if self.http.max_concurrent == 0 {
            return Err(invalid("http.max_concurrent", "expected at least 1".into()));
        }
        Ok(())
    }

    /// YAML of the effective configuration, for `config show`.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}
