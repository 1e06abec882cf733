//! `lab report DIR` (`harness::report::rerender`): a report rendered again
//! from its own files is the report the run wrote, byte for byte; a
//! directory that is not a report, or whose suite changed, is refused.

use harness::report;
use harness::run;
use harness::runner::RunOptions;
use harness::suite::Suite;

const SUITE: &str = r#"
ranks = [4, 8]
[[matrix]]
source = "generated"
name = "poly-60x40"
rows = 60
cols = 40
spectrum = { kind = "polynomial", power = 1.0 }
[[method]]
plugin = "svd"
[[method]]
plugin = "rrf"
params = { power_iters = [0, 1] }
"#;

fn registry() -> subspace::Registry {
    let mut registry = subspace::Registry::new();
    registry.register::<svd::Svd>().unwrap();
    registry.register::<rrf::Rrf>().unwrap();
    registry
}

#[test]
fn a_report_rendered_again_is_the_report_the_run_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let suite_path = tmp.path().join("r.toml");
    std::fs::write(&suite_path, SUITE).unwrap();
    let registry = registry();
    let suite = Suite::load(&suite_path, &registry).unwrap();
    let opts = RunOptions {
        root: tmp.path().join("reports"),
        heap: None,
        progress: false,
    };
    let out = run::run(&suite, &registry, &opts).unwrap();
    let read = |dir: &std::path::Path, f: &str| std::fs::read_to_string(dir.join(f)).unwrap();

    let again = tmp.path().join("again");
    let written = report::rerender(&out.dir, Some(&again), &registry).unwrap();
    assert_eq!(written, again);
    for f in ["summary.md", "details.md", "index.html"] {
        assert_eq!(read(&out.dir, f), read(&again, f), "{f} differs");
    }
    // In place, too (the default).
    std::fs::remove_file(out.dir.join("index.html")).unwrap();
    report::rerender(&out.dir, None, &registry).unwrap();
    assert_eq!(read(&out.dir, "index.html"), read(&again, "index.html"));

    // --out holding files is refused, writing nothing.
    let err = report::rerender(&out.dir, Some(&again), &registry).unwrap_err();
    assert!(
        format!("{err:#}").contains("already holds files"),
        "{err:#}"
    );
    // Not a report.
    let err = report::rerender(tmp.path(), None, &registry).unwrap_err();
    assert!(format!("{err:#}").contains("is not a report"), "{err:#}");
    // The suite changed since the run.
    std::fs::write(&suite_path, SUITE.replace("[4, 8]", "[4]")).unwrap();
    let err = report::rerender(&out.dir, Some(&tmp.path().join("x")), &registry).unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("changed since the report was written"),
        "{err}"
    );
}
