//! Errors across the boundary.
//!
//! Every error of the lab (bad input, an unknown method or param, a
//! numerical failure) becomes a Python exception carrying the lab's own
//! message: [`LabError`] (a `ValueError`), or `TypeError` for an input of the
//! wrong type or dtype. A panic never crosses into Python: every call runs
//! under [`guarded`], which turns one into a `RuntimeError` naming it a bug.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::PyErr;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};

pyo3::create_exception!(
    galore_lab,
    LabError,
    PyValueError,
    "An error of the lab: bad input (not finite, a rank above min(m, n), a state of another \
     shape), an unknown method or param, or a numerical failure, with the lab's message."
);

/// Why a call failed, before it becomes a Python exception.
#[derive(Debug)]
pub enum Failure {
    /// The lab's own error (its message verbatim): [`LabError`].
    Lab(String),
    /// An argument of the wrong type or dtype: `TypeError`.
    Type(String),
    /// A panic caught at the boundary: `RuntimeError`.
    Internal(String),
}

impl Failure {
    /// A lab error from anything that displays as the lab's message.
    pub fn lab(e: impl std::fmt::Display) -> Self {
        Failure::Lab(e.to_string())
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Lab(m) => LabError::new_err(m),
            Failure::Type(m) => PyTypeError::new_err(m),
            Failure::Internal(m) => PyRuntimeError::new_err(format!(
                "internal error in galore_lab (a bug: please report it with the call that \
                 raised it): {m}"
            )),
        }
    }
}

/// Runs `f`, turning a panic into [`Failure::Internal`] with its message.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with no message".into());
            Err(Failure::Internal(message))
        }
    }
}
