//! The tiny Llama against PyTorch: `ci/reference/tiny_reference.safetensors`,
//! written by `ci/reference/make_reference.py` from Hugging Face's
//! `LlamaForCausalLM` (float32, eager attention) and a replica of our
//! optimizers that is bit-identical to `galore_torch`'s (see
//! `ci/reference/README.md`). CI runs no Python: this test only reads the
//! committed file.
//!
//! Compared, each with its own tolerance (below, with the measured errors):
//! the logits and the loss of batch 0; every parameter gradient by Hugging
//! Face name; the losses of 5 AdamW and 5 GaLore-AdamW steps on the stored
//! batches; the norm of every AdamW update; GaLore's bases (as subspaces)
//! and every GaLore update. Each comparison prints a table (`-- --nocapture`)
//! and fails naming every tensor over its tolerance. A last test checks that
//! wrong models (another RoPE θ, a transposed projection, unshifted targets,
//! another Adam ε, no weight decay, another GaLore α) fail the same
//! comparisons.
//!
//! Both sides compute in f32 with different summation orders (PyTorch's
//! blocked GEMMs against our loops), so agreement is to f32 roundoff
//! (ε = 1.2e-7) grown by the depth of the computation, not to the bit.
//!
//! Letters: S steps, B batch, T sequence, V vocab, r GaLore rank.

use llama::model::llama::{Activations, backward, forward};
use llama::optim::{AdamW, AdamWParams, GaloreAdamW, GaloreParams, Side};
use llama::{LlamaConfig, ParamStore};

#[path = "torch_reference/file.rs"]
mod file;
use file::Reference;

// Tolerances. Measured errors (f32 on both sides, x86-64, PyTorch 2.15.0 on
// one thread) are quoted beside each: all are ≤ 0.1× their bound, leaving
// room for other BLAS and compiler orders, while wrong models miss the
// bounds by 10³–10⁵× (see `wrong_models_fail`).

/// Logits: max |Δ| / max |logit| and ‖Δ‖_F / ‖logits‖_F (measured 5.1e-7).
/// An f32 dot product of length k = 64 or 172 rounds to about √k·ε ≈ 1e-6
/// relative in the worst case, and two layers compound it.
const TOL_LOGITS: f64 = 1e-5;
/// Loss: |Δ| / loss (measured 8.6e-8). |Δloss| ≤ 2·max |Δlogit|, so the
/// logits' bound carries over: 2 · 1e-5 · max |logit| (3.3) / loss (5.5).
const TOL_LOSS: f64 = 1e-5;
/// Each gradient: ‖Δ‖_F / ‖g‖_F (measured ≤ 1.1e-6, layer 1's q_proj). The
/// backward pass is as deep as the forward again, and the smallest gradients
/// (layer 1's q/k, ‖g‖ ≈ 0.2) carry the most relative error.
const TOL_GRAD: f64 = 2e-5;
/// Step losses: |Δ| / loss (measured ≤ 2.2e-7 for AdamW, 2.0e-7 for GaLore).
/// After a step the parameters differ by lr·δN with N = m/(√v + ε): N is
/// sign-like, and only entries with |g| near ε amplify gradient roundoff.
/// Five steps at lr 1e-2 move the loss by O(1), so a wrong update formula
/// shifts it by far more than this bound.
const TOL_STEP_LOSS: f64 = 1e-5;
/// AdamW update norms after 5 steps: relative (measured ≤ 9.4e-7).
const TOL_ADAMW_UPDATE: f64 = 1e-5;
/// GaLore bases: ‖sin Θ(P, Q)‖_F between the rank-r subspaces, bounded per
/// matrix by `BASIS_FACTOR · ε · σ₁ / (σ_r − σ_{r+1})` from the stored
/// spectrum (measured ≤ 0.8× that estimate, ≤ 9.7e-6). PyTorch's basis is
/// an f32 LAPACK SVD, ours faer's in f64; a backward-stable f32 SVD gets the
/// top-r subspace to about ε‖G‖/gap (Wedin), so the gap sets the bound. A
/// wrong side or factor gives O(1).
const BASIS_FACTOR: f64 = 10.0;
/// GaLore updates after 5 steps: ‖Δ‖_F / ‖update‖_F (measured ≤ 2.7e-5,
/// on the embedding). The bases' 1e-6..1e-5 differences move every step
/// after the first, and Adam's m/(√v + ε) amplifies them where a gradient
/// entry is near ε (rarely seen tokens' embedding rows). PyTorch against
/// itself with the SVD taken in f64 differs from the file by up to 1.5e-5
/// in the same way.
const TOL_GALORE_UPDATE: f64 = 5e-4;

