//! Tests of the CUDA plugins. Those that need a GPU print
//! `skipped: no CUDA device (<reason>)` and pass where there is none; the
//! rest (params, the unavailable path, guarantees) run everywhere.

use cuda_rrf::svd::{Factor, left_vectors, widened_tall};
use cuda_rrf::{
    CudaRrf, CudaRrfParams, CudaSvd, CudaSvdParams, GemmPrecision, Normalizer, SmallSvd, SvdDriver,
    SvdPrecision, Truncate,
};
use faer::{Mat, MatRef, Par};
use subspace::generate::{self, Spectrum};
use subspace::metrics::{accuracy, bound_for};
use subspace::reference::ReferenceSvd;
use subspace::testkit;
use subspace::{Context, Device, Guarantee, Plugin, PluginEntry, SubspaceError, SubspaceMethod};

fn rrf(params: CudaRrfParams) -> CudaRrf {
    CudaRrf::new(params).expect("valid params")
}

/// The default cuda-rrf when a device is usable, else prints the skip line.
fn device_or_skip(test: &str) -> bool {
    match rrf(CudaRrfParams::default()).availability() {
        Ok(()) => true,
        Err(reason) => {
            println!("{test}: skipped: no CUDA device ({reason})");
            false
        }
    }
}

/// cuda-rrf and cuda-svd with their default params.
fn both_defaults() -> [Box<dyn SubspaceMethod>; 2] {
    [
        Box::new(rrf(CudaRrfParams::default())),
        Box::new(CudaSvd::new(CudaSvdParams::default()).unwrap()),
    ]
}

#[track_caller]
fn max_abs_diff(a: MatRef<'_, f32>, b: MatRef<'_, f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    let mut d = 0f32;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            d = d.max((a[(i, j)] - b[(i, j)]).abs());
        }
    }
    d
}

// ----- everywhere ------------------------------------------------------------

#[test]
fn availability_never_panics_and_gives_a_reason() {
    let methods = both_defaults();
    for m in &methods {
        assert!(matches!(m.device(), Device::Cuda(0)));
        match m.availability() {
            Ok(()) => println!("{}: available", m.name()),
            Err(reason) => {
                assert!(
                    !reason.is_empty(),
                    "{}: empty unavailability reason",
                    m.name()
                );
                println!("{}: unavailable: {reason}", m.name());
                // A call says so as an error value, naming the method.
                let a = generate::gaussian(20, 10, 1);
                let err = m
                    .left_basis(a.as_ref(), 3, &mut Context::new(0))
                    .unwrap_err();
                assert_eq!(
                    err,
                    SubspaceError::Unavailable {
                        method: m.name().into(),
                        reason: reason.clone()
                    }
                );
            }
        }
    }
    // A device that does not exist is unavailable too, never a panic.
    let far = rrf(CudaRrfParams {
        device: 1000,
        ..Default::default()
    });
    assert!(far.availability().is_err());
}

#[test]
fn batch_without_device_returns_one_error_per_matrix() {
    let method = rrf(CudaRrfParams::default());
    if method.availability().is_ok() {
        println!(
            "batch_without_device_returns_one_error_per_matrix: skipped: a CUDA device is present"
        );
        return;
    }
    let a = generate::gaussian(30, 20, 1);
    let mut bad = a.clone();
    bad[(2, 3)] = f32::NAN;
    let mut ctx = Context::new(5);
    let out = method.left_basis_batch(&[a.as_ref(), bad.as_ref(), a.as_ref()], 4, &mut ctx);
    assert_eq!(out.len(), 3);
    assert_eq!(ctx.draws(), 3, "each matrix takes one draw");
    assert!(matches!(out[0], Err(SubspaceError::Unavailable { .. })));
    assert!(matches!(
        out[1],
        Err(SubspaceError::NonFinite { row: 2, col: 3, .. })
    ));
    assert!(matches!(out[2], Err(SubspaceError::Unavailable { .. })));
}

