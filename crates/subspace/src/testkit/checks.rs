//! The fixed-case checks: shapes, error values, degenerate inputs, accuracy
//! on known spectra and determinism across thread counts, with the oracles
//! and tolerances they share.
//!
//! Oracles are independent of the method: the f64 reference SVD
//! ([`ReferenceSvd`]) and the HMT bounds ([`crate::metrics`]). Tolerances are
//! scaled by f32's ε and the dimensions.

use crate::generate::{self, Spectrum};
use crate::metrics::{self, bound_for};
use crate::reference::ReferenceSvd;
use crate::{Context, Guarantee, SubspaceError, SubspaceMethod};
use faer::{Mat, MatRef, Par};

const EPS: f64 = f32::EPSILON as f64;

/// Orthonormality tolerance for an m×k basis: ‖QᵀQ − I‖_F ≤ c·ε·√k with
/// c = 30·√m: Householder-based bases reach about ε·√m per entry, and 30 is
/// LAPACK's test threshold for such ratios (cuSOLVER's f32 gesvd reached
/// 12·√m·ε·√k on a 40×25 input).
pub fn ortho_tol(m: usize, k: usize) -> f64 {
    30.0 * (m as f64).sqrt() * EPS * (k as f64).sqrt()
}

/// Roundoff floor for absolute residuals of an m×n input: 8 × the metrics'
/// roundoff level, 8·ε·√(m+n)·‖A‖_F.
pub fn roundoff_floor(m: usize, n: usize, norm_fro: f64) -> f64 {
    8.0 * metrics::roundoff(m, n, norm_fro)
}

/// Runs the method, panicking with context on an error.
#[track_caller]
pub fn run(method: &dyn SubspaceMethod, a: MatRef<'_, f32>, k: usize, seed: u64) -> Mat<f32> {
    let mut ctx = Context::new(seed);
    match method.left_basis(a, k, &mut ctx) {
        Ok(b) => b.q,
        Err(e) => panic!(
            "{}: left_basis on a {}×{} matrix, k = {k}, seed {seed} failed: {e}",
            method.name(),
            a.nrows(),
            a.ncols()
        ),
    }
}

/// Q is m×k, finite and orthonormal to tolerance.
#[track_caller]
pub fn assert_orthonormal(name: &str, case: &str, q: MatRef<'_, f32>) {
    let (m, k) = q.shape();
    for j in 0..k {
        for i in 0..m {
            assert!(
                q[(i, j)].is_finite(),
                "{name} [{case}]: Q[{i}, {j}] = {} is not finite",
                q[(i, j)]
            );
        }
    }
    let q64 = Mat::<f64>::from_fn(m, k, |i, j| q[(i, j)] as f64);
    let ortho = (q64.transpose() * &q64 - Mat::<f64>::identity(k, k)).norm_l2();
    let tol = ortho_tol(m, k);
    assert!(
        ortho <= tol,
        "{name} [{case}]: ‖QᵀQ − I‖_F = {ortho:.3e} > {tol:.3e} (Q is {m}×{k})"
    );
}

/// Shapes: tall, wide, square, 1×1, k = 1 and k = min(m, n).
#[track_caller]
pub fn check_shapes(method: &dyn SubspaceMethod) {
    let cases = [
        (1, 1, 1),
        (2, 1, 1),
        (1, 3, 1),
        (40, 25, 5),
        (25, 40, 5),
        (30, 30, 30),
        (50, 20, 20),
        (20, 50, 20),
        (64, 48, 1),
        (7, 5, 4),
    ];
    for (i, &(m, n, k)) in cases.iter().enumerate() {
        let a = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 1.0 }, 100 + i as u64);
        let q = run(method, a.as_ref(), k, 1);
        assert_eq!(
            q.shape(),
            (m, k),
            "{}: basis shape for {m}×{n}, k = {k}",
            method.name()
        );
        assert_orthonormal(method.name(), &format!("{m}×{n}, k = {k}"), q.as_ref());
    }
}

