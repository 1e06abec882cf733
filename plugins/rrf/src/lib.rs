//! Randomized range finder (Halko, Martinsson & Tropp, SIAM Review 2011).
//!
//! Contract: with ℓ = k + p (capped at min(m, n)) and a Gaussian n×ℓ test
//! matrix Ω drawn from the context's seeded stream,
//!
//! 1. **sketch**: Y = AΩ (HMT Alg. 4.1);
//! 2. **power-iterate** q times: Y ← A·norm(Aᵀ·norm(Y)), re-normalizing
//!    between products (HMT Alg. 4.4 with QR; LU as in HMT §4.5 and
//!    scikit-learn; or none, which is unstable past q ≈ 2 in f32);
//! 3. **orthonormalize**: Q = thin Q of Y (Householder);
//! 4. **project** to k columns: `truncate = "svd"` forms B = QᵀA, its thin
//!    SVD B = U_B Σ_B V_Bᵀ, and returns Q·U_B[:, :k] (HMT Alg. 5.1); `"inside"`
//!    sketches only k columns (p counted inside k, as in the seed talk) and
//!    returns Q.
//!
//! With `warm_start = true` and a previous basis Q₀ in the context, the first
//! min(ℓ, cols(Q₀)) sketch columns are AᵀQ₀ instead of Gaussian ones, so the
//! sketch starts as one subspace-iteration step from the previous subspace
//! (as in LDAdam); the remaining columns stay Gaussian.
//!
//! Expected errors obey HMT Thm 10.5 (Frobenius, q = 0) and Cor. 10.10
//! (spectral, any q), which [`Rrf::guarantee`] states for the conformance kit.

use dense::{
    ThinQr, flops, left_singular_vectors, left_singular_vectors_bytes, lu_normalize_in_place,
    matmul,
};
use documented::DocumentedFields;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};
use subspace::{Basis, Context, Guarantee, Info, Plugin, SubspaceError, SubspaceMethod};

/// How the sketch is re-normalized between power-iteration products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalizer {
    /// Householder QR (most accurate).
    Qr,
    /// Partially pivoted LU, keeping P⁻¹L (about half the cost of QR).
    Lu,
    /// No normalization (fastest; in f32 it loses every direction with
    /// (σ_j/σ₁)^(2q+1) below ε ≈ 1.2e-7, so no accuracy bound is claimed).
    None,
}

/// How the ℓ sketch directions become k.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Truncate {
    /// Sketch ℓ = k + p, return the first k of Q·U_B from the SVD of B = QᵀA.
    Svd,
    /// Sketch ℓ = k (the oversampling is counted inside k) and return Q.
    Inside,
}

/// Params of the randomized range finder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
pub struct RrfParams {
    /// Oversampling p: extra sketch columns beyond k (columns; default 10).
    /// With `truncate = "inside"` it only sets the target rank k − p the
    /// accuracy guarantee refers to.
    pub oversample: usize,
    /// Power iterations q: products with AAᵀ after the sketch (default 1).
    pub power_iters: usize,
    /// Re-normalization between products: "qr", "lu" or "none" (default "qr").
    pub normalizer: Normalizer,
    /// How ℓ sketch columns become k: "svd" (HMT Alg. 5.1) or "inside"
    /// (default "svd").
    pub truncate: Truncate,
    /// Start the sketch from the context's previous basis when one is given
    /// (default false).
    pub warm_start: bool,
}

impl Default for RrfParams {
    fn default() -> Self {
        Self {
            oversample: 10,
            power_iters: 1,
            normalizer: Normalizer::Qr,
            truncate: Truncate::Svd,
            warm_start: false,
        }
    }
}

/// The randomized range finder.
#[derive(Debug, Clone, Default)]
pub struct Rrf {
    pub params: RrfParams,
}

impl Plugin for Rrf {
    const NAME: &'static str = "rrf";
    const SUMMARY: &'static str =
        "randomized range finder (HMT 2011): Gaussian sketch, oversampling, power iterations";
    type Params = RrfParams;

