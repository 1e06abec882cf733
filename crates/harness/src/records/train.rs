//! One training run of a suite ([`TrainOutcome`]): an entry of the
//! report's `training.json`, written by `runner::train` as each run
//! finishes and read back by the report and `lab merge`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::row::Status;
use crate::suite::{TrainJob, run_id};

/// What one training run of a suite produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOutcome {
    pub stage: String,
    pub label: String,
    /// The seed of this repeat of a run with `seeds`; `None` without (then
    /// the seed is the summary's `config.seed`).
    #[serde(default)]
    pub seed: Option<u64>,
    /// [`Status::Ok`], or [`Status::Error`] with `error` saying why.
    pub status: Status,
    pub error: String,
    /// The run's directory (training.csv, memory.json, grads/, …).
    pub dir: PathBuf,
    /// The engine that trained it: "lab", or for `engine = "torch"` "torch"
    /// with the interpreter and the packages' versions it ran with.
    #[serde(default = "lab_engine")]
    pub engine: String,
    pub summary: Option<llama::session::TrainSummary>,
    /// Every step's row, as in the run's training.csv.
    #[serde(skip)]
    pub steps: Vec<llama::session::StepRow>,
    /// Energy of the whole run (evaluations included) and per step.
    pub energy_j: Option<f64>,
    pub energy_per_step_j: Option<f64>,
    pub energy_note: String,
}

fn lab_engine() -> String {
    "lab".into()
}

impl TrainOutcome {
    /// Whether the lab's own engine trained it.
    pub fn is_lab(&self) -> bool {
        self.engine == "lab"
    }

    /// The run's name in reports, as its job's ([`TrainJob::id`]).
    pub fn id(&self) -> String {
        run_id(&self.stage, &self.label, self.seed)
    }

    /// Whether this is the outcome of `job`.
    pub fn is_of(&self, job: &TrainJob) -> bool {
        self.stage == job.stage && self.label == job.label && self.seed == job.seed
    }
}
