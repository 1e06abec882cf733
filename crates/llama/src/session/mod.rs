//! A training run as the lab runs it: a [`TrainConfig`] (one TOML table,
//! the same one a suite's `[[train]]` entry holds), and a [`Session`] that
//! trains, evaluates, checkpoints, records gradients and accounts for every
//! byte, writing as it goes:
//!
//! ```text
//! <out>/training.csv          one row per step (flushed per step)
//! <out>/subspace.csv          GaLore: per projected matrix, its bases' captured energy
//!                             and the optimum's (optim::quality; flushed per step)
//! <out>/memory.json           exact bytes + peak RSS + the GaLore paper's estimate
//! <out>/train.json            the config, the machine-independent summary
//! <out>/grads/step-<N>.safetensors     recorded gradients (HF names)
//! <out>/checkpoints/step-<N>/{model.safetensors, config.json,
//!                             optimizer.safetensors, trainer.json}
//! ```
//!
//! Resuming from a checkpoint reproduces the uninterrupted run bit for bit
//! at the same thread count: batches are functions of (seed, step), the
//! refresh seeds of (seed, parameter, step), and the checkpoint holds the
//! weights, every moment, the projectors and the step. A session without an
//! out dir ([`Session::in_memory`]) writes nothing.
//!
//! - [`config`]: [`TrainConfig`] and its validation;
//! - [`run`]: [`Session`], the step loop and the evaluation;
//! - [`accumulate`]: a batch's loss and gradient over its micro-batches;
//! - [`checkpoint`]: checkpoints and [`Session::resume`];
//! - [`record`]: gradient recording;
//! - [`steps`]: [`RecordSteps`], the steps recorded (a list or a range);
//! - [`memory`]: [`MemoryReport`] and [`peak_rss`];
//! - [`summary`]: [`StepRow`] and [`TrainSummary`];
//! - [`errors`]: why a run failed, [`TrainError`].

pub mod accumulate;
pub mod checkpoint;
pub mod config;
pub mod errors;
pub mod memory;
pub mod record;
pub mod run;
pub mod steps;
pub mod summary;

pub use config::{OptimizerKind, TrainConfig};
pub use errors::TrainError;
pub use memory::{
    MemoryEstimate, MemoryReport, check_budget, estimate_bytes, paper_state_bytes, peak_rss,
};
pub use run::Session;
pub use steps::RecordSteps;
pub use summary::{StepRow, SubspaceRow, TrainSummary};
