//! GaLore's subspace-quality log and the lazy refresh rule: the log's
//! figures against an independent computation from the projector and the
//! gradient; rows at every refresh and quality step, in memory and in
//! subspace.csv; the log never changes a run's bits; the lazy rule's
//! schedule inside training, its counts, and a lazy run resumed bit for
//! bit; a failed refresh keeps the last checkpoint; bad keys named.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use llama::optim::{GaloreAdamW, GaloreParams, Optimizer, RefreshKind, RefreshRule, Side};
use llama::session::{OptimizerKind, Session, StepRow, SubspaceRow, TrainConfig, TrainError};
use llama::{Layout, LlamaConfig, ParamStore};
use subspace::faer::{Mat, MatRef};
use subspace::reference::ReferenceSvd;
use subspace::{Basis, Context, Plugin, Registry, SubspaceError, SubspaceMethod};

/// The tiny preset's GaLore matrices: 2 layers × 7.
const MATRICES: usize = 14;

fn registry() -> Registry {
    let mut r = common::registry();
    r.register::<random::Random>().unwrap();
    r.register::<FailsAfter>().unwrap();
    r
}

/// GaLore+svd on tiny, rank 8, T = 2, 6 steps, one thread.
fn config() -> TrainConfig {
    TrainConfig {
        plugin: "svd".into(),
        plugin_params: toml::Table::new(),
        ..common::config()
    }
}

fn in_memory(config: TrainConfig) -> (Vec<StepRow>, Vec<SubspaceRow>) {
    let steps = config.steps;
    let mut session = Session::in_memory(config, &registry()).unwrap();
    let mut rows = Vec::new();
    while session.next_step() < steps {
        rows.push(session.step().unwrap());
    }
    (rows, session.subspace_rows().to_vec())
}

fn bits(rows: &[StepRow]) -> Vec<(u32, u64)> {
    rows.iter()
        .map(|r| (r.train_loss.to_bits(), r.grad_norm.to_bits()))
        .collect()
}

/// Pseudo-random gradients in [−1, 1) (SplitMix64), as tests/optim.rs's.
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

/// Each logged share against its definition, computed here from the
/// optimizer's projector and the gradient (captured) and from the f64
/// reference SVD of the gradient (optimal), for svd and for the random
/// control, at a refresh that is a quality step and at one that is not.
#[test]
fn the_log_matches_the_definitions_computed_independently() {
    let model = LlamaConfig::tiny();
    let layout = Layout::new(&model);
    for plugin in ["svd", "random"] {
        let params = GaloreParams {
            rank: 8,
            update_proj_gap: 1,
            quality_every: 2,
            ..GaloreParams::default()
        };
        let method = registry().build(plugin, &toml::Table::new()).unwrap();
        let mut opt = GaloreAdamW::new(&layout, params, method, 3);
        let mut p = ParamStore::init(&model, 1);
        for step in 0..2u64 {
            let g = grads(&layout, 10 + step);
            opt.step(&mut p, &g, 1e-3).unwrap();
            let log = opt.last_step_quality();
            assert_eq!(log.rows.len(), MATRICES, "{plugin} step {step}");
            for q in &log.rows {
                let case = format!("{plugin} step {step} {}", q.tensor);
                assert!(q.refreshed, "{case}: T = 1 refreshes every matrix");
                let (basis, side) = opt.projector(&q.tensor).unwrap();
                let gm = g.matrix(&q.tensor).unwrap(); // (rows, cols)
                let g64 = Mat::<f64>::from_fn(gm.nrows(), gm.ncols(), |i, j| f64::from(gm[(i, j)]));
                let p64 = Mat::<f64>::from_fn(basis.nrows(), basis.ncols(), |i, j| {
                    f64::from(basis[(i, j)])
                });
                let projected = match side {
                    Side::Left => p64.transpose() * &g64,
                    Side::Right => &g64 * &p64,
                };
                let total = g64.norm_l2().powi(2);
                let want = projected.norm_l2().powi(2) / total;
                assert!(
                    (q.captured - want).abs() <= 1e-6 * want,
                    "{case}: captured {} vs ‖PᵀG‖²/‖G‖² = {want}",
                    q.captured
                );
                if step == 0 {
                    let gf = Mat::<f32>::from_fn(gm.nrows(), gm.ncols(), |i, j| gm[(i, j)]);
                    let reference =
                        ReferenceSvd::new(gf.as_ref(), subspace::faer::Par::Seq).unwrap();
                    let s = reference.singular_values();
                    let optimal = s[..q.rank].iter().map(|x| x * x).sum::<f64>()
                        / s.iter().map(|x| x * x).sum::<f64>();
                    let got = q.optimal.expect("step 0 is a quality step");
                    assert!(
                        (got - optimal).abs() <= 1e-9,
                        "{case}: optimal {got} vs {optimal}"
                    );
                    let ratio = q.ratio().unwrap();
                    if plugin == "svd" {
                        assert!((ratio - 1.0).abs() < 1e-5, "{case}: svd's ratio {ratio}");
                    } else {
                        // A Haar basis of rank 8 in ℝ^64 captures about 8/64
                        // of the energy; the optimum keeps more.
                        assert!(ratio < 0.7, "{case}: random's ratio {ratio}");
                    }
                } else {
                    assert_eq!(q.optimal, None, "{case}: step 1 is no quality step");
                    assert!(q.agreement.is_some(), "{case}: a refresh after the first");
                }
            }
        }
    }
}

