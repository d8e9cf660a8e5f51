//! The probes: NVML, AMD sysfs, a user's command, none, and `auto`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use nvml_wrapper::Nvml;

use super::{DeviceMemory, MIB, VramError, VramProbe, VramReading};
use crate::config::ProbeConfig;

const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

pub fn probe_from_config(config: &ProbeConfig) -> Box<dyn VramProbe> {
    match config {
        ProbeConfig::Auto => Box::new(AutoProbe::new()),
        ProbeConfig::Nvml => match NvmlProbe::new() {
            Ok(p) => Box::new(p),
            Err(e) => Box::new(FailedProbe { name: "nvml", message: e.to_string() }),
        },
        ProbeConfig::Amd { drm_root } => Box::new(AmdProbe::new(drm_root.clone())),
        ProbeConfig::Command { command } => Box::new(CommandProbe::new(command.clone())),
        ProbeConfig::None => Box::new(NoProbe),
    }
}

/// NVIDIA GPUs through NVML. `libnvidia-ml.so.1` is loaded at run time; without a driver,
/// construction fails fast.
pub struct NvmlProbe {
    nvml: Nvml,
}

impl NvmlProbe {
    pub fn new() -> Result<Self, VramError> {
        Nvml::init().map(|nvml| Self { nvml }).map_err(|e| VramError::Nvml(e.to_string()))
    }

    fn read_sync(&self) -> Result<VramReading, VramError> {
        let err = |e: nvml_wrapper::error::NvmlError| VramError::Nvml(e.to_string());
        let count = self.nvml.device_count().map_err(err)?;
        let mut devices = Vec::new();
        for i in 0..count {
            let device = self.nvml.device_by_index(i).map_err(err)?;
            let memory = device.memory_info().map_err(err)?;
            let name = device.name().unwrap_or_else(|_| format!("GPU {i}"));
            devices.push(DeviceMemory {
                name: format!("GPU {i} ({name})"),
                used_bytes: memory.used,
                total_bytes: memory.total,
            });
        }
        let mut reading = VramReading { probe: "nvml".into(), devices, note: None };
        if reading.devices.is_empty() {
            reading.note = Some("NVML reports no GPUs".into());
        }
        Ok(reading)
    }
}

#[async_trait]
impl VramProbe for NvmlProbe {
    fn name(&self) -> &'static str {
        "nvml"
    }
    async fn read(&self) -> Result<VramReading, VramError> {
        // NVML queries take microseconds; no need to leave the async thread.
        self.read_sync()
    }
}

/// AMD GPUs through the amdgpu driver's sysfs counters (bytes).
pub struct AmdProbe {
    drm_root: PathBuf,
}

impl AmdProbe {
    pub fn new(drm_root: PathBuf) -> Self {
        Self { drm_root }
    }

    fn read_sync(&self) -> Result<VramReading, VramError> {
        let mut cards: Vec<PathBuf> = std::fs::read_dir(&self.drm_root)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| is_card_dir(p) && p.join("device/mem_info_vram_total").exists())
                    .collect()
            })
            .unwrap_or_default();
        cards.sort();
        if cards.is_empty() {
            return Err(VramError::NoAmdGpu(self.drm_root.display().to_string()));
        }
        let mut devices = Vec::new();
        for card in cards {
            let read = |file: &str| -> Result<u64, VramError> {
                let path = card.join("device").join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| VramError::Sysfs { path: path.display().to_string(), source })?;
                text.trim().parse().map_err(|_| VramError::Sysfs {
                    path: path.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("not a number: {:?}", text.trim()),
                    ),
                })
            };
            devices.push(DeviceMemory {
                name: card.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                used_bytes: read("mem_info_vram_used")?,
                total_bytes: read("mem_info_vram_total")?,
            });
        }
        Ok(VramReading { probe: "amd".into(), devices, note: None })
    }
}

/// `card0`, `card1`, ... but not the connectors `card0-DP-1`.
fn is_card_dir(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("card"))
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
}

#[async_trait]
impl VramProbe for AmdProbe {
    fn name(&self) -> &'static str {
        "amd"
    }
    async fn read(&self) -> Result<VramReading, VramError> {
        self.read_sync()
    }
}

/// A command the user configures that prints `USED TOTAL` in MiB per GPU (commas allowed,
/// as `nvidia-smi --format=csv,noheader,nounits` prints them). Serves any vendor.
pub struct CommandProbe {
    argv: Vec<String>,
}

impl CommandProbe {
    pub fn new(argv: Vec<String>) -> Self {
        Self { argv }
    }

    fn parse(&self, stdout: &str) -> Result<Vec<DeviceMemory>, VramError> {
        let bad =
            || VramError::CommandOutput { command: self.argv.join(" "), output: stdout.chars().take(200).collect() };
        let mut devices = Vec::new();
        for (i, line) in stdout.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            let nums: Vec<f64> = line
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| bad())?;
            let [used, total] = nums[..] else {
                return Err(bad());
            };
            if used < 0.0 || total <= 0.0 || !used.is_finite() || !total.is_finite() {
                return Err(bad());
            }
            devices.push(DeviceMemory {
                name: format!("GPU {i}"),
                used_bytes: (used * MIB as f64) as u64,
                total_bytes: (total * MIB as f64) as u64,
            });
        }
        if devices.is_empty() {
            return Err(bad());
        }
        Ok(devices)
    }
}

