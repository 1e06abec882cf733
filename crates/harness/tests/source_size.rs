//! A matrix file is checked against the memory budget from its length,
//! before it is read whole. The only test of this binary: it sets
//! `LAB_MEMORY_BUDGET` for its own process.

use std::path::Path;

use harness::source::{Tensors, load_file};

#[test]
fn a_file_over_the_budget_is_refused_before_it_is_read() {
    let npy = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/fixtures/grad.npy"
    ));
    let st = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/fixtures/torch_like.safetensors"
    ));
    // SAFETY: the only test of this binary; no other thread reads the environment.
    unsafe { std::env::set_var("LAB_MEMORY_BUDGET", "1G") };
    load_file(npy, &Tensors::All, true).unwrap();
    load_file(st, &Tensors::All, true).unwrap();
    // SAFETY: as above.
    unsafe { std::env::set_var("LAB_MEMORY_BUDGET", "100") };
    for path in [npy, st] {
        let err = load_file(path, &Tensors::All, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(
            err.contains("over the memory budget of 100 bytes (LAB_MEMORY_BUDGET=100)"),
            "{err}"
        );
        assert!(err.contains("set LAB_MEMORY_BUDGET higher"), "{err}");
    }
}
