//! `cuda-svd`: the full thin SVD on the GPU (cuSOLVER), the GPU's own exact
//! baseline for `cuda-rrf`.
//!
//! Contract: Q = U[:, :k] of A = UΣVᵀ, optimal up to roundoff
//! (Eckart–Young–Mirsky). cuSOLVER's gesvd wants a tall matrix, so the
//! method factors X = A when m ≥ n and X = Aᵀ otherwise, and reads A's left
//! vectors as X's left (m ≥ n) or right (m < n) ones.
//!
//! **Precision.** As the CPU `svd`, by default the SVD is computed in f64:
//! the host widens X to f64 while laying it out column-major, cuSOLVER's D
//! routines factor it, and U_k comes back and is rounded to f32. cuSOLVER's
//! f32 gesvd left ‖QᵀQ − I‖_F = 2.2e-3 on the conformance kit's
//! GaLore-shaped fast-decay case (1376×512), past the kit's 1.5e-3 for an
//! exact method, which a baseline cannot be. `precision = "f32"` keeps the
//! S routines (the timing peer of `torch.linalg.svd` on f32).
//!
//! Letters: A m×n, X r×c with r = max(m, n), c = min(m, n).

use crate::gpu::{Gpu, LazyGpu, Stage, Workspace};
use crate::params::{CudaSvdParams, SvdDriver, SvdPrecision};
use faer::{Mat, MatRef};
use subspace::kernels::flops;
use subspace::{Basis, Context, Device, Info, Plugin, SubspaceError, SubspaceMethod};

/// Where A's left singular vectors lie in a factor downloaded from the
/// f64 path, all column-major.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// U of X = A (m×c, leading dimension m): A is tall.
    U,
    /// V of X = Aᵀ (m×m), from gesvdj: A is wide.
    V,
    /// Vᵀ of X = Aᵀ (m×m), from gesvd: A is wide.
    Vt,
}

/// X (r×c, column-major) = A when m ≥ n, else Aᵀ, widened to f64: what the
/// f64 path uploads. Reads A through its strides, whatever its layout.
pub fn widened_tall(a: MatRef<'_, f32>) -> Vec<f64> {
    let (m, n) = a.shape();
    let mut x = Vec::with_capacity(m * n);
    if m >= n {
        for j in 0..n {
            x.extend(a.col(j).iter().map(|&v| v as f64));
        }
    } else {
        // Column i of Aᵀ is row i of A.
        for i in 0..m {
            x.extend(a.row(i).iter().map(|&v| v as f64));
        }
    }
    x
}

/// A's first k left singular vectors (m×k, rounded to f32) from the host
/// copy of `factor`: column j of U or V is entries j·m.., row j of Vᵀ is
/// entries j, j + m, ….
pub fn left_vectors(host: &[f64], m: usize, k: usize, factor: Factor) -> Mat<f32> {
    match factor {
        Factor::U | Factor::V => Mat::from_fn(m, k, |i, j| host[j * m + i] as f32),
        Factor::Vt => Mat::from_fn(m, k, |i, j| host[i * m + j] as f32),
    }
}

/// The CUDA full-SVD baseline.
pub struct CudaSvd {
    params: CudaSvdParams,
    gpu: LazyGpu,
}

impl std::fmt::Debug for CudaSvd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaSvd")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Plugin for CudaSvd {
    const NAME: &'static str = "cuda-svd";
    const SUMMARY: &'static str = "full thin SVD on an NVIDIA GPU (cuSOLVER gesvd or gesvdj, f64 or f32), first k left singular vectors";
    type Params = CudaSvdParams;

    fn new(params: CudaSvdParams) -> Result<Self, String> {
        Ok(Self {
            params,
            gpu: LazyGpu::default(),
        })
    }

    /// Both drivers in f64. Not `precision = "f32"`: cuSOLVER's f32 SVD
    /// leaves U orthonormal only to about 1e-3 (module doc), past the kit's
    /// tolerance.
    fn conformance_params() -> Vec<CudaSvdParams> {
        [SvdDriver::Gesvd, SvdDriver::Gesvdj]
            .map(|driver| CudaSvdParams {
                driver,
                ..CudaSvdParams::default()
            })
            .into()
    }
}

impl CudaSvd {
    /// The device, made on first use; `Err` says why it is unavailable.
    pub fn gpu(&self) -> Result<&Gpu, String> {
        self.gpu.get(self.params.device)
    }

