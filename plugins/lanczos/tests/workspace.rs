//! `workspace_bytes` against the peak heap use of a call, measured with a
//! counting allocator (this test binary only).

use lanczos::{Lanczos, LanczosParams};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use subspace::generate::{self, Spectrum};
use subspace::{Context, Plugin, SubspaceMethod};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn workspace_bytes_predicts_the_peak() {
    let lanczos = Lanczos::new(LanczosParams::default()).expect("params");
    // Krylov path (tall, wide, with restarts) and the dense fallback.
    for (m, n, k) in [(300, 200, 24), (200, 300, 24), (120, 200, 10), (40, 30, 25)] {
        let a = generate::with_spectrum(m, n, Spectrum::Polynomial { power: 0.5 }, 1);
        let before = LIVE.load(Relaxed);
        PEAK.store(before, Relaxed);
        let basis = lanczos
            .left_basis(a.as_ref(), k, &mut Context::new(3))
            .expect("basis");
        let peak = PEAK.load(Relaxed) - before;
        drop(basis);
        let predicted = lanczos.workspace_bytes(m, n, k);
        let ratio = predicted as f64 / peak as f64;
        assert!(
            (0.9..=1.2).contains(&ratio),
            "{m}×{n} k = {k}: predicted {predicted} B, measured peak {peak} B (ratio {ratio:.2})"
        );
    }
}
