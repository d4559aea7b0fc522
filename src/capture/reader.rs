//! The one capture reader, used by every command, the UI and the proxy's append check.
//!
//! Reads one line at a time (never more than [`MAX_LINE`] bytes of it), reassembles
//! chunked bodies, checks the header's format version (older versions are upgraded,
//! newer ones refused), and keeps going past anything it cannot use: a line that is not
//! a record (invalid UTF-8, bad base64, truncated JSON, an unknown type), a line over the
//! limit, a torn last line. Each is skipped with a [`ReadWarning`] naming its line, and
//! so are contradictions it notices: a second header, an exchange id seen before, a `len`
//! that the stored bytes contradict, chunk lines that never found their exchange.
//!
//! Three ways to read:
//! - streaming from the start ([`CaptureReader::open`], [`CaptureReader::next_exchange`],
//!   or [`CaptureReader::next_entry`] for the byte offsets of each exchange);
//! - following a growing file ([`CaptureReader::follow`]): a torn last line is never
//!   consumed, `next_entry` answers `None` until the writer completes it;
//! - one exchange at a known offset ([`CaptureReader::read_at`]), as the UI does for the
//!   row it shows.
//!
//! Memory stays bounded per line and per body ([`MAX_BODY_CHUNKS`],
//! [`MAX_PENDING_BODIES`]); the set of ids seen is kept as ranges, so it grows with the
//! gaps between ids, not with their number.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::format::{Record, Side, FORMAT_NAME, FORMAT_VERSION};
use crate::model::{Body, Exchange};

/// Longest line read, in bytes without its newline. synctap's writers never come near it
/// (an exchange line holds at most two inline bodies of 1 MiB, a chunk line 256 KiB); a
/// longer line is skipped without being buffered.
pub const MAX_LINE: usize = 64 << 20;
/// Most chunk lines one body may have; later ones are ignored and the body is marked
/// truncated. 16,384 chunks of 256 KiB is 4 GiB, far past any `--body-limit` in use.
pub const MAX_BODY_CHUNKS: usize = 16_384;
/// Most chunked bodies waiting for their exchange line at once; past it the oldest is
/// dropped. The proxy's writer queue holds 4,096 records, so a real capture has far fewer.
pub const MAX_PENDING_BODIES: usize = 4_096;
/// How much of an over-long line is read (and thrown away) at a time.
const SKIP_PIECE: u64 = 64 << 10;
/// Most warnings kept; later ones are only counted ([`CaptureReader::warnings_dropped`]).
pub const MAX_WARNINGS: usize = 1_000;

/// Why a capture could not be read at all.
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
}

/// What the reader noticed that did not stop it. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadWarning {
    /// The last line was cut short (the writer was killed mid-line); it was skipped.
    TornLastLine {
        /// Line number.
        line: u64,
        /// Bytes in the torn line.
        bytes: usize,
    },
    /// A line is not a valid record (invalid UTF-8, bad base64, broken JSON, unknown
    /// type); it was skipped.
    BadLine {
        /// Line number.
        line: u64,
        /// Byte offset of the line in the file.
        offset: u64,
        /// What the JSON parser said.
        message: String,
    },
    /// A line is longer than [`MAX_LINE`]; it was skipped without being buffered.
    LineTooLong {
        /// Line number.
        line: u64,
        /// Byte offset of the line in the file.
        offset: u64,
        /// Its length.
        bytes: u64,
    },
    /// A header line after the first line (two captures concatenated?). Chunk lines
    /// before it no longer attach to exchanges after it.
    SecondHeader {
        /// Line number.
        line: u64,
        /// The version it names.
        version: u32,
    },
    /// An exchange id that an earlier exchange line already had.
    DuplicateId {
        /// Line number of the second one.
        line: u64,
        /// The id.
        id: u64,
    },
    /// A body's `len`, `stored` and bytes contradict each other.
    BodyLength {
        /// Line number of the exchange.
        line: u64,
        /// Exchange id.
        id: u64,
        /// Which body.
        side: Side,
        /// What contradicts what.
        detail: String,
    },
    /// Chunk lines that never found their exchange line (in flight when the writer
    /// stopped, or left by an earlier session); ignored.
    OrphanChunks {
        /// Line of the first chunk.
        line: u64,
        /// Exchange id they name.
        id: u64,
        /// Which body.
        side: Side,
        /// Bytes they held.
        bytes: u64,
    },
    /// A chunk that does not continue its body (a gap or an overlap); it and the rest
    /// of that body were ignored, and the body is marked truncated.
    ChunkGap {
        /// Line number.
        line: u64,
        /// Exchange id.
        id: u64,
        /// Which body.
        side: Side,
        /// The offset the chunk names.
        offset: u64,
        /// The offset that was expected.
        expected: u64,
    },
    /// A body has more than [`MAX_BODY_CHUNKS`] chunk lines; the rest were ignored.
    TooManyChunks {
        /// Line number of the first chunk over the limit.
        line: u64,
        /// Exchange id.
        id: u64,
        /// Which body.
        side: Side,
    },
}

