//! The training config: one TOML table (a suite's `[train]` table merged
//! with its `[[stage]]` and `[[run]]` keys, or `lab train`'s file and
//! flags), every field with its default, and its validation before anything
//! runs, naming the field and the fix.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use subspace::Registry;

use super::errors::TrainError;
use crate::LlamaConfig;
use crate::optim::AdamWParams;
pub use crate::optim::OptimizerKind;

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
        match &self.name {
            Some(name) => name.clone(),
            None => self.optimizer.label(self),
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

    /// The AdamW hyper-parameters (GaLore's dense part uses the same).
    pub(crate) fn adamw(&self) -> AdamWParams {
        AdamWParams {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }

    /// Warm-up steps: `steps · warmup_ratio`, rounded down.
    pub(crate) fn warmup(&self) -> usize {
        (self.steps as f64 * self.warmup_ratio) as usize
    }
}
