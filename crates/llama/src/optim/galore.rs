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
//! reference's `iter % update_proj_gap == 0` with the 0-based step). Each
//! matrix's basis comes from its own [`subspace::Tracker`] (the method's
//! own, or the one-shot method warm-started from the previous basis, which
//! is what GaLore did before trackers: the same bits). The moments live at
//! R's shape; on a refresh they are kept (the reference), reset or carried
//! into the new basis ([`MomentPolicy`], `moments`), and the new basis may
//! be aligned with the previous one first (`align`, [`super::align`]).
//! Under `refresh = "lazy"` each matrix refreshes on its own schedule
//! instead, Q-GaLore's ([`super::refresh`]). Every step logs the quality of
//! the bases it refreshed, and every `quality_every` steps that of all of
//! them with the optimum's ([`super::quality`]).
//! Every other parameter (embeddings, norms, lm_head) gets plain AdamW, bit
//! for bit.

use std::sync::Arc;
use std::time::Instant;

use faer::{Mat, MatRef};
use rayon::prelude::*;
use subspace::{Device, StateTensor, SubspaceError, SubspaceMethod};

use super::adamw::{AdamWParams, dense_step};
use super::moments::MomentPolicy;
use super::optimizer::{Optimizer, RefreshWorkspace};
pub use super::projected::refresh_seed;
use super::projected::{Projected, projected_step, refresh_all};
use super::quality::{self, DEFAULT_QUALITY_EVERY, MatrixQuality, StepQuality};
use super::refresh::{LazySchedule, RefreshCounts, RefreshRule, every_count};
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
    /// What a refresh does with the low-rank moments (the reference keeps
    /// them: [`MomentPolicy::Keep`]).
    pub moments: MomentPolicy,
    /// Align each new basis with the previous one ([`super::align`]).
    pub align: bool,
    /// When each matrix refreshes ([`super::refresh`]).
    pub refresh: RefreshRule,
    /// Steps between the quality log's optimum SVDs ([`super::quality`]).
    pub quality_every: u64,
    pub adamw: AdamWParams,
}

