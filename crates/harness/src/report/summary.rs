//! `summary.md`: the tables a person reads first.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::records::{Row, Status, TrackSummary, TrainOutcome};
use crate::suite::Suite;

/// The accuracy levels of the "best method" table (err_fro at most).
pub const LEVELS: [f64; 4] = [1.001, 1.01, 1.05, 1.2];

/// Why a run stopped before its end, and what it had not reached.
#[derive(Debug, Clone, Default)]
pub struct Stopped {
    /// The error that stopped the run.
    pub reason: String,
    /// The parts it had not finished (training runs, matrix sources), each
    /// named as the suite names it.
    pub unfinished: Vec<String>,
}

/// Writes `summary.md` (the front page) and `details.md` (every table)
/// into `dir`, reading its trajectory part from `dir`; `stopped` (a run
/// that stopped early) opens the front page with the reason and ends it
/// with what finished and what did not.
pub fn write_summary(
    dir: &Path,
    suite: &Suite,
    header: &str,
    rows: &[Row],
    trainings: &[TrainOutcome],
    stopped: Option<&Stopped>,
) -> anyhow::Result<()> {
    let tracking = super::tracking::read(dir)?.map(|(_, s)| s);
    let (front, details) =
        render_both(suite, header, rows, trainings, tracking.as_deref(), stopped);
    std::fs::write(dir.join("summary.md"), front)?;
    std::fs::write(dir.join("details.md"), details)?;
    Ok(())
}

/// The front page and the details of a report (see [`write_summary`]).
pub fn render_both(
    suite: &Suite,
    header: &str,
    rows: &[Row],
    trainings: &[TrainOutcome],
    tracking: Option<&[TrackSummary]>,
    stopped: Option<&Stopped>,
) -> (String, String) {
    let mut front = render(suite, header, rows, trainings);
    let mut details = render_details(suite, header, rows, trainings);
    if let Some(summaries) = tracking {
        front.push_str(&super::tracking::markdown_front(summaries));
        details.push_str(&super::tracking::markdown(summaries));
    }
    front.push_str(&footer(header, rows));
    if let Some(s) = stopped {
        front = front.replacen(
            "\n\n",
            &format!(
                "\n\n**This run stopped early**: {}. The tables below hold only what \
                 finished; see \"Stopped early\" at the end.\n\n",
                s.reason
            ),
            1,
        );
        front.push_str(&stopped_section(s, rows, trainings));
    }
    (front, details)
}

/// The front page's last section: where the rest is, and the run.
fn footer(header: &str, rows: &[Row]) -> String {
    let failed = rows.iter().filter(|r| r.status != Status::Ok).count();
    let mut out = String::from("\n## More\n\n");
    out.push_str(
        "- [details.md](details.md): every table (the conclusion's definitions, mean ± CI over \
         seeds, the training runs' times and memory, every result row, the rows that did not \
         run, every tracker pass);\n- [index.html](index.html): the same verdict with its \
         figures, then every plot;\n- data: [results.csv](results.csv), \
         [training.csv](training.csv), [run.json](run.json) (machine, versions, raw samples).\n",
    );
    if failed > 0 {
        let _ = writeln!(
            out,
            "\n{failed} row(s) did not run (a GPU method without a GPU, a rank above the \
             matrix, …): [details.md](details.md#rows-that-did-not-run) says why."
        );
    }
    let _ = writeln!(out, "\n{header}");
    out
}

/// The "Stopped early" section: the reason, what finished, what did not.
fn stopped_section(s: &Stopped, rows: &[Row], trainings: &[TrainOutcome]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## Stopped early\n");
    let _ = writeln!(out, "Reason: {}\n", s.reason.replace('\n', " "));
    let _ = writeln!(out, "Finished:\n");
    let mut any = false;
    for t in trainings {
        any = true;
        let _ = writeln!(out, "- training {}/{}: {}", t.stage, t.label, t.status);
    }
    let mut matrices: Vec<&str> = Vec::new();
    for r in rows {
        if !matrices.contains(&r.matrix.as_str()) {
            matrices.push(&r.matrix);
        }
    }
    for m in &matrices {
        any = true;
        let n = rows.iter().filter(|r| r.matrix == *m).count();
        let _ = writeln!(out, "- matrix {m}: {n} row(s) in results.csv");
    }
    if !any {
        let _ = writeln!(out, "- nothing");
    }
    let _ = writeln!(out, "\nNot finished (stopped by the reason above):\n");
    if s.unfinished.is_empty() {
        let _ = writeln!(out, "- nothing left");
    }
    for u in &s.unfinished {
        let _ = writeln!(out, "- {u}");
    }
    out
}

/// Per method: (total median time, worst err_fro, interval lo, hi).
type Timed<'a> = BTreeMap<&'a str, (f64, f64, f64, f64)>;

