//! The accuracy gate: a run's accuracy figures against `ci/baseline.csv`.
//!
//! Each baseline line holds one figure of one (matrix, method, params,
//! rank) with its tolerance (defaults in [`METRICS`], editable per line): the run fails when a figure is worse than
//! `baseline + abs_tol + rel_tol·|baseline|` (worse means larger, except for
//! `energy`, where smaller is worse), when a baselined row is missing or did
//! not run, or when a figure is not finite. Figures do not depend on the
//! thread count (every plugin is bit-identical across thread counts), so
//! the baseline keys on the first thread count only. Writing the baseline
//! is an explicit command ([`write_baseline`]), never a side effect.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::baseline::{Baseline, BaselineEntry};
use crate::records::{Metric, Row, Status};

/// The gated figures and their default tolerances (rel, abs): relative
/// 1e-3 absorbs f32 differences between CPU kernels (AVX2 against AVX-512).
pub const METRICS: [(Metric, f64, f64); 5] = [
    (Metric::ErrFro, 1e-3, 1e-6),
    (Metric::ErrSpec, 1e-3, 1e-6),
    (Metric::SinTheta, 1e-2, 1e-4),
    (Metric::Energy, 1e-4, 1e-6),
    (Metric::Ortho, 0.0, 1e-4),
];

/// (matrix, method, params, rank).
type Key = (String, String, String, usize);

fn gated_rows(rows: &[Row]) -> BTreeMap<Key, &Row> {
    let first_threads = rows
        .iter()
        .filter(|r| r.threads > 0)
        .map(|r| r.threads)
        .next();
    rows.iter()
        .filter(|r| Some(r.threads) == first_threads || r.status != Status::Ok)
        .map(|r| {
            (
                (r.matrix.clone(), r.method.clone(), r.params.clone(), r.rank),
                r,
            )
        })
        .collect()
}

/// Reads a baseline file, validated on its own ([`crate::baseline`]).
pub fn read_baseline(path: &Path) -> anyhow::Result<Vec<BaselineEntry>> {
    Ok(Baseline::read(path)?.entries)
}

/// Writes the baseline from a run's rows (only rows that ran). A figure
/// that is not finite, or a run with no figure, is an error and leaves the
/// file as it was: what this writes passes [`Baseline::read`].
pub fn write_baseline(path: &Path, rows: &[Row]) -> anyhow::Result<usize> {
    let mut entries = Vec::new();
    for ((matrix, method, params, rank), row) in gated_rows(rows) {
        if row.status != Status::Ok {
            continue;
        }
        for (metric, rel_tol, abs_tol) in METRICS {
            if let Some(value) = metric.of(row) {
                anyhow::ensure!(
                    value.is_finite(),
                    "cannot baseline {matrix} / {method} / k={rank}: its {metric} is {value}; \
                     fix the method or drop it from the suite, then rerun `lab check --update` \
                     ({} left as it was)",
                    path.display()
                );
                entries.push(BaselineEntry {
                    matrix: matrix.clone(),
                    method: method.clone(),
                    params: params.clone(),
                    rank,
                    metric,
                    value,
                    rel_tol,
                    abs_tol,
                });
            }
        }
    }
    anyhow::ensure!(
        !entries.is_empty(),
        "no row of the run has a figure to baseline (see the report's summary.md for why); \
         {} left as it was",
        path.display()
    );
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    for e in &entries {
        w.serialize(e)?;
    }
    w.flush()?;
    Ok(entries.len())
}

/// What moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub matrix: String,
    pub method: String,
    pub rank: usize,
    pub metric: Metric,
    pub baseline: Option<f64>,
    pub now: Option<f64>,
    pub limit: Option<f64>,
    pub what: &'static str,
}

/// The gate's verdict: failures, improvements beyond tolerance, and rows not
/// in the baseline (not gated).
#[derive(Debug, Default)]
pub struct Verdict {
    pub failures: Vec<Finding>,
    pub improvements: Vec<Finding>,
    pub checked: usize,
    pub new_rows: Vec<String>,
}

impl Verdict {
    /// No failure, and at least one figure compared: a gate that compared
    /// nothing has held the run to nothing.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.checked > 0
    }
}

