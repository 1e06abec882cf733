//! Rotary position embedding (Su et al. 2021, RoFormer, eq. 34), in Hugging
//! Face `modeling_llama`'s rotate-half convention.
//!
//! Within each head of dimension HS, dimension i pairs with i + HS/2 (not
//! with 2i + 1 as in Meta's and llm.c's interleaved convention; the two
//! differ by a fixed permutation of the q/k dimensions). For position p and
//! i < HS/2, with inv_freq_i = θ^(−2i/HS) and angle a = p · inv_freq_i:
//!
//! ```text
//! x'_i        = x_i · cos a − x_{i+HS/2} · sin a
//! x'_{i+HS/2} = x_{i+HS/2} · cos a + x_i · sin a
//! ```
//!
//! i.e. x' = x ⊙ cos + rotate_half(x) ⊙ sin with rotate_half(x) = [−x2, x1].
//! Each pair is rotated by an orthogonal 2×2 matrix R(a), so the backward
//! pass applies Rᵀ = R(−a).
//!
//! Positions are independent and run in parallel in fixed blocks.
//!
//! Letters: B batch, T sequence, NH heads, HS head dim, C = NH · HS.

use faer::Par;

use crate::model::parallel::{ROW_BLOCK, for_each};

/// Fills the rotation tables for positions 0..t: `cos[p, i] = cos(p ·
/// θ^(−2i/hs))` and likewise `sin`, for i < hs/2. Angles are computed in
/// f64 and the cosine and sine rounded once to f32.
pub fn rope_tables(
    cos: &mut [f32], // (T, HS/2)
    sin: &mut [f32], // (T, HS/2)
    t: usize,
    hs: usize,
    theta: f32,
) {
    assert!(hs.is_multiple_of(2), "head dim {hs} must be even for RoPE");
    let half = hs / 2;
    assert_eq!(cos.len(), t * half, "cos must be (T, HS/2)");
    assert_eq!(sin.len(), t * half, "sin must be (T, HS/2)");
    let theta = theta as f64;
    for p in 0..t {
        for i in 0..half {
            let inv_freq = theta.powf(-((2 * i) as f64) / hs as f64);
            let angle = p as f64 * inv_freq;
            cos[p * half + i] = angle.cos() as f32;
            sin[p * half + i] = angle.sin() as f32;
        }
    }
}

/// `out = rope(inp)`: rotates every head of every position of `inp` by the
/// angles of its position (overwrites `out`).
#[allow(clippy::too_many_arguments)]
pub fn rope_forward(
    out: &mut [f32], // (B, T, NH, HS) = (B, T, C)
    inp: &[f32],     // (B, T, NH, HS)
    cos: &[f32],     // (T, HS/2)
    sin: &[f32],     // (T, HS/2)
    par: Par,
    b: usize,
    t: usize,
    nh: usize,
    hs: usize,
) {
    check_shapes(out.len(), inp.len(), cos, sin, b, t, nh, hs);
    for_each_head(out, inp, cos, sin, par, t, nh, hs, |y, x, c, s| {
        let half = c.len();
        for i in 0..half {
            let (x1, x2) = (x[i], x[i + half]);
            y[i] = x1 * c[i] - x2 * s[i];
            y[i + half] = x2 * c[i] + x1 * s[i];
        }
    });
}

/// `dinp += ropeᵀ(dout)`: the inverse rotation (the transpose of the
/// forward's linear map) applied to `dout`, accumulated into `dinp`.
#[allow(clippy::too_many_arguments)]
pub fn rope_backward(
    dinp: &mut [f32], // (B, T, NH, HS)
    dout: &[f32],     // (B, T, NH, HS)
    cos: &[f32],      // (T, HS/2)
    sin: &[f32],      // (T, HS/2)
    par: Par,
    b: usize,
    t: usize,
    nh: usize,
    hs: usize,
) {
    check_shapes(dinp.len(), dout.len(), cos, sin, b, t, nh, hs);
    for_each_head(dinp, dout, cos, sin, par, t, nh, hs, |dx, dy, c, s| {
        let half = c.len();
        for i in 0..half {
            let (d1, d2) = (dy[i], dy[i + half]);
            dx[i] += d1 * c[i] + d2 * s[i];
            dx[i + half] += d2 * c[i] - d1 * s[i];
        }
    });
}

/// Calls `f(dst_head, src_head, cos_row, sin_row)` for every head of every
/// position (rows are the (HS/2) angles of the head's position), positions
/// in parallel blocks of [`ROW_BLOCK`].
#[allow(clippy::too_many_arguments)]
fn for_each_head(
    dst: &mut [f32], // (B, T, NH, HS)
    src: &[f32],     // (B, T, NH, HS)
    cos: &[f32],     // (T, HS/2)
    sin: &[f32],     // (T, HS/2)
    par: Par,
    t: usize,
    nh: usize,
    hs: usize,
    f: impl Fn(&mut [f32], &[f32], &[f32], &[f32]) + Send + Sync,
) {
    let half = hs / 2;
    let c = nh * hs;
    if c == 0 {
        return;
    }
    let blocks: Vec<_> = dst
        .chunks_mut(ROW_BLOCK * c)
        .zip(src.chunks(ROW_BLOCK * c))
        .enumerate()
        .collect();
    for_each(par, blocks, |(blk, (dst, src))| {
        for (r, (dst, src)) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c)).enumerate() {
            let p = (blk * ROW_BLOCK + r) % t;
            let (cs, sn) = (&cos[p * half..][..half], &sin[p * half..][..half]);
            for (y, x) in dst.chunks_exact_mut(hs).zip(src.chunks_exact(hs)) {
                f(y, x, cs, sn);
            }
        }
    });
}

#[allow(clippy::too_many_arguments)]
fn check_shapes(
    out_len: usize,
    inp_len: usize,
    cos: &[f32],
    sin: &[f32],
    b: usize,
    t: usize,
    nh: usize,
    hs: usize,
) {
    assert!(hs.is_multiple_of(2), "head dim {hs} must be even for RoPE");
    let n = b * t * nh * hs;
    assert_eq!(out_len, n, "output must be (B, T, NH, HS)");
    assert_eq!(inp_len, n, "input must be (B, T, NH, HS)");
    assert!(
        cos.len() >= t * (hs / 2) && sin.len() >= t * (hs / 2),
        "cos/sin tables must cover (T, HS/2)"
    );
}
