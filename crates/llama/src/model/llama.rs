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
//! Parallelism: [`forward`] and [`backward`] run every part on the current
//! rayon pool (see [`crate::model::parallel`]); a caller picks the thread
//! count with `ThreadPool::install`, and the loss and gradients are
//! bit-identical for every count.
//!
//! Letters: B batch, T sequence, C hidden, NH heads, HS head dim,
//! F intermediate, V vocab, L layers, N = B·T rows.

use faer::Par;

use crate::model::attention::{attention_backward, attention_forward};
use crate::model::crossentropy::{crossentropy_backward, crossentropy_forward};
use crate::model::embedding::{embedding_backward, embedding_forward};
use crate::model::linear::{linear_backward, linear_backward_workspace_bytes, linear_forward};
use crate::model::parallel::{ELEM_BLOCK, current_par, for_each};
use crate::model::rmsnorm::{rmsnorm_backward, rmsnorm_forward};
use crate::model::rope::{rope_backward, rope_forward, rope_tables};
use crate::model::swiglu::{swiglu_backward, swiglu_forward};
use crate::{LlamaConfig, ParamStore};

/// Vocabulary columns per block of the fused cross-entropy and lm_head
/// backward: dlogits exist one (N, HEAD_BLOCK) block at a time.
pub const HEAD_BLOCK: usize = 2048;

/// What the forward keeps for the backward.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Checkpointing {
    /// Every layer's activations are kept ([`Activations::layers`] has L
    /// entries).
    #[default]
    Off,
    /// Only each layer's input residual stream is kept; the backward
    /// recomputes a layer's activations, in the one [`LayerActs`] reused by
    /// every layer, just before that layer's backward (Chen et al. 2016,
    /// "Training deep nets with sublinear memory cost", one segment per
    /// layer). Gradients are bit-identical to [`Checkpointing::Off`]; the
    /// cost is a second forward pass of the decoder layers.
    Layers,
}

/// What one decoder layer's forward caches for its backward.
#[derive(Debug, Clone)]
pub struct LayerActs {
    /// input_layernorm output (N, C).
    pub ln1: Vec<f32>,
    /// input_layernorm 1/rms per row (N).
    pub ln1_rstd: Vec<f32>,
    /// q after RoPE (N, C).
    pub q: Vec<f32>,
    /// k after RoPE (N, C).
    pub k: Vec<f32>,
    /// v (N, C).
    pub v: Vec<f32>,
    /// Attention probabilities (B, NH, T, T).
    pub att: Vec<f32>,
    /// Attention output, o_proj's input (N, C).
    pub atty: Vec<f32>,
    /// Residual stream after the attention block (N, C).
    pub resid_mid: Vec<f32>,
    /// post_attention_layernorm output (N, C).
    pub ln2: Vec<f32>,
    /// post_attention_layernorm 1/rms per row (N).
    pub ln2_rstd: Vec<f32>,
    /// gate_proj output (N, F).
    pub gate: Vec<f32>,
    /// up_proj output (N, F).
    pub up: Vec<f32>,
    /// silu(gate) ⊙ up, down_proj's input (N, F).
    pub swi: Vec<f32>,
}

impl LayerActs {
    fn new(b: usize, t: usize, c: usize, nh: usize, f: usize) -> Self {
        let n = b * t;
        Self {
            ln1: vec![0.0; n * c],
            ln1_rstd: vec![0.0; n],
            q: vec![0.0; n * c],
            k: vec![0.0; n * c],
            v: vec![0.0; n * c],
            att: vec![0.0; b * nh * t * t],
            atty: vec![0.0; n * c],
            resid_mid: vec![0.0; n * c],
            ln2: vec![0.0; n * c],
            ln2_rstd: vec![0.0; n],
            gate: vec![0.0; n * f],
            up: vec![0.0; n * f],
            swi: vec![0.0; n * f],
        }
    }

