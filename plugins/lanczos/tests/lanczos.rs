//! Properties of thick-restarted block Lanczos, checked against the f64
//! reference SVD: accuracy on known spectra, breakdown (rank 1 and 2, zero),
//! tiny and extreme shapes, determinism, non-convergence and params.

use faer::{Mat, MatRef, Par};
use lanczos::{Lanczos, LanczosParams};
use subspace::generate::{self, Spectrum};
use subspace::metrics::accuracy;
use subspace::reference::ReferenceSvd;
use subspace::{Basis, Context, Plugin, SubspaceError, SubspaceMethod, params};

const EPS: f64 = f32::EPSILON as f64;

fn method(params: LanczosParams) -> Lanczos {
    Lanczos::new(params).expect("valid params")
}

#[track_caller]
fn basis(m: &Lanczos, a: MatRef<'_, f32>, k: usize, seed: u64) -> Basis {
    let mut ctx = Context::new(seed);
    match m.left_basis(a, k, &mut ctx) {
        Ok(b) => b,
        Err(e) => panic!("{}×{} k = {k}: {e}", a.nrows(), a.ncols()),
    }
}

/// ‖QᵀQ − I‖_F ≤ 8·√m·ε·√k and every entry finite.
#[track_caller]
fn assert_orthonormal(q: MatRef<'_, f32>, case: &str) {
    let (m, k) = q.shape();
    let q64 = Mat::<f64>::from_fn(m, k, |i, j| {
        assert!(q[(i, j)].is_finite(), "{case}: Q[{i}, {j}] = {}", q[(i, j)]);
        q[(i, j)] as f64
    });
    let ortho = (q64.transpose() * &q64 - Mat::<f64>::identity(k, k)).norm_l2();
    let tol = 8.0 * (m as f64).sqrt() * EPS * (k as f64).sqrt();
    assert!(
        ortho <= tol,
        "{case}: ‖QᵀQ − I‖_F = {ortho:.3e} > {tol:.3e}"
    );
}

/// Orthonormal, and ‖A − QQᵀA‖_F ≤ 1.001·‖A − A_k‖_F + 8ε√(m+n)‖A‖_F.
#[track_caller]
fn assert_exact(a: MatRef<'_, f32>, q: MatRef<'_, f32>, case: &str) {
    let (m, n) = a.shape();
    let k = q.ncols();
    assert_orthonormal(q, case);
    let reference = ReferenceSvd::new(a, Par::Seq).expect("reference SVD");
    let acc = accuracy(&reference, q, Par::Seq).expect("accuracy");
    let optimal = reference.tail_fro(k);
    let floor = 8.0 * EPS * ((m + n) as f64).sqrt() * reference.norm_fro();
    assert!(
        acc.residual_fro <= 1.001 * optimal + floor,
        "{case}: ‖A − QQᵀA‖_F = {:.6e} > 1.001 × {optimal:.6e} + {floor:.1e} (err_fro {:.6})",
        acc.residual_fro,
        acc.err_fro
    );
}

#[test]
fn known_spectra_are_exact() {
    let lanczos = method(LanczosParams::default());
    let mut seed = 1000;
    for (m, n, k) in [(120, 80, 10), (80, 120, 10), (150, 150, 20), (200, 120, 10)] {
        for spectrum in [
            Spectrum::Exponential { rate: 0.1 },
            Spectrum::Exponential { rate: 1.0 },
            Spectrum::Polynomial { power: 1.0 },
            Spectrum::Polynomial { power: 0.5 },
            Spectrum::Gap { k, ratio: 0.05 },
            Spectrum::Rank { r: k },
            Spectrum::Rank { r: k / 2 },
            Spectrum::Flat,
        ] {
            seed += 1;
            let a = generate::with_spectrum(m, n, spectrum, seed);
            let b = basis(&lanczos, a.as_ref(), k, 3);
            assert!(b.info.converged && b.info.products > 0);
            assert_exact(
                a.as_ref(),
                b.q.as_ref(),
                &format!("{m}×{n} k = {k} {spectrum:?}"),
            );
        }
    }
}

