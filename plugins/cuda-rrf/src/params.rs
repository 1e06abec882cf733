//! Plain-data params of the two CUDA plugins, read straight from a suite's
//! TOML. The names of the range-finder knobs are those of the CPU `rrf`
//! plugin (`oversample`, `power_iters`, `normalizer`, `truncate`,
//! `warm_start`); the rest are GPU-only.

use documented::DocumentedFields;
use serde::{Deserialize, Serialize};

/// How the sketch is orthonormalized between power iterations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalizer {
    /// Householder QR (cuSOLVER geqrf + orgqr) after every product.
    #[default]
    Qr,
    /// CholeskyQR2 (SYRK + POTRF + TRSM, twice) after every product; falls
    /// back to Householder QR for a sketch whose Gram matrix is not
    /// numerically positive definite (rank-deficient or badly conditioned).
    Cholqr2,
    /// No re-orthonormalization between power products (HMT Alg. 4.3); the
    /// final basis is still orthonormalized by Householder QR.
    None,
}

/// How the rank-k basis is cut from the sketch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Truncate {
    /// Sketch ℓ = k + p columns, then keep the first k left singular vectors
    /// of the ℓ-column basis: Q_k = Q·U_B[:, :k] with B = QᵀA (HMT Alg. 5.1).
    #[default]
    Svd,
    /// Sketch exactly k columns (the oversampling counted inside k) and
    /// return their orthonormal basis.
    Inside,
}

/// The arithmetic of the large products with A (sketch, power iterations,
/// projection). The small products, Gram matrices and factorizations stay
/// in f32.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GemmPrecision {
    /// IEEE f32 (`CUBLAS_COMPUTE_32F`).
    #[default]
    F32,
    /// TF32 tensor cores, f32 in and out (`CUBLAS_COMPUTE_32F_FAST_TF32`).
    Tf32,
    /// bf16 tensor cores, f32 in and out (`CUBLAS_COMPUTE_32F_FAST_16BF`).
    Bf16,
}

/// The small SVD of the projected ℓ×ℓ factor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmallSvd {
    /// cuSOLVER one-sided Jacobi (`gesvdj`).
    #[default]
    Gesvdj,
    /// cuSOLVER QR-iteration SVD (`gesvd`).
    Gesvd,
}

/// Params of `cuda-rrf`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
pub struct CudaRrfParams {
    /// Oversampling p: the sketch has ℓ = k + p columns, capped at min(m, n)
    /// (columns; default 10). With `truncate = "inside"` it only sets the
    /// target rank k − p the accuracy guarantee refers to.
    pub oversample: usize,
    /// Power iterations q: products with (AAᵀ) after the sketch (default 1).
    pub power_iters: usize,
    /// Orthonormalization between power products: "qr" (Householder,
    /// default), "cholqr2" (CholeskyQR2, faster, falls back to QR when the
    /// Gram matrix is not positive definite) or "none" (only at the end).
    pub normalizer: Normalizer,
    /// Truncation to rank k: "svd" (sketch k + p, keep the first k left
    /// singular vectors of B = QᵀA, HMT Alg. 5.1; default) or "inside"
    /// (sketch exactly k columns).
    pub truncate: Truncate,
    /// Arithmetic of the products with A: "f32" (default), "tf32" or "bf16"
    /// (tensor cores, f32 storage).
    pub gemm: GemmPrecision,
    /// Small SVD of the ℓ×ℓ factor of B: "gesvdj" (default) or "gesvd".
    pub small_svd: SmallSvd,
    /// Start the sketch from the context's warm-start basis W: Ω's first
    /// columns are AᵀW, the rest Gaussian (default false).
    pub warm_start: bool,
    /// CUDA device ordinal (default 0).
    pub device: usize,
    /// Whether reports should count the host↔device copies in this method's
    /// time (default true). The method always copies A to the device and Q
    /// back inside the call; the flag only labels the timing. Device-only
    /// times come from the device-resident entry point.
    pub count_transfers: bool,
    /// CUDA streams (and host threads) used by the batched call (default 4).
    pub streams: usize,
}

impl Default for CudaRrfParams {
    fn default() -> Self {
        Self {
            oversample: 10,
            power_iters: 1,
            normalizer: Normalizer::Qr,
            truncate: Truncate::Svd,
            gemm: GemmPrecision::F32,
            small_svd: SmallSvd::Gesvdj,
            warm_start: false,
            device: 0,
            count_transfers: true,
            streams: 4,
        }
    }
}

/// The cuSOLVER routine of the full SVD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SvdDriver {
    /// QR-iteration SVD (`gesvd`), left vectors only.
    #[default]
    Gesvd,
    /// One-sided Jacobi (`gesvdj`), thin vectors.
    Gesvdj,
}

/// The arithmetic of `cuda-svd`, as the CPU `svd` plugin's `precision`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SvdPrecision {
    /// The input widened to f64 on the host, cuSOLVER's D routines, U_k
    /// rounded to f32: exact to f32 roundoff, the baseline.
    #[default]
    F64,
    /// cuSOLVER's S routines on the f32 input: faster, but U is orthonormal
    /// only to about 1e-3 on GaLore-shaped fast-decaying spectra.
    F32,
}

/// Params of `cuda-svd`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
pub struct CudaSvdParams {
    /// cuSOLVER routine: "gesvd" (QR iteration, default) or "gesvdj"
    /// (Jacobi).
    pub driver: SvdDriver,
    /// Arithmetic: "f64" (the input widened to f64, U_k rounded to f32:
    /// exact, the baseline; default) or "f32" (cuSOLVER's f32 routines:
    /// faster, less orthonormal on fast-decaying spectra).
    pub precision: SvdPrecision,
    /// CUDA device ordinal (default 0).
    pub device: usize,
    /// Whether reports should count the host↔device copies in this method's
    /// time (default true; a label, as for `cuda-rrf`).
    pub count_transfers: bool,
}

impl Default for CudaSvdParams {
    fn default() -> Self {
        Self {
            driver: SvdDriver::Gesvd,
            precision: SvdPrecision::F64,
            device: 0,
            count_transfers: true,
        }
    }
}
