//! Wall time of thick-restarted block Lanczos against faer's `partial_svd`
//! and the full thin SVD (the `svd` plugin), sequential, with the accuracy
//! of each basis. `cargo run --release -p plugin-lanczos --example timing`
//! (optional args: `m n k`).

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::matrix_free::eigen::{PartialEigenParams, partial_svd, partial_svd_scratch};
use faer::{Mat, MatRef, Par};
use lanczos::{Lanczos, LanczosParams};
use std::time::Instant;
use subspace::generate::{self, Spectrum};
use subspace::metrics::accuracy;
use subspace::reference::ReferenceSvd;
use subspace::{Context, Plugin, SubspaceMethod};

const RUNS: usize = 7;

/// Best of `RUNS` wall times (the least disturbed by other load).
fn median_ms(mut f: impl FnMut() -> Mat<f32>) -> (f64, Mat<f32>) {
    let mut times = Vec::with_capacity(RUNS);
    let mut q = f();
    for _ in 0..RUNS {
        let t = Instant::now();
        q = f();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    (times[0], q)
}

fn faer_partial(a: MatRef<'_, f32>, k: usize, tol: f32) -> Mat<f32> {
    let (m, n) = a.shape();
    let params = PartialEigenParams {
        max_restarts: 1000,
        ..Default::default()
    };
    let mut mem = MemBuffer::new(partial_svd_scratch::<f32>(&a, k, Par::Seq, params));
    let (mut u, mut v, mut s) = (
        Mat::<f32>::zeros(m, k),
        Mat::<f32>::zeros(n, k),
        vec![0f32; k],
    );
    let v0 = faer::Col::<f32>::from_fn(n, |i| 1.0 + (i % 7) as f32 * 0.1);
    partial_svd(
        u.as_mut(),
        v.as_mut(),
        &mut s,
        &a,
        v0.as_ref(),
        tol,
        Par::Seq,
        MemStack::new(&mut mem),
        params,
    );
    u
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let shapes: Vec<(usize, usize, usize)> = if args.len() == 3 {
        vec![(args[0], args[1], args[2])]
    } else {
        vec![
            (512, 1376, 128),
            (1376, 512, 128),
            (512, 512, 128),
            (300, 300, 50),
            (200, 120, 10),
        ]
    };
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let params = LanczosParams {
        krylov_dim: env("LZ_KRYLOV"),
        block_size: env("LZ_BLOCK"),
        keep: env("LZ_KEEP"),
        ..Default::default()
    };
    let lanczos = Lanczos::new(params).expect("params");
    let svd = svd::Svd::new(Default::default()).expect("params");
    println!(
        "| shape | k | spectrum | lanczos ms | iters | products | faer partial_svd ms | svd ms | err_fro lanczos | partial | svd |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &(m, n, k) in &shapes {
        for (name, a) in [
            (
                "poly 1",
                generate::with_spectrum(m, n, Spectrum::Polynomial { power: 1.0 }, 1),
            ),
            (
                "exp 0.05",
                generate::with_spectrum(m, n, Spectrum::Exponential { rate: 0.05 }, 2),
            ),
            ("gaussian", generate::gaussian(m, n, 3)),
            (
                "rank 2",
                generate::with_spectrum(m, n, Spectrum::Rank { r: 2 }, 4),
            ),
        ] {
            let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).expect("reference");
            let err = |q: &Mat<f32>| {
                accuracy(&reference, q.as_ref(), Par::Seq)
                    .expect("accuracy")
                    .err_fro
            };
            let mut info = None;
            let (t_l, q_l) = median_ms(|| {
                let b = lanczos.left_basis(a.as_ref(), k, &mut Context::new(7));
                match b {
                    Ok(b) => {
                        info = Some(b.info.clone());
                        b.q
                    }
                    Err(e) => {
                        eprintln!("lanczos {m}×{n} k={k} {name}: {e}");
                        Mat::zeros(m, k)
                    }
                }
            });
            let (t_p, q_p) = median_ms(|| faer_partial(a.as_ref(), k, 1e-5));
            let (t_s, q_s) = median_ms(|| {
                svd.left_basis(a.as_ref(), k, &mut Context::new(7))
                    .expect("svd")
                    .q
            });
            let info = info.unwrap_or_default();
            println!(
                "| {m}×{n} | {k} | {name} | {t_l:.1} | {} | {} | {t_p:.1} | {t_s:.1} | {:.6} | {:.6} | {:.6} |",
                info.iterations,
                info.products,
                err(&q_l),
                err(&q_p),
                err(&q_s)
            );
        }
    }
}
