//! `index.html` opens and renders in headless Chromium, and every figure in
//! it has data, finite non-empty axes, axis labels, a legend and a caption (Debian's `chromium`
//! package; `.ci/run` installs it and sets GALORE_REQUIRE_CHROMIUM=1, so CI
//! cannot skip this). Elsewhere, without Chromium, the test says it skipped.

use std::path::Path;
use std::process::Command;

use harness::run;
use harness::runner::RunOptions;
use harness::suite::Suite;

const SUITE: &str = r#"
ranks = [4, 8]
[[matrix]]
source = "generated"
rows = 80
cols = 50
spectrum = { kind = "polynomial", power = 1.0 }
[[method]]
plugin = "svd"
[[method]]
plugin = "rrf"
params = { power_iters = [0, 1] }
"#;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The two-seed training suite with its recorded gradients measured.
fn training_suite() -> String {
    format!(
        "ranks = [4, 8]\n{}\n[[matrix]]\nsource = \"recorded\"\n[[method]]\nplugin = \"svd\"\n\
         [[method]]\nplugin = \"rrf\"\n",
        include_str!("suites/two-seeds.toml")
    )
}

#[test]
fn index_html_renders_in_headless_chromium() {
    let dom = render(SUITE, 4);
    assert!(
        dom.contains("rrf[power_iters=1]"),
        "legend entries rendered"
    );
    // The verdict comes first: the fastest method table before any figure.
    let verdict = dom.find("Verdict").expect("a verdict heading");
    assert!(
        verdict < dom.find("<figure").unwrap(),
        "verdict after the figures"
    );
}

/// A training report opens on the stage's verdict and its two headline
/// figures, the loss against wall seconds and the Pareto plot, before any
/// detail.
#[test]
fn a_training_report_opens_on_its_verdict_and_headline_figures() {
    let dom = render(&training_suite(), 8);
    let at = |s: &str| {
        dom.find(s)
            .unwrap_or_else(|| panic!("no {s:?} in the page"))
    };
    let verdict = at("class=\"verdict\"");
    let loss = at("tiny: held-out loss against wall seconds");
    let pareto = at("tiny: final held-out loss against step time");
    let details = at("<nav>");
    assert!(verdict < loss && loss < pareto && pareto < details);
    assert!(dom.contains("Pareto front") && dom.contains("min–max"));
    // Two seeds: the headline loss figure has a band, the Pareto bars.
    let headline = &dom[loss..pareto];
    assert!(headline.contains("<polygon"), "no band over the seeds");
    assert!(
        dom[pareto..details].contains("<path d=\"M"),
        "no interval bars"
    );
}

/// Runs `suite` into a temporary report, opens its index.html in headless
/// Chromium and checks every figure of the DOM it builds ([`check_figure`]),
/// at least `min_figures` of them, and a screenshot that is not blank;
/// returns the DOM. Without Chromium (and GALORE_REQUIRE_CHROMIUM unset) it
/// says it skipped and returns the page as written.
fn render(suite: &str, min_figures: usize) -> String {
    let mut registry = subspace::Registry::new();
    registry.register::<svd::Svd>().unwrap();
    registry.register::<rrf::Rrf>().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let suite = Suite::parse(Path::new("render.toml"), suite, &registry).unwrap();
    let opts = RunOptions {
        root: tmp.path().into(),
        heap: None,
        progress: false,
    };
    let out = run::run(&suite, &registry, &opts).unwrap();
    let page = out.dir.join("index.html");
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("GALORE_REQUIRE_CHROMIUM").is_err(),
            "GALORE_REQUIRE_CHROMIUM is set but no chromium is installed (apt-get install chromium)"
        );
        println!("skipped: chromium not installed");
        return std::fs::read_to_string(page).unwrap();
    };
    let url = format!("file://{}", page.display());
    let profile = tmp.path().join("profile");
    let shot = tmp.path().join("page.png");
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let profile_arg = format!("--user-data-dir={}", profile.display());

    // The DOM Chromium builds: every figure's SVG made it through the parser.
    let dom = Command::new(browser)
        .args(base)
        .arg(&profile_arg)
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    let found = figures(&dom);
    assert!(
        found.len() >= min_figures,
        "expected ≥ {min_figures} figures in the rendered DOM, found {}",
        found.len()
    );
    for f in &found {
        check_figure(f);
    }
    assert!(!dom.contains("NaN"), "NaN in the page");

    // A screenshot of a page of plots is far from blank.
    let status = Command::new(browser)
        .args(base)
        .arg(&profile_arg)
        .args([
            "--window-size=1400,1800",
            &format!("--screenshot={}", shot.display()),
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        shot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::metadata(&shot).unwrap().len();
    assert!(
        bytes > 40_000,
        "screenshot is {bytes} bytes: the page looks blank"
    );
    dom
}

/// Every `<figure class="chart">…</figure>` of `dom`.
fn figures(dom: &str) -> Vec<&str> {
    dom.match_indices("<figure class=\"chart\"")
        .map(|(i, _)| {
            let end = dom[i..].find("</figure>").map_or(dom.len(), |j| i + j);
            &dom[i..end]
        })
        .collect()
}

/// A figure has one SVG with data, finite non-empty axis ranges, both axis
/// labels, a legend entry per series and a caption.
#[track_caller]
fn check_figure(f: &str) {
    assert_eq!(f.matches("<svg").count(), 1, "one SVG per figure: {f}");
    let attr = |name: &str| -> &str {
        let key = format!("{name}=\"");
        let i = f.find(&key).unwrap_or_else(|| panic!("no {name}: {f}")) + key.len();
        &f[i..i + f[i..].find('"').unwrap()]
    };
    let points: usize = attr("data-points").parse().unwrap();
    assert!(points > 0, "a figure without data: {f}");
    for axis in ["data-x-range", "data-y-range"] {
        let v: Vec<f64> = attr(axis).split(' ').map(|x| x.parse().unwrap()).collect();
        assert!(
            v.len() == 2 && v.iter().all(|x| x.is_finite()) && v[0] < v[1],
            "{axis} {v:?}: {f}"
        );
    }
    for label in ["class=\"xlabel\"", "class=\"ylabel\""] {
        let i = f.find(label).unwrap_or_else(|| panic!("no {label}: {f}"));
        let text = &f[i..];
        let text = &text[text.find('>').unwrap() + 1..text.find("</text>").unwrap()];
        assert!(!text.trim().is_empty(), "empty {label}: {f}");
    }
    let caption = f
        .split("<figcaption>")
        .nth(1)
        .and_then(|c| c.split("</figcaption>").next())
        .unwrap_or_else(|| panic!("no caption: {f}"));
    assert!(
        caption.len() > 20,
        "a caption says how to read it: {caption}"
    );
    assert!(
        f.contains("<ul class=\"legend\">"),
        "a legend beside the plot: {f}"
    );
}
