//! The contract's own pieces against independent oracles: the reference SVD
//! against nalgebra's, the generators against their prescribed spectra, the
//! metrics on bases whose figures are known in closed form, the HMT bounds by
//! hand, the context's randomness, the registry's and params' errors.

use faer::{Mat, Par};
use subspace::generate::{self, Spectrum};
use subspace::metrics::{accuracy, hmt_bound};
use subspace::reference::ReferenceSvd;
use subspace::{Context, Registry, RegistryError};

fn nalgebra_singular_values(a: &Mat<f32>) -> Vec<f64> {
    let na = nalgebra::DMatrix::<f64>::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] as f64);
    let mut s: Vec<f64> = na
        .svd(false, false)
        .singular_values
        .iter()
        .copied()
        .collect();
    s.sort_by(|x, y| y.total_cmp(x));
    s
}

#[track_caller]
fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.12e}, want {want:.12e} (tol {tol:.1e})"
    );
}

#[test]
fn reference_svd_agrees_with_nalgebra() {
    for (m, n, seed) in [(1, 1, 1), (40, 17, 2), (17, 40, 3), (64, 64, 4)] {
        let a = generate::gaussian(m, n, seed);
        let r = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
        let oracle = nalgebra_singular_values(&a);
        let scale = oracle[0].max(1.0);
        for (j, (&s, &o)) in r.singular_values().iter().zip(&oracle).enumerate() {
            assert_close(&format!("{m}×{n} σ_{}", j + 1), s, o, 1e-12 * scale);
        }
        // U's columns are left singular vectors: ‖Aᵀu_j‖ = σ_j.
        let a64 = r.a();
        for (j, &sigma) in oracle.iter().enumerate() {
            let atu = a64.transpose() * r.u().col(j);
            assert_close(
                &format!("{m}×{n} ‖Aᵀu_{}‖", j + 1),
                atu.norm_l2(),
                sigma,
                1e-11 * scale,
            );
        }
    }
}

#[test]
fn generators_have_their_prescribed_spectra() {
    let cases = [
        (60, 40, Spectrum::Exponential { rate: 0.2 }),
        (40, 60, Spectrum::Polynomial { power: 1.5 }),
        (50, 50, Spectrum::Gap { k: 5, ratio: 0.01 }),
        (30, 20, Spectrum::Rank { r: 3 }),
        (20, 20, Spectrum::Flat),
    ];
    for (i, (m, n, spectrum)) in cases.into_iter().enumerate() {
        let a = generate::with_spectrum(m, n, spectrum, i as u64);
        let want = spectrum.values(m.min(n));
        let got = nalgebra_singular_values(&a);
        for (j, (g, w)) in got.iter().zip(&want).enumerate() {
            // f32 rounding of the entries perturbs σ by about ε·‖A‖.
            assert_close(
                &format!("{spectrum:?} σ_{}", j + 1),
                *g,
                *w,
                1e-5 * want[0].max(1.0),
            );
        }
    }
    assert_eq!(generate::identity(3, 2)[(1, 1)], 1.0);
    assert!(
        nalgebra_singular_values(&Mat::zeros(4, 3))
            .iter()
            .all(|&s| s == 0.0)
    );
}

