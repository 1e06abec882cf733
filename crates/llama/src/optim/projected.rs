//! One GaLore matrix: its tracker, its basis, its low-rank moments; the
//! refresh of every matrix's basis and the update of one matrix.
//!
//! A refresh asks each matrix's [`Tracker`] for the basis of the matrix
//! GaLore projects (G, or Gᵀ for a right projection) with the context seed
//! [`refresh_seed`], then, per the params, aligns the basis with the
//! previous one ([`super::align`]) and resets or carries the moments
//! ([`super::moments`]); only the matrices due at the step refresh (all of
//! them under `refresh = "every"`, [`super::refresh`]). Contract: a refresh that fails anywhere changes
//! nothing (every tracker is set back to its state before it), and every
//! matrix's arithmetic is sequential, so the bits do not depend on the
//! thread count.

use std::time::Instant;

use faer::{Accum, Mat, MatRef};
use rayon::prelude::*;
use subspace::{Basis, Context, Device, StateTensor, SubspaceError, Tracker};

use super::adamw::{AdamWParams, decay, moments};
use super::galore::{GaloreParams, RefreshError, Side, SubspaceTiming};
use super::moments::{MomentPolicy, change_of_basis, rotate};
use super::refresh::LazySchedule;

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

/// A projected matrix: its tracker, basis and low-rank moments.
pub(super) struct Projected {
    /// Index in the layout.
    pub index: usize,
    pub offset: usize,
    pub rows: usize,
    pub cols: usize,
    pub rank: usize,
    pub side: Side,
    /// Follows the matrix passed to the method: Gᵀ (n×m, right) or G (m×n,
    /// left), at rank r.
    pub tracker: Box<dyn Tracker>,
    /// n×r (right) or m×r (left); zeros until the first refresh.
    pub p: Mat<f32>,
    /// At R's shape: m×r (right) or r×n (left).
    pub m: Mat<f32>,
    pub v: Mat<f32>,
    /// The matrix's own schedule under `refresh = "lazy"`; `None` under
    /// `"every"`.
    pub schedule: Option<LazySchedule>,
}

impl Projected {
    /// This matrix's gradient G (rows × cols), a row-major slice of the
    /// flat gradient buffer.
    pub fn gradient<'g>(&self, g_all: &'g [f32]) -> &'g [f32] {
        &g_all[self.offset..self.offset + self.rows * self.cols]
    }

    /// The matrix the subspace method sees: Gᵀ (right) or G (left), a view
    /// of the flat gradient buffer.
    pub fn method_input<'g>(&self, g_all: &'g [f32]) -> MatRef<'g, f32> {
        let g = MatRef::from_row_major_slice(
            &g_all[self.offset..self.offset + self.rows * self.cols],
            self.rows,
            self.cols,
        );
        match self.side {
            Side::Right => g.transpose(),
            Side::Left => g,
        }
    }
}

