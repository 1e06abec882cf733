//! Operation counts (multiply and add counted separately).

/// m×k by k×n product.
pub fn gemm(m: usize, n: usize, k: usize) -> f64 {
    2.0 * m as f64 * n as f64 * k as f64
}

/// Householder QR of m×ℓ plus forming the thin Q (Golub–Van Loan §5.2:
/// 2mℓ² − 2ℓ³/3 each).
pub fn qr_thin_q(m: usize, l: usize) -> f64 {
    let (m, l) = (m as f64, l as f64);
    4.0 * m * l * l - 4.0 / 3.0 * l * l * l
}

/// Partially pivoted LU of m×ℓ (m ≥ ℓ): mℓ² − ℓ³/3.
pub fn lu(m: usize, l: usize) -> f64 {
    let (m, l) = (m as f64, l as f64);
    m * l * l - l * l * l / 3.0
}

/// Thin SVD with left vectors, R-SVD count (Golub–Van Loan Fig. 5.4.1,
/// Σ, U₁ and V: 6pq² + 20q³ with p = max(m, n), q = min(m, n)); an
/// estimate, since the bidiagonal stage iterates.
pub fn svd(m: usize, n: usize) -> f64 {
    let (p, q) = (m.max(n) as f64, m.min(n) as f64);
    6.0 * p * q * q + 20.0 * q * q * q
}
