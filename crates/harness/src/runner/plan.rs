//! What a run measures, fixed before its first row: the suite's methods,
//! each built once for the whole run (a GPU method opens its device once and
//! keeps its buffers across rows), and its matrix sources, with
//! `source = "recorded"` resolved after training to the files the runs
//! wrote, each with the stage and run that recorded it.

use subspace::{Registry, SubspaceMethod};

use crate::suite::{MatrixJob, MethodJob, Suite};

use crate::records::TrainOutcome;

/// A method of the suite, built once.
pub struct Method<'a> {
    pub job: &'a MethodJob,
    /// The instance every row of this method calls, or why the registry
    /// could not build it (each of its rows then fails with the reason).
    pub built: Result<Box<dyn SubspaceMethod>, String>,
}

/// Builds every method of `suite`, in order.
pub fn methods<'a>(suite: &'a Suite, registry: &Registry) -> Vec<Method<'a>> {
    suite
        .methods
        .iter()
        .map(|job| Method {
            job,
            built: registry
                .build(&job.plugin, &job.params)
                .map_err(|e| e.to_string()),
        })
        .collect()
}

/// The training run that wrote a recorded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedBy {
    pub stage: String,
    /// The run's label within its stage.
    pub run: String,
}

/// One matrix source as the run reads it.
#[derive(Debug, Clone)]
pub struct Source {
    pub job: MatrixJob,
    /// For a recorded gradient file: who recorded it.
    pub recorded_by: Option<RecordedBy>,
}

/// The suite's matrix sources with `source = "recorded"` replaced by the
/// files the training runs wrote (in the order of the runs, then of their
/// steps); a run that failed contributes nothing.
pub fn sources(matrices: &[MatrixJob], trainings: &[TrainOutcome]) -> Vec<Source> {
    let mut out = Vec::new();
    for job in matrices {
        match job {
            MatrixJob::Recorded { stage, tensors } => {
                for t in trainings {
                    if stage.as_ref().is_some_and(|s| *s != t.stage) {
                        continue;
                    }
                    let Some(summary) = &t.summary else { continue };
                    for path in &summary.recorded {
                        out.push(Source {
                            job: MatrixJob::File {
                                path: path.clone(),
                                tensors: tensors.clone(),
                                explicit: false,
                            },
                            recorded_by: Some(RecordedBy {
                                stage: t.stage.clone(),
                                run: t.label.clone(),
                            }),
                        });
                    }
                }
            }
            // Trajectories are followed by trackers, not measured one-shot
            // (`super::trajectory`).
            MatrixJob::Trajectory { .. } => {}
            other => out.push(Source {
                job: other.clone(),
                recorded_by: None,
            }),
        }
    }
    out
}