#[test]
fn metrics_of_the_optimal_basis_and_of_its_complement() {
    let (m, n, k) = (50, 30, 4);
    let a = generate::with_spectrum(m, n, Spectrum::Exponential { rate: 0.3 }, 11);
    let r = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
    let s = r.singular_values().to_vec();
    let uk = Mat::<f32>::from_fn(m, k, |i, j| r.u()[(i, j)] as f32);
    let acc = accuracy(&r, uk.as_ref(), Par::Seq).unwrap();
    assert_close("err_fro of U_k", acc.err_fro, 1.0, 1e-5);
    assert_close("err_spec of U_k", acc.err_spec, 1.0, 1e-5);
    assert!(acc.sin_theta < 1e-5, "sin_theta of U_k = {}", acc.sin_theta);
    let energy = s[..k].iter().map(|x| x * x).sum::<f64>() / s.iter().map(|x| x * x).sum::<f64>();
    assert_close("energy of U_k", acc.energy, energy, 1e-6);
    assert!(acc.ortho < 1e-6);

    // The next k singular vectors: orthogonal to U_k, so sin θ = 1, and the
    // residual keeps σ_1..σ_k.
    let next = Mat::<f32>::from_fn(m, k, |i, j| r.u()[(i, j + k)] as f32);
    let acc = accuracy(&r, next.as_ref(), Par::Seq).unwrap();
    assert_close("sin_theta of U_{k+1..2k}", acc.sin_theta, 1.0, 1e-5);
    assert_close(
        "err_spec of U_{k+1..2k}",
        acc.err_spec,
        s[0] / s[k],
        1e-4 * s[0] / s[k],
    );
}

#[test]
fn metrics_of_exactly_low_rank_and_zero_inputs_are_finite() {
    let a = generate::with_spectrum(30, 20, Spectrum::Rank { r: 3 }, 5);
    let r = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
    let u3 = Mat::<f32>::from_fn(30, 3, |i, j| r.u()[(i, j)] as f32);
    let acc = accuracy(&r, u3.as_ref(), Par::Seq).unwrap();
    // σ_4 = 0 up to f32 rounding: the ratio is in units of f32 roundoff.
    assert!(
        acc.err_fro.is_finite() && acc.err_fro < 50.0,
        "err_fro = {}",
        acc.err_fro
    );
    assert!(
        acc.err_spec.is_finite() && acc.err_spec < 50.0,
        "err_spec = {}",
        acc.err_spec
    );

    let z = Mat::<f32>::zeros(10, 6);
    let r = ReferenceSvd::new(z.as_ref(), Par::Seq).unwrap();
    let q = generate::identity(10, 2);
    let acc = accuracy(&r, q.as_ref(), Par::Seq).unwrap();
    assert_eq!((acc.err_fro, acc.err_spec, acc.energy), (1.0, 1.0, 1.0));
    assert_eq!((acc.energy_optimal, acc.energy_ratio), (1.0, 1.0));
}

