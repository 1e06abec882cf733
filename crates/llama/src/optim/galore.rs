//! GaLore-AdamW: Adam on rank-r projections of the attention and MLP
//! gradients (Zhao et al. 2024, `galore_torch`).
//!
//! For a GaLore matrix with gradient G (m×n, Hugging Face's (out, in)):
//!
//! - m ≥ n, [`Side::Right`]: P (n×r) is the left basis of Gᵀ (passed to the
//!   subspace method as a transposed view), R = G·P (m×r), and the Adam
//!   direction N goes back as N·Pᵀ;
//! - m < n, [`Side::Left`]: P (m×r) is the left basis of G, R = Pᵀ·G (r×n),
//!   and N goes back as P·N.
//!
//! The back-projection is multiplied by `scale`, then `p += −step_size ·
//! scale·back(N)`, then the decoupled weight decay, as `adamw.py` does. The
//! basis is recomputed before the update at steps 1, 1 + T, 1 + 2T, … (the
//! reference's `iter % update_proj_gap == 0` with the 0-based step); the
//! moments live at R's shape and are kept, neither reset nor rotated, when
//! the basis changes. Every other parameter (embeddings, norms, lm_head)
//! gets plain AdamW, bit for bit.

use std::time::Instant;

use faer::{Accum, Mat, MatRef};
use rayon::prelude::*;
use subspace::{Context, Device, SubspaceError, SubspaceMethod};

use super::adamw::{AdamWParams, decay, dense_step, moments};
use super::optimizer::{Optimizer, RefreshWorkspace};
use super::registry::OptimizerKind;
use crate::params::{NamedTensor, TensorData};
use crate::{Layout, ParamStore};

/// GaLore hyper-parameters (the 60M recipe's rank, scale and gap).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaloreParams {
    /// Target rank r (clamped to min(m, n) per matrix).
    pub rank: usize,
    /// α, applied at back-projection.
    pub scale: f32,
    /// T: steps between basis refreshes.
    pub update_proj_gap: u64,
    /// Zero the low-rank moments whenever the basis is refreshed (the
    /// reference keeps them: `false`).
    pub reset_moments: bool,
    pub adamw: AdamWParams,
}

impl Default for GaloreParams {
    fn default() -> Self {
        Self {
            rank: 128,
            scale: 0.25,
            update_proj_gap: 200,
            reset_moments: false,
            adamw: AdamWParams::default(),
        }
    }
}

/// Which side of the gradient a matrix is projected on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// m ≥ n: R = G·P, P is n×r.
    Right,
    /// m < n: R = Pᵀ·G, P is m×r.
    Left,
}

/// A refresh that failed: which parameter, at which (1-based) step, and why.
#[derive(Debug, thiserror::Error)]
#[error("GaLore step {step}: the subspace method failed on {tensor}: {source}")]
pub struct RefreshError {
    pub tensor: String,
    pub step: u64,
    #[source]
    pub source: SubspaceError,
}

/// Accumulated cost of the subspace computations (basis refreshes).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SubspaceTiming {
    /// Calls to the subspace method.
    pub calls: u64,
    /// Wall seconds spent inside them.
    pub seconds: f64,
    /// Flops the method reported.
    pub flops: f64,
}

/// A projected matrix: its basis and low-rank moments.
#[derive(Debug, Clone)]
struct Projected {
    /// Index in the layout.
    index: usize,
    offset: usize,
    rows: usize,
    cols: usize,
    rank: usize,
    side: Side,
    /// n×r (right) or m×r (left); zeros until the first refresh.
    p: Mat<f32>,
    /// At R's shape: m×r (right) or r×n (left).
    m: Mat<f32>,
    v: Mat<f32>,
}

/// A parameter updated by plain AdamW.
#[derive(Debug, Clone)]
struct Dense {
    offset: usize,
    m: Vec<f32>,
    v: Vec<f32>,
}

