//! A minimal training loop: byte-level tokens, seeded batches, GaLore's
//! cosine schedule, and AdamW or GaLore-AdamW.
//!
//! - [`encode_bytes`]: the byte tokenizer (vocab 256);
//! - [`Batches`]: (tokens, targets) windows of a token stream, drawn
//!   deterministically from a seeded ChaCha8 per step, with the last 10% of
//!   the stream held out for [`eval_loss`];
//! - [`cosine_lr`]: GaLore's `get_cosine_schedule_with_min_lr` (linear
//!   warm-up from 0, cosine decay to `min_ratio · base_lr`);
//! - [`train`]: zero the gradients, forward, backward, optimizer step, and a
//!   [`StepRecord`] per step.

use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::llama::{Activations, backward, forward};
use crate::optim::{AdamW, GaloreAdamW, RefreshError};
use crate::{LlamaConfig, ParamStore};

/// The byte-level tokenizer: one token per byte (vocab 256).
pub fn encode_bytes(text: &[u8]) -> Vec<u32> {
    text.iter().map(|&x| u32::from(x)).collect()
}

/// Deterministic (tokens, targets) batches of a token stream: the first 90%
/// trains, the last 10% is held out for evaluation.
#[derive(Debug, Clone)]
pub struct Batches {
    train: Vec<u32>,
    held_out: Vec<u32>,
    seed: u64,
}

/// The stream of evaluation draws (distinct from every training step's).
const EVAL_STREAM: u64 = u64::MAX;

impl Batches {
    /// Splits `tokens` into train (first 90%) and held-out (last 10%);
    /// `seed` seeds every window draw.
    pub fn new(tokens: Vec<u32>, seed: u64) -> Self {
        let cut = tokens.len() - tokens.len() / 10;
        let held_out = tokens[cut..].to_vec();
        let mut train = tokens;
        train.truncate(cut);
        Self {
            train,
            held_out,
            seed,
        }
    }

    /// The training tokens.
    pub fn train_tokens(&self) -> &[u32] {
        &self.train
    }

    /// The held-out tokens.
    pub fn held_out_tokens(&self) -> &[u32] {
        &self.held_out
    }

    /// The training batch of step `step`: B windows of T + 1 tokens whose
    /// starts ChaCha8 (`seed`, stream `step`) draws; targets are the tokens
    /// shifted by one. Depends only on (seed, step, B, T).
    pub fn train_batch(&self, step: u64, b: usize, t: usize) -> (Vec<u32>, Vec<u32>) {
        assert!(step != EVAL_STREAM, "step {step} is reserved");
        windows(&self.train, self.seed, step, b, t)
    }

    /// Held-out batch `index`: as [`Batches::train_batch`], on the held-out
    /// split (ChaCha8 stream reserved for evaluation, then `index` draws on).
    pub fn eval_batch(&self, index: usize, b: usize, t: usize) -> (Vec<u32>, Vec<u32>) {
        let seed = self.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        windows(&self.held_out, seed, EVAL_STREAM, b, t)
    }
}

/// B windows of `stream` of T + 1 tokens each, starts drawn from ChaCha8
/// (`seed`, `stream_id`).
fn windows(stream: &[u32], seed: u64, stream_id: u64, b: usize, t: usize) -> (Vec<u32>, Vec<u32>) {
    assert!(
        stream.len() > t,
        "a split of {} tokens is too short for windows of T + 1 = {}",
        stream.len(),
        t + 1
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream_id);
    let starts = stream.len() - t; // start in 0..starts keeps start + T in range
    let mut tokens = Vec::with_capacity(b * t);
    let mut targets = Vec::with_capacity(b * t);
    for _ in 0..b {
        let s = rng.random_range(0..starts);
        tokens.extend_from_slice(&stream[s..s + t]);
        targets.extend_from_slice(&stream[s + 1..s + t + 1]);
    }
    (tokens, targets)
}

