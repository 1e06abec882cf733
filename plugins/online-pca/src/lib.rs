//! Online PCA, the basis update of Online Subspace Descent (Liang, Liu,
//! Chen & Liu, arXiv 2408.12857, and their reference code's `online_pca`,
//! github.com/kyleliang919/Online-Subspace-Descent): the basis P is not
//! recomputed but trained, one optimizer step per refresh on the projection
//! loss of the normalized matrix.
//!
//! Contract of a tracked refresh ([`tracker::OnlinePcaTracker`]), with P
//! (m×k, orthonormal) and Adam's moments M, V (m×k) from the previous one:
//!
//! 1. **loss**: Ĝ = A/‖A‖_F, L(P) = ‖PPᵀĜ − Ĝ‖_F², whose gradient at an
//!    orthonormal P is ∇ = −2(I − PPᵀ)ĜĜᵀP (Oja's rule's direction);
//! 2. **step**: Adam on P (Kingma & Ba, Alg. 1, bias-corrected, no weight
//!    decay): t ← t + 1, M ← β₁M + (1 − β₁)∇, V ← β₂V + (1 − β₂)∇²,
//!    P ← P − lr·(M/(1 − β₁ᵗ)) / (√(V/(1 − β₂ᵗ)) + ε), elementwise;
//! 3. **retract**: P ← the Q of P's QR with R's diagonal non-negative, so
//!    P stays orthonormal (the paper's code leaves P unconstrained; a
//!    basis here has orthonormal columns, and the retraction moves an
//!    almost orthonormal P by O(‖PᵀP − I‖)).
//!
//! The first refresh (no P yet) is rrf (`plugin-rrf`) with `oversample` and
//! `power_iters`, as the paper's first refresh is an SVD; so is every
//! one-shot call ([`SubspaceMethod::compute`], the harness's rows), which
//! claims rrf's Randomized guarantee and nothing more. The tracked
//! refreshes claim no error bound and no settling: one Adam step moves each
//! entry of P by about `lr` whatever the gradient's size, so how closely P
//! follows a moving subspace depends on `lr` against the motion
//! ([`settles_within`](SubspaceMethod::settles_within) is `None`; the
//! conformance kit prints the trajectory's figures).
//!
//! The tracker's state is P, M, V and the step count t: named tensors
//! `basis`, `exp_avg`, `exp_avg_sq` (m×k) and `step` (one value).

pub mod tracker;

use documented::DocumentedFields;
use faer::MatRef;
use rrf::{Rrf, RrfParams};
use serde::{Deserialize, Serialize};
use subspace::{Basis, Context, Guarantee, Plugin, SubspaceError, SubspaceMethod, Tracker};

/// Params of online PCA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
pub struct OnlinePcaParams {
    /// Adam's step size on the basis entries (per refresh; default 0.01).
    /// The paper's code sets 1/T times a ratio; 0.01 was chosen on the
    /// conformance kit's trajectory (0.02 rad a step, m ≈ 100), where after
    /// 24 updates 0.001 lagged at err_fro 1.18–1.26 and 0.01 followed at
    /// 1.0007–1.0009 (0.003: 1.006–1.022, 0.03: 1.0016).
    pub lr: f32,
    /// Adam's first-moment decay β₁ (default 0.9).
    pub beta1: f32,
    /// Adam's second-moment decay β₂ (default 0.999).
    pub beta2: f32,
    /// Adam's ε, added to √V (default 1e-8).
    pub eps: f32,
    /// Oversampling p of the first refresh, which is rrf (columns; default 10).
    pub oversample: usize,
    /// Power iterations q of the first refresh, which is rrf (default 1).
    pub power_iters: usize,
}

impl Default for OnlinePcaParams {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            oversample: 10,
            power_iters: 1,
        }
    }
}

/// Online PCA: a trained basis; rrf one-shot and on the first refresh.
#[derive(Debug, Clone)]
pub struct OnlinePca {
    pub params: OnlinePcaParams,
    cold: Rrf,
}

impl Plugin for OnlinePca {
    const NAME: &'static str = "online-pca";
    const SUMMARY: &'static str =
        "online PCA (Online Subspace Descent): one Adam step per refresh on ‖PPᵀĜ − Ĝ‖²; rrf first";
    type Params = OnlinePcaParams;

    fn new(params: OnlinePcaParams) -> Result<Self, String> {
        let p = &params;
        if !(p.lr.is_finite() && p.lr > 0.0) {
            return Err(format!("lr = {}: choose a finite lr > 0", p.lr));
        }
        for (name, beta) in [("beta1", p.beta1), ("beta2", p.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(format!("{name} = {beta}: choose 0 ≤ {name} < 1"));
            }
        }
        if !(p.eps.is_finite() && p.eps > 0.0) {
            return Err(format!("eps = {}: choose a finite eps > 0", p.eps));
        }
        let cold = Rrf::new(RrfParams {
            oversample: params.oversample,
            power_iters: params.power_iters,
            ..RrfParams::default()
        })?;
        Ok(Self { params, cold })
    }

    /// The defaults, and a larger step without momentum after a cold start
    /// without power iterations.
    fn conformance_params() -> Vec<OnlinePcaParams> {
        vec![
            OnlinePcaParams::default(),
            OnlinePcaParams {
                lr: 3e-2,
                beta1: 0.0,
                power_iters: 0,
                ..OnlinePcaParams::default()
            },
        ]
    }
}

impl Default for OnlinePca {
    fn default() -> Self {
        Self::new(OnlinePcaParams::default()).expect("the defaults are valid")
    }
}

impl SubspaceMethod for OnlinePca {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// A one-shot call is rrf's.
    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        self.cold.workspace_bytes(m, n, k)
    }

    /// rrf's, the one-shot call's (the module doc).
    fn guarantee(&self, m: usize, n: usize, k: usize) -> Guarantee {
        self.cold.guarantee(m, n, k)
    }

    fn own_tracker(&self, m: usize, n: usize, k: usize) -> Option<Box<dyn Tracker>> {
        Some(Box::new(tracker::OnlinePcaTracker::new(
            self.params.clone(),
            self.cold.clone(),
            (m, n, k),
        )))
    }

    fn settles_within(&self, _m: usize, _n: usize, _k: usize) -> Option<usize> {
        None
    }

    /// rrf, which (with `warm_start = false`) ignores a warm start: online
    /// PCA's state is its tracker's.
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        self.cold.compute(a, k, ctx)
    }
}
