//! Runs a suite: every matrix × method × rank × thread count, measuring time,
//! heap memory, energy and accuracy, and writing each row as it finishes.
//!
//! Per (matrix, method, rank, threads): `warmup` untimed calls (at least
//! one), then `repeats` timed calls (the first also measures the peak heap
//! through the [`HeapProbe`]) inside a rayon pool of that many threads;
//! then, where an energy meter exists, a separate pass of at least
//! [`ENERGY_MIN_SECONDS`] reads it around repeated calls. Every call gets a fresh `Context` with the
//! suite's seed, so every repeat computes the same basis, and the accuracy
//! figures come from it, against the f64 reference SVD of the matrix
//! (computed once per matrix). Failures (a file that does not load, a rank
//! larger than the matrix, an unavailable backend, a numerical failure)
//! become rows with a status and the reason; the run goes on.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use faer::{Mat, MatRef, Par};
use serde::Serialize;
use subspace::metrics::{self, Accuracy};
use subspace::reference::ReferenceSvd;
use subspace::{Context, Registry, SubspaceMethod};

use crate::machine::Machine;
use crate::power::{self, Meter};
use crate::report::{self, ReportWriter};
use crate::source::{self, Tensors};
use crate::suite::{MatrixJob, MethodJob, Side, Suite};

/// Peak heap bytes of a region, from a counting global allocator.
pub trait HeapProbe: Sync {
    /// Starts a region: the peak becomes the current live bytes.
    fn reset(&self);
    /// Peak live bytes since `reset`, minus the live bytes at `reset`.
    fn peak_bytes(&self) -> usize;
}

/// How to run.
pub struct RunOptions<'a> {
    /// Reports go to `<root>/<suite>/<timestamp>-<commit>/`.
    pub root: PathBuf,
    /// The heap probe; `None` reports the heap as unmeasured.
    pub heap: Option<&'a dyn HeapProbe>,
    /// Draw a progress bar on a terminal.
    pub progress: bool,
}

/// One result row: a matrix, a method, a rank and a thread count.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub suite: String,
    pub matrix: String,
    pub source: String,
    /// Shape of the matrix as stored.
    pub rows: usize,
    pub cols: usize,
    /// "left": the basis of A; "right": the basis of Aᵀ (GaLore's short side).
    pub side: &'static str,
    pub method: String,
    pub plugin: String,
    pub params: String,
    /// Where the method computed: "cpu" or "cuda:N".
    pub device: String,
    pub rank: usize,
    pub threads: usize,
    pub seed: u64,
    /// "ok", or "error", "unavailable", "skipped" with `error` saying why.
    pub status: &'static str,
    pub error: String,
    pub time_median_s: Option<f64>,
    pub time_min_s: Option<f64>,
    pub time_max_s: Option<f64>,
    pub flops: Option<f64>,
    pub gflops: Option<f64>,
    /// faer's GEMM rate at this thread count, measured in this run.
    pub gemm_gflops: Option<f64>,
    pub gemm_fraction: Option<f64>,
    /// Host heap peak of one call (the counting allocator).
    pub peak_heap_bytes: Option<usize>,
    /// Device bytes a GPU method held after its calls, measured from its own
    /// allocations ([`SubspaceMethod::device_bytes`]); empty for a CPU
    /// method.
    pub device_bytes: Option<usize>,
    /// The plugin's predicted workspace: host bytes for a CPU method, device
    /// bytes for a GPU method.
    pub predicted_bytes: Option<usize>,
    /// Energy of one call in joules, and mean power in watts.
    pub energy_j: Option<f64>,
    pub power_w: Option<f64>,
    pub energy_note: String,
    pub err_fro: Option<f64>,
    pub err_spec: Option<f64>,
    pub sin_theta: Option<f64>,
    pub energy: Option<f64>,
    pub ortho: Option<f64>,
    pub hmt_fro_bound: Option<f64>,
    pub hmt_spec_bound: Option<f64>,
    /// Whether the residuals are within the HMT expected-error bounds (empty
    /// for exact methods).
    pub hmt_holds: Option<bool>,
    pub iterations: Option<usize>,
    pub products: Option<usize>,
    pub converged: Option<bool>,
    /// Raw timing samples in seconds (run.json only).
    #[serde(skip)]
    pub samples_s: Vec<f64>,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutput {
    pub dir: PathBuf,
    pub rows: Vec<Row>,
    pub trainings: Vec<TrainOutcome>,
}

