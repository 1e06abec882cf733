//! A suite run end to end (`lab run`, `lab check`): the report opened, the
//! runner handed the report's writers as its sink ([`runner::RunSink`]),
//! then the report closed: `run.json` complete (or failed, with the
//! reason), `summary.md` and `index.html` rendered from what finished.
//! This is the one place that knows both sides: the runner writes records
//! ([`crate::records`]) and knows no report; the report reads records and
//! knows no runner.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use subspace::Registry;

use crate::machine::Machine;
use crate::power;
use crate::records::{Row, TrackStep, TrackSummary, TrainOutcome};
use crate::report::tracking::TrackingWriter;
use crate::report::{self, ReportWriter};
use crate::runner::{self, Done, RunOptions, RunSink, calibrate, segments, shard, trained};
use crate::suite::Suite;

/// What a run produced.
#[derive(Debug)]
pub struct RunOutput {
    pub dir: PathBuf,
    pub rows: Vec<Row>,
    pub trainings: Vec<TrainOutcome>,
    /// The trajectory part (`tracking.csv`, `tracking_summary.csv`).
    pub tracked: runner::tracking::Tracked,
}

/// Runs `suite`, writing its report; rows already written survive an
/// interruption. A run that stops on an error still closes its report:
/// `run.json` says "failed: <reason>" and `summary.md` lists what finished
/// and what did not; the error is returned naming the report.
pub fn run(suite: &Suite, registry: &Registry, opts: &RunOptions<'_>) -> anyhow::Result<RunOutput> {
    run_part(suite, registry, opts, None)
}

/// Runs shard `part` of `suite` as [`run`] runs a suite, doing only the
/// items it owns and recording in `shard.json` what it wrote
/// ([`segments`]); `trained` are the suite's training runs for the
/// matrices phase ([`trained::read`]), with the reports they came from.
pub fn run_shard(
    suite: &Suite,
    registry: &Registry,
    opts: &RunOptions<'_>,
    part: &shard::Part,
    trained: trained::Trained,
) -> anyhow::Result<RunOutput> {
    run_part(suite, registry, opts, Some((part, trained)))
}

fn run_part(
    suite: &Suite,
    registry: &Registry,
    opts: &RunOptions<'_>,
    shard: Option<(&shard::Part, trained::Trained)>,
) -> anyhow::Result<RunOutput> {
    let threads_max = suite.threads.iter().copied().max().unwrap_or(1);
    let machine = Machine::probe(threads_max);
    let mut meter = power::detect(Path::new("/sys/class/powercap"));
    let lanes = calibrate::lanes(&suite.threads)?;
    let gemm_rates: Vec<(usize, f64)> = lanes.iter().map(|l| (l.threads, l.gemm_gflops)).collect();
    let mut sink = ReportSink {
        report: ReportWriter::create(&opts.root, suite, &machine, &meter, &gemm_rates)?,
        tracking: None,
    };
    let dir = sink.report.dir().to_path_buf();

    let mut done = Done::default();
    let mut marks = match shard {
        Some((part, (outcomes, from))) => {
            done.trainings = outcomes;
            Some(segments::Marks::start(
                &dir,
                suite,
                &machine.git_commit,
                part,
                &from,
            )?)
        }
        None => None,
    };
    let result = runner::execute(
        suite,
        registry,
        opts,
        &lanes,
        &dir,
        &mut sink,
        &mut meter,
        &mut done,
        marks.as_mut(),
    );
    let header = report::run_header(&dir, suite, &machine, &meter);
    let writer = sink.report;
    match result {
        Ok(()) => {
            let dir = writer.finish()?;
            if let Some(marks) = marks {
                marks.finish("complete")?;
            }
            report::write_summary(&dir, suite, &header, &done.rows, &done.trainings, None)?;
            report::write_html(&dir, suite, &header, &done.rows, &done.trainings)?;
            Ok(RunOutput {
                dir,
                rows: done.rows,
                trainings: done.trainings,
                tracked: done.tracked,
            })
        }
        Err(e) => {
            let stopped = report::Stopped {
                reason: format!("{e:#}"),
                unfinished: done.unfinished(suite, marks.as_ref().map(|m| &m.part)),
            };
            // The run's own error comes first; a failure to close is added to it.
            let marked = marks.map_or(Ok(()), |m| m.finish(&format!("failed: {}", stopped.reason)));
            let closed = marked.and(writer.fail(&stopped.reason)).and_then(|dir| {
                let rows = &done.rows;
                report::write_summary(&dir, suite, &header, rows, &done.trainings, Some(&stopped))
            });
            Err(match closed {
                Ok(()) => e.context(format!(
                    "the run stopped early; its report {} records what finished (run.json, \
                     summary.md)",
                    dir.display()
                )),
                Err(close) => e.context(format!(
                    "the run stopped early, and its report {} could not be closed ({close:#})",
                    dir.display()
                )),
            })
        }
    }
}

/// The report's writers as the runner's sink: `results.csv`, `spectra.csv`
/// and `run.json`'s samples ([`ReportWriter`]); `tracking.csv` and
/// `tracking_summary.csv` once the trajectory part begins
/// ([`TrackingWriter`]).
struct ReportSink {
    report: ReportWriter,
    tracking: Option<TrackingWriter>,
}

impl ReportSink {
    fn tracking(&mut self) -> anyhow::Result<&mut TrackingWriter> {
        self.tracking
            .as_mut()
            .context("a tracking row before the trajectory part began (RunSink::begin_tracking)")
    }
}

impl RunSink for ReportSink {
    fn row(&mut self, row: &Row) -> anyhow::Result<()> {
        self.report.row(row)
    }

    fn spectrum(&mut self, matrix: &str, sigma: &[f64]) -> anyhow::Result<()> {
        self.report.spectrum(matrix, sigma)
    }

    fn begin_tracking(&mut self) -> anyhow::Result<()> {
        self.tracking = Some(TrackingWriter::create(self.report.dir())?);
        Ok(())
    }

    fn track_step(&mut self, step: &TrackStep) -> anyhow::Result<()> {
        self.tracking()?.step(step)
    }

    fn track_summary(&mut self, summary: &TrackSummary) -> anyhow::Result<()> {
        self.tracking()?.summary(summary)
    }
}
