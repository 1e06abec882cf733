//! Suites are validated before anything runs; runs write rows as they go;
//! the gate catches every kind of regression.

use std::path::Path;

use harness::check;
use harness::records::{Metric, Status};
use harness::run;
use harness::runner::RunOptions;
use harness::suite::{MatrixJob, Suite};
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

const GOOD: &str = r#"
seed = 3
ranks = [2, 4]

[[matrix]]
source = "generated"
rows = 30
cols = 20
spectrum = { kind = "exponential", rate = 0.3 }

[[method]]
plugin = "svd"

[[method]]
plugin = "rrf"
params = { power_iters = [0, 1], oversample = 5 }
"#;

#[test]
fn a_good_suite_expands_sweeps_and_takes_defaults() {
    let s = parse(GOOD).unwrap();
    assert_eq!(
        (
            s.name.as_str(),
            s.seed,
            s.threads.as_slice(),
            s.warmup,
            s.repeats
        ),
        ("t", 3, &[1][..], 1, 3)
    );
    let labels: Vec<&str> = s.methods.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(labels, ["svd", "rrf[power_iters=0]", "rrf[power_iters=1]"]);
    assert_eq!(s.methods[2].params["oversample"].as_integer(), Some(5));
    assert!(
        matches!(&s.matrices[0], MatrixJob::Generated { name, seed: 0, .. } if name == "exp0.3-30x20")
    );
    assert_eq!(s.hash.len(), 64);
}

#[test]
fn syntax_errors_name_the_file_line_and_column() {
    let err = parse("seed = 3\nranks = [2,\n").unwrap_err();
    assert!(err.starts_with("suite suites/t.toml:"), "{err}");
    assert!(err.contains("line 3") || err.contains("line 2"), "{err}");
    assert!(err.contains("column"), "{err}");
}

#[test]
fn unknown_keys_plugins_and_params_name_the_alternatives() {
    let err = parse(&GOOD.replace("seed = 3", "sead = 3")).unwrap_err();
    assert!(
        err.contains("unknown field `sead`") && err.contains("`seed`"),
        "{err}"
    );
    let err = parse(&GOOD.replace("plugin = \"svd\"", "plugin = \"svdd\"")).unwrap_err();
    assert!(
        err.contains("[[method]] #1") && err.contains("registered plugins: svd, rrf"),
        "{err}"
    );
    let err = parse(&GOOD.replace("oversample = 5", "oversampling = 5")).unwrap_err();
    assert!(
        err.contains("[[method]] #2")
            && err.contains("unknown field `oversampling`")
            && err.contains("`oversample`"),
        "{err}"
    );
    let err = parse(&GOOD.replace("kind = \"exponential\"", "kind = \"expo\"")).unwrap_err();
    assert!(err.contains("expo") && err.contains("exponential"), "{err}");
}

#[test]
fn a_source_matching_no_file_says_so() {
    let text = GOOD.replace(
        "source = \"generated\"\nrows = 30\ncols = 20\nspectrum = { kind = \"exponential\", rate = 0.3 }",
        "source = \"files\"\npath = \"no/such/dir/*.safetensors\"",
    );
    let err = parse(&text).unwrap_err();
    assert!(
        err.contains("matches no file") && err.contains("no/such/dir/*.safetensors"),
        "{err}"
    );
}

#[test]
fn empty_ranks_and_duplicate_labels_are_rejected() {
    assert!(
        parse(&GOOD.replace("ranks = [2, 4]", "ranks = []"))
            .unwrap_err()
            .contains("`ranks`")
    );
    let dup = format!("{GOOD}\n[[method]]\nplugin = \"svd\"\n");
    assert!(
        parse(&dup)
            .unwrap_err()
            .contains("two methods are labelled \"svd\"")
    );
}

