//! Captures, at build time, what a run records about its build: the rustc
//! version (`$RUSTC --version`) and the git commit (`git rev-parse --short
//! HEAD`, with `-dirty` when `git status --porcelain` lists anything; `unknown`
//! outside a git checkout or without git). The commit is refreshed when HEAD,
//! the current branch or the index changes; edits not yet staged or built
//! since leave the `-dirty` mark as it was at the last build of this crate.

use std::path::Path;
use std::process::Command;

fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = run(&rustc, &["--version"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=HARNESS_RUSTC_VERSION={version}");

    let commit = match run("git", &["rev-parse", "--short", "HEAD"]) {
        Some(hash) if !hash.is_empty() => {
            let dirty = run("git", &["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
            format!("{hash}{}", if dirty { "-dirty" } else { "" })
        }
        _ => "unknown".to_owned(),
    };
    println!("cargo:rustc-env=HARNESS_GIT_COMMIT={commit}");

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC");
    if let Some(git_dir) = run("git", &["rev-parse", "--absolute-git-dir"]) {
        let mut watch = vec![format!("{git_dir}/HEAD"), format!("{git_dir}/index")];
        if let Some(branch) = run("git", &["symbolic-ref", "-q", "HEAD"]) {
            watch.push(format!("{git_dir}/{branch}"));
        }
        for path in watch.into_iter().filter(|p| Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
