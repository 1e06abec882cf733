//! Runs a suite: its training runs first, then every matrix × method × rank
//! × thread count, measuring time, heap memory, energy and accuracy, and
//! handing each record to a [`RunSink`] as it finishes ([`execute`]). The
//! runner knows no report: [`crate::run`] opens the report, hands its
//! writers in as the sink, and closes it.
//!
//! The rooms, in the order a run goes through them:
//! - [`calibrate`]: one warmed rayon pool per thread count and faer's GEMM
//!   rate in it;
//! - [`train`]: the suite's training runs (each a
//!   [`crate::records::TrainOutcome`]);
//! - [`plan`]: the methods, each built once for the whole run, and the
//!   matrix sources, recorded gradients resolved to the runs that wrote them;
//! - [`load`]: a source's matrices, with their labels and origins;
//! - [`measure`]: one matrix × method × rank × thread count into one
//!   [`crate::records::Row`]
//!   (the reference SVD of a matrix is computed once, for all its rows);
//! - [`tracking`], after the one-shot rows: `source = "trajectory"`, each
//!   recording assembled into trajectories ([`trajectory`]) and followed by
//!   every method as a tracker ([`track`]).
//! - [`shard`], [`segments`], [`trained`]: one shard of a suite
//!   ([`run_shard`]): the items it owns, the record of what it wrote
//!   (`shard.json`), and for the matrices phase the training runs it reads.
//!
//! Failures (a file that does not load, a rank larger than the matrix, an
//! unavailable backend, a numerical failure) become rows with a status and
//! the reason; the run goes on.

pub mod calibrate;
pub mod load;
pub mod measure;
pub mod plan;
pub mod segments;
pub mod shard;
pub mod torch;
pub mod track;
pub mod tracking;
pub mod train;
pub mod trained;
pub mod trajectory;

pub use calibrate::measure_gemm_rate;
pub use measure::ENERGY_MIN_SECONDS;

use std::path::{Path, PathBuf};

use faer::Par;
use subspace::Registry;
use subspace::reference::ReferenceSvd;

use crate::power;
use crate::records::{Row, Status, TrackStep, TrackSummary, TrainOutcome};
use crate::suite::Suite;

/// Peak heap bytes of a region, from a counting global allocator.
pub trait HeapProbe: Sync {
    /// Starts a region: the peak becomes the current live bytes.
    fn reset(&self);
    /// Peak live bytes since `reset`, minus the live bytes at `reset`.
    fn peak_bytes(&self) -> usize;
}

/// How to run.
pub struct RunOptions<'a> {
    /// Reports go to `<root>/<suite>/<timestamp>-<commit>/`.
    pub root: PathBuf,
    /// The heap probe; `None` reports the heap as unmeasured.
    pub heap: Option<&'a dyn HeapProbe>,
    /// Draw a progress bar on a terminal.
    pub progress: bool,
}

/// Where the runner hands each record as it finishes (the report's writers,
/// wired by [`crate::run`]): what it was handed survives a run that stops.
/// The training runs write their own files under the run's directory
/// ([`train`]).
pub trait RunSink {
    /// A finished row (a line of `results.csv`).
    fn row(&mut self, row: &Row) -> anyhow::Result<()>;
    /// A matrix's singular values, from its reference SVD, after its rows.
    fn spectrum(&mut self, matrix: &str, sigma: &[f64]) -> anyhow::Result<()>;
    /// The trajectory part begins: only a suite with trajectories calls it,
    /// before any [`RunSink::track_step`] or [`RunSink::track_summary`].
    fn begin_tracking(&mut self) -> anyhow::Result<()>;
    /// One step of a tracker pass (a line of `tracking.csv`).
    fn track_step(&mut self, step: &TrackStep) -> anyhow::Result<()>;
    /// One tracker pass, or a trajectory that could not be assembled (a
    /// line of `tracking_summary.csv`).
    fn track_summary(&mut self, summary: &TrackSummary) -> anyhow::Result<()>;
}

/// What a run has finished so far: [`execute`] fills it as it goes, so a
/// run that stops early still knows what finished ([`Done::unfinished`]).
#[derive(Default)]
pub struct Done {
    pub rows: Vec<Row>,
    /// The training runs: the matrices phase of a shard starts with those
    /// it read ([`trained::read`]).
    pub trainings: Vec<TrainOutcome>,
    /// The names of the matrix sources (set once training is over).
    sources: Option<Vec<String>>,
    /// How many of `sources` were measured to the end.
    sources_finished: usize,
    pub tracked: tracking::Tracked,
    /// Whether the trajectory part ran to its end.
    tracking_finished: bool,
    /// Each source's `[[matrix]]` index ([`trained::source_places`]).
    places: Vec<(usize, usize)>,
}

