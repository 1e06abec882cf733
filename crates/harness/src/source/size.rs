//! A matrix file's size, checked against the memory budget
//! (`subspace::budget`) from its length alone, before its data is read.

use std::path::Path;

use subspace::budget::{MemoryBudget, checked_bytes};

use super::SourceError;

/// Refuses a file of `len` bytes whose reading would exceed the budget: its
/// bytes are held whole, then as f32 data and as matrices, at least 3 × its
/// length (more for f16/bf16, which widen).
pub(super) fn check_file_size(path: &Path, len: u64) -> Result<(), SourceError> {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let budget = MemoryBudget::from_machine().map_err(|reason| SourceError::TooLarge {
        path: path.to_owned(),
        reason,
    })?;
    budget
        .check(
            format!("reading it ({len} bytes)"),
            checked_bytes(&[len, 3]),
        )
        .map_err(|e| SourceError::TooLarge {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}
