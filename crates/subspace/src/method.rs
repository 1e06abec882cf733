//! The [`SubspaceMethod`] trait and what a call returns.

use crate::tracker::Tracker;
use crate::{Context, SubspaceError};
use faer::{Mat, MatRef};

/// Where a method computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    /// Host CPU (faer, rayon).
    Cpu,
    /// An NVIDIA GPU, by ordinal.
    Cuda(usize),
}

/// What one call did, as reported by the method itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    /// Iterations of the method's outer loop (power iterations, restarts, …).
    pub iterations: usize,
    /// Products of `A` or `Aᵀ` with a vector or a block, counted in vectors
    /// (one m×n by n×ℓ product counts ℓ).
    pub products: usize,
    /// Floating-point operations (multiply and add counted separately), from
    /// the method's own operation count.
    pub flops: f64,
    /// Whether the method met its own stopping criterion (always true for
    /// direct methods).
    pub converged: bool,
}

/// A computed basis: `q` is m×k with orthonormal columns.
#[derive(Debug, Clone)]
pub struct Basis {
    /// m×k, orthonormal columns.
    pub q: Mat<f32>,
    pub info: Info,
}

/// The accuracy a method claims for a rank-`k` call, which the conformance
/// kit holds it to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Guarantee {
    /// Optimal up to roundoff: ‖A − QQᵀA‖_F ≈ ‖A − A_k‖_F.
    Exact,
    /// A Gaussian randomized range finder of target rank `rank`, sketch width
    /// `rank + oversample` and `power_iters` power iterations: the expected
    /// errors obey Halko–Martinsson–Tropp 2011 Thm 10.5 and Cor. 10.10 for
    /// `(rank, oversample, power_iters)`. `truncated`: the basis keeps `rank`
    /// of the sketch's directions (HMT Alg. 5.1) rather than all of them.
    Randomized {
        rank: usize,
        oversample: usize,
        power_iters: usize,
        truncated: bool,
    },
    /// A control that ignores A: Q is the first k columns of a
    /// Haar-distributed orthogonal m×m matrix drawn from the context's
    /// seeded stream (QR of a Gaussian with the signs of R's diagonal moved
    /// into Q, Mezzadri 2007 §5), the projection of GoLore, FLORA and
    /// APOLLO. No error bound; in expectation it captures the share k/m of
    /// any A's energy (E[QQᵀ] = (k/m)·I). The conformance kit checks that Q
    /// does not depend on A and that E[Q] = 0 and E[QQᵀ] = (k/m)·I over
    /// seeds ([`crate::testkit::rules`]).
    Haar,
    /// The k columns of a fixed orthonormal m×m dictionary D (the same for
    /// every input and seed) with the largest scores ‖d_jᵀA‖_ℓ, ℓ = `ell`
    /// (1 or 2). With ℓ = 2 they are the k columns of D that capture the
    /// most of A's energy, which is at least (k/m)·‖A‖_F² (the top k of m
    /// non-negative shares summing to ‖A‖_F²); with ℓ = 1 no energy bound
    /// holds. The conformance kit reads D from a call at k = m and checks
    /// the rule on each input ([`crate::testkit::rules`]).
    BestColumns { ell: u8 },
    /// No accuracy claim (e.g. unnormalized power iteration in f32, which
    /// loses the directions whose σ_j/σ₁ raised to 2q+1 falls below ε): the
    /// conformance kit checks shape, orthonormality and determinism only.
    Unbounded,
}

/// A way of finding a matrix's dominant left singular subspace.
///
/// Implementors write [`compute`](Self::compute); callers call
/// [`left_basis`](Self::left_basis), which validates the input first, so a
/// plugin never sees an empty matrix, a bad rank or a non-finite entry.
pub trait SubspaceMethod: Send + Sync {
    /// The registry name of the method (e.g. `"rrf"`).
    fn name(&self) -> &str;

    /// Where the method computes.
    fn device(&self) -> Device {
        Device::Cpu
    }

