//! [`SubspaceMethod::workspace_bytes`] against the measured peak heap of a
//! call, for CPU methods.
//!
//! The measured figure M is the most heap bytes live at once during one
//! `left_basis` call (the returned basis included), above those live when
//! it starts, after one unmeasured call of the same shape (first calls
//! grow thread-local caches the harness never counts either: it measures
//! after a warm-up too). The call runs with `Par::Seq`, cold and then with
//! the cold call's basis as a warm start. A library cannot install a global
//! allocator, so the caller supplies the measurement as a closure (the
//! `lab` crate's tests, from `lab::heap::Counting`). The cold call is held
//! to [`SubspaceMethod::workspace_bytes`], the warm one to
//! [`SubspaceMethod::warm_workspace_bytes`].
//!
//! Tolerance, for a prediction P:
//!
//! - M ≤ (1 + [`OVER`])·P + [`SLACK`] = 1.1·P + 4 KiB: the prediction is not
//!   an underestimate (the training run accounts the refresh's working
//!   memory with it);
//! - P ≤ [`UNDER`]·M + [`SLACK`] = 1.2·M + 4 KiB: nor absurdly high.
//!
//! [`SLACK`] covers the few small allocations no formula names (faer's
//! per-call bookkeeping, pivot vectors). A prediction counts each matrix
//! as faer allocates it, columns padded to 64 bytes, where that matters
//! (thin sketches). A method off by more has its formula fixed, not the
//! tolerance widened. GPU methods (whose prediction is device memory) are
//! not checked here.

use super::checks::assert_orthonormal;
use crate::generate::{self, Spectrum};
use crate::{Context, Device, SubspaceMethod};
use faer::Mat;

/// Allowed excess of the measured peak over the prediction (fraction).
pub const OVER: f64 = 0.10;
/// Allowed ratio of the prediction to the measured peak.
pub const UNDER: f64 = 1.20;
/// Bytes allowed beyond both ratios.
pub const SLACK: usize = 4 << 10;

/// The shapes of the workspace check: a GaLore gradient (an MLP matrix of
/// the 60M model, k = 128) wide and tall, mid-sized shapes where Krylov
/// methods restart, and a rank close to min(m, n) (dense fallbacks, a
/// sketch capped at full width).
pub const CASES: &[(usize, usize, usize)] = &[
    (512, 1376, 128),
    (1376, 512, 128),
    (300, 200, 24),
    (200, 300, 24),
    (120, 200, 10),
    (40, 30, 25),
];

/// One measured case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub warm: bool,
    pub predicted: usize,
    pub measured: usize,
}

/// Checks `method.workspace_bytes` on every shape of [`CASES`] against
/// `peak_heap`, which runs its argument and returns the peak heap bytes it
/// allocated (see the module doc). Prints and returns the figures; a GPU
/// method (whose prediction is device memory) is not checked and gives
/// none.
#[track_caller]
pub fn check_workspace(
    method: &dyn SubspaceMethod,
    peak_heap: &dyn Fn(&mut dyn FnMut()) -> usize,
) -> Vec<Measured> {
    if method.device() != Device::Cpu {
        return Vec::new();
    }
    let name = method.name();
    let mut out = Vec::new();
    for (i, &(m, n, k)) in CASES.iter().enumerate() {
        let a = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 0.5 }, 40 + i as u64);
        let call = |warm: Option<&Mat<f32>>| {
            let mut ctx = Context::new(3);
            if let Some(w) = warm {
                ctx = ctx.with_warm_start(w.as_ref());
            }
            method
                .left_basis(a.as_ref(), k, &mut ctx)
                .unwrap_or_else(|e| panic!("{name}: {m}×{n}, k = {k}: {e}"))
                .q
        };
        call(None);
        let mut cold = None;
        let measured = peak_heap(&mut || cold = Some(call(None)));
        let cold = cold.expect("the measured closure ran");
        out.push(Measured {
            m,
            n,
            k,
            warm: false,
            predicted: method.workspace_bytes(m, n, k),
            measured,
        });
        let mut warm = None;
        let measured = peak_heap(&mut || warm = Some(call(Some(&cold))));
        let warm = warm.expect("the measured closure ran");
        assert_orthonormal(
            name,
            &format!("{m}×{n}, k = {k}, warm start"),
            warm.as_ref(),
        );
        out.push(Measured {
            m,
            n,
            k,
            warm: true,
            predicted: method.warm_workspace_bytes(m, n, k),
            measured,
        });
    }
    for c in &out {
        let Measured {
            m,
            n,
            k,
            warm,
            predicted,
            measured,
        } = *c;
        let (p, meas) = (predicted as f64, measured as f64);
        let case = format!("{m}×{n}, k = {k}{}", if warm { ", warm start" } else { "" });
        println!(
            "{name} [{case}]: predicted {predicted} B, measured {measured} B (ratio {:.3})",
            p / meas
        );
        assert!(
            meas <= (1.0 + OVER) * p + SLACK as f64,
            "{name} [{case}]: workspace_bytes = {predicted} B underestimates the measured peak heap {measured} B (allowed: (1 + {OVER})·predicted + {SLACK} B)"
        );
        assert!(
            p <= UNDER * meas + SLACK as f64,
            "{name} [{case}]: workspace_bytes = {predicted} B overestimates the measured peak heap {measured} B (allowed: {UNDER}·measured + {SLACK} B)"
        );
    }
    out
}
