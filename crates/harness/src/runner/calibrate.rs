//! The yardsticks of a run, set up once before any row: one rayon pool per
//! thread count, each thread warmed by one GEMM (so no row pays, or counts
//! in its heap peak, a thread's first GEMM), and faer's f32 GEMM rate at
//! that thread count, the denominator of a row's `gemm_fraction`.

use std::time::Instant;

use faer::{Mat, Par};

/// One thread count of the suite: its warmed pool and its GEMM rate.
pub struct Lane {
    pub threads: usize,
    pub pool: rayon::ThreadPool,
    /// faer's f32 GEMM rate in this pool (GFLOP/s), [`measure_gemm_rate`].
    pub gemm_gflops: f64,
}

/// The lanes of `threads`, in order: every pool is warmed before any rate
/// is measured.
pub fn lanes(threads: &[usize]) -> anyhow::Result<Vec<Lane>> {
    let pools = threads
        .iter()
        .map(|&t| warm_pool(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(threads
        .iter()
        .zip(pools)
        .map(|(&threads, pool)| {
            let gemm_gflops = measure_gemm_rate(&pool, threads);
            Lane {
                threads,
                pool,
                gemm_gflops,
            }
        })
        .collect())
}

/// faer's parallelism for `threads` threads inside a pool of that size.
pub fn par(threads: usize) -> Par {
    if threads == 1 {
        Par::Seq
    } else {
        Par::rayon(threads)
    }
}

/// A pool of `threads` threads, each of which has run one GEMM (faer sizes
/// per-thread packing buffers, tens of MiB, on a thread's first GEMM).
fn warm_pool(threads: usize) -> anyhow::Result<rayon::ThreadPool> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start a pool of {threads} threads: {e}"))?;
    let a = subspace::generate::gaussian(512, 512, 1);
    pool.broadcast(|_| {
        let mut c = Mat::<f32>::zeros(512, 512);
        faer::linalg::matmul::matmul(
            c.as_mut(),
            faer::Accum::Replace,
            a.as_ref(),
            a.as_ref(),
            1.0,
            Par::Seq,
        );
    });
    Ok(pool)
}

/// faer's f32 GEMM rate at `threads` threads (GFLOP/s): the median of 5
/// products of 1024×1024 by 1024×256, the shape class of a sketch.
pub fn measure_gemm_rate(pool: &rayon::ThreadPool, threads: usize) -> f64 {
    let (m, k, n) = (1024, 1024, 256);
    let a = subspace::generate::gaussian(m, k, 1);
    let b = subspace::generate::gaussian(k, n, 2);
    let par = par(threads);
    let mut times = pool.install(|| {
        let mut c = Mat::<f32>::zeros(m, n);
        let mut times = Vec::new();
        for _ in 0..6 {
            let start = Instant::now();
            faer::linalg::matmul::matmul(
                c.as_mut(),
                faer::Accum::Replace,
                a.as_ref(),
                b.as_ref(),
                1.0,
                par,
            );
            times.push(start.elapsed().as_secs_f64());
        }
        times
    });
    times.remove(0); // warm-up
    times.sort_by(f64::total_cmp);
    2.0 * (m * k * n) as f64 / times[times.len() / 2] / 1e9
}
