//! Which engine trains a run: `engine = "lab"` (the default, crates/llama's
//! `Session`) or `engine = "torch"` (transformers' Llama in PyTorch through
//! the Python package's entry point, `runner::torch`).
//!
//! ```toml
//! [[run]]
//! engine = "torch"
//! optimizer = "galore-torch"   # adamw | galore-torch | apollo | q-galore
//! plugin = "rrf"               # galore-torch only: a LabProjector instead of its own SVD
//! plugin_params = { power_iters = 0 }
//! update_proj_gap = 1
//! device = "cpu"               # or "cuda"
//! ```
//!
//! A torch run reads the same training keys as a lab run (preset, steps,
//! batch, lr and schedule, seed, rank, scale, T, evaluation, recording):
//! it starts from the lab's initial weights for its seed and sees the lab's
//! batches, so it pairs with the lab's runs by seed. Its `optimizer` is one
//! of the torch ones; for validation the config holds the lab optimizer
//! that reads the same keys (adamw for adamw, galore for the low-rank ones).
//! Keys the torch engine cannot honour (moments other than "keep",
//! checkpoints, `align` without a plugin) are errors naming the key.

use llama::session::{OptimizerKind, TrainConfig};

/// The engine of a training run.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Engine {
    /// crates/llama's `Session`.
    #[default]
    Lab,
    /// PyTorch, through `python -m galore_lab.train`.
    Torch(TorchRun),
}

/// What a torch run adds to its training config.
#[derive(Debug, Clone, PartialEq)]
pub struct TorchRun {
    pub optimizer: TorchOptimizer,
    /// `"cpu"` or `"cuda"`.
    pub device: String,
    /// galore-torch with a LabProjector: the lab plugin it refreshes with
    /// (its params are the config's `plugin_params`); `None`: its own SVD.
    pub plugin: Option<String>,
}

/// The optimizers of the torch engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchOptimizer {
    /// `torch.optim.AdamW`.
    Adamw,
    /// galore-torch 1.0's `GaLoreAdamW`.
    GaloreTorch,
    /// apollo-torch 1.0.3's `APOLLOAdamW` (random projection).
    Apollo,
    /// q-galore-torch 1.0's `QGaLoreAdamW8bit` (CUDA only).
    QGalore,
}

impl TorchOptimizer {
    pub const ALL: [Self; 4] = [Self::Adamw, Self::GaloreTorch, Self::Apollo, Self::QGalore];

    /// The suite's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Adamw => "adamw",
            Self::GaloreTorch => "galore-torch",
            Self::Apollo => "apollo",
            Self::QGalore => "q-galore",
        }
    }

    /// The lab optimizer that reads the same keys.
    fn lab_kind(self) -> &'static str {
        match self {
            Self::Adamw => "adamw",
            _ => "galore",
        }
    }
}

impl Engine {
    /// `"lab"` or `"torch"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Lab => "lab",
            Self::Torch(_) => "torch",
        }
    }
}

