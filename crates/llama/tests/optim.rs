//! AdamW against hand computations; GaLore-AdamW's projection, state,
//! refresh schedule, dense parameters and determinism.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use llama::optim::{AdamW, AdamWParams, GaloreAdamW, GaloreParams, Side};
use llama::{Layout, LlamaConfig, ParamKind, ParamStore};
use subspace::faer::{Mat, MatRef};
use subspace::{Basis, Context, SubspaceError, SubspaceMethod};

fn config() -> LlamaConfig {
    LlamaConfig {
        hidden_size: 16,
        intermediate_size: 24,
        num_attention_heads: 2,
        num_hidden_layers: 1,
        vocab_size: 20,
        ..LlamaConfig::tiny()
    }
}

/// Deterministic pseudo-random gradients in [−1, 1) (SplitMix64).
fn grads(layout: &Layout, seed: u64) -> ParamStore {
    let mut g = ParamStore::zeros(layout);
    let mut s = seed;
    for x in g.as_mut_slice() {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        *x = ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0;
    }
    g
}

fn hp(lr: f32, wd: f32) -> AdamWParams {
    AdamWParams {
        lr,
        weight_decay: wd,
        ..AdamWParams::default()
    }
}

#[test]
fn adamw_first_steps_match_hand_computation() {
    let layout = Layout::new(&config());
    let p0 = ParamStore::init(&config(), 1);
    let g1 = grads(&layout, 2);
    let g2 = grads(&layout, 3);
    let lr = 1e-2f32;
    let mut opt = AdamW::new(&layout, hp(lr, 0.0));
    let mut p = p0.clone();
    opt.step(&mut p, &g1, lr);
    for i in [0usize, 7, 333, layout.total() - 1] {
        let g = f64::from(g1.as_slice()[i]);
        // First step: m̂ = g, v̂ = g², so the move is −lr·g/(|g| + ε/√(1−β₂)).
        let (m, v) = (0.1 * g, 0.001 * g * g);
        let step_size = f64::from(lr) * 0.001f64.sqrt() / 0.1;
        let expect = f64::from(p0.as_slice()[i]) - step_size * m / (v.sqrt() + 1e-6);
        let got = f64::from(p.as_slice()[i]);
        assert!((got - expect).abs() < 1e-6, "entry {i}: {got} vs {expect}");
        let moved = got - f64::from(p0.as_slice()[i]);
        // ≈ −lr·sign(g), off by lr·(ε/√(1−β₂))/|g| and f32 roundoff.
        let tol = f64::from(lr) * 4e-5 / g.abs() + 1e-7;
        assert!((moved + f64::from(lr) * g.signum()).abs() < tol);
    }
    // Second step, by hand for one entry.
    let before = p.as_slice()[7];
    opt.step(&mut p, &g2, lr);
    let (a, b) = (f64::from(g1.as_slice()[7]), f64::from(g2.as_slice()[7]));
    let m = 0.9 * (0.1 * a) + 0.1 * b;
    let v = 0.999 * (0.001 * a * a) + 0.001 * b * b;
    let step_size = f64::from(lr) * (1.0 - 0.999f64.powi(2)).sqrt() / (1.0 - 0.9f64.powi(2));
    let expect = f64::from(before) - step_size * m / (v.sqrt() + 1e-6);
    assert!((f64::from(p.as_slice()[7]) - expect).abs() < 1e-6);
    assert_eq!(opt.state_bytes(), 2 * 4 * layout.total());
    assert_eq!(opt.steps(), 2);
}

#[test]
fn adamw_weight_decay_is_decoupled() {
    let layout = Layout::new(&config());
    let p0 = ParamStore::init(&config(), 1);
    let g = grads(&layout, 2);
    let (lr, wd) = (1e-2f32, 0.1f32);
    let mut plain = p0.clone();
    AdamW::new(&layout, hp(lr, 0.0)).step(&mut plain, &g, lr);
    let mut decayed = p0.clone();
    AdamW::new(&layout, hp(lr, wd)).step(&mut decayed, &g, lr);
    // The Adam move first, then p −= lr·wd·p on the moved value; the
    // gradient never sees the decay.
    for (x, y) in plain.as_slice().iter().zip(decayed.as_slice()) {
        assert_eq!(*y, *x + (-lr * wd) * *x);
    }
}

