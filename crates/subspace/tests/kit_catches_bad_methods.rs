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

/// The QR of an m×k Gaussian from the context, with R's diagonal made
/// positive (`sign_fix`, Mezzadri 2007) or left to the QR's convention,
/// after scaling the Gaussian's first row by `skew`.
fn gaussian_basis(
    m: usize,
    k: usize,
    ctx: &mut Context<'_>,
    sign_fix: bool,
    skew: f32,
) -> Mat<f32> {
    let mut g = ctx.gaussian(m, k);
    for j in 0..k {
        g[(0, j)] *= skew;
    }
    let qr = g.qr();
    let (q, r) = (qr.compute_thin_Q(), qr.thin_R());
    Mat::from_fn(m, k, |i, j| {
        if sign_fix && r[(j, j)] < 0.0 {
            -q[(i, j)]
        } else {
            q[(i, j)]
        }
    })
}

/// A claimed Haar basis: `sign_fix` and `skew` as in [`gaussian_basis`],
/// or the SVD's basis of A (`reads_a`).
struct ClaimsHaar {
    name: &'static str,
    sign_fix: bool,
    skew: f32,
    reads_a: bool,
}
impl SubspaceMethod for ClaimsHaar {
    fn name(&self) -> &str {
        self.name
    }
    fn guarantee(&self, _: usize, _: usize, _: usize) -> Guarantee {
        Guarantee::Haar
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let q = if self.reads_a {
            svd_basis(a, k)
        } else {
            gaussian_basis(a.nrows(), k, ctx, self.sign_fix, self.skew)
        };
        Ok(Basis {
            q,
            info: Info::default(),
        })
    }
}

const HAAR: ClaimsHaar = ClaimsHaar {
    name: "haar",
    sign_fix: true,
    skew: 1.0,
    reads_a: false,
};

#[test]
fn haar_passes_a_haar_basis() {
    testkit::check_haar(&HAAR);
    // It claims no bound, and no range: the degenerate check holds it to
    // orthonormality only.
    testkit::check_degenerate(&HAAR);
}

#[test]
#[should_panic(expected = "the basis depends on A")]
fn haar_catches_a_basis_that_reads_the_matrix() {
    testkit::check_haar(&ClaimsHaar {
        name: "reads-a",
        reads_a: true,
        ..HAAR
    });
}

#[test]
#[should_panic(expected = "from E[Q] = 0")]
fn haar_catches_a_qr_without_the_sign_fix() {
    testkit::check_haar(&ClaimsHaar {
        name: "no-sign-fix",
        sign_fix: false,
        ..HAAR
    });
}

#[test]
#[should_panic(expected = "E[QQᵀ] = (k/m)·I")]
fn haar_catches_a_skewed_distribution() {
    testkit::check_haar(&ClaimsHaar {
        name: "skewed",
        skew: 2.0,
        ..HAAR
    });
}

/// Rows of A as the dictionary (D = I): the k rows of largest ℓ-norm
/// (`ell`), claimed as `claims`; `worst` keeps the smallest instead, `svd`
/// returns the SVD's basis.
struct RowNorms {
    name: &'static str,
    ell: u8,
    claims: u8,
    worst: bool,
    svd: bool,
}
impl SubspaceMethod for RowNorms {
    fn name(&self) -> &str {
        self.name
    }
    fn guarantee(&self, _: usize, _: usize, _: usize) -> Guarantee {
        Guarantee::BestColumns { ell: self.claims }
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        _: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let (m, n) = a.shape();
        if self.svd {
            return Ok(Basis {
                q: svd_basis(a, k),
                info: Info::default(),
            });
        }
        let score = |i: usize| -> f64 {
            let row = (0..n).map(|j| f64::from(a[(i, j)]).abs());
            if self.ell == 1 {
                row.sum()
            } else {
                row.map(|x| x * x).sum()
            }
        };
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|&x, &y| score(y).total_cmp(&score(x)).then(x.cmp(&y)));
        if self.worst && k < m {
            order.reverse();
        }
        let q = Mat::from_fn(m, k, |i, c| f32::from(i == order[c]));
        Ok(Basis {
            q,
            info: Info::default(),
        })
    }
}

const ROWS: RowNorms = RowNorms {
    name: "row-norms",
    ell: 2,
    claims: 2,
    worst: false,
    svd: false,
};

#[test]
fn best_columns_passes_a_correct_selection() {
    testkit::check_best_columns(&ROWS);
    testkit::check_best_columns(&RowNorms {
        ell: 1,
        claims: 1,
        ..ROWS
    });
    testkit::check_degenerate(&ROWS);
}

#[test]
#[should_panic(expected = "left out column")]
fn best_columns_catches_the_worst_columns() {
    testkit::check_best_columns(&RowNorms {
        name: "worst-rows",
        worst: true,
        ..ROWS
    });
}

#[test]
#[should_panic(expected = "left out column")]
fn best_columns_catches_another_norm() {
    testkit::check_best_columns(&RowNorms {
        name: "l1-claims-l2",
        ell: 1,
        ..ROWS
    });
}

#[test]
#[should_panic(expected = "is not a column of its dictionary")]
fn best_columns_catches_a_basis_outside_the_dictionary() {
    testkit::check_best_columns(&RowNorms {
        name: "svd-claims-columns",
        svd: true,
        ..ROWS
    });
}