#[test]
fn larger_shapes_are_exact() {
    let lanczos = method(LanczosParams::default());
    for (m, n, k, spectrum) in [
        (300, 300, 50, Spectrum::Polynomial { power: 1.0 }),
        (300, 300, 50, Spectrum::Exponential { rate: 0.05 }),
        (256, 640, 64, Spectrum::Gap { k: 64, ratio: 0.1 }),
        (640, 256, 64, Spectrum::Polynomial { power: 1.0 }),
    ] {
        let a = generate::with_spectrum(m, n, spectrum, 5);
        let b = basis(&lanczos, a.as_ref(), k, 11);
        assert_exact(
            a.as_ref(),
            b.q.as_ref(),
            &format!("{m}×{n} k = {k} {spectrum:?}"),
        );
    }
}

#[test]
fn gaussian_matrix_is_exact() {
    // A slowly decaying (Marchenko–Pastur) spectrum: several restarts.
    let lanczos = method(LanczosParams::default());
    let a = generate::gaussian(200, 150, 4);
    let b = basis(&lanczos, a.as_ref(), 12, 1);
    assert!(b.info.iterations > 1, "expected restarts, got {:?}", b.info);
    assert_exact(a.as_ref(), b.q.as_ref(), "gaussian 200×150 k = 12");
}

#[test]
fn low_rank_inputs_break_down_cleanly() {
    // rank r ≤ k: the Krylov space is invariant after the first block.
    let lanczos = method(LanczosParams::default());
    for (r, m, n, k) in [
        (1, 60, 40, 8),
        (2, 40, 60, 10),
        (1, 200, 120, 10),
        (2, 120, 200, 16),
    ] {
        let a = generate::with_spectrum(m, n, Spectrum::Rank { r }, 7 + r as u64);
        let b = basis(&lanczos, a.as_ref(), k, 9);
        let case = format!("rank-{r} {m}×{n} k = {k}");
        assert_exact(a.as_ref(), b.q.as_ref(), &case);
        assert!(b.info.converged, "{case}");
    }
    // rank 1 with k = 1: the first Ritz vector is the left singular vector.
    let a = generate::with_spectrum(90, 70, Spectrum::Rank { r: 1 }, 2);
    let b = basis(&lanczos, a.as_ref(), 1, 0);
    assert_exact(a.as_ref(), b.q.as_ref(), "rank-1 90×70 k = 1");
}

#[test]
fn zero_matrix_gives_an_orthonormal_basis() {
    let lanczos = method(LanczosParams::default());
    for (m, n, k) in [(30, 20, 5), (20, 30, 20), (200, 120, 10), (1, 1, 1)] {
        let z = Mat::<f32>::zeros(m, n);
        let b = basis(&lanczos, z.as_ref(), k, 5);
        assert_orthonormal(b.q.as_ref(), &format!("zero {m}×{n} k = {k}"));
        assert!(b.info.converged);
    }
}

#[test]
fn tiny_shapes_and_full_rank_k() {
    let lanczos = method(LanczosParams::default());
    for (i, &(m, n, k)) in [
        (1, 1, 1),
        (2, 1, 1),
        (1, 3, 1),
        (3, 2, 2),
        (2, 5, 2),
        (2, 5, 1),
        (7, 5, 4),
        (10, 7, 1),
        (40, 25, 5),
        (25, 40, 5),
        (30, 30, 30),
        (50, 20, 20),
        (20, 50, 20),
        (64, 48, 1),
    ]
    .iter()
    .enumerate()
    {
        let a = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 1.0 }, 100 + i as u64);
        let b = basis(&lanczos, a.as_ref(), k, 1);
        assert_eq!(b.q.shape(), (m, k));
        assert_exact(a.as_ref(), b.q.as_ref(), &format!("{m}×{n} k = {k}"));
    }
}

