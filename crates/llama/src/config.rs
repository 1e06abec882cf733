//! Model configurations, in Hugging Face `LlamaConfig`'s field names.
//!
//! GaLore's `configs/llama_60m.json`: hidden 512, intermediate 1376, 8 heads
//! of 64, 8 layers, vocab 32000, RMSNorm ε 1e-6, RoPE θ 10000 (rotate-half),
//! SwiGLU, no biases, untied lm_head, init N(0, 0.02).

use serde::{Deserialize, Serialize};

/// A Llama configuration (the fields GaLore's configs set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub vocab_size: usize,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// Standard deviation of the normal init of every linear and embedding.
    #[serde(default = "default_init")]
    pub initializer_range: f64,
    /// Whether lm_head shares the embedding (false in GaLore's configs).
    #[serde(default)]
    pub tie_word_embeddings: bool,
}

// Hugging Face's defaults for fields GaLore's config files leave out.
fn default_max_positions() -> usize {
    2048
}
fn default_eps() -> f64 {
    1e-6
}
fn default_theta() -> f64 {
    10000.0
}
fn default_init() -> f64 {
    0.02
}

impl LlamaConfig {
    /// GaLore's `llama_60m` (58.07M parameters with the untied lm_head).
    pub fn llama_60m() -> Self {
        Self {
            hidden_size: 512,
            intermediate_size: 1376,
            num_attention_heads: 8,
            num_hidden_layers: 8,
            vocab_size: 32000,
            max_position_embeddings: 1024,
            rms_norm_eps: 1e-6,
            rope_theta: 10000.0,
            initializer_range: 0.02,
            tie_word_embeddings: false,
        }
    }

    /// A tiny model of the same architecture for tests: hidden 64, 4 heads
    /// of 16, 2 layers, intermediate 172, vocab 256 (bytes).
    pub fn tiny() -> Self {
        Self {
            hidden_size: 64,
            intermediate_size: 172,
            num_attention_heads: 4,
            num_hidden_layers: 2,
            vocab_size: 256,
            max_position_embeddings: 128,
            ..Self::llama_60m()
        }
    }

    /// `llama_60m`'s widths (hidden 512, intermediate 1376, 8 heads of 64),
    /// so its GaLore matrices have the 60M shapes, with 2 layers and the byte
    /// vocabulary (256): 6.6M parameters, for loss curves on a laptop budget.
    pub fn small() -> Self {
        Self {
            num_hidden_layers: 2,
            vocab_size: 256,
            ..Self::llama_60m()
        }
    }

    /// The preset names [`LlamaConfig::preset`] knows.
    pub const PRESETS: [&str; 3] = ["llama-60m", "small", "tiny"];

    /// A named preset: "llama-60m" (also "llama_60m", GaLore's file name),
    /// "small" or "tiny".
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "llama-60m" | "llama_60m" => Some(Self::llama_60m()),
            "small" => Some(Self::small()),
            "tiny" => Some(Self::tiny()),
            _ => None,
        }
    }

    /// Dimension of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The Hugging Face `config.json` of this model, loadable by
    /// `transformers.LlamaConfig` / `LlamaForCausalLM.from_pretrained`.
    pub fn to_hf_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("a config serializes");
        let extra = serde_json::json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_act": "silu",
            "num_key_value_heads": self.num_attention_heads,
            "attention_bias": false,
            "mlp_bias": false,
            "torch_dtype": "float32",
            "use_cache": false,
        });
        if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            obj.extend(extra.clone());
        }
        v
    }

    /// Reads a Hugging Face `config.json` (extra fields are ignored; GaLore's
    /// architecture is checked).
    pub fn from_hf_json(text: &str) -> Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if let Some(kv) = v.get("num_key_value_heads").and_then(|x| x.as_u64()) {
            let heads = v
                .get("num_attention_heads")
                .and_then(|x| x.as_u64())
                .unwrap_or(0);
            if kv != heads {
                return Err(format!(
                    "num_key_value_heads = {kv} but num_attention_heads = {heads}: grouped-query \
                     attention is not part of GaLore's Llama; use equal counts"
                ));
            }
        }
        let c: Self = serde_json::from_value(v).map_err(|e| e.to_string())?;
        if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            return Err(format!(
                "hidden_size = {} is not a multiple of num_attention_heads = {}",
                c.hidden_size, c.num_attention_heads
            ));
        }
        Ok(c)
    }
}
