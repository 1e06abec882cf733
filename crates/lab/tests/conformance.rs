//! The conformance kit over every registered plugin in each param variant
//! it declares (`Plugin::conformance_params`).
//!
//! Adding a plugin to `lab::registry()` is all it takes to be tested here,
//! one-shot and as a tracker (`subspace::tracker`, the kit's `tracking`
//! checks).
//! Variants whose backend is unavailable on this machine (a CUDA plugin
//! without a GPU) are reported as skipped, by name. A failure names the
//! variant.
//!
//! The workspace test measures the heap with the counting allocator, which
//! counts every thread's allocations: it takes [`GATE`] exclusively, every
//! other test shares it, so nothing else runs while it measures.

use harness::runner::HeapProbe;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};
use subspace::testkit::{self, Variant};

#[global_allocator]
static HEAP: lab::heap::Counting = lab::heap::Counting::new();

static GATE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    GATE.read().unwrap_or_else(PoisonError::into_inner)
}

fn variants() -> Vec<Variant> {
    testkit::variants(&lab::registry().expect("registry"))
}

#[test]
fn shapes() {
    let _gate = shared();
    for v in variants() {
        v.check(testkit::check_shapes);
    }
}

#[test]
fn bad_input_is_an_error_value() {
    let _gate = shared();
    for v in variants() {
        v.check(testkit::check_errors);
    }
}

#[test]
fn zero_and_rank_deficient() {
    let _gate = shared();
    for v in variants() {
        v.check(testkit::check_degenerate);
    }
}

#[test]
fn accuracy_on_known_spectra() {
    let _gate = shared();
    for v in variants() {
        v.check(|m| testkit::check_accuracy(m, 5));
    }
}

#[test]
fn determinism() {
    let _gate = shared();
    for v in variants() {
        v.check(testkit::check_determinism);
    }
}

#[test]
fn controls_follow_their_stated_rule() {
    let _gate = shared();
    for v in variants() {
        v.check(testkit::check_rule);
    }
}

#[test]
fn drawn_shapes_and_spectra() {
    let _gate = shared();
    for v in variants() {
        v.check(|m| testkit::check_drawn(m, 64));
    }
}

#[test]
fn workspace_bytes_predict_the_peak_heap() {
    let _alone = GATE.write().unwrap_or_else(PoisonError::into_inner);
    let peak_heap = |f: &mut dyn FnMut()| {
        HEAP.reset();
        f();
        HEAP.peak_bytes()
    };
    for v in variants() {
        println!("{}", v.label);
        v.check(|m| {
            testkit::check_workspace(m, &peak_heap);
        });
    }
}

#[test]
fn trackers_settle_where_they_declare() {
    let _gate = shared();
    for v in variants() {
        v.check_shared(testkit::check_settling);
    }
}

#[test]
fn tracker_state_round_trips_bit_for_bit() {
    let _gate = shared();
    for v in variants() {
        v.check_shared(testkit::check_state_round_trip);
    }
}

#[test]
fn trackers_give_the_same_bits_for_any_thread_count() {
    let _gate = shared();
    for v in variants() {
        v.check_shared(testkit::check_tracker_determinism);
    }
}

#[test]
fn tracker_states_of_the_wrong_shape_are_refused_by_name() {
    let _gate = shared();
    for v in variants() {
        v.check_shared(testkit::check_state_shapes);
    }
}
