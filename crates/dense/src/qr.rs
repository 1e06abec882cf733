//! The thin Householder QR of a tall block, with its explicit Q.
//!
//! Contract: [`ThinQr::thin_q`] returns Q (m×ℓ) with QᵀQ = I to working
//! precision and range(Q) = range(Y) when Y has full rank; a rank-deficient
//! or zero Y still gives orthonormal columns (Golub–Van Loan §5.2).

use crate::clear_upper_simd;
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::{householder, qr};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::traits::ComplexField;
use faer::{Conj, Mat, MatMut, Par};

/// Householder QR of an m×ℓ block (m ≥ ℓ), returning the explicit thin Q.
///
/// Holds the block-reflector coefficients and the scratch memory, so a power
/// iteration re-orthonormalizes without allocating.
pub struct ThinQr<T: ComplexField = f32> {
    m: usize,
    l: usize,
    coeff: Mat<T>,
    /// m×ℓ identity, the start of the explicit Q.
    eye: Mat<T>,
    mem: MemBuffer,
}

impl<T: ComplexField> ThinQr<T> {
    /// Workspace for m×ℓ blocks, m ≥ ℓ ≥ 1.
    pub fn new(m: usize, l: usize, par: Par) -> Self {
        assert!(m >= l && l >= 1, "ThinQr needs m ≥ ℓ ≥ 1, got {m}×{l}");
        let bs = qr::no_pivoting::factor::recommended_block_size::<T>(m, l);
        let req = StackReq::any_of(&[
            qr::no_pivoting::factor::qr_in_place_scratch::<T>(m, l, bs, par, Default::default()),
            householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<T>(
                m, bs, l,
            ),
        ]);
        Self {
            m,
            l,
            coeff: Mat::zeros(bs, l),
            eye: Mat::identity(m, l),
            mem: MemBuffer::new(req),
        }
    }

    /// Bytes this workspace holds (for `workspace_bytes` predictions).
    pub fn bytes(m: usize, l: usize) -> usize {
        let bs = qr::no_pivoting::factor::recommended_block_size::<T>(m, l);
        let req = StackReq::any_of(&[
            qr::no_pivoting::factor::qr_in_place_scratch::<T>(
                m,
                l,
                bs,
                Par::Seq,
                Default::default(),
            ),
            householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<T>(
                m, bs, l,
            ),
        ]);
        req.size_bytes() + (bs * l + m * l) * size_of::<T>()
    }

    /// `q ← thin Q of y`; `y` (m×ℓ) is overwritten by the factorization.
    ///
    /// Householder QR gives columns orthonormal to working precision even
    /// when `y` is rank-deficient or zero (its null directions are filled
    /// with reflected unit vectors), so no NaN can come out.
    pub fn thin_q(&mut self, q: MatMut<'_, T>, y: MatMut<'_, T>, par: Par) {
        assert_eq!(y.shape(), (self.m, self.l));
        assert_eq!(q.shape(), (self.m, self.l));
        let mut y = y;
        let mut q = q;
        qr::no_pivoting::factor::qr_in_place(
            y.rb_mut(),
            self.coeff.as_mut(),
            par,
            MemStack::new(&mut self.mem),
            Default::default(),
        );
        q.copy_from(&self.eye);
        householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
            y.rb(),
            self.coeff.as_ref(),
            Conj::No,
            q,
            par,
            MemStack::new(&mut self.mem),
        );
        clear_upper_simd();
    }
}
