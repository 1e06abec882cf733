//! `lab`: list, run and check subspace-method suites.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

mod dry_run;
mod estimate;
mod sharding;

#[global_allocator]
static HEAP: lab::heap::Counting = lab::heap::Counting::new();

#[derive(Parser)]
#[command(
    name = "lab",
    version,
    about = "galore-lab: which subspace method serves GaLore best"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every registered subspace-method plugin with its params and defaults.
    List {
        /// Show only this plugin.
        name: Option<String>,
    },
    /// Run one method once on a generated matrix and print its accuracy and time.
    Try(TryArgs),
    /// Run a suite and write its report under reports/<suite>/<timestamp>-<commit>/.
    Run {
        /// The suite file, e.g. suites/quick.toml.
        suite: PathBuf,
        /// Root directory of the reports.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
        /// Validate the suite and print what it would run, then stop
        /// (with --shard: that shard's plan, predicted time and memory).
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        shard: sharding::ShardArgs,
    },
    /// Merge the reports of a sharded suite's shards into one report.
    Merge(sharding::MergeArgs),
    /// Whether two reports hold the same figures, timings aside (a merged
    /// report against an unsharded run's); fails naming what differs.
    Compare(sharding::CompareArgs),
    /// Render a report's summary.md, details.md and index.html again from
    /// its own CSV and JSON files, rerunning nothing.
    Report {
        /// The report directory (one that `lab run` or `lab merge` wrote).
        dir: PathBuf,
        /// Write the three files into this new or empty directory instead
        /// of DIR.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Train a Llama with AdamW or GaLore-AdamW and write training.csv,
    /// memory.json, train.json, recorded gradients and checkpoints.
    Train(Box<TrainArgs>),
    /// The accuracy gate: run a suite and compare its accuracy with a baseline.
    Check {
        /// The suite file.
        #[arg(default_value = "suites/ci.toml")]
        suite: PathBuf,
        /// The baseline to compare with.
        #[arg(long, default_value = "ci/baseline.csv")]
        baseline: PathBuf,
        /// Write the baseline from this run instead of comparing (explicit, never a side effect).
        #[arg(long)]
        update: bool,
        /// Root directory of the reports.
        #[arg(long, default_value = "reports")]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct TryArgs {
    /// Plugin name (see `lab list`).
    method: String,
    /// Params as TOML, e.g. 'power_iters = 2, oversample = 5'.
    #[arg(long, default_value = "")]
    params: String,
    /// Matrix shape, MxN.
    #[arg(long, default_value = "512x1376")]
    shape: String,
    /// Rank k.
    #[arg(long, short, default_value_t = 128)]
    k: usize,
    /// Singular values σ_j = j^(-decay).
    #[arg(long, default_value_t = 1.0)]
    decay: f64,
    /// Seed for the matrix and the method.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads inside the call (1 = sequential).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The matrix from a file instead (a 2-D .npy, or a .safetensors holding
    /// one 2-D tensor), read as a suite's `files` source reads it;
    /// --shape and --decay are then unused.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Write the basis Q (m×k, float32, C order) to this .npy file.
    #[arg(long)]
    save_basis: Option<PathBuf>,
}

#[derive(clap::Args)]
struct TrainArgs {
    /// A TOML file with the run's table (the fields of a suite's [train]
    /// table); --set keys and the flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Sets one field of the run's table, e.g. `--set lr=0.001`,
    /// `--set seq_len=64`, `--set record_steps=[0,5]` (or a range
    /// `record_steps=10..20:2`); the value is read as
    /// TOML, a bare word as a string (repeatable; over --config, under the
    /// flags below). The keys are those of a suite's [train] table.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Output directory; one that holds a run is refused unless --resume.
    /// Default: a new reports/train/<label>-<timestamp>/, or with --resume
    /// the run dir that holds the checkpoint.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Resume from a checkpoint directory (…/checkpoints/step-N); its saved
    /// config is used and the other options are ignored.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Model preset: llama-60m, small or tiny.
    #[arg(long)]
    preset: Option<String>,
    /// adamw or galore.
    #[arg(long)]
    optimizer: Option<String>,
    /// GaLore's subspace plugin (see `lab list`).
    #[arg(long)]
    plugin: Option<String>,
    /// The plugin's params as TOML, e.g. 'power_iters = 0, oversample = 10'.
    #[arg(long)]
    params: Option<String>,
    #[arg(long)]
    steps: Option<usize>,
    /// Rayon threads (0 = all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::List { name } => list(name.as_deref()),
        Command::Try(args) => try_method(&args),
        Command::Run {
            suite,
            shard: shard @ sharding::ShardArgs { shard: Some(_), .. },
            dry_run,
            out,
        } => sharding::run(&suite, &shard, dry_run, &out, &HEAP),
        Command::Run {
            suite,
            out,
            dry_run: true,
            shard,
        } => {
            let _ = out;
            shard.refuse_without_shard()?;
            dry_run::dry_run(&suite)
        }
        Command::Run {
            suite, out, shard, ..
        } => {
            shard.refuse_without_shard()?;
            run_suite(&suite, &out).and_then(|output| errors_fail(&output))
        }
        Command::Merge(args) => sharding::merge(&args),
        Command::Compare(args) => sharding::compare(&args),
        Command::Report { dir, out } => {
            let registry = lab::registry()?;
            let written = harness::report::rerender(&dir, out.as_deref(), &registry)?;
            println!("{}", written.display());
            Ok(())
        }
        Command::Train(args) => train(&args),
        Command::Check {
            suite,
            baseline,
            update,
            out,
        } => check(&suite, &baseline, update, &out),
    }
}

