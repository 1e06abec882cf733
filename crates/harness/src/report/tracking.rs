//! The trajectory part of a report (`source = "trajectory"`):
//!
//! - `tracking.csv`: one row per trajectory × method × rank × threads × step
//!   ([`TrackStep`]), appended and flushed as each pass finishes;
//! - `tracking_summary.csv`: one row per trajectory × method × rank ×
//!   threads ([`TrackSummary`]), and one per trajectory that could not be
//!   assembled (status `error`, the reason);
//! - in `summary.md`: per method, the figures over every trajectory, and the
//!   fastest tracker at each accuracy level ([`LEVELS`]);
//! - in `index.html`: err_fro against step and against cumulative time, per
//!   method and rank.
//!
//! The summary and the page read the two files back, so a report written
//! without trajectories is unchanged.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;

use super::plot::{Axis, Chart, Series, Style, figure};
use crate::records::{Status, TrackStep, TrackSummary};
use crate::stats;
use anyhow::Context as _;

/// The accuracy levels of the tracking table: median err_fro at most.
pub const LEVELS: [f64; 3] = [1.01, 1.05, 1.10];

const STEPS: &str = "tracking.csv";
const SUMMARY: &str = "tracking_summary.csv";

/// Writes `tracking.csv` and `tracking_summary.csv` as a run goes.
pub struct TrackingWriter {
    steps: csv::Writer<File>,
    summary: csv::Writer<File>,
}

impl TrackingWriter {
    /// Creates both files in `dir`.
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        let open = |name: &str| {
            let path = dir.join(name);
            csv::Writer::from_path(&path)
                .with_context(|| format!("cannot create {}", path.display()))
        };
        Ok(Self {
            steps: open(STEPS)?,
            summary: open(SUMMARY)?,
        })
    }

    /// Appends a step row and flushes it.
    pub fn step(&mut self, row: &TrackStep) -> anyhow::Result<()> {
        self.steps.serialize(row)?;
        self.steps.flush()?;
        Ok(())
    }

    /// Appends a summary row and flushes it.
    pub fn summary(&mut self, row: &TrackSummary) -> anyhow::Result<()> {
        self.summary.serialize(row)?;
        self.summary.flush()?;
        Ok(())
    }
}

/// The rows of `tracking.csv` and `tracking_summary.csv` in `dir`, or
/// `None` when the run wrote no trajectory part.
pub fn read(dir: &Path) -> anyhow::Result<Option<(Vec<TrackStep>, Vec<TrackSummary>)>> {
    let (steps, summary) = (dir.join(STEPS), dir.join(SUMMARY));
    if !summary.exists() {
        return Ok(None);
    }
    fn rows<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
        let mut r = csv::Reader::from_path(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        r.deserialize()
            .collect::<Result<Vec<T>, _>>()
            .with_context(|| format!("cannot read {}", path.display()))
    }
    Ok(Some((rows(&steps)?, rows(&summary)?)))
}

/// Per (rank, threads) and method, over every trajectory it followed.
struct Totals {
    trajectories: usize,
    steps: usize,
    /// The worst of the per-trajectory median err_fro.
    median: f64,
    worst: f64,
    seconds: f64,
    /// Passes that did not finish (the method then qualifies for no level).
    failed: usize,
}

fn totals(summaries: &[TrackSummary]) -> BTreeMap<(usize, usize), Vec<(String, Totals)>> {
    let mut out: BTreeMap<(usize, usize), Vec<(String, Totals)>> = BTreeMap::new();
    for s in summaries.iter().filter(|s| !s.method.is_empty()) {
        if s.status == Status::Skipped || s.status == Status::Unavailable {
            continue;
        }
        let group = out.entry((s.rank, s.threads)).or_default();
        let i = match group.iter().position(|(m, _)| *m == s.method) {
            Some(i) => i,
            None => {
                group.push((
                    s.method.clone(),
                    Totals {
                        trajectories: 0,
                        steps: 0,
                        median: 0.0,
                        worst: 0.0,
                        seconds: 0.0,
                        failed: 0,
                    },
                ));
                group.len() - 1
            }
        };
        let t = &mut group[i].1;
        t.trajectories += 1;
        t.steps += s.steps;
        t.median = t.median.max(s.err_fro_median.unwrap_or(f64::INFINITY));
        t.worst = t.worst.max(s.err_fro_worst.unwrap_or(f64::INFINITY));
        t.seconds += s.time_total_s.unwrap_or(0.0);
        t.failed += usize::from(s.status != Status::Ok);
    }
    out
}

