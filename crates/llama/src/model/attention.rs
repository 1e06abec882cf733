//! Causal multi-head scaled dot-product attention (Vaswani et al. 2017,
//! eq. 1), as Hugging Face's `LlamaAttention` computes it after the q/k/v
//! projections and RoPE, before o_proj.
//!
//! For each batch row b and head h, with q_i, k_j, v_j the HS-vectors of
//! head h at positions i, j (columns h·HS..(h+1)·HS of C):
//!
//! ```text
//! s_ij   = q_i · k_j / √HS                      for j ≤ i (causal mask)
//! att_ij = exp(s_ij − max_j s_ij) / Σ_{j'≤i} exp(s_ij' − max_j s_ij)
//! out_i  = Σ_{j≤i} att_ij v_j                   (heads concatenated into C)
//! ```
//!
//! and att_ij = 0 for j > i. The forward caches `att`, which the backward
//! reads along with q, k, v:
//!
//! ```text
//! dv_j  += Σ_i att_ij dout_i
//! ds_ij  = att_ij (dout_i · v_j − dout_i · out_i)
//! dq_i  += Σ_j ds_ij k_j / √HS,   dk_j += Σ_i ds_ij q_i / √HS
//! ```
//!
//! using Σ_j att_ij (dout_i · v_j) = dout_i · out_i.
//!
//! Each (b, h) pair runs as T×T matrix products on faer (sequential
//! [`gemm`] calls on the pair's strided views of q, k, v and out), the pairs
//! in parallel, each writing only its own columns of `out`/`dq`/`dk`/`dv`
//! and its own (T, T) block of `att`; so the bits do not depend on `par`.
//! The score products are computed in full and the softmax masks them.
//!
//! Letters: B batch, T sequence, NH heads, HS head dim, C = NH · HS.

use faer::{Accum, MatMut, MatRef, Par};

use crate::model::fastexp::exp;
use crate::model::parallel::{for_each, gemm};

/// Causal softmax attention of `q`, `k`, `v` (q and k already rotated by
/// RoPE): overwrites `out` and the cache `att` of softmax probabilities
/// (zeros above the diagonal).
#[allow(clippy::too_many_arguments)]
pub fn attention_forward(
    out: &mut [f32], // (B, T, C)
    att: &mut [f32], // (B, NH, T, T)
    q: &[f32],       // (B, T, C)
    k: &[f32],       // (B, T, C)
    v: &[f32],       // (B, T, C)
    par: Par,
    b: usize,
    t: usize,
    nh: usize,
    hs: usize,
) {
    let c = nh * hs;
    let n = b * t * c;
    assert_eq!(out.len(), n, "out must be (B, T, C)");
    assert_eq!(att.len(), b * nh * t * t, "att must be (B, NH, T, T)");
    assert!(
        q.len() == n && k.len() == n && v.len() == n,
        "q, k, v must be (B, T, C)"
    );
    if n == 0 {
        return;
    }
    let scale = 1.0 / (hs as f32).sqrt();
    let pairs: Vec<_> = head_views_mut(out, b, t, nh, hs)
        .into_iter()
        .zip(att.chunks_exact_mut(t * t))
        .enumerate()
        .collect();
    for_each(par, pairs, |(pair, (out, att))| {
        let (q, k, v) = (
            head_view(q, pair, t, nh, hs),
            head_view(k, pair, t, nh, hs),
            head_view(v, pair, t, nh, hs),
        );
        // s = q kᵀ / √HS, all (T, T) of it; the softmax reads j ≤ i.
        let s = MatMut::from_row_major_slice_mut(&mut *att, t, t);
        gemm(s, Accum::Replace, q, k.transpose(), scale);
        for (i, row) in att.chunks_exact_mut(t).enumerate() {
            let max = row[..=i].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for a in &mut row[..=i] {
                *a = exp(*a - max);
                sum += *a;
            }
            let inv_sum = 1.0 / sum;
            row[..=i].iter_mut().for_each(|a| *a *= inv_sum);
            row[i + 1..].fill(0.0);
        }
        // out = att v.
        let p = MatRef::from_row_major_slice(att, t, t);
        gemm(out, Accum::Replace, p, v, 1.0);
    });
}

