//! What the forward keeps for the backward, sized once from (config, B, T)
//! and reused: every layer's activations, or only each layer's input under
//! [`Checkpointing::Layers`], and the backward's gradient scratch.

use super::{HEAD_BLOCK, dims};
use crate::LlamaConfig;
use crate::model::linear::linear_backward_workspace_bytes;
use crate::model::rope::rope_tables;

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
    pub(super) b: usize,
    pub(super) t: usize,
    pub(super) checkpointing: Checkpointing,
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
    pub(super) tmp: Vec<f32>,      // (N, C)
    pub(super) d_resid: Vec<f32>,  // (N, C)
    pub(super) d_ln: Vec<f32>,     // (N, C)
    pub(super) d_atty: Vec<f32>,   // (N, C)
    pub(super) d_q: Vec<f32>,      // (N, C)
    pub(super) d_k: Vec<f32>,      // (N, C)
    pub(super) d_v: Vec<f32>,      // (N, C)
    pub(super) d_swi: Vec<f32>,    // (N, F)
    pub(super) d_gate: Vec<f32>,   // (N, F)
    pub(super) d_up: Vec<f32>,     // (N, F)
    pub(super) d_att: Vec<f32>,    // (B, NH, T, T)
    pub(super) d_logits: Vec<f32>, // (N, min(V, HEAD_BLOCK))
    pub(super) d_t: Vec<f32>, // linear_backward's workspace, (max(C, F, min(V, HEAD_BLOCK)), N)
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
    pub(super) fn layer_index(&self, l: usize) -> usize {
        match self.checkpointing {
            Checkpointing::Off => l,
            Checkpointing::Layers => 0,
        }
    }
}

/// The bytes [`Activations::with_checkpointing`]`(config, b, t, mode)`
/// would hold ([`Activations::bytes`]), computed without allocating; `None`
/// where they overflow `usize`. Callers compare it with a memory budget
/// before allocating.
pub fn activation_bytes(
    config: &LlamaConfig,
    b: usize,
    t: usize,
    mode: Checkpointing,
) -> Option<usize> {
    use subspace::budget::{checked_bytes as p, checked_sum};
    let (c, f, v, nh, nl) = dims(config);
    let hs = config.head_dim();
    let n = b.checked_mul(t)?;
    let att = p(&[b, nh, t, t]);
    // One LayerActs: ln1, q, k, v, atty, resid_mid, ln2 (N, C); two 1/rms
    // (N); att (B, NH, T, T); gate, up, swi (N, F).
    let layer = checked_sum(&[p(&[7, n, c]), p(&[2, n]), att, p(&[3, n, f])]);
    let head = v.min(HEAD_BLOCK);
    let elems = checked_sum(&[
        p(&[t, hs]).map(|x| x / 2 * 2),      // cos, sin
        p(&[nl.checked_add(1)?, n, c]),      // residual
        p(&[kept_layers(mode, nl), layer?]), // layers
        p(&[8, n, c]),                       // lnf, tmp, d_resid, d_ln, d_atty, d_q, d_k, d_v
        p(&[3, n]),                          // lnf_rstd, lse, losses
        p(&[n, v]),                          // logits
        p(&[3, n, f]),                       // d_swi, d_gate, d_up
        att,                                 // d_att
        p(&[n, head]),                       // d_logits
        p(&[n, c.max(f).max(head)]),         // d_t
    ])?;
    elems.checked_mul(size_of::<f32>())
}

/// How many [`LayerActs`] a model of `nl` layers keeps under `mode`.
pub(super) fn kept_layers(mode: Checkpointing, nl: usize) -> usize {
    match mode {
        Checkpointing::Off => nl,
        Checkpointing::Layers => nl.min(1),
    }
}
