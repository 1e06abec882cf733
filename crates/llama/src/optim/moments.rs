//! What GaLore does with Adam's low-rank moments when a refresh changes the
//! basis (the config's `moments` key).
//!
//! The moments live in the coordinates of the basis P they were built in.
//! When a refresh replaces P_old by P_new (both with orthonormal columns,
//! r of them), [`MomentPolicy`] says what happens to them:
//!
//! - `keep` (the default, GaLore's reference code): left as they are, so
//!   statistics of P_old's coordinates are used in P_new's;
//! - `reset`: zeroed (as Grass does);
//! - `rotate`: carried into P_new's coordinates through the change of basis
//!   R = P_newᵀ·P_old (r×r, [`change_of_basis`]) by LDAdam's
//!   projection-aware rule (Robert, Safaryan, Modoranu, Alistarh, "LDAdam:
//!   Adaptive Optimization from Low-Dimensional Gradient Statistics", ICLR
//!   2025, arXiv 2410.16103, §3 and Algorithm 1; see
//!   `shared/research/subspace-tracking.md` §2), see [`rotate`].
//!
//! Side: a left projection (R_G = Pᵀ·G) keeps moments of shape r×n whose
//! columns are r-vectors of P's coordinates, so they move as M ← R·M; a
//! right projection (R_G = G·P) keeps m×r moments whose rows are, so they
//! move as M ← M·Rᵀ. Both are the same rule on r-vectors.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::galore::Side;

/// The moment policy on refresh (see the module doc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MomentPolicy {
    /// Leave the moments as they are (GaLore's reference; the default).
    #[default]
    Keep,
    /// Zero both moments at every refresh.
    Reset,
    /// Carry both moments into the new basis (LDAdam's rule, [`rotate`]).
    Rotate,
}

impl MomentPolicy {
    /// Every policy, in the order of [`MomentPolicy::name`]'s help.
    pub const ALL: [MomentPolicy; 3] = [Self::Keep, Self::Reset, Self::Rotate];

    /// The config's name of the policy.
    pub fn name(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Reset => "reset",
            Self::Rotate => "rotate",
        }
    }

    /// The policy named `name`, or an error naming the key and the values.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                format!(
                    "moments = {name:?} is not a moment policy: use \"keep\" (the default, \
                     GaLore's), \"reset\" or \"rotate\""
                )
            })
    }
}

impl Serialize for MomentPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for MomentPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// R = P_newᵀ·P_old (r×r, f64): the coordinates in P_new of P_old's
/// columns. Both bases are p×r.
pub fn change_of_basis(p_new: MatRef<'_, f32>, p_old: MatRef<'_, f32>) -> Mat<f64> {
    assert_eq!(p_new.shape(), p_old.shape(), "bases of different shapes");
    let (a, b) = (to_f64(p_new), to_f64(p_old));
    let r = p_new.ncols();
    let mut out = Mat::<f64>::zeros(r, r); // (r, r)
    matmul(
        out.as_mut(),
        Accum::Replace,
        a.transpose(),
        b.as_ref(),
        1.0,
        Par::Seq,
    );
    dense::clear_upper_simd();
    out
}

