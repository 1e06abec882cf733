//! The rules the two control guarantees state, checked where no error bound
//! applies:
//!
//! - [`Guarantee::Haar`] ([`check_haar`]): Q does not depend on A (the same
//!   seed gives the same bits for different inputs, the zero matrix
//!   included), and over [`HAAR_DRAWS`] seeds the sample means of Q and of
//!   P = QQᵀ sit within [`Z`] standard errors of the Haar values E[Q] = 0,
//!   E[P] = (k/m)·I, with the Haar variances Var Q_ij = 1/m,
//!   Var P_ii = 2k(m−k)/(m²(m+2)) and E[P_ij²] = k(m−k)/(m(m−1)(m+2)) for
//!   i ≠ j (a uniformly random k-dimensional projector of ℝ^m); and the
//!   mean captured energy ‖QᵀA‖_F²/‖A‖_F² of a GaLore-like input within
//!   [`Z`] standard errors of k/m (its variance is at most Var P_ii, the
//!   share being a convex combination of such diagonals in A's left
//!   singular basis). A basis without Mezzadri's sign fix (R's diagonal
//!   left to the QR's convention) fails E[Q] = 0; one that reads A fails
//!   the first check; a fixed or skewed one fails E[P].
//! - [`Guarantee::BestColumns`] ([`check_best_columns`]): the dictionary D
//!   is read from a call at k = m (all of it); on every input, each column
//!   of Q is ± a distinct column of D, the chosen columns' scores
//!   ‖d_jᵀA‖_ℓ (in f64) are the k largest up to f32 roundoff, the result
//!   does not depend on the seed, and with ℓ = 2 the captured energy is at
//!   least (k/m)·‖A‖_F².
//!
//! Seeds are fixed, so each check gives the same verdict on every run; the
//! thresholds are [`Z`] standard errors, which a correct method exceeds in
//! one of its 50-odd comparisons with probability below 1e-4 on a fresh
//! choice of seeds.

use super::checks::{assert_orthonormal, run};
use crate::generate::{self, Spectrum};
use crate::{Guarantee, SubspaceMethod};
use faer::{Mat, MatRef};

/// Standard errors a sample mean may sit from its Haar value.
pub const Z: f64 = 5.0;

/// Draws of the Haar moment checks.
pub const HAAR_DRAWS: u64 = 2000;

/// Runs the rule check of the method's guarantee at a GaLore-like shape:
/// [`check_haar`] for a Haar claim, [`check_best_columns`] for a
/// BestColumns claim; methods claiming a bound (or nothing) have none.
#[track_caller]
pub fn check_rule(method: &dyn SubspaceMethod) {
    match method.guarantee(64, 172, 8) {
        Guarantee::Haar => check_haar(method),
        Guarantee::BestColumns { .. } => check_best_columns(method),
        Guarantee::Exact | Guarantee::Randomized { .. } | Guarantee::Unbounded => {}
    }
}

