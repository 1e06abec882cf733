//! The machine record: what ran a measurement, for `run.json`.
//!
//! Contract: [`Machine::probe`] never fails. A field that cannot be read says
//! `"unknown"` (strings) or `None` (numbers), and `gpu_note` says why no GPU is
//! listed; nothing is guessed. Sources: `/proc/cpuinfo` (CPU model, logical
//! cores), `/proc/meminfo` (`MemTotal`), `/etc/os-release` (`PRETTY_NAME`),
//! `/proc/sys/kernel/osrelease` (kernel, as `uname -r`), NVML (GPU names and
//! driver), and values fixed at build time by `build.rs`: the rustc version,
//! the git commit (`-dirty` when the tree had changes) and the lab version.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// What ran a measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name, e.g. `AMD EPYC 7B13`.
    pub cpu_model: String,
    /// Logical CPUs the kernel lists (`processor` entries of `/proc/cpuinfo`).
    pub logical_cores: usize,
    /// CPUs this process may use (affinity and cgroup quota), as
    /// `std::thread::available_parallelism` reports.
    pub available_parallelism: usize,
    /// Threads the run used (a parameter of the run, recorded as given).
    pub threads_used: usize,
    /// Total RAM in bytes (`MemTotal`), when readable.
    pub ram_bytes: Option<u64>,
    /// Operating system, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub os: String,
    /// Kernel release, as `uname -r` prints it.
    pub kernel: String,
    /// GPU names, from NVML; empty without NVML.
    pub gpus: Vec<String>,
    /// NVIDIA driver version, from NVML.
    pub gpu_driver: Option<String>,
    /// Why `gpus` is empty, when it is.
    pub gpu_note: Option<String>,
    /// `rustc --version` of the compiler that built the lab.
    pub rustc: String,
    /// The lab's version (the workspace version).
    pub lab_version: String,
    /// `git rev-parse --short HEAD` at build time, `-dirty` if the tree had
    /// changes, `unknown` outside git.
    pub git_commit: String,
}

impl Machine {
    /// Reads the record of this machine; `threads_used` is recorded as given.
    pub fn probe(threads_used: usize) -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let (cpu_model, processors) = cpuinfo.as_deref().map(parse_cpuinfo).unwrap_or((None, 0));
        let available_parallelism = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (gpus, gpu_driver, gpu_note) = match probe_gpus() {
            Ok((names, driver)) if names.is_empty() => {
                (names, Some(driver), Some("NVML lists no GPU".to_owned()))
            }
            Ok((names, driver)) => (names, Some(driver), None),
            Err(reason) => (Vec::new(), None, Some(reason)),
        };
        Machine {
            cpu_model: cpu_model.unwrap_or_else(unknown),
            logical_cores: if processors > 0 {
                processors
            } else {
                available_parallelism
            },
            available_parallelism,
            threads_used,
            ram_bytes: read("/proc/meminfo").as_deref().and_then(parse_meminfo),
            os: read("/etc/os-release")
                .as_deref()
                .and_then(parse_os_release)
                .unwrap_or_else(unknown),
            kernel: read("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(unknown),
            gpus,
            gpu_driver,
            gpu_note,
            rustc: env!("HARNESS_RUSTC_VERSION").to_owned(),
            lab_version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: env!("HARNESS_GIT_COMMIT").to_owned(),
        }
    }
}

fn unknown() -> String {
    "unknown".to_owned()
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// GPU names and driver version from NVML, or why they cannot be read.
pub fn probe_gpus() -> Result<(Vec<String>, String), String> {
    let nvml = nvml_wrapper::Nvml::init().map_err(|e| format!("no NVML library ({e})"))?;
    let driver = nvml
        .sys_driver_version()
        .map_err(|e| format!("NVML: no driver version ({e})"))?;
    let count = nvml
        .device_count()
        .map_err(|e| format!("NVML: no device count ({e})"))?;
    let names = (0..count)
        .map(|i| {
            nvml.device_by_index(i)
                .and_then(|d| d.name())
                .unwrap_or_else(|e| format!("GPU {i} (name unreadable: {e})"))
        })
        .collect();
    Ok((names, driver))
}

/// The CPU model (`model name`, else ARM's `Hardware` or `Processor`) and the
/// number of `processor` entries of a `/proc/cpuinfo` text.
pub fn parse_cpuinfo(text: &str) -> (Option<String>, usize) {
    let mut model = None;
    let mut fallback = None;
    let mut processors = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => processors += 1,
            "model name" if model.is_none() && !value.is_empty() => model = Some(value.to_owned()),
            "Hardware" | "Processor" if fallback.is_none() && !value.is_empty() => {
                fallback = Some(value.to_owned())
            }
            _ => {}
        }
    }
    (model.or(fallback), processors)
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// `PRETTY_NAME` (else `NAME` and `VERSION`) of an `/etc/os-release` text.
pub fn parse_os_release(text: &str) -> Option<String> {
    let field = |key: &str| {
        text.lines().find_map(|l| {
            let value = l.strip_prefix(key)?.strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_owned())
        })
    };
    field("PRETTY_NAME").filter(|s| !s.is_empty()).or_else(|| {
        let name = field("NAME")?;
        Some(match field("VERSION") {
            Some(v) => format!("{name} {v}"),
            None => name,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_filled_on_this_machine() {
        let m = Machine::probe(2);
        println!("{}", serde_json::to_string_pretty(&m).unwrap());
        assert_ne!(m.cpu_model, "unknown");
        assert!(m.logical_cores >= 1 && m.available_parallelism >= 1);
        assert_eq!(m.threads_used, 2);
        assert!(m.ram_bytes.is_some_and(|b| b > 1 << 20));
        assert_ne!(m.os, "unknown");
        assert_ne!(m.kernel, "unknown");
        assert!(m.rustc.starts_with("rustc "), "{}", m.rustc);
        assert_eq!(m.lab_version, env!("CARGO_PKG_VERSION"));
        assert!(!m.git_commit.is_empty());
        assert!(m.gpus.is_empty() == m.gpu_note.is_some());
    }

    #[test]
    fn record_round_trips_through_json() {
        let m = Machine::probe(1);
        let json = serde_json::to_string(&m).unwrap();
        let back: Machine = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn parses_x86_and_arm_cpuinfo() {
        let x86 = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(parse_cpuinfo(x86), (Some("AMD EPYC 7B13".into()), 2));
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\n\nprocessor\t: 1\n\nHardware\t: BCM2835\n";
        assert_eq!(parse_cpuinfo(arm), (Some("BCM2835".into()), 2));
        assert_eq!(parse_cpuinfo(""), (None, 0));
    }

    #[test]
    fn parses_meminfo_and_os_release() {
        let meminfo = "MemTotal:       24683656 kB\nMemFree:        20754900 kB\n";
        assert_eq!(parse_meminfo(meminfo), Some(24_683_656 * 1024));
        assert_eq!(parse_meminfo("MemFree: 1 kB\n"), None);
        assert_eq!(parse_meminfo("MemTotal: lots kB\n"), None);
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n";
        assert_eq!(
            parse_os_release(debian).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        let bare = "NAME=Alpine\nVERSION=3.20\n";
        assert_eq!(parse_os_release(bare).as_deref(), Some("Alpine 3.20"));
        assert_eq!(parse_os_release(""), None);
    }
}
