//! The reference file `ci/reference/tiny_reference.safetensors`: its
//! settings, the tiny model's initial weights, the batches and every recorded
//! quantity, read and checked against this crate's tiny config once per test.

use std::collections::HashMap;

use llama::optim::AdamWParams;
use llama::{Layout, LlamaConfig, ParamStore};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

pub const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../ci/reference/tiny_reference.safetensors"
);
/// The file format this test reads (`FORMAT_VERSION` in the script).
pub const FORMAT_VERSION: &str = "1";

/// The script's settings (`SETTINGS` in make_reference.py); unknown fields
/// fail, so a new setting must be handled here too.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // every field is read from the file; some are only documented
pub struct Settings {
    pub seed: u64,
    pub batch: usize,
    pub seq: usize,
    pub steps: usize,
    pub init_std: f64,
    pub norm_std: f64,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub galore_rank: usize,
    pub galore_scale: f32,
    pub galore_update_proj_gap: u64,
    pub threads: usize,
}

/// The reference file, read once per test.
pub struct Reference {
    pub config: LlamaConfig,
    pub settings: Settings,
    pub layout: Layout,
    /// Initial weights.
    pub weights: ParamStore,
    /// Every f32 tensor by name: (shape, data).
    pub f32s: HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// (S, B, T) each, flattened.
    pub tokens: Vec<u32>,
    pub targets: Vec<u32>,
}

impl Reference {
    pub fn load() -> Self {
        let buf = std::fs::read(PATH).unwrap_or_else(|e| {
            panic!("{PATH}: {e}; regenerate it with ci/reference/make_reference.py")
        });
        let (_, header) = SafeTensors::read_metadata(&buf)
            .unwrap_or_else(|e| panic!("{PATH}: not a safetensors file: {e}"));
        let meta = header
            .metadata()
            .clone()
            .unwrap_or_else(|| panic!("{PATH}: no metadata"));
        let field = |k: &str| {
            meta.get(k)
                .unwrap_or_else(|| panic!("{PATH}: metadata `{k}` missing"))
                .as_str()
        };
        assert_eq!(
            field("format_version"),
            FORMAT_VERSION,
            "{PATH}: format version differs from this test's"
        );
        println!(
            "reference: {} (torch {}, transformers {}, {})",
            field("generator"),
            field("torch_version"),
            field("transformers_version"),
            field("date")
        );
        println!("crosscheck: {}", field("crosscheck"));

        // The stored config is exactly what config.rs writes for tiny().
        let stored: serde_json::Value =
            serde_json::from_str(field("config")).expect("metadata `config` is JSON");
        assert_eq!(
            stored,
            LlamaConfig::tiny().to_hf_json(),
            "{PATH}: config differs from LlamaConfig::tiny().to_hf_json(): regenerate the reference"
        );
        let config = LlamaConfig::from_hf_json(field("config")).expect("config parses");
        let settings: Settings = serde_json::from_str(field("settings"))
            .unwrap_or_else(|e| panic!("{PATH}: metadata `settings`: {e}"));

        let layout = Layout::new(&config);
        let names: Vec<String> =
            serde_json::from_str(field("param_names")).expect("metadata `param_names` is JSON");
        let mut ours: Vec<&str> = layout.specs().iter().map(|s| s.name.as_str()).collect();
        let mut theirs: Vec<&str> = names.iter().map(String::as_str).collect();
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(
            ours, theirs,
            "Hugging Face's parameter names differ from ours"
        );
        let weights = ParamStore::load(PATH.as_ref(), &layout)
            .unwrap_or_else(|e| panic!("initial weights: {e}"));

        let st = SafeTensors::deserialize(&buf).expect("safetensors");
        let mut f32s = HashMap::new();
        let mut i64s = HashMap::new();
        for (name, view) in st.tensors() {
            let bytes = view.data();
            match view.dtype() {
                Dtype::F32 => {
                    let data = bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect();
                    f32s.insert(name, (view.shape().to_vec(), data));
                }
                Dtype::I64 => {
                    let data: Vec<i64> = bytes
                        .chunks_exact(8)
                        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                        .collect();
                    i64s.insert(name, (view.shape().to_vec(), data));
                }
                d => panic!("{PATH}: tensor `{name}` is {d:?}"),
            }
        }
        let (s, b, t) = (settings.steps, settings.batch, settings.seq);
        let mut ids = |name: &str| -> Vec<u32> {
            let (shape, data) = i64s
                .remove(name)
                .unwrap_or_else(|| panic!("{PATH}: tensor `{name}` missing"));
            assert_eq!(shape, [s, b, t], "{PATH}: `{name}` must be (S, B, T)");
            data.iter()
                .map(|&x| {
                    assert!((0..config.vocab_size as i64).contains(&x), "token {x}");
                    x as u32
                })
                .collect()
        };
        let tokens = ids("inputs.tokens");
        let targets = ids("inputs.targets");
        Self {
            config,
            settings,
            layout,
            weights,
            f32s,
            tokens,
            targets,
        }
    }

    /// The f32 tensor `name`, checked against `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> &[f32] {
        let (s, data) = self
            .f32s
            .get(name)
            .unwrap_or_else(|| panic!("{PATH}: tensor `{name}` missing"));
        assert_eq!(s, shape, "{PATH}: tensor `{name}` has the wrong shape");
        data
    }

    /// Tokens and targets of batch `i`, (B, T) each.
    pub fn batch(&self, i: usize) -> (&[u32], &[u32]) {
        let n = self.settings.batch * self.settings.seq;
        (
            &self.tokens[i * n..(i + 1) * n],
            &self.targets[i * n..(i + 1) * n],
        )
    }

    pub fn adamw_params(&self) -> AdamWParams {
        let s = &self.settings;
        AdamWParams {
            lr: s.lr,
            beta1: s.beta1,
            beta2: s.beta2,
            eps: s.eps,
            weight_decay: s.weight_decay,
        }
    }
}
