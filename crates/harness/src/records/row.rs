//! One [`Row`] per matrix × method × rank × thread count (a line of
//! `results.csv`), its [`Status`], the [`Origin`] of a recorded gradient,
//! and the [`Metric`]s the accuracy gate compares.
//!
//! The CSV text of every enum is its serde name (`Status::Ok` is `ok`,
//! `Metric::ErrFro` is `err_fro`), the same as [`std::fmt::Display`] and
//! [`std::str::FromStr`], so files written before these types existed parse.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::suite::Suite;

/// Whether a row (or a training run) ran, and if not, why not in kind; the
/// reason itself is the row's `error` column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Ran; every figure is filled.
    #[default]
    Ok,
    /// Failed: a file that does not load, a numerical failure, bad params.
    Error,
    /// The method's backend is not usable here (no GPU, no driver).
    Unavailable,
    /// Not attempted: the rank exceeds the matrix.
    Skipped,
}

impl Status {
    /// Every status, in declaration order.
    pub const ALL: [Status; 4] = [Self::Ok, Self::Error, Self::Unavailable, Self::Skipped];

    /// The CSV text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Unavailable => "unavailable",
            Self::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_named(s, &Self::ALL, Self::as_str, "status")
    }
}

/// An accuracy figure of a row (see `subspace::metrics::Accuracy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// ‖A − QQᵀA‖_F / ‖A − A_k‖_F (1 is optimal).
    ErrFro,
    /// ‖A − QQᵀA‖₂ / σ_{k+1}.
    ErrSpec,
    /// ‖(I − QQᵀ)U_k‖₂, the largest principal angle to the true subspace.
    SinTheta,
    /// ‖QᵀA‖_F² / ‖A‖_F² (larger is better).
    Energy,
    /// ‖QᵀQ − I‖_F.
    Ortho,
}

impl Metric {
    /// Every metric, in the order of the `results.csv` columns.
    pub const ALL: [Metric; 5] = [
        Self::ErrFro,
        Self::ErrSpec,
        Self::SinTheta,
        Self::Energy,
        Self::Ortho,
    ];

    /// The CSV text (and the `results.csv` column).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ErrFro => "err_fro",
            Self::ErrSpec => "err_spec",
            Self::SinTheta => "sin_theta",
            Self::Energy => "energy",
            Self::Ortho => "ortho",
        }
    }

    /// Whether a larger figure is better (`energy`); for the others smaller is.
    pub fn larger_is_better(self) -> bool {
        self == Self::Energy
    }

    /// This figure of `row`, if the row has it.
    pub fn of(self, row: &Row) -> Option<f64> {
        match self {
            Self::ErrFro => row.err_fro,
            Self::ErrSpec => row.err_spec,
            Self::SinTheta => row.sin_theta,
            Self::Energy => row.energy,
            Self::Ortho => row.ortho,
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_named(s, &Self::ALL, Self::as_str, "metric")
    }
}

/// The value of `all` whose name is `s`, or an error listing the names.
fn parse_named<T: Copy>(
    s: &str,
    all: &[T],
    name: fn(T) -> &'static str,
    what: &str,
) -> Result<T, String> {
    all.iter().copied().find(|&x| name(x) == s).ok_or_else(|| {
        let known: Vec<&str> = all.iter().map(|&x| name(x)).collect();
        format!("unknown {what} {s:?}; use one of {}", known.join(", "))
    })
}

/// The training run that recorded a gradient: its stage, its run label, the
/// 0-based step and the tensor's Hugging Face name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub stage: String,
    pub run: String,
    pub step: usize,
    pub tensor: String,
}

/// One result row: a matrix, a method, a rank and a thread count; read
/// back from `results.csv` as written (`samples_s` is in `run.json` only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub suite: String,
    /// The matrix's label: a generated matrix's name, `<file stem>:<tensor>`,
    /// or `<stage>/step-<N>:<tensor>` for a recorded gradient.
    pub matrix: String,
    pub source: String,
    /// A recorded gradient's [`Origin`]; empty for generated and file
    /// matrices.
    pub run: Option<String>,
    pub stage: Option<String>,
    pub step: Option<usize>,
    pub tensor: Option<String>,
    /// Shape of the matrix as stored.
    pub rows: usize,
    pub cols: usize,
    /// "left": the basis of A; "right": the basis of Aᵀ (GaLore's short side).
    #[serde(deserialize_with = "side_from_text")]
    pub side: SideText,
    pub method: String,
    pub plugin: String,
    pub params: String,
    /// Where the method computed: "cpu" or "cuda:N".
    pub device: String,
    pub rank: usize,
    pub threads: usize,
    pub seed: u64,
    /// Whether it ran; when not, `error` says why.
    pub status: Status,
    pub error: String,
    pub time_median_s: Option<f64>,
    pub time_min_s: Option<f64>,
    pub time_max_s: Option<f64>,
    /// The 95% percentile bootstrap interval of the median call time over
    /// the repeats ([`crate::stats::bootstrap_median`], seeded by `seed`).
    pub time_median_lo_s: Option<f64>,
    pub time_median_hi_s: Option<f64>,
    pub flops: Option<f64>,
    pub gflops: Option<f64>,
    /// faer's GEMM rate at this thread count, measured in this run.
    pub gemm_gflops: Option<f64>,
    pub gemm_fraction: Option<f64>,
    /// Host heap peak of one call (the counting allocator).
    pub peak_heap_bytes: Option<usize>,
    /// Device bytes a GPU method held after this row's calls, measured from
    /// its own allocations ([`subspace::SubspaceMethod::device_bytes`]): one
    /// instance serves the whole suite and its buffers only grow, so this is
    /// its peak over the rows so far; empty for a CPU method.
    pub device_bytes: Option<usize>,
    /// The plugin's predicted workspace: host bytes for a CPU method, device
    /// bytes for a GPU method.
    pub predicted_bytes: Option<usize>,
    /// Energy of one call in joules, and mean power in watts.
    pub energy_j: Option<f64>,
    pub power_w: Option<f64>,
    pub energy_note: String,
    pub err_fro: Option<f64>,
    pub err_spec: Option<f64>,
    pub sin_theta: Option<f64>,
    pub energy: Option<f64>,
    pub ortho: Option<f64>,
    pub hmt_fro_bound: Option<f64>,
    pub hmt_spec_bound: Option<f64>,
    /// Whether the residuals are within the HMT expected-error bounds (empty
    /// for exact methods).
    pub hmt_holds: Option<bool>,
    pub iterations: Option<usize>,
    pub products: Option<usize>,
    pub converged: Option<bool>,
    /// Raw timing samples in seconds (run.json only).
    #[serde(skip)]
    pub samples_s: Vec<f64>,
}

