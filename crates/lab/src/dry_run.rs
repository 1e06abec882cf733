//! `lab run SUITE --dry-run` (unsharded): the suite validated, a note for
//! each corpus it names that this machine lacks, every training run with
//! its time extrapolated from a short measured calibration (`estimate`),
//! every method with its availability, and the matrix sweep's size.

use std::path::Path;

use anyhow::Result;

use crate::estimate;

pub fn dry_run(path: &Path) -> Result<()> {
    let registry = lab::registry()?;
    let suite = harness::suite::Suite::load(path, &registry)?;
    println!("suite {} ({}): valid", suite.name, path.display());
    // A corpus the suite names but this machine lacks (galore-paper.toml's
    // C4 on a laptop): the plan and estimate still print, said plainly.
    let mut missing: Vec<&Path> = Vec::new();
    for t in &suite.trainings {
        if let Some(c) = t.config.corpus.as_deref()
            && !c.exists()
            && !missing.contains(&c)
        {
            missing.push(c);
        }
    }
    for c in missing {
        println!(
            "  note: corpus {} does not exist here (relative to the directory lab runs in): \
             the estimates below use the shipped corpus, but a real run would stop each \
             training run that reads it; data/README.md says how to get a corpus and point \
             `corpus` at it",
            c.display()
        );
    }
    let mut calibrations = estimate::Calibrations::default();
    for t in &suite.trainings {
        if t.engine == harness::suite::Engine::Lab {
            calibrations.measure(&t.config, &registry);
        }
    }
    let mut total = 0.0;
    let mut unestimated = 0;
    for t in &suite.trainings {
        let c = &t.config;
        let micro = match c.micro_batch {
            Some(m) if m != c.batch_size => format!(" (micro-batches of {m})"),
            _ => String::new(),
        };
        println!(
            "  train {:<28} {} × {} steps, B = {}{micro}, T = {}, threads {}{}",
            t.id(),
            c.preset,
            c.steps,
            c.batch_size,
            c.seq_len,
            c.threads,
            if c.record_steps.is_empty() {
                String::new()
            } else {
                format!(", records steps {}", c.record_steps)
            }
        );
        if let harness::suite::Engine::Torch(run) = &t.engine {
            unestimated += 1;
            let here = match harness::runner::torch::check(t, run) {
                Ok(()) => "it can run here".to_string(),
                Err(e) => format!("{e:#}"),
            };
            println!(
                "        engine torch ({} on {}): not estimated (its step is PyTorch's, not the \
                 lab's); {here}",
                run.optimizer.name(),
                run.device
            );
            continue;
        }
        match calibrations.of(c) {
            Ok((cal, samples)) => {
                let seconds = cal.seconds(c);
                total += seconds;
                let refresh = match c.optimizer {
                    llama::session::OptimizerKind::Galore => {
                        format!(", {:.3} s per refresh", cal.refresh)
                    }
                    _ => String::new(),
                };
                println!(
                    "        ≈ {}: {:.3} s forward + backward per micro-batch of {} × {} (median \
                     of {samples}), {:.3} s per update{refresh}",
                    estimate::human_seconds(seconds),
                    cal.forward_backward,
                    c.micro_batch_size(),
                    c.seq_len,
                    cal.update,
                );
            }
            Err(reason) => {
                unestimated += 1;
                println!("        not estimated: {reason}");
            }
        }
    }
    if !suite.trainings.is_empty() {
        println!(
            "  training ≈ {} on this machine{}: extrapolated from two measured steps of one \
             micro-batch per run (the shipped corpus, byte tokens; calibration {:.0} s at load \
             average {}), not measured; the matrix rows are not estimated",
            estimate::human_seconds(total),
            if unestimated > 0 {
                format!(" for the runs estimated ({unestimated} not)")
            } else {
                String::new()
            },
            calibrations.wall(),
            std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next().map(str::to_string))
                .unwrap_or_else(|| "unavailable".into())
        );
    }
    for m in &suite.methods {
        let status = match registry.build(&m.plugin, &m.params)?.availability() {
            Ok(()) => String::new(),
            Err(reason) => format!("  [unavailable: {reason}]"),
        };
        println!("  method {}{status}", m.label);
    }
    println!(
        "  {} matrix source(s) × ranks {:?} × threads {:?}",
        suite.matrices.len(),
        suite.ranks,
        suite.threads
    );
    Ok(())
}
