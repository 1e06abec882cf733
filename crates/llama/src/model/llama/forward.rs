//! The forward pass: embedding, decoder layers, final norm, lm_head and the
//! mean cross-entropy (the formula is in the module doc of [`super`]).

use faer::Par;

use crate::model::attention::attention_forward;
use crate::model::crossentropy::crossentropy_forward;
use crate::model::embedding::embedding_forward;
use crate::model::linear::linear_forward;
use crate::model::parallel::current_par;
use crate::model::rmsnorm::rmsnorm_forward;
use crate::model::rope::rope_forward;
use crate::model::swiglu::swiglu_forward;
use crate::{LlamaConfig, ParamStore};

use super::activations::kept_layers;
use super::{Activations, Dims, LayerActs, add, check_inputs, dims, head_name, param};

/// Decoder layer `l` on `resid` (N, C): fills `la`, and writes the layer's
/// output into `resid_out` when given (a checkpointed backward recomputes
/// `la` only). `tmp` (N, C) is scratch.
#[allow(clippy::too_many_arguments)]
pub(super) fn layer_forward(
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

/// Runs the model on `tokens` (B, T), caches what [`backward`](super::backward()) needs in
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
