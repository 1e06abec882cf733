//! Runs never clobber: a fresh session refuses an out dir holding a run, a
//! resumed one cuts `training.csv` back to the checkpoint so it reads as the
//! uninterrupted run's, partial checkpoints are removed, old checkpoints
//! rotate out, and a corrupt checkpoint (an impossible step, a truncated
//! file, a tracker state of the wrong shape, a NaN weight) is refused
//! naming the file and the fix.

mod common;

use std::path::Path;

use common::registry;
use llama::params::{load_f32, save_f32};
use llama::session::{OptimizerKind, Session, TrainConfig, TrainError};
use llama::{Layout, LlamaConfig, ParamStore};

fn config() -> TrainConfig {
    TrainConfig {
        checkpoint_every: 3,
        ..common::config()
    }
}

fn train(config: TrainConfig, out: &Path) {
    Session::new(config, &registry(), out)
        .unwrap()
        .run(|_| {})
        .unwrap();
}

fn resume_err(checkpoint: &Path, out: &Path) -> String {
    match Session::resume(checkpoint, &registry(), out) {
        Ok(_) => panic!("{} resumed", checkpoint.display()),
        Err(e) => e.to_string(),
    }
}

/// training.csv without its timing columns (seconds_*).
fn untimed_csv(out: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(out.join("training.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !header[i].starts_with("seconds"))
        .collect();
    let mut rows = vec![
        keep.iter()
            .map(|&i| &header[i])
            .collect::<Vec<_>>()
            .join(","),
    ];
    for r in reader.records() {
        let r = r.unwrap();
        rows.push(keep.iter().map(|&i| &r[i]).collect::<Vec<_>>().join(","));
    }
    rows
}

fn step_dirs(out: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_new_run_refuses_an_out_dir_holding_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    train(config(), &out);
    let before = std::fs::read(out.join("training.csv")).unwrap();
    let refused = |name: &str| {
        let err = match Session::new(config(), &registry(), &out) {
            Ok(_) => panic!("a second run started in {}", out.display()),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(&out.display().to_string()), "{err}");
        assert!(err.contains(name) && err.contains("--resume"), "{err}");
    };
    refused("training.csv");
    assert_eq!(std::fs::read(out.join("training.csv")).unwrap(), before);
    std::fs::remove_file(out.join("training.csv")).unwrap();
    refused("train.json");
    std::fs::remove_file(out.join("train.json")).unwrap();
    refused("checkpoints");
}

#[test]
fn resuming_into_the_killed_run_leaves_the_uninterrupted_csv() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    train(config(), &whole);
    // A run killed after step 4's row, its last checkpoint step-3, and a
    // half-written checkpoint and row.
    let killed = dir.path().join("killed");
    train(config(), &killed);
    let csv = std::fs::read_to_string(killed.join("training.csv")).unwrap();
    let cut: Vec<&str> = csv.lines().take(1 + 5).collect();
    std::fs::write(
        killed.join("training.csv"),
        format!("{}\nrrf,5,12", cut.join("\n")),
    )
    .unwrap();
    std::fs::remove_dir_all(killed.join("checkpoints/step-6")).unwrap();
    std::fs::remove_file(killed.join("train.json")).unwrap();
    let partial = killed.join("checkpoints/.step-6.partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join("model.safetensors"), b"half").unwrap();

    Session::resume(&killed.join("checkpoints/step-3"), &registry(), &killed)
        .unwrap()
        .run(|_| {})
        .unwrap();
    assert_eq!(untimed_csv(&killed), untimed_csv(&whole));
    assert_eq!(untimed_csv(&whole).len(), 1 + 6);
    assert!(!partial.exists(), "the partial checkpoint is left behind");
    assert_eq!(step_dirs(&killed), ["step-3", "step-6"]);
}

#[test]
fn old_checkpoints_rotate_out_keeping_the_final_one() {
    let dir = tempfile::tempdir().unwrap();
    let c = TrainConfig {
        checkpoint_every: 1,
        optimizer: OptimizerKind::Adamw,
        ..config()
    };
    train(c.clone(), &dir.path().join("default"));
    assert_eq!(
        step_dirs(&dir.path().join("default")),
        ["step-4", "step-5", "step-6"]
    );
    train(
        TrainConfig {
            keep_checkpoints: 1,
            ..c.clone()
        },
        &dir.path().join("one"),
    );
    assert_eq!(step_dirs(&dir.path().join("one")), ["step-6"]);
    train(
        TrainConfig {
            keep_checkpoints: 0,
            ..c
        },
        &dir.path().join("all"),
    );
    assert_eq!(step_dirs(&dir.path().join("all")).len(), 6);
}

#[test]
fn a_corrupt_checkpoint_is_refused_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    train(config(), &run);
    let copy = |name: &str| {
        let to = dir.path().join(name);
        std::fs::create_dir_all(&to).unwrap();
        for f in std::fs::read_dir(run.join("checkpoints/step-3")).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
        to
    };
    let fix = "resume from another checkpoints/step-N";

    // A next step past the run's steps.
    let ck = copy("absurd");
    let state = ck.join("trainer.json");
    let text = std::fs::read_to_string(&state).unwrap();
    let text = text.replace("\"next_step\": 3", "\"next_step\": 99");
    std::fs::write(&state, text).unwrap();
    let err = resume_err(&ck, &dir.path().join("o1"));
    assert!(err.contains("trainer.json") && err.contains("99"), "{err}");
    assert!(err.contains(fix), "{err}");

    // A next step the optimizer's step count disagrees with.
    let ck = copy("skew");
    let state = ck.join("trainer.json");
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, text.replace("\"next_step\": 3", "\"next_step\": 2")).unwrap();
    let err = resume_err(&ck, &dir.path().join("o2"));
    assert!(err.contains("optimizer.safetensors"), "{err}");
    assert!(err.contains("3 steps") && err.contains(fix), "{err}");

    // Truncated files: the weights, the optimizer's state, the trainer state.
    for name in ["model.safetensors", "optimizer.safetensors", "trainer.json"] {
        let ck = copy(&format!("cut-{name}"));
        let bytes = std::fs::read(ck.join(name)).unwrap();
        std::fs::write(ck.join(name), &bytes[..bytes.len() / 2]).unwrap();
        let err = resume_err(&ck, &dir.path().join(format!("o-{name}")));
        assert!(err.contains(name) && err.contains("truncated"), "{err}");
        assert!(err.contains(fix), "{err}");
    }

    // A tracker state of the wrong shape: refused naming the tensor, the
    // shape it should have and the fix.
    let ck = copy("tracker");
    let path = ck.join("optimizer.safetensors");
    let (mut tensors, meta) = load_f32(&path).unwrap();
    let tracked = tensors
        .iter_mut()
        .find(|x| x.name.ends_with(".tracker.basis"))
        .expect("GaLore checkpoints its trackers");
    tracked.shape.reverse();
    let name = tracked.name.clone();
    let meta: Vec<(&str, String)> = meta.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    save_f32(
        &path,
        tensors
            .iter()
            .map(|x| (x.name.as_str(), x.shape.as_slice(), x.data.as_slice())),
        &meta,
    )
    .unwrap();
    let err = resume_err(&ck, &dir.path().join("o-tracker"));
    assert!(
        err.contains("optimizer.safetensors") && err.contains(&name),
        "{err}"
    );
    assert!(
        err.contains("expected") && err.contains("resume with the config"),
        "{err}"
    );

    // A NaN weight: a corrupt checkpoint naming the tensor, not the lr.
    let ck = copy("nan");
    let layout = Layout::new(&LlamaConfig::tiny());
    let mut params = ParamStore::load(&ck.join("model.safetensors"), &layout).unwrap();
    let name = "model.layers.0.mlp.up_proj.weight";
    params.slice_mut(name).unwrap()[5] = f32::NAN;
    params.save(&ck.join("model.safetensors")).unwrap();
    let err = match Session::resume(&ck, &registry(), &dir.path().join("o3")) {
        Ok(_) => panic!("a NaN weight resumed"),
        Err(e) => e,
    };
    assert!(matches!(err, TrainError::Checkpoint { .. }), "{err}");
    let err = err.to_string();
    assert!(err.contains(name) && err.contains("corrupt"), "{err}");
    assert!(!err.contains("learning rate"), "{err}");
}
