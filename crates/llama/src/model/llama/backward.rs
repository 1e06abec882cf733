//! The backward pass: the gradient of the mean cross-entropy with respect to
//! every parameter, accumulated (`+=`) into the gradient store.

use crate::model::attention::attention_backward;
use crate::model::crossentropy::crossentropy_backward;
use crate::model::embedding::embedding_backward;
use crate::model::linear::linear_backward;
use crate::model::parallel::current_par;
use crate::model::rmsnorm::rmsnorm_backward;
use crate::model::rope::rope_backward;
use crate::model::swiglu::swiglu_backward;
use crate::{LlamaConfig, ParamStore};

use super::forward::layer_forward;
use super::{
    Activations, Checkpointing, Dims, HEAD_BLOCK, check_inputs, dims, grad, head_name, param,
};

/// Accumulates (`+=`) into `grads` (the layout of `params`) the gradient of
/// the mean loss of the last [`forward`](super::forward()) on the same `tokens`, `targets` and
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
    backward_scaled(grads, params, config, tokens, targets, b, t, acts, 1.0);
}

/// As [`backward`], accumulating `dloss` times the gradient of the mean
/// loss: a micro-batch holding a share s of a batch's tokens passes
/// `dloss = s`, so that the micro-batches' sum is the batch's mean gradient.
/// `dloss` enters only the cross-entropy's per-row scale `dloss / N`: with
/// `dloss = b / B` a power of two (B sequences split in 2, 4, … equal
/// micro-batches of b), that scale has the bits of the whole batch's
/// `1 / (B·T)`; `dloss = 1` is exactly [`backward`].
#[allow(clippy::too_many_arguments)]
pub fn backward_scaled(
    grads: &mut ParamStore,
    params: &ParamStore,
    config: &LlamaConfig,
    tokens: &[u32],  // (B, T)
    targets: &[u32], // (B, T)
    b: usize,
    t: usize,
    acts: &mut Activations,
    dloss: f32,
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
            dloss,
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
