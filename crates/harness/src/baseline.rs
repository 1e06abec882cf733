//! Reading and validating the accuracy gate's baseline before it gates
//! anything: a baseline the gate cannot hold a run to is an error naming the
//! file, the line, the field and the fix, never a silent pass.
//!
//! A valid baseline has the columns [`COLUMNS`], at least one figure, every
//! `value` finite and every `rel_tol`/`abs_tol` finite and non-negative
//! ([`Baseline::read`]); every line's method, params and rank are the
//! suite's ([`Baseline::check_suite`], before the run). A line's matrix is
//! checked before the run when the suite's matrices are all generated (their
//! labels are their names). File and recorded sources are labelled only once
//! loaded (`runner::load`), so with such sources a matrix that is no
//! generated name is checked after the run, against the matrices the run
//! measured ([`Baseline::check_matrices`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::records::{Metric, Row, inline_params};
use crate::suite::{MatrixJob, Suite};

/// The baseline's header, in order.
pub const COLUMNS: [&str; 8] = [
    "matrix", "method", "params", "rank", "metric", "value", "rel_tol", "abs_tol",
];

/// The fix that always applies.
const REGENERATE: &str = "regenerate with `lab check --update`";

/// At most this many problems are listed in one error.
const LIST_AT_MOST: usize = 10;

/// One gated figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineEntry {
    pub matrix: String,
    pub method: String,
    /// The method's params as inline TOML (part of the key).
    pub params: String,
    pub rank: usize,
    /// Its CSV text (`err_fro`, …); any other name fails the read.
    pub metric: Metric,
    pub value: f64,
    pub rel_tol: f64,
    pub abs_tol: f64,
}

/// A baseline as read: its figures and the line of the file each came from.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub path: PathBuf,
    pub entries: Vec<BaselineEntry>,
    /// `lines[i]` is the 1-based line of `entries[i]`.
    pub lines: Vec<u64>,
}

impl Baseline {
    /// Reads `path` and validates it on its own: the header, at least one
    /// figure, finite values, finite non-negative tolerances.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let file = path.display();
        let mut r = csv::Reader::from_path(path).with_context(|| {
            format!("cannot read baseline {file}; create it with `lab check --update`")
        })?;
        let header = r
            .headers()
            .with_context(|| format!("{file} line 1: cannot read the header; {REGENERATE}"))?
            .clone();
        if !header.iter().eq(COLUMNS) {
            anyhow::bail!(
                "{file} line 1: the header is `{}`; it must be `{}`; {REGENERATE}",
                header.iter().collect::<Vec<_>>().join(","),
                COLUMNS.join(",")
            );
        }
        let mut entries = Vec::new();
        let mut lines = Vec::new();
        for record in r.records() {
            let record = record.with_context(|| format!("{file}: {REGENERATE}"))?;
            let line = record.position().map_or(0, |p| p.line());
            let entry: BaselineEntry = record
                .deserialize(Some(&header))
                .with_context(|| format!("{file} line {line}: fix the line or {REGENERATE}"))?;
            entries.push(entry);
            lines.push(line);
        }
        let b = Baseline {
            path: path.to_path_buf(),
            entries,
            lines,
        };
        if b.entries.is_empty() {
            anyhow::bail!(
                "{file} has no figures (only a header, or nothing): a gate with nothing to \
                 compare passes anything; {REGENERATE}"
            );
        }
        b.report(|e| {
            let mut found = Vec::new();
            if !e.value.is_finite() {
                found.push(format!(
                    "value is {}; write a finite number, or {REGENERATE}",
                    e.value
                ));
            }
            for (field, tol) in [("rel_tol", e.rel_tol), ("abs_tol", e.abs_tol)] {
                if !(tol.is_finite() && tol >= 0.0) {
                    found.push(format!(
                        "{field} is {tol}; write a finite non-negative number, or {REGENERATE}"
                    ));
                }
            }
            found
        })?;
        Ok(b)
    }

    /// Every line's method (with its params) and rank are the suite's, and
    /// its matrix too where the suite's labels are known before loading:
    /// checked before the run.
    pub fn check_suite(&self, suite: &Suite) -> anyhow::Result<()> {
        let methods: Vec<(&str, String)> = suite
            .methods
            .iter()
            .map(|m| (m.label.as_str(), inline_params(&m.params)))
            .collect();
        let generated: BTreeSet<&str> = suite
            .matrices
            .iter()
            .filter_map(|m| match m {
                MatrixJob::Generated { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let only_generated = generated.len() == suite.matrices.len();
        let suite_file = suite.path.display();
        self.report(|e| {
            let mut found = Vec::new();
            match methods.iter().find(|(label, _)| *label == e.method) {
                None => found.push(format!(
                    "method `{}` is not a method of suite {suite_file} (its methods: {}); \
                     correct the name or {REGENERATE}",
                    e.method,
                    methods.iter().map(|m| m.0).collect::<Vec<_>>().join(", ")
                )),
                Some((_, params)) if *params != e.params => found.push(format!(
                    "params `{}` of method `{}` are not the suite's (`{params}`); {REGENERATE}",
                    e.params, e.method
                )),
                Some(_) => {}
            }
            if !suite.ranks.contains(&e.rank) {
                found.push(format!(
                    "rank {} is not a rank of suite {suite_file} ({:?}); {REGENERATE}",
                    e.rank, suite.ranks
                ));
            }
            if only_generated && !generated.contains(e.matrix.as_str()) {
                found.push(format!(
                    "matrix `{}` is not a matrix of suite {suite_file} (its matrices: {}); \
                     correct the name or {REGENERATE}",
                    e.matrix,
                    generated.iter().copied().collect::<Vec<_>>().join(", ")
                ));
            }
            found
        })
    }

    /// After the run: every line's matrix is one the run measured. Skipped
    /// when a source did not load (its matrices' labels are unknown; the
    /// gate then fails those figures as missing rows).
    pub fn check_matrices(&self, rows: &[Row]) -> anyhow::Result<()> {
        if rows.iter().any(|r| r.method.is_empty()) {
            return Ok(());
        }
        let measured: BTreeSet<&str> = rows.iter().map(|r| r.matrix.as_str()).collect();
        self.report(|e| {
            if measured.contains(e.matrix.as_str()) {
                Vec::new()
            } else {
                vec![format!(
                    "matrix `{}` is not a matrix the suite measured (it measured: {}); \
                     correct the name or {REGENERATE}",
                    e.matrix,
                    measured.iter().copied().collect::<Vec<_>>().join(", ")
                )]
            }
        })
    }

    /// An error listing every `<file> line <n>: <problem>` that `problems`
    /// finds, or `Ok` when it finds none.
    fn report(&self, problems: impl Fn(&BaselineEntry) -> Vec<String>) -> anyhow::Result<()> {
        let file = self.path.display();
        let mut found = Vec::new();
        for (e, line) in self.entries.iter().zip(&self.lines) {
            found.extend(
                problems(e)
                    .into_iter()
                    .map(|p| format!("{file} line {line}: {p}")),
            );
        }
        if found.is_empty() {
            return Ok(());
        }
        let mut message = found[..found.len().min(LIST_AT_MOST)].join("\n");
        if found.len() > LIST_AT_MOST {
            message.push_str(&format!("\n… and {} more", found.len() - LIST_AT_MOST));
        }
        anyhow::bail!("{message}")
    }
}
