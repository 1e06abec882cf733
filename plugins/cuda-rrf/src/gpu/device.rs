//! Finding a usable GPU without panicking ([`probe`]), a plugin's lazily
//! opened device ([`LazyGpu`]) and its pool of per-stream workspaces
//! ([`Gpu`]).

use cudarc::cublas::sys as bsys;
use cudarc::curand::sys as rsys;
use cudarc::cusolver::sys as ssys;
use cudarc::driver::{CudaContext, sys as dsys};
use std::panic::catch_unwind;
use std::sync::{Arc, Mutex, OnceLock};
use subspace::SubspaceError;

use super::Workspace;

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