/// The bounded energy figures on cases computed by hand: A = diag(3, 2, 1)
/// (in a 5×4 frame, turned by Haar-random rotations on both sides so that
/// no coordinate is special), the basis spanning its first and third
/// singular directions at k = 2: captured 9 + 1 = 10 of ‖A‖_F² = 14, the
/// optimum 9 + 4 = 13; the rank-deficient case at k above the rank; and
/// the ratio against the singular values of an independent SVD (nalgebra)
/// for a drawn basis.
#[test]
fn energy_shares_by_hand_and_against_an_independent_svd() {
    let (m, n) = (5, 4);
    let a = generate::with_singular_values(m, n, &[3.0, 2.0, 1.0], 21);
    let r = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
    let q = Mat::<f32>::from_fn(m, 2, |i, j| r.u()[(i, 2 * j)] as f32);
    let acc = accuracy(&r, q.as_ref(), Par::Seq).unwrap();
    assert_close("energy", acc.energy, 10.0 / 14.0, 1e-6);
    assert_close("energy_optimal", acc.energy_optimal, 13.0 / 14.0, 1e-6);
    assert_close("energy_ratio", acc.energy_ratio, 10.0 / 13.0, 1e-6);
    let best = Mat::<f32>::from_fn(m, 2, |i, j| r.u()[(i, j)] as f32);
    let acc = accuracy(&r, best.as_ref(), Par::Seq).unwrap();
    assert_close("energy_ratio of U_2", acc.energy_ratio, 1.0, 1e-6);

    // Rank 3 at k = 4: the optimum holds all the energy, so the ratio is
    // the captured share itself, 1 for a basis containing the range.
    let u4 = Mat::<f32>::from_fn(m, 4, |i, j| r.u()[(i, j)] as f32);
    let acc = accuracy(&r, u4.as_ref(), Par::Seq).unwrap();
    assert_close(
        "rank-deficient energy_optimal",
        acc.energy_optimal,
        1.0,
        1e-12,
    );
    assert_close("rank-deficient energy_ratio", acc.energy_ratio, 1.0, 1e-6);
    assert_close("rank-deficient energy", acc.energy, acc.energy_ratio, 1e-12);

    // A drawn basis of a GaLore-like matrix, against nalgebra's σ.
    let (m, n, k) = (60, 90, 8);
    let a = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 1.0 }, 22);
    let r = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
    let q = generate::with_spectrum(m, k, Spectrum::Flat, 23); // orthonormal columns
    let acc = accuracy(&r, q.as_ref(), Par::Seq).unwrap();
    let sigma = nalgebra_singular_values(&a);
    let total: f64 = sigma.iter().map(|s| s * s).sum();
    let optimal: f64 = sigma[..k].iter().map(|s| s * s).sum();
    let a64 = nalgebra::DMatrix::<f64>::from_fn(m, n, |i, j| a[(i, j)] as f64);
    let q64 = nalgebra::DMatrix::<f64>::from_fn(m, k, |i, j| q[(i, j)] as f64);
    let captured = (q64.transpose() * a64).norm_squared();
    assert_close("energy", acc.energy, captured / total, 1e-9);
    assert_close("energy_optimal", acc.energy_optimal, optimal / total, 1e-9);
    assert_close("energy_ratio", acc.energy_ratio, captured / optimal, 1e-9);
    assert!(acc.energy_ratio < 1.0);
}

#[test]
fn hmt_bounds_by_hand() {
    // Flat spectrum of 10 ones, k = 2, p = 3, q = 0:
    // Thm 10.5: √(1 + 2/2)·√8 = 4; Cor 10.10 (q = 0 is Thm 10.6):
    // (1 + √(2/2))·1 + e·√5/3·√8.
    let s = vec![1.0; 10];
    let b = hmt_bound(&s, 2, 3, 0, false).unwrap();
    assert_close("Frobenius bound", b.fro.unwrap(), 4.0, 1e-12);
    let e = std::f64::consts::E;
    assert_close(
        "spectral bound",
        b.spec,
        2.0 + e * 5f64.sqrt() / 3.0 * 8f64.sqrt(),
        1e-12,
    );
    // Truncation adds ‖A − A_k‖_F² under the root and σ_{k+1} to the spectral bound.
    let t = hmt_bound(&s, 2, 3, 0, true).unwrap();
    assert_close(
        "truncated Frobenius",
        t.fro.unwrap(),
        (2.0f64 * 8.0 + 8.0).sqrt(),
        1e-12,
    );
    assert_close("truncated spectral", t.spec, b.spec + 1.0, 1e-12);
    // q = 1 on a flat spectrum: [(2)·1 + e√5/3·√8]^(1/3).
    let b1 = hmt_bound(&s, 2, 3, 1, false).unwrap();
    assert_close("q = 1 spectral", b1.spec, b.spec.powf(1.0 / 3.0), 1e-12);
    assert!(b1.fro.is_none());
    // Outside HMT's hypotheses there is no bound.
    assert!(hmt_bound(&s, 1, 3, 0, false).is_none());
    assert!(hmt_bound(&s, 2, 1, 0, false).is_none());
    // Exactly rank k: both bounds are zero (no division by zero).
    let b = hmt_bound(&[3.0, 2.0, 0.0, 0.0], 2, 2, 0, false).unwrap();
    assert_eq!((b.fro.unwrap(), b.spec), (0.0, 0.0));
}