/// Carries Adam's raw moments `m`, `v` (at R_G's shape for `side`) into
/// the new basis by LDAdam's projection-aware rule, after `steps` Adam
/// steps (≥ 1) with decay rates `beta1`, `beta2`.
///
/// With the bias corrections c₁ = 1 − β₁^steps, c₂ = 1 − β₂^steps, the
/// corrected moments m̂ = m/c₁, v̂ = v/c₂, and R = P_newᵀ·P_old, for every
/// r-vector of moments (a column on the left side, a row on the right):
///
/// ```text
/// m ← R·m
/// v ← c₂ · | (R∘R)·(v̂ − m̂²) + (R·m̂)² |
/// ```
///
/// (∘ and the squares elementwise; LDAdam Algorithm 1, the
/// "projection-aware" update of the states, with its absolute value, which
/// keeps v non-negative.) It reads each old coordinate as a random variable
/// of mean m̂ᵢ and variance v̂ᵢ − m̂ᵢ², independent of the others: a new
/// coordinate Σᵢ Rⱼᵢ·gᵢ then has mean (R·m̂)ⱼ and second moment
/// Σᵢ Rⱼᵢ²(v̂ᵢ − m̂ᵢ²) + (R·m̂)ⱼ²; multiplying back by c₂ keeps v in the raw
/// form the Adam update divides by. When R is the identity nothing moves
/// but the rounding. Computed in f64 with sequential GEMMs (the same bits
/// for any thread count).
pub fn rotate(
    side: Side,
    r: MatRef<'_, f64>,
    m: &mut Mat<f32>,
    v: &mut Mat<f32>,
    beta1: f32,
    beta2: f32,
    steps: u64,
) {
    assert!(steps >= 1, "moments are carried only after a step");
    assert_eq!(m.shape(), v.shape(), "moments of different shapes");
    let k = r.nrows();
    assert_eq!(r.ncols(), k, "R must be square");
    let steps = steps.min(i32::MAX as u64) as i32;
    let c1 = 1.0 - f64::from(beta1).powi(steps);
    let c2 = 1.0 - f64::from(beta2).powi(steps);
    // The moments as columns of r-vectors: (r, c).
    let as_columns = |x: MatRef<'_, f32>| match side {
        Side::Left => to_f64(x),
        Side::Right => to_f64(x.transpose()),
    };
    let (m64, v64) = (as_columns(m.as_ref()), as_columns(v.as_ref()));
    assert_eq!(m64.nrows(), k, "moments of another rank than R");
    let c = m64.ncols();
    let m_hat = Mat::from_fn(k, c, |i, j| m64[(i, j)] / c1); // (r, c)
    let spread = Mat::from_fn(k, c, |i, j| v64[(i, j)] / c2 - m_hat[(i, j)].powi(2)); // (r, c)
    let r2 = Mat::from_fn(k, k, |i, j| r[(i, j)] * r[(i, j)]); // (r, r)
    let mut new_m = Mat::<f64>::zeros(k, c); // R·m
    let mut mean = Mat::<f64>::zeros(k, c); // R·m̂
    let mut var = Mat::<f64>::zeros(k, c); // (R∘R)·(v̂ − m̂²)
    for (dst, lhs, rhs) in [
        (new_m.as_mut(), r, m64.as_ref()),
        (mean.as_mut(), r, m_hat.as_ref()),
        (var.as_mut(), r2.as_ref(), spread.as_ref()),
    ] {
        matmul(dst, Accum::Replace, lhs, rhs, 1.0, Par::Seq);
    }
    dense::clear_upper_simd();
    let put = |dst: &mut Mat<f32>, value: &dyn Fn(usize, usize) -> f64| {
        let dst: MatMut<'_, f32> = match side {
            Side::Left => dst.as_mut(),
            Side::Right => dst.as_mut().transpose_mut(),
        };
        let mut dst = dst;
        for j in 0..c {
            for i in 0..k {
                dst[(i, j)] = value(i, j) as f32;
            }
        }
    };
    put(m, &|i, j| new_m[(i, j)]);
    put(v, &|i, j| c2 * (var[(i, j)] + mean[(i, j)].powi(2)).abs());
}

