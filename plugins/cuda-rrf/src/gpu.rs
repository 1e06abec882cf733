//! The device layer: finding a usable GPU without panicking, per-stream
//! workspaces, and the cuBLAS / cuSOLVER / cuRAND calls the methods are
//! built from, each with its status checked and mapped to
//! [`SubspaceError::Kernel`].
//!
//! cudarc opens the CUDA libraries by name at run time and *panics* when one
//! is missing, so [`probe`] first asks each library module whether its
//! library loads (`is_culib_present`), then counts devices, and runs all of
//! it under `catch_unwind` as a second guard.
//!
//! Matrices on the device are column-major f32 with a leading dimension, as
//! cuBLAS expects. Letters used in shape comments: A is m×n, ℓ the sketch
//! width, k the rank.

use cudarc::cublas::{CudaBlas, sys as bsys};
use cudarc::curand::sys as rsys;
use cudarc::cusolver::{DnHandle, sys as ssys};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaSlice, CudaStream, DevicePtr, DeviceRepr, DriverError, sys as dsys,
};
use faer::MatRef;
use std::panic::catch_unwind;
use std::sync::{Arc, Mutex, OnceLock};
use subspace::SubspaceError;

use crate::params::GemmPrecision;

/// Why no GPU can be used here, or the context of device `ordinal`.
///
/// Never panics: a missing library or driver is an `Err` with the reason.
pub fn probe(ordinal: usize) -> Result<Arc<CudaContext>, String> {
    // SAFETY: `is_culib_present` only tries to dlopen the library by name.
    let present = |name: &str, found: bool| {
        if found {
            Ok(())
        } else {
            Err(format!("{name} not found (is LD_LIBRARY_PATH set?)"))
        }
    };
    if !unsafe { dsys::is_culib_present() } {
        return Err("no CUDA driver library (libcuda.so) found".into());
    }
    present("libcublas", unsafe { bsys::is_culib_present() })?;
    present(
        "libcusolver (or one of its dependencies libcublasLt, libcusparse, libnvJitLink)",
        unsafe { ssys::is_culib_present() },
    )?;
    present("libcurand", unsafe { rsys::is_culib_present() })?;
    let guarded = catch_unwind(|| -> Result<Arc<CudaContext>, String> {
        let count = CudaContext::device_count().map_err(|e| format!("no CUDA device ({e})"))?;
        if count <= 0 {
            return Err("no CUDA device".into());
        }
        if ordinal >= count as usize {
            return Err(format!("no CUDA device {ordinal} (found {count})"));
        }
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| format!("CUDA context on device {ordinal}: {e}"))?;
        // SAFETY: every buffer of this context is used on the one stream it
        // was allocated on (one workspace per stream), and each call
        // synchronizes its stream before returning.
        unsafe { ctx.disable_event_tracking() };
        Ok(ctx)
    });
    match guarded {
        Ok(result) => result,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("CUDA initialization panicked: {msg}"))
        }
    }
}

/// A plugin's GPU, opened on its first use; remembers why it could not be.
#[derive(Default)]
pub struct LazyGpu(OnceLock<Result<Gpu, String>>);

impl LazyGpu {
    /// The GPU `ordinal` (opened by the first call), or why it is unusable.
    pub fn get(&self, ordinal: usize) -> Result<&Gpu, String> {
        self.0
            .get_or_init(|| Gpu::new(ordinal))
            .as_ref()
            .map_err(|e| e.clone())
    }

    /// [`Gpu::held_bytes`], or `None` while the GPU is unopened or unusable.
    pub fn held_bytes(&self) -> Option<usize> {
        match self.0.get() {
            Some(Ok(gpu)) => Some(gpu.held_bytes()),
            _ => None,
        }
    }
}

/// A device context plus a pool of per-stream workspaces, shared by the
/// calls of one plugin instance.
pub struct Gpu {
    pub ctx: Arc<CudaContext>,
    pool: Mutex<Vec<Workspace>>,
}

impl Gpu {
    /// The GPU `ordinal`, or why it cannot be used.
    pub fn new(ordinal: usize) -> Result<Self, String> {
        Ok(Self {
            ctx: probe(ordinal)?,
            pool: Mutex::new(Vec::new()),
        })
    }

    /// Takes a workspace from the pool, or makes one with its own stream.
    pub fn take(&self) -> Result<Workspace, SubspaceError> {
        let reused = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match reused {
            Some(ws) => Ok(ws),
            None => Workspace::new(&self.ctx),
        }
    }

