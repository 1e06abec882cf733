//! The merged report: the combined CSVs and `training.json`, a `run.json`
//! listing every shard with its machine and record, and `summary.md` and
//! `index.html` rendered from the merged rows as a run renders its own,
//! with a "Shards" section saying whose machine each shard's figures are.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use subspace::Registry;

use crate::records::{Row, TrainOutcome};
use crate::report;
use crate::suite::{Limits, Suite};

use super::{combine, shards};

/// What a merge wrote.
#[derive(Debug)]
pub struct Merged {
    pub dir: PathBuf,
    pub rows: Vec<Row>,
    pub trainings: Vec<TrainOutcome>,
    /// The shard directories, in phase then shard order.
    pub shards: Vec<PathBuf>,
    /// The CSV files combined.
    pub files: Vec<String>,
}

/// Merges the shard reports under `dirs` into the new directory `out` (see
/// [`super`]). Refuses, before writing anything, a set of shards that
/// cannot make one report ([`shards`]), a suite file changed since they
/// ran, and an `out` that holds files.
pub fn merge(dirs: &[PathBuf], out: &Path, registry: &Registry) -> anyhow::Result<Merged> {
    let found = shards::find(dirs)?;
    let first = &found[0].manifest;
    let suite_path = &first.suite.path;
    let text = std::fs::read_to_string(suite_path).with_context(|| {
        format!(
            "cannot read the shards' suite {}: run `lab merge` from the directory the shards \
             ran in",
            suite_path.display()
        )
    })?;
    // The merging machine may be smaller than the shards': no limits.
    let suite = Suite::parse_with_limits(suite_path, &text, registry, &Limits::unlimited())?;
    if suite.hash != first.suite.sha256 {
        bail!(
            "suite {} changed since the shards ran (sha256 now {}…, then {}…): restore it \
             (`git checkout {} -- {}`) or re-run the shards",
            suite_path.display(),
            &suite.hash[..12],
            first.suite.sha256.get(..12).unwrap_or(""),
            first.commit.trim_end_matches("-dirty"),
            suite_path.display()
        );
    }
    shards::check_items(&suite, &found)?;
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "--out {} already holds files; the merge writes a new report and overwrites \
             nothing: give a new directory",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;

    let files = combine::csvs(&found, out)?;
    let training = combine::training_json(&suite, &found)?;
    if let Some(t) = &training {
        std::fs::write(
            out.join("training.json"),
            serde_json::to_string_pretty(t)? + "\n",
        )?;
    }
    write_run_json(out, &found)?;

    let rows = report::read_rows(out)?;
    let trainings = report::read_trainings(out)?;
    let header = header(&suite, &found);
    report::write_summary(out, &suite, &header, &rows, &trainings, None)?;
    let mut summary = std::fs::read_to_string(out.join("summary.md"))?;
    summary.push_str(&shards_section(&found));
    std::fs::write(out.join("summary.md"), summary)?;
    report::write_html(out, &suite, &header, &rows, &trainings)?;
    Ok(Merged {
        dir: out.to_path_buf(),
        rows,
        trainings,
        shards: found.iter().map(|s| s.dir.clone()).collect(),
        files,
    })
}

/// `run.json`: the suite, the commit, and every shard's manifest (less its
/// units) and its own `run.json` (machine, energy meter, GEMM rates, raw
/// samples).
fn write_run_json(out: &Path, found: &[shards::Shard]) -> anyhow::Result<()> {
    let first = &found[0].manifest;
    let shards: Vec<serde_json::Value> = found
        .iter()
        .map(|s| {
            let m = &s.manifest;
            serde_json::json!({
                "dir": s.dir,
                "shard": m.shard,
                "phase": m.phase,
                "status": m.status,
                "host": m.host,
                "scheduler": m.scheduler,
                "items": m.items,
                "predicted_seconds": m.predicted_seconds,
                "predicted_bytes": m.predicted_bytes,
                "trained": m.trained,
                "machine": s.record.get("machine"),
                "energy_meter": s.record.get("energy_meter"),
                "record": s.record,
            })
        })
        .collect();
    let record = serde_json::json!({
        "status": "complete (merged)",
        "merged": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "suite": {
            "name": first.suite.name,
            "path": first.suite.path,
            "sha256": first.suite.sha256,
            "seed": first.suite.seed,
        },
        "commit": first.commit,
        "note": "each shard's times, GFLOP/s, heap and energy are its own machine's (shards[].machine)",
        "shards": shards,
    });
    let path = out.join("run.json");
    std::fs::write(&path, serde_json::to_string_pretty(&record)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The opening paragraph of the merged summary.
fn header(suite: &Suite, found: &[shards::Shard]) -> String {
    let first = &found[0].manifest;
    format!(
        "Merged report of suite {} (sha256 {}…), seed {}, commit {}, from {} shard report(s) \
         ({}). Accuracy figures do not depend on the shard; each shard's times, GFLOP/s, heap \
         and energy are its own machine's (see \"Shards\" at the end).",
        suite.path.display(),
        &suite.hash[..12],
        suite.seed,
        first.commit,
        found.len(),
        found
            .iter()
            .map(|s| format!("{} phase {}", s.manifest.shard, s.manifest.phase))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// "Shards": which machine ran which shard, its energy meter and its plan.
fn shards_section(found: &[shards::Shard]) -> String {
    let mut out = String::from(
        "\n## Shards\n\nA shard's figures (times, GFLOP/s, heap, energy) are its machine's.\n\n\
         | shard | phase | items | predicted s | host | machine | energy meter | report |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for s in found {
        let m = &s.manifest;
        let machine = s.record.get("machine");
        let get = |k: &str| {
            machine
                .and_then(|v| v.get(k))
                .map(|v| v.to_string().trim_matches('"').to_string())
                .unwrap_or_else(|| "?".into())
        };
        let gpus = get("gpus");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {} | {}, {} cores, GPUs {} | {} | {} |",
            m.shard,
            m.phase,
            m.items.len(),
            m.predicted_seconds,
            m.host,
            get("cpu_model"),
            get("logical_cores"),
            if gpus == "[]" { "none".into() } else { gpus },
            s.record
                .get("energy_meter")
                .and_then(|v| v.as_str())
                .unwrap_or("?"),
            s.dir.display()
        );
    }
    out
}