    fn buffers(&self) -> [&Vec<f32>; 13] {
        [
            &self.ln1,
            &self.ln1_rstd,
            &self.q,
            &self.k,
            &self.v,
            &self.att,
            &self.atty,
            &self.resid_mid,
            &self.ln2,
            &self.ln2_rstd,
            &self.gate,
            &self.up,
            &self.swi,
        ]
    }
}

/// Every activation and scratch buffer of one (config, B, T), allocated once.
#[derive(Debug, Clone)]
pub struct Activations {
    b: usize,
    t: usize,
    checkpointing: Checkpointing,
    /// RoPE cos table (T, HS/2).
    pub cos: Vec<f32>,
    /// RoPE sin table (T, HS/2).
    pub sin: Vec<f32>,
    /// Residual stream at the input of each layer and after the last one
    /// (L+1, N, C); row 0 is the embedding.
    pub residual: Vec<f32>,
    /// Per-layer caches: L entries, or one shared by every layer under
    /// [`Checkpointing::Layers`] (holding, after a forward, the last layer's
    /// and after a backward the first layer's activations).
    pub layers: Vec<LayerActs>,
    /// model.norm output (N, C).
    pub lnf: Vec<f32>,
    /// model.norm 1/rms per row (N).
    pub lnf_rstd: Vec<f32>,
    /// Logits (N, V), kept by the backward.
    pub logits: Vec<f32>,
    /// log Σ exp of each row of the logits (N).
    pub lse: Vec<f32>,
    /// Cross-entropy of each row (N); the loss is their mean.
    pub losses: Vec<f32>,
    // Scratch: the forward's pre-RoPE q/k and projections, and the
    // backward's gradients.
    tmp: Vec<f32>,      // (N, C)
    d_resid: Vec<f32>,  // (N, C)
    d_ln: Vec<f32>,     // (N, C)
    d_atty: Vec<f32>,   // (N, C)
    d_q: Vec<f32>,      // (N, C)
    d_k: Vec<f32>,      // (N, C)
    d_v: Vec<f32>,      // (N, C)
    d_swi: Vec<f32>,    // (N, F)
    d_gate: Vec<f32>,   // (N, F)
    d_up: Vec<f32>,     // (N, F)
    d_att: Vec<f32>,    // (B, NH, T, T)
    d_logits: Vec<f32>, // (N, min(V, HEAD_BLOCK))
    d_t: Vec<f32>,      // linear_backward's workspace, (max(C, F, min(V, HEAD_BLOCK)), N)
}

impl Activations {
    /// Buffers for batches of `b` sequences of `t` tokens, every layer's
    /// activations kept ([`Checkpointing::Off`]).
    pub fn new(config: &LlamaConfig, b: usize, t: usize) -> Self {
        Self::with_checkpointing(config, b, t, Checkpointing::Off)
    }

    /// Buffers for batches of `b` sequences of `t` tokens under `mode`.
    pub fn with_checkpointing(
        config: &LlamaConfig,
        b: usize,
        t: usize,
        mode: Checkpointing,
    ) -> Self {
        let (c, f, v, nh, nl) = dims(config);
        let hs = config.head_dim();
        assert!(
            t <= config.max_position_embeddings,
            "T = {t} exceeds max_position_embeddings = {}",
            config.max_position_embeddings
        );
        let n = b * t;
        let mut cos = vec![0.0; t * hs / 2];
        let mut sin = vec![0.0; t * hs / 2];
        rope_tables(&mut cos, &mut sin, t, hs, config.rope_theta as f32);
        let kept = kept_layers(mode, nl);
        Self {
            b,
            t,
            checkpointing: mode,
            cos,
            sin,
            residual: vec![0.0; (nl + 1) * n * c],
            layers: (0..kept).map(|_| LayerActs::new(b, t, c, nh, f)).collect(),
            lnf: vec![0.0; n * c],
            lnf_rstd: vec![0.0; n],
            logits: vec![0.0; n * v],
            lse: vec![0.0; n],
            losses: vec![0.0; n],
            tmp: vec![0.0; n * c],
            d_resid: vec![0.0; n * c],
            d_ln: vec![0.0; n * c],
            d_atty: vec![0.0; n * c],
            d_q: vec![0.0; n * c],
            d_k: vec![0.0; n * c],
            d_v: vec![0.0; n * c],
            d_swi: vec![0.0; n * f],
            d_gate: vec![0.0; n * f],
            d_up: vec![0.0; n * f],
            d_att: vec![0.0; b * nh * t * t],
            d_logits: vec![0.0; n * v.min(HEAD_BLOCK)],
            d_t: vec![
                0.0;
                linear_backward_workspace_bytes(n, c.max(f).max(v.min(HEAD_BLOCK)))
                    / size_of::<f32>()
            ],
        }
    }

