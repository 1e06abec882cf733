//! The conformance kit: the checks every registered subspace method passes,
//! in every param variant it declares.
//!
//! Each `check_*` function takes a built method and panics with a message
//! naming the method, the case and the figures when the method fails. The
//! `lab` crate's tests run every check over [`variants`]: each registered
//! plugin built from each of its
//! [`conformance_params`](crate::Plugin::conformance_params) (its defaults
//! unless it declares more), a failure naming the variant. A new plugin is
//! one crate and one registration line, and is tested with no new test
//! code.
//!
//! - [`checks`]: shapes, error values, degenerate inputs, accuracy on known
//!   spectra, determinism across thread counts, and the oracles they share;
//! - [`drawn`]: proptest-drawn cases and the fixtures they left;
//! - [`workspace`]: the predicted `workspace_bytes` against a measured peak
//!   heap, within the tolerance stated there;
//! - [`rules`]: what the two control guarantees state, where no bound
//!   applies: a Haar basis ignores A and has Haar moments, a BestColumns
//!   basis is the k best-scoring columns of a fixed dictionary;
//! - [`tracking`]: every method as a tracker ([`crate::tracker()`]) on a
//!   slowly turning trajectory: declared settling, state round trip, same
//!   bits for any thread count, states of the wrong shape refused;
//! - [`variants`]: the plugins' param variants, built, and a check run on
//!   one with the variant named in its failure.
//!
//! `kit_catches_bad_methods.rs` holds the kit to failing: every check fails
//! on a deliberately wrong method.

pub mod checks;
pub mod drawn;
pub mod rules;
pub mod tracking;
pub mod variants;
pub mod workspace;

pub use checks::{
    SpectrumCase, assert_orthonormal, check_accuracy, check_degenerate, check_determinism,
    check_errors, check_shapes, ortho_tol, roundoff_floor, run, spectrum_cases,
};
pub use drawn::{DrawnCase, FIXTURES, check_case, check_drawn};
pub use rules::{check_best_columns, check_haar, check_rule};
pub use tracking::{
    check_settling, check_state_round_trip, check_state_shapes, check_tracker_determinism,
};
pub use variants::{Variant, variants};
pub use workspace::check_workspace;
