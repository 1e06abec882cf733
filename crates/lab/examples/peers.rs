//! Rust side of the peer comparison (see `ci/peers/run.sh`): the same .npy
//! matrices the Python side timed, one thread, k = 128, p = 10.
//!
//! ```text
//! cargo run --release -p lab --example peers -- DIR [--repeats 7]
//! ```
//!
//! For every `DIR/A_{m}x{n}.npy` it times, at `Par::Seq`, the median of
//! `--repeats` calls after one warm-up call (3 calls when the warm-up took
//! over 1 s, the Python side's rule):
//!
//! - `svd`: the full thin SVD plugin, k = 128;
//! - `rrf_svd`: rrf with truncate = "svd", oversample 10, power_iters 0/1/2,
//!   normalizer qr (and lu/none at q ≥ 1): ℓ = 138, B = QᵀA, SVD of B, k = 128
//!   columns (HMT Alg. 5.1; the peer doing the same work is sklearn's
//!   `randomized_svd`);
//! - `rrf_inside`: rrf with truncate = "inside" at k = 138: the 138-column
//!   range basis and nothing else, the same work as sklearn's
//!   `randomized_range_finder(size = 138)`;
//! - `lanczos`, k = 128, default params, when the registry has it.
//!
//! Methods are timed through `SubspaceMethod::compute` on an input validated
//! once beforehand: the peers' range finder does not scan its input either.
//! The cost of that scan (`validate_input`) is reported as a stage row.
//!
//! `err_fro` = ‖A − QQᵀA‖_F / ‖A − A_128‖_F for every basis (the 138-column
//! ones included, so they can read below 1), from the f64 reference SVD via
//! `subspace::metrics::accuracy`. `gflops` = the method's own `info.flops`
//! over its median time; `frac_gemm` = that over faer's GEMM rate on this
//! machine (A·Ω, m×n by n×138, one thread).
//!
//! Stage rows (`stage_*`) time rrf's pieces one by one with the same kernels,
//! to show where its time goes. Writes `DIR/rust.csv`.

use anyhow::{Context as _, Result, bail, ensure};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use subspace::faer::dyn_stack::{MemBuffer, MemStack};
use subspace::faer::linalg::svd::{self, ComputeSvdVectors};
use subspace::faer::{Accum, Mat, MatRef, Par};
use subspace::kernels::{ThinQr, flops, lu_normalize_in_place, matmul};
use subspace::metrics::accuracy;
use subspace::reference::ReferenceSvd;
use subspace::{Context, SubspaceMethod, validate_input};

const K: usize = 128;
const P: usize = 10;
const SEED: u64 = 0;

/// One CSV row.
#[derive(Default)]
struct Row {
    m: usize,
    n: usize,
    method: String,
    params: String,
    cols: usize,
    time_ms: f64,
    min_ms: f64,
    /// Median CPU time of the calls (this thread's run time).
    cpu_ms: f64,
    repeats: usize,
    err_fro: Option<f64>,
    err_spec: Option<f64>,
    sin_theta: Option<f64>,
    flops: Option<f64>,
    gflops: Option<f64>,
    frac_gemm: Option<f64>,
}

impl Row {
    const HEADER: &str = "m,n,method,params,cols,time_ms,min_ms,cpu_ms,repeats,err_fro,err_spec,\
                          sin_theta,flops,gflops,frac_gemm";

    fn csv(&self) -> String {
        let opt = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_default();
        format!(
            "{},{},{},{},{},{:.4},{:.4},{:.4},{},{},{},{},{},{},{}",
            self.m,
            self.n,
            self.method,
            self.params,
            self.cols,
            self.time_ms,
            self.min_ms,
            self.cpu_ms,
            self.repeats,
            opt(self.err_fro),
            opt(self.err_spec),
            opt(self.sin_theta),
            self.flops.map(|v| format!("{v:.0}")).unwrap_or_default(),
            opt(self.gflops),
            opt(self.frac_gemm),
        )
    }
}

