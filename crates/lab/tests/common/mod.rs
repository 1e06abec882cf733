//! Running the `lab` binary from the integration tests.

#![allow(dead_code)] // each test binary uses its own part

use std::process::Command;

/// A `lab` command to add args, env or a working directory to.
pub fn lab_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lab"))
}

/// Runs `cmd`: (exit status success, stdout, stderr).
pub fn output(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run lab");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `lab ARGS…` in the test's working directory.
pub fn lab(args: &[&str]) -> (bool, String, String) {
    output(lab_cmd().args(args))
}
