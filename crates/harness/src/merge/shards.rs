//! Finding the shards to merge and refusing a set that cannot make one
//! report: shards of different suites or commits, a phase cut into
//! different counts, two reports of one shard, a shard missing or
//! unfinished, a shard whose items are not the ones this lab gives it.
//! Every refusal names the directories and the fix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::runner::segments::Manifest;
use crate::runner::shard::{Part, Phase};
use crate::suite::Suite;

/// One finished shard's report.
#[derive(Debug, Clone)]
pub struct Shard {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Its `run.json`, as written.
    pub record: serde_json::Value,
}

/// The report directories under `dir`: `dir` itself when it holds a
/// `shard.json`, else those one or two levels under it (`--out` of
/// `lab run` holds `<suite>/<stamp>-<commit>/`), sorted.
pub fn report_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if dir.join("shard.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    if !dir.is_dir() {
        bail!(
            "{} is not a directory: give the report directories `lab run --shard` wrote, or \
             the --out folders that hold them",
            dir.display()
        );
    }
    let mut found = Vec::new();
    let mut level = vec![dir.to_path_buf()];
    for _ in 0..2 {
        let mut next = Vec::new();
        for d in &level {
            let listing =
                std::fs::read_dir(d).with_context(|| format!("cannot list {}", d.display()))?;
            for entry in listing {
                let path = entry?.path();
                if !path.is_dir() {
                    continue;
                }
                if path.join("shard.json").is_file() {
                    found.push(path);
                } else {
                    next.push(path);
                }
            }
        }
        level = next;
    }
    if found.is_empty() {
        bail!(
            "{} holds no shard report (no shard.json in it or two levels under it): give the \
             report directories `lab run --shard I/N` wrote, or the --out folders that hold them",
            dir.display()
        );
    }
    found.sort();
    Ok(found)
}

/// Reads every shard report under `dirs` and checks the set (see the module
/// doc) as far as it can without the suite: returns the finished shards,
/// in phase then shard order.
pub fn find(dirs: &[PathBuf]) -> anyhow::Result<Vec<Shard>> {
    if dirs.is_empty() {
        bail!("no shard directories given: `lab merge DIR… --out DIR`");
    }
    let mut all = Vec::new();
    for d in dirs {
        for dir in report_dirs(d)? {
            if all.iter().any(|s: &Shard| s.dir == dir) {
                continue;
            }
            let manifest = Manifest::read(&dir)?;
            let path = dir.join("run.json");
            let record = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(serde_json::Value::Null);
            all.push(Shard {
                dir,
                manifest,
                record,
            });
        }
    }
    same(&all, "suites", "merge the shards of one suite file", |s| {
        format!(
            "{} (sha256 {}…)",
            s.manifest.suite.path.display(),
            short(&s.manifest.suite.sha256)
        )
    })?;
    same(
        &all,
        "commits",
        "merge shards built from one commit; re-run the others with it",
        |s| format!("commit {}", s.manifest.commit),
    )?;
    let phases: Vec<Phase> = {
        let mut p: Vec<Phase> = all.iter().map(|s| s.manifest.phase).collect();
        p.sort();
        p.dedup();
        p
    };
    if phases.contains(&Phase::All) && phases.len() > 1 {
        bail!(
            "shards of phase all and of phases train/matrices are mixed ({}): a suite runs in \
             one way; merge the shards of one",
            list(&all, |_| true)
        );
    }
    if phases == [Phase::Matrices] {
        bail!(
            "only matrices-phase shards given: give the training phase's shard directories too, \
             so the report holds the training runs"
        );
    }
    let mut done = Vec::new();
    for phase in phases {
        done.extend(complete_phase(&all, phase)?);
    }
    Ok(done)
}

/// The finished shards of `phase`, one per index, or why not.
fn complete_phase(all: &[Shard], phase: Phase) -> anyhow::Result<Vec<Shard>> {
    let of_phase: Vec<&Shard> = all.iter().filter(|s| s.manifest.phase == phase).collect();
    let counts: Vec<usize> = of_phase.iter().map(|s| s.manifest.shard.count).collect();
    let count = counts[0];
    if counts.iter().any(|&c| c != count) {
        bail!(
            "the phase-{phase} shards were cut into different counts ({}): re-run them all with \
             one --shard I/N count",
            list(all, |s| s.manifest.phase == phase)
        );
    }
    let mut by_index: BTreeMap<usize, &Shard> = BTreeMap::new();
    let mut unfinished: BTreeMap<usize, Vec<&Shard>> = BTreeMap::new();
    for s in &of_phase {
        let i = s.manifest.shard.index;
        if s.manifest.status != "complete" {
            unfinished.entry(i).or_default().push(s);
            continue;
        }
        if let Some(first) = by_index.insert(i, s) {
            bail!(
                "shard {i}/{count} (phase {phase}) is given twice: {} and {}; pass one of them \
                 (a re-run task writes a new report: name the one to keep)",
                first.dir.display(),
                s.dir.display()
            );
        }
    }
    let missing: Vec<usize> = (1..=count).filter(|i| !by_index.contains_key(i)).collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|i| format!("{i}/{count}")).collect();
        let mut why = String::new();
        for i in &missing {
            for s in unfinished.get(i).into_iter().flatten() {
                why.push_str(&format!(
                    "; {} is shard {i}/{count} but did not finish (status {:?})",
                    s.dir.display(),
                    s.manifest.status
                ));
            }
        }
        let suite = &of_phase[0].manifest.suite.path;
        let phase_flag = match phase {
            Phase::All => String::new(),
            p => format!(" --phase {p}"),
        };
        bail!(
            "missing shard{} {} (phase {phase}){why}: run each with `lab run {} \
             --shard I/{count}{phase_flag}` (on Slurm: `ci/slurm/submit.sh SUITE {count} OUT \
             --only {}{phase_flag}`) and merge again",
            if missing.len() > 1 { "s" } else { "" },
            names.join(", "),
            suite.display(),
            missing
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    Ok(by_index.into_values().cloned().collect())
}

/// Refuses shards that own other items than this lab's partition gives them.
pub fn check_items(suite: &Suite, shards: &[Shard]) -> anyhow::Result<()> {
    for s in shards {
        let m = &s.manifest;
        let part = Part::of(suite, m.shard, m.phase)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("shard {}", s.dir.display()))?;
        if part.items() != m.items {
            bail!(
                "{} (shard {} phase {}) owns other items than this lab gives that shard: it \
                 was cut by another version; re-run it with this lab",
                s.dir.display(),
                m.shard,
                m.phase
            );
        }
    }
    Ok(())
}

/// Refuses a set whose shards differ in `what` (as `show` names it).
fn same(
    all: &[Shard],
    what: &str,
    fix: &str,
    show: impl Fn(&Shard) -> String,
) -> anyhow::Result<()> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in all {
        groups
            .entry(show(s))
            .or_default()
            .push(s.dir.display().to_string());
    }
    if groups.len() > 1 {
        let text: Vec<String> = groups
            .iter()
            .map(|(k, dirs)| format!("{k}: {}", dirs.join(", ")))
            .collect();
        bail!(
            "the shards are of different {what} ({}): {fix}",
            text.join("; ")
        );
    }
    Ok(())
}

fn list(all: &[Shard], keep: impl Fn(&Shard) -> bool) -> String {
    all.iter()
        .filter(|s| keep(s))
        .map(|s| {
            format!(
                "{} is {} phase {}",
                s.dir.display(),
                s.manifest.shard,
                s.manifest.phase
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
