//! `index.html`: one self-contained page (inline SVG, a few lines of inline
//! script for the legends, no network) that answers first and shows the
//! evidence after:
//!
//! 1. the verdict: per training stage, the conclusion in a few sentences
//!    with its intervals and two headline figures (held-out loss against
//!    wall seconds, mean over seeds with a band; the Pareto plot of final
//!    held-out loss against step time, both with intervals, the front
//!    drawn), then its table; for a suite without training, the fastest
//!    method at each accuracy level;
//! 2. the details, one section after another ([`SECTIONS`]), each with a
//!    one-line caption of what it shows and how to read it;
//! 3. the run (machine, versions) and links to the data.
//!
//! A new section is one function `fn(&Page, &mut String)` and one line in
//! [`SECTIONS`]; its figures are [`super::plot::Chart`]s.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use llama::optim::MomentPolicy;
use llama::session::{OptimizerKind, TrainConfig};

use super::conclusion::{self, StageResult};
use super::plot::{self, Axis, Chart, Family, Point, Series, Style, esc, figure};
use crate::records::{Row, Status, TrackStep, TrainOutcome};
use crate::suite::{CompareTo, Suite};

/// What a page is rendered from: everything a report directory holds.
pub struct Page<'a> {
    pub suite: &'a Suite,
    /// The run's paragraph (machine, versions, energy meter).
    pub header: &'a str,
    pub rows: &'a [Row],
    pub trainings: &'a [TrainOutcome],
    /// `spectra.csv`: matrix → σ.
    pub spectra: Vec<(String, Vec<f64>)>,
    /// `tracking.csv`, when the run has a trajectory part.
    pub tracking: Option<Vec<TrackStep>>,
}

/// Writes one detail section's body into the page (nothing when the
/// section has nothing to show).
pub type Section = fn(&Page<'_>, &mut String);

/// The detail sections, in page order: id, heading, the function that
/// writes the section's body.
pub const SECTIONS: [(&str, &str, Section); 8] = [
    ("training", "Training: loss curves", loss_curves),
    ("step-time", "Training: where a step's time goes", step_time),
    (
        "recorded",
        "Training: accuracy on the recorded gradients",
        recorded,
    ),
    ("accuracy-time", "Accuracy against time", accuracy_time),
    ("accuracy-rank", "Accuracy against rank", accuracy_rank),
    ("spectra", "Singular spectra", spectra),
    ("heap", "Peak heap per call", heap),
    ("tracking", "Tracking along recorded trajectories", tracking),
];

/// Writes `index.html` into `dir`, reading `spectra.csv` and the trajectory
/// part from it.
pub fn write_html(
    dir: &Path,
    suite: &Suite,
    header: &str,
    rows: &[Row],
    trainings: &[TrainOutcome],
) -> anyhow::Result<()> {
    let page = Page {
        suite,
        header,
        rows,
        trainings,
        spectra: super::read_spectra(dir)?,
        tracking: super::tracking::read(dir)?.map(|(steps, _)| steps),
    };
    std::fs::write(dir.join("index.html"), render(&page))?;
    Ok(())
}

const PAGE_STYLE: &str = "body{font-family:sans-serif;max-width:1420px;margin:.8em auto;padding:0 .8em;color:#111}\
h1{margin:.2em 0}h2{margin:.9em 0 .3em;border-bottom:1px solid #ddd}h3{margin:.7em 0 .3em}\
p.lede{color:#333;margin:.2em 0 .6em}p.verdict{font-size:1.02em;line-height:1.4;max-width:1400px;margin:.3em 0}\
p.caption{font-size:.88em;color:#333;margin:.2em 0 .4em}nav{font-size:.9em;margin:.6em 0}\
table{border-collapse:collapse;margin:.4em 0;font-size:.86em}\
th,td{border:1px solid #ccc;padding:.15em .4em;text-align:right}th:first-child,td:first-child{text-align:left}\
footer{font-size:.82em;color:#444;margin-top:2em;border-top:1px solid #ddd}";

/// The page (see the module doc).
pub fn render(p: &Page<'_>) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{0}</title>\
         <style>{PAGE_STYLE}{1}</style></head><body><h1>{0}</h1>",
        esc(&p.suite.name),
        plot::STYLE
    );
    if let Some(d) = &p.suite.description {
        let _ = write!(page, "<p class=\"lede\">{}</p>", esc(d));
    }
    verdict(p, &mut page);
    let mut details = String::new();
    let mut contents = Vec::new();
    for (id, title, section) in SECTIONS {
        let mut body = String::new();
        section(p, &mut body);
        if !body.is_empty() {
            let _ = write!(details, "<h2 id=\"{id}\">{}</h2>{body}", esc(title));
            contents.push(format!("<a href=\"#{id}\">{}</a>", esc(title)));
        }
    }
    if !contents.is_empty() {
        let _ = write!(
            page,
            "<nav><b>Details</b>: {} · tables: <a href=\"summary.md\">summary.md</a>, \
             <a href=\"details.md\">details.md</a></nav>{details}",
            contents.join(" · ")
        );
    }
    let _ = writeln!(
        page,
        "<footer><p>{}</p><p>Data: <a href=\"results.csv\">results.csv</a>, \
         <a href=\"training.csv\">training.csv</a>, <a href=\"run.json\">run.json</a>.</p>\
         </footer>{}</body></html>",
        esc(p.header),
        plot::SCRIPT
    );
    page
}

