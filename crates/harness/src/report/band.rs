//! Loss curves over seeds for `index.html` (drawn by [`super::html`]): per run, the mean over its
//! seeds at each point and a shaded min–max band of the seeds around it.
//!
//! Seeds of one run share the evaluation schedule, so point `i` of every
//! seed is the same step; against wall seconds, `x` is the seeds' mean too.
//! A run of one seed is its own curve with no band.

use std::collections::BTreeMap;

use crate::records::TrainOutcome;

/// One run's curve: its label, the mean points, and the band's (x, min,
/// max) (empty for one seed).
pub(super) type Banded = (String, Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// A run's label and each of its seeds' (x, loss) points.
type SeedPoints = (String, Vec<Vec<(f64, f64)>>);

/// Per stage, every run's [`Banded`] curve of train or held-out loss
/// against steps or wall seconds.
pub(super) fn seed_curves(
    trainings: &[TrainOutcome],
    held_out: bool,
    against_seconds: bool,
) -> BTreeMap<String, Vec<Banded>> {
    // stage → [(label, [seed's points])]
    let mut runs: BTreeMap<String, Vec<SeedPoints>> = BTreeMap::new();
    for t in trainings {
        let pts: Vec<(f64, f64)> = t
            .steps
            .iter()
            .filter_map(|r| {
                let y = if held_out { r.eval_loss? } else { r.train_loss };
                let x = if against_seconds {
                    r.seconds_elapsed
                } else {
                    (r.step + 1) as f64
                };
                Some((x, f64::from(y)))
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        let stage = runs.entry(t.stage.clone()).or_default();
        match stage.iter_mut().find(|(l, _)| *l == t.label) {
            Some((_, seeds)) => seeds.push(pts),
            None => stage.push((t.label.clone(), vec![pts])),
        }
    }
    runs.into_iter()
        .map(|(stage, labels)| {
            let curves = labels
                .into_iter()
                .map(|(label, seeds)| {
                    let n = seeds.iter().map(Vec::len).min().unwrap_or(0);
                    let mut mean = Vec::with_capacity(n);
                    let mut band = Vec::with_capacity(n);
                    for i in 0..n {
                        let k = seeds.len() as f64;
                        let x = seeds.iter().map(|s| s[i].0).sum::<f64>() / k;
                        let ys = seeds.iter().map(|s| s[i].1);
                        let lo = ys.clone().fold(f64::INFINITY, f64::min);
                        let hi = ys.clone().fold(f64::NEG_INFINITY, f64::max);
                        mean.push((x, ys.sum::<f64>() / k));
                        band.push((x, lo, hi));
                    }
                    if seeds.len() == 1 {
                        band.clear();
                    }
                    (label, mean, band)
                })
                .collect();
            (stage, curves)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Status;
    use llama::session::StepRow;

    fn outcome(label: &str, losses: &[f32]) -> TrainOutcome {
        TrainOutcome {
            stage: "s".into(),
            label: label.into(),
            seed: None,
            status: Status::Ok,
            error: String::new(),
            dir: "x".into(),
            engine: "lab".into(),
            summary: None,
            steps: losses
                .iter()
                .enumerate()
                .map(|(step, &l)| StepRow {
                    run: label.into(),
                    step,
                    tokens: 0,
                    train_loss: l,
                    eval_loss: Some(l),
                    lr: 0.0,
                    grad_norm: 0.0,
                    seconds_forward: 0.0,
                    seconds_backward: 0.0,
                    seconds_subspace: 0.0,
                    seconds_update: 0.0,
                    seconds_elapsed: step as f64,
                    optimizer_state_bytes: 0,
                })
                .collect(),
            energy_j: None,
            energy_per_step_j: None,
            energy_note: String::new(),
        }
    }

    #[test]
    fn mean_and_min_max_over_seeds() {
        let runs = [
            outcome("a", &[4.0, 3.0]),
            outcome("a", &[2.0, 1.0]),
            outcome("a", &[3.0, 5.0]),
            outcome("b", &[1.0, 1.0]),
        ];
        let curves = seed_curves(&runs, true, false);
        let s = &curves["s"];
        assert_eq!(s[0].0, "a");
        assert_eq!(s[0].1, [(1.0, 3.0), (2.0, 3.0)]);
        assert_eq!(s[0].2, [(1.0, 2.0, 4.0), (2.0, 1.0, 5.0)]);
        assert_eq!(s[1].0, "b");
        assert!(s[1].2.is_empty());
    }
}
