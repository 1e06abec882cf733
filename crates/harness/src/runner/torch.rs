//! The torch engine: a training run trained by PyTorch through the Python
//! package's one entry point, `python -m galore_lab.train CONFIG --out DIR`
//! (crates/python/python/galore_lab/train.py), read back as the lab's own
//! outcome: the run's `training.csv` as [`StepRow`]s and its `train.json` as
//! a [`TrainSummary`] whose config is the job's.
//!
//! The interpreter is `$GALORE_PYTHON` when set, else `python3` on `PATH`;
//! the outcome records which one ran and the packages' versions. A run that
//! cannot run here (no interpreter, galore_lab, torch, transformers or the
//! peer missing, CUDA without a GPU) is [`Unavailable`], with the reason and
//! the command that fixes it; it is never skipped silently.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use llama::session::{StepRow, TrainSummary};

use crate::suite::{TorchRun, TrainJob};

/// The environment variable naming the Python interpreter of the torch
/// engine.
pub const PYTHON_ENV: &str = "GALORE_PYTHON";

/// The install command of the Python side, from the repository root.
pub const INSTALL: &str = "pip install './crates/python[torch,peers]'";

/// A run that cannot run here, and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unavailable: {0}")]
pub struct Unavailable(pub String);

/// The interpreter: `$GALORE_PYTHON`, else `python3` on `PATH`.
pub fn interpreter() -> Result<PathBuf, Unavailable> {
    if let Some(p) = std::env::var_os(PYTHON_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Unavailable(format!(
                "{PYTHON_ENV}={} is not a file; point it at a Python ≥ 3.10 with galore_lab \
                 installed ({INSTALL})",
                p.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Unavailable(format!(
                "no python3 on PATH and {PYTHON_ENV} is not set; install Python ≥ 3.10 and \
                 {INSTALL}, or set {PYTHON_ENV}"
            ))
        })
}

/// The JSON config the entry point reads: the job's training keys that
/// differ from `TrainConfig::default()` (and the preset and `seq_len`), with
/// the torch optimizer, device and plugin, and the run's label as its name.
/// A key left at its default is not sent, so a key the torch engine does
/// not know (one added to the lab's config later) reaches it only when a
/// run sets it, and then it refuses the run naming the key.
pub fn config_json(job: &TrainJob, run: &TorchRun) -> anyhow::Result<serde_json::Value> {
    let defaults = serde_json::to_value(llama::session::TrainConfig::default())?;
    let mut v = serde_json::to_value(&job.config)?;
    let o = v
        .as_object_mut()
        .context("a training config serializes to an object")?;
    o.retain(|k, value| {
        matches!(k.as_str(), "preset" | "seq_len") || defaults.get(k) != Some(value)
    });
    o.insert("name".into(), job.label.clone().into());
    o.insert("optimizer".into(), run.optimizer.name().into());
    o.insert("device".into(), run.device.clone().into());
    o.insert("engine".into(), "torch".into());
    o.insert(
        "plugin".into(),
        run.plugin
            .clone()
            .map_or(serde_json::Value::Null, Into::into),
    );
    Ok(v)
}

/// Runs the entry point with `args`; a run that cannot run here is
/// [`Unavailable`], any other failure an error with its stderr.
fn entry(python: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<String> {
    let out = Command::new(python)
        .args(["-m", "galore_lab.train"])
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .with_context(|| format!("cannot start {}", python.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let last = stderr.lines().last().unwrap_or("").to_string();
    match out.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Some(3) => {
            let why = last.strip_prefix("unavailable: ").unwrap_or(&last);
            Err(Unavailable(why.to_string()).into())
        }
        _ if stderr.contains("No module named 'galore_lab'") => Err(Unavailable(format!(
            "galore_lab is not installed for {}: {INSTALL} (or set {PYTHON_ENV})",
            python.display()
        ))
        .into()),
        _ => anyhow::bail!(
            "the torch engine ({} -m galore_lab.train) failed ({}): {}",
            python.display(),
            out.status,
            if last.is_empty() { "no message" } else { &last }
        ),
    }
}

/// Whether `job` can run here: the entry point's `--check` (the config and
/// the packages and device it needs), without training.
pub fn check(job: &TrainJob, run: &TorchRun) -> anyhow::Result<()> {
    let python = interpreter()?;
    let dir = std::env::temp_dir().join(format!("galore-lab-torch-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let config = dir.join(format!("{}.json", job.label.replace(['/', ' '], "_")));
    std::fs::write(
        &config,
        serde_json::to_string_pretty(&config_json(job, run)?)?,
    )
    .with_context(|| format!("cannot write {}", config.display()))?;
    let result = entry(&python, &[config.as_os_str(), "--check".as_ref()]).map(|_| ());
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// What a torch run produced: its summary, its steps and the engine record.
pub struct Trained {
    pub summary: TrainSummary,
    pub steps: Vec<StepRow>,
    /// "torch (python …; torch …, transformers …, …)".
    pub engine: String,
}

/// Trains `job` with the torch engine into `dir` (see the module doc).
pub fn train(job: &TrainJob, run: &TorchRun, dir: &Path) -> anyhow::Result<Trained> {
    let python = interpreter()?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let config = dir.join("torch-config.json");
    std::fs::write(
        &config,
        serde_json::to_string_pretty(&config_json(job, run)?)?,
    )
    .with_context(|| format!("cannot write {}", config.display()))?;
    entry(&python, &[config.as_os_str(), "--check".as_ref()])?;
    entry(
        &python,
        &[config.as_os_str(), "--out".as_ref(), dir.as_os_str()],
    )?;
    let csv_path = dir.join("training.csv");
    let steps = csv::Reader::from_path(&csv_path)
        .and_then(|mut r| r.deserialize().collect::<Result<Vec<StepRow>, _>>())
        .with_context(|| format!("cannot read the torch run's {}", csv_path.display()))?;
    let json_path = dir.join("train.json");
    let text = std::fs::read_to_string(&json_path)
        .with_context(|| format!("cannot read the torch run's {}", json_path.display()))?;
    let mut v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", json_path.display()))?;
    let engine = engine_record(&python, v.get("engine"));
    if let Some(o) = v.as_object_mut() {
        o.insert("config".into(), serde_json::to_value(&job.config)?);
    }
    let summary: TrainSummary = serde_json::from_value(v)
        .with_context(|| format!("{} is not a training summary", json_path.display()))?;
    Ok(Trained {
        summary,
        steps,
        engine,
    })
}

/// "torch (python PATH; torch X, transformers Y, …; device D)" from the
/// entry point's `engine` record.
fn engine_record(python: &Path, record: Option<&serde_json::Value>) -> String {
    let mut parts = Vec::new();
    if let Some(serde_json::Value::Object(o)) = record {
        for (k, v) in o {
            if k != "python"
                && let Some(s) = v.as_str()
            {
                parts.push(format!("{k} {s}"));
            }
        }
    }
    format!("torch (python {}; {})", python.display(), parts.join(", "))
}
