//! The lab's model side for a PyTorch run: its batches (`Batches`), its
//! initial weights and Hugging Face config for a preset and seed, and its
//! gradient-recording writer, so that a PyTorch run sees the lab's data
//! order and init bit for bit and records what `lab run` reads.

use std::path::PathBuf;

use numpy::ndarray::{Array2, ArrayD};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use llama::data::{Corpus, Tokenizer};
use llama::{LlamaConfig, ParamStore};

use crate::convert;
use crate::error::{Failure, guarded};

/// The model config of `preset`, or the lab's error naming the presets.
fn preset(name: &str) -> Result<LlamaConfig, Failure> {
    LlamaConfig::preset(name).ok_or_else(|| {
        Failure::Lab(format!(
            "unknown preset {name:?}; use one of {}",
            LlamaConfig::PRESETS.join(", ")
        ))
    })
}

/// The preset names.
#[pyfunction]
pub fn presets() -> Vec<&'static str> {
    LlamaConfig::PRESETS.to_vec()
}

/// The Hugging Face `config.json` of `preset` as a dict
/// (`LlamaConfig::to_hf_json`), for `transformers.LlamaConfig(**d)`.
#[pyfunction]
pub fn hf_config<'py>(py: Python<'py>, preset: &str) -> PyResult<Bound<'py, PyAny>> {
    let config = self::preset(preset)?;
    convert::json_to_py(py, &config.to_hf_json())
}

/// The lab's initial weights for `preset` and `seed` (`ParamStore::init`),
/// name → float32 array in Hugging Face's names, shapes and order.
#[pyfunction]
pub fn init_weights<'py>(py: Python<'py>, preset: &str, seed: u64) -> PyResult<Bound<'py, PyDict>> {
    let config = self::preset(preset)?;
    let store = py.detach(|| guarded(|| Ok(ParamStore::init(&config, seed))))?;
    let out = PyDict::new(py);
    for spec in store.layout().specs() {
        let values = store.slice(&spec.name).expect("a layout name").to_vec();
        let array = ArrayD::from_shape_vec(spec.shape.clone(), values)
            .map_err(|e| Failure::Internal(e.to_string()))?;
        out.set_item(&spec.name, array.into_pyarray(py))?;
    }
    Ok(out)
}

/// The lab's training and held-out windows of a corpus
/// (`llama::data::Batches`): a batch depends only on (seed, step, B, T).
#[pyclass(module = "galore_lab", name = "Batches", frozen)]
pub struct Batches {
    inner: llama::data::Batches,
    preset: String,
    seed: u64,
    corpus: PathBuf,
}

impl Batches {
    /// The windows of `split` (`tokens` long), or the lab's error when the
    /// split is too short for T + 1 tokens.
    fn check(&self, split: &str, tokens: usize, b: usize, t: usize) -> Result<(), Failure> {
        if b == 0 || t == 0 {
            return Err(Failure::Lab(format!(
                "B = {b}, T = {t}: a batch needs at least one sequence of one token"
            )));
        }
        if tokens <= t {
            return Err(Failure::Lab(format!(
                "the {split} split of {} has {tokens} tokens, too few for seq_len = {t}; use a \
                 bigger corpus or a shorter seq_len",
                self.corpus.display()
            )));
        }
        Ok(())
    }
}

/// A batch as Python sees it: (tokens, targets), each (B, T) int64.
type Pair<'py> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray2<i64>>);

/// (tokens, targets) as two int64 arrays of shape (B, T).
fn pair<'py>(
    py: Python<'py>,
    (tokens, targets): (Vec<u32>, Vec<u32>),
    b: usize,
    t: usize,
) -> Pair<'py> {
    let to = |v: Vec<u32>| {
        Array2::from_shape_fn((b, t), |(i, j)| i64::from(v[i * t + j])).into_pyarray(py)
    };
    (to(tokens), to(targets))
}

#[pymethods]
impl Batches {
    #[new]
    #[pyo3(signature = (preset = "small", seed = 0, corpus = None, tokenizer = None))]
    fn new(
        py: Python<'_>,
        preset: &str,
        seed: u64,
        corpus: Option<PathBuf>,
        tokenizer: Option<PathBuf>,
    ) -> PyResult<Self> {
        let config = self::preset(preset)?;
        let corpus_path = corpus
            .clone()
            .unwrap_or_else(llama::data::default_corpus_path);
        let tokens = py.detach(|| {
            guarded(|| {
                let tokenizer = match &tokenizer {
                    Some(path) => Tokenizer::from_file(path).map_err(Failure::lab)?,
                    None => Tokenizer::Bytes,
                };
                let corpus = match &corpus {
                    Some(path) => Corpus::new(path),
                    None => Corpus::python_docs(),
                };
                corpus
                    .load(&tokenizer, config.vocab_size)
                    .map_err(Failure::lab)
            })
        })?;
        Ok(Self {
            inner: llama::data::Batches::new(tokens, seed),
            preset: preset.to_string(),
            seed,
            corpus: corpus_path,
        })
    }

