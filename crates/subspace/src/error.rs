//! Error values of a subspace computation.
//!
//! Shape misuse and bad input are values, never panics: the harness runs
//! methods on users' files. Numerical failure carries the data needed to act
//! on it.

use thiserror::Error;

/// Why a subspace method did not return a basis.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SubspaceError {
    /// `A` has no rows or no columns.
    #[error("empty matrix: A is {m}×{n}; a subspace needs at least one row and one column")]
    EmptyMatrix { m: usize, n: usize },
    /// `k = 0` was asked for.
    #[error("rank k = 0 asked for a {m}×{n} matrix; choose 1 ≤ k ≤ {}", m.min(n))]
    ZeroRank { m: usize, n: usize },
    /// `k > min(m, n)`.
    #[error("rank k = {k} exceeds min(m, n) = {} for a {m}×{n} matrix; choose k ≤ {}", m.min(n), m.min(n))]
    RankTooLarge { k: usize, m: usize, n: usize },
    /// The input holds a NaN or an infinity (the first one in column-major order).
    #[error("A[{row}, {col}] = {value} is not finite; the input must be free of NaN and Inf")]
    NonFinite { row: usize, col: usize, value: f32 },
    /// A warm-start basis does not fit `A`.
    #[error(
        "warm-start basis is {rows}×{cols} but A has {m} rows; pass a basis with {m} rows or none"
    )]
    WarmStartShape { rows: usize, cols: usize, m: usize },
    /// A tracker was given a matrix of another shape than it follows.
    #[error(
        "the {method} tracker follows a {m}×{n} matrix but was given {rows}×{cols}; \
         a tracker follows one matrix: make a new tracker for another shape"
    )]
    TrackedShape {
        method: String,
        rows: usize,
        cols: usize,
        m: usize,
        n: usize,
    },
    /// An iterative method stopped before meeting its tolerance.
    #[error("no convergence after {iterations} iterations (largest residual {residual:.3e})")]
    NoConvergence { iterations: usize, residual: f64 },
    /// A dense kernel of the backend failed (e.g. an SVD that did not converge).
    #[error("{kernel} failed: {reason}")]
    Kernel {
        kernel: &'static str,
        reason: String,
    },
    /// The method's backend cannot run here (no CUDA device, missing library).
    #[error("{method} unavailable: {reason}")]
    Unavailable { method: String, reason: String },
}

impl From<dense::KernelError> for SubspaceError {
    fn from(e: dense::KernelError) -> Self {
        SubspaceError::Kernel {
            kernel: e.kernel,
            reason: e.reason,
        }
    }
}
