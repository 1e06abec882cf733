//! Trajectories: the gradients one training run recorded, regrouped per
//! tensor as the sequence of its recorded steps (`source = "trajectory"`).
//!
//! Contract of [`assemble`]: every tensor the run recorded (or those the
//! `tensors` glob matches) becomes one [`Trajectory`] whose matrices are the
//! tensor at each of the run's expected steps (its `record_steps`, in
//! increasing order), all of one shape. A recording that cannot give that
//! is an error naming the run, the tensor and the step, and the fix: a step
//! with no file, a tensor missing at a step, a tensor whose shape changes
//! between steps, a glob that matches no recorded tensor. Tensors come in
//! name order.

use std::collections::BTreeMap;
use std::path::PathBuf;

use faer::Mat;

use crate::source::{self, Tensors};
use crate::suite::Suite;

use super::load::recorded_step;
use crate::records::TrainOutcome;

/// One tensor's matrices along a run's recorded steps.
#[derive(Debug, Clone)]
pub struct Trajectory {
    /// `<stage>/<label>` of the run that recorded it.
    pub run: String,
    pub tensor: String,
    /// The recorded steps, increasing.
    pub steps: Vec<usize>,
    /// The tensor at each step, as stored (all one shape).
    pub matrices: Vec<Mat<f32>>,
}

/// What one training run recorded, and what it was asked to.
#[derive(Debug, Clone)]
pub struct Recording {
    /// `<stage>/<label>`.
    pub run: String,
    /// The steps its `record_steps` names, increasing.
    pub expected: Vec<usize>,
    /// The files it wrote (`…/grads/step-<N>.safetensors`).
    pub files: Vec<PathBuf>,
}

/// The recording of each run in `runs` (ids `<stage>/<label>`), or why a run
/// has none (it failed, or did not run).
pub fn recordings(
    suite: &Suite,
    trainings: &[TrainOutcome],
    runs: &[String],
) -> Vec<(String, Result<Recording, String>)> {
    runs.iter()
        .map(|id| {
            let job = suite.trainings.iter().find(|j| j.id() == *id);
            let outcome = trainings.iter().find(|t| t.id() == *id);
            let recording = match (job, outcome) {
                (Some(job), Some(t)) => match &t.summary {
                    Some(summary) => {
                        let mut expected: Vec<usize> = job.config.record_steps.steps().collect();
                        expected.sort_unstable();
                        expected.dedup();
                        Ok(Recording {
                            run: id.clone(),
                            expected,
                            files: summary.recorded.clone(),
                        })
                    }
                    None => Err(format!(
                        "training run {id} failed ({}), so it recorded no trajectory; fix the run \
                         (see training.json) and run the suite again",
                        t.error
                    )),
                },
                _ => Err(format!(
                    "training run {id} did not run, so it recorded nothing"
                )),
            };
            (id.clone(), recording)
        })
        .collect()
}

/// The trajectories of `recording`, those of the tensors `tensors` matches
/// (a glob; `None`: every tensor). See the module doc.
pub fn assemble(recording: &Recording, tensors: Option<&str>) -> Result<Vec<Trajectory>, String> {
    let run = &recording.run;
    let glob = tensors
        .map(|t| {
            glob::Pattern::new(t)
                .map_err(|e| format!("trajectory of {run}: tensors = {t:?} is not a glob: {e}"))
        })
        .transpose()?;
    let mut by_step = BTreeMap::new();
    for path in &recording.files {
        by_step.insert(recorded_step(path)?, path);
    }
    let recorded: Vec<usize> = by_step.keys().copied().collect();
    // tensor → (step, matrix) in step order.
    let mut series: BTreeMap<String, Vec<(usize, Mat<f32>)>> = BTreeMap::new();
    for &step in &recording.expected {
        let Some(path) = by_step.get(&step) else {
            return Err(format!(
                "trajectory of {run}: step {step} has no recorded file (the run recorded steps \
                 {recorded:?}, its record_steps name {:?}); record every step of the range \
                 (record_steps = \"A..B\") and keep the run's grads/ directory whole",
                recording.expected
            ));
        };
        let loaded = source::load_file(path, &Tensors::All, false).map_err(|e| e.to_string())?;
        for m in loaded.matrices {
            if glob.as_ref().is_none_or(|g| g.matches(&m.name)) {
                series.entry(m.name).or_default().push((step, m.matrix));
            }
        }
    }
    if series.is_empty() {
        let pattern = tensors.unwrap_or("*");
        let available = match recording.expected.first().and_then(|s| by_step.get(s)) {
            Some(path) => source::load_file(path, &Tensors::All, false)
                .map(|l| {
                    l.matrices
                        .iter()
                        .map(|m| m.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            None => String::new(),
        };
        return Err(format!(
            "trajectory of {run}: tensors = {pattern:?} matches none of the tensors it recorded \
             ({}); fix the glob, or record those tensors (record_tensors)",
            if available.is_empty() {
                "none".into()
            } else {
                available
            }
        ));
    }
    series
        .into_iter()
        .map(|(tensor, steps)| check(run, &recording.expected, tensor, steps))
        .collect()
}

/// One tensor's series as a trajectory: present at every expected step, one
/// shape throughout.
fn check(
    run: &str,
    expected: &[usize],
    tensor: String,
    series: Vec<(usize, Mat<f32>)>,
) -> Result<Trajectory, String> {
    let steps: Vec<usize> = series.iter().map(|(s, _)| *s).collect();
    if let Some(&missing) = expected.iter().find(|s| !steps.contains(s)) {
        return Err(format!(
            "trajectory of {run}, tensor {tensor}: step {missing} is missing (the tensor was \
             recorded at steps {steps:?}, the trajectory is steps {expected:?}); record the \
             tensor at every step (record_tensors), or leave it out with `tensors`"
        ));
    }
    let (first_step, first) = &series[0];
    let shape = first.shape();
    if let Some((step, m)) = series.iter().find(|(_, m)| m.shape() != shape) {
        return Err(format!(
            "trajectory of {run}, tensor {tensor}: step {step} is {}×{} but step {first_step} \
             is {}×{}; a trajectory follows one matrix: leave the tensor out with `tensors`, or \
             record it from runs of one model",
            m.nrows(),
            m.ncols(),
            shape.0,
            shape.1
        ));
    }
    let (steps, matrices) = series.into_iter().unzip();
    Ok(Trajectory {
        run: run.to_owned(),
        tensor,
        steps,
        matrices,
    })
}