    /// The training batch of step `step`.
    fn train_batch<'py>(
        &self,
        py: Python<'py>,
        step: u64,
        b: usize,
        t: usize,
    ) -> PyResult<Pair<'py>> {
        self.check("training", self.inner.train_tokens().len(), b, t)?;
        if step == u64::MAX {
            return Err(Failure::Lab(format!(
                "step {step} is reserved for the held-out draws; use a smaller step"
            ))
            .into());
        }
        let windows = guarded(|| Ok(self.inner.train_batch(step, b, t)))?;
        Ok(pair(py, windows, b, t))
    }

    /// Held-out batch `index`.
    fn eval_batch<'py>(
        &self,
        py: Python<'py>,
        index: usize,
        b: usize,
        t: usize,
    ) -> PyResult<Pair<'py>> {
        self.check("held-out", self.inner.held_out_tokens().len(), b, t)?;
        let windows = guarded(|| Ok(self.inner.eval_batch(index, b, t)))?;
        Ok(pair(py, windows, b, t))
    }

    /// Tokens of the training split.
    #[getter]
    fn train_tokens(&self) -> usize {
        self.inner.train_tokens().len()
    }

    /// Tokens of the held-out split.
    #[getter]
    fn held_out_tokens(&self) -> usize {
        self.inner.held_out_tokens().len()
    }

    #[getter]
    fn preset(&self) -> &str {
        &self.preset
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.seed
    }

    #[getter]
    fn corpus(&self) -> PathBuf {
        self.corpus.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Batches(preset={:?}, seed={}, corpus={:?}; {} training and {} held-out tokens)",
            self.preset,
            self.seed,
            self.corpus.display().to_string(),
            self.inner.train_tokens().len(),
            self.inner.held_out_tokens().len()
        )
    }
}

/// The lab's training config defaults (`TrainConfig::default()`), every
/// key of a suite's `[train]` table at its default, as a dict.
#[pyfunction]
pub fn train_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let v = serde_json::to_value(llama::session::TrainConfig::default())
        .map_err(|e| Failure::Internal(e.to_string()))?;
    convert::json_to_py(py, &v)
}

/// The steps a lab `record_steps` value names: a list of ints, or a range
/// `"A..B"` / `"A..B:S"` (`llama::session::RecordSteps`), in increasing
/// order.
#[pyfunction]
pub fn record_steps(spec: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    let steps = if let Ok(text) = spec.extract::<String>() {
        llama::session::RecordSteps::parse_range(&text)
            .map_err(|e| Failure::Lab(format!("steps = {text:?}: {e}")))?
    } else {
        let list: Vec<usize> = spec.extract().map_err(|_| {
            Failure::Type(
                "steps must be a list of non-negative ints or a range \"A..B\" / \"A..B:S\"".into(),
            )
        })?;
        llama::session::RecordSteps::from(list)
    };
    let mut out: Vec<usize> = steps.steps().collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The names among `names` that one of the globs `patterns` matches (the
/// lab's `record_tensors` rule, the `glob` crate's syntax), in order.
#[pyfunction]
pub fn match_tensors(names: Vec<String>, patterns: Vec<String>) -> PyResult<Vec<String>> {
    let globs = patterns
        .iter()
        .map(|p| {
            glob::Pattern::new(p)
                .map_err(|e| Failure::Lab(format!("tensors: {p:?} is not a glob: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names
        .into_iter()
        .filter(|n| globs.iter().any(|g| g.matches(n)))
        .collect())
}

/// Writes `tensors` (name → C-contiguous float32 array, in order) to the
/// safetensors file `path` with `metadata`, through the lab's own writer
/// (`llama::params::save_f32`, as the recorder writes
/// `grads/step-<N>.safetensors`).
#[pyfunction]
pub fn save_tensors(
    py: Python<'_>,
    path: PathBuf,
    tensors: &Bound<'_, PyList>,
    metadata: Vec<(String, String)>,
) -> PyResult<()> {
    let mut arrays = Vec::with_capacity(tensors.len());
    for item in tensors.iter() {
        let (name, array): (String, Bound<'_, PyAny>) = item.extract()?;
        let array = array
            .extract::<PyReadonlyArrayDyn<'_, f32>>()
            .map_err(|_| Failure::Type(format!("tensor {name:?} must be a float32 numpy array")))?;
        if !array.is_c_contiguous() {
            return Err(Failure::Lab(format!(
                "tensor {name:?} is not C-contiguous: pass numpy.ascontiguousarray(it)"
            ))
            .into());
        }
        arrays.push((name, array));
    }
    let views: Vec<(&str, Vec<usize>, &[f32])> = arrays
        .iter()
        .map(|(name, a)| {
            let slice = a.as_slice().expect("C-contiguous, checked");
            (name.as_str(), a.shape().to_vec(), slice)
        })
        .collect();
    let meta: Vec<(&str, String)> = metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    py.detach(|| {
        guarded(|| {
            llama::params::save_f32(
                &path,
                views.iter().map(|(n, s, d)| (*n, s.as_slice(), *d)),
                &meta,
            )
            .map_err(Failure::lab)
        })
    })?;
    Ok(())
}
