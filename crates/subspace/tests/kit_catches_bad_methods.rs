//! The conformance kit must fail methods that are wrong: each deliberately
//! broken method here is caught by the check named in the test.
//!
//! The workspace check needs a peak-heap measurement; this binary installs
//! [`PerThread`], which counts each thread's own allocations, so tests
//! running side by side do not see each other's (the kit calls a method
//! with `Par::Seq`, on the calling thread).

use documented::DocumentedFields;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use subspace::tracker::WarmStarted;
use subspace::{
    Basis, Context, Guarantee, Info, Plugin, Registry, StateError, StateTensor, SubspaceError,
    SubspaceMethod, Tracker, testkit,
};

/// The system allocator, counting this thread's live bytes and their peak.
struct PerThread;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(by: isize) {
    // `try_with`: a thread's last frees may come after its locals are gone.
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + by);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for PerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        grew(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: PerThread = PerThread;

/// Peak bytes this thread allocated while `f` ran, above those live before.
fn peak_heap(f: &mut dyn FnMut()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    (PEAK.with(Cell::get) - base) as usize
}

/// The first k left singular vectors of faer's f32 thin SVD.
fn svd_basis(a: MatRef<'_, f32>, k: usize) -> Mat<f32> {
    a.thin_svd().unwrap().U().subcols(0, k).to_owned()
}

/// Returns the first k columns of the identity: orthonormal, but not the
/// dominant subspace.
struct FirstColumns;
impl SubspaceMethod for FirstColumns {
    fn name(&self) -> &str {
        "first-columns"
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let q = Mat::from_fn(a.nrows(), k, |i, j| if i == j { 1.0 } else { 0.0 });
        Ok(Basis {
            q,
            info: Info::default(),
        })
    }
}

/// A correct basis scaled by 1 + 1e-4: not orthonormal.
struct Scaled;
impl SubspaceMethod for Scaled {
    fn name(&self) -> &str {
        "scaled"
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let q = a.thin_svd().unwrap().U().subcols(0, k).to_owned();
        Ok(Basis {
            q: Mat::from_fn(a.nrows(), k, |i, j| q[(i, j)] * 1.0001),
            info: Info::default(),
        })
    }
}

/// A correct basis whose last column flips sign on every call: not
/// deterministic.
struct Flipping(AtomicU64);
impl SubspaceMethod for Flipping {
    fn name(&self) -> &str {
        "flipping"
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let flip = if self.0.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
            1.0
        } else {
            -1.0
        };
        let u = a.thin_svd().unwrap().U().subcols(0, k).to_owned();
        let q = Mat::from_fn(a.nrows(), k, |i, j| {
            if j + 1 == k {
                flip * u[(i, j)]
            } else {
                u[(i, j)]
            }
        });
        Ok(Basis {
            q,
            info: Info::default(),
        })
    }
}

/// A random basis claiming to be a range finder with q = 2: within no bound.
struct ClaimsTooMuch;
impl SubspaceMethod for ClaimsTooMuch {
    fn name(&self) -> &str {
        "claims-too-much"
    }
    fn guarantee(&self, _: usize, _: usize, k: usize) -> Guarantee {
        Guarantee::Randomized {
            rank: k,
            oversample: 10,
            power_iters: 2,
            truncated: true,
        }
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let g = ctx.gaussian(a.nrows(), k);
        Ok(Basis {
            q: g.qr().compute_thin_Q(),
            info: Info::default(),
        })
    }
}

#[test]
#[should_panic(expected = "> 1.001 × optimal")]
fn accuracy_catches_a_wrong_subspace() {
    testkit::check_accuracy(&FirstColumns, 1);
}

#[test]
#[should_panic(expected = "‖QᵀQ − I‖_F")]
fn shapes_catch_a_non_orthonormal_basis() {
    testkit::check_shapes(&Scaled);
}

