//! The training loop (a [`Session`] in memory) on the bytes of the workspace
//! README: AdamW and GaLore-AdamW (exact SVD and RRF) lower the loss, runs
//! are deterministic, the schedule is GaLore's, and an in-memory session
//! writes no file.

use llama::data::{Batches, encode_bytes};
use llama::optim::cosine_lr;
use llama::session::{OptimizerKind, Session, StepRow, TrainConfig, TrainError};
use llama::{LlamaConfig, ParamStore};
use subspace::Registry;

const TEXT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
const B: usize = 4;
const T: usize = 32;
const STEPS: usize = 60;
const LR: f32 = 3e-3;
const SEED: u64 = 1;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<svd::Svd>().unwrap();
    r.register::<rrf::Rrf>().unwrap();
    r
}

fn data() -> Batches {
    Batches::new(encode_bytes(TEXT.as_bytes()), 7)
}

/// The README as the corpus, tiny model, B × T, GaLore's AdamW defaults.
fn adamw(lr: f32) -> TrainConfig {
    TrainConfig {
        preset: "tiny".into(),
        optimizer: OptimizerKind::Adamw,
        corpus: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md").into()),
        lr,
        steps: STEPS,
        batch_size: B,
        seq_len: T,
        seed: SEED,
        threads: 1,
        ..TrainConfig::default()
    }
}

/// GaLore at rank 8, refreshing every step.
fn galore(plugin: &str) -> TrainConfig {
    TrainConfig {
        optimizer: OptimizerKind::Galore,
        plugin: plugin.into(),
        rank: 8,
        update_proj_gap: 1,
        ..adamw(LR)
    }
}

/// Trains in memory and returns every step's row and the final params.
fn run(config: TrainConfig) -> (Vec<StepRow>, ParamStore) {
    let mut session = Session::in_memory(config, &registry()).unwrap();
    let mut rows = Vec::new();
    while session.next_step() < STEPS {
        rows.push(session.step().unwrap());
    }
    (rows, session.params().clone())
}

/// (first step's loss, mean of the last 5 steps' losses).
fn first_last(rows: &[StepRow]) -> (f32, f32) {
    assert_eq!(rows.len(), STEPS);
    let tail = &rows[STEPS - 5..];
    (
        rows[0].train_loss,
        tail.iter().map(|r| r.train_loss).sum::<f32>() / tail.len() as f32,
    )
}

fn report(name: &str, rows: &[StepRow]) {
    let (first, last) = first_last(rows);
    let sum = |f: fn(&StepRow) -> f64| rows.iter().map(f).sum::<f64>();
    eprintln!(
        "{name}: loss {first:.4} -> {last:.4}; s fwd {:.3} bwd {:.3} update {:.3} subspace {:.3}",
        sum(|r| r.seconds_forward),
        sum(|r| r.seconds_backward),
        sum(|r| r.seconds_update),
        sum(|r| r.seconds_subspace),
    );
}

fn loss_bits(rows: &[StepRow]) -> Vec<u32> {
    rows.iter().map(|r| r.train_loss.to_bits()).collect()
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
    let (rows, params) = run(adamw(LR));
    report("adamw", &rows);
    let (first, last) = first_last(&rows);
    assert!(
        (first - 256f32.ln()).abs() < 0.1,
        "init loss ≈ ln 256: {first}"
    );
    assert!(last < first - 1.0, "AdamW: {first} -> {last}");
    assert!(rows.iter().all(|r| r.seconds_subspace == 0.0));
    // The session's warm-up: steps · warmup_ratio (0.1) steps, rounded down.
    let warmup = (STEPS as f64 * 0.1) as usize;
    assert_eq!(warmup, 6);
    assert_eq!(rows[0].lr, 0.0);
    assert!((rows[warmup - 1].lr - LR).abs() > 1e-5, "still warming up");
    assert!((rows[warmup].lr - LR).abs() < 1e-9);
    // Evaluated once, after the last update, on 4 held-out batches.
    assert!(rows[..STEPS - 1].iter().all(|r| r.eval_loss.is_none()));
    let eval = rows[STEPS - 1]
        .eval_loss
        .expect("an evaluation after the last step");
    eprintln!("adamw: held-out loss {eval:.4}");
    assert!(eval < first - 0.5, "held-out: {first} -> {eval}");

    let (again, params_again) = run(adamw(LR));
    assert_eq!(loss_bits(&rows), loss_bits(&again));
    assert_eq!(params, params_again);
}

#[test]
fn nothing_is_learned_at_lr_zero() {
    let (rows, params) = run(adamw(0.0));
    let (first, last) = first_last(&rows);
    assert!(last > first - 0.3, "lr 0: {first} -> {last}");
    assert_eq!(params, ParamStore::init(&LlamaConfig::tiny(), SEED));
}

#[test]
fn galore_svd_lowers_the_loss() {
    let (rows, _) = run(galore("svd"));
    report("galore-svd", &rows);
    let (first, last) = first_last(&rows);
    assert!(last < first - 0.8, "GaLore-SVD: {first} -> {last}");
    assert!(rows.iter().all(|r| r.seconds_subspace > 0.0));
}

#[test]
fn galore_rrf_lowers_the_loss_and_is_deterministic() {
    let (rows, params) = run(galore("rrf"));
    report("galore-rrf", &rows);
    let (first, last) = first_last(&rows);
    assert!(last < first - 0.8, "GaLore-RRF: {first} -> {last}");
    let (again, params_again) = run(galore("rrf"));
    assert_eq!(loss_bits(&rows), loss_bits(&again));
    assert_eq!(params, params_again);
}

#[test]
fn an_in_memory_session_writes_nothing_and_refuses_file_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cwd_before: Vec<_> = std::fs::read_dir(".")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let c = TrainConfig {
        steps: 3,
        ..adamw(LR)
    };
    let summary = Session::in_memory(c.clone(), &registry())
        .unwrap()
        .run(|_| {})
        .unwrap();
    assert_eq!(summary.steps, 3);
    assert!(summary.recorded.is_empty());
    let cwd_after: Vec<_> = std::fs::read_dir(".")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cwd_before, cwd_after, "an in-memory run created files");

    // The same rows as a session writing into a directory.
    let mut on_disk = Vec::new();
    Session::new(c.clone(), &registry(), dir.path())
        .unwrap()
        .run(|r| on_disk.push(r.clone()))
        .unwrap();
    let mut in_memory = Vec::new();
    Session::in_memory(c.clone(), &registry())
        .unwrap()
        .run(|r| in_memory.push(r.clone()))
        .unwrap();
    assert_eq!(loss_bits(&on_disk), loss_bits(&in_memory));
    assert!(dir.path().join("training.csv").is_file());

    for (c, field) in [
        (
            TrainConfig {
                checkpoint_every: 1,
                ..c.clone()
            },
            "checkpoint_every",
        ),
        (
            TrainConfig {
                checkpoint_at_end: true,
                ..c.clone()
            },
            "checkpoint_at_end",
        ),
        (
            TrainConfig {
                record_steps: vec![0].into(),
                ..c.clone()
            },
            "record_steps",
        ),
    ] {
        let err = match Session::in_memory(c, &registry()) {
            Ok(_) => panic!("{field}: accepted in memory"),
            Err(e) => e,
        };
        assert!(
            matches!(&err, TrainError::Config { field: f, .. } if f == field),
            "{field}: {err}"
        );
    }
    let session = Session::in_memory(c, &registry()).unwrap();
    assert!(
        session.checkpoint().is_err(),
        "a checkpoint without an out dir"
    );
}
