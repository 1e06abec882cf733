//! A minimal NumPy `.npy` (format 1.0) writer for little-endian f32 arrays
//! in C order, so that the PyTorch peers time the very matrices the Rust
//! benchmark uses.

use faer::MatRef;
use std::io::{self, Write};

/// Writes the header of a C-order `<f4` array of `shape`.
fn header(out: &mut impl Write, shape: &[usize]) -> io::Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + dict + '\n', padded to 64.
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(dict.len() as u16).to_le_bytes())?;
    out.write_all(dict.as_bytes())
}

/// Writes matrices of one shape m×n as a (len, m, n) array, or a single one
/// as (m, n) when `squeeze` and there is exactly one.
pub fn write_stack(
    path: &std::path::Path,
    mats: &[MatRef<'_, f32>],
    squeeze: bool,
) -> io::Result<()> {
    let (m, n) = mats.first().map_or((0, 0), |a| a.shape());
    assert!(
        mats.iter().all(|a| a.shape() == (m, n)),
        "a stack needs matrices of one shape"
    );
    let mut out = io::BufWriter::new(std::fs::File::create(path)?);
    if squeeze && mats.len() == 1 {
        header(&mut out, &[m, n])?;
    } else {
        header(&mut out, &[mats.len(), m, n])?;
    }
    let mut row = Vec::with_capacity(4 * n);
    for a in mats {
        for i in 0..m {
            row.clear();
            for j in 0..n {
                row.extend_from_slice(&a[(i, j)].to_le_bytes());
            }
            out.write_all(&row)?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_aligned_and_data_is_c_order() {
        let a = faer::Mat::<f32>::from_fn(2, 3, |i, j| (10 * i + j) as f32);
        let dir = std::env::temp_dir().join(format!("npy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.npy");
        write_stack(&path, &[a.as_ref()], true).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
        assert!(header.contains("'shape': (2, 3)"), "{header}");
        let data: Vec<f32> = bytes[10 + hlen..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(data, vec![0.0, 1.0, 2.0, 10.0, 11.0, 12.0]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
