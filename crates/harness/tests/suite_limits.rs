//! A suite asks only what this machine can hold and run: generated matrices
//! and training runs over the memory budget, and thread counts above the
//! logical cores, are refused at validation (so `--dry-run` refuses them),
//! naming the entry, the bytes, the budget and the fix. Fixed limits keep
//! the tests independent of the machine; nothing large is allocated.

use std::path::Path;

use harness::suite::{Limits, Suite, generated_bytes};
use subspace::Registry;
use subspace::budget::MemoryBudget;

fn registry() -> Registry {
    let mut r = Registry::new();
    r.register::<svd::Svd>().unwrap();
    r
}

fn limits(budget: usize, cores: usize) -> Limits {
    Limits {
        budget: MemoryBudget::fixed(budget, "test budget"),
        cores,
    }
}

fn parse(text: &str, limits: &Limits) -> Result<Suite, String> {
    Suite::parse_with_limits(Path::new("suites/t.toml"), text, &registry(), limits)
        .map_err(|e| e.to_string())
}

fn generated(rows: &str, cols: &str, threads: &str) -> String {
    format!(
        "threads = {threads}\nranks = [2]\n[[matrix]]\nsource = \"generated\"\nname = \"big\"\n\
         rows = {rows}\ncols = {cols}\nspectrum = {{ kind = \"flat\" }}\n[[method]]\nplugin = \"svd\"\n"
    )
}

#[test]
fn a_generated_matrix_over_the_budget_is_refused() {
    let fits = generated_bytes(30, 20).unwrap();
    parse(&generated("30", "20", "[1]"), &limits(fits, 1)).unwrap();

    let err = parse(&generated("30", "21", "[1]"), &limits(fits, 1)).unwrap_err();
    assert!(err.starts_with("suite suites/t.toml:"), "{err}");
    assert!(err.contains("[[matrix]] #1 (\"big\", 30×21)"), "{err}");
    assert!(err.contains("over the memory budget"), "{err}");
    assert!(err.contains("test budget"), "{err}");
    assert!(err.contains("use fewer rows or cols"), "{err}");

    // 10⁸ × 10⁸: 4·10¹⁶ bytes for the f32 matrix alone.
    let err = parse(
        &generated("100000000", "100000000", "[1]"),
        &limits(1 << 40, 1),
    )
    .unwrap_err();
    assert!(err.contains("100000000×100000000"), "{err}");
    assert!(err.contains("needs"), "{err}");
    // 2⁶² × 8 (TOML integers stop at 2⁶³ − 1): the bytes overflow usize,
    // refused even under an unlimited budget, no panic.
    let err = parse(
        &generated("4611686018427387904", "8", "[1]"),
        &limits(usize::MAX, 1),
    )
    .unwrap_err();
    assert!(err.contains("4611686018427387904×8"), "{err}");
    assert!(err.contains("overflows"), "{err}");
}

#[test]
fn threads_above_the_cores_are_refused() {
    let text = generated("30", "20", "[1, 4]");
    parse(&text, &limits(usize::MAX, 4)).unwrap();
    let err = parse(&text, &limits(usize::MAX, 2)).unwrap_err();
    assert!(
        err.contains("`threads` = 4 exceeds this machine's 2 logical cores"),
        "{err}"
    );
    let err = parse(&generated("30", "20", "[10000]"), &limits(usize::MAX, 16)).unwrap_err();
    assert!(err.contains("`threads` = 10000"), "{err}");
}

const TRAIN: &str = r#"
[train]
preset = "tiny"
steps = 1
seq_len = 16
[[stage]]
name = "s"
[[run]]
optimizer = "adamw"
batch_size = BATCH
"#;

#[test]
fn a_training_run_over_the_budget_is_refused() {
    let small = TRAIN.replace("BATCH", "2");
    let budget = llama::session::estimate_bytes(
        &Suite::parse_with_limits(
            Path::new("suites/t.toml"),
            &small,
            &registry(),
            &Limits::unlimited(),
        )
        .unwrap()
        .trainings[0]
            .config,
    )
    .unwrap()
    .unwrap()
    .total_bytes;
    parse(&small, &limits(budget, 1)).unwrap();
    let err = parse(&TRAIN.replace("BATCH", "100000"), &limits(budget, 1)).unwrap_err();
    assert!(err.contains("[[stage]] \"s\" × [[run]]"), "{err}");
    assert!(
        err.contains("batch_size = 100000, seq_len = 16 needs"),
        "{err}"
    );
    assert!(err.contains("use a smaller batch_size or seq_len"), "{err}");
    let err = parse(
        &TRAIN.replace("BATCH", "2\nthreads = 3"),
        &limits(budget, 2),
    )
    .unwrap_err();
    assert!(
        err.contains("`threads` = 3 exceeds this machine's 2 logical cores"),
        "{err}"
    );
}
