//! What a run reports: one [`StepRow`] per step (a row of `training.csv`),
//! a GaLore run's [`SubspaceRow`]s (`subspace.csv`, see `optim::quality`)
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

/// One row of `subspace.csv`: one projected matrix of a GaLore run at one
/// step, logged at each of its refreshes and at every quality step
/// (`quality_every`; see `optim::quality` for the definitions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubspaceRow {
    pub run: String,
    /// 0-based, as training.csv's.
    pub step: usize,
    /// The parameter's Hugging Face name.
    pub tensor: String,
    /// The gradient's shape (out, in) and the basis's rank.
    pub rows: usize,
    pub cols: usize,
    pub rank: usize,
    /// Whether the basis was refreshed at this step (else: a quality step
    /// measuring the basis in use).
    pub refreshed: bool,
    /// ‖PᵀG‖_F² / ‖G‖_F²: the share of the gradient's energy the basis
    /// captures.
    pub captured: f64,
    /// Σ_{i≤r} σ_i² / ‖G‖_F², the optimum's share (quality steps only).
    pub optimal: Option<f64>,
    /// captured / optimal (1 = optimal; quality steps only).
    pub ratio: Option<f64>,
    /// |cos| of the first columns of the new and previous bases (refreshes
    /// after the first).
    pub agreement: Option<f64>,
    /// Steps to the matrix's next refresh under its rule (T for "every").
    pub interval: u64,
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
    /// GaLore's basis refreshes since the run began (one per matrix
    /// refreshed; a resumed run counts those before its checkpoint too).
    #[serde(default)]
    pub refreshes: u64,
    /// Refreshes `refresh = "every"` would have made that the lazy rule
    /// did not (0 for "every").
    #[serde(default)]
    pub refreshes_saved: u64,
    /// Seconds this session spent in the subspace-quality log (kept out of
    /// every step-time column), and their share of its steps' seconds.
    #[serde(default)]
    pub quality_seconds: f64,
    #[serde(default)]
    pub quality_share: f64,
    pub memory: MemoryReport,
    /// The recorded gradient files.
    pub recorded: Vec<PathBuf>,
    /// An in-memory session's subspace.csv rows (empty for a session with
    /// an out dir, which writes them to the file instead).
    #[serde(skip)]
    pub subspace: Vec<SubspaceRow>,
}

/// The summary of `s` after `rows`, with its memory report.
pub(super) fn summarize(s: &mut Session, rows: Vec<StepRow>, memory: MemoryReport) -> TrainSummary {
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
    let step_seconds: f64 = rows.iter().map(step_total).sum();
    let counts = s.opt.refresh_counts();
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
        refreshes: counts.made,
        refreshes_saved: counts.saved,
        quality_seconds: s.quality_seconds,
        quality_share: if step_seconds > 0.0 {
            s.quality_seconds / step_seconds
        } else {
            0.0
        },
        memory,
        recorded: s.recorded.clone(),
        subspace: std::mem::take(&mut s.subspace_rows),
    }
}
