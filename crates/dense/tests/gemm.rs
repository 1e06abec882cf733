//! `dense::matmul`: the same bits for any thread count, on shapes that span
//! many tiles (ragged edges, one-row and one-column tiles included), and
//! within the f32 summation bound of an f64 product.

mod common;

use common::{bits, on_pool, randn};
use dense::gemm::{TILE_COLS, TILE_ROWS};
use dense::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// (m, n, k) above the tile sizes, ragged, and with edge tiles of one row
/// or one column (faer's matrix × vector path).
const SHAPES: [(usize, usize, usize); 5] = [
    (2 * TILE_ROWS + 37, TILE_COLS + 91, 70),
    (TILE_ROWS + 1, 40, 300),
    (60, TILE_COLS + 1, 257),
    (1, 700, 300),
    (300, 1, 700),
];

fn product(a: MatRef<'_, f32>, b: MatRef<'_, f32>, c0: MatRef<'_, f32>, par: Par) -> Mat<f32> {
    let mut c = c0.to_owned();
    matmul(c.as_mut(), Accum::Add, a, b, -0.5, par);
    c
}

#[test]
fn matmul_gives_the_same_bits_on_any_thread_count() {
    for (s, &(m, n, k)) in SHAPES.iter().enumerate() {
        let seed = 10 * s as u64;
        let (a, b, c0) = (
            randn(m, k, seed),
            randn(k, n, seed + 1),
            randn(m, n, seed + 2),
        );
        let want = bits(product(a.as_ref(), b.as_ref(), c0.as_ref(), Par::Seq).as_ref());
        for threads in [1, 2, 8] {
            let got = on_pool(threads, || {
                product(a.as_ref(), b.as_ref(), c0.as_ref(), Par::rayon(threads))
            });
            assert!(
                bits(got.as_ref()) == want,
                "{m}×{n}×{k}: {threads} threads changed the bits"
            );
        }
        // The count inside `Par::Rayon` is not read: only the pool matters.
        let got = on_pool(2, || {
            product(a.as_ref(), b.as_ref(), c0.as_ref(), Par::rayon(8))
        });
        assert!(
            bits(got.as_ref()) == want,
            "{m}×{n}×{k}: Par::rayon(8) on 2 threads"
        );
    }
}

#[test]
fn matmul_is_within_the_f32_summation_bound_of_f64() {
    for (s, &(m, n, k)) in SHAPES.iter().enumerate() {
        let seed = 100 + 10 * s as u64;
        let (a, b, c0) = (
            randn(m, k, seed),
            randn(k, n, seed + 1),
            randn(m, n, seed + 2),
        );
        let c = product(a.as_ref(), b.as_ref(), c0.as_ref(), Par::rayon(2));
        for i in (0..m).step_by(7) {
            for j in (0..n).step_by(5) {
                let (mut want, mut mag) = (c0[(i, j)] as f64, c0[(i, j)].abs() as f64);
                for t in 0..k {
                    let p = -0.5 * a[(i, t)] as f64 * b[(t, j)] as f64;
                    want += p;
                    mag += p.abs();
                }
                // Any order of k + 1 f32 additions is within (k + 1)·ε·Σ|terms|.
                let tol = 2.0 * (k + 1) as f64 * f32::EPSILON as f64 * mag;
                let got = c[(i, j)] as f64;
                assert!(
                    (got - want).abs() <= tol,
                    "{m}×{n}×{k} [{i}, {j}]: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
#[should_panic(expected = "matmul shapes")]
fn matmul_rejects_mismatched_shapes() {
    let (a, b) = (randn(4, 3, 0), randn(4, 2, 1));
    let mut c = Mat::<f32>::zeros(4, 2);
    matmul(
        c.as_mut(),
        Accum::Replace,
        a.as_ref(),
        b.as_ref(),
        1.0,
        Par::Seq,
    );
}