#[test]
#[should_panic(expected = "different bits")]
fn determinism_catches_a_changing_result() {
    testkit::check_determinism(&Flipping(AtomicU64::new(0)));
}

#[test]
#[should_panic(expected = "HMT")]
fn accuracy_catches_a_broken_bound() {
    testkit::check_accuracy(&ClaimsTooMuch, 3);
}

#[test]
#[should_panic(expected = "proptest found a failing case")]
fn proptest_catches_a_wrong_subspace() {
    testkit::check_drawn(&FirstColumns, 32);
}

#[test]
#[should_panic(expected = "roundoff floor")]
fn degenerate_catches_a_wrong_subspace() {
    testkit::check_degenerate(&FirstColumns);
}

/// A correct basis (faer's f32 thin SVD, m×min(m, n) U kept while the m×k
/// copy is made) whose prediction counts the SVD's m×n-sized factors and
/// scratch as `factor` times what they are.
struct Predicts {
    name: &'static str,
    factor: f64,
}
impl SubspaceMethod for Predicts {
    fn name(&self) -> &str {
        self.name
    }
    fn workspace_bytes(&self, m: usize, n: usize, k: usize) -> usize {
        let r = m.min(n);
        let svd = faer::linalg::svd::svd_scratch::<f32>(
            m,
            n,
            faer::linalg::svd::ComputeSvdVectors::Thin,
            faer::linalg::svd::ComputeSvdVectors::Thin,
            faer::Par::Seq,
            Default::default(),
        )
        .size_bytes();
        let u_s_v = 4 * (m.next_multiple_of(16) * r + r + n.next_multiple_of(16) * r);
        ((svd + u_s_v) as f64 * self.factor) as usize + 4 * m.next_multiple_of(16) * k
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        Ok(Basis {
            q: svd_basis(a, k),
            info: Info::default(),
        })
    }
}

#[test]
fn workspace_passes_a_fair_prediction() {
    let fair = Predicts {
        name: "fair",
        factor: 1.0,
    };
    let figures = testkit::check_workspace(&fair, &peak_heap);
    assert_eq!(figures.len(), 2 * testkit::workspace::CASES.len());
}

#[test]
#[should_panic(expected = "underestimates the measured peak heap")]
fn workspace_catches_an_underestimate() {
    let low = Predicts {
        name: "low",
        factor: 0.5,
    };
    testkit::check_workspace(&low, &peak_heap);
}

#[test]
#[should_panic(expected = "overestimates the measured peak heap")]
fn workspace_catches_an_overestimate() {
    let high = Predicts {
        name: "high",
        factor: 2.0,
    };
    testkit::check_workspace(&high, &peak_heap);
}

/// Params of [`WrongOffDefaults`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, DocumentedFields)]
#[serde(default, deny_unknown_fields)]
struct CorruptParams {
    /// Scale the basis by 1 + 1e-4, so it is no longer orthonormal
    /// (default false).
    corrupt: bool,
}

/// A correct basis with its default params, a non-orthonormal one with the
/// variant it declares.
struct WrongOffDefaults(CorruptParams);
impl SubspaceMethod for WrongOffDefaults {
    fn name(&self) -> &str {
        Self::NAME
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let scale = if self.0.corrupt { 1.0001 } else { 1.0 };
        let u = svd_basis(a, k);
        Ok(Basis {
            q: Mat::from_fn(a.nrows(), k, |i, j| u[(i, j)] * scale),
            info: Info::default(),
        })
    }
}
impl Plugin for WrongOffDefaults {
    const NAME: &'static str = "wrong-off-defaults";
    const SUMMARY: &'static str = "correct with its defaults only";
    type Params = CorruptParams;
    fn new(params: CorruptParams) -> Result<Self, String> {
        Ok(Self(params))
    }
    fn conformance_params() -> Vec<CorruptParams> {
        vec![CorruptParams::default(), CorruptParams { corrupt: true }]
    }
}

