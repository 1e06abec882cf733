//! The memory budget: every size a user controls (a suite's shapes, a flag,
//! a file header, a training run's batch) is multiplied with overflow checks
//! and compared with it before anything of that size is allocated.
//!
//! The budget is, in this order:
//!
//! 1. the environment variable `LAB_MEMORY_BUDGET` (bytes, or with a suffix
//!    `K`, `M`, `G`, `T`, powers of 1024: `LAB_MEMORY_BUDGET=8G`);
//! 2. else [`AVAILABLE_FRACTION`] of `MemAvailable` in `/proc/meminfo`;
//! 3. else, where neither can be read, [`DEFAULT_BUDGET`], and
//!    [`MemoryBudget::source`] says so.
//!
//! A refusal ([`BudgetError`]) names what was asked for, the bytes it needs,
//! the budget and where the budget came from; the caller adds the fix.

use std::fmt;

/// The environment variable that sets the budget.
pub const BUDGET_ENV: &str = "LAB_MEMORY_BUDGET";
/// The fraction of `MemAvailable` the budget is by default.
pub const AVAILABLE_FRACTION: f64 = 0.8;
/// The budget where neither the variable nor `/proc/meminfo` can be read:
/// 8 GiB.
pub const DEFAULT_BUDGET: usize = 8 << 30;

/// The product of `factors` (e.g. `[rows, cols, 4]`), or `None` where it
/// overflows `usize`.
pub fn checked_bytes(factors: &[usize]) -> Option<usize> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
}

/// The sum of `terms`, or `None` where a term is `None` or the sum
/// overflows.
pub fn checked_sum(terms: &[Option<usize>]) -> Option<usize> {
    terms
        .iter()
        .try_fold(0usize, |acc, t| t.and_then(|t| acc.checked_add(t)))
}

/// `bytes` for a person: `1.5 GiB (1610612736 bytes)`.
pub fn human_bytes(bytes: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = bytes as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{x:.1} {} ({bytes} bytes)", UNITS[unit])
    }
}

/// How many bytes a run may allocate, and where that figure came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The budget in bytes.
    pub bytes: usize,
    /// Where it came from, for messages (`"LAB_MEMORY_BUDGET=8G"`, `"80% of
    /// MemAvailable …"`, or why the default applies).
    pub source: String,
}

/// A size over the budget, or one whose bytes overflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetError {
    /// What was to be allocated (`"a 100000×100000 matrix"`).
    pub what: String,
    /// The bytes it needs, `None` where they overflow `usize`.
    pub needed: Option<usize>,
    pub budget: usize,
    pub source: String,
}

impl fmt::Display for BudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let needed = match self.needed {
            Some(b) => human_bytes(b),
            None => "more bytes than this machine can address (the size overflows)".into(),
        };
        write!(
            f,
            "{} needs {needed}, over the memory budget of {} ({})",
            self.what,
            human_bytes(self.budget),
            self.source
        )
    }
}

impl std::error::Error for BudgetError {}

impl MemoryBudget {
    /// A fixed budget (tests, or a caller that read its own).
    pub fn fixed(bytes: usize, source: impl Into<String>) -> Self {
        Self {
            bytes,
            source: source.into(),
        }
    }

    /// The machine's budget: `LAB_MEMORY_BUDGET`, else 80% of
    /// `MemAvailable`, else [`DEFAULT_BUDGET`] (see the module doc).
    pub fn from_machine() -> Result<Self, String> {
        if let Ok(text) = std::env::var(BUDGET_ENV) {
            let bytes = parse_size(&text).ok_or_else(|| {
                format!(
                    "{BUDGET_ENV}={text:?} is not a size; write bytes or a number with K, M, G \
                     or T (powers of 1024), e.g. {BUDGET_ENV}=8G"
                )
            })?;
            return Ok(Self::fixed(bytes, format!("{BUDGET_ENV}={}", text.trim())));
        }
        Ok(match std::fs::read_to_string("/proc/meminfo") {
            Ok(text) => match mem_available(&text) {
                Some(avail) => Self::fixed(
                    (avail as f64 * AVAILABLE_FRACTION) as usize,
                    format!(
                        "{:.0}% of MemAvailable {}; set {BUDGET_ENV} to change it",
                        AVAILABLE_FRACTION * 100.0,
                        human_bytes(avail)
                    ),
                ),
                None => Self::default_because("/proc/meminfo has no MemAvailable"),
            },
            Err(e) => Self::default_because(&format!("/proc/meminfo: {e}")),
        })
    }

    fn default_because(why: &str) -> Self {
        Self::fixed(
            DEFAULT_BUDGET,
            format!("the default, as {why}; set {BUDGET_ENV} to change it"),
        )
    }

    /// `Ok` where `needed` bytes (`None`: overflowed) fit the budget.
    pub fn check(&self, what: impl Into<String>, needed: Option<usize>) -> Result<(), BudgetError> {
        match needed {
            Some(b) if b <= self.bytes => Ok(()),
            _ => Err(BudgetError {
                what: what.into(),
                needed,
                budget: self.bytes,
                source: self.source.clone(),
            }),
        }
    }
}

/// `MemAvailable` of `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<usize> {
    let kb: usize = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

/// `"123"`, `"8G"`, `"512M"`, `"1.5T"` → bytes (powers of 1024).
pub fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last()? {
        (i, 'K' | 'k') => (&t[..i], 1u64 << 10),
        (i, 'M' | 'm') => (&t[..i], 1 << 20),
        (i, 'G' | 'g') => (&t[..i], 1 << 30),
        (i, 'T' | 't') => (&t[..i], 1 << 40),
        _ => (t, 1),
    };
    if let Ok(n) = num.trim().parse::<usize>() {
        return n.checked_mul(mult as usize);
    }
    let x: f64 = num.trim().parse().ok()?;
    let bytes = x * mult as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < usize::MAX as f64).then_some(bytes as usize)
}

/// The machine's logical cores (1 where unknown).
pub fn logical_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_overflow_to_none() {
        assert_eq!(checked_bytes(&[3, 5, 4]), Some(60));
        assert_eq!(checked_bytes(&[usize::MAX, 2, 4]), None);
        assert_eq!(
            checked_bytes(&[100_000_000, 100_000_000, 4]),
            Some(4 * 10usize.pow(16))
        );
        assert_eq!(checked_sum(&[Some(1), Some(2)]), Some(3));
        assert_eq!(checked_sum(&[Some(1), None]), None);
        assert_eq!(checked_sum(&[Some(usize::MAX), Some(1)]), None);
    }

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("8G"), Some(8 << 30));
        assert_eq!(parse_size(" 512m "), Some(512 << 20));
        assert_eq!(parse_size("1.5K"), Some(1536));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999999999999T"), None);
    }

    #[test]
    fn meminfo_is_read_in_kb() {
        let text = "MemTotal: 100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(mem_available(text), Some(2048 * 1024));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn check_refuses_over_budget_and_overflow() {
        let b = MemoryBudget::fixed(1000, "test");
        assert!(b.check("x", Some(1000)).is_ok());
        let e = b.check("a 10×101 matrix", Some(1010)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("a 10×101 matrix needs 1010 bytes"), "{msg}");
        assert!(msg.contains("memory budget of 1000 bytes (test)"), "{msg}");
        let e = b.check("y", None).unwrap_err().to_string();
        assert!(e.contains("overflows"), "{e}");
    }
}
