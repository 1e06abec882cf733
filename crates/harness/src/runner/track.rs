//! Following a [`Trajectory`] with a tracker: each `[[method]]` as
//! `subspace::tracker` (its own tracker or the warm-started default), at
//! every rank and thread count of the suite, one [`TrackStep`] per step and
//! one [`TrackSummary`] per trajectory × method × rank × threads.
//!
//! Inside the lane's pool: `warmup` untimed calls of the one-shot method on
//! the first matrix (first calls size caches and buffers), then one fresh
//! tracker through the whole sequence, every update timed once (an update
//! advances the tracker's state, so it is not repeated). One `Context` with
//! the suite's seed serves the whole sequence. The figures are computed
//! after the timed pass, in f64, against each step's reference SVD
//! (`subspace::metrics`):
//!
//! - `err_fro` and `sin_theta` as in `results.csv`;
//! - `step_angle`: the largest principal angle (radians) between this
//!   step's basis P_t and the previous one's, asin ‖(I − P_{t−1}P_{t−1}ᵀ)P_t‖₂
//!   (none at the first step).
//!
//! The summary: median (the upper one of an even count, as everywhere in
//! the report) and worst err_fro over the steps, median sin θ and
//! step angle, the cumulative time of the updates and its mean per update.
//! A failed update ends the method's pass: its step row and the summary say
//! why, the steps before it stay.

use std::sync::Arc;
use std::time::Instant;

use faer::{Mat, MatRef, Par};
use subspace::metrics;
use subspace::reference::ReferenceSvd;
use subspace::{Context, SubspaceMethod};

use super::calibrate::{Lane, par};
use super::measure::explain;
use super::trajectory::Trajectory;
use crate::records::{Status, TrackStep, TrackSummary, inline_params};
use crate::stats;
use crate::suite::MethodJob;

/// The input of a trajectory's methods: each matrix, or its transpose on
/// the right side.
pub struct Inputs<'a> {
    pub trajectory: &'a Trajectory,
    /// Pass Aᵀ (GaLore's right side).
    pub transpose: bool,
    /// The f64 reference SVD of each step's input.
    pub references: &'a [ReferenceSvd],
}

impl Inputs<'_> {
    /// The input at position `i`.
    pub fn input(&self, i: usize) -> MatRef<'_, f32> {
        let m = self.trajectory.matrices[i].as_ref();
        if self.transpose { m.transpose() } else { m }
    }
}

/// The bases and update seconds of one tracker of `method` along `inputs`,
/// in `lane`'s pool; on a failed update, those before it and
/// (position, reason).
pub type Pass = (Vec<(Mat<f32>, f64)>, Option<(usize, String)>);

/// Runs one tracker pass (see the module doc).
pub fn follow(
    method: &Arc<dyn SubspaceMethod>,
    inputs: &Inputs<'_>,
    rank: usize,
    seed: u64,
    warmup: usize,
    lane: &Lane,
) -> Pass {
    let (m, n) = inputs.input(0).shape();
    let par = par(lane.threads);
    lane.pool.install(|| {
        for _ in 0..warmup {
            let mut ctx = Context::new(seed).with_par(par);
            if let Err(e) = method.left_basis(inputs.input(0), rank, &mut ctx) {
                return (Vec::new(), Some((0, explain(&e, inputs.input(0)))));
            }
        }
        let mut tracker = subspace::tracker(method, m, n, rank);
        let mut ctx = Context::new(seed).with_par(par);
        let mut out = Vec::with_capacity(inputs.trajectory.steps.len());
        for i in 0..inputs.trajectory.steps.len() {
            let a = inputs.input(i);
            let start = Instant::now();
            match tracker.update(a, &mut ctx) {
                Ok(basis) => out.push((basis.q, start.elapsed().as_secs_f64())),
                Err(e) => return (out, Some((i, explain(&e, a)))),
            }
        }
        (out, None)
    })
}

/// Largest principal angle (radians) between the ranges of the m×k bases
/// `p` and `q`: asin ‖(I − PPᵀ)Q‖₂, computed in f64.
pub fn largest_angle(p: MatRef<'_, f32>, q: MatRef<'_, f32>) -> Result<f64, String> {
    let to64 =
        |x: MatRef<'_, f32>| Mat::<f64>::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] as f64);
    let (p, q) = (to64(p), to64(q));
    let w = &q - &p * (p.transpose() * &q);
    let s = ReferenceSvd::from_f64(w, Par::Seq).map_err(|e| format!("step angle: {e}"))?;
    let sin = s.singular_values().first().copied().unwrap_or(0.0);
    Ok(sin.min(1.0).asin())
}

