//! The figures of `index.html`: inline SVG charts written directly, each a
//! `<figure>` with its title, an HTML legend beside the plot (never over the
//! data; a click on a name hides or shows that series, [`SCRIPT`]) and a
//! caption saying how to read it.
//!
//! Written here rather than drawn with a plotting crate because a page that
//! reads at a glance needs what plotters' SVG backend does not give: series
//! grouped as elements the legend can toggle, the legend outside the plot
//! area, log ticks at 1, 2, 5 × 10ᵏ with short labels, and interval bars in
//! both axes. The charts are few: lines (optionally with a shaded band),
//! points with interval bars, and stacked horizontal bars.
//!
//! Every `<svg>` carries what a test can check without reading pixels:
//! `data-points` (the points drawn), `data-x-range` and `data-y-range`
//! (the axes' limits, always finite with lo < hi), and its axis labels as
//! `<text class="xlabel">` and `<text class="ylabel">`.

use std::fmt::Write as _;

/// The script that makes every legend toggle its figure's series: inline,
/// offline, once per page.
pub(super) const SCRIPT: &str = "<script>document.querySelectorAll('figure.chart').forEach(function(f){\
f.querySelectorAll('.legend button').forEach(function(b){b.addEventListener('click',function(){\
var off=b.classList.toggle('off');f.querySelectorAll('svg [data-s=\"'+b.dataset.s+'\"]').forEach(\
function(g){g.style.display=off?'none':''});});});});</script>";

/// The page's style for figures, legends and captions.
pub(super) const STYLE: &str = "figure.chart{display:inline-block;vertical-align:top;margin:.3em .5em .6em 0;max-width:660px}\
figure.chart .ftitle{font-weight:bold;font-size:.95em;margin-bottom:.2em}\
figure.chart .body{display:flex;align-items:flex-start}\
figure.chart ul.legend{list-style:none;margin:0 0 0 .3em;padding:0;font-size:.78em;max-height:320px;overflow-y:auto;width:190px;flex:none}\
figure.chart ul.legend li{margin:0}\
figure.chart ul.legend button{border:0;background:none;padding:1px 2px;cursor:pointer;text-align:left;font:inherit;display:flex;align-items:center}\
figure.chart ul.legend button.off{opacity:.35;text-decoration:line-through}\
figure.chart .sw{display:inline-block;width:18px;height:0;border-top:3px solid;margin-right:4px;flex:none}\
figure.chart figcaption{font-size:.8em;color:#333;max-width:650px;margin-top:.2em}\
svg text{font-family:sans-serif}";

/// Plot size in pixels (the legend is beside it).
pub(super) const W: f64 = 440.0;
pub(super) const H: f64 = 320.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 44.0;

/// An axis: its label and whether it is logarithmic.
#[derive(Debug, Clone)]
pub(super) struct Axis {
    pub label: String,
    pub log: bool,
}

impl Axis {
    pub fn linear(label: &str) -> Self {
        Axis {
            label: label.into(),
            log: false,
        }
    }

    pub fn log(label: &str) -> Self {
        Axis {
            label: label.into(),
            log: true,
        }
    }
}

/// One point, with its 95% intervals in x and y where it has them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Point {
    pub x: f64,
    pub y: f64,
    pub x_ci: Option<(f64, f64)>,
    pub y_ci: Option<(f64, f64)>,
}

impl Point {
    pub fn at(x: f64, y: f64) -> Self {
        Point {
            x,
            y,
            x_ci: None,
            y_ci: None,
        }
    }
}

/// One legend entry: its points, how they are drawn, and its colour.
#[derive(Debug, Clone)]
pub(super) struct Series {
    pub name: String,
    pub style: Style,
    pub points: Vec<Point>,
    /// Lines between the points (a series of one point is a marker anyway).
    pub line: bool,
    /// A marker at every point.
    pub markers: bool,
    /// A shaded region: (x, lo, hi) at each x.
    pub band: Vec<(f64, f64, f64)>,
}

