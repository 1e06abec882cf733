//! The training part of a suite: every `[[stage]]` × `[[run]]` pair as one
//! validated training config (`[train]`, then the stage's keys, then the
//! run's; later keys win), and `compare_to`, the run the report's conclusion
//! compares the others with.
//!
//! `seeds = [0, 1, …]` (at any of the three levels; the latest wins) makes
//! each run one training run per seed, the seed setting its init, data order
//! and every sketch; it replaces `seed`. Only the first seed records
//! gradients (`record = true`): the recorded-gradient rows measure subspace
//! methods, which more seeds would only repeat. Without `seeds` a run is one
//! training run of its `seed`, exactly as before.
//!
//! `stages = ["curves"]` on a `[[run]]` trains it in the stages it names
//! only (default: every stage).

use llama::optim::MomentPolicy;
use llama::session::{OptimizerKind, TrainConfig};
use subspace::Registry;

use super::SuiteFile;
use super::engine::{self, Engine};

/// One training run of a suite.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainJob {
    pub stage: String,
    /// The run's label within its stage.
    pub label: String,
    /// The seed of this repeat when the run has `seeds` (it is
    /// `config.seed` too); `None` without `seeds`.
    pub seed: Option<u64>,
    pub config: TrainConfig,
    /// Which engine trains it (`engine = "torch"`: see [`super::engine`]).
    pub engine: Engine,
}

impl TrainJob {
    /// `<stage>/<label>`, and `/seed-<N>` with `seeds`: the run's directory
    /// under `train/` and its name in reports.
    pub fn id(&self) -> String {
        run_id(&self.stage, &self.label, self.seed)
    }
}

/// `<stage>/<label>`, and `/seed-<N>` for a seed of a run with `seeds`.
pub fn run_id(stage: &str, label: &str, seed: Option<u64>) -> String {
    match seed {
        Some(s) => format!("{stage}/{label}/seed-{s}"),
        None => format!("{stage}/{label}"),
    }
}

/// The `seeds` of a run's merged keys, removed from them: `None` when no
/// level sets it. `where_` names the run in errors.
fn take_seeds(levels: [&mut toml::Table; 3], where_: &str) -> Result<Option<Vec<u64>>, String> {
    let mut seeds = None;
    for level in levels {
        if let Some(v) = level.remove("seeds") {
            if level.contains_key("seed") {
                return Err(format!(
                    "{where_}: `seed` and `seeds` in the same table; keep one (`seeds = [0, 1, 2]` \
                     runs one training run per seed)"
                ));
            }
            seeds = Some(v);
        }
    }
    seeds.map(|v| seeds_of(v, where_)).transpose()
}