/// The fastest method of `methods` whose worst err_fro is at most `level`,
/// or a tie with every qualifying method whose time interval overlaps its
/// own; "none" when no method qualifies.
fn fastest_cell(methods: &Timed<'_>, level: f64, svd_time: Option<f64>) -> String {
    let qualifying = || methods.iter().filter(|(_, x)| x.1 <= level);
    let Some((name, (t, _, lo, hi))) = qualifying().min_by(|a, b| a.1.0.total_cmp(&b.1.0)) else {
        return "none".into();
    };
    let ratio = svd_time.map_or(String::new(), |s| format!(", {:.2}×svd", t / s));
    let tied: Vec<&str> = qualifying()
        .filter(|(other, x)| *other != name && x.2 <= *hi && *lo <= x.3)
        .map(|(other, _)| *other)
        .collect();
    if tied.is_empty() {
        format!("{name} ({:.2} ms{ratio})", t * 1e3)
    } else {
        format!(
            "tie: {name}, {} ({name} {:.2} ms{ratio})",
            tied.join(", "),
            t * 1e3
        )
    }
}

fn ms(s: Option<f64>) -> String {
    s.map_or("–".into(), |s| format!("{:.3}", s * 1e3))
}

fn num(x: Option<f64>, digits: usize) -> String {
    x.map_or("–".into(), |x| format!("{x:.digits$}"))
}

fn bytes(b: Option<usize>) -> String {
    b.map_or("–".into(), |b| {
        format!("{:.2} MiB", b as f64 / (1 << 20) as f64)
    })
}

/// The front page's Markdown (less the tracking part and the footer): the
/// suite, each training stage's verdict and table, the fastest method per
/// shape and accuracy level. The run's header goes to the footer.
pub fn render(suite: &Suite, _header: &str, rows: &[Row], trainings: &[TrainOutcome]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}: summary\n", suite.name);
    if let Some(d) = &suite.description {
        let _ = writeln!(out, "{d}\n");
    }
    out.push_str(&super::training::front(
        trainings,
        rows,
        &suite.compare_to,
        suite.target_loss,
    ));
    if rows.is_empty() {
        return out;
    }
    let ok: Vec<&Row> = rows.iter().filter(|r| r.status == Status::Ok).collect();

    // Best method per shape, rank and thread count at each accuracy level.
    let _ = writeln!(out, "## Fastest method per shape at each accuracy level\n");
    let _ = writeln!(
        out,
        "Per shape (m×n as stored, side), rank k and thread count: the fastest method whose \
         worst err_fro over the matrices of that shape is at most the level; time is the sum \
         of median call times over those matrices, and ×svd its ratio to the full SVD's. A \
         method is called fastest only when its time's interval (the sum of the matrices' \
         bootstrap 95% intervals of the median) lies below every other qualifying method's; \
         otherwise the cell is a tie, naming the methods whose intervals overlap the fastest's.\n"
    );
    // (rows, cols, side, rank, threads) → method → (total time, worst err_fro, lo, hi)
    type Shape<'a> = (usize, usize, &'a str, usize, usize);
    let mut groups: BTreeMap<Shape, Timed> = BTreeMap::new();
    for r in &ok {
        let (Some(t), Some(e)) = (r.time_median_s, r.err_fro) else {
            continue;
        };
        let g = groups
            .entry((r.rows, r.cols, r.side, r.rank, r.threads))
            .or_default();
        let entry = g.entry(r.method.as_str()).or_insert((0.0, 0.0, 0.0, 0.0));
        entry.0 += t;
        entry.1 = entry.1.max(e);
        entry.2 += r.time_median_lo_s.unwrap_or(t);
        entry.3 += r.time_median_hi_s.unwrap_or(t);
    }
    let mut head = String::from("| shape | side | k | threads |");
    let mut rule = String::from("|---|---|---|---|");
    for l in LEVELS {
        let _ = write!(head, " err_fro ≤ {l} |");
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{head}\n{rule}");
    for ((m, n, side, k, threads), methods) in &groups {
        let svd_time = methods
            .get("svd")
            .or_else(|| methods.get("cuda-svd"))
            .map(|x| x.0);
        let _ = write!(out, "| {m}×{n} | {side} | {k} | {threads} |");
        for level in LEVELS {
            let _ = write!(out, " {} |", fastest_cell(methods, level, svd_time));
        }
        out.push('\n');
    }
    out
}

