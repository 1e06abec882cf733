//! cuSOLVER calls of a [`Workspace`]: Householder QR, CholeskyQR2, the thin
//! SVD in f32 or f64 (gesvd or gesvdj), and the devInfo slots that report
//! their failures.

use cudarc::cusolver::sys as ssys;
use cudarc::driver::DeviceRepr;
use subspace::SubspaceError;

use super::Workspace;
use super::buffers::{Buf, Bufs};
use super::status::{driver, int, solver};

/// Jacobi-SVD settings object of cuSOLVER.
pub(super) struct GesvdjInfo(pub(super) ssys::gesvdjInfo_t);

// SAFETY: as for `Philox`.
unsafe impl Send for GesvdjInfo {}

impl Drop for GesvdjInfo {
    fn drop(&mut self) {
        // SAFETY: created by cusolverDnCreateGesvdjInfo, destroyed once.
        let _ = unsafe { ssys::cusolverDnDestroyGesvdjInfo(self.0) };
    }
}

impl Workspace {
    /// A fresh slot for the devInfo of `kernel`, read back by
    /// [`Self::check_infos`]; returns its pointer and index.
    fn info_slot(&mut self, kernel: &'static str) -> Result<(*mut i32, usize), SubspaceError> {
        if self.bufs.info.bytes() < INFO_SLOTS * 4 {
            self.bufs.info.ensure(&self.stream, INFO_SLOTS)?;
            let slice = self.bufs.info.slice.as_mut().expect("ensured");
            driver("cuMemsetD8", self.stream.memset_zeros(slice))?;
        }
        if self.infos.len() == INFO_SLOTS {
            // Full: read what is there before reusing the slots.
            if let Some((kernel, v)) = self.check_infos()? {
                return Err(SubspaceError::Kernel {
                    kernel,
                    reason: format!("devInfo = {v}"),
                });
            }
        }
        let slot = self.infos.len();
        self.infos.push(kernel);
        // SAFETY: `slot` < INFO_SLOTS, inside the buffer.
        Ok((unsafe { self.bufs.info.ptr(&self.stream).add(slot) }, slot))
    }

    /// Reads every devInfo written since the last check (synchronizes),
    /// zeroes them, and returns the first non-zero one with its kernel.
    pub(crate) fn check_infos(&mut self) -> Result<Option<(&'static str, i32)>, SubspaceError> {
        let used = std::mem::take(&mut self.infos);
        if used.is_empty() {
            return Ok(None);
        }
        let mut host = vec![0i32; used.len()];
        let slice = self.bufs.info.slice.as_mut().expect("info written");
        driver(
            "cuMemcpyDtoH",
            self.stream
                .memcpy_dtoh(&slice.slice(0..used.len()), &mut host[..]),
        )?;
        driver("cuMemsetD8", self.stream.memset_zeros(slice))?;
        self.sync()?;
        Ok(host
            .iter()
            .zip(&used)
            .find(|&(&v, _)| v != 0)
            .map(|(&v, &k)| (k, v)))
    }

    /// Makes room for `lwork` floats of solver scratch.
    fn work(&mut self, lwork: i32) -> Result<*mut f32, SubspaceError> {
        self.bufs.work.ensure(&self.stream, lwork.max(1) as usize)
    }

    /// In place: X (r×c, r ≥ c, leading dimension r) ← its thin Q
    /// (Householder QR: geqrf + orgqr). Returns the devInfo slots used.
    pub(crate) fn qr_in_place(
        &mut self,
        x: *mut f32,
        r: usize,
        c: usize,
    ) -> Result<(), SubspaceError> {
        let tau = self.bufs.tau.ensure(&self.stream, c)?;
        let h = self.dn.cu();
        let (mut l1, mut l2) = (0i32, 0i32);
        // SAFETY: buffer-size queries read no device memory.
        unsafe {
            solver(
                "cusolverDnSgeqrf_bufferSize",
                ssys::cusolverDnSgeqrf_bufferSize(h, int(r), int(c), x, int(r), &mut l1),
            )?;
            solver(
                "cusolverDnSorgqr_bufferSize",
                ssys::cusolverDnSorgqr_bufferSize(
                    h,
                    int(r),
                    int(c),
                    int(c),
                    x,
                    int(r),
                    tau,
                    &mut l2,
                ),
            )?;
        }
        let lwork = l1.max(l2);
        let work = self.work(lwork)?;
        let (i1, _) = self.info_slot("cusolverDnSgeqrf")?;
        let (i2, _) = self.info_slot("cusolverDnSorgqr")?;
        // SAFETY: device buffers of the stated shapes on this stream.
        unsafe {
            solver(
                "cusolverDnSgeqrf",
                ssys::cusolverDnSgeqrf(h, int(r), int(c), x, int(r), tau, work, lwork, i1),
            )?;
            solver(
                "cusolverDnSorgqr",
                ssys::cusolverDnSorgqr(h, int(r), int(c), int(c), x, int(r), tau, work, lwork, i2),
            )?;
        }
        Ok(())
    }

