//! Training sessions: resuming reproduces the uninterrupted run bit for bit,
//! the thread count changes no bit, a non-finite loss stops the run naming
//! the step and keeps the last checkpoint, the recorder writes the chosen
//! gradients, bad configs are refused naming the field.

mod common;

use std::path::Path;

use common::{config, registry};
use llama::session::config::default_seq_len;
use llama::session::{OptimizerKind, Session, StepRow, TrainConfig, TrainError};
use llama::{Layout, LlamaConfig, ParamStore};

fn run(config: TrainConfig, out: &Path) -> Result<Vec<StepRow>, TrainError> {
    let mut rows = Vec::new();
    Session::new(config, &registry(), out)?.run(|r| rows.push(r.clone()))?;
    Ok(rows)
}

fn losses(rows: &[StepRow]) -> Vec<(usize, u32, Option<u32>, u64)> {
    rows.iter()
        .map(|r| {
            (
                r.step,
                r.train_loss.to_bits(),
                r.eval_loss.map(f32::to_bits),
                r.grad_norm.to_bits(),
            )
        })
        .collect()
}

#[test]
fn resuming_reproduces_the_run_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let c = TrainConfig {
        checkpoint_every: 3,
        ..config()
    };
    let all = run(c, &whole).unwrap();
    assert_eq!(all.len(), 6);
    assert!(
        all[5].train_loss < all[0].train_loss,
        "the loss falls: {all:?}"
    );

    let resumed_dir = dir.path().join("resumed");
    let mut rest = Vec::new();
    Session::resume(&whole.join("checkpoints/step-3"), &registry(), &resumed_dir)
        .unwrap()
        .run(|r| rest.push(r.clone()))
        .unwrap();
    assert_eq!(losses(&rest), losses(&all[3..]));
    let layout = Layout::new(&LlamaConfig::tiny());
    let a = ParamStore::load(&whole.join("checkpoints/step-6/model.safetensors"), &layout).unwrap();
    let b = ParamStore::load(
        &resumed_dir.join("checkpoints/step-6/model.safetensors"),
        &layout,
    )
    .unwrap();
    assert!(a == b, "the resumed run ends on other weights");
    let csv = std::fs::read_to_string(resumed_dir.join("training.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 3,
        "a header and steps 3, 4, 5:\n{csv}"
    );
}

#[test]
fn thread_count_changes_no_bit() {
    let dir = tempfile::tempdir().unwrap();
    let one = run(config(), &dir.path().join("1")).unwrap();
    let two = run(
        TrainConfig {
            threads: 2,
            ..config()
        },
        &dir.path().join("2"),
    )
    .unwrap();
    let three = run(
        TrainConfig {
            threads: 3,
            ..config()
        },
        &dir.path().join("3"),
    )
    .unwrap();
    assert_eq!(losses(&one), losses(&two));
    assert_eq!(losses(&one), losses(&three));
}

