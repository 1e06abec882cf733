//! `index.html`: one self-contained page (no scripts, no network) of inline
//! SVG plots drawn with plotters:
//!
//! - err_fro against time, per shape and rank (a Pareto view: down and left
//!   is better);
//! - err_fro against rank, per method (median over the matrices);
//! - the singular spectrum of every matrix;
//! - peak heap bytes per method, per shape, at the largest rank;
//! - with training runs: the generated conclusion and its tables (rendered
//!   from summary.md's Markdown), loss curves, step-time bars and accuracy
//!   over training steps;
//! - with trajectories: err_fro along them ([`super::tracking`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use super::plot::{Series, W, esc, figure, push_figure};
use crate::records::{Row, Status, TrainOutcome};
use crate::suite::Suite;

/// Writes `index.html` into `dir` (which already holds `spectra.csv`).
pub fn write_html(
    dir: &Path,
    suite: &Suite,
    header: &str,
    rows: &[Row],
    trainings: &[TrainOutcome],
) -> anyhow::Result<()> {
    let spectra = super::read_spectra(dir)?;
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{0}</title>\
         <style>body{{font-family:sans-serif;max-width:1400px;margin:1em auto}}\
         figure{{display:inline-block;margin:.5em}}figcaption{{font-size:.9em}}\
         table{{border-collapse:collapse;margin:.5em 0}}\
         th,td{{border:1px solid #ccc;padding:.2em .5em;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}}</style>\
         </head><body><h1>{0}</h1><p>{1}</p><p>Tables: <a href=\"summary.md\">summary.md</a>, \
         data: <a href=\"results.csv\">results.csv</a>, <a href=\"run.json\">run.json</a>.</p>",
        esc(&suite.name),
        esc(header)
    );
    training_section(&mut page, trainings, rows, suite)?;
    let ok: Vec<&Row> = rows
        .iter()
        .filter(|r| r.status == Status::Ok && r.time_median_s.is_some() && r.err_fro.is_some())
        .collect();
    let methods: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for r in &ok {
            if !v.contains(&r.method.as_str()) {
                v.push(&r.method);
            }
        }
        v
    };
    let color =
        |m: &str| Palette99::pick(methods.iter().position(|x| *x == m).unwrap_or(0)).to_rgba();

    page.push_str("<h2>Accuracy against time</h2>");
    let mut by_shape: BTreeMap<(usize, usize, usize, usize), Vec<&Row>> = BTreeMap::new();
    for r in &ok {
        by_shape
            .entry((r.rows, r.cols, r.rank, r.threads))
            .or_default()
            .push(r);
    }
    for ((m, n, k, t), group) in &by_shape {
        let series: Vec<Series> = methods
            .iter()
            .filter_map(|name| {
                let pts: Vec<(f64, f64)> = group
                    .iter()
                    .filter(|r| r.method == *name)
                    .map(|r| {
                        (
                            r.time_median_s.unwrap_or(0.0) * 1e3,
                            r.err_fro.unwrap_or(1.0),
                        )
                    })
                    .collect();
                (!pts.is_empty()).then(|| (name.to_string(), color(name), pts))
            })
            .collect();
        let title = format!("{m}×{n}, k = {k}, {t} thread(s)");
        figure(
            &mut page,
            &title,
            "time per call (ms)",
            "err_fro",
            true,
            true,
            false,
            &series,
        )?;
    }

    page.push_str("<h2>Accuracy against rank</h2>");
    let mut by_method: BTreeMap<&str, BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
    for r in &ok {
        by_method
            .entry(&r.method)
            .or_default()
            .entry(r.rank)
            .or_default()
            .push(r.err_fro.unwrap_or(0.0));
    }
    let series: Vec<Series> = by_method
        .into_iter()
        .map(|(name, ranks)| {
            let pts = ranks
                .into_iter()
                .map(|(k, errors)| (k as f64, crate::stats::median(&errors)))
                .collect();
            (name.to_string(), color(name), pts)
        })
        .collect();
    figure(
        &mut page,
        "median err_fro over the matrices",
        "rank k",
        "err_fro",
        false,
        true,
        true,
        &series,
    )?;

    page.push_str("<h2>Singular spectra</h2>");
    let series: Vec<Series> = spectra
        .iter()
        .enumerate()
        .map(|(i, (name, s))| {
            let pts = s
                .iter()
                .enumerate()
                .filter(|(_, x)| **x > 0.0)
                .map(|(j, x)| ((j + 1) as f64, *x))
                .collect();
            (name.clone(), Palette99::pick(i).to_rgba(), pts)
        })
        .collect();
    figure(
        &mut page,
        "σ_j of every matrix",
        "j",
        "σ_j",
        false,
        true,
        true,
        &series,
    )?;

    page.push_str("<h2>Peak heap per call</h2>");
    let kmax = ok.iter().map(|r| r.rank).max().unwrap_or(0);
    let series: Vec<Series> = methods
        .iter()
        .filter_map(|name| {
            let pts: Vec<(f64, f64)> = ok
                .iter()
                .filter(|r| r.method == *name && r.rank == kmax)
                .filter_map(|r| {
                    r.peak_heap_bytes
                        .map(|b| ((r.rows * r.cols) as f64, b as f64 / (1 << 20) as f64))
                })
                .collect();
            (!pts.is_empty()).then(|| (name.to_string(), color(name), pts))
        })
        .collect();
    if series.is_empty() {
        page.push_str("<p>Peak heap was not measured in this run.</p>");
    } else {
        let title = format!("peak heap at k = {kmax}");
        figure(
            &mut page,
            &title,
            "matrix entries m·n",
            "MiB",
            true,
            true,
            false,
            &series,
        )?;
    }
    if let Some((steps, _)) = super::tracking::read(dir)? {
        super::tracking::html(&mut page, &steps)?;
    }
    page.push_str("</body></html>\n");
    std::fs::write(dir.join("index.html"), page)?;
    Ok(())
}

