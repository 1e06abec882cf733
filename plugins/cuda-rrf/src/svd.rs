//! `cuda-svd`: the full thin SVD on the GPU (cuSOLVER), the GPU's own exact
//! baseline for `cuda-rrf`.
//!
//! Contract: Q = U[:, :k] of A = UΣVᵀ, optimal up to roundoff
//! (Eckart–Young–Mirsky). cuSOLVER's gesvd wants a tall matrix, so the
//! method factors X = A when m ≥ n and X = Aᵀ otherwise, and reads A's left
//! vectors as X's left (m ≥ n) or right (m < n) ones.
//!
//! Letters: A m×n, X r×c with r = max(m, n), c = min(m, n).

use crate::gpu::{Gpu, Stage, Workspace};
use crate::params::{CudaSvdParams, SvdDriver};
use faer::MatRef;
use std::sync::OnceLock;
use subspace::kernels::flops;
use subspace::{Basis, Context, Device, Info, Plugin, SubspaceError, SubspaceMethod};

/// The CUDA full-SVD baseline.
pub struct CudaSvd {
    params: CudaSvdParams,
    gpu: OnceLock<Result<Gpu, String>>,
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
    const SUMMARY: &'static str =
        "full thin SVD on an NVIDIA GPU (cuSOLVER gesvd or gesvdj), first k left singular vectors";
    type Params = CudaSvdParams;

    fn new(params: CudaSvdParams) -> Result<Self, String> {
        Ok(Self {
            params,
            gpu: OnceLock::new(),
        })
    }
}

impl CudaSvd {
    /// The device, made on first use; `Err` says why it is unavailable.
    pub fn gpu(&self) -> Result<&Gpu, String> {
        self.gpu
            .get_or_init(|| Gpu::new(self.params.device))
            .as_ref()
            .map_err(|e| e.clone())
    }

    fn run(
        &self,
        ws: &mut Workspace,
        a: MatRef<'_, f32>,
        k: usize,
    ) -> Result<Basis, SubspaceError> {
        let (m, n) = a.shape();
        let (r, c) = (m.max(n), m.min(n));
        let tall = m >= n;
        ws.bind()?;
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
        if let Some((kernel, v)) = ws.check_infos()? {
            if kernel == "cusolverDnSgesvdj" && v > 0 {
                let (sweeps, residual) = ws.gesvdj_stats();
                return Err(SubspaceError::NoConvergence {
                    iterations: sweeps.max(0) as usize,
                    residual,
                });
            }
            return Err(SubspaceError::Kernel {
                kernel,
                reason: format!("devInfo = {v}"),
            });
        }
        // A's left vectors: U of X (m×c) when tall, else V of X (m×m); the
        // first k columns are the first m·k entries either way.
        let src = if tall { &ws.bufs.u } else { &ws.bufs.v };
        let q = Workspace::download(&stream, src, m, k)?;
        let info = Info {
            iterations: 1,
            products: 0,
            flops: flops::svd(m, n),
            converged: true,
        };
        Ok(Basis { q, info })
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

    /// Device bytes: A, its transpose when needed, U (r×c), V (c×c), Σ and
    /// cuSOLVER scratch (estimated as r·c + 64·r floats).
    fn workspace_bytes(&self, m: usize, n: usize, _k: usize) -> usize {
        let (r, c) = (m.max(n), m.min(n));
        4 * (2 * m * n + r * c + c * c + c + r * c + 64 * r) + 4 * 256
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
        let r = self.run(&mut ws, a, k);
        if r.is_ok() {
            gpu.give(ws);
        }
        r
    }
}
