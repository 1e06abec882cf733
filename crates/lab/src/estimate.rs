//! `lab run SUITE --dry-run`'s time estimate of each training run: an
//! extrapolation from a short calibration measured on this machine, not a
//! measurement of the run.
//!
//! Calibration: the run's config with one micro-batch per step
//! (`batch_size = micro_batch`), the subspace refreshed at step 0 and not at
//! step 1 (T = 2), the shipped corpus with byte tokens (the step's time does
//! not depend on the text), in memory, on the run's thread count; two steps.
//! Step 1 gives a micro-batch's forward and backward seconds and the update's
//! seconds without a refresh; step 0 gives one refresh's subspace seconds.
//! Runs that differ only in T, name or step count share one calibration.
//!
//! Extrapolation: `steps · ((B / b) · (fwd + bwd) + update) + refreshes ·
//! subspace + evaluations · eval_batches · (B / b) · fwd`, with refreshes =
//! ⌈steps / T⌉ (GaLore) and evaluations = ⌈steps / eval_every⌉ (or 1).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context as _, Result};
use llama::session::{OptimizerKind, RecordSteps, Session, StepRow, TrainConfig};
use subspace::Registry;

/// One calibration's figures (seconds).
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// A micro-batch's forward, and its forward + backward (step 1).
    pub forward: f64,
    pub forward_backward: f64,
    /// The update without a refresh (step 1), and one refresh (step 0).
    pub update: f64,
    pub refresh: f64,
    /// Wall seconds the calibration took.
    pub wall: f64,
}

impl Calibration {
    /// The extrapolated wall seconds of a run of `c`.
    pub fn seconds(&self, c: &TrainConfig) -> f64 {
        let micro = (c.batch_size / c.micro_batch_size().max(1)) as f64;
        let steps = c.steps as f64;
        let refreshes = match c.optimizer {
            OptimizerKind::Galore => c.steps.div_ceil(c.update_proj_gap.max(1) as usize) as f64,
            _ => 0.0,
        };
        let evals = if c.eval_every == 0 {
            1
        } else {
            c.steps.div_ceil(c.eval_every)
        } as f64;
        steps * (micro * self.forward_backward + self.update)
            + refreshes * self.refresh
            + evals * c.eval_batches as f64 * micro * self.forward
    }
}

/// The calibration config of `c` (see the module doc).
fn calibration_config(c: &TrainConfig) -> TrainConfig {
    TrainConfig {
        name: None,
        batch_size: c.micro_batch_size(),
        micro_batch: None,
        update_proj_gap: 2,
        steps: c.steps.max(3),
        eval_every: 0,
        checkpoint_every: 0,
        checkpoint_at_end: false,
        record_steps: RecordSteps::default(),
        record_tensors: Vec::new(),
        corpus: None,
        tokenizer: None,
        ..c.clone()
    }
}

/// Calibrations shared by the runs whose calibration configs are equal.
#[derive(Default)]
pub struct Calibrations {
    done: BTreeMap<String, Result<Calibration, String>>,
}

/// What a micro-batch's forward and backward depend on: the model, the
/// micro-batch's shape, checkpointing and the thread count.
fn model_key(c: &TrainConfig) -> String {
    format!(
        "{} {} {} {} {}",
        c.preset,
        c.micro_batch_size(),
        c.seq_len,
        c.activation_checkpointing,
        c.threads
    )
}

impl Calibrations {
    /// Measures the calibration of a run of `c` unless one it shares is
    /// measured already.
    pub fn measure(&mut self, c: &TrainConfig, registry: &Registry) {
        let config = calibration_config(c);
        let key = toml::to_string(&config).unwrap_or_default();
        self.done
            .entry(key)
            .or_insert_with(|| measure(config, registry).map_err(|e| format!("{e:#}")));
    }

    /// The calibration of a run of `c` (measured by [`Calibrations::measure`]),
    /// its forward and backward the median over every calibration of the
    /// same model and micro-batch shape (one step each is noisy on a shared
    /// machine), with the number of those; or why it could not be measured.
    pub fn of(&self, c: &TrainConfig) -> Result<(Calibration, usize), String> {
        let key = toml::to_string(&calibration_config(c)).unwrap_or_default();
        let mut own = match self.done.get(&key) {
            Some(Ok(cal)) => *cal,
            Some(Err(reason)) => return Err(reason.clone()),
            None => return Err("not calibrated".into()),
        };
        let mut same: Vec<Calibration> = self
            .done
            .iter()
            .filter_map(|(k, cal)| {
                let other: TrainConfig = toml::from_str(k).ok()?;
                (model_key(&other) == model_key(c)).then_some(cal.as_ref().ok().copied())?
            })
            .collect();
        same.sort_by(|a, b| a.forward_backward.total_cmp(&b.forward_backward));
        if let Some(mid) = same.get(same.len() / 2) {
            own.forward = mid.forward;
            own.forward_backward = mid.forward_backward;
        }
        Ok((own, same.len().max(1)))
    }

    /// Wall seconds of every calibration measured.
    pub fn wall(&self) -> f64 {
        self.done.values().flatten().map(|c| c.wall).sum()
    }
}

fn measure(config: TrainConfig, registry: &Registry) -> Result<Calibration> {
    let start = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .context("the calibration's thread pool")?;
    let mut session = Session::in_memory(config, registry)?;
    let rows: Vec<StepRow> =
        pool.install(|| -> Result<Vec<StepRow>> { Ok(vec![session.step()?, session.step()?]) })?;
    let (first, second) = (&rows[0], &rows[1]);
    Ok(Calibration {
        forward: second.seconds_forward,
        forward_backward: second.seconds_forward + second.seconds_backward,
        update: second.seconds_update + second.seconds_subspace,
        refresh: first.seconds_subspace,
        wall: start.elapsed().as_secs_f64(),
    })
}

/// `seconds` as "3 h 05 min", "12 min 30 s" or "42 s".
pub fn human_seconds(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}
