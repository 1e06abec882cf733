//! The conclusion of a training report: per stage, every run (all its seeds
//! together) against AdamW and against the comparison run ([`CompareTo`]).
//!
//! - Δ loss: final held-out loss minus the comparison run's, paired by seed
//!   (the same seed gives both the same init, data order and sketches), its
//!   mean with a 95% Student t interval over the pairs
//!   ([`stats::paired_t`]); "no difference detected" when the interval
//!   holds 0, and "CI unavailable" (never an invented interval) with fewer
//!   than 2 pairs. A run of one seed is paired with a comparison run of one
//!   seed whatever their seeds, as before seeds existed.
//! - Overhead: the median of the run's per-step times over AdamW's, both
//!   pooled over seeds (each seed's first step left out, as the summaries'
//!   medians do), with a percentile bootstrap 95% interval
//!   ([`stats::bootstrap_ratio`], seed [`BOOTSTRAP_SEED`]).
//! - Time-to-quality: the first step (1-based: steps taken) and the wall
//!   seconds at which the held-out loss reaches the target (`target_loss`,
//!   by default the comparison run's final held-out loss, mean over its
//!   seeds), mean over the seeds that reach it.
//! - Mean ± CI: final held-out and train loss over seeds (t interval).

use std::fmt::Write as _;

use llama::session::{OptimizerKind, TrainConfig, TrainSummary};

use super::paired::{ci_with_verdict, paired_diffs};
use crate::records::{Row, Status, TrainOutcome, inline_params};
use crate::stats::{self, Interval};
use crate::suite::CompareTo;

/// The seed of the conclusion's bootstrap resampling.
pub const BOOTSTRAP_SEED: u64 = 0;

/// The runs of one label in one stage: its seeds' outcomes, in suite order.
struct Group<'a> {
    label: &'a str,
    outcomes: Vec<&'a TrainOutcome>,
}

impl<'a> Group<'a> {
    fn ok(&self) -> impl Iterator<Item = (&'a TrainOutcome, &'a TrainSummary)> + '_ {
        self.outcomes
            .iter()
            .filter_map(|t| Some((*t, t.summary.as_ref()?)))
    }

    /// (seed, final held-out loss) of each seed that has one.
    fn finals(&self) -> Vec<(u64, f64)> {
        self.ok()
            .filter_map(|(t, s)| {
                Some((
                    t.seed.unwrap_or(s.config.seed),
                    f64::from(s.final_eval_loss?),
                ))
            })
            .collect()
    }

    /// Every seed's per-step `f`, the first step of each left out; a seed
    /// without its steps (a report read back without training.csv) gives
    /// its summary's median instead.
    fn pooled(
        &self,
        f: impl Fn(&llama::session::StepRow) -> f64,
        median: fn(&TrainSummary) -> f64,
    ) -> Vec<f64> {
        let mut out = Vec::new();
        for (t, s) in self.ok() {
            if t.steps.is_empty() {
                out.push(median(s));
            } else {
                let skip = usize::from(t.steps.len() > 1);
                out.extend(t.steps.iter().skip(skip).map(&f));
            }
        }
        out
    }

    fn step_times(&self) -> Vec<f64> {
        self.pooled(
            |r| r.seconds_forward + r.seconds_backward + r.seconds_subspace + r.seconds_update,
            |s| s.median_step_seconds,
        )
    }

    fn subspace_times(&self) -> Vec<f64> {
        self.pooled(|r| r.seconds_subspace, |s| s.median_seconds_subspace)
    }
}

/// The runs of `stage` grouped by label, in order of first appearance.
fn groups<'a>(trainings: &'a [TrainOutcome], stage: &str) -> Vec<Group<'a>> {
    let mut out: Vec<Group<'a>> = Vec::new();
    for t in trainings.iter().filter(|t| t.stage == stage) {
        match out.iter_mut().find(|g| g.label == t.label) {
            Some(g) => g.outcomes.push(t),
            None => out.push(Group {
                label: &t.label,
                outcomes: vec![t],
            }),
        }
    }
    out
}