/// Seconds this thread has run on a CPU (`CLOCK_THREAD_CPUTIME_ID`, what
/// Python's `time.thread_time` reads): unlike wall time, it leaves out the
/// time other processes held the core.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc == 0 {
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    } else {
        f64::NAN
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        0.5 * (xs[mid - 1] + xs[mid])
    }
}

/// Median wall seconds, min wall seconds and median CPU seconds of `repeats`
/// calls after one warm-up call (3 calls when the warm-up took over 1 s),
/// with the last call's result and the number of calls timed.
fn timed<T>(repeats: usize, mut f: impl FnMut() -> T) -> (T, Timing) {
    let t0 = Instant::now();
    let mut out = f();
    let repeats = if t0.elapsed().as_secs_f64() > 1.0 {
        repeats.min(3)
    } else {
        repeats
    };
    let mut wall = Vec::with_capacity(repeats);
    let mut cpu = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let c0 = thread_cpu();
        let t0 = Instant::now();
        out = std::hint::black_box(f());
        wall.push(t0.elapsed().as_secs_f64());
        cpu.push(thread_cpu() - c0);
    }
    let min = wall.iter().copied().fold(f64::INFINITY, f64::min);
    (
        out,
        Timing {
            median: median(wall),
            min,
            cpu: median(cpu),
            repeats,
        },
    )
}

/// What [`timed`] measured, in seconds.
#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    min: f64,
    cpu: f64,
    repeats: usize,
}

/// A 2-d f32 .npy file (C or Fortran order) as a faer matrix.
fn read_npy(path: &Path) -> Result<Mat<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])?;
    let shape = npy.shape().to_vec();
    ensure!(
        shape.len() == 2,
        "{}: expected a 2-d array, got shape {shape:?}",
        path.display()
    );
    let (m, n) = (shape[0] as usize, shape[1] as usize);
    let order = npy.order();
    let data: Vec<f32> = npy
        .into_vec()
        .with_context(|| format!("{}: not f32", path.display()))?;
    Ok(match order {
        npyz::Order::C => Mat::from_fn(m, n, |i, j| data[i * n + j]),
        npyz::Order::Fortran => Mat::from_fn(m, n, |i, j| data[j * m + i]),
    })
}

/// `/proc/loadavg`, and CPU seconds used so far by the whole machine (busy
/// time) and by this process, to tell whether others were running.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn cpu_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let busy =
        fields.iter().sum::<f64>() - fields.get(3).unwrap_or(&0.0) - fields.get(4).unwrap_or(&0.0);
    let me = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" of the command name, from 0 (the state letter):
    // utime and stime are 11 and 12.
    let after = me.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let mine = f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0);
    (busy, mine)
}

struct Spec {
    method: &'static str,
    params: String,
    plugin: &'static str,
    table: toml::Table,
    k: usize,
}

fn specs(has_lanczos: bool) -> Vec<Spec> {
    let mut out = vec![Spec {
        method: "svd",
        params: format!("k={K}"),
        plugin: "svd",
        table: toml::Table::new(),
        k: K,
    }];
    let rrf = |truncate: &str, q: usize, norm: &str| -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("oversample".into(), toml::Value::Integer(P as i64));
        t.insert("power_iters".into(), toml::Value::Integer(q as i64));
        t.insert("normalizer".into(), toml::Value::String(norm.into()));
        t.insert("truncate".into(), toml::Value::String(truncate.into()));
        t
    };
    for q in 0..=2 {
        let norms: &[&str] = if q == 0 {
            &["qr"]
        } else {
            &["qr", "lu", "none"]
        };
        for &norm in norms {
            out.push(Spec {
                method: "rrf_inside",
                params: format!("l={} q={q} norm={norm}", K + P),
                plugin: "rrf",
                table: rrf("inside", q, norm),
                k: K + P,
            });
            out.push(Spec {
                method: "rrf_svd",
                params: format!("k={K} p={P} q={q} norm={norm}"),
                plugin: "rrf",
                table: rrf("svd", q, norm),
                k: K,
            });
        }
    }
    if has_lanczos {
        out.push(Spec {
            method: "lanczos",
            params: format!("k={K} default"),
            plugin: "lanczos",
            table: toml::Table::new(),
            k: K,
        });
    }
    out
}

