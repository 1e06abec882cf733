//! `engine = "torch"` in suites: validation before anything runs, labels,
//! the config handed to the Python entry point, and a run that cannot run
//! here reported unavailable with the fix (the runs that train through
//! PyTorch are tested by crates/python/tests/test_engine.py).

mod common;

use std::path::Path;

use common::{lab_cmd, output};
use harness::suite::{Engine, Suite, TorchOptimizer};

fn parse(runs: &str) -> Result<Suite, String> {
    let text = format!(
        "seed = 0\nthreads = [1]\nranks = [4]\n[[stage]]\nname = \"s\"\npreset = \"tiny\"\n\
         steps = 2\nbatch_size = 2\nseq_len = 16\n{runs}"
    );
    let registry = lab::registry().unwrap();
    Suite::parse(Path::new("t.toml"), &text, &registry).map_err(|e| e.to_string())
}

#[test]
fn torch_runs_are_validated_and_labelled() {
    let suite = parse(
        "[[run]]\nengine = \"torch\"\n\
         [[run]]\nengine = \"torch\"\noptimizer = \"galore-torch\"\nupdate_proj_gap = 1\n\
         [[run]]\nengine = \"torch\"\noptimizer = \"galore-torch\"\nplugin = \"rrf\"\n\
         plugin_params = { power_iters = 0 }\nupdate_proj_gap = 1\nalign = true\n\
         [[run]]\nengine = \"torch\"\noptimizer = \"apollo\"\ndevice = \"cuda\"\n\
         [[run]]\noptimizer = \"galore\"\nupdate_proj_gap = 1\n",
    )
    .unwrap();
    let labels: Vec<&str> = suite.trainings.iter().map(|j| j.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "torch-adamw",
            "galore-torch-T1",
            "galore-torch+rrf[power_iters=0]-T1-align",
            "apollo-T200",
            "galore-svd-T1"
        ]
    );
    let Engine::Torch(run) = &suite.trainings[2].engine else {
        panic!("a torch run")
    };
    assert_eq!(run.optimizer, TorchOptimizer::GaloreTorch);
    assert_eq!(run.plugin.as_deref(), Some("rrf"));
    assert_eq!(run.device, "cpu");
    let Engine::Torch(apollo) = &suite.trainings[3].engine else {
        panic!("a torch run")
    };
    assert_eq!(apollo.device, "cuda");
    assert_eq!(suite.trainings[4].engine, Engine::Lab);

    // Only the keys that differ from the lab's defaults reach Python.
    let json = harness::runner::torch::config_json(&suite.trainings[2], run).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "align",
            "batch_size",
            "device",
            "engine",
            "name",
            "optimizer",
            "plugin",
            "plugin_params",
            "preset",
            "seq_len",
            "steps",
            "update_proj_gap"
        ]
    );
    assert_eq!(json["optimizer"], "galore-torch");
    assert_eq!(json["plugin"], "rrf");
}

#[test]
fn keys_the_engine_cannot_honour_are_refused_by_name() {
    for (runs, message) in [
        (
            "[[run]]\ndevice = \"cuda\"\n",
            "device = \"cuda\" applies to engine = \"torch\"",
        ),
        (
            "[[run]]\noptimizer = \"galore-torch\"\n",
            "optimizer = \"galore-torch\" runs on engine = \"torch\"",
        ),
        (
            "[[run]]\nengine = \"jax\"\n",
            "engine = \"jax\"; use \"lab\" (the default) or \"torch\"",
        ),
        (
            "[[run]]\nengine = \"torch\"\noptimizer = \"galore\"\n",
            "optimizer = \"galore\" with engine = \"torch\"; use one of adamw, galore-torch, \
             apollo, q-galore",
        ),
        (
            "[[run]]\nengine = \"torch\"\noptimizer = \"apollo\"\nplugin = \"rrf\"\n",
            "`plugin` with optimizer = \"apollo\"",
        ),
        (
            "[[run]]\nengine = \"torch\"\noptimizer = \"galore-torch\"\nmoments = \"rotate\"\n",
            "`moments` with engine = \"torch\"",
        ),
        (
            "[[run]]\nengine = \"torch\"\noptimizer = \"galore-torch\"\nalign = true\n",
            "aligned bases need a LabProjector",
        ),
        (
            "[[run]]\nengine = \"torch\"\ndevice = \"tpu\"\n",
            "device = \"tpu\"; use \"cpu\" or \"cuda\"",
        ),
        (
            "[[run]]\nengine = \"torch\"\nrank = 4\n",
            "applies to optimizer galore only",
        ),
        (
            "[[run]]\nengine = \"torch\"\noptimizer = \"galore-torch\"\nplugin = \"nope\"\n",
            "unknown plugin `nope`",
        ),
    ] {
        let e = parse(runs).unwrap_err();
        assert!(e.contains(message), "{runs}: {e}");
        assert!(e.contains("[[run]] #1"), "{e}");
    }
}