impl Series {
    /// Points joined by a line, markers where there are few.
    pub fn line(name: &str, style: Style, pts: Vec<(f64, f64)>) -> Self {
        let markers = pts.len() <= 12;
        Series {
            name: name.into(),
            style,
            points: pts.into_iter().map(|(x, y)| Point::at(x, y)).collect(),
            line: true,
            markers,
            band: Vec::new(),
        }
    }

    /// Points alone.
    pub fn points(name: &str, style: Style, points: Vec<Point>) -> Self {
        Series {
            name: name.into(),
            style,
            points,
            line: false,
            markers: true,
            band: Vec::new(),
        }
    }
}

/// A colour and a dash pattern (`None`: solid).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Style {
    pub color: String,
    pub dash: Option<&'static str>,
}

/// Families of related series, each drawn in its own hue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Family {
    /// References: AdamW, the comparison run, GaLore at T > 1; greys.
    Reference,
    /// A subspace method computed afresh at each refresh (T = 1); blues.
    OneShot,
    /// Trackers (warm starts, moved moments, iterative trackers); oranges
    /// and reds.
    Tracker,
    /// A GPU method; greens.
    Gpu,
}

/// The `i`-th of `n` styles of `family`: hue within the family's range,
/// lightness and dash varied so that ten or more series stay apart.
pub(super) fn style(family: Family, i: usize, n: usize) -> Style {
    let t = if n <= 1 {
        0.0
    } else {
        i as f64 / (n - 1) as f64
    };
    let (h, s, l) = match family {
        Family::Reference => (0.0, 0.0, 0.12 + 0.45 * t),
        Family::OneShot => (195.0 + 60.0 * t, 0.70, 0.42 - 0.08 * (i % 2) as f64),
        Family::Tracker => (0.0 + 38.0 * t, 0.80, 0.48 - 0.10 * (i % 2) as f64),
        Family::Gpu => (95.0 + 50.0 * t, 0.60, 0.36),
    };
    const DASHES: [Option<&str>; 3] = [None, Some("6 3"), Some("2 2")];
    Style {
        color: hsl(h, s, l),
        dash: DASHES[(i / 2) % DASHES.len()],
    }
}

/// The `i`-th of ten well-separated hues (Tableau 10), dashed by `variant`:
/// for series that are not related runs (tensors, matrices).
pub(super) fn categorical(i: usize, variant: usize) -> Style {
    const TABLEAU: [&str; 10] = [
        "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
        "#9c755f", "#bab0ac",
    ];
    const DASHES: [Option<&str>; 4] = [None, Some("6 3"), Some("2 2"), Some("8 2 2 2")];
    Style {
        color: TABLEAU[i % TABLEAU.len()].into(),
        dash: DASHES[variant % DASHES.len()],
    }
}

/// `#rrggbb` of an HSL colour (h in degrees, s and l in [0, 1]).
fn hsl(h: f64, s: f64, l: f64) -> String {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = (h.rem_euclid(360.0)) / 60.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let to = |v: f64| ((v + m).clamp(0.0, 1.0) * 255.0).round() as u8;
    format!("#{:02x}{:02x}{:02x}", to(r), to(g), to(b))
}

/// A chart: title, axes, series, caption; optionally a horizontal line
/// (e.g. the optimum err_fro = 1) with its label.
#[derive(Debug, Clone)]
pub(super) struct Chart {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub series: Vec<Series>,
    pub caption: String,
    pub hline: Option<(f64, String)>,
}

/// The values an axis shows on `scale`: finite, and positive on a log axis.
fn usable(v: f64, log: bool) -> bool {
    v.is_finite() && (!log || v > 0.0)
}

/// The padded, never empty range of `values` on an axis.
fn range(values: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| usable(*v, log)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    Some(if log {
        let (a, b) = (lo.log10(), hi.log10());
        let pad = ((b - a) * 0.05).max(0.05);
        (10f64.powf(a - pad), 10f64.powf(b + pad))
    } else {
        let d = hi - lo;
        let pad = if d > 0.0 {
            d * 0.05
        } else {
            (lo.abs() * 0.05).max(0.5)
        };
        (lo - pad, hi + pad)
    })
}