fn list(only: Option<&str>) -> Result<()> {
    let registry = lab::registry()?;
    let entries = match only {
        Some(name) => vec![*registry.get(name)?],
        None => registry.entries().to_vec(),
    };
    for entry in &entries {
        let method = entry.build_default()?;
        let status = match method.availability() {
            Ok(()) => String::new(),
            Err(reason) => format!("  [unavailable: {reason}]"),
        };
        println!("{}  ({:?}){status}", entry.name, method.device());
        println!("    {}", entry.summary);
        let params = entry.params();
        if params.is_empty() {
            println!("    params: none");
        }
        for p in params {
            println!("    {} = {}", p.name, p.default);
            for line in p.doc.lines() {
                println!("        {}", line.trim());
            }
        }
        println!();
    }
    Ok(())
}

fn try_method(args: &TryArgs) -> Result<()> {
    use subspace::faer::Par;
    use subspace::generate::{Spectrum, with_spectrum};
    use subspace::metrics::accuracy;
    use subspace::reference::ReferenceSvd;

    let registry = lab::registry()?;
    // Accept "a = 1, b = 2" as well as one key per line.
    let params: toml::Table = args.params.replace(',', "\n").parse().with_context(|| {
        format!(
            "--params {:?} is not TOML (write e.g. 'power_iters = 2')",
            args.params
        )
    })?;
    let method = registry.build(&args.method, &params)?;
    let input = match &args.input {
        Some(path) => Some(load_input(path)?),
        None => None,
    };
    let (m, n) = match &input {
        Some(a) => a.shape(),
        None => parse_shape(&args.shape)?,
    };
    let budget = subspace::budget::MemoryBudget::from_machine().map_err(anyhow::Error::msg)?;
    let needed = subspace::budget::checked_sum(&[
        harness::suite::generated_bytes(m, n),
        subspace::budget::checked_bytes(&[m, args.k, 4]),
    ]);
    budget
        .check(
            format!(
                "--shape {m}x{n} -k {} (the matrix, its f64 reference SVD and the basis)",
                args.k
            ),
            needed,
        )
        .map_err(|e| anyhow::anyhow!("{e}; try a smaller --shape or -k"))?;
    let cores = subspace::budget::logical_cores();
    if args.threads > cores {
        bail!(
            "--threads {} exceeds this machine's {cores} logical cores; use at most {cores}",
            args.threads
        );
    }
    let a = match input {
        Some(a) => a,
        None => with_spectrum(m, n, Spectrum::Polynomial { power: args.decay }, args.seed),
    };
    // A suite row's call (harness::runner::measure): a fresh context with
    // the seed and the row's parallelism for its thread count.
    let par = harness::runner::calibrate::par(args.threads.max(1));
    let mut ctx = subspace::Context::new(args.seed).with_par(par);
    let start = std::time::Instant::now();
    let basis = method.left_basis(a.as_ref(), args.k, &mut ctx)?;
    let seconds = start.elapsed().as_secs_f64();
    if let Some(path) = &args.save_basis {
        save_npy(path, basis.q.as_ref())?;
    }
    let reference = ReferenceSvd::new(a.as_ref(), Par::Seq)?;
    let acc = accuracy(&reference, basis.q.as_ref(), Par::Seq)?;
    let matrix = match &args.input {
        Some(path) => path.display().to_string(),
        None => format!("σ_j = j^-{}", args.decay),
    };
    println!(
        "{} on {m}×{n} ({matrix}), k = {}, {} thread(s)",
        args.method, args.k, args.threads
    );
    println!(
        "  time      {:.3} ms (one call, includes first-touch effects)",
        seconds * 1e3
    );
    println!(
        "  flops     {:.3e} ({:.1} GFLOP/s)",
        basis.info.flops,
        basis.info.flops / seconds / 1e9
    );
    println!("  info      {:?}", basis.info);
    println!("  err_fro   {:.6}", acc.err_fro);
    println!("  err_spec  {:.6}", acc.err_spec);
    println!("  sin_theta {:.3e}", acc.sin_theta);
    println!("  energy    {:.6}", acc.energy);
    println!("  ortho     {:.3e}", acc.ortho);
    Ok(())
}

