//! The `.safetensors` source: every dtype round-trips, bf16 rounding, tensor
//! selection, and each bad file gives an error that names it.

mod common;

use common::*;
use half::{bf16, f16};
use harness::source::{SourceError, Tensors, load, load_file};
use safetensors::Dtype;

/// 3×4 test values with a fractional part in every entry.
fn values() -> Vec<f64> {
    (0..12).map(|k| (k as f64) * 0.37 - 1.1 + 1e-9).collect()
}

#[test]
fn every_dtype_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grads.safetensors");
    let v = values();
    let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    let v16: Vec<f16> = v32.iter().map(|&x| f16::from_f32(x)).collect();
    let vb16: Vec<bf16> = v32.iter().map(|&x| bf16::from_f32(x)).collect();
    write_st(
        &path,
        &[
            ("w.f32", Dtype::F32, vec![3, 4], f32_bytes(&v32)),
            ("w.f64", Dtype::F64, vec![3, 4], f64_bytes(&v)),
            (
                "w.f16",
                Dtype::F16,
                vec![3, 4],
                v16.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            (
                "w.bf16",
                Dtype::BF16,
                vec![3, 4],
                vb16.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
        ],
    );
    let loaded = load(path.to_str().unwrap(), &Tensors::All).unwrap();
    assert!(loaded.notes.is_empty(), "{:?}", loaded.notes);
    let names: Vec<&str> = loaded.matrices.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["w.bf16", "w.f16", "w.f32", "w.f64"]);
    let expect: [(&str, Vec<f32>); 4] = [
        ("w.bf16", vb16.iter().map(|x| x.to_f32()).collect()),
        ("w.f16", v16.iter().map(|x| x.to_f32()).collect()),
        ("w.f32", v32.clone()),
        ("w.f64", v32.clone()), // f64 → nearest f32
    ];
    for (m, (name, want)) in loaded.matrices.iter().zip(expect) {
        assert_eq!(m.name, name);
        assert_eq!(m.source, path);
        assert_eq!((m.matrix.nrows(), m.matrix.ncols()), (3, 4));
        for i in 0..3 {
            for j in 0..4 {
                assert_eq!(m.matrix[(i, j)], want[i * 4 + j], "{name} ({i}, {j})");
            }
        }
    }
    // the low-precision copies differ from f32, so the test tells dtypes apart
    assert_ne!(vb16[1].to_f32(), v32[1]);
    assert_ne!(v16[1].to_f32(), v32[1]);
}

