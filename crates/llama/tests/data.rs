//! Corpus reading: every source kind round-trips, every bad input gives its
//! named error (with the file in the message), the default corpus has the
//! size data/README.md states, and a hand-written tokenizer.json encodes as
//! expected.

use std::io::Write;
use std::path::{Path, PathBuf};

use llama::data::{
    BYTE_VOCAB, Batches, Corpus, DataError, Format, Tokenizer, default_corpus_path, encode_bytes,
    write_u16,
};
use sha2::{Digest, Sha256};

/// The default corpus as data/README.md states it.
const CORPUS_BYTES: usize = 2_661_264;
const CORPUS_SHA256: &str = "ea01d37a3cb76b385045d5cb8a745d1734af1feaf93cbd9b80408b228b5f1f45";

const TEXT: &str = "The cat sat.\nOn the mat, café ☕.\n";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn load(path: &Path) -> Result<Vec<u32>, DataError> {
    Corpus::new(path).load(&Tokenizer::Bytes, BYTE_VOCAB)
}

/// The error's message names the file.
#[track_caller]
fn names_file(err: &DataError, path: &Path) {
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name {}: {msg}",
        path.display()
    );
}

#[test]
fn text_round_trips_plain_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let want = encode_bytes(TEXT.as_bytes());
    let plain = write(dir.path(), "a.txt", TEXT.as_bytes());
    let packed = write(dir.path(), "a.txt.gz", &gzip(TEXT.as_bytes()));
    assert_eq!(load(&plain).unwrap(), want);
    assert_eq!(load(&packed).unwrap(), want);
    assert_eq!(Corpus::new(&packed).format().unwrap(), Format::Text);
    assert!(Corpus::new(&packed).gzip());
    assert!(!Corpus::new(&plain).gzip());
}

#[test]
fn json_lines_round_trip_as_blank_line_separated_text() {
    let dir = tempfile::tempdir().unwrap();
    let lines = concat!(
        r#"{"text": "first doc\nline two", "url": "x", "timestamp": "2019"}"#,
        "\n\n",
        r#"{"text": "second \u00e9 doc"}"#,
        "\r\n",
        r#"{"url": "y", "text": "third"}"#,
        "\n",
    );
    let want = encode_bytes("first doc\nline two\n\nsecond é doc\n\nthird".as_bytes());
    let plain = write(dir.path(), "c4.jsonl", lines.as_bytes());
    let packed = write(
        dir.path(),
        "c4-train.00000-of-01024.json.gz",
        &gzip(lines.as_bytes()),
    );
    assert_eq!(load(&plain).unwrap(), want);
    assert_eq!(load(&packed).unwrap(), want);
}

#[test]
fn u16_round_trips_plain_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = vec![0, 1, 255, 256, 31999, 65535, 7];
    for name in ["t.u16", "t.bin", "T.U16"] {
        let path = dir.path().join(name);
        write_u16(&path, &tokens).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            2 * tokens.len() as u64
        );
        let got = Corpus::new(&path).load(&Tokenizer::Bytes, 65536).unwrap();
        assert_eq!(got, tokens, "{name}");
    }
    let raw = std::fs::read(dir.path().join("t.u16")).unwrap();
    assert_eq!(&raw[..8], &[0, 0, 1, 0, 255, 0, 0, 1], "little-endian");
    let packed = write(dir.path(), "t.u16.gz", &gzip(&raw));
    assert_eq!(
        Corpus::new(&packed).load(&Tokenizer::Bytes, 65536).unwrap(),
        tokens
    );
}

#[test]
fn u16_ignores_the_tokenizer_vocab() {
    // A pre-tokenized file needs only ids < the model's vocab, whatever
    // tokenizer is passed along.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.u16");
    write_u16(&path, &[1, 2, 3]).unwrap();
    assert_eq!(
        Corpus::new(&path).load(&Tokenizer::Bytes, 4).unwrap(),
        [1, 2, 3]
    );
}

