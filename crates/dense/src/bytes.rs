//! Heap bytes of dense matrices as faer allocates them, for
//! `workspace_bytes` predictions.

/// Bytes of a `faer::Mat<T>` of `rows × cols`: each column padded to a
/// multiple of 64 bytes.
pub fn mat_bytes<T>(rows: usize, cols: usize) -> usize {
    let size = size_of::<T>();
    rows.next_multiple_of(64 / size) * cols * size
}
