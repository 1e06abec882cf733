//! Mean softmax cross-entropy over rows, as `torch.nn.functional.cross_entropy`
//! with `reduction="mean"`.
//!
//! Contract: per row, with m = max z and `lse = m + ln Σⱼ exp(zⱼ − m)`,
//! `lossᵢ = ln Σⱼ exp(zⱼ − m) − (z[targetᵢ] − m)` (no digits lost to large
//! logits) and `loss = (1/N) Σᵢ lossᵢ`. The forward keeps only `lse` per
//! row; the backward recomputes `p = exp(z − lse)` for any block of columns,
//! `dlogits += dloss · (p − onehot(targets)) / N`, so the model never holds
//! a second (N, V) buffer.
//!
//! Rows run in parallel in fixed blocks; within a row the max and the sum
//! use 8 interleaved lanes combined in a fixed order; the mean sums the row
//! losses in row order (in f64). The bits do not depend on `par`.
//!
//! Letters: N rows (B·T), V vocab, W a block of columns.

use faer::Par;

use crate::model::fastexp::exp;
use crate::model::parallel::{ROW_BLOCK, for_each};

/// Interleaved lanes of the per-row max and sum.
const LANES: usize = 8;
/// Elements per block of the per-row sum of exps.
const EXP_BLOCK: usize = 64;

/// Writes every row's loss and `lse`, and returns the mean loss.
///
/// - `losses`: (N), `lse`: (N), `logits`: (N, V), `targets`: (N) each `< V`
pub fn crossentropy_forward(
    losses: &mut [f32], // (N)
    lse: &mut [f32],    // (N)
    logits: &[f32],     // (N, V)
    targets: &[u32],    // (N)
    par: Par,
    n: usize,
    v: usize,
) -> f32 {
    assert_eq!(losses.len(), n, "losses must be (N)");
    assert_eq!(lse.len(), n, "lse must be (N)");
    assert_eq!(logits.len(), n * v, "logits must be (N, V)");
    assert_eq!(targets.len(), n, "targets must be (N)");
    if n == 0 {
        return 0.0;
    }
    assert!(v > 0, "V must be positive");
    let blocks: Vec<_> = losses
        .chunks_mut(ROW_BLOCK)
        .zip(lse.chunks_mut(ROW_BLOCK))
        .zip(logits.chunks(ROW_BLOCK * v))
        .zip(targets.chunks(ROW_BLOCK))
        .collect();
    for_each(par, blocks, |(((losses, lse), logits), targets)| {
        for (((loss, lse), z), &t) in losses
            .iter_mut()
            .zip(lse.iter_mut())
            .zip(logits.chunks_exact(v))
            .zip(targets)
        {
            let t = t as usize;
            assert!(t < v, "target {t} out of vocabulary of size {v}");
            let max = row_max(z);
            let ln_sum = row_sum_exp(z, max).ln();
            *lse = max + ln_sum;
            *loss = ln_sum - (z[t] - max);
        }
    });
    (losses.iter().map(|&l| f64::from(l)).sum::<f64>() / n as f64) as f32
}

/// Accumulates columns `v0..v0 + W` of `dloss · (softmax(logits) −
/// onehot(targets)) / N` into `dlogits`, using `lse` from the forward.
///
/// - `dlogits`: (N, W), `logits`: (N, V), `lse`: (N), `targets`: (N) each `< V`
#[allow(clippy::too_many_arguments)]
pub fn crossentropy_backward(
    dlogits: &mut [f32], // (N, W)
    logits: &[f32],      // (N, V)
    lse: &[f32],         // (N)
    targets: &[u32],     // (N)
    par: Par,
    n: usize,
    v: usize,
    v0: usize,
    dloss: f32,
) {
    assert_eq!(logits.len(), n * v, "logits must be (N, V)");
    assert_eq!(lse.len(), n, "lse must be (N)");
    assert_eq!(targets.len(), n, "targets must be (N)");
    if n == 0 {
        return;
    }
    assert_eq!(dlogits.len() % n, 0, "dlogits must be (N, W)");
    let w = dlogits.len() / n;
    assert!(v0 + w <= v, "columns {v0}..{} exceed V = {v}", v0 + w);
    if w == 0 {
        return;
    }
    let scale = dloss / n as f32;
    let blocks: Vec<_> = dlogits
        .chunks_mut(ROW_BLOCK * w)
        .zip(logits.chunks(ROW_BLOCK * v))
        .zip(lse.chunks(ROW_BLOCK))
        .zip(targets.chunks(ROW_BLOCK))
        .collect();
    for_each(par, blocks, |(((dlogits, logits), lse), targets)| {
        for (((d, z), &lse), &t) in dlogits
            .chunks_exact_mut(w)
            .zip(logits.chunks_exact(v))
            .zip(lse)
            .zip(targets)
        {
            let t = t as usize;
            assert!(t < v, "target {t} out of vocabulary of size {v}");
            for (di, &zi) in d.iter_mut().zip(&z[v0..v0 + w]) {
                *di += scale * exp(zi - lse);
            }
            if (v0..v0 + w).contains(&t) {
                d[t - v0] -= scale;
            }
        }
    });
}

/// max z over a row (exact in any order).
fn row_max(z: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = z.chunks_exact(LANES);
    let rest = chunks.remainder();
    for ch in chunks {
        for (m, &x) in lanes.iter_mut().zip(ch) {
            *m = if x > *m { x } else { *m };
        }
    }
    lanes
        .into_iter()
        .chain(rest.iter().copied())
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Σ exp(z − max) over a row: element j goes to lane j mod [`LANES`] of
/// blocks of [`EXP_BLOCK`] (computed first into a buffer, so the exps
/// vectorize), the lanes summed in order, then the tail in order.
fn row_sum_exp(z: &[f32], max: f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let mut buf = [0.0f32; EXP_BLOCK];
    let chunks = z.chunks_exact(EXP_BLOCK);
    let rest = chunks.remainder();
    for ch in chunks {
        for (e, &x) in buf.iter_mut().zip(ch) {
            *e = exp(x - max);
        }
        for es in buf.chunks_exact(LANES) {
            for (s, &e) in lanes.iter_mut().zip(es) {
                *s += e;
            }
        }
    }
    lanes.iter().sum::<f32>() + rest.iter().map(|&x| exp(x - max)).sum::<f32>()
}
