//! The gate cannot be switched off by its own input: a baseline that holds
//! a run to nothing (NaN or infinite tolerances, negative tolerances, NaN
//! values, no figures, the wrong columns, names the suite does not run) is
//! an error naming the file, the line, the field and the fix; a verdict that
//! compared zero figures fails.

use std::path::Path;

use harness::baseline::Baseline;
use harness::check;
use harness::records::Row;
use harness::suite::Suite;
use subspace::Registry;

fn suite() -> Suite {
    let mut r = Registry::new();
    r.register::<svd::Svd>().unwrap();
    r.register::<rrf::Rrf>().unwrap();
    let text = r#"
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
    Suite::parse(Path::new("suites/t.toml"), text, &r).unwrap()
}

const HEADER: &str = "matrix,method,params,rank,metric,value,rel_tol,abs_tol\n";
/// Line 2.
const SVD: &str = "exp0.3-30x20,svd,,2,err_fro,1.0,0.001,1e-6\n";
/// Line 3.
const RRF: &str =
    "exp0.3-30x20,rrf[power_iters=0],oversample=5 power_iters=0,4,err_fro,1.0,0.001,1e-6\n";

/// Writes `text` as baseline.csv in a fresh directory.
fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baseline.csv");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// The error of reading `text` (through the gate's reader, as before
/// validation existed), with every `needle` in it.
#[track_caller]
fn refused(text: &str, needles: &[&str]) {
    let (_dir, path) = file(text);
    let err = match check::read_baseline(&path) {
        Ok(entries) => panic!("accepted {} figure(s) of:\n{text}", entries.len()),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("baseline.csv"), "{err}");
    assert!(err.contains("lab check --update"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
}

#[test]
fn a_good_baseline_reads_with_its_lines_and_fits_the_suite() {
    let (_dir, path) = file(&format!("{HEADER}{SVD}{RRF}"));
    let b = Baseline::read(&path).unwrap();
    assert_eq!(b.lines, [2, 3]);
    b.check_suite(&suite()).unwrap();
}

#[test]
fn non_finite_or_negative_tolerances_name_the_line_and_field() {
    for (tol, shown) in [
        ("NaN", "NaN"),
        ("inf", "inf"),
        ("-inf", "-inf"),
        ("-0.001", "-0.001"),
    ] {
        let rel = RRF.replace(",0.001,1e-6", &format!(",{tol},1e-6"));
        refused(
            &format!("{HEADER}{SVD}{rel}"),
            &[
                &format!("line 3: rel_tol is {shown}"),
                "finite non-negative",
            ],
        );
        let abs = SVD.replace(",1e-6", &format!(",{tol}"));
        refused(
            &format!("{HEADER}{abs}{RRF}"),
            &[
                &format!("line 2: abs_tol is {shown}"),
                "finite non-negative",
            ],
        );
    }
}

#[test]
fn non_finite_values_name_the_line() {
    for v in ["NaN", "inf"] {
        let bad = RRF.replace(",1.0,", &format!(",{v},"));
        refused(
            &format!("{HEADER}{SVD}{bad}"),
            &[&format!("line 3: value is {v}"), "finite number"],
        );
    }
}

#[test]
fn a_baseline_without_figures_is_refused() {
    refused(HEADER, &["no figures"]);
    refused("", &["line 1: the header is ``"]);
}

#[test]
fn the_wrong_columns_are_refused_at_line_1() {
    let swapped = HEADER.replace("rel_tol,abs_tol", "abs_tol,rel_tol");
    refused(
        &format!("{swapped}{SVD}"),
        &["line 1: the header is `matrix,method,params,rank,metric,value,abs_tol,rel_tol`"],
    );
    let fewer = "matrix,method,params,rank,metric,value\nm,svd,,2,err_fro,1.0\n";
    refused(fewer, &["line 1: the header"]);
}

#[test]
fn names_the_suite_does_not_run_are_refused_before_the_run() {
    let s = suite();
    let check = |text: &str| {
        let (_dir, path) = file(text);
        let err = Baseline::read(&path)
            .unwrap()
            .check_suite(&s)
            .expect_err(text);
        format!("{err:#}")
    };
    let err = check(&format!(
        "{HEADER}{SVD}{}",
        RRF.replace("rrf[power_iters=0]", "rrff")
    ));
    assert!(
        err.contains("line 3: method `rrff` is not a method of suite suites/t.toml")
            && err.contains("svd, rrf[power_iters=0], rrf[power_iters=1]"),
        "{err}"
    );
    let err = check(&format!("{HEADER}{}{RRF}", SVD.replace(",2,", ",3,")));
    assert!(err.contains("line 2: rank 3 is not a rank"), "{err}");
    let err = check(&format!(
        "{HEADER}{SVD}{}",
        RRF.replace("oversample=5", "oversample=6")
    ));
    assert!(
        err.contains("line 3: params `oversample=6 power_iters=0`"),
        "{err}"
    );
    let err = check(&format!("{HEADER}{}{RRF}", SVD.replace("exp0.3", "exp0.4")));
    assert!(
        err.contains("line 2: matrix `exp0.4-30x20` is not a matrix of suite")
            && err.contains("lab check --update"),
        "{err}"
    );
}

#[test]
fn a_matrix_the_run_did_not_measure_is_refused_after_the_run() {
    let s = suite();
    let (_dir, path) = file(&format!("{HEADER}{SVD}{RRF}"));
    let b = Baseline::read(&path).unwrap();
    let mut row = Row::new(&s, "weights:w1".into(), "weights.safetensors".into());
    row.method = "svd".into();
    let err = format!("{:#}", b.check_matrices(&[row.clone()]).unwrap_err());
    assert!(
        err.contains("line 2: matrix `exp0.3-30x20` is not a matrix the suite measured")
            && err.contains("weights:w1"),
        "{err}"
    );
    row.matrix = "exp0.3-30x20".into();
    b.check_matrices(&[row]).unwrap();
}

#[test]
fn a_gate_that_compared_zero_figures_fails() {
    let v = check::check(&[], &[]);
    assert!(!v.passed());
    let table = check::render(&v);
    assert!(
        table.starts_with("accuracy gate: FAIL (compared zero figures")
            && table.contains("lab check --update"),
        "{table}"
    );
}
