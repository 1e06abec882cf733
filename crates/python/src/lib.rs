//! `galore_lab._native`: the native module of the `galore_lab` Python
//! package (python/galore_lab), a thin skin over the lab's crates.
//!
//! Every plugin `lab::registry()` registers is here with no extra code. What
//! Python computes about subspaces, Rust computes: the bases and trackers
//! ([`methods`], [`tracker`]), the basis alignment and refresh seeds of the
//! lab's GaLore, the lab's batches, initial weights and recording writer
//! ([`llama`]). Matrices come in as NumPy views of any strides without a
//! copy, and the GIL is released while the lab computes ([`convert`]).
//! Errors are Python exceptions carrying the lab's message, and no panic
//! crosses into Python ([`error`]).
//!
//! The Python layer (docstrings, torch tensors, `LabProjector`,
//! `GradientRecorder`) is in `python/galore_lab/`; its stubs are
//! `_native.pyi`. Tests: `tests/` (pytest), see the package's README.

mod convert;
mod error;
mod llama;
mod methods;
mod tracker;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("LabError", m.py().get_type::<error::LabError>())?;
    m.add_function(wrap_pyfunction!(methods::methods, m)?)?;
    m.add_function(wrap_pyfunction!(methods::left_basis, m)?)?;
    m.add_function(wrap_pyfunction!(methods::accuracy, m)?)?;
    m.add_function(wrap_pyfunction!(methods::align, m)?)?;
    m.add_function(wrap_pyfunction!(methods::refresh_seed, m)?)?;
    m.add_function(wrap_pyfunction!(methods::cosine_lr, m)?)?;
    m.add_class::<tracker::Tracker>()?;
    m.add_class::<llama::Batches>()?;
    m.add_function(wrap_pyfunction!(llama::presets, m)?)?;
    m.add_function(wrap_pyfunction!(llama::hf_config, m)?)?;
    m.add_function(wrap_pyfunction!(llama::init_weights, m)?)?;
    m.add_function(wrap_pyfunction!(llama::record_steps, m)?)?;
    m.add_function(wrap_pyfunction!(llama::train_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(llama::match_tensors, m)?)?;
    m.add_function(wrap_pyfunction!(llama::save_tensors, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
