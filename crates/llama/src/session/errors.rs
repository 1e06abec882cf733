//! Why a run failed: a config field, the data, a non-finite value (naming
//! the step), a failed subspace refresh, or a file.

use std::path::Path;

use thiserror::Error;

use crate::StoreError;
use crate::optim::RefreshError;

/// Why a run failed.
#[derive(Debug, Error)]
pub enum TrainError {
    #[error("training config, field `{field}`: {reason}")]
    Config { field: String, reason: String },
    #[error("{path}: {reason}")]
    Data { path: String, reason: String },
    /// The corpus or tokenizer could not be read (the error names the file).
    #[error(transparent)]
    Corpus(#[from] crate::data::DataError),
    #[error(
        "step {step}: {what} is not finite ({value}); the run stopped before the update, the last \
         good checkpoint (if any) is kept; lower the learning rate or check the data"
    )]
    NonFinite {
        step: usize,
        what: String,
        value: f32,
    },
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// (The cause is part of the message and not an error `source`, so a
    /// chain printed with `{:#}` names it once.)
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{path}: {reason}")]
    Checkpoint { path: String, reason: String },
}

/// Maps an I/O error on `path` to [`TrainError::Io`], naming the file.
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |cause| TrainError::Io {
        path: path.display().to_string(),
        cause,
    }
}