/// Matrix rows of the method a GaLore run used, at `rank`, on the latest
/// recorded step of `stage`: (median err_fro, matrices, step). The median,
/// because a gradient whose rank is below k (layer 0's q/k/v under byte
/// tokens: fewer distinct inputs than k) has err_fro measured against the
/// roundoff floor, a ratio of roundoff to roundoff that would swamp a mean.
fn late_step_accuracy(
    rows: &[Row],
    s: &TrainSummary,
    stage: &str,
    rank: usize,
) -> Option<(f64, usize, usize)> {
    if s.config.optimizer != OptimizerKind::Galore {
        return None;
    }
    let params = inline_params(&s.config.plugin_params);
    let mine: Vec<(usize, f64)> = rows
        .iter()
        .filter(|r| r.status == Status::Ok && r.rank == rank && r.plugin == s.config.plugin)
        .filter(|r| r.params == params)
        .filter_map(|r| {
            let (st, step) = r.recorded_step()?;
            (st == stage).then_some((step, r.err_fro?))
        })
        .collect();
    let last = mine.iter().map(|x| x.0).max()?;
    let errs: Vec<f64> = mine.iter().filter(|x| x.0 == last).map(|x| x.1).collect();
    let n = errs.len();
    Some((stats::median(&errs), n, last))
}

/// "mean ± half-width" of `v` over seeds, or the mean alone with one seed.
fn mean_pm(v: &[f64]) -> String {
    match v.len() {
        0 => "–".into(),
        1 => format!("{:.4}", v[0]),
        _ => match stats::paired_t(v) {
            Ok(c) => format!("{:.4} ± {:.4}", c.estimate, c.hi - c.estimate),
            Err(e) => e.to_string(),
        },
    }
}

/// The first (steps taken, wall seconds) at which `t`'s held-out loss is
/// at most `target`.
fn reaches(t: &TrainOutcome, target: f64) -> Option<(f64, f64)> {
    t.steps
        .iter()
        .find(|r| r.eval_loss.is_some_and(|e| f64::from(e) <= target))
        .map(|r| ((r.step + 1) as f64, r.seconds_elapsed))
}

/// Time-to-quality cells (steps, seconds) of `g`.
fn time_to_quality(g: &Group<'_>, target: Option<f64>) -> (String, String) {
    let Some(target) = target else {
        return ("–".into(), "–".into());
    };
    let runs: Vec<&TrainOutcome> = g.ok().map(|(t, _)| t).collect();
    let hit: Vec<(f64, f64)> = runs.iter().filter_map(|t| reaches(t, target)).collect();
    if hit.is_empty() {
        return ("not reached".into(), "not reached".into());
    }
    let n = hit.len() as f64;
    let (steps, secs) = (
        hit.iter().map(|h| h.0).sum::<f64>() / n,
        hit.iter().map(|h| h.1).sum::<f64>() / n,
    );
    let of = if hit.len() < runs.len() {
        format!(" ({} of {} seeds)", hit.len(), runs.len())
    } else {
        String::new()
    };
    (format!("{steps:.0}{of}"), format!("{secs:.1}{of}"))
}