/// Backward of [`attention_forward`]: accumulates (`+=`) the gradients of
/// q, k, v given `dout` and the forward's cached `att`; `datt` is scratch
/// (overwritten).
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    dq: &mut [f32],   // (B, T, C)
    dk: &mut [f32],   // (B, T, C)
    dv: &mut [f32],   // (B, T, C)
    datt: &mut [f32], // (B, NH, T, T)
    dout: &[f32],     // (B, T, C)
    att: &[f32],      // (B, NH, T, T)
    q: &[f32],        // (B, T, C)
    k: &[f32],        // (B, T, C)
    v: &[f32],        // (B, T, C)
    par: Par,
    b: usize,
    t: usize,
    nh: usize,
    hs: usize,
) {
    let c = nh * hs;
    let n = b * t * c;
    assert!(
        dq.len() == n && dk.len() == n && dv.len() == n,
        "dq, dk, dv must be (B, T, C)"
    );
    assert_eq!(dout.len(), n, "dout must be (B, T, C)");
    assert_eq!(att.len(), b * nh * t * t, "att must be (B, NH, T, T)");
    assert_eq!(datt.len(), b * nh * t * t, "datt must be (B, NH, T, T)");
    assert!(
        q.len() == n && k.len() == n && v.len() == n,
        "q, k, v must be (B, T, C)"
    );
    if n == 0 {
        return;
    }
    let scale = 1.0 / (hs as f32).sqrt();
    let pairs: Vec<_> = head_views_mut(dq, b, t, nh, hs)
        .into_iter()
        .zip(head_views_mut(dk, b, t, nh, hs))
        .zip(head_views_mut(dv, b, t, nh, hs))
        .zip(datt.chunks_exact_mut(t * t))
        .zip(att.chunks_exact(t * t))
        .enumerate()
        .collect();
    for_each(par, pairs, |(pair, ((((dq, dk), dv), ds), att))| {
        let (q, k, v, dout) = (
            head_view(q, pair, t, nh, hs),
            head_view(k, pair, t, nh, hs),
            head_view(v, pair, t, nh, hs),
            head_view(dout, pair, t, nh, hs),
        );
        let p = MatRef::from_row_major_slice(att, t, t);
        // dv += attᵀ dout.
        gemm(dv, Accum::Add, p.transpose(), dout, 1.0);
        // dp_ij = dout_i · v_j, then ds_ij = att_ij (dp_ij − dout_i · out_i) / √HS
        // in place (zero above the diagonal, where att is zero).
        let dp = MatMut::from_row_major_slice_mut(&mut *ds, t, t);
        gemm(dp, Accum::Replace, dout, v.transpose(), 1.0);
        for (i, (row, a)) in ds.chunks_exact_mut(t).zip(att.chunks_exact(t)).enumerate() {
            let dout_out: f32 = row[..=i].iter().zip(&a[..=i]).map(|(&d, &a)| a * d).sum();
            for (d, &a) in row[..=i].iter_mut().zip(&a[..=i]) {
                *d = a * (*d - dout_out) * scale;
            }
            row[i + 1..].fill(0.0);
        }
        let ds = MatRef::from_row_major_slice(ds, t, t);
        // dq += ds k, dk += dsᵀ q.
        gemm(dq, Accum::Add, ds, k, 1.0);
        gemm(dk, Accum::Add, ds.transpose(), q, 1.0);
    });
}

/// The (T, HS) view of head `pair % NH` of batch row `pair / NH` in a
/// (B, T, C) buffer (row stride C).
fn head_view(buf: &[f32], pair: usize, t: usize, nh: usize, hs: usize) -> MatRef<'_, f32> {
    let (bi, h) = (pair / nh, pair % nh);
    MatRef::from_row_major_slice(buf, buf.len() / (nh * hs), nh * hs)
        .subrows(bi * t, t)
        .subcols(h * hs, hs)
}

/// The disjoint (T, HS) views of every (b, h) pair of a (B, T, C) buffer, in
/// pair order b · NH + h.
fn head_views_mut(
    buf: &mut [f32],
    b: usize,
    t: usize,
    nh: usize,
    hs: usize,
) -> Vec<MatMut<'_, f32>> {
    let mut views = Vec::with_capacity(b * nh);
    let mut rest = MatMut::from_row_major_slice_mut(buf, b * t, nh * hs);
    for _ in 0..b {
        let (mut row, bottom) = rest.split_at_row_mut(t);
        rest = bottom;
        for _ in 0..nh {
            let (head, right) = row.split_at_col_mut(hs);
            views.push(head);
            row = right;
        }
    }
    views
}