/// Counts `compute` calls and delegates to an inner method.
struct Counting<M> {
    inner: M,
    calls: Arc<AtomicUsize>,
}

impl<M: SubspaceMethod> SubspaceMethod for Counting<M> {
    fn name(&self) -> &str {
        "counting"
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.compute(a, k, ctx)
    }
}

fn galore(rank: usize, gap: u64, wd: f32, method: Box<dyn SubspaceMethod>) -> GaloreAdamW {
    let params = GaloreParams {
        rank,
        scale: 0.25,
        update_proj_gap: gap,
        adamw: hp(1e-2, wd),
        ..GaloreParams::default()
    };
    GaloreAdamW::new(&Layout::new(&config()), params, method, 42)
}

fn frob(a: MatRef<'_, f32>) -> f64 {
    let mut s = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            s += f64::from(a[(i, j)]).powi(2);
        }
    }
    s.sqrt()
}

#[test]
fn galore_update_lies_in_the_span_of_the_projector() {
    let cfg = config();
    let layout = Layout::new(&cfg);
    let mut opt = galore(4, 200, 0.0, Box::new(svd::Svd::default()));
    let p0 = ParamStore::init(&cfg, 1);
    let mut p = p0.clone();
    opt.step(&mut p, &grads(&layout, 5), 1e-2).unwrap();
    opt.step(&mut p, &grads(&layout, 6), 1e-2).unwrap();
    let mut sides = Vec::new();
    for s in layout.specs().iter().filter(|s| s.kind.galore()) {
        let (rows, cols) = (s.shape[0], s.shape[1]);
        let u = Mat::<f32>::from_fn(rows, cols, |i, j| {
            p.matrix(&s.name).unwrap()[(i, j)] - p0.matrix(&s.name).unwrap()[(i, j)]
        });
        let (proj, side) = opt.projector(&s.name).unwrap();
        sides.push(side);
        // P has orthonormal columns.
        let ptp = proj.transpose() * proj;
        for j in 0..4 {
            for i in 0..4 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((ptp[(i, j)] - e).abs() < 1e-5);
            }
        }
        let residual = match side {
            Side::Right => {
                assert!(rows >= cols);
                assert_eq!(proj.shape(), (cols, 4));
                &u - &u * proj * proj.transpose()
            }
            Side::Left => {
                assert!(rows < cols);
                assert_eq!(proj.shape(), (rows, 4));
                &u - proj * (proj.transpose() * &u)
            }
        };
        let (r, n) = (frob(residual.as_ref()), frob(u.as_ref()));
        assert!(n > 1e-3, "{}: no update", s.name);
        assert!(r < 1e-4 * n, "{}: residual {r} of {n}", s.name);
    }
    assert!(sides.contains(&Side::Right) && sides.contains(&Side::Left));
}

#[test]
fn galore_state_is_low_rank() {
    let layout = Layout::new(&config());
    let r = 4;
    let opt = galore(r, 200, 0.0, Box::new(svd::Svd::default()));
    let mut expect = 0;
    for s in layout.specs() {
        if s.kind.galore() {
            let (long, short) = (s.shape[0].max(s.shape[1]), s.shape[0].min(s.shape[1]));
            expect += 4 * (2 * long * r + short * r);
        } else {
            expect += 4 * 2 * s.len();
        }
    }
    assert_eq!(opt.state_bytes(), expect);
    let adamw = AdamW::new(&layout, AdamWParams::default());
    assert!(opt.state_bytes() < adamw.state_bytes());
    // The saving: full moments of the GaLore matrices minus their low-rank
    // moments and projectors.
    let saved: usize = layout
        .specs()
        .iter()
        .filter(|s| s.kind.galore())
        .map(|s| {
            let (long, short) = (s.shape[0].max(s.shape[1]), s.shape[0].min(s.shape[1]));
            4 * (2 * s.len() - 2 * long * r - short * r)
        })
        .sum();
    assert_eq!(adamw.state_bytes() - opt.state_bytes(), saved);

    // A rank above min(m, n) is clamped: square projectors, full moments.
    let full = galore(1000, 200, 0.0, Box::new(svd::Svd::default()));
    let (proj, side) = full
        .projector("model.layers.0.mlp.down_proj.weight")
        .unwrap();
    assert_eq!((proj.shape(), side), ((16, 16), Side::Left));
    let q = layout
        .get("model.layers.0.self_attn.q_proj.weight")
        .unwrap();
    assert_eq!(
        full.projector(&q.name).unwrap().0.shape(),
        (q.shape[1], q.shape[1])
    );
    assert!(full.projector("model.embed_tokens.weight").is_none());
}

