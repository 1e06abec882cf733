//! Thick-restarted block Golub–Kahan–Lanczos bidiagonalization (GKL) for the
//! k dominant left singular vectors of an m×n f32 matrix.
//!
//! # Contract
//!
//! Q (m×k, orthonormal to working precision) spans the k dominant Ritz
//! vectors of A once every one of them meets the stopping test below; the
//! claim is [`Guarantee::Exact`]: ‖A − QQᵀA‖_F ≈ ‖A − A_k‖_F. A run that
//! does not meet the test within `max_restarts` restarts returns
//! [`SubspaceError::NoConvergence`] with the worst relative residual.
//!
//! # Algorithm
//!
//! - **Expand** (Golub & Kahan 1965, "Calculating the singular values and
//!   pseudo-inverse of a matrix", SIAM J. Numer. Anal. B 2; block form of
//!   Golub, Luk & Overton 1981, ACM TOMS 7): from an orthonormal n×b block
//!   V_j, U_j R_j = (I − UUᵀ)·A·V_j and V_{j+1} S_{j+1} = (I − VVᵀ)·Aᵀ·U_j.
//!   Both products are m×n by n×b GEMMs; the bases grow b columns at a time.
//! - **Orthonormalize** ([`orth`]): full reorthogonalization against the
//!   whole basis on both sides (Larsen's PROPACK reorthogonalizes
//!   selectively; with blocks, full BCGS2 costs two GEMM pairs per block and
//!   removes every case analysis), with breakdown handled by fresh random
//!   vectors: an invariant subspace found early (rank-1 or rank-2 gradients,
//!   the zero matrix) continues the recurrence in a random direction
//!   orthogonal to the basis.
//! - **Ritz**: B = UᵀAV (ℓ×ℓ, upper triangular, kept dense: the coefficients
//!   of every projection are recorded, so B is the Rayleigh quotient itself)
//!   has the SVD XΣYᵀ, computed in f64 (f32 singular vectors of a 256×256 B
//!   are orthonormal to only ~3·10⁻⁵, which every restart would pass on to
//!   U and V); the Ritz triplets are (σᵢ, U·xᵢ, V·yᵢ), with A·V·yᵢ = σᵢ·U·xᵢ
//!   exactly and ‖Aᵀ·U·xᵢ − σᵢ·V·yᵢ‖ = ‖S·xᵢ[last block]‖.
//! - **Restart** (thick restart: Wu & Simon 2000, SIAM J. Matrix Anal. Appl.
//!   22; for GKL, Baglama & Reichel 2005, "Augmented implicitly restarted
//!   Lanczos bidiagonalization methods" (IRLBA), SIAM J. Sci. Comput. 27, and
//!   its block form, Baglama & Reichel 2006, Numer. Algorithms 43): keep the
//!   s dominant Ritz vectors (s = k plus half of the rest) and the residual
//!   block, so B restarts as diag(σ₁..σ_s) plus one coupling block; the
//!   Krylov structure continues from the residual block.
//! - **Basis**: Q is the Householder thin Q of U·X[:, ..k] (same span; it
//!   removes the roundoff that restarts accumulate in U).
//! - **Dense fallback**: when the Krylov space would take more than 2/3 of
//!   min(m, n) (ℓ > 2·min(m, n)/3, or k + 2b > min(m, n)), the method takes
//!   the first k left singular vectors of faer's thin SVD of A in f64 (irlba
//!   likewise sends such ranks to a dense SVD): it is then cheaper, exact,
//!   and covers tiny shapes and k = min(m, n).
//!
//! # Stopping test
//!
//! Triplet i < k has converged when ‖Aᵀuᵢ − σᵢvᵢ‖ ≤ max(tol·σᵢ, 16ε·σ₁).
//! The test is relative to each σᵢ, not to σ₁ as in IRLBA and PROPACK: with
//! residual rᵢ, the Frobenius excess of the basis over the optimum is about
//! Σᵢ rᵢ²·σ_{k+1}²/(σᵢ² − σ_{k+1}²), which a σ₁-relative test leaves at
//! 1 % of ‖A − A_k‖_F² on an exponential spectrum whose tail is 10⁻⁴σ₁; the
//! σᵢ-relative test with tol = 10⁻⁵ keeps it below 10⁻⁶ on decaying spectra.
//! The floor 16ε·σ₁ (ε of f32) is what f32 products resolve; triplets below
//! it contribute at most roundoff to the error.
//!
//! Residuals cannot see a singular vector the Krylov space never reached:
//! after a breakdown (an invariant subspace, or a block numerically inside
//! the basis) the Ritz triplets of that subspace are exact whether or not
//! they are dominant. From the first breakdown on, a cycle that passes the
//! residual test is accepted only if its top k Ritz values (non-decreasing
//! under thick restart) did not grow since the previous cycle, which
//! expanded from fresh random directions. Exactly repeated singular values
//! remain the limit of every Krylov method: a block of b vectors sees b
//! copies of a value repeated more than b times until roundoff seeds the
//! others, which the f32 rounding of A does within a few steps unless the
//! value sits in a nearly flat part of the spectrum.
//!
//! # Parallelism and determinism
//!
//! Every product with A and every projection on the bases runs through
//! `dense::matmul` with `ctx.par` (docs/numerics.md#gemm). The thin QR of
//! each b-column block, the c×c factors and the SVD of B run sequentially:
//! they are small, and faer's parallel factorizations change bits with the
//! thread count (docs/numerics.md#determinism). Random vectors come only
//! from `ctx.gaussian`: a seed gives the same bits for any thread count
//! (tested with `Par::Seq`, `Par::rayon(1)` and `Par::rayon(2)`, and by
//! `crates/lab/tests/threads.rs` on pools of 1, 2 and 8 threads).

