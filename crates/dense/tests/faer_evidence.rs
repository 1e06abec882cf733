//! What faer 0.24's own parallel GEMM does to the inner sum, measured (the
//! evidence behind `dense::gemm`'s policy; docs/numerics.md#gemm). If faer
//! changes, these fail and the doc must be updated with them.

mod common;

use common::{bits, on_pool, randn};
use dense::gemm::TILE_COLS;
use faer::{Accum, Mat, MatRef, Par};

fn faer_product(a: MatRef<'_, f32>, b: MatRef<'_, f32>, par: Par) -> Vec<u32> {
    let mut c = Mat::<f32>::zeros(a.nrows(), b.ncols());
    faer::linalg::matmul::matmul(c.as_mut(), Accum::Replace, a, b, 1.0, par);
    bits(c.as_ref())
}

fn tiled(a: MatRef<'_, f32>, b: MatRef<'_, f32>) -> Vec<u32> {
    let mut c = Mat::<f32>::zeros(a.nrows(), b.ncols());
    dense::matmul(c.as_mut(), Accum::Replace, a, b, 1.0, Par::Seq);
    bits(c.as_ref())
}

/// faer's GEMM kernel on x86 (`private-gemm-x86`), the path every product
/// of two matrices with ≥ 2 rows and columns takes there.
fn x86_gemm_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            || (std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A matrix × vector product (one output column, column-major lhs, ≥ 256²
/// entries): faer splits the inner sum into `Par::Rayon(n)`'s n column
/// slabs and adds the partial sums, so the bits follow n.
#[test]
fn faer_matrix_vector_splits_the_inner_sum_by_the_thread_count() {
    let (a, x) = (randn(512, 512, 1), randn(512, 1, 2));
    let runs: Vec<Vec<u32>> = [1, 2, 8]
        .iter()
        .map(|&t| on_pool(8, || faer_product(a.as_ref(), x.as_ref(), Par::rayon(t))))
        .collect();
    let differ = |i: usize, j: usize| runs[i].iter().zip(&runs[j]).filter(|(p, q)| p != q).count();
    println!(
        "faer 512×512 · 512×1, entries differing: rayon(1) vs rayon(2) {}, rayon(2) vs rayon(8) {}",
        differ(0, 1),
        differ(1, 2)
    );
    assert!(
        differ(0, 1) > 0 && differ(1, 2) > 0,
        "faer's matvec no longer splits the inner sum"
    );
    // The tiled GEMM takes no `par` into any tile: one answer.
    let want = tiled(a.as_ref(), x.as_ref());
    for t in [1, 2, 8] {
        let mut c = Mat::<f32>::zeros(512, 1);
        on_pool(t, || {
            dense::matmul(
                c.as_mut(),
                Accum::Replace,
                a.as_ref(),
                x.as_ref(),
                1.0,
                Par::rayon(t),
            )
        });
        assert!(bits(c.as_ref()) == want, "dense::matmul on {t} threads");
    }
}

/// A product of two matrices on the x86 GEMM kernel: faer splits the output
/// across threads and keeps each inner sum whole (k in chunks of 512
/// outside the parallel region), so its bits do not follow the thread
/// count; and an entry's bits do not depend on which output tile holds it,
/// as long as the tile stays on that kernel (≥ 2 rows and columns, m·n·k >
/// 16³). This is why the model's 128×512 tiles and rrf's former 256-row
/// blocks give the same bits at rrf's and GaLore's shapes.
#[test]
fn faer_gemm_kernel_keeps_the_inner_sum_whole_and_is_tile_independent() {
    if !x86_gemm_kernel() {
        println!("skipped: not faer's x86 GEMM kernel on this CPU");
        return;
    }
    for (s, &(m, n, k)) in [
        (300, 700, 1100),
        (1376, 138, 512),
        (138, 1376, 512),
        (172, 16, 64),
    ]
    .iter()
    .enumerate()
    {
        let (a, b) = (randn(m, k, 20 + s as u64), randn(k, n, 30 + s as u64));
        let seq = faer_product(a.as_ref(), b.as_ref(), Par::Seq);
        for t in [2, 8] {
            let par = on_pool(t, || faer_product(a.as_ref(), b.as_ref(), Par::rayon(t)));
            assert!(
                par == seq,
                "{m}×{n}×{k}: faer on {t} threads changed the bits"
            );
        }
        assert!(
            tiled(a.as_ref(), b.as_ref()) == seq,
            "{m}×{n}×{k}: tiling changed the bits"
        );
    }
}

/// The tiles are part of the policy: a tile of one column (here the last of
/// a 60×513 product with k = 1100) leaves the GEMM kernel for faer's
/// matrix × vector path, which does not chunk k by 512: its entries differ
/// from one GEMM over the whole output, every other entry agrees.
#[test]
fn a_one_column_tile_sums_in_another_order() {
    if !x86_gemm_kernel() {
        println!("skipped: not faer's x86 GEMM kernel on this CPU");
        return;
    }
    let (m, n, k) = (60, TILE_COLS + 1, 1100);
    let (a, b) = (randn(m, k, 5), randn(k, n, 6));
    let (one, tiles) = (
        faer_product(a.as_ref(), b.as_ref(), Par::Seq),
        tiled(a.as_ref(), b.as_ref()),
    );
    let differ = |cols: std::ops::Range<usize>| {
        cols.flat_map(|j| (0..m).map(move |i| j * m + i))
            .filter(|&e| one[e] != tiles[e])
            .count()
    };
    let (last, others) = (differ(TILE_COLS..n), differ(0..TILE_COLS));
    println!(
        "{m}×{n}×{k}: the one-column tile differs in {last} of {m} entries, the others in {others}"
    );
    assert!(last > 0 && others == 0);
}
