//! What the training loop needs of an optimizer: one update from the
//! gradients at the schedule's learning rate, its state as named tensors for
//! checkpoints (each optimizer owns its names and layout) and their restore,
//! the bytes of that state, and the cost and working memory of its subspace
//! computations (none for a full-rank optimizer).
//!
//! Contract: `step` is deterministic given (state, params, grads, lr), for
//! any rayon thread count; a failed `step` changes nothing; writing
//! [`Optimizer::state_tensors`] and reading them back with
//! [`Optimizer::load_state`] into a fresh optimizer of the same config
//! resumes it bit for bit.

use super::galore::{RefreshError, SubspaceTiming};
use super::quality::StepQuality;
use super::refresh::RefreshCounts;
use super::registry::OptimizerKind;
use crate::ParamStore;
use crate::params::{NamedTensor, TensorData};

/// The working memory of one subspace refresh, as the method predicts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshWorkspace {
    /// A CPU method: host bytes for as many matrices at once as the run has
    /// threads (0 for a GPU method and for optimizers without refreshes).
    pub host_bytes: usize,
    /// A GPU method: its device bytes for one refresh as it predicts them,
    /// and as it measured them (its buffers, tracked at allocation).
    pub device_bytes_predicted: Option<usize>,
    pub device_bytes_measured: Option<usize>,
}

/// An optimizer of the training loop (see the module doc for the contract).
pub trait Optimizer: Send {
    /// The optimizer's kind, as the config names it.
    fn kind(&self) -> OptimizerKind;

    /// One update of `params` from `grads` at learning rate `lr` (the
    /// schedule's current value). Fails, changing nothing, when a subspace
    /// refresh fails.
    fn step(
        &mut self,
        params: &mut ParamStore,
        grads: &ParamStore,
        lr: f32,
    ) -> Result<(), RefreshError>;

    /// Steps taken so far (a checkpoint's `step` metadata).
    fn steps(&self) -> u64;

    /// The state as named tensors, borrowed, for a checkpoint.
    fn state_tensors(&self) -> Vec<(String, TensorData<'_>)>;

    /// Restores what [`Optimizer::state_tensors`] wrote, after `t` steps.
    /// Fails, naming the tensor, when one is missing or has another shape.
    fn load_state(&mut self, t: u64, tensors: &[NamedTensor]) -> Result<(), String>;

    /// Bytes of optimizer state, as this loop holds it.
    fn state_bytes(&self) -> usize;

    /// The GaLore paper's estimate of the state (Tables 2 and 6: bf16, 2
    /// bytes per element). Every state element is f32 here, so it is half
    /// of [`Optimizer::state_bytes`].
    fn paper_state_bytes(&self) -> usize {
        self.state_bytes() / 2
    }

    /// Subspace computations of the last step (zero without a refresh).
    fn last_step_timing(&self) -> SubspaceTiming {
        SubspaceTiming::default()
    }

    /// Subspace computations since construction.
    fn subspace_timing(&self) -> SubspaceTiming {
        SubspaceTiming::default()
    }

    /// The subspace-quality log of the last step (`None` for an optimizer
    /// without subspaces; see `optim::quality`).
    fn last_step_quality(&self) -> Option<&StepQuality> {
        None
    }

    /// Subspace refreshes made and saved since the run began (zero for an
    /// optimizer without subspaces).
    fn refresh_counts(&self) -> RefreshCounts {
        RefreshCounts::default()
    }

    /// The working memory of a refresh with `concurrency` threads.
    fn refresh_workspace(&self, concurrency: usize) -> RefreshWorkspace {
        let _ = concurrency;
        RefreshWorkspace::default()
    }
}
