//! Fixed-block parallel execution: the same bits for any thread count.
//!
//! Contract: a kernel built on [`for_each`] splits its work into blocks whose
//! boundaries depend only on the shapes (never on the thread count),
//! computes each block with sequential code, and never splits a reduction
//! across blocks unless the partial results are combined in a fixed order.
//! Only the assignment of blocks to threads depends on `par`: `Par::Seq`
//! runs them in order on the calling thread, `Par::Rayon(_)` hands them to
//! the *current* rayon pool (the one a caller installed with
//! `ThreadPool::install`, else the global pool); the count inside
//! `Par::Rayon` is not read. So a result computed on 1, 2 or 16 threads, or
//! with `Par::Seq`, is bit-identical (docs/numerics.md#determinism).

use faer::Par;
use rayon::prelude::*;

/// The parallelism of the current rayon pool: `Par::Seq` on a pool of one
/// thread, else `Par::Rayon(threads)`. Never changes the bits of a result.
pub fn current_par() -> Par {
    match rayon::current_num_threads() {
        0 | 1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// Calls `f` on every item, in order on this thread for `Par::Seq`, on the
/// current rayon pool for `Par::Rayon(_)`.
pub fn for_each<T: Send>(par: Par, items: Vec<T>, f: impl Fn(T) + Send + Sync) {
    match par {
        Par::Rayon(_) if items.len() > 1 => items.into_par_iter().for_each(f),
        _ => items.into_iter().for_each(f),
    }
}
