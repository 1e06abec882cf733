//! The svd plugin through the conformance kit in both precisions.

use subspace::{Plugin, testkit};
use svd::{Precision, Svd, SvdParams};

#[test]
fn f64_svd_conforms() {
    let m = Svd::new(SvdParams {
        precision: Precision::F64,
    })
    .unwrap();
    testkit::check_accuracy(&m, 1);
    testkit::check_shapes(&m);
    testkit::check_determinism(&m);
}

/// faer's f32 SVD is not held to the exact-method accuracy bar: on the kit's
/// GaLore-shaped fast-decay case (1376×512, σ_j = e^(−0.05(j−1)), k = 128)
/// it gave ‖A − QQᵀA‖_F = 6.58e-3 against the optimal 5.39e-3 (err_fro
/// 1.22), which is why "f64" is the default. Everything else must hold.
#[test]
fn f32_svd_is_a_valid_basis() {
    let m = Svd::new(SvdParams {
        precision: Precision::F32,
    })
    .unwrap();
    testkit::check_shapes(&m);
    testkit::check_errors(&m);
    testkit::check_degenerate(&m);
    testkit::check_determinism(&m);
}