pub mod gkl;
pub mod orth;

use dense::{flops, left_singular_vectors, left_singular_vectors_bytes};
use documented::DocumentedFields;
use faer::{Mat, MatRef, Par};
use gkl::Plan;
use serde::{Deserialize, Serialize};
use subspace::{Basis, Context, Guarantee, Info, Plugin, SubspaceError, SubspaceMethod};

/// Params of thick-restarted block Lanczos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
pub struct LanczosParams {
    /// Relative residual tolerance (unitless): Ritz triplet i ≤ k has
    /// converged when ‖Aᵀuᵢ − σᵢvᵢ‖ ≤ tol·σᵢ (or below the f32 roundoff floor
    /// 16ε·σ₁). Must lie in (0, 1). Default 1e-5.
    pub tol: f64,
    /// Most thick restarts after the first Krylov cycle (count); a run still
    /// short of `tol` then fails with NoConvergence. 0 = a single cycle.
    /// Default 100.
    pub max_restarts: usize,
    /// Krylov dimension ℓ (columns of U at the end of a cycle); 0 = automatic,
    /// max(2k, k + 32). Clamped to [k + b, min(m, n) − b]. Default 0.
    pub krylov_dim: usize,
    /// Block size b (vectors per product with A or Aᵀ); 0 = automatic,
    /// clamp(k/8, 4, 16). Capped at (min(m, n) − k)/2. Default 0.
    pub block_size: usize,
    /// Ritz vectors kept by a thick restart (count); 0 = automatic,
    /// k + (ℓ − k)/2. Clamped to [k, ℓ − b] and rounded up so that each
    /// cycle adds whole blocks. Default 0.
    pub keep: usize,
}

impl Default for LanczosParams {
    fn default() -> Self {
        Self {
            tol: 1e-5,
            max_restarts: 100,
            krylov_dim: 0,
            block_size: 0,
            keep: 0,
        }
    }
}

/// Thick-restarted block GKL (see the crate doc).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lanczos {
    params: LanczosParams,
}

impl Lanczos {
    /// The params this method was built with.
    pub fn params(&self) -> &LanczosParams {
        &self.params
    }
}

impl Plugin for Lanczos {
    const NAME: &'static str = "lanczos";
    const SUMMARY: &'static str =
        "thick-restarted block Golub–Kahan–Lanczos with full reorthogonalization (IRLBA-style)";
    type Params = LanczosParams;

    fn new(params: LanczosParams) -> Result<Self, String> {
        if !(params.tol > 0.0 && params.tol < 1.0) {
            return Err(format!(
                "tol = {} must lie in (0, 1), e.g. 1e-5",
                params.tol
            ));
        }
        Ok(Self { params })
    }

    /// The defaults, and blocks of b = 8 (the automatic size is
    /// clamp(k/8, 4, 16): 4 for the kit's small ranks, 16 at k = 128), so
    /// other block widths, Krylov dimensions and restart roundings.
    fn conformance_params() -> Vec<LanczosParams> {
        vec![
            LanczosParams::default(),
            LanczosParams {
                block_size: 8,
                ..LanczosParams::default()
            },
        ]
    }
}

impl Lanczos {
    fn plan(&self, m: usize, n: usize, k: usize) -> Option<Plan> {
        Plan::new(m, n, k, &self.params)
    }
}

impl SubspaceMethod for Lanczos {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        match self.plan(m, n, k) {
            Some(plan) => plan.workspace_bytes(m, n, k),
            None => dense_workspace_bytes(m, n, k),
        }
    }

    fn guarantee(&self, _m: usize, _n: usize, _k: usize) -> Guarantee {
        Guarantee::Exact
    }

    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let (m, n) = a.shape();
        match self.plan(m, n, k) {
            Some(plan) => gkl::run(a, k, plan, self.params.tol, self.params.max_restarts, ctx),
            None => dense(a, k),
        }
    }
}

/// The dense fallback: the first k left singular vectors of the thin SVD,
/// computed in f64 (docs/numerics.md#f64-paths: the f32 SVD's errors of
/// about ε·σ₁/gap in the trailing vectors exceed the Exact claim when the
/// tail is small), sequentially.
fn dense(a: MatRef<'_, f32>, k: usize) -> Result<Basis, SubspaceError> {
    let (m, n) = a.shape();
    let a64 = Mat::<f64>::from_fn(m, n, |i, j| a[(i, j)] as f64); // (m, n)
    let u = left_singular_vectors(
        a64.as_ref(),
        k,
        Par::Seq,
        "faer thin SVD (dense fallback, f64)",
    )?;
    let q = Mat::<f32>::from_fn(m, k, |i, j| u[(i, j)] as f32); // (m, k)
    let info = Info {
        iterations: 0,
        products: 0,
        flops: flops::svd(m, n),
        converged: true,
    };
    Ok(Basis { q, info })
}

fn dense_workspace_bytes(m: usize, n: usize, k: usize) -> usize {
    left_singular_vectors_bytes::<f64>(m, n) + size_of::<f64>() * m * n + size_of::<f32>() * m * k
}