/// Loss curves, the step-time breakdown and accuracy over training steps.
fn training_section(
    page: &mut String,
    trainings: &[TrainOutcome],
    rows: &[Row],
    suite: &Suite,
) -> anyhow::Result<()> {
    use super::band::{band_figure, seed_curves};
    use super::training::accuracy_over_steps;
    if trainings.is_empty() {
        return Ok(());
    }
    let summary = super::training::markdown_with_target(
        trainings,
        rows,
        &suite.compare_to,
        suite.target_loss,
    );
    let _ = write!(
        page,
        "<h2>Training</h2><p>The conclusion and the per-run tables (losses, times, memory, \
         energy) are in <a href=\"summary.md\">summary.md</a>; every step is in \
         <a href=\"training.csv\">training.csv</a>.</p>{}",
        markdown_html(summary.split("## Training runs").next().unwrap_or(""))
    );
    let labels: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for t in trainings {
            if !v.contains(&t.label.as_str()) {
                v.push(&t.label);
            }
        }
        v
    };
    let color =
        |m: &str| Palette99::pick(labels.iter().position(|x| *x == m).unwrap_or(0)).to_rgba();
    page.push_str("<h3>Loss curves</h3>");
    for (held_out, against_seconds, y, x) in [
        (false, false, "train loss", "step"),
        (true, false, "held-out loss", "step"),
        (
            false,
            true,
            "train loss",
            "wall seconds (training, evaluations excluded)",
        ),
    ] {
        for (stage, curves) in seed_curves(trainings, held_out, against_seconds) {
            band_figure(
                page,
                &format!("{stage}: {y} against {}", x.split(' ').next().unwrap_or(x)),
                x,
                y,
                &curves,
                |i| color(curves[i].0.split(" (mean,").next().unwrap_or("")),
            )?;
        }
    }
    page.push_str("<h3>Where a step's time goes</h3>");
    let mut stages: Vec<&str> = Vec::new();
    for t in trainings {
        if !stages.contains(&t.stage.as_str()) {
            stages.push(&t.stage);
        }
    }
    for stage in stages {
        let runs: Vec<(&str, [f64; 4])> = trainings
            .iter()
            .filter(|t| t.stage == stage)
            .filter_map(|t| {
                let s = t.summary.as_ref()?;
                Some((
                    t.label.as_str(),
                    [
                        s.median_seconds_forward,
                        s.median_seconds_backward,
                        s.median_seconds_subspace,
                        s.median_seconds_update,
                    ],
                ))
            })
            .collect();
        breakdown_figure(page, &format!("{stage}: median step time"), &runs)?;
    }
    let kmax = rows.iter().map(|r| r.rank).max().unwrap_or(0);
    let over_steps = accuracy_over_steps(rows, kmax);
    if !over_steps.is_empty() {
        page.push_str("<h3>Accuracy on the recorded gradients over training</h3>");
        for (stage, series) in over_steps {
            let series: Vec<Series> = series
                .into_iter()
                .enumerate()
                .map(|(i, (name, pts))| (name, Palette99::pick(i).to_rgba(), pts))
                .collect();
            figure(
                page,
                &format!("{stage}: median err_fro at k = {kmax} by recorded step"),
                "training step",
                "err_fro",
                false,
                true,
                true,
                &series,
            )?;
        }
    }
    Ok(())
}