#[test]
fn galore_refreshes_at_steps_1_plus_multiples_of_t() {
    let layout = Layout::new(&config());
    let calls = Arc::new(AtomicUsize::new(0));
    let method = Counting {
        inner: svd::Svd::default(),
        calls: calls.clone(),
    };
    let gap = 3;
    let mut opt = galore(4, gap, 0.0, Box::new(method));
    let per_refresh = layout.specs().iter().filter(|s| s.kind.galore()).count();
    assert_eq!(per_refresh, 7);
    let mut p = ParamStore::init(&config(), 1);
    let mut refreshed = Vec::new();
    for t in 1..=8u64 {
        let before = calls.load(Ordering::SeqCst);
        opt.step(&mut p, &grads(&layout, 100 + t), 1e-2).unwrap();
        let made = calls.load(Ordering::SeqCst) - before;
        assert!(made == 0 || made == per_refresh);
        assert_eq!(opt.last_step_timing().calls as usize, made);
        if made > 0 {
            refreshed.push(t);
        }
    }
    assert_eq!(refreshed, vec![1, 4, 7]);
    let timing = opt.subspace_timing();
    assert_eq!(timing.calls as usize, 3 * per_refresh);
    assert!(timing.seconds > 0.0);
}

#[test]
fn galore_dense_params_get_exactly_adamw() {
    let cfg = config();
    let layout = Layout::new(&cfg);
    let wd = 0.05;
    let mut opt = galore(4, 2, wd, Box::new(svd::Svd::default()));
    let mut adamw = AdamW::new(&layout, hp(1e-2, wd));
    let mut pg = ParamStore::init(&cfg, 1);
    let mut pa = pg.clone();
    for t in 0..5u64 {
        let g = grads(&layout, 200 + t);
        let lr = 1e-2 * (1.0 - 0.1 * t as f32);
        opt.step(&mut pg, &g, lr).unwrap();
        adamw.step(&mut pa, &g, lr);
    }
    let mut dense = 0;
    for s in layout.specs() {
        let (a, b) = (pg.slice(&s.name).unwrap(), pa.slice(&s.name).unwrap());
        if s.kind.galore() {
            assert_ne!(a, b, "{} should differ from AdamW", s.name);
        } else {
            dense += 1;
            let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{} differs from AdamW", s.name);
        }
    }
    // embed, 2 layer norms, final norm, lm_head.
    assert_eq!(dense, 5);
    assert!(
        layout
            .specs()
            .iter()
            .any(|s| s.kind == ParamKind::LmHead && !s.kind.galore())
    );
}

fn run_rrf(seed_grads: u64) -> ParamStore {
    let cfg = config();
    let layout = Layout::new(&cfg);
    let mut opt = galore(4, 2, 0.0, Box::new(rrf::Rrf::default()));
    let mut p = ParamStore::init(&cfg, 1);
    for t in 0..5 {
        opt.step(&mut p, &grads(&layout, seed_grads + t), 1e-2)
            .unwrap();
    }
    assert_eq!(opt.method().name(), "rrf");
    p
}

