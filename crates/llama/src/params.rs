//! The parameter size table and the flat parameter store.
//!
//! Every parameter is a named view into one contiguous f32 buffer, in
//! Hugging Face's names and layouts: a linear weight is (out, in) row-major,
//! as `torch.nn.Linear.weight` and safetensors store it; a norm weight is a
//! vector. The same [`Layout`] cuts gradients and optimizer states from
//! buffers of the same size (llm.c's `fill_in_parameter_sizes` pattern).

use std::collections::HashMap;
use std::path::Path;

use faer::{MatMut, MatRef};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use safetensors::{Dtype, SafeTensors};
use thiserror::Error;

use crate::LlamaConfig;

/// What a parameter is, for the optimizer's choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Embedding,
    /// q, k, v, o projections.
    Attention,
    /// gate, up, down projections.
    Mlp,
    Norm,
    LmHead,
}

impl ParamKind {
    /// GaLore projects exactly the attention and MLP matrices (the reference
    /// code's "attn"/"mlp" module-name rule).
    pub fn galore(self) -> bool {
        matches!(self, ParamKind::Attention | ParamKind::Mlp)
    }
}

/// One parameter: its name, shape and place in the flat buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// Hugging Face name, e.g. `model.layers.3.mlp.up_proj.weight`.
    pub name: String,
    /// (out, in) for a matrix, (len,) for a vector.
    pub shape: Vec<usize>,
    /// First element in the flat buffer.
    pub offset: usize,
    pub kind: ParamKind,
}

impl ParamSpec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The size table of a model: every parameter in Hugging Face's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    specs: Vec<ParamSpec>,
    total: usize,
}

impl Layout {
    /// The layout of `config`'s parameters.
    pub fn new(config: &LlamaConfig) -> Self {
        let (h, f, v) = (
            config.hidden_size,
            config.intermediate_size,
            config.vocab_size,
        );
        let mut named: Vec<(String, Vec<usize>, ParamKind)> = vec![(
            "model.embed_tokens.weight".into(),
            vec![v, h],
            ParamKind::Embedding,
        )];
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            named.push((
                format!("{p}.input_layernorm.weight"),
                vec![h],
                ParamKind::Norm,
            ));
            for proj in ["q_proj", "k_proj", "v_proj", "o_proj"] {
                named.push((
                    format!("{p}.self_attn.{proj}.weight"),
                    vec![h, h],
                    ParamKind::Attention,
                ));
            }
            named.push((
                format!("{p}.post_attention_layernorm.weight"),
                vec![h],
                ParamKind::Norm,
            ));
            named.push((
                format!("{p}.mlp.gate_proj.weight"),
                vec![f, h],
                ParamKind::Mlp,
            ));
            named.push((
                format!("{p}.mlp.up_proj.weight"),
                vec![f, h],
                ParamKind::Mlp,
            ));
            named.push((
                format!("{p}.mlp.down_proj.weight"),
                vec![h, f],
                ParamKind::Mlp,
            ));
        }
        named.push(("model.norm.weight".into(), vec![h], ParamKind::Norm));
        if !config.tie_word_embeddings {
            named.push(("lm_head.weight".into(), vec![v, h], ParamKind::LmHead));
        }
        let mut offset = 0;
        let specs = named
            .into_iter()
            .map(|(name, shape, kind)| {
                let spec = ParamSpec {
                    name,
                    shape,
                    offset,
                    kind,
                };
                offset += spec.len();
                spec
            })
            .collect();
        Self {
            specs,
            total: offset,
        }
    }

    /// Every parameter, in order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// Total number of f32 elements.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The parameter named `name`.
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// Elements of the parameters GaLore projects.
    pub fn galore_total(&self) -> usize {
        self.specs
            .iter()
            .filter(|s| s.kind.galore())
            .map(ParamSpec::len)
            .sum()
    }
}

/// Why a checkpoint did not load or save.
#[derive(Debug, Error)]
pub enum StoreError {
    /// (The cause is part of the message and not an error `source`, so a
    /// chain printed with `{:#}` names it once.)
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{path}: not a safetensors file ({reason})")]
    Format { path: String, reason: String },
    #[error(
        "{path}: tensor `{name}` is missing; the checkpoint must hold every parameter of the model"
    )]
    Missing { path: String, name: String },
    #[error(
        "{path}: tensor `{name}` has shape {found:?}, the model expects {expected:?}; check the config"
    )]
    Shape {
        path: String,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: tensor `{name}` is {dtype}; save it as float32")]
    Dtype {
        path: String,
        name: String,
        dtype: String,
    },
}

/// A flat f32 buffer with the named views of a [`Layout`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParamStore {
    layout: Layout,
    data: Vec<f32>,
}

