//! The small thin SVD: left singular vectors and singular values.
//!
//! Plugins call it with `Par::Seq` and, for accuracy, at f64
//! (docs/numerics.md#f64-paths).

use crate::clear_upper_simd;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::{Mat, MatRef, Par};

/// A dense kernel failed (an SVD that did not converge); `kernel` names the
/// caller's use of it. `subspace` turns it into `SubspaceError::Kernel`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kernel} failed: {reason}")]
pub struct KernelError {
    /// The caller's name for the kernel call.
    pub kernel: &'static str,
    /// What faer reported.
    pub reason: String,
}

/// The first `k` left singular vectors of `a` (m×k), from faer's thin SVD
/// under `par`; `kernel` names the caller's use in the error.
///
/// Plugins pass `Par::Seq` (faer's parallel SVD changes the last bits with
/// the thread count) and f64 for accuracy: docs/numerics.md#f64-paths.
pub fn left_singular_vectors<T: faer::traits::RealField>(
    a: MatRef<'_, T>,
    k: usize,
    par: Par,
    kernel: &'static str,
) -> Result<Mat<T>, KernelError> {
    let (m, n) = a.shape();
    assert!(k <= m.min(n), "{k} singular vectors of a {m}×{n} matrix");
    let (u, _) = thin_svd_left(a, par, kernel)?;
    Ok(u.subcols(0, k).to_owned())
}

/// Thin SVD's left vectors U (m×min(m, n)) and singular values
/// (non-increasing) of `a`, under `par`.
pub fn thin_svd_left<T: faer::traits::RealField>(
    a: MatRef<'_, T>,
    par: Par,
    kernel: &'static str,
) -> Result<(Mat<T>, Vec<T>), KernelError> {
    use faer::linalg::svd::{self, ComputeSvdVectors};
    let (m, n) = a.shape();
    let r = m.min(n);
    let mut u = Mat::<T>::zeros(m, r); // (m, r)
    let mut s = faer::diag::Diag::<T>::zeros(r);
    if r == 0 {
        return Ok((u, Vec::new()));
    }
    let mut mem = MemBuffer::new(svd::svd_scratch::<T>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::No,
        par,
        Default::default(),
    ));
    let result = svd::svd(
        a,
        s.as_mut(),
        Some(u.as_mut()),
        None,
        par,
        MemStack::new(&mut mem),
        Default::default(),
    );
    clear_upper_simd();
    result.map_err(|e| KernelError {
        kernel,
        reason: format!("{e:?}"),
    })?;
    Ok((u, s.column_vector().iter().cloned().collect()))
}

/// Scratch bytes of [`left_singular_vectors`] for an m×n input.
pub fn left_singular_vectors_bytes<T: faer::traits::RealField>(m: usize, n: usize) -> usize {
    use faer::linalg::svd::{self, ComputeSvdVectors};
    let r = m.min(n);
    svd::svd_scratch::<T>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::No,
        Par::Seq,
        Default::default(),
    )
    .size_bytes()
        + (m * r + r) * size_of::<T>()
}
