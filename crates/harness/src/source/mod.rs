//! Matrix sources: gradients and weights read from `.safetensors` and `.npy`
//! files, one file or a glob of them.
//!
//! Contract of [`load`]:
//!
//! - every matrix comes back as an m×n [`faer::Mat<f32>`] whose entry (i, j)
//!   is element `[i][j]` of the 2-D tensor as PyTorch or NumPy index it
//!   (row-major safetensors, C- or Fortran-order npy alike);
//! - F32 is read exactly; F64 is rounded to the nearest f32; F16 and BF16 are
//!   widened exactly (every f16 and bf16 value is an f32) with the `half` crate;
//! - a matrix is finite: the first NaN or Inf in row-major order is a
//!   [`SourceError::NonFinite`] naming the file, the tensor, the row and column;
//! - a tensor that is not 2-D, or that is empty, is *skipped with a note* when it
//!   was not named explicitly (every 2-D tensor of a file, tensors matched by a
//!   glob, npy files matched by a file glob) and is an *error* when it was
//!   (a tensor named exactly, an npy file named exactly);
//! - every failure is a [`SourceError`] naming the file (and tensor) and the fix;
//!   nothing in here panics on a user's file, whatever its bytes.
//!
//! A file is validated from its header before its data is read (`file.rs`):
//! the magic or length prefix from its first bytes, then shape × dtype and
//! the data offsets against the file's length, so a file that is not what
//! its extension says, or whose header announces more (or less) data than
//! it holds, is refused at the cost of its header. Only then is the data
//! read into memory (gradients of the models this lab studies are
//! megabytes), after the file's length is checked against the memory budget
//! (`size.rs`: [`SourceError::TooLarge`] where 3 × the length exceeds it).
//! A file's matrices come back sorted by tensor name; the files of a glob in
//! the glob's (alphabetical) order.
//!
//! `.npy` bf16: NumPy has no bfloat16; `ml_dtypes.bfloat16` arrays are saved as
//! the opaque 2-byte void `'<V2'`, which cannot be told apart from any other
//! 2-byte record, so such files are refused with a message saying to save
//! float32 (or use safetensors, which has BF16).

mod error;
mod file;
mod npy;
mod safetensors;
mod size;

use std::path::{Path, PathBuf};

use faer::Mat;

pub use error::{SUPPORTED_DTYPES, SourceError};

/// One matrix read from a file.
#[derive(Debug, Clone)]
pub struct NamedMatrix {
    /// The file it came from.
    pub source: PathBuf,
    /// The tensor name (safetensors) or the file stem (npy).
    pub name: String,
    /// The values, converted to f32.
    pub matrix: Mat<f32>,
}

/// Which tensors of a `.safetensors` file to read (npy files hold one array and
/// ignore this).
#[derive(Debug, Clone, Default)]
pub enum Tensors {
    /// Every 2-D tensor; others are skipped with a note.
    #[default]
    All,
    /// Tensors whose names match the glob (at least one must); non-2-D ones are
    /// skipped with a note.
    Glob(glob::Pattern),
    /// Exactly this tensor, which must exist and be a non-empty matrix.
    Name(String),
}

impl Tensors {
    /// `"*"` or `""` → [`Tensors::All`]; a string with a glob metacharacter
    /// (`*`, `?`, `[`) → [`Tensors::Glob`]; anything else → [`Tensors::Name`].
    pub fn parse(spec: &str) -> Result<Self, SourceError> {
        if spec.is_empty() || spec == "*" {
            Ok(Tensors::All)
        } else if has_glob_meta(spec) {
            glob::Pattern::new(spec)
                .map(Tensors::Glob)
                .map_err(|e| SourceError::BadGlob {
                    pattern: spec.to_owned(),
                    reason: e.to_string(),
                })
        } else {
            Ok(Tensors::Name(spec.to_owned()))
        }
    }
}

/// What a load produced: the matrices and a note for everything skipped.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The matrices, file by file.
    pub matrices: Vec<NamedMatrix>,
    /// One line per skipped tensor or file, naming it and why it was skipped.
    pub notes: Vec<String>,
}

