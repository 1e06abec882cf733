//! One CUDA stream with its library handles and buffers ([`Workspace`]):
//! creation, the bytes it holds, synchronization and the optional stage
//! profile. The calls themselves are in the sibling files (transfers,
//! cuRAND, cuBLAS, cuSOLVER, checks).

use cudarc::cublas::CudaBlas;
use cudarc::curand::sys as rsys;
use cudarc::cusolver::{DnHandle, sys as ssys};
use cudarc::driver::{CudaContext, CudaEvent, CudaStream, sys as dsys};
use std::sync::Arc;
use subspace::SubspaceError;

use super::buffers::{Buf, Bufs};
use super::random::Philox;
use super::solver::GesvdjInfo;
use super::status::{driver, rand, solver};

/// One CUDA stream with its cuBLAS, cuSOLVER and cuRAND handles and the
/// device buffers of one call, kept between calls.
pub struct Workspace {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub(super) blas: CudaBlas,
    pub(super) dn: DnHandle,
    pub(super) rng: Philox,
    pub(super) gesvdj: GesvdjInfo,
    pub(crate) bufs: Bufs,
    pub(super) ident_len: usize,
    /// The kernel of each devInfo slot written since the last check.
    pub(super) infos: Vec<&'static str>,
    /// Optional stage timing: (stage, start, end) events.
    pub(super) profile: Option<Vec<(Stage, CudaEvent, CudaEvent)>>,
}

/// Stages of a range finder, for the optional profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Host→device copy of A (and of a warm start).
    Upload,
    /// Gaussian Ω from cuRAND.
    Sketch,
    /// Products with A or Aᵀ (the GEMM phase).
    Gemm,
    /// Orthonormalization (QR or CholeskyQR2).
    Orth,
    /// The small SVD (QR of Bᵀ, triangular copy, SVD of R, Q·V).
    SmallSvd,
    /// Device→host copy of Q.
    Download,
}

impl Workspace {
    /// A workspace on a new stream of `ctx`.
    pub fn new(ctx: &Arc<CudaContext>) -> Result<Self, SubspaceError> {
        driver("cuCtxSetCurrent", ctx.bind_to_thread())?;
        let stream = driver("cuStreamCreate", ctx.new_stream())?;
        let blas = CudaBlas::new(stream.clone()).map_err(|e| SubspaceError::Kernel {
            kernel: "cublasCreate",
            reason: e.to_string(),
        })?;
        let dn = DnHandle::new(stream.clone()).map_err(|e| SubspaceError::Kernel {
            kernel: "cusolverDnCreate",
            reason: e.to_string(),
        })?;
        let mut generator: rsys::curandGenerator_t = std::ptr::null_mut();
        // SAFETY: plain handle creation; the stream outlives the generator
        // (both are owned by this workspace, the generator dropped first).
        unsafe {
            rand(
                "curandCreateGenerator",
                rsys::curandCreateGenerator(
                    &mut generator,
                    rsys::curandRngType_t::CURAND_RNG_PSEUDO_PHILOX4_32_10,
                ),
            )?;
        }
        let rng = Philox(generator);
        unsafe {
            rand(
                "curandSetStream",
                rsys::curandSetStream(rng.0, stream.cu_stream() as _),
            )?
        };
        let mut info: ssys::gesvdjInfo_t = std::ptr::null_mut();
        unsafe {
            solver(
                "cusolverDnCreateGesvdjInfo",
                ssys::cusolverDnCreateGesvdjInfo(&mut info),
            )?
        };
        let gesvdj = GesvdjInfo(info);
        unsafe {
            solver(
                "cusolverDnXgesvdjSetMaxSweeps",
                ssys::cusolverDnXgesvdjSetMaxSweeps(gesvdj.0, 100),
            )?;
        }
        let bufs = Bufs {
            a: Buf::empty(),
            at: Buf::empty(),
            omega: Buf::empty(),
            y: Buf::empty(),
            small: Buf::empty(),
            u: Buf::empty(),
            v: Buf::empty(),
            s: Buf::empty(),
            tau: Buf::empty(),
            out: Buf::empty(),
            ident: Buf::empty(),
            work: Buf::empty(),
            info: Buf::empty(),
            x64: Buf::empty(),
            s64: Buf::empty(),
            u64: Buf::empty(),
            v64: Buf::empty(),
            work64: Buf::empty(),
        };
        Ok(Self {
            ctx: ctx.clone(),
            stream,
            blas,
            dn,
            rng,
            gesvdj,
            bufs,
            ident_len: 0,
            infos: Vec::new(),
            profile: None,
        })
    }

    /// Device bytes held by this workspace's buffers.
    pub fn bytes(&self) -> usize {
        let b = &self.bufs;
        [
            &b.a, &b.at, &b.omega, &b.y, &b.small, &b.u, &b.v, &b.s, &b.tau, &b.out, &b.ident,
            &b.work,
        ]
        .iter()
        .map(|x| x.bytes())
        .sum::<usize>()
            + [&b.x64, &b.s64, &b.u64, &b.v64, &b.work64]
                .iter()
                .map(|x| x.bytes())
                .sum::<usize>()
            + b.info.bytes()
    }

    /// Makes this thread's current context the workspace's.
    pub fn bind(&self) -> Result<(), SubspaceError> {
        driver("cuCtxSetCurrent", self.ctx.bind_to_thread())
    }

    /// Waits for the stream.
    pub fn sync(&self) -> Result<(), SubspaceError> {
        driver("cuStreamSynchronize", self.stream.synchronize())
    }

    /// Starts (or stops, with `false`) recording stage times.
    pub fn set_profile(&mut self, on: bool) {
        self.profile = on.then(Vec::new);
    }

    /// Runs `f` as stage `stage`, recording events around it when profiling.
    pub(crate) fn stage<T>(
        &mut self,
        stage: Stage,
        f: impl FnOnce(&mut Self) -> Result<T, SubspaceError>,
    ) -> Result<T, SubspaceError> {
        if self.profile.is_none() {
            return f(self);
        }
        let flags = Some(dsys::CUevent_flags::CU_EVENT_DEFAULT);
        let start = driver("cuEventCreate", self.ctx.new_event(flags))?;
        let end = driver("cuEventCreate", self.ctx.new_event(flags))?;
        driver("cuEventRecord", start.record(&self.stream))?;
        let out = f(self)?;
        driver("cuEventRecord", end.record(&self.stream))?;
        if let Some(p) = self.profile.as_mut() {
            p.push((stage, start, end));
        }
        Ok(out)
    }

    /// Milliseconds per stage since profiling started (synchronizes), and
    /// clears the record.
    pub fn take_profile(&mut self) -> Result<Vec<(Stage, f64)>, SubspaceError> {
        let Some(events) = self.profile.as_mut() else {
            return Ok(Vec::new());
        };
        let mut totals: Vec<(Stage, f64)> = Vec::new();
        for (stage, start, end) in events.drain(..) {
            let ms = driver("cuEventElapsedTime", start.elapsed_ms(&end))? as f64;
            match totals.iter_mut().find(|(s, _)| *s == stage) {
                Some((_, t)) => *t += ms,
                None => totals.push((stage, ms)),
            }
        }
        Ok(totals)
    }
}
