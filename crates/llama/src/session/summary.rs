//! What a run reports: one [`StepRow`] per step (a row of `training.csv`)
//! and the [`TrainSummary`] of the finished run (`train.json`), whose
//! medians leave out the first step's first-touch costs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::memory::MemoryReport;
use super::run::Session;

/// One row of `training.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    pub run: String,
    /// 0-based.
    pub step: usize,
    pub tokens: u64,
    pub train_loss: f32,
    /// Held-out loss after this step's update, on evaluation steps.
    pub eval_loss: Option<f32>,
    pub lr: f32,
    /// ‖g‖₂ over every parameter.
    pub grad_norm: f64,
    pub seconds_forward: f64,
    pub seconds_backward: f64,
    /// GaLore's subspace refreshes (0 for AdamW and between refreshes).
    pub seconds_subspace: f64,
    /// The optimizer update without the refreshes.
    pub seconds_update: f64,
    /// Wall seconds since the run started (evaluations excluded).
    pub seconds_elapsed: f64,
    pub optimizer_state_bytes: usize,
}

/// The finished run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSummary {
    pub run: String,
    pub config: TrainConfig,
    pub steps: usize,
    pub final_train_loss: f32,
    pub final_eval_loss: Option<f32>,
    /// Median seconds per step of the timed parts (steps after the first).
    pub median_step_seconds: f64,
    pub median_seconds_forward: f64,
    pub median_seconds_backward: f64,
    pub median_seconds_subspace: f64,
    pub median_seconds_update: f64,
    pub tokens_per_second: f64,
    pub subspace_calls: u64,
    pub memory: MemoryReport,
    /// The recorded gradient files.
    pub recorded: Vec<PathBuf>,
}

/// The summary of `s` after `rows`, with its memory report.
pub(super) fn summarize(s: &Session, rows: Vec<StepRow>, memory: MemoryReport) -> TrainSummary {
    // The first step of a run pays for first touches: leave it out of the medians.
    let timed: Vec<&StepRow> = rows.iter().skip(usize::from(rows.len() > 1)).collect();
    let median = |f: &dyn Fn(&StepRow) -> f64| -> f64 {
        let mut v: Vec<f64> = timed.iter().map(|r| f(r)).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() { 0.0 } else { v[v.len() / 2] }
    };
    let step_total = |r: &StepRow| {
        r.seconds_forward + r.seconds_backward + r.seconds_subspace + r.seconds_update
    };
    let median_step_seconds = median(&step_total);
    let last = rows.last();
    let final_eval_loss = rows.iter().rev().find_map(|r| r.eval_loss);
    TrainSummary {
        run: s.label.clone(),
        config: s.config.clone(),
        steps: s.next_step,
        final_train_loss: last.map_or(f32::NAN, |r| r.train_loss),
        final_eval_loss,
        median_step_seconds,
        median_seconds_forward: median(&|r| r.seconds_forward),
        median_seconds_backward: median(&|r| r.seconds_backward),
        median_seconds_subspace: median(&|r| r.seconds_subspace),
        median_seconds_update: median(&|r| r.seconds_update),
        tokens_per_second: if median_step_seconds > 0.0 {
            (s.config.batch_size * s.config.seq_len) as f64 / median_step_seconds
        } else {
            0.0
        },
        subspace_calls: s.opt.subspace_timing().calls,
        memory,
        recorded: s.recorded.clone(),
    }
}