/// One run of a stage (all its seeds together), as the conclusion's table,
/// the verdict and the headline figures read it.
pub(super) struct RunResult<'a> {
    pub label: &'a str,
    /// The first seed's config (every seed's but the seed itself).
    pub config: Option<&'a TrainConfig>,
    /// Why the run did not run (no seed finished).
    pub error: Option<&'a str>,
    pub seeds: usize,
    pub failed: usize,
    /// Median step seconds pooled over seeds, with its bootstrap 95% interval.
    pub step: Option<f64>,
    pub step_ci: Option<Interval>,
    /// Median step over AdamW's, bootstrap 95% interval.
    pub overhead: Option<Interval>,
    pub share: Option<f64>,
    /// (seed, final held-out loss).
    pub finals: Vec<(u64, f64)>,
    /// Mean final held-out loss over seeds and its 95% t interval (none
    /// below two seeds).
    pub loss: Option<f64>,
    pub loss_ci: Option<Interval>,
    /// Mean paired Δ loss against the comparison run and its interval.
    pub dloss: Option<f64>,
    pub dloss_ci: Result<Interval, stats::Unavailable>,
    pub is_reference: bool,
    pub accounted_bytes: Option<f64>,
    pub acc: Option<(f64, usize, usize)>,
    pub to_target: (String, String),
}

/// One stage of the conclusion.
pub(super) struct StageResult<'a> {
    pub stage: &'a str,
    /// "small model, 50 steps of B = 8 × T = 128, all thread(s), 3 seed(s)".
    pub what: String,
    pub target: String,
    pub runs: Vec<RunResult<'a>>,
    /// How many evaluations the first run made (1: the held-out curve is
    /// one point per run).
    pub evaluations: usize,
}

/// Every stage of `trainings` against `compare_to`, time-to-quality aiming
/// at `target_loss` (see the module doc).
pub(super) fn stages<'a>(
    trainings: &'a [TrainOutcome],
    rows: &[Row],
    compare_to: &CompareTo,
    target_loss: Option<f64>,
    reference_name: &str,
) -> Vec<StageResult<'a>> {
    let kmax = rows.iter().map(|r| r.rank).max().unwrap_or(0);
    let mut names: Vec<&str> = Vec::new();
    for t in trainings {
        if !names.contains(&t.stage.as_str()) {
            names.push(&t.stage);
        }
    }
    let mut out = Vec::new();
    for stage in names {
        let groups = groups(trainings, stage);
        let adamw = groups.iter().find(|g| {
            g.ok()
                .next()
                .is_some_and(|(t, s)| t.is_lab() && s.config.optimizer == OptimizerKind::Adamw)
        });
        let reference = groups.iter().find(|g| {
            g.ok()
                .next()
                .is_some_and(|(t, s)| compare_to.is(&t.label, &s.config, t.is_lab()))
        });
        let adamw_times = adamw.map(Group::step_times).unwrap_or_default();
        let ref_finals = reference.map(Group::finals).unwrap_or_default();
        let target = target_loss.or_else(|| {
            (!ref_finals.is_empty())
                .then(|| ref_finals.iter().map(|x| x.1).sum::<f64>() / ref_finals.len() as f64)
        });
        let first = groups.iter().find_map(|g| g.ok().next());
        let what = first.map_or(String::new(), |(_, f)| {
            let seeds = groups.iter().map(|g| g.outcomes.len()).max().unwrap_or(1);
            format!(
                "{} model, {} steps of B = {} × T = {}, {} thread(s), {} seed(s)",
                f.config.preset,
                f.config.steps,
                f.config.batch_size,
                f.config.seq_len,
                if f.config.threads == 0 {
                    "all".to_string()
                } else {
                    f.config.threads.to_string()
                },
                seeds
            )
        });
        let evaluations = first.map_or(0, |(t, _)| {
            t.steps.iter().filter(|r| r.eval_loss.is_some()).count()
        });
        let target_text = target.map_or(
            "– (no comparison run finished; set `target_loss`)".into(),
            |t| {
                format!(
                    "{t:.4} ({})",
                    if target_loss.is_some() {
                        "the suite's `target_loss`".to_string()
                    } else {
                        format!("{reference_name}'s final held-out loss")
                    }
                )
            },
        );
        let mut runs = Vec::new();
        for g in &groups {
            let Some((first_t, first_s)) = g.ok().next() else {
                runs.push(RunResult {
                    label: g.label,
                    config: None,
                    error: Some(g.outcomes.first().map_or("", |t| t.error.as_str())),
                    seeds: g.outcomes.len(),
                    failed: g.outcomes.len(),
                    step: None,
                    step_ci: None,
                    overhead: None,
                    share: None,
                    finals: Vec::new(),
                    loss: None,
                    loss_ci: None,
                    dloss: None,
                    dloss_ci: Err(stats::Unavailable::NoSamples),
                    is_reference: false,
                    accounted_bytes: None,
                    acc: None,
                    to_target: (String::new(), String::new()),
                });
                continue;
            };
            let times = g.step_times();
            let step = (!times.is_empty()).then(|| stats::median(&times));
            let finals = g.finals();
            let losses: Vec<f64> = finals.iter().map(|x| x.1).collect();
            let diffs = paired_diffs(&finals, &ref_finals);
            runs.push(RunResult {
                label: g.label,
                config: Some(&first_s.config),
                error: None,
                seeds: g.outcomes.len(),
                failed: g.outcomes.len() - g.ok().count(),
                step,
                step_ci: stats::bootstrap_median(&times, BOOTSTRAP_SEED).ok(),
                overhead: stats::bootstrap_ratio(&times, &adamw_times, BOOTSTRAP_SEED).ok(),
                share: step
                    .filter(|s| *s > 0.0)
                    .map(|s| stats::median(&g.subspace_times()) / s),
                loss: (!losses.is_empty())
                    .then(|| losses.iter().sum::<f64>() / losses.len() as f64),
                loss_ci: stats::paired_t(&losses).ok(),
                finals,
                dloss: (!diffs.is_empty()).then(|| diffs.iter().sum::<f64>() / diffs.len() as f64),
                dloss_ci: stats::paired_t(&diffs),
                is_reference: compare_to.is(&first_t.label, &first_s.config, first_t.is_lab()),
                accounted_bytes: Some(first_s.memory.accounted_bytes as f64),
                acc: late_step_accuracy(rows, first_s, stage, kmax),
                to_target: time_to_quality(g, target),
            });
        }
        out.push(StageResult {
            stage,
            what,
            target: target_text,
            runs,
            evaluations,
        });
    }
    out
}