/// Refreshes the basis of every matrix with `due[i]` at step `t` (1-based)
/// from the gradients `g_all`; `names` are the layout's parameter names
/// (for errors). Returns the cost of the tracker updates and, per matrix,
/// the agreement |⟨p_new, p_old⟩| of the first columns of its new and
/// previous bases (for a matrix refreshed after its first refresh). See the
/// module doc for the contract.
#[allow(clippy::too_many_arguments)]
pub(super) fn refresh_all(
    projected: &mut [Projected],
    due: &[bool],
    g_all: &[f32],
    params: &GaloreParams,
    seed: u64,
    t: u64,
    device: Device,
    names: &[&str],
) -> Result<(SubspaceTiming, Vec<Option<f32>>), RefreshError> {
    assert_eq!(due.len(), projected.len(), "one due flag per matrix");
    let start = Instant::now();
    // Each due tracker's state before the refresh, then its new basis.
    type Update = Option<(Vec<StateTensor>, Result<Basis, SubspaceError>)>;
    let update = |(pr, &due): (&mut Projected, &bool)| -> Update {
        if !due {
            return None;
        }
        let before = pr.tracker.state();
        let a = pr.method_input(g_all);
        let mut ctx = Context::new(refresh_seed(seed, pr.index, t));
        Some((before, pr.tracker.update(a, &mut ctx)))
    };
    let updates: Vec<Update> = match device {
        Device::Cpu => projected.par_iter_mut().zip(due).map(update).collect(),
        Device::Cuda(_) => projected.iter_mut().zip(due).map(update).collect(),
    };
    let timing = SubspaceTiming {
        calls: updates.iter().flatten().count() as u64,
        seconds: start.elapsed().as_secs_f64(),
        flops: updates
            .iter()
            .flatten()
            .filter_map(|(_, b)| b.as_ref().ok())
            .map(|b| b.info.flops)
            .sum(),
    };
    let fail = |pr: &Projected, source: SubspaceError| RefreshError {
        stage: "the subspace method",
        tensor: names[pr.index].to_string(),
        step: t,
        source,
    };
    let mut error = None;
    let mut before = Vec::with_capacity(updates.len());
    let mut bases: Vec<Option<Mat<f32>>> = Vec::with_capacity(updates.len());
    for (pr, update) in projected.iter().zip(updates) {
        let Some((state, basis)) = update else {
            before.push(None);
            bases.push(None);
            continue;
        };
        before.push(Some(state));
        match basis {
            Ok(b) => bases.push(Some(b.q)),
            Err(e) => {
                error.get_or_insert_with(|| fail(pr, e));
                bases.push(None);
            }
        }
    }
    // Aligned bases, before anything is committed.
    if error.is_none() && params.align {
        let aligned: Vec<Option<Result<Mat<f32>, SubspaceError>>> = projected
            .par_iter_mut()
            .zip(std::mem::take(&mut bases))
            .map(|(pr, q)| {
                let pr = &*pr;
                let previous = (t > 1).then(|| pr.p.as_ref());
                q.map(|q| super::align::align(q, previous).map_err(SubspaceError::from))
            })
            .collect();
        for (pr, q) in projected.iter().zip(aligned) {
            match q {
                None => bases.push(None),
                Some(Ok(q)) => bases.push(Some(q)),
                Some(Err(e)) => {
                    error.get_or_insert_with(|| fail(pr, e));
                }
            }
        }
    }
    if let Some(error) = error {
        for (pr, state) in projected.iter_mut().zip(&before) {
            if let Some(state) = state {
                pr.tracker
                    .load_state(state)
                    .expect("a tracker takes back the state it gave");
            }
        }
        return Err(error);
    }
    // The agreement of each new basis with the previous one (there is one
    // after step 1: every matrix refreshes at step 1).
    let agreements: Vec<Option<f32>> = projected
        .iter()
        .zip(&bases)
        .map(|(pr, q)| {
            let q = q.as_ref()?;
            (t > 1).then(|| first_column_cosine(q.as_ref(), pr.p.as_ref()))
        })
        .collect();
    let policy = params.moments;
    let (beta1, beta2) = (params.adamw.beta1, params.adamw.beta2);
    projected
        .par_iter_mut()
        .zip(bases)
        .filter_map(|(pr, q)| Some((pr, q?)))
        .for_each(|(pr, q)| match policy {
            MomentPolicy::Keep => pr.p = q,
            MomentPolicy::Reset => {
                pr.p = q;
                pr.m.fill(0.0);
                pr.v.fill(0.0);
            }
            MomentPolicy::Rotate => {
                if t > 1 {
                    let r = change_of_basis(q.as_ref(), pr.p.as_ref());
                    rotate(
                        pr.side,
                        r.as_ref(),
                        &mut pr.m,
                        &mut pr.v,
                        beta1,
                        beta2,
                        t - 1,
                    );
                }
                pr.p = q;
            }
        });
    Ok((timing, agreements))
}

/// |⟨a₁, b₁⟩| of the first columns of two bases with unit columns, in f64
/// in order (Q-GaLore's agreement, without the sign; [`super::refresh`]).
fn first_column_cosine(a: MatRef<'_, f32>, b: MatRef<'_, f32>) -> f32 {
    let dot: f64 = (0..a.nrows())
        .map(|i| f64::from(a[(i, 0)]) * f64::from(b[(i, 0)]))
        .sum();
    dot.abs().min(1.0) as f32
}

/// The GaLore update of one projected matrix: R = project(G), Adam on R,
/// N back-projected, scaled by α, then the decoupled weight decay. Returns
/// ‖R‖_F² (f64, in order): the energy of G the basis captures
/// ([`super::quality`]).
pub(super) fn projected_step(
    pr: &mut Projected,
    hp: &AdamWParams,
    lr: f32,
    step_size: f32,
    scale: f32,
    p: &mut [f32],
    g: &[f32],
) -> f64 {
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
    let captured: f64 = (0..rc)
        .flat_map(|j| (0..rr).map(move |i| (i, j)))
        .map(|(i, j)| f64::from(r[(i, j)]).powi(2))
        .sum();
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
    captured
}