/// `--shape MxN`.
fn parse_shape(shape: &str) -> Result<(usize, usize)> {
    let Some((m, n)) = shape.split_once(['x', '×']) else {
        bail!("--shape {shape:?}: write MxN, e.g. 512x1376");
    };
    Ok((
        m.trim()
            .parse()
            .with_context(|| format!("--shape {shape:?}: rows"))?,
        n.trim()
            .parse()
            .with_context(|| format!("--shape {shape:?}: columns"))?,
    ))
}

/// `--input`: the one matrix of a file, as a `files` source loads it.
fn load_input(path: &Path) -> Result<subspace::faer::Mat<f32>> {
    let loaded = harness::source::load_file(path, &harness::source::Tensors::All, true)
        .with_context(|| format!("--input {}", path.display()))?;
    let mut matrices = loaded.matrices;
    if matrices.len() != 1 {
        bail!(
            "--input {} holds {} matrices; give a file with exactly one",
            path.display(),
            matrices.len()
        );
    }
    Ok(matrices.remove(0).matrix)
}

/// `--save-basis`: `q` as a float32 C-order .npy file.
fn save_npy(path: &Path, q: subspace::faer::MatRef<'_, f32>) -> Result<()> {
    use npyz::WriterBuilder;
    let (m, k) = q.shape();
    let file = std::fs::File::create(path)
        .with_context(|| format!("--save-basis {}: cannot create it", path.display()))?;
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[m as u64, k as u64])
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .with_context(|| format!("--save-basis {}", path.display()))?;
    w.extend((0..m).flat_map(|i| (0..k).map(move |j| q[(i, j)])))
        .and_then(|()| w.finish())
        .with_context(|| format!("--save-basis {}: write failed", path.display()))?;
    Ok(())
}

