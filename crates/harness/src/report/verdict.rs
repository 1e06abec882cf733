//! A stage's verdict in the conclusion: which training runs give the best
//! held-out loss per second and per byte, and whether moving Adam's moments
//! with the basis (`moments`, `align`) changes the ranking.
//!
//! "Best per second" is a Pareto front, not a ratio of loss to time: a run
//! is on it when no other run of the stage ends at a held-out loss at least
//! as low with a median step at least as short (one of the two strictly
//! better). "Per byte" is the same front over the run's accounted memory
//! (its own buffers and the refresh scratch, `MemoryReport::accounted_bytes`).
//! The ranking is by final held-out loss, lowest first, over the runs that
//! finished; a moment policy "changes the ranking" when the variant's place
//! differs from that of the same method, gap and params with the moments
//! kept and no alignment.

use std::fmt::Write as _;

use llama::optim::MomentPolicy;
use llama::session::OptimizerKind;
use llama::session::TrainSummary;

use crate::runner::TrainOutcome;

/// A finished run of the stage with its figures.
struct Point<'a> {
    label: &'a str,
    summary: &'a TrainSummary,
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
pub fn stage(runs: &[&TrainOutcome]) -> String {
    let points: Vec<Point<'_>> = runs
        .iter()
        .filter_map(|t| {
            let s = t.summary.as_ref()?;
            Some(Point {
                label: &t.label,
                summary: s,
                loss: f64::from(s.final_eval_loss?),
            })
        })
        .collect();
    if points.len() < 2 {
        return String::new();
    }
    let mut out = String::new();
    let seconds = |p: &Point<'_>| p.summary.median_step_seconds;
    let bytes = |p: &Point<'_>| p.summary.memory.accounted_bytes as f64;
    let list = |front: Vec<&Point<'_>>, unit: &dyn Fn(&Point<'_>) -> String| {
        front
            .iter()
            .map(|p| format!("{} ({}, {:.4})", p.label, unit(p), p.loss))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "Best held-out loss per second (no other run both faster per step and lower in \
         held-out loss; cheapest first): {}.",
        list(front(&points, seconds), &|p| format!(
            "{:.3} s/step",
            seconds(p)
        ))
    );
    let _ = writeln!(
        out,
        "Best held-out loss per byte (the same over the run's accounted memory): {}.",
        list(front(&points, bytes), &|p| format!(
            "{:.1} MB",
            bytes(p) / 1e6
        ))
    );
    for sentence in transport(&points) {
        let _ = writeln!(out, "{sentence}");
    }
    out
}

/// For each GaLore run whose moments move with the basis (`moments` other
/// than keep, or `align`), its place in the loss ranking against that of
/// the same method, gap and params with the reference's moments.
fn transport(points: &[Point<'_>]) -> Vec<String> {
    let mut ranked: Vec<&Point<'_>> = points.iter().collect();
    ranked.sort_by(|a, b| a.loss.total_cmp(&b.loss));
    let place = |p: &Point<'_>| 1 + ranked.iter().position(|q| q.label == p.label).unwrap_or(0);
    let n = ranked.len();
    let mut out = Vec::new();
    for p in points {
        let c = &p.summary.config;
        let moved = c.moments != MomentPolicy::Keep || c.align;
        if c.optimizer != OptimizerKind::Galore || !moved {
            continue;
        }
        let twin = points.iter().find(|q| {
            let d = &q.summary.config;
            d.optimizer == OptimizerKind::Galore
                && d.moments == MomentPolicy::Keep
                && !d.align
                && d.plugin == c.plugin
                && d.plugin_params == c.plugin_params
                && d.update_proj_gap == c.update_proj_gap
        });
        let what = format!(
            "moments = \"{}\"{}",
            c.moments.name(),
            if c.align { ", align = true" } else { "" }
        );
        out.push(match twin {
            Some(q) => {
                let (a, b) = (place(p), place(q));
                format!(
                    "Moment transport: {} ({what}) ends at {:.4}, {:+.4} against {} ({:.4}), \
                     and ranks {a} of {n} by held-out loss where the kept moments rank {b}: {}.",
                    p.label,
                    p.loss,
                    p.loss - q.loss,
                    q.label,
                    q.loss,
                    if a == b {
                        "the ranking is unchanged"
                    } else {
                        "it changes the ranking"
                    }
                )
            }
            None => format!(
                "Moment transport: {} ({what}) ends at {:.4}, rank {} of {n}; no run of the \
                 same method, gap and params keeps its moments, so there is nothing to compare \
                 it with.",
                p.label,
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
    use llama::session::{MemoryReport, TrainConfig};

    fn run(label: &str, seconds: f64, mb: usize, loss: f32, config: TrainConfig) -> TrainOutcome {
        let memory = MemoryReport {
            parameters: 0,
            weights_bytes: 0,
            gradient_bytes: 0,
            optimizer_state_bytes: 0,
            activation_bytes: 0,
            activation_checkpointing: false,
            subspace_workspace_bytes: 0,
            subspace_device_bytes_predicted: None,
            subspace_device_bytes_measured: None,
            accounted_bytes: mb * 1_000_000,
            peak_rss_bytes: None,
            peak_rss_note: String::new(),
            paper_bf16_weights_bytes: 0,
            paper_bf16_state_bytes: 0,
        };
        let summary = TrainSummary {
            run: label.into(),
            config,
            steps: 10,
            final_train_loss: loss,
            final_eval_loss: Some(loss),
            median_step_seconds: seconds,
            median_seconds_forward: 0.0,
            median_seconds_backward: 0.0,
            median_seconds_subspace: 0.0,
            median_seconds_update: 0.0,
            tokens_per_second: 0.0,
            subspace_calls: 0,
            memory,
            recorded: Vec::new(),
        };
        TrainOutcome {
            stage: "s".into(),
            label: label.into(),
            status: crate::runner::Status::Ok,
            error: String::new(),
            dir: "/".into(),
            summary: Some(summary),
            steps: Vec::new(),
            energy_j: None,
            energy_per_step_j: None,
            energy_note: String::new(),
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
        let runs = [
            // fast and cheap but worst; slow and best; dominated by "svd-rotate".
            run("adamw", 0.5, 300, 3.0, adamw),
            run(
                "svd",
                1.2,
                250,
                2.8,
                galore("svd", MomentPolicy::Keep, false),
            ),
            run(
                "svd-rotate",
                1.1,
                240,
                2.6,
                galore("svd", MomentPolicy::Rotate, true),
            ),
            run(
                "rrf",
                0.7,
                200,
                2.7,
                galore("rrf", MomentPolicy::Keep, false),
            ),
        ];
        let refs: Vec<&TrainOutcome> = runs.iter().collect();
        let text = stage(&refs);
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
        // Ranked by loss: svd-rotate 1, rrf 2, svd 3, adamw 4.
        assert!(
            text.contains(
                "svd-rotate (moments = \"rotate\", align = true) ends at 2.6000, -0.2000 \
                 against svd (2.8000), and ranks 1 of 4 by held-out loss where the kept moments \
                 rank 3: it changes the ranking."
            ),
            "{text}"
        );
        assert_eq!(stage(&refs[..1]), "", "one run has no verdict");
    }
}
