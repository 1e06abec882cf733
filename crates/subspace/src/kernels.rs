//! Dense stages shared by plugins: orthonormalization and operation counts.
//!
//! Kernel signature, house style: outputs first (`MatMut`), then inputs
//! (`MatRef`), then `par`. Workspaces are made once per call, outside any
//! loop, and reused.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::{householder, lu, qr};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::traits::ComplexField;
use faer::{Conj, Mat, MatMut, MatRef, Par};

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

/// The first `k` left singular vectors of `a` (m×k), from faer's thin SVD
/// under `par`; `kernel` names the caller's use in the error.
///
/// Plugins pass `Par::Seq`: faer's parallel SVD changes the last bits with
/// the thread count (seen on a 16-core machine), and a plugin's result must
/// not. At f64 this is the accurate small SVD plugins use (faer's f32 SVD
/// leaves U orthonormal only to about 3e-5 and loses the trailing vectors of
/// fast-decaying spectra).
pub fn left_singular_vectors<T: faer::traits::RealField>(
    a: MatRef<'_, T>,
    k: usize,
    par: Par,
    kernel: &'static str,
) -> Result<Mat<T>, crate::SubspaceError> {
    let (m, n) = a.shape();
    assert!(k <= m.min(n), "{k} singular vectors of a {m}×{n} matrix");
    let (u, _) = thin_svd_left(a, par, kernel)?;
    Ok(u.subcols(0, k).to_owned())
}

/// Thin SVD's left vectors U (m×min(m, n)) and singular values
/// (non-increasing) of `a`, under `par`.
pub fn thin_svd_left<T: faer::traits::RealField>(
    a: MatRef<'_, T>,
    par: Par,
    kernel: &'static str,
) -> Result<(Mat<T>, Vec<T>), crate::SubspaceError> {
    use faer::linalg::svd::{self, ComputeSvdVectors};
    let (m, n) = a.shape();
    let r = m.min(n);
    let mut u = Mat::<T>::zeros(m, r); // (m, r)
    let mut s = faer::diag::Diag::<T>::zeros(r);
    if r == 0 {
        return Ok((u, Vec::new()));
    }
    let mut mem = MemBuffer::new(svd::svd_scratch::<T>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::No,
        par,
        Default::default(),
    ));
    let result = svd::svd(
        a,
        s.as_mut(),
        Some(u.as_mut()),
        None,
        par,
        MemStack::new(&mut mem),
        Default::default(),
    );
    clear_upper_simd();
    result.map_err(|e| crate::SubspaceError::Kernel {
        kernel,
        reason: format!("{e:?}"),
    })?;
    Ok((u, s.column_vector().iter().cloned().collect()))
}

/// Scratch bytes of [`left_singular_vectors`] for an m×n input.
pub fn left_singular_vectors_bytes<T: faer::traits::RealField>(m: usize, n: usize) -> usize {
    use faer::linalg::svd::{self, ComputeSvdVectors};
    let r = m.min(n);
    svd::svd_scratch::<T>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::No,
        Par::Seq,
        Default::default(),
    )
    .size_bytes()
        + (m * r + r) * size_of::<T>()
}

/// Clears the upper halves of the AVX registers (`vzeroupper`) where the
/// CPU has AVX; nothing elsewhere.
///
/// faer's x86 kernels are generated assembly that can return with the upper
/// AVX state dirty; code compiled for SSE (most of ours, and libm) then pays
/// a transition penalty on every mixed instruction until something clears
/// it (measured: a 3× slower Llama forward pass on the 2-core AMD EPYC
/// development VM). Call it after a faer kernel that scalar code follows.
/// It changes no value.
#[inline]
pub fn clear_upper_simd() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        fn vzeroupper() {
            std::arch::x86_64::_mm256_zeroupper();
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX, checked just above.
            unsafe { vzeroupper() }
        }
    }
}

/// Rows per block of [`gemm`]'s fixed work split.
pub const GEMM_ROW_BLOCK: usize = 256;

/// `dst ← lhs · rhs`, with the same bits for any thread count.
///
/// faer's parallel GEMM may split a reduction across threads, so its last
/// bits depend on the thread count. Here the work is split into fixed blocks
/// of [`GEMM_ROW_BLOCK`] rows of `dst` (each a sequential faer GEMM), and
/// only the assignment of blocks to threads depends on `par`.
pub fn gemm(dst: MatMut<'_, f32>, lhs: MatRef<'_, f32>, rhs: MatRef<'_, f32>, par: Par) {
    use rayon::prelude::*;
    let m = dst.nrows();
    assert_eq!(lhs.nrows(), m);
    let blocks: Vec<(MatMut<'_, f32>, MatRef<'_, f32>)> = {
        let mut out = Vec::with_capacity(m.div_ceil(GEMM_ROW_BLOCK));
        let mut rest = dst;
        let mut row = 0;
        while row < m {
            let h = GEMM_ROW_BLOCK.min(m - row);
            let (top, bottom) = rest.split_at_row_mut(h);
            out.push((top, lhs.subrows(row, h)));
            rest = bottom;
            row += h;
        }
        out
    };
    let one = |(d, l): (MatMut<'_, f32>, MatRef<'_, f32>)| {
        faer::linalg::matmul::matmul(d, faer::Accum::Replace, l, rhs, 1.0f32, Par::Seq);
        clear_upper_simd();
    };
    match par {
        Par::Rayon(_) if blocks.len() > 1 => blocks.into_par_iter().for_each(one),
        _ => blocks.into_iter().for_each(one),
    }
}

/// Operation counts (multiply and add counted separately).
pub mod flops {
    /// m×k by k×n product.
    pub fn gemm(m: usize, n: usize, k: usize) -> f64 {
        2.0 * m as f64 * n as f64 * k as f64
    }

    /// Householder QR of m×ℓ plus forming the thin Q (Golub–Van Loan §5.2:
    /// 2mℓ² − 2ℓ³/3 each).
    pub fn qr_thin_q(m: usize, l: usize) -> f64 {
        let (m, l) = (m as f64, l as f64);
        4.0 * m * l * l - 4.0 / 3.0 * l * l * l
    }

    /// Partially pivoted LU of m×ℓ (m ≥ ℓ): mℓ² − ℓ³/3.
    pub fn lu(m: usize, l: usize) -> f64 {
        let (m, l) = (m as f64, l as f64);
        m * l * l - l * l * l / 3.0
    }

    /// Thin SVD with left vectors, R-SVD count (Golub–Van Loan Fig. 5.4.1,
    /// Σ, U₁ and V: 6pq² + 20q³ with p = max(m, n), q = min(m, n)); an
    /// estimate, since the bidiagonal stage iterates.
    pub fn svd(m: usize, n: usize) -> f64 {
        let (p, q) = (m.max(n) as f64, m.min(n) as f64);
        6.0 * p * q * q + 20.0 * q * q * q
    }
}
