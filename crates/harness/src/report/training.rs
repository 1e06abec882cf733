//! The training part of a report: the generated conclusion
//! ([`super::conclusion`]), the per-run table (losses, step-time breakdown,
//! memory, energy), and the data of the accuracy plot (each method on the
//! recorded gradients over training steps; the loss curves are
//! [`super::band`]'s).
//!
//! A matrix method and a GaLore run are the same method when their plugin
//! and params agree (`inline_params`); a recorded gradient's row carries its
//! stage and step as columns. AdamW and the suite's comparison run
//! ([`CompareTo`]: by default GaLore+svd at T = 1) are the references of the
//! conclusion.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::conclusion;
use crate::records::{Row, Status, TrainOutcome};
use crate::stats;
use crate::suite::CompareTo;

/// Named curves per stage: stage → [(series name, points)].
pub type Curves = BTreeMap<String, Vec<(String, Vec<(f64, f64)>)>>;

fn mb(b: usize) -> String {
    format!("{:.1}", b as f64 / 1e6)
}

/// How the conclusion names the comparison run: in prose, and in a table
/// header.
fn reference_names(compare_to: &CompareTo) -> (String, String) {
    match compare_to {
        CompareTo::SvdEveryStep => ("GaLore+svd at T = 1".into(), "GaLore+svd T=1".into()),
        CompareTo::Run(name) => (name.clone(), name.clone()),
    }
}

/// The training sections of a report, comparing with `compare_to`,
/// time-to-quality aiming at its final held-out loss: [`front`] then
/// [`details`].
pub fn markdown(trainings: &[TrainOutcome], rows: &[Row], compare_to: &CompareTo) -> String {
    markdown_with_target(trainings, rows, compare_to, None)
}

/// [`markdown`] with time-to-quality aiming at `target_loss` where given
/// (the suite's `target_loss`).
pub fn markdown_with_target(
    trainings: &[TrainOutcome],
    rows: &[Row],
    compare_to: &CompareTo,
    target_loss: Option<f64>,
) -> String {
    let mut out = front(trainings, rows, compare_to, target_loss);
    out.push_str(&details(trainings, rows, compare_to, target_loss));
    out
}

/// The front page's training part (summary.md): per stage, its verdict in
/// a few sentences and the conclusion's table, with a line on how to read
/// it.
pub fn front(
    trainings: &[TrainOutcome],
    rows: &[Row],
    compare_to: &CompareTo,
    target_loss: Option<f64>,
) -> String {
    let mut out = String::new();
    if trainings.is_empty() {
        return out;
    }
    let (reference_name, reference_head) = reference_names(compare_to);
    let kmax = rows.iter().map(|r| r.rank).max().unwrap_or(0);
    for s in conclusion::stages(trainings, rows, compare_to, target_loss, &reference_name) {
        let _ = writeln!(out, "## Stage `{}`: {}\n", s.stage, s.what);
        let v = conclusion::verdict(&s, &reference_name);
        if !v.is_empty() {
            let _ = writeln!(out, "{v}\n");
        }
        let _ = writeln!(
            out,
            "Each run is all its seeds together. Overhead: median step over AdamW's \
             (bootstrap 95% interval); Δ loss: final held-out loss minus {reference_name}'s, \
             paired by seed (95% t interval); time to target: held-out loss ≤ {}. Definitions: \
             [details.md](details.md#conclusion).\n",
            s.target
        );
        conclusion::table(&mut out, &s, &reference_head, kmax);
    }
    out
}

