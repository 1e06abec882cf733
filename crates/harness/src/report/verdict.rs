//! A stage's verdict in the conclusion: which training runs give the best
//! held-out loss per second and per byte, and whether moving Adam's moments
//! with the basis (`moments`, `align`) changes the ranking.
//!
//! Each run is all its seeds together: its loss is the mean final held-out
//! loss over seeds, its time the median step pooled over seeds (as in the
//! conclusion's table). "Best per second" is a Pareto front, not a ratio of
//! loss to time: a run is on it when no other run of the stage ends at a
//! mean held-out loss at least as low with a median step at least as short
//! (one of the two strictly better). "Per byte" is the same front over the
//! run's accounted memory (its own buffers and the refresh scratch,
//! `MemoryReport::accounted_bytes`). The ranking is by mean final held-out
//! loss, lowest first, over the runs that finished; a moment policy "changes
//! the ranking" when the variant's place differs from that of the same
//! method, gap and params with the moments kept and no alignment and their
//! paired 95% t interval over seeds excludes 0; places that differ within
//! that noise are said to be so, and with one seed the claim is qualified.

use std::fmt::Write as _;

use llama::optim::MomentPolicy;
use llama::session::{OptimizerKind, TrainConfig};

use super::paired::{ci_with_verdict, paired_diffs};
use crate::stats;

/// One run of the stage, all its seeds together.
pub struct Entry<'a> {
    pub label: &'a str,
    pub config: &'a TrainConfig,
    /// Median step seconds, pooled over seeds.
    pub seconds: f64,
    /// Accounted bytes (the same for every seed).
    pub bytes: f64,
    /// (seed, final held-out loss) of each seed that has one.
    pub finals: Vec<(u64, f64)>,
}

impl Entry<'_> {
    fn loss(&self) -> Option<f64> {
        (!self.finals.is_empty())
            .then(|| self.finals.iter().map(|x| x.1).sum::<f64>() / self.finals.len() as f64)
    }
}

/// A finished run with its mean loss.
struct Point<'a> {
    entry: &'a Entry<'a>,
    loss: f64,
}

/// The runs no other run beats on both `cost` and the held-out loss,
/// cheapest first.
fn front<'a>(points: &'a [Point<'a>], cost: impl Fn(&Point<'_>) -> f64) -> Vec<&'a Point<'a>> {
    let dominated = |p: &Point<'_>| {
        points.iter().any(|q| {
            let (cq, cp) = (cost(q), cost(p));
            cq <= cp && q.loss <= p.loss && (cq < cp || q.loss < p.loss)
        })
    };
    let mut out: Vec<&Point<'_>> = points.iter().filter(|p| !dominated(p)).collect();
    out.sort_by(|a, b| cost(a).total_cmp(&cost(b)));
    out
}