#[test]
fn a_run_with_stages_trains_in_those_only() {
    let two = "[[stage]]\nname = \"t\"\npreset = \"tiny\"\nsteps = 1\n";
    let suite = parse(&format!(
        "{two}[[run]]\noptimizer = \"adamw\"\n[[run]]\nengine = \"torch\"\nstages = [\"s\"]\n"
    ))
    .unwrap();
    let ids: Vec<String> = suite.trainings.iter().map(|j| j.id()).collect();
    assert_eq!(ids, ["s/adamw", "s/torch-adamw", "t/adamw"]);
    let e = parse(&format!("{two}[[run]]\nstages = [\"u\"]\n")).unwrap_err();
    assert!(
        e.contains("stages = [\"u\"] is not a stage of the suite; its stages are s, t"),
        "{e}"
    );
    let e = parse("[[run]]\nstages = \"s\"\n").unwrap_err();
    assert!(e.contains("`stages` must be a non-empty array"), "{e}");
}

#[test]
fn a_torch_run_without_python_is_unavailable_and_the_others_run() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("t.toml");
    std::fs::write(
        &suite,
        "seed = 0\nthreads = [1]\nranks = [4]\n[[stage]]\nname = \"s\"\npreset = \"tiny\"\n\
         steps = 2\nbatch_size = 2\nseq_len = 16\n\
         [[run]]\noptimizer = \"adamw\"\n[[run]]\nengine = \"torch\"\n",
    )
    .unwrap();
    let (ok, _, err) = output(
        lab_cmd()
            .args(["run", suite.to_str().unwrap(), "--out"])
            .arg(dir.path().join("reports"))
            .env("GALORE_PYTHON", "/nonexistent/python"),
    );
    assert!(ok, "an unavailable run is not an error: {err}");
    let reports = dir.path().join("reports");
    let suite_dir = std::fs::read_dir(&reports)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let run_dir = std::fs::read_dir(suite_dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let json = run_dir.path().join("training.json");
    let outcomes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(outcomes[0]["status"], "ok");
    assert_eq!(outcomes[0]["engine"], "lab");
    assert_eq!(outcomes[1]["label"], "torch-adamw");
    assert_eq!(outcomes[1]["status"], "unavailable");
    let why = outcomes[1]["error"].as_str().unwrap();
    assert!(
        why.starts_with("unavailable: GALORE_PYTHON=/nonexistent/python is not a file")
            && why.contains("pip install './crates/python[torch,peers]'"),
        "{why}"
    );
}

#[test]
fn a_python_without_galore_lab_is_named_with_the_install_command() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // python3 without site-packages: galore_lab cannot be imported.
    let python = dir.path().join("python");
    std::fs::write(&python, "#!/bin/sh\nexec python3 -I -S \"$@\"\n").unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let suite = dir.path().join("t.toml");
    std::fs::write(
        &suite,
        "seed = 0\nthreads = [1]\nranks = [4]\n[[stage]]\nname = \"s\"\npreset = \"tiny\"\n\
         steps = 1\n[[run]]\nengine = \"torch\"\noptimizer = \"apollo\"\n",
    )
    .unwrap();
    let (ok, out, err) = output(
        lab_cmd()
            .args(["run", suite.to_str().unwrap(), "--dry-run"])
            .env("GALORE_PYTHON", &python),
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("engine torch (apollo on cpu): not estimated")
            && out.contains(&format!(
                "unavailable: galore_lab is not installed for {}: pip install \
                 './crates/python[torch,peers]'",
                python.display()
            )),
        "{out}"
    );
}
