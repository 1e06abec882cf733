//! The online-PCA tracker: the crate doc's steps 1–3 on each refresh after
//! the first, with the basis, Adam's moments and the step count as state.

use crate::OnlinePcaParams;
use dense::{ThinQr, flops, matmul};
use faer::{Accum, Mat, MatRef, Par};
use rrf::Rrf;
use subspace::{
    Basis, Context, Info, StateError, StateTensor, SubspaceError, SubspaceMethod, Tracker,
};

/// The largest step count a state holds exactly (f32 integers).
const MAX_STEP: f32 = 16_777_216.0;

/// What a refresh carries to the next.
#[derive(Debug, Clone)]
struct State {
    /// (m, k), orthonormal.
    p: Mat<f32>,
    /// (m, k), Adam's first moment.
    exp_avg: Mat<f32>,
    /// (m, k), Adam's second moment, non-negative.
    exp_avg_sq: Mat<f32>,
    /// Adam steps taken (0 after the cold start).
    step: u32,
}

/// Online PCA following one m×n matrix at rank k.
#[derive(Debug)]
pub struct OnlinePcaTracker {
    params: OnlinePcaParams,
    cold: Rrf,
    m: usize,
    n: usize,
    k: usize,
    state: Option<State>,
}

impl OnlinePcaTracker {
    /// A tracker with no state yet (its first refresh is `cold`).
    pub fn new(params: OnlinePcaParams, cold: Rrf, (m, n, k): (usize, usize, usize)) -> Self {
        Self {
            params,
            cold,
            m,
            n,
            k,
            state: None,
        }
    }
}

/// One refresh after the first: the gradient of the projection loss of
/// A/‖A‖_F at P, an Adam step and the QR retraction (crate doc).
fn step(
    s: &mut State,
    p: &OnlinePcaParams,
    a: MatRef<'_, f32>,
    par: Par,
) -> Result<Info, SubspaceError> {
    let (m, n) = a.shape();
    let k = s.p.ncols();
    // Letters: m, n = A's shape; k = rank.
    let norm_sq: f64 = (0..n)
        .flat_map(|j| (0..m).map(move |i| (i, j)))
        .map(|(i, j)| f64::from(a[(i, j)]).powi(2))
        .sum();
    // ∇ = −2/‖A‖²·(AAᵀP − P·(Pᵀ·AAᵀP)); zero for A = 0.
    let scale = if norm_sq > 0.0 {
        (-2.0 / norm_sq) as f32
    } else {
        0.0
    };
    let mut w = Mat::<f32>::zeros(n, k); // (n, k)
    matmul(
        w.as_mut(),
        Accum::Replace,
        a.transpose(),
        s.p.as_ref(),
        1.0,
        par,
    );
    let mut grad = Mat::<f32>::zeros(m, k); // (m, k): AAᵀP, then ∇
    matmul(grad.as_mut(), Accum::Replace, a, w.as_ref(), 1.0, par);
    let mut c = Mat::<f32>::zeros(k, k); // (k, k)
    matmul(
        c.as_mut(),
        Accum::Replace,
        s.p.transpose(),
        grad.as_ref(),
        1.0,
        par,
    );
    matmul(
        grad.as_mut(),
        Accum::Add,
        s.p.as_ref(),
        c.as_ref(),
        -1.0,
        par,
    );

    s.step += 1;
    let t = s.step as i32;
    let bias1 = (1.0 - f64::from(p.beta1).powi(t)) as f32;
    let bias2_sqrt = (1.0 - f64::from(p.beta2).powi(t)).sqrt() as f32;
    for j in 0..k {
        for i in 0..m {
            let g = scale * grad[(i, j)];
            let m1 = p.beta1 * s.exp_avg[(i, j)] + (1.0 - p.beta1) * g;
            let m2 = p.beta2 * s.exp_avg_sq[(i, j)] + (1.0 - p.beta2) * g * g;
            s.exp_avg[(i, j)] = m1;
            s.exp_avg_sq[(i, j)] = m2;
            s.p[(i, j)] -= p.lr * (m1 / bias1) / (m2.sqrt() / bias2_sqrt + p.eps);
        }
    }

    // Retract: P ← Q of P's QR, R's diagonal non-negative.
    let mut y = s.p.clone(); // (m, k), then R in its upper triangle
    ThinQr::<f32>::new(m, k, Par::Seq).thin_q(s.p.as_mut(), y.as_mut(), Par::Seq);
    for j in 0..k {
        if y[(j, j)] < 0.0 {
            s.p.as_mut().col_mut(j).iter_mut().for_each(|x| *x = -*x);
        }
    }
    Ok(Info {
        iterations: 1,
        products: 2 * k,
        flops: 2.0 * flops::gemm(m, k, n)
            + 2.0 * flops::gemm(k, k, m)
            + flops::qr_thin_q(m, k)
            + 12.0 * (m * k) as f64,
        converged: true,
    })
}

impl Tracker for OnlinePcaTracker {
    fn name(&self) -> &str {
        "online-pca"
    }

