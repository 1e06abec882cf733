//! Every byte a run holds, from its own buffers (weights, gradients,
//! optimizer state, activations, the refresh's working memory), beside the
//! process's peak RSS and the GaLore paper's mixed-precision estimate; and
//! the same accounting estimated from a config before anything is
//! allocated ([`estimate_bytes`], [`check_budget`]).

use serde::{Deserialize, Serialize};

use subspace::budget::{MemoryBudget, checked_bytes, checked_sum, human_bytes};

use super::config::TrainConfig;
use super::errors::TrainError;
use super::run::Session;
use crate::model::llama::{Checkpointing, activation_bytes};
use crate::optim::Optimizer;
use crate::params::Layout;

/// Bytes the run holds, from its own buffers, beside the process's peak
/// RSS and the GaLore paper's mixed-precision estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    pub parameters: usize,
    pub weights_bytes: usize,
    pub gradient_bytes: usize,
    /// AdamW: both moments; GaLore: the dense moments, the low-rank moments,
    /// the projectors and the trackers' states (see
    /// `GaloreAdamW::state_bytes`).
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
/// the low-rank moments and the projectors.
pub fn paper_state_bytes(opt: &dyn Optimizer) -> usize {
    opt.paper_state_bytes()
}

impl Session {
    /// Bytes of the run's own buffers.
    pub fn memory(&self, peak_rss: (Option<u64>, String), threads: usize) -> MemoryReport {
        let weights_bytes = self.params.bytes();
        let gradient_bytes = self.grads.bytes();
        let optimizer_state_bytes = self.opt.state_bytes();
        let activation_bytes = self.acts.bytes();
        let refresh = self.opt.refresh_workspace(threads);
        let subspace_workspace_bytes = refresh.host_bytes;
        MemoryReport {
            parameters: self.params.layout().total(),
            weights_bytes,
            gradient_bytes,
            optimizer_state_bytes,
            activation_bytes,
            activation_checkpointing: self.config.activation_checkpointing,
            subspace_workspace_bytes,
            subspace_device_bytes_predicted: refresh.device_bytes_predicted,
            subspace_device_bytes_measured: refresh.device_bytes_measured,
            accounted_bytes: weights_bytes
                + gradient_bytes
                + optimizer_state_bytes
                + activation_bytes
                + subspace_workspace_bytes,
            peak_rss_bytes: peak_rss.0,
            peak_rss_note: peak_rss.1,
            paper_bf16_weights_bytes: self.params.layout().total() * 2,
            paper_bf16_state_bytes: paper_state_bytes(self.opt.as_ref()),
        }
    }
}

/// A run's bytes estimated from its config, before anything is allocated:
/// the parts of [`MemoryReport::accounted_bytes`] that grow with the model
/// and the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Weights and gradients: 4 bytes per parameter each.
    pub weights_bytes: usize,
    pub gradient_bytes: usize,
    /// AdamW's two moments per parameter (GaLore's moments and projectors
    /// are of the same order or smaller at the ranks it is run with).
    pub optimizer_state_bytes: usize,
    /// Exactly [`crate::model::llama::Activations::bytes`] of the run:
    /// one micro-batch's (`micro_batch` × `seq_len`), which gradient
    /// accumulation keeps whatever the `batch_size`.
    pub activation_bytes: usize,
    pub total_bytes: usize,
}

/// The bytes a run of `config` holds (see [`MemoryEstimate`]), `Ok(None)`
/// where they overflow `usize`; an unknown preset is an error.
pub fn estimate_bytes(config: &TrainConfig) -> Result<Option<MemoryEstimate>, TrainError> {
    let model = config.model()?;
    let params = Layout::new(&model).total();
    let mode = if config.activation_checkpointing {
        Checkpointing::Layers
    } else {
        Checkpointing::Off
    };
    let (Some(weights), Some(state), Some(acts)) = (
        checked_bytes(&[params, 4]),
        checked_bytes(&[params, 2, 4]),
        activation_bytes(&model, config.micro_batch_size(), config.seq_len, mode),
    ) else {
        return Ok(None);
    };
    Ok(
        checked_sum(&[Some(weights), Some(weights), Some(state), Some(acts)]).map(|total| {
            MemoryEstimate {
                weights_bytes: weights,
                gradient_bytes: weights,
                optimizer_state_bytes: state,
                activation_bytes: acts,
                total_bytes: total,
            }
        }),
    )
}

/// Refuses a run of `config` whose [`estimate_bytes`] exceed `budget`,
/// naming the bytes, the budget and the fix, before anything is allocated
/// or written.
pub fn check_budget(config: &TrainConfig, budget: &MemoryBudget) -> Result<(), TrainError> {
    let estimate = estimate_bytes(config)?;
    let micro = match config.micro_batch {
        Some(m) if m != config.batch_size => format!(" in micro-batches of {m}"),
        _ => String::new(),
    };
    let what = format!(
        "a run of preset {:?} with batch_size = {}, seq_len = {}{micro}",
        config.preset, config.batch_size, config.seq_len
    );
    let Err(e) = budget.check(what, estimate.map(|e| e.total_bytes)) else {
        return Ok(());
    };
    let needed = match estimate {
        Some(e) => format!(
            "{} (weights {}, gradients {}, optimizer state {}, activations {})",
            human_bytes(e.total_bytes),
            human_bytes(e.weights_bytes),
            human_bytes(e.gradient_bytes),
            human_bytes(e.optimizer_state_bytes),
            human_bytes(e.activation_bytes)
        ),
        None => "more bytes than this machine can address (the size overflows)".into(),
    };
    Err(TrainError::Config {
        field: if config.micro_batch.is_some() {
            "micro_batch"
        } else {
            "batch_size"
        }
        .into(),
        reason: format!(
            "{} needs {needed}, over the memory budget of {} ({}); use a smaller batch_size or \
             seq_len, or accumulate gradients over micro-batches (a smaller micro_batch, a \
             divisor of batch_size){}, or set {} higher",
            e.what,
            human_bytes(e.budget),
            e.source,
            if config.activation_checkpointing {
                ""
            } else {
                " (or activation_checkpointing = true)"
            },
            subspace::budget::BUDGET_ENV
        ),
    })
}

/// Resets the kernel's peak-RSS mark (`/proc/self/clear_refs` ← 5), so that
/// VmHWM measures this run; silently nothing where the kernel refuses.
pub(super) fn reset_peak_rss() {
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
