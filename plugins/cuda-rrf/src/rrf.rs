//! `cuda-rrf`: the Gaussian randomized range finder on an NVIDIA GPU.
//!
//! Contract (HMT 2011, Alg. 4.4 with the truncation of Alg. 5.1): for A
//! m×n, rank k, oversampling p and q power iterations, with ℓ = min(k + p,
//! min(m, n)):
//!
//! 1. **sketch**: Ω (n×ℓ) i.i.d. N(0, 1) from cuRAND Philox; Y = AΩ;
//! 2. **power-iterate**: q times Y ← A·orth(Aᵀ·orth(Y));
//! 3. **orthonormalize**: Q = orth(Y) (Householder QR, or CholeskyQR2);
//! 4. **project**: Bᵀ = AᵀQ (n×ℓ) = Q₂R, the SVD R = U_R Σ V_Rᵀ gives
//!    B = V_R Σ (Q₂U_R)ᵀ, and Q_k = Q·V_R[:, :k] — the first k left
//!    singular vectors of QQᵀA.
//!
//! With `truncate = "inside"` the sketch has exactly k columns and step 4
//! is skipped. Every product with A runs in the `gemm` precision; the
//! factorizations stay in f32.
//!
//! **Randomness.** Each call takes one draw from the context (it advances
//! the context as a CPU method's Gaussian draw does) and seeds Philox with
//! a hash of (seed, draw): the same seed gives the same Q on the same GPU,
//! and a batch gives each matrix the draw a sequence of single calls would.
//!
//! Letters: A m×n, Ω n×ℓ, Y and Q m×ℓ, B ℓ×n, Q_k m×k.

use crate::gpu::{Gpu, LazyGpu, Stage, Stored, Workspace};
use crate::params::{CudaRrfParams, GemmPrecision, Normalizer, SmallSvd, Truncate};
use faer::{Mat, MatRef};
use std::sync::atomic::{AtomicUsize, Ordering};
use subspace::kernels::flops;
use subspace::{
    Basis, Context, Device, Guarantee, Info, Plugin, SubspaceError, SubspaceMethod, validate_input,
};

/// The CUDA randomized range finder.
pub struct CudaRrf {
    params: CudaRrfParams,
    gpu: LazyGpu,
}

impl std::fmt::Debug for CudaRrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaRrf")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Plugin for CudaRrf {
    const NAME: &'static str = "cuda-rrf";
    const SUMMARY: &'static str = "randomized range finder on an NVIDIA GPU (cuRAND Philox sketch, cuBLAS \
         products, cuSOLVER QR/CholeskyQR2 and small SVD), batched over streams";
    type Params = CudaRrfParams;

    fn new(params: CudaRrfParams) -> Result<Self, String> {
        if params.streams == 0 {
            return Err("streams = 0; use at least 1 stream".into());
        }
        Ok(Self {
            params,
            gpu: LazyGpu::default(),
        })
    }

    /// The defaults, CholeskyQR2, no power iteration with gesvd as the
    /// small SVD, and the `inside` truncation with q = 2 (the variants the
    /// GPU kit ran before they were declared here). Not the tf32 and bf16
    /// products: their unit roundoff (2⁻¹¹ and 2⁻⁸) is far above the f32
    /// floors the kit holds exactly low-rank inputs to.
    fn conformance_params() -> Vec<CudaRrfParams> {
        let d = CudaRrfParams::default;
        vec![
            d(),
            CudaRrfParams {
                normalizer: Normalizer::Cholqr2,
                ..d()
            },
            CudaRrfParams {
                power_iters: 0,
                small_svd: SmallSvd::Gesvd,
                ..d()
            },
            CudaRrfParams {
                truncate: Truncate::Inside,
                power_iters: 2,
                ..d()
            },
        ]
    }
}

/// SplitMix64 finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The Philox seed of draw `draw` of a context seeded `seed`.
pub fn draw_seed(seed: u64, draw: u64) -> u64 {
    mix(seed ^ mix(draw))
}

