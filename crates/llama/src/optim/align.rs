//! Aligning each new GaLore basis with the previous one (the config's
//! `align = true`).
//!
//! A subspace method's contract is the span of its basis; which orthonormal
//! basis of that span it returns is arbitrary. Two exact methods (svd,
//! lanczos) return the same span with columns of other signs, or turned
//! within a cluster of close singular values, and one method's signs change
//! from one refresh to the next. Adam's moments are kept in the basis's
//! coordinates, so at T = 1 these arbitrary turns decide the loss as much as
//! the subspace does: the sign and rotation confound. Aligning removes it:
//!
//! - the first basis gets canonical signs ([`canonical_signs`]: each
//!   column's entry of largest magnitude is positive), so that two methods
//!   that find the same span start from the same basis;
//! - every later basis is turned within its own span to the orthonormal
//!   basis nearest the previous one (orthogonal Procrustes,
//!   [`procrustes`]): P_new ← P_new·U·Vᵀ where U·S·Vᵀ = svd(P_newᵀ·P_old).
//!   The result depends only on span(P_new) and P_old (any other basis
//!   P_new·W of the span gives the same P_new·U·Vᵀ, W orthogonal), so two
//!   methods that agree on the spans agree on the bases.
//!
//! The span, and with it what GaLore projects, never changes. With aligned
//! bases the change of basis R = P_newᵀ·P_old = V·S·Vᵀ is symmetric
//! positive semi-definite: the moments' coordinates move as little as the
//! subspace allows.

use dense::KernelError;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Accum, Mat, MatRef, Par};

/// `q` with each column's sign chosen so that its entry of largest
/// magnitude (the first such one on a tie) is positive.
pub fn canonical_signs(q: &mut Mat<f32>) {
    for j in 0..q.ncols() {
        let mut at = 0;
        for i in 1..q.nrows() {
            if q[(i, j)].abs() > q[(at, j)].abs() {
                at = i;
            }
        }
        if q[(at, j)] < 0.0 {
            for i in 0..q.nrows() {
                q[(i, j)] = -q[(i, j)];
            }
        }
    }
}

/// The orthonormal basis of span(`q`) nearest `previous` in the Frobenius
/// norm: q·U·Vᵀ with U·S·Vᵀ = svd(qᵀ·previous), both p×r with orthonormal
/// columns. Computed in f64 with sequential kernels (the same bits for any
/// thread count).
pub fn procrustes(q: MatRef<'_, f32>, previous: MatRef<'_, f32>) -> Result<Mat<f32>, KernelError> {
    assert_eq!(q.shape(), previous.shape(), "bases of different shapes");
    let (p, r) = q.shape();
    let q64 = Mat::from_fn(p, r, |i, j| f64::from(q[(i, j)])); // (p, r)
    let prev64 = Mat::from_fn(p, r, |i, j| f64::from(previous[(i, j)])); // (p, r)
    let mut overlap = Mat::<f64>::zeros(r, r); // qᵀ·previous
    matmul(
        overlap.as_mut(),
        Accum::Replace,
        q64.transpose(),
        prev64.as_ref(),
        1.0,
        Par::Seq,
    );
    let mut u = Mat::<f64>::zeros(r, r);
    let mut v = Mat::<f64>::zeros(r, r);
    let mut s = faer::diag::Diag::<f64>::zeros(r);
    let mut mem = MemBuffer::new(svd::svd_scratch::<f64>(
        r,
        r,
        ComputeSvdVectors::Full,
        ComputeSvdVectors::Full,
        Par::Seq,
        Default::default(),
    ));
    let done = svd::svd(
        overlap.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        Some(v.as_mut()),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    );
    dense::clear_upper_simd();
    done.map_err(|e| KernelError {
        kernel: "GaLore's Procrustes alignment (faer SVD of an r×r overlap, f64)",
        reason: format!("{e:?}"),
    })?;
    let mut turn = Mat::<f64>::zeros(r, r); // U·Vᵀ
    matmul(
        turn.as_mut(),
        Accum::Replace,
        u.as_ref(),
        v.transpose(),
        1.0,
        Par::Seq,
    );
    let mut out = Mat::<f64>::zeros(p, r); // q·U·Vᵀ
    matmul(
        out.as_mut(),
        Accum::Replace,
        q64.as_ref(),
        turn.as_ref(),
        1.0,
        Par::Seq,
    );
    dense::clear_upper_simd();
    Ok(Mat::from_fn(p, r, |i, j| out[(i, j)] as f32))
}

/// `q` aligned as the module doc says: canonical signs when there is no
/// previous basis, else [`procrustes`] onto `previous`.
pub fn align(mut q: Mat<f32>, previous: Option<MatRef<'_, f32>>) -> Result<Mat<f32>, KernelError> {
    match previous {
        None => {
            canonical_signs(&mut q);
            Ok(q)
        }
        Some(previous) => procrustes(q.as_ref(), previous),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An orthonormal 5×3 basis (Gram–Schmidt of fixed columns, in f64).
    fn basis() -> Mat<f32> {
        let raw = Mat::from_fn(5, 3, |i, j| {
            ((i * 7 + j * 3) % 5) as f64 - 1.5 + (i == j) as u8 as f64
        });
        let mut q = Mat::<f64>::zeros(5, 3);
        for j in 0..3 {
            let mut c: Vec<f64> = (0..5).map(|i| raw[(i, j)]).collect();
            for l in 0..j {
                let d: f64 = (0..5).map(|i| c[i] * q[(i, l)]).sum();
                (0..5).for_each(|i| c[i] -= d * q[(i, l)]);
            }
            let n = c.iter().map(|x| x * x).sum::<f64>().sqrt();
            (0..5).for_each(|i| q[(i, j)] = c[i] / n);
        }
        Mat::from_fn(5, 3, |i, j| q[(i, j)] as f32)
    }

    /// `q` times an orthogonal 3×3 W: a sign flip of column 0 and a turn by
    /// θ (cos 0.6, sin 0.8) of columns 1 and 2.
    fn turned(q: &Mat<f32>) -> Mat<f32> {
        let w = [[-1.0f32, 0.0, 0.0], [0.0, 0.6, -0.8], [0.0, 0.8, 0.6]];
        Mat::from_fn(5, 3, |i, j| (0..3).map(|l| q[(i, l)] * w[l][j]).sum())
    }

    #[test]
    fn procrustes_undoes_a_turn_within_the_span() {
        let q = basis();
        let got = procrustes(turned(&q).as_ref(), q.as_ref()).unwrap();
        for i in 0..5 {
            for j in 0..3 {
                assert!((got[(i, j)] - q[(i, j)]).abs() < 1e-6, "({i}, {j})");
            }
        }
    }

    #[test]
    fn canonical_signs_agree_for_any_column_signs() {
        let q = basis();
        let mut a = q.clone();
        let mut b = Mat::from_fn(5, 3, |i, j| if j == 1 { q[(i, j)] } else { -q[(i, j)] });
        canonical_signs(&mut a);
        canonical_signs(&mut b);
        assert_eq!(a, b);
        for j in 0..3 {
            let top = (0..5)
                .map(|i| a[(i, j)])
                .fold(0.0f32, |x, y| if y.abs() > x.abs() { y } else { x });
            assert!(top > 0.0, "column {j}");
        }
        // The first basis goes through canonical_signs, later ones through
        // Procrustes.
        assert_eq!(align(q.clone(), None).unwrap(), a);
    }
}
