//! Gradient accumulation: a batch of B sequences (B, T) run as B / b
//! micro-batches of b sequences, each a forward and a backward on
//! activations sized for (b, T), so that a batch no single step can hold
//! trains in the memory of one micro-batch.
//!
//! Contract: micro-batch i holds sequences i·b .. (i + 1)·b of the batch, in
//! order; its mean-loss gradient enters the gradient store weighted by its
//! share of the batch's tokens, b / B, so the store ends holding the batch's
//! mean gradient, and the returned loss is the batch's mean loss (the shares'
//! weighted sum of the micro-batches' mean losses, in f64). With one
//! micro-batch (b = B) both are the bits of one forward and one backward on
//! the whole batch. With more, the per-token gradients are the same, but each
//! weight gradient's sum over the batch's tokens is taken per micro-batch and
//! then added up: a different order of the same f32 sums, so the results
//! agree to rounding, not to the bit (the tolerance is stated and tested in
//! `tests/accumulation.rs`).

use std::time::Instant;

use super::errors::TrainError;
use crate::model::llama::{Activations, backward_scaled, forward};
use crate::{LlamaConfig, ParamStore};

/// A batch's mean loss and the wall seconds its forwards and backwards took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchPass {
    pub loss: f32,
    pub seconds_forward: f64,
    pub seconds_backward: f64,
}

/// Accumulates (`+=`) into `grads` the mean-loss gradient of the batch
/// `tokens`/`targets` (B, T), run in micro-batches of `acts`' b sequences
/// (b divides B); returns the batch's mean loss. A non-finite micro-batch
/// loss is an error naming `step` and the micro-batch, raised before its
/// backward runs.
#[allow(clippy::too_many_arguments)]
pub fn batch_gradient(
    grads: &mut ParamStore,
    params: &ParamStore,
    model: &LlamaConfig,
    tokens: &[u32],  // (B, T)
    targets: &[u32], // (B, T)
    t: usize,
    acts: &mut Activations,
    step: usize,
) -> Result<BatchPass, TrainError> {
    let (b, count) = micro_batches(tokens.len(), t, acts);
    let share = 1.0 / count as f64;
    let mut pass = BatchPass {
        loss: 0.0,
        seconds_forward: 0.0,
        seconds_backward: 0.0,
    };
    let mut loss = 0.0f64;
    for (i, (tok, tgt)) in tokens
        .chunks_exact(b * t)
        .zip(targets.chunks_exact(b * t))
        .enumerate()
    {
        let start = Instant::now();
        let micro_loss = forward(params, model, tok, tgt, b, t, acts);
        pass.seconds_forward += start.elapsed().as_secs_f64();
        if !micro_loss.is_finite() {
            return Err(TrainError::NonFinite {
                step,
                what: if count == 1 {
                    "the training loss".into()
                } else {
                    format!("the training loss of micro-batch {i} of {count}")
                },
                value: micro_loss,
            });
        }
        loss += f64::from(micro_loss) * share;
        let start = Instant::now();
        backward_scaled(grads, params, model, tok, tgt, b, t, acts, share as f32);
        pass.seconds_backward += start.elapsed().as_secs_f64();
    }
    pass.loss = loss as f32;
    Ok(pass)
}

/// The mean loss of the batch `tokens`/`targets` (B, T), run forward in
/// micro-batches of `acts`' b sequences as [`batch_gradient`] runs them.
pub fn batch_loss(
    params: &ParamStore,
    model: &LlamaConfig,
    tokens: &[u32],  // (B, T)
    targets: &[u32], // (B, T)
    t: usize,
    acts: &mut Activations,
) -> f32 {
    let (b, count) = micro_batches(tokens.len(), t, acts);
    let share = 1.0 / count as f64;
    let loss: f64 = tokens
        .chunks_exact(b * t)
        .zip(targets.chunks_exact(b * t))
        .map(|(tok, tgt)| f64::from(forward(params, model, tok, tgt, b, t, acts)) * share)
        .sum();
    loss as f32
}

/// (b, B / b) for a batch of `len` = B·T tokens and `acts` sized for (b, T).
fn micro_batches(len: usize, t: usize, acts: &Activations) -> (usize, usize) {
    let (b, at) = acts.shape();
    assert_eq!(at, t, "activations sized for another T");
    assert!(
        b > 0 && len.is_multiple_of(b * t),
        "a batch of {len} tokens is not a whole number of micro-batches of {b} × {t}"
    );
    (b, len / (b * t))
}
