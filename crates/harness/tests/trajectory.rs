//! `source = "trajectory"`: a training stage records a range of steps, each
//! recorded tensor becomes the sequence of its steps, and every method
//! follows it as a tracker; the figures are checked against independent
//! oracles (the exact SVD scores err_fro 1 at every step; the step angle of
//! a subspace turned by a known angle is that angle, and 0 between
//! identical inputs); bad trajectories are errors naming the run, the
//! tensor, the step and the fix.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use faer::{Mat, Par};
use harness::records::{Status, TrackStep};
use harness::run;
use harness::runner::RunOptions;
use harness::runner::calibrate;
use harness::runner::track::{self, Inputs};
use harness::runner::trajectory::{self, Recording, Trajectory};
use harness::suite::Suite;
use subspace::reference::ReferenceSvd;
use subspace::{Registry, SubspaceMethod};

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<svd::Svd>().unwrap();
    r.register::<rrf::Rrf>().unwrap();
    r
}

fn parse(text: &str) -> Result<Suite, String> {
    Suite::parse(Path::new("suites/t.toml"), text, &registry()).map_err(|e| e.to_string())
}

const SUITE: &str = r#"
ranks = [4]
[train]
preset = "tiny"
steps = 6
batch_size = 2
seq_len = 32
rank = 8
eval_batches = 1
threads = 1
[[stage]]
name = "tiny"
record_steps = "1..5"
record_tensors = ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.up_proj.weight"]
[[run]]
name = "svd-T1"
optimizer = "galore"
plugin = "svd"
update_proj_gap = 1
record = true
[[matrix]]
source = "recorded"
[[matrix]]
source = "trajectory"
[[matrix]]
source = "trajectory"
tensors = "*nothing*"
[[method]]
plugin = "svd"
[[method]]
plugin = "rrf"
label = "rrf-warm"
params = { power_iters = 1, warm_start = true }
"#;

