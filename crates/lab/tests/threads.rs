//! Every registered CPU plugin gives the same bits on 1, 2 and 8 rayon
//! threads (docs/numerics.md#determinism).
//!
//! Each plugin runs at its default params and at the variants below, on
//! shapes that span several of `dense::matmul`'s tiles (ragged, with a
//! one-row edge tile), once with `Par::Seq` on the calling thread and then
//! inside real pools of 1, 2 and 8 threads with `Par::rayon(threads)`. A
//! plugin whose device is not the CPU is skipped, by name. The model's part
//! is `crates/llama/tests/threads.rs`.

use subspace::faer::{Mat, MatRef, Par};
use subspace::generate::{Spectrum, with_spectrum};
use subspace::{Context, Device, SubspaceMethod};

/// Param variants beyond the defaults, by plugin name (TOML).
const VARIANTS: [(&str, &str); 6] = [
    ("svd", "precision = \"f32\""),
    ("rrf", "power_iters = 2"),
    (
        "rrf",
        "power_iters = 1\nnormalizer = \"lu\"\ntruncate = \"svd\"",
    ),
    ("rrf", "warm_start = true"),
    ("lanczos", "block_size = 4"),
    ("lanczos", "krylov_dim = 40\nmax_restarts = 200"),
];

/// (m, n, k): above the tile sizes (128 × 512), wide and tall, and one with
/// 129 rows (a one-row edge tile).
const SHAPES: [(usize, usize, usize); 3] = [(300, 700, 24), (700, 300, 8), (129, 200, 16)];

const THREADS: [usize; 3] = [1, 2, 8];

fn methods() -> Vec<(String, Box<dyn SubspaceMethod>)> {
    let registry = lab::registry().expect("registry");
    let mut out = Vec::new();
    for entry in registry.entries() {
        let method = entry.build_default().expect("default params build");
        if method.device() != Device::Cpu {
            println!("skipped: {} does not run on the CPU", entry.name);
            continue;
        }
        out.push((format!("{} (defaults)", entry.name), method));
        for (plugin, params) in VARIANTS.iter().filter(|(p, _)| *p == entry.name) {
            let table: toml::Table = toml::from_str(params).expect("variant TOML");
            let method = entry.build(&table).expect("variant builds");
            out.push((format!("{plugin} ({})", params.replace('\n', ", ")), method));
        }
    }
    out
}

fn bits(q: MatRef<'_, f32>) -> Vec<u32> {
    (0..q.ncols())
        .flat_map(|j| (0..q.nrows()).map(move |i| q[(i, j)].to_bits()))
        .collect()
}

#[test]
fn every_cpu_plugin_gives_the_same_bits_on_1_2_and_8_threads() {
    let methods = methods();
    assert!(
        methods.iter().any(|(n, _)| n.starts_with("rrf")),
        "the registry lost rrf"
    );
    for (s, &(m, n, k)) in SHAPES.iter().enumerate() {
        let a = with_spectrum(m, n, Spectrum::Polynomial { power: 1.0 }, 11 + s as u64);
        // A warm start for the methods that read one: the dominant basis of
        // a nearby matrix.
        let warm: Mat<f32> = Mat::from_fn(m, k, |i, j| if i == j { 1.0 } else { 0.0 });
        for (name, method) in &methods {
            let go = |par: Par| {
                let mut ctx = Context::new(5).with_par(par).with_warm_start(warm.as_ref());
                let basis = method
                    .left_basis(a.as_ref(), k, &mut ctx)
                    .unwrap_or_else(|e| panic!("{name} on {m}×{n}, k = {k}: {e}"));
                bits(basis.q.as_ref())
            };
            let want = go(Par::Seq);
            for threads in THREADS {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a rayon pool");
                let got = pool.install(|| go(Par::rayon(threads)));
                assert!(
                    got == want,
                    "{name} on {m}×{n}, k = {k}: {threads} threads changed the bits"
                );
            }
        }
    }
}
