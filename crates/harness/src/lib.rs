//! The galore-lab harness.
//!
//! - [`source`]: matrices read from `.safetensors` and `.npy` files (and globs
//!   of them), converted to f32 and checked finite;
//! - [`power`]: energy meters (RAPL, NVML) around a measured region, or an
//!   explicit "unavailable" with the reason;
//! - [`machine`]: the record of the machine, toolchain and commit a run used;
//! - [`suite`]: suites in TOML, validated before anything runs;
//! - [`records`]: the records a run writes and everything after it reads
//!   (result rows, training outcomes, tracking rows);
//! - [`runner`]: runs a suite, measuring time, memory, energy and accuracy,
//!   and hands each record to a sink as it finishes;
//! - [`report`]: `results.csv`, `run.json`, `summary.md` and `index.html`;
//! - [`run`]: a suite run end to end, the runner writing into a report;
//! - [`run_dir`]: new run directories' names;
//! - [`baseline`]: the gate's baseline, read and validated before it gates;
//! - [`check`]: the accuracy gate against a committed baseline;
//! - [`merge`]: one report from the shards of a suite (`lab merge`);
//! - [`stats`]: paired Student t and bootstrap confidence intervals;
//! - [`training`]: training runs (`lab train`, a suite's `[[train]]`).

pub mod baseline;
pub mod check;
pub mod machine;
pub mod merge;
pub mod power;
pub mod records;
pub mod report;
pub mod run;
pub mod run_dir;
pub mod runner;
pub mod source;
pub mod stats;
pub mod suite;
pub mod training;