#[test]
fn params_parse_from_toml_and_reject_unknown_keys() {
    let entry = PluginEntry::of::<CudaRrf>();
    let table: toml::Table = toml::from_str(
        r#"oversample = 5
           power_iters = 2
           normalizer = "cholqr2"
           truncate = "inside"
           gemm = "tf32"
           small_svd = "gesvd"
           warm_start = true
           device = 0
           count_transfers = false
           streams = 2"#,
    )
    .unwrap();
    let p: CudaRrfParams = toml::Value::Table(table.clone()).try_into().unwrap();
    assert_eq!(
        p,
        CudaRrfParams {
            oversample: 5,
            power_iters: 2,
            normalizer: Normalizer::Cholqr2,
            truncate: Truncate::Inside,
            gemm: GemmPrecision::Tf32,
            small_svd: SmallSvd::Gesvd,
            warm_start: true,
            device: 0,
            count_transfers: false,
            streams: 2,
        }
    );
    assert!(entry.build(&table).is_ok());
    let bad: toml::Table = toml::from_str("oversampling = 5").unwrap();
    let err = entry
        .build(&bad)
        .err()
        .expect("unknown key must fail")
        .to_string();
    assert!(err.contains("oversampling"), "{err}");
    let bad: toml::Table = toml::from_str("gemm = \"fp8\"").unwrap();
    assert!(entry.build(&bad).is_err());
    let zero: toml::Table = toml::from_str("streams = 0").unwrap();
    assert!(entry.build(&zero).is_err());
    for doc in entry.params() {
        assert!(!doc.doc.is_empty(), "param {} is undocumented", doc.name);
    }

    let svd = PluginEntry::of::<CudaSvd>();
    assert_eq!(CudaSvdParams::default().precision, SvdPrecision::F64);
    let t: toml::Table = toml::from_str("driver = \"gesvdj\"\nprecision = \"f32\"").unwrap();
    let p: CudaSvdParams = toml::Value::Table(t.clone()).try_into().unwrap();
    assert_eq!(p.driver, SvdDriver::Gesvdj);
    assert_eq!(p.precision, SvdPrecision::F32);
    assert!(svd.build(&t).is_ok());
    assert!(
        svd.build(&toml::from_str("precision = \"f16\"").unwrap())
            .is_err()
    );
    for doc in svd.params() {
        assert!(!doc.doc.is_empty(), "param {} is undocumented", doc.name);
    }
    assert!(
        svd.build(&toml::from_str("driver = \"gesvdr\"").unwrap())
            .is_err()
    );
}

