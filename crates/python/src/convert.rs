//! Values across the boundary: NumPy matrices as faer views (no copy, any
//! strides), bases back as NumPy arrays, params between Python dicts and
//! TOML tables.

use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray2, PyArrayDescrMethods, PyReadonlyArray2, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use subspace::faer::{Mat, MatRef};

use crate::error::Failure;

/// `a` as a read-only float32 matrix, or why it is not one: not a NumPy
/// array (`TypeError`), not 2-D, not float32 (`TypeError`), strides that are
/// not whole float32 elements or an unaligned buffer (ask for a copy).
pub fn matrix<'py>(
    a: &Bound<'py, PyAny>,
    name: &str,
) -> Result<PyReadonlyArray2<'py, f32>, Failure> {
    let Ok(array) = a.cast::<PyUntypedArray>() else {
        let ty = a
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(Failure::Type(format!(
            "{name} must be a float32 numpy array or CPU torch tensor, got {ty}"
        )));
    };
    if array.ndim() != 2 {
        return Err(Failure::Lab(format!(
            "{name} must be 2-D (a matrix), got a {}-D array of shape {:?}",
            array.ndim(),
            array.shape()
        )));
    }
    let f32_ = numpy::dtype::<f32>(a.py());
    if !array.dtype().is_equiv_to(&f32_) {
        let dtype = array
            .dtype()
            .str()
            .map(|s| s.to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(Failure::Type(format!(
            "{name} has dtype {dtype}; the lab computes in float32: pass {name}.astype(numpy.float32) \
             (a torch tensor: {name}.float())"
        )));
    }
    let item = size_of::<f32>() as isize;
    let strides = array.strides().to_vec();
    let typed = a
        .extract::<PyReadonlyArray2<'py, f32>>()
        .map_err(|e| Failure::Type(format!("{name}: {e}")))?;
    let aligned = (typed.as_array().as_ptr() as usize).is_multiple_of(align_of::<f32>());
    if !aligned || strides.iter().any(|s| s % item != 0) {
        return Err(Failure::Lab(format!(
            "{name}'s memory is not whole, aligned float32 elements (strides {strides:?} bytes): \
             pass numpy.ascontiguousarray({name})"
        )));
    }
    Ok(typed)
}

/// The faer view of `a`'s memory, with its strides (no copy).
pub fn mat_ref<'a>(a: &'a PyReadonlyArray2<'_, f32>) -> MatRef<'a, f32> {
    let view = a.as_array();
    let (m, n) = view.dim();
    let strides = view.strides();
    // SAFETY: `view` borrows NumPy's buffer for 'a (the readonly borrow keeps
    // Rust writers out); `m`, `n` and the element strides describe exactly
    // the elements `view` covers.
    unsafe { MatRef::from_raw_parts(view.as_ptr(), m, n, strides[0], strides[1]) }
}

/// `q` as a new C-ordered float32 NumPy array.
pub fn to_numpy<'py>(py: Python<'py>, q: MatRef<'_, f32>) -> Bound<'py, PyArray2<f32>> {
    Array2::from_shape_fn(q.shape(), |(i, j)| q[(i, j)]).into_pyarray(py)
}

/// A faer matrix with `a`'s values.
pub fn to_mat(a: &PyReadonlyArray2<'_, f32>) -> Mat<f32> {
    mat_ref(a).to_owned()
}

/// The TOML table of a params dict (`None`: the defaults).
pub fn table(params: Option<&Bound<'_, PyAny>>) -> Result<toml::Table, Failure> {
    let Some(params) = params.filter(|p| !p.is_none()) else {
        return Ok(toml::Table::new());
    };
    match value(params, "params")? {
        toml::Value::Table(t) => Ok(t),
        _ => Err(Failure::Type(
            "params must be a dict of param names to values, e.g. {\"power_iters\": 1}".into(),
        )),
    }
}

/// The TOML value of a Python bool, int, float, str, list, tuple or dict.
fn value(x: &Bound<'_, PyAny>, path: &str) -> Result<toml::Value, Failure> {
    if x.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(x.extract().map_err(Failure::lab)?));
    }
    if x.is_instance_of::<PyInt>() {
        let i: i64 = x
            .extract()
            .map_err(|_| Failure::Lab(format!("{path} = {x} does not fit a 64-bit integer")))?;
        return Ok(toml::Value::Integer(i));
    }
    if x.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(x.extract().map_err(Failure::lab)?));
    }
    if x.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(x.extract().map_err(Failure::lab)?));
    }
    if x.is_instance_of::<PyList>() || x.is_instance_of::<PyTuple>() {
        let items = x.try_iter().map_err(Failure::lab)?;
        let mut out = Vec::new();
        for (i, item) in items.enumerate() {
            out.push(value(
                &item.map_err(Failure::lab)?,
                &format!("{path}[{i}]"),
            )?);
        }
        return Ok(toml::Value::Array(out));
    }
    if let Ok(dict) = x.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, v) in dict.iter() {
            let key: String = k
                .extract()
                .map_err(|_| Failure::Type(format!("{path}: the keys must be str, got {k}")))?;
            let v = value(&v, &format!("{path}[{key:?}]"))?;
            t.insert(key, v);
        }
        return Ok(toml::Value::Table(t));
    }
    let ty = x
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    Err(Failure::Type(format!(
        "{path}: a {ty} is not a param value; use bool, int, float, str, list or dict"
    )))
}

/// The Python value of a TOML value (a datetime becomes its TOML text).
pub fn to_py<'py>(py: Python<'py>, v: &toml::Value) -> PyResult<Bound<'py, PyAny>> {
    match v {
        toml::Value::Boolean(b) => b.into_bound_py_any(py),
        toml::Value::Integer(i) => i.into_bound_py_any(py),
        toml::Value::Float(f) => f.into_bound_py_any(py),
        toml::Value::String(s) => s.into_bound_py_any(py),
        toml::Value::Datetime(d) => d.to_string().into_bound_py_any(py),
        toml::Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_bound_py_any(py)
        }
        toml::Value::Table(t) => table_to_py(py, t).map(Bound::into_any),
    }
}

/// A TOML table as a Python dict.
pub fn table_to_py<'py>(py: Python<'py>, t: &toml::Table) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in t {
        d.set_item(k, to_py(py, v)?)?;
    }
    Ok(d)
}

/// A JSON value as a Python value.
pub fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    match v {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into_bound_py_any(py),
            (None, Some(f)) => f.into_bound_py_any(py),
            _ => n.to_string().into_bound_py_any(py),
        },
        Value::String(s) => s.into_bound_py_any(py),
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| json_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_bound_py_any(py)
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, v) in o {
                d.set_item(k, json_to_py(py, v)?)?;
            }
            Ok(d.into_any())
        }
    }
}