#[test]
fn explicit_format_and_gzip_override_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    let odd_name = write(dir.path(), "corpus.dat", TEXT.as_bytes());
    let err = load(&odd_name).unwrap_err();
    assert!(matches!(err, DataError::UnknownFormat { .. }), "{err}");
    names_file(&err, &odd_name);
    let got = Corpus::new(&odd_name)
        .with_format(Format::Text)
        .load(&Tokenizer::Bytes, BYTE_VOCAB)
        .unwrap();
    assert_eq!(got, encode_bytes(TEXT.as_bytes()));

    // gzipped content under a plain name, and plain content under .gz
    let hidden_gz = write(dir.path(), "b.txt", &gzip(TEXT.as_bytes()));
    let got = Corpus::new(&hidden_gz)
        .with_gzip(true)
        .load(&Tokenizer::Bytes, BYTE_VOCAB)
        .unwrap();
    assert_eq!(got, encode_bytes(TEXT.as_bytes()));
    let fake_gz = write(dir.path(), "c.txt.gz", TEXT.as_bytes());
    let got = Corpus::new(&fake_gz)
        .with_gzip(false)
        .load(&Tokenizer::Bytes, BYTE_VOCAB)
        .unwrap();
    assert_eq!(got, encode_bytes(TEXT.as_bytes()));

    // a text file read as u16
    let even = write(dir.path(), "d.txt", b"ab");
    let got = Corpus::new(&even)
        .with_format(Format::U16)
        .load(&Tokenizer::Bytes, 65536)
        .unwrap();
    assert_eq!(got, [u32::from(u16::from_le_bytes(*b"ab"))]);
}

#[test]
fn format_names_parse() {
    for (s, f) in [
        ("text", Format::Text),
        ("TXT", Format::Text),
        ("jsonl", Format::JsonLines),
        ("u16", Format::U16),
        ("bin", Format::U16),
    ] {
        assert_eq!(s.parse::<Format>().unwrap(), f);
        assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
    }
    let err = "parquet".parse::<Format>().unwrap_err();
    assert!(matches!(err, DataError::UnknownFormatName { .. }), "{err}");
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.txt");
    let err = load(&path).unwrap_err();
    assert!(matches!(err, DataError::CorpusNotFound { .. }), "{err}");
    names_file(&err, &path);
}

#[test]
fn odd_u16_file_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "t.u16", &[1, 0, 2]);
    let err = Corpus::new(&path)
        .load(&Tokenizer::Bytes, 65536)
        .unwrap_err();
    assert!(
        matches!(err, DataError::OddU16Length { bytes: 3, .. }),
        "{err}"
    );
    names_file(&err, &path);
}

#[test]
fn json_line_without_text_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let body = "{\"text\": \"ok\"}\n\n{\"content\": \"no text\"}\n";
    let path = write(dir.path(), "c4.jsonl", body.as_bytes());
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, DataError::JsonMissingText { line: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("line 3"), "{err}");
    names_file(&err, &path);

    // "text" that is not a string is missing text too
    let path = write(dir.path(), "num.jsonl", b"{\"text\": 5}\n");
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, DataError::JsonMissingText { line: 1, .. }),
        "{err}"
    );

    // a line that is not JSON at all
    let path = write(
        dir.path(),
        "bad.jsonl",
        b"{\"text\": \"ok\"}\n{\"text\": \"unterminated\n",
    );
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, DataError::JsonSyntax { line: 2, .. }),
        "{err}"
    );
    names_file(&err, &path);
}

#[test]
fn invalid_utf8_names_offset_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"line one\nline two \xff\xfe\n".to_vec();
    let path = write(dir.path(), "latin.txt", &bytes);
    let err = load(&path).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::InvalidUtf8 {
                offset: 18,
                line: 2,
                ..
            }
        ),
        "{err}"
    );
    names_file(&err, &path);

    // the same through gzip and through JSON lines
    let path = write(dir.path(), "latin.txt.gz", &gzip(&bytes));
    assert!(matches!(
        load(&path).unwrap_err(),
        DataError::InvalidUtf8 { offset: 18, .. }
    ));
    bytes = b"{\"text\": \"\xc3\"}\n".to_vec();
    let path = write(dir.path(), "bad.jsonl", &bytes);
    assert!(matches!(
        load(&path).unwrap_err(),
        DataError::InvalidUtf8 { line: 1, .. }
    ));
}

