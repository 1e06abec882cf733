//! Checks of the whole Llama forward and backward (`llama::model::llama`) on
//! a shrunk tiny config: loss at init, central finite differences on a
//! seeded subset of every parameter tensor, determinism, accumulation.
//!
//! Tolerance of the finite differences. The loss is an f32 mean of B·T
//! cross-entropies; its rounding noise is absolute (a few ε_f32 · loss), so
//! the central difference with step h = 1e-2 · (1 + |x|) carries an absolute
//! error of about 1e-5..1e-4 besides the O(h²) truncation. Each entry's error
//! is therefore measured relative to max(|an|, |fd|, rms of the tensor's
//! analytic gradient), entries far below the rms being judged at the rms
//! scale, and bounded by 2e-2 (a wrong formula gives O(1)). The weights are
//! drawn with std 0.3 (loss ≈ 5.8, far from flat, yet smooth enough that
//! the truncation error at this step stays small): the worst entry measured
//! is 2.3e-3; with std 0.5 it reaches 8e-2 at h = 1e-2 (truncation) and
//! 1e-2 at h = 3e-3 (rounding).

use llama::model::llama::{Activations, backward, forward};
use llama::{LlamaConfig, ParamStore};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const B: usize = 2;
const T: usize = 6;
/// Relative step of the central differences.
const H: f32 = 1e-2;
/// Bound on the relative error of every sampled gradient entry.
const TOL: f64 = 2e-2;
/// Entries sampled per tensor.
const SAMPLES: usize = 10;

fn config(init: f64) -> LlamaConfig {
    LlamaConfig {
        hidden_size: 32,
        intermediate_size: 48,
        num_attention_heads: 2,
        num_hidden_layers: 2,
        vocab_size: 40,
        max_position_embeddings: 16,
        initializer_range: init,
        ..LlamaConfig::tiny()
    }
}

fn tokens(config: &LlamaConfig, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v = config.vocab_size as u32;
    let seq: Vec<u32> = (0..B * (T + 1)).map(|_| rng.random_range(0..v)).collect();
    // Next-token targets within each sequence of T + 1 tokens.
    let rows: Vec<&[u32]> = seq.chunks_exact(T + 1).collect();
    let inp = rows.iter().flat_map(|r| r[..T].to_vec()).collect();
    let tgt = rows.iter().flat_map(|r| r[1..].to_vec()).collect();
    (inp, tgt)
}

#[test]
fn loss_at_init_is_near_ln_vocab() {
    let config = config(0.02);
    let params = ParamStore::init(&config, 1);
    let (inp, tgt) = tokens(&config, 2);
    let mut acts = Activations::new(&config, B, T);
    let loss = forward(&params, &config, &inp, &tgt, B, T, &mut acts);
    let expected = (config.vocab_size as f32).ln();
    println!("loss at init {loss}, ln V = {expected}");
    assert!(
        (loss - expected).abs() < 0.1,
        "loss {loss} vs ln V {expected}"
    );
    assert!(acts.bytes() > 0);
}

#[test]
fn gradients_match_finite_differences() {
    check_finite_differences(&config(0.3));
}

/// With lm_head tied to the embedding, the embedding's gradient sums both uses.
#[test]
fn tied_gradients_match_finite_differences() {
    check_finite_differences(&LlamaConfig {
        tie_word_embeddings: true,
        ..config(0.3)
    });
}