impl ParamStore {
    /// All zeros (gradients, optimizer states).
    pub fn zeros(layout: &Layout) -> Self {
        Self {
            layout: layout.clone(),
            data: vec![0.0; layout.total()],
        }
    }

    /// Hugging Face's init: every linear and embedding N(0, initializer_range²),
    /// every norm weight 1. Tensor t draws from ChaCha8 stream t of `seed`.
    pub fn init(config: &LlamaConfig, seed: u64) -> Self {
        let layout = Layout::new(config);
        let mut store = Self::zeros(&layout);
        let normal = Normal::new(0.0f32, config.initializer_range as f32).expect("a valid std");
        for (t, spec) in layout.specs().iter().enumerate() {
            let values = &mut store.data[spec.offset..spec.offset + spec.len()];
            if spec.kind == ParamKind::Norm {
                values.fill(1.0);
            } else {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(t as u64);
                values.iter_mut().for_each(|x| *x = normal.sample(&mut rng));
            }
        }
        store
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The whole flat buffer.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The whole flat buffer, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() * size_of::<f32>()
    }

    /// The elements of parameter `name`.
    pub fn slice(&self, name: &str) -> Option<&[f32]> {
        let s = self.layout.get(name)?;
        Some(&self.data[s.offset..s.offset + s.len()])
    }

    /// The mutable values of parameter `name` (row-major), or `None`.
    pub fn slice_mut(&mut self, name: &str) -> Option<&mut [f32]> {
        let s = self.layout.get(name)?;
        let range = s.offset..s.offset + s.len();
        Some(&mut self.data[range])
    }

