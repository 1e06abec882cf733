//! The low-level dense kernels of galore-lab, below every other crate.
//!
//! The model (`llama`), the subspace contract (`subspace`) and the plugins
//! share these kernels, so one policy governs every product and every small
//! factorization. The rationale of each policy (why the GEMM tiles its
//! output, why the upper AVX state is cleared, which paths run in f64) is
//! stated once in `docs/numerics.md`.
//!
//! - [`par`]: fixed-block parallel execution over the current rayon pool;
//! - [`gemm`]: the one deterministic GEMM (fixed output tiles of sequential
//!   faer GEMMs: the same bits for any thread count);
//! - [`qr`]: the thin Householder QR ([`ThinQr`]);
//! - [`lu`]: the LU power-iteration normalizer;
//! - [`svd`]: the small thin SVD (left vectors);
//! - [`simd`]: clearing the upper AVX state after faer's kernels;
//! - [`flops`]: operation counts;
//! - [`bytes`]: heap bytes of matrices as faer allocates them.
//!
//! Kernel signature, house style: outputs first (`MatMut`), then inputs
//! (`MatRef`), then `par`. Workspaces are made once per call, outside any
//! loop, and reused.

pub mod bytes;
pub mod flops;
pub mod gemm;
pub mod lu;
pub mod par;
pub mod qr;
pub mod simd;
pub mod svd;

pub use bytes::mat_bytes;
pub use gemm::{gemm, matmul};
pub use lu::lu_normalize_in_place;
pub use qr::ThinQr;
pub use simd::clear_upper_simd;
pub use svd::{KernelError, left_singular_vectors, left_singular_vectors_bytes, thin_svd_left};