/// The upper median, the report's convention.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn a_recorded_range_is_followed_by_every_method_step_by_step() {
    let dir = tempfile::tempdir().unwrap();
    let suite = parse(SUITE).unwrap();
    let opts = RunOptions {
        root: dir.path().into(),
        heap: None,
        progress: false,
    };
    let out = run::run(&suite, &registry(), &opts).unwrap();
    assert!(out.trainings.iter().all(|t| t.status == Status::Ok));
    // The one-shot rows are those of source = "recorded" alone: 4 steps ×
    // 2 tensors × 2 methods × 1 rank.
    assert_eq!(out.rows.len(), 16);
    assert!(out.rows.iter().all(|r| r.status == Status::Ok));

    let t = &out.tracked;
    // 2 tensors × 2 methods, each through steps 1, 2, 3, 4.
    assert_eq!(t.steps.len(), 16, "{:?}", t.steps);
    for tensor in [
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.mlp.up_proj.weight",
    ] {
        for method in ["svd", "rrf-warm"] {
            let pass: Vec<&TrackStep> = t
                .steps
                .iter()
                .filter(|r| r.tensor == tensor && r.method == method)
                .collect();
            let steps: Vec<usize> = pass.iter().map(|r| r.step).collect();
            assert_eq!(steps, [1, 2, 3, 4], "{tensor} {method}");
            let mut last = 0.0;
            for (i, r) in pass.iter().enumerate() {
                assert_eq!(
                    (r.index, r.status, r.run.as_str()),
                    (i, Status::Ok, "tiny/svd-T1")
                );
                let e = r.err_fro.unwrap();
                if method == "svd" {
                    assert!((e - 1.0).abs() < 1e-3, "{tensor} svd step {}: {e}", r.step);
                } else {
                    assert!(e >= 1.0 - 1e-6 && e.is_finite(), "{tensor} rrf: {e}");
                }
                assert!(r.sin_theta.unwrap() <= 1.0 + 1e-9);
                assert_eq!(r.step_angle.is_none(), i == 0, "{r:?}");
                let angle = r.step_angle.unwrap_or(0.0);
                assert!((0.0..=std::f64::consts::FRAC_PI_2 + 1e-9).contains(&angle));
                let c = r.time_cumulative_s.unwrap();
                assert!(c >= last && (c - last - r.time_s.unwrap()).abs() < 1e-12);
                last = c;
            }
            let s = t
                .summaries
                .iter()
                .find(|s| s.tensor == tensor && s.method == method)
                .unwrap();
            assert_eq!((s.status, s.steps, s.rank), (Status::Ok, 4, 4));
            let errs: Vec<f64> = pass.iter().map(|r| r.err_fro.unwrap()).collect();
            assert_eq!(s.err_fro_median, Some(median(errs.clone())));
            assert_eq!(s.err_fro_worst, errs.iter().copied().reduce(f64::max));
            assert_eq!(s.time_total_s, Some(last));
        }
    }
    // The glob that matches nothing is an error row naming it and the fix.
    let bad: Vec<_> = t
        .summaries
        .iter()
        .filter(|s| s.status == Status::Error)
        .collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].error.contains("\"*nothing*\" matches none")
            && bad[0].error.contains("model.layers.1.mlp.up_proj.weight")
            && bad[0].error.contains("fix the glob"),
        "{}",
        bad[0].error
    );

    let csv = std::fs::read_to_string(out.dir.join("tracking.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 16);
    let summary_csv = std::fs::read_to_string(out.dir.join("tracking_summary.csv")).unwrap();
    assert_eq!(summary_csv.lines().count(), 1 + 4 + 1);
    let md = std::fs::read_to_string(out.dir.join("summary.md")).unwrap();
    assert!(
        md.contains("## Tracking along recorded trajectories"),
        "{md}"
    );
    let details = std::fs::read_to_string(out.dir.join("details.md")).unwrap();
    assert!(details.contains("| 4 | 1 | svd | 2 | 8 |"), "{details}");
    // svd is exact, so it qualifies at every level; the row names a method.
    let fastest = md
        .lines()
        .skip_while(|l| !l.contains("Fastest tracker"))
        .find(|l| l.starts_with("| 4 | 1 |"))
        .unwrap();
    assert!(!fastest.contains("none"), "{fastest}");
    let html = std::fs::read_to_string(out.dir.join("index.html")).unwrap();
    assert!(html.contains("err_fro along the trajectory") && html.contains("cumulative time"));
}

/// Diagonal m×n matrix of `sigma`, its left basis e_0.. turned in the
/// (e_0, e_k) plane by `theta`: the top-k subspace is span(cos θ e_0 +
/// sin θ e_k, e_1, …, e_{k−1}), at angle θ from span(e_0, …, e_{k−1}).
fn turned(m: usize, n: usize, sigma: &[f32], k: usize, theta: f64) -> Mat<f32> {
    let (c, s) = (theta.cos() as f32, theta.sin() as f32);
    Mat::from_fn(m, n, |i, j| {
        let d = if j < sigma.len() && j < m {
            sigma[j]
        } else {
            0.0
        };
        match (i, j) {
            (0, 0) => c * d,
            (i, 0) if i == k => s * d,
            (0, j) if j == k => -s * d,
            (i, j) if i == k && j == k => c * d,
            (i, j) if i == j => d,
            _ => 0.0,
        }
    })
}

fn follow(method: &str, t: &Trajectory, k: usize) -> Vec<TrackStep> {
    let references: Vec<ReferenceSvd> = t
        .matrices
        .iter()
        .map(|a| ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap())
        .collect();
    let inputs = Inputs {
        trajectory: t,
        transpose: false,
        references: &references,
    };
    let lanes = calibrate::lanes(&[1]).unwrap();
    let m: Arc<dyn SubspaceMethod> =
        Arc::from(registry().build(method, &toml::Table::new()).unwrap());
    let job = harness::suite::MethodJob {
        label: method.into(),
        plugin: method.into(),
        params: toml::Table::new(),
    };
    let pass = track::follow(&m, &inputs, k, 0, 1, &lanes[0]);
    let (steps, summary) = track::rows(&job, &inputs, k, 1, pass);
    assert_eq!(summary.status, Status::Ok, "{summary:?}");
    steps
}

#[test]
fn the_step_angle_is_zero_between_identical_inputs_and_the_turn_otherwise() {
    let sigma = [10.0, 8.0, 6.0, 1.0, 0.5, 0.25];
    let (m, n, k) = (12, 9, 3);
    let a = turned(m, n, &sigma, k, 0.0);
    let same = Trajectory {
        run: "synthetic".into(),
        tensor: "a".into(),
        steps: vec![0, 1, 2],
        matrices: vec![a.clone(), a.clone(), a.clone()],
    };
    let rows = follow("svd", &same, k);
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert!((r.err_fro.unwrap() - 1.0).abs() < 1e-5, "{r:?}");
    }
    assert!(rows[1].step_angle.unwrap() < 1e-6 && rows[2].step_angle.unwrap() < 1e-6);

    let theta = 0.1;
    let moving = Trajectory {
        matrices: vec![
            a,
            turned(m, n, &sigma, k, theta),
            turned(m, n, &sigma, k, 2.0 * theta),
        ],
        ..same
    };
    let rows = follow("svd", &moving, k);
    for r in &rows[1..] {
        let angle = r.step_angle.unwrap();
        assert!((angle - theta).abs() < 1e-5, "{angle} vs {theta}");
        assert!(r.sin_theta.unwrap() < 1e-5 && (r.err_fro.unwrap() - 1.0).abs() < 1e-5);
    }
    let there =
        track::largest_angle(rows_basis(k, 0.0).as_ref(), rows_basis(k, theta).as_ref()).unwrap();
    let back =
        track::largest_angle(rows_basis(k, theta).as_ref(), rows_basis(k, 0.0).as_ref()).unwrap();
    // f32 bases: θ to f32 roundoff, and the same both ways.
    assert!(
        (there - theta).abs() < 1e-6 && (there - back).abs() < 1e-7,
        "{there} {back}"
    );
}

