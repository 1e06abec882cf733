//! The per-call context: seeded randomness, parallelism and a warm start.
//!
//! Randomness is counter-based. Draw number `d` of a context seeded with `s`
//! fills column `j` of its matrix from the ChaCha8 stream `(s, d·2³² + j)`, so
//! every entry depends only on `(seed, draw, column, row)`: the same seed
//! gives the same bits for any thread count and any column partition.

use faer::{Mat, MatRef, Par};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// What a subspace method may use besides its input.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    seed: u64,
    draws: u64,
    /// Parallelism inside one call. Across many matrices, prefer `Par::Seq`
    /// here and parallelism over matrices (faster on few cores).
    pub par: Par,
    /// The basis of a previous call on a similar matrix (same rows), for
    /// methods that can warm-start from it.
    pub warm_start: Option<MatRef<'a, f32>>,
}

impl<'a> Context<'a> {
    /// A context with the given seed, sequential kernels and no warm start.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            draws: 0,
            par: Par::Seq,
            warm_start: None,
        }
    }

    /// The same context with parallelism `par`.
    pub fn with_par(mut self, par: Par) -> Self {
        self.par = par;
        self
    }

    /// The same context with a warm-start basis.
    pub fn with_warm_start(mut self, basis: MatRef<'a, f32>) -> Self {
        self.warm_start = Some(basis);
        self
    }

    /// The seed this context was made with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many random matrices were drawn so far.
    pub fn draws(&self) -> u64 {
        self.draws
    }

    /// Moves the draw counter forward to `draws` (never back): a caller that
    /// ran a method on a clone of this context (e.g. with another warm
    /// start) keeps the draws it made, so later draws differ from them.
    pub fn advance_draws_to(&mut self, draws: u64) {
        self.draws = self.draws.max(draws);
    }

    /// Peak heap bytes of [`gaussian`](Self::gaussian)`(rows, cols)`, its
    /// result included: the columns drawn one by one, then the matrix.
    pub fn gaussian_bytes(rows: usize, cols: usize) -> usize {
        size_of::<f32>() * rows * cols
            + size_of::<Vec<f32>>() * cols
            + dense::mat_bytes::<f32>(rows, cols)
    }

    /// Draws an `rows × cols` matrix of independent standard normal entries.
    ///
    /// Each call advances the context, so two draws differ. Columns are
    /// filled independently (in parallel under `self.par`), each from its own
    /// stream, so the result does not depend on the thread count.
    pub fn gaussian(&mut self, rows: usize, cols: usize) -> Mat<f32> {
        let draw = self.draws;
        self.draws += 1;
        let seed = self.seed;
        let column = |j: usize| -> Vec<f32> {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream((draw << 32) | j as u64);
            (0..rows).map(|_| StandardNormal.sample(&mut rng)).collect()
        };
        let columns: Vec<Vec<f32>> = match self.par {
            Par::Seq => (0..cols).map(column).collect(),
            Par::Rayon(_) => {
                use rayon::prelude::*;
                (0..cols).into_par_iter().map(column).collect()
            }
        };
        Mat::from_fn(rows, cols, |i, j| columns[j][i])
    }
}
