//! A suite cut into shards and merged gives the report of an unsharded run
//! (timings aside), in one phase and in two (training, then the recorded
//! gradients); a set of shards that cannot make one report is refused,
//! naming the shard and the fix, and nothing is written.

use std::path::{Path, PathBuf};

use harness::merge::{self, compare};
use harness::records::{Row, Status};
use harness::run;
use harness::runner::shard::{Item, Part, Phase, ShardSpec};
use harness::runner::{self, RunOptions, trained};
use harness::suite::Suite;
use subspace::Registry;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<svd::Svd>().unwrap();
    r.register::<rrf::Rrf>().unwrap();
    r
}

/// Two generated matrices, a file that does not load (an error row every
/// shard that owns part of it writes alike), two methods × two ranks × two
/// thread counts.
const ONE_PHASE: &str = r#"
seed = 7
threads = [1, 2]
warmup = 0
repeats = 1
ranks = [3, 6]
[[matrix]]
source = "generated"
name = "tall-40x30"
rows = 40
cols = 30
spectrum = { kind = "polynomial", power = 1.0 }
[[matrix]]
source = "files"
path = "BAD"
[[matrix]]
source = "generated"
name = "wide-30x50"
rows = 30
cols = 50
spectrum = { kind = "exponential", rate = 0.3 }
[[method]]
plugin = "svd"
[[method]]
plugin = "rrf"
params = { power_iters = [0, 1] }
"#;

/// Training with recorded gradients: two phases.
const TWO_PHASE: &str = r#"
ranks = [4]
warmup = 0
repeats = 1
[train]
preset = "tiny"
steps = 3
batch_size = 2
seq_len = 16
rank = 4
eval_every = 3
eval_batches = 1
threads = 1
[[stage]]
name = "tiny"
record_steps = [0, 2]
record_tensors = ["model.layers.0.self_attn.q_proj.weight"]
[[run]]
optimizer = "adamw"
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
[[method]]
plugin = "rrf"
params = { power_iters = 1 }
[[method]]
plugin = "svd"
"#;

fn load(dir: &Path, text: &str) -> Suite {
    let bad = dir.join("bad.npy");
    std::fs::write(&bad, b"not an npy file").unwrap();
    let text = text.replace("BAD", bad.to_str().unwrap());
    let path = dir.join("suite.toml");
    std::fs::write(&path, text).unwrap();
    Suite::load(&path, &registry()).unwrap()
}

fn opts(root: PathBuf) -> RunOptions<'static> {
    RunOptions {
        root,
        heap: None,
        progress: false,
    }
}

fn shard(suite: &Suite, root: &Path, spec: &str, phase: Phase, trained: &[PathBuf]) -> PathBuf {
    let spec: ShardSpec = spec.parse().unwrap();
    let part = Part::of(suite, spec, phase).unwrap();
    let from = if trained.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        trained::read(suite, trained).unwrap()
    };
    let out = run::run_shard(suite, &registry(), &opts(root.into()), &part, from).unwrap();
    out.dir
}

#[track_caller]
fn assert_same(merged: &Path, unsharded: &Path) {
    let (diffs, cells) = compare::compare(merged, unsharded, 20).unwrap();
    assert!(diffs.is_empty(), "{diffs:#?}");
    assert!(cells > 100, "{cells}");
}