#[test]
fn empty_corpus_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("e.txt", &b""[..]),
        ("e.u16", &b""[..]),
        ("e.jsonl", &b"\n\n"[..]),
        ("e2.jsonl", &b"{\"text\": \"\"}\n"[..]),
    ] {
        let path = write(dir.path(), name, bytes);
        let err = Corpus::new(&path)
            .load(&Tokenizer::Bytes, 65536)
            .unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{name}: {err}");
        names_file(&err, &path);
    }
    let path = write(dir.path(), "e.txt.gz", &gzip(b""));
    assert!(matches!(load(&path).unwrap_err(), DataError::Empty { .. }));
}

#[test]
fn token_at_or_above_vocab_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.u16");
    write_u16(&path, &[5, 99, 100, 3]).unwrap();
    assert!(Corpus::new(&path).load(&Tokenizer::Bytes, 101).is_ok());
    let err = Corpus::new(&path).load(&Tokenizer::Bytes, 100).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TokenOutOfRange {
                index: 2,
                token: 100,
                vocab_size: 100,
                ..
            }
        ),
        "{err}"
    );
    names_file(&err, &path);

    let err = write_u16(dir.path().join("big.u16"), &[1, 65536]).unwrap_err();
    assert!(
        matches!(err, DataError::TokenTooLargeForU16 { index: 1, .. }),
        "{err}"
    );
}

#[test]
fn tokenizer_vocab_above_model_vocab_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.txt", b"abc");
    let err = Corpus::new(&path).load(&Tokenizer::Bytes, 255).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::VocabTooLarge {
                tokenizer_vocab: 256,
                model_vocab: 255,
                ..
            }
        ),
        "{err}"
    );
    assert!(Tokenizer::Bytes.check_vocab(256).is_ok());
    assert_eq!(Tokenizer::default().vocab_size(), 256);
}

#[test]
fn corrupt_gzip_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut packed = gzip(TEXT.as_bytes());
    packed.truncate(packed.len() / 2);
    let path = write(dir.path(), "cut.txt.gz", &packed);
    let err = load(&path).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    names_file(&err, &path);
}

/// A WordLevel tokenizer: whitespace-and-punctuation pre-split, 6 words.
const WORD_LEVEL: &str = r#"{
  "version": "1.0",
  "truncation": null,
  "padding": null,
  "added_tokens": [
    {"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false,
     "rstrip": false, "normalized": false, "special": true}
  ],
  "normalizer": {"type": "Lowercase"},
  "pre_tokenizer": {"type": "Whitespace"},
  "post_processor": null,
  "decoder": null,
  "model": {
    "type": "WordLevel",
    "vocab": {"[UNK]": 0, "the": 1, "cat": 2, "sat": 3, ".": 4, "mat": 5},
    "unk_token": "[UNK]"
  }
}"#;

/// A BPE tokenizer over the letters a, b, c with merges "a b" then "ab c".
const BPE: &str = r#"{
  "version": "1.0",
  "truncation": null,
  "padding": null,
  "added_tokens": [],
  "normalizer": null,
  "pre_tokenizer": null,
  "post_processor": null,
  "decoder": null,
  "model": {
    "type": "BPE",
    "dropout": null,
    "unk_token": null,
    "continuing_subword_prefix": null,
    "end_of_word_suffix": null,
    "fuse_unk": false,
    "byte_fallback": false,
    "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4},
    "merges": ["a b", "ab c"]
  }
}"#;

