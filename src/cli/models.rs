//! `vram`, `doctor`, `unload` and `pull`: the machine, the backends and their models.

use std::sync::Arc;

use crate::actions::Pipeline;
use crate::backend::{Backend, PullProgress, same_model};
use crate::config::{self, Config, ConfigSource};
use crate::vocab::ModelTier;
use crate::vram::{self, AmdProbe, CommandProbe, NvmlProbe, VramProbe};

use super::*;

pub(super) async fn vram_command(config: &Config, json: bool) -> Result<(), Failure> {
    let mut results: Vec<(String, Result<vram::VramReading, vram::VramError>)> = Vec::new();
    match NvmlProbe::new() {
        Ok(p) => results.push(("nvml".into(), p.read().await)),
        Err(e) => results.push(("nvml".into(), Err(e))),
    }
    results.push(("amd".into(), AmdProbe::new(config::default_drm_root()).read().await));
    match &config.vram.probe {
        config::ProbeConfig::Command { command } => {
            results.push(("command".into(), CommandProbe::new(command.clone()).read().await))
        }
        config::ProbeConfig::Amd { drm_root } if *drm_root != config::default_drm_root() => {
            results.push((format!("amd ({})", drm_root.display()), AmdProbe::new(drm_root.clone()).read().await))
        }
        _ => {}
    }
    let configured = vram::probe_from_config(&config.vram.probe);
    let configured_reading = configured.read().await;
    if json {
        let entry = |r: &Result<vram::VramReading, vram::VramError>| match r {
            Ok(r) => serde_json::json!({"usage": r.usage(), "reading": r}),
            Err(e) => serde_json::json!({"error": e.to_string()}),
        };
        let probes: serde_json::Map<String, serde_json::Value> =
            results.iter().map(|(n, r)| (n.clone(), entry(r))).collect();
        let v = serde_json::json!({"configured": {"kind": configured.name(), "result": entry(&configured_reading)}, "probes": probes});
        return write_stdout(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
    }
    let mut out = String::new();
    for (name, r) in &results {
        match r {
            Ok(r) => out.push_str(&format!("{r}\n")),
            Err(e) => out.push_str(&format!("{name}: unavailable: {e}\n")),
        }
    }
    match &configured_reading {
        Ok(r) => out.push_str(&format!("configured probe ({}): usage {:.1}%\n", configured.name(), r.usage() * 100.0)),
        Err(e) => out.push_str(&format!("configured probe ({}): failed: {e}\n", configured.name())),
    }
    write_stdout(&out)
}

/// The configured tiers as (tier, model, backend name), each model once per backend.
pub(super) fn configured_models(config: &Config) -> Vec<(ModelTier, String, String)> {
    let mut out: Vec<(ModelTier, String, String)> = Vec::new();
    for tier in [ModelTier::Fast, ModelTier::Code, ModelTier::Heavy] {
        let t = config.tier(tier);
        if !out.iter().any(|(_, m, b)| same_model(m, &t.name) && *b == t.backend) {
            out.push((tier, t.name.clone(), t.backend.clone()));
        }
    }
    out
}

pub(super) async fn doctor(config: Config, source: ConfigSource) -> Result<(), Failure> {
    let mut problems = 0;
    let mut out = format!("config: {source}: OK\n");
    let pipeline = Pipeline::new(config.clone());
    for (name, backend) in pipeline.backends() {
        let used_by: Vec<_> = configured_models(&config).into_iter().filter(|(_, _, b)| b == name).collect();
        if used_by.is_empty() {
            continue;
        }
        match backend.version().await {
            Ok(v) => out.push_str(&format!("backend {name} ({}): reachable, version {v}\n", backend.address())),
            Err(e) => {
                problems += 1;
                out.push_str(&format!("backend {name}: PROBLEM: {e}\n"));
                continue;
            }
        }
        let available = backend.available_models().await.unwrap_or_default();
        let is_ollama = matches!(config.backends.get(name), Some(config::BackendConfig::Ollama { .. }));
        for (tier, model, _) in used_by {
            match available.iter().find(|m| same_model(&m.name, &model)) {
                Some(m) if m.size_bytes > 0 => {
                    out.push_str(&format!("  {tier} model {model}: pulled ({:.1} GB)\n", m.size_bytes as f64 / 1e9))
                }
                Some(_) => out.push_str(&format!("  {tier} model {model}: available\n")),
                None if is_ollama => {
                    problems += 1;
                    out.push_str(&format!(
                        "  {tier} model {model}: PROBLEM: not pulled; run `ollama pull {model}` or `llm-router-lsp pull`\n"
                    ));
                }
                None => {
                    problems += 1;
                    out.push_str(&format!(
                        "  {tier} model {model}: PROBLEM: not served; load it in that server or fix the tier's name (see its /v1/models)\n"
                    ));
                }
            }
        }
    }
    match pipeline.probe().read().await {
        Ok(r) => out.push_str(&format!(
            "VRAM probe {}: usage {:.1}%{}\n",
            pipeline.probe().name(),
            r.usage() * 100.0,
            r.note.map(|n| format!(" ({n})")).unwrap_or_default()
        )),
        Err(e) => {
            problems += 1;
            out.push_str(&format!("VRAM probe {}: PROBLEM: {e}\n", pipeline.probe().name()));
        }
    }
    let openai: Vec<&str> = config
        .backends
        .iter()
        .filter(|(_, b)| !matches!(b, config::BackendConfig::Ollama { .. }))
        .map(|(name, _)| name.as_str())
        .collect();
    out.push_str(&if config.lsp.preload {
        let skipped = if openai.is_empty() {
            String::new()
        } else {
            format!("; not for {} (OpenAI-compatible: no load call)", openai.join(", "))
        };
        format!(
            "preload: on (lsp.preload): in the editor, the model a selection goes to loads while you pick an \
             action, and the closing message says when it was already warm{skipped}\n"
        )
    } else {
        "preload: off (lsp.preload)\n".to_string()
    });
    let (safety, safety_problems) = crate::safety::external::doctor(&config.safety);
    out.push_str(&safety);
    problems += safety_problems;
    write_stdout(&out)?;
    if problems > 0 {
        return Err(Failure::runtime(format!("{problems} problem(s) found; see above")));
    }
    Ok(())
}

/// The backend that serves `model`: the tier that names it, else the default backend.
pub(super) fn backend_for_model(pipeline: &Pipeline, config: &Config, model: &str) -> Arc<dyn Backend> {
    let name = configured_models(config)
        .into_iter()
        .find(|(_, m, _)| same_model(m, model))
        .map(|(_, _, b)| b)
        .unwrap_or_else(|| config::DEFAULT_BACKEND.to_string());
    Arc::clone(pipeline.backends().get(&name).unwrap_or_else(|| pipeline.backend(&config.models.fast_model.backend)))
}

pub(super) async fn unload(config: Config, model: Option<String>) -> Result<(), Failure> {
    let pipeline = Pipeline::new(config.clone());
    let targets: Vec<(String, Arc<dyn Backend>)> = match model {
        Some(m) => vec![(m.clone(), backend_for_model(&pipeline, &config, &m))],
        None => {
            let mut t = Vec::new();
            for (_, model, backend_name) in configured_models(&config) {
                let backend = Arc::clone(pipeline.backend(&backend_name));
                let loaded = backend.loaded_models().await.map_err(|e| Failure::runtime(e.to_string()))?;
                if loaded.iter().any(|l| same_model(&l.name, &model)) {
                    t.push((model, backend));
                }
            }
            if t.is_empty() {
                return write_stdout("no configured model is loaded\n");
            }
            t
        }
    };
    for (model, backend) in targets {
        backend.unload(&model).await.map_err(|e| Failure::runtime(e.to_string()))?;
        write_stdout(&format!("unloaded {model}\n"))?;
    }
    Ok(())
}

pub(super) async fn pull(config: Config, model: Option<String>) -> Result<(), Failure> {
    let pipeline = Pipeline::new(config.clone());
    let targets: Vec<String> = match model {
        Some(m) => vec![m],
        None => configured_models(&config).into_iter().map(|(_, m, _)| m).collect(),
    };
    let mut failed = Vec::new();
    for model in targets {
        let backend = backend_for_model(&pipeline, &config, &model);
        let bar = indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{prefix} {msg} [{bar:30}] {bytes}/{total_bytes}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(model.clone());
        let result = backend
            .pull(&model, &mut |p: &PullProgress| {
                bar.set_message(p.status.clone());
                if let (Some(total), Some(done)) = (p.total, p.completed) {
                    bar.set_length(total);
                    bar.set_position(done);
                }
            })
            .await;
        bar.finish_and_clear();
        match result {
            Ok(()) => eprintln!("pulled {model}"),
            Err(e) => {
                eprintln!("llm-router-lsp: pulling {model} failed: {e}");
                failed.push(model);
            }
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(Failure::runtime(format!("could not pull: {}", failed.join(", ")))) }
}