/// Reads every matrix named by `pattern` (a path, or a glob of paths when it
/// holds `*`, `?` or `[`) and `tensors`.
///
/// Errors: the first failing file stops the load (its error names it); a glob
/// that matches no file, or a load that yields no matrix at all, is an error.
pub fn load(pattern: &str, tensors: &Tensors) -> Result<Loaded, SourceError> {
    let mut out = Loaded::default();
    if has_glob_meta(pattern) {
        let paths = glob::glob(pattern).map_err(|e| SourceError::BadGlob {
            pattern: pattern.to_owned(),
            reason: e.to_string(),
        })?;
        let mut any = false;
        for entry in paths {
            let path = entry.map_err(|e| SourceError::Io {
                path: e.path().to_owned(),
                cause: std::io::Error::new(e.error().kind(), e.error().to_string()),
            })?;
            if path.is_dir() {
                continue;
            }
            any = true;
            if format_of(&path).is_none() {
                out.notes.push(format!(
                    "skipped {}: not a .safetensors or .npy file",
                    path.display()
                ));
                continue;
            }
            load_file_into(&path, tensors, false, &mut out)?;
        }
        if !any {
            return Err(SourceError::NoFileMatches {
                pattern: pattern.to_owned(),
            });
        }
    } else {
        load_file_into(Path::new(pattern), tensors, true, &mut out)?;
    }
    if out.matrices.is_empty() {
        return Err(SourceError::NothingLoaded {
            pattern: pattern.to_owned(),
            notes: out.notes,
        });
    }
    Ok(out)
}

/// Reads the matrices of one file. `explicit` says the file was named exactly
/// (not matched by a glob): then a non-2-D or empty `.npy` array is an error,
/// and so is a file that yields no matrix at all
/// ([`SourceError::NoMatrixInFile`], with the notes saying why).
pub fn load_file(path: &Path, tensors: &Tensors, explicit: bool) -> Result<Loaded, SourceError> {
    let mut out = Loaded::default();
    load_file_into(path, tensors, explicit, &mut out)?;
    if explicit && out.matrices.is_empty() {
        return Err(SourceError::NoMatrixInFile {
            path: path.to_owned(),
            notes: out.notes,
        });
    }
    Ok(out)
}

/// The file formats this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Safetensors,
    Npy,
}

fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "safetensors" => Some(Format::Safetensors),
        "npy" => Some(Format::Npy),
        _ => None,
    }
}

fn load_file_into(
    path: &Path,
    tensors: &Tensors,
    explicit: bool,
    out: &mut Loaded,
) -> Result<(), SourceError> {
    let format = format_of(path).ok_or_else(|| SourceError::UnknownExtension {
        path: path.to_owned(),
    })?;
    let mut file = file::MatrixFile::open(path)?;
    match format {
        Format::Safetensors => safetensors::read(&mut file, tensors, out),
        Format::Npy => npy::read(&mut file, explicit, out),
    }
}

fn has_glob_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Storage order of a flat tensor buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Row-major: element (i, j) at `i * cols + j`.
    RowMajor,
    /// Column-major (Fortran): element (i, j) at `i + j * rows`.
    ColMajor,
}

/// Checks a 2-D shape: `Ok(Some((rows, cols)))` for a non-empty matrix;
/// `Ok(None)` after noting a skipped tensor; an error when `strict`.
pub(crate) fn matrix_shape(
    path: &Path,
    tensor: &str,
    shape: &[usize],
    strict: bool,
    notes: &mut Vec<String>,
) -> Result<Option<(usize, usize)>, SourceError> {
    let &[rows, cols] = shape else {
        if strict {
            return Err(SourceError::NotAMatrix {
                path: path.to_owned(),
                tensor: tensor.to_owned(),
                shape: shape.to_vec(),
            });
        }
        notes.push(format!(
            "skipped {}: tensor `{tensor}` has shape {shape:?}, not a matrix",
            path.display()
        ));
        return Ok(None);
    };
    if rows == 0 || cols == 0 {
        if strict {
            return Err(SourceError::EmptyMatrix {
                path: path.to_owned(),
                tensor: tensor.to_owned(),
                rows,
                cols,
            });
        }
        notes.push(format!(
            "skipped {}: tensor `{tensor}` is an empty {rows}×{cols} matrix",
            path.display()
        ));
        return Ok(None);
    }
    Ok(Some((rows, cols)))
}

/// Builds the matrix from `data` (`rows * cols` values in `order`), refusing the
/// first non-finite entry in row-major order.
pub(crate) fn build_matrix(
    path: &Path,
    tensor: &str,
    rows: usize,
    cols: usize,
    data: &[f32],
    order: Order,
) -> Result<Mat<f32>, SourceError> {
    debug_assert_eq!(data.len(), rows * cols);
    let at = |i: usize, j: usize| match order {
        Order::RowMajor => data[i * cols + j],
        Order::ColMajor => data[i + j * rows],
    };
    if data.iter().any(|x| !x.is_finite()) {
        for i in 0..rows {
            for j in 0..cols {
                let value = at(i, j);
                if !value.is_finite() {
                    return Err(SourceError::NonFinite {
                        path: path.to_owned(),
                        tensor: tensor.to_owned(),
                        row: i,
                        col: j,
                        value,
                    });
                }
            }
        }
    }
    Ok(Mat::from_fn(rows, cols, at))
}
