//! Checkpoints and resuming. A checkpoint is a directory
//! `<out>/checkpoints/step-<N>/` (N = steps done) holding the weights
//! (`model.safetensors`, HF names, with the HF `config.json`), the
//! optimizer's state in its own format (`optimizer.safetensors`, with the
//! optimizer's step count as metadata `step`) and `trainer.json` (the next
//! step, the config, tokens and seconds so far).
//!
//! Contract: resuming reproduces the uninterrupted run bit for bit at the
//! same thread count: batches are functions of (seed, step), the refresh
//! seeds of (seed, parameter, step), and the checkpoint holds the weights,
//! every moment, the projectors and the step. A checkpoint is written into a
//! temporary directory `.step-<N>.partial/` and renamed when complete; a
//! session writing into an out dir removes the partial dirs it finds there
//! when it starts, and after each complete checkpoint the step dirs beyond
//! the newest `keep_checkpoints` (the final one always kept).
//!
//! Runs never clobber: a fresh session refuses an out dir that already
//! holds a run ([`refuse_existing_run`]); a resumed one cuts the out dir's
//! `training.csv` back to the checkpoint's step before appending, so it
//! reads as the uninterrupted run's. A resumed checkpoint is validated
//! against its config (the next step, the optimizer's step count, shapes,
//! complete files, finite weights and optimizer state) before a step runs;
//! [`checkpoint_config`] gives its config first, so that a caller can check
//! it against the machine before anything is allocated.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use subspace::Registry;

use super::config::TrainConfig;
use super::errors::{TrainError, io};
use super::run::{Progress, Session};
use crate::params::{load_f32, save_tensors};
use crate::{Layout, ParamStore, StoreError};

/// What a checkpoint's `trainer.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    /// Steps done: the next step is this one.
    next_step: usize,
    config: TrainConfig,
    tokens: u64,
    seconds_elapsed: f64,
}

impl Session {
    /// Resumes from `checkpoint` (a `checkpoints/step-N` directory), writing
    /// to `out` (appending to its `training.csv` when there is one).
    pub fn resume(checkpoint: &Path, registry: &Registry, out: &Path) -> Result<Self, TrainError> {
        let state_path = checkpoint.join("trainer.json");
        let state = read_state(checkpoint)?;
        let config = state.config;
        config.validate(registry)?;
        if state.next_step > config.steps {
            return Err(TrainError::Checkpoint {
                path: state_path.display().to_string(),
                reason: format!(
                    "the next step is {}, past the run's {} steps; the checkpoint is corrupt: \
                     resume from another checkpoints/step-N directory",
                    state.next_step, config.steps
                ),
            });
        }
        let model = config.model()?;
        let layout = Layout::new(&model);
        let model_path = checkpoint.join("model.safetensors");
        check_complete(&model_path)?;
        let params =
            ParamStore::load(&model_path, &layout).map_err(|e| corrupt_file(&model_path, e))?;
        check_finite_weights(&params, &model_path)?;
        let mut opt = config.optimizer.build(&config, registry, &layout)?;
        let opt_path = checkpoint.join("optimizer.safetensors");
        check_complete(&opt_path)?;
        let (tensors, meta) = load_f32(&opt_path).map_err(|e| corrupt_file(&opt_path, e))?;
        let bad = |reason: String| TrainError::Checkpoint {
            path: opt_path.display().to_string(),
            reason,
        };
        if let Some((name, index, value)) = tensors.iter().find_map(|t| {
            let (i, v) = t.data.iter().enumerate().find(|(_, v)| !v.is_finite())?;
            Some((&t.name, i, *v))
        }) {
            return Err(bad(format!(
                "the optimizer state's tensor `{name}` holds {value} at index {index}: the \
                 checkpoint is corrupt, and resuming would make every weight it updates \
                 non-finite; resume from another checkpoints/step-N directory"
            )));
        }
        let t: u64 = meta
            .get("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("metadata has no `step`".into()))?;
        if t != state.next_step as u64 {
            return Err(bad(format!(
                "the optimizer has taken {t} steps but trainer.json's next step is {}; the \
                 checkpoint is corrupt: resume from another checkpoints/step-N directory",
                state.next_step
            )));
        }
        opt.load_state(t, &tensors)
            .map_err(|e| bad(format!("{e}; {CORRUPT}")))?;
        Self::assemble(
            config,
            model,
            params,
            opt,
            Some(out),
            Some(Progress {
                next_step: state.next_step,
                tokens: state.tokens,
                seconds_elapsed: state.seconds_elapsed,
            }),
        )
    }

    /// Writes `<out>/checkpoints/step-<next_step>/`: into a temporary
    /// directory first, renamed when complete, so a failure never leaves a
    /// half-written checkpoint.
    /// Fails in an in-memory session.
    pub fn checkpoint(&self) -> Result<PathBuf, TrainError> {
        let root = self.out_dir("checkpoints")?.join("checkpoints");
        let dir = root.join(format!("step-{}", self.next_step));
        let tmp = root.join(format!(".step-{}.partial", self.next_step));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        self.params.save(&tmp.join("model.safetensors"))?;
        let config_path = tmp.join("config.json");
        let hf = serde_json::to_string_pretty(&self.model.to_hf_json()).expect("json");
        std::fs::write(&config_path, hf).map_err(io(&config_path))?;
        let opt_path = tmp.join("optimizer.safetensors");
        let step = [("step", self.opt.steps().to_string())];
        save_tensors(&opt_path, self.opt.state_tensors(), &step)?;
        let state = TrainerState {
            next_step: self.next_step,
            config: self.config.clone(),
            tokens: self.tokens,
            seconds_elapsed: self.seconds_elapsed,
        };
        let state_path = tmp.join("trainer.json");
        std::fs::write(
            &state_path,
            serde_json::to_string_pretty(&state).expect("json"),
        )
        .map_err(io(&state_path))?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
        rotate(
            &root,
            self.next_step,
            self.config.keep_checkpoints,
            self.config.steps,
        )?;
        Ok(dir)
    }
}

/// The config the checkpoint directory `checkpoint` resumes, as its
/// `trainer.json` holds it (not yet validated against a registry): what a
/// caller checks against the machine (memory budget, cores) before
/// [`Session::resume`] allocates anything.
pub fn checkpoint_config(checkpoint: &Path) -> Result<TrainConfig, TrainError> {
    Ok(read_state(checkpoint)?.config)
}

/// Reads `<checkpoint>/trainer.json`; a missing or unreadable one is named
/// with the fix, a cut one is called truncated.
fn read_state(checkpoint: &Path) -> Result<TrainerState, TrainError> {
    let state_path = checkpoint.join("trainer.json");
    let bad = |reason: String| TrainError::Checkpoint {
        path: state_path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(&state_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            bad(format!(
                "not found ({e}); {} is not a checkpoint: point --resume at a \
                 <run>/checkpoints/step-N directory",
                checkpoint.display()
            ))
        } else if e.kind() == std::io::ErrorKind::InvalidData {
            bad(format!("not UTF-8 text ({e}); {CORRUPT}"))
        } else {
            bad(format!("cannot be read ({e}); check its permissions"))
        }
    })?;
    serde_json::from_str(&text).map_err(|e| {
        bad(if e.is_eof() {
            format!("truncated ({e}); {WRITTEN_IN_PART}")
        } else {
            format!("not a trainer state ({e}); point --resume at a checkpoints/step-N directory")
        })
    })
}

