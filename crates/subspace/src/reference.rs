//! The f64 reference SVD of an input, the oracle for accuracy metrics.
//!
//! Computed once per matrix (faer, f64, thin U and singular values); the
//! tests cross-check it against nalgebra's independent SVD.

use crate::SubspaceError;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Mat, MatRef, Par};

/// A matrix in f64 with its thin SVD's left vectors and singular values.
#[derive(Debug, Clone)]
pub struct ReferenceSvd {
    /// m×n, the input widened to f64.
    a: Mat<f64>,
    /// m×r, r = min(m, n).
    u: Mat<f64>,
    /// r singular values, non-increasing.
    s: Vec<f64>,
}

impl ReferenceSvd {
    /// The reference SVD of `a`.
    pub fn new(a: MatRef<'_, f32>, par: Par) -> Result<Self, SubspaceError> {
        let a = Mat::<f64>::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] as f64);
        Self::from_f64(a, par)
    }

    /// The reference SVD of an f64 matrix.
    pub fn from_f64(a: Mat<f64>, par: Par) -> Result<Self, SubspaceError> {
        let (m, n) = a.shape();
        let r = m.min(n);
        let (u, s) = dense::thin_svd_left(a.as_ref(), par, "reference SVD (f64)")?;
        debug_assert_eq!(s.len(), r);
        Ok(Self { a, u, s })
    }

    /// The input, in f64.
    pub fn a(&self) -> MatRef<'_, f64> {
        self.a.as_ref()
    }

    /// Left singular vectors, m×min(m, n).
    pub fn u(&self) -> MatRef<'_, f64> {
        self.u.as_ref()
    }

    /// Singular values, non-increasing.
    pub fn singular_values(&self) -> &[f64] {
        &self.s
    }

    /// σ_{j+1} in 1-based terms (`sigma(0)` is the largest); 0 beyond the end.
    pub fn sigma(&self, j: usize) -> f64 {
        self.s.get(j).copied().unwrap_or(0.0)
    }

    /// ‖A‖_F.
    pub fn norm_fro(&self) -> f64 {
        self.tail_fro(0)
    }

    /// ‖A − A_k‖_F = (Σ_{j>k} σ_j²)^{1/2}, the optimal rank-k error.
    pub fn tail_fro(&self, k: usize) -> f64 {
        self.s.iter().skip(k).map(|s| s * s).sum::<f64>().sqrt()
    }
}

/// Singular values of an f64 matrix, non-increasing (faer's SVD without
/// vectors, under `par`).
pub fn singular_values(a: MatRef<'_, f64>, par: Par) -> Result<Vec<f64>, SubspaceError> {
    let (m, n) = a.shape();
    let r = m.min(n);
    if r == 0 {
        return Ok(Vec::new());
    }
    let mut s = faer::diag::Diag::<f64>::zeros(r);
    let mut mem = MemBuffer::new(svd::svd_scratch::<f64>(
        m,
        n,
        ComputeSvdVectors::No,
        ComputeSvdVectors::No,
        par,
        Default::default(),
    ));
    svd::svd(
        a,
        s.as_mut(),
        None,
        None,
        par,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|e| SubspaceError::Kernel {
        kernel: "singular values (f64)",
        reason: format!("{e:?}"),
    })?;
    Ok(s.column_vector().iter().copied().collect())
}
