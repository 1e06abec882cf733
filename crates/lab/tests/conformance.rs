//! The conformance kit over every registered plugin, with default params.
//!
//! Adding a plugin to `lab::registry()` is all it takes to be tested here.
//! Plugins whose backend is unavailable on this machine (a CUDA plugin
//! without a GPU) are reported as skipped, by name.

use subspace::SubspaceMethod;
use subspace::testkit;

fn methods() -> Vec<Box<dyn SubspaceMethod>> {
    let registry = lab::registry().expect("registry");
    let mut out = Vec::new();
    for entry in registry.entries() {
        let method = entry.build_default().expect("default params build");
        match method.availability() {
            Ok(()) => out.push(method),
            Err(reason) => println!("skipped: {} unavailable ({reason})", entry.name),
        }
    }
    out
}

#[test]
fn shapes() {
    for m in methods() {
        testkit::check_shapes(m.as_ref());
    }
}

#[test]
fn bad_input_is_an_error_value() {
    for m in methods() {
        testkit::check_errors(m.as_ref());
    }
}

#[test]
fn zero_and_rank_deficient() {
    for m in methods() {
        testkit::check_degenerate(m.as_ref());
    }
}

#[test]
fn accuracy_on_known_spectra() {
    for m in methods() {
        testkit::check_accuracy(m.as_ref(), 5);
    }
}

#[test]
fn determinism() {
    for m in methods() {
        testkit::check_determinism(m.as_ref());
    }
}

#[test]
fn drawn_shapes_and_spectra() {
    for m in methods() {
        testkit::check_drawn(m.as_ref(), 64);
    }
}
