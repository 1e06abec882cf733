//! What the session tests share: a registry with the CPU plugins they train
//! with, and a small GaLore+rrf run on the tiny preset.

use llama::session::{OptimizerKind, TrainConfig};
use subspace::Registry;

pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<svd::Svd>().unwrap();
    r.register::<rrf::Rrf>().unwrap();
    r
}

/// GaLore+rrf (q = 1) on tiny, 6 steps of 2 × 32 tokens, one thread;
/// T = 2 exercises the warm start and the steps between refreshes.
pub fn config() -> TrainConfig {
    TrainConfig {
        preset: "tiny".into(),
        optimizer: OptimizerKind::Galore,
        plugin: "rrf".into(),
        plugin_params: toml::toml! { power_iters = 1 },
        rank: 8,
        update_proj_gap: 2,
        steps: 6,
        batch_size: 2,
        seq_len: 32,
        threads: 1,
        eval_every: 3,
        eval_batches: 2,
        ..TrainConfig::default()
    }
}
