//! Energy meters: joules and average watts around a measured region.
//!
//! Contract: an [`EnergyMeter`] reports a cumulative energy counter in µJ that
//! never decreases while it is open (hardware wrap-around is undone inside).
//! [`Meter::begin`] and [`Meter::end`] difference every counter around a region
//! and give one [`Energy`] per meter, with the region's wall time, so average
//! watts = joules / seconds. Where no counter exists, [`detect`] returns
//! [`Meter::Unavailable`] with the reason, and `begin` fails with that reason:
//! no figure is ever made up.
//!
//! Backends:
//!
//! - **RAPL** ([`Rapl`]): CPU package energy from the Linux powercap interface,
//!   `<root>/intel-rapl:<N>/energy_uj` for each package zone `N` (AMD Zen
//!   packages appear under the same `intel-rapl` zones since Linux 5.8), summed
//!   over packages. Sub-zones (`intel-rapl:N:M`: core, uncore, dram) are parts
//!   of a package and not added again; `intel-rapl-mmio` zones duplicate the
//!   package counter and are ignored. The counter wraps at
//!   `max_energy_range_uj`; a wrap is undone if at most one happens between two
//!   reads (hours at package power). Since Linux 5.10 `energy_uj` is readable by
//!   root only; an unreadable file makes RAPL unavailable with that reason.
//! - **NVML** ([`Nvml`]): GPU energy from `nvmlDeviceGetTotalEnergyConsumption`
//!   (mJ since the driver loaded, Volta and later), summed over the GPUs that
//!   report it and that `CUDA_VISIBLE_DEVICES` gives this process
//!   ([`visible`]), via `nvml-wrapper`, which loads `libnvidia-ml.so.1` at run time
//!   and returns an error (never panics) when it is missing. The caller must
//!   synchronize the device before `begin` and before `end`. The counter is
//!   updated about every 10–100 ms, so regions must be long enough (repeat the
//!   call) for the difference to mean something.

use std::path::{Path, PathBuf};
use std::time::Instant;

use thiserror::Error;

/// A cumulative energy counter.
pub trait EnergyMeter: Send {
    /// What is measured, e.g. `RAPL package-0+package-1` or `NVML NVIDIA H200`.
    fn name(&self) -> &str;
    /// Energy in µJ since an arbitrary origin; non-decreasing while the meter lives.
    fn read_uj(&mut self) -> Result<u64, PowerError>;
}

/// Why energy could not be measured.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PowerError {
    /// No meter exists on this machine.
    #[error("energy unavailable: {reason}")]
    Unavailable { reason: String },
    /// A meter that opened could not be read.
    #[error("{meter}: reading the energy counter failed: {reason}")]
    Read { meter: String, reason: String },
}

/// Energy spent during a region by one meter.
#[derive(Debug, Clone, PartialEq)]
pub struct Energy {
    /// The meter's [`EnergyMeter::name`].
    pub meter: String,
    /// Energy in joules.
    pub joules: f64,
    /// Wall time of the region in seconds.
    pub seconds: f64,
}

impl Energy {
    /// Average power in watts; `None` for a region of zero duration.
    pub fn watts(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.joules / self.seconds)
    }
}

/// An open region: the counters and the clock at [`Meter::begin`].
#[derive(Debug, Clone)]
pub struct Region {
    start: Instant,
    start_uj: Vec<u64>,
}

