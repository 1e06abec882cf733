//! A bias-free linear layer, `torch.nn.Linear(C, OC, bias=False)`.
//!
//! Contract: `out = inp · Wᵀ` with `W` in Hugging Face's (out, in) layout;
//! backward `dinp += dout · W`, `dW += doutᵀ · inp`.
//!
//! Letters: N rows (B·T), C input features, OC output features.

use faer::{Accum, MatMut, MatRef, Par};

/// `out = inp · Wᵀ`, overwriting `out`.
///
/// - `out`: (N, OC)
/// - `inp`: (N, C)
/// - `weight`: (OC, C), row-major (out, in) as `nn.Linear.weight`
pub fn linear_forward(
    out: &mut [f32], // (N, OC)
    inp: &[f32],     // (N, C)
    weight: &[f32],  // (OC, C)
    n: usize,
    c: usize,
    oc: usize,
) {
    assert_eq!(out.len(), n * oc, "out must be (N, OC)");
    assert_eq!(inp.len(), n * c, "inp must be (N, C)");
    assert_eq!(weight.len(), oc * c, "weight must be (OC, C)");
    let dst = MatMut::from_row_major_slice_mut(out, n, oc);
    let x = MatRef::from_row_major_slice(inp, n, c);
    let w = MatRef::from_row_major_slice(weight, oc, c);
    faer::linalg::matmul::matmul(dst, Accum::Replace, x, w.transpose(), 1.0f32, Par::Seq);
}

/// Accumulates `dinp += dout · W` and `dweight += doutᵀ · inp`.
///
/// - `dinp`: (N, C), `dweight`: (OC, C)
/// - `dout`: (N, OC), `inp`: (N, C), `weight`: (OC, C)
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    dinp: &mut [f32],    // (N, C)
    dweight: &mut [f32], // (OC, C)
    dout: &[f32],        // (N, OC)
    inp: &[f32],         // (N, C)
    weight: &[f32],      // (OC, C)
    n: usize,
    c: usize,
    oc: usize,
) {
    assert_eq!(dinp.len(), n * c, "dinp must be (N, C)");
    assert_eq!(dweight.len(), oc * c, "dweight must be (OC, C)");
    assert_eq!(dout.len(), n * oc, "dout must be (N, OC)");
    assert_eq!(inp.len(), n * c, "inp must be (N, C)");
    assert_eq!(weight.len(), oc * c, "weight must be (OC, C)");
    let g = MatRef::from_row_major_slice(dout, n, oc);
    let x = MatRef::from_row_major_slice(inp, n, c);
    let w = MatRef::from_row_major_slice(weight, oc, c);
    let dx = MatMut::from_row_major_slice_mut(dinp, n, c);
    faer::linalg::matmul::matmul(dx, Accum::Add, g, w, 1.0f32, Par::Seq);
    let dw = MatMut::from_row_major_slice_mut(dweight, oc, c);
    faer::linalg::matmul::matmul(dw, Accum::Add, g.transpose(), x, 1.0f32, Par::Seq);
}
