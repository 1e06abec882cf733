//! Suites: what a run measures, read from TOML and validated before anything
//! runs.
//!
//! ```toml
//! seed = 0                 # seeds every method's Context (default 0)
//! threads = [1, 2]         # threads inside one call (default [1])
//! warmup = 1               # untimed calls before timing (default 1)
//! repeats = 5              # timed calls (default 3)
//! ranks = [32, 128]
//! side = "short"           # "short" (GaLore: the basis of Aᵀ when m > n) or "left"
//!
//! [[matrix]]
//! source = "generated"
//! name = "poly-512x1376"   # optional
//! rows = 512
//! cols = 1376
//! spectrum = { kind = "polynomial", power = 1.0 }
//!
//! [[matrix]]
//! source = "files"
//! path = "data/grads/*.safetensors"   # a path or glob, relative to the working directory
//! tensors = "*mlp*"                   # optional glob on tensor names
//!
//! [[method]]
//! plugin = "rrf"
//! params = { power_iters = [0, 1, 2] } # an array value is a sweep: three methods
//! ```
//!
//! A suite may also train (see `llama::session::TrainConfig` for every
//! field). Every `[[stage]]` × `[[run]]` pair is one training run whose
//! config is `[train]`, then the stage's keys, then the run's keys (later
//! ones win). The runs go first; `source = "recorded"` matrices are the
//! gradients they recorded (only runs with `record = true` record, at the
//! stage's `record_steps`).
//!
//! ```toml
//! [train]                   # defaults of every run
//! rank = 128
//! [[stage]]
//! name = "60m"
//! preset = "llama-60m"
//! steps = 10
//! record_steps = [0, 9]
//! [[run]]
//! optimizer = "adamw"
//! [[run]]
//! optimizer = "galore"
//! plugin = "svd"
//! update_proj_gap = 1
//! record = true
//!
//! [[matrix]]
//! source = "recorded"
//! stage = "60m"                       # optional: every stage
//! tensors = "*mlp*"                   # optional glob on tensor names
//! ```
//!
//! `source = "trajectory"` reads the same recordings as trajectories: each
//! tensor as the sequence of its recorded steps (record a range,
//! `record_steps = "100..120"`), every method running through it as a
//! tracker ([`trajectory`]; optional `run = "<name>"` and `tensors`).
//!
//! The report's conclusion compares every run of a stage with one run of
//! it: top-level `compare_to = "<run name>"` names it (a run's `name`, or
//! its derived label such as `galore-svd-T1`); by default it is the stage's
//! GaLore + `svd` run refreshing every step (T = 1), if any ([`CompareTo`]).
//! Its time-to-quality target is top-level `target_loss` (a held-out loss),
//! by default the comparison run's final held-out loss (mean over seeds).
//!
//! [`Suite::load`] rejects, naming the file and the fix: TOML syntax errors
//! (with line and column), unknown keys (listing the known ones), unknown
//! plugins and params (listing the registered ones), file sources that
//! match no file, a `compare_to` that names no run (listing the runs), and
//! what this machine cannot hold or run ([`Limits`]: a generated matrix or
//! a training run over the memory budget, `threads` above the logical
//! cores).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use subspace::Registry;
use subspace::generate::Spectrum;

pub mod engine;
mod limits;
mod train;
pub mod trajectory;

pub use engine::{Engine, TorchOptimizer, TorchRun};
pub use limits::{Limits, generated_bytes};
pub use train::{CompareTo, TrainJob, run_id, seeds_of};

/// A suite file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    seed: u64,
    #[serde(default = "default_threads")]
    threads: Vec<usize>,
    #[serde(default = "default_warmup")]
    warmup: usize,
    #[serde(default = "default_repeats")]
    repeats: usize,
    #[serde(default)]
    ranks: Vec<usize>,
    #[serde(default)]
    side: Side,
    #[serde(rename = "matrix", default)]
    matrices: Vec<MatrixSpec>,
    #[serde(rename = "method", default)]
    methods: Vec<MethodSpec>,
    /// Defaults of every training run.
    #[serde(default)]
    train: toml::Table,
    #[serde(rename = "stage", default)]
    stages: Vec<toml::Table>,
    #[serde(rename = "run", default)]
    runs: Vec<toml::Table>,
    /// The conclusion's comparison run, by name.
    compare_to: Option<String>,
    /// The held-out loss of time-to-quality.
    target_loss: Option<f64>,
}