const CORRUPT: &str = "the checkpoint is corrupt: resume from another checkpoints/step-N directory";

/// A checkpoint file the store could not read: the store's reason (its
/// path said once), then the fix. An I/O failure is left as it is.
fn corrupt_file(path: &Path, e: StoreError) -> TrainError {
    if let StoreError::Io { .. } = e {
        return e.into();
    }
    let text = e.to_string();
    let prefix = format!("{}: ", path.display());
    TrainError::Checkpoint {
        path: path.display().to_string(),
        reason: format!("{}; {CORRUPT}", text.strip_prefix(&prefix).unwrap_or(&text)),
    }
}

const WRITTEN_IN_PART: &str = "the checkpoint was written in part (a full disk or a killed \
                               copy?): resume from another checkpoints/step-N directory";

/// Refuses an out dir that already holds a run (`training.csv`,
/// `train.json` or `checkpoints/`), naming it and the fix.
pub(super) fn refuse_existing_run(out: &Path) -> Result<(), TrainError> {
    let found = ["training.csv", "train.json", "checkpoints"]
        .into_iter()
        .find(|name| out.join(name).exists());
    match found {
        Some(name) => Err(TrainError::Checkpoint {
            path: out.display().to_string(),
            reason: format!(
                "already holds a run ({name}); a new run never overwrites one: choose another \
                 --out, or continue it with --resume {}",
                out.join("checkpoints/step-N").display()
            ),
        }),
        None => Ok(()),
    }
}

