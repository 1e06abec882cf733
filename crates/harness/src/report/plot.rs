//! The figure primitives every section of `index.html` draws with: one
//! inline SVG chart (plotters) in a captioned `<figure>`, its size and
//! series type, and HTML escaping.

use std::fmt::Write as _;

use plotters::prelude::*;

/// One legend entry: name, colour and points.
pub(super) type Series = (String, RGBAColor, Vec<(f64, f64)>);

pub(super) const W: u32 = 640;
/// Line series longer than this are drawn without a marker per point.
const MARKERS_MAX: usize = 50;
pub(super) const H: u32 = 400;

/// Appends `svg` as a `<figure>` captioned `title`.
pub(super) fn push_figure(page: &mut String, svg: &str, title: &str) {
    let _ = write!(
        page,
        "<figure>{svg}<figcaption>{}</figcaption></figure>",
        esc(title)
    );
}

/// `s` with `&`, `<` and `>` escaped for HTML text.
pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Appends one `<figure>` with a scatter (and optional lines) chart.
#[allow(clippy::too_many_arguments)]
pub(super) fn figure(
    page: &mut String,
    title: &str,
    x_label: &str,
    y_label: &str,
    log_x: bool,
    log_y: bool,
    lines: bool,
    series: &[Series],
) -> anyhow::Result<()> {
    let pts = series.iter().flat_map(|s| s.2.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        if (log_x && x <= 0.0) || (log_y && y <= 0.0) || !x.is_finite() || !y.is_finite() {
            continue;
        }
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 || y0 > y1 {
        let _ = write!(page, "<p>{}: nothing to plot.</p>", esc(title));
        return Ok(());
    }
    let pad = |a: f64, b: f64, log: bool| {
        if log {
            (a / 1.3, b * 1.3)
        } else {
            let d = (b - a).abs().max(b.abs() * 0.05).max(1e-12);
            (a - 0.05 * d, b + 0.05 * d)
        }
    };
    let (x0, x1) = pad(x0, x1, log_x);
    let (y0, y1) = pad(y0, y1, log_y);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(x_label)
                    .y_desc(y_label)
                    .draw()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                for (name, c, pts) in series {
                    let c = *c;
                    // A long line series is drawn as a line alone: a marker
                    // per point made the spectra figure megabytes of SVG.
                    if lines && pts.len() > MARKERS_MAX {
                        chart
                            .draw_series(LineSeries::new(pts.iter().copied(), c))
                            .map_err(|e| anyhow::anyhow!("{e:?}"))?
                            .label(name.as_str())
                            .legend(move |(x, y)| PathElement::new([(x - 5, y), (x + 5, y)], c));
                        continue;
                    }
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                        .map_err(|e| anyhow::anyhow!("{e:?}"))?
                        .label(name.as_str())
                        .legend(move |(x, y)| Circle::new((x, y), 3, c.filled()));
                    if lines {
                        chart
                            .draw_series(LineSeries::new(pts.iter().copied(), c))
                            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                    }
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            }};
        }
        let mut b = ChartBuilder::on(&root);
        b.caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60);
        match (log_x, log_y) {
            (true, true) => {
                draw!(b.build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?)
            }
            (false, true) => draw!(b.build_cartesian_2d(x0..x1, (y0..y1).log_scale())?),
            (true, false) => draw!(b.build_cartesian_2d((x0..x1).log_scale(), y0..y1)?),
            (false, false) => draw!(b.build_cartesian_2d(x0..x1, y0..y1)?),
        }
        root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    push_figure(page, &svg, title);
    Ok(())
}
