//! Streaming capture reader.
//!
//! Reads one line at a time, reassembles chunked bodies, checks the header's format
//! version (older versions are upgraded, newer ones refused), and tolerates a torn last
//! line, which it reports instead of failing.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::format::{Record, Side, FORMAT_NAME, FORMAT_VERSION};
use crate::model::{Body, Exchange};

/// Why a capture could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be read.
    #[error("cannot read capture: {0}")]
    Io(#[from] std::io::Error),
    /// The first line is not a synctap capture header.
    #[error("not a synctap capture (line 1 is not a {FORMAT_NAME} header)")]
    NotACapture,
    /// The capture was written by a newer synctap.
    #[error("capture format version {found} is newer than this synctap reads (up to {FORMAT_VERSION}); upgrade synctap to read it")]
    NewerVersion {
        /// The version found in the header.
        found: u32,
    },
    /// A line in the middle of the file is not a valid record.
    #[error("line {line}: invalid record: {message}")]
    BadLine {
        /// 1-based line number.
        line: u64,
        /// What serde said.
        message: String,
    },
}

/// What the reader noticed that did not stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadWarning {
    /// The last line was cut short (the writer was killed mid-line); it was skipped.
    TornLastLine {
        /// 1-based line number.
        line: u64,
        /// Bytes in the torn line.
        bytes: usize,
    },
}

impl std::fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TornLastLine { line, bytes } => write!(
                f,
                "line {line} is torn ({bytes} bytes, the writer stopped mid-record); skipped"
            ),
        }
    }
}

/// A streaming reader over a capture's exchanges.
pub struct CaptureReader<R> {
    input: BufReader<R>,
    line_no: u64,
    pending: HashMap<(u64, Side), Vec<u8>>,
    warnings: Vec<ReadWarning>,
    buf: Vec<u8>,
    /// Byte offset in the file of the next line.
    offset: u64,
}

impl CaptureReader<File> {
    /// Opens a capture file and checks its header.
    ///
    /// # Errors
    /// When the file cannot be opened, is not a capture, or is from a newer version.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        Self::new(File::open(path)?)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the header from `input`.
    ///
    /// # Errors
    /// When the input is not a capture or is from a newer version.
    pub fn new(input: R) -> Result<Self, ReadError> {
        let mut me = Self {
            input: BufReader::with_capacity(256 << 10, input),
            line_no: 0,
            pending: HashMap::new(),
            warnings: Vec::new(),
            buf: Vec::new(),
            offset: 0,
        };
        match me.next_line()? {
            Some((line, _)) => match serde_json::from_slice::<Record>(&line) {
                Ok(Record::Header(h)) if h.format == FORMAT_NAME => {
                    if h.version > FORMAT_VERSION {
                        return Err(ReadError::NewerVersion { found: h.version });
                    }
                }
                _ => {
                    // A header from a newer version may not parse as ours: look at the
                    // raw version field before giving up.
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) {
                        let data = &v["data"];
                        if data["format"] == FORMAT_NAME {
                            if let Some(found) = data["version"].as_u64() {
                                if found > u64::from(FORMAT_VERSION) {
                                    return Err(ReadError::NewerVersion {
                                        found: u32::try_from(found).unwrap_or(u32::MAX),
                                    });
                                }
                            }
                        }
                    }
                    return Err(ReadError::NotACapture);
                }
            },
            None => return Err(ReadError::NotACapture),
        }
        Ok(me)
    }

    /// Warnings collected so far (a torn last line).
    pub fn warnings(&self) -> &[ReadWarning] {
        &self.warnings
    }

    /// Byte offset of the next unread line (for indexes).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Returns the next line without its newline, and whether it ended with one.
    fn next_line(&mut self) -> Result<Option<(Vec<u8>, bool)>, ReadError> {
        self.buf.clear();
        let n = self.input.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.offset += n as u64;
        self.line_no += 1;
        let complete = self.buf.last() == Some(&b'\n');
        if complete {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        Ok(Some((std::mem::take(&mut self.buf), complete)))
    }

    /// The next exchange, `Ok(None)` at the end.
    ///
    /// # Errors
    /// On IO errors and on invalid lines that are not the torn last line.
    pub fn next_exchange(&mut self) -> Result<Option<Exchange>, ReadError> {
        loop {
            let Some((line, complete)) = self.next_line()? else {
                return Ok(None);
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record = match serde_json::from_slice::<Record>(&line) {
                Ok(r) => r,
                Err(e) => {
                    if !complete {
                        self.warnings.push(ReadWarning::TornLastLine {
                            line: self.line_no,
                            bytes: line.len(),
                        });
                        return Ok(None);
                    }
                    return Err(ReadError::BadLine {
                        line: self.line_no,
                        message: e.to_string(),
                    });
                }
            };
            match record {
                Record::Header(_) => {}
                Record::Chunk(c) => {
                    let buf = self.pending.entry((c.exchange, c.side)).or_default();
                    // Chunks arrive in order; a gap means copies were dropped.
                    if c.offset as usize == buf.len() {
                        buf.extend_from_slice(&c.base64);
                    }
                }
                Record::Exchange(mut x) => {
                    let id = x.id;
                    if let Some(req) = x.request.as_mut() {
                        self.attach(id, Side::Request, &mut req.body);
                    }
                    if let Some(resp) = x.response.as_mut() {
                        self.attach(id, Side::Response, &mut resp.body);
                    }
                    return Ok(Some(*x));
                }
            }
        }
    }

    fn attach(&mut self, id: u64, side: Side, body: &mut Body) {
        if body.chunked {
            let bytes = self.pending.remove(&(id, side)).unwrap_or_default();
            if (bytes.len() as u64) < body.stored {
                body.truncated = true;
            }
            body.stored = bytes.len() as u64;
            body.bytes = bytes;
            body.chunked = false;
        }
    }
}

impl<R: Read> Iterator for CaptureReader<R> {
    type Item = Result<Exchange, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_exchange().transpose()
    }
}
