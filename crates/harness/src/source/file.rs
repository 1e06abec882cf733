//! A matrix file opened for reading by parts: its length is known before any
//! byte is read, a header is read as a prefix, and the data is read only
//! after the header has been checked against the length, and after the
//! memory budget allows it (`size.rs`). A file that is not what its
//! extension says therefore costs a few bytes to reject, whatever its size.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;

use super::SourceError;
use super::size::check_file_size;

/// An open matrix file and its length in bytes.
pub(super) struct MatrixFile<'a> {
    pub path: &'a Path,
    pub len: u64,
    file: File,
}

impl<'a> MatrixFile<'a> {
    /// Opens `path`; a directory is refused as one (`IsADirectory`).
    pub fn open(path: &'a Path) -> Result<Self, SourceError> {
        let io = |cause| SourceError::Io {
            path: path.to_owned(),
            cause,
        };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(io(std::io::Error::from(ErrorKind::IsADirectory)));
        }
        Ok(Self {
            path,
            len: meta.len(),
            file,
        })
    }

    /// The first `min(n, len)` bytes.
    pub fn prefix(&mut self, n: usize) -> Result<Vec<u8>, SourceError> {
        let n = n.min(usize::try_from(self.len).unwrap_or(usize::MAX));
        self.range(0, n)
    }

    /// `n` bytes from byte `start`, which the caller has checked lie in the
    /// file; more than [`Self::prefix`] reads, so checked against the budget.
    pub fn data(&mut self, start: u64, n: usize) -> Result<Vec<u8>, SourceError> {
        check_file_size(self.path, self.len)?;
        self.range(start, n)
    }

    /// The whole file, checked against the budget first.
    pub fn whole(&mut self) -> Result<Vec<u8>, SourceError> {
        check_file_size(self.path, self.len)?;
        let n = usize::try_from(self.len).unwrap_or(usize::MAX);
        self.range(0, n)
    }

    fn range(&mut self, start: u64, n: usize) -> Result<Vec<u8>, SourceError> {
        let io = |cause| SourceError::Io {
            path: self.path.to_owned(),
            cause,
        };
        let mut buf = Vec::new();
        buf.try_reserve_exact(n)
            .map_err(|_| io(std::io::Error::from(ErrorKind::OutOfMemory)))?;
        self.file.seek(SeekFrom::Start(start)).map_err(io)?;
        (&mut self.file)
            .take(n as u64)
            .read_to_end(&mut buf)
            .map_err(io)?;
        if buf.len() < n {
            // The file shrank since its length was read.
            return Err(SourceError::Truncated {
                path: self.path.to_owned(),
                detail: format!(
                    "{} bytes could be read from byte {start}, {n} were expected (did the file \
                     change while it was read?)",
                    buf.len()
                ),
            });
        }
        Ok(buf)
    }
}