/// The f64 path of cuda-svd lays X out and reads A's left vectors back on
/// the host; cuSOLVER's part is emulated here by faer's f64 SVD of the very
/// buffer the path would upload, written back in cuSOLVER's column-major
/// layouts (U, V from gesvdj, Vᵀ from gesvd). The result must be A's optimal
/// basis against the independent f64 reference, for tall, wide and square
/// inputs, column-major and transposed (row-major) views.
#[test]
fn f64_svd_host_layout_and_read_back() {
    let cases = [(300, 120), (120, 300), (90, 90)];
    for (m, n) in cases {
        let owned = generate::with_spectrum(m, n, Spectrum::Exponential { rate: 0.05 }, 17);
        let transposed_owned =
            generate::with_spectrum(n, m, Spectrum::Exponential { rate: 0.05 }, 17);
        for (view, label) in [
            (owned.as_ref(), "column-major"),
            (transposed_owned.as_ref().transpose(), "row-major view"),
        ] {
            let (r, c) = (m.max(n), m.min(n));
            let x = widened_tall(view);
            assert_eq!(x.len(), r * c);
            // X as the device would hold it, checked entry by entry.
            let xm = faer::Mat::<f64>::from_fn(r, c, |i, j| x[j * r + i]);
            for j in 0..c {
                for i in 0..r {
                    let a = if m >= n { view[(i, j)] } else { view[(j, i)] };
                    assert_eq!(xm[(i, j)], a as f64, "{m}×{n} {label}: X[{i},{j}]");
                }
            }
            let svd = xm.thin_svd().expect("faer f64 SVD");
            let col_major = |mat: MatRef<'_, f64>| -> Vec<f64> {
                (0..mat.ncols())
                    .flat_map(|j| (0..mat.nrows()).map(move |i| mat[(i, j)]))
                    .collect()
            };
            let reference = ReferenceSvd::new(view, Par::Seq).unwrap();
            let k = c / 3;
            let factors = if m >= n {
                vec![(Factor::U, col_major(svd.U()))]
            } else {
                vec![
                    (Factor::V, col_major(svd.V())),
                    (Factor::Vt, col_major(svd.V().transpose())),
                ]
            };
            for (factor, host) in factors {
                let q = left_vectors(&host, m, k, factor);
                assert_eq!(q.shape(), (m, k));
                let acc = accuracy(&reference, q.as_ref(), Par::Seq).unwrap();
                assert!(
                    acc.err_fro <= 1.0 + 1e-5 && acc.ortho <= 1e-5,
                    "{m}×{n} {label} {factor:?}: err_fro {}, ortho {}",
                    acc.err_fro,
                    acc.ortho
                );
            }
        }
    }
    // A wrong read (U's layout for Vᵀ) is caught by the same check.
    let a = generate::with_spectrum(40, 100, Spectrum::Exponential { rate: 0.2 }, 3);
    let xm = {
        let x = widened_tall(a.as_ref());
        faer::Mat::<f64>::from_fn(100, 40, |i, j| x[j * 100 + i])
    };
    let vt: Vec<f64> = {
        let svd = xm.thin_svd().unwrap();
        let v = svd.V();
        (0..40)
            .flat_map(|j| (0..40).map(move |i| v[(j, i)]))
            .collect()
    };
    let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
    let wrong = left_vectors(&vt, 40, 10, Factor::V);
    let acc = accuracy(&reference, wrong.as_ref(), Par::Seq).unwrap();
    assert!(
        acc.err_fro > 1.01,
        "a transposed read must not pass: {}",
        acc.err_fro
    );
}

#[test]
fn device_bytes_are_none_without_a_device() {
    let methods = both_defaults();
    for m in &methods {
        if m.availability().is_err() {
            assert_eq!(m.device_bytes(), None, "{}", m.name());
        } else {
            println!("device_bytes_are_none_without_a_device: skipped: a CUDA device is present");
        }
    }
}

#[test]
fn guarantees_mirror_the_cpu_rrf() {
    let d = rrf(CudaRrfParams::default());
    assert_eq!(
        d.guarantee(4096, 4096, 128),
        Guarantee::Randomized {
            rank: 128,
            oversample: 10,
            power_iters: 1,
            truncated: true
        }
    );
    assert_eq!(
        d.guarantee(100, 50, 38),
        Guarantee::Randomized {
            rank: 38,
            oversample: 10,
            power_iters: 1,
            truncated: true
        }
    );
    // p is capped so that k + p ≤ min(m, n): a sketch that wide is exact.
    assert_eq!(d.width(100, 50, 45), 50);
    assert_eq!(d.guarantee(100, 50, 45), Guarantee::Exact);
    let inside = rrf(CudaRrfParams {
        truncate: Truncate::Inside,
        ..Default::default()
    });
    assert_eq!(
        inside.guarantee(512, 512, 128),
        Guarantee::Randomized {
            rank: 118,
            oversample: 10,
            power_iters: 1,
            truncated: false
        }
    );
    assert_eq!(
        CudaSvd::new(CudaSvdParams::default())
            .unwrap()
            .guarantee(30, 20, 5),
        Guarantee::Exact
    );
    // The device-byte prediction covers at least A, the sketch and Q_k.
    let (m, n, k) = (4096, 4096, 128);
    assert!(d.workspace_bytes(m, n, k) >= 4 * (m * n + n * 138 + m * 138 + m * k));
}

#[test]
fn draw_seeds_differ_by_seed_and_draw() {
    use cuda_rrf::rrf::draw_seed;
    assert_ne!(draw_seed(1, 0), draw_seed(1, 1));
    assert_ne!(draw_seed(1, 0), draw_seed(2, 0));
    assert_eq!(draw_seed(7, 3), draw_seed(7, 3));
}