/// T = 2, 6 steps, quality_every = 3: rows for every matrix at the
/// refreshes (0-based steps 0, 2, 4) and the quality steps (0, 3), the
/// optimum at the quality steps only; a session with an out dir writes the
/// same rows to subspace.csv; and the log changes no bit of the run.
#[test]
fn rows_come_at_every_refresh_and_quality_step_and_change_nothing() {
    let c = TrainConfig {
        quality_every: Some(3),
        ..config()
    };
    let (steps, rows) = in_memory(c.clone());
    let at = |s: usize| rows.iter().filter(|r| r.step == s).collect::<Vec<_>>();
    for s in 0..6 {
        let here = at(s);
        let want = if [0, 2, 3, 4].contains(&s) {
            MATRICES
        } else {
            0
        };
        assert_eq!(here.len(), want, "step {s}");
        for r in here {
            assert_eq!(r.refreshed, s % 2 == 0, "step {s} {}", r.tensor);
            assert_eq!(r.optimal.is_some(), s % 3 == 0, "step {s} {}", r.tensor);
            assert_eq!(r.interval, 2);
            assert!(r.captured > 0.0 && r.captured <= 1.0 + 1e-6);
        }
    }
    // svd refreshed at a quality step is optimal; its basis from step 2
    // measured at step 3 (no refresh) is not.
    for r in at(0) {
        assert!((r.ratio.unwrap() - 1.0).abs() < 1e-5, "{r:?}");
    }
    for r in at(3) {
        assert!(r.ratio.unwrap() < 1.0 + 1e-6, "{r:?}");
    }

    let every_step = TrainConfig {
        quality_every: Some(1),
        ..c.clone()
    };
    let (steps_1, rows_1) = in_memory(every_step);
    assert_eq!(bits(&steps), bits(&steps_1), "quality_every changes no bit");
    assert_eq!(rows_1.len(), 6 * MATRICES);

    let dir = tempfile::tempdir().unwrap();
    let mut session = Session::new(c, &registry(), dir.path()).unwrap();
    while session.next_step() < 6 {
        session.step().unwrap();
    }
    assert!(session.subspace_rows().is_empty(), "rows go to the file");
    assert_eq!(read_rows(&dir.path().join("subspace.csv")), rows);
}

fn read_rows(path: &Path) -> Vec<SubspaceRow> {
    csv::Reader::from_path(path)
        .unwrap()
        .deserialize()
        .map(|r| r.unwrap())
        .collect()
}

