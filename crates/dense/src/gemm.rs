//! The one GEMM policy: fixed output tiles of sequential faer GEMMs, the
//! same bits for any thread count.
//!
//! [`matmul`] cuts `dst` into tiles of [`TILE_ROWS`] × [`TILE_COLS`] in a
//! fixed order that depends only on the shapes, computes each tile's full
//! inner products with one sequential faer GEMM ([`gemm`]), and hands the
//! tiles to the current rayon pool through [`crate::par::for_each`]. Every
//! entry of `dst` is therefore the same sequence of floating-point
//! operations whatever the thread count: only which thread computes a tile
//! changes. The model, the subspace kernels and every CPU plugin multiply
//! through it.
//!
//! Why not faer's own parallel GEMM (faer 0.24.4, read in its source and
//! measured by `tests/faer_evidence.rs`): its GEMM kernel
//! (`private-gemm-x86` on AVX2/AVX-512, `gemm` 0.19 elsewhere) splits the
//! output across threads and keeps the inner sum whole (k in fixed chunks
//! of 512, outside the parallel region), but its matrix × vector path
//! (`dst` of one column or row with a column-major `lhs`, ≥ 256·256
//! entries) splits the inner sum into `Par::Rayon(n)`'s n column slabs and
//! adds the partial sums: those bits change with n. Which path runs, and
//! how it blocks, is faer's internal choice and may change with a release;
//! the tiles make the bits ours. The tile sizes are part of the policy: a
//! one-row or one-column edge tile leaves faer's GEMM kernel and sums in
//! another order, so changing them can change bits. The full account, with
//! the measured evidence: docs/numerics.md#gemm.

use crate::clear_upper_simd;
use crate::par::for_each;
use faer::{Accum, MatMut, MatRef, Par};

/// Rows per tile of [`matmul`]'s output.
pub const TILE_ROWS: usize = 128;
/// Columns per tile of [`matmul`]'s output.
pub const TILE_COLS: usize = 512;

/// `dst ← alpha · lhs · rhs` (`Accum::Replace`) or `dst += alpha · lhs ·
/// rhs` (`Accum::Add`) with one sequential faer GEMM, then clears the upper
/// AVX state ([`clear_upper_simd`]).
pub fn gemm(
    dst: MatMut<'_, f32>,
    accum: Accum,
    lhs: MatRef<'_, f32>,
    rhs: MatRef<'_, f32>,
    alpha: f32,
) {
    faer::linalg::matmul::matmul(dst, accum, lhs, rhs, alpha, Par::Seq);
    clear_upper_simd();
}

/// [`gemm`] on fixed tiles of [`TILE_ROWS`] × [`TILE_COLS`] of `dst`, each
/// tile computing its full inner products, spread over `par` (the module
/// doc: the same bits for any `par` and any pool).
pub fn matmul(
    dst: MatMut<'_, f32>,
    accum: Accum,
    lhs: MatRef<'_, f32>,
    rhs: MatRef<'_, f32>,
    alpha: f32,
    par: Par,
) {
    let (m, n) = (dst.nrows(), dst.ncols());
    assert!(
        lhs.nrows() == m && rhs.ncols() == n && lhs.ncols() == rhs.nrows(),
        "matmul shapes: dst {m}×{n}, lhs {}×{}, rhs {}×{}",
        lhs.nrows(),
        lhs.ncols(),
        rhs.nrows(),
        rhs.ncols()
    );
    let mut tiles = Vec::with_capacity(m.div_ceil(TILE_ROWS) * n.div_ceil(TILE_COLS));
    let mut rest = dst;
    let mut row = 0;
    while row < m {
        let h = TILE_ROWS.min(m - row);
        let (mut band, bottom) = rest.split_at_row_mut(h);
        rest = bottom;
        let mut col = 0;
        while col < n {
            let w = TILE_COLS.min(n - col);
            let (tile, right) = band.split_at_col_mut(w);
            band = right;
            tiles.push((tile, lhs.subrows(row, h), rhs.subcols(col, w)));
            col += w;
        }
        row += h;
    }
    for_each(par, tiles, |(d, l, r)| gemm(d, accum, l, r, alpha));
}