#[test]
fn galore_with_rrf_is_deterministic() {
    let (a, b) = (run_rrf(300), run_rrf(300));
    assert!(
        a.as_slice()
            .iter()
            .zip(b.as_slice())
            .all(|(x, y)| x.to_bits() == y.to_bits())
    );
    assert_ne!(a, run_rrf(400));
}

#[test]
fn galore_rejects_a_non_finite_gradient_without_changing_anything() {
    let cfg = config();
    let layout = Layout::new(&cfg);
    let mut opt = galore(4, 200, 0.0, Box::new(svd::Svd::default()));
    let p0 = ParamStore::init(&cfg, 1);
    let mut p = p0.clone();
    let mut g = grads(&layout, 9);
    let off = layout
        .get("model.layers.0.mlp.up_proj.weight")
        .unwrap()
        .offset;
    g.as_mut_slice()[off + 3] = f32::NAN;
    assert!(opt.step(&mut p, &g, 1e-2).is_err());
    assert_eq!(p, p0);
    assert_eq!(opt.steps(), 0);
}

/// A refresh that fails on one matrix sets every other matrix's tracker
/// back: with rrf warm-started from the previous basis, a tracker left
/// advanced would start the retried step 1 from a basis, and the retry
/// would differ from a fresh optimizer's step 1.
#[test]
fn a_failed_refresh_leaves_every_tracker_as_it_was() {
    let cfg = config();
    let layout = Layout::new(&cfg);
    let warm = || {
        Box::new(rrf::Rrf {
            params: rrf::RrfParams {
                power_iters: 0,
                warm_start: true,
                ..rrf::RrfParams::default()
            },
        })
    };
    let mut bad = grads(&layout, 9);
    let off = layout
        .get("model.layers.0.mlp.up_proj.weight")
        .unwrap()
        .offset;
    bad.as_mut_slice()[off + 3] = f32::NAN;
    let good = grads(&layout, 10);
    let p0 = ParamStore::init(&cfg, 1);
    let mut retried = galore(4, 1, 0.0, warm());
    let mut p = p0.clone();
    let err = retried.step(&mut p, &bad, 1e-2).unwrap_err();
    assert!(
        err.to_string()
            .contains("model.layers.0.mlp.up_proj.weight"),
        "{err}"
    );
    retried.step(&mut p, &good, 1e-2).unwrap();
    let mut fresh = galore(4, 1, 0.0, warm());
    let mut q = p0.clone();
    fresh.step(&mut q, &good, 1e-2).unwrap();
    assert!(p == q, "a failed refresh left a tracker advanced");
}