    /// Returns a workspace to the pool (its buffers are kept for reuse).
    pub fn give(&self, ws: Workspace) {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(ws);
    }

    /// Device bytes held by the pooled workspaces' buffers, counted at
    /// allocation. Buffers only grow, so after a set of calls this is their
    /// peak; a workspace taken out by a call in flight is not counted.
    pub fn held_bytes(&self) -> usize {
        let pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        pool.iter().map(Workspace::bytes).sum()
    }
}

pub(crate) fn driver<T>(
    kernel: &'static str,
    r: Result<T, DriverError>,
) -> Result<T, SubspaceError> {
    r.map_err(|e| SubspaceError::Kernel {
        kernel,
        reason: e.to_string(),
    })
}

fn blas(kernel: &'static str, s: bsys::cublasStatus_t) -> Result<(), SubspaceError> {
    s.result().map_err(|e| SubspaceError::Kernel {
        kernel,
        reason: e.to_string(),
    })
}

fn solver(kernel: &'static str, s: ssys::cusolverStatus_t) -> Result<(), SubspaceError> {
    s.result().map_err(|e| SubspaceError::Kernel {
        kernel,
        reason: e.to_string(),
    })
}

fn rand(kernel: &'static str, s: rsys::curandStatus_t) -> Result<(), SubspaceError> {
    s.result().map_err(|e| SubspaceError::Kernel {
        kernel,
        reason: e.to_string(),
    })
}

fn int(x: usize) -> i32 {
    i32::try_from(x).expect("matrix dimension exceeds the 32-bit cuBLAS/cuSOLVER interface")
}

/// A growable device buffer: reallocated only when a call needs more.
pub struct Buf<T> {
    slice: Option<CudaSlice<T>>,
}

impl<T: DeviceRepr> Buf<T> {
    pub(crate) fn empty() -> Self {
        Self { slice: None }
    }

    /// Makes room for `len` elements and returns the device pointer.
    pub(crate) fn ensure(
        &mut self,
        stream: &Arc<CudaStream>,
        len: usize,
    ) -> Result<*mut T, SubspaceError> {
        let len = len.max(1);
        if self.slice.as_ref().is_none_or(|s| s.len() < len) {
            self.slice = None;
            // SAFETY: every reader of the buffer writes it first.
            self.slice = Some(driver("cuMemAlloc", unsafe { stream.alloc::<T>(len) })?);
        }
        Ok(self.ptr(stream))
    }

    fn ptr(&self, stream: &CudaStream) -> *mut T {
        let slice = self.slice.as_ref().expect("buffer used before `ensure`");
        let (p, _no_tracking) = slice.device_ptr(stream);
        p as *mut T
    }

    /// Bytes held on the device.
    pub fn bytes(&self) -> usize {
        self.slice.as_ref().map_or(0, |s| s.num_bytes())
    }
}

/// Where A lies on the device: column-major `rows × cols` with leading
/// dimension `rows`, holding A itself or Aᵀ.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    pub ptr: *const f32,
    /// Whether the buffer holds Aᵀ (n×m) rather than A (m×n).
    pub transposed: bool,
    /// Leading dimension of the stored matrix.
    pub ld: usize,
}

// SAFETY: a device address; the owner of the buffer keeps it alive and
// orders its uses across streams.
unsafe impl Send for Stored {}
unsafe impl Sync for Stored {}

/// A matrix kept on the device across calls (e.g. a gradient that lives
/// there), read by [`crate::CudaRrf::basis_on_device`].
pub struct DeviceMat {
    _buf: CudaSlice<f32>,
    pub stored: Stored,
    pub shape: (usize, usize),
}

impl Stored {
    /// The cuBLAS op and leading dimension that read A (`t = false`) or Aᵀ.
    fn op(&self, t: bool) -> (bsys::cublasOperation_t, usize) {
        let op = if t != self.transposed {
            bsys::cublasOperation_t::CUBLAS_OP_T
        } else {
            bsys::cublasOperation_t::CUBLAS_OP_N
        };
        (op, self.ld)
    }
}