#[test]
fn explicit_block_and_krylov_sizes() {
    // b = 1 is plain (single-vector) GKL; odd sizes exercise partial blocks.
    let a = generate::with_spectrum(90, 60, Spectrum::Polynomial { power: 1.0 }, 8);
    for (block_size, krylov_dim, keep) in
        [(1, 0, 0), (3, 20, 0), (5, 23, 14), (7, 0, 9), (64, 0, 0)]
    {
        let params = LanczosParams {
            block_size,
            krylov_dim,
            keep,
            ..Default::default()
        };
        let b = basis(&method(params), a.as_ref(), 8, 2);
        assert_exact(
            a.as_ref(),
            b.q.as_ref(),
            &format!("b = {block_size}, ℓ = {krylov_dim}"),
        );
    }
}

#[test]
fn same_seed_same_bits_for_any_thread_count() {
    let lanczos = method(LanczosParams::default());
    for (m, n, k) in [(700, 300, 24), (300, 700, 24), (200, 120, 10)] {
        let a = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 1.0 }, 77);
        let go = |par: Par, seed: u64| {
            let mut ctx = Context::new(seed).with_par(par);
            lanczos
                .left_basis(a.as_ref(), k, &mut ctx)
                .expect("left_basis")
                .q
        };
        let bits = |q: &Mat<f32>| -> Vec<u32> {
            (0..k)
                .flat_map(|j| (0..m).map(move |i| q[(i, j)].to_bits()))
                .collect()
        };
        let q = bits(&go(Par::Seq, 42));
        assert_eq!(
            q,
            bits(&go(Par::Seq, 42)),
            "{m}×{n}: same seed, different bits"
        );
        assert_ne!(q, bits(&go(Par::Seq, 43)), "{m}×{n}: the seed is not used");
        for par in [Par::rayon(1), Par::rayon(2)] {
            assert_eq!(
                q,
                bits(&go(par, 42)),
                "{m}×{n}: Seq vs {par:?}: different bits"
            );
        }
    }
}

#[test]
fn no_convergence_is_an_error_with_data() {
    // A Gaussian matrix's top singular values are clustered: one cycle of a
    // short Krylov space cannot reach 1e-6.
    let params = LanczosParams {
        tol: 1e-6,
        max_restarts: 0,
        krylov_dim: 20,
        ..Default::default()
    };
    let a = generate::gaussian(200, 150, 6);
    let mut ctx = Context::new(0);
    match method(params).left_basis(a.as_ref(), 10, &mut ctx) {
        Err(SubspaceError::NoConvergence {
            iterations,
            residual,
        }) => {
            assert_eq!(iterations, 1);
            assert!(
                residual > 1e-6 && residual.is_finite(),
                "residual {residual}"
            );
        }
        other => panic!("expected NoConvergence, got {:?}", other.map(|b| b.info)),
    }
}

#[test]
fn info_counts_products_and_flops() {
    let lanczos = method(LanczosParams {
        block_size: 8,
        ..Default::default()
    });
    let a = generate::with_spectrum(200, 120, Spectrum::Polynomial { power: 1.0 }, 3);
    let b = basis(&lanczos, a.as_ref(), 10, 0);
    assert!(b.info.converged);
    assert!(b.info.iterations >= 1);
    assert_eq!(
        b.info.products % 16,
        0,
        "products come in A·V, Aᵀ·U block pairs"
    );
    // At least the products themselves: 2mn per vector.
    assert!(b.info.flops >= 2.0 * 200.0 * 120.0 * b.info.products as f64);
    let bytes = lanczos.workspace_bytes(200, 120, 10);
    assert!(bytes >= 4 * (200 * 10 + 120 * 10), "workspace {bytes} B");
}

