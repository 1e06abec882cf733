//! `record_steps` as a range: read from TOML as written ("A..B", "A..B:S"),
//! saved back as written, recording exactly the range's steps; a bad range
//! is refused naming the key.

mod common;

use common::{config, registry};
use llama::session::{RecordSteps, Session, TrainConfig};

fn with_steps(text: &str) -> Result<TrainConfig, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let base = toml::Value::try_from(config()).map_err(|e| e.to_string())?;
    let mut merged = base.as_table().cloned().unwrap_or_default();
    merged.extend(std::mem::take(&mut table));
    toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| e.to_string())
}

#[test]
fn a_range_records_every_step_of_it_and_saves_as_written() {
    let c = with_steps("record_steps = \"1..6:2\"\nrecord_tensors = [\"lm_head.weight\"]").unwrap();
    assert_eq!(
        c.record_steps,
        RecordSteps::Range {
            start: 1,
            end: 6,
            stride: 2
        }
    );
    assert_eq!(c.record_steps, [1, 3, 5]);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["record_steps"], "1..6:2");
    let dir = tempfile::tempdir().unwrap();
    let summary = Session::new(c, &registry(), dir.path())
        .unwrap()
        .run(|_| {})
        .unwrap();
    let names: Vec<String> = summary
        .recorded
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "step-1.safetensors",
            "step-3.safetensors",
            "step-5.safetensors"
        ]
    );
    let list = with_steps("record_steps = [0, 2]").unwrap();
    assert_eq!(list.record_steps, [0, 2]);
    assert_eq!(
        serde_json::to_value(&list).unwrap()["record_steps"],
        serde_json::json!([0, 2])
    );
}

#[test]
fn bad_ranges_are_refused_naming_the_key() {
    for (text, needle) in [
        ("\"4..2\"", "needs B > A"),
        ("\"0..4:0\"", "stride 0"),
        ("\"0..7\"", "past steps = 6"),
        ("\"zero..4\"", "A..B:S"),
        ("3.5", "A..B:S"),
    ] {
        let err = match with_steps(&format!("record_steps = {text}")) {
            Err(e) => e,
            Ok(c) => match c.validate(&registry()) {
                Err(e) => e.to_string(),
                Ok(()) => panic!("{text}: accepted"),
            },
        };
        assert!(
            err.contains("record_steps") && err.contains(needle),
            "{text}: {err}"
        );
    }
    let whole = with_steps("record_steps = \"0..6\"").unwrap();
    assert!(
        whole.validate(&registry()).is_ok(),
        "B = steps is the last step + 1"
    );
}
