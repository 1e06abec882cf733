//! Host↔device copies of a [`Workspace`]: A (without a host-side copy
//! when its layout allows), warm starts and checks, and the basis back.

use cudarc::driver::{CudaStream, DevicePtr, DeviceRepr};
use faer::MatRef;
use std::sync::Arc;
use subspace::SubspaceError;

use super::Workspace;
use super::buffers::{Buf, DeviceMat, Stored};
use super::status::driver;

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

impl Workspace {
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
}
