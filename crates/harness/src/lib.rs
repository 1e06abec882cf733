//! The galore-lab harness.
//!
//! - [`source`]: matrices read from `.safetensors` and `.npy` files (and globs
//!   of them), converted to f32 and checked finite;
//! - [`power`]: energy meters (RAPL, NVML) around a measured region, or an
//!   explicit "unavailable" with the reason;
//! - [`machine`]: the record of the machine, toolchain and commit a run used.

pub mod machine;
pub mod power;
pub mod source;