#[test]
fn gaussian_draws_are_seeded_counter_based_and_thread_count_free() {
    let mut a = Context::new(7);
    let mut b = Context::new(7).with_par(Par::rayon(2));
    let (x1, x2) = (a.gaussian(50, 9), a.gaussian(50, 9));
    let (y1, y2) = (b.gaussian(50, 9), b.gaussian(50, 9));
    assert!(
        x1 == y1 && x2 == y2,
        "same seed, different thread counts, different draws"
    );
    assert!(x1 != x2, "two draws of one context are equal");
    assert!(
        Context::new(8).gaussian(50, 9) != x1,
        "different seeds give equal draws"
    );
    // Column j depends on (seed, draw, j) only, not on how many columns.
    let wide = Context::new(7).gaussian(50, 20);
    assert!(wide.subcols(0, 9) == x1.as_ref());
    // Roughly standard normal.
    let big = Context::new(1).gaussian(200, 50);
    let mean = big.sum() / 10_000.0;
    let var = big.squared_norm_l2() / 10_000.0;
    assert!(
        mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
        "mean {mean}, variance {var}"
    );
}

mod plugin {
    use documented::DocumentedFields;
    use faer::MatRef;
    use serde::{Deserialize, Serialize};
    use subspace::{Basis, Context, Plugin, SubspaceError, SubspaceMethod};

    /// Params of the test plugin.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DocumentedFields)]
    #[serde(default, deny_unknown_fields)]
    pub struct P {
        /// How many widgets (count; default 3).
        pub widgets: usize,
        /// Whether to frob (default false).
        pub frob: bool,
    }
    impl Default for P {
        fn default() -> Self {
            Self {
                widgets: 3,
                frob: false,
            }
        }
    }
    pub struct Dummy;
    impl SubspaceMethod for Dummy {
        fn name(&self) -> &str {
            "dummy"
        }
        fn compute(
            &self,
            _: MatRef<'_, f32>,
            _: usize,
            _: &mut Context<'_>,
        ) -> Result<Basis, SubspaceError> {
            unreachable!("not called")
        }
    }
    impl Plugin for Dummy {
        const NAME: &'static str = "dummy";
        const SUMMARY: &'static str = "a test plugin";
        type Params = P;
        fn new(p: P) -> Result<Self, String> {
            if p.widgets == 0 {
                Err("widgets must be at least 1".into())
            } else {
                Ok(Dummy)
            }
        }
    }
}

#[test]
fn registry_errors_name_the_alternatives() {
    let mut r = Registry::new();
    r.register::<plugin::Dummy>().unwrap();
    assert_eq!(
        r.register::<plugin::Dummy>().unwrap_err(),
        RegistryError::Duplicate {
            name: "dummy".into()
        }
    );
    let err = r
        .build("svdd", &toml::Table::new())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "unknown plugin `svdd`; registered plugins: dummy");

    let table = |s: &str| s.parse::<toml::Table>().unwrap();
    let err = r
        .build("dummy", &table("widgetz = 2"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("unknown field `widgetz`")
            && err.contains("`widgets`")
            && err.contains("`frob`"),
        "{err}"
    );
    let err = r
        .build("dummy", &table("widgets = \"many\""))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.starts_with("invalid params for plugin `dummy`"),
        "{err}"
    );
    let err = r
        .build("dummy", &table("widgets = 0"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("widgets must be at least 1"), "{err}");
    assert!(r.build("dummy", &table("frob = true")).is_ok());

    let docs = r.get("dummy").unwrap().params();
    assert_eq!(
        docs.iter()
            .map(|d| (d.name, d.default.as_str()))
            .collect::<Vec<_>>(),
        [("widgets", "3"), ("frob", "false")]
    );
    assert_eq!(docs[0].doc, "How many widgets (count; default 3).");
    // A plugin that declares no variants is run by the kit with its defaults.
    assert_eq!(
        r.get("dummy").unwrap().conformance_params(),
        [toml::Table::new()]
    );
}
