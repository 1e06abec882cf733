//! A training corpus as a token stream, and the batches drawn from it.
//!
//! Contract: [`Corpus::load`] turns one file into the `Vec<u32>` of token ids
//! that [`Batches::new`] splits (first 90% trains, last 10% is held out);
//! every id is `< vocab_size` of the model, or the load fails. A batch is a
//! function of (seed, step, B, T) only.
//!
//! - [`corpus`]: the file formats and [`Corpus::load`];
//! - [`tokenizer`]: bytes or a Hugging Face `tokenizer.json`;
//! - [`batches`]: seeded (tokens, targets) windows, train and held-out;
//! - [`error`]: every failure, [`DataError`].
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

pub mod batches;
pub mod corpus;
pub mod error;
pub mod tokenizer;

pub use batches::Batches;
pub use corpus::{Corpus, DEFAULT_CORPUS, Format, default_corpus_path, write_u16};
pub use error::DataError;
pub use tokenizer::{BYTE_VOCAB, ENCODE_PIECE_BYTES, Tokenizer, encode_bytes};
