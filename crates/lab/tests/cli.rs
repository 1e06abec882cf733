//! The `lab` binary: listing, training runs set key by key, and clear
//! errors for unknown names and keys.

use std::process::Command;

mod common;

use common::{lab, lab_cmd, output};

#[test]
fn list_shows_every_plugin_with_params_and_defaults() {
    let (ok, out, _) = lab(&["list"]);
    assert!(ok);
    for entry in lab::registry().unwrap().entries() {
        assert!(
            out.contains(&format!("{}  (", entry.name)),
            "{} missing from:\n{out}",
            entry.name
        );
        for p in entry.params() {
            assert!(
                out.contains(&format!("{} = {}", p.name, p.default)),
                "{}.{} missing",
                entry.name,
                p.name
            );
        }
    }
    assert!(out.contains("power_iters = 1"));
}

#[test]
fn unknown_plugin_names_the_registered_ones() {
    let (ok, _, err) = lab(&["try", "svdd"]);
    assert!(!ok);
    assert!(
        err.contains("unknown plugin `svdd`; registered plugins: svd"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unknown_param_key_names_the_known_ones() {
    let (ok, _, err) = lab(&["try", "rrf", "--params", "power_iter = 2"]);
    assert!(!ok);
    assert!(
        err.contains("unknown field `power_iter`, expected one of `oversample`, `power_iters`"),
        "{err}"
    );
}

#[test]
fn rank_too_large_is_an_error_not_a_panic() {
    let (ok, _, err) = lab(&["try", "rrf", "--shape", "40x30", "-k", "31"]);
    assert!(!ok);
    assert!(err.contains("rank k = 31 exceeds min(m, n) = 30"), "{err}");
}

#[test]
fn try_reports_accuracy() {
    let (ok, out, err) = lab(&["try", "svd", "--shape", "60x40", "-k", "5"]);
    assert!(ok, "{err}");
    let err_fro: f64 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("err_fro"))
        .and_then(|v| v.trim().parse().ok())
        .expect("err_fro line");
    assert!((err_fro - 1.0).abs() < 1e-3, "svd err_fro = {err_fro}");
}

/// The f32 values of a 2-D C-order .npy file and its shape.
fn read_npy(path: &std::path::Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.order(), npyz::Order::C);
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

#[test]
fn try_on_a_file_gives_the_generated_calls_basis_and_saves_it() {
    use npyz::WriterBuilder;
    use subspace::generate::{Spectrum, with_spectrum};
    let dir = tempfile::tempdir().unwrap();
    let a = with_spectrum(60, 40, Spectrum::Polynomial { power: 1.0 }, 4);
    let input = dir.path().join("a.npy");
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[60, 40])
        .writer(std::fs::File::create(&input).unwrap())
        .begin_nd()
        .unwrap();
    let values: Vec<f32> = (0..60)
        .flat_map(|i| (0..40).map(move |j| (i, j)))
        .map(|(i, j)| a[(i, j)])
        .collect();
    w.extend(values).unwrap();
    w.finish().unwrap();
    let (from_file, generated) = (dir.path().join("q1.npy"), dir.path().join("q2.npy"));
    for (q, source) in [
        (&from_file, ["--input", input.to_str().unwrap()]),
        (&generated, ["--shape", "60x40"]),
    ] {
        let mut args = vec!["try", "rrf", "-k", "5", "--seed", "4", "--threads", "2"];
        args.extend(source);
        args.extend(["--save-basis", q.to_str().unwrap()]);
        let (ok, out, err) = lab(&args);
        assert!(ok, "{err}");
        assert!(out.contains("rrf on 60×40"), "{out}");
    }
    let (shape, q) = read_npy(&from_file);
    assert_eq!(shape, [60, 5]);
    assert_eq!(q, read_npy(&generated).1, "a file's matrix is the matrix");
    let (ok, _, err) = lab(&["try", "svd", "--input", "/nonexistent/a.npy"]);
    assert!(!ok);
    assert!(err.contains("--input /nonexistent/a.npy"), "{err}");
}

/// The config a `lab train` run wrote to its train.json.
fn trained_config(out: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("train.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    summary["config"].clone()
}

#[test]
fn train_defaults_follow_the_preset() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    let (ok, _, err) = lab(&[
        "train",
        "--preset",
        "tiny",
        "--steps",
        "1",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let c = trained_config(&out);
    assert_eq!(c["preset"], "tiny");
    assert_eq!(c["seq_len"], 128, "tiny's max_position_embeddings");
}

#[test]
fn train_with_seeds_runs_one_training_run_per_seed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seeded");
    let args = |seeds: &'static str| {
        [
            "train",
            "--preset",
            "tiny",
            "--steps",
            "1",
            "--threads",
            "1",
            "--set",
            seeds,
        ]
    };
    let mut a = args("seeds=[3, 4]").to_vec();
    a.extend(["--out", out.to_str().unwrap()]);
    let (ok, stdout, err) = lab(&a);
    assert!(ok, "{err}");
    for seed in [3, 4] {
        let run = out.join(format!("seed-{seed}"));
        assert_eq!(trained_config(&run)["seed"], seed);
        assert!(stdout.contains(run.to_str().unwrap()), "{stdout}");
    }
    let mut a = args("seeds=[]").to_vec();
    let bad = dir.path().join("bad");
    a.extend(["--out", bad.to_str().unwrap()]);
    let (ok, _, err) = lab(&a);
    assert!(
        !ok && err.contains("`seeds` must be a non-empty array"),
        "{err}"
    );
    assert!(!bad.exists());
}

#[test]
fn train_sets_keys_as_toml_layered_over_the_file_and_under_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.toml");
    std::fs::write(
        &file,
        "preset = \"small\"\nlr = 0.5\nseq_len = 8\nsteps = 7\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let (ok, _, err) = lab(&[
        "train",
        "--config",
        file.to_str().unwrap(),
        "--set",
        "preset=tiny",
        "--set",
        "lr=0.001",
        "--set",
        "record_steps=[0, 1]",
        "--set",
        "steps=5",
        "--set",
        "plugin_params={ power_iters = 0 }",
        "--plugin",
        "rrf",
        "--steps",
        "2",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let c = trained_config(&out);
    assert_eq!(
        c["preset"], "tiny",
        "a bare word is a string; --set over --config"
    );
    assert_eq!(c["seq_len"], 8, "the file's key stays");
    assert_eq!(c["steps"], 2, "the flag over --set");
    assert_eq!(c["record_steps"], serde_json::json!([0, 1]));
    assert_eq!(c["plugin"], "rrf");
    assert_eq!(c["plugin_params"]["power_iters"], 0);
    assert!((c["lr"].as_f64().unwrap() - 0.001).abs() < 1e-9);
    assert!(out.join("grads/step-1.safetensors").is_file());
}

#[test]
fn train_refuses_unknown_keys_and_keys_of_another_optimizer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let out = out.to_str().unwrap();
    let (ok, _, err) = lab(&["train", "--set", "stpes=3", "--out", out]);
    assert!(!ok);
    assert!(
        err.contains("stpes") && err.contains("steps") && err.contains("seq_len"),
        "{err}"
    );
    for key in ["rank=8", "update_proj_gap=1", "scale=0.5", "plugin=rrf"] {
        let (ok, _, err) = lab(&["train", "--optimizer", "adamw", "--set", key, "--out", out]);
        let name = key.split('=').next().unwrap();
        assert!(!ok, "{key} accepted with adamw");
        assert!(
            err.contains(&format!("`{name}`")) && err.contains("adamw"),
            "{err}"
        );
    }
    let (ok, _, err) = lab(&[
        "train",
        "--optimizer",
        "adamw",
        "--plugin",
        "rrf",
        "--out",
        out,
    ]);
    assert!(!ok && err.contains("`plugin`"), "{err}");
    let (ok, _, err) = lab(&["train", "--set", "lr", "--out", out]);
    assert!(!ok && err.contains("KEY=VALUE"), "{err}");
    let (ok, _, err) = lab(&["train", "--set", "lr=abc", "--out", out]);
    assert!(
        !ok && err.contains("`lr`") && err.contains("wrong type"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(out).exists(),
        "a refused run wrote nothing"
    );
}

/// `lab check` validates its baseline before it runs the suite: a NaN
/// tolerance fails with the file, the line, the field and the fix, and no
/// report is written.
#[test]
fn check_refuses_a_bad_baseline_before_running_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("gate.toml");
    std::fs::write(
        &suite,
        "ranks = [2]\n\n[[matrix]]\nsource = \"generated\"\nname = \"m\"\nrows = 30\ncols = 20\n\
         spectrum = { kind = \"exponential\", rate = 0.3 }\n\n[[method]]\nplugin = \"svd\"\n",
    )
    .unwrap();
    let baseline = dir.path().join("baseline.csv");
    let reports = dir.path().join("reports");
    let header = "matrix,method,params,rank,metric,value,rel_tol,abs_tol\n";
    let good = "m,svd,,2,err_fro,1.0,0.001,1e-6\n";
    let gate = || {
        lab(&[
            "check",
            suite.to_str().unwrap(),
            "--baseline",
            baseline.to_str().unwrap(),
            "--out",
            reports.to_str().unwrap(),
        ])
    };
    for (text, needle) in [
        (
            format!("{header}{good}{}", good.replace("0.001", "NaN")),
            "baseline.csv line 3: rel_tol is NaN; write a finite non-negative number, or \
             regenerate with `lab check --update`",
        ),
        (header.to_string(), "baseline.csv has no figures"),
        (
            format!("{header}{}", good.replace("svd", "rrf")),
            "baseline.csv line 2: method `rrf` is not a method of suite",
        ),
    ] {
        std::fs::write(&baseline, &text).unwrap();
        let (ok, _, err) = gate();
        assert!(!ok, "a bad baseline passed:\n{text}");
        assert!(err.contains(needle), "`{needle}` not in: {err}");
        assert!(
            !reports.exists(),
            "the suite ran before the baseline was read"
        );
    }
    // `--update` writes a baseline that the gate then accepts.
    let (ok, _, err) = lab(&[
        "check",
        suite.to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
        "--out",
        reports.to_str().unwrap(),
        "--update",
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = gate();
    assert!(ok && out.contains("accuracy gate: PASS"), "{out}{err}");
}

/// Runs never clobber: `lab train --out DIR` onto a run is refused naming
/// the dir and `--resume`, leaving it untouched; `--resume` without --out
/// writes into the checkpoint's run dir, its training.csv cut back to the
/// checkpoint; the default --out is a new dir per run.
#[test]
fn train_never_clobbers_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = out.to_str().unwrap();
    let common = [
        "train",
        "--preset",
        "tiny",
        "--optimizer",
        "adamw",
        "--steps",
        "3",
        "--threads",
        "1",
        "--set",
        "batch_size=1",
        "--set",
        "seq_len=16",
        "--set",
        "checkpoint_every=1",
    ];
    let with = |extra: &[&str]| {
        let mut args = common.to_vec();
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_lab"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .expect("run lab")
    };
    let first = with(&["--out", o]);
    assert!(first.status.success(), "{first:?}");
    let csv = std::fs::read_to_string(out.join("training.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3);

    let again = with(&["--out", o]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success(), "a second run clobbered the first");
    assert!(
        err.contains(&format!("{o}: already holds a run (training.csv)"))
            && err.contains("--resume"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("training.csv")).unwrap(),
        csv
    );

    let resume = out.join("checkpoints/step-1");
    let resumed = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args([
            "train",
            "--threads",
            "1",
            "--resume",
            resume.to_str().unwrap(),
        ])
        .output()
        .expect("run lab");
    assert!(resumed.status.success(), "{resumed:?}");
    assert_eq!(String::from_utf8_lossy(&resumed.stdout).trim(), o);
    let after = std::fs::read_to_string(out.join("training.csv")).unwrap();
    let untimed = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split(',').take(7).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(untimed(&after), untimed(&csv), "rows doubled or lost");

    // Two runs with the default --out land in two new dirs.
    let a = with(&[]);
    let b = with(&[]);
    assert!(a.status.success() && b.status.success(), "{a:?}{b:?}");
    let (a, b) = (
        String::from_utf8_lossy(&a.stdout).trim().to_string(),
        String::from_utf8_lossy(&b.stdout).trim().to_string(),
    );
    assert_ne!(a, b);
    for d in [&a, &b] {
        assert!(d.starts_with("reports/train/adamw"), "{d}");
        assert!(dir.path().join(d).join("training.csv").is_file(), "{d}");
    }
}

#[test]
fn try_refuses_a_shape_over_the_budget_before_allocating() {
    for shape in ["100000x100000", "18446744073709551615x2"] {
        let (ok, _, err) = lab(&["try", "svd", "--shape", shape, "-k", "2"]);
        assert!(!ok, "{shape}: {err}");
        assert!(!err.contains("panicked"), "{shape}: {err}");
        assert!(err.contains("over the memory budget"), "{shape}: {err}");
        assert!(
            err.contains("try a smaller --shape or -k"),
            "{shape}: {err}"
        );
    }
    let (_, _, err) = lab(&["try", "svd", "--shape", "18446744073709551615x2"]);
    assert!(err.contains("overflows"), "{err}");
}

#[test]
fn budget_variable_sets_the_budget_and_a_bad_one_is_named() {
    let run = |budget: &str| {
        let (ok, _, err) = output(
            lab_cmd()
                .args(["try", "svd", "--shape", "60x40", "-k", "5"])
                .env("LAB_MEMORY_BUDGET", budget),
        );
        (ok, err)
    };
    assert!(run("1G").0);
    let (ok, err) = run("1K");
    assert!(!ok);
    assert!(
        err.contains("memory budget of 1.0 KiB (1024 bytes) (LAB_MEMORY_BUDGET=1K)"),
        "{err}"
    );
    let (ok, err) = run("lots");
    assert!(!ok);
    assert!(
        err.contains("LAB_MEMORY_BUDGET=\"lots\" is not a size"),
        "{err}"
    );
}

#[test]
fn train_refuses_a_batch_over_the_budget_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big");
    let (ok, _, err) = lab(&[
        "train",
        "--preset",
        "tiny",
        "--steps",
        "1",
        "--threads",
        "1",
        "--set",
        "batch_size=100000000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("batch_size = 100000000"), "{err}");
    assert!(err.contains("over the memory budget"), "{err}");
    assert!(err.contains("use a smaller batch_size or seq_len"), "{err}");
    assert!(
        !out.join("training.csv").exists(),
        "training.csv was created"
    );
}

#[test]
fn a_gzip_corpus_inflates_to_a_fifth_of_the_budget_at_most() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.txt.gz");
    // 20 MB of one byte: about 20 KB compressed.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..20 {
        enc.write_all(&[b'a'; 1_000_000]).unwrap();
    }
    std::fs::write(&bomb, enc.finish().unwrap()).unwrap();
    let train = |budget: &str| {
        let (ok, _, err) = output(
            lab_cmd()
                .args([
                    "train",
                    "--preset",
                    "tiny",
                    "--steps",
                    "1",
                    "--threads",
                    "1",
                ])
                .args([
                    "--set",
                    "batch_size=2",
                    "--set",
                    "seq_len=32",
                    "--set",
                    "eval_batches=1",
                ])
                .arg("--set")
                .arg(format!("corpus={:?}", bomb.display().to_string()))
                .arg("--out")
                .arg(dir.path().join(format!("run-{budget}")))
                .env("LAB_MEMORY_BUDGET", budget),
        );
        (ok, err)
    };
    // 64 MiB holds the tiny model but not 20 MB of bytes beside their
    // 80 MB of tokens: the cap is 64 MiB / 5.
    let (ok, err) = train("64M");
    assert!(!ok);
    assert!(
        err.contains("inflates to more than 13421772 bytes")
            && err.contains("a fifth of the memory budget: LAB_MEMORY_BUDGET=64M"),
        "{err}"
    );
    let (ok, err) = train("1G");
    assert!(ok, "{err}");
}

#[test]
fn train_refuses_more_threads_than_cores() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("threads");
    let (ok, _, err) = lab(&[
        "train",
        "--preset",
        "tiny",
        "--steps",
        "1",
        "--threads",
        "100000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        err.contains("`threads`: 100000 exceeds this machine's"),
        "{err}"
    );
    assert!(
        !out.join("training.csv").exists(),
        "training.csv was created"
    );
}

#[test]
fn a_run_with_error_rows_writes_its_report_and_exits_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // A 1-D npy (a vector, not a matrix) named explicitly, beside a good
    // generated matrix.
    let mut vector = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";
    let mut header = header.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    vector.extend((header.len() as u16).to_le_bytes());
    vector.extend(header.as_bytes());
    vector.extend([0u8; 16]);
    std::fs::write(t.join("vector.npy"), vector).unwrap();
    let suite = t.join("suite.toml");
    std::fs::write(
        &suite,
        format!(
            "ranks = [2]\nwarmup = 0\nrepeats = 1\n\
             [[matrix]]\nsource = \"generated\"\nrows = 8\ncols = 6\nspectrum = {{ kind = \"polynomial\", power = 1.0 }}\n\
             [[matrix]]\nsource = \"files\"\npath = {:?}\n\
             [[method]]\nplugin = \"svd\"\n",
            t.join("vector.npy")
        ),
    )
    .unwrap();
    let out = t.join("reports");
    let (ok, stdout, err) = lab(&[
        "run",
        suite.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok, "a run with an error row must fail: {err}");
    assert!(err.contains("1 row(s) of the report"), "{err}");
    assert!(err.contains("vector.npy"), "the row is named: {err}");
    assert!(!err.contains("panicked"), "{err}");
    // The report is complete: the good matrix's row and the error row.
    let dir = std::fs::read_dir(out.join("suite"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let results = std::fs::read_to_string(dir.join("results.csv")).unwrap();
    assert_eq!(results.lines().count(), 3, "{results}");
    assert!(dir.join("summary.md").exists());
    let _ = stdout;
}
