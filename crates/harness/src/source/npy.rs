//! `.npy` reader: the magic `\x93NUMPY`, a version, a header length, a Python
//! dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (m, n), }`,
//! then the array bytes, as `numpy.save` writes them.
//!
//! The header dict and the element decoding are `npyz`'s. The framing (magic,
//! version, header length) is checked here first, on the file's first bytes
//! (at most 64 KiB are read for it), so that a corrupt length can neither
//! make `npyz` allocate gigabytes nor be mistaken for truncation; then the
//! header's shape × item size is checked against the file's length, and
//! only then is the data read and decoded.

use std::path::Path;

use half::f16;
use npyz::{DType, NpyFile, NpyHeader, TypeChar};

use super::file::MatrixFile;
use super::{Loaded, NamedMatrix, Order, SourceError, build_matrix, matrix_shape};

const FORMAT: &str = "npy";
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy itself refuses headers above 10 000 bytes unless told otherwise.
const MAX_HEADER: usize = 1 << 16;
/// Deeper nesting than this in a header is no array NumPy writes.
const MAX_NESTING: usize = 32;

/// Appends the matrix in `file` to `out`; the tensor name is the file stem.
/// `explicit`: the file was named exactly, so a non-2-D or empty array is an
/// error rather than a note.
pub(super) fn read(
    file: &mut MatrixFile<'_>,
    explicit: bool,
    out: &mut Loaded,
) -> Result<(), SourceError> {
    let path = file.path;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let truncated = |detail: String| SourceError::Truncated {
        path: path.to_owned(),
        detail,
    };
    let corrupt = |detail: String| SourceError::Corrupt {
        path: path.to_owned(),
        format: FORMAT,
        detail,
    };

    // The magic, the version, the length and the header itself.
    let bytes = file.prefix(12 + MAX_HEADER)?;
    let data_start = framing(path, &bytes)?;
    let header = NpyHeader::from_reader(&bytes[..data_start]).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => truncated(e.to_string()),
        _ => corrupt(e.to_string()),
    })?;

    let dtype = header.dtype();
    let kind = element_kind(path, &name, &dtype)?;
    let shape: Vec<usize> = header
        .shape()
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<_, _>>()
        .map_err(|_| corrupt(format!("shape {:?} does not fit in memory", header.shape())))?;
    let Some((rows, cols)) = matrix_shape(path, &name, &shape, explicit, &mut out.notes)? else {
        return Ok(());
    };
    let expected = rows
        .checked_mul(cols)
        .and_then(|n| n.checked_mul(kind.item_size()))
        .ok_or_else(|| corrupt(format!("shape [{rows}, {cols}] overflows")))?;
    let present = file.len - data_start as u64;
    if present < expected as u64 {
        return Err(truncated(format!(
            "shape [{rows}, {cols}] of {} needs {expected} bytes of data but only {present} \
             follow the header",
            dtype.descr(),
        )));
    }
    if present > expected as u64 {
        return Err(corrupt(format!(
            "{} unexpected bytes after the {expected} bytes of data",
            present - expected as u64
        )));
    }
    let data = file.data(data_start as u64, expected)?;

    let order = match header.order() {
        npyz::Order::C => Order::RowMajor,
        npyz::Order::Fortran => Order::ColMajor,
    };
    let npy = NpyFile::with_header(header, data.as_slice());
    let values: Vec<f32> = match kind {
        Kind::F32 => npy.into_vec::<f32>(),
        Kind::F64 => npy
            .into_vec::<f64>()
            .map(|v| v.into_iter().map(|x| x as f32).collect()),
        Kind::F16 => npy
            .into_vec::<f16>()
            .map(|v| v.into_iter().map(f16::to_f32).collect()),
    }
    .map_err(|e| corrupt(e.to_string()))?;
    let matrix = build_matrix(path, &name, rows, cols, &values, order)?;
    out.matrices.push(NamedMatrix {
        source: path.to_owned(),
        name,
        matrix,
    });
    Ok(())
}

/// The element types read from npy.
#[derive(Debug, Clone, Copy)]
enum Kind {
    F32,
    F64,
    F16,
}

impl Kind {
    fn item_size(self) -> usize {
        match self {
            Kind::F32 => 4,
            Kind::F64 => 8,
            Kind::F16 => 2,
        }
    }
}

fn element_kind(path: &Path, name: &str, dtype: &DType) -> Result<Kind, SourceError> {
    let unsupported = |dtype: String| SourceError::UnsupportedDtype {
        path: path.to_owned(),
        tensor: name.to_owned(),
        dtype,
    };
    let DType::Plain(ts) = dtype else {
        return Err(unsupported(format!(
            "{} (a structured dtype)",
            dtype.descr()
        )));
    };
    match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => Ok(Kind::F32),
        (TypeChar::Float, 8) => Ok(Kind::F64),
        (TypeChar::Float, 2) => Ok(Kind::F16),
        (TypeChar::RawData, 2) => Err(unsupported(format!(
            "'{ts}' (2-byte raw data, as numpy saves an ml_dtypes bfloat16 array, which the file \
             cannot tell apart from other 2-byte records: save `a.astype(np.float32)`, or use \
             safetensors, which has BF16)"
        ))),
        _ => Err(unsupported(format!("'{ts}'"))),
    }
}

/// Checks magic, version and header length on the file's first bytes
/// (`bytes`: all of them, or at least `12 + MAX_HEADER`); returns where the
/// data starts.
fn framing(path: &Path, bytes: &[u8]) -> Result<usize, SourceError> {
    if !bytes.starts_with(MAGIC) {
        if MAGIC.starts_with(bytes) {
            return Err(SourceError::Truncated {
                path: path.to_owned(),
                detail: format!("{} bytes, cut inside the 6-byte magic", bytes.len()),
            });
        }
        let got = &bytes[..bytes.len().min(6)];
        return Err(SourceError::WrongMagic {
            path: path.to_owned(),
            format: FORMAT,
            detail: format!("it starts with {got:02x?}, not the magic \\x93NUMPY"),
        });
    }
    let corrupt = |detail: String| SourceError::Corrupt {
        path: path.to_owned(),
        format: FORMAT,
        detail,
    };
    let truncated = |detail: String| SourceError::Truncated {
        path: path.to_owned(),
        detail,
    };
    let Some(&major) = bytes.get(6) else {
        return Err(truncated("the file ends after the magic".to_owned()));
    };
    let (len_bytes, header_len) = match major {
        1 => (
            2,
            bytes
                .get(8..10)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize),
        ),
        2 | 3 => (
            4,
            bytes
                .get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
        ),
        v => {
            return Err(corrupt(format!(
                "unknown format version {v} (NumPy writes 1, 2 or 3)"
            )));
        }
    };
    let header_len =
        header_len.ok_or_else(|| truncated("the file ends inside the header length".to_owned()))?;
    if header_len > MAX_HEADER {
        return Err(corrupt(format!(
            "header length {header_len} bytes is implausible (at most {MAX_HEADER})"
        )));
    }
    let start = 8 + len_bytes + header_len;
    if bytes.len() < start {
        return Err(truncated(format!(
            "the header announces {header_len} bytes but only {} follow",
            bytes.len() - (8 + len_bytes).min(bytes.len())
        )));
    }
    if nesting(&bytes[8 + len_bytes..start]) > MAX_NESTING {
        return Err(corrupt(format!(
            "header nests deeper than {MAX_NESTING} levels"
        )));
    }
    Ok(start)
}

/// Deepest bracket nesting in a header (guards the recursive dict parser).
fn nesting(header: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for &b in header {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}
