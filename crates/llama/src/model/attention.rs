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
//! Letters: B batch, T sequence, NH heads, HS head dim, C = NH · HS.
//! This is the plain-loop reference; faster variants are tested against it.

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
    let scale = 1.0 / (hs as f32).sqrt();
    for bi in 0..b {
        for h in 0..nh {
            for i in 0..t {
                let qi = &q[(bi * t + i) * c + h * hs..][..hs];
                let row = &mut att[((bi * nh + h) * t + i) * t..][..t];
                // Scores s_ij for j ≤ i, and their maximum.
                let mut max = f32::NEG_INFINITY;
                for j in 0..=i {
                    let kj = &k[(bi * t + j) * c + h * hs..][..hs];
                    let s = dot(qi, kj) * scale;
                    row[j] = s;
                    max = max.max(s);
                }
                // Stable softmax over j ≤ i; masked entries are zero.
                let mut sum = 0.0f32;
                for a in &mut row[..=i] {
                    *a = (*a - max).exp();
                    sum += *a;
                }
                let inv_sum = 1.0 / sum;
                row[..=i].iter_mut().for_each(|a| *a *= inv_sum);
                row[i + 1..].fill(0.0);
                // out_i = Σ_j att_ij v_j.
                let oi = &mut out[(bi * t + i) * c + h * hs..][..hs];
                oi.fill(0.0);
                for (j, &a) in row[..=i].iter().enumerate() {
                    let vj = &v[(bi * t + j) * c + h * hs..][..hs];
                    oi.iter_mut().zip(vj).for_each(|(o, &x)| *o += a * x);
                }
            }
        }
    }
}

/// Backward of [`attention_forward`]: accumulates (`+=`) the gradients of
/// q, k, v given `dout` and the forward's cached `att`.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    dq: &mut [f32], // (B, T, C)
    dk: &mut [f32], // (B, T, C)
    dv: &mut [f32], // (B, T, C)
    dout: &[f32],   // (B, T, C)
    att: &[f32],    // (B, NH, T, T)
    q: &[f32],      // (B, T, C)
    k: &[f32],      // (B, T, C)
    v: &[f32],      // (B, T, C)
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
    assert!(
        q.len() == n && k.len() == n && v.len() == n,
        "q, k, v must be (B, T, C)"
    );
    let scale = 1.0 / (hs as f32).sqrt();
    for bi in 0..b {
        for h in 0..nh {
            for i in 0..t {
                let off_i = (bi * t + i) * c + h * hs;
                let row = &att[((bi * nh + h) * t + i) * t..][..t];
                let douti = &dout[off_i..][..hs];
                // dout_i · out_i = Σ_j att_ij (dout_i · v_j).
                let mut dout_out = 0.0f32;
                for (j, &a) in row[..=i].iter().enumerate() {
                    let vj = &v[(bi * t + j) * c + h * hs..][..hs];
                    dout_out += a * dot(douti, vj);
                }
                for (j, &a) in row[..=i].iter().enumerate() {
                    let off_j = (bi * t + j) * c + h * hs;
                    let vj = &v[off_j..][..hs];
                    // dv_j += att_ij dout_i.
                    let dvj = &mut dv[off_j..][..hs];
                    dvj.iter_mut().zip(douti).for_each(|(d, &g)| *d += a * g);
                    // Softmax backward, then the scaled q·kᵀ product.
                    let ds = a * (dot(douti, vj) - dout_out) * scale;
                    let kj = &k[off_j..][..hs];
                    let dqi = &mut dq[off_i..][..hs];
                    dqi.iter_mut().zip(kj).for_each(|(d, &x)| *d += ds * x);
                    let qi = &q[off_i..][..hs];
                    let dkj = &mut dk[off_j..][..hs];
                    dkj.iter_mut().zip(qi).for_each(|(d, &x)| *d += ds * x);
                }
            }
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
