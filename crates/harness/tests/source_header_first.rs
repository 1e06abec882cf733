//! A matrix file is validated from its header before its data is read: a
//! 1 GiB (sparse) file that is not what its extension says, or whose header
//! disagrees with its length, is refused at the cost of its header, measured
//! with this binary's own counting allocator (peak heap bytes during the
//! load). The only test of this binary: it sets `LAB_MEMORY_BUDGET` for its
//! own process, high enough that the budget refuses nothing, so what is
//! measured is the header check.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use common::hand_npy;
use harness::source::{SourceError, Tensors, load_file};

/// The system allocator, counting live heap bytes and their peak.
struct Counting {
    live: AtomicUsize,
    peak: AtomicUsize,
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = self.live.fetch_add(layout.size(), Relaxed) + layout.size();
            self.peak.fetch_max(now, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        self.live.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static HEAP: Counting = Counting {
    live: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
};

const GIB: u64 = 1 << 30;

/// Writes `head` to `path` and extends the file (sparsely) to `len` bytes.
fn sparse(path: &Path, head: &[u8], len: u64) {
    std::fs::write(path, head).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Loads `path` named exactly; returns the result and the peak heap bytes
/// the load added to what was live before it.
fn measured(path: &Path) -> (Result<usize, SourceError>, usize) {
    let before = HEAP.live.load(Relaxed);
    HEAP.peak.store(before, Relaxed);
    let result = load_file(path, &Tensors::All, true).map(|l| l.matrices.len());
    (result, HEAP.peak.load(Relaxed) - before)
}

/// A safetensors file's first bytes: the length prefix and the JSON header.
fn st_head(json: &str) -> Vec<u8> {
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out
}

#[test]
fn a_large_file_is_refused_from_its_header_without_reading_it() {
    // SAFETY: the only test of this binary; no other thread reads the environment.
    unsafe { std::env::set_var("LAB_MEMORY_BUDGET", "1T") };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The measurement can fail: a valid 4 MiB matrix costs at least 4 MiB.
    let valid = d.join("valid.npy");
    std::fs::write(
        &valid,
        hand_npy("<f4", false, "(1024, 1024)", &[0; 4 << 20]),
    )
    .unwrap();
    let (result, peak) = measured(&valid);
    assert_eq!(result.unwrap(), 1);
    assert!(peak >= 4 << 20, "a 4 MiB matrix measured at {peak} bytes");

    let cases: [(&str, Vec<u8>, u64, &str); 7] = [
        (
            "zip.npy",
            b"PK\x03\x04 a zip archive".to_vec(),
            GIB,
            "is not a npy file",
        ),
        (
            "text.safetensors",
            b"hello, not tensors".to_vec(),
            GIB,
            "is not a safetensors file",
        ),
        (
            "long.npy",
            hand_npy("<f4", false, "(16, 16)", &[0; 1024]),
            GIB,
            "unexpected bytes after the 1024 bytes of data",
        ),
        (
            "huge_shape.npy",
            hand_npy("<f4", false, "(1000000, 1000000)", &[]),
            GIB,
            "needs 4000000000000 bytes of data but only",
        ),
        (
            "long.safetensors",
            st_head(r#"{"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}"#),
            GIB,
            "unexpected bytes after the 64 bytes of tensor data",
        ),
        (
            "huge_shape.safetensors",
            st_head(
                r#"{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}}"#,
            ),
            GIB,
            "announces 4000000000000 bytes of tensor data",
        ),
        (
            "offsets.safetensors",
            st_head(r#"{"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,1000000000000]}}"#),
            GIB,
            "tensor `w` has shape [4, 4] of F32, which needs 64 bytes",
        ),
    ];
    for (name, head, len, what) in cases {
        let path = d.join(name);
        sparse(&path, &head, len);
        let (result, peak) = measured(&path);
        let err = result.expect_err(name);
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(what), "{name}: {msg}");
        assert!(
            peak < 1 << 20,
            "{name}: rejecting it cost {peak} heap bytes: {msg}"
        );
    }
}