    /// The f32 path: cuSOLVER's S routines on the device copy of A.
    fn run_f32(
        &self,
        ws: &mut Workspace,
        a: MatRef<'_, f32>,
        k: usize,
    ) -> Result<Mat<f32>, SubspaceError> {
        let (m, n) = a.shape();
        let (r, c) = (m.max(n), m.min(n));
        let tall = m >= n;
        let stored = ws.stage(Stage::Upload, |w| w.upload_a(a))?;
        let stream = ws.stream.clone();
        // X (r×c): the upload itself when it already holds X, else its transpose.
        let x = if stored.transposed != tall {
            stored.ptr as *mut f32
        } else {
            let x = ws.bufs.at.ensure(&stream, r * c)?; // (r, c)
            ws.transpose(stored.ptr, stored.ld, r, c, x)?;
            x
        };
        let s = ws.bufs.s.ensure(&stream, c)?; // (c)
        let u = ws.bufs.u.ensure(&stream, r * c)?; // (r, c): U of X, or Vᵀ scratch
        let v = ws.bufs.v.ensure(&stream, c * c)?; // (c, c)
        let jacobi = self.params.driver == SvdDriver::Gesvdj;
        ws.stage(Stage::SmallSvd, |w| {
            w.thin_svd(jacobi, tall, x, r, c, s, u, v)
        })?;
        ws.finish_infos()?;
        // A's left vectors: U of X (m×c) when tall, else V of X (m×m); the
        // first k columns are the first m·k entries either way.
        ws.stage(Stage::Download, |w| {
            let src = if tall { &w.bufs.u } else { &w.bufs.v };
            Workspace::download(&stream, src, m, k)
        })
    }

    /// The f64 path: X widened to f64 on the host, cuSOLVER's D routines,
    /// U_k rounded to f32 on the host.
    fn run_f64(
        &self,
        ws: &mut Workspace,
        a: MatRef<'_, f32>,
        k: usize,
    ) -> Result<Mat<f32>, SubspaceError> {
        let (m, n) = a.shape();
        let (r, c) = (m.max(n), m.min(n));
        let tall = m >= n;
        let jacobi = self.params.driver == SvdDriver::Gesvdj;
        let stream = ws.stream.clone();
        let x = ws.stage(Stage::Upload, |w| {
            Workspace::upload_slice(&stream, &mut w.bufs.x64, &widened_tall(a)) // (r, c)
        })?;
        let s = ws.bufs.s64.ensure(&stream, c)?; // (c)
        // gesvdj writes both U and V; gesvd only the side asked for.
        let none = std::ptr::null_mut();
        let u = if tall || jacobi {
            ws.bufs.u64.ensure(&stream, r * c)? // (r, c)
        } else {
            none
        };
        let v = if !tall || jacobi {
            ws.bufs.v64.ensure(&stream, c * c)? // (c, c): V or Vᵀ
        } else {
            none
        };
        let transposed = ws.stage(Stage::SmallSvd, |w| {
            w.svd::<f64>(jacobi, tall, x, r, c, s, u, v)
        })?;
        ws.finish_infos()?;
        let (factor, len) = match (tall, transposed) {
            (true, _) => (Factor::U, m * k),
            (false, false) => (Factor::V, m * k),
            (false, true) => (Factor::Vt, m * m),
        };
        let host = ws.stage(Stage::Download, |w| {
            let src = if tall { &w.bufs.u64 } else { &w.bufs.v64 };
            Workspace::download_slice(&stream, src, len)
        })?;
        Ok(left_vectors(&host, m, k, factor))
    }
}

impl SubspaceMethod for CudaSvd {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn device(&self) -> Device {
        Device::Cuda(self.params.device)
    }

    fn availability(&self) -> Result<(), String> {
        self.gpu().map(|_| ())
    }

    /// The bytes of the device buffers its workspaces hold (tracked at
    /// allocation), or `None` before the device was first used or where
    /// there is none.
    fn device_bytes(&self) -> Option<usize> {
        self.gpu.held_bytes()
    }

    /// Device bytes, with cuSOLVER's scratch estimated as r·c + 64·r
    /// entries (its exact query needs a device):
    /// - f32: A, its transpose when needed, U (r×c), V (c×c), Σ, scratch;
    /// - f64: X, U (r×c) and V (c×c) as the driver needs them, Σ, scratch.
    fn workspace_bytes(&self, m: usize, n: usize, _k: usize) -> usize {
        let (r, c) = (m.max(n), m.min(n));
        let scratch = r * c + 64 * r;
        let info = 4 * 256;
        match self.params.precision {
            SvdPrecision::F32 => 4 * (2 * m * n + r * c + c * c + c + scratch) + info,
            SvdPrecision::F64 => {
                let jacobi = self.params.driver == SvdDriver::Gesvdj;
                let u = if m >= n || jacobi { r * c } else { 0 };
                let v = if m < n || jacobi { c * c } else { 0 };
                8 * (r * c + u + v + c + scratch) + info
            }
        }
    }

    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let gpu = self.gpu().map_err(|reason| SubspaceError::Unavailable {
            method: Self::NAME.into(),
            reason,
        })?;
        let mut ws = gpu.take()?;
        ws.bind()?;
        let q = match self.params.precision {
            SvdPrecision::F64 => self.run_f64(&mut ws, a, k),
            SvdPrecision::F32 => self.run_f32(&mut ws, a, k),
        };
        // A workspace whose call failed is dropped, not pooled: its stream
        // may hold the error.
        if q.is_ok() {
            gpu.give(ws);
        }
        let (m, n) = a.shape();
        Ok(Basis {
            q: q?,
            info: Info {
                iterations: 1,
                products: 0,
                flops: flops::svd(m, n),
                converged: true,
            },
        })
    }
}
