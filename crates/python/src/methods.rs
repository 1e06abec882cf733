//! The registered methods: `methods()`, `left_basis()`, and the lab's basis
//! alignment and refresh seeds for the projector.
//!
//! A `left_basis` call is the harness's row call (`harness::runner::measure`):
//! the method built from the registry with the call's params, a fresh
//! `Context::new(seed)` with `harness::runner::calibrate::par(threads)`, run
//! inside a rayon pool of `threads` threads, so it gives the bits of the
//! row for the same matrix, method, params and seed (any thread count gives
//! the same bits, docs/numerics.md#determinism).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use numpy::PyArray2;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use subspace::faer::{MatRef, Par};
use subspace::{Basis, Context, Device, Registry, SubspaceMethod};

use crate::convert;
use crate::error::{Failure, guarded};

/// The lab's registry (`lab::registry()`), built once.
pub fn registry() -> Result<&'static Registry, Failure> {
    static REGISTRY: OnceLock<Result<Registry, String>> = OnceLock::new();
    REGISTRY
        .get_or_init(|| lab::registry().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Failure::Lab(e.clone()))
}

/// Method `name` built with `params`, shared between calls with the same
/// name and params (a GPU method keeps its buffers between calls).
pub fn build(name: &str, params: &toml::Table) -> Result<Arc<dyn SubspaceMethod>, Failure> {
    type Cache = Mutex<HashMap<(String, String), Arc<dyn SubspaceMethod>>>;
    static BUILT: OnceLock<Cache> = OnceLock::new();
    let key = (name.to_string(), params.to_string());
    let cache = BUILT.get_or_init(Default::default);
    if let Some(m) = cache.lock().map_err(Failure::lab)?.get(&key) {
        return Ok(Arc::clone(m));
    }
    let method: Arc<dyn SubspaceMethod> = registry()?
        .build(name, params)
        .map_err(Failure::lab)?
        .into();
    cache
        .lock()
        .map_err(Failure::lab)?
        .insert(key, Arc::clone(&method));
    Ok(method)
}

/// Runs `f` with the parallelism of `threads` threads, inside a rayon pool
/// of that many threads (one pool per count, kept), as the harness runs a
/// row in its lane's pool.
pub fn with_threads<T: Send>(
    threads: usize,
    f: impl FnOnce(Par) -> T + Send,
) -> Result<T, Failure> {
    let cores = subspace::budget::logical_cores();
    if threads == 0 || threads > cores {
        return Err(Failure::Lab(format!(
            "threads = {threads}: use 1 ≤ threads ≤ {cores} (this machine's logical cores)"
        )));
    }
    let par = harness::runner::calibrate::par(threads);
    if threads == 1 {
        return Ok(f(par));
    }
    type Pools = Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>;
    static POOLS: OnceLock<Pools> = OnceLock::new();
    let pool = {
        let mut pools = POOLS
            .get_or_init(Default::default)
            .lock()
            .map_err(Failure::lab)?;
        match pools.get(&threads) {
            Some(p) => Arc::clone(p),
            None => {
                let p = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .map_err(|e| Failure::Lab(format!("cannot start {threads} threads: {e}")))?;
                let p = Arc::new(p);
                pools.insert(threads, Arc::clone(&p));
                p
            }
        }
    };
    Ok(pool.install(|| f(par)))
}

/// `device` as the lab's reports write it.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
    }
}

/// A call's `info` dict: the method's own `Info` and the Rust call's wall
/// seconds.
pub fn info_dict<'py>(
    py: Python<'py>,
    method: &dyn SubspaceMethod,
    basis: &Basis,
    seconds: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("method", method.name())?;
    d.set_item("device", device_name(method.device()))?;
    d.set_item("iterations", basis.info.iterations)?;
    d.set_item("products", basis.info.products)?;
    d.set_item("flops", basis.info.flops)?;
    d.set_item("converged", basis.info.converged)?;
    d.set_item("seconds", seconds)?;
    Ok(d)
}

/// Every registered plugin as data: what `lab list` prints.
#[pyfunction]
pub fn methods(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let registry = guarded(registry)?;
    let out = PyList::empty(py);
    for entry in registry.entries() {
        let method = guarded(|| entry.build_default().map_err(Failure::lab))?;
        let d = PyDict::new(py);
        d.set_item("name", entry.name)?;
        d.set_item("summary", entry.summary)?;
        d.set_item("device", device_name(method.device()))?;
        let availability = method.availability();
        d.set_item("available", availability.is_ok())?;
        d.set_item("unavailable_reason", availability.err())?;
        let params = PyList::empty(py);
        for p in entry.params() {
            let pd = PyDict::new(py);
            pd.set_item("name", p.name)?;
            let default = format!("v = {}", p.default)
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"));
            match default {
                Some(v) => pd.set_item("default", convert::to_py(py, &v)?)?,
                None => pd.set_item("default", py.None())?,
            }
            pd.set_item("default_toml", p.default)?;
            pd.set_item("doc", p.doc)?;
            params.append(pd)?;
        }
        d.set_item("params", params)?;
        let variants = PyList::empty(py);
        for t in entry.conformance_params() {
            variants.append(convert::table_to_py(py, &t)?)?;
        }
        d.set_item("variants", variants)?;
        out.append(d)?;
    }
    Ok(out)
}

