//! `lab merge`: one report from the partial reports of a sharded suite
//! (`lab run SUITE --shard I/N`, [`crate::runner::shard`]).
//!
//! The merged report holds what an unsharded run of the suite with the
//! same seeds writes: every CSV (`results.csv`, `training.csv`,
//! `spectra.csv`, and any other the runner writes) line for line in the
//! unsharded order, `training.json`, and `summary.md` and `index.html`
//! rendered from the merged rows; its figures equal the unsharded run's,
//! timings aside ([`compare`]). `run.json` lists every shard with its
//! machine and its own record, and the summary says that a shard's times
//! and energy are its machine's.
//!
//! - [`shards`]: finding the shard reports and refusing a set that cannot
//!   make one report;
//! - [`combine`]: the CSVs and `training.json`, in unsharded order;
//! - [`report`]: the merge itself and the files it writes;
//! - [`compare`]: whether two reports hold the same figures.

pub mod combine;
pub mod compare;
pub mod report;
pub mod shards;

pub use crate::report::read_rows;
pub use report::{Merged, merge};
