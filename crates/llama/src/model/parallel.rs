//! Fixed-block parallel execution: the same bits for any thread count.
//!
//! Contract: every kernel of this module's siblings splits its work into
//! blocks whose boundaries depend only on the shapes (never on the thread
//! count), computes each block with sequential code, and never splits a
//! reduction across blocks unless the partial results are combined in a
//! fixed order. Only the assignment of blocks to threads depends on `par`:
//! `Par::Seq` runs them in order on the calling thread, `Par::Rayon(_)`
//! hands them to the *current* rayon pool (the one a caller installed with
//! `ThreadPool::install`, else the global pool); the count inside
//! `Par::Rayon` is not read. So a result computed on 1, 2 or 16 threads,
//! or with `Par::Seq`, is bit-identical.
//!
//! faer's own parallel GEMM may split the inner dimension across threads,
//! so [`matmul`] tiles the output instead (as `subspace::kernels::gemm`
//! does) and runs each tile with `Par::Seq`.
//!
//! faer's x86 GEMM kernels are generated assembly that returns with the
//! upper halves of the AVX registers dirty. Code compiled for SSE (this
//! crate's loops, libm's `expf` called from them) then pays an SSE/AVX
//! transition on every mixed instruction; measured on the 2-core AMD EPYC
//! development VM this made the whole forward pass 3× slower. [`gemm`]
//! therefore clears them (`vzeroupper`) after every faer call.

use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

/// Rows per tile of [`matmul`]'s output.
pub const TILE_ROWS: usize = 128;
/// Columns per tile of [`matmul`]'s output.
pub const TILE_COLS: usize = 512;
/// Rows per block of the row-parallel elementwise kernels.
pub const ROW_BLOCK: usize = 16;
/// Elements per block of the flat elementwise kernels.
pub const ELEM_BLOCK: usize = 1 << 14;

/// The parallelism of the current rayon pool: `Par::Seq` on a pool of one
/// thread, else `Par::Rayon(threads)`. Never changes the bits of a result.
pub fn current_par() -> Par {
    match rayon::current_num_threads() {
        0 | 1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// Calls `f` on every item, in order on this thread for `Par::Seq`, on the
/// current rayon pool for `Par::Rayon(_)`.
pub fn for_each<T: Send>(par: Par, items: Vec<T>, f: impl Fn(T) + Send + Sync) {
    match par {
        Par::Rayon(_) if items.len() > 1 => items.into_par_iter().for_each(f),
        _ => items.into_iter().for_each(f),
    }
}

/// `dst ← alpha · lhs · rhs` (`Accum::Replace`) or `dst += alpha · lhs ·
/// rhs` (`Accum::Add`) with one sequential faer GEMM, then clears the upper
/// AVX state (see the module doc).
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
/// tile computing its full inner product, spread over `par`.
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

pub use subspace::kernels::clear_upper_simd;
