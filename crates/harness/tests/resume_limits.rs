//! `lab train --resume` is held to the machine's limits like a fresh run:
//! the checkpoint's config is checked against the memory budget before the
//! checkpoint is loaded, and the out dir is left as it was. The only test
//! of this binary: it sets `LAB_MEMORY_BUDGET` for its own process.

use llama::session::{OptimizerKind, TrainConfig};
use subspace::Registry;

#[test]
fn a_resume_over_the_memory_budget_is_refused_before_loading() {
    let mut registry = Registry::new();
    registry.register::<svd::Svd>().unwrap();
    let config = TrainConfig {
        preset: "tiny".into(),
        optimizer: OptimizerKind::Adamw,
        steps: 2,
        batch_size: 2,
        seq_len: 32,
        threads: 1,
        eval_every: 0,
        checkpoint_every: 1,
        ..TrainConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // SAFETY: the only test of this binary; no other thread reads the environment.
    unsafe { std::env::set_var("LAB_MEMORY_BUDGET", "4G") };
    harness::training::train(config, &registry, &run, None, false).unwrap();
    let csv = std::fs::read(run.join("training.csv")).unwrap();
    let checkpoint = run.join("checkpoints/step-1");

    // SAFETY: as above.
    unsafe { std::env::set_var("LAB_MEMORY_BUDGET", "1M") };
    let err = harness::training::train(
        TrainConfig::default(),
        &registry,
        &run,
        Some(&checkpoint),
        false,
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("cannot resume from"), "{msg}");
    assert!(msg.contains(&checkpoint.display().to_string()), "{msg}");
    assert!(msg.contains("over the memory budget of 1.0 MiB"), "{msg}");
    assert!(msg.contains("LAB_MEMORY_BUDGET higher"), "{msg}");
    assert_eq!(std::fs::read(run.join("training.csv")).unwrap(), csv);

    // Within the budget the same checkpoint resumes and finishes the run.
    // SAFETY: as above.
    unsafe { std::env::set_var("LAB_MEMORY_BUDGET", "4G") };
    let summary = harness::training::train(
        TrainConfig::default(),
        &registry,
        &run,
        Some(&checkpoint),
        false,
    )
    .unwrap();
    assert_eq!(summary.steps, 2);
}