/// Takes one draw from `ctx` (advancing it) and returns its Philox seed.
fn take_draw(ctx: &mut Context<'_>) -> u64 {
    let draw = ctx.draws();
    let _ = ctx.gaussian(0, 0);
    draw_seed(ctx.seed(), draw)
}

impl CudaRrf {
    /// The params this instance was built with.
    pub fn params(&self) -> &CudaRrfParams {
        &self.params
    }

    /// The device, made on first use; `Err` says why it is unavailable.
    pub fn gpu(&self) -> Result<&Gpu, String> {
        self.gpu.get(self.params.device)
    }

    /// Sketch width ℓ for rank k on an m×n input.
    pub fn width(&self, m: usize, n: usize, k: usize) -> usize {
        match self.params.truncate {
            Truncate::Svd => (k + self.params.oversample).min(m.min(n)),
            Truncate::Inside => k,
        }
    }

    fn unavailable(&self, reason: String) -> SubspaceError {
        SubspaceError::Unavailable {
            method: Self::NAME.into(),
            reason,
        }
    }

    /// Computes Q_k of A already on the device into the workspace's `out`
    /// buffer (m×k, column-major) and returns the call's [`Info`]. No
    /// host↔device copy happens here except a warm start's upload and the
    /// devInfo read-back (one synchronization); this is the entry point for
    /// device-only timing.
    pub fn basis_on_device(
        &self,
        ws: &mut Workspace,
        a: Stored,
        (m, n): (usize, usize),
        k: usize,
        seed: u64,
        warm: Option<MatRef<'_, f32>>,
    ) -> Result<Info, SubspaceError> {
        let p = &self.params;
        let l = self.width(m, n, k);
        let prec = p.gemm;
        let stream = ws.stream.clone();
        let omega = ws.bufs.omega.ensure(&stream, n * l + 1)?; // (n, ℓ): Ω, then Z, then Bᵀ
        let y = ws.bufs.y.ensure(&stream, m * l)?; // (m, ℓ): Y, then Q
        let out = ws.bufs.out.ensure(&stream, m * k)?; // (m, k)
        let mut fl = 0.0;
        let mut products = 0;

        // Sketch: Ω = [AᵀW, G] with W the warm start (if used), G Gaussian.
        let warm = warm.filter(|_| p.warm_start);
        let kw = warm.map_or(0, |w| w.ncols().min(l));
        ws.stage(Stage::Sketch, |w| {
            if let Some(wm) = warm.filter(|_| kw > 0) {
                let wp = Workspace::upload_into(&stream, &mut w.bufs.u, wm.subcols(0, kw))?; // (m, kw)
                w.gemm_a(prec, a, (m, n), true, wp, omega, kw)?;
            }
            if kw == 0 {
                w.gaussian(omega, l * n, seed)?; // omega holds n·ℓ + 1 floats
            } else if l > kw {
                // Drawn into aligned scratch, then placed after AᵀW.
                let g = w.bufs.at.ensure(&stream, (l - kw) * n + 1)?; // (n, ℓ − kw)
                w.gaussian(g, (l - kw) * n, seed)?;
                // SAFETY: omega holds n·ℓ floats; columns kw.. start at kw·n.
                w.copy(g, n, n, l - kw, unsafe { omega.add(kw * n) })?;
            }
            Ok(())
        })?;
        if kw > 0 {
            fl += flops::gemm(n, kw, m);
            products += kw;
        }

        // Y = AΩ, then q power iterations.
        ws.stage(Stage::Gemm, |w| {
            w.gemm_a(prec, a, (m, n), false, omega, y, l)
        })?;
        fl += flops::gemm(m, l, n);
        products += l;
        for _ in 0..p.power_iters {
            if p.normalizer != Normalizer::None {
                fl += self.orth(ws, y, m, l)?;
            }
            ws.stage(Stage::Gemm, |w| {
                w.gemm_a(prec, a, (m, n), true, y, omega, l)
            })?;
            if p.normalizer != Normalizer::None {
                fl += self.orth(ws, omega, n, l)?;
            }
            ws.stage(Stage::Gemm, |w| {
                w.gemm_a(prec, a, (m, n), false, omega, y, l)
            })?;
            fl += 2.0 * flops::gemm(m, l, n);
            products += 2 * l;
        }
        fl += self.orth(ws, y, m, l)?;

        match p.truncate {
            Truncate::Inside => ws.copy(y, m, m, k, out)?,
            Truncate::Svd => {
                // Bᵀ = AᵀQ (n×ℓ).
                ws.stage(Stage::Gemm, |w| {
                    w.gemm_a(prec, a, (m, n), true, y, omega, l)
                })?;
                fl += flops::gemm(n, l, m);
                products += l;
                let r = ws.bufs.small.ensure(&stream, l * l)?; // (ℓ, ℓ)
                let s = ws.bufs.s.ensure(&stream, l)?; // (ℓ)
                let u = ws.bufs.u.ensure(&stream, l * l)?; // (ℓ, ℓ)
                let v = ws.bufs.v.ensure(&stream, l * l)?; // (ℓ, ℓ)
                let jacobi = p.small_svd == SmallSvd::Gesvdj;
                ws.stage(Stage::SmallSvd, |w| {
                    w.geqrf(omega, n, l)?;
                    w.copy_upper(omega, n, l, r)?;
                    w.thin_svd(jacobi, false, r, l, l, s, u, v)?;
                    let nop = cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_N;
                    w.gemm(
                        GemmPrecision::F32,
                        (nop, y, m),
                        (nop, v, l),
                        out,
                        m,
                        (m, k, l),
                    )
                })?;
                let (nf, lf) = (n as f64, l as f64);
                fl += 2.0 * nf * lf * lf - 2.0 * lf * lf * lf / 3.0
                    + flops::svd(l, l)
                    + flops::gemm(m, k, l);
            }
        }

        ws.finish_infos()?;
        Ok(Info {
            iterations: p.power_iters,
            products,
            flops: fl,
            converged: true,
        })
    }

