//! The whole Llama (Hugging Face `LlamaForCausalLM`) forward and backward,
//! composed from the parts of this module (llm.c's `gpt2_forward` /
//! `gpt2_backward` pattern).
//!
//! ```text
//! h = embed(tokens)
//! per layer:
//!   x = rmsnorm(h; input_layernorm)
//!   q, k, v = rope(x·Wqᵀ), rope(x·Wkᵀ), x·Wvᵀ      (positions 0..T per row)
//!   h = h + attention(q, k, v)·Woᵀ
//!   x = rmsnorm(h; post_attention_layernorm)
//!   h = h + swiglu(x·Wgateᵀ, x·Wupᵀ)·Wdownᵀ
//! logits = rmsnorm(h; model.norm)·Wheadᵀ
//! loss = mean cross-entropy(logits, targets)
//! ```
//!
//! [`Activations`] holds every buffer, sized once from (config, B, T) and
//! reused: what the forward caches for the backward, and the backward's
//! gradient scratch. Parameters and gradients are read by Hugging Face name
//! from [`ParamStore`]s of the same layout; the backward accumulates (`+=`)
//! into the gradient store, so callers zero it once per step. Under
//! [`Checkpointing::Layers`] the forward keeps only the residual stream at
//! each layer's input and the backward recomputes each layer before its
//! backward.
//!
//! Parallelism: [`forward()`] and [`backward()`] run every part on the current
//! rayon pool (see [`crate::model::parallel`]); a caller picks the thread
//! count with `ThreadPool::install`, and the loss and gradients are
//! bit-identical for every count.
//!
//! Letters: B batch, T sequence, C hidden, NH heads, HS head dim,
//! F intermediate, V vocab, L layers, N = B·T rows.
//!
//! - [`activations`]: what the forward keeps for the backward ([`Activations`],
//!   [`LayerActs`], [`Checkpointing`]);
//! - [`forward()`](mod@forward): the decoder layers and the loss;
//! - [`backward()`](mod@backward): the gradients of every parameter.

pub mod activations;
pub mod backward;
pub mod forward;

pub use activations::{Activations, Checkpointing, LayerActs, activation_bytes};
pub use backward::{backward, backward_scaled};
pub use forward::forward;

use faer::Par;

use crate::model::parallel::{ELEM_BLOCK, for_each};
use crate::{LlamaConfig, ParamStore};

/// Vocabulary columns per block of the fused cross-entropy and lm_head
/// backward: dlogits exist one (N, HEAD_BLOCK) block at a time.
pub const HEAD_BLOCK: usize = 2048;

/// (C, F, V, NH, L) of `config`.
pub(super) fn dims(config: &LlamaConfig) -> (usize, usize, usize, usize, usize) {
    (
        config.hidden_size,
        config.intermediate_size,
        config.vocab_size,
        config.num_attention_heads,
        config.num_hidden_layers,
    )
}

/// The name of the lm_head weight (the embedding when tied).
pub(super) fn head_name(config: &LlamaConfig) -> &'static str {
    if config.tie_word_embeddings {
        "model.embed_tokens.weight"
    } else {
        "lm_head.weight"
    }
}

pub(super) fn param<'a>(params: &'a ParamStore, name: &str) -> &'a [f32] {
    params
        .slice(name)
        .unwrap_or_else(|| panic!("parameter `{name}` missing from the store"))
}

pub(super) fn grad<'a>(grads: &'a mut ParamStore, name: &str) -> &'a mut [f32] {
    let spec = grads
        .layout()
        .get(name)
        .unwrap_or_else(|| panic!("gradient `{name}` missing from the store"));
    let (start, end) = (spec.offset, spec.offset + spec.len());
    &mut grads.as_mut_slice()[start..end]
}

pub(super) fn check_inputs(
    config: &LlamaConfig,
    tokens: &[u32],
    targets: &[u32],
    b: usize,
    t: usize,
) {
    assert_eq!(tokens.len(), b * t, "tokens must be (B, T)");
    assert_eq!(targets.len(), b * t, "targets must be (B, T)");
    let nh = config.num_attention_heads;
    assert!(
        nh > 0 && config.hidden_size.is_multiple_of(nh),
        "hidden_size must be a multiple of num_attention_heads"
    );
}

/// `out = a + b` elementwise, in parallel fixed blocks.
pub(super) fn add(out: &mut [f32], a: &[f32], b: &[f32], par: Par) {
    let blocks: Vec<_> = out
        .chunks_mut(ELEM_BLOCK)
        .zip(a.chunks(ELEM_BLOCK))
        .zip(b.chunks(ELEM_BLOCK))
        .collect();
    for_each(par, blocks, |((out, a), b)| {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = x + y;
        }
    });
}

/// Sizes shared by the layer functions.
#[derive(Clone, Copy)]
pub(super) struct Dims {
    pub(super) b: usize,
    pub(super) t: usize,
    pub(super) n: usize,
    pub(super) c: usize,
    pub(super) f: usize,
    pub(super) nh: usize,
    pub(super) hs: usize,
    pub(super) eps: f32,
}

impl Dims {
    pub(super) fn new(config: &LlamaConfig, b: usize, t: usize) -> Self {
        Self {
            b,
            t,
            n: b * t,
            c: config.hidden_size,
            f: config.intermediate_size,
            nh: config.num_attention_heads,
            hs: config.head_dim(),
            eps: config.rms_norm_eps as f32,
        }
    }
}
