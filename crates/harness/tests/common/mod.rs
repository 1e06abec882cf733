//! File writers shared by the source tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use harness::source::SourceError;
use npyz::WriterBuilder;
use safetensors::{Dtype, tensor::TensorView};

/// A tensor to serialize: name, dtype, shape, little-endian bytes.
pub type Tensor<'a> = (&'a str, Dtype, Vec<usize>, Vec<u8>);

/// Writes a `.safetensors` file with the `safetensors` crate's serializer.
pub fn write_st(path: &Path, tensors: &[Tensor]) {
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta = HashMap::from([("format".to_owned(), "pt".to_owned())]);
    safetensors::serialize_to_file(views, Some(meta), path).unwrap();
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes a `.npy` file with npyz's writer; `data` in the storage order `order`.
pub fn write_npy<T: npyz::AutoSerialize + Clone>(
    path: &Path,
    shape: &[u64],
    order: npyz::Order,
    data: &[T],
) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .order(order)
        .writer(file)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().cloned()).unwrap();
    w.finish().unwrap();
}

/// The bytes of a version-1 `.npy` file written by hand, as NumPy lays it out
/// (header padded with spaces and a newline to a multiple of 64 bytes).
pub fn hand_npy(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
    let order = if fortran { "True" } else { "False" };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

/// The error's message names `path`; returns the message.
#[track_caller]
pub fn names_file(err: &SourceError, path: &Path) -> String {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name {}: {msg}",
        path.display()
    );
    msg
}