fn default_threads() -> Vec<usize> {
    vec![1]
}
fn default_warmup() -> usize {
    1
}
fn default_repeats() -> usize {
    3
}

/// Which side's subspace a matrix is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// GaLore's rule: the left basis when m ≤ n, else the left basis of Aᵀ
    /// (that is, A's right basis), so the basis is always on the short side.
    #[default]
    Short,
    /// Always the left basis of A.
    Left,
}

/// One `[[matrix]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum MatrixSpec {
    /// A matrix with a prescribed spectrum (`subspace::generate`).
    Generated {
        name: Option<String>,
        rows: usize,
        cols: usize,
        spectrum: Spectrum,
        /// Seed of the singular vectors (default: the entry's index).
        seed: Option<u64>,
    },
    /// Every 2-D tensor of the `.safetensors` and `.npy` files a path or glob
    /// names.
    Files {
        path: String,
        tensors: Option<String>,
    },
    /// The gradients this suite's training runs recorded.
    Recorded {
        /// Only this stage's runs (default: every stage).
        stage: Option<String>,
        tensors: Option<String>,
    },
    /// Every tensor the suite's recording runs recorded, as the sequence of
    /// its recorded steps, each method running through it as a tracker
    /// ([`trajectory`]).
    Trajectory {
        /// Only this recording run: its name or `<stage>/<name>` (default:
        /// every recording run).
        run: Option<String>,
        tensors: Option<String>,
    },
}

/// One `[[method]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodSpec {
    plugin: String,
    label: Option<String>,
    #[serde(default)]
    params: toml::Table,
}

/// One method of a validated suite: a plugin and scalar params.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodJob {
    /// `plugin` or `plugin[key=value,…]` with the swept keys, or the label.
    pub label: String,
    pub plugin: String,
    pub params: toml::Table,
}

/// One matrix source of a validated suite.
#[derive(Debug, Clone, PartialEq)]
pub enum MatrixJob {
    Generated {
        name: String,
        rows: usize,
        cols: usize,
        spectrum: Spectrum,
        seed: u64,
    },
    /// One file; `tensors` filters tensor names.
    File {
        path: PathBuf,
        tensors: Option<String>,
        /// Named exactly in the suite (its `path` has no glob): a file that
        /// yields no matrix, or a non-2-D `.npy`, is then an error row
        /// rather than a note.
        explicit: bool,
    },
    /// The gradients recorded by this suite's training runs (resolved after
    /// they ran).
    Recorded {
        stage: Option<String>,
        tensors: Option<String>,
    },
    /// The trajectories recorded by this suite's training runs: the ids
    /// (`<stage>/<label>`) of the recording runs it reads, validated.
    Trajectory {
        runs: Vec<String>,
        tensors: Option<String>,
    },
}

/// A validated suite.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, hex: identifies the suite in a record.
    pub hash: String,
    pub seed: u64,
    pub threads: Vec<usize>,
    pub warmup: usize,
    pub repeats: usize,
    pub ranks: Vec<usize>,
    pub side: Side,
    pub matrices: Vec<MatrixJob>,
    pub methods: Vec<MethodJob>,
    /// Training runs, in order: every stage × every run.
    pub trainings: Vec<TrainJob>,
    /// The run the report's conclusion compares the others with.
    pub compare_to: CompareTo,
    /// Time-to-quality's held-out loss (`target_loss`); `None`: the
    /// comparison run's final held-out loss.
    pub target_loss: Option<f64>,
}

