//! `seeds = [..]`: each run × seed is one training run; absent `seeds` is
//! the single `seed` of before, bit for bit; the conclusion pairs the seeds.

use std::path::Path;

use harness::records::Status;
use harness::run;
use harness::runner::RunOptions;
use harness::suite::Suite;
use subspace::Registry;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<svd::Svd>().unwrap();
    r.register::<rrf::Rrf>().unwrap();
    r
}

fn parse(text: &str) -> Result<Suite, String> {
    Suite::parse(Path::new("suites/s.toml"), text, &registry()).map_err(|e| e.to_string())
}

const SUITE: &str = include_str!("suites/two-seeds.toml");

#[test]
fn each_run_times_seed_is_one_training_run() {
    let s = parse(SUITE).unwrap();
    let ids: Vec<String> = s.trainings.iter().map(|t| t.id()).collect();
    assert_eq!(
        ids,
        [
            "tiny/adamw/seed-0",
            "tiny/adamw/seed-1",
            "tiny/svd-T1/seed-0",
            "tiny/svd-T1/seed-1",
            "tiny/rrf-T1/seed-0",
            "tiny/rrf-T1/seed-1",
        ]
    );
    let seeds: Vec<u64> = s.trainings.iter().map(|t| t.config.seed).collect();
    assert_eq!(seeds, [0, 1, 0, 1, 0, 1]);
    // Only the first seed records.
    assert_eq!(s.trainings[2].config.record_steps, [3]);
    assert!(s.trainings[3].config.record_steps.is_empty());
    // A run's own `seeds` wins over [train]'s; without `seeds`, one run of
    // the `seed` as before.
    let own = parse(&SUITE.replace("name = \"rrf-T1\"", "name = \"rrf-T1\"\nseeds = [7]")).unwrap();
    assert_eq!(own.trainings.last().unwrap().id(), "tiny/rrf-T1/seed-7");
    let none = parse(&SUITE.replace("seeds = [0, 1]", "seed = 5")).unwrap();
    assert_eq!(none.trainings.len(), 3);
    assert!(
        none.trainings
            .iter()
            .all(|t| t.seed.is_none() && t.config.seed == 5)
    );
    assert_eq!(none.trainings[1].id(), "tiny/svd-T1");
}

#[test]
fn bad_seeds_are_refused_naming_the_key() {
    for (bad, needle) in [
        ("seeds = []", "`seeds` must be a non-empty array"),
        ("seeds = [0, 0]", "distinct"),
        ("seeds = [-1]", "non-negative"),
        ("seeds = 3", "`seeds = [0, 1, 2]`"),
        (
            "seeds = [0, 1]\nseed = 2",
            "`seed` and `seeds` in the same table",
        ),
    ] {
        let err = parse(&SUITE.replace("seeds = [0, 1]", bad)).expect_err(bad);
        assert!(
            err.contains(needle) && err.contains("suites/s.toml"),
            "{bad}: {err}"
        );
    }
    let err = parse(&format!("target_loss = -1.0\n{SUITE}")).unwrap_err();
    assert!(err.contains("target_loss = -1"), "{err}");
}

