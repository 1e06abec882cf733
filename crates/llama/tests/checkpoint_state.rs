//! A resumed checkpoint's optimizer state is validated before a step runs:
//! a NaN in a moment is a corrupt checkpoint naming the tensor (never blamed
//! on the learning rate), and a directory without `trainer.json` is said
//! not to be a checkpoint, with the fix, and its I/O cause said once.

mod common;

use std::error::Error as _;
use std::path::Path;

use common::registry;
use llama::session::{Session, TrainConfig, TrainError};

fn config() -> TrainConfig {
    TrainConfig {
        checkpoint_every: 3,
        ..common::config()
    }
}

/// Overwrites the first element of `tensor` in the safetensors file `path`
/// with `value` (an F32 tensor), leaving every other byte as it was.
fn poke(path: &Path, tensor: &str, value: f32) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let begin = header[tensor]["data_offsets"][0].as_u64().unwrap() as usize;
    let at = 8 + n + begin;
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// The tensor names of a safetensors file, sorted.
fn names(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut names: Vec<String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    names.sort();
    names
}

#[test]
fn a_non_finite_moment_is_a_corrupt_checkpoint_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    Session::new(config(), &registry(), &run)
        .unwrap()
        .run(|_| {})
        .unwrap();
    let ck = run.join("checkpoints/step-3");
    let opt = ck.join("optimizer.safetensors");
    // The untouched checkpoint resumes: what follows fails for the poke alone.
    assert!(Session::resume(&ck, &registry(), &dir.path().join("ok")).is_ok());

    let all = names(&opt);
    let moment = all
        .iter()
        .find(|n| n.ends_with(".exp_avg_sq"))
        .expect("a second moment in the optimizer state")
        .clone();
    for (i, value) in [f32::NAN, f32::INFINITY].into_iter().enumerate() {
        let copy = dir.path().join(format!("copy{i}"));
        std::fs::create_dir_all(&copy).unwrap();
        for f in std::fs::read_dir(&ck).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
        }
        poke(&copy.join("optimizer.safetensors"), &moment, value);
        let err = match Session::resume(&copy, &registry(), &dir.path().join(format!("o{i}"))) {
            Ok(_) => panic!("a {value} in `{moment}` resumed"),
            Err(e) => e,
        };
        assert!(matches!(err, TrainError::Checkpoint { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("optimizer.safetensors"), "{msg}");
        assert!(msg.contains(&format!("`{moment}`")), "{msg}");
        assert!(msg.contains(&format!("holds {value} at index 0")), "{msg}");
        assert!(
            msg.contains("resume from another checkpoints/step-N"),
            "{msg}"
        );
        assert!(!msg.contains("learning rate"), "{msg}");
    }
}

#[test]
fn unreadable_checkpoint_files_are_called_corrupt_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    Session::new(config(), &registry(), &run)
        .unwrap()
        .run(|_| {})
        .unwrap();
    let ck = run.join("checkpoints/step-3");
    let fix = "the checkpoint is corrupt: resume from another checkpoints/step-N directory";
    let cases: [(&str, Poke, &str); 4] = [
        // A tensor's data_offsets moved by a byte, the length kept.
        (
            "model.safetensors",
            |b| swap_digit(b, "data_offsets\":[0,"),
            "model.safetensors",
        ),
        (
            "optimizer.safetensors",
            |b| swap_digit(b, "data_offsets\":[0,"),
            "optimizer.safetensors",
        ),
        // A moment's name changed: the optimizer misses it.
        (
            "optimizer.safetensors",
            |b| rename(b, b"exp_avg_sq", b"exp_avg_sx"),
            "exp_avg_sq",
        ),
        // trainer.json not UTF-8.
        ("trainer.json", |b| b[1] = 0xff, "not UTF-8"),
    ];
    for (i, (file, poke, what)) in cases.into_iter().enumerate() {
        let copy = dir.path().join(format!("c{i}"));
        std::fs::create_dir_all(&copy).unwrap();
        for f in std::fs::read_dir(&ck).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
        }
        let mut bytes = std::fs::read(copy.join(file)).unwrap();
        poke(&mut bytes);
        std::fs::write(copy.join(file), bytes).unwrap();
        let err = match Session::resume(&copy, &registry(), &dir.path().join(format!("o{i}"))) {
            Ok(_) => panic!("{file} #{i} resumed"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(file) && err.contains(what), "{err}");
        assert!(err.contains(fix), "{err}");
        assert_eq!(
            err.matches(&copy.join(file).display().to_string()).count(),
            1,
            "{err}"
        );
    }
}

/// A change made to a checkpoint file's bytes.
type Poke = fn(&mut Vec<u8>);

/// Changes the digit after the first `key` (9 → 8, else + 1).
fn swap_digit(bytes: &mut [u8], key: &str) {
    let at = bytes
        .windows(key.len())
        .position(|w| w == key.as_bytes())
        .unwrap()
        + key.len();
    bytes[at] = if bytes[at] == b'9' {
        b'8'
    } else {
        bytes[at] + 1
    };
}

/// Replaces the first `from` with `to` (of the same length).
fn rename(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn a_directory_without_trainer_json_is_not_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let err = match Session::resume(dir.path(), &registry(), &dir.path().join("o")) {
        Ok(_) => panic!("an empty directory resumed"),
        Err(e) => e,
    };
    let msg = err.to_string();
    assert!(msg.contains("trainer.json"), "{msg}");
    assert!(msg.contains("is not a checkpoint"), "{msg}");
    assert!(msg.contains("<run>/checkpoints/step-N"), "{msg}");
    // The chain as `lab` prints it (`{:#}`) names the cause once.
    let mut chain = msg.clone();
    let mut cause = err.source();
    while let Some(c) = cause {
        chain.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert_eq!(
        chain.matches("No such file or directory").count(),
        1,
        "{chain}"
    );
}