/// GaLore-AdamW over a [`ParamStore`].
pub struct GaloreAdamW {
    pub params: GaloreParams,
    method: Box<dyn SubspaceMethod>,
    seed: u64,
    layout: Layout,
    projected: Vec<Projected>,
    dense: Vec<Dense>,
    t: u64,
    total: SubspaceTiming,
    last_step: SubspaceTiming,
}

impl std::fmt::Debug for GaloreAdamW {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GaloreAdamW")
            .field("params", &self.params)
            .field("method", &self.method.name())
            .field("seed", &self.seed)
            .field("t", &self.t)
            .finish_non_exhaustive()
    }
}

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The context seed of the refresh of parameter `index` at step `t`:
/// `seed ^ mix(mix(index) ^ t)`.
pub fn refresh_seed(seed: u64, index: usize, t: u64) -> u64 {
    seed ^ mix(mix(index as u64) ^ t)
}

impl GaloreAdamW {
    /// Zero state for `layout`; `method` finds the bases, `seed` seeds every
    /// refresh (see [`refresh_seed`]).
    pub fn new(
        layout: &Layout,
        params: GaloreParams,
        method: Box<dyn SubspaceMethod>,
        seed: u64,
    ) -> Self {
        assert!(params.rank >= 1, "GaLore rank must be at least 1");
        assert!(
            params.update_proj_gap >= 1,
            "update_proj_gap must be at least 1"
        );
        let mut projected = Vec::new();
        let mut dense = Vec::new();
        for (index, s) in layout.specs().iter().enumerate() {
            if let (true, [rows, cols]) = (s.kind.galore(), &s.shape[..]) {
                let (rows, cols) = (*rows, *cols);
                let rank = params.rank.min(rows).min(cols);
                let (side, p_rows, r_shape) = if rows >= cols {
                    (Side::Right, cols, (rows, rank))
                } else {
                    (Side::Left, rows, (rank, cols))
                };
                projected.push(Projected {
                    index,
                    offset: s.offset,
                    rows,
                    cols,
                    rank,
                    side,
                    p: Mat::zeros(p_rows, rank),
                    m: Mat::zeros(r_shape.0, r_shape.1),
                    v: Mat::zeros(r_shape.0, r_shape.1),
                });
            } else {
                dense.push(Dense {
                    offset: s.offset,
                    m: vec![0.0; s.len()],
                    v: vec![0.0; s.len()],
                });
            }
        }
        Self {
            params,
            method,
            seed,
            layout: layout.clone(),
            projected,
            dense,
            t: 0,
            total: SubspaceTiming::default(),
            last_step: SubspaceTiming::default(),
        }
    }