    /// Orthonormalizes X (r×c) in place with the configured normalizer;
    /// returns the flops spent.
    fn orth(
        &self,
        ws: &mut Workspace,
        x: *mut f32,
        r: usize,
        c: usize,
    ) -> Result<f64, SubspaceError> {
        let (rf, cf) = (r as f64, c as f64);
        ws.stage(Stage::Orth, |w| {
            // CholeskyQR2, or Householder when its Gram matrix is not
            // numerically positive definite.
            if self.params.normalizer == Normalizer::Cholqr2 && w.cholqr2_in_place(x, r, c)? {
                return Ok(2.0 * (2.0 * rf * cf * cf + cf * cf * cf / 3.0));
            }
            w.qr_in_place(x, r, c)?;
            Ok(flops::qr_thin_q(r, c))
        })
    }

    /// One matrix on one workspace: upload, compute, download.
    fn one(
        &self,
        ws: &mut Workspace,
        a: MatRef<'_, f32>,
        k: usize,
        seed: u64,
        warm: Option<MatRef<'_, f32>>,
    ) -> Result<Basis, SubspaceError> {
        let (m, n) = a.shape();
        ws.bind()?;
        let stored = ws.stage(Stage::Upload, |w| w.upload_a(a))?;
        let info = self.basis_on_device(ws, stored, (m, n), k, seed, warm)?;
        let q: Mat<f32> = ws.stage(Stage::Download, |w| w.download_out(m, k))?;
        Ok(Basis { q, info })
    }