#[test]
fn a_diverging_run_stops_naming_the_step_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let c = TrainConfig {
        optimizer: OptimizerKind::Adamw,
        lr: 1e36,
        warmup_ratio: 0.0,
        checkpoint_every: 1,
        steps: 20,
        ..config()
    };
    let err = run(c, dir.path()).unwrap_err();
    let TrainError::NonFinite { step, ref what, .. } = err else {
        panic!("expected a non-finite stop, got {err}");
    };
    assert!(step >= 1, "step 0 has finite weights");
    let message = err.to_string();
    assert!(message.contains(&format!("step {step}")), "{message}");
    assert!(
        what.contains("loss") || what.contains("gradient of model."),
        "{message}"
    );
    // The checkpoint of the last good step is there, complete.
    let last = dir.path().join(format!("checkpoints/step-{step}"));
    for f in [
        "model.safetensors",
        "optimizer.safetensors",
        "trainer.json",
        "config.json",
    ] {
        assert!(last.join(f).is_file(), "{} missing", last.join(f).display());
    }
    let csv = std::fs::read_to_string(dir.path().join("training.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + step, "every finished step is kept");
}

#[test]
fn the_recorder_writes_the_chosen_gradients_at_the_chosen_steps() {
    let dir = tempfile::tempdir().unwrap();
    let c = TrainConfig {
        record_steps: vec![0, 4].into(),
        record_tensors: vec!["model.layers.1.mlp.*".into(), "lm_head.weight".into()],
        ..config()
    };
    run(c, dir.path()).unwrap();
    let model = LlamaConfig::tiny();
    for step in [0, 4] {
        let path = dir.path().join(format!("grads/step-{step}.safetensors"));
        let (tensors, meta) = llama::params::load_f32(&path).unwrap();
        assert_eq!(meta["step"], step.to_string());
        let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "lm_head.weight",
                "model.layers.1.mlp.down_proj.weight",
                "model.layers.1.mlp.gate_proj.weight",
                "model.layers.1.mlp.up_proj.weight",
            ]
        );
        let up = &tensors[3];
        assert_eq!(up.shape, [model.intermediate_size, model.hidden_size]);
        assert!(up.data.iter().any(|x| *x != 0.0) && up.data.iter().all(|x| x.is_finite()));
    }
    assert!(!dir.path().join("grads/step-1.safetensors").exists());
}

#[test]
fn memory_is_accounted_from_the_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(&LlamaConfig::tiny());
    let mut summaries = Vec::new();
    for optimizer in [OptimizerKind::Adamw, OptimizerKind::Galore] {
        let c = TrainConfig {
            optimizer,
            steps: 2,
            ..config()
        };
        let out = dir.path().join(format!("{optimizer:?}"));
        summaries.push(
            Session::new(c, &registry(), &out)
                .unwrap()
                .run(|_| {})
                .unwrap(),
        );
    }
    // GaLore+rrf on two threads as well: two refreshes at once.
    let c = TrainConfig {
        steps: 2,
        threads: 2,
        ..config()
    };
    summaries.push(
        Session::new(c, &registry(), &dir.path().join("galore-2"))
            .unwrap()
            .run(|_| {})
            .unwrap(),
    );
    let (adamw, galore) = (&summaries[0].memory, &summaries[1].memory);
    // The refresh's scratch is the plugin's own prediction for each matrix
    // as it is passed (Gᵀ for a tall matrix), the largest one per thread.
    let rrf = registry()
        .build("rrf", &toml::toml! { power_iters = 1 })
        .unwrap();
    let mut each: Vec<usize> = layout
        .specs()
        .iter()
        .filter(|s| s.kind.galore())
        .map(|s| {
            let (r, c) = (s.shape[0], s.shape[1]);
            rrf.workspace_bytes(r.min(c), r.max(c), 8.min(r).min(c))
        })
        .collect();
    each.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(adamw.subspace_workspace_bytes, 0);
    assert!(each[0] > 0);
    assert_eq!(galore.subspace_workspace_bytes, each[0]);
    assert_eq!(
        summaries[2].memory.subspace_workspace_bytes,
        each[0] + each[1]
    );
    assert_eq!(galore.subspace_device_bytes_predicted, None);
    assert_eq!(adamw.weights_bytes, 4 * layout.total());
    assert_eq!(adamw.gradient_bytes, 4 * layout.total());
    assert_eq!(adamw.optimizer_state_bytes, 2 * 4 * layout.total());
    assert!(galore.optimizer_state_bytes < adamw.optimizer_state_bytes);
    for m in [adamw, galore] {
        assert_eq!(
            m.accounted_bytes,
            m.weights_bytes
                + m.gradient_bytes
                + m.optimizer_state_bytes
                + m.activation_bytes
                + m.subspace_workspace_bytes
        );
        assert_eq!(m.paper_bf16_weights_bytes, 2 * layout.total());
    }
    // The paper's state figure (bf16) leaves out what the trackers keep: for
    // the default warm-started tracker, each matrix's previous basis
    // (min(m, n) × k in f32), which GaLore's own state does count.
    let trackers: usize = layout
        .specs()
        .iter()
        .filter(|s| s.kind.galore())
        .map(|s| {
            let (r, c) = (s.shape[0], s.shape[1]);
            r.min(c) * 8.min(r).min(c) * 4
        })
        .sum();
    assert!(trackers > 0);
    assert_eq!(
        adamw.paper_bf16_state_bytes,
        adamw.optimizer_state_bytes / 2
    );
    assert_eq!(
        galore.paper_bf16_state_bytes,
        (galore.optimizer_state_bytes - trackers) / 2
    );
}

