//! A training run as the lab runs it: a [`TrainConfig`] (one TOML table,
//! the same one a suite's `[[train]]` entry holds), and a [`Session`] that
//! trains, evaluates, checkpoints, records gradients and accounts for every
//! byte, writing as it goes:
//!
//! ```text
//! <out>/training.csv          one row per step (flushed per step)
//! <out>/memory.json           exact bytes + peak RSS + the GaLore paper's estimate
//! <out>/train.json            the config, the machine-independent summary
//! <out>/grads/step-<N>.safetensors     recorded gradients (HF names)
//! <out>/checkpoints/step-<N>/{model.safetensors, config.json,
//!                             optimizer.safetensors, trainer.json}
//! ```
//!
//! Resuming from a checkpoint reproduces the uninterrupted run bit for bit
//! at the same thread count: batches are functions of (seed, step), the
//! refresh seeds of (seed, parameter, step), and the checkpoint holds the
//! weights, every moment, the projectors and the step.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use subspace::{Device, Registry};
use thiserror::Error;

use crate::model::llama::{Activations, Checkpointing, backward, forward};
use crate::optim::{AdamW, AdamWParams, GaloreAdamW, GaloreParams, RefreshError};
use crate::params::{load_f32, save_f32, save_tensors};
use crate::train::{Batches, Optimizer, cosine_lr};
use crate::{LlamaConfig, ParamStore, StoreError};

/// Which optimizer a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Full-rank AdamW on every parameter.
    Adamw,
    /// GaLore-AdamW: the attention and MLP matrices projected by a plugin.
    Galore,
}

/// Everything a training run needs. Every field has the GaLore 60M recipe's
/// default (rank 128, α 0.25, T 200, lr 0.01, β (0.9, 0.999), ε 1e-6, no
/// weight decay, cosine to 10% with 10% warm-up) or a laptop-sized one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The run's label in reports (default: derived from the optimizer, the
    /// plugin and T, see [`TrainConfig::label`]).
    pub name: Option<String>,
    /// Model preset: "llama-60m", "small" or "tiny".
    pub preset: String,
    pub optimizer: OptimizerKind,
    /// GaLore's subspace plugin (see `lab list`).
    pub plugin: String,
    /// The plugin's params, e.g. `{ power_iters = 0, oversample = 10 }`.
    pub plugin_params: toml::Table,
    /// GaLore rank r.
    pub rank: usize,
    /// GaLore α.
    pub scale: f32,
    /// GaLore T: steps between subspace refreshes (1 = every step).
    pub update_proj_gap: u64,
    /// Zero GaLore's moments at each refresh (the reference keeps them).
    pub reset_moments: bool,
    /// Peak learning rate.
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    /// Warm-up steps as a fraction of `steps`.
    pub warmup_ratio: f64,
    /// The cosine schedule's floor as a fraction of `lr`.
    pub min_lr_ratio: f32,
    pub steps: usize,
    /// Sequences per batch (B).
    pub batch_size: usize,
    /// Tokens per sequence (T).
    pub seq_len: usize,
    /// Seeds the initial weights, the batches and every refresh.
    pub seed: u64,
    /// Rayon threads for the whole run (0 = all cores).
    pub threads: usize,
    /// Held-out loss every this many steps (0 = only after the last step).
    pub eval_every: usize,
    /// Held-out batches per evaluation.
    pub eval_batches: usize,
    /// Write a checkpoint every this many steps (0 = none; see
    /// `checkpoint_at_end`).
    pub checkpoint_every: usize,
    /// Write a checkpoint after the last step.
    pub checkpoint_at_end: bool,
    /// The corpus (text, JSON lines, gzipped or not, or u16 tokens);
    /// default: the shipped corpus (data/README.md).
    pub corpus: Option<PathBuf>,
    /// A Hugging Face `tokenizer.json`; default: bytes.
    pub tokenizer: Option<PathBuf>,
    /// Recompute each layer's activations in backward.
    pub activation_checkpointing: bool,
    /// 0-based steps whose gradients are recorded.
    pub record_steps: Vec<usize>,
    /// Globs on Hugging Face names of the recorded gradients (default: every
    /// matrix GaLore projects).
    pub record_tensors: Vec<String>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            name: None,
            preset: "tiny".into(),
            optimizer: OptimizerKind::Galore,
            plugin: "svd".into(),
            plugin_params: toml::Table::new(),
            rank: 128,
            scale: 0.25,
            update_proj_gap: 200,
            reset_moments: false,
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.0,
            warmup_ratio: 0.1,
            min_lr_ratio: 0.1,
            steps: 100,
            batch_size: 4,
            seq_len: 256,
            seed: 0,
            threads: 0,
            eval_every: 0,
            eval_batches: 4,
            checkpoint_every: 0,
            checkpoint_at_end: false,
            corpus: None,
            tokenizer: None,
            activation_checkpointing: false,
            record_steps: Vec::new(),
            record_tensors: Vec::new(),
        }
    }
}

