//! The training config: one TOML table (a suite's `[train]` table merged
//! with its `[[stage]]` and `[[run]]` keys, or `lab train`'s file, `--set`
//! keys and flags), every field with its default, and its validation before
//! anything runs, naming the field and the fix.
//!
//! Defaults follow the preset: a table without `seq_len` gets the preset's
//! [`default_seq_len`], so every preset's defaults are valid as typed. A key
//! that only one optimizer reads (a GaLore key with AdamW) is an error when
//! a run sets it itself ([`TrainConfig::check_applies`]); a shared table's
//! defaults (a suite's `[train]`) may hold them for the runs that use them.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subspace::Registry;

use super::errors::TrainError;
pub use super::steps::RecordSteps;
use crate::LlamaConfig;
pub use crate::optim::OptimizerKind;
use crate::optim::{AdamWParams, MomentPolicy, RefreshKind};

/// Everything a training run needs. Every field has the GaLore 60M recipe's
/// default (rank 128, α 0.25, T 200, lr 0.01, β (0.9, 0.999), ε 1e-6, no
/// weight decay, cosine to 10% with 10% warm-up) or a laptop-sized one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields, default)]
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
    /// What a GaLore refresh does with the low-rank moments: "keep" (the
    /// reference's, the default), "reset" (zero them) or "rotate" (carry
    /// them into the new basis, LDAdam's rule; see `optim::moments`).
    pub moments: MomentPolicy,
    /// Align each new GaLore basis with the previous one (canonical signs
    /// first, then orthogonal Procrustes; see `optim::align`). Default
    /// false.
    pub align: bool,
    /// When GaLore refreshes a matrix's basis: "every" (the default: every
    /// matrix every `update_proj_gap` steps) or "lazy" (Q-GaLore's rule:
    /// each matrix's interval doubles while its successive bases agree,
    /// and falls back to `update_proj_gap` when they do not; see
    /// `optim::refresh`).
    pub refresh: RefreshKind,
    /// With `refresh = "lazy"`: the mean cosine of successive bases' first
    /// columns at or above which a matrix's interval doubles (default 0.4,
    /// Q-GaLore's).
    pub lazy_threshold: Option<f32>,
    /// With `refresh = "lazy"`: how many successive agreements the mean is
    /// taken over (default 5, Q-GaLore's).
    pub lazy_queue: Option<usize>,
    /// GaLore's subspace-quality log (subspace.csv) computes the optimum's
    /// captured energy (an f64 SVD of every projected gradient) at the
    /// 0-based steps that are multiples of this, 1..=steps (default 100,
    /// which keeps the log under 2% of a step: docs/numerics.md). The
    /// captured energy itself is logged at every refresh.
    pub quality_every: Option<usize>,
    /// Retired (was: zero the moments at each refresh): a config that sets
    /// it is refused by [`TrainConfig::validate`], naming `moments`.
    #[serde(skip_serializing)]
    #[doc(hidden)]
    pub reset_moments: Option<toml::Value>,
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
    /// Sequences per micro-batch, a divisor of `batch_size`: each step runs
    /// forward and backward on `batch_size / micro_batch` micro-batches in
    /// turn, sums their gradients into the batch's mean gradient and steps
    /// the optimizer once (gradient accumulation; activations are held for
    /// one micro-batch only). Default: `batch_size` (one micro-batch).
    pub micro_batch: Option<usize>,
    /// Tokens per sequence (T); default: the preset's [`default_seq_len`].
    #[serde(default = "seq_len_unset")]
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
    /// Checkpoints kept on disk: after a checkpoint is complete, the step
    /// dirs before the newest this many are removed, except the final one
    /// (step = `steps`). 0 keeps every checkpoint. Default: 3.
    pub keep_checkpoints: usize,
    /// The corpus (text, JSON lines, gzipped or not, or u16 tokens);
    /// default: the shipped corpus (data/README.md).
    pub corpus: Option<PathBuf>,
    /// A Hugging Face `tokenizer.json`; default: bytes.
    pub tokenizer: Option<PathBuf>,
    /// Recompute each layer's activations in backward.
    pub activation_checkpointing: bool,
    /// 0-based steps whose gradients are recorded: a list (`[0, 9]`) or a
    /// range `"A..B"` (B exclusive) or `"A..B:S"` (every S-th step), see
    /// [`RecordSteps`].
    pub record_steps: RecordSteps,
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
            moments: MomentPolicy::Keep,
            align: false,
            refresh: RefreshKind::Every,
            lazy_threshold: None,
            lazy_queue: None,
            quality_every: None,
            reset_moments: None,
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: 0.0,
            warmup_ratio: 0.1,
            min_lr_ratio: 0.1,
            steps: 100,
            batch_size: 4,
            micro_batch: None,
            seq_len: default_seq_len(&LlamaConfig::tiny()),
            seed: 0,
            threads: 0,
            eval_every: 0,
            eval_batches: 4,
            checkpoint_every: 0,
            checkpoint_at_end: false,
            keep_checkpoints: 3,
            corpus: None,
            tokenizer: None,
            activation_checkpointing: false,
            record_steps: RecordSteps::default(),
            record_tensors: Vec::new(),
        }
    }
}

/// The longest default sequence (GaLore's 60M recipe's T = 256).
pub const DEFAULT_SEQ_LEN: usize = 256;

