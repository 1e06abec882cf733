//! Full thin SVD (faer), truncated to the first k left singular vectors: the
//! exact baseline every other method is measured against.
//!
//! Contract: Q = U[:, :k] of A = UΣVᵀ, optimal in every unitarily invariant
//! norm up to roundoff (Eckart–Young–Mirsky). faer computes the SVD by
//! Householder bidiagonalization (after a QR when the matrix is far from
//! square) and a divide-and-conquer bidiagonal SVD; only U is formed.
//!
//! **Precision.** By default the SVD is computed in f64 from the f32 input
//! and U_k rounded to f32, since faer's f32 SVD is far from optimal on
//! fast-decaying spectra, which a baseline cannot be
//! (docs/numerics.md#f64-paths). `precision = "f32"` keeps faer's f32 SVD,
//! about twice as fast, for comparison; it claims no accuracy bound
//! ([`Guarantee::Unbounded`]), so the conformance kit holds it to a valid
//! basis (shape, orthonormality, exactness on rank-deficient inputs,
//! determinism) but not to the optimum.
//!
//! The SVD runs sequentially whatever `ctx.par` says, so its bits do not
//! depend on the thread count (docs/numerics.md#determinism); parallelism
//! comes from running several matrices side by side.

use dense::{flops, left_singular_vectors, left_singular_vectors_bytes};
use documented::DocumentedFields;
use faer::{Mat, MatRef, Par};
use serde::{Deserialize, Serialize};
use subspace::{Basis, Context, Guarantee, Info, Plugin, SubspaceError, SubspaceMethod};

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

    fn conformance_params() -> Vec<SvdParams> {
        [Precision::F64, Precision::F32]
            .map(|precision| SvdParams { precision })
            .into()
    }
}

impl SubspaceMethod for Svd {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        match self.params.precision {
            Precision::F32 => left_singular_vectors_bytes::<f32>(m, n) + 4 * m * k,
            Precision::F64 => left_singular_vectors_bytes::<f64>(m, n) + 8 * m * n + 4 * m * k,
        }
    }

    fn guarantee(&self, _m: usize, _n: usize, _k: usize) -> Guarantee {
        match self.params.precision {
            Precision::F64 => Guarantee::Exact,
            Precision::F32 => Guarantee::Unbounded,
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
            Precision::F32 => left_singular_vectors(a, k, Par::Seq, "faer thin SVD (f32)")?,
            Precision::F64 => {
                let a64 = Mat::<f64>::from_fn(m, n, |i, j| a[(i, j)] as f64); // (m, n)
                let u = left_singular_vectors(a64.as_ref(), k, Par::Seq, "faer thin SVD (f64)")?;
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