fn wrong_off_defaults() -> Vec<testkit::Variant> {
    let mut registry = Registry::new();
    registry.register::<WrongOffDefaults>().unwrap();
    testkit::variants(&registry)
}

#[test]
fn variants_are_the_declared_params_defaults_first() {
    let variants = wrong_off_defaults();
    let labels: Vec<&str> = variants.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "wrong-off-defaults (defaults)",
            "wrong-off-defaults {corrupt = true}"
        ]
    );
    assert!(variants[0].is_default() && !variants[1].is_default());
    // The defaults alone pass: only the variant can fail the next test.
    variants[0].check(testkit::check_shapes);
}

#[test]
#[should_panic(
    expected = "[wrong-off-defaults {corrupt = true}] wrong-off-defaults [1×1, k = 1]: ‖QᵀQ − I‖_F"
)]
fn variants_catch_a_method_wrong_only_off_its_defaults() {
    for v in wrong_off_defaults() {
        v.check(testkit::check_shapes);
    }
}

/// faer's f32 basis on a cold call, the warm start unchanged on a warm one:
/// a tracker that stops moving, claiming to settle within one update.
struct Stale;
impl SubspaceMethod for Stale {
    fn name(&self) -> &str {
        "stale"
    }
    fn guarantee(&self, _: usize, _: usize, _: usize) -> Guarantee {
        Guarantee::Unbounded
    }
    fn settles_within(&self, _: usize, _: usize, _: usize) -> Option<usize> {
        Some(1)
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let q = match ctx.warm_start {
            Some(w) => w.subcols(0, k).to_owned(),
            None => svd_basis(a, k),
        };
        Ok(Basis {
            q,
            info: Info::default(),
        })
    }
}

#[test]
#[should_panic(expected = "declares settles_within(1) but err_fro")]
fn settling_catches_a_tracker_that_stops_moving() {
    let stale: Arc<dyn SubspaceMethod> = Arc::new(Stale);
    testkit::check_settling(&stale);
}

/// The warm-started default tracker, except that it takes any state and
/// keeps none of it.
struct Amnesiac(WarmStarted);
impl Tracker for Amnesiac {
    fn name(&self) -> &str {
        "amnesiac"
    }
    fn shape(&self) -> (usize, usize, usize) {
        self.0.shape()
    }
    fn advance(
        &mut self,
        a: MatRef<'_, f32>,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        self.0.advance(a, ctx)
    }
    fn basis(&self) -> Option<MatRef<'_, f32>> {
        self.0.basis()
    }
    fn state(&self) -> Vec<StateTensor> {
        self.0.state()
    }
    fn load_state(&mut self, _: &[StateTensor]) -> Result<(), StateError> {
        Ok(())
    }
}

/// faer's f32 SVD, tracked by an [`Amnesiac`].
struct Forgets;
impl SubspaceMethod for Forgets {
    fn name(&self) -> &str {
        "forgets"
    }
    fn own_tracker(&self, m: usize, n: usize, k: usize) -> Option<Box<dyn Tracker>> {
        let inner: Arc<dyn SubspaceMethod> = Arc::new(Stale);
        Some(Box::new(Amnesiac(WarmStarted::new(inner, m, n, k))))
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        Ok(Basis {
            q: svd_basis(a, k),
            info: Info::default(),
        })
    }
}

#[test]
#[should_panic(expected = "forgets tracker: a loaded state reads back with other bits")]
fn round_trip_catches_a_tracker_that_drops_its_state() {
    let forgets: Arc<dyn SubspaceMethod> = Arc::new(Forgets);
    testkit::check_state_round_trip(&forgets);
}

#[test]
#[should_panic(expected = "of shape [121, 8] was loaded")]
fn state_shapes_catch_a_tracker_that_takes_any_state() {
    let forgets: Arc<dyn SubspaceMethod> = Arc::new(Forgets);
    testkit::check_state_shapes(&forgets);
}
