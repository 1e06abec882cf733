//! The online-PCA step against a finite-difference gradient (f64), its
//! learning on a fixed matrix, and the errors of its state and params.
//! (The conformance kit, one-shot and tracked, runs from the lab crate.)

use faer::{Mat, MatRef, Par};
use online_pca::{OnlinePca, OnlinePcaParams};
use std::sync::Arc;
use subspace::generate::{self, Spectrum};
use subspace::reference::ReferenceSvd;
use subspace::{Context, Plugin, StateTensor, SubspaceMethod, Tracker, metrics, tracker};

fn method(p: OnlinePcaParams) -> Arc<dyn SubspaceMethod> {
    Arc::new(OnlinePca::new(p).unwrap())
}

fn tensor<'a>(state: &'a [StateTensor], name: &str) -> &'a StateTensor {
    state.iter().find(|t| t.name == name).unwrap()
}

/// L(P) = ‖PPᵀĜ − Ĝ‖_F² with Ĝ = A/‖A‖_F, in f64.
fn loss(p: MatRef<'_, f64>, g: MatRef<'_, f64>) -> f64 {
    (p * (p.transpose() * g) - g).norm_l2().powi(2)
}

#[test]
fn the_first_step_follows_the_loss_gradient_and_adam() {
    let (m, n, k) = (12, 9, 3);
    let a = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 0.7 }, 5);
    // A rough first basis (a plain k-column sketch), far from the optimum
    // where the gradient vanishes.
    let p = OnlinePcaParams {
        oversample: 0,
        power_iters: 0,
        ..OnlinePcaParams::default()
    };
    let mut t = tracker(&method(p.clone()), m, n, k);
    t.update(a.as_ref(), &mut Context::new(1)).unwrap();
    let before = t.state();
    assert_eq!(tensor(&before, "step").data, [0.0]);
    let p0 = tensor(&before, "basis").to_mat(m, k).unwrap();
    t.update(a.as_ref(), &mut Context::new(2)).unwrap();
    let after = t.state();
    assert_eq!(tensor(&after, "step").data, [1.0]);

    // The oracle: central differences of L at P₀, in f64.
    let norm = a.norm_l2() as f64;
    let g = Mat::<f64>::from_fn(m, n, |i, j| a[(i, j)] as f64 / norm);
    let p0 = Mat::<f64>::from_fn(m, k, |i, j| p0[(i, j)] as f64);
    let h = 1e-6;
    let exp_avg = tensor(&after, "exp_avg").to_mat(m, k).unwrap();
    let exp_avg_sq = tensor(&after, "exp_avg_sq").to_mat(m, k).unwrap();
    let largest = (0..k)
        .flat_map(|j| (0..m).map(move |i| (i, j)))
        .map(|(i, j)| {
            let (mut up, mut down) = (p0.clone(), p0.clone());
            up[(i, j)] += h;
            down[(i, j)] -= h;
            (loss(up.as_ref(), g.as_ref()) - loss(down.as_ref(), g.as_ref())) / (2.0 * h)
        })
        .fold(0.0f64, |acc, d| acc.max(d.abs()));
    assert!(largest > 1e-2, "the gradient vanishes at P₀: {largest:.3e}");
    for j in 0..k {
        for i in 0..m {
            let (mut up, mut down) = (p0.clone(), p0.clone());
            up[(i, j)] += h;
            down[(i, j)] -= h;
            let fd = (loss(up.as_ref(), g.as_ref()) - loss(down.as_ref(), g.as_ref())) / (2.0 * h);
            // Adam's moments after one step: (1 − β₁)∇ and (1 − β₂)∇².
            let m1 = exp_avg[(i, j)] as f64 / (1.0f32 - p.beta1) as f64;
            let m2 = exp_avg_sq[(i, j)] as f64 / (1.0f32 - p.beta2) as f64;
            assert!(
                (m1 - fd).abs() <= 1e-4 * largest,
                "∇[{i}, {j}]: from the state {m1:.6e}, by finite differences {fd:.6e}"
            );
            assert!((m2.sqrt() - fd.abs()).abs() <= 1e-4 * largest);
        }
    }
}

