//! Optimizers: Hugging Face's AdamW and GaLore-AdamW, behind one trait.
//!
//! Both follow GaLore's `galore_torch/adamw.py` (a copy of Hugging Face's
//! AdamW) operation by operation:
//!
//! ```text
//! m = β₁ m + (1 − β₁) g
//! v = β₂ v + (1 − β₂) g²
//! step_size = lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ)
//! N = m / (√v + ε)
//! p += −step_size · N                (GaLore: N back-projected and scaled)
//! p += −lr · wd · p                  (decoupled weight decay, when wd > 0)
//! ```
//!
//! - [`optimizer`]: the [`Optimizer`] trait the training loop holds;
//! - [`registry`]: [`OptimizerKind`], the config's name of an optimizer, and
//!   the one place that builds each (adding one: a file here, a variant and
//!   its arm there);
//! - [`adamw`]: [`AdamW`] over every parameter;
//! - [`galore`]: [`GaloreAdamW`], which projects the gradients of the
//!   attention and MLP matrices onto a rank-r subspace found by any
//!   [`subspace::SubspaceMethod`] and runs Adam there;
//! - [`projected`]: one GaLore matrix (its tracker, basis and moments), its
//!   refresh and its update;
//! - [`moments`]: [`MomentPolicy`], what a refresh does with the low-rank
//!   moments (keep, reset, or LDAdam's projection-aware rotation);
//! - [`align`]: aligning each new basis with the previous one;
//! - [`refresh`]: when each matrix refreshes ([`RefreshRule`]: every T
//!   steps, or Q-GaLore's lazy per-matrix interval) and the counts of
//!   refreshes made and saved;
//! - [`quality`]: the in-loop log of the bases' captured energy and the
//!   optimum's;
//! - [`schedule`]: GaLore's cosine learning-rate schedule.

pub mod adamw;
pub mod align;
pub mod galore;
pub mod moments;
pub mod optimizer;
pub mod projected;
pub mod quality;
pub mod refresh;
pub mod registry;
pub mod schedule;

pub use adamw::{AdamW, AdamWParams};
pub use galore::{GaloreAdamW, GaloreParams, RefreshError, Side, SubspaceTiming};
pub use moments::MomentPolicy;
pub use optimizer::{Optimizer, RefreshWorkspace};
pub use quality::{MatrixQuality, StepQuality};
pub use refresh::{RefreshCounts, RefreshKind, RefreshRule};
pub use registry::OptimizerKind;
pub use schedule::cosine_lr;