/// One compared quantity.
struct Row {
    name: String,
    /// Size of the reference value (a norm or |x|), for the table.
    scale: f64,
    err: f64,
    tol: f64,
}

impl Row {
    fn new(name: impl Into<String>, scale: f64, err: f64, tol: f64) -> Self {
        Self {
            name: name.into(),
            scale,
            err,
            tol,
        }
    }

    /// NaN counts as a failure.
    fn fails(&self) -> bool {
        self.err.is_nan() || self.err > self.tol
    }
}

/// Prints `rows` as a table and fails naming every row over its tolerance.
#[track_caller]
fn check(title: &str, rows: &[Row]) {
    println!("\n{title}");
    println!(
        "{:<56} {:>11} {:>11} {:>9}  ",
        "quantity", "reference", "rel. error", "tolerance"
    );
    for r in rows {
        let mark = if r.fails() { "FAIL" } else { "ok" };
        println!(
            "{:<56} {:>11.4e} {:>11.3e} {:>9.1e}  {mark}",
            r.name, r.scale, r.err, r.tol
        );
    }
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| r.fails())
        .map(|r| format!("{} (error {:.3e} > {:.1e})", r.name, r.err, r.tol))
        .collect();
    assert!(
        bad.is_empty(),
        "{title}: {} of {} disagree with PyTorch: {}",
        bad.len(),
        rows.len(),
        bad.join(", ")
    );
}

fn norm(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt()
}

/// ‖a − b‖_F / ‖b‖_F (‖a‖_F when b is zero).
fn rel_fro(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let d: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        .sqrt();
    let nb = norm(b);
    if nb > 0.0 { d / nb } else { d }
}

/// ‖sin Θ‖_F between the column spans of the orthonormal (n, r) row-major
/// `p` and `q`: ‖Q − P(PᵀQ)‖_F in f64 (no squares, so it resolves ε, where
/// √(r − ‖PᵀQ‖²) would only resolve √ε).
fn subspace_distance(p: &[f32], q: &[f32], n: usize, r: usize) -> f64 {
    let (p, q): (Vec<f64>, Vec<f64>) = (
        p.iter().map(|&x| f64::from(x)).collect(),
        q.iter().map(|&x| f64::from(x)).collect(),
    );
    // PᵀQ (r, r).
    let mut ptq = vec![0.0; r * r];
    for k in 0..n {
        for i in 0..r {
            for j in 0..r {
                ptq[i * r + j] += p[k * r + i] * q[k * r + j];
            }
        }
    }
    let mut s = 0.0;
    for k in 0..n {
        for j in 0..r {
            let pq: f64 = (0..r).map(|i| p[k * r + i] * ptq[i * r + j]).sum();
            s += (q[k * r + j] - pq).powi(2);
        }
    }
    s.sqrt()
}

/// Logits (B, T, V) and loss of batch 0, and every gradient.
fn forward_backward(
    reference: &Reference,
    config: &LlamaConfig,
    weights: &ParamStore,
    targets: &[u32],
) -> (Vec<f32>, f32, ParamStore) {
    let (b, t) = (reference.settings.batch, reference.settings.seq);
    let (tokens, _) = reference.batch(0);
    let mut acts = Activations::new(config, b, t);
    let loss = forward(weights, config, tokens, targets, b, t, &mut acts);
    let logits = acts.logits.clone();
    let mut grads = ParamStore::zeros(weights.layout());
    backward(
        &mut grads, weights, config, tokens, targets, b, t, &mut acts,
    );
    (logits, loss, grads)
}

