//! Gradient accumulation (`micro_batch`): a batch of B = 4 sequences run as
//! 1, 2 or 4 micro-batches gives the same mean gradient, the same loss and
//! the same optimizer update, to a stated tolerance; one micro-batch is the
//! bits of a plain forward + backward; bad `micro_batch` values are refused
//! naming the key and the fix; accumulation lets a batch through the memory
//! budget that one step could not hold.
//!
//! Why the splits are not bit-identical: per token, every activation and
//! activation gradient is the same function of the same inputs (attention is
//! within a sequence, norms within a token), and the loss scale of a
//! micro-batch, (b / B) / (b·T), has the bits of 1 / (B·T) for b / B a power
//! of two. What differs is each weight gradient's sum over the B·T tokens
//! (dW = Σₙ doutₙᵀ xₙ, and the norms' weights alike): the GEMM sums each
//! micro-batch's b·T terms and the micro-batches are then added, a different
//! association of the same f32 terms. Two orders of an N-term f32 sum differ
//! by at most 2·γ_N·Σ|terms| (Higham 2002, §4.2; γ_N ≈ Nε). `GRAD_TOL` is
//! that worst case with N = B·T = 128 and Σ|terms| taken at the tensor's
//! scale: every entry within 2·N·ε ≈ 1.5e-5 of its tensor's largest entry
//! (measured: 6.0e-7, rounding errors grow like √N, not N, in practice;
//! a micro-batch weighted wrongly or dropped is off by O(1) and fails).
//! The loss is a weighted mean of micro-batch means, summed in f64, one f32
//! rounding per mean: `LOSS_TOL` = 8ε relative (measured: 0 and 1 ulp).
//! The update: AdamW's first step is lr·g/(|g| + ε), which turns a gradient
//! difference δ into up to lr·δ/ε where |g| ≪ ε, a worst case too loose to
//! test; `UPDATE_TOL` = 1e-3·lr is empirical, 20× above the measured
//! 4.3e-5·lr, and still 1000× below the update itself (lr per entry).

use llama::data::{Batches, encode_bytes};
use llama::model::llama::{Activations, Checkpointing, backward, forward};
use llama::session::accumulate::batch_gradient;
use llama::session::{
    OptimizerKind, Session, TrainConfig, TrainError, check_budget, estimate_bytes,
};
use llama::{LlamaConfig, ParamStore};
use subspace::Registry;
use subspace::budget::MemoryBudget;

const TEXT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
const B: usize = 4;
const T: usize = 32;
const GRAD_TOL: f32 = 2.0 * (B * T) as f32 * f32::EPSILON;
const LOSS_TOL: f32 = 8.0 * f32::EPSILON;
/// Times lr.
const UPDATE_TOL: f32 = 1e-3;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<svd::Svd>().unwrap();
    r.register::<rrf::Rrf>().unwrap();
    r
}

/// The worst entry difference of `a` against `reference`, per tensor, as a
/// fraction of that tensor's largest entry; and the worst absolute one.
fn worst(a: &ParamStore, reference: &ParamStore) -> (f32, f32, String) {
    let (mut rel, mut abs, mut at) = (0.0f32, 0.0f32, String::new());
    for s in reference.layout().specs() {
        let (x, r) = (a.slice(&s.name).unwrap(), reference.slice(&s.name).unwrap());
        let scale = r.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = x
            .iter()
            .zip(r)
            .fold(0.0f32, |m, (x, r)| m.max((x - r).abs()));
        abs = abs.max(d);
        if scale > 0.0 && d / scale > rel {
            rel = d / scale;
            at = s.name.clone();
        }
    }
    (rel, abs, at)
}

/// The batch of step 0, the tiny model's initial weights.
fn setup() -> (LlamaConfig, ParamStore, Vec<u32>, Vec<u32>) {
    let model = LlamaConfig::tiny();
    let params = ParamStore::init(&model, 3);
    let data = Batches::new(encode_bytes(TEXT.as_bytes()), 5);
    let (tokens, targets) = data.train_batch(0, B, T);
    (model, params, tokens, targets)
}

/// The batch's gradient and loss in micro-batches of `b` sequences.
fn accumulated(b: usize) -> (ParamStore, f32) {
    let (model, params, tokens, targets) = setup();
    let mut grads = ParamStore::zeros(params.layout());
    let mut acts = Activations::with_checkpointing(&model, b, T, Checkpointing::Off);
    let pass = pool().install(|| {
        batch_gradient(
            &mut grads, &params, &model, &tokens, &targets, T, &mut acts, 0,
        )
    });
    (grads, pass.unwrap().loss)
}

fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
}

#[test]
fn one_micro_batch_is_a_plain_forward_and_backward() {
    let (model, params, tokens, targets) = setup();
    let mut grads = ParamStore::zeros(params.layout());
    let mut acts = Activations::with_checkpointing(&model, B, T, Checkpointing::Off);
    let loss = pool().install(|| {
        let loss = forward(&params, &model, &tokens, &targets, B, T, &mut acts);
        backward(
            &mut grads, &params, &model, &tokens, &targets, B, T, &mut acts,
        );
        loss
    });
    let (acc, acc_loss) = accumulated(B);
    assert_eq!(acc_loss.to_bits(), loss.to_bits());
    assert!(acc.as_slice() == grads.as_slice(), "gradients differ");
}

