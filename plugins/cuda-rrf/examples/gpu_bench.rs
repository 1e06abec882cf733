//! GPU benchmark of `cuda-rrf` against `cuda-svd`, the CPU `rrf` and (via
//! `ci/gpu/torch_peers.py`, which reads the `.npy` files written here)
//! PyTorch's `svd_lowrank` and `linalg.svd`.
//!
//! Usage: `gpu_bench <out.csv> <scratch dir for .npy> [--svd8192]`
//!
//! Matrices: A = U·diag(σ)·Vᵀ with σ_j = 1/j for j ≤ 1024 (zero after, so
//! that generating 8192² stays cheap), 4096² and 8192², k ∈ {128, 512};
//! and the llama_60m GaLore set (8 layers × {4 × 512×512, gate and up
//! 1376×512 passed transposed, down 512×1376}, full polynomial spectrum),
//! k = 128, batched. ‖A − A_k‖_F is known from σ, so err_fro =
//! ‖A − QQᵀA‖_F / ‖A − A_k‖_F needs only the residual, computed on the
//! device in f32.
//!
//! Timing: one warm-up, then the median of `REPS` synchronized runs.
//! "device" times keep A on the device (as a training loop would);
//! "total" times include the host→device copy of A and Q's copy back.

use cuda_rrf::gpu::{Stage, Workspace};
use cuda_rrf::{
    CudaRrf, CudaRrfParams, CudaSvd, CudaSvdParams, GemmPrecision, Normalizer, SmallSvd, SvdDriver,
    SvdPrecision,
};
use faer::{Mat, MatRef, Par};
use std::io::Write;
use std::time::Instant;
use subspace::generate::{Spectrum, with_singular_values, with_spectrum};
use subspace::{Context, Plugin, SubspaceMethod};

const REPS: usize = 3;
const P: usize = 10;

struct Case {
    name: &'static str,
    a: Mat<f32>,
    sigma: Vec<f64>,
}

fn tail(sigma: &[f64], k: usize) -> f64 {
    sigma.iter().skip(k).map(|s| s * s).sum::<f64>().sqrt()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[derive(Default)]
struct Row {
    method: String,
    case: String,
    m: usize,
    n: usize,
    k: usize,
    p: usize,
    q: usize,
    precision: String,
    variant: String,
    count: usize,
    device_ms: Option<f64>,
    device_ms_min: Option<f64>,
    total_ms: Option<f64>,
    err_fro: Option<f64>,
    gemm_phase_ms: Option<f64>,
    gemm_phase_gflops: Option<f64>,
    sgemm_gflops: Option<f64>,
    flops: Option<f64>,
    note: String,
}

const HEADER: &str = "method,case,m,n,k,p,q,precision,variant,count,device_ms,device_ms_min,total_ms,err_fro,\
gemm_phase_ms,gemm_phase_gflops,sgemm_gflops,gemm_phase_frac,flops,time_over_flop_bound,note";

impl Row {
    fn csv(&self) -> String {
        let f = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6}"));
        let frac = match (self.gemm_phase_gflops, self.sgemm_gflops) {
            (Some(g), Some(s)) => Some(g / s),
            _ => None,
        };
        let bound = match (
            self.device_ms.or(self.total_ms),
            self.flops,
            self.sgemm_gflops,
        ) {
            (Some(t), Some(fl), Some(s)) => Some(t * 1e-3 / (fl / (s * 1e9))),
            _ => None,
        };
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.method,
            self.case,
            self.m,
            self.n,
            self.k,
            self.p,
            self.q,
            self.precision,
            self.variant,
            self.count,
            f(self.device_ms),
            f(self.device_ms_min),
            f(self.total_ms),
            f(self.err_fro),
            f(self.gemm_phase_ms),
            f(self.gemm_phase_gflops),
            f(self.sgemm_gflops),
            f(frac),
            f(self.flops),
            f(bound),
            self.note.replace(',', ";")
        )
    }
}

