//! Suites that train: the [train] × [[stage]] × [[run]] tables are validated
//! before anything runs, the runs write training.csv and record gradients,
//! and the matrix part reads exactly those gradients.

use std::path::Path;

use harness::records::Status;
use harness::run;
use harness::runner::RunOptions;
use harness::suite::{CompareTo, Suite};
use subspace::Registry;

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
ranks = [4, 8]
[train]
preset = "tiny"
steps = 4
batch_size = 2
seq_len = 32
rank = 8
eval_every = 2
eval_batches = 1
threads = 1
[[stage]]
name = "tiny"
record_steps = [0, 3]
record_tensors = ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.up_proj.weight"]
[[run]]
optimizer = "adamw"
[[run]]
name = "svd-T1"
optimizer = "galore"
plugin = "svd"
update_proj_gap = 1
record = true
[[run]]
name = "rrf-T1"
optimizer = "galore"
plugin = "rrf"
plugin_params = { power_iters = 1 }
update_proj_gap = 1
[[matrix]]
source = "recorded"
[[method]]
plugin = "svd"
[[method]]
plugin = "rrf"
params = { power_iters = 1 }
"#;

#[test]
fn stages_times_runs_merge_with_later_keys_winning() {
    let s = parse(SUITE).unwrap();
    let ids: Vec<String> = s.trainings.iter().map(|t| t.id()).collect();
    assert_eq!(ids, ["tiny/adamw", "tiny/svd-T1", "tiny/rrf-T1"]);
    let rrf = &s.trainings[2].config;
    assert_eq!((rrf.steps, rrf.rank, rrf.update_proj_gap), (4, 8, 1));
    // Only runs with `record = true` record.
    assert!(s.trainings[0].config.record_steps.is_empty());
    assert_eq!(s.trainings[1].config.record_steps, [0, 3]);
}

#[test]
fn bad_training_tables_are_refused_naming_the_entry() {
    let cases = [
        (SUITE.replace("steps = 4", "stpes = 4"), "stpes"),
        (
            SUITE.replace("plugin = \"rrf\"", "plugin = \"nope\""),
            "[[run]] #3",
        ),
        (SUITE.replace("record = true", ""), "record_steps"),
        (SUITE.replace("name = \"tiny\"\n", ""), "give it a `name`"),
        (
            SUITE.replace("name = \"rrf-T1\"", "name = \"svd-T1\""),
            "two training runs",
        ),
        (
            SUITE.replace("record_steps = [0, 3]", "record_steps = [0, 4]"),
            "record_steps",
        ),
        // A GaLore key that an adamw run sets itself (the [train] table's
        // rank is a shared default and stays allowed).
        (
            SUITE.replace(
                "optimizer = \"adamw\"",
                "optimizer = \"adamw\"\nupdate_proj_gap = 5",
            ),
            "[[run]] #1: training config, field `update_proj_gap`: applies to optimizer galore only",
        ),
    ];
    for (text, needle) in cases {
        let err = parse(&text).expect_err(needle);
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(err.contains("suites/t.toml"), "{err}");
    }
}

