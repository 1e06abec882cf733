//! Accuracy of a basis against the f64 reference SVD, and the
//! Halko–Martinsson–Tropp (HMT 2011, §10) error bounds.
//!
//! With R = A − QQᵀA (computed in f64) and A_k the best rank-k approximation:
//!
//! | figure      | definition                       | optimal |
//! |-------------|----------------------------------|---------|
//! | `err_fro`   | ‖R‖_F / ‖A − A_k‖_F              | 1       |
//! | `err_spec`  | ‖R‖₂ / σ_{k+1}                   | 1       |
//! | `sin_theta` | ‖(I − QQᵀ)U_k‖₂                  | 0       |
//! | `energy`    | ‖QᵀA‖_F² / ‖A‖_F²                | Σ_{j≤k}σ_j²/‖A‖_F² |
//! | `energy_optimal` | Σ_{j≤k}σ_j² / ‖A‖_F²        | (itself) |
//! | `energy_ratio` | ‖QᵀA‖_F² / Σ_{j≤k}σ_j²        | 1       |
//! | `ortho`     | ‖QᵀQ − I‖_F                      | 0       |
//!
//! **Bounded accuracy.** `err_fro` is a ratio to the optimal tail and
//! explodes where that tail is small; `energy_ratio` is the captured energy
//! as a share of the most any rank-k basis captures (Ky Fan: the optimum is
//! Σ_{j≤k}σ_j², reached by U_k). It lies in [0, 1] up to the roundoff of
//! Q's orthonormality, reads 1 for an optimal basis and about k/m for a
//! Haar-random one (E[QQᵀ] = (k/m)·I), whatever the spectrum.
//!
//! **Exactly low-rank inputs.** When ‖A − A_k‖_F (or σ_{k+1}) is below f32
//! roundoff of A, the ratio would divide by (nearly) zero. The denominators
//! are therefore floored at the roundoff level [`roundoff`]`(m, n, ‖A‖_F)`
//! = ε₃₂·√(m+n)·‖A‖_F (resp. with σ₁): for such inputs `err_fro` reads as
//! the residual in units of f32 roundoff, and a basis exact to working
//! precision scores about 1 or below.
//! The zero matrix has `err_fro = err_spec = 1` (any basis is optimal) and
//! `energy = energy_optimal = energy_ratio = 1`.

use crate::reference::{ReferenceSvd, singular_values};
use crate::{Guarantee, SubspaceError};
use faer::{Mat, MatRef, Par};

/// The accuracy figures of one basis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accuracy {
    pub err_fro: f64,
    pub err_spec: f64,
    pub sin_theta: f64,
    pub energy: f64,
    /// Σ_{j≤k}σ_j² / ‖A‖_F²: the optimum's `energy` at the same rank.
    pub energy_optimal: f64,
    /// ‖QᵀA‖_F² / Σ_{j≤k}σ_j² (1 = optimal; about k/m for a random basis).
    pub energy_ratio: f64,
    pub ortho: f64,
    /// ‖A − QQᵀA‖_F, absolute.
    pub residual_fro: f64,
    /// ‖A − QQᵀA‖₂, absolute.
    pub residual_spec: f64,
}

