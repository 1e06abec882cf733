//! Warm-started block power iteration (subspace iteration), the tracker of
//! LDAdam (Robert, Safaryan, Modoranu & Alistarh, arXiv 2410.16103: one
//! block power iteration per step from the previous basis) and PowerSGD
//! (Vogels, Karimireddy & Jaggi, NeurIPS 2019, Alg. 1: the warm-started
//! power step); Golub–Van Loan §8.2.4 (orthogonal iteration).
//!
//! Contract: with a previous basis Q₀ (m×k₀) as the context's warm start
//! and ℓ = min(k + `extra`, m, n),
//!
//! 1. **start**: Y = [Q₀[:, :w] | G] (m×ℓ), w = min(k₀, k), G an
//!    m×(ℓ − w) Gaussian from the context's seeded stream (the `extra`
//!    columns that let new directions in);
//! 2. **power-iterate** `iters` times: Y ← orth(A·(Aᵀ·Y)), orth the thin
//!    Householder Q with R's diagonal made non-negative (the unique QR), so
//!    a basis that barely moves keeps its columns' order and signs;
//! 3. **project** to k columns when ℓ > k (Rayleigh–Ritz): the first k left
//!    singular vectors of B = YᵀA, Y·U_B[:, :k] (rrf's `project_svd`, HMT
//!    Alg. 5.1); when ℓ = k, Y itself.
//!
//! Without a warm start (a tracker's first refresh, the harness's one-shot
//! rows) it is rrf (`plugin-rrf`) with `oversample` and `power_iters`, QR
//! normalization and the SVD truncation: the same bits, and rrf's
//! Randomized guarantee (HMT 2011 Thm 10.5, Cor. 10.10), which is all this
//! method claims one-shot. The warm step claims no error bound of its own
//! (its error depends on how far A moved from Q₀'s subspace); it claims
//! [`settles_within`](SubspaceMethod::settles_within) on the conformance
//! kit's trajectory instead (see [`SubspaceIteration::SETTLES_WITHIN`]).
//!
//! One iteration multiplies by AAᵀ without re-normalizing between the two
//! products, as LDAdam's rule does: in f32 the directions whose
//! (σ_j/σ₁)² falls below ε ≈ 1.2e-7 are lost, which touches the k kept
//! only when σ_k/σ₁ < 3.5e-4.

use dense::{ThinQr, flops, matmul};
use documented::DocumentedFields;
use faer::{Accum, Mat, MatRef, Par};
use rrf::{Rrf, RrfParams, mat_bytes, project_svd, project_svd_bytes};
use serde::{Deserialize, Serialize};
use subspace::{Basis, Context, Guarantee, Info, Plugin, SubspaceError, SubspaceMethod};

/// Params of warm-started subspace iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
pub struct SubspaceIterationParams {
    /// Block power iterations per warm-started refresh, Y ← orth(A·(Aᵀ·Y))
    /// (count, at least 1; default 1, LDAdam's).
    pub iters: usize,
    /// Gaussian columns appended to the previous basis, to let new
    /// directions in; the best k of the k + extra are kept by a
    /// Rayleigh–Ritz step (columns; default 0).
    pub extra: usize,
    /// Oversampling p of the cold start, which is rrf (columns; default 10).
    pub oversample: usize,
    /// Power iterations q of the cold start, which is rrf (default 1).
    pub power_iters: usize,
}

impl Default for SubspaceIterationParams {
    fn default() -> Self {
        Self {
            iters: 1,
            extra: 0,
            oversample: 10,
            power_iters: 1,
        }
    }
}

/// Warm-started subspace iteration; rrf when cold.
#[derive(Debug, Clone)]
pub struct SubspaceIteration {
    pub params: SubspaceIterationParams,
    cold: Rrf,
}

impl Plugin for SubspaceIteration {
    const NAME: &'static str = "subspace-iteration";
    const SUMMARY: &'static str =
        "warm-started block power iteration (LDAdam, PowerSGD): orth(A·Aᵀ·Q_prev); rrf when cold";
    type Params = SubspaceIterationParams;

    fn new(params: SubspaceIterationParams) -> Result<Self, String> {
        if params.iters == 0 {
            return Err("iters = 0 would return the previous basis unchanged; \
                        set iters ≥ 1 (1 is LDAdam's)"
                .into());
        }
        let cold = Rrf::new(RrfParams {
            oversample: params.oversample,
            power_iters: params.power_iters,
            ..RrfParams::default()
        })?;
        Ok(Self { params, cold })
    }

    /// The defaults, and two iterations with extra columns (the
    /// Rayleigh–Ritz path) after a cold start without power iterations.
    fn conformance_params() -> Vec<SubspaceIterationParams> {
        vec![
            SubspaceIterationParams::default(),
            SubspaceIterationParams {
                iters: 2,
                extra: 4,
                power_iters: 0,
                ..SubspaceIterationParams::default()
            },
        ]
    }
}

impl Default for SubspaceIteration {
    fn default() -> Self {
        Self::new(SubspaceIterationParams::default()).expect("the defaults are valid")
    }
}

