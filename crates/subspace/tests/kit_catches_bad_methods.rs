//! The conformance kit must fail methods that are wrong: each deliberately
//! broken method here is caught by the check named in the test.

use faer::{Mat, MatRef};
use std::sync::atomic::{AtomicU64, Ordering};
use subspace::{Basis, Context, Guarantee, Info, SubspaceError, SubspaceMethod, testkit};

/// Returns the first k columns of the identity: orthonormal, but not the
/// dominant subspace.
struct FirstColumns;
impl SubspaceMethod for FirstColumns {
    fn name(&self) -> &str {
        "first-columns"
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let q = Mat::from_fn(a.nrows(), k, |i, j| if i == j { 1.0 } else { 0.0 });
        Ok(Basis {
            q,
            info: Info::default(),
        })
    }
}

/// A correct basis scaled by 1 + 1e-4: not orthonormal.
struct Scaled;
impl SubspaceMethod for Scaled {
    fn name(&self) -> &str {
        "scaled"
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let q = a.thin_svd().unwrap().U().subcols(0, k).to_owned();
        Ok(Basis {
            q: Mat::from_fn(a.nrows(), k, |i, j| q[(i, j)] * 1.0001),
            info: Info::default(),
        })
    }
}

/// A correct basis whose last column flips sign on every call: not
/// deterministic.
struct Flipping(AtomicU64);
impl SubspaceMethod for Flipping {
    fn name(&self) -> &str {
        "flipping"
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let flip = if self.0.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
            1.0
        } else {
            -1.0
        };
        let u = a.thin_svd().unwrap().U().subcols(0, k).to_owned();
        let q = Mat::from_fn(a.nrows(), k, |i, j| {
            if j + 1 == k {
                flip * u[(i, j)]
            } else {
                u[(i, j)]
            }
        });
        Ok(Basis {
            q,
            info: Info::default(),
        })
    }
}

/// A random basis claiming to be a range finder with q = 2: within no bound.
struct ClaimsTooMuch;
impl SubspaceMethod for ClaimsTooMuch {
    fn name(&self) -> &str {
        "claims-too-much"
    }
    fn guarantee(&self, _: usize, _: usize, k: usize) -> Guarantee {
        Guarantee::Randomized {
            rank: k,
            oversample: 10,
            power_iters: 2,
            truncated: true,
        }
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let g = ctx.gaussian(a.nrows(), k);
        Ok(Basis {
            q: g.qr().compute_thin_Q(),
            info: Info::default(),
        })
    }
}

#[test]
#[should_panic(expected = "> 1.001 × optimal")]
fn accuracy_catches_a_wrong_subspace() {
    testkit::check_accuracy(&FirstColumns, 1);
}

#[test]
#[should_panic(expected = "‖QᵀQ − I‖_F")]
fn shapes_catch_a_non_orthonormal_basis() {
    testkit::check_shapes(&Scaled);
}

#[test]
#[should_panic(expected = "different bits")]
fn determinism_catches_a_changing_result() {
    testkit::check_determinism(&Flipping(AtomicU64::new(0)));
}

#[test]
#[should_panic(expected = "HMT")]
fn accuracy_catches_a_broken_bound() {
    testkit::check_accuracy(&ClaimsTooMuch, 3);
}

#[test]
#[should_panic(expected = "proptest found a failing case")]
fn proptest_catches_a_wrong_subspace() {
    testkit::check_drawn(&FirstColumns, 32);
}

#[test]
#[should_panic(expected = "roundoff floor")]
fn degenerate_catches_a_wrong_subspace() {
    testkit::check_degenerate(&FirstColumns);
}
