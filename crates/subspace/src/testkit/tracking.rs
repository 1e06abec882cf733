//! The tracker checks: every method followed across a slowly turning matrix
//! through [`crate::tracker()`] (its own tracker or the warm-started
//! default), held to what it declares.
//!
//! The trajectory ([`CASES`], [`trajectory`]): A_t = U_t·diag(σ)·Vᵀ from
//! [`generate::rotating`], whose dominant k-subspace turns by [`ANGLE`] rad
//! per step for [`STEPS`] steps, with the known spectrum of [`spectrum`]:
//! σ_j = 1 − 0.3·(j − 1)/k for j ≤ k, then σ_j = 0.25·0.97^(j−k−1), a gap
//! σ_{k+1}/σ_k ≈ 0.34. A basis that stops moving leaves err_fro ≤ 1.01 at
//! the fifth update (`kit_catches_bad_methods.rs`); one warm-started block
//! power iteration per step contracts the tangent of the angle to the
//! moving subspace by about (σ_{k+1}/σ_k)² ≈ 0.12.
//! Update t (1-based) of a tracker gets `Context::new(SEED + t)`.
//!
//! - [`check_settling`]: every basis is orthonormal; a tracker declaring
//!   `settles_within(N)` has err_fro ≤ [`SETTLED`] (against the f64
//!   reference SVD of that step) at every update from the N-th to the last;
//! - [`check_state_round_trip`]: a state saved mid-trajectory and loaded
//!   into a fresh tracker gives the same state, and both trackers continue
//!   with the same bits;
//! - [`check_tracker_determinism`]: the same bases, bit for bit, under
//!   `Par::Seq` and `Par::rayon(2)`;
//! - [`check_state_shapes`]: a state with a tensor of the wrong shape, or
//!   one tensor missing, is refused with that tensor named, and the refusal
//!   changes nothing.

use super::checks::assert_orthonormal;
use crate::generate;
use crate::metrics;
use crate::reference::ReferenceSvd;
use crate::tracker::{StateTensor, Tracker, tracker};
use crate::{Context, SubspaceMethod};
use faer::{Mat, MatRef, Par};
use std::sync::Arc;

/// The largest err_fro a settled tracker may have.
pub const SETTLED: f64 = 1.01;
/// Turn of the dominant subspace per step, in radians (about 1.15°).
pub const ANGLE: f64 = 0.02;
/// Matrices per trajectory.
pub const STEPS: usize = 24;
/// Seed of update t's context is `SEED + t`.
pub const SEED: u64 = 1_000;

/// The `(m, n, k)` of the trajectories: tall and wide.
pub const CASES: &[(usize, usize, usize)] = &[(120, 80, 8), (80, 150, 10)];

/// The trajectory's singular values for rank k of an m×n matrix (all
/// min(m, n) of them): σ_j = 1 − 0.3·(j − 1)/k for j ≤ k, then
/// 0.25·0.97^(j−k−1).
pub fn spectrum(m: usize, n: usize, k: usize) -> Vec<f64> {
    (1..=m.min(n))
        .map(|j| {
            if j <= k {
                1.0 - 0.3 * (j - 1) as f64 / k as f64
            } else {
                0.25 * 0.97f64.powi((j - k - 1) as i32)
            }
        })
        .collect()
}

/// The trajectory of case `(m, n, k)`: [`STEPS`] matrices.
pub fn trajectory(m: usize, n: usize, k: usize) -> Vec<Mat<f32>> {
    let seed = ((m * 31 + n) * 31 + k) as u64;
    generate::rotating(m, n, k, &spectrum(m, n, k), ANGLE, STEPS, seed)
}