/// How the comparison run is named in prose and in a table header.
fn reference_names(compare_to: &CompareTo) -> (String, String) {
    match compare_to {
        CompareTo::SvdEveryStep => ("GaLore+svd at T = 1".into(), "GaLore+svd T=1".into()),
        CompareTo::Run(name) => (name.clone(), name.clone()),
    }
}

/// The first screen: per training stage its verdict, headline figures and
/// table; without training, the fastest method at each accuracy level.
fn verdict(p: &Page<'_>, page: &mut String) {
    let (reference_name, reference_head) = reference_names(&p.suite.compare_to);
    let kmax = p.rows.iter().map(|r| r.rank).max().unwrap_or(0);
    let stages = conclusion::stages(
        p.trainings,
        p.rows,
        &p.suite.compare_to,
        p.suite.target_loss,
        &reference_name,
    );
    for s in &stages {
        let _ = write!(
            page,
            "<section class=\"stage\"><h2>Stage <code>{}</code>: {}</h2>",
            esc(s.stage),
            esc(&s.what)
        );
        let v = conclusion::verdict(s, &reference_name);
        if !v.is_empty() {
            let _ = write!(page, "<p class=\"verdict\">{}</p>", esc(&v));
        }
        let styles = run_styles(p.trainings, &p.suite.compare_to, s.stage);
        loss_against_seconds(p, s, &styles, &reference_name, page);
        pareto(s, &styles, page);
        let mut md = String::new();
        let _ = writeln!(
            md,
            "Each run is all its seeds together. Overhead: median step over AdamW's \
             (bootstrap 95% interval); Δ loss: final held-out loss minus {reference_name}'s, \
             paired by seed (95% t interval); time to target: held-out loss ≤ {}. Definitions: \
             details.md, \"Conclusion\".\n",
            s.target
        );
        conclusion::table(&mut md, s, &reference_head, kmax);
        page.push_str(&markdown_html(&md));
        page.push_str("</section>");
    }
    if stages.is_empty() && !p.rows.is_empty() {
        let md = super::summary::render(p.suite, p.header, p.rows, &[]);
        let fastest = md
            .split("## Fastest method per shape at each accuracy level")
            .nth(1)
            .unwrap_or("");
        let _ = write!(
            page,
            "<h2>Verdict: the fastest method per shape at each accuracy level</h2>{}",
            markdown_html(fastest)
        );
    }
}