/// A `seeds` value as distinct non-negative seeds, in order; `where_` names
/// it in the error.
pub fn seeds_of(v: toml::Value, where_: &str) -> Result<Vec<u64>, String> {
    let bad = || {
        format!(
            "{where_}: `seeds` must be a non-empty array of distinct non-negative integers, \
             e.g. `seeds = [0, 1, 2]`"
        )
    };
    let toml::Value::Array(items) = v else {
        return Err(bad());
    };
    let mut out: Vec<u64> = Vec::new();
    for item in items {
        let seed = item
            .as_integer()
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(bad)?;
        if out.contains(&seed) {
            return Err(bad());
        }
        out.push(seed);
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// The run of each stage that the conclusion compares every other with
/// (final held-out loss, Δ loss).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CompareTo {
    /// The stage's first GaLore run with plugin `svd` refreshing every step
    /// (T = 1) as the reference does (moments kept, bases not aligned): the
    /// default.
    #[default]
    SvdEveryStep,
    /// The stage's run of this label (`compare_to = "…"`), validated to be
    /// one of the suite's runs.
    Run(String),
}

impl CompareTo {
    /// Whether the run `label` with `config` (trained by the lab's engine
    /// when `lab`) is the comparison run of its stage.
    pub fn is(&self, label: &str, config: &TrainConfig, lab: bool) -> bool {
        match self {
            Self::SvdEveryStep => {
                lab && config.optimizer == OptimizerKind::Galore
                    && config.plugin == "svd"
                    && config.update_proj_gap == 1
                    && config.moments == MomentPolicy::Keep
                    && !config.align
            }
            Self::Run(name) => name == label,
        }
    }
}

/// Every `[[stage]]` × `[[run]]` as a validated training config.
pub(super) fn train_jobs(file: &SuiteFile, registry: &Registry) -> Result<Vec<TrainJob>, String> {
    if file.stages.is_empty() != file.runs.is_empty() {
        return Err(format!(
            "{} `[[stage]]` and {} `[[run]]` entries: training needs at least one of each",
            file.stages.len(),
            file.runs.len()
        ));
    }
    let mut jobs: Vec<TrainJob> = Vec::new();
    for (si, stage) in file.stages.iter().enumerate() {
        let stage_name = match stage.get("name") {
            Some(toml::Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("[[stage]] #{}: `name` must be a string", si + 1)),
            None => return Err(format!("[[stage]] #{}: give it a `name`", si + 1)),
        };
        for (ri, run) in file.runs.iter().enumerate() {
            let mut table = file.train.clone();
            let mut stage_keys = stage.clone();
            stage_keys.remove("name");
            let mut run_keys = run.clone();
            if !in_stages(run_keys.remove("stages"), &stage_name, ri, &file.stages)? {
                continue;
            }
            let seeds = take_seeds(
                [&mut table, &mut stage_keys, &mut run_keys],
                &format!("[[stage]] {stage_name:?} × [[run]] #{}", ri + 1),
            )?;
            let record = match run_keys.remove("record") {
                None => false,
                Some(toml::Value::Boolean(b)) => b,
                Some(_) => {
                    return Err(format!(
                        "[[run]] #{}: `record` must be true or false",
                        ri + 1
                    ));
                }
            };
            // A key a run sets itself must apply to its optimizer (a GaLore
            // key with adamw is refused); [train] and [[stage]] hold
            // defaults shared by every run, so only the run's keys count.
            let own_keys: Vec<String> = run_keys
                .keys()
                .filter(|k| !matches!(k.as_str(), "engine" | "device"))
                .cloned()
                .collect();
            table.extend(stage_keys);
            table.extend(run_keys);
            let engine = engine::take(
                &mut table,
                &format!("[[stage]] {stage_name:?} × [[run]] #{}", ri + 1),
            )?;
            let mut config: TrainConfig = toml::Value::Table(table).try_into().map_err(|e| {
                format!(
                    "[[stage]] {stage_name:?} × [[run]] #{}: {e} (the keys of [train], [[stage]] \
                     and [[run]] are the fields of a training config, plus `name` and `record`)",
                    ri + 1
                )
            })?;
            if !record {
                config.record_steps.clear();
            }
            config
                .check_applies(own_keys.iter().map(String::as_str))
                .map_err(|e| format!("[[stage]] {stage_name:?} × [[run]] #{}: {e}", ri + 1))?;
            config
                .validate(registry)
                .map_err(|e| format!("[[stage]] {stage_name:?} × [[run]] #{}: {e}", ri + 1))?;
            let label = match &engine {
                Engine::Lab => config.label(),
                Engine::Torch(run) => engine::label(run, &config),
            };
            if jobs
                .iter()
                .any(|j| j.stage == stage_name && j.label == label)
            {
                return Err(format!(
                    "two training runs are called {:?}; give one a `name`",
                    run_id(&stage_name, &label, None)
                ));
            }
            let Some(seeds) = seeds else {
                jobs.push(TrainJob {
                    stage: stage_name.clone(),
                    label,
                    seed: None,
                    config,
                    engine,
                });
                continue;
            };
            for (k, &seed) in seeds.iter().enumerate() {
                let mut config = config.clone();
                config.seed = seed;
                if k > 0 {
                    config.record_steps.clear();
                }
                jobs.push(TrainJob {
                    stage: stage_name.clone(),
                    label: label.clone(),
                    seed: Some(seed),
                    config,
                    engine: engine.clone(),
                });
            }
        }
    }
    Ok(jobs)
}

/// Whether `[[run]]` #`ri` (0-based) with `stages` (its `stages` key, if
/// any) trains in stage `stage`: every stage without the key, else the
/// stages it names, each of which must be one of the suite's.
fn in_stages(
    stages: Option<toml::Value>,
    stage: &str,
    ri: usize,
    all: &[toml::Table],
) -> Result<bool, String> {
    let Some(stages) = stages else {
        return Ok(true);
    };
    let names: Vec<&str> = all
        .iter()
        .filter_map(|s| s.get("name").and_then(toml::Value::as_str))
        .collect();
    let bad = || {
        format!(
            "[[run]] #{}: `stages` must be a non-empty array of stage names, e.g. stages =              [\"{}\"] (the suite's stages: {})",
            ri + 1,
            names.first().unwrap_or(&"curves"),
            names.join(", ")
        )
    };
    let toml::Value::Array(items) = stages else {
        return Err(bad());
    };
    let mut chosen = Vec::new();
    for item in &items {
        let name = item.as_str().ok_or_else(bad)?;
        if !names.contains(&name) {
            return Err(format!(
                "[[run]] #{}: stages = [{name:?}] is not a stage of the suite; its stages are {}",
                ri + 1,
                names.join(", ")
            ));
        }
        chosen.push(name);
    }
    if chosen.is_empty() {
        return Err(bad());
    }
    Ok(chosen.contains(&stage))
}

/// `compare_to`, checked against the runs' labels.
pub(super) fn compare_to(name: Option<&str>, trainings: &[TrainJob]) -> Result<CompareTo, String> {
    let Some(name) = name else {
        return Ok(CompareTo::default());
    };
    let mut runs: Vec<&str> = Vec::new();
    for t in trainings {
        if !runs.contains(&t.label.as_str()) {
            runs.push(&t.label);
        }
    }
    if runs.contains(&name) {
        return Ok(CompareTo::Run(name.into()));
    }
    Err(if runs.is_empty() {
        format!(
            "compare_to = {name:?} but the suite has no training runs; remove it, or add \
             [[stage]] and [[run]] entries"
        )
    } else {
        format!(
            "compare_to = {name:?} is not one of the suite's runs; use one of {}",
            runs.iter()
                .map(|r| format!("{r:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}