/// details.md: every table a report holds, each under a header with a line
/// on how to read it.
pub fn render_details(
    suite: &Suite,
    header: &str,
    rows: &[Row],
    trainings: &[TrainOutcome],
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# {}: details\n\nEvery table of this report; the verdict and the headline tables are \
         in [summary.md](summary.md), the figures in [index.html](index.html).\n\n{header}\n",
        suite.name
    );
    out.push_str(&super::training::details(
        trainings,
        rows,
        &suite.compare_to,
        suite.target_loss,
    ));
    if rows.is_empty() {
        return out;
    }
    let ok: Vec<&Row> = rows.iter().filter(|r| r.status == Status::Ok).collect();
    // The baseline of the ×svd columns: the CPU svd, or else cuda-svd.
    let baseline_plugin = if ok.iter().any(|r| r.plugin == "svd") {
        "svd"
    } else {
        "cuda-svd"
    };
    // Every row, matrix by matrix.
    let _ = writeln!(out, "\n## Every result\n");
    let _ = writeln!(
        out,
        "Time: median of {} calls after {} warm-up(s). ×svd: time and err_fro relative to the \
         full SVD (`{baseline_plugin}`) on the same matrix, rank and threads. %GEMM: a CPU \
         method's own flop rate over faer's GEMM rate measured in this run. Measured: a CPU \
         method's host heap peak of one call (counting allocator), a GPU method's device \
         bytes held after its calls (tracked at allocation, marked \"dev\"); predicted: the \
         plugin's own figure (device bytes for a GPU method). J/call: from the energy meter \
         over a pass of at least half a second.\n",
        suite.repeats, suite.warmup
    );
    let svd: BTreeMap<(&str, usize, usize), &Row> = ok
        .iter()
        .filter(|r| r.plugin == baseline_plugin && r.method == r.plugin)
        .map(|r| ((r.matrix.as_str(), r.rank, r.threads), *r))
        .collect();
    let mut current = "";
    for r in &ok {
        if r.matrix != current {
            current = &r.matrix;
            let _ = writeln!(
                out,
                "\n### {} ({}×{}, basis on the {} side)\n",
                r.matrix, r.rows, r.cols, r.side
            );
            let _ = writeln!(
                out,
                "| method | dev | k | thr | time ms | time ×svd | err_fro | err ×svd | err_spec | sin θ | ortho | HMT | GFLOP/s | %GEMM | measured | predicted | J/call |"
            );
            let _ = writeln!(
                out,
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
            );
        }
        let base = svd.get(&(r.matrix.as_str(), r.rank, r.threads));
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.method,
            r.device,
            r.rank,
            r.threads,
            ms(r.time_median_s),
            ratio(r.time_median_s, base.and_then(|b| b.time_median_s)),
            num(r.err_fro, 4),
            ratio(r.err_fro, base.and_then(|b| b.err_fro)),
            num(r.err_spec, 4),
            r.sin_theta.map_or("–".into(), |x| format!("{x:.2e}")),
            r.ortho.map_or("–".into(), |x| format!("{x:.1e}")),
            match r.hmt_holds {
                Some(true) => "holds",
                Some(false) => "EXCEEDED",
                None => "–",
            },
            num(r.gflops, 1),
            r.gemm_fraction
                .map_or("–".into(), |f| format!("{:.0}%", f * 100.0)),
            match r.device_bytes {
                Some(d) => format!("{} dev", bytes(Some(d))),
                None => bytes(r.peak_heap_bytes),
            },
            bytes(r.predicted_bytes),
            r.energy_j
                .map_or("unavailable".into(), |j| format!("{j:.3}")),
        );
    }
    if let Some(r) = ok.iter().find(|r| r.energy_j.is_none()) {
        let _ = writeln!(out, "\nEnergy unavailable: {}", r.energy_note);
    }

    let failed: Vec<&Row> = rows.iter().filter(|r| r.status != Status::Ok).collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "\n## Rows that did not run\n");
        let _ = writeln!(
            out,
            "| matrix | method | k | threads | status | why |\n|---|---|---|---|---|---|"
        );
        for r in failed {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                r.matrix,
                r.method,
                r.rank,
                r.threads,
                r.status,
                r.error.replace('|', "\\|").replace('\n', " ")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastest_only_when_the_intervals_part() {
        // (time, worst err_fro, lo, hi) in seconds.
        let mut m = Timed::new();
        m.insert("svd", (0.010, 1.0, 0.009, 0.011));
        m.insert("rrf", (0.002, 1.2, 0.0018, 0.0022));
        m.insert("lanczos", (0.0021, 1.0, 0.0020, 0.0030));
        // At 1.5 rrf is fastest but lanczos's interval overlaps: a tie.
        assert_eq!(
            fastest_cell(&m, 1.5, Some(0.010)),
            "tie: rrf, lanczos (rrf 2.00 ms, 0.20×svd)"
        );
        // At 1.0 rrf does not qualify; lanczos is below svd's interval.
        assert_eq!(fastest_cell(&m, 1.0, None), "lanczos (2.10 ms)");
        assert_eq!(fastest_cell(&m, 0.5, None), "none");
    }
}
