//! `.safetensors` reader: the 8-byte little-endian header length, a JSON header
//! `{name: {dtype, shape, data_offsets}, "__metadata__": {..}}`, then the
//! row-major tensor bytes (little-endian), exactly as `safetensors.torch.save_file`
//! and `safetensors.numpy.save_file` write them.
//!
//! The format has no magic number; a file is taken for safetensors when its
//! header length is plausible (at most 100 MB, the `safetensors` crate's limit)
//! and its header starts with `{`. Truncation is told apart from corruption
//! by comparing the data the header announces with the bytes that follow it.
//!
//! The header is checked before the data is read: the length prefix and the
//! header's first byte from the file's first 9 bytes, then the header alone
//! (read once its length is known to lie within the file) with the crate's
//! own validation (dtype names, shapes × dtypes against `data_offsets`,
//! offsets contiguous, no overflow), and the data it announces against the
//! file's length. Only a file that passes is read whole.

use std::path::Path;

use half::{bf16, f16};
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use super::file::MatrixFile;
use super::{Loaded, NamedMatrix, Order, SourceError, Tensors, build_matrix, matrix_shape};

const FORMAT: &str = "safetensors";
/// The `safetensors` crate refuses headers above this size.
const MAX_HEADER: u64 = 100_000_000;

/// Appends the selected matrices of `file` to `out`.
pub(super) fn read(
    file: &mut MatrixFile<'_>,
    tensors: &Tensors,
    out: &mut Loaded,
) -> Result<(), SourceError> {
    let path = file.path;
    let n = check_framing(path, &file.prefix(9)?, file.len)?;
    check_header(path, &file.prefix(8 + n)?, file.len)?;
    let bytes = file.whole()?;
    let bytes = bytes.as_slice();
    let st = SafeTensors::deserialize(bytes).map_err(|e| classify(path, bytes, file.len, e))?;

    let mut names: Vec<String> = st.names().into_iter().map(str::to_owned).collect();
    names.sort();
    if names.is_empty() {
        return Err(SourceError::NoTensors {
            path: path.to_owned(),
        });
    }
    let selected: Vec<&String> = match tensors {
        Tensors::All => names.iter().collect(),
        Tensors::Glob(p) => names.iter().filter(|n| p.matches(n)).collect(),
        Tensors::Name(n) => names.iter().filter(|m| *m == n).collect(),
    };
    let wanted = match tensors {
        Tensors::All => None,
        Tensors::Glob(p) => Some(format!("matches the glob `{}`", p.as_str())),
        Tensors::Name(n) => Some(format!("is named `{n}`")),
    };
    if let (true, Some(wanted)) = (selected.is_empty(), wanted) {
        return Err(SourceError::NoTensor {
            path: path.to_owned(),
            wanted,
            available: names,
        });
    }
    let strict = matches!(tensors, Tensors::Name(_));

    for name in selected {
        let view = st
            .tensor(name)
            .map_err(|e| classify(path, bytes, file.len, e))?;
        let Some((rows, cols)) = matrix_shape(path, name, view.shape(), strict, &mut out.notes)?
        else {
            continue;
        };
        let data = to_f32(path, name, view.dtype(), view.data())?;
        if data.len() != rows * cols {
            return Err(SourceError::Corrupt {
                path: path.to_owned(),
                format: FORMAT,
                detail: format!(
                    "tensor `{name}` has shape [{rows}, {cols}] but holds {} values",
                    data.len()
                ),
            });
        }
        let matrix = build_matrix(path, name, rows, cols, &data, Order::RowMajor)?;
        out.matrices.push(NamedMatrix {
            source: path.to_owned(),
            name: name.clone(),
            matrix,
        });
    }
    Ok(())
}

/// Converts little-endian tensor bytes of a float dtype to f32.
fn to_f32(path: &Path, tensor: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, SourceError> {
    Ok(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(SourceError::UnsupportedDtype {
                path: path.to_owned(),
                tensor: tensor.to_owned(),
                dtype: format!("{other:?}"),
            });
        }
    })
}

/// The checks the format allows before parsing, on the file's first bytes
/// (`bytes`, at most 9) and its length `len`: the length prefix and the
/// header's start. Returns the header's length, which lies within the file.
fn check_framing(path: &Path, bytes: &[u8], len: u64) -> Result<usize, SourceError> {
    let Some(prefix) = bytes.first_chunk::<8>() else {
        return Err(SourceError::Truncated {
            path: path.to_owned(),
            detail: format!(
                "{len} bytes, fewer than the 8-byte header length that starts a safetensors file",
            ),
        });
    };
    let n = u64::from_le_bytes(*prefix);
    let wrong = |detail: String| SourceError::WrongMagic {
        path: path.to_owned(),
        format: FORMAT,
        detail,
    };
    if n > MAX_HEADER {
        return Err(wrong(format!(
            "its first 8 bytes give a header length of {n} bytes (at most {MAX_HEADER} is \
             plausible); a safetensors file starts with a little-endian u64 header length, then \
             a JSON header"
        )));
    }
    if n == 0 {
        return Err(wrong(
            "its header length is 0; a JSON header must follow".to_owned(),
        ));
    }
    if let Some(&first) = bytes.get(8)
        && first != b'{'
    {
        return Err(wrong(format!(
            "its header starts with byte 0x{first:02x}, not `{{` (a JSON object)"
        )));
    }
    let have = len - 8;
    if have < n {
        return Err(SourceError::Truncated {
            path: path.to_owned(),
            detail: format!("the header announces {n} bytes of JSON but only {have} follow"),
        });
    }
    // n ≤ MAX_HEADER, so it fits in a usize.
    Ok(n as usize)
}