    /// The subspace method.
    pub fn method(&self) -> &dyn SubspaceMethod {
        self.method.as_ref()
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// Whether step `t` (1-based) refreshes the bases.
    pub fn refreshes_at(&self, t: u64) -> bool {
        (t - 1).is_multiple_of(self.params.update_proj_gap)
    }

    /// The basis of GaLore parameter `name` and its side (None for a
    /// parameter GaLore does not project).
    pub fn projector(&self, name: &str) -> Option<(MatRef<'_, f32>, Side)> {
        let index = self.layout.specs().iter().position(|s| s.name == name)?;
        let p = self.projected.iter().find(|p| p.index == index)?;
        Some((p.p.as_ref(), p.side))
    }

    /// One step at learning rate `lr`. Fails (before changing anything) when
    /// the subspace method fails on a refresh, e.g. on a non-finite gradient,
    /// naming the parameter.
    ///
    /// CPU methods refresh the matrices in parallel on the ambient rayon pool,
    /// one sequential call per matrix, and the updates run per matrix in
    /// parallel too: every matrix's arithmetic is the same whatever the
    /// thread count, so the bits are. A GPU method is called matrix by
    /// matrix from this thread.
    pub fn step(
        &mut self,
        params: &mut ParamStore,
        grads: &ParamStore,
        lr: f32,
    ) -> Result<(), RefreshError> {
        assert_eq!(params.layout(), &self.layout, "params of another layout");
        assert_eq!(grads.layout(), &self.layout, "grads of another layout");
        let t = self.t + 1;
        let g_all = grads.as_slice();
        self.last_step = SubspaceTiming::default();
        if self.refreshes_at(t) {
            // Compute every new basis first so that a failure changes nothing.
            let start = Instant::now();
            let method = self.method.as_ref();
            let seed = self.seed;
            let refresh = |pr: &Projected| -> Result<(Mat<f32>, f64), RefreshError> {
                let g = MatRef::from_row_major_slice(
                    &g_all[pr.offset..pr.offset + pr.rows * pr.cols],
                    pr.rows,
                    pr.cols,
                );
                let a = match pr.side {
                    Side::Right => g.transpose(),
                    Side::Left => g,
                };
                let mut ctx = Context::new(refresh_seed(seed, pr.index, t));
                if t > 1 {
                    ctx = ctx.with_warm_start(pr.p.as_ref());
                }
                let basis =
                    method
                        .left_basis(a, pr.rank, &mut ctx)
                        .map_err(|source| RefreshError {
                            tensor: self.layout.specs()[pr.index].name.clone(),
                            step: t,
                            source,
                        })?;
                Ok((basis.q, basis.info.flops))
            };
            let bases = match method.device() {
                Device::Cpu => self
                    .projected
                    .par_iter()
                    .map(refresh)
                    .collect::<Result<Vec<_>, _>>(),
                Device::Cuda(_) => self.projected.iter().map(refresh).collect(),
            }?;
            self.last_step = SubspaceTiming {
                calls: bases.len() as u64,
                seconds: start.elapsed().as_secs_f64(),
                flops: bases.iter().map(|b| b.1).sum(),
            };
            let reset = self.params.reset_moments;
            for (pr, (q, _)) in self.projected.iter_mut().zip(bases) {
                pr.p = q;
                if reset {
                    pr.m.fill(0.0);
                    pr.v.fill(0.0);
                }
            }
            self.total.calls += self.last_step.calls;
            self.total.seconds += self.last_step.seconds;
            self.total.flops += self.last_step.flops;
        }
        self.t = t;
        let hp = self.params.adamw;
        let step_size = hp.step_size(lr, t);
        let scale = self.params.scale;
        // Every parameter owns a disjoint range of the flat buffer: cut it
        // into per-parameter slices so that the updates can run in parallel.
        let mut slices = split_by_layout(params.as_mut_slice(), &self.layout);
        let mut dense_jobs = Vec::with_capacity(self.dense.len());
        let mut projected_jobs = Vec::with_capacity(self.projected.len());
        {
            let mut dense = self.dense.iter_mut().peekable();
            let mut projected = self.projected.iter_mut().peekable();
            for (index, p) in slices.drain(..).enumerate() {
                if projected.peek().is_some_and(|pr| pr.index == index) {
                    projected_jobs.push((projected.next().expect("peeked"), p));
                } else if let Some(d) = dense.next() {
                    dense_jobs.push((d, p));
                }
            }
        }
        dense_jobs.into_par_iter().for_each(|(d, p)| {
            let range = d.offset..d.offset + d.m.len();
            dense_step(&hp, lr, step_size, p, &g_all[range], &mut d.m, &mut d.v);
        });
        projected_jobs.into_par_iter().for_each(|(pr, p)| {
            let g = &g_all[pr.offset..pr.offset + pr.rows * pr.cols];
            projected_step(pr, &hp, lr, step_size, scale, p, g);
        });
        Ok(())
    }

    /// Bytes of optimizer state: the dense moments, the low-rank moments and
    /// the projectors.
    pub fn state_bytes(&self) -> usize {
        let f = size_of::<f32>();
        let dense: usize = self.dense.iter().map(|d| 2 * d.m.len() * f).sum();
        let projected: usize = self
            .projected
            .iter()
            .map(|p| {
                let (mr, mc) = p.m.shape();
                let (pr, pc) = p.p.shape();
                (2 * mr * mc + pr * pc) * f
            })
            .sum();
        dense + projected
    }

    /// Subspace computations since construction.
    pub fn subspace_timing(&self) -> SubspaceTiming {
        self.total
    }

    /// Subspace computations of the last step (zero on a step without a
    /// refresh).
    pub fn last_step_timing(&self) -> SubspaceTiming {
        self.last_step
    }
}

/// The checkpoint format: per dense parameter `{name}.exp_avg` and
/// `{name}.exp_avg_sq` at its shape, per projected matrix the same at the
/// low-rank shape plus `{name}.projector` (n×r or m×r), in layout order.
impl Optimizer for GaloreAdamW {
    fn kind(&self) -> OptimizerKind {
        OptimizerKind::Galore
    }

