//! Trackers: a subspace method that follows one matrix across refreshes.
//!
//! GaLore refreshes a projected matrix's basis every `T` steps; at `T = 1`
//! that is a tracking problem, not a string of independent SVDs: the
//! gradient's dominant subspace moves a little each step and the previous
//! basis is the best start (LDAdam, SubTrack++, Online Subspace Descent; see
//! `shared/research/subspace-tracking.md`). A [`Tracker`] owns what a method
//! carries from one refresh of one m×n matrix to the next.
//!
//! Every method tracks: [`tracker`] gives a method's own tracker when it has
//! one ([`SubspaceMethod::own_tracker`]) and otherwise wraps the one-shot
//! method in [`WarmStarted`], which hands it the previous basis as the
//! context's warm start (which a method may use or ignore: svd ignores it,
//! rrf with `warm_start = true` sketches from it). The harness's one-shot
//! rows never go through a tracker.
//!
//! A tracker's state is a list of named f32 tensors ([`StateTensor`]), so a
//! checkpoint stores it beside the optimizer's moments and a run resumed
//! from it continues bit for bit.

use crate::{Basis, Context, SubspaceError, SubspaceMethod, validate_input};
use faer::{Mat, MatRef};
use std::sync::Arc;
use thiserror::Error;

/// One named tensor of a tracker's state: row-major f32 values of `shape`.
#[derive(Debug, Clone, PartialEq)]
pub struct StateTensor {
    /// The tensor's name inside the tracker (e.g. `"basis"`); a checkpoint
    /// prefixes it with the tracked parameter's name.
    pub name: String,
    pub shape: Vec<usize>,
    /// Row-major values; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

impl StateTensor {
    /// The tensor `name` holding the m×k matrix `q`, row-major.
    pub fn from_mat(name: &str, q: MatRef<'_, f32>) -> Self {
        let (m, k) = q.shape();
        let mut data = Vec::with_capacity(m * k);
        for i in 0..m {
            for j in 0..k {
                data.push(q[(i, j)]);
            }
        }
        Self {
            name: name.into(),
            shape: vec![m, k],
            data,
        }
    }

    /// The matrix this tensor holds, if it is `rows × cols` and finite.
    pub fn to_mat(&self, rows: usize, cols: usize) -> Result<Mat<f32>, StateError> {
        if self.shape != [rows, cols] || self.data.len() != rows * cols {
            return Err(StateError {
                tensor: self.name.clone(),
                reason: format!(
                    "shape {:?} with {} values, expected [{rows}, {cols}] (a state saved for \
                     another matrix shape or rank: resume with the config it was saved with)",
                    self.shape,
                    self.data.len()
                ),
            });
        }
        if let Some(i) = self.data.iter().position(|x| !x.is_finite()) {
            return Err(StateError {
                tensor: self.name.clone(),
                reason: format!(
                    "value {} at flat index {i} is not finite (a corrupted state: resume from \
                     an earlier checkpoint)",
                    self.data[i]
                ),
            });
        }
        Ok(Mat::from_fn(rows, cols, |i, j| self.data[i * cols + j]))
    }
}

/// A tracker state that does not fit the tracker it is loaded into.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("tracker state tensor {tensor:?}: {reason}")]
pub struct StateError {
    /// The state tensor's name (or the name that was missing).
    pub tensor: String,
    pub reason: String,
}

/// A subspace method following one m×n matrix at rank k across refreshes.
///
/// Implementors write [`advance`](Self::advance); callers call
/// [`update`](Self::update), which validates the input first (shape, finite
/// entries), so a tracker never sees a matrix of another shape.
///
/// A tracker uses the seed and the parallelism of the context it is given;
/// its warm start is its own state, and a warm start set in the context is
/// ignored. Same state, same input and same seed give the same bits for any
/// thread count.
pub trait Tracker: Send {
    /// The registry name of the method tracking.
    fn name(&self) -> &str;

    /// The `(m, n, k)` this tracker follows.
    fn shape(&self) -> (usize, usize, usize);

