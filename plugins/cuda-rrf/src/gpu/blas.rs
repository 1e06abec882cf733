//! cuBLAS calls of a [`Workspace`]: GEMM in a chosen precision, products
//! with A, SYRK, TRSM, copies and transposes (GEAM), norms.

use cudarc::cublas::sys as bsys;
use subspace::SubspaceError;

use super::Workspace;
use super::buffers::Stored;
use super::status::{blas, int};
use crate::params::GemmPrecision;

impl Workspace {
    /// C (r×c) ← op(X) (r×inner) · op(Y) (inner×c) in `precision`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gemm(
        &self,
        precision: GemmPrecision,
        (tx, x, ldx): (bsys::cublasOperation_t, *const f32, usize),
        (ty, y, ldy): (bsys::cublasOperation_t, *const f32, usize),
        c: *mut f32,
        ldc: usize,
        (r, cols, inner): (usize, usize, usize),
    ) -> Result<(), SubspaceError> {
        let compute = match precision {
            GemmPrecision::F32 => bsys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            GemmPrecision::Tf32 => bsys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
            GemmPrecision::Bf16 => bsys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_16BF,
        };
        let (alpha, beta) = (1.0f32, 0.0f32);
        let f32t = bsys::cudaDataType::CUDA_R_32F;
        // SAFETY: pointers are device buffers of this stream holding the
        // stated shapes; alpha/beta are host scalars (host pointer mode).
        unsafe {
            blas(
                "cublasGemmEx",
                bsys::cublasGemmEx(
                    *self.blas.handle(),
                    tx,
                    ty,
                    int(r),
                    int(cols),
                    int(inner),
                    (&alpha as *const f32).cast(),
                    x.cast(),
                    f32t,
                    int(ldx),
                    y.cast(),
                    f32t,
                    int(ldy),
                    (&beta as *const f32).cast(),
                    c.cast(),
                    f32t,
                    int(ldc),
                    compute,
                    bsys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                ),
            )
        }
    }

    /// Y (rows×cols) ← A·X (`t = false`, X n×cols) or Aᵀ·X (X m×cols).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gemm_a(
        &self,
        precision: GemmPrecision,
        a: Stored,
        (m, n): (usize, usize),
        t: bool,
        x: *const f32,
        y: *mut f32,
        cols: usize,
    ) -> Result<(), SubspaceError> {
        let (op, lda) = a.op(t);
        let (rows, inner) = if t { (n, m) } else { (m, n) };
        let nop = bsys::cublasOperation_t::CUBLAS_OP_N;
        self.gemm(
            precision,
            (op, a.ptr, lda),
            (nop, x, inner),
            y,
            rows,
            (rows, cols, inner),
        )
    }

    /// G (c×c, upper triangle) ← XᵀX for X r×c.
    pub(crate) fn syrk(
        &self,
        x: *const f32,
        r: usize,
        c: usize,
        g: *mut f32,
    ) -> Result<(), SubspaceError> {
        let (alpha, beta) = (1.0f32, 0.0f32);
        // SAFETY: device buffers of the stated shapes on this stream.
        unsafe {
            blas(
                "cublasSsyrk",
                bsys::cublasSsyrk_v2(
                    *self.blas.handle(),
                    bsys::cublasFillMode_t::CUBLAS_FILL_MODE_UPPER,
                    bsys::cublasOperation_t::CUBLAS_OP_T,
                    int(c),
                    int(r),
                    &alpha,
                    x,
                    int(r),
                    &beta,
                    g,
                    int(c),
                ),
            )
        }
    }

    /// X (r×c) ← X·R⁻¹ for R c×c upper triangular (leading dimension c).
    pub(crate) fn trsm_right_upper(
        &self,
        rmat: *const f32,
        x: *mut f32,
        r: usize,
        c: usize,
    ) -> Result<(), SubspaceError> {
        let alpha = 1.0f32;
        // SAFETY: device buffers of the stated shapes on this stream.
        unsafe {
            blas(
                "cublasStrsm",
                bsys::cublasStrsm_v2(
                    *self.blas.handle(),
                    bsys::cublasSideMode_t::CUBLAS_SIDE_RIGHT,
                    bsys::cublasFillMode_t::CUBLAS_FILL_MODE_UPPER,
                    bsys::cublasOperation_t::CUBLAS_OP_N,
                    bsys::cublasDiagType_t::CUBLAS_DIAG_NON_UNIT,
                    int(r),
                    int(c),
                    &alpha,
                    rmat,
                    int(c),
                    x,
                    int(r),
                ),
            )
        }
    }

    /// Dst (c×c) ← the upper triangle of the c×c block at `src` (leading
    /// dimension `lds`), zeros below (TRMM with the identity).
    pub(crate) fn copy_upper(
        &mut self,
        src: *const f32,
        lds: usize,
        c: usize,
        dst: *mut f32,
    ) -> Result<(), SubspaceError> {
        if self.ident_len != c {
            let eye = faer::Mat::<f32>::identity(c, c);
            Self::upload_into(&self.stream, &mut self.bufs.ident, eye.as_ref())?;
            self.ident_len = c;
        }
        let ident = self.bufs.ident.ptr(&self.stream);
        let alpha = 1.0f32;
        // SAFETY: device buffers of the stated shapes on this stream.
        unsafe {
            blas(
                "cublasStrmm",
                bsys::cublasStrmm_v2(
                    *self.blas.handle(),
                    bsys::cublasSideMode_t::CUBLAS_SIDE_LEFT,
                    bsys::cublasFillMode_t::CUBLAS_FILL_MODE_UPPER,
                    bsys::cublasOperation_t::CUBLAS_OP_N,
                    bsys::cublasDiagType_t::CUBLAS_DIAG_NON_UNIT,
                    int(c),
                    int(c),
                    &alpha,
                    src,
                    int(lds),
                    ident,
                    int(c),
                    dst,
                    int(c),
                ),
            )
        }
    }

    /// C (r×c) ← Xᵀ for X c×r (leading dimension `ldx`).
    pub(crate) fn transpose(
        &self,
        x: *const f32,
        ldx: usize,
        r: usize,
        c: usize,
        out: *mut f32,
    ) -> Result<(), SubspaceError> {
        self.geam(bsys::cublasOperation_t::CUBLAS_OP_T, x, ldx, r, c, out)
    }

    /// C (r×c) ← X (r×c, leading dimension `ldx`).
    pub(crate) fn copy(
        &self,
        x: *const f32,
        ldx: usize,
        r: usize,
        c: usize,
        out: *mut f32,
    ) -> Result<(), SubspaceError> {
        self.geam(bsys::cublasOperation_t::CUBLAS_OP_N, x, ldx, r, c, out)
    }

    /// C (r×c, leading dimension r) ← op(X) with `ldx` X's leading dimension.
    fn geam(
        &self,
        op: bsys::cublasOperation_t,
        x: *const f32,
        ldx: usize,
        r: usize,
        c: usize,
        out: *mut f32,
    ) -> Result<(), SubspaceError> {
        let (alpha, beta) = (1.0f32, 0.0f32);
        // SAFETY: device buffers of the stated shapes on this stream; B is
        // not read when beta = 0.
        unsafe {
            blas(
                "cublasSgeam",
                bsys::cublasSgeam(
                    *self.blas.handle(),
                    op,
                    bsys::cublasOperation_t::CUBLAS_OP_N,
                    int(r),
                    int(c),
                    &alpha,
                    x,
                    int(ldx),
                    &beta,
                    out,
                    int(r),
                    out,
                    int(r),
                ),
            )
        }
    }

    /// ‖x‖₂ of `len` contiguous floats (synchronizes: the result is a host
    /// scalar).
    pub(crate) fn nrm2(&self, x: *const f32, len: usize) -> Result<f32, SubspaceError> {
        let mut out = 0f32;
        // SAFETY: `x` holds `len` floats on this stream; host pointer mode
        // makes the call wait for the result.
        unsafe {
            blas(
                "cublasSnrm2",
                bsys::cublasSnrm2_v2(*self.blas.handle(), int(len), x, 1, &mut out),
            )?
        };
        Ok(out)
    }
}