#[test]
fn bf16_rounds_to_nearest_even_and_widens_exactly() {
    // f32 → bf16 (as PyTorch's `.bfloat16()` does) rounds to nearest, ties to even.
    let cases: [(f32, u16, f32); 4] = [
        (0.1, 0x3DCD, 205.0 / 2048.0),                     // 0.10009765625
        (1.0 + 1.0 / 256.0, 0x3F80, 1.0),                  // tie → even (down)
        (1.0 + 3.0 / 256.0, 0x3F82, 1.0 + 1.0 / 64.0),     // tie → even (up)
        (-3.0e38, 0xFF62, -226.0 * (1u128 << 120) as f32), // near the f32 range
    ];
    let bits: Vec<u8> = cases.iter().flat_map(|c| c.1.to_le_bytes()).collect();
    for (x, b, _) in cases {
        assert_eq!(bf16::from_f32(x).to_bits(), b, "{x}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bf16.safetensors");
    write_st(&path, &[("g", Dtype::BF16, vec![2, 2], bits)]);
    let m = &load_file(&path, &Tensors::All, true).unwrap().matrices[0].matrix;
    for (k, (_, b, want)) in cases.iter().enumerate() {
        let got = m[(k / 2, k % 2)];
        assert_eq!(got, *want);
        assert_eq!(got.to_bits(), (*b as u32) << 16, "widening is exact");
    }
}

#[test]
fn non_matrices_are_skipped_with_a_note_unless_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    write_st(
        &path,
        &[
            ("bias", Dtype::F32, vec![4], f32_bytes(&[1.0; 4])),
            ("conv", Dtype::F32, vec![2, 1, 2], f32_bytes(&[1.0; 4])),
            ("empty", Dtype::F32, vec![0, 4], vec![]),
            (
                "w",
                Dtype::F32,
                vec![2, 2],
                f32_bytes(&[1.0, 2.0, 3.0, 4.0]),
            ),
        ],
    );
    let loaded = load(path.to_str().unwrap(), &Tensors::All).unwrap();
    assert_eq!(loaded.matrices.len(), 1);
    assert_eq!(loaded.matrices[0].matrix[(1, 0)], 3.0);
    assert_eq!(loaded.notes.len(), 3, "{:?}", loaded.notes);
    assert!(
        loaded.notes[0].contains("`bias` has shape [4]"),
        "{:?}",
        loaded.notes
    );
    assert!(loaded.notes[1].contains("`conv` has shape [2, 1, 2]"));
    assert!(loaded.notes[2].contains("`empty` is an empty 0×4 matrix"));

    let err = load(path.to_str().unwrap(), &Tensors::parse("bias").unwrap()).unwrap_err();
    assert!(matches!(err, SourceError::NotAMatrix { .. }));
    assert!(names_file(&err, &path).contains("`bias` has shape [4]"));
    let err = load(path.to_str().unwrap(), &Tensors::parse("empty").unwrap()).unwrap_err();
    assert!(matches!(
        err,
        SourceError::EmptyMatrix {
            rows: 0,
            cols: 4,
            ..
        }
    ));
    names_file(&err, &path);

    // A glob that selects only non-matrices yields nothing: an error listing why.
    let err = load(path.to_str().unwrap(), &Tensors::parse("b*").unwrap()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SourceError::NothingLoaded { .. }), "{msg}");
    assert!(msg.contains("`bias` has shape [4]"), "{msg}");
}

#[test]
fn tensor_globs_select_and_a_miss_lists_the_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.safetensors");
    let t = |n| (n, Dtype::F32, vec![1, 2], f32_bytes(&[1.0, 2.0]));
    write_st(
        &path,
        &[
            t("layers.0.q.grad"),
            t("layers.1.q.grad"),
            t("layers.0.k.grad"),
        ],
    );
    let p = path.to_str().unwrap();
    let got = load(p, &Tensors::parse("layers.*.q.grad").unwrap()).unwrap();
    let names: Vec<&str> = got.matrices.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["layers.0.q.grad", "layers.1.q.grad"]);
    assert!(matches!(Tensors::parse("*").unwrap(), Tensors::All));

    let err = load(p, &Tensors::parse("*.v.grad").unwrap()).unwrap_err();
    let msg = names_file(&err, &path);
    assert!(
        msg.contains("no tensor matches the glob `*.v.grad`"),
        "{msg}"
    );
    assert!(msg.contains("`layers.0.k.grad`"), "{msg}");
    let err = load(p, &Tensors::parse("layers.9.q.grad").unwrap()).unwrap_err();
    assert!(names_file(&err, &path).contains("no tensor is named `layers.9.q.grad`"));
    let err = Tensors::parse("layers.[").unwrap_err();
    assert!(
        err.to_string().contains("`layers.[` is not a valid glob"),
        "{err}"
    );
}

#[test]
fn unsupported_dtype_names_the_tensor_and_the_supported_dtypes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ints.safetensors");
    write_st(&path, &[("ids", Dtype::I32, vec![2, 2], vec![0; 16])]);
    let err = load(path.to_str().unwrap(), &Tensors::All).unwrap_err();
    let msg = names_file(&err, &path);
    assert!(matches!(err, SourceError::UnsupportedDtype { .. }));
    assert!(msg.contains("`ids` has dtype I32"), "{msg}");
    assert!(msg.contains("F32, F64, F16, BF16"), "{msg}");
}