/// Rows comparing the logits and loss of batch 0.
fn forward_rows(reference: &Reference, logits: &[f32], loss: f32) -> Vec<Row> {
    let c = &reference.config;
    let (b, t) = (reference.settings.batch, reference.settings.seq);
    let want = reference.get("logits", &[b, t, c.vocab_size]);
    let max_ref = want.iter().fold(0.0f64, |m, &x| m.max(f64::from(x).abs()));
    let max_err = logits.iter().zip(want).fold(0.0f64, |m, (&x, &y)| {
        m.max((f64::from(x) - f64::from(y)).abs())
    });
    println!("logits: max |Δ| = {max_err:.3e}, max |logit| = {max_ref:.4}");
    let want_loss = f64::from(reference.get("loss", &[1])[0]);
    vec![
        Row::new(
            "logits (max |Δ| / max |x|)",
            max_ref,
            max_err / max_ref,
            TOL_LOGITS,
        ),
        Row::new(
            "logits (‖Δ‖_F / ‖x‖_F)",
            norm(want),
            rel_fro(logits, want),
            TOL_LOGITS,
        ),
        Row::new(
            "loss",
            want_loss,
            (f64::from(loss) - want_loss).abs() / want_loss,
            TOL_LOSS,
        ),
    ]
}

/// Rows comparing every gradient, in our layout's order.
fn gradient_rows(reference: &Reference, grads: &ParamStore) -> Vec<Row> {
    reference
        .layout
        .specs()
        .iter()
        .map(|s| {
            let want = reference.get(&format!("grad.{}", s.name), &s.shape);
            let got = grads.slice(&s.name).expect("a layout name");
            Row::new(&s.name, norm(want), rel_fro(got, want), TOL_GRAD)
        })
        .collect()
}

/// The optimizer of a run.
enum Opt {
    AdamW(AdamW),
    Galore(GaloreAdamW),
}

impl Opt {
    fn step(&mut self, params: &mut ParamStore, grads: &ParamStore, lr: f32) {
        match self {
            Opt::AdamW(o) => o.step(params, grads, lr),
            Opt::Galore(o) => o
                .step(params, grads, lr)
                .unwrap_or_else(|e| panic!("GaLore step failed: {e}")),
        }
    }
}

/// S steps at the constant lr on the stored batches: the loss of batch i
/// before step i, and the final weights.
fn run_steps(reference: &Reference, opt: &mut Opt) -> (Vec<f32>, ParamStore) {
    let c = &reference.config;
    let s = &reference.settings;
    let mut params = reference.weights.clone();
    let mut grads = ParamStore::zeros(&reference.layout);
    let mut acts = Activations::new(c, s.batch, s.seq);
    let mut losses = Vec::with_capacity(s.steps);
    for i in 0..s.steps {
        let (tokens, targets) = reference.batch(i);
        grads.as_mut_slice().fill(0.0);
        losses.push(forward(
            &params, c, tokens, targets, s.batch, s.seq, &mut acts,
        ));
        backward(
            &mut grads, &params, c, tokens, targets, s.batch, s.seq, &mut acts,
        );
        opt.step(&mut params, &grads, s.lr);
    }
    (losses, params)
}

fn loss_rows(reference: &Reference, kind: &str, losses: &[f32]) -> Vec<Row> {
    let want = reference.get(&format!("{kind}.losses"), &[reference.settings.steps]);
    losses
        .iter()
        .zip(want)
        .enumerate()
        .map(|(i, (&x, &y))| {
            let y = f64::from(y);
            Row::new(
                format!("{kind} loss before step {}", i + 1),
                y,
                (f64::from(x) - y).abs() / y,
                TOL_STEP_LOSS,
            )
        })
        .collect()
}

