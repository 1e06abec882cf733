//! The trajectory part of a run, after the one-shot rows: every
//! `source = "trajectory"` matrix's recordings assembled into trajectories
//! ([`super::trajectory`]), each followed by every method at every rank and
//! thread count ([`super::track`]), the rows written as each pass finishes
//! (`tracking.csv`, `tracking_summary.csv`).
//!
//! Failures are rows, and the run goes on: a recording that does not give a
//! trajectory (a missing step, mixed shapes, a glob that matches nothing, a
//! run that failed) is one summary row with status `error` naming the run,
//! the tensor, the step and the fix; a method that did not build, is
//! unavailable or is asked for a rank above min(m, n) is a summary row with
//! that status.

use std::sync::Arc;

use faer::Par;
use subspace::reference::ReferenceSvd;
use subspace::{Registry, SubspaceMethod};

use super::RunSink;
use super::calibrate::Lane;
use super::segments::{self, Marks};
use super::shard::{Item, Part};
use super::track::{self, Inputs};
use super::trajectory::{self, Trajectory};
use crate::records::{Status, TrackStep, TrackSummary, TrainOutcome};
use crate::suite::{MatrixJob, Side, Suite};

/// What the trajectory part produced so far.
#[derive(Debug, Default)]
pub struct Tracked {
    pub steps: Vec<TrackStep>,
    pub summaries: Vec<TrackSummary>,
}

/// Whether `suite` has a trajectory source.
pub fn wanted(suite: &Suite) -> bool {
    suite
        .matrices
        .iter()
        .any(|m| matches!(m, MatrixJob::Trajectory { .. }))
}

/// Where a shard stands in the trajectory part: the items it owns and the
/// record of the units it finished ([`segments`]).
pub struct ShardMarks<'a> {
    pub part: &'a Part,
    pub marks: &'a mut Marks,
}

/// Runs the trajectory part of `suite` (see the module doc), appending to
/// `out` and `sink` as each pass finishes. A shard (`shard`) follows only
/// the method × rank × lane items of each trajectory source that it owns,
/// and marks each pass as a unit keyed by its place in an unsharded run
/// ([`segments::tracking_key`]).
pub fn track_all(
    suite: &Suite,
    registry: &Registry,
    lanes: &[Lane],
    trainings: &[TrainOutcome],
    sink: &mut dyn RunSink,
    out: &mut Tracked,
    mut shard: Option<ShardMarks<'_>>,
) -> anyhow::Result<()> {
    let methods: Vec<Result<Arc<dyn SubspaceMethod>, String>> = suite
        .methods
        .iter()
        .map(|job| {
            registry
                .build(&job.plugin, &job.params)
                .map(Arc::from)
                .map_err(|e| e.to_string())
        })
        .collect();
    for (j, job) in suite.matrices.iter().enumerate() {
        let MatrixJob::Trajectory { runs, tensors } = job else {
            continue;
        };
        if shard.as_ref().is_some_and(|s| !s.part.owns_any_row_of(j)) {
            continue;
        }
        let recordings = trajectory::recordings(suite, trainings, runs);
        for (rec, (id, recording)) in recordings.into_iter().enumerate() {
            let assembled = recording.and_then(|r| trajectory::assemble(&r, tensors.as_deref()));
            let trajectories = match assembled {
                Ok(t) => t,
                Err(reason) => {
                    eprintln!("trajectory {id}: {reason}");
                    let row = TrackSummary {
                        run: id.clone(),
                        tensor: tensors.clone().unwrap_or_else(|| "*".into()),
                        status: Status::Error,
                        error: reason,
                        ..TrackSummary::default()
                    };
                    sink.track_summary(&row)?;
                    out.summaries.push(row);
                    if let Some(s) = shard.as_mut() {
                        s.marks.mark(segments::tracking_key(j, rec, None), true)?;
                    }
                    continue;
                }
            };
            for (i, t) in trajectories.iter().enumerate() {
                let place = Place {
                    job: j,
                    key: [rec, i],
                };
                follow_all(suite, &methods, lanes, t, sink, out, place, shard.as_mut())?;
            }
        }
    }
    Ok(())
}