#[test]
fn three_shards_merged_equal_an_unsharded_run_and_bad_sets_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let suite = load(t, ONE_PHASE);
    let whole = run::run(&suite, &registry(), &opts(t.join("whole"))).unwrap();

    let dirs: Vec<PathBuf> = (1..=3)
        .map(|i| {
            shard(
                &suite,
                &t.join(format!("s{i}")),
                &format!("{i}/3"),
                Phase::All,
                &[],
            )
        })
        .collect();
    // The shards own disjoint items that cover the suite, and each has some.
    let mut owned: Vec<Item> = Vec::new();
    for d in &dirs {
        let m = runner::segments::Manifest::read(d).unwrap();
        assert_eq!(m.status, "complete");
        assert!(!m.items.is_empty());
        owned.extend(m.items);
    }
    owned.sort();
    let before = owned.len();
    owned.dedup();
    assert_eq!((before, owned.len()), (3 * 3 * 2 * 2, 3 * 3 * 2 * 2));

    // The --out folders are accepted as well as the report directories.
    let roots: Vec<PathBuf> = (1..=3).map(|i| t.join(format!("s{i}"))).collect();
    let merged = merge::merge(&roots, &t.join("merged"), &registry()).unwrap();
    assert_same(&merged.dir, &whole.dir);
    assert_same(&whole.dir, &merged.dir);
    assert_eq!(merged.rows.len(), whole.rows.len());
    // The load error is one row, as in the unsharded run.
    let errors = |rows: &[Row]| rows.iter().filter(|r| r.status == Status::Error).count();
    assert_eq!((errors(&merged.rows), errors(&whole.rows)), (1, 1));
    // The accuracy figures, bit for bit, in the same order.
    let figures = |rows: &[Row]| -> Vec<(String, String, usize, usize, Option<u64>)> {
        rows.iter()
            .map(|r| {
                let e = r.err_fro.map(f64::to_bits);
                (r.matrix.clone(), r.method.clone(), r.rank, r.threads, e)
            })
            .collect()
    };
    assert_eq!(figures(&merged.rows), figures(&whole.rows));
    let summary = std::fs::read_to_string(merged.dir.join("summary.md")).unwrap();
    assert!(summary.contains("## Shards") && summary.contains("its machine's"));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.dir.join("run.json")).unwrap())
            .unwrap();
    let shards = run["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3);
    assert!(shards.iter().all(|s| s["machine"]["cpu_model"].is_string()));
    assert!(merged.dir.join("index.html").is_file());

    // The comparison can fail: a changed figure is found.
    let results = merged.dir.join("results.csv");
    let text = std::fs::read_to_string(&results).unwrap();
    let err_fro = whole.rows[0].err_fro.unwrap().to_string();
    assert!(text.contains(&err_fro));
    let changed = tempfile::tempdir().unwrap();
    for f in ["results.csv", "spectra.csv"] {
        std::fs::copy(merged.dir.join(f), changed.path().join(f)).unwrap();
    }
    std::fs::write(
        changed.path().join("results.csv"),
        text.replacen(&err_fro, "1.5", 1),
    )
    .unwrap();
    let (diffs, _) = compare::compare(changed.path(), &whole.dir, 5).unwrap();
    assert!(
        diffs.len() == 1 && diffs[0].contains("err_fro"),
        "{diffs:?}"
    );

    refusals(t, &suite, &dirs);
}

/// Each refusal names the shard and the fix, and writes no report.
fn refusals(t: &Path, suite: &Suite, dirs: &[PathBuf]) {
    let out = t.join("refused");
    let refuse = |dirs: &[PathBuf], needles: &[&str]| {
        let err = format!("{:#}", merge::merge(dirs, &out, &registry()).unwrap_err());
        for n in needles {
            assert!(err.contains(n), "{n:?} not in: {err}");
        }
        assert!(!out.exists(), "a refused merge wrote {}", out.display());
    };
    let copy = |from: &Path, name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let to = t.join(name);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
        let path = to.join("shard.json");
        let mut m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        edit(&mut m);
        std::fs::write(&path, m.to_string()).unwrap();
        to
    };
    let [d1, d2, d3] = [&dirs[0], &dirs[1], &dirs[2]].map(|d| d.clone());

    refuse(
        &[d1.clone(), d3.clone()],
        &["missing shard 2/3", "--shard I/3", "--only 2"],
    );
    let twin = copy(&d2, "twin", &|_| {});
    refuse(
        &[d1.clone(), d2.clone(), twin.clone(), d3.clone()],
        &["shard 2/3 (phase all) is given twice", "twin"],
    );
    let running = copy(&d2, "running", &|m| m["status"] = "running".into());
    refuse(
        &[d1.clone(), running, d3.clone()],
        &["missing shard 2/3", "did not finish", "\"running\""],
    );
    let other = copy(&d3, "other-suite", &|m| {
        m["suite"]["sha256"] = "ab".repeat(32).into()
    });
    refuse(
        &[d1.clone(), d2.clone(), other],
        &["different suites", "abababababab", "other-suite"],
    );
    let commit = copy(&d3, "other-commit", &|m| m["commit"] = "0123abc".into());
    refuse(
        &[d1.clone(), d2.clone(), commit],
        &["different commits", "commit 0123abc"],
    );
    let recut = copy(&d3, "recut", &|m| m["items"] = serde_json::json!([]));
    refuse(
        &[d1.clone(), d2.clone(), recut],
        &["owns other items", "re-run it"],
    );
    refuse(
        &[t.join("whole")],
        &["holds no shard report", "--shard I/N"],
    );

    // An --out that holds files is never written over.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let err = merge::merge(dirs, &out, &registry()).unwrap_err();
    assert!(
        format!("{err:#}").contains("already holds files"),
        "{err:#}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("keep.txt")).unwrap(),
        "mine"
    );

    // A suite file edited since the shards ran.
    std::fs::write(
        &suite.path,
        format!(
            "# edited\n{}",
            std::fs::read_to_string(&suite.path).unwrap()
        ),
    )
    .unwrap();
    let err = merge::merge(dirs, &t.join("edited"), &registry()).unwrap_err();
    assert!(
        format!("{err:#}").contains("changed since the shards ran"),
        "{err:#}"
    );
}

