//! Fixed-block parallel execution for the model: the same bits for any
//! thread count.
//!
//! Every kernel of this module's siblings splits its work into blocks whose
//! boundaries depend only on the shapes, computes each block with
//! sequential code, and hands the blocks to the current rayon pool (the
//! contract of `dense::par`). Products go through `dense`'s one GEMM policy
//! ([`matmul`]: fixed output tiles of sequential faer GEMMs;
//! docs/numerics.md#gemm), re-exported here with the block sizes the
//! elementwise kernels use.

pub use dense::gemm::{TILE_COLS, TILE_ROWS, gemm, matmul};
pub use dense::par::{current_par, for_each};

/// Rows per block of the row-parallel elementwise kernels.
pub const ROW_BLOCK: usize = 16;
/// Elements per block of the flat elementwise kernels.
pub const ELEM_BLOCK: usize = 1 << 14;
