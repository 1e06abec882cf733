//! The records of the trajectory part (`source = "trajectory"`): one
//! [`TrackStep`] per step of a tracker pass (a line of `tracking.csv`) and
//! one [`TrackSummary`] per pass (a line of `tracking_summary.csv`),
//! written by `runner::tracking` and read back by `report::tracking`.

use serde::{Deserialize, Serialize};

use super::row::Status;

/// One step of one tracker pass: a line of `tracking.csv`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackStep {
    /// `<stage>/<label>` of the recording run.
    pub run: String,
    pub tensor: String,
    /// The matrix as stored; the basis is of its `side`.
    pub rows: usize,
    pub cols: usize,
    pub side: String,
    pub method: String,
    pub plugin: String,
    pub params: String,
    pub rank: usize,
    pub threads: usize,
    /// The training step the gradient was recorded at.
    pub step: usize,
    /// The position in the trajectory (0 = first update).
    pub index: usize,
    pub status: Status,
    pub error: String,
    pub err_fro: Option<f64>,
    pub sin_theta: Option<f64>,
    /// Largest principal angle to the previous step's basis, radians.
    pub step_angle: Option<f64>,
    /// Seconds of this update.
    pub time_s: Option<f64>,
    /// Seconds of the updates so far, this one included.
    pub time_cumulative_s: Option<f64>,
}

/// One tracker pass over one trajectory: a line of `tracking_summary.csv`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackSummary {
    pub run: String,
    pub tensor: String,
    pub rows: usize,
    pub cols: usize,
    pub side: String,
    pub method: String,
    pub plugin: String,
    pub params: String,
    pub rank: usize,
    pub threads: usize,
    /// Steps with figures.
    pub steps: usize,
    pub status: Status,
    pub error: String,
    pub err_fro_median: Option<f64>,
    pub err_fro_worst: Option<f64>,
    pub sin_theta_median: Option<f64>,
    pub step_angle_median: Option<f64>,
    /// Seconds of every update of the pass.
    pub time_total_s: Option<f64>,
    pub time_per_update_s: Option<f64>,
}
