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
//! temporary directory and renamed when complete.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use subspace::Registry;

use super::config::TrainConfig;
use super::errors::{TrainError, io};
use super::run::{Progress, Session};
use crate::params::{load_f32, save_tensors};
use crate::{Layout, ParamStore};

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
        let text = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
        let state: TrainerState =
            serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint {
                path: state_path.display().to_string(),
                reason: format!(
                    "not a trainer state ({e}); point --resume at a checkpoints/step-N directory"
                ),
            })?;
        let config = state.config;
        config.validate(registry)?;
        let model = config.model()?;
        let layout = Layout::new(&model);
        let params = ParamStore::load(&checkpoint.join("model.safetensors"), &layout)?;
        let mut opt = config.optimizer.build(&config, registry, &layout)?;
        let opt_path = checkpoint.join("optimizer.safetensors");
        let (tensors, meta) = load_f32(&opt_path)?;
        let bad = |reason: String| TrainError::Checkpoint {
            path: opt_path.display().to_string(),
            reason,
        };
        let t: u64 = meta
            .get("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("metadata has no `step`".into()))?;
        opt.load_state(t, &tensors).map_err(bad)?;
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
        Ok(dir)
    }
}
