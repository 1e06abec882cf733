//! Measuring one [`Case`]: a loaded matrix, a built method, a rank and a
//! thread count, into one [`Row`].
//!
//! Inside the lane's pool: `warmup` untimed calls (at least one), then
//! `repeats` timed calls, the first of which also measures the peak heap
//! through the [`HeapProbe`]; then, where an energy meter exists, a separate
//! pass of at least [`ENERGY_MIN_SECONDS`] reads it around repeated calls.
//! Every call gets a fresh `Context` with the suite's seed, so every repeat
//! computes the same basis, and the accuracy figures come from it, against
//! the f64 reference SVD of the matrix. A method that did not build, is
//! unavailable, fails, or is asked for a rank above min(m, n) gives a row
//! with that [`Status`] and the reason.

use std::time::Instant;

use faer::{MatRef, Par};
use subspace::metrics::{self, Accuracy};
use subspace::reference::ReferenceSvd;
use subspace::{Context, SubspaceError, SubspaceMethod};

use crate::power::Meter;
use crate::suite::Suite;

use super::HeapProbe;
use super::calibrate::{Lane, par};
use super::load::Loaded;
use super::plan::Method;
use crate::records::{Row, Status, inline_params};

/// Minimum length of a row's energy pass, in seconds.
pub const ENERGY_MIN_SECONDS: f64 = 0.5;

/// One row to measure.
pub struct Case<'a> {
    pub suite: &'a Suite,
    pub matrix: &'a Loaded,
    /// The f64 reference SVD of `matrix.input()`.
    pub reference: &'a ReferenceSvd,
    pub method: &'a Method<'a>,
    pub rank: usize,
    pub lane: &'a Lane,
    /// The heap probe; `None` leaves the heap column empty.
    pub heap: Option<&'a dyn HeapProbe>,
}