fn to_f64(x: MatRef<'_, f32>) -> Mat<f64> {
    Mat::from_fn(x.nrows(), x.ncols(), |i, j| f64::from(x[(i, j)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// P_old = [e₁ e₂] and P_new = its columns turned by θ with cos θ = 0.6,
    /// sin θ = 0.8 in the (e₁, e₂) plane, inside R³: R = P_newᵀ·P_old =
    /// [[0.6, 0.8], [−0.8, 0.6]].
    fn turned() -> (Mat<f32>, Mat<f32>) {
        let p_old = Mat::from_fn(3, 2, |i, j| f32::from(i == j));
        let cols = [[0.6f32, 0.8, 0.0], [-0.8, 0.6, 0.0]];
        let p_new = Mat::from_fn(3, 2, |i, j| cols[j][i]);
        (p_new, p_old)
    }

    #[track_caller]
    fn close(got: f32, want: f64) {
        assert!(
            (f64::from(got) - want).abs() <= 1e-6 * want.abs().max(0.1),
            "{got} vs {want}"
        );
    }

    /// Worked by hand, after 1 step with β₁ = 0.5, β₂ = 0.75 (exact in
    /// binary: c₁ = 0.5, c₂ = 0.25), one column of a left projection:
    ///
    /// m = (0.5, 1), v = (0.5, 1.25) → m̂ = (1, 2), v̂ = (2, 5),
    /// v̂ − m̂² = (1, 1). R∘R = [[0.36, 0.64], [0.64, 0.36]], so
    /// (R∘R)(v̂ − m̂²) = (1, 1); R·m̂ = (0.6 + 1.6, −0.8 + 1.2) = (2.2, 0.4),
    /// squared (4.84, 0.16); v ← 0.25·(5.84, 1.16) = (1.46, 0.29);
    /// m ← R·m = (0.3 + 0.8, −0.4 + 0.6) = (1.1, 0.2).
    ///
    /// Second column, where the variance term goes negative and the
    /// absolute value acts: m = (0.5, 0.5), v = (0.125, 0.125) →
    /// m̂ = (1, 1), v̂ = (0.5, 0.5), v̂ − m̂² = (−0.5, −0.5);
    /// (R∘R)(v̂ − m̂²) = (−0.5, −0.5); R·m̂ = (1.4, −0.2), squared
    /// (1.96, 0.04); v ← 0.25·(|1.46|, |−0.46|) = (0.365, 0.115);
    /// m ← R·m = (0.3 + 0.4, −0.4 + 0.3) = (0.7, −0.1).
    #[test]
    fn rotate_matches_the_hand_computed_case_on_both_sides() {
        let (p_new, p_old) = turned();
        let r = change_of_basis(p_new.as_ref(), p_old.as_ref());
        let want_r = [[0.6, 0.8], [-0.8, 0.6]];
        for (i, row) in want_r.iter().enumerate() {
            for (j, &x) in row.iter().enumerate() {
                assert!((r[(i, j)] - x).abs() < 1e-7, "R[{i},{j}] = {}", r[(i, j)]);
            }
        }
        let m0 = [[0.5f32, 0.5], [1.0, 0.5]]; // (r = 2, n = 2): columns above
        let v0 = [[0.5f32, 0.125], [1.25, 0.125]];
        let want_m = [[1.1, 0.7], [0.2, -0.1]];
        let want_v = [[1.46, 0.365], [0.29, 0.115]];
        // Left: moments r×n.
        let mut m = Mat::from_fn(2, 2, |i, j| m0[i][j]);
        let mut v = Mat::from_fn(2, 2, |i, j| v0[i][j]);
        rotate(Side::Left, r.as_ref(), &mut m, &mut v, 0.5, 0.75, 1);
        for i in 0..2 {
            for j in 0..2 {
                close(m[(i, j)], want_m[i][j]);
                close(v[(i, j)], want_v[i][j]);
            }
        }
        // Right: moments m×r, the same vectors as rows.
        let mut m = Mat::from_fn(2, 2, |i, j| m0[j][i]);
        let mut v = Mat::from_fn(2, 2, |i, j| v0[j][i]);
        rotate(Side::Right, r.as_ref(), &mut m, &mut v, 0.5, 0.75, 1);
        for i in 0..2 {
            for j in 0..2 {
                close(m[(j, i)], want_m[i][j]);
                close(v[(j, i)], want_v[i][j]);
            }
        }
    }

    #[test]
    fn the_identity_moves_nothing_and_v_stays_non_negative() {
        let (_, p_old) = turned();
        let r = change_of_basis(p_old.as_ref(), p_old.as_ref());
        let m0 = Mat::from_fn(2, 5, |i, j| (i as f32 - j as f32) * 0.01);
        let v0 = Mat::from_fn(2, 5, |i, j| (i + j) as f32 * 1e-4 + 1e-5);
        let (mut m, mut v) = (m0.clone(), v0.clone());
        rotate(Side::Left, r.as_ref(), &mut m, &mut v, 0.9, 0.999, 7);
        for j in 0..5 {
            for i in 0..2 {
                assert!((m[(i, j)] - m0[(i, j)]).abs() <= 1e-7 * m0[(i, j)].abs().max(1.0));
                assert!((v[(i, j)] - v0[(i, j)]).abs() <= 1e-6 * v0[(i, j)]);
            }
        }
        // A half-overlapping basis: every v entry stays ≥ 0.
        let half = Mat::from_fn(2, 2, |i, j| if i == j { 0.5 } else { -0.5 });
        let (mut m, mut v) = (Mat::from_fn(2, 5, |_, _| 0.1f32), v0.clone());
        rotate(Side::Left, half.as_ref(), &mut m, &mut v, 0.9, 0.999, 3);
        assert!(
            v.col_iter()
                .flat_map(|c| c.iter().copied().collect::<Vec<_>>())
                .all(|x| x >= 0.0)
        );
    }

    #[test]
    fn an_unknown_policy_is_refused_naming_the_key_and_the_values() {
        let e = MomentPolicy::parse("rotat").unwrap_err();
        for needle in ["moments", "\"rotat\"", "keep", "reset", "rotate"] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
        for p in MomentPolicy::ALL {
            assert_eq!(MomentPolicy::parse(p.name()), Ok(p));
        }
    }
}
