//! Sharding a suite: its work cut into items, each item's predicted cost,
//! and a deterministic partition of the items into N shards balanced by
//! that cost (`lab run SUITE --shard I/N`).
//!
//! An item is one training run ([`Item::Train`]) or one matrix source ×
//! method × rank × thread count ([`Item::Rows`]: every matrix the source
//! yields, at that method, rank and thread count). The partition depends
//! only on the suite and the phase, never on the machine (a method's
//! availability, the core count), so every task of an array job computes
//! the same one: items sorted by predicted cost, largest first (ties in
//! suite order), each given to the shard with the least predicted cost so
//! far (ties to the lowest index). This is Graham's LPT rule: the largest
//! shard is within 4/3 of the best possible.
//!
//! Sources that depend on training (`recorded`, see [`depends_on_training`])
//! cannot run before the training runs have: such a suite runs in two
//! phases, [`Phase::Train`] (its training runs, sharded) and then
//! [`Phase::Matrices`] (its rows, sharded, reading what the merged
//! training phase recorded). A suite without them runs in one,
//! [`Phase::All`].
//!
//! Costs are a planning estimate, not a measurement: floating-point
//! operations at an assumed [`PLANNING_GFLOPS`] per thread, plus the energy
//! pass of each row; memory is the largest item's (a generated matrix with
//! its reference SVD, a training run's [`llama::session::memory`] estimate).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::suite::{MatrixJob, Suite, generated_bytes};

use super::measure::ENERGY_MIN_SECONDS;

/// The rate the plan assumes, in GFLOP/s per thread (a modest CPU core).
pub const PLANNING_GFLOPS: f64 = 10.0;

/// The m × n a matrix whose shape cannot be known before the run (a file's
/// tensors, a recorded gradient) is planned as: GaLore-60M's MLP shape.
pub const UNKNOWN_SHAPE: (usize, usize) = (1376, 512);

/// `I/N`: shard I (1-based) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for ShardSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "--shard {s:?}: write I/N with 1 ≤ I ≤ N, e.g. --shard 2/3 (shard 2 of 3; in a \
                 Slurm array job --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// Which part of a suite a shard runs (see the module doc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Training runs and rows together (a suite with no training-dependent
    /// source).
    #[default]
    All,
    /// Only the training runs.
    Train,
    /// Only the rows, after the training phase.
    Matrices,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Self::All, Self::Train, Self::Matrices];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Train => "train",
            Self::Matrices => "matrices",
        }
    }

    /// Whether this phase runs `item`.
    pub fn runs(self, item: &Item) -> bool {
        matches!(
            (self, item),
            (Self::All, _)
                | (Self::Train, Item::Train { .. })
                | (Self::Matrices, Item::Rows { .. })
        )
    }

    /// Checks that `suite` can run in this phase: a suite with a source
    /// that depends on training needs the two phases; one without has only
    /// `all`.
    pub fn check(self, suite: &Suite) -> Result<(), String> {
        let dependent = suite.matrices.iter().any(depends_on_training);
        match (self, dependent) {
            (Self::All, true) => Err(format!(
                "suite {}: a matrix source reads what its training runs record, so its shards \
                 run in two phases: first `--phase train` (every shard), `lab merge` them, then \
                 `--phase matrices --trained <merged dir>` (see README, \"On a Slurm cluster\")",
                suite.path.display()
            )),
            (Self::Train | Self::Matrices, false) => Err(format!(
                "suite {}: no matrix source depends on training, so it runs in one phase; \
                 leave out --phase {}",
                suite.path.display(),
                self.as_str()
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("--phase {s:?}: use train, matrices (or leave it out: all)"))
    }
}

/// Whether a matrix source reads what the suite's training runs wrote, and
/// so runs in [`Phase::Matrices`]. Every source kind is listed: a new kind
/// must say which it is.
pub fn depends_on_training(job: &MatrixJob) -> bool {
    match job {
        MatrixJob::Generated { .. } | MatrixJob::File { .. } => false,
        MatrixJob::Recorded { .. } | MatrixJob::Trajectory { .. } => true,
    }
}

/// One unit of a suite's work, by indices into the suite: `run` into
/// `trainings`, `matrix` into `matrices`, `method` into `methods`, `rank`
/// into `ranks`, `lane` into `threads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Item {
    Train {
        run: usize,
    },
    Rows {
        matrix: usize,
        method: usize,
        rank: usize,
        lane: usize,
    },
}

