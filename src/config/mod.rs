//! Configuration: the YAML schema, its defaults, the lookup order and error reporting.
//!
//! The file is parsed in two steps: serde-saphyr turns YAML into [`FileConfig`] (every
//! field optional, unknown keys rejected, budgets against hostile input), then
//! [`Config::resolve`] lays it over the defaults. Per-tier defaults differ (the fast model
//! times out after 30 s, the heavy one after 120 s), which is why the file schema and the
//! resolved config are separate types.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod keywords;
mod lookup;
mod resolve;
mod resolved;
mod schema;

pub use keywords::*;
pub use lookup::*;
pub use resolve::*;
pub use resolved::*;
pub use schema::*;

/// The commented default configuration, shipped as `config/default.yaml`.
pub const DEFAULT_YAML: &str = include_str!("../../config/default.yaml");

/// Config files larger than this are refused before parsing.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

pub const DEFAULT_OLLAMA_PORT: u16 = 11434;
pub const DEFAULT_BACKEND: &str = "local";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: file is {size} bytes; config files are limited to {MAX_CONFIG_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse { path: PathBuf, line: u64, column: u64, message: String },
    #[error("{}: {key}: {message}", path.display())]
    Invalid { path: PathBuf, key: String, message: String },
}

/// The process environment, captured once so that lookups and defaults are pure functions
/// of it (and testable without mutating the environment).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub config_path: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub ollama_host: Option<String>,
    pub lang: Option<String>,
}

impl Environment {
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let lang =
            ["LC_ALL", "LC_MESSAGES", "LANG"].iter().find_map(|n| var(n)).map(|v| v.to_string_lossy().into_owned());
        Self {
            config_path: var("LLM_ROUTER_LSP_CONFIG").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            ollama_host: var("OLLAMA_HOST").map(|v| v.to_string_lossy().into_owned()),
            lang,
        }
    }
}

/// A model's expected VRAM footprint as written in the config: "7.9GB", "18-22GB", "512MiB".
/// A range is kept as written; predictions use its upper bound, erring towards a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct VramSize {
    pub text: String,
    pub low: u64,
    pub high: u64,
}

impl VramSize {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
        let (numbers, unit) = t.split_at(split);
        let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" | "k" => 1e3,
            "mb" | "m" => 1e6,
            "gb" | "g" => 1e9,
            "tb" | "t" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            other => return Err(format!("unknown unit `{other}` in `{t}` (expected e.g. 7.9GB, 18-22GB, 512MiB)")),
        };
        let parse_num = |s: &str| -> Result<u64, String> {
            let v: f64 =
                s.trim().parse().map_err(|_| format!("`{t}` is not a size (expected e.g. 7.9GB or 18-22GB)"))?;
            if !v.is_finite() || v < 0.0 {
                return Err(format!("`{t}` is not a size"));
            }
            Ok((v * factor).round() as u64)
        };
        let (low, high) = match numbers.split_once('-') {
            Some((a, b)) => (parse_num(a)?, parse_num(b)?),
            None => {
                let v = parse_num(numbers)?;
                (v, v)
            }
        };
        if low > high {
            return Err(format!("`{t}`: range goes downwards"));
        }
        Ok(Self { text: t.to_string(), low, high })
    }
}