    /// The basis for `a` (m×n, finite) given the state, and the state
    /// advanced past it. Called only through [`update`](Self::update).
    fn advance(
        &mut self,
        a: MatRef<'_, f32>,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError>;

    /// The basis of the last update (m×k), `None` before the first.
    fn basis(&self) -> Option<MatRef<'_, f32>>;

    /// The state as named tensors: what a checkpoint stores. Loading it into
    /// a fresh tracker of the same method and shape continues bit for bit.
    /// Empty before the first update.
    fn state(&self) -> Vec<StateTensor>;

    /// Restores a state from [`state`](Self::state), or says which tensor
    /// does not fit and why (nothing changes then). An empty list is the
    /// state before the first update.
    fn load_state(&mut self, state: &[StateTensor]) -> Result<(), StateError>;

    /// Bytes of the state this tracker holds now (what [`state`](Self::state)
    /// would copy out). Default: counted from a copy of the state.
    fn state_bytes(&self) -> usize {
        self.state().iter().map(|t| t.data.len()).sum::<usize>() * size_of::<f32>()
    }

    /// Within how many updates, on a slowly turning matrix of known
    /// spectrum (the conformance kit's trajectory), the basis reaches
    /// err_fro ≤ 1.01 and stays there; `None` claims nothing.
    fn settles_within(&self) -> Option<usize> {
        None
    }

    /// The tracked basis for `a`, which must be m×n and finite.
    fn update(
        &mut self,
        a: MatRef<'_, f32>,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let (m, n, k) = self.shape();
        if a.shape() != (m, n) {
            return Err(SubspaceError::TrackedShape {
                method: self.name().into(),
                rows: a.nrows(),
                cols: a.ncols(),
                m,
                n,
            });
        }
        validate_input(a, k)?;
        let basis = self.advance(a, ctx)?;
        assert_eq!(
            basis.q.shape(),
            (m, k),
            "tracker {} returned a basis of the wrong shape",
            self.name()
        );
        Ok(basis)
    }
}

/// The tracker of `method` for an m×n matrix at rank k: the method's own
/// ([`SubspaceMethod::own_tracker`]) or else [`WarmStarted`].
pub fn tracker(method: &Arc<dyn SubspaceMethod>, m: usize, n: usize, k: usize) -> Box<dyn Tracker> {
    method
        .own_tracker(m, n, k)
        .unwrap_or_else(|| Box::new(WarmStarted::new(Arc::clone(method), m, n, k)))
}

/// The default tracker: the one-shot method, called with the previous basis
/// as the context's warm start. Its state is that basis (`"basis"`, m×k).
pub struct WarmStarted {
    method: Arc<dyn SubspaceMethod>,
    m: usize,
    n: usize,
    k: usize,
    previous: Option<Mat<f32>>,
}

impl std::fmt::Debug for WarmStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmStarted")
            .field("method", &self.method.name())
            .field("shape", &(self.m, self.n, self.k))
            .field("started", &self.previous.is_some())
            .finish()
    }
}

impl WarmStarted {
    /// A tracker with no previous basis yet.
    pub fn new(method: Arc<dyn SubspaceMethod>, m: usize, n: usize, k: usize) -> Self {
        Self {
            method,
            m,
            n,
            k,
            previous: None,
        }
    }
}

impl Tracker for WarmStarted {
    fn name(&self) -> &str {
        self.method.name()
    }

    fn shape(&self) -> (usize, usize, usize) {
        (self.m, self.n, self.k)
    }

    fn advance(
        &mut self,
        a: MatRef<'_, f32>,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let mut inner = ctx.clone();
        inner.warm_start = self.previous.as_ref().map(|q| q.as_ref());
        let basis = self.method.left_basis(a, self.k, &mut inner)?;
        ctx.advance_draws_to(inner.draws());
        self.previous = Some(basis.q.clone());
        Ok(basis)
    }

