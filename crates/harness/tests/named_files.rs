//! Files named exactly in a suite: one that yields no matrix is an error row
//! naming the file, the shape and the fix (a glob's non-matrices stay notes);
//! a safetensors file with no tensors is an error; an empty parameter sweep is
//! refused before anything runs; a corrupt safetensors header names the tensor.

mod common;

use std::path::Path;

use common::*;
use harness::records::Status;
use harness::run;
use harness::runner::RunOptions;
use harness::source::{SourceError, Tensors, load};
use harness::suite::Suite;
use safetensors::Dtype;
use subspace::Registry;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<svd::Svd>().unwrap();
    r.register::<rrf::Rrf>().unwrap();
    r
}

/// A suite over the file (or glob) `path`, one svd method at rank 1.
fn suite(path: &str) -> String {
    format!(
        "ranks = [1]\nrepeats = 1\nwarmup = 0\n\n[[matrix]]\nsource = \"files\"\npath = {path:?}\n\n\
         [[method]]\nplugin = \"svd\"\n"
    )
}

/// Runs the suite over `path`; returns (matrix, status, error) of every row.
fn run(path: &str, root: &Path) -> Vec<(String, Status, String)> {
    let suite = Suite::parse(Path::new("t.toml"), &suite(path), &registry()).unwrap();
    let opts = RunOptions {
        root: root.into(),
        heap: None,
        progress: false,
    };
    let out = run::run(&suite, &registry(), &opts).unwrap();
    out.rows
        .into_iter()
        .map(|r| (r.matrix, r.status, r.error))
        .collect()
}

#[test]
fn a_named_npy_that_is_not_a_matrix_is_an_error_row_a_globbed_one_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let files = [
        ("bias.npy", "(3,)", f32_bytes(&[1.0; 3]), "has shape [3]"),
        (
            "conv.npy",
            "(1, 1, 2)",
            f32_bytes(&[1.0; 2]),
            "has shape [1, 1, 2]",
        ),
        ("empty.npy", "(3, 0)", vec![], "is an empty 3×0 matrix"),
    ];
    for (name, shape, data, _) in &files {
        std::fs::write(d.join(name), hand_npy("<f4", false, shape, data)).unwrap();
    }
    std::fs::write(
        d.join("w.npy"),
        hand_npy("<f4", false, "(2, 2)", &f32_bytes(&[1.0, 2.0, 3.0, 5.0])),
    )
    .unwrap();
    let reports = d.join("reports");
    for (name, _, _, what) in &files {
        let path = d.join(name);
        let rows = run(path.to_str().unwrap(), &reports);
        assert_eq!(rows.len(), 1, "{name}: {rows:?}");
        let (_, status, error) = &rows[0];
        assert_eq!(*status, Status::Error, "{name}: {rows:?}");
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(what), "{error}");
        assert!(
            error.contains("reshape it to 2-D") || error.contains("save a non-empty matrix"),
            "{error}"
        );
    }
    // Matched by a glob, the same files are notes: only w's row.
    let rows = run(&format!("{}/*.npy", d.display()), &reports);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1), ("w", Status::Ok));
}

/// A safetensors file whose JSON header is `header` and data `data`.
fn raw_st(path: &Path, header: &str, data: &[u8]) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_safetensors_file_with_no_tensors_or_no_matrix_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none.safetensors");
    raw_st(&none, r#"{"__metadata__":{"format":"pt"}}"#, &[]);
    let err = load(none.to_str().unwrap(), &Tensors::All).unwrap_err();
    assert!(matches!(err, SourceError::NoTensors { .. }), "{err}");
    assert!(
        names_file(&err, &none).contains("holds no tensors"),
        "{err}"
    );

    let vectors = dir.path().join("vectors.safetensors");
    write_st(
        &vectors,
        &[("bias", Dtype::F32, vec![2], f32_bytes(&[1.0, 2.0]))],
    );
    let reports = dir.path().join("reports");
    for (path, what) in [
        (&none, "holds no tensors"),
        (&vectors, "yields no matrix: skipped"),
    ] {
        let rows = run(path.to_str().unwrap(), &reports);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].1, Status::Error, "{rows:?}");
        let error = &rows[0].2;
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(what), "{error}");
    }
    assert!(
        run(vectors.to_str().unwrap(), &reports)[0]
            .2
            .contains("`bias` has shape [2]")
    );
}

#[test]
fn an_empty_parameter_sweep_is_refused_naming_the_entry_and_key() {
    let text = suite("x.npy").replace(
        "plugin = \"svd\"\n",
        "plugin = \"svd\"\n\n[[method]]\nplugin = \"rrf\"\nparams = { power_iters = [] }\n",
    );
    let err = Suite::parse(Path::new("t.toml"), &text, &registry())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "[[method]] #2 (plugin = \"rrf\"): params.power_iters = [] sweeps over no value"
        ),
        "{err}"
    );
    assert!(err.contains("power_iters = [1]"), "{err}");
}

#[test]
fn offset_and_shape_mismatches_name_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let shape = dir.path().join("shape.safetensors");
    raw_st(
        &shape,
        r#"{"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[4,16]}}"#,
        &[0; 16],
    );
    let err = load(shape.to_str().unwrap(), &Tensors::All).unwrap_err();
    let msg = names_file(&err, &shape);
    assert!(
        msg.contains("tensor `w` has shape [2, 2] of F32, which needs 16 bytes"),
        "{msg}"
    );
    assert!(msg.contains("data_offsets [4, 16] hold 12 bytes"), "{msg}");

    let gap = dir.path().join("gap.safetensors");
    raw_st(
        &gap,
        r#"{"a":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}"#,
        &[0; 12],
    );
    let err = load(gap.to_str().unwrap(), &Tensors::All).unwrap_err();
    let msg = names_file(&err, &gap);
    assert!(
        msg.contains("tensor `w` has data_offsets [8, 12], but its data should start at byte 4"),
        "{msg}"
    );
}