impl Serialize for VramSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for VramSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bytes(b) => Ok(Self { text: b.to_string(), low: b, high: b }),
            Raw::Text(t) => Self::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::vocab::Language;

    fn env() -> Environment {
        Environment::default()
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        load_str(text, Path::new("test.yaml"), &env())
    }

    #[test]
    fn spec_module_a_loads_unchanged() {
        let text = include_str!("../../config/module_a.yaml");
        let c = load(text).expect("spec config loads");
        assert_eq!(c.models.fast_model.name, "llama3.2:11b-vision");
        assert_eq!(c.models.fast_model.timeout, 30);
        assert_eq!(c.models.code_model.idle_unload, Some(600));
        assert_eq!(c.models.heavy_model.timeout, 120);
        assert_eq!(c.models.heavy_model.idle_unload, Some(300));
        assert_eq!(c.models.warning_threshold, 0.8);
        // Everything the spec file does not mention keeps its default.
        assert_eq!(c, Config::defaults(&env()));
    }

    #[test]
    fn default_yaml_equals_builtin_defaults() {
        let c = load(DEFAULT_YAML).expect("default.yaml loads");
        assert_eq!(c, Config::defaults(&env()));
    }

    #[test]
    fn spec_defaults() {
        let c = Config::defaults(&env());
        let m = &c.models;
        assert!(m.routing_enabled && m.vram_monitoring && m.fallback_to_fast);
        assert_eq!(
            (m.fast_model.name.as_str(), m.fast_model.timeout, m.fast_model.idle_unload),
            ("llama3.2:11b-vision", 30, None)
        );
        assert_eq!(
            (m.code_model.name.as_str(), m.code_model.timeout, m.code_model.idle_unload),
            ("qwen3-coder:30b-q4", 60, Some(600))
        );
        assert_eq!(
            (m.heavy_model.name.as_str(), m.heavy_model.timeout, m.heavy_model.idle_unload),
            ("llama3.1:70b", 120, Some(300))
        );
        assert_eq!(m.code_model.vram_usage.as_ref().unwrap().high, 22_000_000_000);
        assert_eq!(m.fast_model.vram_usage.as_ref().unwrap().high, 7_900_000_000);
        assert_eq!(c.routing.token_threshold, 500);
    }

    #[test]
    fn vram_sizes() {
        let check = |text: &str, expected: Option<(u64, u64)>| {
            let got = VramSize::parse(text).ok().map(|s| (s.low, s.high));
            assert_eq!(got, expected, "{text}");
        };
        check("7.9GB", Some((7_900_000_000, 7_900_000_000)));
        check("18-22GB", Some((18_000_000_000, 22_000_000_000)));
        check("42GB", Some((42_000_000_000, 42_000_000_000)));
        check("512MiB", Some((536_870_912, 536_870_912)));
        check(" 8 GiB ", Some((8_589_934_592, 8_589_934_592)));
        check("22-18GB", None);
        check("lots", None);
        check("5XB", None);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let check = |text: &str, expected_prefix: &str, expected_words: &[&str]| {
            let err = load(text).unwrap_err().to_string();
            assert!(err.starts_with(expected_prefix), "{err:?} should start with {expected_prefix:?}");
            for w in expected_words {
                assert!(err.contains(w), "{err:?} should mention {w:?}");
            }
        };
        check("models:\n  fast_model:\n    nmae: x\n", "test.yaml:3:5: ", &["nmae"]);
        check("models:\n  warning_threshold: lots\n", "test.yaml:2:22: ", &[]);
        check("colour: blue\n", "test.yaml:1:1: ", &["colour"]);
        check("models: [1, 2\n", "test.yaml:", &[]);
        check("backends:\n  gpu:\n    kind: ollam\n    url: http://x\n", "test.yaml:", &["ollam"]);
        check("vram:\n  probe:\n    kind: command\n    comand: [x]\n", "test.yaml:", &["comand"]);
    }

    #[test]
    fn validation_names_the_key() {
        let check = |text: &str, expected: &str| {
            let err = load(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} should contain {expected:?}");
        };
        check("models:\n  warning_threshold: 80\n", "models.warning_threshold");
        check("models:\n  code_model:\n    backend: gpu\n", "no backend named `gpu`");
        check("models:\n  fast_model:\n    fallback: true\n", "models.fast_model.fallback");
        check("backends:\n  local:\n    kind: ollama\n    url: localhost\n", "backends.local.url");
        check("vram:\n  probe:\n    kind: command\n    command: []\n", "vram.probe.command");
        check("routing:\n  heavy_token_threshold: 100\n", "routing.heavy_token_threshold");
        check("http:\n  listen: localhost\n", "http.listen");
        check("http:\n  max_concurrent: 0\n", "http.max_concurrent");
        check("http:\n  max_body_bytes: 0\n", "http.max_body_bytes");
        check("http:\n  token_env: \"\"\n", "http.token_env");
    }

    #[test]
    fn tiers_keep_their_own_defaults() {
        let c = load("models:\n  code_model:\n    name: my-coder\n").unwrap();
        assert_eq!(c.models.code_model.name, "my-coder");
        assert_eq!(c.models.code_model.timeout, 60);
        assert_eq!(c.models.code_model.idle_unload, Some(600));
        let c = load("models:\n  code_model:\n    idle_unload: null\n").unwrap();
        assert_eq!(c.models.code_model.idle_unload, None);
    }

    #[test]
    fn per_tier_backends() {
        let c = load(
            "backends:\n  gpu-box:\n    kind: ollama\n    url: http://10.0.0.5:11434\nmodels:\n  heavy_model:\n    backend: gpu-box\n",
        )
        .unwrap();
        assert_eq!(c.models.heavy_model.backend, "gpu-box");
        assert_eq!(c.models.fast_model.backend, "local");
        assert!(c.backends.contains_key("local"));
    }

    #[test]
    fn openai_backends() {
        let c = load(
            "backends:\n  vllm:\n    kind: openai\n    url: http://10.0.0.5:8000/v1\n    api_key_env: VLLM_KEY\nmodels:\n  heavy_model:\n    backend: vllm\n",
        )
        .unwrap();
        assert_eq!(
            c.backends["vllm"],
            BackendConfig::Openai {
                url: "http://10.0.0.5:8000/v1".into(),
                api_key_env: Some("VLLM_KEY".into()),
                logprobs: true,
                busy_retry_ms: 1000
            }
        );
        // A key in the file is an unknown field, not a secret we keep.
        let err = load("backends:\n  vllm:\n    kind: openai\n    url: http://x\n    api_key: sk-123\n").unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
    }

    #[test]
    fn ollama_host_forms() {
        let check = |host: &str, expected: &str| assert_eq!(ollama_url_from_host(host), expected, "{host}");
        check("0.0.0.0", "http://127.0.0.1:11434");
        check("127.0.0.1:9999", "http://127.0.0.1:9999");
        check(":11500", "http://127.0.0.1:11500");
        check("http://gpu-box:8080/", "http://gpu-box:8080");
        check("https://ollama.example", "https://ollama.example:11434");
        check("gpu-box", "http://gpu-box:11434");
    }

    #[test]
    fn ollama_host_sets_default_backend_and_lang_sets_language() {
        let env = Environment {
            ollama_host: Some("127.0.0.1:5000".into()),
            lang: Some("de_DE.UTF-8".into()),
            ..Environment::default()
        };
        let c = Config::defaults(&env);
        assert_eq!(c.backends["local"].url(), "http://127.0.0.1:5000");
        assert_eq!(c.language, Language::De);
    }

    #[test]
    fn lookup_order() {
        let dir = tempfile::tempdir().unwrap();
        let xdg = dir.path().join("xdg");
        std::fs::create_dir_all(xdg.join("llm-router-lsp")).unwrap();
        let xdg_file = xdg.join("llm-router-lsp/config.yaml");
        let mut env = Environment { xdg_config_home: Some(xdg.clone()), ..Environment::default() };
        assert_eq!(locate(None, &env), None, "no file: defaults");
        std::fs::write(&xdg_file, "language: de\n").unwrap();
        assert_eq!(locate(None, &env), Some((xdg_file.clone(), false)));
        env.config_path = Some(PathBuf::from("/env.yaml"));
        assert_eq!(locate(None, &env), Some((PathBuf::from("/env.yaml"), true)));
        assert_eq!(locate(Some(Path::new("/flag.yaml")), &env), Some((PathBuf::from("/flag.yaml"), true)));
        env.config_path = None;
        let (c, source) = super::load(None, &env).unwrap();
        assert_eq!(c.language, Language::De);
        assert_eq!(source, ConfigSource::File(xdg_file));
    }

    #[test]
    fn hostile_yaml_is_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
            bomb.push_str(&format!("l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(load(&bomb).is_err());
        let deep = format!("models: {}{}", "[".repeat(200), "]".repeat(200));
        assert!(load(&deep).is_err());
    }

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(load("# nothing\n\n").unwrap(), Config::defaults(&env()));
    }
}
