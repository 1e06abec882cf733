//! The conformance kit over every q × normalizer × truncate of rrf (the
//! lab's conformance test covers the few `Rrf::conformance_params`
//! declares), and the warm start.

use faer::Par;
use rrf::{Normalizer, Rrf, RrfParams, Truncate};
use std::sync::Arc;
use subspace::generate::{self, Spectrum};
use subspace::reference::ReferenceSvd;
use subspace::{Context, Guarantee, Plugin, SubspaceMethod, metrics, testkit};

fn variants() -> Vec<(String, Rrf)> {
    let mut out = Vec::new();
    for q in [0, 1, 2] {
        for normalizer in [Normalizer::Qr, Normalizer::Lu, Normalizer::None] {
            for truncate in [Truncate::Svd, Truncate::Inside] {
                let p = RrfParams {
                    power_iters: q,
                    normalizer,
                    truncate,
                    ..RrfParams::default()
                };
                out.push((format!("{p:?}"), Rrf::new(p).unwrap()));
            }
        }
    }
    out
}

#[test]
fn every_variant_conforms() {
    for (label, m) in variants() {
        eprintln!("{label}");
        testkit::check_shapes(&m);
        testkit::check_degenerate(&m);
        testkit::check_accuracy(&m, 5);
        testkit::check_determinism(&m);
    }
}

/// `settles_within` is claimed with a warm start, for every q × normalizer
/// × truncate, and holds on the kit's trajectory; without one, no claim.
#[test]
fn every_warm_started_variant_settles_as_declared() {
    for (label, cold) in variants() {
        assert_eq!(cold.settles_within(120, 80, 8), None, "{label}");
        let warm = Rrf::new(RrfParams {
            warm_start: true,
            ..cold.params
        })
        .unwrap();
        eprintln!("{label}, warm_start");
        let warm: Arc<dyn SubspaceMethod> = Arc::new(warm);
        assert_eq!(warm.settles_within(120, 80, 8), Some(4));
        testkit::check_settling(&warm);
    }
}

#[test]
fn every_variant_within_hmt_deviation_bounds_on_drawn_cases() {
    for (label, m) in variants() {
        eprintln!("{label}");
        testkit::check_drawn(&m, 24);
    }
}

#[test]
fn guarantee_follows_the_params() {
    let rrf = Rrf::default();
    assert_eq!(
        rrf.guarantee(500, 300, 20),
        Guarantee::Randomized {
            rank: 20,
            oversample: 10,
            power_iters: 1,
            truncated: true
        }
    );
    // The sketch cannot be wider than min(m, n); at full width it is exact.
    assert_eq!(rrf.guarantee(500, 25, 20), Guarantee::Exact);
    let inside = Rrf::new(RrfParams {
        truncate: Truncate::Inside,
        ..RrfParams::default()
    })
    .unwrap();
    assert_eq!(
        inside.guarantee(500, 300, 30),
        Guarantee::Randomized {
            rank: 20,
            oversample: 10,
            power_iters: 1,
            truncated: false
        }
    );
}

#[test]
fn power_iterations_reduce_the_error_on_a_slow_spectrum() {
    let (m, n, k) = (400, 300, 20);
    let a = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 0.5 }, 3);
    let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
    let err = |q| {
        let rrf = Rrf::new(RrfParams {
            power_iters: q,
            ..RrfParams::default()
        })
        .unwrap();
        let basis = rrf.left_basis(a.as_ref(), k, &mut Context::new(1)).unwrap();
        metrics::accuracy(&reference, basis.q.as_ref(), Par::Seq)
            .unwrap()
            .err_fro
    };
    let (e0, e1, e2) = (err(0), err(1), err(2));
    assert!(
        e0 > e1 && e1 > e2 && e2 >= 1.0,
        "err_fro by q: {e0}, {e1}, {e2}"
    );
}

#[test]
fn warm_start_from_the_previous_basis_helps_on_a_nearby_matrix() {
    // Two nearby matrices, as consecutive gradients are: the previous basis,
    // given as a warm start, must give a better basis at q = 0 than a cold one.
    let (m, n, k) = (300, 200, 15);
    let a0 = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 0.7 }, 21);
    let noise = generate::gaussian(m, n, 22);
    let a1 = faer::Mat::<f32>::from_fn(m, n, |i, j| a0[(i, j)] + 1e-3 * noise[(i, j)]);
    let reference = ReferenceSvd::new(a1.as_ref(), Par::Seq).unwrap();
    let p = RrfParams {
        power_iters: 0,
        warm_start: true,
        ..RrfParams::default()
    };
    let rrf = Rrf::new(p).unwrap();
    let prev = rrf
        .left_basis(a0.as_ref(), k, &mut Context::new(1))
        .unwrap()
        .q;
    let cold = rrf
        .left_basis(a1.as_ref(), k, &mut Context::new(2))
        .unwrap();
    let warm = rrf
        .left_basis(
            a1.as_ref(),
            k,
            &mut Context::new(2).with_warm_start(prev.as_ref()),
        )
        .unwrap();
    let acc = |q: &faer::Mat<f32>| {
        metrics::accuracy(&reference, q.as_ref(), Par::Seq)
            .unwrap()
            .err_fro
    };
    let (c, w) = (acc(&cold.q), acc(&warm.q));
    assert!(w < c, "warm-started err_fro {w} not below cold {c}");
    assert!(warm.info.products > cold.info.products);
}

#[test]
fn warm_start_of_the_wrong_height_is_an_error() {
    let a = generate::gaussian(30, 20, 1);
    let prev = generate::gaussian(29, 5, 2);
    let rrf = Rrf::new(RrfParams {
        warm_start: true,
        ..RrfParams::default()
    })
    .unwrap();
    let err = rrf
        .left_basis(
            a.as_ref(),
            5,
            &mut Context::new(1).with_warm_start(prev.as_ref()),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "warm-start basis is 29×5 but A has 30 rows; pass a basis with 30 rows or none"
    );
}

#[test]
fn params_from_toml() {
    let t: toml::Table =
        "oversample = 4\npower_iters = 2\nnormalizer = \"lu\"\ntruncate = \"inside\""
            .parse()
            .unwrap();
    let p: RrfParams = toml::Value::Table(t).try_into().unwrap();
    assert_eq!(
        p,
        RrfParams {
            oversample: 4,
            power_iters: 2,
            normalizer: Normalizer::Lu,
            truncate: Truncate::Inside,
            warm_start: false
        }
    );
    let bad: toml::Table = "normalizer = \"householder\"".parse().unwrap();
    let err = toml::Value::Table(bad)
        .try_into::<RrfParams>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`qr`") && err.contains("`lu`") && err.contains("`none`"),
        "{err}"
    );
}
