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

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef};
use subspace::{Context, SubspaceError, SubspaceMethod};

use super::adamw::{AdamWParams, decay, dense_step, moments};
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
    pub adamw: AdamWParams,
}

impl Default for GaloreParams {
    fn default() -> Self {
        Self {
            rank: 128,
            scale: 0.25,
            update_proj_gap: 200,
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

impl SubspaceTiming {
    fn add(&mut self, seconds: f64, flops: f64) {
        self.calls += 1;
        self.seconds += seconds;
        self.flops += flops;
    }
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
    /// the subspace method fails on a refresh, e.g. on a non-finite gradient.
    pub fn step(
        &mut self,
        params: &mut ParamStore,
        grads: &ParamStore,
        lr: f32,
    ) -> Result<(), SubspaceError> {
        assert_eq!(params.layout(), &self.layout, "params of another layout");
        assert_eq!(grads.layout(), &self.layout, "grads of another layout");
        let t = self.t + 1;
        let g_all = grads.as_slice();
        self.last_step = SubspaceTiming::default();
        if self.refreshes_at(t) {
            // Compute every new basis first so that a failure changes nothing.
            let mut bases = Vec::with_capacity(self.projected.len());
            for pr in &self.projected {
                let g = MatRef::from_row_major_slice(
                    &g_all[pr.offset..pr.offset + pr.rows * pr.cols],
                    pr.rows,
                    pr.cols,
                );
                let a = match pr.side {
                    Side::Right => g.transpose(),
                    Side::Left => g,
                };
                let mut ctx = Context::new(refresh_seed(self.seed, pr.index, t));
                if t > 1 {
                    ctx = ctx.with_warm_start(pr.p.as_ref());
                }
                let start = Instant::now();
                let basis = self.method.left_basis(a, pr.rank, &mut ctx)?;
                self.last_step
                    .add(start.elapsed().as_secs_f64(), basis.info.flops);
                bases.push(basis.q);
            }
            for (pr, q) in self.projected.iter_mut().zip(bases) {
                pr.p = q;
            }
            self.total.calls += self.last_step.calls;
            self.total.seconds += self.last_step.seconds;
            self.total.flops += self.last_step.flops;
        }
        self.t = t;
        let hp = self.params.adamw;
        let step_size = hp.step_size(lr, t);
        let p_all = params.as_mut_slice();
        for d in &mut self.dense {
            let len = d.m.len();
            let range = d.offset..d.offset + len;
            dense_step(
                &hp,
                lr,
                step_size,
                &mut p_all[range.clone()],
                &g_all[range],
                &mut d.m,
                &mut d.v,
            );
        }
        // Sequential: no hidden global, and the same bits for any thread count.
        let par = faer::Par::Seq;
        let scale = self.params.scale;
        for pr in &mut self.projected {
            let (rows, cols) = (pr.rows, pr.cols);
            let range = pr.offset..pr.offset + rows * cols;
            let g = MatRef::from_row_major_slice(&g_all[range.clone()], rows, cols);
            let (rr, rc) = pr.m.shape();
            let mut r = Mat::<f32>::zeros(rr, rc);
            match pr.side {
                Side::Right => matmul(&mut r, Accum::Replace, g, &pr.p, 1.0, par),
                Side::Left => matmul(&mut r, Accum::Replace, pr.p.transpose(), g, 1.0, par),
            }
            // r becomes N in place.
            for j in 0..rc {
                for i in 0..rr {
                    let n = moments(&hp, r[(i, j)], &mut pr.m[(i, j)], &mut pr.v[(i, j)]);
                    r[(i, j)] = n;
                }
            }
            let mut back = Mat::<f32>::zeros(rows, cols);
            match pr.side {
                Side::Right => matmul(&mut back, Accum::Replace, &r, pr.p.transpose(), 1.0, par),
                Side::Left => matmul(&mut back, Accum::Replace, &pr.p, &r, 1.0, par),
            }
            let p = &mut p_all[range];
            for i in 0..rows {
                let row = &mut p[i * cols..(i + 1) * cols];
                for (j, x) in row.iter_mut().enumerate() {
                    *x += -step_size * (back[(i, j)] * scale);
                }
            }
            decay(&hp, lr, p);
        }
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