// ----- on a GPU ----------------------------------------------------------------

#[test]
fn gpu_conformance_kit() {
    if !device_or_skip("gpu_conformance_kit") {
        return;
    }
    for p in CudaRrf::conformance_params() {
        println!("cuda-rrf {p:?}");
        let m = rrf(p);
        testkit::check_shapes(&m);
        testkit::check_errors(&m);
        testkit::check_degenerate(&m);
        testkit::check_accuracy(&m, 5);
        testkit::check_determinism(&m);
    }
    for p in CudaSvd::conformance_params() {
        println!("cuda-svd {p:?}");
        let m = CudaSvd::new(p).unwrap();
        testkit::check_shapes(&m);
        testkit::check_errors(&m);
        testkit::check_degenerate(&m);
        testkit::check_accuracy(&m, 1);
    }
}

#[test]
fn gpu_accuracy_against_reference_and_hmt_bound() {
    if !device_or_skip("gpu_accuracy_against_reference_and_hmt_bound") {
        return;
    }
    let spectrum = Spectrum::Polynomial { power: 1.0 };
    for (m, n, k) in [(600, 400, 20), (400, 600, 20), (512, 1376, 64)] {
        let a = generate::with_spectrum(m, n, spectrum, 3);
        let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
        let floor = testkit::roundoff_floor(m, n, reference.norm_fro());
        for gemm in [GemmPrecision::F32, GemmPrecision::Tf32, GemmPrecision::Bf16] {
            for q in [0, 1, 2] {
                let method = rrf(CudaRrfParams {
                    gemm,
                    power_iters: q,
                    ..Default::default()
                });
                let (mut fro, mut spec, draws) = (0.0, 0.0, 5);
                for seed in 0..draws {
                    let b = method
                        .left_basis(a.as_ref(), k, &mut Context::new(seed))
                        .unwrap();
                    testkit::assert_orthonormal(
                        "cuda-rrf",
                        &format!("{m}×{n} {gemm:?} q={q}"),
                        b.q.as_ref(),
                    );
                    let acc = accuracy(&reference, b.q.as_ref(), Par::Seq).unwrap();
                    fro += acc.residual_fro / draws as f64;
                    spec += acc.residual_spec / draws as f64;
                }
                let bound =
                    bound_for(reference.singular_values(), method.guarantee(m, n, k)).unwrap();
                let err_fro = fro / reference.tail_fro(k);
                println!("{m}×{n} k={k} {gemm:?} q={q}: mean err_fro {err_fro:.4}");
                // Reduced-precision products add their own error: bf16 (8 bits) is
                // only held to a loose bound.
                let slack = if gemm == GemmPrecision::Bf16 {
                    1.5
                } else {
                    1.0
                };
                if let Some(bf) = bound.fro {
                    assert!(
                        fro <= slack * bf + floor,
                        "{m}×{n} {gemm:?} q={q}: ‖A − QQᵀA‖_F {fro:.4e} > HMT {bf:.4e}"
                    );
                }
                assert!(
                    spec <= slack * bound.spec + floor,
                    "{m}×{n} {gemm:?} q={q}: ‖A − QQᵀA‖₂ {spec:.4e} > HMT {:.4e}",
                    bound.spec
                );
            }
        }
        for driver in [SvdDriver::Gesvd, SvdDriver::Gesvdj] {
            for precision in [SvdPrecision::F64, SvdPrecision::F32] {
                let svd = CudaSvd::new(CudaSvdParams {
                    driver,
                    precision,
                    ..Default::default()
                })
                .unwrap();
                let b = svd.left_basis(a.as_ref(), k, &mut Context::new(0)).unwrap();
                let acc = accuracy(&reference, b.q.as_ref(), Par::Seq).unwrap();
                println!(
                    "cuda-svd {driver:?} {precision:?} {m}×{n} k={k}: err_fro {:.6}, ortho {:.1e}",
                    acc.err_fro, acc.ortho
                );
                assert!(
                    acc.err_fro <= 1.001,
                    "cuda-svd {driver:?} {precision:?} {m}×{n}: err_fro {}",
                    acc.err_fro
                );
                if precision == SvdPrecision::F64 {
                    // f64 arithmetic, rounded once to f32.
                    assert!(
                        acc.ortho <= 1e-5,
                        "cuda-svd {driver:?} f64 {m}×{n}: ‖QᵀQ − I‖_F {}",
                        acc.ortho
                    );
                }
            }
        }
    }
}

