//! The thick-restarted block Golub–Kahan–Lanczos driver: *expand*, *Ritz*,
//! *restart* (crate doc for the algorithm and its sources).
//!
//! Letters: m×n = the input A, k = the rank asked for, b = the block size,
//! ℓ = the Krylov dimension (columns of U at the end of a cycle), s = the
//! number of Ritz vectors kept by a restart, p = the current basis width.
//!
//! State between stages, kept exact up to roundoff:
//!
//! ```text
//! A·V[:, ..p]  = U[:, ..p]·B[..p, ..p]                    (U-side: by construction)
//! Aᵀ·U[:, ..p] = V[:, ..p]·B[..p, ..p]ᵀ + V_r·S·E_lastᵀ   (V-side: Krylov structure)
//! ```
//!
//! with U, [V, V_r] orthonormal, B = UᵀAV upper triangular (dense: after a
//! restart its first s columns are diag(σ) and the next block carries the
//! restart's coupling), V_r = V[:, p..p+b] the residual block, S (b×b) its
//! coefficient and E_last the last b columns of the identity. A Ritz triplet
//! (σᵢ, U·xᵢ, V·yᵢ) of B = XΣYᵀ then satisfies A·V·yᵢ = σᵢ·U·xᵢ exactly and
//! ‖Aᵀ·U·xᵢ − σᵢ·V·yᵢ‖ = ‖S·xᵢ[p−b..p]‖, the residual the stopping test reads.

use crate::LanczosParams;
use crate::orth::BlockOrth;
use dense::{ThinQr, flops, matmul};
use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatRef, Par};
use subspace::{Basis, Context, Info, SubspaceError};

/// Residuals below this multiple of f32's ε times the largest Ritz value
/// count as converged whatever `tol` asks: f32 products of A and the f32
/// SVD of B resolve nothing finer (crate doc, "Stopping test").
pub const ROUNDOFF_FLOOR: f32 = 16.0 * f32::EPSILON;

/// Block size used when the params leave it at 0.
pub fn auto_block_size(k: usize) -> usize {
    (k / 8).clamp(4, 16)
}

/// The sizes of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Block size b.
    pub b: usize,
    /// Krylov dimension ℓ.
    pub l: usize,
    /// Basis width at the end of the first cycle: the largest multiple of b
    /// not above ℓ.
    pub l_first: usize,
    /// Ritz vectors kept by a restart (k ≤ s ≤ ℓ − b, ℓ − s a multiple of b).
    pub keep: usize,
}

impl Plan {
    /// The sizes for rank k on an m×n input, or `None` when the Krylov space
    /// would need all of min(m, n) (then a dense SVD is both cheaper and
    /// exact).
    pub fn new(m: usize, n: usize, k: usize, params: &LanczosParams) -> Option<Self> {
        let LanczosParams {
            krylov_dim,
            block_size,
            keep,
            ..
        } = *params;
        let r = m.min(n);
        let b_asked = if block_size == 0 {
            auto_block_size(k)
        } else {
            block_size
        };
        // ℓ ≥ k + b (one new block per cycle) and ℓ + b ≤ r (room for the
        // residual block and for breakdown replacements).
        let b = b_asked.min(r.saturating_sub(k) / 2);
        if b == 0 {
            return None;
        }
        let l_asked = if krylov_dim == 0 {
            (2 * k).max(k + 32)
        } else {
            krylov_dim
        };
        let l = l_asked.clamp(k + b, r - b);
        // A Krylov space of most of min(m, n) costs more than the dense SVD
        // and leaves little room to recover from breakdowns.
        if 3 * l > 2 * r {
            return None;
        }
        let l_first = l - l % b;
        // Keep k plus half of the rest (Wu & Simon 2000 keep about as many as
        // they add), rounded so that each cycle adds whole blocks.
        let keep_min = if keep == 0 {
            k + (l - k) / 2
        } else {
            keep.max(k)
        };
        let steps = (l.saturating_sub(keep_min) / b).max(1);
        Some(Self {
            b,
            l,
            l_first,
            keep: l - steps * b,
        })
    }

    /// Predicted peak bytes of [`run`] on an m×n input, the basis included.
    pub fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        let Self { b, l, keep, .. } = *self;
        let f32s = m * l // U
            + n * (l + b) // V and the residual block
            + l * l // B
            + b * b // S
            + (l + b) * b // V-side coefficients
            + (m + n) * b // A·V and Aᵀ·U blocks
            + m.max(n) * keep // restart products
            + n * b // the Gaussian start block
            + l * keep.max(k) // X[:, ..s] or X[:, ..k] in f32
            + l * keep // Y[:, ..s] in f32
            + 2 * m * k; // U·X[:, ..k] and the basis returned
        let f64s = 3 * l * l + l; // B, X, Y, σ in f64
        size_of::<f32>() * f32s
            + size_of::<f64>() * f64s
            + svd_b_scratch(*self).size_bytes()
            + ThinQr::<f32>::bytes(m, k)
            + BlockOrth::bytes(m, b, l - b)
            + BlockOrth::bytes(n, b, l)
    }
}

