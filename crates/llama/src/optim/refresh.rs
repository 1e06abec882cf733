//! When a GaLore matrix refreshes its basis (the config's `refresh` key).
//!
//! - `every` (the default, GaLore's reference): every matrix at steps 1,
//!   1 + T, 1 + 2T, … (T = `update_proj_gap`);
//! - `lazy`: Q-GaLore's layer-adaptive rule (Zhang et al., "Q-GaLore:
//!   Quantized GaLore with INT4 Projection and Layer-Adaptive Low-Rank
//!   Gradients", arXiv 2407.08296, its layer-adaptive subspace update;
//!   code: VITA-Group/Q-GaLore,
//!   `q_galore_torch/q_galore_projector.py`). Each matrix keeps its own
//!   interval, starting at T, and refreshes at step 1 and then `interval`
//!   steps after its last refresh. At each refresh after the first, the
//!   agreement of the new basis with the previous one, |⟨p_new, p_old⟩| of
//!   their first columns, joins a queue of the last `lazy_queue` agreements;
//!   once the queue is full, a mean of at least `lazy_threshold` doubles the
//!   interval (the successive bases agree: refreshing is wasted) and a mean
//!   below it sets it back to T.
//!
//! Two departures from the reference, both deliberate: the agreement is the
//! cosine's absolute value (a singular vector's sign is arbitrary, and a
//! flipped sign is the same direction; the reference's signed cosine counts
//! it as a disagreement), and the interval falls back to T when the bases
//! stop agreeing (the reference only ever doubles it). The defaults are the
//! reference's: threshold 0.4, queue 5, factor 2. With `align = true` the
//! new basis is aligned with the previous one first, which raises the
//! agreement of bases whose spans agree.
//!
//! A matrix's schedule (interval, next refresh, refreshes made, the queue)
//! is part of the optimizer's checkpoint, so a resumed lazy run refreshes
//! where the uninterrupted one does; the agreements are kept in f32, as
//! the checkpoint holds them, so the decisions are the same bits either way.

use std::collections::VecDeque;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The refresh rule (see the module doc).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum RefreshRule {
    /// Every matrix every T steps (the reference).
    #[default]
    Every,
    /// Q-GaLore's lazy, per-matrix interval.
    Lazy {
        /// The mean agreement at or above which the interval doubles.
        threshold: f32,
        /// How many agreements the mean is taken over.
        queue: usize,
    },
}

/// Q-GaLore's `cos_threshold`.
pub const DEFAULT_LAZY_THRESHOLD: f32 = 0.4;
/// Q-GaLore's `queue_size`.
pub const DEFAULT_LAZY_QUEUE: usize = 5;
/// The longest interval a lazy schedule doubles to; with runs of fewer
/// steps than [`MAX_LAZY_STEPS`] every step count it stores is an integer
/// below 2^24, which f32 (the checkpoint's dtype) holds exactly.
pub const MAX_LAZY_INTERVAL: u64 = 1 << 23;
/// The most steps a lazy run may have (see [`MAX_LAZY_INTERVAL`]).
pub const MAX_LAZY_STEPS: usize = 1 << 23;

/// The config's name of a rule: `refresh = "every" | "lazy"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RefreshKind {
    #[default]
    Every,
    Lazy,
}

impl RefreshKind {
    /// Every kind, in the order of the error's help.
    pub const ALL: [RefreshKind; 2] = [Self::Every, Self::Lazy];

    /// The config's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Every => "every",
            Self::Lazy => "lazy",
        }
    }

    /// The kind named `name`, or an error naming the key and the values.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                format!(
                    "refresh = {name:?} is not a refresh rule: use \"every\" (the default: every \
                     matrix every update_proj_gap steps) or \"lazy\" (Q-GaLore's per-matrix \
                     interval, doubled while successive bases agree)"
                )
            })
    }
}

impl Serialize for RefreshKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for RefreshKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// Refreshes made and saved, summed over the matrices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshCounts {
    /// Basis refreshes made (one per matrix refreshed).
    pub made: u64,
    /// Refreshes the `every` rule would have made by now, less those made.
    pub saved: u64,
}

/// How many refreshes the `every` rule makes in steps 1..=t at gap `gap`.
pub fn every_count(t: u64, gap: u64) -> u64 {
    if t == 0 { 0 } else { (t - 1) / gap + 1 }
}

/// One matrix's lazy schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct LazySchedule {
    /// Steps between this matrix's refreshes now (≥ T).
    pub interval: u64,
    /// The (1-based) step of its next refresh.
    pub next: u64,
    /// Refreshes made.
    pub made: u64,
    /// The last agreements, oldest first (at most the rule's queue).
    pub queue: VecDeque<f32>,
}

impl LazySchedule {
    /// The schedule before the first refresh (at step 1) with gap `gap`.
    pub fn new(gap: u64) -> Self {
        Self {
            interval: gap,
            next: 1,
            made: 0,
            queue: VecDeque::new(),
        }
    }

    /// Whether the matrix refreshes at step `t`.
    pub fn due(&self, t: u64) -> bool {
        self.next == t
    }

