//! `index.html` opens and renders in headless Chromium (Debian's `chromium`
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

#[test]
fn index_html_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var("GALORE_REQUIRE_CHROMIUM").is_err(),
            "GALORE_REQUIRE_CHROMIUM is set but no chromium is installed (apt-get install chromium)"
        );
        println!("skipped: chromium not installed");
        return;
    };
    let mut registry = subspace::Registry::new();
    registry.register::<svd::Svd>().unwrap();
    registry.register::<rrf::Rrf>().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let suite = Suite::parse(Path::new("render.toml"), SUITE, &registry).unwrap();
    let opts = RunOptions {
        root: tmp.path().into(),
        heap: None,
        progress: false,
    };
    let out = run::run(&suite, &registry, &opts).unwrap();
    let page = out.dir.join("index.html");
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
    let dom = String::from_utf8_lossy(&dom.stdout);
    let figures = dom.matches("<figure>").count();
    assert!(
        figures >= 4,
        "expected ≥ 4 figures in the rendered DOM, found {figures}"
    );
    assert_eq!(dom.matches("<svg").count(), figures, "one SVG per figure");
    assert!(
        dom.contains("rrf[power_iters=1]"),
        "legend entries rendered"
    );

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
}