/// The family of a training run: references (AdamW, the comparison run,
/// GaLore at T > 1), trackers (warm starts, moved moments, iterative
/// trackers), GPU methods, and the one-shot methods at T = 1.
fn run_family(label: &str, c: &TrainConfig, compare_to: &CompareTo, lab: bool) -> Family {
    let warm = c
        .plugin_params
        .get("warm_start")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    if c.optimizer == OptimizerKind::Adamw || compare_to.is(label, c, lab) || c.update_proj_gap > 1
    {
        Family::Reference
    } else if c.plugin.starts_with("cuda") {
        Family::Gpu
    } else if warm
        || c.moments != MomentPolicy::Keep
        || c.align
        || matches!(c.plugin.as_str(), "subspace-iteration" | "online-pca")
    {
        Family::Tracker
    } else {
        Family::OneShot
    }
}

/// The family of a matrix method by its plugin: exact methods as
/// references, trackers, GPU methods, the randomized one-shot methods.
fn method_family(plugin: &str) -> Family {
    match plugin {
        "svd" | "lanczos" => Family::Reference,
        "subspace-iteration" | "online-pca" => Family::Tracker,
        p if p.starts_with("cuda") => Family::Gpu,
        _ => Family::OneShot,
    }
}

/// A style per name, grouped by family: `names` are (name, family) in
/// order of first appearance.
fn styles_of(names: &[(String, Family)]) -> BTreeMap<String, Style> {
    let mut out = BTreeMap::new();
    for (name, family) in names {
        let members: Vec<&String> = names
            .iter()
            .filter(|(_, f)| f == family)
            .map(|(n, _)| n)
            .collect();
        let i = members.iter().position(|n| *n == name).unwrap_or(0);
        out.insert(name.clone(), plot::style(*family, i, members.len()));
    }
    out
}

/// Each run label of `stage` with its style.
fn run_styles(
    trainings: &[TrainOutcome],
    compare_to: &CompareTo,
    stage: &str,
) -> BTreeMap<String, Style> {
    let mut names: Vec<(String, Family)> = Vec::new();
    for t in trainings.iter().filter(|t| t.stage == stage) {
        let Some(s) = &t.summary else { continue };
        if !names.iter().any(|(n, _)| *n == t.label) {
            names.push((
                t.label.clone(),
                run_family(&t.label, &s.config, compare_to, t.is_lab()),
            ));
        }
    }
    styles_of(&names)
}

/// Each matrix method of `rows` with its style.
fn method_styles(rows: &[&Row]) -> BTreeMap<String, Style> {
    let mut names: Vec<(String, Family)> = Vec::new();
    for r in rows {
        if !names.iter().any(|(n, _)| *n == r.method) {
            names.push((r.method.clone(), method_family(&r.plugin)));
        }
    }
    styles_of(&names)
}

fn style_or_grey(styles: &BTreeMap<String, Style>, name: &str) -> Style {
    styles
        .get(name)
        .cloned()
        .unwrap_or_else(|| plot::style(Family::Reference, 0, 1))
}

const FAMILIES: &str = "Colours by kind of run: greys are the references (AdamW, the \
     comparison run, GaLore at T > 1), blues the subspace methods recomputed at every refresh \
     (T = 1), oranges and reds the trackers (warm starts, moments moved with the basis), greens \
     GPU methods.";