/// The engine of a run's merged keys, with `engine` and `device` removed
/// and a torch `optimizer` replaced by the lab optimizer that reads the same
/// keys, so that the rest parses as a `TrainConfig`. `where_` names the run.
pub(super) fn take(table: &mut toml::Table, where_: &str) -> Result<Engine, String> {
    let string = |table: &mut toml::Table, key: &str| match table.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(format!("{where_}: `{key}` must be a string, got {v}")),
    };
    let engine = string(table, "engine")?;
    let device = string(table, "device")?;
    let torch_names: Vec<&str> = TorchOptimizer::ALL.iter().map(|o| o.name()).collect();
    let optimizer = match table.get("optimizer") {
        Some(toml::Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    match engine.as_deref() {
        None | Some("lab") => {
            if let Some(device) = device {
                return Err(format!(
                    "{where_}: device = {device:?} applies to engine = \"torch\"; the lab's \
                     engine trains on the CPU (its GPU methods are plugins, e.g. plugin = \
                     \"cuda-rrf\"): drop the key or add engine = \"torch\""
                ));
            }
            if let Some(o) = optimizer.filter(|o| o != "adamw" && torch_names.contains(&o.as_str()))
            {
                return Err(format!(
                    "{where_}: optimizer = {o:?} runs on engine = \"torch\"; add engine = \
                     \"torch\" to the run, or use optimizer = \"galore\" (the lab's GaLore-AdamW)"
                ));
            }
            Ok(Engine::Lab)
        }
        Some("torch") => {
            let name = optimizer.unwrap_or_else(|| "adamw".into());
            let Some(optimizer) = TorchOptimizer::ALL.into_iter().find(|o| o.name() == name) else {
                return Err(format!(
                    "{where_}: optimizer = {name:?} with engine = \"torch\"; use one of {} \
                     (the lab's own GaLore-AdamW is engine = \"lab\", optimizer = \"galore\")",
                    torch_names.join(", ")
                ));
            };
            let device = device.unwrap_or_else(|| "cpu".into());
            if device != "cpu" && device != "cuda" {
                return Err(format!(
                    "{where_}: device = {device:?}; use \"cpu\" or \"cuda\""
                ));
            }
            let plugin = match table.get("plugin") {
                None => None,
                Some(toml::Value::String(p)) if optimizer == TorchOptimizer::GaloreTorch => {
                    Some(p.clone())
                }
                Some(_) => {
                    return Err(format!(
                        "{where_}: `plugin` with optimizer = {name:?}: a lab plugin joins the \
                         torch engine as galore-torch's projector (optimizer = \
                         \"galore-torch\"); drop the key"
                    ));
                }
            };
            for (key, ok, why) in [
                (
                    "moments",
                    table
                        .get("moments")
                        .is_none_or(|v| v.as_str() == Some("keep")),
                    "galore-torch and APOLLO keep the moments at a refresh",
                ),
                (
                    "checkpoint_every",
                    table
                        .get("checkpoint_every")
                        .is_none_or(|v| v.as_integer() == Some(0)),
                    "checkpoints are the lab engine's",
                ),
                (
                    "checkpoint_at_end",
                    table
                        .get("checkpoint_at_end")
                        .is_none_or(|v| v.as_bool() == Some(false)),
                    "checkpoints are the lab engine's",
                ),
                (
                    "align",
                    plugin.is_some()
                        || table
                            .get("align")
                            .is_none_or(|v| v.as_bool() == Some(false)),
                    "aligned bases need a LabProjector (plugin = \"…\" with galore-torch)",
                ),
            ] {
                if !ok {
                    return Err(format!(
                        "{where_}: `{key}` with engine = \"torch\": {why}; drop the key"
                    ));
                }
            }
            table.insert(
                "optimizer".into(),
                toml::Value::String(optimizer.lab_kind().into()),
            );
            Ok(Engine::Torch(TorchRun {
                optimizer,
                device,
                plugin,
            }))
        }
        Some(other) => Err(format!(
            "{where_}: engine = {other:?}; use \"lab\" (the default) or \"torch\""
        )),
    }
}

/// A torch run's label: `name`, else `torch-adamw`, `galore-torch-T200`,
/// `galore-torch+rrf[power_iters=0]-T1`, `apollo-T200`, `q-galore-T200`.
pub(super) fn label(run: &TorchRun, config: &TrainConfig) -> String {
    if let Some(name) = &config.name {
        return name.clone();
    }
    let gap = config.update_proj_gap;
    match (run.optimizer, &run.plugin) {
        (TorchOptimizer::Adamw, _) => "torch-adamw".into(),
        (TorchOptimizer::GaloreTorch, None) => format!("galore-torch-T{gap}"),
        (TorchOptimizer::GaloreTorch, Some(_)) => {
            let lab = OptimizerKind::Galore.label(config);
            let lab = lab.strip_prefix("galore-").unwrap_or(&lab);
            format!("galore-torch+{lab}")
        }
        (o, _) => format!("{}-T{gap}", o.name()),
    }
}