/// Validates the header (`head`: the length prefix and the header, nothing
/// after) as the crate does, and the data it announces against the file's
/// length `len`, before any tensor byte is read.
fn check_header(path: &Path, head: &[u8], len: u64) -> Result<(), SourceError> {
    match SafeTensors::read_metadata(head) {
        // A header announcing no data: the file must end with it.
        Ok(_) if len == head.len() as u64 => Ok(()),
        // A valid header whose data does not follow it in `head`.
        Ok(_) | Err(SafeTensorError::MetadataIncompleteBuffer) => match data_extent(head, len) {
            Some((declared, have)) if declared == have => Ok(()),
            _ => Err(classify(
                path,
                head,
                len,
                SafeTensorError::MetadataIncompleteBuffer,
            )),
        },
        Err(e) => Err(classify(path, head, len, e)),
    }
}

/// Turns a `safetensors` error into a [`SourceError`], telling truncation
/// apart; `bytes` hold at least the length prefix and the header of a file
/// of `len` bytes.
fn classify(path: &Path, bytes: &[u8], len: u64, err: SafeTensorError) -> SourceError {
    if let SafeTensorError::MetadataIncompleteBuffer = err
        && let Some((declared, have)) = data_extent(bytes, len)
    {
        if have < declared {
            return SourceError::Truncated {
                path: path.to_owned(),
                detail: format!(
                    "the header announces {declared} bytes of tensor data but only {have} follow"
                ),
            };
        }
        return SourceError::Corrupt {
            path: path.to_owned(),
            format: FORMAT,
            detail: format!(
                "{} unexpected bytes after the {declared} bytes of tensor data",
                have - declared
            ),
        };
    }
    let detail = match &err {
        SafeTensorError::TensorInvalidInfo
        | SafeTensorError::InvalidOffset(_)
        | SafeTensorError::ValidationOverflow => culprit(bytes).unwrap_or_else(|| err.to_string()),
        _ => err.to_string(),
    };
    SourceError::Corrupt {
        path: path.to_owned(),
        format: FORMAT,
        detail,
    }
}

/// The first tensor of the header whose `data_offsets` disagree with its
/// shape and dtype, or with where the previous tensor ends, said in words.
fn culprit(bytes: &[u8]) -> Option<String> {
    let n = u64::from_le_bytes(*bytes.first_chunk::<8>()?);
    let stop = usize::try_from(n).ok()?.checked_add(8)?;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(8..stop)?).ok()?;
    // (begin, end, name, dtype, shape)
    let mut entries: Vec<(u64, u64, &str, &str, Vec<u64>)> = Vec::new();
    for (name, v) in header.as_object()? {
        if name == "__metadata__" {
            continue;
        }
        let offsets = v.get("data_offsets")?.as_array()?;
        let (Some(begin), Some(end)) = (offsets.first()?.as_u64(), offsets.get(1)?.as_u64()) else {
            return Some(format!(
                "tensor `{name}` has data_offsets that are not two integers"
            ));
        };
        let shape = v.get("shape")?.as_array()?;
        let shape: Vec<u64> = shape.iter().filter_map(serde_json::Value::as_u64).collect();
        entries.push((begin, end, name, v.get("dtype")?.as_str()?, shape));
    }
    entries.sort();
    let mut previous_end = 0u64;
    for (begin, end, name, dtype, shape) in entries {
        if begin != previous_end || end < begin {
            return Some(format!(
                "tensor `{name}` has data_offsets [{begin}, {end}], but its data should start at \
                 byte {previous_end} (where the previous tensor ends)"
            ));
        }
        let width: u64 = match dtype {
            "F64" | "I64" | "U64" => 8,
            "F32" | "I32" | "U32" => 4,
            "F16" | "BF16" | "I16" | "U16" => 2,
            _ => 1,
        };
        let need = shape
            .iter()
            .try_fold(width, |acc, &d| acc.checked_mul(d))
            .map_or("more than 2^64".to_owned(), |b| b.to_string());
        if need != (end - begin).to_string() {
            return Some(format!(
                "tensor `{name}` has shape {shape:?} of {dtype}, which needs {need} bytes, but \
                 its data_offsets [{begin}, {end}] hold {} bytes",
                end - begin
            ));
        }
        previous_end = end;
    }
    None
}

/// (bytes of tensor data the header announces, bytes after the header in a
/// file of `len` bytes), when the header parses as JSON.
fn data_extent(bytes: &[u8], len: u64) -> Option<(u64, u64)> {
    let n = u64::from_le_bytes(*bytes.first_chunk::<8>()?);
    let stop = usize::try_from(n).ok()?.checked_add(8)?;
    let header: serde_json::Value = serde_json::from_slice(bytes.get(8..stop)?).ok()?;
    let declared = header
        .as_object()?
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .filter_map(|(_, v)| v.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    Some((declared, len.checked_sub(stop as u64)?))
}