/// Measures `case` (see the module doc), reading `meter` for energy.
pub fn measure(case: &Case<'_>, meter: &mut Meter) -> Row {
    let Case {
        suite,
        matrix: m,
        reference,
        method,
        rank,
        lane,
        heap,
    } = *case;
    let a = m.input();
    let mut row = Row::new(suite, m.name.clone(), m.source.clone()).with_origin(m.origin.as_ref());
    row.rows = m.matrix.nrows();
    row.cols = m.matrix.ncols();
    row.side = m.side();
    row.method = method.job.label.clone();
    row.plugin = method.job.plugin.clone();
    row.params = inline_params(&method.job.params);
    row.rank = rank;
    row.threads = lane.threads;
    row.gemm_gflops = Some(lane.gemm_gflops);

    let method = match &method.built {
        Ok(method) => method.as_ref(),
        Err(e) => return row.with_status(Status::Error, e.clone()),
    };
    if let Err(reason) = method.availability() {
        return row.with_status(Status::Unavailable, reason);
    }
    let (rows_in, cols_in) = a.shape();
    if rank > rows_in.min(cols_in) {
        return row.with_status(
            Status::Skipped,
            format!(
                "rank {rank} > min(m, n) = {} for this {rows_in}×{cols_in} input",
                rows_in.min(cols_in)
            ),
        );
    }
    row.device = match method.device() {
        subspace::Device::Cpu => "cpu".into(),
        subspace::Device::Cuda(i) => format!("cuda:{i}"),
    };
    row.predicted_bytes = Some(method.workspace_bytes(rows_in, cols_in, rank));

    let par = par(lane.threads);
    let call = |method: &dyn SubspaceMethod| {
        let mut ctx = Context::new(suite.seed).with_par(par);
        method.left_basis(a, rank, &mut ctx)
    };

    type Measured = (subspace::Basis, Vec<f64>, Option<usize>);
    let result = lane.pool.install(|| -> Result<Measured, String> {
        // At least one untimed call (first calls size caches and buffers).
        for _ in 0..suite.warmup.max(1) {
            call(method).map_err(|e| explain(&e, a))?;
        }
        // The heap peak is that of the first timed call.
        let mut samples = Vec::with_capacity(suite.repeats);
        let mut last = None;
        let mut peak = None;
        for i in 0..suite.repeats {
            if i == 0 {
                heap.inspect(|h| h.reset());
            }
            let start = Instant::now();
            let basis = call(method).map_err(|e| explain(&e, a))?;
            samples.push(start.elapsed().as_secs_f64());
            if i == 0 {
                peak = heap.map(|h| h.peak_bytes());
            }
            last = Some(basis);
        }
        Ok((last.expect("repeats ≥ 1"), samples, peak))
    });
    // Energy: a pass of its own, after the timing, so reading the meter never
    // touches a timed call. Energy counters advance in steps (NVML's every
    // few tens of ms), so the pass repeats the call for at least
    // ENERGY_MIN_SECONDS and divides by the number of calls.
    let energy = if result.is_ok() && meter.is_available() {
        lane.pool
            .install(|| energy_pass(meter, || call(method).is_ok()))
    } else {
        Err(meter.describe())
    };
    let (basis, samples, peak) = match result {
        Ok(r) => r,
        Err(e) => return row.with_status(Status::Error, e),
    };
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    row.time_median_s = Some(median);
    row.time_min_s = sorted.first().copied();
    row.time_max_s = sorted.last().copied();
    if let Ok(ci) = crate::stats::bootstrap_median(&samples, row.seed) {
        row.time_median_lo_s = Some(ci.lo);
        row.time_median_hi_s = Some(ci.hi);
    }
    row.samples_s = samples;
    row.flops = Some(basis.info.flops);
    if median > 0.0 {
        let gflops = basis.info.flops / median / 1e9;
        row.gflops = Some(gflops);
        // faer's GEMM rate is the CPU's yardstick only; a GPU method's GEMM
        // fraction comes from ci/gpu-check.sh, against cuBLAS in the same run.
        if method.device() == subspace::Device::Cpu {
            row.gemm_fraction = Some(gflops / lane.gemm_gflops);
        }
    }
    row.peak_heap_bytes = peak;
    row.device_bytes = method.device_bytes();
    row.iterations = Some(basis.info.iterations);
    row.products = Some(basis.info.products);
    row.converged = Some(basis.info.converged);
    match energy {
        Ok((joules, seconds, calls, meters)) => {
            row.energy_j = Some(joules / calls as f64);
            row.power_w = (seconds > 0.0).then(|| joules / seconds);
            row.energy_note = format!("{meters}: {calls} calls over {seconds:.2} s");
        }
        Err(reason) => row.energy_note = reason,
    }

    match metrics::accuracy(reference, basis.q.as_ref(), Par::rayon(0)) {
        Ok(acc) => fill_accuracy(
            &mut row,
            &acc,
            reference,
            method.guarantee(rows_in, cols_in, rank),
        ),
        Err(e) => return row.with_status(Status::Error, format!("accuracy: {e}")),
    }
    row
}

fn fill_accuracy(row: &mut Row, acc: &Accuracy, reference: &ReferenceSvd, g: subspace::Guarantee) {
    row.err_fro = Some(acc.err_fro);
    row.err_spec = Some(acc.err_spec);
    row.sin_theta = Some(acc.sin_theta);
    row.energy = Some(acc.energy);
    row.ortho = Some(acc.ortho);
    if let Some(b) = metrics::bound_for(reference.singular_values(), g) {
        row.hmt_fro_bound = b.fro;
        row.hmt_spec_bound = Some(b.spec);
        // Up to roundoff: an exactly low-rank input has bounds of zero.
        let (m, n) = reference.a().shape();
        let floor = metrics::roundoff(m, n, reference.norm_fro());
        let fro_ok = b.fro.is_none_or(|f| acc.residual_fro <= f + floor);
        row.hmt_holds = Some(fro_ok && acc.residual_spec <= b.spec + floor);
    }
}

/// Calls `call` until at least [`ENERGY_MIN_SECONDS`] have passed (and at
/// least once) inside one meter region: (joules, seconds, calls, meters).
fn energy_pass(
    meter: &mut Meter,
    mut call: impl FnMut() -> bool,
) -> Result<(f64, f64, usize, String), String> {
    let region = meter.begin().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut calls = 0;
    while calls == 0 || start.elapsed().as_secs_f64() < ENERGY_MIN_SECONDS {
        if !call() {
            return Err("a call failed during the energy pass".into());
        }
        calls += 1;
    }
    let readings = meter.end(region).map_err(|e| e.to_string())?;
    let joules: f64 = readings.iter().map(|e| e.joules).sum();
    let seconds = readings.first().map_or(0.0, |e| e.seconds);
    if joules <= 0.0 {
        return Err(format!(
            "energy counter did not advance over {calls} calls ({seconds:.2} s)"
        ));
    }
    let meters = readings
        .iter()
        .map(|e| e.meter.clone())
        .collect::<Vec<_>>()
        .join(" + ");
    Ok((joules, seconds, calls, meters))
}