impl std::fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TornLastLine { line, bytes } => write!(
                f,
                "line {line} is torn ({bytes} bytes, the writer stopped mid-record); skipped"
            ),
            Self::BadLine {
                line,
                offset,
                message,
            } => write!(
                f,
                "line {line} (byte {offset}) is not a valid record ({}); skipped",
                escape(message)
            ),
            Self::LineTooLong {
                line,
                offset,
                bytes,
            } => write!(
                f,
                "line {line} (byte {offset}) is {bytes} bytes, over the {MAX_LINE}-byte line limit; skipped"
            ),
            Self::SecondHeader { line, version } => write!(
                f,
                "line {line} is a second header (version {version}); chunk lines before it do not attach to exchanges after it"
            ),
            Self::DuplicateId { line, id } => {
                write!(f, "line {line}: exchange id {id} appeared before")
            }
            Self::BodyLength {
                line,
                id,
                side,
                detail,
            } => write!(
                f,
                "line {line}: exchange {id} {}: {detail}",
                side_name(*side)
            ),
            Self::OrphanChunks {
                line,
                id,
                side,
                bytes,
            } => write!(
                f,
                "line {line}: {bytes} bytes of chunk lines for exchange {id} {} never found their exchange line (in flight when the writer stopped); ignored",
                side_name(*side)
            ),
            Self::ChunkGap {
                line,
                id,
                side,
                offset,
                expected,
            } => write!(
                f,
                "line {line}: chunk of exchange {id} {} at offset {offset}, expected {expected}; the rest of that body is ignored",
                side_name(*side)
            ),
            Self::TooManyChunks { line, id, side } => write!(
                f,
                "line {line}: exchange {id} {} has more than {MAX_BODY_CHUNKS} chunk lines; the rest are ignored",
                side_name(*side)
            ),
        }
    }
}

impl ReadWarning {
    /// Whether the warning is about a line that was skipped (not read at all).
    pub fn is_skipped_line(&self) -> bool {
        matches!(
            self,
            Self::TornLastLine { .. } | Self::BadLine { .. } | Self::LineTooLong { .. }
        )
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Request => "request body",
        Side::Response => "response body",
    }
}

/// Control characters as `\u{..}` escapes, so a message quoting a hostile line cannot
/// drive the terminal.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// One exchange with where it lies in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The exchange, with chunked bodies reassembled.
    pub exchange: Exchange,
    /// Offset of the first line that belongs to it: its first chunk line, or the exchange
    /// line itself. [`CaptureReader::read_at`] reads it back from there.
    pub start: u64,
    /// Offset of the exchange line.
    pub offset: u64,
    /// Offset just past the exchange line.
    pub end: u64,
    /// Line number of the exchange line.
    pub line: u64,
}

/// The highest ids a capture holds, for a writer appending to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LastIds {
    /// Highest exchange id named by an exchange or a chunk line.
    pub exchange: u64,
    /// Highest connection id of an exchange line.
    pub connection: u64,
}

/// A chunked body waiting for its exchange line.
#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    chunks: usize,
    /// Line and offset of its first chunk.
    line: u64,
    start: u64,
    /// A gap or the chunk limit: later chunks are ignored.
    broken: bool,
}

/// What reading one line gave.
enum LineRead {
    /// A complete line is in `buf` (without its newline).
    Line,
    /// A line over [`MAX_LINE`] was passed over.
    TooLong,
    /// The last line has no newline (not following: it is torn).
    Torn,
    /// Nothing more (following: nothing complete yet).
    End,
}

/// Ids seen so far, as inclusive ranges keyed by their first id.
#[derive(Debug, Default)]
struct IdSet(BTreeMap<u64, u64>);

impl IdSet {
    /// Adds `id`; false when it was there already.
    fn insert(&mut self, id: u64) -> bool {
        let below = self.0.range(..=id).next_back().map(|(&a, &b)| (a, b));
        if let Some((_, b)) = below {
            if id <= b {
                return false;
            }
        }
        let above = id
            .checked_add(1)
            .and_then(|n| self.0.get(&n).copied().map(|e| (n, e)));
        match (below.filter(|&(_, b)| b.checked_add(1) == Some(id)), above) {
            (Some((a, _)), Some((n, e))) => {
                self.0.remove(&n);
                self.0.insert(a, e);
            }
            (Some((a, _)), None) => {
                self.0.insert(a, id);
            }
            (None, Some((n, e))) => {
                self.0.remove(&n);
                self.0.insert(id, e);
            }
            (None, None) => {
                self.0.insert(id, id);
            }
        }
        true
    }
}

