//! Combining the shards' files into one report's, in an unsharded run's
//! order: every top-level CSV by the units of `shard.json`
//! ([`crate::runner::segments`]), whatever it holds (a CSV a new part of the
//! runner writes merges with no code here); `training.json` by the suite's
//! training runs.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::runner::segments::{Key, Unit};
use crate::suite::Suite;

use super::shards::Shard;

/// One unit's bytes: which shard, which unit of it.
struct Piece<'a> {
    shard: &'a Shard,
    unit: usize,
}

/// Writes every CSV the shards wrote into `out`; returns their names.
pub fn csvs(shards: &[Shard], out: &Path) -> anyhow::Result<Vec<String>> {
    // Every unit once, in key order (a shared unit from the first shard).
    let mut units: BTreeMap<&Key, Piece<'_>> = BTreeMap::new();
    for shard in shards {
        for (i, unit) in shard.manifest.units.iter().enumerate() {
            if let Some(other) = units.get(&unit.key) {
                if unit.shared {
                    continue;
                }
                bail!(
                    "{} and {} both wrote unit {:?}, which only one shard owns: re-run them \
                     with this lab",
                    other.shard.dir.display(),
                    shard.dir.display(),
                    unit.key
                );
            }
            units.insert(&unit.key, Piece { shard, unit: i });
        }
    }
    let mut names: Vec<String> = Vec::new();
    for shard in shards {
        for name in csv_names(&shard.dir)? {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort();
    let mut contents: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    for name in &names {
        let mut header: Option<(Vec<u8>, &Path)> = None;
        let mut body = Vec::new();
        for piece in units.values() {
            let bytes = segment(piece, name, &mut contents)?;
            let rest = take_header(&bytes, piece, name, &mut header)?;
            body.extend_from_slice(rest);
        }
        // What a shard wrote after its last unit: by the units' contract
        // nothing but a header.
        for shard in shards {
            let path = shard.dir.join(name);
            let Some(all) = read(&path, &mut contents)? else {
                continue;
            };
            let end = shard
                .manifest
                .units
                .last()
                .and_then(|u| u.ends.get(name).copied())
                .unwrap_or(0) as usize;
            let tail = all.get(end..).unwrap_or_default().to_vec();
            if tail.is_empty() {
                continue;
            }
            let piece = Piece {
                shard,
                unit: usize::MAX,
            };
            let rest = if end == 0 {
                take_header(&tail, &piece, name, &mut header)?
            } else {
                &tail[..]
            };
            if !rest.is_empty() {
                bail!(
                    "{} has lines after the shard's last recorded unit: it did not finish \
                     writing; re-run that shard",
                    path.display()
                );
            }
        }
        let path = out.join(name);
        let mut f = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        if let Some((h, _)) = &header {
            f.write_all(h)?;
        }
        f.write_all(&body)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(names)
}

/// The top-level `*.csv` files of `dir`.
fn csv_names(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".csv") && entry.file_type()?.is_file() {
            out.push(name);
        }
    }
    Ok(out)
}

/// A file's bytes (read once), `None` when absent.
fn read<'c>(
    path: &Path,
    contents: &'c mut BTreeMap<PathBuf, Vec<u8>>,
) -> anyhow::Result<Option<&'c Vec<u8>>> {
    if !contents.contains_key(path) {
        if !path.is_file() {
            return Ok(None);
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        contents.insert(path.to_path_buf(), bytes);
    }
    Ok(contents.get(path))
}

/// The bytes `piece` wrote to file `name`.
fn segment(
    piece: &Piece<'_>,
    name: &str,
    contents: &mut BTreeMap<PathBuf, Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    let units: &[Unit] = &piece.shard.manifest.units;
    let end = units[piece.unit].ends.get(name).copied().unwrap_or(0) as usize;
    let start = match piece.unit {
        0 => 0,
        i => units[i - 1].ends.get(name).copied().unwrap_or(0) as usize,
    };
    if start == end {
        return Ok(Vec::new());
    }
    let path = piece.shard.dir.join(name);
    let all = read(&path, contents)?
        .map(Vec::as_slice)
        .unwrap_or_default();
    match all.get(start..end) {
        Some(b) => Ok(b.to_vec()),
        None => bail!(
            "{} is shorter ({} bytes) than its shard.json records ({end}): it changed after \
             the shard ran; re-run that shard",
            path.display(),
            all.len()
        ),
    }
}

/// Strips the header line off a file's first bytes (`bytes` begins the
/// file when it is a shard's first piece of it), checking it against the
/// header the merge has; returns the rest.
fn take_header<'b, 's>(
    bytes: &'b [u8],
    piece: &Piece<'s>,
    name: &str,
    header: &mut Option<(Vec<u8>, &'s Path)>,
) -> anyhow::Result<&'b [u8]> {
    let first_of_file = piece.unit == usize::MAX
        || (0..piece.unit).all(|i| {
            piece.shard.manifest.units[i]
                .ends
                .get(name)
                .is_none_or(|&e| e == 0)
        });
    if !first_of_file || bytes.is_empty() {
        return Ok(bytes);
    }
    let cut = bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| i + 1);
    let (line, rest) = bytes.split_at(cut);
    match header {
        None => *header = Some((line.to_vec(), &piece.shard.dir)),
        Some((h, from)) if h.as_slice() != line => bail!(
            "{name} of {} has another header than that of {}: the shards wrote different \
             columns; re-run them with one lab",
            piece.shard.dir.display(),
            from.display()
        ),
        Some(_) => {}
    }
    Ok(rest)
}

/// `training.json`: every training run's outcome as its shard wrote it, in
/// suite order; `None` when no shard trained.
pub fn training_json(suite: &Suite, shards: &[Shard]) -> anyhow::Result<Option<serde_json::Value>> {
    let mut found: Vec<serde_json::Value> = Vec::new();
    for shard in shards {
        let path = shard.dir.join("training.json");
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let list: Vec<serde_json::Value> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a list of training outcomes", path.display()))?;
        found.extend(list);
    }
    if found.is_empty() {
        return Ok(None);
    }
    let named = |v: &serde_json::Value, stage: &str, label: &str, seed: Option<u64>| {
        v.get("stage").and_then(|s| s.as_str()) == Some(stage)
            && v.get("label").and_then(|s| s.as_str()) == Some(label)
            && v.get("seed").and_then(serde_json::Value::as_u64) == seed
    };
    let ordered = suite
        .trainings
        .iter()
        .filter_map(|job| {
            found
                .iter()
                .find(|v| named(v, &job.stage, &job.label, job.seed))
                .cloned()
        })
        .collect();
    Ok(Some(serde_json::Value::Array(ordered)))
}
