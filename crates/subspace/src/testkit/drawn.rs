//! Drawn cases: proptest over shapes, ranks, spectra and seeds, each held to
//! the method's claim (exact, or HMT's deviation bound), with the cases that
//! once failed kept as [`FIXTURES`].

use super::checks::{assert_orthonormal, roundoff_floor, run};
use super::variants::panic_message;
use crate::generate::{self, Spectrum};
use crate::metrics::{self, hmt_tail_bound_spec};
use crate::reference::ReferenceSvd;
use crate::{Guarantee, SubspaceMethod};
use faer::Par;

#[derive(Debug, Clone, Copy)]
pub struct DrawnCase {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub spectrum: Spectrum,
    pub seed: u64,
}

/// Cases proptest found failing once, kept as fixtures (run by
/// [`check_drawn`] before any new draw).
pub const FIXTURES: &[DrawnCase] = &[];

/// Checks one drawn case: orthonormal Q; exact methods within 1.001 of
/// optimal; randomized ones within HMT's deviation bound (eq. 1.9), which
/// fails with probability below 6·p^(−p).
#[track_caller]
pub fn check_case(method: &dyn SubspaceMethod, c: DrawnCase) {
    let DrawnCase {
        m,
        n,
        k,
        spectrum,
        seed,
    } = c;
    let name = method.name();
    let a = generate::with_spectrum(m, n, spectrum, seed);
    let q = run(method, a.as_ref(), k, seed ^ 0x5eed);
    let case = format!("{c:?}");
    assert_orthonormal(name, &case, q.as_ref());
    let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).expect("reference SVD");
    let acc = metrics::accuracy(&reference, q.as_ref(), Par::Seq).expect("accuracy");
    let floor = roundoff_floor(m, n, reference.norm_fro());
    match method.guarantee(m, n, k) {
        Guarantee::Exact => {
            let optimal = reference.tail_fro(k);
            assert!(
                acc.residual_fro <= 1.001 * optimal + floor,
                "{name} [{case}]: ‖A − QQᵀA‖_F = {:.6e} > 1.001 × optimal {optimal:.6e}",
                acc.residual_fro
            );
        }
        g => {
            if let Some(b) = hmt_tail_bound_spec(reference.singular_values(), m, n, g) {
                assert!(
                    acc.residual_spec <= b + floor,
                    "{name} [{case}]: ‖A − QQᵀA‖₂ = {:.4e} > HMT deviation bound {b:.4e} ({g:?})",
                    acc.residual_spec
                );
            }
        }
    }
}

/// proptest over shapes (1..=48 each side), ranks, spectra and seeds, with a
/// fixed proptest seed so CI never flakes. Runs [`FIXTURES`] first.
#[track_caller]
pub fn check_drawn(method: &dyn SubspaceMethod, cases: u32) {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    for &c in FIXTURES {
        check_case(method, c);
    }
    let spectrum = prop_oneof![
        (0.01f64..1.0).prop_map(|rate| Spectrum::Exponential { rate }),
        (0.25f64..2.0).prop_map(|power| Spectrum::Polynomial { power }),
        (1usize..48).prop_map(|r| Spectrum::Rank { r }),
        Just(Spectrum::Flat),
    ];
    let strategy = (
        1usize..=48,
        1usize..=48,
        0.0f64..1.0,
        spectrum,
        any::<u64>(),
    )
        .prop_map(|(m, n, kf, spectrum, seed)| {
            let r = m.min(n);
            let k = 1 + ((r - 1) as f64 * kf) as usize;
            let spectrum = match spectrum {
                Spectrum::Rank { r: rr } => Spectrum::Rank { r: rr.min(r) },
                s => s,
            };
            DrawnCase {
                m,
                n,
                k,
                spectrum,
                seed,
            }
        });
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[0x6a; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let result = runner.run(&strategy, |c| {
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_case(method, c)));
        match outcome {
            Ok(()) => Ok(()),
            Err(e) => Err(TestCaseError::fail(panic_message(e.as_ref()))),
        }
    });
    if let Err(e) = result {
        panic!(
            "{}: proptest found a failing case (add it to testkit::FIXTURES): {e}",
            method.name()
        );
    }
}
