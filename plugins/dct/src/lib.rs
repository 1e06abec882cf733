//! Dynamic column selection from a fixed DCT basis: a data-light structured
//! basis (Modoranu, Safaryan, Schultheis, Ryabinin, Chumachenko & Alistarh,
//! "FFT-based Dynamic Subspace Selection for Low-Rank Adaptive Optimization
//! of Large Language Models", arXiv 2505.17967, 2025, §3: "RankCols"; code:
//! IST-DASLab/ISTA-DASLab-Optimizers, `fft_low_rank/fft_projector.py`).
//!
//! Contract: with D the orthonormal m×m DCT matrix (a fixed dictionary, the
//! same for every input and seed), Q (m×k) is the k columns d_j of D with
//! the largest scores ‖d_jᵀA‖_ℓ, in decreasing order of score (ties to the
//! lower index):
//!
//! 1. **dictionary**: D_ij = √(2/m)·c_j·cos(π·j·(2i + 1)/(2m)), c₀ = 1/√2,
//!    c_j = 1 otherwise (`dictionary = "dct2"`: column j is the DCT-II basis
//!    vector of frequency j, the basis the paper's FFT path, Makhoul's
//!    algorithm, applies), or its transpose (`"dct3"`: the reference code's
//!    default `sim_type = "matmul"` path, whose `dct3_matrix` it multiplies
//!    by); built in f64, rounded to f32;
//! 2. **score**: S = DᵀA (m×n, one product), then the ℓ-norm of each row of
//!    S: `norm = "l1"` is the paper's rule (the reference's `ell_norm = 1`),
//!    `"l2"` ranks by captured energy;
//! 3. **select**: sort the m scores, keep the top k columns of D.
//!
//! With ℓ = 2 the result captures the most energy of any k columns of D,
//! at least the share k/m of ‖A‖_F²; with ℓ = 1 no such bound holds. The
//! method claims [`Guarantee::BestColumns`] and the conformance kit checks
//! the rule (`subspace::testkit::rules`). It costs one m×m×n product (the
//! GaLore gradient's short side is m) and a sort, whatever k; only the
//! indices need storing, though the lab's GaLore keeps Q as it keeps every
//! method's. The paper's optimizer also rotates the moments at each change
//! of columns and keeps an error-feedback buffer: those are the optimizer's
//! (`moments = "rotate"` in the lab), not the subspace method's.

use dense::{flops, mat_bytes, matmul};
use documented::DocumentedFields;
use faer::{Accum, Mat, MatRef};
use serde::{Deserialize, Serialize};
use subspace::{Basis, Context, Guarantee, Info, Plugin, SubspaceError, SubspaceMethod};

/// The dictionary's orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dictionary {
    /// Columns are the DCT-II basis vectors (cosines of frequency j).
    Dct2,
    /// The transpose: the columns of the reference code's `dct3_matrix`.
    Dct3,
}

/// The norm a column's alignment ‖d_jᵀA‖ is scored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Sum of absolute values (the paper's rule).
    L1,
    /// Euclidean: the column's captured energy.
    L2,
}

/// Params of the DCT column selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
pub struct DctParams {
    /// The score of column d_j, the norm of d_jᵀA: "l1" (the paper's) or
    /// "l2" (captured energy) (default "l1").
    pub norm: Norm,
    /// The fixed basis: "dct2" (DCT-II vectors as columns) or "dct3" (their
    /// transpose, the reference code's matmul path) (default "dct2").
    pub dictionary: Dictionary,
}

impl Default for DctParams {
    fn default() -> Self {
        Self {
            norm: Norm::L1,
            dictionary: Dictionary::Dct2,
        }
    }
}

/// DCT column selection.
#[derive(Debug, Clone, Default)]
pub struct Dct {
    pub params: DctParams,
}

impl Plugin for Dct {
    const NAME: &'static str = "dct";
    const SUMMARY: &'static str = "the k columns of a fixed DCT basis best aligned with A: one product and a sort (Modoranu et al. 2025)";
    type Params = DctParams;

    fn new(params: DctParams) -> Result<Self, String> {
        Ok(Self { params })
    }

    /// The defaults (ℓ1, DCT-II) and ℓ2 on the transposed dictionary.
    fn conformance_params() -> Vec<DctParams> {
        vec![
            DctParams::default(),
            DctParams {
                norm: Norm::L2,
                dictionary: Dictionary::Dct3,
            },
        ]
    }
}

/// The orthonormal m×m DCT dictionary (see the module doc), f32.
pub fn dictionary(m: usize, orientation: Dictionary) -> Mat<f32> {
    let mf = m as f64;
    let entry = |sample: usize, frequency: usize| -> f32 {
        let c = if frequency == 0 {
            std::f64::consts::FRAC_1_SQRT_2
        } else {
            1.0
        };
        let angle = std::f64::consts::PI * frequency as f64 * (2 * sample + 1) as f64 / (2.0 * mf);
        ((2.0 / mf).sqrt() * c * angle.cos()) as f32
    };
    match orientation {
        Dictionary::Dct2 => Mat::from_fn(m, m, entry),
        Dictionary::Dct3 => Mat::from_fn(m, m, |i, j| entry(j, i)),
    }
}