/// Stage `s`'s held-out loss against wall seconds, mean over seeds, the
/// min–max band of the seeds shaded.
fn loss_against_seconds(
    p: &Page<'_>,
    s: &StageResult<'_>,
    styles: &BTreeMap<String, Style>,
    reference_name: &str,
    page: &mut String,
) {
    let curves = super::band::seed_curves(p.trainings, true, true);
    let Some(curves) = curves.get(s.stage) else {
        let _ = write!(
            page,
            "<p class=\"caption\">No held-out evaluation in stage {}: no loss curve \
             (set eval_every).</p>",
            esc(s.stage)
        );
        return;
    };
    let seeds = s.runs.iter().map(|r| r.seeds).max().unwrap_or(1);
    let one_point = s.evaluations == 1;
    let series = curves
        .iter()
        .map(|(label, mean, band)| {
            let mut series = Series::line(label, style_or_grey(styles, label), mean.clone());
            series.band = band.clone();
            series
        })
        .collect();
    let mut caption = format!(
        "Held-out loss against wall-clock seconds of training (evaluations excluded), one \
         line per run{}. Lower and further left is better; {reference_name} is the comparison \
         run. {FAMILIES}",
        if seeds > 1 {
            format!(
                ": the mean over its {seeds} seeds, the shaded band the seeds' min–max at each \
                 evaluation"
            )
        } else {
            String::new()
        }
    );
    if one_point {
        caption.push_str(
            " This stage evaluates once per run (at its last step), so each run is one point, \
             not a curve.",
        );
    }
    figure(
        page,
        &Chart {
            title: format!("{}: held-out loss against wall seconds", s.stage),
            x: Axis::linear("wall seconds (training)"),
            y: Axis::linear("held-out loss"),
            series,
            caption,
            hline: None,
        },
    );
}

/// Stage `s`'s final held-out loss against step time, both with their
/// intervals, and the Pareto front.
fn pareto(s: &StageResult<'_>, styles: &BTreeMap<String, Style>, page: &mut String) {
    let pts: Vec<(&str, Point)> = s
        .runs
        .iter()
        .filter_map(|r| {
            Some((
                r.label,
                Point {
                    x: r.step?,
                    y: r.loss?,
                    x_ci: r.step_ci.map(|c| (c.lo, c.hi)),
                    y_ci: r.loss_ci.map(|c| (c.lo, c.hi)),
                },
            ))
        })
        .collect();
    if pts.len() < 2 {
        return;
    }
    let dominated = |p: &Point| {
        pts.iter()
            .any(|(_, q)| q.x <= p.x && q.y <= p.y && (q.x < p.x || q.y < p.y))
    };
    let mut front: Vec<(f64, f64)> = pts
        .iter()
        .filter(|(_, p)| !dominated(p))
        .map(|(_, p)| (p.x, p.y))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut series: Vec<Series> = pts
        .iter()
        .map(|(label, p)| Series::points(label, style_or_grey(styles, label), vec![*p]))
        .collect();
    let mut f = Series::line(
        "Pareto front",
        Style {
            color: "#000000".into(),
            dash: Some("4 3"),
        },
        front,
    );
    f.markers = false;
    series.push(f);
    let seeds = s.runs.iter().map(|r| r.seeds).max().unwrap_or(1);
    figure(
        page,
        &Chart {
            title: format!("{}: final held-out loss against step time", s.stage),
            x: Axis::linear("median step time (s)"),
            y: Axis::linear("final held-out loss"),
            series,
            caption: format!(
                "One point per run: its final held-out loss ({}) against its median step time \
                 pooled over seeds (horizontal bar: bootstrap 95% interval). The dashed line \
                 joins the Pareto front, the runs that no other run beats on both time and \
                 loss. Down and to the left is better. {FAMILIES}",
                if seeds > 1 {
                    "the mean over seeds; vertical bar: 95% t interval"
                } else {
                    "one seed, so no interval"
                }
            ),
            hline: None,
        },
    );
}