/// Runs `t` over `mats` from update `first` (1-based) on, each update with
/// `Context::new(SEED + t)` under `par`; the bases, panicking with context
/// on an error.
#[track_caller]
fn follow(t: &mut dyn Tracker, mats: &[Mat<f32>], first: usize, par: Par) -> Vec<Mat<f32>> {
    mats.iter()
        .enumerate()
        .map(|(i, a)| {
            let step = first + i;
            let mut ctx = Context::new(SEED + step as u64).with_par(par);
            match t.update(a.as_ref(), &mut ctx) {
                Ok(b) => b.q,
                Err(e) => panic!(
                    "{} tracker: update {step} of a {}×{} trajectory failed: {e}",
                    t.name(),
                    a.nrows(),
                    a.ncols()
                ),
            }
        })
        .collect()
}

/// Every update's basis is orthonormal; a declared `settles_within(N)` is
/// held: err_fro ≤ [`SETTLED`] at updates N..=[`STEPS`]. Prints each case's
/// err_fro by update (the figures a declaration is chosen from).
#[track_caller]
pub fn check_settling(method: &Arc<dyn SubspaceMethod>) {
    let name = method.name();
    for &(m, n, k) in CASES {
        let mats = trajectory(m, n, k);
        let mut t = tracker(method, m, n, k);
        let declared = t.settles_within();
        let bases = follow(t.as_mut(), &mats, 1, Par::Seq);
        let case = format!("{m}×{n}, k = {k}, {ANGLE} rad per step");
        let errs: Vec<f64> = mats
            .iter()
            .zip(&bases)
            .enumerate()
            .map(|(i, (a, q))| {
                assert_orthonormal(name, &format!("{case}, update {}", i + 1), q.as_ref());
                let reference = ReferenceSvd::new(a.as_ref(), Par::Seq).expect("reference SVD");
                metrics::accuracy(&reference, q.as_ref(), Par::Seq)
                    .expect("accuracy")
                    .err_fro
            })
            .collect();
        let shown: Vec<String> = errs.iter().map(|e| format!("{e:.4}")).collect();
        println!(
            "{name} tracker [{case}]: settles_within {declared:?}; err_fro by update: {}",
            shown.join(" ")
        );
        let Some(within) = declared else { continue };
        assert!(
            (1..=STEPS).contains(&within),
            "{name} tracker [{case}]: settles_within({within}) is outside 1..={STEPS}, the kit's trajectory length"
        );
        for (i, &e) in errs.iter().enumerate().skip(within - 1) {
            assert!(
                e <= SETTLED,
                "{name} tracker [{case}]: declares settles_within({within}) but err_fro = {e:.4} > {SETTLED} at update {} (err_fro by update: {})",
                i + 1,
                shown.join(" ")
            );
        }
    }
}

/// A state saved after update 5 and loaded into a fresh tracker reads back
/// the same bits, and the two trackers then give the same bases and states
/// bit for bit to the end of the trajectory.
#[track_caller]
pub fn check_state_round_trip(method: &Arc<dyn SubspaceMethod>) {
    let name = method.name();
    let (m, n, k) = CASES[0];
    let mats = trajectory(m, n, k);
    let (head, tail) = mats.split_at(5);
    let mut original = tracker(method, m, n, k);
    follow(original.as_mut(), head, 1, Par::Seq);
    let saved = original.state();
    let mut resumed = tracker(method, m, n, k);
    if let Err(e) = resumed.load_state(&saved) {
        panic!("{name} tracker: its own state after 5 updates does not load: {e}");
    }
    assert!(
        states_equal(&resumed.state(), &saved),
        "{name} tracker: a loaded state reads back with other bits"
    );
    match (original.basis(), resumed.basis()) {
        (Some(a), Some(b)) => assert!(
            bits_equal(a, b),
            "{name} tracker: the loaded state's basis has other bits"
        ),
        (None, None) => {}
        _ => panic!("{name} tracker: one of the original and the resumed tracker has a basis"),
    }
    let go_on = follow(original.as_mut(), tail, 6, Par::Seq);
    let resumed_on = follow(resumed.as_mut(), tail, 6, Par::Seq);
    for (i, (a, b)) in go_on.iter().zip(&resumed_on).enumerate() {
        assert!(
            bits_equal(a.as_ref(), b.as_ref()),
            "{name} tracker: update {} after a save and load has other bits than without",
            i + 6
        );
    }
    assert!(
        states_equal(&original.state(), &resumed.state()),
        "{name} tracker: the state at the end differs after a save and load"
    );
}