/// The [`Optimizer`] contract for every kind the config can name: its
/// state, written as a checkpoint file and read back into a fresh optimizer,
/// continues the run bit for bit; a missing tensor is refused naming it.
/// The last case is GaLore whose tracker state matters (rrf warm-started
/// from the previous basis with no power iteration, the moments rotated,
/// the bases aligned): a resume with another tracker state moves other
/// weights, one without it or with a state of the wrong shape is refused
/// naming the tensor.
#[test]
fn every_optimizer_resumes_from_its_own_state_bit_for_bit() {
    use llama::optim::{MomentPolicy, Optimizer, OptimizerKind};
    use llama::params::{NamedTensor, TensorData, load_f32, save_tensors};
    use llama::session::TrainConfig;

    let mut registry = subspace::Registry::new();
    registry.register::<rrf::Rrf>().unwrap();
    let layout = Layout::new(&config());
    let dir = tempfile::tempdir().unwrap();
    let base = |kind| TrainConfig {
        optimizer: kind,
        plugin: "rrf".into(),
        rank: 4,
        update_proj_gap: 2,
        weight_decay: 0.01,
        ..TrainConfig::default()
    };
    let mut cases: Vec<TrainConfig> = OptimizerKind::ALL.into_iter().map(base).collect();
    cases.push(TrainConfig {
        plugin_params: toml::toml! { power_iters = 0
        warm_start = true },
        update_proj_gap: 1,
        moments: MomentPolicy::Rotate,
        align: true,
        ..base(OptimizerKind::Galore)
    });
    let tracked = cases.len() - 1;
    for (case, c) in cases.iter().enumerate() {
        let kind = c.optimizer;
        let build = || -> Box<dyn Optimizer> { kind.build(c, &registry, &layout).unwrap() };
        let mut whole = build();
        assert_eq!(whole.kind(), kind);
        let mut p = ParamStore::init(&config(), 3);
        for step in 0..3 {
            whole.step(&mut p, &grads(&layout, step), 1e-2).unwrap();
        }
        let path = dir.path().join(format!("{case}.safetensors"));
        let steps = [("step", whole.steps().to_string())];
        save_tensors(&path, whole.state_tensors(), &steps).unwrap();
        // The run's state is the paper's (moments and projectors, at 4
        // bytes where the paper counts 2) plus the trackers' states, which
        // the checkpoint holds as `<param>.tracker.<name>`.
        let tracker_bytes: usize = whole
            .state_tensors()
            .iter()
            .filter(|(name, _)| name.contains(".tracker."))
            .map(|(_, t)| match t {
                TensorData::Owned { data, .. } => data.len() * 4,
                other => panic!("a tracker state is made for the file: {other:?}"),
            })
            .sum();
        assert_eq!(
            whole.paper_state_bytes() * 2 + tracker_bytes,
            whole.state_bytes(),
            "{kind:?}"
        );

        let (tensors, meta) = load_f32(&path).unwrap();
        let resume = |tensors: &[NamedTensor]| -> (Box<dyn Optimizer>, ParamStore) {
            let mut resumed = build();
            resumed
                .load_state(meta["step"].parse().unwrap(), tensors)
                .unwrap();
            assert_eq!(resumed.steps(), 3);
            (resumed, p.clone())
        };
        let (mut resumed, mut q) = resume(&tensors);
        let mut whole_p = p.clone();
        for step in 3..6 {
            whole
                .step(&mut whole_p, &grads(&layout, step), 1e-2)
                .unwrap();
            resumed.step(&mut q, &grads(&layout, step), 1e-2).unwrap();
        }
        assert!(
            whole_p == q,
            "{kind:?}: the resumed optimizer moved other weights"
        );

        let err = build().load_state(3, &tensors[1..]).unwrap_err();
        assert!(err.contains(&tensors[0].name), "{kind:?}: {err}");
        let is_tracker = |x: &NamedTensor| x.name.contains(".tracker.");
        if case != tracked {
            if kind == OptimizerKind::Galore {
                assert!(tensors.iter().any(is_tracker), "GaLore saves its trackers");
            }
            continue;
        }
        // Another valid tracker state (the first columns of the identity):
        // the resumed run moves other weights, so the state is what resumes.
        let other: Vec<NamedTensor> = tensors
            .iter()
            .map(|x| match is_tracker(x) {
                true => NamedTensor {
                    data: (0..x.data.len())
                        .map(|i| f32::from(i / x.shape[1] == i % x.shape[1]))
                        .collect(),
                    ..x.clone()
                },
                false => x.clone(),
            })
            .collect();
        let (mut other_opt, mut other_p) = resume(&other);
        for step in 3..6 {
            other_opt
                .step(&mut other_p, &grads(&layout, step), 1e-2)
                .unwrap();
        }
        assert!(other_p != q, "the tracker state made no difference");
        // No tracker state, or one of the wrong shape: refused by name.
        let untracked: Vec<NamedTensor> =
            tensors.iter().filter(|x| !is_tracker(x)).cloned().collect();
        let err = build().load_state(3, &untracked).unwrap_err();
        assert!(
            err.contains(".tracker.") && err.contains("start the run again"),
            "{err}"
        );
        let mut wrong = tensors.clone();
        let at = wrong.iter().position(is_tracker).unwrap();
        wrong[at].shape.reverse();
        let name = wrong[at].name.clone();
        let err = build().load_state(3, &wrong).unwrap_err();
        assert!(err.contains(&name) && err.contains("expected"), "{err}");
        assert!(
            err.contains("resume with the config it was saved with"),
            "{err}"
        );
    }
}
