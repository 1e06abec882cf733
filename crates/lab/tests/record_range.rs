//! `lab train --set record_steps=A..B[:S]`: a bare range is read as the
//! range, recorded step by step and saved as written; a bad one is refused
//! naming the key.

mod common;

/// (success, stderr).
fn lab(args: &[&str]) -> (bool, String) {
    let (ok, _, err) = common::lab(args);
    (ok, err)
}

fn train(out: &std::path::Path, range: &str) -> (bool, String) {
    let set = format!("record_steps={range}");
    lab(&[
        "train",
        "--preset",
        "tiny",
        "--set",
        "seq_len=16",
        "--set",
        "batch_size=1",
        "--set",
        "record_tensors=[\"lm_head.weight\"]",
        "--set",
        &set,
        "--steps",
        "5",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn a_range_of_record_steps_records_each_of_its_steps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (ok, err) = train(&out, "1..5:2");
    assert!(ok, "{err}");
    let grads: Vec<bool> = (0..5)
        .map(|s| out.join(format!("grads/step-{s}.safetensors")).is_file())
        .collect();
    assert_eq!(grads, [false, true, false, true, false]);
    let text = std::fs::read_to_string(out.join("train.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(summary["config"]["record_steps"], "1..5:2");
}

#[test]
fn a_bad_range_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (range, needle) in [("3..1", "needs B > A"), ("0..9", "past steps = 5")] {
        let (ok, err) = train(&dir.path().join(range), range);
        assert!(!ok, "{range}: accepted");
        assert!(
            err.contains("record_steps") && err.contains(needle),
            "{range}: {err}"
        );
    }
}
