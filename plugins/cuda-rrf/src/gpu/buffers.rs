//! Device buffers: growable [`Buf`]s, the named buffers of a workspace,
//! and where A lies on the device ([`Stored`], [`DeviceMat`]).

use cudarc::cublas::sys as bsys;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DeviceRepr};
use std::sync::Arc;
use subspace::SubspaceError;

use super::status::driver;

/// A growable device buffer: reallocated only when a call needs more.
pub struct Buf<T> {
    pub(super) slice: Option<CudaSlice<T>>,
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

    pub(super) fn ptr(&self, stream: &CudaStream) -> *mut T {
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
    pub(super) _buf: CudaSlice<f32>,
    pub stored: Stored,
    pub shape: (usize, usize),
}

impl Stored {
    /// The cuBLAS op and leading dimension that read A (`t = false`) or Aᵀ.
    pub(super) fn op(&self, t: bool) -> (bsys::cublasOperation_t, usize) {
        let op = if t != self.transposed {
            bsys::cublasOperation_t::CUBLAS_OP_T
        } else {
            bsys::cublasOperation_t::CUBLAS_OP_N
        };
        (op, self.ld)
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