/// Nice linear tick values in [lo, hi]: steps of 1, 2 or 5 × 10ᵏ, 4 to 8 of
/// them.
pub(super) fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || !span.is_finite() {
        return vec![lo];
    }
    let raw = span / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 8.0)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    // Rounded to the step's decimals: 29 × 0.1 is 2.9, not 2.9000000000000004.
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    (first..=last)
        .map(|i| {
            let v = i as f64 * step;
            format!("{v:.decimals$}").parse::<f64>().unwrap_or(v) + 0.0
        })
        .collect()
}

/// Log tick values in [lo, hi]: 1, 2, 5 × 10ᵏ over up to three decades,
/// every decade (or every few) over more; within one decade, linear ticks.
pub(super) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let decades = (hi / lo).log10();
    let mults: &[f64] = if decades <= 1.2 {
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]
    } else if decades <= 3.2 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let stride = [1, 2, 3, 5, 10]
        .into_iter()
        .find(|s| decades / f64::from(*s) <= 8.0)
        .unwrap_or(20);
    let mut out = Vec::new();
    for d in (a..=b).filter(|d| d.rem_euclid(stride) == 0) {
        for m in mults {
            let v = m * 10f64.powi(d);
            if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                out.push(v);
            }
        }
    }
    if out.len() < 3 {
        // A range inside one decade: linear ticks read better there.
        out = linear_ticks(lo, hi)
            .into_iter()
            .filter(|v| *v > 0.0)
            .collect();
    }
    out
}

/// A tick label: short, no trailing zeros, powers of ten as 1e-6.
pub(super) fn tick_label(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        let e = a.log10().floor() as i32;
        let m = v / 10f64.powi(e);
        let m = (m * 100.0).round() / 100.0;
        return if (m - 1.0).abs() < 1e-9 {
            format!("1e{e}")
        } else if (m + 1.0).abs() < 1e-9 {
            format!("-1e{e}")
        } else {
            format!("{}e{e}", trim(&format!("{m:.2}")))
        };
    }
    let digits = if a >= 100.0 {
        0
    } else if a >= 1.0 {
        2
    } else {
        4
    };
    trim(&format!("{v:.digits$}"))
}

