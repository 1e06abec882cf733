//! A bias-free linear layer, `torch.nn.Linear(C, OC, bias=False)`.
//!
//! Contract: `out = inp · Wᵀ` with `W` in Hugging Face's (out, in) layout;
//! backward `dinp += dout · W`, `dW += doutᵀ · inp`. Each product runs on
//! fixed output tiles (of `out`/`dinp` by [`matmul`], and bands of
//! [`BAND_ROWS`] rows of `dW`, i.e. of OC), so no inner product is split
//! and the bits do not depend on `par` (docs/numerics.md#gemm).
//!
//! faer's kernels are markedly slower with a column-major left operand
//! (measured 47 against 67 GFLOP/s for lm_head's `doutᵀ · inp` on one
//! core), so each band of `dW` first copies its rows of `doutᵀ` row-major
//! into the workspace.
//!
//! Letters: N rows (B·T), C input features, OC output features.

use faer::{Accum, MatMut, MatRef, Par};

use crate::model::parallel::{for_each, gemm, matmul};

/// Rows of `dW` per band of the backward.
pub const BAND_ROWS: usize = 128;

/// `out = inp · Wᵀ`, overwriting `out`.
///
/// - `out`: (N, OC)
/// - `inp`: (N, C)
/// - `weight`: (OC, C), row-major (out, in) as `nn.Linear.weight`
pub fn linear_forward(
    out: &mut [f32], // (N, OC)
    inp: &[f32],     // (N, C)
    weight: &[f32],  // (OC, C)
    par: Par,
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
    matmul(dst, Accum::Replace, x, w.transpose(), 1.0, par);
}

/// Bytes of [`linear_backward`]'s workspace: doutᵀ, (OC, N) f32.
pub fn linear_backward_workspace_bytes(n: usize, oc: usize) -> usize {
    n * oc * size_of::<f32>()
}

/// Accumulates `dinp += dout · W` and `dweight += doutᵀ · inp`.
///
/// - `dinp`: (N, C), `dweight`: (OC, C)
/// - `workspace`: at least [`linear_backward_workspace_bytes`], overwritten
/// - `dout`: (N, OC), `inp`: (N, C), `weight`: (OC, C)
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    dinp: &mut [f32],      // (N, C)
    dweight: &mut [f32],   // (OC, C)
    workspace: &mut [f32], // (OC, N)
    dout: &[f32],          // (N, OC)
    inp: &[f32],           // (N, C)
    weight: &[f32],        // (OC, C)
    par: Par,
    n: usize,
    c: usize,
    oc: usize,
) {
    assert_eq!(dinp.len(), n * c, "dinp must be (N, C)");
    assert_eq!(dweight.len(), oc * c, "dweight must be (OC, C)");
    assert_eq!(dout.len(), n * oc, "dout must be (N, OC)");
    assert_eq!(inp.len(), n * c, "inp must be (N, C)");
    assert_eq!(weight.len(), oc * c, "weight must be (OC, C)");
    assert!(
        size_of_val(workspace) >= linear_backward_workspace_bytes(n, oc),
        "workspace must hold (OC, N)"
    );
    let g = MatRef::from_row_major_slice(dout, n, oc);
    let x = MatRef::from_row_major_slice(inp, n, c);
    let w = MatRef::from_row_major_slice(weight, oc, c);
    let dx = MatMut::from_row_major_slice_mut(dinp, n, c);
    matmul(dx, Accum::Add, g, w, 1.0, par);
    if n == 0 || c == 0 {
        return;
    }
    // Bands of BAND_ROWS rows of dW: copy doutᵀ's rows, then one product.
    let bands: Vec<_> = dweight
        .chunks_mut(BAND_ROWS * c)
        .zip(workspace[..oc * n].chunks_mut(BAND_ROWS * n))
        .enumerate()
        .collect();
    for_each(par, bands, |(band, (dw, gt))| {
        let rows = dw.len() / c;
        transpose_cols(gt, dout, n, oc, band * BAND_ROWS, rows);
        let gt = MatRef::from_row_major_slice(gt, rows, n);
        let dw = MatMut::from_row_major_slice_mut(dw, rows, c);
        gemm(dw, Accum::Add, gt, x, 1.0);
    });
}

/// `dst ← src[:, col0..col0 + rows]ᵀ` for `src` (N, LD) row-major, in
/// cache-line blocks (faer's `copy_from` of a transposed view goes element
/// by element).
fn transpose_cols(
    dst: &mut [f32], // (rows, N)
    src: &[f32],     // (N, LD)
    n: usize,
    ld: usize,
    col0: usize,
    rows: usize,
) {
    const BLOCK: usize = 16;
    let dst = &mut dst[..rows * n];
    for i0 in (0..n).step_by(BLOCK) {
        let ih = BLOCK.min(n - i0);
        for r0 in (0..rows).step_by(BLOCK) {
            let rh = BLOCK.min(rows - r0);
            for i in i0..i0 + ih {
                let s = &src[i * ld + col0 + r0..][..rh];
                for (r, &x) in s.iter().enumerate() {
                    dst[(r0 + r) * n + i] = x;
                }
            }
        }
    }
}