/// Cuts `<out>/<name>` (training.csv, subspace.csv; when there is one) back
/// to the rows of the steps before `next_step`: the rows a killed run wrote
/// after its last checkpoint are run again.
pub(super) fn truncate_csv(out: &Path, name: &str, next_step: usize) -> Result<(), TrainError> {
    let path = out.join(name);
    if !path.exists() {
        return Ok(());
    }
    let bad = |reason: String| TrainError::Checkpoint {
        path: path.display().to_string(),
        reason: format!("{reason}; move it aside to resume into this directory"),
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&path)
        .map_err(|e| bad(e.to_string()))?;
    let header = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let column = header
        .iter()
        .position(|h| h == "step")
        .ok_or_else(|| bad("no `step` column".into()))?;
    let mut kept = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| bad(e.to_string()))?;
        if record.len() != header.len() {
            continue; // a row cut short by a kill
        }
        let step: usize = record
            .get(column)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("a row without a step: {record:?}")))?;
        if step < next_step {
            kept.push(record);
        }
    }
    let tmp = out.join(format!(".{name}.partial"));
    let mut writer = csv::Writer::from_path(&tmp).map_err(|e| bad(e.to_string()))?;
    for record in std::iter::once(&header).chain(&kept) {
        writer
            .write_record(record)
            .map_err(|e| bad(e.to_string()))?;
    }
    writer.flush().map_err(io(&tmp))?;
    drop(writer);
    std::fs::rename(&tmp, &path).map_err(io(&path))
}

/// Removes `<out>/checkpoints/.step-*.partial/`: checkpoints a killed run
/// left half-written.
pub(super) fn remove_partials(out: &Path) -> Result<(), TrainError> {
    let root = out.join("checkpoints");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry.map_err(io(&root))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(".step-") && name.ends_with(".partial") {
            std::fs::remove_dir_all(&path).map_err(io(&path))?;
        }
    }
    Ok(())
}

/// Removes the `step-N` dirs of `root` with N ≤ `newest` beyond the newest
/// `keep` of them, except step-`final_step`; `keep` = 0 keeps them all.
/// Step dirs past `newest` (a later run's, before a resume) are left to be
/// overwritten.
fn rotate(root: &Path, newest: usize, keep: usize, final_step: usize) -> Result<(), TrainError> {
    if keep == 0 {
        return Ok(());
    }
    let mut steps: Vec<usize> = std::fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("step-")?.parse().ok())
        .filter(|&n| n <= newest)
        .collect();
    steps.sort_unstable_by(|a, b| b.cmp(a));
    for n in steps.into_iter().skip(keep).filter(|&n| n != final_step) {
        let dir = root.join(format!("step-{n}"));
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    }
    Ok(())
}

/// Fails, calling the file truncated, when a safetensors file is shorter
/// than its header says (8 bytes of header length, the header, the data up
/// to the largest end offset).
fn check_complete(path: &Path) -> Result<(), TrainError> {
    use std::io::Read as _;
    let truncated = |detail: String| TrainError::Checkpoint {
        path: path.display().to_string(),
        reason: format!("truncated ({detail}); {WRITTEN_IN_PART}"),
    };
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let len = file.metadata().map_err(io(path))?.len();
    let mut n = [0u8; 8];
    if file.read_exact(&mut n).is_err() {
        return Err(truncated(format!("{len} bytes, no header")));
    }
    let n = u64::from_le_bytes(n);
    // The `safetensors` crate's own limit on a header.
    const MAX_HEADER: u64 = 100_000_000;
    if n > MAX_HEADER {
        return Err(TrainError::Checkpoint {
            path: path.display().to_string(),
            reason: format!(
                "not a safetensors file: its first 8 bytes give a header length of {n} bytes (at \
                 most {MAX_HEADER} is plausible); the checkpoint is corrupt: resume from another \
                 checkpoints/step-N directory"
            ),
        });
    }
    if len < 8 + n {
        return Err(truncated(format!(
            "{len} bytes, the header alone needs {}",
            8 + n
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(io(path))?;
    // A header that does not parse is left to the reader's own message.
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&header) else {
        return Ok(());
    };
    let end = map
        .values()
        .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    match (8 + n).checked_add(end) {
        Some(need) if len >= need => {}
        need => {
            return Err(truncated(format!(
                "{len} bytes, the header says {}",
                need.map_or("more than 2^64".to_owned(), |b| b.to_string())
            )));
        }
    }
    Ok(())
}

/// Fails naming the first tensor holding a NaN or an infinity: a corrupt
/// checkpoint, not a divergence (a run never checkpoints non-finite weights).
fn check_finite_weights(params: &ParamStore, path: &Path) -> Result<(), TrainError> {
    for s in params.layout().specs() {
        let w = params.slice(&s.name).expect("a layout name");
        if let Some(&bad) = w.iter().find(|x| !x.is_finite()) {
            return Err(TrainError::Checkpoint {
                path: path.display().to_string(),
                reason: format!(
                    "tensor `{}` holds {bad}: the checkpoint is corrupt (a run never saves \
                     non-finite weights); resume from another checkpoints/step-N directory",
                    s.name
                ),
            });
        }
    }
    Ok(())
}
