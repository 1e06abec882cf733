//! Reports: one new directory per run, `<root>/<suite>/<timestamp>-<commit>/`:
//!
//! - `results.csv`: one row per matrix × method × rank × threads (see
//!   [`crate::records::Row`]), appended and flushed as each row finishes, so an
//!   interrupted run keeps every finished row;
//! - `spectra.csv`: the singular values of every matrix (from the reference SVD);
//! - `run.json`: the machine, versions, seed, suite hash, GEMM rates, energy
//!   meter and the raw timing samples (written at the start with status
//!   "running", rewritten at the end: "complete", or "failed: <reason>" when
//!   the run stopped early);
//! - `summary.md`: the front page, about two screens: each training stage's
//!   verdict in a few sentences with its intervals ([`conclusion`],
//!   [`verdict`]: what ends lower or higher than the comparison run, what is
//!   not distinguishable, the fastest step, the best held-out loss per
//!   second and per byte, what moment transport does to the ranking) and
//!   its table, the fastest method per shape at each accuracy level, the
//!   fastest tracker, links; a run that stopped early still writes it,
//!   ending with what finished and what did not ([`Stopped`]);
//! - `details.md`: every table (definitions, mean ± CI over seeds, the
//!   training runs, every result row, the rows that did not run, every
//!   tracker pass);
//! - `index.html`: the same verdict with its headline figures first, then
//!   every plot with a caption on how to read it ([`html`], drawn by
//!   [`plot`]).
//!
//! `lab report DIR` renders summary.md, details.md and index.html again
//! from a report's own CSV and JSON ([`rerender`]).
//! - with `source = "trajectory"`: `tracking.csv` and
//!   `tracking_summary.csv`, and their sections in `summary.md` and
//!   `index.html` ([`tracking`]).
//!
//! With training runs of several seeds (`seeds`), the conclusion carries
//! paired confidence intervals ([`conclusion`], from [`crate::stats`]) and
//! the loss curves a band over the seeds ([`band`]).

mod band;
mod conclusion;
mod html;
mod paired;
mod plot;
pub mod read;
pub mod rerender;
mod summary;
pub mod tracking;
pub mod training;
mod verdict;

pub use html::write_html;
pub use read::{read_rows, read_trainings};
pub use rerender::rerender;
pub use summary::{Stopped, write_summary};

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::machine::Machine;
use crate::power::Meter;
use crate::records::Row;
use crate::run_dir::{unused_dir, utc_stamp};
use crate::suite::Suite;

/// Writes a run's files as the run goes.
pub struct ReportWriter {
    dir: PathBuf,
    results: csv::Writer<File>,
    spectra: csv::Writer<File>,
    record: RunRecord,
}

/// `run.json`.
#[derive(Debug, Serialize)]
struct RunRecord {
    /// "running", "complete", or "failed: <reason>".
    status: String,
    started: String,
    finished: Option<String>,
    suite: SuiteRecord,
    machine: Machine,
    energy_meter: String,
    /// (threads, GFLOP/s) of faer's f32 GEMM, measured at the start of the run.
    gemm_gflops: Vec<(usize, f64)>,
    samples: Vec<SampleRecord>,
}

#[derive(Debug, Serialize)]
struct SuiteRecord {
    name: String,
    path: String,
    sha256: String,
    seed: u64,
    threads: Vec<usize>,
    warmup: usize,
    repeats: usize,
    ranks: Vec<usize>,
    /// Every training run (`<stage>/<run>`, `/seed-<N>` with `seeds`) and
    /// the seed it trains with.
    training_seeds: Vec<(String, u64)>,
}

#[derive(Debug, Serialize)]
struct SampleRecord {
    matrix: String,
    method: String,
    rank: usize,
    threads: usize,
    seconds: Vec<f64>,
}

