//! Loading a matrix source into the matrices a run measures, each with its
//! label, the side its basis is asked for and, for a recorded gradient, its
//! typed [`Origin`].
//!
//! Labels: a generated matrix's name; a file tensor's `<file stem>:<tensor>`
//! (the tensor name alone when it equals the stem); a recorded gradient's
//! `<stage>/step-<N>:<tensor>`. A label is for people: reports and the gate
//! key on it, and nothing parses it back (the origin travels typed).

use std::path::Path;

use faer::{Mat, MatRef};

use crate::source::{self, Tensors};
use crate::suite::{MatrixJob, Side};

use super::plan::{RecordedBy, Source};
use crate::records::Origin;

/// A loaded matrix and the side its basis is asked for.
pub struct Loaded {
    pub name: String,
    pub source: String,
    pub matrix: Mat<f32>,
    /// Pass Aᵀ (GaLore's right side).
    pub transpose: bool,
    pub origin: Option<Origin>,
}

impl Loaded {
    /// The input of the method: A, or Aᵀ on the right side (a view).
    pub fn input(&self) -> MatRef<'_, f32> {
        if self.transpose {
            self.matrix.transpose()
        } else {
            self.matrix.as_ref()
        }
    }

    /// "left", or "right" when the basis is of Aᵀ.
    pub fn side(&self) -> &'static str {
        if self.transpose { "right" } else { "left" }
    }
}

/// Every matrix of `src`, or why none loads.
pub fn load(src: &Source, side: Side) -> Result<Vec<Loaded>, String> {
    let pick = |name: String, source: String, matrix: Mat<f32>, origin: Option<Origin>| {
        let transpose = side == Side::Short && matrix.nrows() > matrix.ncols();
        Loaded {
            name,
            source,
            matrix,
            transpose,
            origin,
        }
    };
    match &src.job {
        MatrixJob::Generated {
            name,
            rows,
            cols,
            spectrum,
            seed,
        } => {
            let a = subspace::generate::with_spectrum(*rows, *cols, *spectrum, *seed);
            Ok(vec![pick(name.clone(), "generated".into(), a, None)])
        }
        MatrixJob::Recorded { .. } => Err("recorded gradients resolve after training".into()),
        MatrixJob::Trajectory { .. } => Err("a trajectory is followed by trackers".into()),
        MatrixJob::File {
            path,
            tensors,
            explicit,
        } => {
            let step = match &src.recorded_by {
                Some(_) => Some(recorded_step(path)?),
                None => None,
            };
            let tensors =
                Tensors::parse(tensors.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
            let loaded = source::load_file(path, &tensors, *explicit).map_err(|e| e.to_string())?;
            for note in &loaded.notes {
                eprintln!("note: {note}");
            }
            Ok(loaded
                .matrices
                .into_iter()
                .map(|m| {
                    let stem = m
                        .source
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned());
                    let name = match stem {
                        Some(stem) if stem != m.name => format!("{stem}:{}", m.name),
                        _ => m.name.clone(),
                    };
                    let origin = src.recorded_by.as_ref().zip(step).map(
                        |(RecordedBy { stage, run }, step)| Origin {
                            stage: stage.clone(),
                            run: run.clone(),
                            step,
                            tensor: m.name.clone(),
                        },
                    );
                    let name = match &origin {
                        Some(o) => format!("{}/{name}", o.stage),
                        None => name,
                    };
                    pick(name, m.source.display().to_string(), m.matrix, origin)
                })
                .collect())
        }
    }
}

/// The step of a gradient file the recorder wrote, which names it
/// `step-<N>.safetensors` (`llama::session`'s output layout).
pub(super) fn recorded_step(path: &Path) -> Result<usize, String> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.strip_prefix("step-"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            format!(
                "recorded gradient file {} is not named step-<N>.safetensors",
                path.display()
            )
        })
}

/// A source's name in a row of its own (when it does not load).
pub fn job_name(job: &MatrixJob) -> String {
    match job {
        MatrixJob::Generated { name, .. } => name.clone(),
        MatrixJob::File { path, .. } => path.display().to_string(),
        MatrixJob::Recorded { stage, .. } => format!(
            "recorded{}",
            stage.as_ref().map_or(String::new(), |s| format!(" ({s})"))
        ),
        MatrixJob::Trajectory { runs, .. } => format!("trajectory ({})", runs.join(", ")),
    }
}

/// A source's `source` column in a row of its own.
pub fn job_source(job: &MatrixJob) -> String {
    match job {
        MatrixJob::Generated { .. } => "generated".into(),
        MatrixJob::File { path, .. } => path.display().to_string(),
        MatrixJob::Recorded { .. } => "recorded".into(),
        MatrixJob::Trajectory { .. } => "trajectory".into(),
    }
}