#[test]
fn non_finite_entries_are_reported_at_their_first_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.safetensors");
    let mut v = vec![0.5f32; 12]; // 3×4
    v[4 * 2] = f32::INFINITY; // (2, 0)
    v[4 + 2] = f32::NAN; // (1, 2): first in row-major order
    write_st(
        &path,
        &[("layers.3.grad", Dtype::F32, vec![3, 4], f32_bytes(&v))],
    );
    let err = load(path.to_str().unwrap(), &Tensors::All).unwrap_err();
    let msg = names_file(&err, &path);
    assert!(
        matches!(err, SourceError::NonFinite { row: 1, col: 2, ref tensor, .. } if tensor == "layers.3.grad"),
        "{msg}"
    );
    assert!(
        msg.contains("`layers.3.grad` has NaN at (row 1, col 2)"),
        "{msg}"
    );

    // An f16 overflow (as a mixed-precision step can write) is an Inf.
    let path = dir.path().join("inf.safetensors");
    let v16 = [f16::ONE, f16::INFINITY];
    write_st(
        &path,
        &[(
            "g",
            Dtype::F16,
            vec![1, 2],
            v16.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )],
    );
    let err = load(path.to_str().unwrap(), &Tensors::All).unwrap_err();
    assert!(
        names_file(&err, &path).contains("has inf at (row 0, col 1)"),
        "{err}"
    );
}

#[test]
fn truncated_files_are_reported_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    write_st(
        &good,
        &[("w", Dtype::F32, vec![4, 4], f32_bytes(&[1.0; 16]))],
    );
    let bytes = std::fs::read(&good).unwrap();
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for (cut, what) in [
        (bytes.len() - 5, "bytes of tensor data but only"),
        (header_end - 3, "bytes of JSON but only"),
        (4, "fewer than the 8-byte header length"),
        (0, "fewer than the 8-byte header length"),
    ] {
        let path = dir.path().join(format!("cut{cut}.safetensors"));
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let err = load(path.to_str().unwrap(), &Tensors::All).unwrap_err();
        let msg = names_file(&err, &path);
        assert!(matches!(err, SourceError::Truncated { .. }), "{msg}");
        assert!(msg.contains(what), "{msg}");
    }
    // Extra bytes after the data are corruption, not truncation.
    let path = dir.path().join("long.safetensors");
    std::fs::write(&path, [&bytes[..], b"junk"].concat()).unwrap();
    let err = load(path.to_str().unwrap(), &Tensors::All).unwrap_err();
    assert!(
        names_file(&err, &path).contains("4 unexpected bytes"),
        "{err}"
    );
}

#[test]
fn other_files_are_not_taken_for_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.safetensors");
    std::fs::write(&text, "these are my notes, not tensors").unwrap();
    let err = load(text.to_str().unwrap(), &Tensors::All).unwrap_err();
    let msg = names_file(&err, &text);
    assert!(matches!(err, SourceError::WrongMagic { .. }), "{msg}");
    assert!(msg.contains("is not a safetensors file"), "{msg}");

    let npy = dir.path().join("renamed.safetensors");
    std::fs::write(&npy, hand_npy("<f4", false, "(1, 1)", &1f32.to_le_bytes())).unwrap();
    let err = load(npy.to_str().unwrap(), &Tensors::All).unwrap_err();
    assert!(matches!(err, SourceError::WrongMagic { .. }), "{err}");
    names_file(&err, &npy);

    // A plausible length and a `{`, then not JSON: a corrupt header.
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, [&6u64.to_le_bytes()[..], b"{oops}"].concat()).unwrap();
    let err = load(bad.to_str().unwrap(), &Tensors::All).unwrap_err();
    assert!(matches!(err, SourceError::Corrupt { .. }), "{err}");
    names_file(&err, &bad);
}
