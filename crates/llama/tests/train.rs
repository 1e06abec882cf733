//! The training loop on the bytes of the workspace README: AdamW and
//! GaLore-AdamW (exact SVD and RRF) lower the loss, runs are deterministic,
//! and the schedule is GaLore's.

use llama::optim::{AdamW, AdamWParams, GaloreAdamW, GaloreParams};
use llama::train::{Batches, Optimizer, StepRecord, cosine_lr, encode_bytes, eval_loss, train};
use llama::{Layout, LlamaConfig, ParamStore};
use subspace::SubspaceMethod;

const TEXT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
const B: usize = 4;
const T: usize = 32;
const STEPS: usize = 60;
const LR: f32 = 3e-3;

fn config() -> LlamaConfig {
    LlamaConfig::tiny()
}

fn data() -> Batches {
    Batches::new(encode_bytes(TEXT.as_bytes()), 7)
}

fn adamw() -> Optimizer {
    Optimizer::AdamW(AdamW::new(&Layout::new(&config()), AdamWParams::default()))
}

fn galore(method: Box<dyn SubspaceMethod>) -> Optimizer {
    let params = GaloreParams {
        rank: 8,
        update_proj_gap: 1,
        ..GaloreParams::default()
    };
    Optimizer::Galore(GaloreAdamW::new(
        &Layout::new(&config()),
        params,
        method,
        42,
    ))
}

/// Trains from seed 1 and returns every step's record and the final params.
fn run(mut opt: Optimizer, lr: f32) -> (Vec<StepRecord>, ParamStore) {
    let cfg = config();
    let mut params = ParamStore::init(&cfg, 1);
    let mut records = Vec::new();
    train(&cfg, &mut params, &mut opt, &data(), STEPS, B, T, lr, |r| {
        records.push(*r)
    })
    .unwrap();
    (records, params)
}

/// (first step's loss, mean of the last 5 steps' losses).
fn first_last(records: &[StepRecord]) -> (f32, f32) {
    assert_eq!(records.len(), STEPS);
    let tail = &records[STEPS - 5..];
    (
        records[0].loss,
        tail.iter().map(|r| r.loss).sum::<f32>() / tail.len() as f32,
    )
}

fn report(name: &str, records: &[StepRecord]) {
    let (first, last) = first_last(records);
    let sum = |f: fn(&StepRecord) -> f64| records.iter().map(f).sum::<f64>();
    eprintln!(
        "{name}: loss {first:.4} -> {last:.4}; s fwd {:.3} bwd {:.3} opt {:.3} (subspace {:.3})",
        sum(|r| r.seconds_forward),
        sum(|r| r.seconds_backward),
        sum(|r| r.seconds_optimizer),
        sum(|r| r.seconds_subspace),
    );
}

#[test]
fn byte_tokenizer_and_batches() {
    assert_eq!(encode_bytes(b"Ab\xff"), vec![65, 98, 255]);
    let d = data();
    let n = TEXT.len();
    assert_eq!(d.held_out_tokens().len(), n / 10);
    assert_eq!(d.train_tokens().len() + d.held_out_tokens().len(), n);
    let (x, y) = d.train_batch(3, B, T);
    assert_eq!((x.len(), y.len()), (B * T, B * T));
    for row in 0..B {
        let (xr, yr) = (&x[row * T..(row + 1) * T], &y[row * T..(row + 1) * T]);
        assert_eq!(&xr[1..], &yr[..T - 1], "targets are tokens shifted by one");
        let start = d
            .train_tokens()
            .windows(T + 1)
            .position(|w| w[..T] == *xr && w[T] == yr[T - 1]);
        assert!(start.is_some(), "a window of the training split");
    }
    assert_eq!(d.train_batch(3, B, T), (x.clone(), y.clone()));
    assert_ne!(d.train_batch(4, B, T).0, x);
    let (ex, ey) = d.eval_batch(0, B, T);
    assert_eq!(&ex[1..T], &ey[..T - 1]);
    assert!(d.held_out_tokens().windows(T).any(|w| w == &ex[..T]));
}

#[test]
fn cosine_schedule_is_galores() {
    let (total, warmup, base) = (100, 10, 1e-3f32);
    assert_eq!(cosine_lr(0, total, warmup, base, 0.1), 0.0);
    assert!((cosine_lr(5, total, warmup, base, 0.1) - 5e-4).abs() < 1e-9);
    assert!((cosine_lr(warmup, total, warmup, base, 0.1) - base).abs() < 1e-9);
    // Half-way through the decay: the mean of base and min.
    assert!((cosine_lr(55, total, warmup, base, 0.1) - 5.5e-4).abs() < 1e-9);
    assert!((cosine_lr(total, total, warmup, base, 0.1) - 1e-4).abs() < 1e-9);
    let lrs: Vec<f32> = (warmup..=total)
        .map(|s| cosine_lr(s, total, warmup, base, 0.1))
        .collect();
    assert!(lrs.windows(2).all(|w| w[1] <= w[0]), "decays monotonically");
}

#[test]
fn adamw_lowers_the_loss_and_is_deterministic() {
    let (records, params) = run(adamw(), LR);
    report("adamw", &records);
    let (first, last) = first_last(&records);
    assert!(
        (first - 256f32.ln()).abs() < 0.1,
        "init loss ≈ ln 256: {first}"
    );
    assert!(last < first - 1.0, "AdamW: {first} -> {last}");
    assert!(records.iter().all(|r| r.seconds_subspace == 0.0));
    assert_eq!(records[0].lr, 0.0);
    assert!((records[STEPS / 10].lr - LR).abs() < 1e-9);
    let eval = eval_loss(&config(), &params, &data(), B, T, 4);
    eprintln!("adamw: held-out loss {eval:.4}");
    assert!(eval < first - 0.5, "held-out: {first} -> {eval}");

    let (again, params_again) = run(adamw(), LR);
    let bits = |r: &[StepRecord]| r.iter().map(|x| x.loss.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&records), bits(&again));
    assert_eq!(params, params_again);
}

#[test]
fn nothing_is_learned_at_lr_zero() {
    let (records, params) = run(adamw(), 0.0);
    let (first, last) = first_last(&records);
    assert!(last > first - 0.3, "lr 0: {first} -> {last}");
    assert_eq!(params, ParamStore::init(&config(), 1));
}

#[test]
fn galore_svd_lowers_the_loss() {
    let (records, _) = run(galore(Box::new(svd::Svd::default())), LR);
    report("galore-svd", &records);
    let (first, last) = first_last(&records);
    assert!(last < first - 0.8, "GaLore-SVD: {first} -> {last}");
    assert!(records.iter().all(|r| r.seconds_subspace > 0.0));
}

#[test]
fn galore_rrf_lowers_the_loss_and_is_deterministic() {
    let (records, params) = run(galore(Box::new(rrf::Rrf::default())), LR);
    report("galore-rrf", &records);
    let (first, last) = first_last(&records);
    assert!(last < first - 0.8, "GaLore-RRF: {first} -> {last}");
    let (again, params_again) = run(galore(Box::new(rrf::Rrf::default())), LR);
    let bits = |r: &[StepRecord]| r.iter().map(|x| x.loss.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&records), bits(&again));
    assert_eq!(params, params_again);
}
