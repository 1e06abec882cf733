//! A run that stops on an error still closes its report: `run.json` says
//! "failed: <reason>" and `summary.md` names what finished and what did not.

use std::path::Path;

use harness::machine::Machine;
use harness::records::{Row, Status};
use harness::report::{self, ReportWriter, Stopped};
use harness::suite::Suite;
use subspace::Registry;

const SUITE: &str = r#"
ranks = [2]

[[matrix]]
source = "generated"
name = "first"
rows = 12
cols = 8
spectrum = { kind = "exponential", rate = 0.3 }

[[matrix]]
source = "generated"
name = "second"
rows = 12
cols = 8
spectrum = { kind = "exponential", rate = 0.3 }

[[method]]
plugin = "svd"
"#;

#[test]
fn a_failed_run_closes_its_report_with_the_reason_and_what_did_not_finish() {
    let mut registry = Registry::new();
    registry.register::<svd::Svd>().unwrap();
    let suite = Suite::parse(Path::new("suites/stop.toml"), SUITE, &registry).unwrap();
    let root = tempfile::tempdir().unwrap();
    let machine = Machine::probe(1);
    let meter = harness::power::detect(root.path());
    let mut writer = ReportWriter::create(root.path(), &suite, &machine, &meter, &[]).unwrap();
    let row = Row::new(&suite, "first".into(), "generated".into())
        .with_status(Status::Error, "a row that ran".into());
    writer.row(&row).unwrap();
    let header = report::run_header(writer.dir(), &suite, &machine, &meter);
    let stopped = Stopped {
        reason: "reference SVD of second: it broke".into(),
        unfinished: vec!["matrix second".into()],
    };
    let dir = writer.fail(&stopped.reason).unwrap();
    report::write_summary(&dir, &suite, &header, &[row], &[], Some(&stopped)).unwrap();

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        json["status"], "failed: reference SVD of second: it broke",
        "{json}"
    );
    assert!(json["finished"].is_string(), "{json}");
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains("**This run stopped early**"), "{summary}");
    let tail = &summary[summary
        .find("## Stopped early")
        .expect("a Stopped early section")..];
    assert!(
        tail.contains("Reason: reference SVD of second: it broke"),
        "{tail}"
    );
    let (finished, not) = tail.split_at(tail.find("Not finished").expect("a Not finished list"));
    assert!(finished.contains("- matrix first: 1 row(s)"), "{tail}");
    assert!(
        not.contains("- matrix second") && !not.contains("first"),
        "{tail}"
    );
}

#[test]
fn a_complete_run_has_no_stopped_section() {
    let mut registry = Registry::new();
    registry.register::<svd::Svd>().unwrap();
    let suite = Suite::parse(Path::new("suites/stop.toml"), SUITE, &registry).unwrap();
    let root = tempfile::tempdir().unwrap();
    let machine = Machine::probe(1);
    let meter = harness::power::detect(root.path());
    let writer = ReportWriter::create(root.path(), &suite, &machine, &meter, &[]).unwrap();
    let header = report::run_header(writer.dir(), &suite, &machine, &meter);
    let dir = writer.finish().unwrap();
    report::write_summary(&dir, &suite, &header, &[], &[], None).unwrap();
    let json = std::fs::read_to_string(dir.join("run.json")).unwrap();
    assert!(json.contains("\"status\": \"complete\""), "{json}");
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(!summary.contains("stopped early"), "{summary}");
}
