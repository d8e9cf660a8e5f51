//! Where the config file is, reading and parsing it, and where the result came from.

use std::fmt;
use std::path::{Path, PathBuf};

use super::*;

fn parse_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    // A config file is small and flat; anything far beyond these is an attack or a mistake.
    if let Some(b) = options.budget.as_mut() {
        b.max_depth = 32;
        b.max_nodes = 50_000;
        b.max_aliases = 1_000;
        b.max_anchors = 1_000;
        b.max_documents = 1;
        b.max_total_scalar_bytes = MAX_CONFIG_BYTES as usize;
    }
    options
}

/// Parses YAML text into the file schema; errors carry `path:line:column`.
pub fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    // An empty file (or one of comments only) means "all defaults".
    if text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    }) {
        return Ok(FileConfig::default());
    }
    serde_saphyr::from_str_with_options::<FileConfig>(text, parse_options()).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        ConfigError::Parse { path: path.to_path_buf(), line, column, message: clean_message(&e.to_string()) }
    })
}

/// serde-saphyr prefixes its own location; ours comes first, so drop theirs.
fn clean_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let mut msg = first;
    for prefix in ["error: ", "Error: "] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            msg = rest;
        }
    }
    if let Some(idx) = msg.find(" at line ") {
        msg = &msg[..idx];
    }
    msg.trim_end_matches(':').trim().to_string()
}

/// Where the effective configuration came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    File(PathBuf),
    Defaults,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Defaults => f.write_str("built-in defaults"),
        }
    }
}

/// The config file to read: `--config`, then `$LLM_ROUTER_LSP_CONFIG`, then the XDG path if
/// it exists. `None` means built-in defaults. An explicitly named file must exist.
pub fn locate(explicit: Option<&Path>, env: &Environment) -> Option<(PathBuf, bool)> {
    if let Some(p) = explicit {
        return Some((p.to_path_buf(), true));
    }
    if let Some(p) = &env.config_path {
        return Some((p.clone(), true));
    }
    let base = env.xdg_config_home.clone().or_else(|| env.home.as_ref().map(|h| h.join(".config")))?;
    let p = base.join("llm-router-lsp").join("config.yaml");
    p.is_file().then_some((p, false))
}

/// Reads and resolves the configuration following the lookup order.
pub fn load(explicit: Option<&Path>, env: &Environment) -> Result<(Config, ConfigSource), ConfigError> {
    match locate(explicit, env) {
        None => Ok((Config::defaults(env), ConfigSource::Defaults)),
        Some((path, _)) => {
            let config = load_file(&path, env)?;
            Ok((config, ConfigSource::File(path)))
        }
    }
}

pub fn load_file(path: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let read_err = |source| ConfigError::Read { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge { path: path.to_path_buf(), size: meta.len() });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    load_str(&text, path, env)
}

pub fn load_str(text: &str, path: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let file = parse_file(text, path)?;
    Config::defaults(env).apply(file, path)
}
