//! Paired comparisons over seeds, as the report words them: the paired
//! differences of two runs' final held-out losses, their interval as text,
//! and its verdict ("lower loss", "higher loss", "no difference detected").

use crate::stats::{self, Interval};

/// The paired differences `run − reference` of the final held-out losses.
pub(super) fn paired_diffs(run: &[(u64, f64)], reference: &[(u64, f64)]) -> Vec<f64> {
    if let ([(_, x)], [(_, r)]) = (run, reference) {
        return vec![x - r];
    }
    run.iter()
        .filter_map(|(seed, x)| {
            let (_, r) = reference.iter().find(|(s, _)| s == seed)?;
            Some(x - r)
        })
        .collect()
}

pub(super) fn ci_text(ci: &Result<Interval, stats::Unavailable>) -> String {
    match ci {
        Ok(c) => format!("[{:+.4}, {:+.4}]", c.lo, c.hi),
        Err(e) => e.to_string(),
    }
}

/// The interval with its verdict ("[lo, hi]: no difference detected"), or
/// why there is none ("CI unavailable: needs ≥ 2 seeds, has 1").
pub(super) fn ci_with_verdict(ci: &Result<Interval, stats::Unavailable>) -> String {
    match ci {
        Ok(_) => format!("{}: {}", ci_text(ci), verdict(ci)),
        Err(e) => e.to_string(),
    }
}

pub(super) fn verdict(ci: &Result<Interval, stats::Unavailable>) -> &'static str {
    match ci {
        Ok(c) if c.contains(0.0) => "no difference detected",
        Ok(c) if c.hi < 0.0 => "lower loss",
        Ok(_) => "higher loss",
        Err(_) => "–",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_by_seed_and_one_with_one() {
        assert_eq!(paired_diffs(&[(3, 2.5)], &[(0, 2.0)]), [0.5]);
        let d = paired_diffs(&[(0, 2.5), (1, 2.0), (2, 9.0)], &[(1, 1.5), (0, 2.0)]);
        assert_eq!(d, [0.5, 0.5]);
    }

    #[test]
    fn verdicts() {
        let ci = |lo, hi| {
            Ok(Interval {
                estimate: 0.5 * (lo + hi),
                lo,
                hi,
            })
        };
        assert_eq!(verdict(&ci(-0.1, 0.2)), "no difference detected");
        assert_eq!(verdict(&ci(-0.3, -0.1)), "lower loss");
        assert_eq!(verdict(&ci(0.1, 0.3)), "higher loss");
        let one = stats::paired_t(&[0.1]);
        assert_eq!(ci_text(&one), "CI unavailable: needs ≥ 2 seeds, has 1");
    }
}