    fn new(params: RrfParams) -> Result<Self, String> {
        Ok(Self { params })
    }

    /// The defaults (q = 1, QR, Alg. 5.1), no power iteration with a warm
    /// start, q = 2 with LU, and the `inside` truncation after LU with a
    /// warm start; `tests/variants.rs` sweeps every q × normalizer ×
    /// truncate.
    fn conformance_params() -> Vec<RrfParams> {
        let d = RrfParams::default;
        vec![
            d(),
            RrfParams {
                power_iters: 0,
                warm_start: true,
                ..d()
            },
            RrfParams {
                power_iters: 2,
                normalizer: Normalizer::Lu,
                ..d()
            },
            RrfParams {
                normalizer: Normalizer::Lu,
                truncate: Truncate::Inside,
                warm_start: true,
                ..d()
            },
        ]
    }
}

impl Rrf {
    /// The sketch width ℓ for rank k on an m×n matrix.
    pub fn sketch_width(&self, m: usize, n: usize, k: usize) -> usize {
        match self.params.truncate {
            Truncate::Svd => (k + self.params.oversample).min(m.min(n)),
            Truncate::Inside => k,
        }
    }
}

impl SubspaceMethod for Rrf {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// The sum of what [`compute`](Self::compute) holds for the whole call
    /// and the larger of its two transient peaks, each matrix counted as
    /// faer allocates it ([`mat_bytes`]):
    ///
    /// - held: Y and Q (m×ℓ), Ω, Z and Z_Q (n×ℓ), the QR workspace of Y and,
    ///   with power iterations, that of Z;
    /// - drawing Ω: its n×ℓ entries column by column before they become the
    ///   matrix;
    /// - projecting (`truncate = "svd"`): B = QᵀA (ℓ×n) in f32 and in f64,
    ///   the small SVD with its scratch and U_B[:, :k] in f64, then U_B[:, :k]
    ///   in f32 and the m×k result.
    ///
    /// LU's pivots and scratch (O(m + n) plus faer's panel scratch) stay
    /// below the draw.
    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        let l = self.sketch_width(m, n, k);
        let f32s = |rows, cols| mat_bytes::<f32>(rows, cols);
        let mut held = 2 * f32s(m, l) + 3 * f32s(n, l) + ThinQr::<f32>::bytes(m, l);
        if self.params.power_iters > 0 {
            held += ThinQr::<f32>::bytes(n, l);
        }
        let draw = size_of::<f32>() * n * l + size_of::<Vec<f32>>() * l;
        let project = match self.params.truncate {
            Truncate::Inside => 0,
            Truncate::Svd => project_svd_bytes(m, n, l, k),
        };
        held + draw.max(project)
    }

    fn guarantee(&self, m: usize, n: usize, k: usize) -> Guarantee {
        let l = self.sketch_width(m, n, k);
        if l >= m.min(n) {
            // The sketch spans A's whole column space (almost surely).
            return Guarantee::Exact;
        }
        if self.params.normalizer == Normalizer::None && self.params.power_iters > 0 {
            // Unnormalized powers of AAᵀ in f32 lose every direction with
            // (σ_j/σ₁)^(2q+1) below ε: HMT's exact-arithmetic bounds do not
            // hold (the conformance kit found 2× violations at q = 2).
            return Guarantee::Unbounded;
        }
        match self.params.truncate {
            Truncate::Svd => Guarantee::Randomized {
                rank: k,
                oversample: l - k,
                power_iters: self.params.power_iters,
                truncated: true,
            },
            Truncate::Inside => {
                let p = self.params.oversample.min(k.saturating_sub(1));
                Guarantee::Randomized {
                    rank: k - p,
                    oversample: p,
                    power_iters: self.params.power_iters,
                    truncated: false,
                }
            }
        }
    }

    /// With `warm_start = true`, 4 on the conformance kit's trajectory
    /// (`subspace::testkit::tracking`: 0.02 rad a step, σ_{k+1}/σ_k = ρ ≈
    /// 0.34), for any q, p, normalizer and truncation: after the first
    /// (cold) update the sketch's first columns AᵀQ₀ make each update at
    /// least one block power iteration from the previous basis, which
    /// contracts the tangent of the angle to the moving subspace by ρ² ≈
    /// 0.12, so three warm updates bring any cold start within err_fro ≤
    /// 1.01 (subspace-iteration's argument, the same bound). Without a warm
    /// start each call is a fresh sketch whose error does not shrink with
    /// the updates: no claim beyond the default (1 when the sketch spans
    /// A's whole column space).
    fn settles_within(&self, m: usize, n: usize, k: usize) -> Option<usize> {
        if self.params.warm_start {
            return Some(4);
        }
        match self.guarantee(m, n, k) {
            Guarantee::Exact => Some(1),
            _ => None,
        }
    }

    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let (m, n) = a.shape();
        let l = self.sketch_width(m, n, k);
        // GEMMs use `ctx.par` (docs/numerics.md#gemm); QR and the small SVD
        // run sequentially (docs/numerics.md#determinism).
        let par = ctx.par;
        let seq = Par::Seq;
        let mut info = Info {
            converged: true,
            ..Info::default()
        };

        // Letters: m, n = A's shape; ℓ = sketch width.
        let mut y = Mat::<f32>::zeros(m, l); // (m, ℓ)
        let mut q = Mat::<f32>::zeros(m, l); // (m, ℓ)
        let mut z = Mat::<f32>::zeros(n, l); // (n, ℓ)
        let mut zq = Mat::<f32>::zeros(n, l); // (n, ℓ)
        let mut qr_m = ThinQr::<f32>::new(m, l, seq);
        let mut qr_n = (self.params.power_iters > 0).then(|| ThinQr::<f32>::new(n, l, seq));

        // 1. sketch: Y = AΩ.
        let omega = self.test_matrix(a, l, ctx, &mut info); // (n, ℓ)
        matmul(y.as_mut(), Accum::Replace, a, omega.as_ref(), 1.0, par);
        info.products += l;
        info.flops += flops::gemm(m, l, n);

        // 2. power-iterate: Y ← A·norm(Aᵀ·norm(Y)).
        for _ in 0..self.params.power_iters {
            self.normalize(&mut qr_m, q.as_mut(), y.as_mut(), seq, &mut info);
            matmul(
                z.as_mut(),
                Accum::Replace,
                a.transpose(),
                y.as_ref(),
                1.0,
                par,
            );
            let qr_n = qr_n.as_mut().expect("allocated when power_iters > 0");
            self.normalize(qr_n, zq.as_mut(), z.as_mut(), seq, &mut info);
            matmul(y.as_mut(), Accum::Replace, a, z.as_ref(), 1.0, par);
            info.products += 2 * l;
            info.flops += 2.0 * flops::gemm(m, l, n);
            info.iterations += 1;
        }

        // 3. orthonormalize.
        qr_m.thin_q(q.as_mut(), y.as_mut(), seq);
        info.flops += flops::qr_thin_q(m, l);

        // 4. project to k columns.
        let q = match self.params.truncate {
            Truncate::Inside => q,
            Truncate::Svd => {
                let q = project_svd(q.as_ref(), a, k, par, seq)?;
                info.products += l;
                info.flops += flops::gemm(l, n, m) + flops::svd(l, n) + flops::gemm(m, k, l);
                q
            }
        };
        Ok(Basis { q, info })
    }
}