#[test]
fn seeds_train_apart_and_the_conclusion_pairs_them() {
    let dir = tempfile::tempdir().unwrap();
    let suite = parse(SUITE).unwrap();
    let opts = RunOptions {
        root: dir.path().into(),
        heap: None,
        progress: false,
    };
    let out = run::run(&suite, &registry(), &opts).unwrap();
    assert!(out.trainings.iter().all(|t| t.status == Status::Ok));
    assert_eq!(out.trainings.len(), 6);
    let loss = |i: usize| out.trainings[i].summary.as_ref().unwrap().final_eval_loss;
    // Another seed is another init and data order.
    assert_ne!(loss(0), loss(1));
    assert!(out.dir.join("train/tiny/svd-T1/seed-0/grads").is_dir());
    assert!(!out.dir.join("train/tiny/svd-T1/seed-1/grads").exists());

    // training.csv: the run column names the seed, the last column is it.
    let csv = std::fs::read_to_string(out.dir.join("training.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",seed"), "{csv}");
    let row = csv
        .lines()
        .find(|l| l.starts_with("tiny/rrf-T1/seed-1,"))
        .unwrap();
    assert!(row.ends_with(",1"), "{row}");

    // Seed 0 of a run with `seeds` is the run without them, bit for bit.
    let single = parse(&SUITE.replace("seeds = [0, 1]", "seed = 0")).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let opts2 = RunOptions {
        root: dir2.path().into(),
        heap: None,
        progress: false,
    };
    let one = run::run(&single, &registry(), &opts2).unwrap();
    for (run, seeded) in [(0, 0), (1, 2), (2, 4)] {
        let a: Vec<(f32, f64)> = one.trainings[run]
            .steps
            .iter()
            .map(|r| (r.train_loss, r.grad_norm))
            .collect();
        let b: Vec<(f32, f64)> = out.trainings[seeded]
            .steps
            .iter()
            .map(|r| (r.train_loss, r.grad_norm))
            .collect();
        assert_eq!(a, b, "run {run}");
    }

    // The conclusion: a paired interval with 2 seeds, none with 1.
    let summary = std::fs::read_to_string(out.dir.join("summary.md")).unwrap();
    let rrf = summary
        .lines()
        .find(|l| l.starts_with("| rrf-T1 |"))
        .unwrap();
    let cells: Vec<&str> = rrf.split('|').map(str::trim).collect();
    let diffs: Vec<f64> = [0, 1]
        .map(|k| {
            let l = |i: usize| f64::from(loss(i).unwrap());
            l(4 + k) - l(2 + k)
        })
        .to_vec();
    let ci = harness::stats::paired_t(&diffs).unwrap();
    assert_eq!(cells[6], format!("{:+.4}", ci.estimate), "{rrf}");
    assert!(
        cells[7].starts_with(&format!("[{:+.4}, {:+.4}]", ci.lo, ci.hi)),
        "{rrf}"
    );
    assert_eq!(cells[9], "2", "{rrf}");
    assert!(cells[3].contains("× ["), "{rrf}");
    // The front page's verdict names the interval; the mean ± CI table is a detail.
    assert!(
        summary.contains(&format!("[{:+.4}, {:+.4}]", ci.lo, ci.hi))
            && summary.contains("Against GaLore+svd at T = 1"),
        "{summary}"
    );
    let details = std::fs::read_to_string(out.dir.join("details.md")).unwrap();
    assert!(details.contains("Mean ± 95% CI"), "{details}");
    assert!(!summary.contains("Mean ± 95% CI"), "{summary}");
    let single_summary = std::fs::read_to_string(one.dir.join("summary.md")).unwrap();
    assert!(
        single_summary.contains("CI unavailable: needs ≥ 2 seeds, has 1")
            && single_summary.contains("one seed each (no interval"),
        "{single_summary}"
    );
    let single_details = std::fs::read_to_string(one.dir.join("details.md")).unwrap();
    assert!(!single_details.contains("Mean ± 95% CI"));

    // Time-to-quality: a target every run meets at its first evaluation
    // (step 2 of 4), one none meets.
    let easy = harness::report::training::markdown_with_target(
        &out.trainings,
        &out.rows,
        &suite.compare_to,
        Some(100.0),
    );
    let row = easy.lines().find(|l| l.starts_with("| adamw |")).unwrap();
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells[10], "2", "{row}");
    let mean_s = (out.trainings[0].steps[1].seconds_elapsed
        + out.trainings[1].steps[1].seconds_elapsed)
        / 2.0;
    assert_eq!(cells[11], format!("{mean_s:.1}"), "{row}");
    let hard = harness::report::training::markdown_with_target(
        &out.trainings,
        &out.rows,
        &suite.compare_to,
        Some(1e-3),
    );
    let row = hard.lines().find(|l| l.starts_with("| adamw |")).unwrap();
    assert!(row.ends_with("| not reached | not reached |"), "{row}");
}
