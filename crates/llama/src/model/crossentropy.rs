//! Mean softmax cross-entropy over rows, as `torch.nn.functional.cross_entropy`
//! with `reduction="mean"`.
//!
//! Contract: `p = softmax(logits)` per row (the row max subtracted first),
//! `loss = (1/N) Σᵢ −ln p[i, targets[i]]`, computed per row as
//! `ln Σ exp(z − max) − (z[target] − max)`, so large logits lose no digits.
//! Backward: `dlogits += dloss · (p − onehot(targets)) / N`.
//!
//! Letters: N rows (B·T), V vocab.

/// Writes the softmax `probs` (cached for backward) and returns the mean loss.
///
/// - `probs`: (N, V), `logits`: (N, V), `targets`: (N) each `< V`
pub fn crossentropy_forward(
    probs: &mut [f32], // (N, V)
    logits: &[f32],    // (N, V)
    targets: &[u32],   // (N)
    n: usize,
    v: usize,
) -> f32 {
    assert_eq!(probs.len(), n * v, "probs must be (N, V)");
    assert_eq!(logits.len(), n * v, "logits must be (N, V)");
    assert_eq!(targets.len(), n, "targets must be (N)");
    if n == 0 {
        return 0.0;
    }
    assert!(v > 0, "V must be positive");
    let mut total = 0.0f32;
    for ((p, z), &t) in probs
        .chunks_exact_mut(v)
        .zip(logits.chunks_exact(v))
        .zip(targets)
    {
        let t = t as usize;
        assert!(t < v, "target {t} out of vocabulary of size {v}");
        let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (pi, &zi) in p.iter_mut().zip(z) {
            *pi = (zi - max).exp();
            sum += *pi;
        }
        let inv = 1.0 / sum;
        p.iter_mut().for_each(|pi| *pi *= inv);
        total += sum.ln() - (z[t] - max);
    }
    total / n as f32
}

/// Accumulates `dlogits += dloss · (probs − onehot(targets)) / N`.
///
/// - `dlogits`: (N, V), `probs`: (N, V) from forward, `targets`: (N) each `< V`
pub fn crossentropy_backward(
    dlogits: &mut [f32], // (N, V)
    probs: &[f32],       // (N, V)
    targets: &[u32],     // (N)
    n: usize,
    v: usize,
    dloss: f32,
) {
    assert_eq!(dlogits.len(), n * v, "dlogits must be (N, V)");
    assert_eq!(probs.len(), n * v, "probs must be (N, V)");
    assert_eq!(targets.len(), n, "targets must be (N)");
    if n == 0 {
        return;
    }
    let scale = dloss / n as f32;
    for ((d, p), &t) in dlogits
        .chunks_exact_mut(v)
        .zip(probs.chunks_exact(v))
        .zip(targets)
    {
        let t = t as usize;
        assert!(t < v, "target {t} out of vocabulary of size {v}");
        for (i, (di, &pi)) in d.iter_mut().zip(p).enumerate() {
            let onehot = if i == t { 1.0 } else { 0.0 };
            *di += scale * (pi - onehot);
        }
    }
}