/// The one-paragraph legend of the conclusion's table (details.md).
pub(super) fn how_to_read(reference_name: &str) -> String {
    format!(
        "Generated from this run's numbers; every run with `seeds` is all its seeds together. \
         Overhead: median per-step time over AdamW's in the same stage (same model, data and \
         schedule), both pooled over seeds, with a bootstrap 95% interval ({} resamples). \
         Subspace share: the subspace computations' part of the median step. Δ loss: final \
         held-out loss minus {reference_name}'s (negative is better), mean over seeds paired by \
         seed, with its 95% Student t interval (\"no difference detected\" when it holds 0; \
         unavailable below 2 seeds). err_fro: the median over the gradients recorded at the \
         stage's last recorded step of the method's err_fro at the suite's largest rank (1 = \
         the optimal rank-k subspace; a gradient of rank below k is measured against the f32 \
         roundoff floor, which the median keeps from swamping the figure). At T = 1 the \
         moments are kept across refreshes in the coordinates of the previous basis, so even \
         two exact methods (svd, lanczos) can end apart: their bases differ in signs and \
         rotations from step to step. Time to target: the first step (steps taken) and wall \
         second at which the held-out loss reaches the target, mean over the seeds that \
         reach it.",
        stats::RESAMPLES
    )
}

/// The conclusion's table of one stage (Markdown), comparing with the run
/// named `reference_head` in its header, at the suite's largest rank `kmax`.
pub(super) fn table(out: &mut String, s: &StageResult<'_>, reference_head: &str, kmax: usize) {
    let _ = writeln!(
        out,
        "| run | step time s | overhead × AdamW [95% CI] | subspace share | final held-out \
         loss | Δ loss vs {reference_head} | Δ loss 95% CI | median err_fro at k = {kmax}, \
         late step | seeds | steps to target | s to target |\n\
         |---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &s.runs {
        if let Some(why) = r.error {
            let _ = writeln!(
                out,
                "| {} | did not run: {} | | | | | | | {} | | |",
                r.label,
                why.replace('|', "\\|").replace('\n', " "),
                r.seeds
            );
            continue;
        }
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}{} | {} | {} |",
            r.label,
            r.step.map_or("–".into(), |x| format!("{x:.3}")),
            r.overhead.map_or("–".into(), |o| format!(
                "{:.2}× [{:.2}, {:.2}]",
                o.estimate, o.lo, o.hi
            )),
            r.share.map_or("–".into(), |x| format!("{:.1}%", 100.0 * x)),
            mean_pm(&r.finals.iter().map(|x| x.1).collect::<Vec<_>>()),
            r.dloss.map_or("–".into(), |x| format!("{x:+.4}")),
            if r.is_reference {
                "reference".into()
            } else if r.dloss.is_some() {
                ci_with_verdict(&r.dloss_ci)
            } else {
                "–".into()
            },
            r.acc.map_or("–".into(), |(e, n, step)| format!(
                "{e:.4} ({n} matrices, step {step})"
            )),
            r.seeds,
            if r.failed > 0 {
                format!(" ({} failed)", r.failed)
            } else {
                String::new()
            },
            r.to_target.0,
            r.to_target.1,
        );
    }
    out.push('\n');
}

