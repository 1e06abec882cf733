//! The subspace-method contract of galore-lab.
//!
//! A *subspace method* turns an m×n f32 matrix `A` and a rank `k` into an m×k
//! matrix `Q` with orthonormal columns whose range approximates the span of
//! `A`'s k dominant left singular vectors. GaLore needs the right side when
//! m > n; the caller then passes `Aᵀ` as a view (no copy).
//!
//! This crate holds everything a plugin and a caller agree on:
//!
//! - [`method`]: the [`SubspaceMethod`] trait, [`Basis`], [`Info`] and the
//!   accuracy [`Guarantee`] a method claims;
//! - [`context`]: the per-call [`Context`] (seeded counter-based randomness,
//!   parallelism, warm start);
//! - [`tracker`]: the [`Tracker`] a method follows one matrix with across
//!   refreshes (its own, or the one-shot method warm-started);
//! - [`params`] and [`registry`]: plain-data TOML params and the name →
//!   factory [`Registry`];
//! - [`error`]: the error values (shape misuse, non-finite input, numerical
//!   failure, unavailable backend);
//! - [`reference`] and [`metrics`]: the f64 reference SVD and the accuracy
//!   figures computed from it (never by a plugin about itself), with the
//!   Halko–Martinsson–Tropp bounds;
//! - [`budget`]: the memory budget and overflow-checked byte counts every
//!   user-controlled size is checked against before it is allocated;
//! - [`generate`]: test matrices with a prescribed spectrum;
//! - [`kernels`]: the `dense` crate (the low-level kernels: GEMM, thin QR,
//!   small SVD, flop counts), re-exported under its former path;
//! - `testkit` (feature `testkit`): the conformance kit every registered
//!   plugin runs.

pub mod budget;
pub mod context;
pub mod error;
pub mod generate;
pub mod method;
pub mod metrics;
pub mod params;
pub mod reference;
pub mod registry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tracker;

pub use context::Context;
pub use error::SubspaceError;
pub use method::{Basis, Device, Guarantee, Info, SubspaceMethod, validate_input};
pub use params::{ParamDoc, Params};
pub use registry::{Plugin, PluginEntry, Registry, RegistryError};
pub use tracker::{StateError, StateTensor, Tracker, tracker};

/// The low-level kernels, under the path plugins used before `dense` existed.
pub use dense as kernels;
/// Re-exported so that plugins and callers name one faer.
pub use faer;