fn svd_b_scratch(plan: Plan) -> StackReq {
    let req = |s: usize| {
        svd::svd_scratch::<f64>(
            s,
            s,
            ComputeSvdVectors::Full,
            ComputeSvdVectors::Full,
            Par::Seq,
            Default::default(),
        )
    };
    StackReq::any_of(&[req(plan.l), req(plan.l_first)])
}

/// Runs thick-restarted block GKL on `a` for rank `k`: the basis of the k
/// dominant Ritz vectors, or `NoConvergence` after `max_restarts` restarts.
/// `tol`: relative residual tolerance (crate doc).
pub fn run(
    a: MatRef<'_, f32>,
    k: usize,
    plan: Plan,
    tol: f64,
    max_restarts: usize,
    ctx: &mut Context<'_>,
) -> Result<Basis, SubspaceError> {
    let (m, n) = a.shape();
    let Plan {
        b,
        l,
        l_first,
        keep,
    } = plan;
    let par = ctx.par;
    let mut info = Info::default();

    let mut u = Mat::<f32>::zeros(m, l); // (m, ℓ) left Lanczos vectors
    let mut v = Mat::<f32>::zeros(n, l + b); // (n, ℓ + b) right Lanczos vectors, then V_r
    let mut bm = Mat::<f32>::zeros(l, l); // (ℓ, ℓ) B = UᵀAV
    let mut s_r = Mat::<f32>::zeros(b, b); // (b, b) S, V_r's coefficient
    let mut proj_v = Mat::<f32>::zeros(l + b, b); // (ℓ + b, b) V-side coefficients (unused)
    let mut av = Mat::<f32>::zeros(m, b); // (m, b) A·V block
    let mut atu = Mat::<f32>::zeros(n, b); // (n, b) Aᵀ·U block
    let mut orth_u = BlockOrth::new(m, b, l - b);
    let mut orth_v = BlockOrth::new(n, b, l);
    let mut xs = Mat::<f64>::zeros(l, l); // (ℓ, ℓ) left singular vectors of B
    let mut ys = Mat::<f64>::zeros(l, l); // (ℓ, ℓ) right singular vectors of B
    let mut sigma = vec![0.0f64; l]; // (ℓ) singular values of B
    let mut svd_mem = MemBuffer::new(svd_b_scratch(plan));
    let mut tmp = Mat::<f32>::zeros(m.max(n), keep); // (max(m, n), s) restart products

    // Start block: V[:, ..b] = orth(Ω), Ω n×b Gaussian.
    let omega = ctx.gaussian(n, b); // (n, b)
    let (v_none, v_start) = v.as_mut().split_at_col_mut(0);
    let st = orth_v.run(
        v_start.subcols_mut(0, b),
        proj_v.as_mut().subrows_mut(0, 0),
        s_r.as_mut(),
        omega.as_ref(),
        v_none.rb(),
        par,
        ctx,
    );
    info.flops += st.flops;

    let mut p = 0;
    let mut target = l_first;
    let mut cycle = 0;
    // The top k Ritz values of the previous cycle (see "Breakdown" below).
    let mut previous: Option<Vec<f64>> = None;
    let mut ever_breakdown = false;
    // A block whose new directions are this small against its own norm lay
    // (numerically) in the basis already: the f32 roundoff of a product and
    // a projection.
    let invariant = 8.0 * f32::EPSILON * (m.max(n) as f32).sqrt();
    loop {
        info.iterations = cycle + 1;
        let mut breakdown = false;
        // Expand: blocks p..target of U and V (block GKL, Golub–Kahan 1965
        // with the block recurrence of Golub, Luk & Overton 1981).
        while p < target {
            matmul(
                av.as_mut(),
                Accum::Replace,
                a,
                v.as_ref().subcols(p, b),
                1.0,
                par,
            );
            let (u_basis, u_rest) = u.as_mut().split_at_col_mut(p);
            let (b_top, b_bot) = bm.as_mut().subcols_mut(p, b).split_at_row_mut(p);
            let st = orth_u.run(
                u_rest.subcols_mut(0, b),
                b_top,
                b_bot.subrows_mut(0, b),
                av.as_ref(),
                u_basis.rb(),
                par,
                ctx,
            );
            info.flops += st.flops;
            breakdown |= st.replaced > 0 || st.min_pivot <= invariant;
            matmul(
                atu.as_mut(),
                Accum::Replace,
                a.transpose(),
                u.as_ref().subcols(p, b),
                1.0,
                par,
            );
            let (v_basis, v_rest) = v.as_mut().split_at_col_mut(p + b);
            let st = orth_v.run(
                v_rest.subcols_mut(0, b),
                proj_v.as_mut().subrows_mut(0, p + b),
                s_r.as_mut(),
                atu.as_ref(),
                v_basis.rb(),
                par,
                ctx,
            );
            breakdown |= st.replaced > 0 || st.min_pivot <= invariant;
            info.flops += st.flops + 2.0 * flops::gemm(m, b, n);
            info.products += 2 * b;
            p += b;
        }

        // Ritz: B = XΣYᵀ, in f64 (docs/numerics.md#f64-paths: every restart
        // would pass the f32 SVD's loss of orthonormality on to U and V),
        // sequential: a small dense problem.
        let b64 = Mat::<f64>::from_fn(p, p, |i, j| bm[(i, j)] as f64); // (p, p)
        let (mut x64, mut y64) = (
            xs.as_mut().submatrix_mut(0, 0, p, p),
            ys.as_mut().submatrix_mut(0, 0, p, p),
        );
        svd::svd(
            b64.as_ref(),
            faer::diag::DiagMut::from_slice_mut(&mut sigma[..p]),
            Some(x64.rb_mut()),
            Some(y64.rb_mut()),
            Par::Seq,
            MemStack::new(&mut svd_mem),
            Default::default(),
        )
        .map_err(|e| SubspaceError::Kernel {
            kernel: "SVD of the Lanczos projection B",
            reason: format!("{e:?}"),
        })?;
        info.flops += flops::svd(p, p);
        let s = &sigma[..p];

        // Stopping test: ‖S·xᵢ[p−b..p]‖ ≤ max(tol·σᵢ, floor·σ₁) for i < k;
        // `worst` is the largest residual on the scale of tol.
        let floor = ROUNDOFF_FLOOR as f64 * s[0];
        let x_last = x64.rb().subrows(p - b, b);
        let mut worst = 0.0f64;
        let mut converged = true;
        for i in 0..k {
            let mut res2 = 0.0f64;
            for row in 0..b {
                let mut t = 0.0f64;
                for j in 0..b {
                    t += s_r[(row, j)] as f64 * x_last[(j, i)];
                }
                res2 += t * t;
            }
            let res = res2.sqrt();
            let allowed = (tol * s[i]).max(floor);
            converged &= res <= allowed;
            if res > 0.0 {
                worst = worst.max(tol * res / allowed);
            }
        }
        info.flops += (2 * b * b * k) as f64;

        // Breakdown: an invariant subspace makes its Ritz triplets exact
        // (zero residual) whether or not they are the dominant ones: a
        // singular value of multiplicity above b, or the range of a
        // rank-deficient A, is found only b directions at a time, and
        // singular vectors outside an invariant pair of subspaces are not
        // seen at all. Once a cycle hit one, a cycle is accepted only when it
        // confirms the previous one, expanded from the fresh random
        // directions: its top k Ritz values (non-decreasing under thick
        // restart) did not grow.
        ever_breakdown |= breakdown;
        if converged && ever_breakdown {
            converged = previous
                .as_ref()
                .is_some_and(|prev| (0..k).all(|i| s[i] <= prev[i] * (1.0 + tol) + floor));
        }
        previous = Some(s[..k].to_vec());
        let cols = if converged { k } else { keep };
        let x = Mat::<f32>::from_fn(p, cols, |i, j| x64[(i, j)] as f32); // (p, k or s)

        if converged {
            // Q = thin Q of U·X[:, ..k]: the product is orthonormal to the
            // roundoff of U and X; one Householder QR makes it so to ε·√m.
            info.converged = true;
            let mut uk = Mat::<f32>::zeros(m, k); // (m, k)
            matmul(
                uk.as_mut(),
                Accum::Replace,
                u.as_ref().subcols(0, p),
                x.as_ref(),
                1.0,
                par,
            );
            let mut q = Mat::<f32>::zeros(m, k); // (m, k)
            ThinQr::<f32>::new(m, k, Par::Seq).thin_q(q.as_mut(), uk.as_mut(), Par::Seq);
            info.flops += flops::gemm(m, k, p) + flops::qr_thin_q(m, k);
            return Ok(Basis { q, info });
        }
        if cycle == max_restarts {
            return Err(SubspaceError::NoConvergence {
                iterations: cycle + 1,
                residual: worst,
            });
        }

        // Restart (thick restart, Wu & Simon 2000; Baglama & Reichel 2005):
        // U ← U·X[:, ..s], V ← V·Y[:, ..s], V_r moves behind them, B ← diag(σ[..s]).
        let mut t = tmp.as_mut().subrows_mut(0, m);
        matmul(
            t.rb_mut(),
            Accum::Replace,
            u.as_ref().subcols(0, p),
            x.as_ref(),
            1.0,
            par,
        );
        u.as_mut().subcols_mut(0, keep).copy_from(t.rb());
        let y = Mat::<f32>::from_fn(p, keep, |i, j| y64[(i, j)] as f32); // (p, s)
        let mut t = tmp.as_mut().subrows_mut(0, n);
        matmul(
            t.rb_mut(),
            Accum::Replace,
            v.as_ref().subcols(0, p),
            y.as_ref(),
            1.0,
            par,
        );
        v.as_mut().subcols_mut(0, keep).copy_from(t.rb());
        atu.copy_from(v.as_ref().subcols(p, b));
        v.as_mut().subcols_mut(keep, b).copy_from(&atu);
        info.flops += flops::gemm(m, keep, p) + flops::gemm(n, keep, p);
        bm.fill(0.0);
        for i in 0..keep {
            bm[(i, i)] = s[i] as f32;
        }
        p = keep;
        target = l;
        cycle += 1;
    }
}
