//! A Haar-random basis that never reads the matrix: the control every
//! subspace method is measured against, and the projection of GoLore (He et
//! al. 2024, arXiv 2410.11289: uniform on the Stiefel manifold), FLORA (Hao,
//! Cao & Mou 2024, arXiv 2402.03293) and APOLLO (Zhu et al. 2025, arXiv
//! 2412.05270, whose Gaussian projection this orthonormalizes).
//!
//! Contract: Q (m×k) is the first k columns of a Haar-distributed orthogonal
//! m×m matrix, drawn afresh from the context's seeded counter-based stream
//! at every call and independent of A (and of any warm start):
//!
//! 1. **draw**: Ω = an m×k standard Gaussian from the context
//!    ([`Context::gaussian`]: the same bits for any thread count);
//! 2. **orthonormalize**: Ω = QR (Householder, sequential);
//! 3. **fix the signs**: multiply column j of Q by sign(R_jj), so that R has
//!    a positive diagonal. Without it Q's distribution follows the QR's
//!    sign convention and is not Haar (Mezzadri, "How to generate random
//!    matrices from the classical compact groups", Notices AMS 54(5), 2007,
//!    §5); with it, QR = Ω is the unique factorization with R_jj > 0, and
//!    Q's law is invariant under every orthogonal map (the Gaussian's is).
//!
//! Then E[QQᵀ] = (k/m)·I, so Q captures in expectation the share k/m of any
//! A's energy and its `energy_ratio` is about k/m divided by the optimum's
//! share. No error bound is claimed ([`Guarantee::Haar`]); the conformance
//! kit checks that Q ignores A and has the Haar moments
//! (`subspace::testkit::rules`). As a tracker (GaLore at T = 1) it draws a
//! new basis at every refresh from the refresh's seed.

use dense::{ThinQr, flops, mat_bytes};
use documented::DocumentedFields;
use faer::{Mat, MatRef, Par};
use serde::{Deserialize, Serialize};
use subspace::{Basis, Context, Guarantee, Info, Plugin, SubspaceError, SubspaceMethod};

/// Params of the random basis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
pub struct RandomParams {
    /// Must stay false (the default): a Haar basis is drawn independently of
    /// any previous basis, so it cannot use a warm start, and `true` is
    /// refused naming this key (rrf with `warm_start = true` and
    /// subspace-iteration are the warm-started methods).
    pub warm_start: bool,
}

/// The Haar-random basis.
#[derive(Debug, Clone, Default)]
pub struct Random {
    pub params: RandomParams,
}

impl Plugin for Random {
    const NAME: &'static str = "random";
    const SUMMARY: &'static str = "Haar-random orthonormal basis, never reads the matrix: the control (GoLore, FLORA, APOLLO)";
    type Params = RandomParams;

    fn new(params: RandomParams) -> Result<Self, String> {
        if params.warm_start {
            return Err(
                "warm_start = true: a Haar-random basis is drawn independently of A and of any \
                 previous basis, so it cannot use a warm start; drop the key (for a \
                 warm-started sketch use rrf with warm_start = true, or subspace-iteration)"
                    .into(),
            );
        }
        Ok(Self { params })
    }
}

impl SubspaceMethod for Random {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// The larger of the draw ([`Context::gaussian_bytes`]) and the QR: Ω,
    /// the QR's workspace and Q (m×k each).
    fn workspace_bytes(&self, m: usize, _n: usize, k: usize) -> usize {
        let draw = Context::gaussian_bytes(m, k);
        let qr = 2 * mat_bytes::<f32>(m, k) + ThinQr::<f32>::bytes(m, k);
        draw.max(qr)
    }

    fn guarantee(&self, _m: usize, _n: usize, _k: usize) -> Guarantee {
        Guarantee::Haar
    }

    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let m = a.nrows();
        // Letters: m = A's rows, k = the rank.
        // 1. draw (the only use of A is its row count).
        let mut omega = ctx.gaussian(m, k); // (m, k)
        // 2. orthonormalize: Ω ← R in its upper triangle.
        let mut q = Mat::<f32>::zeros(m, k); // (m, k)
        ThinQr::<f32>::new(m, k, Par::Seq).thin_q(q.as_mut(), omega.as_mut(), Par::Seq);
        // 3. fix the signs: R_jj > 0.
        for j in 0..k {
            if omega[(j, j)] < 0.0 {
                for i in 0..m {
                    q[(i, j)] = -q[(i, j)];
                }
            }
        }
        let info = Info {
            iterations: 0,
            products: 0,
            flops: flops::qr_thin_q(m, k),
            converged: true,
        };
        Ok(Basis { q, info })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use subspace::Registry;

    #[test]
    fn a_warm_start_is_refused_naming_the_key() {
        let mut r = Registry::new();
        r.register::<Random>().unwrap();
        let params: toml::Table = toml::from_str("warm_start = true").unwrap();
        let Err(e) = r.build("random", &params) else {
            panic!("warm_start = true built");
        };
        let e = e.to_string();
        assert!(
            e.contains("random") && e.contains("warm_start") && e.contains("cannot use"),
            "{e}"
        );
        assert!(r.build("random", &toml::Table::new()).is_ok());
    }

    #[test]
    fn the_basis_ignores_a_given_warm_start() {
        let a = subspace::generate::gaussian(30, 20, 1);
        let w = subspace::generate::identity(30, 4);
        let cold = Random::default()
            .left_basis(a.as_ref(), 4, &mut Context::new(9))
            .unwrap();
        let warm = Random::default()
            .left_basis(
                a.as_ref(),
                4,
                &mut Context::new(9).with_warm_start(w.as_ref()),
            )
            .unwrap();
        assert_eq!(cold.q, warm.q);
    }

    /// The kit's Haar rule on this plugin (the lab's conformance test runs it
    /// too, through the registry).
    #[test]
    fn the_basis_has_the_haar_moments() {
        subspace::testkit::check_haar(&Random::default());
    }
}
