//! `record_steps`: the 0-based steps whose gradients a run records, written
//! either as a list (`[0, 9]`) or as a range: `"A..B"` records every step
//! from A to B (B exclusive), `"A..B:S"` every S-th of them (A, A+S, … < B).
//! A range is a gradient trajectory: the harness's `source = "trajectory"`
//! reads its steps in order.
//!
//! A range is kept as written (never expanded), so a config saves and reads
//! back as it was given; [`RecordSteps::check`] refuses B ≤ A, S = 0 and
//! B > steps, naming the key.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The steps a run records (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordSteps {
    /// Exactly these steps (today's list form).
    List(Vec<usize>),
    /// `start, start + stride, … < end`.
    Range {
        start: usize,
        /// Exclusive.
        end: usize,
        stride: usize,
    },
}

impl Default for RecordSteps {
    fn default() -> Self {
        Self::List(Vec::new())
    }
}

impl From<Vec<usize>> for RecordSteps {
    fn from(steps: Vec<usize>) -> Self {
        Self::List(steps)
    }
}

impl<const N: usize> PartialEq<[usize; N]> for RecordSteps {
    fn eq(&self, other: &[usize; N]) -> bool {
        self.steps().eq(other.iter().copied())
    }
}

impl RecordSteps {
    /// Whether no step is recorded.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::List(v) => v.is_empty(),
            Self::Range { start, end, .. } => end <= start,
        }
    }

    /// Whether `step` is recorded.
    pub fn contains(&self, step: usize) -> bool {
        match *self {
            Self::List(ref v) => v.contains(&step),
            Self::Range { start, end, stride } => {
                step >= start && step < end && stride > 0 && (step - start).is_multiple_of(stride)
            }
        }
    }

    /// The recorded steps in the order written (a range: increasing).
    pub fn steps(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match *self {
            Self::List(ref v) => Box::new(v.iter().copied()),
            Self::Range { start, end, stride } => Box::new((start..end).step_by(stride.max(1))),
        }
    }

    /// Records nothing.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Checks the steps against a run of `steps` steps; the error is the
    /// reason (the caller names the key `record_steps`).
    pub fn check(&self, steps: usize) -> Result<(), String> {
        match *self {
            Self::List(ref v) => match v.iter().find(|&&s| s >= steps) {
                Some(s) => Err(format!(
                    "step {s} is not below steps = {steps} (steps are 0-based)"
                )),
                None => Ok(()),
            },
            Self::Range { start, end, stride } => {
                if end <= start {
                    Err(format!(
                        "{self:?} is empty: a range A..B needs B > A (B is exclusive), e.g. \
                         \"{start}..{}\"",
                        start + 1
                    ))
                } else if stride == 0 {
                    Err(format!(
                        "{self:?} has stride 0: write A..B:S with S ≥ 1, or A..B for every step"
                    ))
                } else if end > steps {
                    Err(format!(
                        "{self:?} ends at {end}, past steps = {steps} (B is exclusive and steps \
                         are 0-based): use an end of at most {steps}"
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Reads `"A..B"` or `"A..B:S"`.
    pub fn parse_range(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "record_steps = {text:?}: write a list of steps ([0, 9]), a range \"A..B\" (B \
                 exclusive) or a range with a stride \"A..B:S\""
            )
        };
        let (range, stride) = match text.split_once(':') {
            Some((r, s)) => (r, Some(s)),
            None => (text, None),
        };
        let (a, b) = range.split_once("..").ok_or_else(bad)?;
        let num = |s: &str| s.trim().parse::<usize>().map_err(|_| bad());
        Ok(Self::Range {
            start: num(a)?,
            end: num(b)?,
            stride: stride.map_or(Ok(1), num)?,
        })
    }
}

impl fmt::Display for RecordSteps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::List(v) => write!(f, "{v:?}"),
            Self::Range {
                start,
                end,
                stride: 1,
            } => write!(f, "{start}..{end}"),
            Self::Range { start, end, stride } => write!(f, "{start}..{end}:{stride}"),
        }
    }
}

impl Serialize for RecordSteps {
    /// A list as a list, a range as its string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::List(v) => v.serialize(serializer),
            range => serializer.serialize_str(&range.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for RecordSteps {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            List(Vec<usize>),
            Range(String),
        }
        match Written::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "record_steps: write a list of steps ([0, 9]), a range \"A..B\" (B exclusive) \
                 or a range with a stride \"A..B:S\"",
            )
        })? {
            Written::List(v) => Ok(Self::List(v)),
            Written::Range(s) => Self::parse_range(&s).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_check_and_write_back_as_given() {
        let r = RecordSteps::parse_range("2..9:3").unwrap();
        assert_eq!(r.steps().collect::<Vec<_>>(), [2, 5, 8]);
        assert!(r.contains(5) && !r.contains(6) && !r.contains(11));
        assert_eq!(r.to_string(), "2..9:3");
        assert_eq!(RecordSteps::parse_range("0..4").unwrap(), [0, 1, 2, 3]);
        assert!(r.check(9).is_ok());
        let past = r.check(8).unwrap_err();
        assert!(past.contains("past steps = 8"), "{past}");
        let empty = RecordSteps::parse_range("5..5").unwrap().check(10);
        assert!(empty.unwrap_err().contains("needs B > A"));
        let zero = RecordSteps::parse_range("1..5:0").unwrap().check(10);
        assert!(zero.unwrap_err().contains("stride 0"));
        for bad in ["5", "a..b", "1..2:x", "..3"] {
            let e = RecordSteps::parse_range(bad).unwrap_err();
            assert!(e.contains("record_steps") && e.contains("A..B:S"), "{e}");
        }
        let list = RecordSteps::from(vec![0, 7]);
        assert_eq!(
            list.check(7).unwrap_err(),
            "step 7 is not below steps = 7 (steps are 0-based)"
        );
        assert_eq!(list.to_string(), "[0, 7]");
    }
}