/// Train and held-out loss against steps, train loss against seconds.
fn loss_curves(p: &Page<'_>, page: &mut String) {
    if p.trainings.is_empty() {
        return;
    }
    let _ = write!(
        page,
        "<p class=\"caption\">Each stage's loss curves, one line per run (the mean over its \
         seeds, the shaded band their min–max); every step is in training.csv.</p>"
    );
    for (held_out, against_seconds, y, x) in [
        (false, false, "train loss", "step"),
        (true, false, "held-out loss", "step"),
        (false, true, "train loss", "wall seconds (training)"),
    ] {
        let mut by_stage = super::band::seed_curves(p.trainings, held_out, against_seconds);
        for stage in stage_names(p.trainings) {
            let Some(curves) = by_stage.remove(stage) else {
                continue;
            };
            let styles = run_styles(p.trainings, &p.suite.compare_to, stage);
            let single = curves.iter().all(|c| c.1.len() == 1);
            let series = curves
                .iter()
                .map(|(label, mean, band)| {
                    let mut s = Series::line(label, style_or_grey(&styles, label), mean.clone());
                    s.band = band.clone();
                    s.markers = mean.len() <= 12;
                    s
                })
                .collect();
            let mut caption = format!(
                "{y} against {x}; lower is better. The train loss is the batch's own, so it \
                 is noisy; the held-out loss is measured on held-out batches at each \
                 evaluation."
            );
            if single {
                caption.push_str(
                    " One evaluation per run in this stage: one point per run, no curve.",
                );
            }
            figure(
                page,
                &Chart {
                    title: format!("{stage}: {y} against {}", x.split(' ').next().unwrap_or(x)),
                    x: Axis::linear(x),
                    y: Axis::linear(y),
                    series,
                    caption,
                    hline: None,
                },
            );
        }
    }
}

/// The stages of `trainings` in the suite's order.
fn stage_names(trainings: &[TrainOutcome]) -> Vec<&str> {
    let mut stages: Vec<&str> = Vec::new();
    for t in trainings {
        if !stages.contains(&t.stage.as_str()) {
            stages.push(&t.stage);
        }
    }
    stages
}

/// Per stage, each run's median step split into forward, backward,
/// subspace and update (the median over its seeds of each part).
fn step_time(p: &Page<'_>, page: &mut String) {
    for stage in stage_names(p.trainings) {
        let mut runs: Vec<(String, Vec<[f64; 4]>)> = Vec::new();
        for t in p.trainings.iter().filter(|t| t.stage == stage) {
            let Some(s) = &t.summary else { continue };
            let parts = [
                s.median_seconds_forward,
                s.median_seconds_backward,
                s.median_seconds_subspace,
                s.median_seconds_update,
            ];
            match runs.iter_mut().find(|(l, _)| *l == t.label) {
                Some((_, v)) => v.push(parts),
                None => runs.push((t.label.clone(), vec![parts])),
            }
        }
        let rows: Vec<(String, Vec<f64>)> = runs
            .into_iter()
            .map(|(label, seeds)| {
                let part = |i: usize| {
                    crate::stats::median(&seeds.iter().map(|s| s[i]).collect::<Vec<_>>())
                };
                (label, (0..4).map(part).collect())
            })
            .collect();
        plot::stacked_bars(
            page,
            &format!("{stage}: median step time"),
            "seconds per step (median)",
            "One bar per run: the median seconds of each part of a step (the median over the \
             steps after the first, then over the seeds). Subspace is GaLore's refresh (the \
             SVD or its replacement); update the rest of the optimizer step.",
            &[
                ("forward", "#4682b4"),
                ("backward", "#64b464"),
                ("subspace", "#dc503c"),
                ("update", "#a0a0a0"),
            ],
            &rows,
        );
    }
}

/// The methods' median err_fro on the gradients recorded during training,
/// against the step they were recorded at.
fn recorded(p: &Page<'_>, page: &mut String) {
    let kmax = p.rows.iter().map(|r| r.rank).max().unwrap_or(0);
    let over = super::training::accuracy_over_steps(p.rows, kmax);
    let ok: Vec<&Row> = p.rows.iter().filter(|r| r.status == Status::Ok).collect();
    let styles = method_styles(&ok);
    for (stage, series) in over {
        let below = series.iter().any(|(_, pts)| pts.iter().any(|p| p.1 < 1.0));
        let series = series
            .into_iter()
            .map(|(name, pts)| Series::line(&name, style_or_grey(&styles, &name), pts))
            .collect();
        figure(
            page,
            &Chart {
                title: format!("{stage}: median err_fro at k = {kmax} by recorded step"),
                x: Axis::linear("training step"),
                y: Axis::log("err_fro"),
                series,
                caption: format!(
                    "Each method on the gradients the stage recorded: the median over the \
                     recorded matrices of err_fro = ‖A − QQᵀA‖_F / ‖A − A_k‖_F at each recorded \
                     step; 1 (dotted) is the optimal rank-k subspace, lower is better.{}",
                    if below { BELOW_ONE } else { "" }
                ),
                hline: Some((1.0, "optimal".into())),
            },
        );
    }
}