/// Computes every figure for the basis `q` (m×k) of the reference's matrix.
/// Every product and SVD runs under `par` (no global parallelism); the
/// figures agree across thread counts to f64 roundoff, not bit for bit.
pub fn accuracy(
    reference: &ReferenceSvd,
    q: MatRef<'_, f32>,
    par: Par,
) -> Result<Accuracy, SubspaceError> {
    let a = reference.a();
    let m = a.nrows();
    let k = q.ncols();
    assert_eq!(q.nrows(), m, "basis has {} rows, matrix has {m}", q.nrows());
    let q = Mat::<f64>::from_fn(m, k, |i, j| q[(i, j)] as f64);
    let n = a.ncols();
    // Every product takes `par` explicitly (no global parallelism).
    let mul = |lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>| {
        let mut out = Mat::<f64>::zeros(lhs.nrows(), rhs.ncols());
        faer::linalg::matmul::matmul(out.as_mut(), faer::Accum::Replace, lhs, rhs, 1.0, par);
        out
    };

    // QᵀA (k×n) and R = A − Q(QᵀA) (m×n).
    let qta = mul(q.transpose(), a);
    let r = a - mul(q.as_ref(), qta.as_ref());
    let residual_fro = r.norm_l2();
    let residual_spec = singular_values(r.as_ref(), par)?
        .first()
        .copied()
        .unwrap_or(0.0);

    let norm_fro = reference.norm_fro();
    let ratio = |num: f64, opt: f64, scale: f64| {
        let den = opt.max(roundoff(m, n, scale));
        if den == 0.0 { 1.0 } else { num / den }
    };
    let err_fro = ratio(residual_fro, reference.tail_fro(k), norm_fro);
    let err_spec = ratio(residual_spec, reference.sigma(k), reference.sigma(0));

    // (I − QQᵀ)U_k, m×k.
    let uk = reference.u().subcols(0, k.min(reference.u().ncols()));
    let w = uk - mul(q.as_ref(), mul(q.transpose(), uk).as_ref());
    let sin_theta = singular_values(w.as_ref(), par)?
        .first()
        .copied()
        .unwrap_or(0.0);

    let shares = EnergyShares::new(
        qta.norm_l2().powi(2),
        optimal_energy(reference.singular_values(), k),
        norm_fro * norm_fro,
    );
    let ortho = (mul(q.transpose(), q.as_ref()) - Mat::<f64>::identity(k, k)).norm_l2();

    Ok(Accuracy {
        err_fro,
        err_spec,
        sin_theta,
        energy: shares.captured,
        energy_optimal: shares.optimal,
        energy_ratio: shares.ratio,
        ortho,
        residual_fro,
        residual_spec,
    })
}

/// Σ_{j≤k} σ_j²: the most energy ‖QᵀA‖_F² any m×k orthonormal Q captures
/// (Ky Fan), from A's singular values `s` (non-increasing; k past their
/// end counts them all).
pub fn optimal_energy(s: &[f64], k: usize) -> f64 {
    s.iter().take(k).map(|x| x * x).sum()
}

/// A basis's captured energy as shares: of ‖A‖_F², and of the optimum's at
/// the same rank.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnergyShares {
    /// ‖QᵀA‖_F² / ‖A‖_F².
    pub captured: f64,
    /// Σ_{j≤k}σ_j² / ‖A‖_F².
    pub optimal: f64,
    /// ‖QᵀA‖_F² / Σ_{j≤k}σ_j² (1 = optimal).
    pub ratio: f64,
}

impl EnergyShares {
    /// The shares of a basis capturing `captured` = ‖QᵀA‖_F² of a matrix
    /// with `total` = ‖A‖_F², whose rank-k optimum captures `optimal` =
    /// Σ_{j≤k}σ_j². The zero matrix (`total` = 0) scores 1 on each: every
    /// basis is optimal for it.
    pub fn new(captured: f64, optimal: f64, total: f64) -> Self {
        if total == 0.0 {
            return Self {
                captured: 1.0,
                optimal: 1.0,
                ratio: 1.0,
            };
        }
        Self {
            captured: captured / total,
            optimal: optimal / total,
            // A non-zero matrix has σ₁ > 0, so `optimal` > 0.
            ratio: captured / optimal,
        }
    }
}

/// The f32 roundoff level of a residual of an m×n matrix of norm `scale`:
/// ε₃₂·√(m+n)·scale.
pub fn roundoff(m: usize, n: usize, scale: f64) -> f64 {
    f32::EPSILON as f64 * ((m + n) as f64).sqrt() * scale
}

/// Upper bounds on the *expected* residual of a Gaussian range finder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HmtBound {
    /// Bound on E‖A − QQᵀA‖_F (HMT Thm 10.5; `None` when q > 0, where HMT
    /// give only the spectral bound).
    pub fro: Option<f64>,
    /// Bound on E‖A − QQᵀA‖₂ (HMT Cor. 10.10; Thm 10.6 at q = 0).
    pub spec: f64,
}