/// With threshold 0 and a queue of 1 every agreement doubles the interval:
/// at T = 1 over 10 steps each matrix refreshes at steps 1, 2, 4 and 8
/// (1-based), 4 of every rule's 10; the summary counts them.
#[test]
fn the_lazy_rule_doubles_intervals_inside_training_and_counts_them() {
    let c = TrainConfig {
        update_proj_gap: 1,
        steps: 10,
        refresh: RefreshKind::Lazy,
        lazy_threshold: Some(0.0),
        lazy_queue: Some(1),
        ..config()
    };
    assert_eq!(c.label(), "galore-svd-T1-lazy");
    let summary = Session::in_memory(c, &registry())
        .unwrap()
        .run(|_| {})
        .unwrap();
    let refreshed: Vec<usize> = (0..10)
        .filter(|&s| summary.subspace.iter().any(|r| r.step == s && r.refreshed))
        .collect();
    assert_eq!(refreshed, [0, 1, 3, 7]);
    let intervals: Vec<u64> = [0, 1, 3, 7]
        .iter()
        .map(|&s| {
            summary
                .subspace
                .iter()
                .find(|r| r.step == s)
                .unwrap()
                .interval
        })
        .collect();
    assert_eq!(intervals, [1, 2, 4, 8]);
    assert_eq!(summary.refreshes, 4 * MATRICES as u64);
    assert_eq!(summary.refreshes_saved, 6 * MATRICES as u64);
    assert_eq!(summary.subspace_calls, summary.refreshes);

    // The every rule saves nothing and counts T = 2's refreshes.
    let every = Session::in_memory(config(), &registry())
        .unwrap()
        .run(|_| {})
        .unwrap();
    assert_eq!(
        (every.refreshes, every.refreshes_saved),
        (3 * MATRICES as u64, 0)
    );
    assert!(every.quality_seconds > 0.0 && every.quality_share > 0.0);
}

/// A lazy run resumed from its checkpoint at step 3 continues bit for bit
/// (the schedules are part of the checkpoint), and its subspace.csv rows
/// equal the uninterrupted run's.
#[test]
fn a_lazy_run_resumes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let c = TrainConfig {
        update_proj_gap: 1,
        refresh: RefreshKind::Lazy,
        lazy_threshold: Some(0.0),
        lazy_queue: Some(1),
        checkpoint_every: 3,
        quality_every: Some(2),
        ..config()
    };
    let whole = dir.path().join("whole");
    let mut all = Vec::new();
    Session::new(c, &registry(), &whole)
        .unwrap()
        .run(|r| all.push(r.clone()))
        .unwrap();
    let resumed = dir.path().join("resumed");
    let mut rest = Vec::new();
    let summary = Session::resume(&whole.join("checkpoints/step-3"), &registry(), &resumed)
        .unwrap()
        .run(|r| rest.push(r.clone()))
        .unwrap();
    assert_eq!(bits(&rest), bits(&all[3..]));
    let want: Vec<SubspaceRow> = read_rows(&whole.join("subspace.csv"))
        .into_iter()
        .filter(|r| r.step >= 3)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(read_rows(&resumed.join("subspace.csv")), want);
    // Steps 1, 2, 4 (1-based) refresh in 6 steps; the resumed run counts
    // those before its checkpoint too.
    assert_eq!(summary.refreshes, 3 * MATRICES as u64);

    // Without its schedule tensors the checkpoint is refused by name.
    let opt_path = whole.join("checkpoints/step-3/optimizer.safetensors");
    let (tensors, _) = llama::params::load_f32(&opt_path).unwrap();
    assert!(
        tensors
            .iter()
            .any(|t| t.name.ends_with(".refresh_schedule"))
    );
    let layout = Layout::new(&LlamaConfig::tiny());
    let method = registry().build("svd", &toml::Table::new()).unwrap();
    let mut every = GaloreAdamW::new(
        &layout,
        GaloreParams {
            rank: 8,
            update_proj_gap: 1,
            refresh: RefreshRule::Lazy {
                threshold: 0.0,
                queue: 1,
            },
            ..GaloreParams::default()
        },
        method,
        0,
    );
    let stripped: Vec<_> = tensors
        .into_iter()
        .filter(|t| !t.name.ends_with(".refresh_schedule"))
        .collect();
    let e = every.load_state(3, &stripped).unwrap_err();
    assert!(e.contains("refresh_schedule"), "{e}");
}

/// svd that fails once its instance has made `fail_after` calls.
#[derive(Debug, Default)]
struct FailsAfter {
    params: FailsAfterParams,
    calls: AtomicUsize,
}

#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    documented::DocumentedFields,
)]
#[serde(default, deny_unknown_fields)]
struct FailsAfterParams {
    /// Calls that succeed before every later one fails (0 = never fails).
    fail_after: usize,
}