    fn shape(&self) -> (usize, usize, usize) {
        (self.m, self.n, self.k)
    }

    fn advance(
        &mut self,
        a: MatRef<'_, f32>,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        match &mut self.state {
            None => {
                let mut cold = ctx.clone();
                cold.warm_start = None;
                let basis = self.cold.left_basis(a, self.k, &mut cold)?;
                ctx.advance_draws_to(cold.draws());
                let zeros = || Mat::<f32>::zeros(self.m, self.k);
                self.state = Some(State {
                    p: basis.q.clone(),
                    exp_avg: zeros(),
                    exp_avg_sq: zeros(),
                    step: 0,
                });
                Ok(basis)
            }
            Some(s) => {
                // A failed step changes nothing: it runs on a copy.
                let mut next = s.clone();
                let info = step(&mut next, &self.params, a, ctx.par)?;
                *s = next;
                Ok(Basis {
                    q: s.p.clone(),
                    info,
                })
            }
        }
    }

    fn basis(&self) -> Option<MatRef<'_, f32>> {
        self.state.as_ref().map(|s| s.p.as_ref())
    }

    fn state(&self) -> Vec<StateTensor> {
        let Some(s) = &self.state else {
            return Vec::new();
        };
        vec![
            StateTensor::from_mat("basis", s.p.as_ref()),
            StateTensor::from_mat("exp_avg", s.exp_avg.as_ref()),
            StateTensor::from_mat("exp_avg_sq", s.exp_avg_sq.as_ref()),
            StateTensor {
                name: "step".into(),
                shape: vec![1],
                data: vec![s.step as f32],
            },
        ]
    }

    fn load_state(&mut self, state: &[StateTensor]) -> Result<(), StateError> {
        if state.is_empty() {
            self.state = None;
            return Ok(());
        }
        const NAMES: [&str; 4] = ["basis", "exp_avg", "exp_avg_sq", "step"];
        if let Some(t) = state.iter().find(|t| !NAMES.contains(&t.name.as_str())) {
            return Err(StateError {
                tensor: t.name.clone(),
                reason: format!(
                    "an online-pca tracker's state holds {NAMES:?}; was the checkpoint written \
                     with another plugin?"
                ),
            });
        }
        let find = |name: &str| {
            state
                .iter()
                .find(|t| t.name == name)
                .ok_or_else(|| StateError {
                    tensor: name.into(),
                    reason: format!(
                        "missing from an online-pca state that holds {:?} (an incomplete \
                         checkpoint: resume from an earlier one)",
                        state.iter().map(|t| t.name.as_str()).collect::<Vec<_>>()
                    ),
                })
        };
        let (m, k) = (self.m, self.k);
        let p = find("basis")?.to_mat(m, k)?;
        let exp_avg = find("exp_avg")?.to_mat(m, k)?;
        let exp_avg_sq = find("exp_avg_sq")?.to_mat(m, k)?;
        if let Some(j) = (0..k).find(|&j| (0..m).any(|i| exp_avg_sq[(i, j)] < 0.0)) {
            return Err(StateError {
                tensor: "exp_avg_sq".into(),
                reason: format!(
                    "column {j} holds a negative second moment (a corrupted state: resume \
                     from an earlier checkpoint)"
                ),
            });
        }
        let step = find("step")?;
        let step = match (step.shape.as_slice(), step.data.as_slice()) {
            ([1], &[value]) => value,
            _ => {
                return Err(StateError {
                    tensor: "step".into(),
                    reason: format!(
                        "shape {:?} with {} values, expected [1] (one step count: resume from \
                         a checkpoint this tracker wrote)",
                        step.shape,
                        step.data.len()
                    ),
                });
            }
        };
        if !(0.0..=MAX_STEP).contains(&step) || step.fract() != 0.0 {
            return Err(StateError {
                tensor: "step".into(),
                reason: format!(
                    "{step} is not a step count (a whole number from 0 to {MAX_STEP}): \
                     resume from a checkpoint this tracker wrote"
                ),
            });
        }
        let ortho = orthonormality(p.as_ref());
        if ortho > 1e-3 {
            return Err(StateError {
                tensor: "basis".into(),
                reason: format!(
                    "‖PᵀP − I‖_F = {ortho:.3e}: not an orthonormal basis (a corrupted state: \
                     resume from an earlier checkpoint)"
                ),
            });
        }
        self.state = Some(State {
            p,
            exp_avg,
            exp_avg_sq,
            step: step as u32,
        });
        Ok(())
    }
}

/// ‖PᵀP − I‖_F, in f64.
fn orthonormality(p: MatRef<'_, f32>) -> f64 {
    let (m, k) = p.shape();
    let mut sum = 0.0;
    for a in 0..k {
        for b in 0..k {
            let dot: f64 = (0..m)
                .map(|i| f64::from(p[(i, a)]) * f64::from(p[(i, b)]))
                .sum();
            let d = dot - if a == b { 1.0 } else { 0.0 };
            sum += d * d;
        }
    }
    sum.sqrt()
}