/// The verdict paragraph of one stage (empty when fewer than two runs have
/// a final held-out loss).
pub fn stage(entries: &[Entry<'_>]) -> String {
    paragraph(entries, false)
}

/// [`stage`] in short: the fronts with their figures, and each moment
/// transport's place against its twin in a clause (the front page's).
pub fn brief(entries: &[Entry<'_>]) -> String {
    paragraph(entries, true)
}

fn paragraph(entries: &[Entry<'_>], brief: bool) -> String {
    let points: Vec<Point<'_>> = entries
        .iter()
        .filter_map(|e| {
            Some(Point {
                entry: e,
                loss: e.loss()?,
            })
        })
        .collect();
    if points.len() < 2 {
        return String::new();
    }
    let mut out = String::new();
    let seconds = |p: &Point<'_>| p.entry.seconds;
    let bytes = |p: &Point<'_>| p.entry.bytes;
    let list = |front: Vec<&Point<'_>>, unit: &dyn Fn(&Point<'_>) -> String| {
        front
            .iter()
            .map(|p| format!("{} ({}, {:.4})", p.entry.label, unit(p), p.loss))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let per_second = list(front(&points, seconds), &|p| {
        format!("{:.3} s/step", seconds(p))
    });
    let per_byte = list(front(&points, bytes), &|p| {
        format!("{:.1} MB", bytes(p) / 1e6)
    });
    if brief {
        let _ = writeln!(
            out,
            "Best held-out loss per second (the Pareto front: no run both faster and lower; \
             cheapest first): {per_second}. Per byte of accounted memory: {per_byte}."
        );
        let moved = transport_brief(&points);
        if !moved.is_empty() {
            let _ = writeln!(out, "Moment transport: {}.", moved.join("; "));
        }
        return out;
    }
    let _ = writeln!(
        out,
        "Best held-out loss per second (no other run both faster per step and lower in \
         held-out loss; cheapest first): {per_second}."
    );
    let _ = writeln!(
        out,
        "Best held-out loss per byte (the same over the run's accounted memory): {per_byte}."
    );
    for sentence in transport(&points) {
        let _ = writeln!(out, "{sentence}");
    }
    out
}

/// Each moved-moments run's place against its twin's, in a clause.
fn transport_brief(points: &[Point<'_>]) -> Vec<String> {
    let mut ranked: Vec<&str> = {
        let mut v: Vec<&Point<'_>> = points.iter().collect();
        v.sort_by(|a, b| a.loss.total_cmp(&b.loss));
        v.into_iter().map(|p| p.entry.label).collect()
    };
    ranked.dedup();
    let n = ranked.len();
    let place = |p: &Point<'_>| 1 + ranked.iter().position(|l| *l == p.entry.label).unwrap_or(0);
    let mut out = Vec::new();
    for p in points.iter().filter(|p| moves_moments(p.entry.config)) {
        out.push(match twin(points, p) {
            Some(q) => {
                let ci = stats::paired_t(&paired_diffs(&p.entry.finals, &q.entry.finals));
                let how = match &ci {
                    Ok(c) if c.contains(0.0) => "within the seeds' noise".to_string(),
                    Ok(c) => format!(
                        "{} [{:+.4}, {:+.4}]",
                        if c.hi < 0.0 {
                            "lower loss"
                        } else {
                            "higher loss"
                        },
                        c.lo,
                        c.hi
                    ),
                    Err(_) => "one seed, no interval".to_string(),
                };
                format!(
                    "{} ranks {} of {n} where {} ranks {} ({how})",
                    p.entry.label,
                    place(p),
                    q.entry.label,
                    place(q)
                )
            }
            None => format!(
                "{} ranks {} of {n}, with no kept-moments twin to compare",
                p.entry.label,
                place(p)
            ),
        });
    }
    out
}

/// Whether a run's moments move with its basis (`moments` other than keep,
/// or `align`) in a GaLore run.
fn moves_moments(c: &TrainConfig) -> bool {
    c.optimizer == OptimizerKind::Galore && (c.moments != MomentPolicy::Keep || c.align)
}

/// The run of the same method, gap and params as `p` with the moments kept
/// and the bases not aligned.
fn twin<'a>(points: &'a [Point<'a>], p: &Point<'_>) -> Option<&'a Point<'a>> {
    let c = p.entry.config;
    points.iter().find(|q| {
        let d = q.entry.config;
        d.optimizer == OptimizerKind::Galore
            && d.moments == MomentPolicy::Keep
            && !d.align
            && d.plugin == c.plugin
            && d.plugin_params == c.plugin_params
            && d.update_proj_gap == c.update_proj_gap
    })
}

/// For each GaLore run whose moments move with the basis (`moments` other
/// than keep, or `align`), its place in the loss ranking against that of
/// the same method, gap and params with the reference's moments.
fn transport(points: &[Point<'_>]) -> Vec<String> {
    let mut ranked: Vec<&Point<'_>> = points.iter().collect();
    ranked.sort_by(|a, b| a.loss.total_cmp(&b.loss));
    let place = |p: &Point<'_>| {
        1 + ranked
            .iter()
            .position(|q| q.entry.label == p.entry.label)
            .unwrap_or(0)
    };
    let n = ranked.len();
    let mut out = Vec::new();
    for p in points.iter().filter(|p| moves_moments(p.entry.config)) {
        let c = p.entry.config;
        let twin = twin(points, p);
        let what = format!(
            "moments = \"{}\"{}",
            c.moments.name(),
            if c.align { ", align = true" } else { "" }
        );
        out.push(match twin {
            Some(q) => {
                let (a, b) = (place(p), place(q));
                let ci = stats::paired_t(&paired_diffs(&p.entry.finals, &q.entry.finals));
                format!(
                    "Moment transport: {} ({what}) ends at {:.4}, {:+.4} against {} ({:.4}; \
                     {}), and ranks {a} of {n} by held-out loss where the \
                     kept moments rank {b}: {}.",
                    p.entry.label,
                    p.loss,
                    p.loss - q.loss,
                    q.entry.label,
                    q.loss,
                    match &ci {
                        Ok(_) => format!("paired 95% CI {}", ci_with_verdict(&ci)),
                        Err(e) => e.to_string(),
                    },
                    match (a == b, &ci) {
                        (true, _) => "the ranking is unchanged",
                        (false, Ok(c)) if c.contains(0.0) => {
                            "the places differ by less than the seeds' noise (the interval \
                             holds 0), so the ranking is not shown to change"
                        }
                        (false, Ok(_)) => "it changes the ranking",
                        (false, Err(_)) => "it changes the ranking on this one seed",
                    }
                )
            }
            None => format!(
                "Moment transport: {} ({what}) ends at {:.4}, rank {} of {n}; no run of the \
                 same method, gap and params keeps its moments, so there is nothing to compare \
                 it with.",
                p.entry.label,
                p.loss,
                place(p)
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<'a>(
        label: &'a str,
        seconds: f64,
        mb: usize,
        losses: &[f64],
        config: &'a TrainConfig,
    ) -> Entry<'a> {
        Entry {
            label,
            config,
            seconds,
            bytes: (mb * 1_000_000) as f64,
            finals: losses
                .iter()
                .enumerate()
                .map(|(i, l)| (i as u64, *l))
                .collect(),
        }
    }

    fn galore(plugin: &str, moments: MomentPolicy, align: bool) -> TrainConfig {
        TrainConfig {
            optimizer: OptimizerKind::Galore,
            plugin: plugin.into(),
            update_proj_gap: 1,
            moments,
            align,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn the_fronts_keep_the_undominated_runs_and_transport_is_ranked_against_its_twin() {
        let adamw = TrainConfig {
            optimizer: OptimizerKind::Adamw,
            ..TrainConfig::default()
        };
        let (svd, rot, rrf) = (
            galore("svd", MomentPolicy::Keep, false),
            galore("svd", MomentPolicy::Rotate, true),
            galore("rrf", MomentPolicy::Keep, false),
        );
        // Two seeds each; svd-rotate − svd per seed: -0.1, -0.3 (mean -0.2,
        // s = 0.1414, half-width 12.706 · 0.1414 / √2 = 1.2706).
        let runs = [
            // fast and cheap but worst; slow and best; dominated by "svd-rotate".
            run("adamw", 0.5, 300, &[3.0, 3.0], &adamw),
            run("svd", 1.2, 250, &[2.8, 2.8], &svd),
            run("svd-rotate", 1.1, 240, &[2.7, 2.5], &rot),
            run("rrf", 0.7, 200, &[2.7, 2.7], &rrf),
        ];
        let text = stage(&runs);
        // Per second: adamw (0.5 s), rrf (0.7 s, 2.7), svd-rotate (1.1 s, 2.6);
        // svd is slower and worse than svd-rotate.
        assert!(
            text.contains(
                "cheapest first): adamw (0.500 s/step, 3.0000), rrf (0.700 s/step, 2.7000), \
                 svd-rotate (1.100 s/step, 2.6000)."
            ),
            "{text}"
        );
        // Per byte: rrf (200 MB) beats adamw (300 MB, worse) and svd; then
        // svd-rotate (240 MB, 2.6).
        assert!(
            text.contains("memory): rrf (200.0 MB, 2.7000), svd-rotate (240.0 MB, 2.6000)."),
            "{text}"
        );
        // Ranked by loss: svd-rotate 1, rrf 2, svd 3, adamw 4; the paired
        // interval [-1.4706, 1.0706] holds 0.
        assert!(
            text.contains(
                "svd-rotate (moments = \"rotate\", align = true) ends at 2.6000, -0.2000 \
                 against svd (2.8000; paired 95% CI [-1.4706, +1.0706]: no difference \
                 detected), and ranks 1 of 4 by held-out loss where the kept moments rank 3: \
                 the places differ by less than the seeds' noise (the interval holds 0), so \
                 the ranking is not shown to change."
            ),
            "{text}"
        );
        assert_eq!(stage(&runs[..1]), "", "one run has no verdict");
        // The same gap on both seeds: an interval of one point, excluding 0.
        let sure = [
            run("svd", 1.2, 250, &[2.8, 2.9], &svd),
            run("svd-rotate", 1.1, 240, &[2.6, 2.7], &rot),
            run("rrf", 0.7, 200, &[2.7, 2.7], &rrf),
        ];
        let text = stage(&sure);
        assert!(
            text.contains("paired 95% CI [-0.2000, -0.2000]: lower loss), and ranks 1 of 3")
                && text.contains("kept moments rank 3: it changes the ranking."),
            "{text}"
        );
        // One seed: said as such.
        let single = [
            run("svd", 1.2, 250, &[2.8], &svd),
            run("svd-rotate", 1.1, 240, &[2.6], &rot),
            run("rrf", 0.7, 200, &[2.7], &rrf),
        ];
        let text = stage(&single);
        assert!(
            text.contains("(2.8000; CI unavailable: needs ≥ 2 seeds, has 1)")
                && text.contains("it changes the ranking on this one seed."),
            "{text}"
        );
    }
}
