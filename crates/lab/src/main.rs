//! `lab`: list, run and check subspace-method suites.

mod heap;

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};

#[global_allocator]
static HEAP: heap::Counting = heap::Counting::new();

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
    },
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
        Command::Run { suite, out } => run_suite(&suite, &out).map(|_| ()),
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
    let Some((m, n)) = args.shape.split_once(['x', '×']) else {
        bail!("--shape {:?}: write MxN, e.g. 512x1376", args.shape);
    };
    let (m, n): (usize, usize) = (
        m.trim()
            .parse()
            .with_context(|| format!("--shape {:?}: rows", args.shape))?,
        n.trim()
            .parse()
            .with_context(|| format!("--shape {:?}: columns", args.shape))?,
    );
    let a = with_spectrum(m, n, Spectrum::Polynomial { power: args.decay }, args.seed);
    let par = if args.threads <= 1 {
        Par::Seq
    } else {
        Par::rayon(args.threads)
    };
    let mut ctx = subspace::Context::new(args.seed).with_par(par);
    let start = std::time::Instant::now();
    let basis = method.left_basis(a.as_ref(), args.k, &mut ctx)?;
    let seconds = start.elapsed().as_secs_f64();
    let reference = ReferenceSvd::new(a.as_ref(), Par::Seq)?;
    let acc = accuracy(&reference, basis.q.as_ref(), Par::Seq)?;
    println!(
        "{} on {m}×{n} (σ_j = j^-{}), k = {}, {} thread(s)",
        args.method, args.decay, args.k, args.threads
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

fn run_suite(path: &std::path::Path, out: &std::path::Path) -> Result<harness::runner::RunOutput> {
    let registry = lab::registry()?;
    let suite = harness::suite::Suite::load(path, &registry)?;
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
    let output = harness::runner::run(&suite, &registry, &opts)?;
    let failed = output.rows.iter().filter(|r| r.status != "ok").count();
    eprintln!(
        "{} rows ({} did not run: see summary.md); report: {}",
        output.rows.len(),
        failed,
        output.dir.display()
    );
    println!("{}", output.dir.display());
    Ok(output)
}

fn check(
    suite: &std::path::Path,
    baseline: &std::path::Path,
    update: bool,
    out: &std::path::Path,
) -> Result<()> {
    let output = run_suite(suite, out)?;
    if update {
        let n = harness::check::write_baseline(baseline, &output.rows)?;
        eprintln!("wrote {n} figures to {}", baseline.display());
        return Ok(());
    }
    let entries = harness::check::read_baseline(baseline)?;
    let verdict = harness::check::check(&entries, &output.rows);
    print!("{}", harness::check::render(&verdict));
    if !verdict.failures.is_empty() {
        bail!(
            "accuracy gate failed: {} figure(s) moved (report: {})",
            verdict.failures.len(),
            output.dir.display()
        );
    }
    Ok(())
}