fn adamw_rows(reference: &Reference, params: AdamWParams) -> Vec<Row> {
    let mut opt = Opt::AdamW(AdamW::new(&reference.layout, params));
    let (losses, end) = run_steps(reference, &mut opt);
    let mut rows = loss_rows(reference, "adamw", &losses);
    for s in reference.layout.specs() {
        let want = f64::from(reference.get(&format!("adamw.delta_norm.{}", s.name), &[1])[0]);
        let delta: Vec<f32> = end
            .slice(&s.name)
            .expect("a layout name")
            .iter()
            .zip(reference.weights.slice(&s.name).expect("a layout name"))
            .map(|(&a, &b)| a - b)
            .collect();
        rows.push(Row::new(
            format!("‖update‖ {}", s.name),
            want,
            (norm(&delta) - want).abs() / want,
            TOL_ADAMW_UPDATE,
        ));
    }
    rows
}

fn galore_rows(reference: &Reference, adamw: AdamWParams) -> Vec<Row> {
    let s = &reference.settings;
    let params = GaloreParams {
        rank: s.galore_rank,
        scale: s.galore_scale,
        update_proj_gap: s.galore_update_proj_gap,
        adamw,
        // Everything else as the reference (moments kept across refreshes).
        ..GaloreParams::default()
    };
    let galore = GaloreAdamW::new(&reference.layout, params, Box::new(svd::Svd::default()), 0);
    let mut opt = Opt::Galore(galore);
    let (losses, end) = run_steps(reference, &mut opt);
    let Opt::Galore(galore) = opt else {
        unreachable!()
    };
    let mut rows = loss_rows(reference, "galore", &losses);
    let mut bases = Vec::new();
    for spec in reference.layout.specs() {
        let Some((p, side)) = galore.projector(&spec.name) else {
            assert!(
                !reference
                    .f32s
                    .contains_key(&format!("galore.projector.{}", spec.name)),
                "PyTorch projects `{}`, we do not",
                spec.name
            );
            continue;
        };
        let (m, cols) = (spec.shape[0], spec.shape[1]); // (out, in)
        let expect_side = if m >= cols { Side::Right } else { Side::Left };
        assert_eq!(
            side, expect_side,
            "`{}` projected on the wrong side",
            spec.name
        );
        let (n, r) = p.shape();
        let want = reference.get(&format!("galore.projector.{}", spec.name), &[n, r]);
        // Singular values of the step-1 gradient, descending.
        let sv = reference.get(
            &format!("galore.singular_values.{}", spec.name),
            &[m.min(cols)],
        );
        let next = sv.get(r).copied().unwrap_or(0.0);
        let (s1, gap) = (f64::from(sv[0]), f64::from(sv[r - 1] - next));
        let tol = BASIS_FACTOR * f64::from(f32::EPSILON) * s1 / gap;
        let got: Vec<f32> = (0..n)
            .flat_map(|i| (0..r).map(move |j| p[(i, j)]))
            .collect();
        bases.push(Row::new(
            format!("basis {} ({n}×{r}; ref. = gap/σ₁)", spec.name),
            gap / s1,
            subspace_distance(&got, want, n, r),
            tol,
        ));
    }
    rows.extend(bases);
    for spec in reference.layout.specs() {
        let want = reference.get(&format!("galore.delta.{}", spec.name), &spec.shape);
        let delta: Vec<f32> = end
            .slice(&spec.name)
            .expect("a layout name")
            .iter()
            .zip(reference.weights.slice(&spec.name).expect("a layout name"))
            .map(|(&a, &b)| a - b)
            .collect();
        rows.push(Row::new(
            format!("update {}", spec.name),
            norm(want),
            rel_fro(&delta, want),
            TOL_GALORE_UPDATE,
        ));
    }
    rows
}

#[test]
fn forward_matches_torch() {
    let r = Reference::load();
    let (_, targets) = r.batch(0);
    let (logits, loss, _) = forward_backward(&r, &r.config, &r.weights, targets);
    check(
        "forward (batch 0) against LlamaForCausalLM",
        &forward_rows(&r, &logits, loss),
    );
}