impl TrainConfig {
    /// The label: `name`, or e.g. "adamw", "galore-svd-T200",
    /// "galore-rrf[power_iters=0]-T1".
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match self.optimizer {
            OptimizerKind::Adamw => "adamw".into(),
            OptimizerKind::Galore => {
                let params: Vec<String> = self
                    .plugin_params
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let params = if params.is_empty() {
                    String::new()
                } else {
                    format!("[{}]", params.join(","))
                };
                format!("galore-{}{params}-T{}", self.plugin, self.update_proj_gap)
            }
        }
    }

    /// The model config of `preset`.
    pub fn model(&self) -> Result<LlamaConfig, TrainError> {
        LlamaConfig::preset(&self.preset).ok_or_else(|| TrainError::Config {
            field: "preset".into(),
            reason: format!(
                "unknown preset {:?}; use one of {}",
                self.preset,
                LlamaConfig::PRESETS.join(", ")
            ),
        })
    }

    /// Checks every field that can be checked without data.
    pub fn validate(&self, registry: &Registry) -> Result<(), TrainError> {
        let bad = |field: &str, reason: String| {
            Err(TrainError::Config {
                field: field.into(),
                reason,
            })
        };
        let model = self.model()?;
        if self.steps == 0 {
            return bad("steps", "train at least one step".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "use at least 1".into());
        }
        if self.seq_len == 0 || self.seq_len > model.max_position_embeddings {
            return bad(
                "seq_len",
                format!(
                    "{} is outside 1..={} (the preset's max_position_embeddings)",
                    self.seq_len, model.max_position_embeddings
                ),
            );
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad("lr", format!("{} is not a learning rate", self.lr));
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return bad("warmup_ratio", "use a fraction in [0, 1]".into());
        }
        if self.eval_batches == 0 {
            return bad("eval_batches", "use at least 1".into());
        }
        if self.optimizer == OptimizerKind::Galore {
            if self.rank == 0 {
                return bad("rank", "use a rank of at least 1".into());
            }
            if self.update_proj_gap == 0 {
                return bad("update_proj_gap", "use T ≥ 1 (1 = every step)".into());
            }
            registry
                .build(&self.plugin, &self.plugin_params)
                .map_err(|e| TrainError::Config {
                    field: "plugin".into(),
                    reason: e.to_string(),
                })?;
        }
        for pattern in &self.record_tensors {
            glob::Pattern::new(pattern).map_err(|e| TrainError::Config {
                field: "record_tensors".into(),
                reason: format!("{pattern:?} is not a glob: {e}"),
            })?;
        }
        if let Some(&s) = self.record_steps.iter().find(|&&s| s >= self.steps) {
            return bad(
                "record_steps",
                format!(
                    "step {s} is not below steps = {} (steps are 0-based)",
                    self.steps
                ),
            );
        }
        Ok(())
    }

    fn adamw(&self) -> AdamWParams {
        AdamWParams {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }

    fn warmup(&self) -> usize {
        (self.steps as f64 * self.warmup_ratio) as usize
    }
}

