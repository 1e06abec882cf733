//! Error values of the matrix sources.
//!
//! Every message names the file (and the tensor, where there is one), says what
//! is wrong and how to fix it. Reading a user's file never panics: each way a
//! file can be wrong is one of these values.

use std::path::PathBuf;

use thiserror::Error;

/// The dtypes a tensor may have; named by every unsupported-dtype error.
pub const SUPPORTED_DTYPES: &str = "F32, F64, F16, BF16 (safetensors); float32, float64, float16 \
                                    (npy: '<f4', '<f8', '<f2' or big-endian)";

/// Why a matrix source could not be read.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The file could not be opened or read.
    /// (The cause is part of the message and not an error `source`, so a
    /// chain printed with `{:#}` names it once.)
    #[error("cannot read {}: {cause}; {}", path.display(), io_fix(cause))]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A pattern is not a valid glob.
    #[error(
        "`{pattern}` is not a valid glob: {reason}; fix the pattern (e.g. `grads/*.safetensors`)"
    )]
    BadGlob { pattern: String, reason: String },
    /// A glob over files matched nothing.
    #[error(
        "`{pattern}` matches no file; check the pattern and the working directory \
         (relative paths are resolved from where `lab` runs)"
    )]
    NoFileMatches { pattern: String },
    /// A path whose extension names no known format.
    #[error("{}: unknown file type; expected a `.safetensors` or `.npy` file", path.display())]
    UnknownExtension { path: PathBuf },
    /// The file ends before the data its header announces.
    #[error("{} is truncated: {detail}; the file was cut short (an interrupted copy or save?): write it again", path.display())]
    Truncated { path: PathBuf, detail: String },
    /// The file does not start the way its format requires.
    #[error("{} is not a {format} file: {detail}; check that the file and its extension match", path.display())]
    WrongMagic {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },
    /// The header is readable but inconsistent.
    #[error("{} has a corrupt {format} header: {detail}; write the file again", path.display())]
    Corrupt {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },
    /// A tensor's element type cannot be converted to f32.
    #[error(
        "{}: tensor `{tensor}` has dtype {dtype}, which is not supported; supported dtypes: \
         {SUPPORTED_DTYPES}; convert it (e.g. `t.float()` or `a.astype(np.float32)`) or leave it \
         out with a tensor glob",
        path.display()
    )]
    UnsupportedDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },
    /// A tensor named explicitly is not 2-D.
    #[error(
        "{}: tensor `{tensor}` has shape {shape:?}, but a matrix (2-D tensor) is expected; \
         name a 2-D tensor, or reshape it to 2-D before saving (e.g. `a.reshape(rows, -1)`)",
        path.display()
    )]
    NotAMatrix {
        path: PathBuf,
        tensor: String,
        shape: Vec<usize>,
    },
    /// A tensor named explicitly has no rows or no columns.
    #[error(
        "{}: tensor `{tensor}` is an empty {rows}×{cols} matrix; a subspace needs at least one \
         row and one column: save a non-empty matrix, or drop the file from the suite",
        path.display()
    )]
    EmptyMatrix {
        path: PathBuf,
        tensor: String,
        rows: usize,
        cols: usize,
    },
    /// No tensor has the name asked for, or none matches the tensor glob.
    #[error(
        "{}: no tensor {wanted}; the file holds: {}",
        path.display(),
        list_names(available)
    )]
    NoTensor {
        path: PathBuf,
        wanted: String,
        available: Vec<String>,
    },
    /// A tensor holds a NaN or an infinity (the first one in row-major order).
    #[error(
        "{}: tensor `{tensor}` has {value} at (row {row}, col {col}) (the first non-finite entry \
         in row-major order); a recorded gradient must be finite: check the training step that \
         wrote it (overflow in f16/bf16?)",
        path.display()
    )]
    NonFinite {
        path: PathBuf,
        tensor: String,
        row: usize,
        col: usize,
        value: f32,
    },
    /// A safetensors file whose header lists no tensor.
    #[error(
        "{} holds no tensors (its header lists none); save the tensors into it again \
         (`safetensors.torch.save_file({{name: tensor}}, path)`), or drop the file from the suite",
        path.display()
    )]
    NoTensors { path: PathBuf },
    /// A file named exactly yields no matrix (every tensor in it was skipped).
    #[error(
        "{} yields no matrix: {}; name a file or tensor that holds a 2-D tensor, or reshape \
         the tensors to 2-D before saving",
        path.display(),
        notes.join("; ")
    )]
    NoMatrixInFile { path: PathBuf, notes: Vec<String> },
    /// Everything the pattern named was skipped (only 1-D/3-D or empty tensors).
    #[error("`{pattern}` yields no matrix: {}; name files or tensors that hold 2-D tensors", notes.join("; "))]
    NothingLoaded { pattern: String, notes: Vec<String> },
    /// A file too large for the memory budget, refused before it is read.
    #[error(
        "{}: {reason}; leave the file out of the suite, or set LAB_MEMORY_BUDGET higher",
        path.display()
    )]
    TooLarge { path: PathBuf, reason: String },
}

/// The fix for a read that failed with `e`.
fn io_fix(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "check the path (a relative path is resolved from where `lab` runs)"
        }
        std::io::ErrorKind::PermissionDenied => "make the file readable (check its permissions)",
        std::io::ErrorKind::IsADirectory => "name a file, or a glob such as `dir/*.safetensors`",
        std::io::ErrorKind::OutOfMemory => {
            "the file does not fit in memory: free memory, or split it into smaller files"
        }
        _ => "check that the file is readable",
    }
}

/// At most 12 names, then a count, so a model with 300 tensors gives one line.
fn list_names(names: &[String]) -> String {
    const SHOWN: usize = 12;
    if names.is_empty() {
        return "no tensors".to_owned();
    }
    let mut out: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    if names.len() > SHOWN {
        out.push(format!("and {} more", names.len() - SHOWN));
    }
    out.join(", ")
}
