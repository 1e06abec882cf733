//! Text to token ids: the byte-level tokenizer (vocab 256, the default) or
//! a Hugging Face `tokenizer.json` read from a local file.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::DataError;

/// Vocab of the byte-level tokenizer.
pub const BYTE_VOCAB: usize = 256;

/// A Hugging Face tokenizer encodes text in line-aligned pieces of about
/// this many bytes (a piece ends at the first `'\n'` at or past it).
pub const ENCODE_PIECE_BYTES: usize = 1 << 20;

/// Text to token ids.
#[derive(Default)]
pub enum Tokenizer {
    /// One token per byte, ids 0..256.
    #[default]
    Bytes,
    /// A Hugging Face tokenizer read from a local `tokenizer.json`.
    HuggingFace {
        /// The file it was read from (named in errors).
        path: PathBuf,
        /// The tokenizer.
        inner: Box<tokenizers::Tokenizer>,
        /// One past the largest id, added tokens included.
        vocab_size: usize,
    },
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes => f.write_str("Tokenizer::Bytes"),
            Self::HuggingFace {
                path, vocab_size, ..
            } => f
                .debug_struct("Tokenizer::HuggingFace")
                .field("path", path)
                .field("vocab_size", vocab_size)
                .finish_non_exhaustive(),
        }
    }
}

impl Tokenizer {
    /// Reads a Hugging Face `tokenizer.json` from a local file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, DataError> {
        let path = path.as_ref().to_path_buf();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::TokenizerNotFound { path });
            }
            Err(cause) => return Err(DataError::Io { path, cause }),
        };
        let inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|cause| {
            DataError::TokenizerParse {
                path: path.clone(),
                cause,
            }
        })?;
        let vocab_size = inner
            .get_vocab(true)
            .values()
            .map(|&id| id as usize + 1)
            .max()
            .unwrap_or(0);
        Ok(Self::HuggingFace {
            path,
            inner: Box::new(inner),
            vocab_size,
        })
    }

    /// Number of token ids: one past the largest id it can produce.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Bytes => BYTE_VOCAB,
            Self::HuggingFace { vocab_size, .. } => *vocab_size,
        }
    }

    /// What messages call it: the byte-level tokenizer, or the file.
    pub fn name(&self) -> String {
        match self {
            Self::Bytes => "the byte-level tokenizer".to_owned(),
            Self::HuggingFace { path, .. } => format!("tokenizer {}", path.display()),
        }
    }

    /// Fails with [`DataError::VocabTooLarge`] when this tokenizer can give
    /// an id that a model of `model_vocab` tokens has no embedding for.
    pub fn check_vocab(&self, model_vocab: usize) -> Result<(), DataError> {
        if self.vocab_size() > model_vocab {
            return Err(DataError::VocabTooLarge {
                tokenizer: self.name(),
                tokenizer_vocab: self.vocab_size(),
                model_vocab,
            });
        }
        Ok(())
    }

    /// Token ids of `text`, no special tokens added; `source` names the
    /// file the text came from in errors.
    pub fn encode(&self, text: &str, source: &Path) -> Result<Vec<u32>, DataError> {
        match self {
            Self::Bytes => Ok(text.bytes().map(u32::from).collect()),
            Self::HuggingFace { inner, .. } => {
                let mut ids = Vec::new();
                for piece in line_aligned_pieces(text, ENCODE_PIECE_BYTES) {
                    let enc = inner.encode(piece, false).map_err(|e| DataError::Encode {
                        tokenizer: self.name(),
                        path: source.to_path_buf(),
                        cause: e,
                    })?;
                    ids.extend_from_slice(enc.get_ids());
                }
                Ok(ids)
            }
        }
    }
}

/// `text` cut just after the first `'\n'` at or past every `size` bytes.
fn line_aligned_pieces(text: &str, size: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = if rest.len() <= size {
            rest.len()
        } else {
            rest.as_bytes()[size..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |p| size + p + 1)
        };
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        Some(piece)
    })
}

/// The byte-level tokenizer as a function: one token per byte (vocab 256).
pub fn encode_bytes(text: &[u8]) -> Vec<u32> {
    text.iter().map(|&x| u32::from(x)).collect()
}