/// Bad input gives the error values, never a panic.
#[track_caller]
pub fn check_errors(method: &dyn SubspaceMethod) {
    let name = method.name();
    let a = generate::gaussian(12, 8, 3);
    let mut ctx = Context::new(0);
    let expect = |r: Result<crate::Basis, SubspaceError>, want: SubspaceError, what: &str| match r {
        Err(e) => assert_eq!(e, want, "{name}: {what}"),
        Ok(_) => panic!("{name}: {what} returned a basis instead of {want}"),
    };
    expect(
        method.left_basis(a.as_ref(), 0, &mut ctx),
        SubspaceError::ZeroRank { m: 12, n: 8 },
        "k = 0",
    );
    expect(
        method.left_basis(a.as_ref(), 9, &mut ctx),
        SubspaceError::RankTooLarge { k: 9, m: 12, n: 8 },
        "k > min(m, n)",
    );
    let empty = Mat::<f32>::zeros(0, 5);
    expect(
        method.left_basis(empty.as_ref(), 1, &mut ctx),
        SubspaceError::EmptyMatrix { m: 0, n: 5 },
        "0×5 input",
    );
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut b = a.clone();
        b[(2, 3)] = bad;
        match method.left_basis(b.as_ref(), 2, &mut ctx) {
            Err(SubspaceError::NonFinite { row: 2, col: 3, .. }) => {}
            other => panic!(
                "{name}: {bad} at (2, 3) gave {:?}, want NonFinite {{ row: 2, col: 3 }}",
                other.map(|b| b.q.shape())
            ),
        }
    }
}

/// The zero matrix and exactly rank-deficient inputs: orthonormal Q, no NaN.
#[track_caller]
pub fn check_degenerate(method: &dyn SubspaceMethod) {
    let name = method.name();
    for (m, n, k) in [(30, 20, 5), (20, 30, 20), (1, 1, 1)] {
        let z = Mat::<f32>::zeros(m, n);
        let q = run(method, z.as_ref(), k, 5);
        assert_orthonormal(name, &format!("zero {m}×{n}, k = {k}"), q.as_ref());
    }
    // rank 1 and 2 with k well above the rank (early-training gradients):
    // a method that finds A's range captures all of it. A control that
    // ignores A (Haar) or picks from a fixed dictionary (BestColumns) does
    // not claim to; `rules` checks what they claim instead.
    let finds_range = |m: usize, n: usize, k: usize| {
        !matches!(
            method.guarantee(m, n, k),
            Guarantee::Haar | Guarantee::BestColumns { .. }
        )
    };
    for (r, (m, n, k)) in [(1, (60, 40, 8)), (2, (40, 60, 10)), (1, (33, 33, 33))] {
        let a = generate::with_spectrum(m, n, Spectrum::Rank { r }, 7 + r as u64);
        let q = run(method, a.as_ref(), k, 9);
        let case = format!("rank-{r} {m}×{n}, k = {k}");
        assert_orthonormal(name, &case, q.as_ref());
        if !finds_range(m, n, k) {
            continue;
        }
        let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).expect("reference SVD");
        let acc = metrics::accuracy(&reference, q.as_ref(), Par::Seq).expect("accuracy");
        let floor = roundoff_floor(m, n, reference.norm_fro());
        assert!(
            acc.residual_fro <= floor,
            "{name} [{case}]: ‖A − QQᵀA‖_F = {:.3e} but A has rank {r} ≤ k (roundoff floor {floor:.3e})",
            acc.residual_fro
        );
    }
}

/// A known-spectrum case of the accuracy check.
#[derive(Debug, Clone, Copy)]
pub struct SpectrumCase {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub spectrum: Spectrum,
}

/// The known-spectrum cases every method is held to.
pub fn spectrum_cases() -> Vec<SpectrumCase> {
    // Fast decay where the optimal error is ~1e-3 of ‖A‖: a method whose f32
    // arithmetic is not backward stable shows here (faer's f32 SVD scored
    // err_fro 1.2 on such spectra at GaLore sizes).
    // GaLore-shaped (an MLP gradient of the 60M model, k = 128).
    let mut cases = vec![
        SpectrumCase {
            m: 1376,
            n: 512,
            k: 128,
            spectrum: Spectrum::Exponential { rate: 0.05 },
        },
        SpectrumCase {
            m: 400,
            n: 300,
            k: 60,
            spectrum: Spectrum::Exponential { rate: 0.1 },
        },
    ];
    for (m, n, k) in [(120, 80, 10), (80, 120, 10), (150, 150, 20)] {
        for spectrum in [
            Spectrum::Exponential { rate: 0.1 },
            Spectrum::Polynomial { power: 1.0 },
            Spectrum::Polynomial { power: 0.5 },
            Spectrum::Gap { k, ratio: 0.05 },
            Spectrum::Rank { r: k },
            Spectrum::Rank { r: k / 2 },
            Spectrum::Flat,
        ] {
            cases.push(SpectrumCase { m, n, k, spectrum });
        }
    }
    cases
}