/// A trajectory's place in the suite: its `[[matrix]]` index, and its
/// recording's and its own index there.
#[derive(Clone, Copy)]
struct Place {
    job: usize,
    key: [usize; 2],
}

/// Every method × rank × lane over one trajectory (a shard's own only).
#[allow(clippy::too_many_arguments)]
fn follow_all(
    suite: &Suite,
    methods: &[Result<Arc<dyn SubspaceMethod>, String>],
    lanes: &[Lane],
    t: &Trajectory,
    sink: &mut dyn RunSink,
    out: &mut Tracked,
    place: Place,
    mut shard: Option<&mut ShardMarks<'_>>,
) -> anyhow::Result<()> {
    let (m, n) = t.matrices[0].shape();
    let transpose = suite.side == Side::Short && m > n;
    eprintln!(
        "trajectory {} {}: {} steps of {m}×{n}",
        t.run,
        t.tensor,
        t.steps.len()
    );
    // The references use every core: they are not measured.
    let mut references = Vec::with_capacity(t.steps.len());
    for (i, a) in t.matrices.iter().enumerate() {
        let a = if transpose { a.transpose() } else { a.as_ref() };
        let r = ReferenceSvd::new(a, Par::rayon(0)).map_err(|e| {
            anyhow::anyhow!(
                "reference SVD of {} {} at step {}: {e}",
                t.run,
                t.tensor,
                t.steps[i]
            )
        })?;
        references.push(r);
    }
    let inputs = Inputs {
        trajectory: t,
        transpose,
        references: &references,
    };
    let (rows_in, cols_in) = inputs.input(0).shape();
    for (k, (job, built)) in suite.methods.iter().zip(methods).enumerate() {
        for (r, &rank) in suite.ranks.iter().enumerate() {
            for (l, lane) in lanes.iter().enumerate() {
                let item = Item::Rows {
                    matrix: place.job,
                    method: k,
                    rank: r,
                    lane: l,
                };
                if shard.as_ref().is_some_and(|s| !s.part.owns(&item)) {
                    continue;
                }
                let key =
                    segments::tracking_key(place.job, place.key[0], Some([place.key[1], k, r, l]));
                let refused = |status: Status, reason: String| TrackSummary {
                    status,
                    error: reason,
                    ..track::base(job, t, transpose, rank, lane.threads)
                };
                let refusal = match built {
                    Err(e) => Some(refused(Status::Error, e.clone())),
                    Ok(method) => match method.availability() {
                        Err(reason) => Some(refused(Status::Unavailable, reason)),
                        Ok(()) if rank > rows_in.min(cols_in) => Some(refused(
                            Status::Skipped,
                            format!(
                                "rank {rank} > min(m, n) = {} for this {rows_in}×{cols_in} input",
                                rows_in.min(cols_in)
                            ),
                        )),
                        Ok(()) => None,
                    },
                };
                if let Some(row) = refusal {
                    sink.track_summary(&row)?;
                    out.summaries.push(row);
                    if let Some(s) = shard.as_deref_mut() {
                        s.marks.mark(key, false)?;
                    }
                    continue;
                }
                let Ok(method) = built else { continue };
                let pass = track::follow(method, &inputs, rank, suite.seed, suite.warmup, lane);
                let (steps, summary) = track::rows(job, &inputs, rank, lane.threads, pass);
                for s in &steps {
                    sink.track_step(s)?;
                }
                sink.track_summary(&summary)?;
                out.steps.extend(steps);
                out.summaries.push(summary);
                if let Some(s) = shard.as_deref_mut() {
                    s.marks.mark(key, false)?;
                }
            }
        }
    }
    Ok(())
}