#[test]
fn bad_configs_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(TrainConfig, &str)> = vec![
        (
            TrainConfig {
                preset: "llama-7b".into(),
                ..config()
            },
            "preset",
        ),
        (
            TrainConfig {
                plugin: "nope".into(),
                ..config()
            },
            "plugin",
        ),
        (
            TrainConfig {
                record_steps: vec![6].into(),
                ..config()
            },
            "record_steps",
        ),
        (
            TrainConfig {
                seq_len: 100_000,
                ..config()
            },
            "seq_len",
        ),
        (
            TrainConfig {
                corpus: Some(dir.path().join("missing.txt")),
                ..config()
            },
            "missing.txt",
        ),
    ];
    for (c, needle) in cases {
        let err = match Session::new(c, &registry(), dir.path()) {
            Ok(_) => panic!("{needle}: accepted"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let err = toml::from_str::<TrainConfig>("stpes = 10")
        .unwrap_err()
        .to_string();
    assert!(err.contains("stpes") && err.contains("steps"), "{err}");
}

#[test]
fn every_presets_defaults_are_valid_as_typed() {
    assert!(TrainConfig::default().validate(&registry()).is_ok());
    for preset in LlamaConfig::PRESETS {
        let c: TrainConfig = toml::from_str(&format!("preset = {preset:?}")).unwrap();
        let model = LlamaConfig::preset(preset).unwrap();
        assert_eq!(c.seq_len, default_seq_len(&model), "{preset}");
        assert!(c.seq_len <= model.max_position_embeddings, "{preset}");
        for optimizer in ["adamw", "galore"] {
            let text = format!("preset = {preset:?}\noptimizer = {optimizer:?}");
            let c: TrainConfig = toml::from_str(&text).unwrap();
            if let Err(e) = c.validate(&registry()) {
                panic!("{preset} with {optimizer}: {e}");
            }
        }
    }
    // A given seq_len wins; the 60M preset keeps the recipe's 256.
    let c: TrainConfig = toml::from_str("preset = \"tiny\"\nseq_len = 64").unwrap();
    assert_eq!(c.seq_len, 64);
    let c: TrainConfig = toml::from_str("preset = \"llama-60m\"").unwrap();
    assert_eq!(c.seq_len, 256);
}

#[test]
fn a_key_of_another_optimizer_is_refused_naming_it() {
    let adamw = TrainConfig {
        optimizer: OptimizerKind::Adamw,
        ..config()
    };
    for key in [
        "rank",
        "scale",
        "update_proj_gap",
        "moments",
        "align",
        "plugin",
        "plugin_params",
    ] {
        let err = adamw.check_applies([key]).unwrap_err().to_string();
        assert!(
            err.contains(&format!("`{key}`")) && err.contains("adamw"),
            "{err}"
        );
        assert!(config().check_applies([key]).is_ok(), "{key} with galore");
    }
    assert!(adamw.check_applies(["lr", "seq_len", "steps"]).is_ok());
    let err = TrainConfig::check_known(["lr", "stpes"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("stpes") && err.contains("steps"), "{err}");
    assert!(TrainConfig::check_known(["lr", "record_steps", "name"]).is_ok());
}
