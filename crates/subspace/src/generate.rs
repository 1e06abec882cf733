//! Test matrices with a prescribed spectrum.
//!
//! `with_spectrum` builds A = U·diag(σ)·Vᵀ in f64 from Haar-distributed
//! orthonormal U (m×r) and V (n×r), r = len(σ) ≤ min(m, n), then rounds to
//! f32. The rounding perturbs σ by about f32::EPSILON·σ₁; accuracy is always
//! measured against the reference SVD of the f32 matrix itself. `rotating`
//! builds a sequence of such matrices whose dominant subspace turns by a
//! known angle per step (the trackers' trajectory).

use faer::{Mat, Par};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A prescribed singular-value profile σ₁ ≥ σ₂ ≥ … (σ₁ = 1 unless noted).
///
/// In a suite's TOML: `spectrum = { kind = "polynomial", power = 1.0 }`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Spectrum {
    /// σ_j = exp(−rate·(j−1)).
    Exponential { rate: f64 },
    /// σ_j = j^(−power).
    Polynomial { power: f64 },
    /// σ_j = 1 for j ≤ k, then `ratio` · j^(−1/2): a gap of `1/ratio` after k.
    Gap { k: usize, ratio: f64 },
    /// σ_j = 1 for j ≤ r, 0 after: exactly rank r.
    Rank { r: usize },
    /// σ_j = 1 for every j (identity-like: no dominant subspace).
    Flat,
}

impl Spectrum {
    /// The first `len` singular values.
    pub fn values(&self, len: usize) -> Vec<f64> {
        (1..=len)
            .map(|j| {
                let jf = j as f64;
                match *self {
                    Spectrum::Exponential { rate } => (-rate * (jf - 1.0)).exp(),
                    Spectrum::Polynomial { power } => jf.powf(-power),
                    Spectrum::Gap { k, ratio } => {
                        if j <= k {
                            1.0
                        } else {
                            ratio / jf.sqrt()
                        }
                    }
                    Spectrum::Rank { r } => {
                        if j <= r {
                            1.0
                        } else {
                            0.0
                        }
                    }
                    Spectrum::Flat => 1.0,
                }
            })
            .collect()
    }
}

/// An m×n f32 matrix with singular values `spectrum.values(min(m, n))`.
pub fn with_spectrum(m: usize, n: usize, spectrum: Spectrum, seed: u64) -> Mat<f32> {
    with_singular_values(m, n, &spectrum.values(m.min(n)), seed)
}

/// An m×n f32 matrix U·diag(σ)·Vᵀ with Haar-random U, V (len(σ) ≤ min(m, n)).
pub fn with_singular_values(m: usize, n: usize, sigma: &[f64], seed: u64) -> Mat<f32> {
    let r = sigma.len();
    assert!(r <= m.min(n), "{r} singular values for a {m}×{n} matrix");
    if r == 0 {
        return Mat::zeros(m, n);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let u = haar(m, r, &mut rng);
    let v = haar(n, r, &mut rng);
    let us = Mat::<f64>::from_fn(m, r, |i, j| u[(i, j)] * sigma[j]);
    let mut a = Mat::<f64>::zeros(m, n);
    faer::linalg::matmul::matmul(
        a.as_mut(),
        faer::Accum::Replace,
        us.as_ref(),
        v.transpose(),
        1.0,
        Par::Seq,
    );
    Mat::from_fn(m, n, |i, j| a[(i, j)] as f32)
}

/// A slowly turning sequence of m×n matrices of fixed spectrum, for
/// trackers: A_t = U_t·diag(σ)·Vᵀ, t = 0, 1, …, `steps` − 1, with Haar U₀
/// (m×r) and V (n×r), r = len(σ) ≥ 2k, and U_t turned by `angle` radians
/// per step in the k planes (u_j, u_{k+j}), j < k:
///
/// u_j(t) = cos(tθ)·u_j + sin(tθ)·u_{k+j},
/// u_{k+j}(t) = −sin(tθ)·u_j + cos(tθ)·u_{k+j},
///
/// the other columns fixed. U_t stays orthonormal, so σ are A_t's singular
/// values; when σ_k > σ_{k+1} the dominant k-subspace span(U_t[:, :k]) turns
/// by exactly θ per step (every principal angle between consecutive ones
/// is θ, for tθ < π/2). Built in f64, rounded to f32.
pub fn rotating(
    m: usize,
    n: usize,
    k: usize,
    sigma: &[f64],
    angle: f64,
    steps: usize,
    seed: u64,
) -> Vec<Mat<f32>> {
    let r = sigma.len();
    assert!(
        r <= m.min(n) && 2 * k <= r,
        "{r} singular values for a {m}×{n} matrix turning at rank {k}"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let u = haar(m, r, &mut rng);
    let v = haar(n, r, &mut rng);
    (0..steps)
        .map(|t| {
            let (s, c) = (t as f64 * angle).sin_cos();
            let ut = Mat::<f64>::from_fn(m, r, |i, j| {
                if j < k {
                    c * u[(i, j)] + s * u[(i, k + j)]
                } else if j < 2 * k {
                    -s * u[(i, j - k)] + c * u[(i, j)]
                } else {
                    u[(i, j)]
                }
            });
            let us = Mat::<f64>::from_fn(m, r, |i, j| ut[(i, j)] * sigma[j]);
            let mut a = Mat::<f64>::zeros(m, n);
            faer::linalg::matmul::matmul(
                a.as_mut(),
                faer::Accum::Replace,
                us.as_ref(),
                v.transpose(),
                1.0,
                Par::Seq,
            );
            Mat::from_fn(m, n, |i, j| a[(i, j)] as f32)
        })
        .collect()
}

/// An m×n matrix of independent N(0, 1) entries.
pub fn gaussian(m: usize, n: usize, seed: u64) -> Mat<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values: Vec<f32> = (0..m * n)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Mat::from_fn(m, n, |i, j| values[j * m + i])
}

/// The m×n matrix with ones on the diagonal.
pub fn identity(m: usize, n: usize) -> Mat<f32> {
    Mat::from_fn(m, n, |i, j| if i == j { 1.0 } else { 0.0 })
}

/// Haar-distributed m×r orthonormal columns: Q of a Gaussian's QR with the
/// signs of R's diagonal moved into Q.
fn haar(m: usize, r: usize, rng: &mut ChaCha8Rng) -> Mat<f64> {
    let mut g = Mat::<f64>::from_fn(m, r, |_, _| StandardNormal.sample(rng));
    let mut q = Mat::<f64>::zeros(m, r);
    dense::ThinQr::<f64>::new(m, r, Par::Seq).thin_q(q.as_mut(), g.as_mut(), Par::Seq);
    // g now holds R in its upper triangle.
    Mat::from_fn(m, r, |i, j| {
        if g[(j, j)] < 0.0 {
            -q[(i, j)]
        } else {
            q[(i, j)]
        }
    })
}
