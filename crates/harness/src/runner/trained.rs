//! The training runs a matrices-phase shard reads ([`super::shard::Phase`]):
//! the outcomes in `training.json` of the merged training phase (or of
//! every training shard), matched to the suite's runs; and the place of
//! each matrix source in the suite, so that rows are keyed alike in every
//! shard ([`super::segments`]).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::suite::{MatrixJob, Suite};

use super::plan;
use crate::records::TrainOutcome;

/// The training runs a shard reads, in suite order, and the reports they
/// came from.
pub type Trained = (Vec<TrainOutcome>, Vec<PathBuf>);

/// For each source of [`plan::sources`]: its `[[matrix]]` index in the
/// suite and its index among that entry's files.
pub fn source_places(matrices: &[MatrixJob], trainings: &[TrainOutcome]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (job, m) in matrices.iter().enumerate() {
        let n = plan::sources(std::slice::from_ref(m), trainings).len();
        out.extend((0..n).map(|file| (job, file)));
    }
    out
}

/// Every training run of `suite`, in suite order, read from the
/// `training.json` of `dirs`, with the directories read. Refuses a report
/// of another suite, a run found twice, and a run found nowhere, naming
/// them and the fix.
pub fn read(suite: &Suite, dirs: &[PathBuf]) -> anyhow::Result<Trained> {
    let fix = "merge the training phase (`lab merge <train shard dirs> --out DIR`) and give \
               `--trained DIR`";
    let mut found: Vec<(TrainOutcome, &Path)> = Vec::new();
    for dir in dirs {
        check_suite(suite, dir)?;
        let path = dir.join("training.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}: {fix}", path.display()))?;
        let outcomes: Vec<TrainOutcome> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a training record of this lab", path.display()))?;
        for o in outcomes {
            if let Some((_, first)) = found.iter().find(|(f, _)| f.id() == o.id()) {
                bail!(
                    "training run {} is in both {} and {}; give each run once: {fix}",
                    o.id(),
                    first.display(),
                    dir.display()
                );
            }
            found.push((o, dir));
        }
    }
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for job in &suite.trainings {
        match found.iter().position(|(o, _)| o.is_of(job)) {
            Some(i) => out.push(found.swap_remove(i).0),
            None => missing.push(job.id()),
        }
    }
    if !missing.is_empty() {
        bail!(
            "the training runs {} of suite {} are in none of {}: {fix}",
            missing.join(", "),
            suite.path.display(),
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok((out, dirs.to_vec()))
}

/// Refuses a report whose `run.json` names another suite hash.
fn check_suite(suite: &Suite, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}: give a report directory", path.display()))?;
    let record: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let sha = record
        .pointer("/suite/sha256")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if sha != suite.hash {
        bail!(
            "{} is a report of suite sha256 {}…, not of {} (sha256 {}…): give the training \
             phase of this suite file",
            dir.display(),
            sha.get(..12).unwrap_or(sha),
            suite.path.display(),
            &suite.hash[..12]
        );
    }
    Ok(())
}
