//! The `.npy` source: f32/f64/f16 in C and Fortran order round-trip (npyz's
//! writer and hand-written bytes), and each bad file gives an error naming it.

mod common;

use common::*;
use half::f16;
use harness::source::{SourceError, Tensors, load, load_file};
use npyz::Order;

/// (i, j) ↦ a value with a fractional part; 2×3.
fn a(i: usize, j: usize) -> f64 {
    (i * 3 + j) as f64 * 0.29 - 0.7 + 1e-9
}

#[track_caller]
fn check(path: &std::path::Path, want: impl Fn(usize, usize) -> f32) {
    let loaded = load(path.to_str().unwrap(), &Tensors::All).unwrap();
    let m = &loaded.matrices[0];
    assert_eq!(m.name, path.file_stem().unwrap().to_str().unwrap());
    assert_eq!((m.matrix.nrows(), m.matrix.ncols()), (2, 3));
    for i in 0..2 {
        for j in 0..3 {
            assert_eq!(
                m.matrix[(i, j)],
                want(i, j),
                "({i}, {j}) of {}",
                path.display()
            );
        }
    }
}

#[test]
fn every_dtype_and_order_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let c = |f: &dyn Fn(usize, usize) -> f64| -> Vec<f64> {
        (0..2)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| f(i, j))
            .collect()
    };
    let fo = |f: &dyn Fn(usize, usize) -> f64| -> Vec<f64> {
        (0..3)
            .flat_map(|j| (0..2).map(move |i| (i, j)))
            .map(|(i, j)| f(i, j))
            .collect()
    };
    let shape = [2u64, 3];
    for (order, tag, flat) in [(Order::C, "c", c(&a)), (Order::Fortran, "f", fo(&a))] {
        let p32 = dir.path().join(format!("g32{tag}.npy"));
        let v32: Vec<f32> = flat.iter().map(|&x| x as f32).collect();
        write_npy(&p32, &shape, order, &v32);
        check(&p32, |i, j| a(i, j) as f32);

        let p64 = dir.path().join(format!("g64{tag}.npy"));
        write_npy(&p64, &shape, order, &flat);
        check(&p64, |i, j| a(i, j) as f32);

        let p16 = dir.path().join(format!("g16{tag}.npy"));
        let v16: Vec<f16> = flat.iter().map(|&x| f16::from_f64(x)).collect();
        write_npy(&p16, &shape, order, &v16);
        check(&p16, |i, j| f16::from_f64(a(i, j)).to_f32());
        assert_ne!(f16::from_f64(a(0, 1)).to_f32(), a(0, 1) as f32);
    }
}