    /// Exact bytes of f32 data held (caches, tables and scratch).
    pub fn bytes(&self) -> usize {
        let top = [
            &self.cos,
            &self.sin,
            &self.residual,
            &self.lnf,
            &self.lnf_rstd,
            &self.logits,
            &self.lse,
            &self.losses,
            &self.tmp,
            &self.d_resid,
            &self.d_ln,
            &self.d_atty,
            &self.d_q,
            &self.d_k,
            &self.d_v,
            &self.d_swi,
            &self.d_gate,
            &self.d_up,
            &self.d_att,
            &self.d_logits,
            &self.d_t,
        ];
        let elems: usize = top.iter().map(|x| x.len()).sum::<usize>()
            + self
                .layers
                .iter()
                .flat_map(|l| l.buffers())
                .map(Vec::len)
                .sum::<usize>();
        elems * size_of::<f32>()
    }

    /// (B, T) these buffers were sized for.
    pub fn shape(&self) -> (usize, usize) {
        (self.b, self.t)
    }

    /// What the forward keeps for the backward.
    pub fn checkpointing(&self) -> Checkpointing {
        self.checkpointing
    }

    /// The index in [`Self::layers`] of layer `l`'s cache.
    fn layer_index(&self, l: usize) -> usize {
        match self.checkpointing {
            Checkpointing::Off => l,
            Checkpointing::Layers => 0,
        }
    }
}

/// How many [`LayerActs`] a model of `nl` layers keeps under `mode`.
fn kept_layers(mode: Checkpointing, nl: usize) -> usize {
    match mode {
        Checkpointing::Off => nl,
        Checkpointing::Layers => nl.min(1),
    }
}

/// (C, F, V, NH, L) of `config`.
fn dims(config: &LlamaConfig) -> (usize, usize, usize, usize, usize) {
    (
        config.hidden_size,
        config.intermediate_size,
        config.vocab_size,
        config.num_attention_heads,
        config.num_hidden_layers,
    )
}

/// The name of the lm_head weight (the embedding when tied).
fn head_name(config: &LlamaConfig) -> &'static str {
    if config.tie_word_embeddings {
        "model.embed_tokens.weight"
    } else {
        "lm_head.weight"
    }
}

fn param<'a>(params: &'a ParamStore, name: &str) -> &'a [f32] {
    params
        .slice(name)
        .unwrap_or_else(|| panic!("parameter `{name}` missing from the store"))
}

fn grad<'a>(grads: &'a mut ParamStore, name: &str) -> &'a mut [f32] {
    let spec = grads
        .layout()
        .get(name)
        .unwrap_or_else(|| panic!("gradient `{name}` missing from the store"));
    let (start, end) = (spec.offset, spec.offset + spec.len());
    &mut grads.as_mut_slice()[start..end]
}

fn check_inputs(config: &LlamaConfig, tokens: &[u32], targets: &[u32], b: usize, t: usize) {
    assert_eq!(tokens.len(), b * t, "tokens must be (B, T)");
    assert_eq!(targets.len(), b * t, "targets must be (B, T)");
    let nh = config.num_attention_heads;
    assert!(
        nh > 0 && config.hidden_size.is_multiple_of(nh),
        "hidden_size must be a multiple of num_attention_heads"
    );
}

