//! `exp` for f32 in plain arithmetic, so that loops over slices vectorize
//! (libm's `expf` is a call per element) and no SSE/AVX transition occurs
//! (docs/numerics.md#avx-upper-state).
//!
//! Contract (Cephes `expf`, S. L. Moshier): with n = round(x / ln 2) and
//! r = x − n ln 2 (ln 2 split in two parts, |r| ≤ ln 2 / 2),
//! `exp(x) = 2ⁿ · (1 + r + r² P(r))`, P of degree 5. Relative error below
//! 2 ulp on [−86.64, 88.37] (checked against f64 in the tests below);
//! 0 below −86.64 (where e^x < 2⁻¹²⁵), +∞ above 88.37, NaN for NaN. The same input gives the same bits on every call.

/// ln(2⁻¹²⁵): at and above it 2ⁿ · (1 + …) stays a normal number; below it
/// the result is flushed to 0 (the true value is below 2.4e-38).
const LO: f32 = -86.643_4;
/// Above it 2ⁿ would overflow the exponent field; the result is +∞.
const HI: f32 = 88.376_26;

/// e^x, see the module doc.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // 1.5 · 2²³: adding and subtracting it rounds to the nearest integer.
    const SHIFTER: f32 = 12_582_912.0;
    let xc = x.clamp(LO, HI);
    let n = (xc * std::f32::consts::LOG2_E + SHIFTER) - SHIFTER;
    let r = xc - n * 0.693_359_4;
    let r = r + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let y = f32::from_bits(y.to_bits().wrapping_add(((n as i32) << 23) as u32));
    if x < LO {
        0.0
    } else if x > HI {
        f32::INFINITY
    } else {
        y
    }
}

/// The logistic function 1 / (1 + e^(−x)) on [`exp`].
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_close(x: f32, ulps: f64) {
        let want = (x as f64).exp();
        let got = exp(x) as f64;
        // One ulp of the f32 nearest the true value.
        let ulp = (want as f32).abs().next_up() as f64 - (want as f32).abs() as f64;
        assert!(
            (got - want).abs() <= ulps * ulp,
            "exp({x}) = {got}, true {want}, error {} ulp",
            (got - want).abs() / ulp
        );
    }

    #[test]
    fn within_two_ulp_over_the_normal_range() {
        let steps = 400_000;
        for i in 0..=steps {
            let x = LO + (HI - LO) * i as f32 / steps as f32;
            assert_close(x, 2.0);
        }
        for x in [
            0.0, -0.0, 1e-30, -1e-30, 1e-7, 0.5, -0.5, 1.0, -1.0, 10.0, -10.0,
        ] {
            assert_close(x, 2.0);
        }
    }

    #[test]
    fn edges() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
    }
}
