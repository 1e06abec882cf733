//! Naming a new run's directory: a UTC stamp, and never a directory that
//! exists (a suite report's `<suite>/<timestamp>-<commit>/`, a training
//! run's `<label>-<timestamp>/`).

use std::path::{Path, PathBuf};

/// The current UTC time as RFC 3339 (seconds) and as the compact stamp that
/// names run directories (`20261205T232250Z`).
pub fn utc_stamp() -> (String, String) {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let stamp = now.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    (now, stamp)
}

/// `parent/base`, or `parent/base-2`, `-3`, … when that exists: a new run
/// never writes into an old one's directory.
pub fn unused_dir(parent: &Path, base: &str) -> PathBuf {
    let mut dir = parent.join(base);
    let mut n = 2;
    while dir.exists() {
        dir = parent.join(format!("{base}-{n}"));
        n += 1;
    }
    dir
}
