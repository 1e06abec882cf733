//! `Tracker`: a method following one m×n matrix across refreshes
//! (`subspace::tracker`: the method's own tracker, or the one-shot method
//! warm-started from its previous basis).
//!
//! Its random state is the harness's along a trajectory
//! (`harness::runner::track::follow`): one `Context::new(seed)` whose draws
//! carry from one update to the next. `update(a, seed=s)` instead gives one
//! update a fresh `Context::new(s)`, as GaLore's refresh does
//! (`refresh_seed`), leaving the carried draws alone. The state (the
//! tracker's named tensors and the draw count) round-trips bit for bit
//! through `state_dict()` / `load_state_dict()` and pickle.

use std::sync::{Arc, Mutex, MutexGuard};

use numpy::ndarray::ArrayD;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};
use subspace::{Context, StateTensor, SubspaceError, SubspaceMethod};

use crate::convert;
use crate::error::{Failure, guarded};
use crate::methods::{build, with_threads};

/// What an update changes: the tracker and the carried context's draws.
struct Live {
    tracker: Box<dyn subspace::Tracker>,
    draws: u64,
}

/// A subspace method following one matrix across refreshes.
#[pyclass(module = "galore_lab", name = "Tracker")]
pub struct Tracker {
    method: String,
    params: toml::Table,
    rows: usize,
    cols: usize,
    k: usize,
    seed: u64,
    threads: usize,
    built: Arc<dyn SubspaceMethod>,
    live: Mutex<Live>,
}

impl Tracker {
    fn live(&self) -> Result<MutexGuard<'_, Live>, Failure> {
        self.live.lock().map_err(Failure::lab)
    }
}

#[pymethods]
impl Tracker {
    #[new]
    #[pyo3(signature = (method, rows, cols, k, params = None, seed = 0, threads = 1))]
    fn new(
        method: &str,
        rows: usize,
        cols: usize,
        k: usize,
        params: Option<&Bound<'_, PyAny>>,
        seed: u64,
        threads: usize,
    ) -> PyResult<Self> {
        let params = convert::table(params)?;
        let built = guarded(|| build(method, &params))?;
        let shape_error = if rows == 0 || cols == 0 {
            Some(SubspaceError::EmptyMatrix { m: rows, n: cols })
        } else if k == 0 {
            Some(SubspaceError::ZeroRank { m: rows, n: cols })
        } else if k > rows.min(cols) {
            Some(SubspaceError::RankTooLarge {
                k,
                m: rows,
                n: cols,
            })
        } else {
            None
        };
        if let Some(e) = shape_error {
            return Err(Failure::lab(e).into());
        }
        with_threads(threads, |_| ())?;
        let tracker = subspace::tracker(&built, rows, cols, k);
        Ok(Self {
            method: method.to_string(),
            params,
            rows,
            cols,
            k,
            seed,
            threads,
            built,
            live: Mutex::new(Live { tracker, draws: 0 }),
        })
    }

