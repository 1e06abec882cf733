//! The committed fixtures written by `data/fixtures/make_fixtures.py` (numpy and
//! the `safetensors` Python package, the formats PyTorch writes) load with the
//! shapes, sums and entries the script recorded in `expected.json`.

use std::path::PathBuf;

use harness::source::{Tensors, load};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures")
}

#[track_caller]
fn check(name: &str, m: &faer::Mat<f32>, want: &Value) {
    let shape: Vec<usize> = want["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    assert_eq!([m.nrows(), m.ncols()], shape[..], "{name}");
    let mut sum = 0f64;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            sum += m[(i, j)] as f64;
        }
    }
    let want_sum = want["sum"].as_f64().unwrap();
    assert!(
        (sum - want_sum).abs() <= 1e-9 * (1.0 + want_sum.abs()),
        "{name}: sum {sum} vs {want_sum}"
    );
    for e in want["entries"].as_array().unwrap() {
        let (i, j) = (
            e[0].as_u64().unwrap() as usize,
            e[1].as_u64().unwrap() as usize,
        );
        // The script wrote each entry as the float64 of an f32: exact.
        assert_eq!(
            m[(i, j)],
            e[2].as_f64().unwrap() as f32,
            "{name} ({i}, {j})"
        );
    }
}

#[test]
fn python_written_fixtures_load_unchanged() {
    let dir = fixtures();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();

    let st = dir.join("torch_like.safetensors");
    let loaded = load(st.to_str().unwrap(), &Tensors::All).unwrap();
    let want = expected["torch_like.safetensors"].as_object().unwrap();
    assert_eq!(loaded.matrices.len(), want.len());
    for m in &loaded.matrices {
        check(&m.name, &m.matrix, &want[&m.name]);
    }
    let skipped = expected["torch_like.safetensors.skipped"][0]
        .as_str()
        .unwrap();
    assert_eq!(loaded.notes.len(), 1);
    assert!(loaded.notes[0].contains(skipped), "{:?}", loaded.notes);

    let npys = expected["npy"].as_object().unwrap();
    let loaded = load(&format!("{}/*.npy", dir.display()), &Tensors::All).unwrap();
    assert_eq!(loaded.matrices.len(), npys.len());
    for m in &loaded.matrices {
        let file = m.source.file_name().unwrap().to_str().unwrap();
        check(file, &m.matrix, &npys[file]);
    }
}
