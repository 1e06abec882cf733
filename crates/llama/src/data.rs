//! Reading a training corpus into a token stream.
//!
//! Contract: [`Corpus::load`] turns one file into the `Vec<u32>` of token ids
//! that [`crate::train::Batches::new`] splits (first 90% trains, last 10% is
//! held out); every id is `< vocab_size` of the model, or the load fails.
//!
//! Sources, chosen by extension (a trailing `.gz` means gzip) or set
//! explicitly with [`Corpus::with_format`] / [`Corpus::with_gzip`]:
//! - [`Format::Text`] (`.txt`, `.text`, `.md`): UTF-8 text;
//! - [`Format::JsonLines`] (`.jsonl`, `.json`, `.ndjson`): one JSON object a
//!   line with a string field `"text"` (C4's format); blank lines are
//!   skipped, the documents are joined by a blank line (`"\n\n"`), so a
//!   JSON-lines file gives the tokens of the text file holding the same
//!   documents separated by blank lines;
//! - [`Format::U16`] (`.u16`, `.bin`): pre-tokenized ids, little-endian u16,
//!   as [`write_u16`] writes them; the tokenizer is not used.
//!
//! Tokenizers ([`Tokenizer`]): the byte-level tokenizer (vocab 256, one token
//! per byte, the default), or a Hugging Face `tokenizer.json` read from a
//! local file (nothing is downloaded). Text is encoded without special
//! tokens, in line-aligned pieces of about [`ENCODE_PIECE_BYTES`], so a
//! token never spans a piece boundary, which is always just after a `'\n'`.
//!
//! Every failure is a [`DataError`] naming the file and the fix; bad input
//! never panics.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use thiserror::Error;

/// The default corpus, relative to the workspace root: CPython's reference
/// manual and standard-library docstrings (PSF licence, see data/README.md).
pub const DEFAULT_CORPUS: &str = "data/corpus/python-docs.txt.gz";

/// Vocab of the byte-level tokenizer.
pub const BYTE_VOCAB: usize = 256;

/// A Hugging Face tokenizer encodes text in line-aligned pieces of about
/// this many bytes (a piece ends at the first `'\n'` at or past it).
pub const ENCODE_PIECE_BYTES: usize = 1 << 20;

/// The default corpus file: `data/corpus/python-docs.txt.gz` under the
/// current directory if it exists there, else under the workspace root this
/// crate was built in (`CARGO_MANIFEST_DIR/../..`). Whether or not that file
/// exists, loading it names the path tried.
pub fn default_corpus_path() -> PathBuf {
    let here = PathBuf::from(DEFAULT_CORPUS);
    if here.is_file() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(DEFAULT_CORPUS)
}