impl Rrf {
    /// The n×ℓ test matrix: Gaussian, with the warm-start columns AᵀQ₀ first
    /// when asked for and available.
    fn test_matrix(
        &self,
        a: MatRef<'_, f32>,
        l: usize,
        ctx: &mut Context<'_>,
        info: &mut Info,
    ) -> Mat<f32> {
        let n = a.ncols();
        let mut omega = ctx.gaussian(n, l); // (n, ℓ)
        if self.params.warm_start
            && let Some(q0) = ctx.warm_start
        {
            let w = q0.ncols().min(l);
            matmul(
                omega.as_mut().subcols_mut(0, w),
                Accum::Replace,
                a.transpose(),
                q0.subcols(0, w),
                1.0,
                ctx.par,
            );
            info.products += w;
            info.flops += flops::gemm(n, w, a.nrows());
        }
        omega
    }

    /// Re-normalizes `y` in place per the params (`scratch` has y's shape).
    fn normalize(
        &self,
        qr: &mut ThinQr<f32>,
        scratch: MatMut<'_, f32>,
        y: MatMut<'_, f32>,
        par: Par,
        info: &mut Info,
    ) {
        let (r, l) = y.shape();
        let mut y = y;
        let mut scratch = scratch;
        match self.params.normalizer {
            Normalizer::Qr => {
                qr.thin_q(scratch.rb_mut(), y.rb_mut(), par);
                y.copy_from(scratch.rb());
                info.flops += flops::qr_thin_q(r, l);
            }
            Normalizer::Lu => {
                lu_normalize_in_place(y, scratch, par);
                info.flops += flops::lu(r, l);
            }
            Normalizer::None => {}
        }
    }
}

