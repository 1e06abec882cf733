//! The `lab` binary: listing, and clear errors for unknown names and keys.

use std::process::Command;

fn lab(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .output()
        .expect("run lab");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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