/// A's entries in an order cuBLAS can read without a host-side copy when
/// possible: column-major (A) or row-major (the column-major Aᵀ, what a
/// transposed faer view holds).
fn host_layout(a: MatRef<'_, f32>) -> (std::borrow::Cow<'_, [f32]>, bool) {
    let (m, n) = a.shape();
    let (rs, cs) = (a.row_stride(), a.col_stride());
    let contiguous = |inner: isize, outer: isize, inner_len: usize, outer_len: usize| {
        inner == 1 && (outer_len == 1 || outer == inner_len as isize)
    };
    if contiguous(rs, cs, m, n) {
        // SAFETY: the m·n entries are contiguous, column by column.
        return (
            std::borrow::Cow::Borrowed(unsafe { std::slice::from_raw_parts(a.as_ptr(), m * n) }),
            false,
        );
    }
    if contiguous(cs, rs, n, m) {
        // SAFETY: the m·n entries are contiguous, row by row.
        return (
            std::borrow::Cow::Borrowed(unsafe { std::slice::from_raw_parts(a.as_ptr(), m * n) }),
            true,
        );
    }
    let mut v = Vec::with_capacity(m * n);
    for j in 0..n {
        for i in 0..m {
            v.push(a[(i, j)]);
        }
    }
    (std::borrow::Cow::Owned(v), false)
}

/// Philox4x32-10 generator of cuRAND, reseeded for every draw.
struct Philox(rsys::curandGenerator_t);

// SAFETY: a workspace (and its generator) is used by one thread at a time.
unsafe impl Send for Philox {}

impl Drop for Philox {
    fn drop(&mut self) {
        // SAFETY: created by curandCreateGenerator, destroyed once.
        let _ = unsafe { rsys::curandDestroyGenerator(self.0) };
    }
}

/// Jacobi-SVD settings object of cuSOLVER.
struct GesvdjInfo(ssys::gesvdjInfo_t);

// SAFETY: as for `Philox`.
unsafe impl Send for GesvdjInfo {}

impl Drop for GesvdjInfo {
    fn drop(&mut self) {
        // SAFETY: created by cusolverDnCreateGesvdjInfo, destroyed once.
        let _ = unsafe { ssys::cusolverDnDestroyGesvdjInfo(self.0) };
    }
}

/// Named device buffers of a workspace.
pub(crate) struct Bufs {
    pub a: Buf<f32>,
    pub at: Buf<f32>,
    pub omega: Buf<f32>,
    pub y: Buf<f32>,
    pub small: Buf<f32>,
    pub u: Buf<f32>,
    pub v: Buf<f32>,
    pub s: Buf<f32>,
    pub tau: Buf<f32>,
    pub out: Buf<f32>,
    pub ident: Buf<f32>,
    pub work: Buf<f32>,
    pub info: Buf<i32>,
    /// The f64 path of `cuda-svd`: X, σ, U, V (or Vᵀ) and solver scratch.
    pub x64: Buf<f64>,
    pub s64: Buf<f64>,
    pub u64: Buf<f64>,
    pub v64: Buf<f64>,
    pub work64: Buf<f64>,
}

/// One CUDA stream with its cuBLAS, cuSOLVER and cuRAND handles and the
/// device buffers of one call, kept between calls.
pub struct Workspace {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    blas: CudaBlas,
    dn: DnHandle,
    rng: Philox,
    gesvdj: GesvdjInfo,
    pub(crate) bufs: Bufs,
    ident_len: usize,
    /// The kernel of each devInfo slot written since the last check.
    infos: Vec<&'static str>,
    /// Optional stage timing: (stage, start, end) events.
    profile: Option<Vec<(Stage, CudaEvent, CudaEvent)>>,
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

    // ----- transfers -------------------------------------------------------

    /// Copies A to the device (buffer `a`), without a host-side copy when A
    /// is column-major or a transposed (row-major) view.
    pub fn upload_a(&mut self, a: MatRef<'_, f32>) -> Result<Stored, SubspaceError> {
        let (m, n) = a.shape();
        let (data, transposed) = host_layout(a);
        self.bufs.a.ensure(&self.stream, m * n)?;
        let slice = self.bufs.a.slice.as_mut().expect("ensured");
        let mut dst = slice.slice_mut(0..m * n);
        driver("cuMemcpyHtoD", self.stream.memcpy_htod(&data[..], &mut dst))?;
        let ld = if transposed { n } else { m };
        Ok(Stored {
            ptr: self.bufs.a.ptr(&self.stream),
            transposed,
            ld,
        })
    }

    /// Copies A into a new device buffer of its own (allocated on this
    /// workspace's stream; synchronizes so any stream may read it).
    pub fn upload_resident(&mut self, a: MatRef<'_, f32>) -> Result<DeviceMat, SubspaceError> {
        let (m, n) = a.shape();
        let (data, transposed) = host_layout(a);
        let buf = driver("cuMemcpyHtoD", self.stream.clone_htod(&data[..]))?;
        self.sync()?;
        let p = {
            let (p, _no_tracking) = buf.device_ptr(&self.stream);
            p
        };
        let ld = if transposed { n } else { m };
        let stored = Stored {
            ptr: p as *const f32,
            transposed,
            ld,
        };
        Ok(DeviceMat {
            _buf: buf,
            stored,
            shape: (m, n),
        })
    }