/// Bytes of a `Mat<T>` as faer allocates it (re-exported from `dense`).
pub use dense::mat_bytes;

/// The peak bytes [`project_svd`] allocates for an m×ℓ basis of an m×n
/// matrix at rank k (its m×k result included): B = QᵀA (ℓ×n) in f32 and
/// in f64, the small SVD with its scratch and U_B[:, :k] in f64, then
/// U_B[:, :k] in f32 and the result.
pub fn project_svd_bytes(m: usize, n: usize, l: usize, k: usize) -> usize {
    let f32s = |rows, cols| mat_bytes::<f32>(rows, cols);
    let f64s = |rows, cols| mat_bytes::<f64>(rows, cols);
    f32s(l, n)
        + f64s(l, n)
        + f64s(l, k)
        + left_singular_vectors_bytes::<f64>(l, n).max(f32s(l, k) + f32s(m, k))
}

/// Q·U_B[:, :k] from the thin SVD of B = QᵀA (HMT Alg. 5.1, steps 2–3).
///
/// B is formed in f32 (a GEMM, the expensive part) and its small SVD is
/// computed in f64 (docs/numerics.md#f64-paths: in f32 it capped the
/// accuracy of exactly low-rank inputs at about 200 ε, found by the
/// conformance kit).
///
/// `q` is m×ℓ with orthonormal columns, `a` m×n, k ≤ ℓ; the result is m×k.
/// Its working memory is [`project_svd_bytes`].
pub fn project_svd(
    q: MatRef<'_, f32>,
    a: MatRef<'_, f32>,
    k: usize,
    par: Par,
    seq: Par,
) -> Result<Mat<f32>, SubspaceError> {
    let (m, l) = q.shape();
    let n = a.ncols();
    let mut b = Mat::<f32>::zeros(l, n); // (ℓ, n)
    matmul(b.as_mut(), Accum::Replace, q.transpose(), a, 1.0, par);
    let b64 = Mat::<f64>::from_fn(l, n, |i, j| b[(i, j)] as f64); // (ℓ, n)
    let ub = left_singular_vectors(b64.as_ref(), k, seq, "faer SVD of B = QᵀA (f64)")?; // (ℓ, k)
    let ub_k = Mat::<f32>::from_fn(l, k, |i, j| ub[(i, j)] as f32); // (ℓ, k)
    let mut out = Mat::<f32>::zeros(m, k); // (m, k)
    matmul(out.as_mut(), Accum::Replace, q, ub_k.as_ref(), 1.0, par);
    Ok(out)
}