const BELOW_ONE: &str = " Points below 1 are matrices of rank below k: their optimal tail \
     ‖A − A_k‖ is f32 roundoff, so err_fro compares roundoff with roundoff (read them as exact).";

fn ok_rows<'a>(p: &Page<'a>) -> Vec<&'a Row> {
    p.rows
        .iter()
        .filter(|r| r.status == Status::Ok && r.time_median_s.is_some() && r.err_fro.is_some())
        .collect()
}

/// err_fro against time per shape, rank and thread count.
fn accuracy_time(p: &Page<'_>, page: &mut String) {
    let ok = ok_rows(p);
    if ok.is_empty() {
        return;
    }
    let styles = method_styles(&ok);
    let mut by_shape: BTreeMap<(usize, usize, usize, usize), Vec<&Row>> = BTreeMap::new();
    for r in &ok {
        by_shape
            .entry((r.rows, r.cols, r.rank, r.threads))
            .or_default()
            .push(r);
    }
    let _ = write!(
        page,
        "<p class=\"caption\">One figure per shape, rank and thread count; each point is one \
         matrix and one method: its median call time against its err_fro. Down and to the left \
         is better.</p>"
    );
    for ((m, n, k, t), group) in &by_shape {
        let mut methods: Vec<&str> = Vec::new();
        for r in group {
            if !methods.contains(&r.method.as_str()) {
                methods.push(&r.method);
            }
        }
        let below = group.iter().any(|r| r.err_fro.is_some_and(|e| e < 1.0));
        let series = methods
            .iter()
            .map(|name| {
                let pts = group
                    .iter()
                    .filter(|r| r.method == *name)
                    .filter_map(|r| Some(Point::at(r.time_median_s? * 1e3, r.err_fro?)))
                    .collect();
                Series::points(name, style_or_grey(&styles, name), pts)
            })
            .collect();
        figure(
            page,
            &Chart {
                title: format!("{m}×{n}, k = {k}, {t} thread(s)"),
                x: Axis::log("time per call (ms)"),
                y: Axis::log("err_fro"),
                series,
                caption: format!(
                    "err_fro = ‖A − QQᵀA‖_F / ‖A − A_k‖_F: 1 (dotted) is the optimal rank-k \
                     subspace.{}",
                    if below { BELOW_ONE } else { "" }
                ),
                hline: Some((1.0, "optimal".into())),
            },
        );
    }
}