/// GaLore's learning rate at 0-based `step` of `total`: `base · step /
/// warmup` during the warm-up, then `base · (min_ratio + (1 − min_ratio) ·
/// ½(1 + cos(π · progress)))` with `progress = (step − warmup) / (total −
/// warmup)`. Step 0 is 0, step `warmup` is `base`, step `total` is
/// `min_ratio · base` (GaLore's recipe: warmup = total/10, min_ratio 0.1).
pub fn cosine_lr(step: usize, total: usize, warmup: usize, base_lr: f32, min_ratio: f32) -> f32 {
    let factor = if step < warmup {
        step as f64 / warmup.max(1) as f64
    } else {
        let progress =
            ((step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        let min = f64::from(min_ratio);
        min + (1.0 - min) * cosine
    };
    (f64::from(base_lr) * factor) as f32
}

/// The optimizer of a run.
#[derive(Debug)]
pub enum Optimizer {
    AdamW(AdamW),
    Galore(GaloreAdamW),
}

impl Optimizer {
    /// One step at learning rate `lr` (GaLore fails, changing nothing, when
    /// its subspace method fails on a refresh).
    pub fn step(
        &mut self,
        params: &mut ParamStore,
        grads: &ParamStore,
        lr: f32,
    ) -> Result<(), RefreshError> {
        match self {
            Optimizer::AdamW(o) => {
                o.step(params, grads, lr);
                Ok(())
            }
            Optimizer::Galore(o) => o.step(params, grads, lr),
        }
    }

    /// Bytes of optimizer state.
    pub fn state_bytes(&self) -> usize {
        match self {
            Optimizer::AdamW(o) => o.state_bytes(),
            Optimizer::Galore(o) => o.state_bytes(),
        }
    }

    /// Wall seconds of the subspace computations of the last step (0 for
    /// AdamW and for a GaLore step without a refresh).
    pub fn last_subspace_seconds(&self) -> f64 {
        match self {
            Optimizer::AdamW(_) => 0.0,
            Optimizer::Galore(o) => o.last_step_timing().seconds,
        }
    }
}

/// What one training step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    /// 0-based.
    pub step: usize,
    pub lr: f32,
    /// The batch's mean cross-entropy before the update.
    pub loss: f32,
    pub seconds_forward: f64,
    pub seconds_backward: f64,
    /// The whole optimizer step, subspace computations included.
    pub seconds_optimizer: f64,
    /// Of which the subspace computations (GaLore's refreshes; 0 for AdamW).
    pub seconds_subspace: f64,
}

/// Trains `params` for `steps` steps on `data`'s training batches (B, T)
/// with `opt` under [`cosine_lr`] (warm-up `steps / 10`, min ratio 0.1) and
/// calls `on_step` after every step. Fails when the optimizer does.
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &LlamaConfig,
    params: &mut ParamStore,
    opt: &mut Optimizer,
    data: &Batches,
    steps: usize,
    b: usize,
    t: usize,
    base_lr: f32,
    mut on_step: impl FnMut(&StepRecord),
) -> Result<(), RefreshError> {
    let mut acts = Activations::new(config, b, t);
    let mut grads = ParamStore::zeros(params.layout());
    let warmup = steps / 10;
    for step in 0..steps {
        let (tokens, targets) = data.train_batch(step as u64, b, t);
        let lr = cosine_lr(step, steps, warmup, base_lr, 0.1);

        let start = Instant::now();
        let loss = forward(params, config, &tokens, &targets, b, t, &mut acts);
        let seconds_forward = start.elapsed().as_secs_f64();

        let start = Instant::now();
        grads.as_mut_slice().fill(0.0);
        backward(
            &mut grads, params, config, &tokens, &targets, b, t, &mut acts,
        );
        let seconds_backward = start.elapsed().as_secs_f64();

        let start = Instant::now();
        opt.step(params, &grads, lr)?;
        let seconds_optimizer = start.elapsed().as_secs_f64();

        on_step(&StepRecord {
            step,
            lr,
            loss,
            seconds_forward,
            seconds_backward,
            seconds_optimizer,
            seconds_subspace: opt.last_subspace_seconds(),
        });
    }
    Ok(())
}

/// Mean loss of `params` over `batches` held-out batches (B, T).
pub fn eval_loss(
    config: &LlamaConfig,
    params: &ParamStore,
    data: &Batches,
    b: usize,
    t: usize,
    batches: usize,
) -> f32 {
    assert!(batches > 0, "evaluate at least one batch");
    let mut acts = Activations::new(config, b, t);
    let total: f64 = (0..batches)
        .map(|i| {
            let (tokens, targets) = data.eval_batch(i, b, t);
            f64::from(forward(params, config, &tokens, &targets, b, t, &mut acts))
        })
        .sum();
    (total / batches as f64) as f32
}
