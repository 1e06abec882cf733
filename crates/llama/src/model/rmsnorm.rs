//! RMSNorm as Hugging Face's `LlamaRMSNorm`, computed in f32
//! (Zhang & Sennrich 2019).
//!
//! Contract, per row `x` of length C:
//! `r = 1 / sqrt(mean(x²) + eps)`, `y = (x · r) ⊙ w`.
//! Backward, with `g = dout ⊙ w`:
//! `dx += r · g − r³ · x · (g · x) / C`, `dw += dout ⊙ x · r`.
//!
//! Rows are independent and run in parallel in fixed blocks; `dw` sums
//! over rows, so it is computed in parallel over fixed blocks of columns,
//! each column summing its rows in order. The bits do not depend on `par`.
//!
//! Letters: N rows (B·T), C hidden.

use faer::Par;

use crate::model::parallel::{ROW_BLOCK, for_each};

/// Columns per block of the `dw` reduction.
const COL_BLOCK: usize = 64;

/// Forward; overwrites `out` and caches `rstd[i] = r` of row `i` for backward.
///
/// - `out`: (N, C), `rstd`: (N), `inp`: (N, C), `weight`: (C)
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_forward(
    out: &mut [f32],  // (N, C)
    rstd: &mut [f32], // (N)
    inp: &[f32],      // (N, C)
    weight: &[f32],   // (C)
    par: Par,
    n: usize,
    c: usize,
    eps: f32,
) {
    assert_eq!(out.len(), n * c, "out must be (N, C)");
    assert_eq!(rstd.len(), n, "rstd must be (N)");
    assert_eq!(inp.len(), n * c, "inp must be (N, C)");
    assert_eq!(weight.len(), c, "weight must be (C)");
    if c == 0 {
        return;
    }
    let blocks: Vec<_> = out
        .chunks_mut(ROW_BLOCK * c)
        .zip(rstd.chunks_mut(ROW_BLOCK))
        .zip(inp.chunks(ROW_BLOCK * c))
        .collect();
    for_each(par, blocks, |((out, rstd), inp)| {
        for ((y, x), r_out) in out
            .chunks_exact_mut(c)
            .zip(inp.chunks_exact(c))
            .zip(rstd.iter_mut())
        {
            let ms = x.iter().map(|&a| a * a).sum::<f32>() / c as f32;
            let r = 1.0 / (ms + eps).sqrt();
            *r_out = r;
            for ((yi, &xi), &wi) in y.iter_mut().zip(x).zip(weight) {
                *yi = (xi * r) * wi;
            }
        }
    });
}

/// Accumulates the input and weight gradients, using `rstd` from forward.
///
/// - `dinp`: (N, C), `dweight`: (C), `dout`: (N, C), `inp`: (N, C),
///   `weight`: (C), `rstd`: (N)
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm_backward(
    dinp: &mut [f32],    // (N, C)
    dweight: &mut [f32], // (C)
    dout: &[f32],        // (N, C)
    inp: &[f32],         // (N, C)
    weight: &[f32],      // (C)
    rstd: &[f32],        // (N)
    par: Par,
    n: usize,
    c: usize,
) {
    assert_eq!(dinp.len(), n * c, "dinp must be (N, C)");
    assert_eq!(dweight.len(), c, "dweight must be (C)");
    assert_eq!(dout.len(), n * c, "dout must be (N, C)");
    assert_eq!(inp.len(), n * c, "inp must be (N, C)");
    assert_eq!(weight.len(), c, "weight must be (C)");
    assert_eq!(rstd.len(), n, "rstd must be (N)");
    if c == 0 {
        return;
    }
    let blocks: Vec<_> = dinp
        .chunks_mut(ROW_BLOCK * c)
        .zip(dout.chunks(ROW_BLOCK * c))
        .zip(inp.chunks(ROW_BLOCK * c))
        .zip(rstd.chunks(ROW_BLOCK))
        .collect();
    for_each(par, blocks, |(((dinp, dout), inp), rstd)| {
        for (((dx, g), x), &r) in dinp
            .chunks_exact_mut(c)
            .zip(dout.chunks_exact(c))
            .zip(inp.chunks_exact(c))
            .zip(rstd)
        {
            let gwx: f32 = g
                .iter()
                .zip(weight)
                .zip(x)
                .map(|((&gi, &wi), &xi)| gi * wi * xi)
                .sum();
            let k = r * r * r * gwx / c as f32;
            for (((dxi, &gi), &wi), &xi) in dx.iter_mut().zip(g).zip(weight).zip(x) {
                *dxi += r * gi * wi - k * xi;
            }
        }
    });
    // dw[j] += Σ_i dout[i, j] · x[i, j] · r_i, each column over rows in order.
    let cols: Vec<_> = dweight.chunks_mut(COL_BLOCK).enumerate().collect();
    for_each(par, cols, |(blk, dw)| {
        let j0 = blk * COL_BLOCK;
        for ((g, x), &r) in dout.chunks_exact(c).zip(inp.chunks_exact(c)).zip(rstd) {
            let (g, x) = (&g[j0..j0 + dw.len()], &x[j0..j0 + dw.len()]);
            for ((dwj, &gj), &xj) in dw.iter_mut().zip(g).zip(x) {
                *dwj += gj * xj * r;
            }
        }
    });
}