    /// Householder QR of X (r×c) keeping R in its upper triangle (geqrf).
    pub(crate) fn geqrf(&mut self, x: *mut f32, r: usize, c: usize) -> Result<(), SubspaceError> {
        let tau = self.bufs.tau.ensure(&self.stream, c)?;
        let h = self.dn.cu();
        let mut lwork = 0i32;
        // SAFETY: as in `qr_in_place`.
        unsafe {
            solver(
                "cusolverDnSgeqrf_bufferSize",
                ssys::cusolverDnSgeqrf_bufferSize(h, int(r), int(c), x, int(r), &mut lwork),
            )?;
        }
        let work = self.work(lwork)?;
        let (info, _) = self.info_slot("cusolverDnSgeqrf")?;
        unsafe {
            solver(
                "cusolverDnSgeqrf",
                ssys::cusolverDnSgeqrf(h, int(r), int(c), x, int(r), tau, work, lwork, info),
            )
        }
    }

    /// In place: X (r×c) ← an orthonormal basis of its range by
    /// CholeskyQR2. Returns false (X unchanged after the failing pass's
    /// Gram matrix) when a Cholesky factorization fails; the caller then
    /// falls back to Householder QR. Synchronizes to read the status.
    pub(crate) fn cholqr2_in_place(
        &mut self,
        x: *mut f32,
        r: usize,
        c: usize,
    ) -> Result<bool, SubspaceError> {
        let g = self.bufs.small.ensure(&self.stream, c * c)?;
        let h = self.dn.cu();
        let upper = ssys::cublasFillMode_t::CUBLAS_FILL_MODE_UPPER;
        let mut lwork = 0i32;
        // SAFETY: buffer-size query.
        unsafe {
            solver(
                "cusolverDnSpotrf_bufferSize",
                ssys::cusolverDnSpotrf_bufferSize(h, upper, int(c), g, int(c), &mut lwork),
            )?
        };
        let work = self.work(lwork)?;
        let (slot, index) = self.info_slot("cusolverDnSpotrf")?;
        for _pass in 0..2 {
            self.syrk(x, r, c, g)?;
            // SAFETY: device buffers of the stated shapes on this stream.
            unsafe {
                solver(
                    "cusolverDnSpotrf",
                    ssys::cusolverDnSpotrf(h, upper, int(c), g, int(c), work, lwork, slot),
                )?
            };
            let mut status = [0i32];
            let view = self.bufs.info.slice.as_ref().expect("info slot allocated");
            driver(
                "cuMemcpyDtoH",
                self.stream
                    .memcpy_dtoh(&view.slice(index..index + 1), &mut status[..]),
            )?;
            self.sync()?;
            if status[0] != 0 {
                // Clear the slot: the fallback is not an error.
                let zero = [0i32];
                let slice = self.bufs.info.slice.as_mut().expect("info slot allocated");
                driver(
                    "cuMemcpyHtoD",
                    self.stream
                        .memcpy_htod(&zero[..], &mut slice.slice_mut(index..index + 1)),
                )?;
                return Ok(false);
            }
            self.trsm_right_upper(g, x, r, c)?;
        }
        Ok(true)
    }