/// The training part of details.md: the conclusion's definitions, each
/// stage's mean ± CI over seeds, and the per-run table (losses, step-time
/// breakdown, memory, energy).
pub fn details(
    trainings: &[TrainOutcome],
    rows: &[Row],
    compare_to: &CompareTo,
    target_loss: Option<f64>,
) -> String {
    let mut out = String::new();
    if trainings.is_empty() {
        return out;
    }
    let (reference_name, _) = reference_names(compare_to);
    let _ = writeln!(
        out,
        "## Conclusion\n\n{}\n",
        conclusion::how_to_read(&reference_name)
    );
    for s in conclusion::stages(trainings, rows, compare_to, target_loss, &reference_name) {
        let full = conclusion::verdict_in_full(&s);
        if !full.is_empty() {
            let _ = writeln!(
                out,
                "### Stage `{}`: the fronts and moment transport\n\n{full}",
                s.stage
            );
        }
        conclusion::mean_ci_section(&mut out, trainings, s.stage);
    }
    let _ = writeln!(out, "## Training runs\n");
    let _ = writeln!(
        out,
        "Times are medians over the steps after the first (seconds): forward, backward, the \
         subspace computations (GaLore's refreshes) and the rest of the optimizer update. \
         Memory (MB = 10⁶ bytes) is counted from the loop's own f32 buffers, plus the refresh \
         scratch: the subspace method's own prediction of its working memory, for as many \
         matrices at once as the run has threads (a GPU method's is device memory, shown as \
         predicted / measured and not counted in the host total); peak RSS is the process's \
         VmHWM over the run; the paper's estimate is the GaLore paper's Table 2 form \
         (bf16 weights + optimizer states at 2 bytes per element). Energy: the machine's meter \
         over the whole run (evaluations included), divided by the steps.\n"
    );
    let _ = writeln!(
        out,
        "| stage | run | final train loss | final held-out loss | forward | backward | subspace | update | tokens/s | weights | grads | optimizer state | activations | refresh scratch | accounted | peak RSS | paper: weights + states | J/step |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for t in trainings {
        let Some(s) = &t.summary else { continue };
        let m = &s.memory;
        let _ = writeln!(
            out,
            "| {} | {} | {:.4} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} | {} | {} | {} | {}{} | {} | {} | {} | {} + {} | {} |",
            t.stage,
            t.label,
            s.final_train_loss,
            s.final_eval_loss.map_or("–".into(), |x| format!("{x:.4}")),
            s.median_seconds_forward,
            s.median_seconds_backward,
            s.median_seconds_subspace,
            s.median_seconds_update,
            s.tokens_per_second,
            mb(m.weights_bytes),
            mb(m.gradient_bytes),
            mb(m.optimizer_state_bytes),
            mb(m.activation_bytes),
            if m.activation_checkpointing {
                " (checkpointed)"
            } else {
                ""
            },
            match (
                m.subspace_device_bytes_predicted,
                m.subspace_device_bytes_measured
            ) {
                (Some(p), measured) =>
                    format!("device: {} / {}", mb(p), measured.map_or("–".into(), mb)),
                (None, _) => mb(m.subspace_workspace_bytes),
            },
            mb(m.accounted_bytes),
            m.peak_rss_bytes
                .map_or(m.peak_rss_note.clone(), |b| format!(
                    "{:.1}",
                    b as f64 / 1e6
                )),
            mb(m.paper_bf16_weights_bytes),
            mb(m.paper_bf16_state_bytes),
            t.energy_per_step_j
                .map_or("unavailable".into(), |j| format!("{j:.2}")),
        );
    }
    if let Some(t) = trainings.iter().find(|t| t.energy_per_step_j.is_none()) {
        let _ = writeln!(out, "\nEnergy per step unavailable: {}", t.energy_note);
    }
    out.push('\n');
    out
}

/// Median err_fro at `rank` per (stage, method) against the recorded step
/// (the median, as the conclusion's: see [`super::conclusion`]).
pub fn accuracy_over_steps(rows: &[Row], rank: usize) -> Curves {
    // stage → method → step → err_fro of each matrix
    type Errors<'a> = BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<usize, Vec<f64>>>>;
    let mut acc = Errors::new();
    for r in rows
        .iter()
        .filter(|r| r.status == Status::Ok && r.rank == rank)
    {
        let (Some((stage, step)), Some(e)) = (r.recorded_step(), r.err_fro) else {
            continue;
        };
        acc.entry(stage)
            .or_default()
            .entry(&r.method)
            .or_default()
            .entry(step)
            .or_default()
            .push(e);
    }
    acc.into_iter()
        .map(|(stage, methods)| {
            let series = methods
                .into_iter()
                .map(|(m, steps)| {
                    let pts = steps
                        .into_iter()
                        .map(|(s, errors)| (s as f64, stats::median(&errors)))
                        .collect();
                    (m.to_string(), pts)
                })
                .collect();
            (stage.to_string(), series)
        })
        .collect()
}