    fn step(
        &mut self,
        params: &mut ParamStore,
        grads: &ParamStore,
        lr: f32,
    ) -> Result<(), RefreshError> {
        GaloreAdamW::step(self, params, grads, lr)
    }

    fn steps(&self) -> u64 {
        self.t
    }

    fn state_tensors(&self) -> Vec<(String, TensorData<'_>)> {
        let specs = self.layout.specs();
        let mut out = Vec::new();
        let mut dense = self.dense.iter();
        for (index, s) in specs.iter().enumerate() {
            if let Some(pr) = self.projected.iter().find(|p| p.index == index) {
                for (suffix, mat) in [
                    ("exp_avg", &pr.m),
                    ("exp_avg_sq", &pr.v),
                    ("projector", &pr.p),
                ] {
                    out.push((
                        format!("{}.{suffix}", s.name),
                        TensorData::Mat(mat.as_ref()),
                    ));
                }
            } else {
                let d = dense.next().expect("one dense entry per other parameter");
                for (suffix, data) in [("exp_avg", &d.m), ("exp_avg_sq", &d.v)] {
                    let data = TensorData::Slice {
                        shape: s.shape.clone(),
                        data,
                    };
                    out.push((format!("{}.{suffix}", s.name), data));
                }
            }
        }
        out
    }

    fn load_state(&mut self, t: u64, tensors: &[NamedTensor]) -> Result<(), String> {
        let find = |name: &str, shape: &[usize]| -> Result<&NamedTensor, String> {
            let x = tensors
                .iter()
                .find(|x| x.name == name)
                .ok_or_else(|| format!("optimizer state has no tensor {name}"))?;
            if x.shape != shape {
                return Err(format!(
                    "optimizer tensor {name} has shape {:?}, expected {shape:?}",
                    x.shape
                ));
            }
            Ok(x)
        };
        let specs = self.layout.specs().to_vec();
        let mut dense = self.dense.iter_mut();
        for (index, s) in specs.iter().enumerate() {
            if let Some(pr) = self.projected.iter_mut().find(|p| p.index == index) {
                for (suffix, mat) in [
                    ("exp_avg", &mut pr.m),
                    ("exp_avg_sq", &mut pr.v),
                    ("projector", &mut pr.p),
                ] {
                    let (r, c) = mat.shape();
                    let x = find(&format!("{}.{suffix}", s.name), &[r, c])?;
                    *mat = Mat::from_fn(r, c, |i, j| x.data[i * c + j]);
                }
            } else {
                let d = dense.next().expect("one dense entry per other parameter");
                d.m.copy_from_slice(&find(&format!("{}.exp_avg", s.name), &s.shape)?.data);
                d.v.copy_from_slice(&find(&format!("{}.exp_avg_sq", s.name), &s.shape)?.data);
            }
        }
        self.t = t;
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        GaloreAdamW::state_bytes(self)
    }

    fn last_step_timing(&self) -> SubspaceTiming {
        self.last_step
    }

    fn subspace_timing(&self) -> SubspaceTiming {
        self.total
    }