    fn basis(&self) -> Option<MatRef<'_, f32>> {
        self.previous.as_ref().map(|q| q.as_ref())
    }

    fn state(&self) -> Vec<StateTensor> {
        self.previous
            .iter()
            .map(|q| StateTensor::from_mat("basis", q.as_ref()))
            .collect()
    }

    fn load_state(&mut self, state: &[StateTensor]) -> Result<(), StateError> {
        let previous = match state {
            [] => None,
            [basis] if basis.name == "basis" => Some(basis.to_mat(self.m, self.k)?),
            _ => {
                let names: Vec<&str> = state.iter().map(|t| t.name.as_str()).collect();
                return Err(StateError {
                    tensor: names.join(", "),
                    reason: format!(
                        "a {} tracker's state is one tensor \"basis\" (or none); was the \
                         checkpoint written with another plugin?",
                        self.method.name()
                    ),
                });
            }
        };
        self.previous = previous;
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        self.previous
            .as_ref()
            .map_or(0, |q| q.nrows() * q.ncols() * size_of::<f32>())
    }

    fn settles_within(&self) -> Option<usize> {
        self.method.settles_within(self.m, self.n, self.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Guarantee, Info};

    /// A method that returns the first k columns of the identity, or the
    /// warm start when given one: enough to see what the wrapper passes.
    struct Echo;

    impl SubspaceMethod for Echo {
        fn name(&self) -> &str {
            "echo"
        }
        fn guarantee(&self, _: usize, _: usize, _: usize) -> Guarantee {
            Guarantee::Unbounded
        }
        fn compute(
            &self,
            a: MatRef<'_, f32>,
            k: usize,
            ctx: &mut Context<'_>,
        ) -> Result<Basis, SubspaceError> {
            let _ = ctx.gaussian(1, 1);
            let q = match ctx.warm_start {
                Some(w) => Mat::from_fn(a.nrows(), k, |i, j| -w[(i, j)]),
                None => Mat::from_fn(a.nrows(), k, |i, j| f32::from(i == j)),
            };
            Ok(Basis {
                q,
                info: Info::default(),
            })
        }
    }

    fn echo() -> Arc<dyn SubspaceMethod> {
        Arc::new(Echo)
    }

    #[test]
    fn warm_started_passes_the_previous_basis_and_round_trips_it() {
        let a = Mat::from_fn(4, 3, |i, j| (i + 2 * j) as f32);
        let mut t = tracker(&echo(), 4, 3, 2);
        assert!(t.basis().is_none() && t.state().is_empty());
        let mut ctx = Context::new(7);
        let first = t.update(a.as_ref(), &mut ctx).unwrap();
        assert_eq!(first.q[(0, 0)], 1.0);
        assert_eq!(ctx.draws(), 1, "the caller's context keeps the draws made");
        let second = t.update(a.as_ref(), &mut ctx).unwrap();
        assert_eq!(
            second.q[(0, 0)],
            -1.0,
            "the previous basis was the warm start"
        );
        let state = t.state();
        assert_eq!(t.state_bytes(), 4 * 2 * 4);
        let mut fresh = tracker(&echo(), 4, 3, 2);
        fresh.load_state(&state).unwrap();
        assert_eq!(fresh.state(), state);
        let (x, y) = (
            t.update(a.as_ref(), &mut Context::new(1)).unwrap(),
            fresh.update(a.as_ref(), &mut Context::new(1)).unwrap(),
        );
        assert_eq!(x.q, y.q);
    }

    #[test]
    fn a_state_or_a_matrix_of_another_shape_is_refused_by_name() {
        let mut t = tracker(&echo(), 4, 3, 2);
        let wrong = StateTensor {
            name: "basis".into(),
            shape: vec![4, 3],
            data: vec![0.0; 12],
        };
        let e = t.load_state(&[wrong]).unwrap_err();
        assert_eq!(e.tensor, "basis");
        assert!(e.reason.contains("expected [4, 2]"), "{e}");
        let nan = StateTensor {
            name: "basis".into(),
            shape: vec![4, 2],
            data: vec![f32::NAN; 8],
        };
        assert!(
            t.load_state(&[nan])
                .unwrap_err()
                .reason
                .contains("not finite")
        );
        let other = StateTensor::from_mat("moments", Mat::<f32>::zeros(4, 2).as_ref());
        assert!(
            t.load_state(&[other])
                .unwrap_err()
                .reason
                .contains("\"basis\"")
        );
        assert!(t.basis().is_none(), "a refused state changes nothing");
        let a = Mat::<f32>::zeros(3, 3);
        let e = t.update(a.as_ref(), &mut Context::new(0)).unwrap_err();
        assert!(
            matches!(e, SubspaceError::TrackedShape { rows: 3, .. }),
            "{e}"
        );
    }
}
