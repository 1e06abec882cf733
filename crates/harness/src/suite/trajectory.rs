//! `source = "trajectory"`: checks that the suite can give the matrix a
//! trajectory before anything runs.
//!
//! ```toml
//! [[stage]]
//! name = "small"
//! record_steps = "100..120"    # every step of the range: a trajectory
//! [[run]]
//! optimizer = "galore"
//! record = true
//!
//! [[matrix]]
//! source = "trajectory"
//! run = "galore-svd-T200"      # optional: one recording run (name or stage/name;
//!                              # a run with `seeds` records its first seed only,
//!                              # so stage/name is that seed's recording)
//! tensors = "*mlp*"            # optional glob on tensor names
//! ```
//!
//! Each recorded tensor of each chosen run is one trajectory: its matrices
//! at the run's recorded steps, in increasing step order. Each `[[method]]`
//! follows it as a tracker (`subspace::tracker`) at every rank and thread
//! count of the suite; `runner::trajectory` measures it.

use super::{MatrixJob, TrainJob};

/// The job of `[[matrix]]` #`index` with `source = "trajectory"`: the
/// recording runs it reads, or why the suite cannot give it any.
pub(super) fn job(
    index: usize,
    run: Option<&str>,
    tensors: Option<&str>,
    trainings: &[TrainJob],
) -> Result<MatrixJob, String> {
    if let Some(t) = tensors {
        glob::Pattern::new(t)
            .map_err(|e| format!("[[matrix]] #{index}: tensors = {t:?} is not a glob: {e}"))?;
    }
    let recording: Vec<&TrainJob> = trainings
        .iter()
        .filter(|j| !j.config.record_steps.is_empty())
        .collect();
    if recording.is_empty() {
        return Err(format!(
            "[[matrix]] #{index}: source = \"trajectory\" but no training run records \
             gradients; give a [[run]] `record = true` and its stage `record_steps = \"A..B\"`"
        ));
    }
    let runs: Vec<String> = match run {
        None => recording.iter().map(|j| j.id()).collect(),
        Some(name) => {
            let chosen: Vec<String> = recording
                .iter()
                .filter(|j| {
                    j.label == name
                        || j.id() == name
                        || super::train::run_id(&j.stage, &j.label, None) == name
                })
                .map(|j| j.id())
                .collect();
            if chosen.is_empty() {
                let names: Vec<String> =
                    recording.iter().map(|j| format!("{:?}", j.id())).collect();
                return Err(format!(
                    "[[matrix]] #{index}: run = {name:?} is not a training run that records \
                     gradients; use one of {} (or give that run `record = true`)",
                    names.join(", ")
                ));
            }
            chosen
        }
    };
    Ok(MatrixJob::Trajectory {
        runs,
        tensors: tensors.map(str::to_owned),
    })
}