fn trim(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// `s` with `&`, `<`, `>` and `"` escaped for HTML.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Maps data to pixels on one axis.
#[derive(Clone, Copy)]
struct Map {
    lo: f64,
    hi: f64,
    log: bool,
    p0: f64,
    p1: f64,
}

impl Map {
    fn px(&self, v: f64) -> f64 {
        let f = |x: f64| if self.log { x.log10() } else { x };
        let t = (f(v) - f(self.lo)) / (f(self.hi) - f(self.lo));
        self.p0 + t * (self.p1 - self.p0)
    }
}

/// Appends `chart` as a `<figure>`; a chart with nothing to draw becomes a
/// paragraph saying so (never an empty frame).
pub(super) fn figure(page: &mut String, chart: &Chart) {
    let (xlog, ylog) = (chart.x.log, chart.y.log);
    let visible = |p: &Point| usable(p.x, xlog) && usable(p.y, ylog);
    let n_points: usize = chart
        .series
        .iter()
        .map(|s| s.points.iter().filter(|p| visible(p)).count())
        .sum();
    let xs = chart.series.iter().flat_map(|s| {
        s.points
            .iter()
            .filter(|p| visible(p))
            .flat_map(|p| [Some(p.x), p.x_ci.map(|c| c.0), p.x_ci.map(|c| c.1)])
            .flatten()
            .chain(s.band.iter().map(|b| b.0))
    });
    let ys = chart.series.iter().flat_map(|s| {
        s.points
            .iter()
            .filter(|p| visible(p))
            .flat_map(|p| [Some(p.y), p.y_ci.map(|c| c.0), p.y_ci.map(|c| c.1)])
            .flatten()
            .chain(s.band.iter().flat_map(|b| [b.1, b.2]))
            .chain(chart.hline.as_ref().map(|h| h.0))
    });
    let (Some((x0, x1)), Some((y0, y1))) = (range(xs, xlog), range(ys, ylog)) else {
        let _ = write!(
            page,
            "<p class=\"nodata\"><b>{}</b>: nothing to plot ({}).</p>",
            esc(&chart.title),
            esc(&chart.caption)
        );
        return;
    };
    if n_points == 0 {
        let _ = write!(
            page,
            "<p class=\"nodata\"><b>{}</b>: nothing to plot.</p>",
            esc(&chart.title)
        );
        return;
    }
    let mx = Map {
        lo: x0,
        hi: x1,
        log: xlog,
        p0: LEFT,
        p1: W - RIGHT,
    };
    let my = Map {
        lo: y0,
        hi: y1,
        log: ylog,
        p0: H - BOTTOM,
        p1: TOP,
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" data-points=\"{n_points}\" \
         data-x-range=\"{} {}\" data-y-range=\"{} {}\">",
        esc(&chart.title),
        x0,
        x1,
        y0,
        y1
    );
    axes(&mut svg, chart, mx, my);
    if let Some((y, label)) = &chart.hline
        && usable(*y, ylog)
        && *y >= y0
        && *y <= y1
    {
        let py = my.px(*y);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#444\" \
                 stroke-width=\"1\" stroke-dasharray=\"1 3\"/><text x=\"{}\" y=\"{:.1}\" \
                 font-size=\"10\" text-anchor=\"start\" fill=\"#444\">{}</text>",
            W - RIGHT,
            LEFT + 3.0,
            py - 3.0,
            esc(label)
        );
    }
    for (i, s) in chart.series.iter().enumerate() {
        series(&mut svg, i, s, mx, my, &visible);
    }
    svg.push_str("</svg>");
    let mut legend = String::new();
    for (i, s) in chart.series.iter().enumerate() {
        let dash = match s.style.dash {
            Some(_) => "dashed",
            None => "solid",
        };
        let _ = write!(
            legend,
            "<li><button type=\"button\" data-s=\"{i}\" title=\"click to hide or show\">\
             <span class=\"sw\" style=\"border-top-color:{};border-top-style:{dash}\"></span>{}\
             </button></li>",
            s.style.color,
            esc(&s.name)
        );
    }
    let toggle = if chart.series.len() > 5 {
        " Click a name in the legend to hide or show it."
    } else {
        ""
    };
    let _ = write!(
        page,
        "<figure class=\"chart\"><div class=\"ftitle\">{}</div><div class=\"body\">{svg}\
         <ul class=\"legend\">{legend}</ul></div><figcaption>{}{toggle}</figcaption></figure>",
        esc(&chart.title),
        esc(&chart.caption)
    );
}

