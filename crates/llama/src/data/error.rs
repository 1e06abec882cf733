//! Every failure of reading a corpus or a tokenizer, each naming the file
//! and the fix.
//!
//! An underlying error (I/O, gzip, JSON, tokenizer) is part of the message
//! and not an error `source`, so a chain printed with `{:#}` names it once.

use std::path::PathBuf;

use thiserror::Error;

use super::corpus::DEFAULT_CORPUS;

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

    #[error("cannot read {path}: {cause}; {}", io_fix(cause))]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error(
        "cannot decompress {path} as gzip ({cause}): a name ending in .gz means gzip; if the \
         file is not gzipped, rename it without the .gz extension, and if it is, compress it \
         again with `gzip` (it may be damaged or cut short)"
    )]
    Gzip {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error(
        "{path} inflates to more than {cap} bytes, the cap on a corpus ({why}); use a smaller \
         corpus or set LAB_MEMORY_BUDGET higher"
    )]
    TooLarge {
        path: PathBuf,
        cap: usize,
        why: String,
    },

    #[error(
        "cannot tell the format of {path} from its extension: name it .txt, .jsonl or .u16/.bin \
         (optionally + .gz): the format is read from the extension"
    )]
    UnknownFormat { path: PathBuf },

    #[error("unknown corpus format {given:?}: use one of text, jsonl, u16")]
    UnknownFormatName { given: String },

    #[error(
        "{path} holds {bytes} bytes, an odd count, so it is not a whole number of little-endian \
         u16 tokens (truncated?): re-export it, or if it is not a u16 file, rename it with its \
         format's extension (.txt or .jsonl)"
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

    #[error("{path}, line {line}: not a JSON object ({cause}): each line must be one JSON object")]
    JsonSyntax {
        path: PathBuf,
        line: usize,
        cause: serde_json::Error,
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

    #[error(
        "cannot read {path} as a Hugging Face tokenizer.json: {cause}; give the tokenizer.json \
         that `tokenizer.save(path)` or `save_pretrained` writes"
    )]
    TokenizerParse {
        path: PathBuf,
        cause: tokenizers::Error,
    },

    #[error(
        "{tokenizer} failed to encode text from {path}: {cause}; check that the tokenizer \
         loads and encodes text in Python (`Tokenizer.from_file(...).encode(...)`)"
    )]
    Encode {
        tokenizer: String,
        path: PathBuf,
        cause: tokenizers::Error,
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

/// The fix for a read of a corpus or tokenizer that failed with `e`.
fn io_fix(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "check the path (a relative path is resolved from where `lab` runs)"
        }
        std::io::ErrorKind::PermissionDenied => "make the file readable (check its permissions)",
        std::io::ErrorKind::IsADirectory => "name a file, not a directory",
        std::io::ErrorKind::OutOfMemory => {
            "the file (inflated, if gzip) does not fit in memory: free memory, or use a smaller \
             corpus"
        }
        _ => "check that the file is readable",
    }
}