/// The meters of this machine, or why there are none.
pub enum Meter {
    /// At least one meter; `missing` says why the other backends are absent.
    Available {
        meters: Vec<Box<dyn EnergyMeter>>,
        missing: Vec<String>,
    },
    /// No meter; the reason names every backend tried.
    Unavailable { reason: String },
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Meter {
    /// `meters` as a meter set; `Unavailable` when empty.
    pub fn from_meters(meters: Vec<Box<dyn EnergyMeter>>, missing: Vec<String>) -> Self {
        if meters.is_empty() {
            Meter::Unavailable {
                reason: if missing.is_empty() {
                    "no meter".to_owned()
                } else {
                    missing.join("; ")
                },
            }
        } else {
            Meter::Available { meters, missing }
        }
    }

    /// Whether at least one meter can be read.
    pub fn is_available(&self) -> bool {
        matches!(self, Meter::Available { .. })
    }

    /// One line for a report: the meters, or `unavailable: <reason>`.
    pub fn describe(&self) -> String {
        match self {
            Meter::Available { meters, missing } => {
                let names: Vec<&str> = meters.iter().map(|m| m.name()).collect();
                let mut s = names.join(" + ");
                if !missing.is_empty() {
                    s.push_str(&format!(" (not measured: {})", missing.join("; ")));
                }
                s
            }
            Meter::Unavailable { reason } => format!("unavailable: {reason}"),
        }
    }

    /// Reads every counter and starts the clock.
    pub fn begin(&mut self) -> Result<Region, PowerError> {
        let meters = self.meters()?;
        let start_uj = meters
            .iter_mut()
            .map(|m| m.read_uj())
            .collect::<Result<_, _>>()?;
        Ok(Region {
            start: Instant::now(),
            start_uj,
        })
    }

    /// Stops the clock, reads every counter again; one [`Energy`] per meter.
    pub fn end(&mut self, region: Region) -> Result<Vec<Energy>, PowerError> {
        let seconds = region.start.elapsed().as_secs_f64();
        let meters = self.meters()?;
        assert_eq!(
            region.start_uj.len(),
            meters.len(),
            "region from another meter set"
        );
        meters
            .iter_mut()
            .zip(region.start_uj)
            .map(|(m, start)| {
                let now = m.read_uj()?;
                Ok(Energy {
                    meter: m.name().to_owned(),
                    joules: now.saturating_sub(start) as f64 * 1e-6,
                    seconds,
                })
            })
            .collect()
    }

    fn meters(&mut self) -> Result<&mut Vec<Box<dyn EnergyMeter>>, PowerError> {
        match self {
            Meter::Available { meters, .. } => Ok(meters),
            Meter::Unavailable { reason } => Err(PowerError::Unavailable {
                reason: reason.clone(),
            }),
        }
    }
}

/// Every meter that exists: RAPL under the powercap root `root` (normally
/// `/sys/class/powercap`) and NVML; `Unavailable` with both reasons otherwise.
pub fn detect(root: &Path) -> Meter {
    let mut meters: Vec<Box<dyn EnergyMeter>> = Vec::new();
    let mut missing = Vec::new();
    match Rapl::open(root) {
        Ok(r) => meters.push(Box::new(r)),
        Err(reason) => missing.push(reason),
    }
    match Nvml::open() {
        Ok(n) => meters.push(Box::new(n)),
        Err(reason) => missing.push(reason),
    }
    Meter::from_meters(meters, missing)
}

/// CPU package energy from the powercap interface (see the module docs).
#[derive(Debug)]
pub struct Rapl {
    name: String,
    domains: Vec<RaplDomain>,
}

#[derive(Debug)]
struct RaplDomain {
    /// `<zone>/energy_uj`.
    energy: PathBuf,
    /// The counter wraps to 0 after this value.
    max_range_uj: u64,
    /// The last raw counter value.
    last_raw: u64,
    /// Energy accumulated since open, wraps undone.
    total_uj: u64,
}

impl Rapl {
    /// Opens every package zone `intel-rapl:<N>` under `root`; the error is the
    /// reason RAPL is unavailable.
    pub fn open(root: &Path) -> Result<Self, String> {
        let entries = std::fs::read_dir(root)
            .map_err(|e| format!("no RAPL powercap interface under {} ({e})", root.display()))?;
        let mut zones: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let index = name.strip_prefix("intel-rapl:")?.parse::<u32>().ok()?;
                Some((index, e.path()))
            })
            .collect();
        if zones.is_empty() {
            return Err(format!(
                "no RAPL package zone (intel-rapl:<N>) under {}",
                root.display()
            ));
        }
        zones.sort();
        let mut names = Vec::new();
        let mut domains = Vec::new();
        for (index, zone) in zones {
            let label = std::fs::read_to_string(zone.join("name"))
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| format!("package-{index}"));
            let energy = zone.join("energy_uj");
            let last_raw = read_counter(&energy).map_err(|e| format!("RAPL unreadable: {e}"))?;
            let max_range_uj = read_counter(&zone.join("max_energy_range_uj"))
                .map_err(|e| format!("RAPL unreadable: {e}"))?;
            names.push(label);
            domains.push(RaplDomain {
                energy,
                max_range_uj,
                last_raw,
                total_uj: 0,
            });
        }
        Ok(Rapl {
            name: format!("RAPL {}", names.join("+")),
            domains,
        })
    }

    /// The number of package zones summed.
    pub fn packages(&self) -> usize {
        self.domains.len()
    }
}

