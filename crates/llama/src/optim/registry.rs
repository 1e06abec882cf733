//! The optimizers a training config can name: the one place that knows
//! each one's name, the config keys only it reads, their validation, how it
//! is built from the config and its runs' default label. Adding an
//! optimizer (or a GaLore variant): its file under `optim/`, implementing
//! [`Optimizer`], one variant of [`OptimizerKind`] and its arms here.

use serde::{Deserialize, Serialize};
use subspace::Registry;

use super::quality::DEFAULT_QUALITY_EVERY;
use super::refresh::{
    DEFAULT_LAZY_QUEUE, DEFAULT_LAZY_THRESHOLD, MAX_LAZY_STEPS, RefreshKind, RefreshRule,
};
use super::{AdamW, GaloreAdamW, GaloreParams, MomentPolicy, Optimizer};
use crate::Layout;
use crate::session::{TrainConfig, TrainError};

/// Which optimizer a run uses (the config's `optimizer` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Full-rank AdamW on every parameter.
    Adamw,
    /// GaLore-AdamW: the attention and MLP matrices projected by a plugin.
    Galore,
}

impl OptimizerKind {
    /// Every kind.
    pub const ALL: [OptimizerKind; 2] = [OptimizerKind::Adamw, OptimizerKind::Galore];

    /// The name a config gives it.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Adamw => "adamw",
            OptimizerKind::Galore => "galore",
        }
    }

    /// The config keys only this optimizer reads (a run of another
    /// optimizer that sets one is refused).
    pub fn own_keys(self) -> &'static [&'static str] {
        match self {
            OptimizerKind::Adamw => &[],
            OptimizerKind::Galore => &[
                "plugin",
                "plugin_params",
                "rank",
                "scale",
                "update_proj_gap",
                "moments",
                "align",
                "refresh",
                "lazy_threshold",
                "lazy_queue",
                "quality_every",
            ],
        }
    }

    /// The optimizer that alone reads config key `key`, if one does.
    pub fn owner_of(key: &str) -> Option<OptimizerKind> {
        Self::ALL.into_iter().find(|k| k.own_keys().contains(&key))
    }

    /// Checks the keys this optimizer reads, naming the field; a GaLore
    /// run's plugin must build from its params.
    pub fn validate(self, config: &TrainConfig, registry: &Registry) -> Result<(), TrainError> {
        let bad = |field: &str, reason: &str| {
            Err(TrainError::Config {
                field: field.into(),
                reason: reason.into(),
            })
        };
        match self {
            OptimizerKind::Adamw => Ok(()),
            OptimizerKind::Galore => {
                if config.rank == 0 {
                    return bad("rank", "use a rank of at least 1");
                }
                if config.update_proj_gap == 0 {
                    return bad("update_proj_gap", "use T ≥ 1 (1 = every step)");
                }
                if let Some(q) = config.quality_every
                    && (q == 0 || q > config.steps)
                {
                    return Err(TrainError::Config {
                        field: "quality_every".into(),
                        reason: format!(
                            "{q} is outside 1..={} (the run's steps): the quality log computes \
                             the optimum's energy at the 0-based steps that are multiples of it; \
                             use a value in that range, or drop the key (default \
                             {DEFAULT_QUALITY_EVERY})",
                            config.steps
                        ),
                    });
                }
                if let Some(x) = config.lazy_threshold
                    && !(0.0..=1.0).contains(&x)
                {
                    return bad(
                        "lazy_threshold",
                        "use a cosine in [0, 1] (Q-GaLore's default is 0.4)",
                    );
                }
                if config.lazy_queue == Some(0) {
                    return bad(
                        "lazy_queue",
                        "use at least 1 agreement (Q-GaLore's default is 5)",
                    );
                }
                if config.refresh == RefreshKind::Lazy && config.steps > MAX_LAZY_STEPS {
                    return Err(TrainError::Config {
                        field: "refresh".into(),
                        reason: format!(
                            "refresh = \"lazy\" keeps its schedules in f32 checkpoint tensors, \
                             exact for runs of at most {MAX_LAZY_STEPS} steps; this run has {}",
                            config.steps
                        ),
                    });
                }
                registry
                    .build(&config.plugin, &config.plugin_params)
                    .map_err(|e| TrainError::Config {
                        field: "plugin".into(),
                        reason: e.to_string(),
                    })?;
                Ok(())
            }
        }
    }

    /// The optimizer of `config` with zero state for `layout`; a GaLore
    /// run's subspace method comes from `registry` and must be available
    /// on this machine.
    pub fn build(
        self,
        config: &TrainConfig,
        registry: &Registry,
        layout: &Layout,
    ) -> Result<Box<dyn Optimizer>, TrainError> {
        Ok(match self {
            OptimizerKind::Adamw => Box::new(AdamW::new(layout, config.adamw())),
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
                let refresh = match config.refresh {
                    RefreshKind::Every => RefreshRule::Every,
                    RefreshKind::Lazy => RefreshRule::Lazy {
                        threshold: config.lazy_threshold.unwrap_or(DEFAULT_LAZY_THRESHOLD),
                        queue: config.lazy_queue.unwrap_or(DEFAULT_LAZY_QUEUE),
                    },
                };
                let hp = GaloreParams {
                    rank: config.rank,
                    scale: config.scale,
                    update_proj_gap: config.update_proj_gap,
                    moments: config.moments,
                    align: config.align,
                    refresh,
                    quality_every: config
                        .quality_every
                        .map_or(DEFAULT_QUALITY_EVERY, |q| q as u64),
                    adamw: config.adamw(),
                };
                Box::new(GaloreAdamW::new(layout, hp, method, config.seed))
            }
        })
    }

    /// The default label of a run of `config`: e.g. "adamw",
    /// "galore-svd-T200", "galore-rrf[power_iters=0]-T1", and with a moment
    /// policy other than keep or with align, "galore-svd-T1-rotate-align",
    /// and with the lazy refresh rule "-lazy" after those.
    pub fn label(self, config: &TrainConfig) -> String {
        match self {
            OptimizerKind::Adamw => "adamw".into(),
            OptimizerKind::Galore => {
                let params: Vec<String> = config
                    .plugin_params
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let params = if params.is_empty() {
                    String::new()
                } else {
                    format!("[{}]", params.join(","))
                };
                let mut label = format!(
                    "galore-{}{params}-T{}",
                    config.plugin, config.update_proj_gap
                );
                if config.moments != MomentPolicy::Keep {
                    label = format!("{label}-{}", config.moments.name());
                }
                if config.align {
                    label.push_str("-align");
                }
                if config.refresh == RefreshKind::Lazy {
                    label.push_str("-lazy");
                }
                label
            }
        }
    }
}
