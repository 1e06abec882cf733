//! The model's bits do not depend on the thread count, nor on activation
//! checkpointing (docs/numerics.md#determinism); and the fixed-block
//! kernels stay accurate when their shapes span many blocks.
//!
//! Every forward and backward runs inside a rayon pool of 1, 2, 3 and 8
//! threads; the loss and every gradient must agree bit for bit, with and
//! without [`Checkpointing::Layers`]. Two configs: `LlamaConfig::tiny()`,
//! and one whose dims exceed every block size of `llama::model` (rows of
//! the GEMM tiles, output columns, vocabulary blocks of the fused head
//! backward, elementwise blocks), so the work really is split.

use faer::Par;
use llama::model::linear::{linear_backward, linear_backward_workspace_bytes, linear_forward};
use llama::model::llama::{Activations, Checkpointing, HEAD_BLOCK, backward, forward};
use llama::model::parallel::{ELEM_BLOCK, TILE_COLS, TILE_ROWS};
use llama::{LlamaConfig, ParamStore};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Dims above every block size: N = 2·80 = 160 > TILE_ROWS, F = 600 >
/// TILE_COLS, V = 2100 > HEAD_BLOCK, N·F > ELEM_BLOCK; C = 96 gives 3 heads
/// of 32.
fn wide() -> LlamaConfig {
    LlamaConfig {
        hidden_size: 96,
        intermediate_size: 600,
        num_attention_heads: 3,
        num_hidden_layers: 2,
        vocab_size: 2100,
        max_position_embeddings: 128,
        initializer_range: 0.2,
        ..LlamaConfig::tiny()
    }
}

fn tokens(config: &LlamaConfig, b: usize, t: usize, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v = config.vocab_size as u32;
    let seq: Vec<u32> = (0..b * (t + 1)).map(|_| rng.random_range(0..v)).collect();
    let rows: Vec<&[u32]> = seq.chunks_exact(t + 1).collect();
    let inp = rows.iter().flat_map(|r| r[..t].to_vec()).collect();
    let tgt = rows.iter().flat_map(|r| r[1..].to_vec()).collect();
    (inp, tgt)
}

/// (loss, gradients) of one forward and backward on a pool of `threads`.
fn step(
    config: &LlamaConfig,
    params: &ParamStore,
    b: usize,
    t: usize,
    mode: Checkpointing,
    threads: usize,
) -> (f32, Vec<f32>) {
    let (inp, tgt) = tokens(config, b, t, 7);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool");
    pool.install(|| {
        let mut acts = Activations::with_checkpointing(config, b, t, mode);
        let loss = forward(params, config, &inp, &tgt, b, t, &mut acts);
        let mut grads = ParamStore::zeros(params.layout());
        backward(&mut grads, params, config, &inp, &tgt, b, t, &mut acts);
        (loss, grads.as_slice().to_vec())
    })
}

#[track_caller]
fn assert_same_bits(config: &LlamaConfig, b: usize, t: usize) {
    let params = ParamStore::init(config, 3);
    let (loss, grads) = step(config, &params, b, t, Checkpointing::Off, 1);
    assert!(loss.is_finite() && loss > 0.0, "loss {loss}");
    assert!(grads.iter().any(|&g| g != 0.0), "gradients all zero");
    for mode in [Checkpointing::Off, Checkpointing::Layers] {
        for threads in [1, 2, 3, 8] {
            let (l, g) = step(config, &params, b, t, mode, threads);
            assert_eq!(
                l.to_bits(),
                loss.to_bits(),
                "loss {l} vs {loss} ({mode:?}, {threads} threads)"
            );
            let layout = params.layout();
            for spec in layout.specs() {
                let r = spec.offset..spec.offset + spec.len();
                let same = g[r.clone()]
                    .iter()
                    .zip(&grads[r])
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(
                    same,
                    "gradient of {} differs ({mode:?}, {threads} threads)",
                    spec.name
                );
            }
        }
    }
}

#[test]
fn tiny_config_gives_the_same_bits_on_any_thread_count_and_with_checkpointing() {
    assert_same_bits(&LlamaConfig::tiny(), 2, 16);
}

#[test]
fn wide_config_gives_the_same_bits_on_any_thread_count_and_with_checkpointing() {
    let (b, t) = (2, 80);
    let config = wide();
    let (n, f, v) = (b * t, config.intermediate_size, config.vocab_size);
    assert!(n > TILE_ROWS && f > TILE_COLS && v > HEAD_BLOCK && n * f > ELEM_BLOCK);
    assert_same_bits(&config, b, t);
}