impl Done {
    /// The parts of `suite` not finished (of shard `part`'s, for a shard),
    /// as a person names them.
    pub fn unfinished(&self, suite: &Suite, part: Option<&shard::Part>) -> Vec<String> {
        let owns_run = |i: usize| part.is_none_or(|p| p.owns_training(i));
        let owns_rows = |j: usize| part.is_none_or(|p| p.owns_any_row_of(j));
        let mut out = Vec::new();
        match &self.sources {
            None => {
                for (i, job) in suite.trainings.iter().enumerate() {
                    let ran = self.trainings.iter().any(|t| t.is_of(job));
                    if owns_run(i) && !ran {
                        out.push(format!("training {}", job.id()));
                    }
                }
                for (j, job) in suite.matrices.iter().enumerate() {
                    if owns_rows(j) {
                        out.push(format!("matrix {}", load::job_name(job)));
                    }
                }
            }
            Some(sources) => {
                for (i, name) in sources.iter().enumerate().skip(self.sources_finished) {
                    if owns_rows(self.places[i].0) {
                        out.push(format!("matrix {name}"));
                    }
                }
                // Before training ends, the trajectory jobs are listed above.
                if tracking::wanted(suite) && !self.tracking_finished {
                    out.push("the trajectory part (source = \"trajectory\")".into());
                }
            }
        }
        out
    }
}

/// Runs `suite` into the run's directory `dir` and `sink`: training, then
/// every row, then the trajectory part, recording progress in `done`; a
/// shard (`marks`) does only its items and marks each unit. Failures of a
/// row are rows; an error returned stops the run, and `done` says how far
/// it got.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    suite: &Suite,
    registry: &Registry,
    opts: &RunOptions<'_>,
    lanes: &[calibrate::Lane],
    dir: &Path,
    sink: &mut dyn RunSink,
    meter: &mut power::Meter,
    done: &mut Done,
    mut marks: Option<&mut segments::Marks>,
) -> anyhow::Result<()> {
    let owned = marks.as_deref().map(|m| m.part.clone());
    train::run_trainings(
        suite,
        registry,
        dir,
        meter,
        opts,
        &mut done.trainings,
        marks.as_deref_mut(),
    )?;
    let sources = plan::sources(&suite.matrices, &done.trainings);
    let places = trained::source_places(&suite.matrices, &done.trainings);
    done.places = places.clone();
    done.sources = Some(sources.iter().map(|s| load::job_name(&s.job)).collect());
    let methods = plan::methods(suite, registry);

    let bar = progress_bar(opts.progress);
    let per_matrix = (methods.len() * suite.ranks.len() * lanes.len()) as u64;
    bar.set_length(per_matrix * sources.len() as u64);

    for (i, src) in sources.iter().enumerate() {
        let (job, file) = places[i];
        if owned.as_ref().is_some_and(|p| !p.owns_any_row_of(job)) {
            bar.inc(per_matrix);
            done.sources_finished = i + 1;
            continue;
        }
        let loaded = match load::load(src, suite.side) {
            Ok(l) => l,
            Err(message) => {
                let row = Row::new(suite, load::job_name(&src.job), load::job_source(&src.job))
                    .with_status(Status::Error, message);
                sink.row(&row)?;
                done.rows.push(row);
                if let Some(m) = marks.as_deref_mut() {
                    m.mark(segments::load_error_key(job, file), true)?;
                }
                bar.inc(per_matrix);
                done.sources_finished = i + 1;
                continue;
            }
        };
        bar.inc_length(per_matrix * loaded.len().saturating_sub(1) as u64);
        for (index, m) in loaded.into_iter().enumerate() {
            bar.set_message(m.name.clone());
            // The reference and the figures use every core: they are not
            // measured, and agree across thread counts to f64 roundoff.
            let reference = ReferenceSvd::new(m.input(), Par::rayon(0)).map_err(|e| {
                anyhow::anyhow!(
                    "reference SVD of {}: {}",
                    m.name,
                    measure::explain(&e, m.input())
                )
            })?;
            for (k, method) in methods.iter().enumerate() {
                for (r, &rank) in suite.ranks.iter().enumerate() {
                    for (l, lane) in lanes.iter().enumerate() {
                        let item = shard::Item::Rows {
                            matrix: job,
                            method: k,
                            rank: r,
                            lane: l,
                        };
                        if owned.as_ref().is_some_and(|p| !p.owns(&item)) {
                            bar.inc(1);
                            continue;
                        }
                        let case = measure::Case {
                            suite,
                            matrix: &m,
                            reference: &reference,
                            method,
                            rank,
                            lane,
                            heap: opts.heap,
                        };
                        let row = measure::measure(&case, meter);
                        sink.row(&row)?;
                        done.rows.push(row);
                        if let Some(marks) = marks.as_deref_mut() {
                            marks.mark(segments::row_key(job, file, index, [k, r, l]), false)?;
                        }
                        bar.inc(1);
                    }
                }
            }
            sink.spectrum(&m.name, reference.singular_values())?;
            if let Some(marks) = marks.as_deref_mut() {
                marks.mark(segments::spectrum_key(job, file, index), true)?;
            }
        }
        done.sources_finished = i + 1;
    }
    bar.finish_and_clear();
    if tracking::wanted(suite) {
        sink.begin_tracking()?;
        let shard = match (owned.as_ref(), marks) {
            (Some(part), Some(marks)) => Some(tracking::ShardMarks { part, marks }),
            _ => None,
        };
        tracking::track_all(
            suite,
            registry,
            lanes,
            &done.trainings,
            sink,
            &mut done.tracked,
            shard,
        )?;
        done.tracking_finished = true;
    }
    Ok(())
}

fn progress_bar(enabled: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}