    /// The tracked basis of `a` (rows×cols float32), the state advanced.
    #[pyo3(signature = (a, seed = None))]
    fn update<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        seed: Option<u64>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let array = convert::matrix(a, "a")?;
        let view = convert::mat_ref(&array);
        let q = py.detach(|| {
            guarded(|| {
                let mut guard = self.live()?;
                let live: &mut Live = &mut guard;
                let carried = seed.is_none();
                let mut ctx = Context::new(seed.unwrap_or(self.seed));
                if carried {
                    ctx.advance_draws_to(live.draws);
                }
                let basis = with_threads(self.threads, |par| {
                    ctx.par = par;
                    live.tracker.update(view, &mut ctx)
                })?
                .map_err(Failure::lab)?;
                if carried {
                    live.draws = ctx.draws();
                }
                Ok(basis.q)
            })
        })?;
        Ok(convert::to_numpy(py, q.as_ref()))
    }

    /// The basis of the last update (rows×k), or None before the first.
    #[getter]
    fn basis<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray2<f32>>>> {
        let live = guarded(|| self.live())?;
        Ok(live.tracker.basis().map(|q| convert::to_numpy(py, q)))
    }

    /// (rows, cols, k).
    #[getter]
    fn shape(&self) -> (usize, usize, usize) {
        (self.rows, self.cols, self.k)
    }

    #[getter]
    fn method(&self) -> &str {
        &self.method
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.seed
    }

    #[getter]
    fn threads(&self) -> usize {
        self.threads
    }

    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        convert::table_to_py(py, &self.params)
    }

    /// Bytes of the state the tracker holds now.
    #[getter]
    fn state_bytes(&self) -> PyResult<usize> {
        Ok(guarded(|| self.live())?.tracker.state_bytes())
    }

    /// The state: the tracker's named float32 tensors (NumPy arrays) and the
    /// carried draw count, with the method, params, shape and seed it
    /// belongs to.
    fn state_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (state, draws) = {
            let live = guarded(|| self.live())?;
            (live.tracker.state(), live.draws)
        };
        let tensors = PyDict::new(py);
        for t in state {
            let array = ArrayD::from_shape_vec(t.shape.clone(), t.data)
                .map_err(|e| Failure::Internal(e.to_string()))?;
            tensors.set_item(&t.name, array.into_pyarray(py))?;
        }
        let d = PyDict::new(py);
        d.set_item("method", &self.method)?;
        d.set_item("params", convert::table_to_py(py, &self.params)?)?;
        d.set_item("shape", (self.rows, self.cols, self.k))?;
        d.set_item("seed", self.seed)?;
        d.set_item("draws", draws)?;
        d.set_item("tensors", tensors)?;
        Ok(d)
    }

    /// Restores a state from `state_dict()` (of a tracker of the same method,
    /// params and shape); on an error nothing changes.
    fn load_state_dict(&self, state: &Bound<'_, PyDict>) -> PyResult<()> {
        let get = |key: &str| -> Result<Bound<'_, PyAny>, Failure> {
            state.get_item(key).map_err(Failure::lab)?.ok_or_else(|| {
                Failure::Lab(format!(
                    "the state has no {key:?}: pass a dict from Tracker.state_dict()"
                ))
            })
        };
        let method: String = get("method")?.extract()?;
        let shape: (usize, usize, usize) = get("shape")?.extract()?;
        if method != self.method || shape != (self.rows, self.cols, self.k) {
            return Err(Failure::Lab(format!(
                "the state is of a {method} tracker of shape {shape:?}, this tracker is {} of \
                 shape {:?}: load it into Tracker({method:?}, {}, {}, {})",
                self.method,
                (self.rows, self.cols, self.k),
                shape.0,
                shape.1,
                shape.2
            ))
            .into());
        }
        let params = convert::table(Some(&get("params")?))?;
        if params != self.params {
            return Err(Failure::Lab(format!(
                "the state was saved with params {{{}}}, this tracker has {{{}}}",
                harness::records::inline_params(&params),
                harness::records::inline_params(&self.params)
            ))
            .into());
        }
        let draws: u64 = get("draws")?.extract()?;
        let tensors = get("tensors")?;
        let tensors = tensors
            .cast::<PyDict>()
            .map_err(|_| Failure::Type("state[\"tensors\"] must be a dict of arrays".into()))?;
        let mut loaded = Vec::new();
        for (name, array) in tensors.iter() {
            let name: String = name.extract()?;
            let array = array
                .extract::<PyReadonlyArrayDyn<'_, f32>>()
                .map_err(|_| {
                    Failure::Type(format!(
                        "state[\"tensors\"][{name:?}] must be a float32 numpy array"
                    ))
                })?;
            loaded.push(StateTensor {
                name,
                shape: array.shape().to_vec(),
                data: array.as_array().iter().copied().collect(),
            });
        }
        guarded(|| {
            let mut live = self.live()?;
            live.tracker.load_state(&loaded).map_err(Failure::lab)?;
            live.draws = draws;
            Ok(())
        })?;
        Ok(())
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyType>, Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let py = slf.py();
        let this = slf.borrow();
        let args = (
            &this.method,
            this.rows,
            this.cols,
            this.k,
            convert::table_to_py(py, &this.params)?,
            this.seed,
            this.threads,
        )
            .into_pyobject(py)?;
        Ok((slf.get_type(), args, this.state_dict(py)?))
    }

    fn __setstate__(&self, state: &Bound<'_, PyDict>) -> PyResult<()> {
        self.load_state_dict(state)
    }

    fn __repr__(&self) -> String {
        let params = harness::records::inline_params(&self.params);
        format!(
            "Tracker({:?}, {}, {}, {}, params={{{params}}}, seed={}, device={})",
            self.method,
            self.rows,
            self.cols,
            self.k,
            self.seed,
            crate::methods::device_name(self.built.device())
        )
    }
}
