//! Full thin SVD (faer), truncated to the first k left singular vectors: the
//! exact baseline every other method is measured against.
//!
//! Contract: Q = U[:, :k] of A = UΣVᵀ, optimal in every unitarily invariant
//! norm up to roundoff (Eckart–Young–Mirsky). faer computes the SVD by
//! Householder bidiagonalization (after a QR when the matrix is far from
//! square) and a divide-and-conquer bidiagonal SVD; only U is formed.
//!
//! **Precision.** By default the SVD is computed in f64 from the f32 input
//! and U_k rounded to f32: faer's f32 SVD was measured far from optimal on
//! fast-decaying spectra (err_fro 1.20 on a 1376×512 matrix with
//! σ_j = e^(−0.05(j−1)) at k = 128, where the f64 SVD, Lanczos and rrf with
//! q = 2 reach 1.000), which a baseline cannot be. `precision = "f32"` keeps
//! faer's f32 SVD, about twice as fast, for comparison.
//!
//! The SVD runs sequentially whatever `ctx.par` says: faer's parallel SVD
//! changes the last bits with the thread count (seen on a 16-core machine:
//! `Par::Seq` and `Par::rayon(2)` differed), and the lab promises the same
//! numbers for any thread count. Parallelism comes from running several
//! matrices side by side, which is also faster on few cores.

use documented::DocumentedFields;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::traits::ComplexField;
use faer::{Mat, MatRef, Par};
use serde::{Deserialize, Serialize};
use subspace::kernels::flops;
use subspace::{Basis, Context, Info, Plugin, SubspaceError, SubspaceMethod};

/// The arithmetic of the SVD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// SVD of the input widened to f64 (the exact baseline).
    F64,
    /// faer's f32 SVD.
    F32,
}

/// Params of the full SVD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
pub struct SvdParams {
    /// Arithmetic of the SVD: "f64" (exact to f32 roundoff, the baseline)
    /// or "f32" (faer's f32 SVD: faster, less accurate on fast-decaying
    /// spectra) (default "f64").
    pub precision: Precision,
}

impl Default for SvdParams {
    fn default() -> Self {
        Self {
            precision: Precision::F64,
        }
    }
}

/// The full thin SVD method.
#[derive(Debug, Clone, Default)]
pub struct Svd {
    pub params: SvdParams,
}

impl Plugin for Svd {
    const NAME: &'static str = "svd";
    const SUMMARY: &'static str =
        "full thin SVD (faer), first k left singular vectors: the exact baseline";
    type Params = SvdParams;

    fn new(params: SvdParams) -> Result<Self, String> {
        Ok(Svd { params })
    }
}

impl SubspaceMethod for Svd {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        let r = m.min(n);
        match self.params.precision {
            Precision::F32 => scratch_bytes::<f32>(m, n) + 4 * (m * r + r) + 4 * m * k,
            Precision::F64 => scratch_bytes::<f64>(m, n) + 8 * (m * n + m * r + r) + 4 * m * k,
        }
    }

    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let (m, n) = a.shape();
        let q = match self.params.precision {
            Precision::F32 => left_vectors(a, k)?,
            Precision::F64 => {
                let a64 = Mat::<f64>::from_fn(m, n, |i, j| a[(i, j)] as f64); // (m, n)
                let u = left_vectors(a64.as_ref(), k)?;
                Mat::from_fn(m, k, |i, j| u[(i, j)] as f32)
            }
        };
        let info = Info {
            iterations: 1,
            products: 0,
            flops: flops::svd(m, n),
            converged: true,
        };
        Ok(Basis { q, info })
    }
}

fn scratch_bytes<T: ComplexField>(m: usize, n: usize) -> usize {
    svd::svd_scratch::<T>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::No,
        Par::Seq,
        Default::default(),
    )
    .size_bytes()
}

/// The first k left singular vectors of `a` (m×k), sequentially.
fn left_vectors<T: ComplexField>(a: MatRef<'_, T>, k: usize) -> Result<Mat<T>, SubspaceError> {
    let (m, n) = a.shape();
    let r = m.min(n);
    let mut u = Mat::<T>::zeros(m, r); // (m, r)
    let mut s = faer::diag::Diag::<T>::zeros(r);
    let mut mem = MemBuffer::new(svd::svd_scratch::<T>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::No,
        Par::Seq,
        Default::default(),
    ));
    svd::svd(
        a,
        s.as_mut(),
        Some(u.as_mut()),
        None,
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .map_err(|e| SubspaceError::Kernel {
        kernel: "faer thin SVD",
        reason: format!("{e:?}"),
    })?;
    Ok(u.subcols(0, k).to_owned())
}