/// A suite that cannot run, with the file and the fix in the message.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// (The cause is part of the message and not an error `source`, so a
    /// chain printed with `{:#}` names it once.)
    #[error(
        "cannot read suite {path}: {cause}; check the path (a relative path is resolved from \
         where `lab` runs)"
    )]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("suite {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Suite {
    /// Reads and validates a suite against the plugins of `registry`.
    pub fn load(path: &Path, registry: &Registry) -> Result<Self, SuiteError> {
        let bytes = std::fs::read(path).map_err(|cause| SuiteError::Read {
            path: path.into(),
            cause,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        Self::parse(path, &text, registry)
    }

    /// Validates suite text (`path` names it in errors and resolves nothing)
    /// against this machine's [`Limits`].
    pub fn parse(path: &Path, text: &str, registry: &Registry) -> Result<Self, SuiteError> {
        let limits = Limits::from_machine().map_err(|message| SuiteError::Invalid {
            path: path.into(),
            message,
        })?;
        Self::parse_with_limits(path, text, registry, &limits)
    }

    /// As [`Suite::parse`], against the given `limits`.
    pub fn parse_with_limits(
        path: &Path,
        text: &str,
        registry: &Registry,
        limits: &Limits,
    ) -> Result<Self, SuiteError> {
        let invalid = |message: String| SuiteError::Invalid {
            path: path.into(),
            message,
        };
        let file: SuiteFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;

        let trainings = train::train_jobs(&file, registry).map_err(invalid)?;
        if (file.ranks.is_empty() && !file.matrices.is_empty()) || file.ranks.contains(&0) {
            return Err(invalid(
                "`ranks` must list at least one rank, each ≥ 1".into(),
            ));
        }
        if file.threads.is_empty() || file.threads.contains(&0) {
            return Err(invalid(
                "`threads` must list at least one thread count, each ≥ 1".into(),
            ));
        }
        limits.check_threads(&file.threads).map_err(invalid)?;
        for job in &trainings {
            limits.check_training(job).map_err(invalid)?;
        }
        if file.repeats == 0 {
            return Err(invalid("`repeats` must be ≥ 1".into()));
        }
        if file.matrices.is_empty() && trainings.is_empty() {
            return Err(invalid(
                "no `[[matrix]]` entries: add at least one source".into(),
            ));
        }
        if file.methods.is_empty() && !file.matrices.is_empty() {
            return Err(invalid(
                "no `[[method]]` entries: add at least one plugin".into(),
            ));
        }

        let mut methods = Vec::new();
        for (i, spec) in file.methods.iter().enumerate() {
            // An empty array sweeps over nothing: the entry would add no method.
            if let Some((key, _)) = spec
                .params
                .iter()
                .find(|(_, v)| v.as_array().is_some_and(|a| a.is_empty()))
            {
                return Err(invalid(format!(
                    "[[method]] #{} (plugin = {:?}): params.{key} = [] sweeps over no value, so \
                     this entry would measure nothing; give at least one value (e.g. \
                     {key} = [1]) or leave {key} out for the plugin's default",
                    i + 1,
                    spec.plugin
                )));
            }
            for (label, params) in expand_sweep(spec) {
                registry.build(&spec.plugin, &params).map_err(|e| {
                    invalid(format!(
                        "[[method]] #{} (plugin = {:?}): {e}",
                        i + 1,
                        spec.plugin
                    ))
                })?;
                methods.push(MethodJob {
                    label,
                    plugin: spec.plugin.clone(),
                    params,
                });
            }
        }
        let mut labels = std::collections::HashSet::new();
        for m in &methods {
            if !labels.insert(&m.label) {
                return Err(invalid(format!(
                    "two methods are labelled {:?}; give one a different `label`",
                    m.label
                )));
            }
        }

        let mut matrices = Vec::new();
        for (i, spec) in file.matrices.iter().enumerate() {
            match spec {
                MatrixSpec::Generated {
                    name,
                    rows,
                    cols,
                    spectrum,
                    seed,
                } => {
                    if *rows == 0 || *cols == 0 {
                        return Err(invalid(format!(
                            "[[matrix]] #{}: a generated matrix needs rows ≥ 1 and cols ≥ 1",
                            i + 1
                        )));
                    }
                    let name = name
                        .clone()
                        .unwrap_or_else(|| format!("{}-{rows}x{cols}", spectrum_name(spectrum)));
                    limits
                        .check_generated(i + 1, &name, *rows, *cols)
                        .map_err(invalid)?;
                    let seed = seed.unwrap_or(i as u64);
                    matrices.push(MatrixJob::Generated {
                        name,
                        rows: *rows,
                        cols: *cols,
                        spectrum: *spectrum,
                        seed,
                    });
                }
                MatrixSpec::Files {
                    path: pattern,
                    tensors,
                } => {
                    if let Some(t) = tensors {
                        glob::Pattern::new(t).map_err(|e| {
                            invalid(format!("[[matrix]] #{}: tensors = {t:?}: {e}", i + 1))
                        })?;
                    }
                    let paths = glob::glob(pattern)
                        .map_err(|e| {
                            invalid(format!("[[matrix]] #{}: path = {pattern:?}: {e}", i + 1))
                        })?
                        .filter_map(Result::ok)
                        .filter(|p| p.is_file())
                        .collect::<Vec<_>>();
                    if paths.is_empty() {
                        let cwd = std::env::current_dir().unwrap_or_default();
                        return Err(invalid(format!(
                            "[[matrix]] #{}: path = {pattern:?} matches no file (relative to {}); \
                             check the path, or record gradients first",
                            i + 1,
                            cwd.display()
                        )));
                    }
                    let explicit = !pattern.contains(['*', '?', '[']);
                    for p in paths {
                        matrices.push(MatrixJob::File {
                            path: p,
                            tensors: tensors.clone(),
                            explicit,
                        });
                    }
                }
                MatrixSpec::Recorded { stage, tensors } => {
                    if let Some(t) = tensors {
                        glob::Pattern::new(t).map_err(|e| {
                            invalid(format!("[[matrix]] #{}: tensors = {t:?}: {e}", i + 1))
                        })?;
                    }
                    let recording = |j: &&TrainJob| {
                        !j.config.record_steps.is_empty()
                            && stage.as_ref().is_none_or(|s| *s == j.stage)
                    };
                    if !trainings.iter().any(|j| recording(&j)) {
                        return Err(invalid(format!(
                            "[[matrix]] #{}: source = \"recorded\" but no training run{} records \
                             gradients; give a [[run]] `record = true` and its stage `record_steps`",
                            i + 1,
                            stage
                                .as_ref()
                                .map_or(String::new(), |s| format!(" of stage {s:?}"))
                        )));
                    }
                    matrices.push(MatrixJob::Recorded {
                        stage: stage.clone(),
                        tensors: tensors.clone(),
                    });
                }
                MatrixSpec::Trajectory { run, tensors } => {
                    let job =
                        trajectory::job(i + 1, run.as_deref(), tensors.as_deref(), &trainings)
                            .map_err(invalid)?;
                    matrices.push(job);
                }
            }
        }

        let compare_to =
            train::compare_to(file.compare_to.as_deref(), &trainings).map_err(invalid)?;
        if let Some(t) = file.target_loss
            && !(t.is_finite() && t > 0.0)
        {
            return Err(invalid(format!(
                "target_loss = {t}: give a positive held-out loss (nats per token), or remove \
                 it to use the comparison run's final held-out loss"
            )));
        }
        let name = file.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "suite".into())
        });
        Ok(Suite {
            name,
            description: file.description,
            path: path.into(),
            hash: sha256_hex(text.as_bytes()),
            seed: file.seed,
            threads: file.threads,
            warmup: file.warmup,
            repeats: file.repeats,
            ranks: file.ranks,
            side: file.side,
            matrices,
            methods,
            trainings,
            compare_to,
            target_loss: file.target_loss,
        })
    }
}

