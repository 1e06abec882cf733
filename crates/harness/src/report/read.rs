//! Reading a report's records back from its files: `results.csv`
//! ([`read_rows`]) and `training.json` with each run's steps from
//! `training.csv` ([`read_trainings`]), as `lab merge` and `lab report`
//! render a report from files.

use std::path::Path;

use anyhow::Context as _;

use crate::records::{Row, TrainOutcome};

/// The rows of `<dir>/results.csv`.
pub fn read_rows(dir: &Path) -> anyhow::Result<Vec<Row>> {
    let path = dir.join("results.csv");
    if std::fs::metadata(&path)
        .map(|m| m.len() == 0)
        .unwrap_or(true)
    {
        return Ok(Vec::new());
    }
    let mut r =
        csv::Reader::from_path(&path).with_context(|| format!("cannot read {}", path.display()))?;
    r.deserialize()
        .collect::<Result<Vec<Row>, _>>()
        .with_context(|| format!("{} has a row this lab cannot read", path.display()))
}

/// The training outcomes of `<dir>/training.json` (none without it), each
/// with its steps from `<dir>/training.csv`.
pub fn read_trainings(dir: &Path) -> anyhow::Result<Vec<TrainOutcome>> {
    let json = dir.join("training.json");
    if !json.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&json)
        .with_context(|| format!("cannot read {}", json.display()))?;
    let mut outcomes: Vec<TrainOutcome> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a list of training outcomes", json.display()))?;
    let path = dir.join("training.csv");
    if std::fs::metadata(&path)
        .map(|m| m.len() > 0)
        .unwrap_or(false)
    {
        let mut r = csv::Reader::from_path(&path)?;
        for step in r.deserialize::<llama::session::StepRow>() {
            let mut step = step.with_context(|| format!("{} has a bad row", path.display()))?;
            if let Some(o) = outcomes.iter_mut().find(|o| step.run == o.id()) {
                step.run = o.label.clone();
                o.steps.push(step);
            }
        }
    }
    Ok(outcomes)
}