/// The verdict of one stage in a few sentences: what ends lower, higher or
/// indistinguishable from the comparison run (with the intervals), what is
/// fastest and slowest per step, then the Pareto fronts and moment
/// transport ([`super::verdict::stage`]).
pub(super) fn verdict(s: &StageResult<'_>, reference_name: &str) -> String {
    let ran: Vec<&RunResult<'_>> = s.runs.iter().filter(|r| r.error.is_none()).collect();
    let mut out = Vec::new();
    let delta = |r: &RunResult<'_>| match (&r.dloss, &r.dloss_ci) {
        (Some(d), Ok(c)) => format!("{} ({d:+.4} [{:+.4}, {:+.4}])", r.label, c.lo, c.hi),
        (Some(d), Err(_)) => format!("{} ({d:+.4})", r.label),
        _ => r.label.to_string(),
    };
    let name = |r: &RunResult<'_>| r.label.to_string();
    let others: Vec<&&RunResult<'_>> = ran
        .iter()
        .filter(|r| !r.is_reference && r.dloss.is_some())
        .collect();
    let with_ci: Vec<&&&RunResult<'_>> = others.iter().filter(|r| r.dloss_ci.is_ok()).collect();
    if !others.is_empty() && with_ci.is_empty() {
        out.push(format!(
            "Final held-out loss minus {reference_name}'s, one seed each (no interval: a \
             difference here is not shown to be more than seed noise): {}.",
            others
                .iter()
                .map(|r| delta(r))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    } else if !with_ci.is_empty() {
        let pick = |f: &dyn Fn(&Interval) -> bool, say: &dyn Fn(&RunResult<'_>) -> String| {
            with_ci
                .iter()
                .filter(|r| r.dloss_ci.as_ref().is_ok_and(f))
                .map(|r| say(r))
                .collect::<Vec<_>>()
        };
        let lower = pick(&|c| c.hi < 0.0, &delta);
        let higher = pick(&|c| c.lo > 0.0, &delta);
        // The indistinguishable runs by name: their figures are in the table.
        let same = pick(&|c| c.contains(0.0), &name);
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        out.push(format!(
            "Against {reference_name} (Δ final held-out loss, paired by seed, 95% t interval): \
             lower loss: {}; higher loss: {}; no difference detected: {}.",
            list(&lower),
            list(&higher),
            list(&same)
        ));
    }
    let timed: Vec<&&RunResult<'_>> = ran.iter().filter(|r| r.step.is_some()).collect();
    let by_step = |a: &&&RunResult<'_>, b: &&&RunResult<'_>| {
        a.step.unwrap_or(0.0).total_cmp(&b.step.unwrap_or(0.0))
    };
    if let (Some(fast), Some(slow)) = (
        timed.iter().min_by(|a, b| by_step(a, b)),
        timed.iter().max_by(|a, b| by_step(a, b)),
    ) {
        let cost = |r: &RunResult<'_>| {
            let step = r.step.unwrap_or(0.0);
            let adamw = r
                .config
                .is_some_and(|c| c.optimizer == OptimizerKind::Adamw);
            match &r.overhead {
                Some(o) if !adamw => format!(
                    "{} ({step:.3} s, {:.2}× AdamW [{:.2}, {:.2}])",
                    r.label, o.estimate, o.lo, o.hi
                ),
                _ => format!("{} ({step:.3} s)", r.label),
            }
        };
        if fast.label != slow.label {
            out.push(format!(
                "Fastest step: {}; slowest: {}.",
                cost(fast),
                cost(slow)
            ));
        }
    }
    let fronts = super::verdict::brief(&entries(s));
    let mut text = out.join(" ");
    if !fronts.is_empty() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&fronts.trim_end().replace('\n', " "));
    }
    text
}