/// The tracking section of `summary.md`.
pub fn markdown(summaries: &[TrackSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Tracking along recorded trajectories\n");
    let _ = writeln!(
        out,
        "Each method followed each recorded tensor through its recorded steps as a tracker \
         (the previous basis as warm start, or the method's own tracker). Per rank and thread \
         count, over every trajectory: median err_fro is the worst of the per-trajectory \
         medians, worst err_fro the worst step, time the cumulative time of every update \
         (tracking.csv has every step, tracking_summary.csv every pass).\n"
    );
    for s in summaries.iter().filter(|s| s.status == Status::Error) {
        let _ = writeln!(
            out,
            "- **error** {} {}{}: {}",
            s.run,
            s.tensor,
            if s.method.is_empty() {
                String::new()
            } else {
                format!(" ({}, k = {})", s.method, s.rank)
            },
            s.error.replace('\n', " ")
        );
    }
    let groups = totals(summaries);
    if groups.is_empty() {
        let _ = writeln!(out, "\nNo trajectory was followed.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "\n| k | threads | method | trajectories | steps | median err_fro | worst err_fro | \
         cumulative time (ms) | per update (ms) |\n|---|---|---|---|---|---|---|---|---|"
    );
    for ((k, threads), methods) in &groups {
        for (m, t) in methods {
            let failed = if t.failed > 0 {
                format!(" ({} failed)", t.failed)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {k} | {threads} | {m}{failed} | {} | {} | {:.4} | {:.4} | {:.3} | {:.3} |",
                t.trajectories,
                t.steps,
                t.median,
                t.worst,
                t.seconds * 1e3,
                t.seconds * 1e3 / t.steps.max(1) as f64
            );
        }
    }
    fastest_table(&mut out, &groups, "###");
    out
}

/// The fastest tracker per rank and thread count at each level of
/// [`LEVELS`], under a heading of `level` (`##`, `###`).
fn fastest_table(
    out: &mut String,
    groups: &BTreeMap<(usize, usize), Vec<(String, Totals)>>,
    level: &str,
) {
    let _ = writeln!(
        out,
        "\n{level} Fastest tracker at each accuracy level\n\nThe method with the least cumulative \
         time among those whose median err_fro (the worst over the trajectories) is at most the \
         level and whose every pass finished.\n"
    );
    let header: Vec<String> = LEVELS.iter().map(|l| format!("≤ {l:.2}")).collect();
    let _ = writeln!(
        out,
        "| k | threads | {} |\n|---|---|{}",
        header.join(" | "),
        "---|".repeat(LEVELS.len())
    );
    for ((k, threads), methods) in groups {
        let cells: Vec<String> = LEVELS
            .iter()
            .map(|&level| {
                methods
                    .iter()
                    .filter(|(_, t)| t.failed == 0 && t.median <= level)
                    .min_by(|a, b| a.1.seconds.total_cmp(&b.1.seconds))
                    .map_or("none".into(), |(m, t)| {
                        format!("{m} ({:.3} ms, {:.4})", t.seconds * 1e3, t.median)
                    })
            })
            .collect();
        let _ = writeln!(out, "| {k} | {threads} | {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// The tracking part of the front page (summary.md): the fastest tracker
/// at each accuracy level; every pass is in details.md.
pub fn markdown_front(summaries: &[TrackSummary]) -> String {
    let mut out = String::new();
    let groups = totals(summaries);
    if groups.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "\n## Tracking along recorded trajectories\n\nEach method followed each recorded \
         tensor through its recorded steps as a tracker; every pass is in \
         [details.md](details.md#tracking-along-recorded-trajectories)."
    );
    fastest_table(&mut out, &groups, "###");
    out
}

/// The tracking section of `index.html`: per rank, at the run's first
/// thread count, the median err_fro over the trajectories at each position
/// against the step, and against the cumulative time summed over them (log
/// scale: the methods' costs differ by orders of magnitude); `style` names
/// each method's colour.
pub(super) fn html(page: &mut String, steps: &[TrackStep], style: &dyn Fn(&str) -> Style) {
    let ok: Vec<&TrackStep> = steps.iter().filter(|r| r.status == Status::Ok).collect();
    let Some(threads) = ok.iter().map(|r| r.threads).min() else {
        return;
    };
    page.push_str(
        "<p class=\"caption\">Each method followed each recorded tensor through its recorded \
         steps as a tracker (the previous basis as warm start, or its own tracker); every pass \
         is in tracking.csv.</p>",
    );
    // rank → method → position → (step, err_fro values, cumulative seconds)
    type ByIndex = BTreeMap<usize, (usize, Vec<f64>, f64)>;
    let mut by_rank: BTreeMap<usize, Vec<(&str, ByIndex)>> = BTreeMap::new();
    for r in ok.iter().filter(|r| r.threads == threads) {
        let methods = by_rank.entry(r.rank).or_default();
        let i = match methods.iter().position(|(m, _)| *m == r.method) {
            Some(i) => i,
            None => {
                methods.push((&r.method, ByIndex::new()));
                methods.len() - 1
            }
        };
        let e = methods[i]
            .1
            .entry(r.index)
            .or_insert((r.step, Vec::new(), 0.0));
        e.1.extend(r.err_fro);
        e.2 += r.time_cumulative_s.unwrap_or(0.0);
    }
    for (k, by_method) in &by_rank {
        for against_time in [false, true] {
            let series: Vec<Series> = by_method
                .iter()
                .map(|(m, points)| {
                    let pts = points
                        .values()
                        .filter(|(_, e, _)| !e.is_empty())
                        .map(|(step, e, s)| {
                            let x = if against_time { s * 1e3 } else { *step as f64 };
                            (x, stats::median(e))
                        })
                        .collect();
                    Series::line(m, style(m), pts)
                })
                .collect();
            let (title, x, caption) = if against_time {
                (
                    format!("k = {k}, {threads} thread(s): err_fro against cumulative time"),
                    Axis::log("cumulative time over the trajectories (ms)"),
                    "The same passes against the time the updates took so far, summed over \
                     the trajectories: a method further left reached that accuracy sooner. 1 \
                     (dotted) is optimal.",
                )
            } else {
                (
                    format!("k = {k}, {threads} thread(s): err_fro along the trajectory"),
                    Axis::linear("training step"),
                    "The median over the trajectories of each tracker's err_fro at each \
                     recorded step (1, dotted, is the optimal rank-k subspace of that step's \
                     gradient); a tracker that drifts away from the gradient's subspace rises.",
                )
            };
            figure(
                page,
                &Chart {
                    title,
                    x,
                    y: Axis::log("median err_fro over the trajectories"),
                    series,
                    caption: caption.into(),
                    hline: Some((1.0, "optimal".into())),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(method: &str, tensor: &str, median: f64, seconds: f64, status: Status) -> TrackSummary {
        TrackSummary {
            run: "s/r".into(),
            tensor: tensor.into(),
            method: method.into(),
            rank: 8,
            threads: 1,
            steps: 4,
            status,
            err_fro_median: Some(median),
            err_fro_worst: Some(median + 0.01),
            time_total_s: Some(seconds),
            ..TrackSummary::default()
        }
    }

    /// The level table by hand: "fast" (median 1.20) qualifies nowhere,
    /// "mid" (worst median over its two tensors 1.04) at 1.05 and 1.10,
    /// "exact" everywhere; "broken" is fastest and exact but one pass
    /// failed, so it never qualifies.
    #[test]
    fn the_fastest_tracker_at_each_level_is_the_cheapest_that_qualifies() {
        let rows = [
            pass("fast", "a", 1.20, 0.001, Status::Ok),
            pass("fast", "b", 1.00, 0.001, Status::Ok),
            pass("mid", "a", 1.04, 0.002, Status::Ok),
            pass("mid", "b", 1.00, 0.002, Status::Ok),
            pass("exact", "a", 1.00, 0.010, Status::Ok),
            pass("exact", "b", 1.00, 0.010, Status::Ok),
            pass("broken", "a", 1.00, 0.0001, Status::Ok),
            pass("broken", "b", 1.00, 0.0, Status::Error),
        ];
        let md = markdown(&rows);
        let table = md.split("### Fastest tracker").nth(1).unwrap();
        let row = table.lines().find(|l| l.starts_with("| 8 | 1 |")).unwrap();
        assert_eq!(
            row,
            "| 8 | 1 | exact (20.000 ms, 1.0000) | mid (4.000 ms, 1.0400) | mid (4.000 ms, 1.0400) |"
        );
        assert!(
            md.contains("| 8 | 1 | mid | 2 | 8 | 1.0400 | 1.0500 | 4.000 | 0.500 |"),
            "{md}"
        );
        assert!(md.contains("| 8 | 1 | broken (1 failed) |"), "{md}");
        assert!(md.contains("- **error** s/r b (broken, k = 8)"), "{md}");
    }
}