/// A streaming reader over a capture's exchanges.
pub struct CaptureReader<R> {
    input: BufReader<R>,
    /// Number of the last complete line.
    line_no: u64,
    /// Byte offset in the file of the next line.
    offset: u64,
    /// The current line so far (at most [`MAX_LINE`] bytes of it).
    buf: Vec<u8>,
    /// Bytes of the current line read so far, over the limit included.
    line_len: u64,
    header: bool,
    follow: bool,
    max_line: usize,
    /// When reading one exchange back: the only id whose chunks are collected.
    only: Option<u64>,
    pending: HashMap<(u64, Side), Pending>,
    seen: IdSet,
    warnings: Vec<ReadWarning>,
    warnings_dropped: u64,
    skipped_lines: u64,
}

impl CaptureReader<File> {
    /// Opens a capture file and checks its header.
    ///
    /// # Errors
    /// When the file cannot be opened, is not a capture, or is from a newer version.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        Self::new(File::open(path)?)
    }

    /// Opens a capture that a writer may still be appending to. Nothing is read yet: the
    /// header is checked once its line is complete, and [`next_entry`](Self::next_entry)
    /// answers `None` whenever no complete line is there yet.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn follow(path: &Path) -> Result<Self, ReadError> {
        Ok(Self::following(File::open(path)?))
    }

    /// The highest exchange and connection ids in the capture at `path`, for a writer that
    /// appends to it. Reads every line, but only the ids of each.
    ///
    /// # Errors
    /// When the file cannot be read, is not a capture, or is from a newer version.
    pub fn last_ids(path: &Path) -> Result<LastIds, ReadError> {
        #[derive(serde::Deserialize)]
        struct Probe {
            data: ProbeData,
        }
        #[derive(serde::Deserialize)]
        struct ProbeData {
            id: Option<u64>,
            exchange: Option<u64>,
            connection_id: Option<u64>,
        }
        let mut r = Self::open(path)?;
        let mut last = LastIds::default();
        loop {
            match r.read_line()? {
                LineRead::Line => {
                    if let Ok(p) = serde_json::from_slice::<Probe>(&r.buf) {
                        let id = p.data.id.or(p.data.exchange).unwrap_or(0);
                        last.exchange = last.exchange.max(id);
                        last.connection = last.connection.max(p.data.connection_id.unwrap_or(0));
                    }
                }
                LineRead::TooLong | LineRead::Torn => {}
                LineRead::End => return Ok(last),
            }
        }
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the header from `input`.
    ///
    /// # Errors
    /// When the input is not a capture or is from a newer version.
    pub fn new(input: R) -> Result<Self, ReadError> {
        let mut me = Self::unchecked(input);
        if !me.read_header()? {
            return Err(ReadError::NotACapture);
        }
        Ok(me)
    }

    /// Follows `input` as [`follow`](CaptureReader::follow) follows a file.
    pub fn following(input: R) -> Self {
        let mut me = Self::unchecked(input);
        me.follow = true;
        me
    }

    fn unchecked(input: R) -> Self {
        Self {
            input: BufReader::with_capacity(256 << 10, input),
            line_no: 0,
            offset: 0,
            buf: Vec::new(),
            line_len: 0,
            header: false,
            follow: false,
            max_line: MAX_LINE,
            only: None,
            pending: HashMap::new(),
            seen: IdSet::default(),
            warnings: Vec::new(),
            warnings_dropped: 0,
            skipped_lines: 0,
        }
    }

    /// Lowers the line limit (tests, fuzzing).
    #[doc(hidden)]
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max.min(MAX_LINE);
        self
    }

    /// Warnings collected so far (the first [`MAX_WARNINGS`]).
    pub fn warnings(&self) -> &[ReadWarning] {
        &self.warnings
    }

    /// Takes the warnings collected so far, for callers that report as they go.
    pub fn take_warnings(&mut self) -> Vec<ReadWarning> {
        std::mem::take(&mut self.warnings)
    }

    /// Warnings not kept because [`MAX_WARNINGS`] were already there.
    pub fn warnings_dropped(&self) -> u64 {
        self.warnings_dropped
    }

    /// Lines skipped so far (not records, too long, torn).
    pub fn skipped_lines(&self) -> u64 {
        self.skipped_lines
    }

    /// Byte offset of the next unread line (for indexes).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn warn(&mut self, w: ReadWarning) {
        if w.is_skipped_line() {
            self.skipped_lines += 1;
        }
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else {
            self.warnings_dropped += 1;
        }
    }

    /// Reads the next line into `buf`, keeping at most `max_line` bytes of it. Following,
    /// a line without its newline stays unconsumed: the next call continues it.
    fn read_line(&mut self) -> std::io::Result<LineRead> {
        if self.line_len == 0 {
            self.buf.clear();
        }
        loop {
            // Over the limit, keep counting (in pieces) but stop storing.
            let over = self.line_len > self.max_line as u64;
            if over {
                self.buf.clear();
            }
            let room = if over {
                SKIP_PIECE
            } else {
                (self.max_line + 1 - self.buf.len()) as u64
            };
            let before = self.buf.len();
            let n = (&mut self.input)
                .take(room)
                .read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                if self.line_len == 0 || self.follow {
                    return Ok(LineRead::End);
                }
                let bytes = self.line_len;
                self.buf.clear();
                self.end_line();
                self.warn(ReadWarning::TornLastLine {
                    line: self.line_no,
                    bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
                });
                return Ok(LineRead::Torn);
            }
            self.line_len += n as u64;
            if self.buf.len() > before && self.buf.last() == Some(&b'\n') {
                let len = self.line_len - 1;
                let at = self.offset;
                self.end_line();
                if len > self.max_line as u64 {
                    self.buf.clear();
                    self.warn(ReadWarning::LineTooLong {
                        line: self.line_no,
                        offset: at,
                        bytes: len,
                    });
                    return Ok(LineRead::TooLong);
                }
                self.buf.pop();
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                return Ok(LineRead::Line);
            }
        }
    }

    /// Accounts for the line just read.
    fn end_line(&mut self) {
        self.offset += self.line_len;
        self.line_len = 0;
        self.line_no += 1;
    }

    /// Reads and checks the header line. False when no complete line is there (yet).
    fn read_header(&mut self) -> Result<bool, ReadError> {
        match self.read_line()? {
            LineRead::Line => {}
            LineRead::End if self.follow => return Ok(false),
            _ => return Err(ReadError::NotACapture),
        }
        match serde_json::from_slice::<Record>(&self.buf) {
            Ok(Record::Header(h)) if h.format == FORMAT_NAME => {
                if h.version > FORMAT_VERSION {
                    return Err(ReadError::NewerVersion { found: h.version });
                }
            }
            _ => {
                // A header from a newer version may not parse as ours: look at the raw
                // version field before giving up.
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.buf) {
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
        }
        self.header = true;
        Ok(true)
    }

    /// The next exchange, `Ok(None)` at the end.
    ///
    /// # Errors
    /// On IO errors (bad lines are skipped with a warning).
    pub fn next_exchange(&mut self) -> Result<Option<Exchange>, ReadError> {
        Ok(self.next_entry()?.map(|e| e.exchange))
    }

    /// The next exchange with its offsets; `Ok(None)` at the end, or when following, when
    /// no further complete line is there yet (call again later).
    ///
    /// # Errors
    /// On IO errors; following, also when the first line turns out not to be a header.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ReadError> {
        if !self.header && !self.read_header()? {
            return Ok(None);
        }
        loop {
            let at = self.offset;
            match self.read_line()? {
                LineRead::Line => {}
                LineRead::TooLong | LineRead::Torn => continue,
                LineRead::End => {
                    if !self.follow {
                        self.drop_pending();
                    }
                    return Ok(None);
                }
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record = match serde_json::from_slice::<Record>(&self.buf) {
                Ok(r) => r,
                Err(e) => {
                    self.warn(ReadWarning::BadLine {
                        line: self.line_no,
                        offset: at,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            match record {
                Record::Header(h) => {
                    self.warn(ReadWarning::SecondHeader {
                        line: self.line_no,
                        version: h.version,
                    });
                    self.drop_pending();
                }
                Record::Chunk(c) => {
                    if self.only.is_none_or(|id| id == c.exchange) {
                        self.chunk(c, at);
                    }
                }
                Record::Exchange(x) => {
                    if self.only.is_some_and(|id| id != x.id) {
                        continue;
                    }
                    return Ok(Some(self.finish_exchange(*x, at)));
                }
            }
        }
    }

    fn chunk(&mut self, c: super::format::Chunk, at: u64) {
        let key = (c.exchange, c.side);
        let line = self.line_no;
        if c.offset == 0 && self.pending.get(&key).is_some_and(|p| !p.bytes.is_empty()) {
            // A body starting over under the same id: what came before belongs to an
            // earlier exchange (a session whose ids restarted) and never attaches here.
            if let Some(old) = self.pending.remove(&key) {
                self.orphan(key, &old);
            }
        }
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING_BODIES {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.line)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                if let Some(old) = self.pending.remove(&k) {
                    self.orphan(k, &old);
                }
            }
        }
        let p = self.pending.entry(key).or_insert_with(|| Pending {
            bytes: Vec::new(),
            chunks: 0,
            line,
            start: at,
            broken: false,
        });
        if p.broken {
            return;
        }
        p.chunks += 1;
        let warning = if p.chunks > MAX_BODY_CHUNKS {
            Some(ReadWarning::TooManyChunks {
                line,
                id: c.exchange,
                side: c.side,
            })
        } else if c.offset != p.bytes.len() as u64 {
            Some(ReadWarning::ChunkGap {
                line,
                id: c.exchange,
                side: c.side,
                offset: c.offset,
                expected: p.bytes.len() as u64,
            })
        } else {
            p.bytes.extend_from_slice(&c.base64);
            None
        };
        if let Some(w) = warning {
            p.broken = true;
            self.warn(w);
        }
    }

    fn orphan(&mut self, (id, side): (u64, Side), p: &Pending) {
        self.warn(ReadWarning::OrphanChunks {
            line: p.line,
            id,
            side,
            bytes: p.bytes.len() as u64,
        });
    }

    /// Reports and forgets every body still waiting for its exchange line.
    fn drop_pending(&mut self) {
        let mut left: Vec<_> = self.pending.drain().collect();
        left.sort_by_key(|(_, p)| p.line);
        for (k, p) in left {
            self.orphan(k, &p);
        }
    }

    fn finish_exchange(&mut self, mut x: Exchange, at: u64) -> Entry {
        let id = x.id;
        let line = self.line_no;
        if self.only.is_none() && !self.seen.insert(id) {
            self.warn(ReadWarning::DuplicateId { line, id });
        }
        let mut start = at;
        for (side, body) in [
            (Side::Request, x.request.as_mut().map(|r| &mut r.body)),
            (Side::Response, x.response.as_mut().map(|r| &mut r.body)),
        ] {
            let Some(body) = body else { continue };
            let chunks = if body.chunked {
                self.pending.remove(&(id, side))
            } else {
                None
            };
            if let Some(p) = &chunks {
                start = start.min(p.start);
            }
            if let Some(detail) = attach(body, chunks) {
                self.warn(ReadWarning::BodyLength {
                    line,
                    id,
                    side,
                    detail,
                });
            }
        }
        Entry {
            exchange: x,
            start,
            offset: at,
            end: self.offset,
            line,
        }
    }
}

/// Puts reassembled chunks into a chunked body and checks `len`, `stored` and the bytes
/// against each other; returns what contradicts what. Bodies are left as read, except
/// that a chunked body with fewer bytes than `stored` is marked truncated.
fn attach(body: &mut Body, chunks: Option<Pending>) -> Option<String> {
    let held = |b: &Body| b.bytes.len() as u64;
    if body.chunked {
        let p = chunks.unwrap_or(Pending {
            bytes: Vec::new(),
            chunks: 0,
            line: 0,
            start: 0,
            broken: false,
        });
        let stored = body.stored;
        body.bytes = p.bytes;
        body.chunked = false;
        let got = held(body);
        body.stored = got;
        if got < stored {
            // Chunk lines lost (or never written): say so in the body.
            body.truncated = true;
            return (!p.broken).then(|| {
                format!("stored says {stored} bytes, its chunk lines hold {got}; marked truncated")
            });
        }
        if got > stored {
            return Some(format!(
                "stored says {stored} bytes, its chunk lines hold {got}"
            ));
        }
    } else if body.stored != held(body) {
        return Some(format!(
            "stored says {} bytes, the line holds {}",
            body.stored,
            held(body)
        ));
    }
    let got = held(body);
    if !body.truncated && body.len != got {
        return Some(format!(
            "len says {} bytes, {got} are stored and the body is not marked truncated",
            body.len
        ));
    }
    if body.truncated && got > body.len {
        return Some(format!(
            "len says {} bytes, more ({got}) are stored",
            body.len
        ));
    }
    None
}

impl<R: Read + Seek> CaptureReader<R> {
    /// Starts over from the first line (the UI does, to apply a new filter). Warnings and
    /// the ids seen are forgotten.
    ///
    /// # Errors
    /// When the input cannot seek.
    pub fn rewind(&mut self) -> Result<(), ReadError> {
        self.seek_to(0)?;
        self.line_no = 0;
        self.header = false;
        self.seen = IdSet::default();
        self.warnings.clear();
        self.warnings_dropped = 0;
        self.skipped_lines = 0;
        Ok(())
    }

    fn seek_to(&mut self, offset: u64) -> Result<(), ReadError> {
        self.input.seek(SeekFrom::Start(offset))?;
        self.offset = offset;
        self.line_len = 0;
        self.buf.clear();
        self.pending.clear();
        Ok(())
    }

    /// Reads exchange `id` back from `offset` (an [`Entry::start`]), chunks included.
    /// `Ok(None)` when no exchange `id` follows that offset. Line numbers in warnings are
    /// counted from `offset`. The reader can go on reading from where this stopped.
    ///
    /// # Errors
    /// On IO errors.
    pub fn read_at(&mut self, offset: u64, id: u64) -> Result<Option<Exchange>, ReadError> {
        self.seek_to(offset)?;
        self.line_no = 0;
        let follow = std::mem::replace(&mut self.follow, false);
        self.header = true;
        self.only = Some(id);
        let found = self.next_entry();
        self.only = None;
        self.follow = follow;
        self.pending.clear();
        Ok(found?.map(|e| e.exchange))
    }
}

impl<R: Read> Iterator for CaptureReader<R> {
    type Item = Result<Exchange, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_exchange().transpose()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write as _};

    use super::*;
    use crate::capture::format::{CaptureHeader, Chunk};
    use crate::model::{ExchangeKind, Headers, ProxyMode, Request, Timings};

    fn header() -> String {
        serde_json::to_string(&Record::Header(CaptureHeader::now())).expect("header")
    }

    fn exchange(id: u64, body: Body) -> Exchange {
        Exchange {
            id,
            kind: ExchangeKind::Http,
            connection_id: 1,
            client_addr: "127.0.0.1:1".into(),
            mode: ProxyMode::Forward,
            tls: None,
            server: "h:443".into(),
            http_version: "HTTP/1.1".into(),
            request: Some(Request {
                method: "POST".into(),
                url: format!("https://h/{id}"),
                headers: Headers::default(),
                body,
            }),
            response: None,
            tunnel: None,
            timings: Timings {
                start: "2026-11-21T00:00:00.000Z".into(),
                ..Default::default()
            },
            error: None,
            imported: None,
            modified: None,
        }
    }

    fn line(id: u64, body: &[u8]) -> String {
        let x = exchange(id, Body::complete(body.to_vec()));
        serde_json::to_string(&Record::Exchange(Box::new(x))).expect("line")
    }

    /// An exchange line whose request body says it is `stored` bytes in chunk lines.
    fn chunked_line(id: u64, stored: u64) -> String {
        let body = Body {
            len: stored,
            stored,
            chunked: true,
            ..Body::default()
        };
        serde_json::to_string(&Record::Exchange(Box::new(exchange(id, body)))).expect("line")
    }

    fn chunk(id: u64, offset: u64, bytes: &[u8]) -> String {
        serde_json::to_string(&Record::Chunk(Chunk {
            exchange: id,
            side: Side::Request,
            offset,
            base64: bytes.to_vec(),
        }))
        .expect("chunk")
    }

    fn read(text: &[u8]) -> (Vec<Exchange>, Vec<ReadWarning>) {
        let mut r = CaptureReader::new(Cursor::new(text.to_vec())).expect("a capture");
        let xs: Vec<Exchange> = r.by_ref().collect::<Result<_, _>>().expect("read");
        (xs, r.warnings().to_vec())
    }

    /// Reads a capture of the header line and then `lines`.
    fn read_lines(lines: &[String]) -> (Vec<Exchange>, Vec<ReadWarning>) {
        let h = header();
        let mut all: Vec<&[u8]> = vec![h.as_bytes()];
        all.extend(lines.iter().map(|l| l.as_bytes()));
        read(&join(&all))
    }

    fn join(lines: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        out
    }

    #[test]
    fn bad_lines_in_the_middle_are_skipped_with_their_numbers() {
        let h = header();
        let (a, b, c) = (line(1, b"a"), line(2, b"b"), line(3, b"c"));
        // Invalid UTF-8 inside a string, base64 that is not base64, JSON cut short, and
        // an unknown record type quoting an escape sequence.
        let bad_utf8 = br#"{"type":"exchange","data":{"id":9,"server":"\xff\xfe"}}"#.to_vec();
        let bad_b64 =
            br#"{"type":"chunk","data":{"exchange":4,"side":"request","offset":0,"base64":"!!!"}}"#;
        let cut = &b[..b.len() / 2];
        let esc = br#"{"type":"\u001b[41mevil","data":{}}"#;
        let text = join(&[
            h.as_bytes(),
            a.as_bytes(),
            &bad_utf8,
            bad_b64,
            cut.as_bytes(),
            esc,
            b.as_bytes(),
            c.as_bytes(),
        ]);
        let (xs, ws) = read(&text);
        assert_eq!(xs.iter().map(|x| x.id).collect::<Vec<_>>(), [1, 2, 3]);
        let lines: Vec<u64> = ws
            .iter()
            .map(|w| match w {
                ReadWarning::BadLine { line, .. } => *line,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(lines, [3, 4, 5, 6]);
        let shown = ws[3].to_string();
        assert!(shown.starts_with("line 6 (byte "), "{shown}");
        assert!(!shown.contains('\x1b'), "{shown}");
        assert!(shown.contains("\\u{1b}"), "{shown}");
    }

    #[test]
    fn a_second_header_duplicate_ids_and_wrong_lengths_are_reported() {
        let h = header();
        let mut short = exchange(3, Body::complete(b"abc".to_vec()));
        if let Some(r) = short.request.as_mut() {
            r.body.len = 2 << 20;
        }
        let short = serde_json::to_string(&Record::Exchange(Box::new(short))).expect("line");
        let text = join(&[
            h.as_bytes(),
            line(1, b"a").as_bytes(),
            h.as_bytes(),
            line(1, b"again").as_bytes(),
            short.as_bytes(),
        ]);
        let (xs, ws) = read(&text);
        assert_eq!(xs.len(), 3, "every exchange is still read");
        assert_eq!(
            ws[..2],
            [
                ReadWarning::SecondHeader {
                    line: 3,
                    version: FORMAT_VERSION
                },
                ReadWarning::DuplicateId { line: 4, id: 1 },
            ]
        );
        assert!(
            matches!(&ws[2], ReadWarning::BodyLength { line: 5, id: 3, side: Side::Request, detail }
                if detail.contains("len says 2097152 bytes, 3 are stored")),
            "{ws:?}"
        );
        assert_eq!(ws.len(), 3);
    }

    #[test]
    fn chunks_of_an_earlier_session_never_attach_to_a_later_exchange() {
        // A killed session left 3 bytes of exchange 1's body; a later session (ids
        // restarted, as before the writer continued them) sends exchange 1 again.
        let (xs, ws) = read_lines(&[
            chunk(1, 0, b"old"),
            chunk(1, 0, b"new-"),
            chunk(1, 4, b"body"),
            chunked_line(1, 8),
        ]);
        let body = &xs[0].request.as_ref().expect("request").body;
        assert_eq!(body.bytes, b"new-body");
        assert!(!body.truncated);
        assert_eq!(
            ws,
            [ReadWarning::OrphanChunks {
                line: 2,
                id: 1,
                side: Side::Request,
                bytes: 3
            }]
        );
    }

    #[test]
    fn chunks_without_their_exchange_are_reported_at_the_end() {
        let (xs, ws) = read_lines(&[line(1, b"a"), chunk(2, 0, b"in flight")]);
        assert_eq!(xs.len(), 1);
        assert!(ws[0]
            .to_string()
            .contains("never found their exchange line"));
    }

    #[test]
    fn a_chunk_gap_truncates_the_body() {
        let (xs, ws) = read_lines(&[
            chunk(1, 0, b"abc"),
            chunk(1, 10, b"xyz"),
            chunked_line(1, 13),
        ]);
        let body = &xs[0].request.as_ref().expect("request").body;
        assert_eq!(body.bytes, b"abc");
        assert!(body.truncated);
        assert!(matches!(
            ws[..],
            [ReadWarning::ChunkGap {
                line: 3,
                offset: 10,
                expected: 3,
                ..
            }]
        ));
    }

    #[test]
    fn the_line_limit_holds_at_limit_and_skips_at_limit_plus_one() {
        let h = header();
        let ok = line(1, b"x");
        let max = ok.len();
        let long = line(2, b"xy"); // one byte longer
        assert_eq!(long.len(), max + 1);
        let ok3 = line(3, b"x");
        let text = join(&[h.as_bytes(), ok.as_bytes(), long.as_bytes(), ok3.as_bytes()]);
        let mut r = CaptureReader::new(Cursor::new(text))
            .expect("capture")
            .with_max_line(max.max(h.len()));
        let xs: Vec<Exchange> = r.by_ref().collect::<Result<_, _>>().expect("read");
        assert_eq!(xs.len(), 2);
        assert_eq!(
            r.warnings(),
            [ReadWarning::LineTooLong {
                line: 3,
                offset: (h.len() + max + 2) as u64,
                bytes: (max + 1) as u64
            }]
        );
        // The long line was never held whole.
        assert!(r.buf.capacity() <= 2 * (max + 1) + 256);
    }

    #[test]
    fn the_chunk_limit_holds_at_limit_and_truncates_at_limit_plus_one() {
        for (n, over) in [(MAX_BODY_CHUNKS, false), (MAX_BODY_CHUNKS + 1, true)] {
            let mut text = header().into_bytes();
            text.push(b'\n');
            for i in 0..n {
                writeln!(text, "{}", chunk(1, i as u64, b"z")).expect("write");
            }
            writeln!(text, "{}", chunked_line(1, n as u64)).expect("write");
            let (xs, ws) = read(&text);
            let body = &xs[0].request.as_ref().expect("request").body;
            assert_eq!(body.truncated, over);
            assert_eq!(body.bytes.len(), n.min(MAX_BODY_CHUNKS));
            assert_eq!(
                matches!(ws[..], [ReadWarning::TooManyChunks { id: 1, .. }]),
                over,
                "{ws:?}"
            );
        }
    }

    #[test]
    fn the_pending_body_limit_drops_the_oldest_at_limit_plus_one() {
        for (n, dropped) in [(MAX_PENDING_BODIES, 0), (MAX_PENDING_BODIES + 1, 1)] {
            let mut text = header().into_bytes();
            text.push(b'\n');
            for id in 1..=n as u64 {
                writeln!(text, "{}", chunk(id, 0, b"z")).expect("write");
            }
            let mut r = CaptureReader::new(Cursor::new(text)).expect("capture");
            // Every body is still pending after the last line: look before the end.
            while let LineRead::Line = r.read_line().expect("line") {
                let rec: Record = serde_json::from_slice(&r.buf).expect("record");
                if let Record::Chunk(c) = rec {
                    r.chunk(c, 0);
                }
            }
            assert_eq!(r.pending.len(), MAX_PENDING_BODIES);
            assert_eq!(r.warnings().len(), dropped);
            if dropped == 1 {
                assert!(matches!(
                    r.warnings()[0],
                    ReadWarning::OrphanChunks { id: 1, .. }
                ));
            }
        }
    }

    #[test]
    fn warnings_are_capped() {
        let mut text = header().into_bytes();
        text.push(b'\n');
        for _ in 0..=MAX_WARNINGS {
            text.extend_from_slice(b"not json\n");
        }
        let mut r = CaptureReader::new(Cursor::new(text)).expect("capture");
        assert!(r.next_exchange().expect("read").is_none());
        assert_eq!(r.warnings().len(), MAX_WARNINGS);
        assert_eq!(r.warnings_dropped(), 1);
        assert_eq!(r.skipped_lines(), MAX_WARNINGS as u64 + 1);
    }

    #[test]
    fn following_never_consumes_a_torn_last_line() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.jsonl");
        let (h, a, b) = (header(), line(1, b"a"), line(2, b"b"));
        let mut f = File::create(&path)?;
        // Not even the header is complete yet.
        f.write_all(&h.as_bytes()[..5])?;
        let mut r = CaptureReader::follow(&path)?;
        assert!(r.next_entry()?.is_none());
        write!(f, "{}\n{a}\n{}", &h[5..], &b[..7])?;
        let first = r.next_entry()?.expect("exchange 1");
        assert_eq!(first.exchange.id, 1);
        assert_eq!(first.start, h.len() as u64 + 1);
        assert!(r.next_entry()?.is_none(), "the torn line waits");
        assert!(r.next_entry()?.is_none());
        writeln!(f, "{}", &b[7..])?;
        let second = r.next_entry()?.expect("exchange 2");
        assert_eq!(second.exchange.id, 2);
        assert_eq!(second.offset, first.end);
        assert!(r.warnings().is_empty());
        r.rewind()?;
        assert_eq!(r.next_entry()?.map(|e| e.exchange.id), Some(1));
        Ok(())
    }

    #[test]
    fn following_refuses_a_file_that_is_not_a_capture() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, "{\"hello\":1}\n")?;
        let mut r = CaptureReader::follow(&path)?;
        assert!(matches!(r.next_entry(), Err(ReadError::NotACapture)));
        Ok(())
    }

    #[test]
    fn read_at_reads_one_exchange_back_with_its_chunks() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.jsonl");
        let text = join(&[
            header().as_bytes(),
            line(1, b"a").as_bytes(),
            chunk(2, 0, b"big ").as_bytes(),
            line(3, b"c").as_bytes(),
            chunk(2, 4, b"body").as_bytes(),
            chunked_line(2, 8).as_bytes(),
        ]);
        std::fs::write(&path, text)?;
        let mut r = CaptureReader::open(&path)?;
        let entries: Vec<Entry> =
            std::iter::from_fn(|| r.next_entry().transpose()).collect::<Result<_, _>>()?;
        assert_eq!(entries.len(), 3);
        let two = &entries[2];
        assert_eq!(two.exchange.id, 2);
        assert!(two.start < entries[1].offset, "starts at its first chunk");
        let mut again = CaptureReader::open(&path)?;
        let back = again.read_at(two.start, 2)?.expect("found");
        assert_eq!(back, two.exchange);
        assert_eq!(
            back.request.as_ref().map(|r| r.body.bytes.as_slice()),
            Some(&b"big body"[..])
        );
        assert_eq!(
            again.read_at(entries[0].start, 1)?,
            Some(entries[0].exchange.clone())
        );
        assert_eq!(again.read_at(two.end, 2)?, None);
        Ok(())
    }

    #[test]
    fn last_ids_count_chunk_lines_too() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.jsonl");
        let mut x = exchange(4, Body::default());
        x.connection_id = 7;
        let x = serde_json::to_string(&Record::Exchange(Box::new(x)))?;
        let text = join(&[
            header().as_bytes(),
            x.as_bytes(),
            chunk(9, 0, b"in flight").as_bytes(),
            b"garbage",
        ]);
        std::fs::write(&path, &text[..text.len() - 1])?;
        let last = CaptureReader::last_ids(&path)?;
        assert_eq!(
            last,
            LastIds {
                exchange: 9,
                connection: 7
            }
        );
        Ok(())
    }

    #[test]
    fn id_ranges_merge_and_find_duplicates() {
        let mut s = IdSet::default();
        for id in [3, 1, 2, 5, 4, 10, u64::MAX, 0] {
            assert!(s.insert(id), "{id}");
        }
        assert_eq!(s.0.len(), 3, "{:?}", s.0);
        for id in [0, 1, 3, 5, 10, u64::MAX] {
            assert!(!s.insert(id), "{id}");
        }
        assert!(s.insert(6));
    }
}