/// The median err_fro over the matrices against the rank, per method.
fn accuracy_rank(p: &Page<'_>, page: &mut String) {
    let ok = ok_rows(p);
    let ranks: Vec<usize> = {
        let mut v: Vec<usize> = ok.iter().map(|r| r.rank).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    if ranks.len() < 2 {
        return;
    }
    let styles = method_styles(&ok);
    let mut by_method: Vec<(&str, BTreeMap<usize, Vec<f64>>)> = Vec::new();
    for r in &ok {
        let i = match by_method.iter().position(|(m, _)| *m == r.method) {
            Some(i) => i,
            None => {
                by_method.push((&r.method, BTreeMap::new()));
                by_method.len() - 1
            }
        };
        by_method[i].1.entry(r.rank).or_default().extend(r.err_fro);
    }
    let series = by_method
        .into_iter()
        .map(|(name, ranks)| {
            let pts = ranks
                .into_iter()
                .map(|(k, e)| (k as f64, crate::stats::median(&e)))
                .collect();
            Series::line(name, style_or_grey(&styles, name), pts)
        })
        .collect();
    figure(
        page,
        &Chart {
            title: "median err_fro over the matrices, by rank".into(),
            x: Axis::linear("rank k"),
            y: Axis::log("err_fro"),
            series,
            caption: "Each method's median err_fro over every matrix of the run at each rank; 1 \
                      (dotted) is optimal, lower is better."
                .into(),
            hline: Some((1.0, "optimal".into())),
        },
    );
}

/// The singular values of every matrix.
fn spectra(p: &Page<'_>, page: &mut String) {
    if p.spectra.is_empty() {
        return;
    }
    // One colour per tensor (the part after ':'), a dash per step of it.
    let mut tensors: Vec<&str> = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    let series = p
        .spectra
        .iter()
        .map(|(name, s)| {
            let tensor = name.rsplit(':').next().unwrap_or(name);
            let t = match tensors.iter().position(|x| *x == tensor) {
                Some(t) => t,
                None => {
                    tensors.push(tensor);
                    seen.push(0);
                    tensors.len() - 1
                }
            };
            seen[t] += 1;
            let pts = s
                .iter()
                .enumerate()
                .map(|(j, x)| ((j + 1) as f64, *x))
                .collect();
            let short = name.replace("model.layers.", "").replace(".weight", "");
            let mut series = Series::line(&short, plot::categorical(t, seen[t] - 1), pts);
            series.markers = false;
            series
        })
        .collect();
    figure(
        page,
        &Chart {
            title: "σ_j of every matrix".into(),
            x: Axis::linear("j"),
            y: Axis::log("σ_j"),
            series,
            caption: "The singular values of each matrix (the f64 reference SVD), zeros left \
                      out; one colour per tensor, one dash per recorded step of it. A cliff to \
                      about 1e-7 of σ_1 marks a matrix whose rank is below its size, where the \
                      tail is f32 roundoff."
                .into(),
            hline: None,
        },
    );
}

/// Peak heap of one call per method at the largest rank.
fn heap(p: &Page<'_>, page: &mut String) {
    let ok = ok_rows(p);
    if ok.is_empty() {
        return;
    }
    let kmax = ok.iter().map(|r| r.rank).max().unwrap_or(0);
    let styles = method_styles(&ok);
    let mut methods: Vec<&str> = Vec::new();
    for r in &ok {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    let series: Vec<Series> = methods
        .iter()
        .filter_map(|name| {
            let pts: Vec<Point> = ok
                .iter()
                .filter(|r| r.method == *name && r.rank == kmax)
                .filter_map(|r| {
                    let b = r.peak_heap_bytes?;
                    Some(Point::at(
                        (r.rows * r.cols) as f64,
                        b as f64 / (1 << 20) as f64,
                    ))
                })
                .collect();
            (!pts.is_empty()).then(|| Series::points(name, style_or_grey(&styles, name), pts))
        })
        .collect();
    if series.is_empty() {
        page.push_str("<p class=\"caption\">Peak heap was not measured in this run.</p>");
        return;
    }
    figure(
        page,
        &Chart {
            title: format!("peak heap at k = {kmax}"),
            x: Axis::log("matrix entries m·n"),
            y: Axis::log("MiB"),
            series,
            caption: "Each point: the host heap peak of one call (the counting allocator) on one \
                      matrix, against the matrix's size. Lower is better."
                .into(),
            hline: None,
        },
    );
}

/// err_fro along the trajectories and against cumulative time, per rank.
fn tracking(p: &Page<'_>, page: &mut String) {
    if let Some(steps) = &p.tracking {
        let ok: Vec<&Row> = p.rows.iter().filter(|r| r.status == Status::Ok).collect();
        let mut styles = method_styles(&ok);
        let mut names: Vec<(String, Family)> = Vec::new();
        for s in steps {
            if !names.iter().any(|(n, _)| *n == s.method) {
                names.push((s.method.clone(), method_family(&s.plugin)));
            }
        }
        for (k, v) in styles_of(&names) {
            styles.entry(k).or_insert(v);
        }
        super::tracking::html(page, steps, &|m| style_or_grey(&styles, m));
    }
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