fn train(args: &TrainArgs) -> Result<()> {
    use llama::session::TrainConfig;
    let registry = lab::registry()?;
    let mut seeds = None;
    let c = if args.resume.is_some() {
        // The checkpoint's own config is used.
        TrainConfig::default()
    } else {
        let mut table = train_table(args)?;
        if let Some(v) = table.remove("seeds") {
            if table.contains_key("seed") {
                bail!("the training table sets both `seed` and `seeds`; keep one");
            }
            seeds = Some(
                harness::suite::seeds_of(v, "the training table (--config, --set)")
                    .map_err(anyhow::Error::msg)?,
            );
        }
        let keys: Vec<String> = table.keys().cloned().collect();
        TrainConfig::check_known(keys.iter().map(String::as_str))?;
        let c: TrainConfig = toml::Value::Table(table).try_into().with_context(|| {
            let from = args
                .config
                .as_ref()
                .map_or(String::new(), |p| format!("{} with ", p.display()));
            format!(
                "the training table ({from}--set and the flags) has a value of the wrong \
                     type; fix the key named below (e.g. --set lr=0.001; the keys and their \
                     types: llama::session::TrainConfig, or a suite's [train] table in README)"
            )
        })?;
        c.check_applies(keys.iter().map(String::as_str))?;
        c
    };
    let out = match (&args.out, &args.resume) {
        (Some(out), _) => out.clone(),
        (None, Some(checkpoint)) => harness::training::run_dir_of(checkpoint)?,
        (None, None) => harness::training::new_run_dir(Path::new("reports/train"), &c.label()),
    };
    let Some(seeds) = seeds else {
        let summary = harness::training::train(c, &registry, &out, args.resume.as_deref(), true)?;
        report_run(&summary);
        println!("{}", out.display());
        return Ok(());
    };
    // `seeds`: one training run per seed, in <out>/seed-<N>/.
    for seed in seeds {
        let mut c = c.clone();
        c.seed = seed;
        let dir = out.join(format!("seed-{seed}"));
        let summary = harness::training::train(c, &registry, &dir, None, true)?;
        report_run(&summary);
        println!("{}", dir.display());
    }
    Ok(())
}

/// A finished run's losses, times and memory, on stderr.
fn report_run(summary: &llama::session::TrainSummary) {
    let m = &summary.memory;
    let mb = |b: usize| b as f64 / 1e6;
    eprintln!(
        "{} (seed {}): {} steps, final loss {:.4}{}, {:.3} s/step (forward {:.3}, backward {:.3}, subspace {:.3}, update {:.3}), {:.0} tokens/s",
        summary.run,
        summary.config.seed,
        summary.steps,
        summary.final_train_loss,
        summary
            .final_eval_loss
            .map_or(String::new(), |e| format!(" (held-out {e:.4})")),
        summary.median_step_seconds,
        summary.median_seconds_forward,
        summary.median_seconds_backward,
        summary.median_seconds_subspace,
        summary.median_seconds_update,
        summary.tokens_per_second
    );
    eprintln!(
        "memory: weights {:.1} MB, gradients {:.1} MB, optimizer state {:.1} MB, activations {:.1} MB = {:.1} MB accounted; peak RSS {}; GaLore paper's bf16 estimate: weights {:.1} MB + states {:.1} MB",
        mb(m.weights_bytes),
        mb(m.gradient_bytes),
        mb(m.optimizer_state_bytes),
        mb(m.activation_bytes),
        mb(m.accounted_bytes),
        m.peak_rss_bytes
            .map_or(m.peak_rss_note.clone(), |b| format!(
                "{:.1} MB",
                b as f64 / 1e6
            )),
        mb(m.paper_bf16_weights_bytes),
        mb(m.paper_bf16_state_bytes)
    );
}

/// The run's table: --config's, then each --set, then the flags.
fn train_table(args: &TrainArgs) -> Result<toml::Table> {
    let mut table = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            text.parse::<toml::Table>()
                .with_context(|| format!("{}: not a TOML table", path.display()))?
        }
        None => toml::Table::new(),
    };
    for set in &args.set {
        let Some((key, value)) = set.split_once('=') else {
            bail!("--set {set:?}: write KEY=VALUE, e.g. --set lr=0.001");
        };
        table.insert(key.trim().to_string(), toml_value(value.trim()));
    }
    let mut flag = |key: &str, value: toml::Value| {
        table.insert(key.to_string(), value);
    };
    if let Some(x) = &args.preset {
        flag("preset", x.clone().into());
    }
    if let Some(x) = &args.optimizer {
        flag("optimizer", x.clone().into());
    }
    if let Some(x) = &args.plugin {
        flag("plugin", x.clone().into());
    }
    if let Some(x) = &args.params {
        let params: toml::Table = x.replace(',', "\n").parse().with_context(|| {
            format!("--params {x:?} is not TOML (write e.g. 'power_iters = 0')")
        })?;
        flag("plugin_params", params.into());
    }
    for (key, x) in [("steps", args.steps), ("threads", args.threads)] {
        if let Some(x) = x {
            let x = i64::try_from(x).with_context(|| format!("--{key} {x} is too large"))?;
            flag(key, x.into());
        }
    }
    Ok(table)
}

