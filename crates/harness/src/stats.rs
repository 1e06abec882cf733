//! The statistics of a report: 95% confidence intervals that say which
//! differences are real.
//!
//! - [`paired_t`]: the mean of paired differences (one per seed: the same
//!   seed gives two runs the same init, data order and sketches) with the
//!   Student t interval `d̄ ± t₀.₉₇₅(n − 1) · s / √n`, `s` the sample
//!   standard deviation. With fewer than 2 pairs there is no interval, and
//!   none is invented: [`Unavailable`] says so.
//! - [`bootstrap_ratio`] and [`bootstrap_median`]: percentile bootstrap
//!   intervals (Efron & Tibshirani 1993, §13.3) of a ratio of medians and of
//!   a median, from [`RESAMPLES`] resamples drawn with replacement. The
//!   draws are a function of (seed, resample, sample, index) only, so the
//!   same inputs give the same bits on any machine and thread count.
//!
//! The percentile of a sorted sample is the linear interpolation between
//! order statistics (Hyndman & Fan 1996, type 7, as NumPy's default).

use statrs::distribution::{ContinuousCDF as _, StudentsT};

/// The confidence level of every interval here.
pub const LEVEL: f64 = 0.95;

/// Resamples of a bootstrap interval.
pub const RESAMPLES: usize = 2000;

/// An estimate and its 95% interval `[lo, hi]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    /// Whether `x` lies in `[lo, hi]`.
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }

    /// Whether the two intervals share a point.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.lo <= other.hi && other.lo <= self.hi
    }
}

/// Why an interval could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unavailable {
    /// A t interval needs at least 2 pairs (1 degree of freedom).
    #[error("CI unavailable: needs ≥ 2 seeds, has {0}")]
    TooFewSeeds(usize),
    /// A bootstrap needs at least one sample on each side.
    #[error("CI unavailable: no samples")]
    NoSamples,
}

/// The Student t quantile `t_p(dof)`.
pub fn t_quantile(p: f64, dof: usize) -> f64 {
    assert!(
        dof >= 1 && p > 0.0 && p < 1.0,
        "t quantile of p = {p}, dof = {dof}"
    );
    StudentsT::new(0.0, 1.0, dof as f64)
        .expect("location 0, scale 1 and dof ≥ 1 are valid")
        .inverse_cdf(p)
}

/// The mean of `diffs` (paired differences, one per seed) with its 95%
/// Student t interval; see the module doc.
pub fn paired_t(diffs: &[f64]) -> Result<Interval, Unavailable> {
    let n = diffs.len();
    if n < 2 {
        return Err(Unavailable::TooFewSeeds(n));
    }
    let mean = diffs.iter().sum::<f64>() / n as f64;
    let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t_quantile(0.5 + LEVEL / 2.0, n - 1) * (var / n as f64).sqrt();
    Ok(Interval {
        estimate: mean,
        lo: mean - half,
        hi: mean + half,
    })
}

/// The median of `v` (the upper one of an even count, as the training
/// summary's); `v` is not empty.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The type-7 percentile `q ∈ [0, 1]` of the sorted, non-empty `sorted`.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let (i, frac) = (h.floor() as usize, h - h.floor());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

/// median(`num`) / median(`den`) with its percentile bootstrap interval,
/// `num` and `den` resampled independently (seeded, see the module doc).
pub fn bootstrap_ratio(num: &[f64], den: &[f64], seed: u64) -> Result<Interval, Unavailable> {
    if num.is_empty() || den.is_empty() {
        return Err(Unavailable::NoSamples);
    }
    let estimate = median(num) / median(den);
    let mut stats: Vec<f64> = (0..RESAMPLES as u64)
        .map(|b| resampled_median(num, seed, b, 0) / resampled_median(den, seed, b, 1))
        .collect();
    Ok(percentile_interval(estimate, &mut stats))
}

/// median(`samples`) with its percentile bootstrap interval (seeded).
pub fn bootstrap_median(samples: &[f64], seed: u64) -> Result<Interval, Unavailable> {
    if samples.is_empty() {
        return Err(Unavailable::NoSamples);
    }
    let mut stats: Vec<f64> = (0..RESAMPLES as u64)
        .map(|b| resampled_median(samples, seed, b, 0))
        .collect();
    Ok(percentile_interval(median(samples), &mut stats))
}

fn percentile_interval(estimate: f64, stats: &mut [f64]) -> Interval {
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - LEVEL) / 2.0;
    Interval {
        estimate,
        lo: percentile(stats, tail),
        hi: percentile(stats, 1.0 - tail),
    }
}

/// The median of resample `b` of `v`, sample `which` of the statistic.
fn resampled_median(v: &[f64], seed: u64, b: u64, which: u64) -> f64 {
    let n = v.len() as u64;
    let draw: Vec<f64> = (0..n)
        .map(|i| {
            let key = mix(mix(mix(seed) ^ b) ^ (which << 62 | i));
            v[((u128::from(key) * u128::from(n)) >> 64) as usize]
        })
        .collect();
    median(&draw)
}

