//! `route` and `config check`: what the router decides and whether the config loads, without a model.

use std::path::PathBuf;

use crate::config::{self, Config, ConfigSource, Environment};
use crate::router::RouteRequest;

use super::*;

pub(super) fn config_check(path: Option<&std::path::Path>, env: &Environment) -> Result<(), Failure> {
    let result = match path {
        Some(p) => config::load_file(p, env).map(|_| ConfigSource::File(p.to_path_buf())),
        None => config::load(None, env).map(|(_, s)| s),
    };
    match result {
        Ok(source) => write_stdout(&format!("{source}: OK\n")),
        Err(e) => Err(Failure::usage(e.to_string())),
    }
}

pub(super) fn route(config: Config, query: &QueryArgs, json: bool) -> Result<(), Failure> {
    let text = read_query(&query.query)?;
    let router = crate::router::Router::new(&config.routing, &config.models);
    let decision =
        router.decide(&text, &RouteRequest { task: query.task, language: query.language.as_deref(), tier: query.tier });
    if json {
        let mut v = serde_json::to_value(&decision).map_err(|e| Failure::runtime(e.to_string()))?;
        v["tokens"] = serde_json::json!(decision.tokens.to_string());
        return write_stdout(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
    }
    let mut out =
        format!("tier:    {}\nmodel:   {} (backend {})\nreasons:\n", decision.tier, decision.model, decision.backend);
    for r in &decision.reasons {
        out.push_str(&format!("  - {r}\n"));
    }
    write_stdout(&out)
}

/// `route --eval FILE...`: exit 0 with the report; a file that cannot be read or parsed is
/// a usage error naming the line.
pub(super) fn route_eval(config: Config, files: &[PathBuf]) -> Result<(), Failure> {
    let mut examples = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
        examples.extend(
            crate::router::intent::read_examples(&text)
                .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?,
        );
    }
    let router = crate::router::Router::new(&config.routing, &config.models);
    write_stdout(&crate::router::eval::evaluate(&router, &examples).to_string())
}
