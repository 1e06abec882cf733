//! The factorizations' contracts: thin Q orthonormal with range(Y) (also
//! for zero and rank-deficient Y), P⁻¹L of the LU normalizer spanning
//! range(Y), the small SVD's vectors and values against a known
//! decomposition, and the flop counts' closed forms.

mod common;

use common::randn;
use dense::{ThinQr, flops, left_singular_vectors, lu_normalize_in_place, thin_svd_left};
use faer::{Mat, MatRef, Par};

/// ‖QᵀQ − I‖_F in f64.
fn ortho_error(q: MatRef<'_, f32>) -> f64 {
    let q = Mat::<f64>::from_fn(q.nrows(), q.ncols(), |i, j| q[(i, j)] as f64);
    (q.transpose() * &q - Mat::<f64>::identity(q.ncols(), q.ncols())).norm_l2()
}

/// ‖Y − QQᵀY‖_F / ‖Y‖_F in f64: how much of range(Y) Q misses.
fn missed(q: MatRef<'_, f32>, y: MatRef<'_, f32>) -> f64 {
    let q = Mat::<f64>::from_fn(q.nrows(), q.ncols(), |i, j| q[(i, j)] as f64);
    let y = Mat::<f64>::from_fn(y.nrows(), y.ncols(), |i, j| y[(i, j)] as f64);
    (&y - &q * (q.transpose() * &y)).norm_l2() / y.norm_l2()
}

#[test]
fn thin_q_is_orthonormal_and_spans_y() {
    let tol = |m: usize| 10.0 * f32::EPSILON as f64 * (m as f64).sqrt();
    for (m, l) in [(1, 1), (50, 50), (300, 20), (129, 64)] {
        let y = randn(m, l, m as u64);
        let mut qr = ThinQr::<f32>::new(m, l, Par::Seq);
        let mut q = Mat::<f32>::zeros(m, l);
        qr.thin_q(q.as_mut(), y.clone().as_mut(), Par::Seq);
        assert!(
            ortho_error(q.as_ref()) <= tol(m),
            "{m}×{l}: not orthonormal"
        );
        assert!(
            missed(q.as_ref(), y.as_ref()) <= tol(m),
            "{m}×{l}: misses range(Y)"
        );
    }
    // Zero and rank-one blocks still give orthonormal, finite columns.
    let (m, l) = (40, 6);
    let u = randn(m, 1, 9);
    for y in [
        Mat::<f32>::zeros(m, l),
        Mat::from_fn(m, l, |i, j| u[(i, 0)] * (j + 1) as f32),
    ] {
        let mut q = Mat::<f32>::zeros(m, l);
        ThinQr::<f32>::new(m, l, Par::Seq).thin_q(q.as_mut(), y.clone().as_mut(), Par::Seq);
        assert!(
            ortho_error(q.as_ref()) <= tol(m),
            "degenerate block: not orthonormal"
        );
    }
}

#[test]
fn lu_normalizer_spans_y_with_a_unit_lower_factor() {
    let (m, l) = (200, 12);
    let y = randn(m, l, 3);
    let mut b = y.clone();
    let mut tmp = Mat::<f32>::zeros(m, l);
    lu_normalize_in_place(b.as_mut(), tmp.as_mut(), Par::Seq);
    // range(P⁻¹L) = range(Y): the thin Q of one spans the other.
    let mut q = Mat::<f32>::zeros(m, l);
    ThinQr::<f32>::new(m, l, Par::Seq).thin_q(q.as_mut(), b.clone().as_mut(), Par::Seq);
    assert!(missed(q.as_ref(), y.as_ref()) <= 1e-5);
    // Partial pivoting keeps every entry of L within [−1, 1].
    assert!(b.col_iter().all(|c| c.iter().all(|x| x.abs() <= 1.0)));
}

#[test]
fn small_svd_recovers_a_known_decomposition() {
    let (m, n) = (60, 40);
    // A = U·diag(σ)·Vᵀ with orthonormal U, V from thin Qs, σ = 2⁻ʲ.
    let orth = |r: usize, c: usize, seed: u64| {
        let mut q = Mat::<f64>::zeros(r, c);
        let g0 = randn(r, c, seed);
        let mut g = Mat::<f64>::from_fn(r, c, |i, j| g0[(i, j)] as f64);
        ThinQr::<f64>::new(r, c, Par::Seq).thin_q(q.as_mut(), g.as_mut(), Par::Seq);
        q
    };
    let (u, v) = (orth(m, n, 1), orth(n, n, 2));
    let sigma: Vec<f64> = (0..n).map(|j| 0.5f64.powi(j as i32)).collect();
    let a = Mat::<f64>::from_fn(m, n, |i, j| u[(i, j)] * sigma[j]) * v.transpose();
    let (uu, s) = thin_svd_left(a.as_ref(), Par::Seq, "test SVD").expect("converges");
    assert_eq!((uu.nrows(), uu.ncols(), s.len()), (m, n, n));
    for j in 0..n {
        assert!(
            (s[j] - sigma[j]).abs() <= 1e-13,
            "σ_{j}: {} vs {}",
            s[j],
            sigma[j]
        );
    }
    let k = 5;
    let uk = left_singular_vectors(a.as_ref(), k, Par::Seq, "test SVD").expect("converges");
    // Each vector matches up to sign.
    for j in 0..k {
        let dot: f64 = (0..m).map(|i| uk[(i, j)] * u[(i, j)]).sum();
        assert!(
            (dot.abs() - 1.0).abs() <= 1e-10,
            "u_{j}: |⟨û, u⟩| = {}",
            dot.abs()
        );
    }
}

#[test]
fn flop_counts_match_their_closed_forms() {
    assert_eq!(flops::gemm(2, 3, 4), 48.0);
    assert_eq!(flops::qr_thin_q(6, 3), 4.0 * 6.0 * 9.0 - 4.0 / 3.0 * 27.0);
    assert_eq!(flops::lu(6, 3), 54.0 - 9.0);
    assert_eq!(flops::svd(3, 6), flops::svd(6, 3));
    assert_eq!(flops::svd(6, 3), 6.0 * 6.0 * 9.0 + 20.0 * 27.0);
}
