//! The device layer: finding a usable GPU without panicking, per-stream
//! workspaces, and the cuBLAS / cuSOLVER / cuRAND calls the methods are
//! built from, each with its status checked and mapped to
//! [`SubspaceError::Kernel`](subspace::SubspaceError::Kernel).
//!
//! cudarc opens the CUDA libraries by name at run time and *panics* when one
//! is missing, so [`probe`] first asks each library module whether its
//! library loads (`is_culib_present`), then counts devices, and runs all of
//! it under `catch_unwind` as a second guard.
//!
//! Matrices on the device are column-major f32 with a leading dimension, as
//! cuBLAS expects. Letters used in shape comments: A is m×n, ℓ the sketch
//! width, k the rank.
//!
//! The layer along its seams: `device` (the probe, the lazily opened device
//! and its pool of workspaces), `buffers` (growable device buffers, where A
//! lies), `workspace` (one stream with its handles, buffers and stage
//! profile), the workspace's calls by library (`transfer` for host↔device
//! copies, `random` for cuRAND, `blas` for cuBLAS, `solver` for cuSOLVER),
//! `status` (each library status mapped to an error) and `checks` (the
//! device-side residual and the SGEMM rate, for the benchmark). The
//! submodules are private: the items below are the layer's whole API.

mod blas;
mod buffers;
mod checks;
mod device;
mod random;
mod solver;
mod status;
mod transfer;
mod workspace;

pub use buffers::{Buf, DeviceMat, Stored};
pub use device::{Gpu, LazyGpu, probe};
pub use workspace::{Stage, Workspace};
