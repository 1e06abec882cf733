//! The *orthonormalize* stage: a block made orthonormal and orthogonal to a
//! basis, with the coefficients that reproduce it.
//!
//! Contract. Given an orthonormal basis `P` (rows×p) and a block `X`
//! (rows×c) with p + c ≤ rows, [`BlockOrth::run`] returns `Q` (rows×c) with
//! QᵀQ = I and PᵀQ = 0 to working precision, and `proj` (p×c), `r` (c×c) with
//!
//! ```text
//! X = P·proj + Q·r + E,   ‖E‖_F ≤ ε·‖X‖_F · √c.
//! ```
//!
//! Algorithm: block classical Gram–Schmidt with reorthogonalization, BCGS2
//! (Barlow & Smoktunowicz 2013, "Reorthogonalized block classical
//! Gram–Schmidt", Numer. Math. 123), each pass a projection `Y ← Y − P(PᵀY)`
//! by two GEMMs and a Householder QR of the block (intra-block
//! orthonormality). Two passes are enough ("twice is enough", Kahan–Parlett;
//! Giraud, Langou & Rozložník 2005) unless a direction of the block lies
//! numerically in span(P); the pass loop therefore repeats until a pass whose
//! input was orthonormal removed at most half of its squared norm
//! (‖PᵀY‖_F² ≤ 1/2, so σ_min((I − PPᵀ)Y) ≥ 1/√2 and the QR that follows
//! loses no orthogonality). That last QR is a Cholesky QR (Gram matrix in
//! f64; Stathopoulos & Wu 2002), three times cheaper than Householder on a
//! thin block and as accurate at condition number ≤ √2.
//!
//! Breakdown. When `X`, after its first projection, has directions with
//! singular value at or below ε·‖X‖_F (an invariant subspace was found: rank-1
//! gradients, the zero matrix), those directions are dropped (they carry
//! roundoff only, so the error `E` stays at roundoff) and replaced by fresh
//! Gaussian vectors from the context, which the following passes make
//! orthogonal to `P` and to the kept directions. Their rows of `r` are zero.
//! The output is therefore always orthonormal and finite, even for `X = 0`.
//!
//! Letters: rows = length of the vectors, c = block width, p = basis width.

use dense::{ThinQr, flops, gemm, matmul};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use subspace::Context;

/// Most projection passes per block: two in the common case, three when a
/// direction lay in span(P), four after a breakdown replacement.
const MAX_PASSES: usize = 6;

/// What one call did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OrthStats {
    /// Projection passes run.
    pub passes: usize,
    /// Directions replaced by fresh random vectors (breakdown).
    pub replaced: usize,
    /// Smallest pivot |R_jj| of the first pass over ‖X‖_F (0 for X = 0): a
    /// cheap upper bound on σ_min((I − PPᵀ)X)/‖X‖_F, near ε when the block
    /// was (numerically) in span(P).
    pub min_pivot: f32,
    /// Floating-point operations.
    pub flops: f64,
}

/// Workspace of the orthonormalize stage for blocks of `rows × c` against
/// bases of at most `cap` columns.
pub struct BlockOrth {
    rows: usize,
    c: usize,
    cap: usize,
    qr: ThinQr<f32>,
    /// (rows, c): the pass input, overwritten by the QR factorization.
    y: Mat<f32>,
    /// (cap, c): PᵀY of one pass.
    coef: Mat<f32>,
    /// (c, c): the triangular factor of one pass.
    tri: Mat<f32>,
    /// (c, c): product scratch.
    small: Mat<f32>,
}

impl BlockOrth {
    /// Workspace for `rows × c` blocks and bases of up to `cap` columns
    /// (`cap + c ≤ rows`).
    pub fn new(rows: usize, c: usize, cap: usize) -> Self {
        assert!(
            c >= 1 && cap + c <= rows,
            "BlockOrth needs c ≥ 1 and cap + c ≤ rows"
        );
        Self {
            rows,
            c,
            cap,
            qr: ThinQr::new(rows, c, Par::Seq),
            y: Mat::zeros(rows, c),
            coef: Mat::zeros(cap, c),
            tri: Mat::zeros(c, c),
            small: Mat::zeros(c, c),
        }
    }

