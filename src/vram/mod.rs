//! GPU memory: probes behind one trait, and the check before loading a bigger model.

mod probes;

use std::fmt;

use async_trait::async_trait;
use serde::Serialize;

pub use probes::{AmdProbe, AutoProbe, CommandProbe, NoProbe, NvmlProbe, probe_from_config};

#[derive(Debug, thiserror::Error)]
pub enum VramError {
    #[error("NVML unavailable: {0}")]
    Nvml(String),
    #[error("no AMD GPU with VRAM counters under {0}")]
    NoAmdGpu(String),
    #[error("cannot read {path}: {source}")]
    Sysfs {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("VRAM command `{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("VRAM command `{command}` printed {output:?}; expected `USED TOTAL` in MiB per line")]
    CommandOutput { command: String, output: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceMemory {
    pub name: String,
    pub used_bytes: u64,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VramReading {
    pub probe: String,
    pub devices: Vec<DeviceMemory>,
    /// Why there is nothing to read ("no GPU found"), when `devices` is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl VramReading {
    pub fn empty(probe: &str, note: &str) -> Self {
        Self { probe: probe.to_string(), devices: Vec::new(), note: Some(note.to_string()) }
    }

    pub fn used(&self) -> u64 {
        self.devices.iter().map(|d| d.used_bytes).sum()
    }

    pub fn total(&self) -> u64 {
        self.devices.iter().map(|d| d.total_bytes).sum()
    }

    /// Used over total across all devices; 0.0 without a GPU, as in the spec.
    pub fn usage(&self) -> f64 {
        let total = self.total();
        if total == 0 { 0.0 } else { self.used() as f64 / total as f64 }
    }
}

impl fmt::Display for VramReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.devices.is_empty() {
            return write!(f, "{}: usage 0.0 ({})", self.probe, self.note.as_deref().unwrap_or("no devices"));
        }
        for d in &self.devices {
            writeln!(
                f,
                "{}: {}: {} / {} MiB ({:.1}%)",
                self.probe,
                d.name,
                d.used_bytes / MIB,
                d.total_bytes / MIB,
                if d.total_bytes == 0 { 0.0 } else { d.used_bytes as f64 * 100.0 / d.total_bytes as f64 }
            )?;
        }
        write!(
            f,
            "{}: total: {} / {} MiB ({:.1}%)",
            self.probe,
            self.used() / MIB,
            self.total() / MIB,
            self.usage() * 100.0
        )
    }
}

pub const MIB: u64 = 1024 * 1024;

#[async_trait]
pub trait VramProbe: Send + Sync {
    fn name(&self) -> &'static str;
    async fn read(&self) -> Result<VramReading, VramError>;
}

/// What loading the target model will add to VRAM, from the best source known.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "source", content = "bytes", rename_all = "snake_case")]
pub enum ModelCost {
    /// Loaded already (Ollama `/api/ps`): costs nothing more.
    AlreadyLoaded,
    /// The backend's own figure for the pulled model (`/api/tags`).
    Reported(u64),
    /// The config's `vram_usage` estimate.
    Estimated(u64),
    Unknown,
}

impl ModelCost {
    fn bytes(self) -> Option<u64> {
        match self {
            ModelCost::AlreadyLoaded => Some(0),
            ModelCost::Reported(b) | ModelCost::Estimated(b) => Some(b),
            ModelCost::Unknown => None,
        }
    }
}

/// The outcome of the check before a switch to a bigger model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VramAssessment {
    pub usage: f64,
    /// Usage after loading the model, when its cost and the GPU's size are known.
    pub predicted: Option<f64>,
    pub cost: ModelCost,
    pub threshold: f64,
    pub warn: bool,
}

/// Warn when usage is above the threshold now, or would be after loading the model. A
/// model that is loaded already is no switch and never warns.
pub fn assess(reading: &VramReading, cost: ModelCost, threshold: f64) -> VramAssessment {
    let usage = reading.usage();
    let total = reading.total();
    let predicted = match cost.bytes() {
        Some(extra) if total > 0 => Some((reading.used() + extra) as f64 / total as f64),
        _ => None,
    };
    let warn = total > 0
        && cost != ModelCost::AlreadyLoaded
        && (usage > threshold || predicted.is_some_and(|p| p > threshold));
    VramAssessment { usage, predicted, cost, threshold, warn }
}

/// Whether a backend URL points at this machine, where its models use our GPU.
pub fn is_local_url(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * MIB;

    fn reading(used_gib: u64, total_gib: u64) -> VramReading {
        VramReading {
            probe: "test".into(),
            devices: vec![DeviceMemory {
                name: "gpu0".into(),
                used_bytes: used_gib * GIB,
                total_bytes: total_gib * GIB,
            }],
            note: None,
        }
    }

    #[test]
    fn prediction_table() {
        // (used, total, cost, warn, predicted percent)
        let check = |used: u64, total: u64, cost: ModelCost, warn: bool, predicted: Option<u64>| {
            let a = assess(&reading(used, total), cost, 0.8);
            assert_eq!(a.warn, warn, "{used}/{total} {cost:?}");
            assert_eq!(a.predicted.map(|p| (p * 100.0).round() as u64), predicted, "{used}/{total} {cost:?}");
        };
        check(8, 48, ModelCost::Reported(20 * GIB), false, Some(58));
        check(8, 24, ModelCost::Reported(20 * GIB), true, Some(117));
        check(8, 24, ModelCost::Estimated(22 * GIB), true, Some(125));
        check(40, 48, ModelCost::Unknown, true, None);
        check(30, 48, ModelCost::Unknown, false, None);
        check(45, 48, ModelCost::AlreadyLoaded, false, Some(94));
        check(39, 48, ModelCost::Reported(GIB / 2), true, Some(82));
    }

    #[test]
    fn no_gpu_is_zero_and_never_warns() {
        let r = VramReading::empty("auto", "no GPU found");
        assert_eq!(r.usage(), 0.0);
        let a = assess(&r, ModelCost::Estimated(42 * GIB), 0.8);
        assert!(!a.warn);
        assert_eq!(a.predicted, None);
    }

    #[test]
    fn several_gpus_sum() {
        let mut r = reading(10, 24);
        r.devices.push(DeviceMemory { name: "gpu1".into(), used_bytes: 20 * GIB, total_bytes: 24 * GIB });
        assert_eq!(r.used(), 30 * GIB);
        assert_eq!(r.total(), 48 * GIB);
        assert!((r.usage() - 0.625).abs() < 1e-9);
    }

    #[test]
    fn local_urls() {
        for (url, local) in [
            ("http://127.0.0.1:11434", true),
            ("http://localhost:11434", true),
            ("http://[::1]:11434", true),
            ("http://127.0.0.2:80", true),
            ("http://10.0.0.5:11434", false),
            ("https://gpu.example.org", false),
            ("not a url", false),
        ] {
            assert_eq!(is_local_url(url), local, "{url}");
        }
    }
}