/// Everything that can go wrong reading a corpus or a tokenizer.
#[derive(Debug, Error)]
pub enum DataError {
    #[error(
        "corpus file {path} not found: give the path of an existing .txt, .jsonl or .u16 file \
         (optionally .gz); the default corpus is {DEFAULT_CORPUS} in the workspace root"
    )]
    CorpusNotFound { path: PathBuf },

    #[error(
        "tokenizer file {path} not found: give the path of a local Hugging Face tokenizer.json"
    )]
    TokenizerNotFound { path: PathBuf },

    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "cannot decompress {path} as gzip ({source}): if the file is not gzipped, drop the .gz \
         extension or set gzip off"
    )]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "cannot tell the format of {path} from its extension: name it .txt, .jsonl or .u16/.bin \
         (optionally + .gz), or set the format explicitly (text, jsonl, u16)"
    )]
    UnknownFormat { path: PathBuf },

    #[error("unknown corpus format {given:?}: use one of text, jsonl, u16")]
    UnknownFormatName { given: String },

    #[error(
        "{path} holds {bytes} bytes, an odd count, so it is not a whole number of little-endian \
         u16 tokens (truncated?): re-export it, or set the format if it is not a u16 file"
    )]
    OddU16Length { path: PathBuf, bytes: u64 },

    #[error(
        "{path}: invalid UTF-8 at byte {offset} (line {line}) of the text: re-encode the file as \
         UTF-8, or pre-tokenize it to a .u16 file"
    )]
    InvalidUtf8 {
        path: PathBuf,
        offset: usize,
        line: usize,
    },

    #[error("{path}, line {line}: not a JSON object ({source}): each line must be one JSON object")]
    JsonSyntax {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    #[error(
        "{path}, line {line}: the JSON object has no string field \"text\": each line must look \
         like {{\"text\": \"...\"}} (C4's format)"
    )]
    JsonMissingText { path: PathBuf, line: usize },

    #[error("{path} gives no tokens: the corpus is empty; give a file with some text in it")]
    Empty { path: PathBuf },

    #[error(
        "{path}: token {token} at position {index} is not below the vocab size {vocab_size}: \
         use a model whose vocab_size exceeds every token id, or re-tokenize the corpus"
    )]
    TokenOutOfRange {
        path: PathBuf,
        index: usize,
        token: u32,
        vocab_size: usize,
    },

    #[error(
        "{tokenizer} has {tokenizer_vocab} token ids but the model's vocab_size is \
         {model_vocab}: raise the model's vocab_size to at least {tokenizer_vocab} or use a \
         smaller tokenizer"
    )]
    VocabTooLarge {
        tokenizer: String,
        tokenizer_vocab: usize,
        model_vocab: usize,
    },

    #[error("cannot read {path} as a Hugging Face tokenizer.json: {source}")]
    TokenizerParse {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },

    #[error("{tokenizer} failed to encode text from {path}: {source}")]
    Encode {
        tokenizer: String,
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },

    #[error(
        "cannot write token {token} at position {index} to the u16 file {path}: it exceeds 65535"
    )]
    TokenTooLargeForU16 {
        path: PathBuf,
        index: usize,
        token: u32,
    },
}

/// How a corpus file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 text.
    Text,
    /// One JSON object a line with a string field "text".
    JsonLines,
    /// Little-endian u16 token ids.
    U16,
}

impl Format {
    /// The format of `path` from its extension, with a trailing `.gz`
    /// ignored; `None` when the extension is not one of the known ones.
    pub fn from_path(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = Path::new(name).extension()?.to_str()?;
        match ext {
            "txt" | "text" | "md" => Some(Self::Text),
            "jsonl" | "json" | "ndjson" => Some(Self::JsonLines),
            "u16" | "bin" => Some(Self::U16),
            _ => None,
        }
    }
}

impl FromStr for Format {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "txt" => Ok(Self::Text),
            "jsonl" | "json" | "jsonlines" => Ok(Self::JsonLines),
            "u16" | "bin" => Ok(Self::U16),
            _ => Err(DataError::UnknownFormatName {
                given: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::JsonLines => "jsonl",
            Self::U16 => "u16",
        })
    }
}