#[test]
fn a_run_writes_every_row_and_the_gate_catches_regressions() {
    let tmp = tempfile::tempdir().unwrap();
    let text = GOOD.replace("ranks = [2, 4]", "ranks = [2, 4, 25]");
    let suite = Suite::parse(Path::new("t.toml"), &text, &registry()).unwrap();
    let opts = RunOptions {
        root: tmp.path().into(),
        heap: None,
        progress: false,
    };
    let out = run::run(&suite, &registry(), &opts).unwrap();
    // 3 methods × 3 ranks; rank 25 > min(30, 20) is a skipped row, not an abort.
    assert_eq!(out.rows.len(), 9);
    let skipped: Vec<_> = out
        .rows
        .iter()
        .filter(|r| r.status == Status::Skipped)
        .collect();
    assert_eq!(skipped.len(), 3);
    assert!(
        skipped[0].error.contains("rank 25 > min(m, n) = 20"),
        "{}",
        skipped[0].error
    );
    for f in [
        "results.csv",
        "spectra.csv",
        "run.json",
        "summary.md",
        "index.html",
    ] {
        assert!(out.dir.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(out.dir.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 10, "header + 9 rows");
    // A generated matrix has no origin: its run, stage, step and tensor
    // columns are empty; the status column is the status's text.
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    for (record, row) in records.iter().zip(&out.rows) {
        for name in ["run", "stage", "step", "tensor"] {
            assert_eq!(&record[col(name)], "", "{name}");
        }
        assert_eq!(record[col("status")].parse::<Status>(), Ok(row.status));
    }
    assert_eq!(&records[8][col("status")], "skipped");
    let html = std::fs::read_to_string(out.dir.join("index.html")).unwrap();
    // Self-contained: inline SVG and an inline script, nothing fetched.
    assert!(
        html.contains("<svg") && !html.contains("src=") && !html.contains("<link"),
        "self-contained SVG page"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["status"], "complete");
    assert_eq!(json["samples"].as_array().unwrap().len(), 9);
    // svd is exact: err_fro 1; the side is GaLore's short side (30 > 20: right).
    let svd = out
        .rows
        .iter()
        .find(|r| r.method == "svd" && r.rank == 4)
        .unwrap();
    assert!((svd.err_fro.unwrap() - 1.0).abs() < 1e-3 && svd.side == "right");

    // The gate: this run against its own baseline passes...
    let path = tmp.path().join("baseline.csv");
    let n = check::write_baseline(&path, &out.rows).unwrap();
    assert_eq!(n, 6 * 5);
    let baseline = check::read_baseline(&path).unwrap();
    let v = check::check(&baseline, &out.rows);
    assert!(v.passed(), "{}", check::render(&v));
    // ...and the written baseline passes the gate's own validation.
    let validated = harness::baseline::Baseline::read(&path).unwrap();
    validated.check_suite(&suite).unwrap();
    validated.check_matrices(&out.rows).unwrap();
    // ...and fails on a worse figure, a missing row and a non-finite value.
    let mut worse = out.rows.clone();
    let r = worse
        .iter_mut()
        .find(|r| r.method == "rrf[power_iters=0]" && r.rank == 4)
        .unwrap();
    r.err_fro = r.err_fro.map(|e| e * 1.01);
    let v = check::check(&baseline, &worse);
    assert_eq!(v.failures.len(), 1, "{}", check::render(&v));
    assert!(check::render(&v).contains("worse than baseline"));
    let missing: Vec<_> = out
        .rows
        .iter()
        .filter(|r| r.method != "svd")
        .cloned()
        .collect();
    let v = check::check(&baseline, &missing);
    assert!(
        v.failures
            .iter()
            .all(|f| f.what == "row missing from the run")
            && v.failures.len() == 10
    );
    let mut nan = out.rows.clone();
    nan[0].err_spec = Some(f64::NAN);
    let v = check::check(&baseline, &nan);
    assert!(v.failures.iter().any(|f| f.what == "not finite"));
    // A run with a non-finite figure, or none, writes no baseline and
    // leaves the old one as it was.
    let before = std::fs::read_to_string(&path).unwrap();
    let err = format!("{:#}", check::write_baseline(&path, &nan).unwrap_err());
    assert!(
        err.contains("err_spec is NaN") && err.contains("left as it was"),
        "{err}"
    );
    let err = format!("{:#}", check::write_baseline(&path, &[]).unwrap_err());
    assert!(err.contains("no row of the run has a figure"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    // A better figure is not a failure.
    let mut better = out.rows.clone();
    better
        .iter_mut()
        .for_each(|r| r.err_fro = r.err_fro.map(|e| e * 0.9));
    assert!(check::check(&baseline, &better).failures.is_empty());
}

#[test]
fn a_file_that_fails_to_load_is_a_row_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap();
    let text = format!(
        "ranks = [2]\n[[matrix]]\nsource = \"files\"\npath = {:?}\n\n[[matrix]]\nsource = \"generated\"\nrows = 10\ncols = 8\nspectrum = {{ kind = \"flat\" }}\n\n[[method]]\nplugin = \"svd\"\n",
        bad.display().to_string()
    );
    let suite = Suite::parse(Path::new("t.toml"), &text, &registry()).unwrap();
    let opts = RunOptions {
        root: tmp.path().join("reports"),
        heap: None,
        progress: false,
    };
    let out = run::run(&suite, &registry(), &opts).unwrap();
    assert_eq!(out.rows.len(), 2);
    assert_eq!(out.rows[0].status, Status::Error);
    assert!(
        out.rows[0].error.contains("broken.safetensors"),
        "{}",
        out.rows[0].error
    );
    assert_eq!(out.rows[1].status, Status::Ok);
}

#[test]
fn the_gate_fails_when_rrf_silently_loses_its_power_iterations() {
    // The baseline has rrf at q = 2; a regression makes the plugin ignore
    // power_iters (simulated by running q = 0 under the q = 2 row's name).
    let tmp = tempfile::tempdir().unwrap();
    let suite_text = |q: u32| {
        format!(
            "ranks = [8]\n[[matrix]]\nsource = \"generated\"\nname = \"poly\"\nrows = 120\ncols = 90\n\
             spectrum = {{ kind = \"polynomial\", power = 0.7 }}\n\n[[method]]\nplugin = \"rrf\"\n\
             label = \"rrf-q2\"\nparams = {{ power_iters = {q} }}\n"
        )
    };
    let run = |q| {
        let suite = Suite::parse(Path::new("t.toml"), &suite_text(q), &registry()).unwrap();
        let opts = RunOptions {
            root: tmp.path().into(),
            heap: None,
            progress: false,
        };
        run::run(&suite, &registry(), &opts).unwrap().rows
    };
    let good = run(2);
    let path = tmp.path().join("baseline.csv");
    check::write_baseline(&path, &good).unwrap();
    let baseline = check::read_baseline(&path).unwrap();
    let mut regressed = run(0);
    for r in &mut regressed {
        r.params = good[0].params.clone();
    }
    let v = check::check(&baseline, &regressed);
    let table = check::render(&v);
    assert!(table.starts_with("accuracy gate: FAIL"), "{table}");
    assert!(
        v.failures
            .iter()
            .any(|f| f.metric == Metric::ErrFro && f.what == "worse than baseline"),
        "{table}"
    );
    // Without the relabelling the changed params are a different key: the
    // baselined row is missing, which fails too.
    let v = check::check(&baseline, &run(0));
    assert!(
        v.failures
            .iter()
            .any(|f| f.what == "row missing from the run")
    );
}

#[test]
fn an_unwritable_report_directory_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("reports");
    std::fs::write(&blocker, b"a file where the reports directory should be").unwrap();
    let suite = Suite::parse(Path::new("t.toml"), GOOD, &registry()).unwrap();
    let opts = RunOptions {
        root: blocker.clone(),
        heap: None,
        progress: false,
    };
    let err = run::run(&suite, &registry(), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot create report directory") && err.contains("reports"),
        "{err}"
    );
}

/// A stand-in for a GPU plugin: the exact SVD, reporting a device and the
/// device bytes it "holds" once it has been called.
mod fake_gpu {
    use documented::DocumentedFields;
    use serde::{Deserialize, Serialize};
    use std::sync::atomic::{AtomicBool, Ordering};
    use subspace::{Basis, Context, Device, Plugin, SubspaceError, SubspaceMethod};

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, DocumentedFields)]
    #[serde(default, deny_unknown_fields)]
    pub struct P {
        /// Device bytes to report after the first call.
        pub bytes: usize,
    }

    pub struct FakeGpu {
        bytes: usize,
        called: AtomicBool,
    }

    impl SubspaceMethod for FakeGpu {
        fn name(&self) -> &str {
            "fake-gpu"
        }
        fn device(&self) -> Device {
            Device::Cuda(0)
        }
        fn device_bytes(&self) -> Option<usize> {
            self.called.load(Ordering::Relaxed).then_some(self.bytes)
        }
        fn compute(
            &self,
            a: faer::MatRef<'_, f32>,
            k: usize,
            ctx: &mut Context<'_>,
        ) -> Result<Basis, SubspaceError> {
            self.called.store(true, Ordering::Relaxed);
            svd::Svd::default().left_basis(a, k, ctx)
        }
    }

    impl Plugin for FakeGpu {
        const NAME: &'static str = "fake-gpu";
        const SUMMARY: &'static str = "the exact SVD, posing as a GPU method";
        type Params = P;
        fn new(p: P) -> Result<Self, String> {
            Ok(Self {
                bytes: p.bytes,
                called: AtomicBool::new(false),
            })
        }
    }
}