/// The same bases, bit for bit, under `Par::Seq` and `Par::rayon(2)`.
#[track_caller]
pub fn check_tracker_determinism(method: &Arc<dyn SubspaceMethod>) {
    let name = method.name();
    let (m, n, k) = CASES[1];
    let mats = trajectory(m, n, k);
    let seq = follow(tracker(method, m, n, k).as_mut(), &mats, 1, Par::Seq);
    let two = follow(tracker(method, m, n, k).as_mut(), &mats, 1, Par::rayon(2));
    for (i, (a, b)) in seq.iter().zip(&two).enumerate() {
        assert!(
            bits_equal(a.as_ref(), b.as_ref()),
            "{name} tracker: update {} has different bits under Seq and rayon(2) (the result must not depend on the thread count)",
            i + 1
        );
    }
}

/// A state with one tensor of the wrong shape, or with one tensor missing,
/// is refused naming that tensor; a refused state changes nothing; a matrix
/// of another shape is refused too.
#[track_caller]
pub fn check_state_shapes(method: &Arc<dyn SubspaceMethod>) {
    let name = method.name();
    let (m, n, k) = CASES[0];
    let mats = trajectory(m, n, k);
    let mut t = tracker(method, m, n, k);
    follow(t.as_mut(), &mats[..2], 1, Par::Seq);
    let state = t.state();
    let mut fresh = tracker(method, m, n, k);
    let refused = |fresh: &mut Box<dyn Tracker>, bad: &[StateTensor], tensor: &str, what: &str| {
        match fresh.load_state(bad) {
            Ok(()) => panic!("{name} tracker: a state with {what} was loaded"),
            Err(e) => assert!(
                e.tensor.contains(tensor),
                "{name} tracker: a state with {what} was refused naming {:?}, not {tensor:?}: {e}",
                e.tensor
            ),
        }
        assert!(
            fresh.state().is_empty() && fresh.basis().is_none(),
            "{name} tracker: a refused state ({what}) changed the tracker"
        );
    };
    for (i, tensor) in state.iter().enumerate() {
        let mut bad = state.clone();
        let mut shape = tensor.shape.clone();
        match shape.first_mut() {
            Some(rows) => *rows += 1,
            None => shape.push(2),
        }
        bad[i].data = vec![0.0; shape.iter().product()];
        bad[i].shape = shape;
        let what = format!("tensor {:?} of shape {:?}", tensor.name, bad[i].shape);
        refused(&mut fresh, &bad, &tensor.name, &what);
        if state.len() > 1 {
            let mut missing = state.clone();
            missing.remove(i);
            let what = format!("tensor {:?} missing", tensor.name);
            refused(&mut fresh, &missing, &tensor.name, &what);
        }
    }
    let wrong = Mat::<f32>::zeros(m + 1, n);
    assert!(
        t.update(wrong.as_ref(), &mut Context::new(SEED)).is_err(),
        "{name} tracker: a {}×{n} matrix was taken by a tracker of {m}×{n}",
        m + 1
    );
}

fn states_equal(a: &[StateTensor], b: &[StateTensor]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.name == y.name
                && x.shape == y.shape
                && x.data.len() == y.data.len()
                && x.data
                    .iter()
                    .zip(&y.data)
                    .all(|(u, v)| u.to_bits() == v.to_bits())
        })
}

fn bits_equal(a: MatRef<'_, f32>, b: MatRef<'_, f32>) -> bool {
    a.shape() == b.shape()
        && (0..a.ncols())
            .all(|j| (0..a.nrows()).all(|i| a[(i, j)].to_bits() == b[(i, j)].to_bits()))
}
