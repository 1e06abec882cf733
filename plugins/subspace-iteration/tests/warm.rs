//! The warm refresh against an f64 oracle, the cold call against rrf, and
//! the extra columns' use. (The conformance kit, one-shot and tracked,
//! runs from the lab crate's tests.)

use faer::{Mat, MatRef, Par};
use rrf::{Rrf, RrfParams};
use subspace::generate::{self, Spectrum};
use subspace::reference::ReferenceSvd;
use subspace::{Context, Plugin, SubspaceMethod, metrics};
use subspace_iteration::{SubspaceIteration, SubspaceIterationParams};

fn si(iters: usize, extra: usize) -> SubspaceIteration {
    SubspaceIteration::new(SubspaceIterationParams {
        iters,
        extra,
        ..SubspaceIterationParams::default()
    })
    .unwrap()
}

/// orth(A·Aᵀ·Y) `iters` times in f64, the QR's R diagonal made positive.
fn oracle(a: MatRef<'_, f32>, q0: MatRef<'_, f32>, iters: usize) -> Mat<f64> {
    let a = Mat::<f64>::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] as f64);
    let mut y = Mat::<f64>::from_fn(q0.nrows(), q0.ncols(), |i, j| q0[(i, j)] as f64);
    for _ in 0..iters {
        let p = &a * (a.transpose() * &y);
        let qr = p.qr();
        let (q, r) = (qr.compute_thin_Q(), qr.thin_R().to_owned());
        y = Mat::from_fn(q.nrows(), q.ncols(), |i, j| {
            if r[(j, j)] < 0.0 {
                -q[(i, j)]
            } else {
                q[(i, j)]
            }
        });
    }
    y
}

#[test]
fn a_warm_refresh_is_orth_of_a_at_q_previous() {
    let (m, n, k) = (90, 60, 6);
    let a0 = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 1.0 }, 3);
    let noise = generate::gaussian(m, n, 4);
    let a1 = Mat::<f32>::from_fn(m, n, |i, j| a0[(i, j)] + 0.01 * noise[(i, j)]);
    let q0 = subspace::testkit::run(&Rrf::default(), a0.as_ref(), k, 1);
    for iters in [1, 3] {
        let method = si(iters, 0);
        let ctx = &mut Context::new(9).with_warm_start(q0.as_ref());
        let basis = method.left_basis(a1.as_ref(), k, ctx).unwrap();
        let want = oracle(a1.as_ref(), q0.as_ref(), iters);
        let diff = (0..k)
            .flat_map(|j| (0..m).map(move |i| (i, j)))
            .map(|(i, j)| (basis.q[(i, j)] as f64 - want[(i, j)]).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-4, "iters = {iters}: max |Q − Q_f64| = {diff:.3e}");
        assert_eq!(basis.info.iterations, iters);
        assert_eq!(basis.info.products, 2 * k * iters);
        assert_eq!(ctx.draws(), 0, "no random columns without extra");
    }
}

#[test]
fn a_cold_call_is_rrf_bit_for_bit() {
    let (m, n, k) = (120, 70, 9);
    let a = generate::with_spectrum(m, n, Spectrum::Exponential { rate: 0.1 }, 5);
    let method = SubspaceIteration::new(SubspaceIterationParams {
        oversample: 6,
        power_iters: 2,
        ..SubspaceIterationParams::default()
    })
    .unwrap();
    let rrf = Rrf::new(RrfParams {
        oversample: 6,
        power_iters: 2,
        ..RrfParams::default()
    })
    .unwrap();
    let ours = method
        .left_basis(a.as_ref(), k, &mut Context::new(2))
        .unwrap();
    let theirs = rrf.left_basis(a.as_ref(), k, &mut Context::new(2)).unwrap();
    assert_eq!(ours.q, theirs.q);
    assert_eq!(ours.info, theirs.info);
    assert_eq!(method.guarantee(m, n, k), rrf.guarantee(m, n, k));
    assert_eq!(
        method.workspace_bytes(m, n, k),
        rrf.workspace_bytes(m, n, k)
    );
}

#[test]
fn extra_columns_let_in_a_direction_the_previous_basis_lacks() {
    // A = U·diag(σ)·Vᵀ with a warm start spanning u_2..u_{k+1}: orthogonal
    // to u_1, which no product with AAᵀ brings back; random columns do.
    let (m, n, k) = (80, 60, 5);
    let sigma: Vec<f64> = (1..=n).map(|j| 0.9f64.powi(j as i32 - 1)).collect();
    let a = generate::with_singular_values(m, n, &sigma, 11);
    let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
    let u = reference.u();
    let q0 = Mat::<f32>::from_fn(m, k, |i, j| u[(i, j + 1)] as f32);
    let err = |method: &SubspaceIteration| {
        let ctx = &mut Context::new(4).with_warm_start(q0.as_ref());
        let q = method.left_basis(a.as_ref(), k, ctx).unwrap().q;
        metrics::accuracy(&reference, q.as_ref(), Par::Seq)
            .unwrap()
            .sin_theta
    };
    let (without, with) = (err(&si(2, 0)), err(&si(2, 8)));
    assert!(without > 0.99, "without extra: sin θ = {without}");
    assert!(with < 0.5, "with 8 extra columns: sin θ = {with}");
}

#[test]
fn a_basis_that_barely_moves_keeps_its_signs() {
    let (m, n, k) = (60, 50, 4);
    let a = generate::with_spectrum(m, n, Spectrum::Gap { k, ratio: 0.1 }, 8);
    let method = si(1, 0);
    let q0 = subspace::testkit::run(&method, a.as_ref(), k, 3);
    let ctx = &mut Context::new(3).with_warm_start(q0.as_ref());
    let q1 = method.left_basis(a.as_ref(), k, ctx).unwrap().q;
    for j in 0..k {
        let dot: f32 = (0..m).map(|i| q0[(i, j)] * q1[(i, j)]).sum();
        assert!(dot > 0.999, "column {j}: q0ᵀq1 = {dot}");
    }
}

#[test]
fn params_from_toml_and_their_errors() {
    let t: toml::Table = "iters = 2\nextra = 4".parse().unwrap();
    let p: SubspaceIterationParams = toml::Value::Table(t).try_into().unwrap();
    assert_eq!((p.iters, p.extra, p.oversample), (2, 4, 10));
    let zero = SubspaceIteration::new(SubspaceIterationParams {
        iters: 0,
        ..SubspaceIterationParams::default()
    })
    .unwrap_err();
    assert!(zero.contains("iters ≥ 1"), "{zero}");
    let bad: toml::Table = "iterations = 2".parse().unwrap();
    let err = toml::Value::Table(bad)
        .try_into::<SubspaceIterationParams>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("iterations") && err.contains("iters"), "{err}");
}