/// Whether a path names a gzip file (`.gz`, any case).
fn has_gz_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

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
            Err(source) => return Err(DataError::Io { path, source }),
        };
        let inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|source| {
            DataError::TokenizerParse {
                path: path.clone(),
                source,
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
                        source: e,
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

/// One corpus file and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    path: PathBuf,
    format: Option<Format>,
    gzip: Option<bool>,
}

impl Corpus {
    /// The corpus at `path`; format and gzip follow the extension unless set.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            format: None,
            gzip: None,
        }
    }

    /// The default corpus ([`default_corpus_path`]).
    pub fn python_docs() -> Self {
        Self::new(default_corpus_path())
    }

    /// Reads the file as `format` whatever its extension.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// Decompresses the file as gzip (`true`) or not (`false`) whatever its
    /// extension.
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.gzip = Some(gzip);
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format it is read as: the one set, else the extension's.
    pub fn format(&self) -> Result<Format, DataError> {
        self.format
            .or_else(|| Format::from_path(&self.path))
            .ok_or_else(|| DataError::UnknownFormat {
                path: self.path.clone(),
            })
    }

    /// Whether it is decompressed: as set, else whether it ends in `.gz`.
    pub fn gzip(&self) -> bool {
        self.gzip.unwrap_or_else(|| has_gz_extension(&self.path))
    }

    /// The token stream of the file for a model of `vocab_size` tokens.
    ///
    /// Text and JSON lines are encoded with `tokenizer`, which must fit the
    /// model ([`Tokenizer::check_vocab`]); u16 files are taken as they are.
    /// Every id is checked `< vocab_size`, and an empty stream is an error.
    pub fn load(&self, tokenizer: &Tokenizer, vocab_size: usize) -> Result<Vec<u32>, DataError> {
        let format = self.format()?;
        if format != Format::U16 {
            tokenizer.check_vocab(vocab_size)?;
        }
        let bytes = self.read_bytes()?;
        let tokens = match format {
            Format::U16 => self.u16_tokens(&bytes)?,
            Format::Text => tokenizer.encode(self.utf8(&bytes)?, &self.path)?,
            Format::JsonLines => {
                let text = self.json_lines_text(self.utf8(&bytes)?)?;
                tokenizer.encode(&text, &self.path)?
            }
        };
        if tokens.is_empty() {
            return Err(DataError::Empty {
                path: self.path.clone(),
            });
        }
        if let Some((index, &token)) = tokens
            .iter()
            .enumerate()
            .find(|&(_, &t)| t as usize >= vocab_size)
        {
            return Err(DataError::TokenOutOfRange {
                path: self.path.clone(),
                index,
                token,
                vocab_size,
            });
        }
        Ok(tokens)
    }

    /// The file's bytes, decompressed if gzip.
    fn read_bytes(&self) -> Result<Vec<u8>, DataError> {
        let raw = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::CorpusNotFound {
                    path: self.path.clone(),
                });
            }
            Err(source) => {
                return Err(DataError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        if !self.gzip() {
            return Ok(raw);
        }
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|source| DataError::Gzip {
                path: self.path.clone(),
                source,
            })?;
        Ok(out)
    }

    fn utf8<'a>(&self, bytes: &'a [u8]) -> Result<&'a str, DataError> {
        std::str::from_utf8(bytes).map_err(|e| {
            let offset = e.valid_up_to();
            let line = 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count();
            DataError::InvalidUtf8 {
                path: self.path.clone(),
                offset,
                line,
            }
        })
    }

    fn u16_tokens(&self, bytes: &[u8]) -> Result<Vec<u32>, DataError> {
        if !bytes.len().is_multiple_of(2) {
            return Err(DataError::OddU16Length {
                path: self.path.clone(),
                bytes: bytes.len() as u64,
            });
        }
        Ok(bytes
            .chunks_exact(2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
            .collect())
    }

    /// The "text" fields of the non-blank lines, joined by "\n\n".
    fn json_lines_text(&self, text: &str) -> Result<String, DataError> {
        let mut out = String::with_capacity(text.len());
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|source| DataError::JsonSyntax {
                    path: self.path.clone(),
                    line: i + 1,
                    source,
                })?;
            let doc = value.get("text").and_then(|t| t.as_str()).ok_or_else(|| {
                DataError::JsonMissingText {
                    path: self.path.clone(),
                    line: i + 1,
                }
            })?;
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(doc);
        }
        Ok(out)
    }
}

/// Writes `tokens` to `path` as little-endian u16, the [`Format::U16`]
/// layout; fails on an id above 65535.
pub fn write_u16(path: impl AsRef<Path>, tokens: &[u32]) -> Result<(), DataError> {
    let path = path.as_ref();
    let mut bytes = Vec::with_capacity(2 * tokens.len());
    for (index, &token) in tokens.iter().enumerate() {
        let t = u16::try_from(token).map_err(|_| DataError::TokenTooLargeForU16 {
            path: path.to_path_buf(),
            index,
            token,
        })?;
        bytes.extend_from_slice(&t.to_le_bytes());
    }
    std::fs::write(path, bytes).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}