/// Horizontal stacked bars: forward, backward, subspace, update per run.
fn breakdown_figure(
    page: &mut String,
    title: &str,
    runs: &[(&str, [f64; 4])],
) -> anyhow::Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let parts = ["forward", "backward", "subspace", "update"];
    let colors = [
        RGBColor(70, 130, 180),
        RGBColor(100, 180, 100),
        RGBColor(220, 80, 60),
        RGBColor(160, 160, 160),
    ];
    let xmax = runs
        .iter()
        .map(|(_, t)| t.iter().sum::<f64>())
        .fold(0.0f64, f64::max)
        * 1.05;
    let h = 80 + 30 * runs.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let n = runs.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(230)
            .build_cartesian_2d(0.0..xmax.max(1e-9), (0..n).into_segmented())
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    runs.get(*i).map_or(String::new(), |r| r.0.to_string())
                }
                SegmentValue::Last => String::new(),
            })
            .x_desc("seconds per step (median)")
            .draw()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for (p, (name, c)) in parts.iter().zip(colors).enumerate() {
            let bars = runs.iter().enumerate().map(|(i, (_, t))| {
                let x0: f64 = t[..p].iter().sum();
                let x1 = x0 + t[p];
                Rectangle::new(
                    [
                        (x0, SegmentValue::Exact(i)),
                        (x1, SegmentValue::Exact(i + 1)),
                    ],
                    c.filled(),
                )
            });
            chart
                .draw_series(bars)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?
                .label(*name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    push_figure(page, &svg, title);
    Ok(())
}

/// Generated Markdown (the conclusion and its tables) as HTML. Raw HTML in
/// it (a run label or tensor name from a suite) is shown as text, never
/// interpreted.
fn markdown_html(md: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, html};
    let events = Parser::new_ext(md, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
        e => e,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::markdown_html;

    #[test]
    fn markdown_tables_render_and_raw_html_stays_text() {
        let html = markdown_html(
            "## Conclusion\n\n| method | Δ loss |\n|---|---|\n| <b>x</b> | +0.0021 |\n\n<script>alert(1)</script>\n",
        );
        assert!(html.contains("<h2>Conclusion</h2>"), "{html}");
        assert!(
            html.contains("<table>") && html.contains("<td>+0.0021</td>"),
            "{html}"
        );
        assert!(
            !html.contains("<script>") && !html.contains("<b>") && html.contains("&lt;script&gt;"),
            "{html}"
        );
    }
}