impl EnergyMeter for Rapl {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_uj(&mut self) -> Result<u64, PowerError> {
        let mut sum = 0u64;
        for d in &mut self.domains {
            let raw = read_counter(&d.energy).map_err(|reason| PowerError::Read {
                meter: self.name.clone(),
                reason,
            })?;
            d.total_uj += wrapped_delta(d.last_raw, raw, d.max_range_uj);
            d.last_raw = raw;
            sum += d.total_uj;
        }
        Ok(sum)
    }
}

/// The increase from `last` to `now` of a counter that wraps to 0 after `max`,
/// assuming at most one wrap.
fn wrapped_delta(last: u64, now: u64, max: u64) -> u64 {
    if now >= last {
        now - last
    } else {
        max.saturating_sub(last) + now
    }
}

/// Reads a sysfs counter; the error names the file and, for a permission
/// error, the fix.
fn read_counter(path: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
            " (energy_uj is readable by root only since Linux 5.10: run as root or \
             `chmod a+r` it)"
        } else {
            ""
        };
        format!("{}: {e}{hint}", path.display())
    })?;
    text.trim().parse().map_err(|e| {
        format!(
            "{}: `{}` is not a counter ({e})",
            path.display(),
            text.trim()
        )
    })
}

/// GPU energy from NVML, summed over the GPUs that report it.
pub struct Nvml {
    nvml: nvml_wrapper::Nvml,
    devices: Vec<u32>,
    name: String,
}

impl Nvml {
    /// Loads NVML and finds GPUs with an energy counter; the error is the
    /// reason NVML is unavailable.
    pub fn open() -> Result<Self, String> {
        let nvml = nvml_wrapper::Nvml::init().map_err(|e| format!("no NVML library ({e})"))?;
        let count = nvml
            .device_count()
            .map_err(|e| format!("NVML: no device count ({e})"))?;
        let var = std::env::var("CUDA_VISIBLE_DEVICES").ok();
        let visible = visible::parse(var.as_deref());
        let mut devices = Vec::new();
        let mut names = Vec::new();
        for i in 0..count {
            let Ok(device) = nvml.device_by_index(i) else {
                continue;
            };
            let uuid = device.uuid().unwrap_or_default();
            if visible
                .as_ref()
                .is_some_and(|v| !visible::selects(v, i, &uuid))
            {
                continue;
            }
            if device.total_energy_consumption().is_ok() {
                devices.push(i);
                names.push(device.name().unwrap_or_else(|_| format!("GPU {i}")));
            }
        }
        let given = var.map_or(String::new(), |v| format!(" (CUDA_VISIBLE_DEVICES={v})"));
        if devices.is_empty() {
            return Err(format!(
                "NVML loaded but none of the {count} devices{given} is a whole GPU reporting \
                 an energy counter"
            ));
        }
        Ok(Nvml {
            nvml,
            devices,
            name: format!("NVML {}{given}", names.join("+")),
        })
    }
}

impl EnergyMeter for Nvml {
    fn name(&self) -> &str {
        &self.name
    }

    fn read_uj(&mut self) -> Result<u64, PowerError> {
        let mut sum_mj = 0u64;
        for &i in &self.devices {
            let mj = self
                .nvml
                .device_by_index(i)
                .and_then(|d| d.total_energy_consumption())
                .map_err(|e| PowerError::Read {
                    meter: self.name.clone(),
                    reason: format!("GPU {i}: {e}"),
                })?;
            sum_mj += mj;
        }
        Ok(sum_mj.saturating_mul(1000))
    }
}

#[cfg(test)]
mod tests;
pub mod visible;