/// The 12×k basis (cos θ e_0 + sin θ e_k, e_1, …, e_{k−1}).
fn rows_basis(k: usize, theta: f64) -> Mat<f32> {
    Mat::from_fn(12, k, |i, j| match (i, j) {
        (0, 0) => theta.cos() as f32,
        (i, 0) if i == k => theta.sin() as f32,
        (i, j) if i == j => 1.0,
        _ => 0.0,
    })
}

/// Writes `step-<step>.safetensors` holding `tensors` (name, rows, cols).
fn write_step(dir: &Path, step: usize, tensors: &[(&str, usize, usize)]) -> PathBuf {
    let path = dir.join(format!("step-{step}.safetensors"));
    let shapes: Vec<[usize; 2]> = tensors.iter().map(|t| [t.1, t.2]).collect();
    let data: Vec<Vec<f32>> = tensors
        .iter()
        .map(|t| (0..t.1 * t.2).map(|x| (x + step) as f32).collect())
        .collect();
    let list = tensors
        .iter()
        .zip(&shapes)
        .zip(&data)
        .map(|((t, s), d)| (t.0, s.as_slice(), d.as_slice()));
    llama::params::save_f32(&path, list, &[]).unwrap();
    path
}

#[test]
fn bad_trajectories_are_errors_naming_the_tensor_the_step_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ok = [("a", 4, 3), ("b", 5, 2)];
    let rec = |files: Vec<PathBuf>| Recording {
        run: "s/r".into(),
        expected: vec![0, 1, 2],
        files,
    };
    let good = rec(vec![
        write_step(d, 0, &ok),
        write_step(d, 1, &ok),
        write_step(d, 2, &ok),
    ]);
    let t = trajectory::assemble(&good, None).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(
        (t[0].tensor.as_str(), t[0].steps.as_slice()),
        ("a", &[0, 1, 2][..])
    );
    assert_eq!(t[1].matrices[2][(0, 1)], 3.0, "step 2's values");
    assert_eq!(trajectory::assemble(&good, Some("b")).unwrap().len(), 1);

    let cases: Vec<(Recording, Option<&str>, &[&str])> = vec![
        (
            rec(vec![write_step(d, 0, &ok), write_step(d, 2, &ok)]),
            None,
            &[
                "s/r",
                "step 1 has no recorded file",
                "record_steps = \"A..B\"",
            ],
        ),
        (
            rec(vec![
                write_step(d, 0, &ok),
                write_step(&tmp(d, "x"), 1, &[("a", 4, 3)]),
                write_step(d, 2, &ok),
            ]),
            None,
            &["tensor b: step 1 is missing", "[0, 2]", "record_tensors"],
        ),
        (
            rec(vec![
                write_step(d, 0, &ok),
                write_step(&tmp(d, "y"), 1, &[("a", 4, 2), ("b", 5, 2)]),
                write_step(d, 2, &ok),
            ]),
            None,
            &["tensor a: step 1 is 4×2 but step 0 is 4×3", "`tensors`"],
        ),
        (
            good.clone(),
            Some("c*"),
            &["\"c*\" matches none", "(a, b)", "fix the glob"],
        ),
    ];
    for (recording, tensors, needles) in cases {
        let err = trajectory::assemble(&recording, tensors).unwrap_err();
        for needle in needles {
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}

fn tmp(d: &Path, name: &str) -> PathBuf {
    let p = d.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn a_trajectory_needs_a_recording_run_named_as_the_suite_names_it() {
    let err = parse(
        &SUITE
            .replace("record = true", "")
            .replace("source = \"recorded\"\n[[matrix]]\n", ""),
    )
    .unwrap_err();
    assert!(
        err.contains("no training run records") && err.contains("\"A..B\""),
        "{err}"
    );
    let err = parse(&SUITE.replace(
        "source = \"trajectory\"\ntensors",
        "source = \"trajectory\"\nrun = \"nope\"\ntensors",
    ))
    .unwrap_err();
    assert!(
        err.contains("run = \"nope\"") && err.contains("\"tiny/svd-T1\""),
        "{err}"
    );
    for run in ["svd-T1", "tiny/svd-T1"] {
        let text = SUITE.replace(
            "source = \"trajectory\"\ntensors",
            &format!("source = \"trajectory\"\nrun = {run:?}\ntensors"),
        );
        assert!(parse(&text).is_ok(), "{run}");
    }
    // With seeds only the first seed records: stage/name means its recording.
    let seeded = SUITE.replace("name = \"tiny\"\n", "name = \"tiny\"\nseeds = [3, 4]\n");
    for run in ["svd-T1", "tiny/svd-T1", "tiny/svd-T1/seed-3"] {
        let text = seeded.replace(
            "source = \"trajectory\"\ntensors",
            &format!("source = \"trajectory\"\nrun = {run:?}\ntensors"),
        );
        let suite = parse(&text).unwrap_or_else(|e| panic!("{run}: {e}"));
        let runs: Vec<&Vec<String>> = suite
            .matrices
            .iter()
            .filter_map(|m| match m {
                harness::suite::MatrixJob::Trajectory { runs, .. } => Some(runs),
                _ => None,
            })
            .collect();
        assert!(
            runs.iter()
                .all(|r| *r == &vec!["tiny/svd-T1/seed-3".to_string()]),
            "{run}: {runs:?}"
        );
    }
    let err = parse(&seeded.replace(
        "source = \"trajectory\"\ntensors",
        "source = \"trajectory\"\nrun = \"tiny/svd-T1/seed-4\"\ntensors",
    ))
    .unwrap_err();
    assert!(err.contains("\"tiny/svd-T1/seed-3\""), "{err}");
    let err =
        parse(&SUITE.replace("record_steps = \"1..5\"", "record_steps = \"1..7\"")).unwrap_err();
    assert!(
        err.contains("record_steps") && err.contains("past steps = 6"),
        "{err}"
    );
    let err = parse(&SUITE.replace("tensors = \"*nothing*\"", "tensors = \"[\"")).unwrap_err();
    assert!(err.contains("tensors = \"[\" is not a glob"), "{err}");
}

#[test]
fn a_failed_update_ends_the_pass_keeping_the_steps_before_it() {
    let sigma = [4.0, 2.0, 1.0];
    let a = turned(12, 9, &sigma, 2, 0.0);
    let t = Trajectory {
        run: "s/r".into(),
        tensor: "a".into(),
        steps: vec![7, 8, 9],
        matrices: vec![a.clone(), a.clone(), a],
    };
    let references: Vec<ReferenceSvd> = t
        .matrices
        .iter()
        .map(|a| ReferenceSvd::new(a.as_ref(), Par::Seq).unwrap())
        .collect();
    let inputs = Inputs {
        trajectory: &t,
        transpose: false,
        references: &references,
    };
    let job = harness::suite::MethodJob {
        label: "m".into(),
        plugin: "m".into(),
        params: toml::Table::new(),
    };
    let q = rows_basis(2, 0.0);
    let pass = (vec![(q, 0.5)], Some((1, "no convergence".to_string())));
    let (steps, summary) = track::rows(&job, &inputs, 2, 1, pass);
    assert_eq!(steps.len(), 2);
    assert_eq!((steps[0].status, steps[0].step), (Status::Ok, 7));
    assert!((steps[0].err_fro.unwrap() - 1.0).abs() < 1e-6);
    assert_eq!((steps[1].status, steps[1].step), (Status::Error, 8));
    assert_eq!(steps[1].error, "no convergence");
    assert_eq!((summary.status, summary.steps), (Status::Error, 1));
    assert_eq!(summary.error, "step 8 (position 1): no convergence");
    assert_eq!(summary.time_total_s, Some(0.5));
}