/// A summary row of `job` at `rank` and `threads` on `t`, with no figures
/// yet: status ok.
pub fn base(
    job: &MethodJob,
    t: &Trajectory,
    transpose: bool,
    rank: usize,
    threads: usize,
) -> TrackSummary {
    TrackSummary {
        run: t.run.clone(),
        tensor: t.tensor.clone(),
        rows: t.matrices[0].nrows(),
        cols: t.matrices[0].ncols(),
        side: if transpose { "right" } else { "left" }.into(),
        method: job.label.clone(),
        plugin: job.plugin.clone(),
        params: inline_params(&job.params),
        rank,
        threads,
        status: Status::Ok,
        ..TrackSummary::default()
    }
}

/// The rows of one pass of `job` at `rank` and `threads` over `inputs`.
pub fn rows(
    job: &MethodJob,
    inputs: &Inputs<'_>,
    rank: usize,
    threads: usize,
    pass: Pass,
) -> (Vec<TrackStep>, TrackSummary) {
    let t = inputs.trajectory;
    let summary = base(job, t, inputs.transpose, rank, threads);
    let blank = TrackStep {
        run: summary.run.clone(),
        tensor: summary.tensor.clone(),
        rows: summary.rows,
        cols: summary.cols,
        side: summary.side.clone(),
        method: summary.method.clone(),
        plugin: summary.plugin.clone(),
        params: summary.params.clone(),
        rank,
        threads,
        status: Status::Ok,
        ..TrackStep::default()
    };
    let (bases, failed) = pass;
    let mut steps = Vec::with_capacity(t.steps.len());
    let mut cumulative = 0.0;
    let mut failure = failed;
    for (i, (q, seconds)) in bases.iter().enumerate() {
        cumulative += seconds;
        let mut row = TrackStep {
            step: t.steps[i],
            index: i,
            time_s: Some(*seconds),
            time_cumulative_s: Some(cumulative),
            ..blank.clone()
        };
        let figures = metrics::accuracy(&inputs.references[i], q.as_ref(), Par::rayon(0))
            .map_err(|e| format!("accuracy: {e}"))
            .and_then(|acc| {
                let angle = match i {
                    0 => None,
                    _ => Some(largest_angle(bases[i - 1].0.as_ref(), q.as_ref())?),
                };
                Ok((acc, angle))
            });
        match figures {
            Ok((acc, angle)) => {
                row.err_fro = Some(acc.err_fro);
                row.sin_theta = Some(acc.sin_theta);
                row.step_angle = angle;
                steps.push(row);
            }
            Err(e) => {
                failure = Some((i, e));
                break;
            }
        }
    }
    if let Some((i, reason)) = &failure {
        steps.truncate(*i);
        steps.push(TrackStep {
            step: t.steps[*i],
            index: *i,
            status: Status::Error,
            error: reason.clone(),
            ..blank
        });
    }
    let summary = summarize(summary, &steps, failure);
    (steps, summary)
}

/// The summary of a pass's step rows.
fn summarize(
    mut s: TrackSummary,
    steps: &[TrackStep],
    failure: Option<(usize, String)>,
) -> TrackSummary {
    let ok: Vec<&TrackStep> = steps.iter().filter(|r| r.status == Status::Ok).collect();
    let median = |v: Vec<f64>| (!v.is_empty()).then(|| stats::median(&v));
    let errs: Vec<f64> = ok.iter().filter_map(|r| r.err_fro).collect();
    s.steps = ok.len();
    s.err_fro_worst = errs.iter().copied().reduce(f64::max);
    s.err_fro_median = median(errs);
    s.sin_theta_median = median(ok.iter().filter_map(|r| r.sin_theta).collect());
    s.step_angle_median = median(ok.iter().filter_map(|r| r.step_angle).collect());
    s.time_total_s = ok.last().and_then(|r| r.time_cumulative_s);
    s.time_per_update_s = s.time_total_s.map(|t| t / ok.len() as f64);
    if let Some((i, reason)) = failure {
        s.status = Status::Error;
        s.error = format!(
            "step {} (position {i}): {reason}",
            steps.last().map_or(0, |r| r.step)
        );
    }
    s
}
