//! Subspace methods on an NVIDIA GPU through cudarc (cuRAND, cuBLAS,
//! cuSOLVER), loading the CUDA libraries at run time so that the crate
//! builds and tests on machines with no CUDA at all.
//!
//! - [`rrf`]: `cuda-rrf`, the Gaussian randomized range finder (HMT 2011
//!   Alg. 4.4 with the Alg. 5.1 truncation), single and batched;
//! - [`svd`]: `cuda-svd`, the full thin SVD (cuSOLVER gesvd or gesvdj), the
//!   GPU's exact baseline;
//! - [`params`]: their plain-data TOML params;
//! - [`gpu`]: the device layer: a probe that never panics, per-stream
//!   workspaces, and each library call with its status checked;
//! - [`npy`]: a minimal `.npy` writer, so peers read the same matrices.
//!
//! With no driver, no device or a missing library, both methods report
//! `availability() = Err(reason)` and every call returns
//! [`subspace::SubspaceError::Unavailable`] with that reason.

pub mod gpu;
pub mod npy;
pub mod params;
pub mod rrf;
pub mod svd;

pub use params::{
    CudaRrfParams, CudaSvdParams, GemmPrecision, Normalizer, SmallSvd, SvdDriver, SvdPrecision,
    Truncate,
};
pub use rrf::CudaRrf;
pub use svd::CudaSvd;