/// Accuracy on known spectra against the f64 reference: exact methods reach
/// ‖A − QQᵀA‖_F ≤ 1.001·‖A − A_k‖_F (plus roundoff); randomized methods meet
/// HMT's expected-error bounds on the mean over `seeds` draws.
#[track_caller]
pub fn check_accuracy(method: &dyn SubspaceMethod, seeds: u64) {
    let name = method.name();
    for c in spectrum_cases() {
        let SpectrumCase { m, n, k, spectrum } = c;
        // The seed depends on the case, not its position in the list.
        let a = generate::with_spectrum(m, n, spectrum, 1000 + ((m * 31 + n) * 31 + k) as u64);
        let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).expect("reference SVD");
        let s = reference.singular_values();
        let floor = roundoff_floor(m, n, reference.norm_fro());
        let case = format!("{m}×{n}, k = {k}, {spectrum:?}");
        let guarantee = method.guarantee(m, n, k);
        let draws = if guarantee == Guarantee::Exact {
            1
        } else {
            seeds
        };
        let (mut fro, mut spec) = (0.0, 0.0);
        for seed in 0..draws {
            let q = run(method, a.as_ref(), k, seed);
            assert_orthonormal(name, &case, q.as_ref());
            let acc = metrics::accuracy(&reference, q.as_ref(), Par::Seq).expect("accuracy");
            fro += acc.residual_fro / draws as f64;
            spec += acc.residual_spec / draws as f64;
        }
        let optimal = reference.tail_fro(k);
        match bound_for(s, guarantee) {
            None if guarantee == Guarantee::Exact => assert!(
                fro <= 1.001 * optimal + floor,
                "{name} [{case}]: ‖A − QQᵀA‖_F = {fro:.6e} > 1.001 × optimal {optimal:.6e} (+ roundoff {floor:.1e})",
            ),
            // Unbounded, or HMT's hypotheses (k ≥ 2, p ≥ 2) fail: no bound to hold it to.
            None => {}
            Some(b) => {
                if let Some(bf) = b.fro {
                    assert!(
                        fro <= bf + floor,
                        "{name} [{case}]: mean ‖A − QQᵀA‖_F over {draws} seeds = {fro:.4e} > HMT Thm 10.5 bound {bf:.4e} ({guarantee:?})",
                    );
                }
                assert!(
                    spec <= b.spec + floor,
                    "{name} [{case}]: mean ‖A − QQᵀA‖₂ over {draws} seeds = {spec:.4e} > HMT Cor 10.10 bound {:.4e} ({guarantee:?})",
                    b.spec
                );
            }
        }
    }
}

/// Same seed, same bits, whatever the thread count: two sequential calls,
/// and `Par::rayon(1)` against `Par::rayon(2)` against `Par::Seq`.
#[track_caller]
pub fn check_determinism(method: &dyn SubspaceMethod) {
    let name = method.name();
    let (m, n, k) = (700, 300, 24);
    let a = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 1.0 }, 77);
    let go = |par: Par| {
        let mut ctx = Context::new(42).with_par(par);
        method
            .left_basis(a.as_ref(), k, &mut ctx)
            .expect("left_basis")
            .q
    };
    let q = go(Par::Seq);
    for (label, par) in [
        ("Seq again", Par::Seq),
        ("rayon(1)", Par::rayon(1)),
        ("rayon(2)", Par::rayon(2)),
    ] {
        let other = go(par);
        assert!(
            bits_equal(q.as_ref(), other.as_ref()),
            "{name}: same seed, Seq vs {label}: different bits (the result must not depend on the thread count)"
        );
    }
}

fn bits_equal(a: MatRef<'_, f32>, b: MatRef<'_, f32>) -> bool {
    a.shape() == b.shape()
        && (0..a.ncols())
            .all(|j| (0..a.nrows()).all(|i| a[(i, j)].to_bits() == b[(i, j)].to_bits()))
}
