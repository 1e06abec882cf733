//! How good GaLore's subspaces are inside training: per projected matrix,
//! the share of its gradient's energy the basis captures, and every
//! `quality_every` steps the optimum's share at the same rank.
//!
//! With G the matrix's gradient (m×n), P its basis (r columns) and R the
//! projection GaLore computes anyway (R = Pᵀ·G on the left, G·P on the
//! right, so ‖R‖_F = ‖PᵀG‖_F or ‖GP‖_F):
//!
//! - `captured` = ‖R‖_F² / ‖G‖_F², logged at each of the matrix's
//!   refreshes (with the new basis) and at every quality step (with the
//!   basis in use), nearly free: a sum over R and one over G;
//! - `optimal` = Σ_{i≤r} σ_i² / ‖G‖_F², the most any rank-r basis captures
//!   (Ky Fan), from the singular values of G widened to f64 (faer's SVD
//!   without vectors, one matrix per thread), at the quality steps: the
//!   0-based steps s with s mod `quality_every` = 0;
//! - their ratio, `subspace::metrics::EnergyShares::ratio` (1 = optimal,
//!   about r/m for a random basis).
//!
//! The log never changes the run: it reads G and P only, so a run's bits
//! are the same whatever `quality_every` is. The optimum's SVDs run before
//! the step changes anything, so one that fails (an f64 SVD that does not
//! converge) fails the step with nothing changed. Their time is the log's
//! cost, kept out of the step's timed parts ([`StepQuality::seconds`]);
//! `quality_every`'s default keeps it at most 2% of a step (measured in
//! docs/numerics.md#subspace-quality).

use faer::{Mat, MatRef, Par};
use subspace::SubspaceError;
use subspace::metrics::{EnergyShares, optimal_energy};
use subspace::reference::singular_values;

/// `quality_every`'s default (see the module doc and docs/numerics.md).
pub const DEFAULT_QUALITY_EVERY: u64 = 100;

/// One projected matrix's entry of the log at one step.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixQuality {
    /// The parameter's (Hugging Face) name.
    pub tensor: String,
    /// The gradient's shape (m, n) and the basis's rank r.
    pub rows: usize,
    pub cols: usize,
    pub rank: usize,
    /// Whether the basis was refreshed at this step.
    pub refreshed: bool,
    /// ‖PᵀG‖_F² / ‖G‖_F² (1 for a zero gradient).
    pub captured: f64,
    /// Σ_{i≤r} σ_i² / ‖G‖_F², on quality steps.
    pub optimal: Option<f64>,
    /// At a refresh after the first: |cos| between the first columns of the
    /// new and the previous basis (the lazy rule's agreement).
    pub agreement: Option<f64>,
    /// Steps from this refresh to the matrix's next one under its refresh
    /// rule (T with `refresh = "every"`).
    pub interval: u64,
}

impl MatrixQuality {
    /// `captured / optimal` (1 = optimal), on quality steps.
    pub fn ratio(&self) -> Option<f64> {
        self.optimal
            .map(|o| if o == 0.0 { 1.0 } else { self.captured / o })
    }
}

/// The log of one step: its rows (in layout order) and the seconds the
/// log itself took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepQuality {
    pub rows: Vec<MatrixQuality>,
    pub seconds: f64,
}

/// ‖G‖_F² of a row-major gradient, summed in f64 in order.
pub fn energy(g: &[f32]) -> f64 {
    g.iter().map(|&x| f64::from(x) * f64::from(x)).sum()
}

/// Σ_{i≤r} σ_i² of `g` (m×n), from its singular values in f64 (sequential:
/// the same bits for any thread count).
pub fn optimal(g: MatRef<'_, f32>, rank: usize) -> Result<f64, SubspaceError> {
    let g64 = Mat::<f64>::from_fn(g.nrows(), g.ncols(), |i, j| f64::from(g[(i, j)])); // (m, n)
    let s = singular_values(g64.as_ref(), Par::Seq)?;
    Ok(optimal_energy(&s, rank))
}

/// The shares of a basis that captures `captured` = ‖PᵀG‖_F² of a gradient
/// of energy `total`, with the optimum's `optimal` when known.
pub fn shares(captured: f64, optimal: Option<f64>, total: f64) -> (f64, Option<f64>) {
    match optimal {
        Some(o) => {
            let s = EnergyShares::new(captured, o, total);
            (s.captured, Some(s.optimal))
        }
        None => (EnergyShares::new(captured, captured, total).captured, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use subspace::generate::{self, Spectrum};

    /// A known spectrum: σ = (3, 2, 1), so at rank 2 the optimum keeps
    /// (9 + 4)/14; the zero gradient scores 1 on both.
    #[test]
    fn optimal_energy_of_a_known_spectrum() {
        let g = generate::with_singular_values(6, 4, &[3.0, 2.0, 1.0], 1);
        let mut row_major = Vec::new();
        for i in 0..6 {
            for j in 0..4 {
                row_major.push(g[(i, j)]);
            }
        }
        let total = energy(&row_major);
        assert!((total - 14.0).abs() < 1e-5, "{total}");
        let o = optimal(g.as_ref(), 2).unwrap();
        assert!((o - 13.0).abs() < 1e-5, "{o}");
        let (captured, opt) = shares(10.0, Some(o), total);
        assert!((captured - 10.0 / 14.0).abs() < 1e-6);
        assert!((opt.unwrap() - 13.0 / 14.0).abs() < 1e-6);
        let z = Mat::<f32>::zeros(3, 5);
        assert_eq!(optimal(z.as_ref(), 2).unwrap(), 0.0);
        assert_eq!(shares(0.0, Some(0.0), 0.0), (1.0, Some(1.0)));
        let g = generate::with_spectrum(20, 30, Spectrum::Rank { r: 2 }, 2);
        let o = optimal(g.as_ref(), 5).unwrap();
        assert!((o - 2.0).abs() < 1e-5, "rank 2 at rank 5 keeps all: {o}");
    }
}