#[test]
fn gpu_transposed_view_equals_copied_transpose() {
    if !device_or_skip("gpu_transposed_view_equals_copied_transpose") {
        return;
    }
    // GaLore passes Aᵀ as a view; the method must read it without a copy
    // and give the Q of the materialized transpose.
    let g = generate::with_spectrum(1376, 512, Spectrum::Polynomial { power: 1.0 }, 9);
    let view = g.transpose();
    let copied: Mat<f32> = view.to_owned();
    let method = rrf(CudaRrfParams::default());
    let q1 = method.left_basis(view, 32, &mut Context::new(1)).unwrap().q;
    let q2 = method
        .left_basis(copied.as_ref(), 32, &mut Context::new(1))
        .unwrap()
        .q;
    let p1 = &q1 * q1.transpose();
    let p2 = &q2 * q2.transpose();
    let d = max_abs_diff(p1.as_ref(), p2.as_ref());
    assert!(d < 1e-4, "projectors differ by {d}");
}

#[test]
fn gpu_determinism_and_batch_agree_with_single_calls() {
    if !device_or_skip("gpu_determinism_and_batch_agree_with_single_calls") {
        return;
    }
    let method = rrf(CudaRrfParams::default());
    let shapes = [(512, 512), (512, 1376), (300, 200), (512, 512), (200, 300)];
    let mats: Vec<Mat<f32>> = shapes
        .iter()
        .enumerate()
        .map(|(i, &(m, n))| {
            generate::with_spectrum(m, n, Spectrum::Polynomial { power: 1.0 }, 50 + i as u64)
        })
        .collect();
    let k = 16;
    // Same seed, same bits.
    let q1 = method
        .left_basis(mats[0].as_ref(), k, &mut Context::new(3))
        .unwrap()
        .q;
    let q2 = method
        .left_basis(mats[0].as_ref(), k, &mut Context::new(3))
        .unwrap()
        .q;
    assert_eq!(
        max_abs_diff(q1.as_ref(), q2.as_ref()),
        0.0,
        "same seed, different Q"
    );
    let q3 = method
        .left_basis(mats[0].as_ref(), k, &mut Context::new(4))
        .unwrap()
        .q;
    assert!(
        max_abs_diff(q1.as_ref(), q3.as_ref()) > 0.0,
        "different seeds, same Q"
    );

    // The batch gives matrix i the draw of the i-th single call.
    let refs: Vec<MatRef<'_, f32>> = mats.iter().map(|a| a.as_ref()).collect();
    let mut ctx = Context::new(11);
    let batch = method.left_basis_batch(&refs, k, &mut ctx);
    assert_eq!(ctx.draws(), mats.len() as u64);
    let mut ctx = Context::new(11);
    for (i, a) in refs.iter().enumerate() {
        let single = method.left_basis(*a, k, &mut ctx).unwrap().q;
        let b = batch[i].as_ref().unwrap();
        let d = max_abs_diff(single.as_ref(), b.q.as_ref());
        assert!(d < 1e-5, "matrix {i}: batch and single differ by {d}");
    }
}

