//! The module graph stays one-way (see ARCHITECTURE.md): no import cycles between the
//! crate's top-level modules, the vocabulary depends on nothing, and protocol types stay in
//! their face. Read from the sources, outside `#[cfg(test)] mod tests` blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).unwrap();
            let top =
                rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests may reach anywhere; the graph is about the shipped code.
            let shipped = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
            let code: String =
                shipped.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            out.push((top, code));
        }
    }
}

/// `crate::NAME` and `crate::{NAME::…, …}` references per top-level module.
fn graph() -> (Graph, Vec<(String, String)>) {
    let mut files = Vec::new();
    sources(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")), &mut files);
    let mut graph = Graph::new();
    for (top, code) in &files {
        if top == "main" || top == "lib" {
            continue;
        }
        let deps = graph.entry(top.clone()).or_default();
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end].split(',').map(|p| p.trim().split("::").next().unwrap_or("")).collect()
            } else {
                vec![rest.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("")]
            };
            for name in names {
                if !name.is_empty() && name != top && name != "error_chain" && name != "self" {
                    deps.insert(name.to_string());
                }
            }
        }
    }
    (graph, files)
}

/// Every module reachable from `from`, and whether `from` is among them.
fn reaches_itself(graph: &Graph, from: &str) -> Option<Vec<String>> {
    let mut stack: Vec<Vec<String>> = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap();
        for next in graph.get(last).into_iter().flatten() {
            let mut longer = path.clone();
            longer.push(next.clone());
            if next == from {
                return Some(longer);
            }
            if seen.insert(next.clone()) {
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn no_import_cycles_between_modules() {
    let (graph, _) = graph();
    assert!(graph.contains_key("actions") && graph["cli"].contains("actions"), "the scan finds nothing: {graph:?}");
    for module in graph.keys() {
        if let Some(cycle) = reaches_itself(&graph, module) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn layers_depend_downwards() {
    let (graph, _) = graph();
    let check = |module: &str, allowed: &[&str]| {
        let deps = &graph[module];
        let extra: Vec<&String> = deps.iter().filter(|d| !allowed.contains(&d.as_str())).collect();
        assert!(extra.is_empty(), "{module} must not depend on {extra:?}");
    };
    check("vocab", &[]);
    check("config", &["vocab", "safety"]);
    check("router", &["vocab", "config"]);
    check("backend", &["vocab", "config"]);
    check("vram", &["vocab", "config"]);
    check("safety", &["vocab", "config"]);
    check("i18n", &["vocab"]);
    check("actions", &["vocab", "config", "i18n", "router", "vram", "backend", "safety"]);
    // Faces do not use each other, except the command line starting the servers.
    check("lsp", &["vocab", "config", "i18n", "router", "backend", "safety", "actions"]);
    check("http", &["vocab", "config", "i18n", "router", "backend", "safety", "actions"]);
}

#[test]
fn protocol_types_stay_in_their_face() {
    let (_, files) = graph();
    for (top, code) in &files {
        if top != "lsp" {
            assert!(!code.contains("tower_lsp_server") && !code.contains("ls_types"), "LSP types in src/{top}");
        }
        if top != "http" {
            assert!(!code.contains("axum::"), "axum in src/{top}");
        }
    }
}