#[test]
fn a_gpu_method_reports_its_measured_device_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut registry = registry();
    registry.register::<fake_gpu::FakeGpu>().unwrap();
    let text =
        GOOD.to_string() + "\n[[method]]\nplugin = \"fake-gpu\"\nparams = { bytes = 3145728 }\n";
    let suite = Suite::parse(Path::new("t.toml"), &text, &registry).unwrap();
    let opts = RunOptions {
        root: tmp.path().into(),
        heap: None,
        progress: false,
    };
    let out = run::run(&suite, &registry, &opts).unwrap();
    for r in &out.rows {
        assert_eq!(r.status, Status::Ok, "{}: {}", r.method, r.error);
        if r.plugin == "fake-gpu" {
            assert_eq!(
                (r.device.as_str(), r.device_bytes),
                ("cuda:0", Some(3 << 20))
            );
        } else {
            assert_eq!((r.device.as_str(), r.device_bytes), ("cpu", None));
        }
    }
    let csv = std::fs::read_to_string(out.dir.join("results.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("device_bytes"));
    let details = std::fs::read_to_string(out.dir.join("details.md")).unwrap();
    assert!(details.contains("| 3.00 MiB dev |"), "{details}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 300,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5017e),
        ..Default::default()
    })]

    /// Any text, and any mutation of a good suite, gives a suite or an error
    /// naming the file: never a panic.
    #[test]
    fn the_suite_parser_never_panics(text in ".{0,200}", cut in 0usize..400, junk in "[ -~]{0,12}") {
        let mut mutated: String = GOOD.chars().take(cut).collect();
        mutated.push_str(&junk);
        mutated.extend(GOOD.chars().skip(cut + junk.len()));
        for t in [text, mutated] {
            if let Err(e) = parse(&t) {
                proptest::prop_assert!(e.starts_with("suite suites/t.toml"), "{}", e);
            }
        }
    }
}

/// The committed baseline reads into typed metrics, every one of them, and
/// the new results.csv columns do not change its key.
#[test]
fn the_committed_baseline_reads_with_typed_metrics() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ci/baseline.csv");
    let entries = check::read_baseline(&path).unwrap();
    assert!(entries.len() >= 100, "{}", entries.len());
    for m in Metric::ALL {
        assert!(
            entries.iter().any(|e| e.metric == m),
            "{m} not in the baseline"
        );
    }
    // Written back, the entries are the file's lines, byte for byte.
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("baseline.csv");
    let mut w = csv::Writer::from_path(&copy).unwrap();
    for e in &entries {
        w.serialize(e).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        std::fs::read_to_string(&path).unwrap()
    );
    // A metric name that is not one of them is refused, naming the line.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(
        &bad,
        "matrix,method,params,rank,metric,value,rel_tol,abs_tol\nm,svd,,2,err-fro,1.0,0.001,1e-6\n",
    )
    .unwrap();
    let err = format!("{:#}", check::read_baseline(&bad).unwrap_err());
    assert!(err.contains("line 2"), "{err}");
}
