//! Every byte a run holds, from its own buffers (weights, gradients,
//! optimizer state, activations, the refresh's working memory), beside the
//! process's peak RSS and the GaLore paper's mixed-precision estimate.

use serde::Serialize;

use super::run::Session;
use crate::optim::Optimizer;

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