impl Item {
    /// The item as a person names it.
    pub fn describe(&self, suite: &Suite) -> String {
        match *self {
            Item::Train { run } => format!("train {}", suite.trainings[run].id()),
            Item::Rows {
                matrix,
                method,
                rank,
                lane,
            } => format!(
                "rows {} × {} × k={} × threads={}",
                super::load::job_name(&suite.matrices[matrix]),
                suite.methods[method].label,
                suite.ranks[rank],
                suite.threads[lane]
            ),
        }
    }
}

/// An item with its predicted cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub item: Item,
    /// Predicted wall seconds on one machine (see the module doc).
    pub seconds: f64,
    /// Predicted peak bytes while it runs.
    pub bytes: usize,
}

/// Every item of `suite` that `phase` runs, in suite order, with its cost.
pub fn items(suite: &Suite, phase: Phase) -> Vec<Planned> {
    let mut out = Vec::new();
    for (run, job) in suite.trainings.iter().enumerate() {
        let c = &job.config;
        let (params, bytes) = match llama::session::memory::estimate_bytes(c) {
            Ok(Some(e)) => (e.weights_bytes / 4, e.total_bytes),
            _ => (0, 0),
        };
        let threads = if c.threads == 0 { 1 } else { c.threads };
        let flops = 6.0 * params as f64 * (c.batch_size * c.seq_len * c.steps) as f64;
        out.push(Planned {
            item: Item::Train { run },
            seconds: flops / (PLANNING_GFLOPS * 1e9 * threads as f64),
            bytes,
        });
    }
    let calls = (suite.warmup.max(1) + suite.repeats) as f64;
    for (matrix, job) in suite.matrices.iter().enumerate() {
        let (shapes, count) = shapes_of(job, suite);
        let (m, n) = shapes;
        let short = m.min(n) as f64;
        let mn = (m * n) as f64;
        let reference = 8.0 * mn * short;
        let bytes = generated_bytes(m, n).unwrap_or(usize::MAX);
        for (method, mj) in suite.methods.iter().enumerate() {
            let full = mj.plugin.contains("svd");
            let q = mj
                .params
                .get("power_iters")
                .and_then(|v| v.as_integer())
                .unwrap_or(1)
                .max(0) as f64;
            for (rank, &k) in suite.ranks.iter().enumerate() {
                let per_call = if full {
                    4.0 * mn * short
                } else {
                    4.0 * mn * (k as f64 + 10.0) * (q + 1.0)
                };
                for (lane, &t) in suite.threads.iter().enumerate() {
                    let flops = count as f64 * (calls * per_call + reference);
                    out.push(Planned {
                        item: Item::Rows {
                            matrix,
                            method,
                            rank,
                            lane,
                        },
                        seconds: flops / (PLANNING_GFLOPS * 1e9 * t as f64)
                            + count as f64 * ENERGY_MIN_SECONDS,
                        bytes,
                    });
                }
            }
        }
    }
    out.retain(|p| phase.runs(&p.item));
    out
}

/// The planning shape of a source's matrices and how many it yields.
fn shapes_of(job: &MatrixJob, suite: &Suite) -> ((usize, usize), usize) {
    match job {
        MatrixJob::Generated { rows, cols, .. } => ((*rows, *cols), 1),
        MatrixJob::File { .. } => (UNKNOWN_SHAPE, 1),
        MatrixJob::Recorded { stage, .. } => {
            let files: usize = suite
                .trainings
                .iter()
                .filter(|t| stage.as_ref().is_none_or(|s| *s == t.stage))
                .map(|t| t.config.record_steps.steps().count())
                .sum();
            (UNKNOWN_SHAPE, files.max(1))
        }
        MatrixJob::Trajectory { .. } => {
            let steps: usize = suite
                .trainings
                .iter()
                .map(|t| t.config.record_steps.steps().count())
                .sum();
            (UNKNOWN_SHAPE, steps.max(1))
        }
    }
}

