//! Criterion benchmarks of every registered plugin (`lab::registry()`), with
//! default params, on GaLore-60M shapes and a decaying spectrum.
//!
//! - Shapes: 512×512, 1376×512, 512×1376 at k = 128; with
//!   `GALORE_BENCH_LARGE=1` also 4096×4096 at k = 128 and k = 512. The full
//!   SVD of 4096² takes about 30 s a call at one thread and criterion takes 10
//!   samples, so that run lasts about half an hour; add a filter (`-- rrf`)
//!   to leave the SVD out.
//! - Inputs: σ_j = j^(−1) (`Spectrum::Polynomial { power: 1.0 }`), fixed seeds,
//!   generated before any timing.
//! - Threads: `Par::Seq` (`t1`) and `Par::rayon(2)` (`t2`).
//! - Throughput: the plugin's own flop count (`Basis.info.flops`) from one
//!   untimed call, passed as `Throughput::Elements`, so criterion's
//!   "elem/s" reads as flop/s (GFLOP/s when it prints "Gelem/s").
//!
//! Plugins that are unavailable here (a GPU method without a GPU) are skipped
//! with a note. Run: `cargo bench -p lab --bench plugins` (about 2 minutes on
//! 2 cores); filter with e.g. `cargo bench -p lab --bench plugins -- rrf`.

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use std::hint::black_box;
use std::time::Duration;
use subspace::faer::{Mat, Par};
use subspace::generate::{Spectrum, with_spectrum};
use subspace::{Context, SubspaceMethod};

/// Seed of the input matrices.
const MATRIX_SEED: u64 = 20_240_601;
/// Seed of each call's context (the same for every call: fixed work).
const CTX_SEED: u64 = 7;

/// `(m, n, k)` of the cases to run.
fn cases() -> Vec<(usize, usize, usize)> {
    let mut cases = vec![(512, 512, 128), (1376, 512, 128), (512, 1376, 128)];
    if std::env::var("GALORE_BENCH_LARGE").is_ok_and(|v| v == "1") {
        cases.extend([(4096, 4096, 128), (4096, 4096, 512)]);
    }
    cases
}

fn pars() -> [(&'static str, Par); 2] {
    [("t1", Par::Seq), ("t2", Par::rayon(2))]
}

fn bench_plugins(c: &mut Criterion) {
    let registry = lab::registry().expect("the lab registry is valid");
    let methods: Vec<(&str, Box<dyn SubspaceMethod>)> = registry
        .entries()
        .iter()
        .filter_map(|entry| {
            let method = entry.build_default().expect("default params build");
            match method.availability() {
                Ok(()) => Some((entry.name, method)),
                Err(reason) => {
                    eprintln!("skipping plugin {}: {reason}", entry.name);
                    None
                }
            }
        })
        .collect();

    let mut inputs: Vec<((usize, usize), Mat<f32>)> = Vec::new();
    for (m, n, k) in cases() {
        // Generated outside the timed region, once per shape.
        if !inputs.iter().any(|(shape, _)| *shape == (m, n)) {
            let a = with_spectrum(m, n, Spectrum::Polynomial { power: 1.0 }, MATRIX_SEED);
            inputs.push(((m, n), a));
        }
        let a = &inputs
            .iter()
            .find(|(shape, _)| *shape == (m, n))
            .expect("just made")
            .1;
        let mut group = c.benchmark_group(format!("{m}x{n}_k{k}"));
        group.sample_size(10);
        // Flat: every sample runs the same few calls (a full SVD is slow).
        group.sampling_mode(SamplingMode::Flat);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(if m * n > 4_000_000 { 20 } else { 2 }));
        for (name, method) in &methods {
            for (threads, par) in pars() {
                // One untimed call for the flop count (and as a check).
                let basis = method
                    .left_basis(a.as_ref(), k, &mut Context::new(CTX_SEED).with_par(par))
                    .unwrap_or_else(|e| panic!("{name} on {m}x{n}, k = {k}: {e}"));
                // Throughput in flops (the plugin's own count), not elements.
                group.throughput(Throughput::Elements(basis.info.flops as u64));
                group.bench_function(BenchmarkId::new(*name, threads), |b| {
                    b.iter(|| {
                        let mut ctx = Context::new(CTX_SEED).with_par(par);
                        black_box(method.left_basis(black_box(a.as_ref()), k, &mut ctx))
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench_plugins);
criterion_main!(benches);