#[test]
fn two_and_four_micro_batches_give_the_batch_gradient() {
    let (whole, loss) = accumulated(B);
    assert!(whole.as_slice().iter().any(|&g| g != 0.0));
    for b in [2, 1] {
        let (grads, l) = accumulated(b);
        let (rel, abs, at) = worst(&grads, &whole);
        let dl = (l - loss).abs() / loss;
        println!(
            "{} micro-batches of {b}: gradient max |Δ| = {abs:.3e} (worst tensor {at}: {rel:.3e} \
             of its largest entry); loss {l} vs {loss} (relative {dl:.3e})",
            B / b
        );
        assert!(rel <= GRAD_TOL, "{b}: {at} differs by {rel:e} of its scale");
        assert!(dl <= LOSS_TOL, "{b}: loss {l} vs {loss}");
    }
}

/// One step of `config` at each micro-batch size: the parameter update
/// Δθ = θ₁ − θ₀ agrees across splits within `UPDATE_TOL`·lr, the loss
/// within `LOSS_TOL` and the gradient norm within 2·N·ε.
fn updates_agree(config: TrainConfig) {
    let update = |micro: Option<usize>| {
        let config = TrainConfig {
            micro_batch: micro,
            ..config.clone()
        };
        let mut session = Session::in_memory(config, &registry()).unwrap();
        let before = session.params().clone();
        let row = session.step().unwrap();
        let mut delta = session.params().clone();
        for (d, b) in delta.as_mut_slice().iter_mut().zip(before.as_slice()) {
            *d -= b;
        }
        (delta, row)
    };
    let (whole, row) = update(None);
    let (same, same_row) = update(Some(B));
    assert!(
        same.as_slice() == whole.as_slice(),
        "micro_batch = B differs"
    );
    assert_eq!(same_row.train_loss.to_bits(), row.train_loss.to_bits());
    let lr = config.lr;
    for b in [2, 1] {
        let (delta, r) = update(Some(b));
        let (_, abs, at) = worst(&delta, &whole);
        println!(
            "{:?}: {} micro-batches of {b}: update max |Δ| = {abs:.3e} (at {at}; lr = {lr}), \
             loss {} vs {}, grad norm {} vs {}",
            config.optimizer,
            B / b,
            r.train_loss,
            row.train_loss,
            r.grad_norm,
            row.grad_norm
        );
        assert!(
            abs <= UPDATE_TOL * lr,
            "{b}: update differs by {abs:e} at {at}"
        );
        assert!((r.train_loss - row.train_loss).abs() <= LOSS_TOL * row.train_loss);
        assert!((r.grad_norm - row.grad_norm).abs() <= f64::from(GRAD_TOL) * row.grad_norm);
    }
}

fn base() -> TrainConfig {
    TrainConfig {
        preset: "tiny".into(),
        optimizer: OptimizerKind::Adamw,
        corpus: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md").into()),
        lr: 1e-3,
        steps: 3,
        batch_size: B,
        seq_len: T,
        seed: 2,
        threads: 2,
        ..TrainConfig::default()
    }
}

#[test]
fn adamw_updates_agree_across_splits() {
    updates_agree(base());
}

#[test]
fn galore_updates_agree_across_splits() {
    updates_agree(TrainConfig {
        optimizer: OptimizerKind::Galore,
        plugin: "svd".into(),
        rank: 8,
        update_proj_gap: 1,
        ..base()
    });
}

#[test]
fn a_bad_micro_batch_is_refused_naming_the_key_and_the_divisors() {
    for (micro, says) in [
        (0, "a micro-batch of 0 sequences holds nothing"),
        (3, "3 does not divide batch_size = 4"),
        (8, "8 does not divide batch_size = 4"),
    ] {
        let config = TrainConfig {
            micro_batch: Some(micro),
            ..base()
        };
        let Err(err) = Session::in_memory(config, &registry()) else {
            panic!("micro_batch = {micro} was accepted");
        };
        assert!(matches!(&err, TrainError::Config { field, .. } if field == "micro_batch"));
        let err = err.to_string();
        assert!(err.contains(says), "{err}");
        assert!(
            err.contains("use a divisor of batch_size (1, 2, 4)"),
            "{err}"
        );
    }
}

#[test]
fn accumulation_lets_a_big_batch_through_the_budget() {
    let config = |batch_size, micro_batch| TrainConfig {
        preset: "tiny".into(),
        batch_size,
        micro_batch,
        seq_len: 16,
        ..TrainConfig::default()
    };
    let small = estimate_bytes(&config(2, None)).unwrap().unwrap();
    let budget = MemoryBudget::fixed(small.total_bytes, "test budget");
    let err = check_budget(&config(512, None), &budget)
        .unwrap_err()
        .to_string();
    assert!(err.contains("a smaller micro_batch"), "{err}");
    let accumulated = estimate_bytes(&config(512, Some(2))).unwrap().unwrap();
    assert_eq!(accumulated, small, "activations of one micro-batch of 2");
    check_budget(&config(512, Some(2)), &budget).unwrap();
    let err = check_budget(&config(512, Some(256)), &budget)
        .unwrap_err()
        .to_string();
    assert!(err.contains("field `micro_batch`"), "{err}");
    assert!(err.contains("in micro-batches of 256"), "{err}");
}
