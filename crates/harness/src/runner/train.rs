//! A suite's training runs, first of a run: every `[[stage]]` × `[[run]]`
//! (× seed, with `seeds`) in order under `<dir>/train/<stage>/<run>/`
//! (`…/seed-<N>/` with `seeds`), each run's steps appended to
//! `<dir>/training.csv` (its run column the run's [`crate::suite::TrainJob::id`], its last
//! column `seed` the run's seed) and its outcome to
//! `<dir>/training.json` as it finishes ([`TrainOutcome`]). A run that fails is an outcome with
//! [`Status::Error`] and the reason; the others still run. The energy meter,
//! where one exists, reads around the whole run. A shard (`marks`) runs
//! only the runs it owns and marks each as a unit ([`super::segments`]).

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use subspace::Registry;

use super::RunOptions;
use crate::power::Meter;
use crate::records::{Status, TrainOutcome};
use crate::suite::{Engine, Suite};

/// training.csv's last column.
#[derive(Serialize)]
struct SeedColumn {
    seed: u64,
}

/// A file- and shell-safe directory name for a run label.
fn dir_name(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}

/// Runs every training job of `suite` (see the module doc), appending each
/// outcome to `outcomes` as it finishes (so a caller whose run stops on an
/// error still knows which finished).
pub fn run_trainings(
    suite: &Suite,
    registry: &Registry,
    dir: &Path,
    meter: &mut Meter,
    opts: &RunOptions<'_>,
    outcomes: &mut Vec<TrainOutcome>,
    mut marks: Option<&mut super::segments::Marks>,
) -> anyhow::Result<()> {
    if suite.trainings.is_empty() {
        return Ok(());
    }
    let csv_path = dir.join("training.csv");
    let mut csv = csv::Writer::from_path(&csv_path)
        .with_context(|| format!("cannot create {}", csv_path.display()))?;
    let total = suite.trainings.len();
    for (i, job) in suite.trainings.iter().enumerate() {
        if marks.as_deref().is_some_and(|m| !m.part.owns_training(i)) {
            continue;
        }
        let mut run_dir = dir
            .join("train")
            .join(dir_name(&job.stage))
            .join(dir_name(&job.label));
        if let Some(seed) = job.seed {
            run_dir = run_dir.join(format!("seed-{seed}"));
        }
        eprintln!(
            "training {}/{total}: {} ({} × {} steps, B = {}, T = {}) → {}",
            i + 1,
            job.id(),
            job.config.preset,
            job.config.steps,
            job.config.batch_size,
            job.config.seq_len,
            run_dir.display()
        );
        let region = meter.begin();
        let steps = std::sync::Mutex::new(Vec::new());
        let mut engine = "lab".to_string();
        let result = match &job.engine {
            Engine::Lab => crate::training::train_observed(
                job.config.clone(),
                registry,
                &run_dir,
                opts.progress,
                |row| {
                    steps
                        .lock()
                        .expect("no panics while holding it")
                        .push(row.clone())
                },
            ),
            Engine::Torch(run) => super::torch::train(job, run, &run_dir).map(|trained| {
                engine = trained.engine;
                *steps.lock().expect("no panics while holding it") = trained.steps;
                trained.summary
            }),
        };
        let steps = steps.into_inner().expect("no panics while holding it");
        let energy = region.and_then(|r| meter.end(r));
        let mut outcome = TrainOutcome {
            stage: job.stage.clone(),
            label: job.label.clone(),
            seed: job.seed,
            status: Status::Ok,
            error: String::new(),
            dir: run_dir,
            engine,
            summary: None,
            steps,
            energy_j: None,
            energy_per_step_j: None,
            energy_note: String::new(),
        };
        match energy {
            Ok(e) => {
                let joules: f64 = e.iter().map(|x| x.joules).sum();
                let names: Vec<&str> = e.iter().map(|x| x.meter.as_str()).collect();
                if joules > 0.0 && !outcome.steps.is_empty() {
                    outcome.energy_j = Some(joules);
                    outcome.energy_per_step_j = Some(joules / outcome.steps.len() as f64);
                    outcome.energy_note = format!("{} over the whole run", names.join(" + "));
                } else {
                    outcome.energy_note =
                        format!("{}: the counter did not advance", names.join(" + "));
                }
            }
            Err(e) => outcome.energy_note = e.to_string(),
        }
        match result {
            Ok(summary) => outcome.summary = Some(summary),
            Err(e) if e.downcast_ref::<super::torch::Unavailable>().is_some() => {
                eprintln!("training {}: {e}", job.id());
                outcome.status = Status::Unavailable;
                outcome.error = e.to_string();
            }
            Err(e) => {
                eprintln!("training {} failed: {e:#}", job.id());
                outcome.status = Status::Error;
                outcome.error = format!("{e:#}");
            }
        }
        for row in &outcome.steps {
            // The run column names the stage too: "<stage>/<run>".
            let mut row = row.clone();
            row.run = job.id();
            csv.serialize((
                &row,
                SeedColumn {
                    seed: job.config.seed,
                },
            ))?;
        }
        csv.flush()
            .with_context(|| format!("cannot write {}", csv_path.display()))?;
        outcomes.push(outcome);
        let json = dir.join("training.json");
        std::fs::write(&json, serde_json::to_string_pretty(&*outcomes)?)
            .with_context(|| format!("cannot write {}", json.display()))?;
        if let Some(marks) = marks.as_deref_mut() {
            marks.mark(super::segments::train_key(i), false)?;
        }
    }
    Ok(())
}
