//! Counters for `GET /metrics`, written in the Prometheus text format by hand.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets; `+Inf` follows.
const BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

#[derive(Default)]
struct Histogram {
    /// Observations at or below each bound of [`BUCKETS`] (not yet cumulative).
    buckets: Vec<u64>,
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    /// (tier, outcome) → requests.
    requests: BTreeMap<(String, String), u64>,
    latency: Histogram,
}

/// What `/metrics` reports besides the counters, read at scrape time.
pub struct Gauges {
    pub in_flight: usize,
    pub max_concurrent: usize,
    /// The VRAM probe's usage, or `None` when the probe failed.
    pub vram_usage: Option<f64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one `/infer` request; `tier` is `none` when it was refused before routing.
    pub fn count(&self, tier: &str, outcome: &str) {
        *self.lock().requests.entry((tier.to_string(), outcome.to_string())).or_default() += 1;
    }

    /// Counts a request that reached the model, with its latency.
    pub fn observe(&self, tier: &str, outcome: &str, elapsed: Duration) {
        let mut inner = self.lock();
        *inner.requests.entry((tier.to_string(), outcome.to_string())).or_default() += 1;
        let h = &mut inner.latency;
        if h.buckets.is_empty() {
            h.buckets = vec![0; BUCKETS.len()];
        }
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.buckets[i] += 1;
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The exposition text.
    pub fn render(&self, gauges: &Gauges) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let _ = writeln!(out, "# HELP llm_router_requests_total POST /infer requests by answering tier and outcome.");
        let _ = writeln!(out, "# TYPE llm_router_requests_total counter");
        for ((tier, outcome), n) in &inner.requests {
            let _ = writeln!(
                out,
                "llm_router_requests_total{{tier=\"{}\",outcome=\"{}\"}} {n}",
                escape(tier),
                escape(outcome)
            );
        }
        let h = &inner.latency;
        let _ =
            writeln!(out, "# HELP llm_router_request_seconds Time from routing to the final answer of POST /infer.");
        let _ = writeln!(out, "# TYPE llm_router_request_seconds histogram");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += h.buckets.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "llm_router_request_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "llm_router_request_seconds_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "llm_router_request_seconds_sum {}", h.sum);
        let _ = writeln!(out, "llm_router_request_seconds_count {}", h.count);
        let _ = writeln!(out, "# HELP llm_router_in_flight_requests Model requests being answered now.");
        let _ = writeln!(out, "# TYPE llm_router_in_flight_requests gauge");
        let _ = writeln!(out, "llm_router_in_flight_requests {}", gauges.in_flight);
        let _ = writeln!(out, "# HELP llm_router_max_concurrent Model requests allowed at once (http.max_concurrent).");
        let _ = writeln!(out, "# TYPE llm_router_max_concurrent gauge");
        let _ = writeln!(out, "llm_router_max_concurrent {}", gauges.max_concurrent);
        let _ = writeln!(out, "# HELP llm_router_vram_probe_up Whether the VRAM probe could be read at this scrape.");
        let _ = writeln!(out, "# TYPE llm_router_vram_probe_up gauge");
        let _ = writeln!(out, "llm_router_vram_probe_up {}", u8::from(gauges.vram_usage.is_some()));
        if let Some(usage) = gauges.vram_usage {
            let _ = writeln!(out, "# HELP llm_router_vram_usage_ratio GPU memory used over total, all devices.");
            let _ = writeln!(out, "# TYPE llm_router_vram_usage_ratio gauge");
            let _ = writeln!(out, "llm_router_vram_usage_ratio {usage}");
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_gauges() {
        let m = Metrics::new();
        m.count("none", "bad_request");
        m.observe("fast", "ok", Duration::from_millis(30));
        m.observe("fast", "ok", Duration::from_millis(700));
        m.observe("code", "timeout", Duration::from_secs(1000));
        let text = m.render(&Gauges { in_flight: 1, max_concurrent: 4, vram_usage: Some(0.25) });
        for line in [
            "llm_router_requests_total{tier=\"none\",outcome=\"bad_request\"} 1",
            "llm_router_requests_total{tier=\"fast\",outcome=\"ok\"} 2",
            "llm_router_requests_total{tier=\"code\",outcome=\"timeout\"} 1",
            "llm_router_request_seconds_bucket{le=\"0.05\"} 1",
            "llm_router_request_seconds_bucket{le=\"0.5\"} 1",
            "llm_router_request_seconds_bucket{le=\"1\"} 2",
            "llm_router_request_seconds_bucket{le=\"300\"} 2",
            "llm_router_request_seconds_bucket{le=\"+Inf\"} 3",
            "llm_router_request_seconds_count 3",
            "llm_router_in_flight_requests 1",
            "llm_router_vram_probe_up 1",
            "llm_router_vram_usage_ratio 0.25",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        let text = m.render(&Gauges { in_flight: 0, max_concurrent: 4, vram_usage: None });
        assert!(text.contains("llm_router_vram_probe_up 0") && !text.contains("llm_router_vram_usage_ratio "));
        assert_eq!(escape("a\"b\\"), "a\\\"b\\\\");
    }
}