#[test]
fn two_phases_train_then_matrices_merge_to_the_unsharded_report() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let suite = load(t, TWO_PHASE);
    // One phase is refused for a suite that records: the fix is named.
    let err = Part::of(&suite, "1/2".parse().unwrap(), Phase::All).unwrap_err();
    assert!(
        err.contains("--phase train") && err.contains("--trained"),
        "{err}"
    );
    let whole = run::run(&suite, &registry(), &opts(t.join("whole"))).unwrap();

    let train: Vec<PathBuf> = (1..=2)
        .map(|i| {
            shard(
                &suite,
                &t.join(format!("t{i}")),
                &format!("{i}/2"),
                Phase::Train,
                &[],
            )
        })
        .collect();
    let trained = merge::merge(&train, &t.join("trained"), &registry()).unwrap();
    assert_eq!(trained.trainings.len(), 2);
    let matrices: Vec<PathBuf> = (1..=2)
        .map(|i| {
            let root = t.join(format!("m{i}"));
            shard(
                &suite,
                &root,
                &format!("{i}/2"),
                Phase::Matrices,
                std::slice::from_ref(&trained.dir),
            )
        })
        .collect();
    // Matrices alone do not make a report.
    let err = merge::merge(&matrices, &t.join("alone"), &registry()).unwrap_err();
    assert!(format!("{err:#}").contains("training phase"), "{err:#}");

    let all: Vec<PathBuf> = train.iter().chain(&matrices).cloned().collect();
    let merged = merge::merge(&all, &t.join("merged"), &registry()).unwrap();
    assert_same(&merged.dir, &whole.dir);
    // 2 recorded steps × 1 tensor × 2 methods × 1 rank; 2 runs × 3 steps.
    assert_eq!((merged.rows.len(), whole.rows.len()), (4, 4));
    // The trajectory part: 1 tensor × 2 methods, 2 steps each, followed by
    // the matrices shards that own them, merged in an unsharded run's order.
    let tracking = std::fs::read_to_string(merged.dir.join("tracking.csv")).unwrap();
    assert_eq!(tracking.lines().count(), 1 + 2 * 2, "{tracking}");
    let data_lines = |dir: &PathBuf| {
        let text = std::fs::read_to_string(dir.join("tracking.csv")).unwrap_or_default();
        text.lines().count().saturating_sub(1)
    };
    assert_eq!(matrices.iter().map(data_lines).sum::<usize>(), 2 * 2);
    let steps = std::fs::read_to_string(merged.dir.join("training.csv")).unwrap();
    assert_eq!(steps.lines().count(), 1 + 2 * 3, "{steps}");
    assert_eq!(merged.trainings.len(), 2);
    assert!(merged.trainings.iter().all(|o| o.steps.len() == 3));
}
