//! `lab run --shard`, `lab merge` and `lab compare` from the command line:
//! the shards' plans cover the suite once, a sharded run merges to the
//! unsharded one's figures, and bad requests are refused with the fix.

use std::collections::BTreeSet;
use std::path::Path;
mod common;

use common::{lab_cmd, output};

fn lab(args: &[&str]) -> (bool, String, String) {
    output(
        lab_cmd()
            .args(args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")),
    )
}

#[test]
fn the_dry_run_plans_of_three_shards_cover_the_quick_suite_once() {
    let mut items = Vec::new();
    for i in 1..=3 {
        let (ok, out, err) = lab(&[
            "run",
            "suites/quick.toml",
            "--dry-run",
            "--shard",
            &format!("{i}/3"),
        ]);
        assert!(ok, "{err}");
        let plan = out.lines().find(|l| l.starts_with("plan: ")).unwrap();
        assert!(
            plan.starts_with(&format!("plan: shard={i}/3 phase=all items=")),
            "{plan}"
        );
        let secs: f64 = plan
            .split("seconds=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let bytes: u64 = plan.split("bytes=").nth(1).unwrap().trim().parse().unwrap();
        assert!(secs > 0.0 && bytes > 0, "{plan}");
        items.extend(
            out.lines()
                .filter(|l| l.starts_with("  rows "))
                .map(|l| l.split("  ").nth(1).unwrap().trim().to_string()),
        );
    }
    // 3 matrices × 6 methods × 2 ranks × 1 thread count, each once.
    let unique: BTreeSet<&String> = items.iter().collect();
    assert_eq!((items.len(), unique.len()), (36, 36));
}

#[test]
fn bad_shard_requests_are_refused_with_the_fix() {
    let (ok, _, err) = lab(&["run", "suites/quick.toml", "--shard", "0/3"]);
    assert!(!ok && err.contains("write I/N"), "{err}");
    let (ok, _, err) = lab(&[
        "run",
        "suites/quick.toml",
        "--shard",
        "1/3",
        "--phase",
        "train",
        "--dry-run",
    ]);
    assert!(!ok && err.contains("leave out --phase train"), "{err}");
    let (ok, _, err) = lab(&["run", "suites/quick.toml", "--phase", "train"]);
    assert!(!ok && err.contains("--shard"), "{err}");
    let (ok, _, err) = lab(&["merge", "/nonexistent/shard", "--out", "/tmp/never"]);
    assert!(!ok && err.contains("/nonexistent/shard"), "{err}");
}

#[test]
fn two_shards_run_merge_and_compare_equal_to_the_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let suite = t.join("s.toml");
    std::fs::write(
        &suite,
        "warmup = 0\nrepeats = 1\nranks = [2, 5]\n\
         [[matrix]]\nsource = \"generated\"\nrows = 20\ncols = 30\n\
         spectrum = { kind = \"polynomial\", power = 1.0 }\n\
         [[method]]\nplugin = \"svd\"\n[[method]]\nplugin = \"rrf\"\n",
    )
    .unwrap();
    let s = suite.to_str().unwrap();
    let p = |name: &str| t.join(name).to_str().unwrap().to_string();
    let (ok, whole, err) = lab(&["run", s, "--out", &p("whole")]);
    assert!(ok, "{err}");
    for i in 1..=2 {
        let (ok, _, err) = lab(&[
            "run",
            s,
            "--shard",
            &format!("{i}/2"),
            "--out",
            &p(&format!("s{i}")),
        ]);
        assert!(ok, "{err}");
    }
    // Without shard 2: refused, naming it; nothing written.
    let (ok, _, err) = lab(&["merge", &p("s1"), "--out", &p("merged")]);
    assert!(!ok && err.contains("missing shard 2/2"), "{err}");
    assert!(!Path::new(&p("merged")).exists());
    let (ok, out, err) = lab(&[
        "merge",
        &p("s1"),
        &p("s2"),
        "--out",
        &p("merged"),
        "--compare-with",
        whole.trim(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), p("merged"));
    assert!(err.contains("same figures"), "{err}");
    let (ok, out, err) = lab(&["compare", &p("merged"), whole.trim(), "--show", "4"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1 + 4, "{out}");
    // A changed figure is caught.
    let results = t.join("merged/results.csv");
    let text = std::fs::read_to_string(&results).unwrap();
    let line = text.lines().nth(1).unwrap().to_string();
    let changed = line.replacen(",ok,", ",error,", 1);
    assert_ne!(line, changed);
    std::fs::write(&results, text.replacen(&line, &changed, 1)).unwrap();
    let (ok, _, err) = lab(&["compare", &p("merged"), whole.trim()]);
    assert!(!ok && err.contains("row 1 column status"), "{err}");
}