    /// A matrix parameter as an (out, in) view.
    pub fn matrix(&self, name: &str) -> Option<MatRef<'_, f32>> {
        let s = self.layout.get(name)?;
        let [rows, cols] = s.shape[..] else {
            return None;
        };
        Some(MatRef::from_row_major_slice(
            &self.data[s.offset..s.offset + s.len()],
            rows,
            cols,
        ))
    }

    /// A matrix parameter as a mutable (out, in) view.
    pub fn matrix_mut(&mut self, name: &str) -> Option<MatMut<'_, f32>> {
        let s = self.layout.get(name)?.clone();
        let [rows, cols] = s.shape[..] else {
            return None;
        };
        Some(MatMut::from_row_major_slice_mut(
            &mut self.data[s.offset..s.offset + s.len()],
            rows,
            cols,
        ))
    }

    /// Writes every parameter as an F32 tensor of a safetensors file
    /// (`{"format": "pt"}` metadata, as `safetensors.torch.save_file` does).
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let tensors = self.layout.specs().iter().map(|s| {
            (
                s.name.as_str(),
                s.shape.as_slice(),
                &self.data[s.offset..s.offset + s.len()],
            )
        });
        save_f32(path, tensors, &[])
    }

    /// Reads every parameter of `layout` from a safetensors file: each must
    /// be present, F32 and of the expected shape (extra tensors are ignored).
    pub fn load(path: &Path, layout: &Layout) -> Result<Self, StoreError> {
        let p = path.display().to_string();
        let buf = std::fs::read(path).map_err(|cause| StoreError::Io {
            path: p.clone(),
            cause,
        })?;
        let st = SafeTensors::deserialize(&buf).map_err(|e| StoreError::Format {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        let mut store = Self::zeros(layout);
        for s in layout.specs() {
            let t = st.tensor(&s.name).map_err(|_| StoreError::Missing {
                path: p.clone(),
                name: s.name.clone(),
            })?;
            if t.dtype() != Dtype::F32 {
                return Err(StoreError::Dtype {
                    path: p,
                    name: s.name.clone(),
                    dtype: format!("{:?}", t.dtype()),
                });
            }
            if t.shape() != s.shape.as_slice() {
                return Err(StoreError::Shape {
                    path: p,
                    name: s.name.clone(),
                    expected: s.shape.clone(),
                    found: t.shape().to_vec(),
                });
            }
            let dst = &mut store.data[s.offset..s.offset + s.len()];
            for (x, b) in dst.iter_mut().zip(t.data().chunks_exact(4)) {
                *x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Ok(store)
    }
}

/// One named row-major f32 tensor (optimizer state, recorded gradients).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Writes (name, shape, values) as F32 tensors of a safetensors file with
/// `{"format": "pt"}` plus `metadata` (so `safetensors.torch.load_file`
/// reads it).
pub fn save_f32<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a [usize], &'a [f32])>,
    metadata: &[(&str, String)],
) -> Result<(), StoreError> {
    let tensors = tensors.into_iter().map(|(name, shape, data)| {
        let data = TensorData::Slice {
            shape: shape.to_vec(),
            data,
        };
        (name.to_string(), data)
    });
    save_tensors(path, tensors, metadata)
}

/// One tensor's values for [`save_tensors`].
#[derive(Debug, Clone)]
pub enum TensorData<'a> {
    /// Values written as they are, row-major in `shape`.
    Slice { shape: Vec<usize>, data: &'a [f32] },
    /// A matrix, written row-major as a (rows, cols) tensor, laid out only
    /// when its turn to be written comes.
    Mat(MatRef<'a, f32>),
    /// Values made for the file (e.g. a tracker's state), row-major in
    /// `shape`.
    Owned { shape: Vec<usize>, data: Vec<f32> },
}

impl TensorData<'_> {
    fn shape(&self) -> Vec<usize> {
        match self {
            TensorData::Slice { shape, .. } | TensorData::Owned { shape, .. } => shape.clone(),
            TensorData::Mat(m) => vec![m.nrows(), m.ncols()],
        }
    }

    fn len(&self) -> usize {
        match self {
            TensorData::Slice { data, .. } => data.len(),
            TensorData::Owned { data, .. } => data.len(),
            TensorData::Mat(m) => m.nrows() * m.ncols(),
        }
    }
}

/// [`save_f32`] for any [`TensorData`]. The file is written tensor by
/// tensor from borrowed data: slices are not copied at all (on a
/// little-endian machine), a matrix is laid out one at a time, so writing a
/// checkpoint of the 60M model's weights and moments does not double the
/// process's memory. A slice whose shape does not match its length is an
/// error naming the tensor, and nothing is written.
pub fn save_tensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (String, TensorData<'a>)>,
    metadata: &[(&str, String)],
) -> Result<(), StoreError> {
    let p = path.display().to_string();
    let views = tensors
        .into_iter()
        .map(|(name, data)| {
            let shape = data.shape();
            let values: usize = shape.iter().product();
            if values != data.len() {
                return Err(StoreError::Format {
                    path: p.clone(),
                    reason: format!(
                        "tensor {name}: shape {shape:?} holds {values} values, its data {}",
                        data.len()
                    ),
                });
            }
            Ok((name, F32View { shape, data }))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    meta.extend(metadata.iter().map(|(k, v)| (k.to_string(), v.clone())));
    safetensors::serialize_to_file(views, Some(meta), path).map_err(|e| StoreError::Format {
        path: p,
        reason: e.to_string(),
    })
}

/// An f32 tensor borrowed for writing (safetensors stores little-endian).
struct F32View<'a> {
    shape: Vec<usize>,
    data: TensorData<'a>,
}

impl safetensors::View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        match &self.data {
            TensorData::Slice { data, .. } => le_bytes(data),
            TensorData::Owned { data, .. } => le_bytes(data),
            TensorData::Mat(m) => {
                let mut out = Vec::with_capacity(self.data_len());
                for i in 0..m.nrows() {
                    for j in 0..m.ncols() {
                        out.extend_from_slice(&m[(i, j)].to_le_bytes());
                    }
                }
                std::borrow::Cow::Owned(out)
            }
        }
    }

    fn data_len(&self) -> usize {
        size_of::<f32>() * self.data.len()
    }
}

/// `d` as little-endian bytes: borrowed on a little-endian machine.
fn le_bytes(d: &[f32]) -> std::borrow::Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        std::borrow::Cow::Borrowed(bytemuck::cast_slice(d))
    } else {
        std::borrow::Cow::Owned(d.iter().flat_map(|x| x.to_le_bytes()).collect())
    }
}

/// Reads every tensor of a safetensors file as f32 (each must be F32), with
/// the file's metadata.
pub fn load_f32(path: &Path) -> Result<(Vec<NamedTensor>, HashMap<String, String>), StoreError> {
    let p = path.display().to_string();
    let buf = std::fs::read(path).map_err(|cause| StoreError::Io {
        path: p.clone(),
        cause,
    })?;
    let format = |reason: String| StoreError::Format {
        path: p.clone(),
        reason,
    };
    let (_, header) = SafeTensors::read_metadata(&buf).map_err(|e| format(e.to_string()))?;
    let st = SafeTensors::deserialize(&buf).map_err(|e| format(e.to_string()))?;
    let mut out = Vec::new();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in names {
        let t = st.tensor(&name).map_err(|e| format(e.to_string()))?;
        if t.dtype() != Dtype::F32 {
            return Err(StoreError::Dtype {
                path: p,
                name,
                dtype: format!("{:?}", t.dtype()),
            });
        }
        let data = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.push(NamedTensor {
            name,
            shape: t.shape().to_vec(),
            data,
        });
    }
    let meta = header.metadata().clone().unwrap_or_default();
    Ok((out, meta))
}