#[test]
fn gpu_bad_inputs() {
    if !device_or_skip("gpu_bad_inputs") {
        return;
    }
    for method in [
        rrf(CudaRrfParams::default()),
        rrf(CudaRrfParams {
            normalizer: Normalizer::Cholqr2,
            ..Default::default()
        }),
    ] {
        let mut a = generate::gaussian(64, 48, 2);
        a[(5, 7)] = f32::NAN;
        let err = method
            .left_basis(a.as_ref(), 8, &mut Context::new(0))
            .unwrap_err();
        assert!(
            matches!(err, SubspaceError::NonFinite { row: 5, col: 7, .. }),
            "{err}"
        );
        let zero = Mat::<f32>::zeros(64, 48);
        let q = method
            .left_basis(zero.as_ref(), 8, &mut Context::new(0))
            .unwrap()
            .q;
        testkit::assert_orthonormal("cuda-rrf", "zero matrix", q.as_ref());
        // Exactly rank 3 with ℓ = 18: CholeskyQR2 must fall back to QR.
        let low = generate::with_spectrum(64, 48, Spectrum::Rank { r: 3 }, 4);
        let q = method
            .left_basis(low.as_ref(), 8, &mut Context::new(0))
            .unwrap()
            .q;
        testkit::assert_orthonormal("cuda-rrf", "rank 3", q.as_ref());
    }
    let svd = CudaSvd::new(CudaSvdParams::default()).unwrap();
    let zero = Mat::<f32>::zeros(40, 60);
    let q = svd
        .left_basis(zero.as_ref(), 5, &mut Context::new(0))
        .unwrap()
        .q;
    testkit::assert_orthonormal("cuda-svd", "zero matrix", q.as_ref());
}

#[test]
fn gpu_warm_start_and_workspace_bytes() {
    if !device_or_skip("gpu_warm_start_and_workspace_bytes") {
        return;
    }
    let a = generate::with_spectrum(512, 1376, Spectrum::Polynomial { power: 1.0 }, 21);
    let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap();
    let k = 32;
    let cold = rrf(CudaRrfParams {
        power_iters: 0,
        ..Default::default()
    });
    let q0 = cold
        .left_basis(a.as_ref(), k, &mut Context::new(1))
        .unwrap()
        .q;
    let warm = rrf(CudaRrfParams {
        power_iters: 0,
        warm_start: true,
        ..Default::default()
    });
    let mut ctx = Context::new(2).with_warm_start(q0.as_ref());
    let q1 = warm.left_basis(a.as_ref(), k, &mut ctx).unwrap().q;
    let e0 = accuracy(&reference, q0.as_ref(), Par::Seq).unwrap().err_fro;
    let e1 = accuracy(&reference, q1.as_ref(), Par::Seq).unwrap().err_fro;
    println!("warm start: err_fro cold {e0:.4}, warm {e1:.4}");
    assert!(
        e1 <= e0 * 1.01,
        "a warm start from a basis must not be worse: {e1} vs {e0}"
    );

    // Predicted against held device bytes after one call.
    let method = rrf(CudaRrfParams::default());
    let (m, n) = (2048, 2048);
    let big = generate::gaussian(m, n, 5);
    method
        .left_basis(big.as_ref(), 128, &mut Context::new(0))
        .unwrap();
    let held = method.device_bytes().expect("measured after a call");
    let predicted = method.workspace_bytes(m, n, 128);
    println!("cuda-rrf device bytes: predicted {predicted}, held {held}");
    assert!(held as f64 <= 1.5 * predicted as f64 && predicted as f64 <= 1.5 * held as f64);

    // cuda-svd's f64 path holds X, U (tall) and Σ in f64 at least; the
    // solver scratch is the library's, so the prediction is only printed.
    for (m, n) in [(1024, 512), (512, 1024)] {
        let svd = CudaSvd::new(CudaSvdParams::default()).unwrap();
        let a = generate::gaussian(m, n, 6);
        svd.left_basis(a.as_ref(), 64, &mut Context::new(0))
            .unwrap();
        let held = svd.device_bytes().expect("measured after a call");
        let (r, c) = (m.max(n), m.min(n));
        let predicted = svd.workspace_bytes(m, n, 64);
        println!("cuda-svd f64 {m}×{n} device bytes: predicted {predicted}, held {held}");
        let floor = 8 * (r * c + c + if m >= n { r * c } else { c * c });
        assert!(held >= floor, "{m}×{n}: held {held} < {floor}");
    }
}