#[test]
fn every_gradient_matches_torch() {
    let r = Reference::load();
    let (_, targets) = r.batch(0);
    let (_, _, grads) = forward_backward(&r, &r.config, &r.weights, targets);
    check(
        "gradients (batch 0): ‖ours − torch‖_F / ‖torch‖_F",
        &gradient_rows(&r, &grads),
    );
}

#[test]
fn adamw_steps_match_torch() {
    let r = Reference::load();
    check(
        "AdamW: 5 steps on the stored batches",
        &adamw_rows(&r, r.adamw_params()),
    );
}

#[test]
fn galore_steps_match_torch() {
    let r = Reference::load();
    check(
        "GaLore-AdamW (svd): 5 steps on the stored batches",
        &galore_rows(&r, r.adamw_params()),
    );
}

/// The reference is only worth its tolerances if a wrong model misses them.
#[test]
fn wrong_models_fail() {
    let r = Reference::load();
    let (tokens, targets) = r.batch(0);
    let worst = |rows: &[Row]| {
        rows.iter()
            .map(|row| row.err / row.tol)
            .fold(0.0f64, f64::max)
    };

    // RoPE with another θ.
    let wrong = LlamaConfig {
        rope_theta: r.config.rope_theta * 2.0,
        ..r.config.clone()
    };
    let (logits, loss, grads) = forward_backward(&r, &wrong, &r.weights, targets);
    let by = worst(&forward_rows(&r, &logits, loss));
    println!("rope θ × 2: forward misses by {by:.1e}×");
    assert!(by > 10.0, "a wrong RoPE θ passes the forward comparison");
    let by = worst(&gradient_rows(&r, &grads));
    println!("rope θ × 2: gradients miss by {by:.1e}×");
    assert!(by > 10.0, "a wrong RoPE θ passes the gradient comparison");

    // One projection read in the wrong layout ((in, out) for (out, in)).
    let name = "model.layers.1.self_attn.v_proj.weight";
    let mut weights = r.weights.clone();
    let t = weights.matrix(name).expect("v_proj").transpose().to_owned();
    weights.matrix_mut(name).expect("v_proj").copy_from(&t);
    let (logits, loss, grads) = forward_backward(&r, &r.config, &weights, targets);
    let by = worst(&forward_rows(&r, &logits, loss));
    println!("transposed v_proj: forward misses by {by:.1e}×");
    assert!(
        by > 10.0,
        "a transposed v_proj passes the forward comparison"
    );
    let by = worst(&gradient_rows(&r, &grads));
    assert!(
        by > 10.0,
        "a transposed v_proj passes the gradient comparison"
    );

    // The loss against unshifted targets (the tokens themselves).
    let (logits, loss, _) = forward_backward(&r, &r.config, &r.weights, tokens);
    let by = worst(&forward_rows(&r, &logits, loss));
    println!("unshifted targets: loss misses by {by:.1e}×");
    assert!(by > 10.0, "unshifted targets pass the loss comparison");

    // Adam with another ε, and without weight decay.
    for (what, hp) in [
        (
            "eps 1e-3",
            AdamWParams {
                eps: 1e-3,
                ..r.adamw_params()
            },
        ),
        (
            "no weight decay",
            AdamWParams {
                weight_decay: 0.0,
                ..r.adamw_params()
            },
        ),
    ] {
        let by = worst(&adamw_rows(&r, hp));
        println!("AdamW with {what}: misses by {by:.1e}×");
        assert!(by > 10.0, "AdamW with {what} passes the AdamW comparison");
    }

    // GaLore with another scale α.
    let hp = r.adamw_params();
    let mut rr = Reference::load();
    rr.settings.galore_scale *= 0.5;
    let by = worst(&galore_rows(&rr, hp));
    println!("GaLore with α / 2: misses by {by:.1e}×");
    assert!(by > 10.0, "GaLore with α / 2 passes the GaLore comparison");
}
