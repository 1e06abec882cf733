//! A shard's record of what it wrote, `shard.json`, so that `lab merge`
//! can put every line of every CSV the shards wrote where an unsharded run
//! would have put it, without knowing what the CSV holds.
//!
//! Every piece of work a run does is a unit with a [`Key`]: its place in an
//! unsharded run's order (keys compare lexicographically). After a unit,
//! the shard records the byte length of every `*.csv` at the top of its
//! report directory; the lines a unit wrote to a file are the bytes between
//! the previous unit's length and its own. The contract every writer keeps:
//! a unit's lines are flushed before the unit ends, and no line is written
//! outside a unit. A unit that several shards do alike (a matrix's
//! spectrum, a source that does not load) is `shared`: the merge keeps one
//! copy.
//!
//! `shard.json` is written when the shard starts (status "running") and
//! rewritten when it ends ("complete", or "failed: <reason>"); a shard
//! killed on the way still says "running", and the merge refuses it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::suite::Suite;

use super::shard::{Item, Part, Phase, ShardSpec};

/// A unit's place in an unsharded run's order.
pub type Key = Vec<usize>;

/// Training run `run` (all before any matrix).
pub fn train_key(run: usize) -> Key {
    vec![0, run]
}

/// The error row of source `file` of `[[matrix]]` `job` that did not load.
pub fn load_error_key(job: usize, file: usize) -> Key {
    vec![1, job, file]
}

/// The row of matrix `matrix` of that source × method × rank × lane.
pub fn row_key(job: usize, file: usize, matrix: usize, item: [usize; 3]) -> Key {
    vec![1, job, file, matrix, 0, item[0], item[1], item[2]]
}

/// The spectrum of that matrix (after its rows).
pub fn spectrum_key(job: usize, file: usize, matrix: usize) -> Key {
    vec![1, job, file, matrix, 1]
}

/// A unit of the trajectory part (after every row): recording `rec` of
/// `[[matrix]]` `job` that gave no trajectory (`None`, its error row), or
/// that recording's trajectory × method × rank × lane (`Some`).
pub fn tracking_key(job: usize, rec: usize, pass: Option<[usize; 4]>) -> Key {
    let mut key = vec![2, job, rec];
    key.extend(pass.into_iter().flatten());
    key
}

/// One finished unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub key: Key,
    /// Done alike by every shard that needs it; the merge keeps one copy.
    pub shared: bool,
    /// Byte length of each top-level CSV after the unit.
    pub ends: BTreeMap<String, u64>,
}

/// The suite a shard ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardSuite {
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    pub seed: u64,
}

/// `shard.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// "running", "complete", or "failed: <reason>".
    pub status: String,
    pub suite: ShardSuite,
    pub commit: String,
    pub shard: ShardSpec,
    pub phase: Phase,
    /// The items this shard owns, in suite order.
    pub items: Vec<Item>,
    /// Predicted seconds and peak bytes of the part (the plan's estimate).
    pub predicted_seconds: f64,
    pub predicted_bytes: usize,
    /// For the matrices phase: the training reports it read.
    pub trained: Vec<PathBuf>,
    /// The host's name, and the scheduler's variables naming the task
    /// ([`SCHEDULER_VARS`] that are set).
    pub host: String,
    pub scheduler: BTreeMap<String, String>,
    pub units: Vec<Unit>,
}

/// The environment variables a shard records: which Slurm job, array task
/// and node ran it, and the GPUs it was given.
pub const SCHEDULER_VARS: [&str; 7] = [
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURMD_NODENAME",
    "SLURM_JOB_PARTITION",
    "CUDA_VISIBLE_DEVICES",
];

impl Manifest {
    /// Reads `<dir>/shard.json`.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("shard.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a shard record written by this lab ({}); re-run that shard",
                path.display(),
                env!("CARGO_PKG_VERSION")
            )
        })
    }
}

/// A running shard: what it owns, and the units it finished.
pub struct Marks {
    pub part: Part,
    dir: PathBuf,
    manifest: Manifest,
}

impl Marks {
    /// Starts the record of `part` in `dir` (status "running").
    pub fn start(
        dir: &Path,
        suite: &Suite,
        commit: &str,
        part: &Part,
        trained: &[PathBuf],
    ) -> anyhow::Result<Self> {
        let manifest = Manifest {
            status: "running".into(),
            suite: ShardSuite {
                name: suite.name.clone(),
                path: suite.path.clone(),
                sha256: suite.hash.clone(),
                seed: suite.seed,
            },
            commit: commit.into(),
            shard: part.spec,
            phase: part.phase,
            items: part.items(),
            predicted_seconds: part.seconds(),
            predicted_bytes: part.bytes(),
            trained: trained.to_vec(),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            scheduler: SCHEDULER_VARS
                .iter()
                .filter_map(|v| Some((v.to_string(), std::env::var(v).ok()?)))
                .collect(),
            units: Vec::new(),
        };
        let marks = Self {
            part: part.clone(),
            dir: dir.into(),
            manifest,
        };
        marks.write()?;
        Ok(marks)
    }

    /// Records the end of unit `key` (see the module doc).
    pub fn mark(&mut self, key: Key, shared: bool) -> anyhow::Result<()> {
        let mut ends = BTreeMap::new();
        let listing = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?;
        for entry in listing {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".csv") && entry.file_type()?.is_file() {
                ends.insert(name, entry.metadata()?.len());
            }
        }
        self.manifest.units.push(Unit { key, shared, ends });
        Ok(())
    }

    /// Rewrites `shard.json` with `status` and every unit.
    pub fn finish(mut self, status: &str) -> anyhow::Result<()> {
        self.manifest.status = status.into();
        self.write()
    }

    fn write(&self) -> anyhow::Result<()> {
        let path = self.dir.join("shard.json");
        let text = serde_json::to_string_pretty(&self.manifest)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }
}