impl SubspaceIteration {
    /// Within how many tracked updates the basis settles on the conformance
    /// kit's trajectory (`subspace::testkit::tracking`: the dominant
    /// subspace turns 0.02 rad a step, σ_{k+1}/σ_k = ρ ≈ 0.34), whatever the
    /// params: each warm update contracts the tangent of the angle to the
    /// moving subspace by at least ρ² ≈ 0.12 (one iteration; more contract
    /// more) and adds at most the 0.02 rad turn, so from a cold start at
    /// angle θ₀, three warm updates later tan θ ≤ ρ⁶·tan θ₀ + 0.02·ρ²/(1 −
    /// ρ²) ≈ 1.5e-3·tan θ₀ + 3e-3, while err_fro ≤ 1.01 needs only
    /// k·sin²θ·σ₁² ≤ 0.02·‖A − A_k‖²_F, sin θ ≲ 0.05 on that spectrum; the
    /// first update is the cold rrf, hence 4. The kit checks it (measured:
    /// settled from update 2 with the defaults; rrf's warm start from its
    /// roughest cold start, a k-column sketch, reached 1.0015 at update 4).
    pub const SETTLES_WITHIN: usize = 4;

    /// The block width ℓ of a warm refresh for rank k on an m×n matrix.
    pub fn block_width(&self, m: usize, n: usize, k: usize) -> usize {
        (k + self.params.extra).min(m.min(n))
    }

    /// Bytes [`ctx.gaussian`](Context::gaussian) holds at once for an
    /// rows×cols draw: its columns and the matrix they become.
    fn draw_bytes(rows: usize, cols: usize) -> usize {
        if cols == 0 {
            return 0;
        }
        size_of::<f32>() * rows * cols + size_of::<Vec<f32>>() * cols + mat_bytes::<f32>(rows, cols)
    }

    /// The warm refresh (the module doc's steps 1–3) from `q0`.
    fn warm(
        &self,
        a: MatRef<'_, f32>,
        q0: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let (m, n) = a.shape();
        let l = self.block_width(m, n, k);
        let w = q0.ncols().min(k);
        let par = ctx.par;
        let seq = Par::Seq;
        let mut info = Info {
            converged: true,
            ..Info::default()
        };

        // Letters: m, n = A's shape; ℓ = block width.
        // 1. start: Y = [Q₀[:, :w] | G].
        let mut y = Mat::<f32>::zeros(m, l); // (m, ℓ)
        y.as_mut().subcols_mut(0, w).copy_from(q0.subcols(0, w));
        if l > w {
            let g = ctx.gaussian(m, l - w); // (m, ℓ − w)
            y.as_mut().subcols_mut(w, l - w).copy_from(&g);
        }
        let mut z = Mat::<f32>::zeros(n, l); // (n, ℓ)
        let mut q = Mat::<f32>::zeros(m, l); // (m, ℓ)
        let mut qr = ThinQr::<f32>::new(m, l, seq);

        // 2. power-iterate: Y ← orth(A·(Aᵀ·Y)).
        for it in 0..self.params.iters {
            if it > 0 {
                y.copy_from(&q);
            }
            matmul(
                z.as_mut(),
                Accum::Replace,
                a.transpose(),
                y.as_ref(),
                1.0,
                par,
            );
            matmul(y.as_mut(), Accum::Replace, a, z.as_ref(), 1.0, par);
            qr.thin_q(q.as_mut(), y.as_mut(), seq);
            // y holds R in its upper triangle: make its diagonal non-negative.
            for j in 0..l {
                if y[(j, j)] < 0.0 {
                    q.as_mut().col_mut(j).iter_mut().for_each(|x| *x = -*x);
                }
            }
            info.products += 2 * l;
            info.flops += 2.0 * flops::gemm(m, l, n) + flops::qr_thin_q(m, l);
            info.iterations += 1;
        }

        // 3. project to k columns (Rayleigh–Ritz) when the block is wider.
        let q = if l > k {
            let out = project_svd(q.as_ref(), a, k, par, seq)?;
            info.products += l;
            info.flops += flops::gemm(l, n, m) + flops::svd(l, n) + flops::gemm(m, k, l);
            out
        } else {
            q
        };
        Ok(Basis { q, info })
    }
}

impl SubspaceMethod for SubspaceIteration {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// A cold call is rrf's.
    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        self.cold.workspace_bytes(m, n, k)
    }

    /// The larger of two moments of a warm refresh, each matrix counted as
    /// faer allocates it:
    ///
    /// - the start: Y (m×ℓ) and the draw of its ℓ − k Gaussian columns;
    /// - after it: Y and Q (m×ℓ), Z (n×ℓ) and the QR workspace, and, when
    ///   ℓ > k, the Rayleigh–Ritz step's (rrf's `project_svd_bytes`, the
    ///   m×k result included).
    fn warm_workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        let l = self.block_width(m, n, k);
        let f32s = |rows, cols| mat_bytes::<f32>(rows, cols);
        let start = f32s(m, l) + Self::draw_bytes(m, l - k);
        let held = 2 * f32s(m, l) + f32s(n, l) + ThinQr::<f32>::bytes(m, l);
        let project = if l > k {
            project_svd_bytes(m, n, l, k)
        } else {
            0
        };
        start.max(held + project)
    }

    /// rrf's, the cold call's (the module doc).
    fn guarantee(&self, m: usize, n: usize, k: usize) -> Guarantee {
        self.cold.guarantee(m, n, k)
    }

    fn settles_within(&self, _m: usize, _n: usize, _k: usize) -> Option<usize> {
        Some(Self::SETTLES_WITHIN)
    }

    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        match ctx.warm_start {
            Some(q0) if q0.ncols() > 0 => self.warm(a, q0, k, ctx),
            _ => self.cold.compute(a, k, ctx),
        }
    }
}