fn check_finite_differences(config: &LlamaConfig) {
    let config = config.clone();
    let mut params = ParamStore::init(&config, 3);
    // Norm weights start at 1; spread them so their gradients differ.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for spec in params.layout().specs().to_vec() {
        if spec.kind == llama::ParamKind::Norm {
            let s = &mut params.as_mut_slice()[spec.offset..spec.offset + spec.len()];
            s.iter_mut()
                .for_each(|x| *x = 1.0 + rng.random_range(-0.5f32..0.5));
        }
    }
    let (inp, tgt) = tokens(&config, 5);
    let mut acts = Activations::new(&config, B, T);
    let loss = forward(&params, &config, &inp, &tgt, B, T, &mut acts);
    println!("loss {loss}");
    let mut grads = ParamStore::zeros(params.layout());
    backward(&mut grads, &params, &config, &inp, &tgt, B, T, &mut acts);

    let mut worst = 0.0f64;
    for spec in params.layout().specs().to_vec() {
        let an_all = &grads.as_slice()[spec.offset..spec.offset + spec.len()];
        let rms =
            (an_all.iter().map(|&g| (g as f64).powi(2)).sum::<f64>() / an_all.len() as f64).sqrt();
        assert!(rms > 0.0, "{}: zero gradient", spec.name);
        let mut max_err = 0.0f64;
        for _ in 0..SAMPLES {
            let i = spec.offset + rng.random_range(0..spec.len());
            let x = params.as_slice()[i];
            let h = H * (1.0 + x.abs());
            params.as_mut_slice()[i] = x + h;
            let lp = forward(&params, &config, &inp, &tgt, B, T, &mut acts) as f64;
            params.as_mut_slice()[i] = x - h;
            let lm = forward(&params, &config, &inp, &tgt, B, T, &mut acts) as f64;
            params.as_mut_slice()[i] = x;
            // The step actually taken, after rounding x ± h to f32.
            let step = ((x + h) as f64) - ((x - h) as f64);
            let fd = (lp - lm) / step;
            let an = grads.as_slice()[i] as f64;
            let err = (fd - an).abs() / an.abs().max(fd.abs()).max(rms);
            max_err = max_err.max(err);
        }
        println!(
            "{:<45} grad rms {rms:.3e}  max rel err {max_err:.2e}",
            spec.name
        );
        worst = worst.max(max_err);
    }
    println!("worst {worst:.2e}");
    assert!(worst < TOL, "max relative error {worst:.2e} > {TOL:e}");
}

#[test]
fn forward_and_backward_are_deterministic() {
    let config = config(0.5);
    let params = ParamStore::init(&config, 6);
    let (inp, tgt) = tokens(&config, 7);
    let mut acts = Activations::new(&config, B, T);
    let l1 = forward(&params, &config, &inp, &tgt, B, T, &mut acts);
    let logits1 = acts.logits.clone();
    let mut g1 = ParamStore::zeros(params.layout());
    backward(&mut g1, &params, &config, &inp, &tgt, B, T, &mut acts);
    let l2 = forward(&params, &config, &inp, &tgt, B, T, &mut acts);
    let mut g2 = ParamStore::zeros(params.layout());
    backward(&mut g2, &params, &config, &inp, &tgt, B, T, &mut acts);
    assert_eq!(l1.to_bits(), l2.to_bits());
    assert!(
        logits1
            .iter()
            .zip(&acts.logits)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert!(
        g1.as_slice()
            .iter()
            .zip(g2.as_slice())
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
}

#[test]
fn backward_accumulates() {
    let config = config(0.5);
    let params = ParamStore::init(&config, 8);
    let (inp, tgt) = tokens(&config, 9);
    let mut acts = Activations::new(&config, B, T);
    forward(&params, &config, &inp, &tgt, B, T, &mut acts);
    let mut once = ParamStore::zeros(params.layout());
    backward(&mut once, &params, &config, &inp, &tgt, B, T, &mut acts);
    let mut twice = ParamStore::zeros(params.layout());
    backward(&mut twice, &params, &config, &inp, &tgt, B, T, &mut acts);
    backward(&mut twice, &params, &config, &inp, &tgt, B, T, &mut acts);
    let scale = once.as_slice().iter().fold(0.0f32, |m, g| m.max(g.abs()));
    for (a, b) in once.as_slice().iter().zip(twice.as_slice()) {
        assert!(
            (2.0 * a - b).abs() <= 1e-5 * scale,
            "two backwards give {b}, twice one gives {}",
            2.0 * a
        );
    }
}