    /// Copies a host matrix into buffer `buf` column-major (for warm
    /// starts and checks); returns its pointer.
    pub(crate) fn upload_into(
        stream: &Arc<CudaStream>,
        buf: &mut Buf<f32>,
        x: MatRef<'_, f32>,
    ) -> Result<*mut f32, SubspaceError> {
        let (m, n) = x.shape();
        let mut v = Vec::with_capacity(m * n);
        for j in 0..n {
            for i in 0..m {
                v.push(x[(i, j)]);
            }
        }
        Self::upload_slice(stream, buf, &v)
    }

    /// Copies `host` to the start of buffer `buf`; returns its pointer.
    pub(crate) fn upload_slice<T: DeviceRepr>(
        stream: &Arc<CudaStream>,
        buf: &mut Buf<T>,
        host: &[T],
    ) -> Result<*mut T, SubspaceError> {
        buf.ensure(stream, host.len())?;
        let slice = buf.slice.as_mut().expect("ensured");
        let mut dst = slice.slice_mut(0..host.len());
        driver("cuMemcpyHtoD", stream.memcpy_htod(host, &mut dst))?;
        Ok(buf.ptr(stream))
    }

    /// Copies the first `rows·cols` entries of `buf` (a column-major
    /// rows×cols matrix) to the host (synchronizes the stream).
    pub(crate) fn download(
        stream: &Arc<CudaStream>,
        buf: &Buf<f32>,
        rows: usize,
        cols: usize,
    ) -> Result<faer::Mat<f32>, SubspaceError> {
        let host = Self::download_slice(stream, buf, rows * cols)?;
        Ok(faer::Mat::from_fn(rows, cols, |i, j| host[j * rows + i]))
    }

    /// The first `len` entries of `buf` on the host (synchronizes the
    /// stream).
    pub(crate) fn download_slice<T: DeviceRepr + Default + Clone>(
        stream: &Arc<CudaStream>,
        buf: &Buf<T>,
        len: usize,
    ) -> Result<Vec<T>, SubspaceError> {
        let mut host = vec![T::default(); len];
        let slice = buf.slice.as_ref().expect("buffer written before download");
        driver(
            "cuMemcpyDtoH",
            stream.memcpy_dtoh(&slice.slice(0..len), &mut host[..]),
        )?;
        driver("cuStreamSynchronize", stream.synchronize())?;
        Ok(host)
    }

    /// Copies the basis of the last [`crate::CudaRrf::basis_on_device`]
    /// call (rows×cols) to the host.
    pub fn output(&mut self, rows: usize, cols: usize) -> Result<faer::Mat<f32>, SubspaceError> {
        self.download_out(rows, cols)
    }

    /// Copies the basis in buffer `out` (rows×cols) to the host.
    pub(crate) fn download_out(
        &mut self,
        rows: usize,
        cols: usize,
    ) -> Result<faer::Mat<f32>, SubspaceError> {
        Self::download(&self.stream, &self.bufs.out, rows, cols)
    }

    // ----- cuRAND ----------------------------------------------------------

    /// Fills `len` floats at `dst` with N(0, 1) from Philox seeded `seed`
    /// (offset 0). `len` is rounded up to even, as cuRAND requires; the
    /// buffer must hold the extra entry.
    pub(crate) fn gaussian(
        &mut self,
        dst: *mut f32,
        len: usize,
        seed: u64,
    ) -> Result<(), SubspaceError> {
        let len = len + len % 2;
        // SAFETY: `dst` holds `len` floats on this workspace's stream.
        unsafe {
            rand(
                "curandSetPseudoRandomGeneratorSeed",
                rsys::curandSetPseudoRandomGeneratorSeed(self.rng.0, seed),
            )?;
            rand(
                "curandSetGeneratorOffset",
                rsys::curandSetGeneratorOffset(self.rng.0, 0),
            )?;
            rand(
                "curandGenerateNormal",
                rsys::curandGenerateNormal(self.rng.0, dst, len, 0.0, 1.0),
            )
        }
    }

    // ----- cuBLAS ----------------------------------------------------------

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

    // ----- cuSOLVER --------------------------------------------------------

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

// ----- device-side checks and the SGEMM rate, for the benchmark -------------

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