#[test]
fn a_training_suite_trains_records_and_measures_the_recorded_gradients() {
    let dir = tempfile::tempdir().unwrap();
    let suite = parse(SUITE).unwrap();
    let opts = RunOptions {
        root: dir.path().into(),
        heap: None,
        progress: false,
    };
    let out = run::run(&suite, &registry(), &opts).unwrap();
    assert!(
        out.trainings.iter().all(|t| t.status == Status::Ok),
        "{:?}",
        out.trainings
    );
    // training.csv: a header and 4 steps per run, the run column naming the stage.
    let csv = std::fs::read_to_string(out.dir.join("training.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 4, "{csv}");
    assert!(
        csv.lines().nth(1).unwrap().starts_with("tiny/adamw,0,"),
        "{csv}"
    );
    // 2 recorded steps × 2 tensors × 2 methods × 2 ranks, named by stage and step.
    assert_eq!(out.rows.len(), 16);
    assert!(
        out.rows.iter().all(|r| r.status == Status::Ok),
        "{:?}",
        out.rows
    );
    let names: std::collections::BTreeSet<&str> =
        out.rows.iter().map(|r| r.matrix.as_str()).collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "tiny/step-0:model.layers.0.self_attn.q_proj.weight",
            "tiny/step-0:model.layers.1.mlp.up_proj.weight",
            "tiny/step-3:model.layers.0.self_attn.q_proj.weight",
            "tiny/step-3:model.layers.1.mlp.up_proj.weight",
        ]
    );
    // Each row carries its origin typed: run, stage, step and tensor, as
    // fields and as results.csv columns (the name stays as the label).
    for r in &out.rows {
        let tensor = r.matrix.split_once(':').unwrap().1;
        assert_eq!(
            (r.run.as_deref(), r.stage.as_deref(), r.tensor.as_deref()),
            (Some("svd-T1"), Some("tiny"), Some(tensor)),
            "{}",
            r.matrix
        );
        assert_eq!(r.matrix, format!("tiny/step-{}:{tensor}", r.step.unwrap()));
    }
    let results = std::fs::read_to_string(out.dir.join("results.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(results.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert!(
        header.iter().collect::<Vec<_>>().starts_with(&[
            "suite", "matrix", "source", "run", "stage", "step", "tensor", "rows"
        ]),
        "{header:?}"
    );
    let steps: std::collections::BTreeSet<String> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            assert_eq!((&r[3], &r[4]), ("svd-T1", "tiny"));
            assert!(r[1].ends_with(&format!(":{}", &r[6])), "{r:?}");
            r[5].to_string()
        })
        .collect();
    assert_eq!(steps.into_iter().collect::<Vec<_>>(), ["0", "3"]);
    // up_proj (172×64) is tall: its basis is on the short (right) side.
    let up = out
        .rows
        .iter()
        .find(|r| r.matrix.ends_with("up_proj.weight"))
        .unwrap();
    assert_eq!((up.rows, up.cols, up.side), (172, 64, "right"));
    let svd = out
        .rows
        .iter()
        .find(|r| r.plugin == "svd" && r.rank == 8)
        .unwrap();
    assert!((svd.err_fro.unwrap() - 1.0).abs() < 1e-3, "{svd:?}");

    let summary = std::fs::read_to_string(out.dir.join("summary.md")).unwrap();
    for needle in ["## Stage `tiny`", "| adamw |", "| svd-T1 |", "| rrf-T1 |"] {
        assert!(
            summary.contains(needle),
            "summary.md lacks {needle:?}:\n{summary}"
        );
    }
    let details = std::fs::read_to_string(out.dir.join("details.md")).unwrap();
    for needle in [
        "## Conclusion",
        "## Training runs",
        "Energy per step unavailable",
    ] {
        assert!(
            details.contains(needle),
            "details.md lacks {needle:?}:\n{details}"
        );
    }
    // rrf-T1's late-step accuracy is matched to the rrf matrix rows.
    let rrf_line = summary
        .lines()
        .find(|l| l.starts_with("| rrf-T1 |"))
        .unwrap();
    assert!(rrf_line.contains("matrices, step 3"), "{rrf_line}");
    // By default the conclusion compares with GaLore+svd at T = 1 (svd-T1).
    assert!(
        summary.contains("| Δ loss vs GaLore+svd T=1 |")
            && summary.contains("minus GaLore+svd at T = 1's, one seed each")
            && summary.contains("Fastest step: "),
        "{summary}"
    );
    assert!(svd_t1_delta(&summary).contains("+0.0000"), "{summary}");
    // `compare_to` names another run: the Δ column is against it.
    let explicit = harness::report::training::markdown(
        &out.trainings,
        &out.rows,
        &CompareTo::Run("rrf-T1".into()),
    );
    assert!(
        explicit.contains("| Δ loss vs rrf-T1 |")
            && explicit.contains("minus rrf-T1's")
            && !explicit.contains("GaLore+svd"),
        "{explicit}"
    );
    let rrf_delta = explicit
        .lines()
        .find(|l| l.starts_with("| rrf-T1 |"))
        .unwrap();
    assert_eq!(rrf_delta.split('|').nth(6).unwrap().trim(), "+0.0000");
    let (svd, rrf) = (
        final_eval_loss(&out, "svd-T1"),
        final_eval_loss(&out, "rrf-T1"),
    );
    assert_eq!(
        svd_t1_delta(&explicit),
        format!("{:+.4}", f64::from(svd) - f64::from(rrf))
    );
    let html = std::fs::read_to_string(out.dir.join("index.html")).unwrap();
    assert!(html.contains("loss curves") && html.contains("median step time"));
    // The verdict comes first, its figures and its table (real HTML) after it.
    let verdict = html.find("class=\"verdict\"").expect("a verdict");
    let headline = html
        .find("held-out loss against wall seconds")
        .expect("the headline loss figure");
    let pareto = html
        .find("final held-out loss against step time")
        .expect("the Pareto figure");
    let table = html.find("<table>").expect("the conclusion's table");
    assert!(verdict < headline && headline < pareto && pareto < table);
    assert!(!html.contains("<pre>"), "conclusion not rendered as HTML");
    assert!(out.dir.join("training.json").is_file());
    assert!(
        out.dir
            .join("train/tiny/svd-T1/grads/step-3.safetensors")
            .is_file()
    );
}