/// Times rrf's stages one by one (ℓ = 138, one thread, same kernels).
fn stages(a: MatRef<'_, f32>, repeats: usize, rows: &mut Vec<Row>) -> f64 {
    let (m, n) = a.shape();
    let l = K + P;
    let seq = Par::Seq;
    let mut push = |name: &str, params: String, t: Timing, fl: Option<f64>| {
        rows.push(Row {
            m,
            n,
            method: format!("stage_{name}"),
            params,
            cols: l,
            time_ms: t.median * 1e3,
            min_ms: t.min * 1e3,
            cpu_ms: t.cpu * 1e3,
            repeats: t.repeats,
            flops: fl,
            gflops: fl.map(|f| f / t.median / 1e9),
            ..Row::default()
        });
    };
    let strip = |x: ((), Timing)| x.1;

    let t = timed(repeats, || validate_input(a, K).expect("valid"));
    push("validate", format!("{m}x{n} finiteness scan"), t.1, None);

    let mut ctx = Context::new(SEED);
    let t = timed(repeats, || ctx.gaussian(n, l));
    push("gaussian", format!("{n}x{l} ChaCha8"), t.1, None);
    let omega = t.0;

    // faer's own GEMM, one thread: the reference rate.
    let mut y = Mat::<f32>::zeros(m, l);
    let t = strip(timed(repeats * 3, || {
        subspace::faer::linalg::matmul::matmul(
            y.as_mut(),
            Accum::Replace,
            a,
            omega.as_ref(),
            1.0f32,
            seq,
        )
    }));
    let gemm_rate = flops::gemm(m, l, n) / t.median;
    push(
        "faer_gemm_AO",
        format!("{m}x{n} @ {n}x{l}"),
        t,
        Some(flops::gemm(m, l, n)),
    );
    let t = strip(timed(repeats * 3, || {
        matmul(y.as_mut(), Accum::Replace, a, omega.as_ref(), 1.0, seq)
    }));
    push(
        "gemm_AO",
        format!("dense::matmul {m}x{n} @ {n}x{l}"),
        t,
        Some(flops::gemm(m, l, n)),
    );
    let mut z = Mat::<f32>::zeros(n, l);
    let t = strip(timed(repeats * 3, || {
        matmul(
            z.as_mut(),
            Accum::Replace,
            a.transpose(),
            y.as_ref(),
            1.0,
            seq,
        )
    }));
    push(
        "gemm_AtY",
        format!("dense::matmul {n}x{m} @ {m}x{l}"),
        t,
        Some(flops::gemm(n, l, m)),
    );

    let mut qr_m = ThinQr::<f32>::new(m, l, seq);
    let mut qm = Mat::<f32>::zeros(m, l);
    let mut work = y.clone();
    let t = strip(timed(repeats, || {
        work.copy_from(&y);
        qr_m.thin_q(qm.as_mut(), work.as_mut(), seq)
    }));
    push(
        "qr_m",
        format!("thin Q of {m}x{l}"),
        t,
        Some(flops::qr_thin_q(m, l)),
    );
    let mut qr_n = ThinQr::<f32>::new(n, l, seq);
    let mut qn = Mat::<f32>::zeros(n, l);
    let mut workn = z.clone();
    let t = strip(timed(repeats, || {
        workn.copy_from(&z);
        qr_n.thin_q(qn.as_mut(), workn.as_mut(), seq)
    }));
    push(
        "qr_n",
        format!("thin Q of {n}x{l}"),
        t,
        Some(flops::qr_thin_q(n, l)),
    );
    let mut tmp = Mat::<f32>::zeros(m, l);
    let t = strip(timed(repeats, || {
        work.copy_from(&y);
        lu_normalize_in_place(work.as_mut(), tmp.as_mut(), seq)
    }));
    push(
        "lu_m",
        format!("P^-1 L of {m}x{l}"),
        t,
        Some(flops::lu(m, l)),
    );

    // truncate = "svd": B = QᵀA, SVD of B, Q·U_B[:, :k].
    let mut b = Mat::<f32>::zeros(l, n);
    let t = strip(timed(repeats * 3, || {
        matmul(b.as_mut(), Accum::Replace, qm.transpose(), a, 1.0, seq)
    }));
    push(
        "gemm_B",
        format!("dense::matmul {l}x{m} @ {m}x{n}"),
        t,
        Some(flops::gemm(l, n, m)),
    );
    let mut ub = Mat::<f32>::zeros(l, l);
    let mut s = subspace::faer::diag::Diag::<f32>::zeros(l);
    let mut mem = MemBuffer::new(svd::svd_scratch::<f32>(
        l,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::No,
        seq,
        Default::default(),
    ));
    let t = strip(timed(repeats, || {
        svd::svd(
            b.as_ref(),
            s.as_mut(),
            Some(ub.as_mut()),
            None,
            seq,
            MemStack::new(&mut mem),
            Default::default(),
        )
        .expect("small SVD");
    }));
    push(
        "svd_B",
        format!("thin SVD (U only) of {l}x{n}"),
        t,
        Some(flops::svd(l, n)),
    );
    // Candidate: U_B from the ℓ×ℓ factor R of Bᵀ = Q₂R (B = RᵀQ₂ᵀ, so B and
    // Rᵀ share their left singular vectors): a QR of n×ℓ (no Q formed) and
    // an ℓ×ℓ SVD instead of the SVD of the wide ℓ×n B.
    {
        use subspace::faer::linalg::qr::no_pivoting::factor as qrf;
        let bs = qrf::recommended_block_size::<f32>(n, l);
        let mut coeff = Mat::<f32>::zeros(bs, l);
        let mut bt = Mat::<f32>::zeros(n, l);
        let mut qr_mem = MemBuffer::new(qrf::qr_in_place_scratch::<f32>(
            n,
            l,
            bs,
            seq,
            Default::default(),
        ));
        let mut rt = Mat::<f32>::zeros(l, l);
        let mut ur = Mat::<f32>::zeros(l, l);
        let mut sr = subspace::faer::diag::Diag::<f32>::zeros(l);
        let mut svd_mem = MemBuffer::new(svd::svd_scratch::<f32>(
            l,
            l,
            ComputeSvdVectors::Thin,
            ComputeSvdVectors::No,
            seq,
            Default::default(),
        ));
        let t = strip(timed(repeats, || {
            bt.copy_from(b.transpose());
            qrf::qr_in_place(
                bt.as_mut(),
                coeff.as_mut(),
                seq,
                MemStack::new(&mut qr_mem),
                Default::default(),
            );
            // Rᵀ: lower triangle from R's upper triangle.
            for j in 0..l {
                for i in 0..l {
                    rt[(i, j)] = if i >= j { bt[(j, i)] } else { 0.0 };
                }
            }
            svd::svd(
                rt.as_ref(),
                sr.as_mut(),
                Some(ur.as_mut()),
                None,
                seq,
                MemStack::new(&mut svd_mem),
                Default::default(),
            )
            .expect("ℓ×ℓ SVD");
        }));
        // Same span as U_B[:, :k] (up to roundoff)?
        let (uk, rk) = (ub.subcols(0, K), ur.subcols(0, K));
        let gap = (rk - uk * (uk.transpose() * rk)).norm_l2();
        push(
            "svd_B_via_qr",
            format!("QR of {n}x{l} + SVD of {l}x{l}; |(I-UU^T)U'|_F={gap:.1e}"),
            t,
            Some(flops::qr_thin_q(n, l) / 2.0 + flops::svd(l, l)),
        );
    }
    let mut out = Mat::<f32>::zeros(m, K);
    let t = strip(timed(repeats * 3, || {
        matmul(
            out.as_mut(),
            Accum::Replace,
            qm.as_ref(),
            ub.subcols(0, K),
            1.0,
            seq,
        )
    }));
    push(
        "gemm_QU",
        format!("dense::matmul {m}x{l} @ {l}x{K}"),
        t,
        Some(flops::gemm(m, K, l)),
    );
    gemm_rate
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut repeats = 7;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--repeats" => repeats = args.next().context("--repeats N")?.parse()?,
            _ if dir.is_none() => dir = Some(arg.into()),
            _ => bail!("usage: peers DIR [--repeats N]"),
        }
    }
    let dir = dir.context("usage: peers DIR [--repeats N]")?;
    let mut files: Vec<(usize, usize, PathBuf)> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let stem = p
                .file_name()?
                .to_str()?
                .strip_prefix("A_")?
                .strip_suffix(".npy")?;
            let (m, n) = stem.split_once('x')?;
            Some((m.parse().ok()?, n.parse().ok()?, p.clone()))
        })
        .collect();
    files.sort_by_key(|(m, n, _)| m * n);
    ensure!(
        !files.is_empty(),
        "no A_{{m}}x{{n}}.npy files in {}",
        dir.display()
    );

    let registry = lab::registry()?;
    let has_lanczos = registry.get("lanczos").is_ok();
    let load_before = load();
    let (busy0, mine0) = cpu_ticks();
    let wall0 = Instant::now();

    let mut rows = Vec::new();
    for (m, n, path) in &files {
        let (m, n) = (*m, *n);
        let a = read_npy(path)?;
        ensure!(
            a.shape() == (m, n),
            "{}: shape {:?}",
            path.display(),
            a.shape()
        );
        let reference = ReferenceSvd::new(a.as_ref(), Par::Seq)?;
        let tail = reference.tail_fro(K);
        validate_input(a.as_ref(), K)?;

        let gemm_rate = stages(a.as_ref(), repeats, &mut rows);
        eprintln!(
            "{m}x{n}: faer GEMM {:.1} GFLOP/s (1 thread)",
            gemm_rate / 1e9
        );

        for spec in specs(has_lanczos) {
            let method: Box<dyn SubspaceMethod> = registry.build(spec.plugin, &spec.table)?;
            let (basis, t) = timed(repeats, || {
                let mut ctx = Context::new(SEED).with_par(Par::Seq);
                method.compute(a.as_ref(), spec.k, &mut ctx)
            });
            let basis = basis?;
            let acc = accuracy(&reference, basis.q.as_ref(), Par::Seq)?;
            let err_fro = acc.residual_fro / tail;
            let fl = basis.info.flops;
            eprintln!(
                "{m}x{n} {:12} {:28} {:9.2} ms  err_fro {err_fro:.5}  {:6.1} GFLOP/s",
                spec.method,
                spec.params,
                t.median * 1e3,
                fl / t.median / 1e9
            );
            rows.push(Row {
                m,
                n,
                method: spec.method.into(),
                params: spec.params,
                cols: basis.q.ncols(),
                time_ms: t.median * 1e3,
                min_ms: t.min * 1e3,
                cpu_ms: t.cpu * 1e3,
                repeats: t.repeats,
                err_fro: Some(err_fro),
                err_spec: Some(acc.err_spec),
                sin_theta: Some(acc.sin_theta),
                flops: Some(fl),
                gflops: Some(fl / t.median / 1e9),
                frac_gemm: Some(fl / t.median / gemm_rate),
            });
        }
    }

    let (busy1, mine1) = cpu_ticks();
    let wall = wall0.elapsed().as_secs_f64();
    // Clock ticks are 1/100 s on Linux.
    let others = ((busy1 - busy0) - (mine1 - mine0)) / 100.0 / wall;
    let load_after = load();
    let out = dir.join("rust.csv");
    let mut f = std::fs::File::create(&out)?;
    writeln!(f, "{}", Row::HEADER)?;
    for r in &rows {
        writeln!(f, "{}", r.csv())?;
    }
    let env = format!(
        "{{\"load_before\": \"{load_before}\", \"load_after\": \"{load_after}\", \
         \"other_cpu_cores_avg\": {others:.3}, \"wall_s\": {wall:.1}, \"lanczos\": {has_lanczos}}}\n"
    );
    std::fs::write(dir.join("rust_env.json"), &env)?;
    eprintln!("wrote {}; {env}", out.display());
    Ok(())
}
