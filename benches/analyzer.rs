//! How long routing takes: `Router::decide` in both routing modes (`intent`, the default,
//! and `keywords`, the spec's rule as before the classifier) and `QueryAnalyzer::analyze`,
//! on a short query, a 10 KB selection and a 1 MB selection.
//!
//! `cargo bench --bench analyzer`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use llm_router_lsp::config::{Config, Environment, RoutingMode};
use llm_router_lsp::router::{RouteRequest, Router, tokens};

const SHORT: &str = "grep all errors in /var/log/syslog and count them";

/// Shell script and prose, as a selection in an editor might hold.
const SAMPLE: &str = r#"#!/usr/bin/env bash
# Rotate the application logs and keep the last seven days.
set -euo pipefail

LOG_DIR="/var/log/myapp"
ARCHIVE="/srv/archive/$(date +%Y-%m-%d)"

mkdir -p "$ARCHIVE"
find "$LOG_DIR" -name '*.log' -mtime +7 -print0 | xargs -0 -r gzip -9
for f in "$LOG_DIR"/*.log.gz; do
    [ -e "$f" ] || continue
    mv -- "$f" "$ARCHIVE/" && echo "archived $f"
done
sudo systemctl reload myapp.service
journalctl -u myapp --since "1 hour ago" | grep -iE 'error|warn' | awk '{print $5}' | sort | uniq -c

The script above runs every night from cron. It compresses the log files that are older
than a week, moves them to the archive volume and asks the service to reopen its log
files. If the archive volume is not mounted the move fails and the script stops, because
of the strict mode set at the top. The last line summarises the warnings and errors of
the past hour, counted by the process that wrote them, so that the morning report shows
at a glance whether anything went wrong during the night.

"#;

/// `SAMPLE` repeated to exactly `len` bytes (it is ASCII, so any cut is a char boundary).
fn selection(len: usize) -> String {
    let mut s = SAMPLE.repeat(len / SAMPLE.len() + 1);
    s.truncate(len);
    s
}

fn inputs() -> Vec<(&'static str, String)> {
    vec![("short", SHORT.to_string()), ("10KB", selection(10 * 1024)), ("1MB", selection(1024 * 1024))]
}

fn bench(c: &mut Criterion) {
    let config = Config::defaults(&Environment::default());
    let router = Router::new(&config.routing, &config.models);
    let mut keywords = config.routing.clone();
    keywords.mode = RoutingMode::Keywords;
    let keyword_router = Router::new(&keywords, &config.models);
    // Load the tokenizer (tens of ms) before anything is measured.
    black_box(tokens::count(&selection(10 * 1024)));
    let inputs = inputs();

    let mut group = c.benchmark_group("decide");
    for (name, text) in &inputs {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| router.decide(black_box(text), &RouteRequest::default()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("decide_keywords_mode");
    for (name, text) in &inputs {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| keyword_router.decide(black_box(text), &RouteRequest::default()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("analyze");
    for (name, text) in &inputs {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), text, |b, text| {
            b.iter(|| router.analyzer().analyze(black_box(text)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