/// The frame, the ticks with their labels and light grid lines, the axis
/// labels.
fn axes(svg: &mut String, chart: &Chart, mx: Map, my: Map) {
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
    let _ = write!(
        svg,
        "<rect x=\"{x0}\" y=\"{y0}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>",
        x1 - x0,
        y1 - y0
    );
    let ticks = |m: Map| {
        if m.log {
            log_ticks(m.lo, m.hi)
        } else {
            linear_ticks(m.lo, m.hi)
        }
    };
    for v in ticks(mx) {
        let p = mx.px(v);
        let _ = write!(
            svg,
            "<line x1=\"{p:.1}\" x2=\"{p:.1}\" y1=\"{y0}\" y2=\"{y1}\" stroke=\"#eee\"/>\
             <line x1=\"{p:.1}\" x2=\"{p:.1}\" y1=\"{y1}\" y2=\"{}\" stroke=\"#888\"/>\
             <text class=\"tick\" x=\"{p:.1}\" y=\"{}\" font-size=\"10\" \
             text-anchor=\"middle\">{}</text>",
            y1 + 4.0,
            y1 + 15.0,
            tick_label(v)
        );
    }
    for v in ticks(my) {
        let p = my.px(v);
        let _ = write!(
            svg,
            "<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{p:.1}\" y2=\"{p:.1}\" stroke=\"#eee\"/>\
             <line x1=\"{}\" x2=\"{x0}\" y1=\"{p:.1}\" y2=\"{p:.1}\" stroke=\"#888\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" font-size=\"10\" \
             text-anchor=\"end\">{}</text>",
            x0 - 4.0,
            x0 - 6.0,
            p + 3.5,
            tick_label(v)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"xlabel\" x=\"{:.1}\" y=\"{}\" font-size=\"11\" \
         text-anchor=\"middle\">{}{}</text>\
         <text class=\"ylabel\" transform=\"translate(14 {:.1}) rotate(-90)\" font-size=\"11\" \
         text-anchor=\"middle\">{}{}</text>",
        (x0 + x1) / 2.0,
        H - 8.0,
        esc(&chart.x.label),
        if chart.x.log { " (log)" } else { "" },
        (y0 + y1) / 2.0,
        esc(&chart.y.label),
        if chart.y.log { " (log)" } else { "" },
    );
}

/// One series as a `<g data-s="i">`: band, interval bars, line, markers.
fn series(
    svg: &mut String,
    i: usize,
    s: &Series,
    mx: Map,
    my: Map,
    visible: &dyn Fn(&Point) -> bool,
) {
    let c = &s.style.color;
    let _ = write!(svg, "<g data-s=\"{i}\">");
    let band: Vec<&(f64, f64, f64)> = s
        .band
        .iter()
        .filter(|b| usable(b.0, mx.log) && usable(b.1, my.log) && usable(b.2, my.log))
        .collect();
    if band.len() > 1 {
        let mut d = String::new();
        for b in &band {
            let _ = write!(d, "{:.1},{:.1} ", mx.px(b.0), my.px(b.2));
        }
        for b in band.iter().rev() {
            let _ = write!(d, "{:.1},{:.1} ", mx.px(b.0), my.px(b.1));
        }
        let _ = write!(
            svg,
            "<polygon points=\"{}\" fill=\"{c}\" fill-opacity=\"0.15\" stroke=\"none\"/>",
            d.trim_end()
        );
    }
    let pts: Vec<&Point> = s.points.iter().filter(|p| visible(p)).collect();
    for p in &pts {
        let (px, py) = (mx.px(p.x), my.px(p.y));
        if let Some((lo, hi)) = p
            .x_ci
            .filter(|c| usable(c.0, mx.log) && usable(c.1, mx.log))
        {
            let (a, b) = (mx.px(lo), mx.px(hi));
            let _ = write!(
                svg,
                "<path d=\"M{a:.1} {py:.1}H{b:.1}M{a:.1} {:.1}V{:.1}M{b:.1} {:.1}V{:.1}\" \
                 stroke=\"{c}\" stroke-width=\"1.2\" fill=\"none\"/>",
                py - 3.0,
                py + 3.0,
                py - 3.0,
                py + 3.0
            );
        }
        if let Some((lo, hi)) = p
            .y_ci
            .filter(|c| usable(c.0, my.log) && usable(c.1, my.log))
        {
            let (a, b) = (my.px(lo), my.px(hi));
            let _ = write!(
                svg,
                "<path d=\"M{px:.1} {a:.1}V{b:.1}M{:.1} {a:.1}H{:.1}M{:.1} {b:.1}H{:.1}\" \
                 stroke=\"{c}\" stroke-width=\"1.2\" fill=\"none\"/>",
                px - 3.0,
                px + 3.0,
                px - 3.0,
                px + 3.0
            );
        }
    }
    if s.line && pts.len() > 1 {
        let mut d = String::new();
        for p in &pts {
            let _ = write!(d, "{:.1},{:.1} ", mx.px(p.x), my.px(p.y));
        }
        let dash = s
            .style
            .dash
            .map_or(String::new(), |d| format!(" stroke-dasharray=\"{d}\""));
        let _ = write!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"1.6\"{dash}/>",
            d.trim_end()
        );
    }
    if s.markers || pts.len() == 1 {
        for p in &pts {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/>",
                mx.px(p.x),
                my.px(p.y)
            );
        }
    }
    svg.push_str("</g>");
}