/// What one training run of a suite produced.
#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    pub stage: String,
    pub label: String,
    /// "ok", or "error" with `error` saying why.
    pub status: &'static str,
    pub error: String,
    /// The run's directory (training.csv, memory.json, grads/, …).
    pub dir: PathBuf,
    pub summary: Option<llama::session::TrainSummary>,
    /// Every step's row, as in the run's training.csv.
    #[serde(skip)]
    pub steps: Vec<llama::session::StepRow>,
    /// Energy of the whole run (evaluations included) and per step.
    pub energy_j: Option<f64>,
    pub energy_per_step_j: Option<f64>,
    pub energy_note: String,
}

/// A file- and shell-safe directory name for a run label.
fn dir_name(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .to_string()
}

/// Runs every training job of `suite` in order under `<dir>/train/`,
/// appending each run's steps to `<dir>/training.csv` (with the stage) as it
/// finishes and keeping going when one fails.
fn run_trainings(
    suite: &Suite,
    registry: &Registry,
    dir: &Path,
    meter: &mut Meter,
    opts: &RunOptions<'_>,
) -> anyhow::Result<Vec<TrainOutcome>> {
    let mut outcomes = Vec::new();
    if suite.trainings.is_empty() {
        return Ok(outcomes);
    }
    let csv_path = dir.join("training.csv");
    let mut csv = csv::Writer::from_path(&csv_path)
        .with_context(|| format!("cannot create {}", csv_path.display()))?;
    let total = suite.trainings.len();
    for (i, job) in suite.trainings.iter().enumerate() {
        let run_dir = dir
            .join("train")
            .join(dir_name(&job.stage))
            .join(dir_name(&job.label));
        eprintln!(
            "training {}/{total}: {} ({} × {} steps, B = {}, T = {}) → {}",
            i + 1,
            job.id(),
            job.config.preset,
            job.config.steps,
            job.config.batch_size,
            job.config.seq_len,
            run_dir.display()
        );
        let region = meter.begin();
        let steps = std::sync::Mutex::new(Vec::new());
        let result = crate::training::train_observed(
            job.config.clone(),
            registry,
            &run_dir,
            opts.progress,
            |row| {
                steps
                    .lock()
                    .expect("no panics while holding it")
                    .push(row.clone())
            },
        );
        let steps = steps.into_inner().expect("no panics while holding it");
        let energy = region.and_then(|r| meter.end(r));
        let mut outcome = TrainOutcome {
            stage: job.stage.clone(),
            label: job.label.clone(),
            status: "ok",
            error: String::new(),
            dir: run_dir,
            summary: None,
            steps,
            energy_j: None,
            energy_per_step_j: None,
            energy_note: String::new(),
        };
        match energy {
            Ok(e) => {
                let joules: f64 = e.iter().map(|x| x.joules).sum();
                let names: Vec<&str> = e.iter().map(|x| x.meter.as_str()).collect();
                if joules > 0.0 && !outcome.steps.is_empty() {
                    outcome.energy_j = Some(joules);
                    outcome.energy_per_step_j = Some(joules / outcome.steps.len() as f64);
                    outcome.energy_note = format!("{} over the whole run", names.join(" + "));
                } else {
                    outcome.energy_note =
                        format!("{}: the counter did not advance", names.join(" + "));
                }
            }
            Err(e) => outcome.energy_note = e.to_string(),
        }
        match result {
            Ok(summary) => outcome.summary = Some(summary),
            Err(e) => {
                eprintln!("training {} failed: {e:#}", job.id());
                outcome.status = "error";
                outcome.error = format!("{e:#}");
            }
        }
        for row in &outcome.steps {
            // The run column names the stage too: "<stage>/<run>".
            let mut row = row.clone();
            row.run = job.id();
            csv.serialize(&row)?;
        }
        csv.flush()
            .with_context(|| format!("cannot write {}", csv_path.display()))?;
        outcomes.push(outcome);
        let json = dir.join("training.json");
        std::fs::write(&json, serde_json::to_string_pretty(&outcomes)?)
            .with_context(|| format!("cannot write {}", json.display()))?;
    }
    Ok(outcomes)
}

