//! The memory estimate of a run from its config, before allocating: the
//! activations' bytes are exactly what `Activations` holds, and a run over
//! the budget (or whose bytes overflow) is refused naming the bytes, the
//! budget and the fix.

use llama::LlamaConfig;
use llama::model::llama::{Activations, Checkpointing, activation_bytes};
use llama::session::{TrainConfig, check_budget, estimate_bytes};
use subspace::budget::MemoryBudget;

#[test]
fn activation_bytes_match_the_buffers() {
    let model = LlamaConfig::tiny();
    for mode in [Checkpointing::Off, Checkpointing::Layers] {
        for (b, t) in [(1, 1), (2, 8), (3, 17)] {
            let held = Activations::with_checkpointing(&model, b, t, mode).bytes();
            assert_eq!(
                activation_bytes(&model, b, t, mode),
                Some(held),
                "{mode:?} B={b} T={t}"
            );
        }
    }
    assert_eq!(
        activation_bytes(&model, usize::MAX, 2, Checkpointing::Off),
        None
    );
}

fn tiny(batch_size: usize) -> TrainConfig {
    TrainConfig {
        preset: "tiny".into(),
        batch_size,
        seq_len: 16,
        ..TrainConfig::default()
    }
}

#[test]
fn a_run_over_the_budget_is_refused_with_bytes_and_fix() {
    let small = estimate_bytes(&tiny(2)).unwrap().unwrap();
    let budget = MemoryBudget::fixed(small.total_bytes, "test budget");
    check_budget(&tiny(2), &budget).unwrap();

    let err = check_budget(&tiny(100_000), &budget)
        .unwrap_err()
        .to_string();
    assert!(err.contains("field `batch_size`"), "{err}");
    assert!(
        err.contains("batch_size = 100000, seq_len = 16 needs"),
        "{err}"
    );
    assert!(err.contains("activations"), "{err}");
    assert!(err.contains("test budget"), "{err}");
    assert!(err.contains("use a smaller batch_size or seq_len"), "{err}");

    let err = check_budget(&tiny(usize::MAX), &budget)
        .unwrap_err()
        .to_string();
    assert!(err.contains("overflows"), "{err}");
}

#[test]
fn a_gzip_corpus_is_inflated_up_to_its_cap() {
    use llama::data::{BYTE_VOCAB, Corpus, Tokenizer};
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.txt.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&[b'a'; 10_000]).unwrap();
    std::fs::write(&path, enc.finish().unwrap()).unwrap();

    let at_cap = Corpus::new(&path).with_max_bytes(10_000);
    assert_eq!(
        at_cap.load(&Tokenizer::Bytes, BYTE_VOCAB).unwrap().len(),
        10_000
    );
    let err = Corpus::new(&path)
        .with_max_bytes(9_999)
        .load(&Tokenizer::Bytes, BYTE_VOCAB)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("inflates to more than 9999 bytes"), "{err}");
    assert!(err.contains("LAB_MEMORY_BUDGET"), "{err}");
}