/// The default `seq_len` of a preset: [`DEFAULT_SEQ_LEN`], or the preset's
/// `max_position_embeddings` when that is shorter (tiny: 128).
pub fn default_seq_len(model: &LlamaConfig) -> usize {
    DEFAULT_SEQ_LEN.min(model.max_position_embeddings)
}

/// `seq_len`'s value while a table being read has not given one.
const SEQ_LEN_UNSET: usize = usize::MAX;

fn seq_len_unset() -> usize {
    SEQ_LEN_UNSET
}

impl<'de> Deserialize<'de> for TrainConfig {
    /// The fields of the table, each absent one at its default, `seq_len`
    /// at its preset's.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut config = TrainConfig::deserialize(deserializer)?;
        if config.seq_len == SEQ_LEN_UNSET {
            config.seq_len = LlamaConfig::preset(&config.preset)
                .as_ref()
                .map_or(DEFAULT_SEQ_LEN, default_seq_len);
        }
        Ok(config)
    }
}

impl Serialize for TrainConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TrainConfig::serialize(self, serializer)
    }
}

impl TrainConfig {
    /// Every key of the table, sorted.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(TrainConfig::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => unreachable!("a config serializes to an object"),
        }
    }

    /// Fails, listing the keys, on a key that is not a field (naming the
    /// replacement of a retired one).
    pub fn check_known<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<(), TrainError> {
        let known = Self::keys();
        let keys: Vec<&str> = keys.into_iter().collect();
        if let Some(key) = keys.iter().find(|k| **k == "reset_moments") {
            return Err(retired_reset_moments(key));
        }
        match keys.into_iter().find(|key| !known.iter().any(|k| k == key)) {
            Some(key) => Err(TrainError::Config {
                field: key.into(),
                reason: format!("unknown key; the keys are {}", known.join(", ")),
            }),
            None => Ok(()),
        }
    }

    /// Checks the keys a run sets itself (`lab train`'s file and `--set`
    /// keys): each applies to this run's optimizer; a key only another
    /// optimizer reads (GaLore's `rank` with `adamw`) is an error naming it.
    /// A shared table's keys (a suite's `[train]`) are defaults for the runs
    /// that read them, not checked here.
    pub fn check_applies<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), TrainError> {
        for key in keys {
            if matches!(key, "lazy_threshold" | "lazy_queue") && self.refresh != RefreshKind::Lazy {
                return Err(TrainError::Config {
                    field: key.into(),
                    reason: "applies to refresh = \"lazy\" only, and this run refreshes every \
                     update_proj_gap steps: set refresh = \"lazy\" or drop the key"
                        .into(),
                });
            }
            if let Some(owner) = OptimizerKind::owner_of(key)
                && owner != self.optimizer
            {
                return Err(TrainError::Config {
                    field: key.into(),
                    reason: format!(
                        "applies to optimizer {} only, and this run's optimizer is {}: drop the \
                         key or set optimizer = {0:?}",
                        owner.name(),
                        self.optimizer.name()
                    ),
                });
            }
        }
        Ok(())
    }

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
        if self.reset_moments.is_some() {
            return Err(retired_reset_moments("reset_moments"));
        }
        let model = self.model()?;
        if self.steps == 0 {
            return bad("steps", "train at least one step".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size", "use at least 1".into());
        }
        if let Some(m) = self.micro_batch
            && (m == 0 || !self.batch_size.is_multiple_of(m))
        {
            let what = if m == 0 {
                "a micro-batch of 0 sequences holds nothing".to_string()
            } else {
                format!("{m} does not divide batch_size = {}", self.batch_size)
            };
            return bad(
                "micro_batch",
                format!(
                    "{what}; use a divisor of batch_size ({}) or drop the key (one micro-batch of \
                     batch_size sequences)",
                    divisors(self.batch_size)
                ),
            );
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
        self.optimizer.validate(self, registry)?;
        for pattern in &self.record_tensors {
            glob::Pattern::new(pattern).map_err(|e| TrainError::Config {
                field: "record_tensors".into(),
                reason: format!("{pattern:?} is not a glob: {e}"),
            })?;
        }
        if let Err(reason) = self.record_steps.check(self.steps) {
            return bad("record_steps", reason);
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

    /// Sequences per micro-batch: `micro_batch`, or `batch_size` when unset.
    pub fn micro_batch_size(&self) -> usize {
        self.micro_batch.unwrap_or(self.batch_size)
    }

    /// Warm-up steps: `steps · warmup_ratio`, rounded down.
    pub(crate) fn warmup(&self) -> usize {
        (self.steps as f64 * self.warmup_ratio) as usize
    }
}

/// The divisors of `n` (≥ 1), ascending, comma-separated.
fn divisors(n: usize) -> String {
    let (mut low, mut high) = (Vec::new(), Vec::new());
    let mut d = 1;
    while d * d <= n {
        if n.is_multiple_of(d) {
            low.push(d);
            if d * d != n {
                high.push(n / d);
            }
        }
        d += 1;
    }
    low.extend(high.into_iter().rev());
    let all: Vec<String> = low.iter().map(usize::to_string).collect();
    all.join(", ")
}

/// The error of the retired key `reset_moments`, naming its replacement.
fn retired_reset_moments(key: &str) -> TrainError {
    TrainError::Config {
        field: key.into(),
        reason: "was replaced by `moments`: write moments = \"reset\" for reset_moments = true, \
                 or drop the key (moments = \"keep\", the default, was reset_moments = false)"
            .into(),
    }
}
