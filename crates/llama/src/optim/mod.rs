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
//! - [`schedule`]: GaLore's cosine learning-rate schedule.

pub mod adamw;
pub mod galore;
pub mod optimizer;
pub mod registry;
pub mod schedule;

pub use adamw::{AdamW, AdamWParams};
pub use galore::{GaloreAdamW, GaloreParams, RefreshError, Side, SubspaceTiming};
pub use optimizer::{Optimizer, RefreshWorkspace};
pub use registry::OptimizerKind;
pub use schedule::cosine_lr;
