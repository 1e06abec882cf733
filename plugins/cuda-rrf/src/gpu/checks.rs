//! Device-side checks and the SGEMM rate, for the benchmark.

use cudarc::cublas::sys as bsys;
use cudarc::driver::sys as dsys;
use faer::MatRef;
use subspace::SubspaceError;

use super::Workspace;
use super::buffers::Stored;
use super::status::{blas, driver, int};
use crate::params::GemmPrecision;

impl Workspace {
    /// ‖A − QQᵀA‖_F in f32 on the device for A on the device (`a`, m×n) and
    /// a host basis `q` (m×k). Uses buffers `u`, `v` and `at`.
    pub fn residual_fro(
        &mut self,
        a: Stored,
        (m, n): (usize, usize),
        q: MatRef<'_, f32>,
    ) -> Result<f64, SubspaceError> {
        let k = q.ncols();
        let qp = Self::upload_into(&self.stream, &mut self.bufs.u, q)?;
        let qta = self.bufs.v.ensure(&self.stream, k * n)?; // (k, n)
        let r = self.bufs.at.ensure(&self.stream, m * n)?; // (m, n)
        // QᵀA = (AᵀQ)ᵀ: compute AᵀQ (n×k) then transpose through geam.
        let atq = self.bufs.small.ensure(&self.stream, n * k)?; // (n, k)
        self.gemm_a(GemmPrecision::F32, a, (m, n), true, qp, atq, k)?;
        self.transpose(atq, n, k, n, qta)?;
        // R = A (copied as column-major) − Q·QᵀA.
        let (op, lda) = a.op(false);
        let (one, zero) = (1.0f32, 0.0f32);
        unsafe {
            blas(
                "cublasSgeam",
                bsys::cublasSgeam(
                    *self.blas.handle(),
                    op,
                    bsys::cublasOperation_t::CUBLAS_OP_N,
                    int(m),
                    int(n),
                    &one,
                    a.ptr,
                    int(lda),
                    &zero,
                    r,
                    int(m),
                    r,
                    int(m),
                ),
            )?;
        }
        let (alpha, beta) = (-1.0f32, 1.0f32);
        let nop = bsys::cublasOperation_t::CUBLAS_OP_N;
        unsafe {
            blas(
                "cublasSgemm",
                bsys::cublasSgemm_v2(
                    *self.blas.handle(),
                    nop,
                    nop,
                    int(m),
                    int(n),
                    int(k),
                    &alpha,
                    qp,
                    int(m),
                    qta,
                    int(k),
                    &beta,
                    r,
                    int(m),
                ),
            )?;
        }
        let out = self.nrm2(r, m * n)? as f64;
        self.sync()?;
        Ok(out)
    }

    /// The sustained rate of an s×s×s GEMM in `precision` (GFLOP/s), timed
    /// with CUDA events over `reps` calls after one warm-up.
    pub fn gemm_rate(
        &mut self,
        precision: GemmPrecision,
        s: usize,
        reps: usize,
    ) -> Result<f64, SubspaceError> {
        let x = self.bufs.a.ensure(&self.stream, s * s)?;
        let y = self.bufs.at.ensure(&self.stream, s * s)?;
        let z = self.bufs.y.ensure(&self.stream, s * s)?;
        self.gaussian(x, s * s, 1)?;
        self.gaussian(y, s * s, 2)?;
        let nop = bsys::cublasOperation_t::CUBLAS_OP_N;
        self.gemm(precision, (nop, x, s), (nop, y, s), z, s, (s, s, s))?;
        let flags = Some(dsys::CUevent_flags::CU_EVENT_DEFAULT);
        let start = driver("cuEventCreate", self.ctx.new_event(flags))?;
        let end = driver("cuEventCreate", self.ctx.new_event(flags))?;
        driver("cuEventRecord", start.record(&self.stream))?;
        for _ in 0..reps {
            self.gemm(precision, (nop, x, s), (nop, y, s), z, s, (s, s, s))?;
        }
        driver("cuEventRecord", end.record(&self.stream))?;
        let ms = driver("cuEventElapsedTime", start.elapsed_ms(&end))? as f64;
        Ok(2.0 * (s as f64).powi(3) * reps as f64 / (ms * 1e-3) / 1e9)
    }
}