/// `out = a + b` elementwise, in parallel fixed blocks.
fn add(out: &mut [f32], a: &[f32], b: &[f32], par: Par) {
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
struct Dims {
    b: usize,
    t: usize,
    n: usize,
    c: usize,
    f: usize,
    nh: usize,
    hs: usize,
    eps: f32,
}

impl Dims {
    fn new(config: &LlamaConfig, b: usize, t: usize) -> Self {
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

/// Decoder layer `l` on `resid` (N, C): fills `la`, and writes the layer's
/// output into `resid_out` when given (a checkpointed backward recomputes
/// `la` only). `tmp` (N, C) is scratch.
#[allow(clippy::too_many_arguments)]
fn layer_forward(
    la: &mut LayerActs,
    resid_out: Option<&mut [f32]>, // (N, C)
    tmp: &mut [f32],               // (N, C)
    resid: &[f32],                 // (N, C)
    cos: &[f32],                   // (T, HS/2)
    sin: &[f32],                   // (T, HS/2)
    params: &ParamStore,
    l: usize,
    par: Par,
    d: Dims,
) {
    let Dims {
        b,
        t,
        n,
        c,
        f,
        nh,
        hs,
        eps,
    } = d;
    let w = |s: &str| param(params, &format!("model.layers.{l}.{s}.weight"));
    rmsnorm_forward(
        &mut la.ln1,
        &mut la.ln1_rstd,
        resid,
        w("input_layernorm"),
        par,
        n,
        c,
        eps,
    );
    linear_forward(tmp, &la.ln1, w("self_attn.q_proj"), par, n, c, c);
    rope_forward(&mut la.q, tmp, cos, sin, par, b, t, nh, hs);
    linear_forward(tmp, &la.ln1, w("self_attn.k_proj"), par, n, c, c);
    rope_forward(&mut la.k, tmp, cos, sin, par, b, t, nh, hs);
    linear_forward(&mut la.v, &la.ln1, w("self_attn.v_proj"), par, n, c, c);
    attention_forward(
        &mut la.atty,
        &mut la.att,
        &la.q,
        &la.k,
        &la.v,
        par,
        b,
        t,
        nh,
        hs,
    );
    linear_forward(tmp, &la.atty, w("self_attn.o_proj"), par, n, c, c);
    add(&mut la.resid_mid, resid, tmp, par);

    rmsnorm_forward(
        &mut la.ln2,
        &mut la.ln2_rstd,
        &la.resid_mid,
        w("post_attention_layernorm"),
        par,
        n,
        c,
        eps,
    );
    linear_forward(&mut la.gate, &la.ln2, w("mlp.gate_proj"), par, n, c, f);
    linear_forward(&mut la.up, &la.ln2, w("mlp.up_proj"), par, n, c, f);
    swiglu_forward(&mut la.swi, &la.gate, &la.up, par);
    if let Some(resid_out) = resid_out {
        linear_forward(tmp, &la.swi, w("mlp.down_proj"), par, n, f, c);
        add(resid_out, &la.resid_mid, tmp, par);
    }
}

/// Runs the model on `tokens` (B, T), caches what [`backward`] needs in
/// `acts` and returns the mean cross-entropy against `targets` (B, T).
///
/// Runs on the current rayon pool (install a pool of N threads to use N);
/// the result is bit-identical for any pool size.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    params: &ParamStore,
    config: &LlamaConfig,
    tokens: &[u32],  // (B, T)
    targets: &[u32], // (B, T)
    b: usize,
    t: usize,
    acts: &mut Activations,
) -> f32 {
    check_inputs(config, tokens, targets, b, t);
    assert_eq!(acts.shape(), (b, t), "activations sized for another (B, T)");
    let (c, _, v, _, nl) = dims(config);
    let d = Dims::new(config, b, t);
    let (n, nc) = (d.n, d.n * c);
    let par = current_par();
    assert_eq!(
        acts.layers.len(),
        kept_layers(acts.checkpointing, nl),
        "activations sized for another config"
    );

    embedding_forward(
        &mut acts.residual[..nc],
        tokens,
        param(params, "model.embed_tokens.weight"),
        c,
    );
    for l in 0..nl {
        let li = acts.layer_index(l);
        let (done, rest) = acts.residual.split_at_mut((l + 1) * nc);
        layer_forward(
            &mut acts.layers[li],
            Some(&mut rest[..nc]),
            &mut acts.tmp,
            &done[l * nc..],
            &acts.cos,
            &acts.sin,
            params,
            l,
            par,
            d,
        );
    }

    rmsnorm_forward(
        &mut acts.lnf,
        &mut acts.lnf_rstd,
        &acts.residual[nl * nc..],
        param(params, "model.norm.weight"),
        par,
        n,
        c,
        d.eps,
    );
    linear_forward(
        &mut acts.logits,
        &acts.lnf,
        param(params, head_name(config)),
        par,
        n,
        c,
        v,
    );
    crossentropy_forward(
        &mut acts.losses,
        &mut acts.lse,
        &acts.logits,
        targets,
        par,
        n,
        v,
    )
}

/// Accumulates (`+=`) into `grads` (the layout of `params`) the gradient of
/// the mean loss of the last [`forward`] on the same `tokens`, `targets` and
/// `acts`. Overwrites the scratch (and, under [`Checkpointing::Layers`], the
/// shared layer cache); may be called again after the same forward.
///
/// Runs on the current rayon pool (install a pool of N threads to use N);
/// the gradients are bit-identical for any pool size and both
/// [`Checkpointing`] modes.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    grads: &mut ParamStore,
    params: &ParamStore,
    config: &LlamaConfig,
    tokens: &[u32],  // (B, T)
    targets: &[u32], // (B, T)
    b: usize,
    t: usize,
    acts: &mut Activations,
) {
    check_inputs(config, tokens, targets, b, t);
    assert_eq!(acts.shape(), (b, t), "activations sized for another (B, T)");
    assert_eq!(
        grads.layout(),
        params.layout(),
        "gradients must have the parameters' layout"
    );
    let (c, f, v, nh, nl) = dims(config);
    let d = Dims::new(config, b, t);
    let hs = d.hs;
    let (n, nc) = (d.n, d.n * c);
    let par = current_par();

    // lm_head and cross-entropy, one block of vocabulary columns at a time:
    // dlogits[:, v0..v0+W] (N, W), then d_ln += dlogits_blk · W_blk (the
    // blocks summed in order) and dW_blk += dlogits_blkᵀ · lnf.
    acts.d_ln.fill(0.0);
    let head = head_name(config);
    let mut v0 = 0;
    while v0 < v {
        let w = HEAD_BLOCK.min(v - v0);
        let dlogits = &mut acts.d_logits[..n * w];
        dlogits.fill(0.0);
        crossentropy_backward(
            dlogits,
            &acts.logits,
            &acts.lse,
            targets,
            par,
            n,
            v,
            v0,
            1.0,
        );
        linear_backward(
            &mut acts.d_ln,
            &mut grad(grads, head)[v0 * c..(v0 + w) * c],
            &mut acts.d_t,
            dlogits,
            &acts.lnf,
            &param(params, head)[v0 * c..(v0 + w) * c],
            par,
            n,
            c,
            w,
        );
        v0 += w;
    }
    acts.d_resid.fill(0.0);
    rmsnorm_backward(
        &mut acts.d_resid,
        grad(grads, "model.norm.weight"),
        &acts.d_ln,
        &acts.residual[nl * nc..],
        param(params, "model.norm.weight"),
        &acts.lnf_rstd,
        par,
        n,
        c,
    );

    for l in (0..nl).rev() {
        let name = |s: &str| format!("model.layers.{l}.{s}.weight");
        let w = |s: &str| param(params, &name(s));
        let resid = &acts.residual[l * nc..(l + 1) * nc];
        let li = acts.layer_index(l);
        if acts.checkpointing == Checkpointing::Layers {
            layer_forward(
                &mut acts.layers[li],
                None,
                &mut acts.tmp,
                resid,
                &acts.cos,
                &acts.sin,
                params,
                l,
                par,
                d,
            );
        }
        let la = &acts.layers[li];
        // d_resid holds dL/d(layer output) = dL/d(resid_mid) through the
        // residual; the MLP branch adds its part.
        acts.d_swi.fill(0.0);
        linear_backward(
            &mut acts.d_swi,
            grad(grads, &name("mlp.down_proj")),
            &mut acts.d_t,
            &acts.d_resid,
            &la.swi,
            w("mlp.down_proj"),
            par,
            n,
            f,
            c,
        );
        acts.d_gate.fill(0.0);
        acts.d_up.fill(0.0);
        swiglu_backward(
            &mut acts.d_gate,
            &mut acts.d_up,
            &acts.d_swi,
            &la.gate,
            &la.up,
            par,
        );
        acts.d_ln.fill(0.0);
        linear_backward(
            &mut acts.d_ln,
            grad(grads, &name("mlp.gate_proj")),
            &mut acts.d_t,
            &acts.d_gate,
            &la.ln2,
            w("mlp.gate_proj"),
            par,
            n,
            c,
            f,
        );
        linear_backward(
            &mut acts.d_ln,
            grad(grads, &name("mlp.up_proj")),
            &mut acts.d_t,
            &acts.d_up,
            &la.ln2,
            w("mlp.up_proj"),
            par,
            n,
            c,
            f,
        );
        rmsnorm_backward(
            &mut acts.d_resid,
            grad(grads, &name("post_attention_layernorm")),
            &acts.d_ln,
            &la.resid_mid,
            w("post_attention_layernorm"),
            &la.ln2_rstd,
            par,
            n,
            c,
        );

        // d_resid now holds dL/d(resid_mid) = dL/d(layer input) through the
        // residual; the attention branch adds its part.
        acts.d_atty.fill(0.0);
        linear_backward(
            &mut acts.d_atty,
            grad(grads, &name("self_attn.o_proj")),
            &mut acts.d_t,
            &acts.d_resid,
            &la.atty,
            w("self_attn.o_proj"),
            par,
            n,
            c,
            c,
        );
        acts.d_q.fill(0.0);
        acts.d_k.fill(0.0);
        acts.d_v.fill(0.0);
        attention_backward(
            &mut acts.d_q,
            &mut acts.d_k,
            &mut acts.d_v,
            &mut acts.d_att,
            &acts.d_atty,
            &la.att,
            &la.q,
            &la.k,
            &la.v,
            par,
            b,
            t,
            nh,
            hs,
        );
        acts.d_ln.fill(0.0);
        for (d_rot, proj) in [
            (&acts.d_q, "self_attn.q_proj"),
            (&acts.d_k, "self_attn.k_proj"),
        ] {
            acts.tmp.fill(0.0);
            rope_backward(
                &mut acts.tmp,
                d_rot,
                &acts.cos,
                &acts.sin,
                par,
                b,
                t,
                nh,
                hs,
            );
            linear_backward(
                &mut acts.d_ln,
                grad(grads, &name(proj)),
                &mut acts.d_t,
                &acts.tmp,
                &la.ln1,
                w(proj),
                par,
                n,
                c,
                c,
            );
        }
        linear_backward(
            &mut acts.d_ln,
            grad(grads, &name("self_attn.v_proj")),
            &mut acts.d_t,
            &acts.d_v,
            &la.ln1,
            w("self_attn.v_proj"),
            par,
            n,
            c,
            c,
        );
        rmsnorm_backward(
            &mut acts.d_resid,
            grad(grads, &name("input_layernorm")),
            &acts.d_ln,
            resid,
            w("input_layernorm"),
            &la.ln1_rstd,
            par,
            n,
            c,
        );
    }

    embedding_backward(
        grad(grads, "model.embed_tokens.weight"),
        &acts.d_resid,
        tokens,
        c,
    );
}