impl Default for GaloreParams {
    fn default() -> Self {
        Self {
            rank: 128,
            scale: 0.25,
            update_proj_gap: 200,
            moments: MomentPolicy::Keep,
            align: false,
            refresh: RefreshRule::Every,
            quality_every: DEFAULT_QUALITY_EVERY,
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

/// A refresh that failed: which parameter, at which (1-based) step, in which
/// stage (the subspace method, or the quality log's f64 SVD), and why.
#[derive(Debug, thiserror::Error)]
#[error("GaLore step {step}: {stage} failed on {tensor}: {source}")]
pub struct RefreshError {
    pub stage: &'static str,
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
    method: Arc<dyn SubspaceMethod>,
    seed: u64,
    layout: Layout,
    projected: Vec<Projected>,
    dense: Vec<Dense>,
    t: u64,
    total: SubspaceTiming,
    last_step: SubspaceTiming,
    last_quality: StepQuality,
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

impl GaloreAdamW {
    /// Zero state for `layout`; `method` finds the bases (one tracker of it
    /// per matrix, [`subspace::tracker`]), `seed` seeds every refresh (see
    /// [`refresh_seed`]).
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
        assert!(
            params.quality_every >= 1,
            "quality_every must be at least 1"
        );
        let schedule = match params.refresh {
            RefreshRule::Every => None,
            RefreshRule::Lazy { queue, .. } => {
                assert!(queue >= 1, "the lazy queue must hold at least 1");
                Some(LazySchedule::new(params.update_proj_gap))
            }
        };
        let method: Arc<dyn SubspaceMethod> = Arc::from(method);
        let mut projected = Vec::new();
        let mut dense = Vec::new();
        for (index, s) in layout.specs().iter().enumerate() {
            if let (true, [rows, cols]) = (s.kind.galore(), &s.shape[..]) {
                let (rows, cols) = (*rows, *cols);
                let rank = params.rank.min(rows).min(cols);
                // The method sees Gᵀ (n×m) on the right, G (m×n) on the left.
                let (side, (a_rows, a_cols), r_shape) = if rows >= cols {
                    (Side::Right, (cols, rows), (rows, rank))
                } else {
                    (Side::Left, (rows, cols), (rank, cols))
                };
                projected.push(Projected {
                    tracker: subspace::tracker(&method, a_rows, a_cols, rank),
                    index,
                    offset: s.offset,
                    rows,
                    cols,
                    rank,
                    side,
                    p: Mat::zeros(a_rows, rank),
                    m: Mat::zeros(r_shape.0, r_shape.1),
                    v: Mat::zeros(r_shape.0, r_shape.1),
                    schedule: schedule.clone(),
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
            last_quality: StepQuality::default(),
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

    /// Whether step `t` (1-based) refreshes the bases under `refresh =
    /// "every"` (steps 1, 1 + T, 1 + 2T, …).
    pub fn refreshes_at(&self, t: u64) -> bool {
        (t - 1).is_multiple_of(self.params.update_proj_gap)
    }

    /// Which matrices (in layout order) refresh at step `t` (1-based).
    fn due(&self, t: u64) -> Vec<bool> {
        match self.params.refresh {
            RefreshRule::Every => vec![self.refreshes_at(t); self.projected.len()],
            RefreshRule::Lazy { .. } => self
                .projected
                .iter()
                .map(|p| p.schedule.as_ref().is_some_and(|s| s.due(t)))
                .collect(),
        }
    }

    /// Whether step `t` (1-based) is a quality step: its 0-based index is a
    /// multiple of `quality_every`.
    pub fn quality_at(&self, t: u64) -> bool {
        (t - 1).is_multiple_of(self.params.quality_every)
    }

    /// Refreshes made and saved since the run began (a resumed run counts
    /// its steps before the checkpoint too).
    pub fn refresh_counts(&self) -> RefreshCounts {
        let every = every_count(self.t, self.params.update_proj_gap);
        let matrices = self.projected.len() as u64;
        match self.params.refresh {
            RefreshRule::Every => RefreshCounts {
                made: every * matrices,
                saved: 0,
            },
            RefreshRule::Lazy { .. } => {
                let made: u64 = self
                    .projected
                    .iter()
                    .filter_map(|p| p.schedule.as_ref())
                    .map(|s| s.made)
                    .sum();
                RefreshCounts {
                    made,
                    saved: every * matrices - made,
                }
            }
        }
    }

    /// The quality log of the last step (empty rows on a step that refreshed
    /// nothing and was no quality step).
    pub fn last_step_quality(&self) -> &StepQuality {
        &self.last_quality
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
        self.last_quality = StepQuality::default();
        let names: Vec<&str> = self
            .layout
            .specs()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let due = self.due(t);
        let quality_step = self.quality_at(t);
        // The quality log's gradient energies and optima, before anything
        // changes (so that a failed SVD changes nothing).
        let start = Instant::now();
        let logged: Vec<Option<(f64, Option<f64>)>> = self
            .projected
            .par_iter_mut()
            .zip(&due)
            .map(|(pr, &due)| {
                let pr = &*pr;
                if !(due || quality_step) {
                    return Ok(None);
                }
                let g = pr.gradient(g_all);
                let total = quality::energy(g);
                let optimal = quality_step
                    .then(|| {
                        let g = MatRef::from_row_major_slice(g, pr.rows, pr.cols);
                        quality::optimal(g, pr.rank).map_err(|source| RefreshError {
                            stage: "the quality log's f64 SVD (see quality_every)",
                            tensor: names[pr.index].to_string(),
                            step: t,
                            source,
                        })
                    })
                    .transpose()?;
                Ok(Some((total, optimal)))
            })
            .collect::<Result<_, RefreshError>>()?;
        let mut quality_seconds = start.elapsed().as_secs_f64();
        let mut agreements = vec![None; self.projected.len()];
        if due.iter().any(|&d| d) {
            let (timing, agree) = refresh_all(
                &mut self.projected,
                &due,
                g_all,
                &self.params,
                self.seed,
                t,
                self.method.device(),
                &names,
            )?;
            self.last_step = timing;
            self.total.calls += self.last_step.calls;
            self.total.seconds += self.last_step.seconds;
            self.total.flops += self.last_step.flops;
            agreements = agree;
            if let RefreshRule::Lazy { threshold, queue } = self.params.refresh {
                let gap = self.params.update_proj_gap;
                for ((pr, &due), a) in self.projected.iter_mut().zip(&due).zip(&agreements) {
                    if due {
                        let s = pr
                            .schedule
                            .as_mut()
                            .expect("a lazy run schedules each matrix");
                        s.refreshed(t, *a, gap, threshold, queue);
                    }
                }
            }
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
        let captured: Vec<f64> = projected_jobs
            .into_par_iter()
            .map(|(pr, p)| {
                let g = &g_all[pr.offset..pr.offset + pr.rows * pr.cols];
                projected_step(pr, &hp, lr, step_size, scale, p, g)
            })
            .collect();
        let start = Instant::now();
        let gap = self.params.update_proj_gap;
        let rows = self
            .projected
            .iter()
            .zip(logged)
            .zip(captured)
            .zip(due.iter().zip(agreements))
            .filter_map(|(((pr, logged), captured), (&refreshed, agreement))| {
                let (total, optimal) = logged?;
                let (captured, optimal) = quality::shares(captured, optimal, total);
                Some(MatrixQuality {
                    tensor: names[pr.index].to_string(),
                    rows: pr.rows,
                    cols: pr.cols,
                    rank: pr.rank,
                    refreshed,
                    captured,
                    optimal,
                    agreement: agreement.map(f64::from),
                    interval: pr.schedule.as_ref().map_or(gap, |s| s.interval),
                })
            })
            .collect();
        quality_seconds += start.elapsed().as_secs_f64();
        self.last_quality = StepQuality {
            rows,
            seconds: quality_seconds,
        };
        Ok(())
    }

    /// Bytes of optimizer state the run holds: the dense moments, the
    /// low-rank moments, the projectors and the trackers' states
    /// ([`GaloreAdamW::tracker_state_bytes`]). The paper's figure, without
    /// the trackers, is [`Optimizer::paper_state_bytes`].
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
        dense + projected + self.tracker_state_bytes()
    }

    /// Bytes of the trackers' states (part of [`GaloreAdamW::state_bytes`]):
    /// the default tracker keeps its last basis, a second copy of the
    /// projector (zero before the first refresh).
    pub fn tracker_state_bytes(&self) -> usize {
        self.projected.iter().map(|p| p.tracker.state_bytes()).sum()
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
/// low-rank shape plus `{name}.projector` (n×r or m×r) and its tracker's
/// state, each of its tensors as `{name}.tracker.{tensor}` (the default
/// tracker's: `{name}.tracker.basis`, the last basis the method returned),
/// and under `refresh = "lazy"` its schedule as `{name}.refresh_schedule`
/// ([`LazySchedule::to_tensor`]), in layout order.
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
                for x in pr.tracker.state() {
                    let data = TensorData::Owned {
                        shape: x.shape,
                        data: x.data,
                    };
                    out.push((tracker_tensor(&s.name, &x.name), data));
                }
                if let (Some(schedule), RefreshRule::Lazy { queue, .. }) =
                    (&pr.schedule, self.params.refresh)
                {
                    let data = schedule.to_tensor(queue);
                    let data = TensorData::Owned {
                        shape: vec![data.len()],
                        data,
                    };
                    out.push((schedule_tensor(&s.name), data));
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
                load_tracker(pr, &s.name, t, tensors)?;
                if let RefreshRule::Lazy { queue, .. } = self.params.refresh {
                    let name = schedule_tensor(&s.name);
                    let x = find(&name, &[4 + queue])?;
                    let schedule =
                        LazySchedule::from_tensor(&x.data, queue, self.params.update_proj_gap)
                            .map_err(|e| format!("optimizer tensor {name}: {e}"))?;
                    pr.schedule = Some(schedule);
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

    /// The paper's estimate counts the moments and the projectors, not the
    /// trackers' states (which the paper's code does not keep).
    fn paper_state_bytes(&self) -> usize {
        (GaloreAdamW::state_bytes(self) - self.tracker_state_bytes()) / 2
    }

    fn last_step_timing(&self) -> SubspaceTiming {
        self.last_step
    }

    fn last_step_quality(&self) -> Option<&StepQuality> {
        Some(&self.last_quality)
    }

    fn refresh_counts(&self) -> RefreshCounts {
        GaloreAdamW::refresh_counts(self)
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

/// The checkpoint name of parameter `param`'s lazy refresh schedule.
fn schedule_tensor(param: &str) -> String {
    format!("{param}.refresh_schedule")
}

/// The checkpoint name of tensor `tensor` of the tracker of parameter
/// `param`.
fn tracker_tensor(param: &str, tensor: &str) -> String {
    format!("{param}.tracker.{tensor}")
}

/// Loads the state of `pr`'s tracker (parameter `param`) from the
/// checkpoint's `{param}.tracker.*` tensors, after `t` steps; fails naming
/// the tensor and the fix when one does not fit, or when a run past its
/// first refresh has none.
fn load_tracker(
    pr: &mut Projected,
    param: &str,
    t: u64,
    tensors: &[NamedTensor],
) -> Result<(), String> {
    let prefix = tracker_tensor(param, "");
    let state: Vec<StateTensor> = tensors
        .iter()
        .filter_map(|x| {
            Some(StateTensor {
                name: x.name.strip_prefix(&prefix)?.to_string(),
                shape: x.shape.clone(),
                data: x.data.clone(),
            })
        })
        .collect();
    pr.tracker.load_state(&state).map_err(|e| {
        format!(
            "optimizer tensor {}: {} (the {} tracker of a {}×{} matrix at rank {})",
            tracker_tensor(param, &e.tensor),
            e.reason,
            pr.tracker.name(),
            pr.tracker.shape().0,
            pr.tracker.shape().1,
            pr.rank
        )
    })?;
    if t >= 1 && pr.tracker.basis().is_none() {
        return Err(format!(
            "optimizer state has no tensor {prefix}* (the state of {param}'s {} tracker, which \
             every refresh since step 1 has updated): the checkpoint was written before GaLore \
             kept tracker states, or in part; resume from a checkpoint written by this version, \
             or start the run again",
            pr.tracker.name()
        ));
    }
    Ok(())
}