#[test]
fn it_learns_a_fixed_matrix_from_a_rough_start() {
    let (m, n, k) = (60, 40, 5);
    let a = generate::with_spectrum(m, n, Spectrum::Gap { k, ratio: 0.3 }, 6);
    let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
    let rough = OnlinePcaParams {
        lr: 1e-2,
        beta1: 0.0,
        oversample: 0,
        power_iters: 0,
        ..OnlinePcaParams::default()
    };
    let mut t = tracker(&method(rough), m, n, k);
    let errs: Vec<f64> = (0..40)
        .map(|s| {
            let q = t.update(a.as_ref(), &mut Context::new(s)).unwrap().q;
            metrics::accuracy(&reference, q.as_ref(), Par::Seq)
                .unwrap()
                .err_fro
        })
        .collect();
    let (first, last) = (errs[0], errs[39]);
    assert!(first > 1.05, "the rough start is already good: {first}");
    assert!(
        last - 1.0 <= 0.25 * (first - 1.0),
        "err_fro {first:.4} at the first update, {last:.4} at the 40th: {errs:?}"
    );
}

#[test]
fn a_corrupt_state_is_refused_by_name() {
    let (m, n, k) = (20, 15, 3);
    let a = generate::gaussian(m, n, 2);
    let mut t = tracker(&method(OnlinePcaParams::default()), m, n, k);
    for s in 0..2 {
        t.update(a.as_ref(), &mut Context::new(s)).unwrap();
    }
    let good = t.state();
    let mut fresh = tracker(&method(OnlinePcaParams::default()), m, n, k);
    let refuse =
        |fresh: &mut Box<dyn Tracker>, edit: &dyn Fn(&mut Vec<StateTensor>), want: (&str, &str)| {
            let mut bad = good.clone();
            edit(&mut bad);
            let e = fresh.load_state(&bad).unwrap_err();
            assert_eq!(e.tensor, want.0, "{e}");
            assert!(e.reason.contains(want.1), "{e}");
            assert!(fresh.state().is_empty(), "a refused state changed nothing");
        };
    let at = |name: &str| good.iter().position(|t| t.name == name).unwrap();
    let (sq, step, basis) = (at("exp_avg_sq"), at("step"), at("basis"));
    refuse(
        &mut fresh,
        &|s| s[sq].data[4] = -1.0,
        ("exp_avg_sq", "negative"),
    );
    refuse(
        &mut fresh,
        &|s| s[step].data[0] = 1.5,
        ("step", "whole number"),
    );
    refuse(
        &mut fresh,
        &|s| s[basis].data[0] += 0.1,
        ("basis", "orthonormal"),
    );
    refuse(
        &mut fresh,
        &|s| s[0].name = "momentum".into(),
        ("momentum", "another plugin"),
    );
    fresh.load_state(&good).unwrap();
    assert_eq!(fresh.state(), good);
}

#[test]
fn params_are_checked() {
    let bad = [
        OnlinePcaParams {
            lr: 0.0,
            ..OnlinePcaParams::default()
        },
        OnlinePcaParams {
            beta1: 1.0,
            ..OnlinePcaParams::default()
        },
        OnlinePcaParams {
            eps: f32::NAN,
            ..OnlinePcaParams::default()
        },
    ];
    for (p, want) in bad.into_iter().zip(["lr", "beta1", "eps"]) {
        let e = OnlinePca::new(p).unwrap_err();
        assert!(e.starts_with(want), "{e}");
    }
    let t: toml::Table = "lr = 0.01\nbeta1 = 0.5".parse().unwrap();
    let p: OnlinePcaParams = toml::Value::Table(t).try_into().unwrap();
    assert_eq!((p.lr, p.beta1, p.beta2), (0.01, 0.5, 0.999));
}