/// The fronts and moment transport of stage `s` in full sentences
/// (details.md; the front page has [`verdict`]).
pub(super) fn verdict_in_full(s: &StageResult<'_>) -> String {
    super::verdict::stage(&entries(s))
}

/// The verdict's entries: every run of `s` that ran with a step time.
fn entries<'a>(s: &'a StageResult<'a>) -> Vec<super::verdict::Entry<'a>> {
    s.runs
        .iter()
        .filter(|r| r.error.is_none())
        .filter_map(|r| {
            Some(super::verdict::Entry {
                label: r.label,
                config: r.config?,
                seconds: r.step?,
                bytes: r.accounted_bytes?,
                finals: r.finals.clone(),
            })
        })
        .collect()
}

/// Stage `stage`'s mean ± 95% CI table over seeds (details.md), when a
/// run of it has ≥ 2 seeds.
pub(super) fn mean_ci_section(out: &mut String, trainings: &[TrainOutcome], stage: &str) {
    let groups = groups(trainings, stage);
    if groups.iter().all(|g| g.ok().count() < 2) {
        return;
    }
    let _ = writeln!(out, "### Stage `{stage}`: mean over seeds\n");
    mean_ci_table(out, &groups);
}

/// The mean ± 95% CI table over seeds, for a stage with a run of ≥ 2 seeds.
fn mean_ci_table(out: &mut String, groups: &[Group<'_>]) {
    if groups.iter().all(|g| g.ok().count() < 2) {
        return;
    }
    let _ = writeln!(
        out,
        "Mean ± 95% CI half-width over seeds (Student t; one seed: its value alone):\n\n\
         | run | seeds | final held-out loss | final train loss | median step time s |\n\
         |---|---|---|---|---|"
    );
    for g in groups {
        let held: Vec<f64> = g.finals().iter().map(|x| x.1).collect();
        let train: Vec<f64> = g.ok().map(|(_, s)| f64::from(s.final_train_loss)).collect();
        let step: Vec<f64> = g.ok().map(|(_, s)| s.median_step_seconds).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            g.label,
            g.ok().count(),
            mean_pm(&held),
            mean_pm(&train),
            mean_pm(&step),
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_half_width() {
        assert_eq!(mean_pm(&[2.0]), "2.0000");
        // 3 seeds 1, 2, 3: mean 2, s = 1, half-width 4.3027 / √3 = 2.4841.
        assert_eq!(mean_pm(&[1.0, 2.0, 3.0]), "2.0000 ± 2.4841");
    }
}