    /// Bases of many matrices at once, for the training loop: the GaLore
    /// gradients of one step (e.g. the 56 of llama_60m).
    ///
    /// Each matrix is validated as [`SubspaceMethod::left_basis`] does and
    /// takes one draw from `ctx`, in order, so matrix i gets the Q that the
    /// i-th of a sequence of single calls with the same context would. The
    /// work is spread over `params.streams` CUDA streams, one host thread
    /// each, pulling matrices from a shared counter; workspaces (handles
    /// and device buffers) are reused across matrices and across calls.
    /// `ctx.warm_start` is not used (one basis cannot fit every matrix).
    pub fn left_basis_batch(
        &self,
        mats: &[MatRef<'_, f32>],
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Vec<Result<Basis, SubspaceError>> {
        let seeds: Vec<u64> = mats.iter().map(|_| take_draw(ctx)).collect();
        let mut results: Vec<Option<Result<Basis, SubspaceError>>> = mats
            .iter()
            .map(|a| validate_input(*a, k).err().map(Err))
            .collect();
        let gpu = match self.gpu() {
            Ok(gpu) => gpu,
            Err(reason) => {
                return results
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|| Err(self.unavailable(reason.clone()))))
                    .collect();
            }
        };
        let todo: Vec<usize> = (0..mats.len()).filter(|&i| results[i].is_none()).collect();
        let workers = self.params.streams.clamp(1, todo.len().max(1));
        let next = AtomicUsize::new(0);
        let done = std::sync::Mutex::new(Vec::<(usize, Result<Basis, SubspaceError>)>::new());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    let mut ws = match gpu.take() {
                        Ok(ws) => Some(ws),
                        Err(e) => {
                            let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
                            loop {
                                let t = next.fetch_add(1, Ordering::Relaxed);
                                let Some(&i) = todo.get(t) else { break };
                                d.push((i, Err(e.clone())));
                            }
                            None
                        }
                    };
                    let Some(w) = ws.as_mut() else { return };
                    let mut healthy = true;
                    loop {
                        let t = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&i) = todo.get(t) else { break };
                        let r = self.one(w, mats[i], k, seeds[i], None);
                        healthy &= r.is_ok();
                        done.lock().unwrap_or_else(|p| p.into_inner()).push((i, r));
                    }
                    if let (true, Some(w)) = (healthy, ws) {
                        gpu.give(w);
                    }
                });
            }
        });
        for (i, r) in done.into_inner().unwrap_or_else(|p| p.into_inner()) {
            results[i] = Some(r);
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(SubspaceError::Kernel {
                        kernel: "batch",
                        reason: "not computed".into(),
                    })
                })
            })
            .collect()
    }
}

impl SubspaceMethod for CudaRrf {
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

    /// Device bytes of one call: A, Ω (also Z and Bᵀ), Y (Q), Q_k, the ℓ×ℓ
    /// factors and cuSOLVER scratch (estimated as 64·max(m, n) + ℓ² floats;
    /// the library's exact query needs a device).
    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        let l = self.width(m, n, k);
        let warm = if self.params.warm_start { m * k } else { 0 };
        let floats = m * n
            + (n * l + 1)
            + m * l
            + m * k
            + 4 * l * l
            + 2 * l
            + warm.max(l * l)
            + 64 * m.max(n)
            + l * l;
        4 * floats + 4 * 256
    }

    fn guarantee(&self, m: usize, n: usize, k: usize) -> Guarantee {
        let l = self.width(m, n, k);
        let q = self.params.power_iters;
        match self.params.truncate {
            _ if l >= m.min(n) => Guarantee::Exact,
            Truncate::Svd => Guarantee::Randomized {
                rank: k,
                oversample: l - k,
                power_iters: q,
                truncated: true,
            },
            Truncate::Inside => {
                // As the CPU rrf: the oversampling is counted inside k.
                let p = self.params.oversample.min(k.saturating_sub(1));
                Guarantee::Randomized {
                    rank: k - p,
                    oversample: p,
                    power_iters: q,
                    truncated: false,
                }
            }
        }
    }

    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let seed = take_draw(ctx);
        let gpu = self.gpu().map_err(|r| self.unavailable(r))?;
        let mut ws = gpu.take()?;
        let r = self.one(&mut ws, a, k, seed, ctx.warm_start);
        if r.is_ok() {
            gpu.give(ws);
        }
        r
    }
}
