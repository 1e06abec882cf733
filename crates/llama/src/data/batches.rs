//! Deterministic (tokens, targets) batches of a token stream: the first 90%
//! trains, the last 10% is held out for evaluation. A training batch is a
//! function of (seed, step, B, T) only, drawn from a seeded ChaCha8 stream
//! per step, so a resumed run sees the batches the uninterrupted one did.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The token stream of a run, split into training and held-out tokens.
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