/// The suite's matrices with `source = "recorded"` replaced by the files the
/// training runs wrote, each with its name prefix (`<stage>/`).
fn resolve_recorded(
    matrices: &[MatrixJob],
    trainings: &[TrainOutcome],
) -> Vec<(Option<String>, MatrixJob)> {
    let mut out = Vec::new();
    for job in matrices {
        match job {
            MatrixJob::Recorded { stage, tensors } => {
                for t in trainings {
                    if stage.as_ref().is_some_and(|s| *s != t.stage) {
                        continue;
                    }
                    let Some(summary) = &t.summary else { continue };
                    for path in &summary.recorded {
                        out.push((
                            Some(format!("{}/", t.stage)),
                            MatrixJob::File {
                                path: path.clone(),
                                tensors: tensors.clone(),
                            },
                        ));
                    }
                }
            }
            other => out.push((None, other.clone())),
        }
    }
    out
}

/// Runs `suite`, writing its report; rows already written survive an
/// interruption.
pub fn run(suite: &Suite, registry: &Registry, opts: &RunOptions<'_>) -> anyhow::Result<RunOutput> {
    let threads_max = suite.threads.iter().copied().max().unwrap_or(1);
    let machine = Machine::probe(threads_max);
    let mut meter = power::detect(Path::new("/sys/class/powercap"));
    // One pool per thread count for the whole run, each thread warmed once,
    // so no row pays (or counts in its heap peak) a thread's first GEMM.
    let mut pools = Vec::new();
    for &t in &suite.threads {
        pools.push(warm_pool(t)?);
    }
    let gemm_rates: Vec<(usize, f64)> = suite
        .threads
        .iter()
        .zip(&pools)
        .map(|(&t, pool)| (t, measure_gemm_rate(pool, t)))
        .collect();
    let mut writer = ReportWriter::create(&opts.root, suite, &machine, &meter, &gemm_rates)?;

    let trainings = run_trainings(suite, registry, writer.dir(), &mut meter, opts)?;
    let matrices = resolve_recorded(&suite.matrices, &trainings);

    let bar = progress_bar(opts.progress);
    let per_matrix = (suite.methods.len() * suite.ranks.len() * suite.threads.len()) as u64;
    bar.set_length(per_matrix * matrices.len() as u64);

    let mut rows = Vec::new();
    for (prefix, job) in &matrices {
        let loaded = match load(job, suite.side, prefix.as_deref()) {
            Ok(l) => l,
            Err(message) => {
                let row = failed_row(suite, job_name(job), job_source(job), "error", message);
                writer.row(&row)?;
                rows.push(row);
                bar.inc(per_matrix);
                continue;
            }
        };
        bar.inc_length(per_matrix * loaded.len().saturating_sub(1) as u64);
        for m in loaded {
            bar.set_message(m.name.clone());
            let input = m.input();
            // The reference and the figures use every core: they are not
            // measured, and agree across thread counts to f64 roundoff.
            let reference = ReferenceSvd::new(input, Par::rayon(0))
                .map_err(|e| anyhow::anyhow!("reference SVD of {}: {e}", m.name))?;
            for method_job in &suite.methods {
                for &rank in &suite.ranks {
                    for ((&threads, &(_, gemm)), pool) in
                        suite.threads.iter().zip(&gemm_rates).zip(&pools)
                    {
                        let row = measure(
                            suite, registry, &m, &reference, method_job, rank, threads, pool, gemm,
                            &mut meter, opts.heap,
                        );
                        writer.row(&row)?;
                        rows.push(row);
                        bar.inc(1);
                    }
                }
            }
            writer.spectrum(&m.name, reference.singular_values())?;
        }
    }
    bar.finish_and_clear();
    let dir = writer.finish()?;
    let header = run_header(&dir, suite, &machine, &meter);
    report::write_summary(&dir, suite, &header, &rows, &trainings)?;
    report::write_html(&dir, suite, &header, &rows, &trainings)?;
    Ok(RunOutput {
        dir,
        rows,
        trainings,
    })
}