/// The partition of `items` into `count` shards (see the module doc): for
/// each shard, the indices of its items, in suite order.
pub fn partition(items: &[Planned], count: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        items[b]
            .seconds
            .total_cmp(&items[a].seconds)
            .then(a.cmp(&b))
    });
    let mut load = vec![0.0f64; count];
    let mut shards = vec![Vec::new(); count];
    for i in order {
        let (s, _) = load
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0)))
            .expect("count ≥ 1");
        load[s] += items[i].seconds;
        shards[s].push(i);
    }
    for s in &mut shards {
        s.sort_unstable();
    }
    shards
}

/// The work one shard owns.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub spec: ShardSpec,
    pub phase: Phase,
    /// Its items, in suite order, with their costs.
    pub planned: Vec<Planned>,
    owned: BTreeSet<Item>,
}

impl Part {
    /// Shard `spec` of `suite` in `phase` (checked with [`Phase::check`]).
    pub fn of(suite: &Suite, spec: ShardSpec, phase: Phase) -> Result<Self, String> {
        phase.check(suite)?;
        let all = items(suite, phase);
        let shards = partition(&all, spec.count);
        let planned: Vec<Planned> = shards[spec.index - 1]
            .iter()
            .map(|&i| all[i].clone())
            .collect();
        let owned = planned.iter().map(|p| p.item).collect();
        Ok(Self {
            spec,
            phase,
            planned,
            owned,
        })
    }

    /// The items, in suite order.
    pub fn items(&self) -> Vec<Item> {
        self.owned.iter().copied().collect()
    }

    pub fn owns(&self, item: &Item) -> bool {
        self.owned.contains(item)
    }

    pub fn owns_training(&self, run: usize) -> bool {
        self.owns(&Item::Train { run })
    }

    /// Whether any row of matrix source `matrix` is this shard's.
    pub fn owns_any_row_of(&self, matrix: usize) -> bool {
        self.owned
            .iter()
            .any(|i| matches!(i, Item::Rows { matrix: m, .. } if *m == matrix))
    }

    /// Predicted seconds of the whole part.
    pub fn seconds(&self) -> f64 {
        self.planned.iter().map(|p| p.seconds).sum()
    }

    /// Predicted peak bytes: the largest item's.
    pub fn bytes(&self) -> usize {
        self.planned.iter().map(|p| p.bytes).max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(seconds: &[f64]) -> Vec<Planned> {
        seconds
            .iter()
            .enumerate()
            .map(|(run, &seconds)| Planned {
                item: Item::Train { run },
                seconds,
                bytes: 0,
            })
            .collect()
    }

    #[test]
    fn shard_specs_parse_and_refuse_with_the_form() {
        assert_eq!(
            "2/3".parse::<ShardSpec>(),
            Ok(ShardSpec { index: 2, count: 3 })
        );
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            let e = bad.parse::<ShardSpec>().unwrap_err();
            assert!(e.contains("write I/N") && e.contains(bad), "{e}");
        }
        assert_eq!("matrices".parse::<Phase>(), Ok(Phase::Matrices));
        assert!(
            "both"
                .parse::<Phase>()
                .unwrap_err()
                .contains("train, matrices")
        );
    }

    /// LPT by hand: 7, 5, 4, 3, 3, 2 into 2 shards → {7, 3, 2} = 12 and
    /// {5, 4, 3} = 12; every item exactly once.
    #[test]
    fn the_partition_is_lpt_balanced_and_covers_every_item_once() {
        let items = planned(&[3.0, 7.0, 2.0, 5.0, 4.0, 3.0]);
        let shards = partition(&items, 2);
        assert_eq!(shards, vec![vec![0, 1, 2], vec![3, 4, 5]]);
        let load = |s: &[usize]| s.iter().map(|&i| items[i].seconds).sum::<f64>();
        assert_eq!((load(&shards[0]), load(&shards[1])), (12.0, 12.0));
        // More shards than items: the extra ones are empty; nothing is lost.
        let shards = partition(&items, 8);
        let mut all: Vec<usize> = shards.concat();
        all.sort_unstable();
        assert_eq!(all, (0..6).collect::<Vec<_>>());
        assert_eq!(shards.iter().filter(|s| s.is_empty()).count(), 2);
        // Deterministic: the same input gives the same partition.
        assert_eq!(partition(&items, 3), partition(&items, 3));
    }
}