    /// The working memory of a refresh, as the subspace method predicts it
    /// ([`SubspaceMethod::workspace_bytes`] of each matrix as it is passed,
    /// Gᵀ for a right-side projection): a CPU method refreshes up to
    /// `concurrency` matrices at once (the pool's threads), so this is the
    /// sum of the `concurrency` largest predictions, host bytes; a GPU
    /// method refreshes one matrix at a time, so it is the largest one,
    /// device bytes, with the method's own measure of them.
    fn refresh_workspace(&self, concurrency: usize) -> RefreshWorkspace {
        let mut each: Vec<usize> = self
            .projected
            .iter()
            .map(|pr| {
                let (m, n) = match pr.side {
                    Side::Right => (pr.cols, pr.rows),
                    Side::Left => (pr.rows, pr.cols),
                };
                self.method.workspace_bytes(m, n, pr.rank)
            })
            .collect();
        each.sort_unstable_by(|a, b| b.cmp(a));
        let at_once = match self.method.device() {
            Device::Cpu => concurrency.max(1),
            Device::Cuda(_) => 1,
        };
        let bytes = each.iter().take(at_once).sum();
        match self.method.device() {
            Device::Cpu => RefreshWorkspace {
                host_bytes: bytes,
                ..RefreshWorkspace::default()
            },
            Device::Cuda(_) => RefreshWorkspace {
                host_bytes: 0,
                device_bytes_predicted: Some(bytes),
                device_bytes_measured: self.method.device_bytes(),
            },
        }
    }
}

/// Cuts the flat parameter buffer into one slice per parameter of `layout`
/// (in layout order; the layout's parameters tile the buffer).
pub(crate) fn split_by_layout<'a>(mut all: &'a mut [f32], layout: &Layout) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(layout.specs().len());
    let mut at = 0;
    for s in layout.specs() {
        assert_eq!(s.offset, at, "layout parameters must tile the buffer");
        let (head, tail) = std::mem::take(&mut all).split_at_mut(s.len());
        out.push(head);
        all = tail;
        at += s.len();
    }
    out
}

/// The GaLore update of one projected matrix: R = project(G), Adam on R,
/// N back-projected, scaled by α, then the decoupled weight decay.
fn projected_step(
    pr: &mut Projected,
    hp: &AdamWParams,
    lr: f32,
    step_size: f32,
    scale: f32,
    p: &mut [f32],
    g: &[f32],
) {
    // Sequential GEMMs (one matrix's arithmetic never depends on the pool)
    // that leave the AVX state clean for the loops below
    // (docs/numerics.md#avx-upper-state).
    use crate::model::parallel::gemm;
    let (rows, cols) = (pr.rows, pr.cols);
    let g = MatRef::from_row_major_slice(g, rows, cols);
    let (rr, rc) = pr.m.shape();
    let mut r = Mat::<f32>::zeros(rr, rc);
    match pr.side {
        Side::Right => gemm(r.as_mut(), Accum::Replace, g, pr.p.as_ref(), 1.0),
        Side::Left => gemm(r.as_mut(), Accum::Replace, pr.p.transpose(), g, 1.0),
    }
    // r becomes N in place.
    for j in 0..rc {
        for i in 0..rr {
            let n = moments(hp, r[(i, j)], &mut pr.m[(i, j)], &mut pr.v[(i, j)]);
            r[(i, j)] = n;
        }
    }
    // Row-major like the weights, so the update below runs contiguously.
    let mut back = vec![0.0f32; rows * cols];
    let dst = faer::MatMut::from_row_major_slice_mut(&mut back, rows, cols);
    match pr.side {
        Side::Right => gemm(dst, Accum::Replace, r.as_ref(), pr.p.transpose(), 1.0),
        Side::Left => gemm(dst, Accum::Replace, pr.p.as_ref(), r.as_ref(), 1.0),
    }
    for (x, b) in p.iter_mut().zip(&back) {
        *x += -step_size * (b * scale);
    }
    decay(hp, lr, p);
}