/// A loaded matrix and the side its basis is asked for.
struct Loaded {
    name: String,
    source: String,
    matrix: Mat<f32>,
    /// Pass Aᵀ (GaLore's right side).
    transpose: bool,
}

impl Loaded {
    fn input(&self) -> MatRef<'_, f32> {
        if self.transpose {
            self.matrix.transpose()
        } else {
            self.matrix.as_ref()
        }
    }
}

fn load(job: &MatrixJob, side: Side, prefix: Option<&str>) -> Result<Vec<Loaded>, String> {
    let pick = |name: String, source: String, matrix: Mat<f32>| {
        let transpose = side == Side::Short && matrix.nrows() > matrix.ncols();
        Loaded {
            name,
            source,
            matrix,
            transpose,
        }
    };
    match job {
        MatrixJob::Generated {
            name,
            rows,
            cols,
            spectrum,
            seed,
        } => {
            let a = subspace::generate::with_spectrum(*rows, *cols, *spectrum, *seed);
            Ok(vec![pick(name.clone(), "generated".into(), a)])
        }
        MatrixJob::Recorded { .. } => Err("recorded gradients resolve after training".into()),
        MatrixJob::File { path, tensors } => {
            let tensors =
                Tensors::parse(tensors.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            let loaded = source::load_file(path, &tensors, false).map_err(|e| e.to_string())?;
            for note in &loaded.notes {
                eprintln!("note: {note}");
            }
            Ok(loaded
                .matrices
                .into_iter()
                .map(|m| {
                    let stem = m
                        .source
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned());
                    let name = match stem {
                        Some(stem) if stem != m.name => format!("{stem}:{}", m.name),
                        _ => m.name.clone(),
                    };
                    let name = format!("{}{name}", prefix.unwrap_or(""));
                    pick(name, m.source.display().to_string(), m.matrix)
                })
                .collect())
        }
    }
}

fn job_name(job: &MatrixJob) -> String {
    match job {
        MatrixJob::Generated { name, .. } => name.clone(),
        MatrixJob::File { path, .. } => path.display().to_string(),
        MatrixJob::Recorded { stage, .. } => format!(
            "recorded{}",
            stage.as_ref().map_or(String::new(), |s| format!(" ({s})"))
        ),
    }
}

fn job_source(job: &MatrixJob) -> String {
    match job {
        MatrixJob::Generated { .. } => "generated".into(),
        MatrixJob::File { path, .. } => path.display().to_string(),
        MatrixJob::Recorded { .. } => "recorded".into(),
    }
}