/// Short name of a spectrum, for generated matrices' default names.
pub fn spectrum_name(s: &Spectrum) -> String {
    match *s {
        Spectrum::Exponential { rate } => format!("exp{rate}"),
        Spectrum::Polynomial { power } => format!("poly{power}"),
        Spectrum::Gap { k, ratio } => format!("gap{k}r{ratio}"),
        Spectrum::Rank { r } => format!("rank{r}"),
        Spectrum::Flat => "flat".into(),
    }
}

/// Expands array-valued params into one method per combination.
fn expand_sweep(spec: &MethodSpec) -> Vec<(String, toml::Table)> {
    let mut combos: Vec<(Vec<String>, toml::Table)> = vec![(Vec::new(), toml::Table::new())];
    // BTreeMap: a stable order of swept keys whatever the file's order.
    let sorted: BTreeMap<&String, &toml::Value> = spec.params.iter().collect();
    for (key, value) in sorted {
        let values: Vec<&toml::Value> = match value {
            toml::Value::Array(items) => items.iter().collect(),
            v => vec![v],
        };
        let swept = matches!(value, toml::Value::Array(_));
        combos = combos
            .into_iter()
            .flat_map(|(tags, table)| {
                values.iter().map(move |v| {
                    let mut t = table.clone();
                    t.insert(key.clone(), (*v).clone());
                    let mut tags = tags.clone();
                    if swept {
                        tags.push(format!("{key}={v}"));
                    }
                    (tags, t)
                })
            })
            .collect();
    }
    let base = spec.label.clone().unwrap_or_else(|| spec.plugin.clone());
    combos
        .into_iter()
        .map(|(tags, table)| {
            let label = if tags.is_empty() {
                base.clone()
            } else {
                format!("{base}[{}]", tags.join(","))
            };
            (label, table)
        })
        .collect()
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