/// The Δ loss cell of the svd-T1 run in a conclusion table.
fn svd_t1_delta(summary: &str) -> String {
    let line = summary
        .lines()
        .find(|l| l.starts_with("| svd-T1 |"))
        .unwrap();
    line.split('|').nth(6).unwrap().trim().to_string()
}

/// The final held-out loss of the run `label`.
fn final_eval_loss(out: &run::RunOutput, label: &str) -> f32 {
    out.trainings
        .iter()
        .find(|t| t.label == label)
        .and_then(|t| t.summary.as_ref()?.final_eval_loss)
        .unwrap()
}

#[test]
fn compare_to_defaults_to_svd_every_step_and_must_name_a_run() {
    assert_eq!(parse(SUITE).unwrap().compare_to, CompareTo::SvdEveryStep);
    let named = parse(&format!("compare_to = \"rrf-T1\"\n{SUITE}")).unwrap();
    assert_eq!(named.compare_to, CompareTo::Run("rrf-T1".into()));
    // The derived label of an unnamed run counts as its name.
    assert!(parse(&format!("compare_to = \"adamw\"\n{SUITE}")).is_ok());

    let err = parse(&format!("compare_to = \"svd-T2\"\n{SUITE}")).unwrap_err();
    for needle in [
        "suites/t.toml",
        "compare_to = \"svd-T2\"",
        "\"adamw\", \"svd-T1\", \"rrf-T1\"",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    let no_runs = "compare_to = \"svd-T1\"\nranks = [2]\n[[matrix]]\nsource = \"generated\"\nrows = 4\ncols = 4\nspectrum = { kind = \"flat\" }\n[[method]]\nplugin = \"svd\"\n";
    let err = parse(no_runs).unwrap_err();
    assert!(err.contains("no training runs"), "{err}");
}

#[test]
fn a_runs_moment_keys_reach_its_config_and_are_checked() {
    use llama::optim::MomentPolicy;
    let rotate = "\n[[run]]\nname = \"svd-rotate\"\noptimizer = \"galore\"\nplugin = \"svd\"\n\
                  update_proj_gap = 1\nmoments = \"rotate\"\nalign = true\n";
    let s = parse(&format!("{SUITE}{rotate}")).unwrap();
    let job = s
        .trainings
        .iter()
        .find(|t| t.label == "svd-rotate")
        .unwrap();
    assert_eq!(
        (job.config.moments, job.config.align),
        (MomentPolicy::Rotate, true)
    );
    // The default comparison is the reference's svd at T = 1, not a
    // variant of it.
    assert!(!s.compare_to.is(&job.label, &job.config, true));
    let plain = s.trainings.iter().find(|t| t.label == "svd-T1").unwrap();
    assert!(s.compare_to.is(&plain.label, &plain.config, true));
    assert!(
        !s.compare_to.is(&plain.label, &plain.config, false),
        "a torch run is never the lab's reference"
    );

    let adamw = SUITE.replace(
        "optimizer = \"adamw\"",
        "optimizer = \"adamw\"\nmoments = \"reset\"",
    );
    let err = parse(&adamw).unwrap_err();
    assert!(
        err.contains("[[run]] #1") && err.contains("`moments`"),
        "{err}"
    );
    let typo = format!("{SUITE}{}", rotate.replace("\"rotate\"", "\"rotat\""));
    let err = parse(&typo).unwrap_err();
    for needle in ["moments = \"rotat\"", "\"keep\"", "\"reset\"", "\"rotate\""] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
}