/// Compares a run with the baseline.
pub fn check(baseline: &[BaselineEntry], rows: &[Row]) -> Verdict {
    let now = gated_rows(rows);
    let mut v = Verdict::default();
    for b in baseline {
        let key = (b.matrix.clone(), b.method.clone(), b.params.clone(), b.rank);
        let finding = |what, now: Option<f64>, limit| Finding {
            matrix: b.matrix.clone(),
            method: b.method.clone(),
            rank: b.rank,
            metric: b.metric,
            baseline: Some(b.value),
            now,
            limit,
            what,
        };
        v.checked += 1;
        let Some(row) = now.get(&key) else {
            v.failures
                .push(finding("row missing from the run", None, None));
            continue;
        };
        if row.status != Status::Ok {
            v.failures.push(finding("row did not run", None, None));
            continue;
        }
        let Some(x) = b.metric.of(row) else {
            v.failures.push(finding("figure missing", None, None));
            continue;
        };
        if !x.is_finite() {
            v.failures.push(finding("not finite", Some(x), None));
            continue;
        }
        let slack = b.abs_tol + b.rel_tol * b.value.abs();
        let (worse, better, limit) = if b.metric.larger_is_better() {
            (x < b.value - slack, x > b.value + slack, b.value - slack)
        } else {
            (x > b.value + slack, x < b.value - slack, b.value + slack)
        };
        if worse {
            v.failures
                .push(finding("worse than baseline", Some(x), Some(limit)));
        } else if better {
            v.improvements
                .push(finding("better than baseline", Some(x), Some(limit)));
        }
    }
    let known: std::collections::HashSet<Key> = baseline
        .iter()
        .map(|b| (b.matrix.clone(), b.method.clone(), b.params.clone(), b.rank))
        .collect();
    for (key, row) in &now {
        if row.status == Status::Ok && !known.contains(key) {
            v.new_rows
                .push(format!("{} / {} / k={}", key.0, key.1, key.3));
        }
        for metric in Metric::ALL {
            if let Some(x) = metric.of(row).filter(|x| !x.is_finite())
                && !known.contains(key)
            {
                v.failures.push(Finding {
                    matrix: key.0.clone(),
                    method: key.1.clone(),
                    rank: key.3,
                    metric,
                    baseline: None,
                    now: Some(x),
                    limit: None,
                    what: "not finite",
                });
            }
        }
    }
    v
}

/// The verdict as a table a person reads in a CI log.
pub fn render(v: &Verdict) -> String {
    let mut out = String::new();
    if v.checked == 0 {
        let _ = writeln!(
            out,
            "accuracy gate: FAIL (compared zero figures: the baseline gates nothing; \
             regenerate it with `lab check --update`)"
        );
    } else if v.failures.is_empty() {
        let _ = writeln!(
            out,
            "accuracy gate: PASS ({} figures within tolerance)",
            v.checked
        );
    } else {
        let _ = writeln!(
            out,
            "accuracy gate: FAIL ({} of {} figures)",
            v.failures.len(),
            v.checked
        );
        table(&mut out, &v.failures);
    }
    if !v.improvements.is_empty() {
        let _ = writeln!(
            out,
            "{} figure(s) better than the baseline beyond tolerance (`lab check --update` records them):",
            v.improvements.len()
        );
        table(&mut out, &v.improvements);
    }
    if !v.new_rows.is_empty() {
        let _ = writeln!(
            out,
            "{} row(s) not in the baseline (not gated; `lab check --update` adds them): {}",
            v.new_rows.len(),
            v.new_rows.join("; ")
        );
    }
    out
}

fn table(out: &mut String, findings: &[Finding]) {
    let f = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.6e}"));
    let _ = writeln!(
        out,
        "{:<28} {:<28} {:>5} {:<10} {:>14} {:>14} {:>14}  what",
        "matrix", "method", "k", "metric", "baseline", "now", "limit"
    );
    for x in findings {
        let _ = writeln!(
            out,
            "{:<28} {:<28} {:>5} {:<10} {:>14} {:>14} {:>14}  {}",
            x.matrix,
            x.method,
            x.rank,
            x.metric.as_str(),
            f(x.baseline),
            f(x.now),
            f(x.limit),
            x.what
        );
    }
}