/// One basis call on a matrix view, timed; see the module doc.
pub fn call(
    method: &dyn SubspaceMethod,
    a: MatRef<'_, f32>,
    k: usize,
    seed: u64,
    threads: usize,
) -> Result<(Basis, f64), Failure> {
    with_threads(threads, |par| {
        let start = Instant::now();
        let mut ctx = Context::new(seed).with_par(par);
        let basis = method.left_basis(a, k, &mut ctx).map_err(Failure::lab)?;
        Ok((basis, start.elapsed().as_secs_f64()))
    })?
}

/// The native `left_basis`: `a` a float32 NumPy matrix (any strides).
#[pyfunction]
#[pyo3(signature = (a, k, method = "rrf", params = None, seed = 0, threads = 1))]
pub fn left_basis<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    k: usize,
    method: &str,
    params: Option<&Bound<'py, PyAny>>,
    seed: u64,
    threads: usize,
) -> PyResult<(Bound<'py, PyArray2<f32>>, Bound<'py, PyDict>)> {
    let table = convert::table(params)?;
    let built = guarded(|| build(method, &table))?;
    let array = convert::matrix(a, "a")?;
    let view = convert::mat_ref(&array);
    let (basis, seconds) =
        py.detach(|| guarded(|| call(built.as_ref(), view, k, seed, threads)))?;
    let q = convert::to_numpy(py, basis.q.as_ref());
    let info = info_dict(py, built.as_ref(), &basis, seconds)?;
    Ok((q, info))
}

/// The lab's accuracy figures of a basis `q` of `a` (`subspace::metrics`,
/// in f64 against the f64 reference SVD of `a`, the harness's yardstick).
#[pyfunction]
pub fn accuracy<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    q: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let a = convert::matrix(a, "a")?;
    let q = convert::matrix(q, "q")?;
    let (a, q) = (convert::mat_ref(&a), convert::mat_ref(&q));
    if q.nrows() != a.nrows() || q.ncols() == 0 || q.ncols() > a.nrows().min(a.ncols()) {
        return Err(Failure::Lab(format!(
            "q is {}×{} but a is {}×{}: pass an m×k basis with 1 ≤ k ≤ min(m, n)",
            q.nrows(),
            q.ncols(),
            a.nrows(),
            a.ncols()
        ))
        .into());
    }
    let acc = py.detach(|| {
        guarded(|| {
            subspace::validate_input(a, q.ncols()).map_err(Failure::lab)?;
            let reference =
                subspace::reference::ReferenceSvd::new(a, Par::Seq).map_err(Failure::lab)?;
            subspace::metrics::accuracy(&reference, q, Par::Seq).map_err(Failure::lab)
        })
    })?;
    let d = PyDict::new(py);
    d.set_item("err_fro", acc.err_fro)?;
    d.set_item("err_spec", acc.err_spec)?;
    d.set_item("sin_theta", acc.sin_theta)?;
    d.set_item("energy", acc.energy)?;
    d.set_item("ortho", acc.ortho)?;
    Ok(d)
}

/// The lab's alignment of a new basis with the previous one
/// (`llama::optim::align::align`): canonical signs without one, else
/// orthogonal Procrustes onto it.
#[pyfunction]
#[pyo3(signature = (q, previous = None))]
pub fn align<'py>(
    py: Python<'py>,
    q: &Bound<'py, PyAny>,
    previous: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let q = convert::to_mat(&convert::matrix(q, "q")?);
    let previous = previous
        .filter(|p| !p.is_none())
        .map(|p| convert::matrix(p, "previous"))
        .transpose()?;
    let previous = previous.as_ref().map(convert::mat_ref);
    if let Some(p) = previous
        && p.shape() != q.shape()
    {
        return Err(Failure::Lab(format!(
            "previous is {}×{} but q is {}×{}: align bases of one shape",
            p.nrows(),
            p.ncols(),
            q.nrows(),
            q.ncols()
        ))
        .into());
    }
    let aligned = py.detach(|| {
        guarded(|| {
            llama::optim::align::align(q, previous)
                .map_err(|e| Failure::lab(subspace::SubspaceError::from(e)))
        })
    })?;
    Ok(convert::to_numpy(py, aligned.as_ref()))
}

/// The context seed of the lab's GaLore refresh of parameter `index` at
/// step `t` (1-based): `llama::optim::projected::refresh_seed`.
#[pyfunction]
pub fn refresh_seed(seed: u64, index: usize, t: u64) -> u64 {
    llama::optim::projected::refresh_seed(seed, index, t)
}

/// The lab's learning rate at 0-based `step` of `total` (`llama::optim::cosine_lr`):
/// linear warm-up over `warmup` steps, then cosine to `min_ratio`·`lr`.
#[pyfunction]
pub fn cosine_lr(step: usize, total: usize, warmup: usize, lr: f32, min_ratio: f32) -> f32 {
    llama::optim::cosine_lr(step, total, warmup, lr, min_ratio)
}