/// Horizontal stacked bars: one bar per row, one colour per part, the
/// legend beside it (parts are not toggled: a stack needs all of them).
pub(super) fn stacked_bars(
    page: &mut String,
    title: &str,
    x_label: &str,
    caption: &str,
    parts: &[(&str, &str)],
    rows: &[(String, Vec<f64>)],
) {
    if rows.is_empty() {
        return;
    }
    let total = |r: &(String, Vec<f64>)| r.1.iter().sum::<f64>();
    let xmax = rows.iter().map(total).fold(0.0, f64::max);
    let xmax = if xmax > 0.0 && xmax.is_finite() {
        xmax * 1.05
    } else {
        1.0
    };
    let label_w = 170.0;
    let bar = 16.0;
    let h = TOP + BOTTOM + (bar + 6.0) * rows.len() as f64;
    let mx = Map {
        lo: 0.0,
        hi: xmax,
        log: false,
        p0: label_w,
        p1: W - RIGHT,
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" \
         viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"{}\" data-points=\"{}\" \
         data-x-range=\"0 {xmax}\" data-y-range=\"0 {}\">",
        esc(title),
        rows.len(),
        rows.len()
    );
    let y1 = h - BOTTOM;
    for v in linear_ticks(0.0, xmax) {
        let p = mx.px(v);
        let _ = write!(
            svg,
            "<line x1=\"{p:.1}\" x2=\"{p:.1}\" y1=\"{TOP}\" y2=\"{y1}\" stroke=\"#eee\"/>\
             <text class=\"tick\" x=\"{p:.1}\" y=\"{}\" font-size=\"10\" \
             text-anchor=\"middle\">{}</text>",
            y1 + 15.0,
            tick_label(v)
        );
    }
    for (i, (name, values)) in rows.iter().enumerate() {
        let y = TOP + 3.0 + (bar + 6.0) * i as f64;
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{}\" y=\"{:.1}\" font-size=\"10\" \
             text-anchor=\"end\">{}</text>",
            label_w - 6.0,
            y + bar * 0.7,
            esc(name)
        );
        let mut x = 0.0;
        for (v, (_, color)) in values.iter().zip(parts) {
            let (a, b) = (mx.px(x), mx.px(x + v));
            let _ = write!(
                svg,
                "<rect x=\"{a:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar}\" fill=\"{color}\"/>",
                (b - a).max(0.0)
            );
            x += v;
        }
    }
    let _ = write!(
        svg,
        "<line x1=\"{label_w}\" x2=\"{}\" y1=\"{y1}\" y2=\"{y1}\" stroke=\"#888\"/>\
         <text class=\"xlabel\" x=\"{:.1}\" y=\"{}\" font-size=\"11\" \
         text-anchor=\"middle\">{}</text><text class=\"ylabel\" x=\"4\" y=\"{}\" \
         font-size=\"11\">run</text></svg>",
        W - RIGHT,
        (label_w + W - RIGHT) / 2.0,
        h - 8.0,
        esc(x_label),
        TOP + 8.0
    );
    let mut legend = String::new();
    for (name, color) in parts {
        let _ = write!(
            legend,
            "<li><span class=\"sw\" style=\"border-top-color:{color};border-top-width:8px\">\
             </span>{}</li>",
            esc(name)
        );
    }
    let _ = write!(
        page,
        "<figure class=\"chart\"><div class=\"ftitle\">{}</div><div class=\"body\">{svg}\
         <ul class=\"legend\">{legend}</ul></div><figcaption>{}</figcaption></figure>",
        esc(title),
        esc(caption)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_inside() {
        assert_eq!(linear_ticks(0.0, 10.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = linear_ticks(2.87, 3.33);
        assert!(t.len() >= 4 && t.len() <= 9, "{t:?}");
        assert!(t.iter().all(|v| (2.87..=3.33).contains(v)), "{t:?}");
        assert_eq!(t[0], 2.9);
        assert_eq!(linear_ticks(5.0, 5.0), [5.0]);
    }

    #[test]
    fn log_ticks_read_as_one_two_five() {
        assert_eq!(
            log_ticks(0.9, 110.0),
            [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
        // Fourteen decades: every other decade.
        let t = log_ticks(1e-14, 1e2);
        assert_eq!(t.len(), 9, "{t:?}");
        assert_eq!(tick_label(t[0]), "1e-14");
        // Inside one decade the ticks are linear, never "9999999998".
        let t = log_ticks(0.95, 1.35);
        assert!(t.len() >= 3, "{t:?}");
        let labels: Vec<String> = t.iter().map(|v| tick_label(*v)).collect();
        assert!(labels.iter().all(|l| l.len() <= 4), "{labels:?}");
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(1e-6), "1e-6");
        assert_eq!(tick_label(2e-6), "2e-6");
        assert_eq!(tick_label(500.0), "500");
        assert_eq!(tick_label(2.5), "2.5");
        assert_eq!(tick_label(0.05), "0.05");
        assert_eq!(tick_label(3000.0), "3000");
        assert_eq!(tick_label(2e5), "2e5");
    }

    #[test]
    fn a_figure_has_data_ranges_labels_and_a_caption_and_no_empty_frame() {
        let mut page = String::new();
        let chart = Chart {
            title: "t".into(),
            x: Axis::log("x"),
            y: Axis::linear("y"),
            series: vec![Series::line(
                "a",
                style(Family::OneShot, 0, 1),
                vec![(1.0, 2.0), (10.0, 3.0), (-1.0, 5.0)],
            )],
            caption: "how to read it".into(),
            hline: None,
        };
        figure(&mut page, &chart);
        assert!(page.contains("data-points=\"2\""), "{page}");
        assert!(page.contains("class=\"xlabel\"") && page.contains("class=\"ylabel\""));
        assert!(page.contains("<figcaption>how to read it"), "{page}");
        assert!(!page.contains("NaN"), "{page}");
        // One point alone: a marker, and a range that is not empty.
        let mut one = String::new();
        let chart = Chart {
            series: vec![Series::line(
                "a",
                style(Family::Reference, 0, 1),
                vec![(6.0, 3.5)],
            )],
            x: Axis::linear("x"),
            ..chart
        };
        figure(&mut one, &chart);
        assert!(
            one.contains("<circle") && one.contains("data-x-range=\"5.5 6.5\""),
            "{one}"
        );
        // Nothing drawable: a sentence, no frame.
        let mut none = String::new();
        let chart = Chart {
            series: vec![Series::line("a", style(Family::Tracker, 0, 1), vec![])],
            ..chart
        };
        figure(&mut none, &chart);
        assert!(
            none.contains("nothing to plot") && !none.contains("<svg"),
            "{none}"
        );
    }

    #[test]
    fn families_keep_their_hues_apart() {
        let grey = style(Family::Reference, 1, 3).color;
        let bytes = |c: &str| {
            (1..7)
                .step_by(2)
                .map(|i| u8::from_str_radix(&c[i..i + 2], 16).unwrap())
                .collect::<Vec<_>>()
        };
        let g = bytes(&grey);
        assert!(g[0] == g[1] && g[1] == g[2], "{grey}");
        let blue = bytes(&style(Family::OneShot, 0, 4).color);
        assert!(blue[2] > blue[0], "{blue:?}");
        let red = bytes(&style(Family::Tracker, 0, 4).color);
        assert!(red[0] > red[2], "{red:?}");
    }
}