/// Checks a [`Guarantee::Haar`] claim (see the module doc).
#[track_caller]
pub fn check_haar(method: &dyn SubspaceMethod) {
    let name = method.name();
    // Q does not depend on A.
    for (m, n, k) in [(40, 25, 5), (25, 40, 5), (64, 172, 8), (6, 5, 2)] {
        assert_eq!(
            method.guarantee(m, n, k),
            Guarantee::Haar,
            "{name}: check_haar on a method that does not claim Haar at {m}×{n}, k = {k}"
        );
        let inputs = [
            generate::with_spectrum(m, n, Spectrum::Exponential { rate: 0.2 }, 3),
            generate::gaussian(m, n, 4),
            Mat::<f32>::zeros(m, n),
        ];
        let first = run(method, inputs[0].as_ref(), k, 11);
        assert_orthonormal(name, &format!("{m}×{n}, k = {k}"), first.as_ref());
        for (i, a) in inputs.iter().enumerate().skip(1) {
            let q = run(method, a.as_ref(), k, 11);
            assert!(
                bits_equal(first.as_ref(), q.as_ref()),
                "{name}: claims Haar (a basis that ignores A) but the same seed gave other bits \
                 on input {i} of {m}×{n}, k = {k}: the basis depends on A"
            );
        }
        let other = run(method, inputs[0].as_ref(), k, 12);
        assert!(
            !bits_equal(first.as_ref(), other.as_ref()),
            "{name}: claims Haar but seeds 11 and 12 gave the same basis ({m}×{n}, k = {k})"
        );
    }

    // The first two moments over seeds.
    let (m, k) = (6usize, 2usize);
    let a = generate::gaussian(m, 5, 5);
    let (mf, kf, nf) = (m as f64, k as f64, HAAR_DRAWS as f64);
    let mut mean_q = Mat::<f64>::zeros(m, k);
    let mut mean_p = Mat::<f64>::zeros(m, m);
    for seed in 0..HAAR_DRAWS {
        let q = run(method, a.as_ref(), k, seed);
        for i in 0..m {
            for j in 0..k {
                mean_q[(i, j)] += q[(i, j)] as f64 / nf;
            }
            for l in 0..m {
                let p: f64 = (0..k).map(|j| q[(i, j)] as f64 * q[(l, j)] as f64).sum();
                mean_p[(i, l)] += p / nf;
            }
        }
    }
    let se_q = (1.0 / (mf * nf)).sqrt();
    let sd_diag = (2.0 * kf * (mf - kf) / (mf * mf * (mf + 2.0))).sqrt();
    let sd_off = (kf * (mf - kf) / (mf * (mf - 1.0) * (mf + 2.0))).sqrt();
    for i in 0..m {
        for j in 0..k {
            let got = mean_q[(i, j)];
            assert!(
                got.abs() <= Z * se_q,
                "{name}: claims Haar but the mean of Q[{i}, {j}] over {HAAR_DRAWS} seeds is \
                 {got:.4}, more than {Z} standard errors ({se_q:.4}) from E[Q] = 0 ({m}×{k}; \
                 a QR without Mezzadri's sign fix fails so)"
            );
        }
        for l in 0..m {
            let (want, sd) = if i == l {
                (kf / mf, sd_diag)
            } else {
                (0.0, sd_off)
            };
            let got = mean_p[(i, l)];
            let se = sd / nf.sqrt();
            assert!(
                (got - want).abs() <= Z * se,
                "{name}: claims Haar but the mean of (QQᵀ)[{i}, {l}] over {HAAR_DRAWS} seeds is \
                 {got:.4}, more than {Z} standard errors ({se:.4}) from E[QQᵀ] = (k/m)·I's \
                 {want:.4} ({m}×{k})"
            );
        }
    }

    // A GaLore-like input keeps the share k/m of its energy on average.
    let (m, n, k, draws) = (64, 172, 8, 400u64);
    let a = generate::with_spectrum(m, n, Spectrum::Exponential { rate: 0.1 }, 6);
    let a64 = to_f64(a.as_ref());
    let total = a64.norm_l2().powi(2);
    let mean: f64 = (0..draws)
        .map(|seed| {
            let q = to_f64(run(method, a.as_ref(), k, 1000 + seed).as_ref());
            (q.transpose() * &a64).norm_l2().powi(2) / total / draws as f64
        })
        .sum();
    let (mf, kf) = (m as f64, k as f64);
    let se = (2.0 * kf * (mf - kf) / (mf * mf * (mf + 2.0)) / draws as f64).sqrt();
    assert!(
        (mean - kf / mf).abs() <= Z * se,
        "{name}: claims Haar but its mean captured energy over {draws} seeds on a {m}×{n} input \
         at k = {k} is {mean:.4}, more than {Z} standard errors ({se:.4}) from k/m = {:.4}",
        kf / mf
    );
}

/// Checks a [`Guarantee::BestColumns`] claim (see the module doc).
#[track_caller]
pub fn check_best_columns(method: &dyn SubspaceMethod) {
    let cases = [
        (16, 40, 5, Spectrum::Polynomial { power: 1.0 }),
        (40, 16, 5, Spectrum::Exponential { rate: 0.2 }),
        (48, 64, 12, Spectrum::Gap { k: 12, ratio: 0.1 }),
        (64, 48, 1, Spectrum::Polynomial { power: 0.5 }),
        (33, 33, 33, Spectrum::Flat),
        (120, 80, 10, Spectrum::Rank { r: 3 }),
    ];
    for (i, (m, n, k, spectrum)) in cases.into_iter().enumerate() {
        let a = generate::with_spectrum(m, n, spectrum, 60 + i as u64);
        check_best_columns_on(
            method,
            a.as_ref(),
            k,
            &format!("{m}×{n}, k = {k}, {spectrum:?}"),
        );
    }
    let zero = Mat::<f32>::zeros(20, 30);
    check_best_columns_on(method, zero.as_ref(), 4, "zero 20×30, k = 4");
}

