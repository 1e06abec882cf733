//! Whether two reports hold the same figures, timings aside: every CSV of
//! the first compared line by line, column by column, with the second,
//! except the columns that measure this machine at this moment
//! ([`is_measured`]). A merged report must equal an unsharded run's so.
//! A recorded gradient's file lies in the report that trained it, so its
//! `source` path is compared from its `train/` part on ([`same_cell`]).

use std::path::Path;

use anyhow::Context as _;

/// Whether column `name` is a measurement of the machine (time, rate,
/// heap, device bytes, energy), which differs between runs.
pub fn is_measured(name: &str) -> bool {
    const EXACT: [&str; 9] = [
        "gflops",
        "gemm_gflops",
        "gemm_fraction",
        "peak_heap_bytes",
        "device_bytes",
        "energy_j",
        "power_w",
        "energy_note",
        "tokens_per_second",
    ];
    EXACT.contains(&name) || name.starts_with("time_") || name.starts_with("seconds_")
}

/// The differences between the CSVs of `a` and `b` (files, rows, and cells
/// of columns that are not [`is_measured`]), at most `limit` of them, and
/// how many cells were compared.
pub fn compare(a: &Path, b: &Path, limit: usize) -> anyhow::Result<(Vec<String>, usize)> {
    let mut diffs = Vec::new();
    let mut cells = 0;
    let mut names: Vec<String> = Vec::new();
    for dir in [a, b] {
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".csv") && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort();
    for name in names {
        let (pa, pb) = (a.join(&name), b.join(&name));
        let (Some(ta), Some(tb)) = (table(&pa)?, table(&pb)?) else {
            diffs.push(format!("{name}: in only one of the reports"));
            continue;
        };
        if ta.0 != tb.0 {
            diffs.push(format!("{name}: columns differ"));
            continue;
        }
        if ta.1.len() != tb.1.len() {
            diffs.push(format!(
                "{name}: {} rows against {}",
                ta.1.len(),
                tb.1.len()
            ));
        }
        for (i, (ra, rb)) in ta.1.iter().zip(&tb.1).enumerate() {
            for (j, col) in ta.0.iter().enumerate() {
                if is_measured(col) {
                    continue;
                }
                cells += 1;
                if !same_cell(col, ra.get(j), rb.get(j)) {
                    diffs.push(format!(
                        "{name} row {} column {col}: {:?} against {:?}",
                        i + 1,
                        ra.get(j).unwrap_or(""),
                        rb.get(j).unwrap_or("")
                    ));
                }
            }
        }
    }
    diffs.truncate(limit);
    Ok((diffs, cells))
}

/// Whether two cells of column `col` agree: equal text, or for `source`
/// equal paths from their last `/train/` on.
pub fn same_cell(col: &str, a: Option<&str>, b: Option<&str>) -> bool {
    let from_train =
        |s: Option<&str>| s.and_then(|s| s.rfind("/train/").map(|i| s[i..].to_string()));
    a == b || (col == "source" && from_train(a).is_some() && from_train(a) == from_train(b))
}

type Table = (Vec<String>, Vec<csv::StringRecord>);

/// A CSV's header and records; `None` when absent; empty when the file is.
fn table(path: &Path) -> anyhow::Result<Option<Table>> {
    if !path.is_file() {
        return Ok(None);
    }
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let header = r.headers()?.iter().map(String::from).collect();
    let rows = r
        .records()
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some((header, rows)))
}
