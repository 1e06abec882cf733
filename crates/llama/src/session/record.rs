//! Gradient recording: at each step of `record_steps`, the gradients of
//! `record_tensors` (globs on HF names; default: every matrix GaLore
//! projects) as `<out>/grads/step-<N>.safetensors`, with the run, step,
//! preset and seed as metadata, for the harness to read as matrices.

use std::path::PathBuf;

use super::errors::{TrainError, io};
use super::run::Session;
use crate::params::save_f32;

impl Session {
    /// Writes the gradients of `record_tensors` (default: every GaLore matrix)
    /// to `<out>/grads/step-<step>.safetensors`.
    pub(super) fn record(&self, step: usize) -> Result<PathBuf, TrainError> {
        let dir = self.out_dir("record_steps")?.join("grads");
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
}