/// The dictionary of a BestColumns method for ℝ^m, read from a call at
/// k = m: its columns in the method's order, in f64.
#[track_caller]
fn dictionary(method: &dyn SubspaceMethod, m: usize) -> Mat<f64> {
    let a = generate::gaussian(m, m + 3, 0xd1c7);
    let d = run(method, a.as_ref(), m, 0);
    assert_orthonormal(
        method.name(),
        &format!("its {m}×{m} dictionary"),
        d.as_ref(),
    );
    to_f64(d.as_ref())
}

#[track_caller]
fn check_best_columns_on(method: &dyn SubspaceMethod, a: MatRef<'_, f32>, k: usize, case: &str) {
    let name = method.name();
    let (m, n) = a.shape();
    let Guarantee::BestColumns { ell } = method.guarantee(m, n, k) else {
        panic!("{name}: check_best_columns on a method that does not claim BestColumns [{case}]");
    };
    assert!(
        ell == 1 || ell == 2,
        "{name}: BestColumns {{ ell: {ell} }}: the rule is stated for ℓ = 1 or 2"
    );
    let d = dictionary(method, m);
    let q = run(method, a, k, 1);
    let again = run(method, a, k, 2);
    assert!(
        bits_equal(q.as_ref(), again.as_ref()),
        "{name} [{case}]: claims BestColumns (a fixed dictionary) but seeds 1 and 2 gave other \
         bits"
    );
    // Each column of Q is ± a distinct column of D.
    let q64 = to_f64(q.as_ref());
    let overlaps = q64.transpose() * &d; // (k, m)
    let mut chosen = vec![false; m];
    for c in 0..k {
        let (j, best) = (0..m)
            .map(|j| (j, overlaps[(c, j)].abs()))
            .max_by(|x, y| x.1.total_cmp(&y.1))
            .expect("m ≥ 1");
        assert!(
            best >= 1.0 - 1e-4,
            "{name} [{case}]: column {c} of Q is not a column of its dictionary (largest |⟨q, d_j⟩| \
             = {best:.6}, at j = {j})"
        );
        assert!(
            !chosen[j],
            "{name} [{case}]: dictionary column {j} chosen twice"
        );
        chosen[j] = true;
    }
    // The chosen columns have the k largest scores.
    let a64 = to_f64(a);
    let s = d.transpose() * &a64; // (m, n)
    let score = |j: usize| -> f64 {
        let row = (0..n).map(|c| s[(j, c)].abs());
        if ell == 1 {
            row.sum()
        } else {
            row.map(|x| x * x).sum::<f64>().sqrt()
        }
    };
    let scores: Vec<f64> = (0..m).map(score).collect();
    let top = scores.iter().copied().fold(0.0, f64::max);
    let tol = 1e3 * f32::EPSILON as f64 * top;
    let low = (0..m)
        .filter(|&j| chosen[j])
        .map(|j| scores[j])
        .fold(f64::INFINITY, f64::min);
    if let Some((j, high)) = (0..m)
        .filter(|&j| !chosen[j])
        .map(|j| (j, scores[j]))
        .max_by(|x, y| x.1.total_cmp(&y.1))
    {
        assert!(
            low >= high - tol,
            "{name} [{case}]: claims the k = {k} columns of largest ‖d_jᵀA‖_{ell} but left out \
             column {j} (score {high:.6e}) while keeping one of score {low:.6e}"
        );
    }
    if ell == 2 {
        let total = a64.norm_l2().powi(2);
        let captured = (q64.transpose() * &a64).norm_l2().powi(2);
        let floor = k as f64 / m as f64 * total;
        assert!(
            captured >= floor * (1.0 - 1e-5),
            "{name} [{case}]: the best k = {k} of m = {m} dictionary columns capture \
             {captured:.6e} of ‖A‖_F² = {total:.6e}, below the share k/m ({floor:.6e})"
        );
    }
}

fn to_f64(q: MatRef<'_, f32>) -> Mat<f64> {
    Mat::from_fn(q.nrows(), q.ncols(), |i, j| q[(i, j)] as f64)
}

fn bits_equal(a: MatRef<'_, f32>, b: MatRef<'_, f32>) -> bool {
    a.shape() == b.shape()
        && (0..a.ncols())
            .all(|j| (0..a.nrows()).all(|i| a[(i, j)].to_bits() == b[(i, j)].to_bits()))
}
