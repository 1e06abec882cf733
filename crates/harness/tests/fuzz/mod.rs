//! Seeded mutations of valid files for the reader fuzz test: a ChaCha8
//! stream from a fixed seed, so every run tries the same cases in the same
//! order. Each mutation comes with a description (printed before the case
//! runs, so a panic or an abort names the case that caused it).
#![allow(dead_code)]

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Numbers put in place of a number of a header or text: zero, the edges of
/// the integer types, shapes like 10¹², negatives, non-finite floats.
pub const HUGE: &[&str] = &[
    "0",
    "1",
    "3",
    "65536",
    "4294967296",
    "1000000000000",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "100000000000000000000000000000",
    "-1",
    "1e308",
    "-0.0",
    "nan",
    "inf",
];

/// 8-byte little-endian values put over 8 bytes of a binary file (a
/// safetensors length prefix, an npy header length and its neighbours).
pub const HUGE_U64: &[u64] = &[0, 1, u64::MAX, u64::MAX - 7, 1 << 31, 1 << 40, 100_000_001];

/// A seeded stream of mutations.
pub struct Mutator {
    rng: ChaCha8Rng,
}

impl Mutator {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A uniform index below `n` (> 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn byte(&mut self) -> u8 {
        self.rng.random_range(0..=255u8)
    }

    /// A position in `0..=len`, half the time within the first `head` bytes
    /// (where the headers are).
    fn position(&mut self, len: usize, head: usize) -> usize {
        let bound = if head > 0 && self.below(2) == 0 {
            head.min(len)
        } else {
            len
        };
        self.rng.random_range(0..=bound)
    }

    /// A raw mutation of `bytes`: bit flips, an insertion, a deletion, a
    /// truncation, or 8 bytes overwritten with a [`HUGE_U64`] value; positions
    /// favour the first `head` bytes.
    pub fn bytes(&mut self, bytes: &[u8], head: usize) -> (Vec<u8>, String) {
        let mut out = bytes.to_vec();
        let len = out.len();
        let desc = match self.below(5) {
            0 if len > 0 => {
                let mut at = Vec::new();
                for _ in 0..1 + self.below(3) {
                    let i = self.position(len - 1, head);
                    let bit = self.below(8);
                    out[i] ^= 1 << bit;
                    at.push(format!("{i}.{bit}"));
                }
                format!("bit flips at {}", at.join(", "))
            }
            1 => {
                let at = self.position(len, head);
                let n = 1 + self.below(16);
                let new: Vec<u8> = (0..n).map(|_| self.byte()).collect();
                out.splice(at..at, new);
                format!("{n} bytes inserted at {at}")
            }
            2 if len > 0 => {
                let at = self.position(len - 1, head);
                let n = (1 + self.below(16)).min(len - at);
                out.drain(at..at + n);
                format!("{n} bytes deleted at {at}")
            }
            4 if len >= 8 => {
                let at = self.position(len - 8, head);
                let v = *self.pick(HUGE_U64);
                out[at..at + 8].copy_from_slice(&v.to_le_bytes());
                format!("u64 {v} written at {at}")
            }
            _ => {
                let at = self.position(len, head);
                out.truncate(at);
                format!("truncated at {at} of {len}")
            }
        };
        (out, desc)
    }

    /// A mutation of text (a header's or a file's): a number replaced with a
    /// [`HUGE`] value, a word replaced with one of its `words` alternatives,
    /// or a raw mutation of the bytes.
    pub fn text(&mut self, text: &[u8], words: &[(&str, &[&str])]) -> (Vec<u8>, String) {
        match self.below(3) {
            0 => {
                let runs = number_runs(text);
                if runs.is_empty() {
                    return self.bytes(text, 0);
                }
                let (a, b) = *self.pick(&runs);
                let to = *self.pick(HUGE);
                let mut out = text[..a].to_vec();
                out.extend_from_slice(to.as_bytes());
                out.extend_from_slice(&text[b..]);
                let from = String::from_utf8_lossy(&text[a..b]).into_owned();
                (out, format!("number `{from}` at {a} → `{to}`"))
            }
            1 => {
                let present: Vec<&(&str, &[&str])> = words
                    .iter()
                    .filter(|(w, _)| find(text, w.as_bytes()).is_some())
                    .collect();
                if present.is_empty() {
                    return self.bytes(text, 0);
                }
                let (word, alternatives) = **self.pick(&present);
                let to = *self.pick(alternatives);
                let a = find(text, word.as_bytes()).unwrap_or(0);
                let mut out = text[..a].to_vec();
                out.extend_from_slice(to.as_bytes());
                out.extend_from_slice(&text[a + word.len()..]);
                (out, format!("word `{word}` at {a} → `{to}`"))
            }
            _ => self.bytes(text, 0),
        }
    }
}

/// (start, end) of every run of ASCII digits.
fn number_runs(text: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() {
            let a = i;
            while i < text.len() && text[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((a, i));
        } else {
            i += 1;
        }
    }
    runs
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An npy file around the header dict `dict` (version 1, or 2 when the dict
/// is over 65 535 bytes) and `data`, framed consistently: what the header
/// says is then all that is wrong.
pub fn frame_npy(dict: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY".to_vec();
    match u16::try_from(dict.len()) {
        Ok(n) => {
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Err(_) => {
            out.extend_from_slice(&[2, 0]);
            out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        }
    }
    out.extend_from_slice(dict);
    out.extend_from_slice(data);
    out
}

/// A safetensors file around the JSON header `header` and `data`, with the
/// length prefix that matches the header.
pub fn frame_st(header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(data);
    out
}

/// The data after a re-framed header: as it was, cut at a random point, or
/// with random bytes appended.
pub fn reshaped_data(m: &mut Mutator, data: &[u8]) -> (Vec<u8>, &'static str) {
    match m.below(4) {
        0 => (data[..m.below(data.len() + 1)].to_vec(), "data cut"),
        1 => {
            let mut d = data.to_vec();
            for _ in 0..1 + m.below(64) {
                d.push(m.byte());
            }
            (d, "data extended")
        }
        _ => (data.to_vec(), "data kept"),
    }
}

/// Systematic mutations of `bytes`: a truncation at every offset (every
/// `len / 256`-th for longer files) and each [`HUGE_U64`] written over the
/// first 8 bytes and over bytes 8..16.
pub fn sweep(bytes: &[u8]) -> Vec<(Vec<u8>, String)> {
    let stride = (bytes.len() / 256).max(1);
    let mut out: Vec<(Vec<u8>, String)> = (0..bytes.len())
        .step_by(stride)
        .map(|at| {
            (
                bytes[..at].to_vec(),
                format!("truncated at {at} of {}", bytes.len()),
            )
        })
        .collect();
    for at in [0, 8] {
        for v in HUGE_U64 {
            if bytes.len() >= at + 8 {
                let mut b = bytes.to_vec();
                b[at..at + 8].copy_from_slice(&v.to_le_bytes());
                out.push((b, format!("u64 {v} written at {at}")));
            }
        }
    }
    out
}