#[test]
fn checkpointing_keeps_one_layer_and_halves_llama_60m_activations() {
    let config = LlamaConfig::llama_60m();
    // Allocated zeroed, so untouched pages cost nothing here.
    let full = Activations::new(&config, 4, 256);
    let ckpt = Activations::with_checkpointing(&config, 4, 256, Checkpointing::Layers);
    assert_eq!(full.layers.len(), config.num_hidden_layers);
    assert_eq!(ckpt.layers.len(), 1);
    let per_layer: usize = {
        let l = &full.layers[0];
        [
            &l.ln1,
            &l.ln1_rstd,
            &l.q,
            &l.k,
            &l.v,
            &l.att,
            &l.atty,
            &l.resid_mid,
            &l.ln2,
            &l.ln2_rstd,
            &l.gate,
            &l.up,
            &l.swi,
        ]
        .iter()
        .map(|x| x.len() * 4)
        .sum()
    };
    assert_eq!(full.bytes() - ckpt.bytes(), 7 * per_layer);
    println!(
        "llama_60m B=4 T=256: {} bytes, checkpointed {} bytes",
        full.bytes(),
        ckpt.bytes()
    );
    assert!(
        2 * ckpt.bytes() <= full.bytes(),
        "{} vs {}",
        ckpt.bytes(),
        full.bytes()
    );
}

fn randn(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| StandardNormal.sample(rng)).collect()
}

/// |got − want| ≤ 4·k·ε·Σ|terms| for every entry: any f32 summation order
/// of k terms is within k·ε·Σ|terms| of the exact sum.
#[track_caller]
fn assert_sum_close(what: &str, got: f32, want: f64, mag: f64, k: usize) {
    let tol = 4.0 * k as f64 * f64::from(f32::EPSILON) * mag + 1e-30;
    assert!((got as f64 - want).abs() <= tol, "{what}: {got} vs {want}");
}

#[test]
fn linear_on_many_tiles_matches_f64_and_threads_agree() {
    // N, OC above the tile sizes, and ragged.
    let (n, c, oc) = (2 * TILE_ROWS + 37, 70, TILE_COLS + 91);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let inp = randn(&mut rng, n * c);
    let weight = randn(&mut rng, oc * c);
    let dout = randn(&mut rng, n * oc);
    let run = |par: Par| {
        let mut out = vec![0.0; n * oc];
        linear_forward(&mut out, &inp, &weight, par, n, c, oc);
        let (mut dinp, mut dw) = (vec![0.0; n * c], vec![0.0; oc * c]);
        let mut scratch = vec![f32::NAN; linear_backward_workspace_bytes(n, oc) / 4];
        linear_backward(
            &mut dinp,
            &mut dw,
            &mut scratch,
            &dout,
            &inp,
            &weight,
            par,
            n,
            c,
            oc,
        );
        (out, dinp, dw)
    };
    let (out, dinp, dw) = run(Par::Seq);
    for i in (0..n).step_by(7) {
        for o in (0..oc).step_by(5) {
            let terms = (0..c).map(|k| inp[i * c + k] as f64 * weight[o * c + k] as f64);
            let (want, mag) = terms.fold((0.0, 0.0), |(s, m), p| (s + p, m + p.abs()));
            assert_sum_close("out", out[i * oc + o], want, mag, c);
        }
        for k in 0..c {
            let terms = (0..oc).map(|o| dout[i * oc + o] as f64 * weight[o * c + k] as f64);
            let (want, mag) = terms.fold((0.0, 0.0), |(s, m), p| (s + p, m + p.abs()));
            assert_sum_close("dinp", dinp[i * c + k], want, mag, oc);
        }
    }
    for o in (0..oc).step_by(3) {
        for k in 0..c {
            let terms = (0..n).map(|i| dout[i * oc + o] as f64 * inp[i * c + k] as f64);
            let (want, mag) = terms.fold((0.0, 0.0), |(s, m), p| (s + p, m + p.abs()));
            assert_sum_close("dweight", dw[o * c + k], want, mag, n);
        }
    }
    for threads in [1, 2, 3, 8] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool");
        let again = pool.install(|| run(Par::rayon(threads)));
        assert!(
            again == (out.clone(), dinp.clone(), dw.clone()),
            "{threads} threads"
        );
    }
}
