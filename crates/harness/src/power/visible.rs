//! Which GPUs the NVML meter reads: NVML sees every GPU of the node, but a
//! process given some of them (a Slurm task with `--gpus-per-task`, which
//! sets `CUDA_VISIBLE_DEVICES`) must count only its own, or a shard's
//! energy would include its neighbours'.
//!
//! `CUDA_VISIBLE_DEVICES` unset: every GPU. Set: its comma-separated
//! entries, each an index (Slurm's, which is NVML's PCI order) or a UUID
//! prefix (`GPU-…`); as CUDA does, the list ends at the first entry that is
//! neither. A MIG instance (`MIG-…`) selects no whole GPU: its share of the
//! GPU's energy counter cannot be told apart.

/// One entry of `CUDA_VISIBLE_DEVICES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    Index(u32),
    Uuid(String),
}

/// The entries of `CUDA_VISIBLE_DEVICES`, or `None` when it is unset.
pub fn parse(var: Option<&str>) -> Option<Vec<Visible>> {
    let var = var?;
    let mut out = Vec::new();
    for entry in var.split(',').map(str::trim) {
        if let Ok(i) = entry.parse::<u32>() {
            out.push(Visible::Index(i));
        } else if entry.starts_with("GPU-") || entry.starts_with("MIG-") {
            out.push(Visible::Uuid(entry.to_string()));
        } else {
            break;
        }
    }
    Some(out)
}

/// Whether NVML device `index` with `uuid` is one of `visible`.
pub fn selects(visible: &[Visible], index: u32, uuid: &str) -> bool {
    visible.iter().any(|v| match v {
        Visible::Index(i) => *i == index,
        Visible::Uuid(u) => uuid.starts_with(u.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_indices_or_uuid_prefixes_up_to_the_first_bad_one() {
        assert_eq!(parse(None), None);
        assert_eq!(parse(Some("")), Some(vec![]));
        let v = parse(Some("2, GPU-ab12,-1,0")).unwrap();
        assert_eq!(v, [Visible::Index(2), Visible::Uuid("GPU-ab12".into())]);
        assert!(selects(&v, 2, "GPU-ffff"));
        assert!(selects(&v, 0, "GPU-ab12cd"));
        assert!(!selects(&v, 0, "GPU-ffff"));
        let mig = parse(Some("MIG-1234")).unwrap();
        assert!(!selects(&mig, 0, "GPU-1234"));
    }
}