#[async_trait]
impl VramProbe for CommandProbe {
    fn name(&self) -> &'static str {
        "command"
    }
    async fn read(&self) -> Result<VramReading, VramError> {
        let command = self.argv.join(" ");
        let fail = |message: String| VramError::Command { command: command.clone(), message };
        let (program, args) = self.argv.split_first().ok_or_else(|| fail("empty command".into()))?;
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail(e.to_string()))?;
        let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
            .await
            .map_err(|_| fail(format!("no answer within {} s", COMMAND_TIMEOUT.as_secs())))?
            .map_err(|e| fail(e.to_string()))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(fail(format!("{}: {}", output.status, stderr.trim())));
        }
        let devices = self.parse(&String::from_utf8_lossy(&output.stdout))?;
        Ok(VramReading { probe: "command".into(), devices, note: None })
    }
}

/// VRAM monitoring off.
pub struct NoProbe;

#[async_trait]
impl VramProbe for NoProbe {
    fn name(&self) -> &'static str {
        "none"
    }
    async fn read(&self) -> Result<VramReading, VramError> {
        Ok(VramReading::empty("none", "VRAM probe disabled (vram.probe.kind: none)"))
    }
}

/// A probe the user asked for that could not start; every read reports why.
struct FailedProbe {
    name: &'static str,
    message: String,
}

#[async_trait]
impl VramProbe for FailedProbe {
    fn name(&self) -> &'static str {
        self.name
    }
    async fn read(&self) -> Result<VramReading, VramError> {
        Err(VramError::Nvml(self.message.clone()))
    }
}

/// NVML, then AMD sysfs; with neither, no GPU: usage 0.0, and the reading says so.
pub struct AutoProbe {
    nvml: Result<NvmlProbe, String>,
    amd: AmdProbe,
}

impl AutoProbe {
    pub fn new() -> Self {
        Self {
            nvml: NvmlProbe::new().map_err(|e| e.to_string()),
            amd: AmdProbe::new(crate::config::default_drm_root()),
        }
    }
}

impl Default for AutoProbe {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl VramProbe for AutoProbe {
    fn name(&self) -> &'static str {
        "auto"
    }
    async fn read(&self) -> Result<VramReading, VramError> {
        if let Ok(nvml) = &self.nvml
            && let Ok(r) = nvml.read_sync()
            && !r.devices.is_empty()
        {
            return Ok(r);
        }
        match self.amd.read_sync() {
            Ok(r) => Ok(r),
            Err(amd) => {
                let nvml = match &self.nvml {
                    Ok(_) => "NVML reports no GPUs".to_string(),
                    Err(e) => e.clone(),
                };
                Ok(VramReading::empty("auto", &format!("no GPU found ({nvml}; {amd})")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_output_formats() {
        let p = CommandProbe::new(vec!["x".into()]);
        let check = |out: &str, expected: Option<Vec<(u64, u64)>>| {
            let got = p
                .parse(out)
                .ok()
                .map(|d| d.iter().map(|d| (d.used_bytes / MIB, d.total_bytes / MIB)).collect::<Vec<_>>());
            assert_eq!(got, expected, "{out:?}");
        };
        check("9000 10000\n", Some(vec![(9000, 10000)]));
        check("9000, 24576\n1024, 24576\n", Some(vec![(9000, 24576), (1024, 24576)]));
        check("  512\t8192  ", Some(vec![(512, 8192)]));
        check("", None);
        check("9000\n", None);
        check("a b\n", None);
        check("1 0\n", None);
        check("1 2 3\n", None);
    }

    #[tokio::test]
    async fn command_probe_runs_and_reports_failures() {
        let ok = CommandProbe::new(vec!["echo".into(), "9000 10000".into()]).read().await.unwrap();
        assert_eq!(ok.devices.len(), 1);
        assert!((ok.usage() - 0.9).abs() < 1e-9);
        let missing = CommandProbe::new(vec!["/nonexistent/vram-tool".into()]).read().await.unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/vram-tool"), "{missing}");
        let failing = CommandProbe::new(vec!["false".into()]).read().await.unwrap_err();
        assert!(failing.to_string().contains("failed"), "{failing}");
    }

    #[tokio::test]
    async fn amd_sysfs_cards() {
        let dir = tempfile::tempdir().unwrap();
        for (card, used, total) in
            [("card0", 2 * 1024 * MIB, 8 * 1024 * MIB), ("card1", 6 * 1024 * MIB, 8 * 1024 * MIB)]
        {
            let dev = dir.path().join(card).join("device");
            std::fs::create_dir_all(&dev).unwrap();
            std::fs::write(dev.join("mem_info_vram_used"), format!("{used}\n")).unwrap();
            std::fs::write(dev.join("mem_info_vram_total"), format!("{total}\n")).unwrap();
        }
        // A connector directory is not a card.
        std::fs::create_dir_all(dir.path().join("card0-DP-1")).unwrap();
        let r = AmdProbe::new(dir.path().to_path_buf()).read().await.unwrap();
        assert_eq!(r.devices.len(), 2);
        assert!((r.usage() - 0.5).abs() < 1e-9);

        let empty = tempfile::tempdir().unwrap();
        assert!(AmdProbe::new(empty.path().to_path_buf()).read().await.is_err());
    }

    #[tokio::test]
    async fn auto_without_gpu_reads_zero() {
        // This machine has no GPU driver; on one that has, auto reports real devices.
        let r = AutoProbe::new().read().await.unwrap();
        if r.devices.is_empty() {
            assert_eq!(r.usage(), 0.0);
            assert!(r.note.as_deref().unwrap_or("").contains("no GPU found"), "{r:?}");
        } else {
            assert!(r.total() > 0);
        }
    }
}