    /// Bytes [`BlockOrth::new`] allocates, plus the breakdown path's peak.
    pub fn bytes(rows: usize, c: usize, cap: usize) -> usize {
        let f = size_of::<f32>();
        let own = ThinQr::<f32>::bytes(rows, c) + f * (rows * c + cap * c + 2 * c * c);
        let breakdown = svd::svd_scratch::<f32>(
            c,
            c,
            ComputeSvdVectors::Full,
            ComputeSvdVectors::Full,
            Par::Seq,
            Default::default(),
        )
        .size_bytes()
            + f * (3 * c * c + c + rows * c);
        own + breakdown
    }

    /// `q ← orthonormal block ⟂ basis`, `proj ← coefficients on basis`,
    /// `r ← coefficients on q`, such that `x = basis·proj + q·r` up to
    /// roundoff (module doc). `par` is used for the projections; the QR of
    /// the thin block runs sequentially.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        q: MatMut<'_, f32>,
        proj: MatMut<'_, f32>,
        r: MatMut<'_, f32>,
        x: MatRef<'_, f32>,
        basis: MatRef<'_, f32>,
        par: Par,
        ctx: &mut Context<'_>,
    ) -> OrthStats {
        let (rows, c, p) = (self.rows, self.c, basis.ncols());
        assert_eq!(x.shape(), (rows, c));
        assert_eq!(q.shape(), (rows, c));
        assert_eq!(basis.nrows(), rows);
        assert!(p <= self.cap);
        assert_eq!(proj.shape(), (p, c));
        assert_eq!(r.shape(), (c, c));
        let (mut q, mut proj, mut r) = (q, proj, r);

        let xnorm = x.norm_l2();
        let dead = f32::EPSILON * xnorm;
        let mut stats = OrthStats::default();
        self.y.copy_from(x);
        proj.fill(0.0);
        // Invariant after every pass: x = basis·proj + q·r (+ roundoff).
        let mut input_orthonormal = false;
        for pass in 0..MAX_PASSES {
            stats.passes += 1;
            let mut removed = 0.0f32;
            if p > 0 {
                let mut coef = self.coef.as_mut().subrows_mut(0, p);
                matmul(
                    coef.rb_mut(),
                    Accum::Replace,
                    basis.transpose(),
                    self.y.as_ref(),
                    1.0,
                    par,
                );
                matmul(self.y.as_mut(), Accum::Add, basis, coef.rb(), -1.0, par);
                removed = coef.squared_norm_l2();
                if pass == 0 {
                    proj.copy_from(coef.rb());
                } else {
                    gemm(proj.rb_mut(), Accum::Add, coef.rb(), r.rb(), 1.0);
                }
                stats.flops += 2.0 * flops::gemm(p, c, rows);
            }
            // The last pass: its input was orthonormal and lost at most half
            // of its squared norm, so σ_min(Y) ≥ 1/√2 and Cholesky QR (one
            // Gram GEMM, one GEMM with R⁻¹) is as accurate as Householder.
            let last = p > 0 && input_orthonormal && removed <= 0.5;
            if last && self.cholesky_qr(q.rb_mut()) {
                stats.flops += 2.0 * flops::gemm(c, c, rows) + flops::gemm(rows, c, c);
            } else {
                self.qr.thin_q(q.rb_mut(), self.y.as_mut(), Par::Seq);
                stats.flops += flops::qr_thin_q(rows, c);
                // tri ← R of this pass (upper triangle of the factored block).
                let y = self.y.as_ref();
                self.tri.as_mut().fill(0.0);
                for j in 0..c {
                    for i in 0..=j {
                        self.tri[(i, j)] = y[(i, j)];
                    }
                }
            }
            if pass == 0 {
                r.copy_from(&self.tri);
            } else {
                gemm(
                    self.small.as_mut(),
                    Accum::Replace,
                    self.tri.as_ref(),
                    r.rb(),
                    1.0,
                );
                r.copy_from(&self.small);
                stats.flops += flops::gemm(c, c, c);
            }

            if pass == 0 {
                let pivot = (0..c)
                    .map(|j| r[(j, j)].abs())
                    .fold(f32::INFINITY, f32::min);
                stats.min_pivot = if xnorm > 0.0 { pivot / xnorm } else { 0.0 };
            }
            if pass == 0 && (0..c).any(|j| r[(j, j)].abs() <= dead) {
                let replaced = self.replace_dead(q.rb(), r.rb_mut(), dead, ctx);
                stats.replaced += replaced;
                stats.flops += flops::svd(c, c) + flops::gemm(rows, c, c);
                if replaced > 0 {
                    // y already holds the next input: kept directions, then
                    // raw Gaussian columns.
                    input_orthonormal = false;
                    continue;
                }
            }
            // With no basis one QR is the whole job.
            if p == 0 || last {
                return stats;
            }
            self.y.copy_from(q.rb());
            input_orthonormal = true;
        }
        stats
    }

    /// Cholesky QR of the well-conditioned block `self.y`: `q ← Y·R⁻¹`,
    /// `self.tri ← R` with RᵀR = YᵀY. The c×c Gram matrix is factored in f64.
    /// Returns false (touching nothing but scratch) if the Gram matrix is
    /// not numerically positive definite.
    fn cholesky_qr(&mut self, q: MatMut<'_, f32>) -> bool {
        let c = self.c;
        gemm(
            self.small.as_mut(),
            Accum::Replace,
            self.y.transpose(),
            self.y.as_ref(),
            1.0,
        );
        // Upper Cholesky factor R (c×c) of the Gram matrix, in f64.
        let mut rr = vec![0.0f64; c * c]; // (c, c) column-major
        for j in 0..c {
            for i in 0..=j {
                let mut sum = self.small[(i, j)] as f64;
                for t in 0..i {
                    sum -= rr[t + i * c] * rr[t + j * c];
                }
                if i == j {
                    if sum.is_nan() || sum <= 0.0 {
                        return false;
                    }
                    rr[j + j * c] = sum.sqrt();
                } else {
                    rr[i + j * c] = sum / rr[i + i * c];
                }
            }
        }
        // R⁻¹ (upper triangular) by back substitution, column by column.
        let mut inv = vec![0.0f64; c * c]; // (c, c) column-major
        for j in 0..c {
            inv[j + j * c] = 1.0 / rr[j + j * c];
            for i in (0..j).rev() {
                let mut sum = 0.0;
                for t in i + 1..=j {
                    sum += rr[i + t * c] * inv[t + j * c];
                }
                inv[i + j * c] = -sum / rr[i + i * c];
            }
        }
        for j in 0..c {
            for i in 0..c {
                self.tri[(i, j)] = if i <= j { rr[i + j * c] as f32 } else { 0.0 };
                self.small[(i, j)] = if i <= j { inv[i + j * c] as f32 } else { 0.0 };
            }
        }
        gemm(q, Accum::Replace, self.y.as_ref(), self.small.as_ref(), 1.0);
        true
    }

    /// Breakdown: rotates the block to the singular vectors of `r`, drops
    /// the directions with singular value ≤ `dead` (their rows of `r` become
    /// zero) and puts fresh Gaussian columns in their place. Leaves the next
    /// pass input in `self.y` and returns how many directions were replaced.
    fn replace_dead(
        &mut self,
        q: MatRef<'_, f32>,
        r: MatMut<'_, f32>,
        dead: f32,
        ctx: &mut Context<'_>,
    ) -> usize {
        let (rows, c) = (self.rows, self.c);
        let mut r = r;
        let mut xs = Mat::<f32>::zeros(c, c); // (c, c) left singular vectors of r
        let mut ys = Mat::<f32>::zeros(c, c); // (c, c) right singular vectors of r
        let mut sigma = faer::diag::Diag::<f32>::zeros(c);
        let mut mem = MemBuffer::new(svd::svd_scratch::<f32>(
            c,
            c,
            ComputeSvdVectors::Full,
            ComputeSvdVectors::Full,
            Par::Seq,
            Default::default(),
        ));
        let ok = svd::svd(
            r.rb(),
            sigma.as_mut(),
            Some(xs.as_mut()),
            Some(ys.as_mut()),
            Par::Seq,
            MemStack::new(&mut mem),
            Default::default(),
        );
        let sigma = sigma.column_vector();
        // A c×c SVD that does not converge is not expected; then nothing is
        // replaced and the projection passes alone keep the block orthonormal.
        let keep = if ok.is_ok() {
            (0..c).take_while(|&i| sigma[i] > dead).count()
        } else {
            c
        };
        if keep == c {
            return 0;
        }
        // y ← q·xs; r ← diag(σ)·ysᵀ with the dead rows zero.
        gemm(self.y.as_mut(), Accum::Replace, q, xs.as_ref(), 1.0);
        for i in 0..c {
            for j in 0..c {
                r[(i, j)] = if i < keep { sigma[i] * ys[(j, i)] } else { 0.0 };
            }
        }
        let fresh = ctx.gaussian(rows, c - keep); // (rows, c − keep)
        self.y
            .as_mut()
            .subcols_mut(keep, c - keep)
            .copy_from(&fresh);
        c - keep
    }
}
