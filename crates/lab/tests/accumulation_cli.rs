//! `micro_batch` through the CLI and suites: `lab train --set micro_batch`
//! trains by accumulation and refuses a value that does not divide the
//! batch naming the key; a suite's `[train]`/`[[run]]` keys carry it, and
//! `lab run --dry-run` prints each training run's extrapolated time.

mod common;

use common::lab;

fn train(out: &std::path::Path, micro: &str) -> (bool, String, String) {
    lab(&[
        "train",
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--threads",
        "1",
        "--optimizer",
        "adamw",
        "--set",
        "batch_size=4",
        "--set",
        "seq_len=16",
        "--set",
        micro,
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn lab_train_accumulates_and_refuses_a_micro_batch_that_does_not_divide() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = train(&dir.path().join("bad"), "micro_batch=3");
    assert!(!ok);
    assert!(err.contains("micro_batch"), "{err}");
    assert!(err.contains("3 does not divide batch_size = 4"), "{err}");
    assert!(
        err.contains("use a divisor of batch_size (1, 2, 4)"),
        "{err}"
    );

    let (ok, _, err) = train(&dir.path().join("acc"), "micro_batch=2");
    assert!(ok, "{err}");
    let csv = std::fs::read_to_string(dir.path().join("acc/training.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let config = std::fs::read_to_string(dir.path().join("acc/train.json")).unwrap();
    assert!(config.contains("\"micro_batch\": 2"), "{config}");
}

#[test]
fn a_dry_run_prints_each_training_runs_extrapolated_time() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("acc.toml");
    std::fs::write(
        &suite,
        r#"
ranks = [4]
[train]
preset = "tiny"
steps = 10
batch_size = 4
micro_batch = 2
seq_len = 16
rank = 4
threads = 1
[[stage]]
name = "s"
[[run]]
optimizer = "adamw"
[[run]]
name = "svd-T5"
optimizer = "galore"
plugin = "svd"
update_proj_gap = 5
micro_batch = 1
"#,
    )
    .unwrap();
    let (ok, out, err) = lab(&["run", suite.to_str().unwrap(), "--dry-run"]);
    assert!(ok, "{err}");
    assert!(out.contains("B = 4 (micro-batches of 2)"), "{out}");
    assert!(out.contains("B = 4 (micro-batches of 1)"), "{out}");
    assert!(
        out.contains("forward + backward per micro-batch of 2 × 16"),
        "{out}"
    );
    assert!(out.contains("s per refresh"), "{out}");
    assert!(
        out.contains("extrapolated from two measured steps"),
        "{out}"
    );
    assert_eq!(out.matches("        ≈ ").count(), 2, "{out}");
    assert!(!out.contains("does not exist here"), "{out}");

    // A corpus this machine lacks: planned and estimated, and said.
    let text = std::fs::read_to_string(&suite).unwrap();
    std::fs::write(
        &suite,
        text.replace(
            "threads = 1\n",
            "threads = 1\ncorpus = \"data/c4-missing.u16\"\n",
        ),
    )
    .unwrap();
    let (ok, out, err) = lab(&["run", suite.to_str().unwrap(), "--dry-run"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.matches("note: corpus data/c4-missing.u16 does not exist here")
            .count(),
        1,
        "{out}"
    );
    assert!(out.contains("data/README.md"), "{out}");
    assert_eq!(out.matches("        ≈ ").count(), 2, "{out}");
}