impl Row {
    /// A row of `matrix` from `source`: no method, no origin, no figures
    /// yet, [`Status::Ok`].
    pub fn new(suite: &Suite, matrix: String, source: String) -> Self {
        Row {
            suite: suite.name.clone(),
            matrix,
            source,
            run: None,
            stage: None,
            step: None,
            tensor: None,
            rows: 0,
            cols: 0,
            side: "left",
            method: String::new(),
            plugin: String::new(),
            params: String::new(),
            device: String::new(),
            rank: 0,
            threads: 0,
            seed: suite.seed,
            status: Status::Ok,
            error: String::new(),
            time_median_s: None,
            time_min_s: None,
            time_max_s: None,
            time_median_lo_s: None,
            time_median_hi_s: None,
            flops: None,
            gflops: None,
            gemm_gflops: None,
            gemm_fraction: None,
            peak_heap_bytes: None,
            device_bytes: None,
            predicted_bytes: None,
            energy_j: None,
            power_w: None,
            energy_note: String::new(),
            err_fro: None,
            err_spec: None,
            sin_theta: None,
            energy: None,
            ortho: None,
            hmt_fro_bound: None,
            hmt_spec_bound: None,
            hmt_holds: None,
            iterations: None,
            products: None,
            converged: None,
            samples_s: Vec::new(),
        }
    }

    /// Fills the origin columns.
    pub fn with_origin(mut self, origin: Option<&Origin>) -> Self {
        if let Some(o) = origin {
            self.run = Some(o.run.clone());
            self.stage = Some(o.stage.clone());
            self.step = Some(o.step);
            self.tensor = Some(o.tensor.clone());
        }
        self
    }

    /// The row with `status` and the reason `error`.
    pub fn with_status(mut self, status: Status, error: String) -> Self {
        self.status = status;
        self.error = error;
        self
    }

    /// The row's (stage, step) when it is a recorded gradient.
    pub fn recorded_step(&self) -> Option<(&str, usize)> {
        Some((self.stage.as_deref()?, self.step?))
    }
}

/// The `side` text (an alias: serde would otherwise borrow it from the
/// input, and a row read from a file could not outlive the file's text).
pub type SideText = &'static str;

/// A `side` column: "left" or "right".
fn side_from_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let text = String::deserialize(d)?;
    ["left", "right"]
        .into_iter()
        .find(|s| *s == text)
        .ok_or_else(|| serde::de::Error::custom(format!("side {text:?}: use left or right")))
}

/// Params as one line of inline TOML, keys sorted.
pub fn inline_params(params: &toml::Table) -> String {
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    keys.iter()
        .map(|k| format!("{k}={}", params[k.as_str()]))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_metric_round_trip_through_their_csv_text() {
        let texts: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(texts, ["ok", "error", "unavailable", "skipped"]);
        for s in Status::ALL {
            assert_eq!(s.to_string().parse::<Status>(), Ok(s));
        }
        let texts: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
        assert_eq!(
            texts,
            ["err_fro", "err_spec", "sin_theta", "energy", "ortho"]
        );
        for m in Metric::ALL {
            assert_eq!(m.to_string().parse::<Metric>(), Ok(m));
        }
        let err = "err-fro".parse::<Metric>().unwrap_err();
        assert!(
            err.contains("\"err-fro\"") && err.contains("err_fro, err_spec"),
            "{err}"
        );
        assert!("OK".parse::<Status>().is_err());
    }

    /// serde (the CSV writer and reader) uses the same text as Display.
    #[test]
    fn the_serde_text_is_the_display_text() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Line {
            status: Status,
            metric: Metric,
        }
        let lines: Vec<Line> = Status::ALL
            .iter()
            .cycle()
            .zip(&Metric::ALL)
            .map(|(&status, &metric)| Line { status, metric })
            .collect();
        let mut w = csv::Writer::from_writer(Vec::new());
        for line in &lines {
            w.serialize(line).unwrap();
        }
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let expected: Vec<String> = std::iter::once("status,metric".to_string())
            .chain(lines.iter().map(|l| format!("{},{}", l.status, l.metric)))
            .collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
        assert_eq!(expected[4], "skipped,energy");
        let back: Vec<Line> = csv::Reader::from_reader(text.as_bytes())
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, lines);
    }
}