fn failed_row(
    suite: &Suite,
    matrix: String,
    source: String,
    status: &'static str,
    error: String,
) -> Row {
    Row {
        suite: suite.name.clone(),
        matrix,
        source,
        rows: 0,
        cols: 0,
        side: "left",
        method: String::new(),
        plugin: String::new(),
        params: String::new(),
        device: String::new(),
        rank: 0,
        threads: 0,
        seed: suite.seed,
        status,
        error,
        time_median_s: None,
        time_min_s: None,
        time_max_s: None,
        flops: None,
        gflops: None,
        gemm_gflops: None,
        gemm_fraction: None,
        peak_heap_bytes: None,
        device_bytes: None,
        predicted_bytes: None,
        energy_j: None,
        power_w: None,
        energy_note: String::new(),
        err_fro: None,
        err_spec: None,
        sin_theta: None,
        energy: None,
        ortho: None,
        hmt_fro_bound: None,
        hmt_spec_bound: None,
        hmt_holds: None,
        iterations: None,
        products: None,
        converged: None,
        samples_s: Vec::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn measure(
    suite: &Suite,
    registry: &Registry,
    m: &Loaded,
    reference: &ReferenceSvd,
    job: &MethodJob,
    rank: usize,
    threads: usize,
    pool: &rayon::ThreadPool,
    gemm_gflops: f64,
    meter: &mut Meter,
    heap: Option<&dyn HeapProbe>,
) -> Row {
    let a = m.input();
    let mut row = failed_row(suite, m.name.clone(), m.source.clone(), "ok", String::new());
    row.rows = m.matrix.nrows();
    row.cols = m.matrix.ncols();
    row.side = if m.transpose { "right" } else { "left" };
    row.method = job.label.clone();
    row.plugin = job.plugin.clone();
    row.params = inline_params(&job.params);
    row.rank = rank;
    row.threads = threads;
    row.gemm_gflops = Some(gemm_gflops);

    let method = match registry.build(&job.plugin, &job.params) {
        Ok(method) => method,
        Err(e) => return with_status(row, "error", e.to_string()),
    };
    if let Err(reason) = method.availability() {
        return with_status(row, "unavailable", reason);
    }
    let (rows_in, cols_in) = a.shape();
    if rank > rows_in.min(cols_in) {
        return with_status(
            row,
            "skipped",
            format!(
                "rank {rank} > min(m, n) = {} for this {rows_in}×{cols_in} input",
                rows_in.min(cols_in)
            ),
        );
    }
    row.device = match method.device() {
        subspace::Device::Cpu => "cpu".into(),
        subspace::Device::Cuda(i) => format!("cuda:{i}"),
    };
    row.predicted_bytes = Some(method.workspace_bytes(rows_in, cols_in, rank));

    let par = if threads == 1 {
        Par::Seq
    } else {
        Par::rayon(threads)
    };
    let call = |method: &dyn SubspaceMethod| {
        let mut ctx = Context::new(suite.seed).with_par(par);
        method.left_basis(a, rank, &mut ctx)
    };

    type Measured = (subspace::Basis, Vec<f64>, Option<usize>);
    let result = pool.install(|| -> Result<Measured, String> {
        // At least one untimed call (first calls size caches and buffers).
        for _ in 0..suite.warmup.max(1) {
            call(method.as_ref()).map_err(|e| e.to_string())?;
        }
        // The heap peak is that of the first timed call.
        let mut samples = Vec::with_capacity(suite.repeats);
        let mut last = None;
        let mut peak = None;
        for i in 0..suite.repeats {
            if i == 0 {
                heap.inspect(|h| h.reset());
            }
            let start = Instant::now();
            let basis = call(method.as_ref()).map_err(|e| e.to_string())?;
            samples.push(start.elapsed().as_secs_f64());
            if i == 0 {
                peak = heap.map(|h| h.peak_bytes());
            }
            last = Some(basis);
        }
        Ok((last.expect("repeats ≥ 1"), samples, peak))
    });
    // Energy: a pass of its own, after the timing, so reading the meter never
    // touches a timed call. Energy counters advance in steps (NVML's every
    // few tens of ms), so the pass repeats the call for at least
    // ENERGY_MIN_SECONDS and divides by the number of calls.
    let energy = if result.is_ok() && meter.is_available() {
        pool.install(|| energy_pass(meter, || call(method.as_ref()).is_ok()))
    } else {
        Err(meter.describe())
    };
    let (basis, samples, peak) = match result {
        Ok(r) => r,
        Err(e) => return with_status(row, "error", e),
    };
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    row.time_median_s = Some(median);
    row.time_min_s = sorted.first().copied();
    row.time_max_s = sorted.last().copied();
    row.samples_s = samples;
    row.flops = Some(basis.info.flops);
    if median > 0.0 {
        let gflops = basis.info.flops / median / 1e9;
        row.gflops = Some(gflops);
        // faer's GEMM rate is the CPU's yardstick only; a GPU method's GEMM
        // fraction comes from ci/gpu-check.sh, against cuBLAS in the same run.
        if method.device() == subspace::Device::Cpu {
            row.gemm_fraction = Some(gflops / gemm_gflops);
        }
    }
    row.peak_heap_bytes = peak;
    row.device_bytes = method.device_bytes();
    row.iterations = Some(basis.info.iterations);
    row.products = Some(basis.info.products);
    row.converged = Some(basis.info.converged);
    match energy {
        Ok((joules, seconds, calls, meters)) => {
            row.energy_j = Some(joules / calls as f64);
            row.power_w = (seconds > 0.0).then(|| joules / seconds);
            row.energy_note = format!("{meters}: {calls} calls over {seconds:.2} s");
        }
        Err(reason) => row.energy_note = reason,
    }

    match metrics::accuracy(reference, basis.q.as_ref(), Par::rayon(0)) {
        Ok(acc) => fill_accuracy(
            &mut row,
            &acc,
            reference,
            method.guarantee(rows_in, cols_in, rank),
        ),
        Err(e) => return with_status(row, "error", format!("accuracy: {e}")),
    }
    row
}

fn fill_accuracy(row: &mut Row, acc: &Accuracy, reference: &ReferenceSvd, g: subspace::Guarantee) {
    row.err_fro = Some(acc.err_fro);
    row.err_spec = Some(acc.err_spec);
    row.sin_theta = Some(acc.sin_theta);
    row.energy = Some(acc.energy);
    row.ortho = Some(acc.ortho);
    if let Some(b) = metrics::bound_for(reference.singular_values(), g) {
        row.hmt_fro_bound = b.fro;
        row.hmt_spec_bound = Some(b.spec);
        // Up to roundoff: an exactly low-rank input has bounds of zero.
        let (m, n) = reference.a().shape();
        let floor = metrics::roundoff(m, n, reference.norm_fro());
        let fro_ok = b.fro.is_none_or(|f| acc.residual_fro <= f + floor);
        row.hmt_holds = Some(fro_ok && acc.residual_spec <= b.spec + floor);
    }
}

fn with_status(mut row: Row, status: &'static str, error: String) -> Row {
    row.status = status;
    row.error = error;
    row
}

/// Params as one line of inline TOML, keys sorted.
pub fn inline_params(params: &toml::Table) -> String {
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    keys.iter()
        .map(|k| format!("{k}={}", params[k.as_str()]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Minimum length of a row's energy pass, in seconds.
pub const ENERGY_MIN_SECONDS: f64 = 0.5;

/// Calls `call` until at least [`ENERGY_MIN_SECONDS`] have passed (and at
/// least once) inside one meter region: (joules, seconds, calls, meters).
fn energy_pass(
    meter: &mut Meter,
    mut call: impl FnMut() -> bool,
) -> Result<(f64, f64, usize, String), String> {
    let region = meter.begin().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut calls = 0;
    while calls == 0 || start.elapsed().as_secs_f64() < ENERGY_MIN_SECONDS {
        if !call() {
            return Err("a call failed during the energy pass".into());
        }
        calls += 1;
    }
    let readings = meter.end(region).map_err(|e| e.to_string())?;
    let joules: f64 = readings.iter().map(|e| e.joules).sum();
    let seconds = readings.first().map_or(0.0, |e| e.seconds);
    if joules <= 0.0 {
        return Err(format!(
            "energy counter did not advance over {calls} calls ({seconds:.2} s)"
        ));
    }
    let meters = readings
        .iter()
        .map(|e| e.meter.clone())
        .collect::<Vec<_>>()
        .join(" + ");
    Ok((joules, seconds, calls, meters))
}

/// A pool of `threads` threads, each of which has run one GEMM (faer sizes
/// per-thread packing buffers, tens of MiB, on a thread's first GEMM).
fn warm_pool(threads: usize) -> anyhow::Result<rayon::ThreadPool> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start a pool of {threads} threads: {e}"))?;
    let a = subspace::generate::gaussian(512, 512, 1);
    pool.broadcast(|_| {
        let mut c = Mat::<f32>::zeros(512, 512);
        faer::linalg::matmul::matmul(
            c.as_mut(),
            faer::Accum::Replace,
            a.as_ref(),
            a.as_ref(),
            1.0,
            Par::Seq,
        );
    });
    Ok(pool)
}

/// faer's f32 GEMM rate at `threads` threads (GFLOP/s): the median of 5
/// products of 1024×1024 by 1024×256, the shape class of a sketch.
pub fn measure_gemm_rate(pool: &rayon::ThreadPool, threads: usize) -> f64 {
    let (m, k, n) = (1024, 1024, 256);
    let a = subspace::generate::gaussian(m, k, 1);
    let b = subspace::generate::gaussian(k, n, 2);
    let par = if threads == 1 {
        Par::Seq
    } else {
        Par::rayon(threads)
    };
    let mut times = pool.install(|| {
        let mut c = Mat::<f32>::zeros(m, n);
        let mut times = Vec::new();
        for _ in 0..6 {
            let start = Instant::now();
            faer::linalg::matmul::matmul(
                c.as_mut(),
                faer::Accum::Replace,
                a.as_ref(),
                b.as_ref(),
                1.0,
                par,
            );
            times.push(start.elapsed().as_secs_f64());
        }
        times
    });
    times.remove(0); // warm-up
    times.sort_by(f64::total_cmp);
    2.0 * (m * k * n) as f64 / times[times.len() / 2] / 1e9
}

fn progress_bar(enabled: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// One paragraph naming the run, the machine and the versions.
fn run_header(dir: &Path, suite: &Suite, machine: &Machine, meter: &Meter) -> String {
    let gpu = if machine.gpus.is_empty() {
        format!(
            "no GPU ({})",
            machine.gpu_note.as_deref().unwrap_or("none found")
        )
    } else {
        format!(
            "{} (driver {})",
            machine.gpus.join(", "),
            machine.gpu_driver.as_deref().unwrap_or("?")
        )
    };
    format!(
        "Run {} of suite {} (sha256 {}…), seed {}, commit {}, lab {}, {}. Machine: {}, {} logical \
         cores, {:.1} GiB RAM, {} (kernel {}), {}. Energy: {}.",
        dir.file_name()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default(),
        suite.path.display(),
        &suite.hash[..12],
        suite.seed,
        machine.git_commit,
        machine.lab_version,
        machine.rustc,
        machine.cpu_model,
        machine.logical_cores,
        machine.ram_bytes.unwrap_or(0) as f64 / (1u64 << 30) as f64,
        machine.os,
        machine.kernel,
        gpu,
        meter.describe(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::{EnergyMeter, PowerError};

    /// A counter that advances by `step` µJ per read.
    struct Fake {
        uj: u64,
        step: u64,
    }

    impl EnergyMeter for Fake {
        fn name(&self) -> &str {
            "fake"
        }
        fn read_uj(&mut self) -> Result<u64, PowerError> {
            self.uj += self.step;
            Ok(self.uj)
        }
    }

    #[test]
    fn the_energy_pass_lasts_long_enough_and_divides_by_the_calls() {
        let mut meter = Meter::from_meters(
            vec![Box::new(Fake {
                uj: 0,
                step: 2_000_000,
            })],
            vec![],
        );
        let mut n = 0;
        let (joules, seconds, calls, meters) = energy_pass(&mut meter, || {
            n += 1;
            true
        })
        .unwrap();
        assert_eq!(calls, n);
        assert!(seconds >= ENERGY_MIN_SECONDS, "{seconds}");
        assert_eq!((joules, meters.as_str()), (2.0, "fake"));
    }

    #[test]
    fn a_counter_that_does_not_advance_is_no_figure() {
        let mut meter = Meter::from_meters(vec![Box::new(Fake { uj: 5, step: 0 })], vec![]);
        let err = energy_pass(&mut meter, || true).unwrap_err();
        assert!(err.contains("did not advance"), "{err}");
        let mut meter = Meter::from_meters(vec![Box::new(Fake { uj: 5, step: 1 })], vec![]);
        assert!(
            energy_pass(&mut meter, || false)
                .unwrap_err()
                .contains("a call failed")
        );
    }
}