#[test]
fn hand_written_fortran_and_big_endian_files() {
    let dir = tempfile::tempdir().unwrap();
    // [[1, 2, 3], [4, 5, 6]] stored column by column.
    let path = dir.path().join("fortran.npy");
    let cols = f32_bytes(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    std::fs::write(&path, hand_npy("<f4", true, "(2, 3)", &cols)).unwrap();
    check(&path, |i, j| (i * 3 + j + 1) as f32);

    let path = dir.path().join("big.npy");
    let be: Vec<u8> = (1..=6).flat_map(|k| (k as f64).to_be_bytes()).collect();
    std::fs::write(&path, hand_npy(">f8", false, "(2, 3)", &be)).unwrap();
    check(&path, |i, j| (i * 3 + j + 1) as f32);
}

#[test]
fn non_finite_entries_are_reported_in_row_major_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grad.npy");
    // Fortran order: storage meets (1, 0) before (0, 2); row-major order meets (0, 2).
    let mut cols = [1.0f32; 6];
    cols[1] = f32::NEG_INFINITY; // (1, 0)
    cols[4] = f32::NAN; // (0, 2)
    std::fs::write(&path, hand_npy("<f4", true, "(2, 3)", &f32_bytes(&cols))).unwrap();
    let err = load(path.to_str().unwrap(), &Tensors::All).unwrap_err();
    let msg = names_file(&err, &path);
    assert!(
        matches!(err, SourceError::NonFinite { row: 0, col: 2, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("tensor `grad` has NaN at (row 0, col 2)"),
        "{msg}"
    );
}

#[test]
fn truncated_and_foreign_files_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = hand_npy("<f8", false, "(2, 3)", &f64_bytes(&[0.5; 6]));
    let header_end = bytes.len() - 48;
    for (cut, what) in [
        (bytes.len() - 1, "needs 48 bytes of data but only 47"),
        (header_end, "needs 48 bytes of data but only 0"),
        (header_end - 10, "the header announces"),
        (9, "inside the header length"),
        (6, "ends after the magic"),
        (3, "cut inside the 6-byte magic"),
        (0, "cut inside the 6-byte magic"),
    ] {
        let path = dir.path().join(format!("cut{cut}.npy"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = load_file(&path, &Tensors::All, true).unwrap_err();
        let msg = names_file(&err, &path);
        assert!(matches!(err, SourceError::Truncated { .. }), "{msg}");
        assert!(msg.contains(what), "{msg}");
    }
    let path = dir.path().join("text.npy");
    std::fs::write(&path, "hello").unwrap(); // not a prefix of the magic
    let err = load_file(&path, &Tensors::All, true).unwrap_err();
    let msg = names_file(&err, &path);
    assert!(matches!(err, SourceError::WrongMagic { .. }), "{msg}");
    assert!(msg.contains("not a npy file"), "{msg}");

    let path = dir.path().join("long.npy");
    std::fs::write(&path, [&bytes[..], &[0u8; 8]].concat()).unwrap();
    let err = load_file(&path, &Tensors::All, true).unwrap_err();
    assert!(
        names_file(&err, &path).contains("8 unexpected bytes"),
        "{err}"
    );

    let path = dir.path().join("dict.npy");
    std::fs::write(&path, hand_npy("<f4", false, "(2, oops)", &[0; 24])).unwrap();
    let err = load_file(&path, &Tensors::All, true).unwrap_err();
    assert!(matches!(err, SourceError::Corrupt { .. }), "{err}");
    names_file(&err, &path);
}

#[test]
fn unsupported_dtypes_name_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.npy");
    std::fs::write(&path, hand_npy("<i4", false, "(1, 2)", &[0; 8])).unwrap();
    let err = load_file(&path, &Tensors::All, true).unwrap_err();
    let msg = names_file(&err, &path);
    assert!(msg.contains("`ids` has dtype '<i4'"), "{msg}");
    assert!(msg.contains("float32, float64, float16"), "{msg}");

    // numpy.save of an ml_dtypes bfloat16 array writes '<V2'.
    let path = dir.path().join("bf16.npy");
    std::fs::write(&path, hand_npy("<V2", false, "(1, 2)", &[0; 4])).unwrap();
    let err = load_file(&path, &Tensors::All, true).unwrap_err();
    let msg = names_file(&err, &path);
    assert!(
        msg.contains("ml_dtypes bfloat16") && msg.contains("astype(np.float32)"),
        "{msg}"
    );
}

#[test]
fn non_matrices_are_errors_when_named_and_notes_when_globbed() {
    let dir = tempfile::tempdir().unwrap();
    let vec = dir.path().join("bias.npy");
    std::fs::write(&vec, hand_npy("<f4", false, "(3,)", &f32_bytes(&[1.0; 3]))).unwrap();
    let cube = dir.path().join("conv.npy");
    std::fs::write(
        &cube,
        hand_npy("<f4", false, "(1, 1, 2)", &f32_bytes(&[1.0; 2])),
    )
    .unwrap();
    let empty = dir.path().join("empty.npy");
    std::fs::write(&empty, hand_npy("<f4", false, "(3, 0)", &[])).unwrap();
    let ok = dir.path().join("w.npy");
    std::fs::write(&ok, hand_npy("<f4", false, "(1, 1)", &f32_bytes(&[2.0]))).unwrap();

    let err = load(vec.to_str().unwrap(), &Tensors::All).unwrap_err();
    assert!(matches!(err, SourceError::NotAMatrix { .. }), "{err}");
    assert!(names_file(&err, &vec).contains("shape [3]"));
    let err = load(empty.to_str().unwrap(), &Tensors::All).unwrap_err();
    assert!(
        matches!(
            err,
            SourceError::EmptyMatrix {
                rows: 3,
                cols: 0,
                ..
            }
        ),
        "{err}"
    );
    names_file(&err, &empty);

    let pattern = format!("{}/*.npy", dir.path().display());
    let loaded = load(&pattern, &Tensors::All).unwrap();
    assert_eq!(loaded.matrices.len(), 1);
    assert_eq!(loaded.matrices[0].name, "w");
    assert_eq!(loaded.notes.len(), 3, "{:?}", loaded.notes);
}
