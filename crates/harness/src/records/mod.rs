//! The records of a run: what the runner writes and the report, the merger
//! and the gate read. They sit at the bottom of the harness and import
//! neither side (only the suite they describe and llama's training summary),
//! so each side can change without the other and a record has one owner:
//!
//! - [`row`]: a line of `results.csv` ([`Row`]), its [`Status`], a recorded
//!   gradient's [`Origin`], the gated [`Metric`]s, [`inline_params`];
//! - [`train`]: one training run of a suite ([`TrainOutcome`], an entry of
//!   `training.json`);
//! - [`track`]: a line of `tracking.csv` ([`TrackStep`]) and of
//!   `tracking_summary.csv` ([`TrackSummary`]).
//!
//! A new column goes into its record here; the runner fills it, and the
//! report shows it if it should (see docs/architecture.md, "Where a change
//! goes").

pub mod row;
pub mod track;
pub mod train;

pub use row::{Metric, Origin, Row, Status, inline_params};
pub use track::{TrackStep, TrackSummary};
pub use train::TrainOutcome;