struct Out {
    file: std::fs::File,
}

impl Out {
    fn push(&mut self, row: Row) {
        let line = row.csv();
        println!("{line}");
        writeln!(self.file, "{line}").expect("write CSV");
        self.file.flush().expect("flush CSV");
    }
}

fn prec_name(p: GemmPrecision) -> &'static str {
    match p {
        GemmPrecision::F32 => "f32",
        GemmPrecision::Tf32 => "tf32",
        GemmPrecision::Bf16 => "bf16",
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: gpu_bench <out.csv> <scratch dir> [--svd8192]");
        std::process::exit(2);
    }
    let svd8192 = args.iter().any(|a| a == "--svd8192");
    let scratch = std::path::PathBuf::from(&args[2]);
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut out = Out {
        file: std::fs::File::create(&args[1]).expect("CSV file"),
    };
    writeln!(out.file, "{HEADER}").unwrap();
    let t0 = Instant::now();
    let elapsed = || t0.elapsed().as_secs_f64();

    let probe = CudaRrf::new(CudaRrfParams::default()).unwrap();
    if let Err(reason) = probe.availability() {
        println!("cuda-rrf unavailable: {reason}");
        out.push(Row {
            method: "cuda-rrf".into(),
            note: format!("unavailable: {reason}"),
            ..Default::default()
        });
        return;
    }
    let gpu = probe.gpu().unwrap();
    eprintln!(
        "[{:.1}s] device: {} ({:?})",
        elapsed(),
        gpu.ctx.name().unwrap_or_default(),
        gpu.ctx.compute_capability()
    );

    // ----- matrices -----------------------------------------------------------
    let poly1024 = Spectrum::Polynomial { power: 1.0 }.values(1024);
    let (big, galore) = std::thread::scope(|s| {
        let h4 = s.spawn(|| with_singular_values(4096, 4096, &poly1024, 1));
        let h8 = s.spawn(|| with_singular_values(8192, 8192, &poly1024, 2));
        // Per layer: q, k, v, o (512×512); gate, up (1376×512); down (512×1376).
        let hg = s.spawn(|| {
            let spec = Spectrum::Polynomial { power: 1.0 };
            let mut v = Vec::new();
            for layer in 0..8u64 {
                for j in 0..4u64 {
                    v.push(("attn", with_spectrum(512, 512, spec, 100 + 10 * layer + j)));
                }
                for j in 4..6u64 {
                    v.push((
                        "gate_up",
                        with_spectrum(1376, 512, spec, 100 + 10 * layer + j),
                    ));
                }
                v.push(("down", with_spectrum(512, 1376, spec, 100 + 10 * layer + 6)));
            }
            v
        });
        let big = vec![
            Case {
                name: "poly1024_4096",
                a: h4.join().unwrap(),
                sigma: poly1024.clone(),
            },
            Case {
                name: "poly1024_8192",
                a: h8.join().unwrap(),
                sigma: poly1024.clone(),
            },
        ];
        (big, hg.join().unwrap())
    });
    // GaLore projects on the short side: gate/up (1376×512) are passed as Aᵀ.
    let galore_views: Vec<MatRef<'_, f32>> = galore
        .iter()
        .map(|(kind, a)| {
            if *kind == "gate_up" {
                a.transpose()
            } else {
                a.as_ref()
            }
        })
        .collect();
    let galore_sigma = Spectrum::Polynomial { power: 1.0 }.values(512);
    eprintln!("[{:.1}s] generated matrices", elapsed());

    // .npy files and a manifest for the PyTorch peers.
    let mut manifest = std::fs::File::create(scratch.join("manifest.csv")).unwrap();
    writeln!(manifest, "case,file,m,n,k,tail_fro").unwrap();
    for c in &big {
        let file = format!("{}.npy", c.name);
        cuda_rrf::npy::write_stack(&scratch.join(&file), &[c.a.as_ref()], true).unwrap();
        for k in [128, 512] {
            writeln!(
                manifest,
                "{},{file},{},{},{k},{:.12e}",
                c.name,
                c.a.nrows(),
                c.a.ncols(),
                tail(&c.sigma, k)
            )
            .unwrap();
        }
    }
    let sq: Vec<MatRef<'_, f32>> = galore_views
        .iter()
        .copied()
        .filter(|a| a.shape() == (512, 512))
        .collect();
    let wide: Vec<MatRef<'_, f32>> = galore_views
        .iter()
        .copied()
        .filter(|a| a.shape() == (512, 1376))
        .collect();
    cuda_rrf::npy::write_stack(&scratch.join("galore_512x512.npy"), &sq, false).unwrap();
    cuda_rrf::npy::write_stack(&scratch.join("galore_512x1376.npy"), &wide, false).unwrap();
    writeln!(
        manifest,
        "galore60m,galore_512x512.npy,512,512,128,{:.12e}",
        tail(&galore_sigma, 128)
    )
    .unwrap();
    writeln!(
        manifest,
        "galore60m,galore_512x1376.npy,512,1376,128,{:.12e}",
        tail(&galore_sigma, 128)
    )
    .unwrap();
    drop(manifest);
    eprintln!(
        "[{:.1}s] wrote .npy files to {}",
        elapsed(),
        scratch.display()
    );

    // ----- the GEMM rate of this GPU, measured in this run -------------------------
    let mut rate_ws = gpu.take().unwrap();
    rate_ws.bind().unwrap();
    let mut sgemm = std::collections::HashMap::new();
    for prec in [GemmPrecision::F32, GemmPrecision::Tf32, GemmPrecision::Bf16] {
        let rate = rate_ws.gemm_rate(prec, 8192, 5).expect("gemm rate");
        sgemm.insert(prec_name(prec), rate);
        out.push(Row {
            method: "cublas-gemm".into(),
            case: "8192^3".into(),
            m: 8192,
            n: 8192,
            k: 8192,
            precision: prec_name(prec).into(),
            count: 1,
            sgemm_gflops: Some(rate),
            ..Default::default()
        });
    }
    drop(rate_ws); // frees its three 8192² buffers
    eprintln!("[{:.1}s] GEMM rates {sgemm:?} GFLOP/s", elapsed());
    let f32_rate = sgemm["f32"];

    // ----- cuda-rrf on the big matrices, A resident on the device ------------------
    let mut ws = gpu.take().unwrap();
    ws.bind().unwrap();
    let mut variants: Vec<(usize, GemmPrecision, Normalizer, SmallSvd)> = Vec::new();
    for q in [0, 1, 2] {
        for prec in [GemmPrecision::F32, GemmPrecision::Tf32] {
            variants.push((q, prec, Normalizer::Qr, SmallSvd::Gesvdj));
        }
    }
    for c in &big {
        let (m, n) = c.a.shape();
        let dm = ws.upload_resident(c.a.as_ref()).unwrap();
        for k in [128, 512] {
            let mut extra = variants.clone();
            if m == 4096 && k == 128 {
                extra.push((1, GemmPrecision::F32, Normalizer::Cholqr2, SmallSvd::Gesvdj));
                extra.push((1, GemmPrecision::F32, Normalizer::Qr, SmallSvd::Gesvd));
                extra.push((1, GemmPrecision::Bf16, Normalizer::Qr, SmallSvd::Gesvdj));
                extra.push((
                    1,
                    GemmPrecision::Tf32,
                    Normalizer::Cholqr2,
                    SmallSvd::Gesvdj,
                ));
            }
            for (q, prec, normalizer, small_svd) in extra {
                let params = CudaRrfParams {
                    power_iters: q,
                    gemm: prec,
                    normalizer,
                    small_svd,
                    oversample: P,
                    ..Default::default()
                };
                let method = CudaRrf::new(params).unwrap();
                let l = method.width(m, n, k);
                let run = |ws: &mut Workspace, seed: u64| -> f64 {
                    let t = Instant::now();
                    method
                        .basis_on_device(ws, dm.stored, (m, n), k, seed, None)
                        .expect("cuda-rrf");
                    ws.sync().unwrap();
                    t.elapsed().as_secs_f64() * 1e3
                };
                run(&mut ws, 0);
                let times: Vec<f64> = (0..REPS).map(|r| run(&mut ws, 1 + r as u64)).collect();
                ws.set_profile(true);
                run(&mut ws, 99);
                let stages = ws.take_profile().unwrap();
                ws.set_profile(false);
                let gemm_ms = stages
                    .iter()
                    .filter(|(s, _)| *s == Stage::Gemm)
                    .map(|(_, t)| *t)
                    .sum::<f64>();
                let gemm_flops = 2.0 * (m * n * l) as f64 * (2 + 2 * q) as f64;
                let info = method
                    .basis_on_device(&mut ws, dm.stored, (m, n), k, 1, None)
                    .unwrap();
                let q_host = ws.output(m, k).expect("download"); // the basis of the last run
                let res = ws.residual_fro(dm.stored, (m, n), q_host.as_ref()).unwrap();
                let total = {
                    let mut ctx = Context::new(5);
                    method.left_basis(c.a.as_ref(), k, &mut ctx).unwrap();
                    let t = Instant::now();
                    method.left_basis(c.a.as_ref(), k, &mut ctx).unwrap();
                    t.elapsed().as_secs_f64() * 1e3
                };
                let stage_note: Vec<String> = stages
                    .iter()
                    .map(|(s, t)| format!("{s:?}={t:.3}ms"))
                    .collect();
                out.push(Row {
                    method: "cuda-rrf".into(),
                    case: c.name.into(),
                    m,
                    n,
                    k,
                    p: l - k,
                    q,
                    precision: prec_name(prec).into(),
                    variant: format!("{normalizer:?}/{small_svd:?}").to_lowercase(),
                    count: 1,
                    device_ms: Some(median(times.clone())),
                    device_ms_min: Some(times.iter().cloned().fold(f64::INFINITY, f64::min)),
                    total_ms: Some(total),
                    err_fro: Some(res / tail(&c.sigma, k)),
                    gemm_phase_ms: Some(gemm_ms),
                    gemm_phase_gflops: Some(gemm_flops / (gemm_ms * 1e-3) / 1e9),
                    sgemm_gflops: Some(sgemm[prec_name(prec)]),
                    flops: Some(info.flops),
                    note: stage_note.join(" "),
                });
            }
            eprintln!("[{:.1}s] cuda-rrf {} k={k} done", elapsed(), c.name);
        }
        drop(dm);
    }
    gpu.give(ws);

    // ----- cuda-svd ------------------------------------------------------------------
    let small = with_spectrum(1024, 1024, Spectrum::Polynomial { power: 1.0 }, 7);
    // f32 is the timing peer of torch.linalg.svd on f32; f64 (the plugin's
    // default, the exact baseline) shows what exactness costs on this GPU.
    for (driver, precision) in [
        (SvdDriver::Gesvd, SvdPrecision::F32),
        (SvdDriver::Gesvdj, SvdPrecision::F32),
        (SvdDriver::Gesvd, SvdPrecision::F64),
    ] {
        let prec = format!("{precision:?}").to_lowercase();
        let svd = CudaSvd::new(CudaSvdParams {
            driver,
            precision,
            ..Default::default()
        })
        .unwrap();
        svd.left_basis(small.as_ref(), 8, &mut Context::new(0))
            .expect("cuda-svd warm-up");
        for c in &big {
            let (m, n) = c.a.shape();
            if m == 8192 && !svd8192 {
                out.push(Row {
                    method: "cuda-svd".into(),
                    case: c.name.into(),
                    m,
                    n,
                    precision: prec.clone(),
                    variant: format!("{driver:?}").to_lowercase(),
                    note: "skipped at 8192 (pass --svd8192)".into(),
                    ..Default::default()
                });
                continue;
            }
            if elapsed() > 150.0 {
                eprintln!(
                    "[{:.1}s] skipping cuda-svd {driver:?} {prec} {}: time budget",
                    elapsed(),
                    c.name
                );
                continue;
            }
            let t = Instant::now();
            let b = svd
                .left_basis(c.a.as_ref(), 512, &mut Context::new(0))
                .expect("cuda-svd");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let mut ws = gpu.take().unwrap();
            ws.bind().unwrap();
            let dm = ws.upload_resident(c.a.as_ref()).unwrap();
            for k in [128, 512] {
                let qk = b.q.subcols(0, k);
                let res = ws.residual_fro(dm.stored, (m, n), qk).unwrap();
                out.push(Row {
                    method: "cuda-svd".into(),
                    case: c.name.into(),
                    m,
                    n,
                    k,
                    precision: prec.clone(),
                    variant: format!("{driver:?}").to_lowercase(),
                    count: 1,
                    total_ms: Some(ms),
                    err_fro: Some(res / tail(&c.sigma, k)),
                    sgemm_gflops: Some(f32_rate),
                    flops: Some(b.info.flops),
                    note: "one timed run (incl. transfers); same SVD for both k".into(),
                    ..Default::default()
                });
            }
            drop(dm);
            gpu.give(ws);
            eprintln!(
                "[{:.1}s] cuda-svd {driver:?} {prec} {} done ({ms:.0} ms)",
                elapsed(),
                c.name
            );
        }
    }

    // ----- GaLore 60M set, batched ----------------------------------------------------
    let k = 128;
    let mut check_ws = gpu.take().unwrap();
    check_ws.bind().unwrap();
    let resident: Vec<_> = galore_views
        .iter()
        .map(|a| check_ws.upload_resident(*a).unwrap())
        .collect();
    let galore_tail = tail(&galore_sigma, k);
    for q in [0, 1, 2] {
        for prec in [GemmPrecision::F32, GemmPrecision::Tf32] {
            for streams in [1, 4, 8] {
                if streams != 4 && (q != 1 || prec != GemmPrecision::F32) {
                    continue;
                }
                let params = CudaRrfParams {
                    power_iters: q,
                    gemm: prec,
                    streams,
                    ..Default::default()
                };
                let method = CudaRrf::new(params).unwrap();
                let mut ctx = Context::new(3);
                method.left_basis_batch(&galore_views, k, &mut ctx);
                let mut totals = Vec::new();
                let mut last = Vec::new();
                for _ in 0..REPS {
                    let t = Instant::now();
                    last = method.left_basis_batch(&galore_views, k, &mut ctx);
                    totals.push(t.elapsed().as_secs_f64() * 1e3);
                }
                // Device-resident: the same work with A already on the device.
                let device_times: Vec<f64> = (0..REPS + 1)
                    .map(|r| resident_batch(&method, gpu, &resident, k, r as u64))
                    .skip(1)
                    .collect();
                let mut err = 0.0;
                let mut flops = 0.0;
                for (r, b) in resident.iter().zip(&last) {
                    let b = b.as_ref().expect("batch basis");
                    flops += b.info.flops;
                    err += check_ws
                        .residual_fro(r.stored, r.shape, b.q.as_ref())
                        .unwrap()
                        / galore_tail;
                }
                out.push(Row {
                    method: "cuda-rrf".into(),
                    case: "galore60m".into(),
                    m: 512,
                    n: 0,
                    k,
                    p: P,
                    q,
                    precision: prec_name(prec).into(),
                    variant: format!("batch/streams={streams}"),
                    count: galore_views.len(),
                    device_ms: Some(median(device_times.clone())),
                    device_ms_min: Some(device_times.iter().cloned().fold(f64::INFINITY, f64::min)),
                    total_ms: Some(median(totals)),
                    err_fro: Some(err / galore_views.len() as f64),
                    sgemm_gflops: Some(sgemm[prec_name(prec)]),
                    flops: Some(flops),
                    note: "err_fro is the mean over the 56 matrices".into(),
                    ..Default::default()
                });
            }
        }
    }
    eprintln!("[{:.1}s] galore batch done", elapsed());

    // ----- the CPU rrf on this machine's cores --------------------------------------------
    let cpu = rrf::Rrf::new(rrf::RrfParams {
        power_iters: 1,
        oversample: P,
        ..Default::default()
    })
    .unwrap();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for c in &big {
        let (m, n) = c.a.shape();
        if elapsed() > 200.0 {
            break;
        }
        let mut ctx = Context::new(1).with_par(Par::rayon(0));
        cpu.left_basis(c.a.as_ref(), 128, &mut ctx).unwrap();
        let t = Instant::now();
        let b = cpu.left_basis(c.a.as_ref(), 128, &mut ctx).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let mut ws = gpu.take().unwrap();
        ws.bind().unwrap();
        let dm = ws.upload_resident(c.a.as_ref()).unwrap();
        let res = ws.residual_fro(dm.stored, (m, n), b.q.as_ref()).unwrap();
        drop(dm);
        gpu.give(ws);
        out.push(Row {
            method: "rrf".into(),
            case: c.name.into(),
            m,
            n,
            k: 128,
            p: P,
            q: 1,
            precision: "f32".into(),
            variant: format!("cpu/{threads} threads"),
            count: 1,
            total_ms: Some(ms),
            err_fro: Some(res / tail(&c.sigma, 128)),
            flops: Some(b.info.flops),
            ..Default::default()
        });
    }
    {
        use rayon::prelude::*;
        let run = || {
            galore_views
                .par_iter()
                .enumerate()
                .map(|(i, a)| cpu.left_basis(*a, k, &mut Context::new(i as u64)).unwrap())
                .collect::<Vec<_>>()
        };
        run();
        let t = Instant::now();
        let bases = run();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let mut err = 0.0;
        for (r, b) in resident.iter().zip(&bases) {
            err += check_ws
                .residual_fro(r.stored, r.shape, b.q.as_ref())
                .unwrap()
                / galore_tail;
        }
        out.push(Row {
            method: "rrf".into(),
            case: "galore60m".into(),
            m: 512,
            k,
            p: P,
            q: 1,
            precision: "f32".into(),
            variant: format!("cpu/rayon over matrices/{threads} threads"),
            count: bases.len(),
            total_ms: Some(ms),
            err_fro: Some(err / bases.len() as f64),
            flops: Some(bases.iter().map(|b| b.info.flops).sum()),
            ..Default::default()
        });
    }
    drop(resident);
    gpu.give(check_ws);
    eprintln!("[{:.1}s] done", elapsed());
}

/// One batched pass over device-resident matrices on `streams` workspaces;
/// returns milliseconds.
fn resident_batch(
    method: &CudaRrf,
    gpu: &cuda_rrf::gpu::Gpu,
    mats: &[cuda_rrf::gpu::DeviceMat],
    k: usize,
    seed: u64,
) -> f64 {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = method.params().streams.min(mats.len()).max(1);
    let mut wss: Vec<Workspace> = (0..workers).map(|_| gpu.take().unwrap()).collect();
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for ws in wss.iter_mut() {
            let next = &next;
            s.spawn(move || {
                ws.bind().unwrap();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(d) = mats.get(i) else { break };
                    method
                        .basis_on_device(ws, d.stored, d.shape, k, seed ^ i as u64, None)
                        .expect("cuda-rrf");
                }
                ws.sync().unwrap();
            });
        }
    });
    let ms = t.elapsed().as_secs_f64() * 1e3;
    for ws in wss {
        gpu.give(ws);
    }
    ms
}