    /// `Ok` if the method can run here, else why not (a missing library, no
    /// device). CPU methods are always available.
    fn availability(&self) -> Result<(), String> {
        Ok(())
    }

    /// Predicted peak working memory of one call, in bytes, the returned
    /// basis included (device bytes for a GPU method).
    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        let _ = (m, n, k);
        0
    }

    /// Predicted peak working memory of one call given a warm start of k
    /// columns (what a warm-started tracker's updates after the first
    /// cost), in bytes, the returned basis included. Default:
    /// [`workspace_bytes`](Self::workspace_bytes), for a method whose warm
    /// start allocates what a cold call does.
    fn warm_workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        self.workspace_bytes(m, n, k)
    }

    /// Device bytes this method holds now, measured from its own
    /// allocations; `None` for a method that allocates no device memory (a
    /// CPU method, whose heap the harness counts itself). A GPU method keeps
    /// its buffers between calls and grows them as calls need, so after a
    /// set of calls this is their peak.
    fn device_bytes(&self) -> Option<usize> {
        None
    }

    /// The accuracy this method claims for rank `k` on an m×n input.
    fn guarantee(&self, m: usize, n: usize, k: usize) -> Guarantee {
        let _ = (m, n, k);
        Guarantee::Exact
    }

    /// A tracker of the method's own, for a method that carries more than
    /// its last basis from one refresh to the next (or uses it in a way a
    /// warm-started call cannot). `None` (the default): [`crate::tracker()`]
    /// wraps the method in [`crate::tracker::WarmStarted`].
    fn own_tracker(&self, m: usize, n: usize, k: usize) -> Option<Box<dyn Tracker>> {
        let _ = (m, n, k);
        None
    }

    /// Within how many warm-started updates this method, tracking a slowly
    /// turning m×n matrix at rank k (the conformance kit's trajectory),
    /// reaches err_fro ≤ 1.01 and stays there; `None` claims nothing.
    /// Default: one update for an [`Exact`](Guarantee::Exact) method, no
    /// claim otherwise.
    fn settles_within(&self, m: usize, n: usize, k: usize) -> Option<usize> {
        match self.guarantee(m, n, k) {
            Guarantee::Exact => Some(1),
            _ => None,
        }
    }

    /// Computes the basis. Called only through [`left_basis`](Self::left_basis),
    /// with `a` non-empty, finite and `1 ≤ k ≤ min(m, n)`, and any warm start
    /// of `a.nrows()` rows.
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError>;

    /// An m×k orthonormal basis approximating the span of `a`'s k dominant
    /// left singular vectors.
    fn left_basis(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        validate_input(a, k)?;
        if let Some(w) = ctx.warm_start
            && w.nrows() != a.nrows()
        {
            return Err(SubspaceError::WarmStartShape {
                rows: w.nrows(),
                cols: w.ncols(),
                m: a.nrows(),
            });
        }
        self.availability()
            .map_err(|reason| SubspaceError::Unavailable {
                method: self.name().into(),
                reason,
            })?;
        let basis = self.compute(a, k, ctx)?;
        assert_eq!(
            basis.q.shape(),
            (a.nrows(), k),
            "plugin {} returned a basis of the wrong shape",
            self.name()
        );
        Ok(basis)
    }
}

/// Checks the shape, the rank and finiteness of an input.
pub fn validate_input(a: MatRef<'_, f32>, k: usize) -> Result<(), SubspaceError> {
    let (m, n) = a.shape();
    if m == 0 || n == 0 {
        return Err(SubspaceError::EmptyMatrix { m, n });
    }
    if k == 0 {
        return Err(SubspaceError::ZeroRank { m, n });
    }
    if k > m.min(n) {
        return Err(SubspaceError::RankTooLarge { k, m, n });
    }
    for col in 0..n {
        for row in 0..m {
            let value = a[(row, col)];
            if !value.is_finite() {
                return Err(SubspaceError::NonFinite { row, col, value });
            }
        }
    }
    Ok(())
}