/// A --set value: TOML (`0.001`, `[0, 5]`, `true`, `"text"`), or else the
/// text itself as a string (`tiny`, `data/corpus.txt`).
fn toml_value(text: &str) -> toml::Value {
    format!("value = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("value"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

fn run_suite(path: &std::path::Path, out: &std::path::Path) -> Result<harness::run::RunOutput> {
    let registry = lab::registry()?;
    let suite = harness::suite::Suite::load(path, &registry)?;
    run_loaded(&suite, &registry, out)
}

fn run_loaded(
    suite: &harness::suite::Suite,
    registry: &subspace::Registry,
    out: &std::path::Path,
) -> Result<harness::run::RunOutput> {
    let jobs = suite.methods.len() * suite.ranks.len() * suite.threads.len();
    eprintln!(
        "suite {}: {} matrix source(s) × {} method(s) × {} rank(s) × {} thread count(s) = {} per matrix",
        suite.name,
        suite.matrices.len(),
        suite.methods.len(),
        suite.ranks.len(),
        suite.threads.len(),
        jobs
    );
    let opts = harness::runner::RunOptions {
        root: out.into(),
        heap: Some(&HEAP),
        progress: true,
    };
    let output = harness::run::run(suite, registry, &opts)?;
    let failed = output
        .rows
        .iter()
        .filter(|r| r.status != harness::records::Status::Ok)
        .count();
    let passes = &output.tracked.summaries;
    let tracked = if passes.is_empty() {
        String::new()
    } else {
        let failed = passes
            .iter()
            .filter(|s| s.status != harness::records::Status::Ok)
            .count();
        format!(
            ", {} tracker passes over trajectories ({failed} did not run)",
            passes.len()
        )
    };
    eprintln!(
        "{} rows ({} did not run: see summary.md){tracked}; report: {}",
        output.rows.len(),
        failed,
        output.dir.display()
    );
    println!("{}", output.dir.display());
    Ok(output)
}

/// A run whose report is complete but holds rows that failed on an error
/// (a file that does not load, a numerical failure: status `error`, not
/// `skipped` or `unavailable`) exits non-zero, so that a script or a Slurm
/// job sees the failure; the report stays as written.
fn errors_fail(output: &harness::run::RunOutput) -> Result<()> {
    use harness::records::Status;
    let rows = output.rows.iter().filter(|r| r.status == Status::Error);
    let passes = output.tracked.summaries.iter();
    let first = rows
        .clone()
        .map(|r| format!("{} ({}): {}", r.matrix, r.method, r.error))
        .chain(
            passes
                .clone()
                .filter(|s| s.status == Status::Error)
                .map(|s| format!("trajectory {} {}: {}", s.run, s.tensor, s.error)),
        )
        .next();
    let count = rows.count() + passes.filter(|s| s.status == Status::Error).count();
    match first {
        None => Ok(()),
        Some(first) => anyhow::bail!(
            "{count} row(s) of the report {} failed with status error (results.csv, \
             tracking_summary.csv); the first: {first}. The rest of the report is complete; fix \
             what the rows name and run again",
            output.dir.display()
        ),
    }
}

/// The gate: the baseline is validated against the suite before the suite
/// runs (`harness::baseline`); `--update` writes a fresh one instead.
fn check(
    suite: &std::path::Path,
    baseline: &std::path::Path,
    update: bool,
    out: &std::path::Path,
) -> Result<()> {
    let registry = lab::registry()?;
    let suite = harness::suite::Suite::load(suite, &registry)?;
    if update {
        let output = run_loaded(&suite, &registry, out)?;
        let n = harness::check::write_baseline(baseline, &output.rows)?;
        eprintln!("wrote {n} figures to {}", baseline.display());
        return Ok(());
    }
    let entries = harness::baseline::Baseline::read(baseline)?;
    entries.check_suite(&suite)?;
    let output = run_loaded(&suite, &registry, out)?;
    entries.check_matrices(&output.rows)?;
    let verdict = harness::check::check(&entries.entries, &output.rows);
    print!("{}", harness::check::render(&verdict));
    if !verdict.passed() {
        bail!(
            "accuracy gate failed: {} figure(s) moved, {} compared (report: {})",
            verdict.failures.len(),
            verdict.checked,
            output.dir.display()
        );
    }
    Ok(())
}