/// Why a run failed.
#[derive(Debug, Error)]
pub enum TrainError {
    #[error("training config, field `{field}`: {reason}")]
    Config { field: String, reason: String },
    #[error("{path}: {reason}")]
    Data { path: String, reason: String },
    #[error(
        "step {step}: {what} is not finite ({value}); the run stopped before the update, the last \
         good checkpoint (if any) is kept; lower the learning rate or check the data"
    )]
    NonFinite {
        step: usize,
        what: String,
        value: f32,
    },
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Checkpoint { path: String, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One row of `training.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRow {
    pub run: String,
    /// 0-based.
    pub step: usize,
    pub tokens: u64,
    pub train_loss: f32,
    /// Held-out loss after this step's update, on evaluation steps.
    pub eval_loss: Option<f32>,
    pub lr: f32,
    /// ‖g‖₂ over every parameter.
    pub grad_norm: f64,
    pub seconds_forward: f64,
    pub seconds_backward: f64,
    /// GaLore's subspace refreshes (0 for AdamW and between refreshes).
    pub seconds_subspace: f64,
    /// The optimizer update without the refreshes.
    pub seconds_update: f64,
    /// Wall seconds since the run started (evaluations excluded).
    pub seconds_elapsed: f64,
    pub optimizer_state_bytes: usize,
}

/// Bytes the run holds, from its own buffers, beside the process's peak
/// RSS and the GaLore paper's mixed-precision estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryReport {
    pub parameters: usize,
    pub weights_bytes: usize,
    pub gradient_bytes: usize,
    /// AdamW: both moments; GaLore: the dense moments, the low-rank moments
    /// and the projectors.
    pub optimizer_state_bytes: usize,
    pub activation_bytes: usize,
    pub activation_checkpointing: bool,
    /// GaLore with a CPU subspace method: the working memory of a refresh as
    /// the method predicts it, for as many matrices at once as the run has
    /// threads (host bytes; 0 for AdamW and for a GPU method).
    pub subspace_workspace_bytes: usize,
    /// GaLore with a GPU subspace method: its device bytes for one refresh
    /// as it predicts them, and as it measured them after the run (its
    /// buffers, tracked at allocation); `None` otherwise.
    pub subspace_device_bytes_predicted: Option<usize>,
    pub subspace_device_bytes_measured: Option<usize>,
    /// weights + gradients + optimizer state + activations + the refresh's
    /// host working memory.
    pub accounted_bytes: usize,
    /// The process's peak resident set (VmHWM, reset at the run's start
    /// where the kernel allows), or `None` with `peak_rss_note` saying why.
    pub peak_rss_bytes: Option<u64>,
    pub peak_rss_note: String,
    /// The GaLore paper's Table 2/6 form: bf16 weights + optimizer states at
    /// 2 bytes per element.
    pub paper_bf16_weights_bytes: usize,
    pub paper_bf16_state_bytes: usize,
}

/// The GaLore paper's estimate (bf16, 2 bytes per element) of the optimizer
/// state of `opt`: AdamW 2 moments per parameter; GaLore the dense moments,
/// the low-rank moments and the projectors. Every state element is f32 in
/// this loop, so it is half the loop's own bytes.
pub fn paper_state_bytes(opt: &Optimizer) -> usize {
    opt.state_bytes() / 2
}

/// The finished run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub run: String,
    pub config: TrainConfig,
    pub steps: usize,
    pub final_train_loss: f32,
    pub final_eval_loss: Option<f32>,
    /// Median seconds per step of the timed parts (steps after the first).
    pub median_step_seconds: f64,
    pub median_seconds_forward: f64,
    pub median_seconds_backward: f64,
    pub median_seconds_subspace: f64,
    pub median_seconds_update: f64,
    pub tokens_per_second: f64,
    pub subspace_calls: u64,
    pub memory: MemoryReport,
    /// The recorded gradient files.
    pub recorded: Vec<PathBuf>,
}

/// What a checkpoint's `trainer.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainerState {
    /// Steps done: the next step is this one.
    next_step: usize,
    config: TrainConfig,
    tokens: u64,
    seconds_elapsed: f64,
}

/// A run in progress.
pub struct Session {
    pub config: TrainConfig,
    model: LlamaConfig,
    label: String,
    params: ParamStore,
    grads: ParamStore,
    acts: Activations,
    opt: Optimizer,
    data: Batches,
    next_step: usize,
    tokens: u64,
    seconds_elapsed: f64,
    out: PathBuf,
    csv: csv::Writer<File>,
    /// The gradient files this session recorded.
    recorded: Vec<PathBuf>,
}

impl Session {
    /// Validates `config`, loads the corpus, initialises the weights and the
    /// optimizer, and opens `<out>/training.csv` (a new file).
    pub fn new(config: TrainConfig, registry: &Registry, out: &Path) -> Result<Self, TrainError> {
        config.validate(registry)?;
        let model = config.model()?;
        let params = ParamStore::init(&model, config.seed);
        let opt = build_optimizer(&config, registry, &params)?;
        Self::assemble(config, model, params, opt, out, 0, 0, 0.0, false)
    }

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
        let layout = crate::Layout::new(&model);
        let params = ParamStore::load(&checkpoint.join("model.safetensors"), &layout)?;
        let mut opt = build_optimizer(&config, registry, &params)?;
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
        match &mut opt {
            Optimizer::AdamW(o) => o.load_state(t, &tensors),
            Optimizer::Galore(o) => o.load_state(t, &tensors),
        }
        .map_err(bad)?;
        Self::assemble(
            config,
            model,
            params,
            opt,
            out,
            state.next_step,
            state.tokens,
            state.seconds_elapsed,
            true,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        config: TrainConfig,
        model: LlamaConfig,
        params: ParamStore,
        opt: Optimizer,
        out: &Path,
        next_step: usize,
        tokens: u64,
        seconds_elapsed: f64,
        append: bool,
    ) -> Result<Self, TrainError> {
        let tokens_stream = load_tokens(&config, &model)?;
        let data = Batches::new(tokens_stream, config.seed);
        for (split, len) in [
            ("training", data.train_tokens().len()),
            ("held-out", data.held_out_tokens().len()),
        ] {
            if len <= config.seq_len {
                return Err(TrainError::Data {
                    path: corpus_name(&config),
                    reason: format!(
                        "the {split} split has {len} tokens, too few for seq_len = {}; use a \
                         bigger corpus or a shorter seq_len",
                        config.seq_len
                    ),
                });
            }
        }
        std::fs::create_dir_all(out).map_err(io(out))?;
        let csv_path = out.join("training.csv");
        let existing = append && csv_path.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(existing)
            .write(true)
            .truncate(!existing)
            .open(&csv_path)
            .map_err(io(&csv_path))?;
        let csv = csv::WriterBuilder::new()
            .has_headers(!existing)
            .from_writer(file);
        let mode = if config.activation_checkpointing {
            Checkpointing::Layers
        } else {
            Checkpointing::Off
        };
        let acts = Activations::with_checkpointing(&model, config.batch_size, config.seq_len, mode);
        let grads = ParamStore::zeros(params.layout());
        Ok(Self {
            label: config.label(),
            config,
            model,
            params,
            grads,
            acts,
            opt,
            data,
            next_step,
            tokens,
            seconds_elapsed,
            out: out.to_path_buf(),
            csv,
            recorded: Vec::new(),
        })
    }

    /// The run's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The next step to run (0-based).
    pub fn next_step(&self) -> usize {
        self.next_step
    }

    /// The weights.
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// The model config.
    pub fn model(&self) -> &LlamaConfig {
        &self.model
    }

    /// Bytes of the run's own buffers.
    pub fn memory(&self, peak_rss: (Option<u64>, String), threads: usize) -> MemoryReport {
        let weights_bytes = self.params.bytes();
        let gradient_bytes = self.grads.bytes();
        let optimizer_state_bytes = self.opt.state_bytes();
        let activation_bytes = self.acts.bytes();
        let (mut subspace_workspace_bytes, mut device_predicted, mut device_measured) =
            (0, None, None);
        if let Optimizer::Galore(o) = &self.opt {
            let bytes = o.refresh_workspace_bytes(threads);
            match o.method().device() {
                Device::Cpu => subspace_workspace_bytes = bytes,
                Device::Cuda(_) => {
                    device_predicted = Some(bytes);
                    device_measured = o.method().device_bytes();
                }
            }
        }
        MemoryReport {
            parameters: self.params.layout().total(),
            weights_bytes,
            gradient_bytes,
            optimizer_state_bytes,
            activation_bytes,
            activation_checkpointing: self.config.activation_checkpointing,
            subspace_workspace_bytes,
            subspace_device_bytes_predicted: device_predicted,
            subspace_device_bytes_measured: device_measured,
            accounted_bytes: weights_bytes
                + gradient_bytes
                + optimizer_state_bytes
                + activation_bytes
                + subspace_workspace_bytes,
            peak_rss_bytes: peak_rss.0,
            peak_rss_note: peak_rss.1,
            paper_bf16_weights_bytes: self.params.layout().total() * 2,
            paper_bf16_state_bytes: paper_state_bytes(&self.opt),
        }
    }

    /// Runs one step: forward, backward, the finiteness checks, gradient
    /// recording, the update, the evaluation and checkpoint when due; writes
    /// and returns its row.
    pub fn step(&mut self) -> Result<StepRow, TrainError> {
        let c = &self.config;
        let step = self.next_step;
        let (b, t) = (c.batch_size, c.seq_len);
        let (tokens, targets) = self.data.train_batch(step as u64, b, t);
        let lr = cosine_lr(step, c.steps, c.warmup(), c.lr, c.min_lr_ratio);

        let start = Instant::now();
        let loss = forward(
            &self.params,
            &self.model,
            &tokens,
            &targets,
            b,
            t,
            &mut self.acts,
        );
        let seconds_forward = start.elapsed().as_secs_f64();
        if !loss.is_finite() {
            return Err(TrainError::NonFinite {
                step,
                what: "the training loss".into(),
                value: loss,
            });
        }
        let start = Instant::now();
        self.grads.as_mut_slice().fill(0.0);
        backward(
            &mut self.grads,
            &self.params,
            &self.model,
            &tokens,
            &targets,
            b,
            t,
            &mut self.acts,
        );
        let seconds_backward = start.elapsed().as_secs_f64();
        let grad_norm = check_finite(&self.grads, step)?;
        if c.record_steps.contains(&step) {
            let path = self.record(step)?;
            self.recorded.push(path);
        }

        let start = Instant::now();
        self.opt.step(&mut self.params, &self.grads, lr)?;
        let seconds_optimizer = start.elapsed().as_secs_f64();
        let seconds_subspace = self.opt.last_subspace_seconds();
        self.seconds_elapsed += seconds_forward + seconds_backward + seconds_optimizer;
        self.tokens += (b * t) as u64;
        self.next_step = step + 1;

        let last = self.next_step == self.config.steps;
        let eval_due = last
            || (self.config.eval_every > 0
                && self.next_step.is_multiple_of(self.config.eval_every));
        let eval_loss = eval_due.then(|| self.eval());
        let row = StepRow {
            run: self.label.clone(),
            step,
            tokens: self.tokens,
            train_loss: loss,
            eval_loss,
            lr,
            grad_norm,
            seconds_forward,
            seconds_backward,
            seconds_subspace,
            seconds_update: (seconds_optimizer - seconds_subspace).max(0.0),
            seconds_elapsed: self.seconds_elapsed,
            optimizer_state_bytes: self.opt.state_bytes(),
        };
        let csv_path = self.out.join("training.csv");
        self.csv.serialize(&row).map_err(|e| TrainError::Io {
            path: csv_path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        self.csv.flush().map_err(io(&csv_path))?;
        let every = self.config.checkpoint_every;
        if (every > 0 && self.next_step.is_multiple_of(every))
            || (last && self.config.checkpoint_at_end)
        {
            self.checkpoint()?;
        }
        Ok(row)
    }

    /// Mean held-out loss over `eval_batches` batches.
    pub fn eval(&mut self) -> f32 {
        let (b, t) = (self.config.batch_size, self.config.seq_len);
        let total: f64 = (0..self.config.eval_batches)
            .map(|i| {
                let (tokens, targets) = self.data.eval_batch(i, b, t);
                f64::from(forward(
                    &self.params,
                    &self.model,
                    &tokens,
                    &targets,
                    b,
                    t,
                    &mut self.acts,
                ))
            })
            .sum();
        (total / self.config.eval_batches as f64) as f32
    }

    /// Writes the gradients of `record_tensors` (default: every GaLore matrix)
    /// to `<out>/grads/step-<step>.safetensors`.
    fn record(&self, step: usize) -> Result<PathBuf, TrainError> {
        let dir = self.out.join("grads");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("step-{step}.safetensors"));
        let patterns: Vec<glob::Pattern> = self
            .config
            .record_tensors
            .iter()
            .map(|p| glob::Pattern::new(p).expect("validated"))
            .collect();
        let tensors: Vec<(&str, &[usize], &[f32])> = self
            .grads
            .layout()
            .specs()
            .iter()
            .filter(|s| {
                if patterns.is_empty() {
                    s.kind.galore()
                } else {
                    patterns.iter().any(|p| p.matches(&s.name))
                }
            })
            .map(|s| {
                (
                    s.name.as_str(),
                    s.shape.as_slice(),
                    self.grads.slice(&s.name).expect("a layout name"),
                )
            })
            .collect();
        let meta = [
            ("run", self.label.clone()),
            ("step", step.to_string()),
            ("preset", self.config.preset.clone()),
            ("seed", self.config.seed.to_string()),
        ];
        save_f32(&path, tensors, &meta)?;
        Ok(path)
    }

    /// Writes `<out>/checkpoints/step-<next_step>/`: into a temporary
    /// directory first, renamed when complete, so a failure never leaves a
    /// half-written checkpoint.
    pub fn checkpoint(&self) -> Result<PathBuf, TrainError> {
        let root = self.out.join("checkpoints");
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
        match &self.opt {
            Optimizer::AdamW(o) => {
                let specs = o.exp_avg().layout().specs();
                let names: Vec<(String, String)> = specs
                    .iter()
                    .map(|s| {
                        (
                            format!("{}.exp_avg", s.name),
                            format!("{}.exp_avg_sq", s.name),
                        )
                    })
                    .collect();
                let tensors = specs.iter().zip(&names).flat_map(|(s, (m, v))| {
                    [
                        (
                            m.as_str(),
                            s.shape.as_slice(),
                            o.exp_avg().slice(&s.name).expect("name"),
                        ),
                        (
                            v.as_str(),
                            s.shape.as_slice(),
                            o.exp_avg_sq().slice(&s.name).expect("name"),
                        ),
                    ]
                });
                save_f32(&opt_path, tensors, &[("step", o.steps().to_string())])?;
            }
            Optimizer::Galore(o) => {
                let (t, tensors) = o.state_tensors();
                save_tensors(&opt_path, tensors, &[("step", t.to_string())])?;
            }
        }
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

    /// Runs the remaining steps inside a pool of `config.threads` threads,
    /// calling `on_step` after each, and writes `memory.json` and
    /// `train.json`.
    pub fn run(
        mut self,
        mut on_step: impl FnMut(&StepRow) + Send,
    ) -> Result<TrainSummary, TrainError> {
        let threads = self.config.threads;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| TrainError::Config {
                field: "threads".into(),
                reason: e.to_string(),
            })?;
        reset_peak_rss();
        let mut rows = Vec::with_capacity(self.config.steps);
        pool.install(|| -> Result<(), TrainError> {
            while self.next_step < self.config.steps {
                let row = self.step()?;
                on_step(&row);
                rows.push(row);
            }
            Ok(())
        })?;
        let memory = self.memory(peak_rss(), pool.current_num_threads());
        let summary = summarize(&self, rows, memory);
        for (name, value) in [
            ("memory.json", serde_json::to_string_pretty(&summary.memory)),
            ("train.json", serde_json::to_string_pretty(&summary)),
        ] {
            let path = self.out.join(name);
            std::fs::write(&path, value.expect("json")).map_err(io(&path))?;
        }
        Ok(summary)
    }
}

fn summarize(s: &Session, rows: Vec<StepRow>, memory: MemoryReport) -> TrainSummary {
    // The first step of a run pays for first touches: leave it out of the medians.
    let timed: Vec<&StepRow> = rows.iter().skip(usize::from(rows.len() > 1)).collect();
    let median = |f: &dyn Fn(&StepRow) -> f64| -> f64 {
        let mut v: Vec<f64> = timed.iter().map(|r| f(r)).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() { 0.0 } else { v[v.len() / 2] }
    };
    let step_total = |r: &StepRow| {
        r.seconds_forward + r.seconds_backward + r.seconds_subspace + r.seconds_update
    };
    let median_step_seconds = median(&step_total);
    let last = rows.last();
    let final_eval_loss = rows.iter().rev().find_map(|r| r.eval_loss);
    TrainSummary {
        run: s.label.clone(),
        config: s.config.clone(),
        steps: s.next_step,
        final_train_loss: last.map_or(f32::NAN, |r| r.train_loss),
        final_eval_loss,
        median_step_seconds,
        median_seconds_forward: median(&|r| r.seconds_forward),
        median_seconds_backward: median(&|r| r.seconds_backward),
        median_seconds_subspace: median(&|r| r.seconds_subspace),
        median_seconds_update: median(&|r| r.seconds_update),
        tokens_per_second: if median_step_seconds > 0.0 {
            (s.config.batch_size * s.config.seq_len) as f64 / median_step_seconds
        } else {
            0.0
        },
        subspace_calls: match &s.opt {
            Optimizer::AdamW(_) => 0,
            Optimizer::Galore(o) => o.subspace_timing().calls,
        },
        memory,
        recorded: s.recorded.clone(),
    }
}

fn build_optimizer(
    config: &TrainConfig,
    registry: &Registry,
    params: &ParamStore,
) -> Result<Optimizer, TrainError> {
    Ok(match config.optimizer {
        OptimizerKind::Adamw => Optimizer::AdamW(AdamW::new(params.layout(), config.adamw())),
        OptimizerKind::Galore => {
            let method = registry
                .build(&config.plugin, &config.plugin_params)
                .map_err(|e| TrainError::Config {
                    field: "plugin".into(),
                    reason: e.to_string(),
                })?;
            if let Err(reason) = method.availability() {
                return Err(TrainError::Config {
                    field: "plugin".into(),
                    reason: format!("{} is unavailable here: {reason}", config.plugin),
                });
            }
            let hp = GaloreParams {
                rank: config.rank,
                scale: config.scale,
                update_proj_gap: config.update_proj_gap,
                reset_moments: config.reset_moments,
                adamw: config.adamw(),
            };
            Optimizer::Galore(GaloreAdamW::new(params.layout(), hp, method, config.seed))
        }
    })
}

/// ‖g‖₂ (f64, in a fixed order), or the first non-finite tensor by name.
fn check_finite(grads: &ParamStore, step: usize) -> Result<f64, TrainError> {
    let mut sum = 0.0f64;
    for s in grads.layout().specs() {
        let g = grads.slice(&s.name).expect("a layout name");
        if let Some(&bad) = g.iter().find(|x| !x.is_finite()) {
            return Err(TrainError::NonFinite {
                step,
                what: format!("the gradient of {}", s.name),
                value: bad,
            });
        }
        sum += g.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>();
    }
    Ok(sum.sqrt())
}

fn corpus_name(config: &TrainConfig) -> String {
    match &config.corpus {
        Some(p) => p.display().to_string(),
        None => crate::data::default_corpus_path().display().to_string(),
    }
}

/// The run's token stream.
fn load_tokens(config: &TrainConfig, model: &LlamaConfig) -> Result<Vec<u32>, TrainError> {
    use crate::data::{Corpus, Tokenizer};
    let data_error = |e: crate::data::DataError| TrainError::Data {
        path: corpus_name(config),
        reason: e.to_string(),
    };
    let tokenizer = match &config.tokenizer {
        Some(path) => Tokenizer::from_file(path).map_err(data_error)?,
        None => Tokenizer::Bytes,
    };
    let corpus = match &config.corpus {
        Some(path) => Corpus::new(path),
        None => Corpus::python_docs(),
    };
    corpus
        .load(&tokenizer, model.vocab_size)
        .map_err(data_error)
}

/// Resets the kernel's peak-RSS mark (`/proc/self/clear_refs` ← 5), so that
/// VmHWM measures this run; silently nothing where the kernel refuses.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// VmHWM from `/proc/self/status`, or why not.
pub fn peak_rss() -> (Option<u64>, String) {
    match std::fs::read_to_string("/proc/self/status") {
        Ok(text) => match text
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            Some(kb) => (Some(kb * 1024), "VmHWM of /proc/self/status".into()),
            None => (None, "unavailable: /proc/self/status has no VmHWM".into()),
        },
        Err(e) => (None, format!("unavailable: /proc/self/status: {e}")),
    }
}
