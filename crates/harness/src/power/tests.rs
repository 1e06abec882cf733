//! RAPL on a fake powercap tree; region arithmetic on a fake meter; `detect`
//! on this machine.

use std::fs;
use std::path::Path;

use super::*;

/// Writes a powercap zone `root/<zone>` with a name, a counter and a range.
fn zone(root: &Path, zone: &str, name: &str, energy_uj: u64, max_uj: u64) {
    let dir = root.join(zone);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("name"), format!("{name}\n")).unwrap();
    fs::write(dir.join("energy_uj"), format!("{energy_uj}\n")).unwrap();
    fs::write(dir.join("max_energy_range_uj"), format!("{max_uj}\n")).unwrap();
}

fn set_energy(root: &Path, zone: &str, energy_uj: u64) {
    fs::write(root.join(zone).join("energy_uj"), format!("{energy_uj}\n")).unwrap();
}

#[test]
fn rapl_sums_packages_and_ignores_subzones_and_mmio() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    zone(root, "intel-rapl:0", "package-0", 1_000, 1 << 40);
    zone(root, "intel-rapl:1", "package-1", 5_000, 1 << 40);
    zone(root, "intel-rapl:0:0", "core", 100, 1 << 40);
    zone(root, "intel-rapl-mmio:0", "package-0", 7_000, 1 << 40);
    fs::create_dir_all(root.join("intel-rapl")).unwrap(); // the control type dir

    let rapl = Rapl::open(root).unwrap();
    assert_eq!(rapl.packages(), 2);
    assert_eq!(rapl.name(), "RAPL package-0+package-1");
    let mut meter = Meter::from_meters(vec![Box::new(rapl)], vec![]);
    let region = meter.begin().unwrap();
    set_energy(root, "intel-rapl:0", 3_000); // +2000 µJ
    set_energy(root, "intel-rapl:1", 8_000); // +3000 µJ
    set_energy(root, "intel-rapl:0:0", 90_000); // a sub-zone: not added
    set_energy(root, "intel-rapl-mmio:0", 99_000); // a duplicate: not added
    let e = meter.end(region).unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].meter, "RAPL package-0+package-1");
    assert!((e[0].joules - 5_000e-6).abs() < 1e-12, "{e:?}");
    assert!(e[0].seconds >= 0.0);
}

#[test]
fn rapl_undoes_wrap_around() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    zone(root, "intel-rapl:0", "package-0", 9_000, 10_000);
    let mut rapl = Rapl::open(root).unwrap();
    let a = rapl.read_uj().unwrap();
    set_energy(root, "intel-rapl:0", 500); // wrapped: 1000 to the max, then 500
    let b = rapl.read_uj().unwrap();
    assert_eq!(b - a, 1_500);
    set_energy(root, "intel-rapl:0", 2_500); // no wrap
    let c = rapl.read_uj().unwrap();
    assert_eq!(c - b, 2_000);
    assert_eq!(wrapped_delta(10_000, 0, 10_000), 0);
    assert_eq!(wrapped_delta(5, 5, 10), 0);
}

#[test]
fn rapl_unreadable_counter_is_unavailable_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    zone(root, "intel-rapl:0", "package-0", 1, 10);
    // A directory in place of the counter cannot be read, even by root
    // (permission bits would not stop root, who runs these tests in CI).
    let counter = root.join("intel-rapl:0").join("energy_uj");
    fs::remove_file(&counter).unwrap();
    fs::create_dir(&counter).unwrap();
    let reason = Rapl::open(root).unwrap_err();
    assert!(reason.contains("RAPL unreadable"), "{reason}");
    assert!(reason.contains(&counter.display().to_string()), "{reason}");

    fs::remove_dir(&counter).unwrap();
    fs::write(&counter, "not a number").unwrap();
    let reason = Rapl::open(root).unwrap_err();
    assert!(reason.contains("not a counter"), "{reason}");
}

#[test]
fn rapl_missing_interface_gives_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("powercap");
    let reason = Rapl::open(&missing).unwrap_err();
    assert!(
        reason.starts_with("no RAPL powercap interface under"),
        "{reason}"
    );
    let reason = Rapl::open(tmp.path()).unwrap_err();
    assert!(reason.contains("no RAPL package zone"), "{reason}");
}

#[test]
fn counter_read_failure_after_open_is_an_error_not_a_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    zone(root, "intel-rapl:0", "package-0", 1, 10);
    let mut meter = Meter::from_meters(vec![Box::new(Rapl::open(root).unwrap())], vec![]);
    let region = meter.begin().unwrap();
    fs::remove_file(root.join("intel-rapl:0").join("energy_uj")).unwrap();
    let err = meter.end(region).unwrap_err();
    assert!(matches!(err, PowerError::Read { .. }), "{err}");
}

/// A meter that spends a fixed energy per read.
struct Fake(u64);

impl EnergyMeter for Fake {
    fn name(&self) -> &str {
        "fake"
    }
    fn read_uj(&mut self) -> Result<u64, PowerError> {
        self.0 += 2_000_000;
        Ok(self.0)
    }
}

#[test]
fn region_gives_joules_and_watts() {
    let mut meter = Meter::from_meters(vec![Box::new(Fake(0))], vec!["no NVML".into()]);
    assert_eq!(meter.describe(), "fake (not measured: no NVML)");
    let region = meter.begin().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let e = meter.end(region).unwrap();
    assert_eq!(e[0].joules, 2.0);
    let w = e[0].watts().unwrap();
    assert!(w > 0.0 && w <= 2.0 / 0.02, "{w}");
    let zero = Energy {
        meter: "x".into(),
        joules: 1.0,
        seconds: 0.0,
    };
    assert_eq!(zero.watts(), None);
}

#[test]
fn unavailable_meter_refuses_to_measure() {
    let mut meter = Meter::from_meters(vec![], vec!["no RAPL".into(), "no NVML".into()]);
    assert_eq!(meter.describe(), "unavailable: no RAPL; no NVML");
    let err = meter.begin().unwrap_err();
    assert_eq!(
        err,
        PowerError::Unavailable {
            reason: "no RAPL; no NVML".into()
        }
    );
}

#[test]
fn detect_on_an_empty_tree_names_every_backend() {
    let tmp = tempfile::tempdir().unwrap();
    match detect(tmp.path()) {
        Meter::Unavailable { reason } => {
            assert!(reason.contains("RAPL"), "{reason}");
            assert!(reason.contains("NVML"), "{reason}");
        }
        // A GPU machine: NVML exists, RAPL is reported missing.
        Meter::Available { meters, missing } => {
            assert!(meters.iter().all(|m| m.name().starts_with("NVML")));
            assert!(missing.iter().any(|m| m.contains("RAPL")), "{missing:?}");
        }
    }
}

#[test]
fn detect_on_this_machine() {
    let mut meter = detect(Path::new("/sys/class/powercap"));
    println!("power meter on this machine: {}", meter.describe());
    match meter.begin() {
        Ok(region) => {
            std::thread::sleep(std::time::Duration::from_millis(200));
            for e in meter.end(region).unwrap() {
                println!("  {}: {:.3} J in {:.3} s", e.meter, e.joules, e.seconds);
            }
        }
        Err(e) => println!("  {e}"),
    }
}
