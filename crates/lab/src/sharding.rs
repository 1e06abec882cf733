//! `lab run SUITE --shard I/N` (with `--dry-run`: the shard's plan) and
//! `lab merge DIR… --out DIR`; the scheme is `harness::runner::shard`'s and
//! `harness::merge`'s docs, the Slurm recipe README's "On a Slurm cluster".

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use harness::runner::shard::{Part, Phase, ShardSpec};
use harness::runner::{self, HeapProbe};

/// The sharding options of `lab run`.
#[derive(clap::Args, Clone, Default)]
pub struct ShardArgs {
    /// Run only shard I of N (1 ≤ I ≤ N) of the suite's work, balanced by
    /// predicted cost, and write a partial report for `lab merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<ShardSpec>,
    /// For a suite whose matrices are recorded by its training runs: `train`
    /// (the training runs), then `matrices` (the rows, with --trained).
    #[arg(long, requires = "shard")]
    pub phase: Option<Phase>,
    /// The matrices phase: the merged report of the training phase (or
    /// every training shard's report directory).
    #[arg(long, value_name = "DIR", num_args = 1.., requires = "shard")]
    pub trained: Vec<PathBuf>,
}

impl ShardArgs {
    /// Refuses --phase and --trained without --shard (clap's `requires`
    /// already does; this names the fix when called without clap).
    pub fn refuse_without_shard(&self) -> Result<()> {
        if self.shard.is_none() && (self.phase.is_some() || !self.trained.is_empty()) {
            bail!("--phase and --trained go with --shard I/N");
        }
        Ok(())
    }
}

/// The options of `lab merge`.
#[derive(clap::Args)]
pub struct MergeArgs {
    /// Each shard's report directory, or an --out folder holding them.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// The merged report's directory (new, or empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Compare the merged figures with this report's (an unsharded run of
    /// the same suite), timings aside; fail if any differs.
    #[arg(long, value_name = "DIR")]
    pub compare_with: Option<PathBuf>,
}

/// The options of `lab compare`.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// A report directory (e.g. the merged one).
    pub a: PathBuf,
    /// Another (e.g. an unsharded run's).
    pub b: PathBuf,
    /// Print the accuracy figures of this many rows of each side by side.
    #[arg(long, default_value_t = 0)]
    pub show: usize,
}

/// `lab run SUITE --shard I/N [--phase P] [--trained DIR…] [--dry-run]`.
pub fn run(
    path: &Path,
    args: &ShardArgs,
    dry_run: bool,
    out: &Path,
    heap: &'static dyn HeapProbe,
) -> Result<()> {
    let registry = lab::registry()?;
    let suite = harness::suite::Suite::load(path, &registry)?;
    let spec = args.shard.expect("called with --shard");
    let phase = args.phase.unwrap_or_default();
    let part = Part::of(&suite, spec, phase).map_err(anyhow::Error::msg)?;
    match (phase, args.trained.is_empty()) {
        (Phase::Matrices, true) if !dry_run => bail!(
            "--phase matrices reads the training phase: give --trained <the merged training \
             report> (lab merge of the --phase train shards)"
        ),
        (Phase::All | Phase::Train, false) => {
            bail!("--trained goes with --phase matrices only")
        }
        _ => {}
    }
    if dry_run {
        print_plan(&suite, &part);
        return Ok(());
    }
    let trained = if phase == Phase::Matrices {
        runner::trained::read(&suite, &args.trained)?
    } else {
        (Vec::new(), Vec::new())
    };
    eprintln!(
        "suite {}: shard {spec} (phase {phase}): {} item(s), predicted {:.0} s",
        suite.name,
        part.planned.len(),
        part.seconds()
    );
    let opts = runner::RunOptions {
        root: out.into(),
        heap: Some(heap),
        progress: true,
    };
    let output = harness::run::run_shard(&suite, &registry, &opts, &part, trained)?;
    eprintln!(
        "{} rows; partial report: {} (merge with `lab merge`)",
        output.rows.len(),
        output.dir.display()
    );
    println!("{}", output.dir.display());
    Ok(())
}

/// The shard's plan: its items with their predicted cost, then one line
/// scripts read (`plan: … seconds=S bytes=B`).
fn print_plan(suite: &harness::suite::Suite, part: &Part) {
    println!(
        "suite {} ({}): shard {} phase {}: {} item(s)",
        suite.name,
        suite.path.display(),
        part.spec,
        part.phase,
        part.planned.len()
    );
    for p in &part.planned {
        println!(
            "  {:<60} {:>9.2} s {:>10.1} MiB",
            p.item.describe(suite),
            p.seconds,
            p.bytes as f64 / (1u64 << 20) as f64
        );
    }
    println!(
        "plan: shard={} phase={} items={} seconds={:.0} bytes={}",
        part.spec,
        part.phase,
        part.planned.len(),
        part.seconds().ceil(),
        part.bytes()
    );
}

/// `lab merge DIR… --out DIR [--compare-with DIR]`.
pub fn merge(args: &MergeArgs) -> Result<()> {
    let registry = lab::registry()?;
    let merged = harness::merge::merge(&args.dirs, &args.out, &registry)?;
    eprintln!(
        "merged {} shard report(s) into {}: {} rows, {} training run(s), files {}",
        merged.shards.len(),
        merged.dir.display(),
        merged.rows.len(),
        merged.trainings.len(),
        merged.files.join(", ")
    );
    if let Some(other) = &args.compare_with {
        same_figures(&merged.dir, other)?;
    }
    println!("{}", merged.dir.display());
    Ok(())
}

/// `lab compare A B [--show K]`.
pub fn compare(args: &CompareArgs) -> Result<()> {
    if args.show > 0 {
        let (ra, rb) = (
            harness::merge::read_rows(&args.a)?,
            harness::merge::read_rows(&args.b)?,
        );
        println!(
            "{:<22} {:<20} {:>4} {:>17} {:>22} {:>22}",
            "matrix", "method", "k", "status", "err_fro (A)", "err_fro (B)"
        );
        let fig = |x: Option<f64>| x.map_or("-".to_string(), |v| v.to_string());
        for (a, b) in ra.iter().zip(&rb).take(args.show) {
            println!(
                "{:<22} {:<20} {:>4} {:>17} {:>22} {:>22}",
                a.matrix,
                a.method,
                a.rank,
                format!("{}/{}", a.status, b.status),
                fig(a.err_fro),
                fig(b.err_fro)
            );
        }
    }
    same_figures(&args.a, &args.b)
}

/// Fails naming the cells where `a` and `b` differ, timings aside.
fn same_figures(a: &Path, b: &Path) -> Result<()> {
    let (diffs, cells) = harness::merge::compare::compare(a, b, 20)?;
    if !diffs.is_empty() {
        bail!(
            "{} differs from {} (timings aside):\n  {}",
            a.display(),
            b.display(),
            diffs.join("\n  ")
        );
    }
    eprintln!(
        "same figures: {} and {}, {cells} cells of every CSV compared exactly, timings aside",
        a.display(),
        b.display()
    );
    Ok(())
}