    /// Records the refresh at step `t`, with the agreement of its basis with
    /// the previous one (`None` at the first), and schedules the next.
    pub fn refreshed(
        &mut self,
        t: u64,
        agreement: Option<f32>,
        gap: u64,
        threshold: f32,
        queue: usize,
    ) {
        self.made += 1;
        if let Some(a) = agreement {
            if self.queue.len() == queue {
                self.queue.pop_front();
            }
            self.queue.push_back(a);
            if self.queue.len() == queue {
                let mean = self.queue.iter().map(|&x| f64::from(x)).sum::<f64>() / queue as f64;
                self.interval = if mean >= f64::from(threshold) {
                    (2 * self.interval).min(MAX_LAZY_INTERVAL)
                } else {
                    gap
                };
            }
        }
        self.next = t + self.interval;
    }

    /// The checkpoint tensor: `[interval, next, made, len, queue…]` padded
    /// with zeros to 4 + `queue` values (integers below 2^24, exact in f32).
    pub fn to_tensor(&self, queue: usize) -> Vec<f32> {
        let mut out = vec![
            self.interval as f32,
            self.next as f32,
            self.made as f32,
            self.queue.len() as f32,
        ];
        out.extend(self.queue.iter().copied());
        out.resize(4 + queue, 0.0);
        out
    }

    /// Reads [`to_tensor`](Self::to_tensor)'s values back, or says what is
    /// wrong with them.
    pub fn from_tensor(data: &[f32], queue: usize, gap: u64) -> Result<Self, String> {
        if data.len() != 4 + queue {
            return Err(format!(
                "{} values, expected {} (4 + lazy_queue = {queue}): a schedule saved with \
                 another lazy_queue; resume with the config it was saved with",
                data.len(),
                4 + queue
            ));
        }
        let count = |i: usize, what: &str| -> Result<u64, String> {
            let x = data[i];
            if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < (1u32 << 24) as f32 {
                Ok(x as u64)
            } else {
                Err(format!("value {i} ({what}) is {x}, not a count"))
            }
        };
        let (interval, next, made, len) = (
            count(0, "interval")?,
            count(1, "next refresh")?,
            count(2, "refreshes made")?,
            count(3, "queue length")? as usize,
        );
        if interval < gap || len > queue || next == 0 {
            return Err(format!(
                "interval {interval} (at least update_proj_gap = {gap}), next refresh {next} \
                 (at least 1) and queue length {len} (at most {queue}) do not form a schedule"
            ));
        }
        let agreements = &data[4..4 + len];
        if let Some(x) = agreements.iter().find(|x| !(0.0..=1.0).contains(*x)) {
            return Err(format!("agreement {x} is outside [0, 1]"));
        }
        Ok(Self {
            interval,
            next,
            made,
            queue: agreements.iter().copied().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At T = 1 with threshold 0.5 and a queue of 2: agreeing bases double
    /// the interval once the queue is full, and again at each agreeing
    /// refresh; one disagreement that pulls the mean under the threshold
    /// sets it back to T.
    #[test]
    fn the_interval_doubles_while_bases_agree_and_falls_back() {
        let mut s = LazySchedule::new(1);
        let mut at = |t: u64, a: Option<f32>| {
            assert!(s.due(t), "due at {t}: {s:?}");
            s.refreshed(t, a, 1, 0.5, 2);
            (s.interval, s.next)
        };
        assert_eq!(at(1, None), (1, 2));
        assert_eq!(at(2, Some(0.9)), (1, 3), "queue not yet full");
        assert_eq!(at(3, Some(0.9)), (2, 5));
        assert_eq!(at(5, Some(0.8)), (4, 9));
        assert_eq!(at(9, Some(0.0)), (1, 10), "mean 0.4 < 0.5: back to T");
        assert_eq!(s.made, 5);
        assert_eq!(every_count(9, 1) - s.made, 4, "steps 4, 6, 7, 8 saved");
        let back = LazySchedule::from_tensor(&s.to_tensor(2), 2, 1).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn every_count_counts_steps_1_plus_multiples_of_t() {
        assert_eq!(every_count(0, 200), 0);
        assert_eq!(every_count(1, 200), 1);
        assert_eq!(every_count(200, 200), 1);
        assert_eq!(every_count(201, 200), 2);
        assert_eq!(every_count(7, 1), 7);
    }

    #[test]
    fn a_bad_schedule_tensor_is_refused_saying_why() {
        let ok = LazySchedule::new(4).to_tensor(3);
        assert!(LazySchedule::from_tensor(&ok, 3, 4).is_ok());
        let e = LazySchedule::from_tensor(&ok, 5, 4).unwrap_err();
        assert!(e.contains("lazy_queue"), "{e}");
        let mut bad = ok.clone();
        bad[0] = 2.0;
        assert!(
            LazySchedule::from_tensor(&bad, 3, 4)
                .unwrap_err()
                .contains("interval 2")
        );
        bad[0] = 0.5;
        assert!(
            LazySchedule::from_tensor(&bad, 3, 4)
                .unwrap_err()
                .contains("not a count")
        );
        let e = RefreshKind::parse("lazzy").unwrap_err();
        assert!(e.contains("refresh") && e.contains("\"lazy\""), "{e}");
    }
}