#[test]
fn word_level_tokenizer_json_encodes_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let tok_path = write(dir.path(), "tokenizer.json", WORD_LEVEL.as_bytes());
    let tok = Tokenizer::from_file(&tok_path).unwrap();
    assert_eq!(tok.vocab_size(), 6);
    let src = Path::new("inline");
    assert_eq!(tok.encode("The cat sat.", src).unwrap(), [1, 2, 3, 4]);
    assert_eq!(
        tok.encode("the dog sat on the mat.", src).unwrap(),
        [1, 0, 3, 0, 1, 5, 4]
    );

    let text = write(dir.path(), "a.txt", b"The cat sat.\nthe mat.");
    let got = Corpus::new(&text).load(&tok, 6).unwrap();
    assert_eq!(got, [1, 2, 3, 4, 1, 5, 4]);
    let jsonl = write(
        dir.path(),
        "a.jsonl",
        b"{\"text\": \"the cat\"}\n{\"text\": \"sat.\"}\n",
    );
    assert_eq!(Corpus::new(&jsonl).load(&tok, 6).unwrap(), [1, 2, 3, 4]);

    let err = Corpus::new(&text).load(&tok, 5).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::VocabTooLarge {
                tokenizer_vocab: 6,
                model_vocab: 5,
                ..
            }
        ),
        "{err}"
    );
    names_file(&err, &tok_path);
}

#[test]
fn bpe_tokenizer_json_encodes_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let tok = Tokenizer::from_file(write(dir.path(), "bpe.json", BPE.as_bytes())).unwrap();
    assert_eq!(tok.vocab_size(), 5);
    let src = Path::new("inline");
    assert_eq!(tok.encode("abc", src).unwrap(), [4]);
    assert_eq!(tok.encode("abcab", src).unwrap(), [4, 3]);
    assert_eq!(tok.encode("cba", src).unwrap(), [2, 1, 0]);
}

#[test]
fn long_text_encodes_across_pieces_as_one() {
    // Over ENCODE_PIECE_BYTES: the line-aligned pieces split no token.
    let dir = tempfile::tempdir().unwrap();
    let tok = Tokenizer::from_file(write(dir.path(), "t.json", WORD_LEVEL.as_bytes())).unwrap();
    let line = "the cat sat on the mat.\n";
    let n = (llama::data::ENCODE_PIECE_BYTES / line.len()) * 2 + 7;
    let got = tok.encode(&line.repeat(n), Path::new("inline")).unwrap();
    let want: Vec<u32> = [1, 2, 3, 0, 1, 5, 4].repeat(n);
    assert_eq!(got, want);
}

#[test]
fn bad_tokenizer_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("tokenizer.json");
    let err = Tokenizer::from_file(&missing).unwrap_err();
    assert!(matches!(err, DataError::TokenizerNotFound { .. }), "{err}");
    names_file(&err, &missing);
    let bad = write(dir.path(), "bad.json", b"{\"model\": 3}");
    let err = Tokenizer::from_file(&bad).unwrap_err();
    assert!(matches!(err, DataError::TokenizerParse { .. }), "{err}");
    names_file(&err, &bad);
}

#[test]
fn default_corpus_loads_with_the_stated_size() {
    let path = default_corpus_path();
    assert!(
        path.ends_with("data/corpus/python-docs.txt.gz"),
        "{}",
        path.display()
    );
    let tokens = Corpus::python_docs()
        .load(&Tokenizer::Bytes, BYTE_VOCAB)
        .unwrap();
    assert_eq!(tokens.len(), CORPUS_BYTES);
    let bytes: Vec<u8> = tokens.iter().map(|&t| t as u8).collect();
    let sha = Sha256::digest(&bytes);
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, CORPUS_SHA256);
    assert!(std::str::from_utf8(&bytes).is_ok());

    let batches = Batches::new(tokens, 0);
    assert_eq!(batches.train_tokens().len(), 2_395_138);
    assert_eq!(batches.held_out_tokens().len(), 266_126);
}

/// The advice names a fix a user can apply: the extension (the format and
/// gzip are not settable from `lab` or a suite), never an option that is not there.
#[test]
fn format_and_gzip_errors_advise_fixes_that_exist() {
    let dir = tempfile::tempdir().unwrap();
    let odd_name = write(dir.path(), "corpus.dat", TEXT.as_bytes());
    let msg = load(&odd_name).unwrap_err().to_string();
    assert!(msg.contains("name it .txt, .jsonl or .u16/.bin"), "{msg}");
    assert!(!msg.contains("explicitly"), "{msg}");

    let fake_gz = write(dir.path(), "c.txt.gz", TEXT.as_bytes());
    let err = load(&fake_gz).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("rename it without the .gz extension"), "{msg}");
    assert!(!msg.contains("gzip off"), "{msg}");
}
