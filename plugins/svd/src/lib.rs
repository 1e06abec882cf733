//! Full thin SVD (faer), truncated to the first k left singular vectors: the
//! exact baseline every other method is measured against.
//!
//! Contract: Q = U[:, :k] of A = UΣVᵀ, optimal in every unitarily invariant
//! norm up to roundoff (Eckart–Young–Mirsky). faer computes the SVD by
//! Householder bidiagonalization (after a QR when the matrix is far from
//! square) and a divide-and-conquer bidiagonal SVD; only U is formed.
//!
//! The SVD runs sequentially whatever `ctx.par` says: faer's parallel SVD
//! changes the last bits with the thread count (seen on a 16-core machine:
//! `Par::Seq` and `Par::rayon(2)` differed), and the lab promises the same
//! numbers for any thread count. Parallelism comes from running several
//! matrices side by side, which is also faster on few cores.

use documented::DocumentedFields;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Mat, MatRef, Par};
use serde::{Deserialize, Serialize};
use subspace::kernels::flops;
use subspace::{Basis, Context, Info, Plugin, SubspaceError, SubspaceMethod};

/// Params of the full SVD (none yet: it has no knobs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
pub struct SvdParams {}

/// The full thin SVD method.
#[derive(Debug, Clone, Default)]
pub struct Svd;

impl Plugin for Svd {
    const NAME: &'static str = "svd";
    const SUMMARY: &'static str =
        "full thin SVD (faer), first k left singular vectors: the exact baseline";
    type Params = SvdParams;

    fn new(_: SvdParams) -> Result<Self, String> {
        Ok(Svd)
    }
}

impl SubspaceMethod for Svd {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        let r = m.min(n);
        let scratch = svd::svd_scratch::<f32>(
            m,
            n,
            ComputeSvdVectors::Thin,
            ComputeSvdVectors::No,
            Par::Seq,
            Default::default(),
        );
        scratch.size_bytes() + 4 * (m * r + r + m * k)
    }

    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let (m, n) = a.shape();
        let r = m.min(n);
        let mut u = Mat::<f32>::zeros(m, r); // (m, r)
        let mut s = faer::diag::Diag::<f32>::zeros(r);
        let mut mem = MemBuffer::new(svd::svd_scratch::<f32>(
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
        let q = u.subcols(0, k).to_owned();
        let info = Info {
            iterations: 1,
            products: 0,
            flops: flops::svd(m, n),
            converged: true,
        };
        Ok(Basis { q, info })
    }
}
