//! The SwiGLU gate of Llama's MLP (Shazeer 2020), elementwise.
//!
//! Contract: `out = silu(gate) ⊙ up`, `silu(x) = x · σ(x)`.
//! Backward: `dgate += dout ⊙ up ⊙ σ(gate) · (1 + gate · (1 − σ(gate)))`,
//! `dup += dout ⊙ silu(gate)`. σ is [`fastexp::sigmoid`]; the elements run
//! in parallel in fixed blocks.
//!
//! Letters: N rows (B·T), F intermediate; every buffer is (N, F).

use faer::Par;

use crate::model::fastexp::sigmoid;
use crate::model::parallel::{ELEM_BLOCK, for_each};

/// `out = silu(gate) ⊙ up`, overwriting `out`.
///
/// - `out`, `gate`, `up`: (N, F)
pub fn swiglu_forward(
    out: &mut [f32], // (N, F)
    gate: &[f32],    // (N, F)
    up: &[f32],      // (N, F)
    par: Par,
) {
    assert_eq!(gate.len(), out.len(), "gate must match out");
    assert_eq!(up.len(), out.len(), "up must match out");
    let blocks: Vec<_> = out
        .chunks_mut(ELEM_BLOCK)
        .zip(gate.chunks(ELEM_BLOCK))
        .zip(up.chunks(ELEM_BLOCK))
        .collect();
    for_each(par, blocks, |((out, gate), up)| {
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g * sigmoid(g) * u;
        }
    });
}

/// Accumulates the gradients of `gate` and `up`.
///
/// - `dgate`, `dup`, `dout`, `gate`, `up`: (N, F)
pub fn swiglu_backward(
    dgate: &mut [f32], // (N, F)
    dup: &mut [f32],   // (N, F)
    dout: &[f32],      // (N, F)
    gate: &[f32],      // (N, F)
    up: &[f32],        // (N, F)
    par: Par,
) {
    let len = dout.len();
    assert_eq!(dgate.len(), len, "dgate must match dout");
    assert_eq!(dup.len(), len, "dup must match dout");
    assert_eq!(gate.len(), len, "gate must match dout");
    assert_eq!(up.len(), len, "up must match dout");
    let blocks: Vec<_> = dgate
        .chunks_mut(ELEM_BLOCK)
        .zip(dup.chunks_mut(ELEM_BLOCK))
        .zip(dout.chunks(ELEM_BLOCK))
        .zip(gate.chunks(ELEM_BLOCK))
        .zip(up.chunks(ELEM_BLOCK))
        .collect();
    for_each(par, blocks, |((((dgate, dup), dout), gate), up)| {
        for ((((dg, du), &d), &g), &u) in dgate
            .iter_mut()
            .zip(dup.iter_mut())
            .zip(dout)
            .zip(gate)
            .zip(up)
        {
            let s = sigmoid(g);
            *dg += d * u * s * (1.0 + g * (1.0 - s));
            *du += d * g * s;
        }
    });
}