impl ReportWriter {
    /// Creates the run's directory (never reusing an existing one) and
    /// writes `run.json` with status "running".
    pub fn create(
        root: &Path,
        suite: &Suite,
        machine: &Machine,
        meter: &Meter,
        gemm_gflops: &[(usize, f64)],
    ) -> anyhow::Result<Self> {
        let (now, stamp) = utc_stamp();
        let dir = unused_dir(
            &root.join(&suite.name),
            &format!("{stamp}-{}", machine.git_commit),
        );
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create report directory {}", dir.display()))?;
        let open = |name: &str| {
            let path = dir.join(name);
            csv::Writer::from_path(&path)
                .with_context(|| format!("cannot create {}", path.display()))
        };
        let results = open("results.csv")?;
        let mut spectra = open("spectra.csv")?;
        spectra.write_record(["matrix", "j", "sigma"])?;
        let record = RunRecord {
            status: "running".into(),
            started: now,
            finished: None,
            suite: SuiteRecord {
                name: suite.name.clone(),
                path: suite.path.display().to_string(),
                sha256: suite.hash.clone(),
                seed: suite.seed,
                threads: suite.threads.clone(),
                warmup: suite.warmup,
                repeats: suite.repeats,
                ranks: suite.ranks.clone(),
                training_seeds: suite
                    .trainings
                    .iter()
                    .map(|t| (t.id(), t.config.seed))
                    .collect(),
            },
            machine: machine.clone(),
            energy_meter: meter.describe(),
            gemm_gflops: gemm_gflops.to_vec(),
            samples: Vec::new(),
        };
        let writer = Self {
            dir,
            results,
            spectra,
            record,
        };
        writer.write_record()?;
        Ok(writer)
    }

    /// The run's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends a row to `results.csv` and flushes it to disk.
    pub fn row(&mut self, row: &Row) -> anyhow::Result<()> {
        self.results.serialize(row)?;
        self.results.flush()?;
        self.record.samples.push(SampleRecord {
            matrix: row.matrix.clone(),
            method: row.method.clone(),
            rank: row.rank,
            threads: row.threads,
            seconds: row.samples_s.clone(),
        });
        Ok(())
    }

    /// Appends a matrix's singular values to `spectra.csv`.
    pub fn spectrum(&mut self, matrix: &str, sigma: &[f64]) -> anyhow::Result<()> {
        for (j, s) in sigma.iter().enumerate() {
            self.spectra
                .write_record([matrix, &(j + 1).to_string(), &format!("{s:e}")])?;
        }
        self.spectra.flush()?;
        Ok(())
    }

    /// Rewrites `run.json` as complete; returns the directory.
    pub fn finish(self) -> anyhow::Result<PathBuf> {
        self.close("complete".into())
    }

    /// Rewrites `run.json` as "failed: <reason>" (a run that stopped early);
    /// returns the directory. The rows already written stay.
    pub fn fail(self, reason: &str) -> anyhow::Result<PathBuf> {
        self.close(format!("failed: {reason}"))
    }

    fn close(mut self, status: String) -> anyhow::Result<PathBuf> {
        self.record.status = status;
        self.record.finished =
            Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
        self.write_record()?;
        Ok(self.dir)
    }

    fn write_record(&self) -> anyhow::Result<()> {
        let path = self.dir.join("run.json");
        let mut f =
            File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        serde_json::to_writer_pretty(&mut f, &self.record)?;
        f.write_all(b"\n")?;
        Ok(())
    }
}

/// Reads the singular values back from `spectra.csv`: matrix → σ.
pub fn read_spectra(dir: &Path) -> anyhow::Result<Vec<(String, Vec<f64>)>> {
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    let mut r = csv::Reader::from_path(dir.join("spectra.csv"))?;
    for rec in r.records() {
        let rec = rec?;
        let (name, s) = (rec[0].to_string(), rec[2].parse::<f64>()?);
        match out.last_mut() {
            Some((n, v)) if *n == name => v.push(s),
            _ => out.push((name, vec![s])),
        }
    }
    Ok(out)
}

/// One paragraph naming the run, the machine and the versions.
pub fn run_header(dir: &Path, suite: &Suite, machine: &Machine, meter: &Meter) -> String {
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    header_text(&name, suite, machine, &meter.describe())
}

/// [`run_header`] of the run named `name` with the energy meter described
/// as `meter` (as `run.json` records it).
pub fn header_text(name: &str, suite: &Suite, machine: &Machine, meter: &str) -> String {
    let gpu = if machine.gpus.is_empty() {
        format!(
            "no GPU ({})",
            machine.gpu_note.as_deref().unwrap_or("none found")
        )
    } else {
        format!(
            "{} (driver {})",
            machine.gpus.join(", "),
            machine.gpu_driver.as_deref().unwrap_or("?")
        )
    };
    format!(
        "Run {} of suite {} (sha256 {}…), seed {}, commit {}, lab {}, {}. Machine: {}, {} logical \
         cores, {:.1} GiB RAM, {} (kernel {}), {}. Energy: {}.",
        name,
        suite.path.display(),
        &suite.hash[..12],
        suite.seed,
        machine.git_commit,
        machine.lab_version,
        machine.rustc,
        machine.cpu_model,
        machine.logical_cores,
        machine.ram_bytes.unwrap_or(0) as f64 / (1u64 << 30) as f64,
        machine.os,
        machine.kernel,
        gpu,
        meter,
    )
}
