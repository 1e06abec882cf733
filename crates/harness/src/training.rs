//! Training runs, for `lab train` and a suite's `[[train]]` entries: a
//! [`llama::session::Session`] with a progress bar (tokens/s, loss, ETA).
//! A run never clobbers another: [`new_run_dir`] names a new directory per
//! run, and the session refuses an out dir holding a run unless resuming.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use llama::session::{Session, StepRow, TrainConfig, TrainSummary};
use subspace::Registry;

/// Trains `config` (or resumes from the checkpoint directory `resume`),
/// writing into `out`, with a progress bar on a terminal when `progress`.
/// A run over the memory budget (`llama::session::check_budget`) or with
/// more `threads` than logical cores is refused before anything is
/// allocated or written; a resumed one is checked with its checkpoint's
/// config.
pub fn train(
    config: TrainConfig,
    registry: &Registry,
    out: &Path,
    resume: Option<&Path>,
    progress: bool,
) -> anyhow::Result<TrainSummary> {
    run(config, registry, out, resume, progress, |_| {})
}

/// [`train`] without resuming, calling `observe` after every step.
pub fn train_observed(
    config: TrainConfig,
    registry: &Registry,
    out: &Path,
    progress: bool,
    observe: impl FnMut(&StepRow) + Send,
) -> anyhow::Result<TrainSummary> {
    run(config, registry, out, None, progress, observe)
}

fn run(
    config: TrainConfig,
    registry: &Registry,
    out: &Path,
    resume: Option<&Path>,
    progress: bool,
    mut observe: impl FnMut(&StepRow) + Send,
) -> anyhow::Result<TrainSummary> {
    let session = match resume {
        Some(dir) => resume_session(dir, registry, out)?,
        None => {
            check_machine(&config)?;
            Session::new(config, registry, out)?
        }
    };
    let steps = session.config.steps;
    let tokens_per_step = (session.config.batch_size * session.config.seq_len) as f64;
    let bar = bar(progress, steps as u64, session.label());
    bar.set_position(session.next_step() as u64);
    let summary = session.run(|row| {
        let step_seconds =
            row.seconds_forward + row.seconds_backward + row.seconds_subspace + row.seconds_update;
        bar.set_message(format!(
            "loss {:.3}{} | {:.0} tok/s",
            row.train_loss,
            row.eval_loss
                .map_or(String::new(), |e| format!(" (held-out {e:.3})")),
            tokens_per_step / step_seconds.max(1e-9),
        ));
        bar.inc(1);
        observe(row);
    });
    bar.finish_and_clear();
    Ok(summary?)
}

/// The session resuming the checkpoint directory `checkpoint` into `out`,
/// its config (the checkpoint's) checked against the memory budget and the
/// cores before the checkpoint is loaded; errors name the checkpoint.
pub fn resume_session(
    checkpoint: &Path,
    registry: &Registry,
    out: &Path,
) -> anyhow::Result<Session> {
    let context = || format!("cannot resume from {}", checkpoint.display());
    let config = llama::session::checkpoint::checkpoint_config(checkpoint).with_context(context)?;
    check_machine(&config).with_context(context)?;
    Session::resume(checkpoint, registry, out).with_context(context)
}

/// Refuses a run over the memory budget or with more `threads` than logical
/// cores, before anything is allocated or written.
fn check_machine(config: &TrainConfig) -> anyhow::Result<()> {
    let budget = subspace::budget::MemoryBudget::from_machine().map_err(anyhow::Error::msg)?;
    llama::session::check_budget(config, &budget)?;
    let cores = subspace::budget::logical_cores();
    if config.threads > cores {
        anyhow::bail!(
            "training config, field `threads`: {} exceeds this machine's {cores} logical cores; \
             use at most {cores} (0 = all cores)",
            config.threads
        );
    }
    Ok(())
}

/// A directory for a new run under `root`, never an existing one:
/// `<root>/<label>-<timestamp>` (UTC, as a suite report's), `-2`, `-3`, …
/// on a clash; a character of `label` outside `[A-Za-z0-9._=,-]` becomes `_`.
pub fn new_run_dir(root: &Path, label: &str) -> PathBuf {
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=,-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (_, stamp) = crate::run_dir::utc_stamp();
    crate::run_dir::unused_dir(root, &format!("{label}-{stamp}"))
}

/// The run dir holding `checkpoint` (`<run>/checkpoints/step-N`), where a
/// resumed run writes by default.
pub fn run_dir_of(checkpoint: &Path) -> anyhow::Result<PathBuf> {
    let parent = checkpoint.parent().filter(|p| p.ends_with("checkpoints"));
    match parent.and_then(Path::parent) {
        Some(run) if run.as_os_str().is_empty() => Ok(PathBuf::from(".")),
        Some(run) => Ok(run.to_path_buf()),
        None => anyhow::bail!(
            "{} is not a <run>/checkpoints/step-N directory; name the run dir to write with --out",
            checkpoint.display()
        ),
    }
}

fn bar(enabled: bool, len: u64, label: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{prefix} {bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(label.to_string());
    bar
}