#[test]
fn params_parse_and_validate() {
    let docs = params::docs::<LanczosParams>();
    let names: Vec<_> = docs.iter().map(|d| d.name).collect();
    assert_eq!(
        names,
        ["tol", "max_restarts", "krylov_dim", "block_size", "keep"]
    );
    assert!(docs.iter().all(|d| d.doc.contains("Default")), "{docs:?}");
    let table: toml::Table = toml::from_str("tol = 1e-4\nblock_size = 8").expect("toml");
    let p: LanczosParams = params::parse(&table).expect("parse");
    assert_eq!(
        p,
        LanczosParams {
            tol: 1e-4,
            block_size: 8,
            ..Default::default()
        }
    );
    let bad: toml::Table = toml::from_str("tolerance = 1e-4").expect("toml");
    assert!(params::parse::<LanczosParams>(&bad).is_err());
    assert!(
        Lanczos::new(LanczosParams {
            tol: 0.0,
            ..Default::default()
        })
        .is_err()
    );
    assert!(
        Lanczos::new(LanczosParams {
            tol: f64::NAN,
            ..Default::default()
        })
        .is_err()
    );
}

#[test]
fn drawn_small_cases_are_exact() {
    // The conformance kit's draw, swept deterministically: shapes 1..=48,
    // every k, exponential, polynomial, exactly low-rank and flat spectra.
    let lanczos = method(LanczosParams::default());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for case in 0..300 {
        let m = 1 + (next() % 48) as usize;
        let n = 1 + (next() % 48) as usize;
        let r = m.min(n);
        let k = 1 + (next() % r as u64) as usize;
        let u = (next() % 1000) as f64 / 1000.0;
        let spectrum = match next() % 4 {
            0 => Spectrum::Exponential { rate: 0.01 + u },
            1 => Spectrum::Polynomial {
                power: 0.25 + 1.75 * u,
            },
            2 => Spectrum::Rank {
                r: 1 + (next() % r as u64) as usize,
            },
            _ => Spectrum::Flat,
        };
        let a = generate::with_spectrum(m, n, spectrum, case);
        let b = basis(&lanczos, a.as_ref(), k, case ^ 0x5eed);
        assert_exact(
            a.as_ref(),
            b.q.as_ref(),
            &format!("case {case}: {m}×{n} k = {k} {spectrum:?}"),
        );
    }
}

#[test]
fn drawn_medium_cases_are_exact() {
    // Shapes where the Krylov path runs (min(m, n) ≥ 3ℓ/2), with drawn
    // block sizes and Krylov dimensions as well as the automatic ones. Block
    // sizes stay ≥ 4: a Krylov method with blocks of b vectors sees at most b
    // copies of an exactly repeated singular value (Gap repeats σ = 1 k
    // times) until roundoff seeds the others.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for case in 0..150 {
        let m = 40 + (next() % 121) as usize;
        let n = 40 + (next() % 121) as usize;
        let r = m.min(n);
        let k = 1 + (next() % (r as u64 / 4)) as usize;
        let u = (next() % 1000) as f64 / 1000.0;
        let spectrum = match next() % 5 {
            0 => Spectrum::Exponential { rate: 0.01 + u },
            1 => Spectrum::Polynomial {
                power: 0.25 + 1.75 * u,
            },
            2 => Spectrum::Rank {
                r: 1 + (next() % r as u64) as usize,
            },
            3 => Spectrum::Gap {
                k,
                ratio: 0.01 + 0.5 * u,
            },
            _ => Spectrum::Flat,
        };
        let params = match next() % 3 {
            0 => LanczosParams::default(),
            _ => LanczosParams {
                block_size: 4 + (next() % 8) as usize,
                krylov_dim: k + 16 + (next() % (k as u64 + 16)) as usize,
                ..Default::default()
            },
        };
        let a = generate::with_spectrum(m, n, spectrum, case);
        let name = format!("case {case}: {m}×{n} k = {k} {spectrum:?} {params:?}");
        let mut ctx = Context::new(case ^ 0x5eed);
        match method(params).left_basis(a.as_ref(), k, &mut ctx) {
            Ok(b) => assert_exact(a.as_ref(), b.q.as_ref(), &name),
            Err(e) => panic!("{name}: {e}"),
        }
    }
}
