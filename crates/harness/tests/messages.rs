//! An I/O failure reading a suite says its cause once (in the message, not
//! also as an error `source`, so `lab`'s `{:#}` chain does not repeat it)
//! and the fix.

use std::path::Path;

use harness::suite::Suite;
use subspace::Registry;

#[test]
fn a_missing_suite_says_its_cause_once() {
    let path = Path::new("/nonexistent/suite.toml");
    let err = Suite::load(path, &Registry::new()).unwrap_err();
    let msg = format!("{:#}", anyhow::Error::new(err));
    assert_eq!(msg.matches("No such file or directory").count(), 1, "{msg}");
    assert!(msg.contains("/nonexistent/suite.toml"), "{msg}");
    assert!(msg.contains("check the path"), "{msg}");
}
