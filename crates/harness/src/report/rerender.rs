//! `lab report DIR [--out DIR2]`: summary.md, details.md and index.html
//! rendered again from a report's own files (results.csv, spectra.csv,
//! training.json and training.csv, tracking.csv and tracking_summary.csv,
//! run.json), nothing rerun: a report written by an older lab reads in
//! today's layout. The suite is read from the path run.json records and
//! must be the one that ran (its sha256). What the files do not hold is
//! carried over from the old summary.md: a merged report's opening line and
//! "Shards" section, a stopped run's "Stopped early" section.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;
use subspace::Registry;

use super::html::{self, Page};
use crate::machine::Machine;
use crate::suite::{Limits, Suite};

/// What `run.json` says of the run (a run's or a merged report's).
#[derive(Deserialize)]
struct Record {
    status: String,
    started: Option<String>,
    suite: SuiteRecord,
    machine: Option<Machine>,
    energy_meter: Option<String>,
}

#[derive(Deserialize)]
struct SuiteRecord {
    path: PathBuf,
    sha256: String,
}

/// Renders the report in `dir` again into `out` (default: `dir` itself),
/// which must be new or empty; returns the directory written. Refuses a
/// directory that is not a report and a suite file changed since the run.
pub fn rerender(dir: &Path, out: Option<&Path>, registry: &Registry) -> anyhow::Result<PathBuf> {
    let run_json = dir.join("run.json");
    if !run_json.is_file() || !dir.join("results.csv").is_file() {
        bail!(
            "{} is not a report: it has no run.json and results.csv; give a directory that \
             `lab run` or `lab merge` wrote",
            dir.display()
        );
    }
    let text = std::fs::read_to_string(&run_json)
        .with_context(|| format!("cannot read {}", run_json.display()))?;
    let record: Record = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a report's run.json (it needs status and suite.path, suite.sha256)",
            run_json.display()
        )
    })?;
    let suite_text = std::fs::read_to_string(&record.suite.path).with_context(|| {
        format!(
            "cannot read the report's suite {}: run `lab report` from the directory the run \
             ran in",
            record.suite.path.display()
        )
    })?;
    let suite = Suite::parse_with_limits(
        &record.suite.path,
        &suite_text,
        registry,
        &Limits::unlimited(),
    )?;
    if suite.hash != record.suite.sha256 {
        bail!(
            "suite {} changed since the report was written (sha256 now {}…, then {}…): restore \
             the version that ran (git log -- {}) and render again",
            record.suite.path.display(),
            &suite.hash[..12],
            record.suite.sha256.get(..12).unwrap_or(""),
            record.suite.path.display()
        );
    }
    let out = out.unwrap_or(dir);
    if out != dir {
        if out.exists()
            && std::fs::read_dir(out)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            bail!(
                "--out {} already holds files; give a new or empty directory",
                out.display()
            );
        }
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    }
    let rows = super::read_rows(dir)?;
    let trainings = super::read_trainings(dir)?;
    let spectra = if dir.join("spectra.csv").is_file() {
        super::read_spectra(dir)?
    } else {
        Vec::new()
    };
    let tracking = super::tracking::read(dir)?;
    let old = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
    let header = match &record.machine {
        Some(machine) => {
            // The run's own name, `<stamp>-<commit>`, whatever its directory is
            // called now.
            let name = match &record.started {
                Some(t) => format!(
                    "{}-{}",
                    t.chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect::<String>(),
                    machine.git_commit
                ),
                None => dir
                    .canonicalize()
                    .ok()
                    .and_then(|d| d.file_name().map(|s| s.to_string_lossy().into_owned()))
                    .unwrap_or_default(),
            };
            super::header_text(
                &name,
                &suite,
                machine,
                record.energy_meter.as_deref().unwrap_or("not recorded"),
            )
        }
        None => old
            .lines()
            .find(|l| l.starts_with("Merged report of suite"))
            .map_or_else(
                || format!("Merged report of suite {}.", suite.path.display()),
                str::to_string,
            ),
    };
    let (mut front, details) = super::summary::render_both(
        &suite,
        &header,
        &rows,
        &trainings,
        tracking.as_ref().map(|t| t.1.as_slice()),
        None,
    );
    if let Some(reason) = record.status.strip_prefix("failed: ") {
        front = front.replacen(
            "\n\n",
            &format!(
                "\n\n**This run stopped early**: {reason}. The tables below hold only what \
                 finished; see \"Stopped early\" at the end.\n\n"
            ),
            1,
        );
    }
    for carried in ["\n## Stopped early", "\n## Shards"] {
        if let Some(i) = old.find(carried) {
            let rest = &old[i..];
            let end = rest[1..].find("\n## ").map_or(rest.len(), |j| j + 1);
            front.push_str(&rest[..end]);
        }
    }
    let page = html::render(&Page {
        suite: &suite,
        header: &header,
        rows: &rows,
        trainings: &trainings,
        spectra,
        tracking: tracking.map(|t| t.0),
    });
    for (name, text) in [
        ("summary.md", front),
        ("details.md", details),
        ("index.html", page),
    ] {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(out.to_path_buf())
}