impl SubspaceMethod for Dct {
    fn name(&self) -> &str {
        Self::NAME
    }

    /// The dictionary (m×m) and the scores with S = DᵀA (m×n), or, after S
    /// is dropped, the scores, the order and Q (m×k).
    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        let d = mat_bytes::<f32>(m, m);
        let scores = m * size_of::<f64>();
        let order = m * size_of::<usize>();
        d + scores + mat_bytes::<f32>(m, n).max(order + mat_bytes::<f32>(m, k))
    }

    fn guarantee(&self, _m: usize, _n: usize, _k: usize) -> Guarantee {
        Guarantee::BestColumns {
            ell: match self.params.norm {
                Norm::L1 => 1,
                Norm::L2 => 2,
            },
        }
    }

    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let (m, n) = a.shape();
        // Letters: m, n = A's shape.
        // 1. dictionary.
        let d = dictionary(m, self.params.dictionary); // (m, m)
        // 2. score: the rows of S = DᵀA, accumulated in f64.
        let mut s = Mat::<f32>::zeros(m, n); // (m, n)
        matmul(s.as_mut(), Accum::Replace, d.transpose(), a, 1.0, ctx.par);
        let mut scores = vec![0.0f64; m];
        for col in 0..n {
            for (j, score) in scores.iter_mut().enumerate() {
                let x = f64::from(s[(j, col)]);
                *score += match self.params.norm {
                    Norm::L1 => x.abs(),
                    Norm::L2 => x * x,
                };
            }
        }
        drop(s);
        // 3. select: decreasing score, ties to the lower index (a total
        // order, so the unstable sort is deterministic and allocates nothing).
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_unstable_by(|&x, &y| scores[y].total_cmp(&scores[x]).then(x.cmp(&y)));
        let q = Mat::from_fn(m, k, |i, c| d[(i, order[c])]); // (m, k)
        let info = Info {
            iterations: 0,
            products: m,
            flops: flops::gemm(m, n, m) + 2.0 * (m * n) as f64,
            converged: true,
        };
        Ok(Basis { q, info })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// D against its definition: orthonormal (DᵀD = I, the DCT-II's
    /// orthogonality), its first column constant 1/√m, column j a cosine of
    /// frequency j; dct3 its transpose.
    #[test]
    fn the_dictionary_is_the_orthonormal_dct_ii() {
        for m in [1, 2, 7, 64] {
            let d = dictionary(m, Dictionary::Dct2);
            let d64 = Mat::<f64>::from_fn(m, m, |i, j| d[(i, j)] as f64);
            let err = (d64.transpose() * &d64 - Mat::<f64>::identity(m, m)).norm_l2();
            assert!(err < 1e-6 * m as f64, "m = {m}: ‖DᵀD − I‖ = {err:e}");
            for i in 0..m {
                let want = 1.0 / (m as f64).sqrt();
                assert!((d64[(i, 0)] - want).abs() < 1e-7, "D[{i}, 0]");
            }
            let t = dictionary(m, Dictionary::Dct3);
            assert!((0..m).all(|i| (0..m).all(|j| t[(i, j)] == d[(j, i)])));
        }
        // m = 4, column 1: √(1/2)·cos(π(2i + 1)/8).
        let d = dictionary(4, Dictionary::Dct2);
        for i in 0..4 {
            let want = (0.5f64).sqrt() * (std::f64::consts::PI * (2 * i + 1) as f64 / 8.0).cos();
            assert!((d[(i, 1)] as f64 - want).abs() < 1e-7);
        }
    }

    /// A matrix built from dictionary columns 3 and 7 (weights 2 and 1) and
    /// a little of column 0: the selection at k = 2 is exactly {3, 7}, in
    /// that order, and captures all but the small part.
    #[test]
    fn a_matrix_in_the_span_of_two_columns_selects_them() {
        let (m, n) = (16, 5);
        let d = dictionary(m, Dictionary::Dct2);
        let a = Mat::<f32>::from_fn(m, n, |i, j| {
            let w = (j + 1) as f32;
            2.0 * w * d[(i, 3)] + w * d[(i, 7)] + 0.01 * d[(i, 0)]
        });
        for norm in [Norm::L1, Norm::L2] {
            let dct = Dct {
                params: DctParams {
                    norm,
                    ..DctParams::default()
                },
            };
            let q = dct
                .left_basis(a.as_ref(), 2, &mut Context::new(0))
                .unwrap()
                .q;
            for i in 0..m {
                assert_eq!(q[(i, 0)], d[(i, 3)]);
                assert_eq!(q[(i, 1)], d[(i, 7)]);
            }
        }
    }

    /// The kit's BestColumns rule on both norms.
    #[test]
    fn the_selection_keeps_the_best_scored_columns() {
        for p in Dct::conformance_params() {
            subspace::testkit::check_best_columns(&Dct { params: p });
        }
    }
}
