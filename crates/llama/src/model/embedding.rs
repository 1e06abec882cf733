//! Token embedding, `torch.nn.Embedding(V, C)`.
//!
//! Contract: row `i` of `out` is row `tokens[i]` of `wte`; backward
//! scatter-adds `dwte[tokens[i]] += dout[i]` (repeated tokens sum).
//!
//! Letters: N rows (B·T), C hidden, V vocab.

/// `out[i, :] = wte[tokens[i], :]`, overwriting `out`.
///
/// - `out`: (N, C), `tokens`: (N) each `< V`, `wte`: (V, C)
pub fn embedding_forward(
    out: &mut [f32], // (N, C)
    tokens: &[u32],  // (N)
    wte: &[f32],     // (V, C)
    c: usize,
) {
    assert!(c > 0, "C must be positive");
    assert_eq!(out.len(), tokens.len() * c, "out must be (N, C)");
    assert_eq!(wte.len() % c, 0, "wte must be (V, C)");
    let v = wte.len() / c;
    for (row, &t) in out.chunks_exact_mut(c).zip(tokens) {
        let t = t as usize;
        assert!(t < v, "token {t} out of vocabulary of size {v}");
        row.copy_from_slice(&wte[t * c..(t + 1) * c]);
    }
}

/// Accumulates `dwte[tokens[i], :] += dout[i, :]`.
///
/// - `dwte`: (V, C), `dout`: (N, C), `tokens`: (N) each `< V`
pub fn embedding_backward(
    dwte: &mut [f32], // (V, C)
    dout: &[f32],     // (N, C)
    tokens: &[u32],   // (N)
    c: usize,
) {
    assert!(c > 0, "C must be positive");
    assert_eq!(dout.len(), tokens.len() * c, "dout must be (N, C)");
    assert_eq!(dwte.len() % c, 0, "dwte must be (V, C)");
    let v = dwte.len() / c;
    for (g, &t) in dout.chunks_exact(c).zip(tokens) {
        let t = t as usize;
        assert!(t < v, "token {t} out of vocabulary of size {v}");
        for (d, &x) in dwte[t * c..(t + 1) * c].iter_mut().zip(g) {
            *d += x;
        }
    }
}