/// SplitMix64's finalizer (Steele, Lea & Flood 2014): a bijection of u64
/// whose outputs of consecutive inputs are statistically independent.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
    }

    #[test]
    fn t_quantile_matches_the_tables() {
        // Two-sided 95%: 12.706 (1 d.o.f.), 4.303 (2), 2.776 (4), 1.960 (∞).
        close(t_quantile(0.975, 1), 12.706, 5e-4);
        close(t_quantile(0.975, 2), 4.303, 5e-4);
        close(t_quantile(0.975, 4), 2.776, 5e-4);
        close(t_quantile(0.975, 100_000), 1.960, 5e-4);
    }

    #[test]
    fn paired_t_matches_a_hand_computed_case() {
        // 3 seeds, Δ loss = 0.010, 0.020, 0.030: mean 0.020; deviations
        // −0.01, 0, 0.01, so s² = (1e-4 + 0 + 1e-4) / 2 = 1e-4, s = 0.01;
        // s/√3 = 0.0057735; t₀.₉₇₅(2) = 4.3027; half-width 0.024841:
        // [−0.004841, 0.044841], which contains 0 (no difference detected).
        let ci = paired_t(&[0.010, 0.020, 0.030]).unwrap();
        close(ci.estimate, 0.020, 1e-12);
        close(ci.lo, -0.004841, 2e-6);
        close(ci.hi, 0.044841, 2e-6);
        assert!(ci.contains(0.0));
        // Δ = −0.020, −0.030, −0.025: mean −0.025; s² = (25e-6 + 25e-6 +
        // 0) / 2 = 25e-6, s = 0.005, s/√3 = 0.0028868, half-width 0.012421:
        // [−0.037421, −0.012579], which excludes 0 (a real difference).
        let ci = paired_t(&[-0.020, -0.030, -0.025]).unwrap();
        close(ci.estimate, -0.025, 1e-12);
        close(ci.lo, -0.037421, 2e-6);
        close(ci.hi, -0.012579, 2e-6);
        assert!(!ci.contains(0.0));
    }

    #[test]
    fn one_seed_has_no_interval() {
        assert_eq!(paired_t(&[0.01]), Err(Unavailable::TooFewSeeds(1)));
        assert_eq!(paired_t(&[]), Err(Unavailable::TooFewSeeds(0)));
        assert_eq!(
            Unavailable::TooFewSeeds(1).to_string(),
            "CI unavailable: needs ≥ 2 seeds, has 1"
        );
    }

    #[test]
    fn percentile_is_numpys_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        close(percentile(&v, 0.0), 1.0, 0.0);
        close(percentile(&v, 1.0), 4.0, 0.0);
        // h = 3 · 0.5 = 1.5: halfway between 2 and 3.
        close(percentile(&v, 0.5), 2.5, 1e-15);
        // h = 3 · 0.025 = 0.075: 1 + 0.075.
        close(percentile(&v, 0.025), 1.075, 1e-15);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_estimate() {
        let num: Vec<f64> = (0..200)
            .map(|i| 2.0 + 0.01 * ((i * 37 % 101) as f64))
            .collect();
        let den: Vec<f64> = (0..150)
            .map(|i| 1.0 + 0.01 * ((i * 53 % 97) as f64))
            .collect();
        let a = bootstrap_ratio(&num, &den, 7).unwrap();
        let b = bootstrap_ratio(&num, &den, 7).unwrap();
        assert_eq!(a, b, "same seed, same bits");
        let c = bootstrap_ratio(&num, &den, 8).unwrap();
        assert_ne!((a.lo, a.hi), (c.lo, c.hi), "the seed changes the draws");
        assert_eq!(a.estimate, median(&num) / median(&den));
        assert!(a.lo < a.estimate && a.estimate < a.hi, "{a:?}");
        // The medians ≈ 2.5 and ≈ 1.48 of near-uniform samples of width ≈ 1
        // have standard errors ≈ 1/(2√n) ≈ 0.035 and 0.041, so the ratio
        // ≈ 1.69 has one of ≈ 0.05 and a 95% interval ≈ 0.2 wide.
        assert!(a.hi - a.lo > 0.1 && a.hi - a.lo < 0.3, "{a:?}");
    }

    #[test]
    fn bootstrap_of_constant_samples_is_a_point() {
        let ci = bootstrap_ratio(&[3.0; 10], &[1.5; 4], 0).unwrap();
        assert_eq!((ci.estimate, ci.lo, ci.hi), (2.0, 2.0, 2.0));
        let m = bootstrap_median(&[0.25; 5], 0).unwrap();
        assert_eq!((m.estimate, m.lo, m.hi), (0.25, 0.25, 0.25));
        assert_eq!(bootstrap_median(&[], 0), Err(Unavailable::NoSamples));
        assert_eq!(bootstrap_ratio(&[1.0], &[], 0), Err(Unavailable::NoSamples));
    }

    #[test]
    fn bootstrap_median_covers_the_population_median() {
        // 0, 1, …, 100 in a scrambled order: the median is 50, and the 95%
        // interval of a sample of 101 spans about ±1.96·√101/2 ≈ ±10 ranks.
        let v: Vec<f64> = (0..101).map(|i| ((i * 43) % 101) as f64).collect();
        let ci = bootstrap_median(&v, 1).unwrap();
        assert_eq!(ci.estimate, 50.0);
        assert!(ci.contains(50.0), "{ci:?}");
        assert!(
            ci.lo >= 38.0 && ci.hi <= 62.0 && ci.hi - ci.lo >= 6.0,
            "{ci:?}"
        );
    }

    #[test]
    fn overlap() {
        let a = Interval {
            estimate: 1.0,
            lo: 0.5,
            hi: 1.5,
        };
        let b = Interval {
            estimate: 2.0,
            lo: 1.5,
            hi: 2.5,
        };
        let c = Interval {
            estimate: 3.0,
            lo: 2.6,
            hi: 3.5,
        };
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
    }
}
