//! Shared by the tests: seeded Gaussian matrices and bit comparison.

// Each test file uses a subset of these helpers.
#![allow(dead_code)]

use faer::{Mat, MatRef};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// An m×n matrix of N(0, 1) entries from `seed`.
pub fn randn(m: usize, n: usize, seed: u64) -> Mat<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut a = Mat::<f32>::zeros(m, n);
    for j in 0..n {
        for i in 0..m {
            a[(i, j)] = StandardNormal.sample(&mut rng);
        }
    }
    a
}

/// Every entry's bits, column by column.
pub fn bits(a: MatRef<'_, f32>) -> Vec<u32> {
    (0..a.ncols())
        .flat_map(|j| (0..a.nrows()).map(move |i| a[(i, j)].to_bits()))
        .collect()
}

/// Runs `f` inside a rayon pool of `threads`.
pub fn on_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
        .install(f)
}