/// A failed call's reason; a numerical failure on a matrix whose entries are
/// large enough that ‖A‖_F² overflows f32 (largest |a_ij|² · m · n above
/// f32::MAX) says so and how to fix it.
pub(super) fn explain(e: &SubspaceError, a: MatRef<'_, f32>) -> String {
    let numerical = matches!(
        e,
        SubspaceError::NoConvergence { .. } | SubspaceError::Kernel { .. }
    );
    if !numerical {
        return e.to_string();
    }
    let largest = (0..a.ncols())
        .flat_map(|j| (0..a.nrows()).map(move |i| a[(i, j)].abs()))
        .fold(0.0f32, f32::max);
    let entries = (a.nrows() * a.ncols()).max(1) as f64;
    if (largest as f64).powi(2) * entries <= f32::MAX as f64 {
        return e.to_string();
    }
    format!(
        "{e}; the matrix's largest entry is {largest:e}, so sums of squares overflow f32 \
         (at most {:e}): the failure may be an overflow; scale the matrix (e.g. divide it by \
         its largest |entry|, which leaves its singular vectors unchanged) and run it again",
        f32::MAX
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::{EnergyMeter, PowerError};

    /// A counter that advances by `step` µJ per read.
    struct Fake {
        uj: u64,
        step: u64,
    }

    impl EnergyMeter for Fake {
        fn name(&self) -> &str {
            "fake"
        }
        fn read_uj(&mut self) -> Result<u64, PowerError> {
            self.uj += self.step;
            Ok(self.uj)
        }
    }

    #[test]
    fn the_energy_pass_lasts_long_enough_and_divides_by_the_calls() {
        let mut meter = Meter::from_meters(
            vec![Box::new(Fake {
                uj: 0,
                step: 2_000_000,
            })],
            vec![],
        );
        let mut n = 0;
        let (joules, seconds, calls, meters) = energy_pass(&mut meter, || {
            n += 1;
            true
        })
        .unwrap();
        assert_eq!(calls, n);
        assert!(seconds >= ENERGY_MIN_SECONDS, "{seconds}");
        assert_eq!((joules, meters.as_str()), (2.0, "fake"));
    }

    #[test]
    fn no_convergence_on_huge_entries_mentions_overflow_and_scaling() {
        let e = SubspaceError::NoConvergence {
            iterations: 7,
            residual: f64::INFINITY,
        };
        let huge = faer::Mat::<f32>::from_fn(3, 2, |i, j| (i + j) as f32 * 1e37);
        let msg = explain(&e, huge.as_ref());
        assert!(
            msg.starts_with("no convergence after 7 iterations") && msg.contains("overflow"),
            "{msg}"
        );
        assert!(msg.contains("scale the matrix"), "{msg}");
        let small = faer::Mat::<f32>::from_fn(3, 2, |i, j| (i + j) as f32);
        assert_eq!(explain(&e, small.as_ref()), e.to_string());
        let misuse = SubspaceError::ZeroRank { m: 3, n: 2 };
        assert_eq!(explain(&misuse, huge.as_ref()), misuse.to_string());
    }

    #[test]
    fn a_counter_that_does_not_advance_is_no_figure() {
        let mut meter = Meter::from_meters(vec![Box::new(Fake { uj: 5, step: 0 })], vec![]);
        let err = energy_pass(&mut meter, || true).unwrap_err();
        assert!(err.contains("did not advance"), "{err}");
        let mut meter = Meter::from_meters(vec![Box::new(Fake { uj: 5, step: 1 })], vec![]);
        assert!(
            energy_pass(&mut meter, || false)
                .unwrap_err()
                .contains("a call failed")
        );
    }
}