    /// The thin SVD of the tall r×c matrix at `x` (r ≥ c, destroyed), in
    /// f32: writes U (r×c) to `u` when `left`, else V (c×c, not transposed)
    /// to `v` (`u` is then scratch). `jacobi` picks gesvdj over gesvd.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn thin_svd(
        &mut self,
        jacobi: bool,
        left: bool,
        x: *mut f32,
        r: usize,
        c: usize,
        s: *mut f32,
        u: *mut f32,
        v: *mut f32,
    ) -> Result<(), SubspaceError> {
        // gesvd writes Vᵀ: into `u` (scratch when !left), then transposed into `v`.
        let right = if !jacobi && !left { u } else { v };
        if self.svd::<f32>(jacobi, left, x, r, c, s, u, right)? {
            self.transpose(u, c, c, c, v)?;
        }
        Ok(())
    }

    /// The thin SVD of the tall r×c matrix at `x` (r ≥ c, leading dimension
    /// r, destroyed) in `T`'s precision, singular values to `s`:
    /// - gesvdj (`jacobi`): U (r×c) to `u` and V (c×c) to `v`, both always;
    /// - gesvd: U (r×c) to `u` when `left`, else Vᵀ (c×c) to `v`.
    ///
    /// Returns whether `v` holds Vᵀ rather than V. The devInfo goes to a
    /// slot read by [`Self::check_infos`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn svd<T: SolverReal>(
        &mut self,
        jacobi: bool,
        left: bool,
        x: *mut T,
        r: usize,
        c: usize,
        s: *mut T,
        u: *mut T,
        v: *mut T,
    ) -> Result<bool, SubspaceError> {
        let h = self.dn.cu();
        let (ri, ci) = (int(r), int(c));
        let mut lwork = 0i32;
        if jacobi {
            let mode = ssys::cusolverEigMode_t::CUSOLVER_EIG_MODE_VECTOR;
            let (size_name, size) = T::GESVDJ_BUFFER_SIZE;
            // SAFETY: device buffers of the stated shapes on this stream;
            // the size query reads none of them.
            unsafe {
                solver(
                    size_name,
                    size(
                        h,
                        mode,
                        1,
                        ri,
                        ci,
                        x,
                        ri,
                        s,
                        u,
                        ri,
                        v,
                        ci,
                        &mut lwork,
                        self.gesvdj.0,
                    ),
                )?;
            }
            let work = T::scratch(&mut self.bufs).ensure(&self.stream, lwork.max(1) as usize)?;
            let (name, gesvdj) = T::GESVDJ;
            let (info, _) = self.info_slot(name)?;
            unsafe {
                solver(
                    name,
                    gesvdj(
                        h,
                        mode,
                        1,
                        ri,
                        ci,
                        x,
                        ri,
                        s,
                        u,
                        ri,
                        v,
                        ci,
                        work,
                        lwork,
                        info,
                        self.gesvdj.0,
                    ),
                )?;
            }
            Ok(false)
        } else {
            let (size_name, size) = T::GESVD_BUFFER_SIZE;
            unsafe { solver(size_name, size(h, ri, ci, &mut lwork))? };
            let work = T::scratch(&mut self.bufs).ensure(&self.stream, lwork.max(1) as usize)?;
            let (name, gesvd) = T::GESVD;
            let (info, _) = self.info_slot(name)?;
            let (jobu, jobvt) = if left { (b'S', b'N') } else { (b'N', b'S') };
            let none = std::ptr::null_mut();
            let (u_dst, vt_dst) = if left { (u, none) } else { (none, v) };
            unsafe {
                solver(
                    name,
                    gesvd(
                        h, jobu as _, jobvt as _, ri, ci, x, ri, s, u_dst, ri, vt_dst, ci, work,
                        lwork, none, info,
                    ),
                )?;
            }
            Ok(!left)
        }
    }

    /// Reads the devInfo slots (synchronizes) and maps a non-zero one to an
    /// error: a gesvdj that ran out of sweeps is
    /// [`SubspaceError::NoConvergence`] with its sweeps and residual, any
    /// other a [`SubspaceError::Kernel`] naming the routine.
    pub(crate) fn finish_infos(&mut self) -> Result<(), SubspaceError> {
        match self.check_infos()? {
            None => Ok(()),
            Some((kernel, v)) if kernel.ends_with("gesvdj") && v > 0 => {
                let (sweeps, residual) = self.gesvdj_stats();
                Err(SubspaceError::NoConvergence {
                    iterations: sweeps.max(0) as usize,
                    residual,
                })
            }
            Some((kernel, v)) => Err(SubspaceError::Kernel {
                kernel,
                reason: format!("devInfo = {v}"),
            }),
        }
    }

    /// Executed sweeps and residual of the last gesvdj (host query).
    pub(crate) fn gesvdj_stats(&self) -> (i32, f64) {
        let (mut sweeps, mut residual) = (0i32, 0f64);
        // SAFETY: host-side queries on the settings object.
        unsafe {
            let _ = ssys::cusolverDnXgesvdjGetSweeps(self.dn.cu(), self.gesvdj.0, &mut sweeps);
            let _ = ssys::cusolverDnXgesvdjGetResidual(self.dn.cu(), self.gesvdj.0, &mut residual);
        }
        (sweeps, residual)
    }
}