/// HMT's expected-error bounds for target rank `k`, oversampling `p ≥ 2`
/// and `q` power iterations, given A's singular values `s` (non-increasing).
///
/// `truncated`: the returned basis keeps the first k of the ℓ = k + p
/// sketch directions (HMT Alg. 5.1 truncation). Then
/// ‖A − Q_kQ_kᵀA‖_F² = ‖A − QQᵀA‖_F² + ‖B − B_k‖_F² ≤ ‖A − QQᵀA‖_F² + ‖A − A_k‖_F²
/// and ‖A − Q_kQ_kᵀA‖₂ ≤ ‖A − QQᵀA‖₂ + σ_{k+1}, which the bounds include.
///
/// `None` when HMT's hypotheses fail (k < 2 or p < 2).
pub fn hmt_bound(s: &[f64], k: usize, p: usize, q: usize, truncated: bool) -> Option<HmtBound> {
    if k < 2 || p < 2 {
        return None;
    }
    let (kf, pf) = (k as f64, p as f64);
    let tail = |pow: i32| s.iter().skip(k).map(|x| x.powi(pow)).sum::<f64>();
    let sigma_k1 = s.get(k).copied().unwrap_or(0.0);
    let tail_fro = tail(2).sqrt();

    let fro_sq_factor = 1.0 + kf / (pf - 1.0);
    let fro = (q == 0).then(|| {
        if truncated {
            (fro_sq_factor + 1.0).sqrt() * tail_fro
        } else {
            fro_sq_factor.sqrt() * tail_fro
        }
    });

    let e = std::f64::consts::E;
    let power = (2 * q + 1) as i32;
    let inner = (1.0 + (kf / (pf - 1.0)).sqrt()) * sigma_k1.powi(power)
        + e * (kf + pf).sqrt() / pf * tail(2 * power).sqrt();
    let mut spec = inner.powf(1.0 / power as f64);
    if truncated {
        spec += sigma_k1;
    }
    Some(HmtBound { fro, spec })
}

/// The bound that applies to a method's claimed [`Guarantee`]; `None` for
/// exact methods and where HMT's hypotheses fail.
pub fn bound_for(s: &[f64], guarantee: Guarantee) -> Option<HmtBound> {
    match guarantee {
        Guarantee::Exact
        | Guarantee::Unbounded
        | Guarantee::Haar
        | Guarantee::BestColumns { .. } => None,
        Guarantee::Randomized {
            rank,
            oversample,
            power_iters,
            truncated,
        } => hmt_bound(s, rank, oversample, power_iters, truncated),
    }
}

/// HMT's deviation bound on the spectral residual of one draw (HMT 2011
/// eq. (1.9), §10.3): for p ≥ 4, with probability at least 1 − 6·p^(−p),
/// ‖A − QQᵀA‖₂ ≤ [1 + 11·√(k+p)·√min(m, n)]^{1/(2q+1)} · σ_{k+1}
/// (the power scheme raises the factor to 1/(2q+1), HMT §10.4); plus σ_{k+1}
/// when the basis is truncated to k of the ℓ directions. `None` for p < 4.
pub fn hmt_tail_bound_spec(s: &[f64], m: usize, n: usize, guarantee: Guarantee) -> Option<f64> {
    let Guarantee::Randomized {
        rank,
        oversample,
        power_iters,
        truncated,
    } = guarantee
    else {
        return None;
    };
    if oversample < 4 {
        return None;
    }
    let sigma = s.get(rank).copied().unwrap_or(0.0);
    let factor = 1.0 + 11.0 * ((rank + oversample) as f64).sqrt() * (m.min(n) as f64).sqrt();
    let bound = factor.powf(1.0 / (2 * power_iters + 1) as f64) * sigma;
    Some(if truncated { bound + sigma } else { bound })
}
