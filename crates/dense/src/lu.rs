//! The LU power-iteration normalizer: a well-conditioned basis of range(Y)
//! at half the cost of QR, not orthonormal (HMT 2011 §4.5).

use crate::clear_upper_simd;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::lu;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{MatMut, Par};

/// `y ← P⁻¹L` from the partially pivoted LU of `y` (m×ℓ, m ≥ ℓ): a
/// well-conditioned basis of range(y) at half the cost of QR, but not
/// orthonormal (the power-iteration normalizer of HMT §4.5 and
/// scikit-learn's `power_iteration_normalizer="LU"`).
pub fn lu_normalize_in_place(y: MatMut<'_, f32>, tmp: MatMut<'_, f32>, par: Par) {
    let (m, l) = y.shape();
    assert!(m >= l);
    assert_eq!(tmp.shape(), (m, l));
    let mut y = y;
    let mut tmp = tmp;
    let mut perm = vec![0usize; m];
    let mut perm_inv = vec![0usize; m];
    let mut mem = MemBuffer::new(lu::partial_pivoting::factor::lu_in_place_scratch::<
        usize,
        f32,
    >(m, l, par, Default::default()));
    let (_, p) = lu::partial_pivoting::factor::lu_in_place(
        y.rb_mut(),
        &mut perm,
        &mut perm_inv,
        par,
        MemStack::new(&mut mem),
        Default::default(),
    );
    clear_upper_simd();
    // tmp ← unit lower-trapezoidal L.
    for j in 0..l {
        for i in 0..m {
            tmp[(i, j)] = match i.cmp(&j) {
                std::cmp::Ordering::Less => 0.0,
                std::cmp::Ordering::Equal => 1.0,
                // A zero pivot means the whole subcolumn was zero, and faer
                // divided 0 by 0: LAPACK's getrf leaves such a column zero.
                std::cmp::Ordering::Greater if y[(i, j)].is_nan() => 0.0,
                std::cmp::Ordering::Greater => y[(i, j)],
            };
        }
    }
    faer::perm::permute_rows(y, tmp.rb(), p.inverse());
}
