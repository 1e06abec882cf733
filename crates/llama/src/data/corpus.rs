//! Corpus files: their formats (text, JSON lines, u16 tokens; gzipped or
//! not) and the token stream of one file for a model's vocab.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::DataError;
use super::tokenizer::Tokenizer;

/// The default corpus, relative to the workspace root: CPython's reference
/// manual and standard-library docstrings (PSF licence, see data/README.md).
pub const DEFAULT_CORPUS: &str = "data/corpus/python-docs.txt.gz";

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

/// The share of the memory budget a gzip corpus may inflate to: 1 / this
/// (the bytes plus at most one 4-byte token per byte).
const GZIP_SHARE: usize = 5;

/// One corpus file and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    path: PathBuf,
    format: Option<Format>,
    gzip: Option<bool>,
    max_bytes: Option<usize>,
}

impl Corpus {
    /// The corpus at `path`; format and gzip follow the extension unless set.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            format: None,
            gzip: None,
            max_bytes: None,
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

    /// Refuses a gzip file that inflates to more than `cap` bytes (it is
    /// inflated as a stream and stops at the cap). Default: a fifth of the
    /// memory budget (`subspace::budget::MemoryBudget::from_machine`), since
    /// the inflated bytes and their tokens live together: at most one u32
    /// token per byte, 4 bytes beside each inflated byte.
    pub fn with_max_bytes(mut self, cap: usize) -> Self {
        self.max_bytes = Some(cap);
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
            Err(cause) => {
                return Err(DataError::Io {
                    path: self.path.clone(),
                    cause,
                });
            }
        };
        if !self.gzip() {
            return Ok(raw);
        }
        let (cap, why) = match self.max_bytes {
            Some(cap) => (cap, "as set".to_string()),
            None => {
                let (budget, source) = match subspace::budget::MemoryBudget::from_machine() {
                    Ok(b) => (b.bytes, format!("the memory budget: {}", b.source)),
                    Err(why) => (subspace::budget::DEFAULT_BUDGET, why),
                };
                (
                    budget / GZIP_SHARE,
                    format!(
                        "a fifth of {source}, as the inflated bytes and their tokens \
                         (4 bytes each) live together"
                    ),
                )
            }
        };
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .take(cap as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|cause| match cause.kind() {
                // Not a gzip problem: said as what it is.
                std::io::ErrorKind::OutOfMemory => DataError::Io {
                    path: self.path.clone(),
                    cause,
                },
                _ => DataError::Gzip {
                    path: self.path.clone(),
                    cause,
                },
            })?;
        if out.len() > cap {
            return Err(DataError::TooLarge {
                path: self.path.clone(),
                cap,
                why,
            });
        }
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
                serde_json::from_str(line).map_err(|cause| DataError::JsonSyntax {
                    path: self.path.clone(),
                    line: i + 1,
                    cause,
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
    std::fs::write(path, bytes).map_err(|cause| DataError::Io {
        path: path.to_path_buf(),
        cause,
    })
}