type DnH = ssys::cusolverDnHandle_t;
type Status = ssys::cusolverStatus_t;
type GesvdBufferSize = unsafe fn(DnH, i32, i32, *mut i32) -> Status;
type Gesvd<T> = unsafe fn(
    DnH,
    std::ffi::c_schar,
    std::ffi::c_schar,
    i32,
    i32,
    *mut T,
    i32,
    *mut T,
    *mut T,
    i32,
    *mut T,
    i32,
    *mut T,
    i32,
    *mut T,
    *mut i32,
) -> Status;
type GesvdjBufferSize<T> = unsafe fn(
    DnH,
    ssys::cusolverEigMode_t,
    i32,
    i32,
    i32,
    *const T,
    i32,
    *const T,
    *const T,
    i32,
    *const T,
    i32,
    *mut i32,
    ssys::gesvdjInfo_t,
) -> Status;
type Gesvdj<T> = unsafe fn(
    DnH,
    ssys::cusolverEigMode_t,
    i32,
    i32,
    i32,
    *mut T,
    i32,
    *mut T,
    *mut T,
    i32,
    *mut T,
    i32,
    *mut T,
    i32,
    *mut i32,
    ssys::gesvdjInfo_t,
) -> Status;

/// cuSOLVER's SVD routines in one real precision (the S ones for f32, the
/// D ones for f64), each with its name for error messages, so that one
/// [`Workspace::svd`] serves both.
pub(crate) trait SolverReal: DeviceRepr + Sized {
    const GESVD_BUFFER_SIZE: (&'static str, GesvdBufferSize);
    const GESVD: (&'static str, Gesvd<Self>);
    const GESVDJ_BUFFER_SIZE: (&'static str, GesvdjBufferSize<Self>);
    const GESVDJ: (&'static str, Gesvdj<Self>);
    /// The workspace's solver scratch in this precision.
    fn scratch(bufs: &mut Bufs) -> &mut Buf<Self>;
}

macro_rules! solver_real {
    ($t:ty, $scratch:ident, $bs:ident, $gesvd:ident, $jbs:ident, $gesvdj:ident) => {
        impl SolverReal for $t {
            const GESVD_BUFFER_SIZE: (&'static str, GesvdBufferSize) = (stringify!($bs), ssys::$bs);
            const GESVD: (&'static str, Gesvd<Self>) = (stringify!($gesvd), ssys::$gesvd);
            const GESVDJ_BUFFER_SIZE: (&'static str, GesvdjBufferSize<Self>) =
                (stringify!($jbs), ssys::$jbs);
            const GESVDJ: (&'static str, Gesvdj<Self>) = (stringify!($gesvdj), ssys::$gesvdj);
            fn scratch(bufs: &mut Bufs) -> &mut Buf<Self> {
                &mut bufs.$scratch
            }
        }
    };
}

solver_real!(
    f32,
    work,
    cusolverDnSgesvd_bufferSize,
    cusolverDnSgesvd,
    cusolverDnSgesvdj_bufferSize,
    cusolverDnSgesvdj
);
solver_real!(
    f64,
    work64,
    cusolverDnDgesvd_bufferSize,
    cusolverDnDgesvd,
    cusolverDnDgesvdj_bufferSize,
    cusolverDnDgesvdj
);

const INFO_SLOTS: usize = 256;