impl Plugin for FailsAfter {
    const NAME: &'static str = "fails-after";
    const SUMMARY: &'static str = "svd, failing after a number of calls (a test method)";
    type Params = FailsAfterParams;
    fn new(params: FailsAfterParams) -> Result<Self, String> {
        Ok(Self {
            params,
            calls: AtomicUsize::new(0),
        })
    }
}

impl SubspaceMethod for FailsAfter {
    fn name(&self) -> &str {
        Self::NAME
    }
    fn compute(
        &self,
        a: MatRef<'_, f32>,
        k: usize,
        ctx: &mut Context<'_>,
    ) -> Result<Basis, SubspaceError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.params.fail_after > 0 && n >= self.params.fail_after {
            return Err(SubspaceError::NoConvergence {
                iterations: n,
                residual: 1.0,
            });
        }
        svd::Svd::default().compute(a, k, ctx)
    }
}

/// A refresh that fails at step 5 (1-based; the method fails from its 57th
/// call, T = 1, 14 matrices) stops the run naming the step and the tensor,
/// keeps the checkpoint of step 4 and the rows before, and the run resumes
/// from it.
#[test]
fn a_failed_refresh_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let c = TrainConfig {
        plugin: "fails-after".into(),
        plugin_params: toml::toml! { fail_after = 56 },
        update_proj_gap: 1,
        checkpoint_every: 2,
        ..config()
    };
    let err = Session::new(c, &registry(), dir.path())
        .unwrap()
        .run(|_| {})
        .unwrap_err();
    let TrainError::Refresh(e) = &err else {
        panic!("not a refresh error: {err}");
    };
    assert_eq!(e.step, 5);
    let text = err.to_string();
    assert!(
        text.contains("step 5")
            && text.contains("model.layers.")
            && text.contains("the subspace method"),
        "{text}"
    );
    let checkpoint = dir.path().join("checkpoints/step-4");
    assert!(checkpoint.join("optimizer.safetensors").exists());
    let training = std::fs::read_to_string(dir.path().join("training.csv")).unwrap();
    assert_eq!(training.lines().count(), 1 + 4, "{training}");
    let rows = read_rows(&dir.path().join("subspace.csv"));
    assert_eq!(rows.len(), 4 * MATRICES);
    assert!(rows.iter().all(|r| r.step < 4));
    // A fresh instance counts from zero again: the run resumes and ends.
    let resumed = dir.path().join("resumed");
    let summary = Session::resume(&checkpoint, &registry(), &resumed)
        .unwrap()
        .run(|_| {})
        .unwrap();
    assert_eq!(summary.steps, 6);
}

#[test]
fn bad_refresh_and_quality_keys_are_refused_naming_the_key() {
    let err = toml::from_str::<TrainConfig>("refresh = \"lazzy\"")
        .unwrap_err()
        .to_string();
    for needle in ["refresh", "lazzy", "\"every\"", "\"lazy\""] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let refused = |c: TrainConfig, key: &str| {
        let e = c.validate(&registry()).unwrap_err().to_string();
        assert!(e.contains(&format!("`{key}`")), "{key}: {e}");
        e
    };
    let e = refused(
        TrainConfig {
            quality_every: Some(0),
            ..config()
        },
        "quality_every",
    );
    assert!(e.contains("1..=6"), "{e}");
    refused(
        TrainConfig {
            quality_every: Some(7),
            ..config()
        },
        "quality_every",
    );
    refused(
        TrainConfig {
            lazy_queue: Some(0),
            ..config()
        },
        "lazy_queue",
    );
    refused(
        TrainConfig {
            lazy_threshold: Some(1.5),
            ..config()
        },
        "lazy_threshold",
    );
    // The lazy keys, set by a run that refreshes every T steps.
    let e = config()
        .check_applies(["lazy_threshold"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lazy_threshold") && e.contains("refresh = \"lazy\""),
        "{e}"
    );
    // GaLore keys, with AdamW.
    let adamw = TrainConfig {
        optimizer: OptimizerKind::Adamw,
        ..config()
    };
    assert!(adamw.check_applies(["quality_every"]).is_err());
    assert!(adamw.check_applies(["refresh"]).is_err());
}
