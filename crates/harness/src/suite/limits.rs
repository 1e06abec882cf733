//! What a suite may ask of this machine, checked at validation so that what
//! `--dry-run` calls valid can run: every generated matrix and every
//! training run fits the memory budget (`subspace::budget`: the variable
//! `LAB_MEMORY_BUDGET`, else 80% of MemAvailable), and no thread count
//! exceeds the machine's logical cores.

use subspace::budget::{MemoryBudget, checked_bytes, checked_sum, logical_cores};

use super::TrainJob;

/// The machine's limits a suite is validated against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub budget: MemoryBudget,
    /// Logical cores: the most `threads` a suite may ask for.
    pub cores: usize,
}

impl Limits {
    /// This machine's: [`MemoryBudget::from_machine`] and its logical cores.
    pub fn from_machine() -> Result<Self, String> {
        Ok(Self {
            budget: MemoryBudget::from_machine()?,
            cores: logical_cores(),
        })
    }

    /// No limit (a caller that checks nothing, e.g. a suite parsed only to
    /// be inspected).
    pub fn unlimited() -> Self {
        Self {
            budget: MemoryBudget::fixed(usize::MAX, "unlimited"),
            cores: usize::MAX,
        }
    }

    /// Refuses a `threads` value above the logical cores.
    pub(super) fn check_threads(&self, threads: &[usize]) -> Result<(), String> {
        match threads.iter().find(|&&t| t > self.cores) {
            Some(t) => Err(format!(
                "`threads` = {t} exceeds this machine's {} logical cores; list thread counts \
                 of at most {}",
                self.cores, self.cores
            )),
            None => Ok(()),
        }
    }

    /// Refuses a generated m×n matrix whose run would not fit the budget.
    pub(super) fn check_generated(
        &self,
        entry: usize,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<(), String> {
        self.budget
            .check(
                format!("[[matrix]] #{entry} ({name:?}, {rows}×{cols}) with its f64 reference SVD"),
                generated_bytes(rows, cols),
            )
            .map_err(|e| format!("{e}; use fewer rows or cols, or set LAB_MEMORY_BUDGET higher"))
    }

    /// Refuses a training run over the budget or with `threads` above the
    /// cores.
    pub(super) fn check_training(&self, job: &TrainJob) -> Result<(), String> {
        let at = format!("[[stage]] {:?} × [[run]] {:?}", job.stage, job.label);
        if job.config.threads > self.cores {
            return Err(format!(
                "{at}: `threads` = {} exceeds this machine's {} logical cores; use at most {} \
                 (0 = all cores)",
                job.config.threads, self.cores, self.cores
            ));
        }
        llama::session::check_budget(&job.config, &self.budget).map_err(|e| format!("{at}: {e}"))
    }
}

/// The bytes a generated m×n matrix costs a run at least, `None` where they
/// overflow: the generator's f64 product and f32 result (m·n·(8 + 4)), its
/// Haar factors (m·r + n·r f64 and U·diag(σ), r = min(m, n)), and the
/// reference SVD's f64 copy and left vectors (m·n + m·r f64).
pub fn generated_bytes(m: usize, n: usize) -> Option<usize> {
    let r = m.min(n);
    checked_sum(&[
        checked_bytes(&[m, n, 12]),
        checked_bytes(&[m, r, 8]),
        checked_bytes(&[n, r, 8]),
        checked_bytes(&[m, r, 8]),
        checked_bytes(&[m, n, 8]),
        checked_bytes(&[m, r, 8]),
    ])
}
