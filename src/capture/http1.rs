//! HTTP/1.x message framing for imports: SAZ members and reassembled TCP streams.
//!
//! Sans-IO and lenient: a head is split into its start line and header fields (values
//! kept as ISO-8859-1 text, so every octet round-trips), a body is framed as RFC 9112
//! section 6 says (no body, `Content-Length`, chunked, or until the connection closes)
//! and chunked framing is removed while the bytes stream through, as synctap's own
//! captures store bodies. [`BodyStore`] keeps at most a body limit of each body, with
//! the whole body's length and SHA-256 beyond it. Nothing here panics or allocates more
//! than its limits on any input; problems are returned with the byte offset where they
//! were found.

use crate::model::{Body, Headers};

/// Longest message head (start line and header fields) read, in bytes.
pub const MAX_HEAD: usize = 256 << 10;
/// Most header fields kept per head; later ones are ignored (and reported).
pub const MAX_HEADERS: usize = 1_000;
/// Longest chunk-size line or trailer section accepted, in bytes.
const MAX_CHUNK_LINE: usize = 4 << 10;
/// Longest trailer section accepted, in bytes.
const MAX_TRAILER: usize = 64 << 10;

/// Where a head ends: `head` is its length without the blank line, `body` where the body
/// starts. Accepts CRLF CRLF and, leniently, LF LF.
pub fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\n', &buf[i..]) {
        let nl = i + p;
        let next = nl + 1;
        // The head ends before the last header line's terminator (CRLF or LF).
        let end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        if buf.get(next) == Some(&b'\n') {
            return Some((end, next + 1));
        }
        if buf.get(next) == Some(&b'\r') && buf.get(next + 1) == Some(&b'\n') {
            return Some((end, next + 2));
        }
        i = next;
    }
    None
}

/// A parsed message head: the three parts of the start line and the header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Request: method. Response: HTTP version.
    pub first: String,
    /// Request: target. Response: status code.
    pub second: String,
    /// Request: HTTP version. Response: reason phrase (may be empty).
    pub third: String,
    /// Header fields in order.
    pub headers: Headers,
    /// Problems found (over-long header lists, lines without a colon).
    pub problems: Vec<String>,
}

impl Head {
    /// The status code of a response head.
    pub fn status(&self) -> Option<u16> {
        let s = self.second.as_bytes();
        (s.len() == 3 && s.iter().all(u8::is_ascii_digit))
            .then(|| self.second.parse().ok())
            .flatten()
    }
}

/// Whether `bytes` start like a request line (`TOKEN SP`), as far as they go.
pub fn looks_like_request(bytes: &[u8]) -> bool {
    let n = bytes.iter().take(20).take_while(|b| is_tchar(**b)).count();
    n > 0 && (n == bytes.len() || bytes.get(n) == Some(&b' '))
}

/// Whether `bytes` start like a status line (`HTTP/1.`), as far as they go.
pub fn looks_like_response(bytes: &[u8]) -> bool {
    let p = b"HTTP/1.";
    let n = bytes.len().min(p.len());
    bytes[..n] == p[..n]
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a request head (`bytes` without the blank line).
///
/// # Errors
/// When the request line is not `METHOD SP TARGET SP HTTP/x.y`.
pub fn parse_request_head(bytes: &[u8]) -> Result<Head, String> {
    let head = parse_head(bytes)?;
    if head.first.is_empty() || !head.first.bytes().all(is_tchar) {
        return Err(format!(
            "not a request line: {:?}",
            first_line_preview(bytes)
        ));
    }
    if head.second.is_empty() || !head.third.starts_with("HTTP/") {
        return Err(format!(
            "not a request line: {:?}",
            first_line_preview(bytes)
        ));
    }
    Ok(head)
}

/// Parses a response head (`bytes` without the blank line).
///
/// # Errors
/// When the status line is not `HTTP/x.y SP NNN [SP reason]`.
pub fn parse_response_head(bytes: &[u8]) -> Result<Head, String> {
    let head = parse_head(bytes)?;
    if !head.first.starts_with("HTTP/") || head.status().is_none() {
        return Err(format!(
            "not a status line: {:?}",
            first_line_preview(bytes)
        ));
    }
    Ok(head)
}

fn first_line_preview(bytes: &[u8]) -> String {
    let end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len()).min(80);
    crate::util::latin1(&bytes[..end]).trim_end().to_owned()
}

fn parse_head(bytes: &[u8]) -> Result<Head, String> {
    let mut lines = bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    // Lenient: empty lines before the start line (RFC 9112 section 2.2).
    let start = lines
        .by_ref()
        .find(|l| !l.is_empty())
        .ok_or_else(|| "empty message head".to_owned())?;
    let start = crate::util::latin1(start);
    let mut parts = start.splitn(3, ' ');
    let first = parts.next().unwrap_or("").to_owned();
    let second = parts.next().unwrap_or("").to_owned();
    let third = parts.next().unwrap_or("").trim_end().to_owned();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();
    let mut dropped = 0usize;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // obs-fold: a continuation of the previous field's value.
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(crate::util::latin1(line).trim());
            }
            continue;
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            problems.push(format!(
                "header line without a colon: {:?}",
                crate::util::latin1(&line[..line.len().min(80)])
            ));
            continue;
        };
        if headers.len() >= MAX_HEADERS {
            dropped += 1;
            continue;
        }
        let name = crate::util::latin1(&line[..colon]).trim().to_owned();
        let value = crate::util::latin1(&line[colon + 1..]).trim().to_owned();
        headers.push((name, value));
    }
    if dropped > 0 {
        problems.push(format!(
            "{dropped} header fields over the {MAX_HEADERS}-field limit ignored"
        ));
    }
    Ok(Head {
        first,
        second,
        third,
        headers: Headers(headers),
        problems,
    })
}

/// How a message's body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// Whether the last transfer coding is `chunked`.
fn is_chunked(h: &Headers) -> Option<bool> {
    let mut last = None;
    for v in h.get_all("transfer-encoding") {
        for c in v.split(',') {
            let c = c.trim();
            if !c.is_empty() {
                last = Some(c.eq_ignore_ascii_case("chunked"));
            }
        }
    }
    last
}

fn content_length(h: &Headers) -> Option<u64> {
    let mut found = None;
    for v in h.get_all("content-length") {
        for part in v.split(',') {
            let n: u64 = part.trim().parse().ok()?;
            if found.is_some_and(|f| f != n) {
                return None;
            }
            found = Some(n);
        }
    }
    found
}

/// The framing of a request body.
pub fn request_framing(h: &Headers) -> Framing {
    match is_chunked(h) {
        Some(true) => Framing::Chunked,
        // A request whose last coding is not chunked cannot be delimited; read to close.
        Some(false) => Framing::UntilClose,
        None => content_length(h).map_or(Framing::Empty, Framing::Length),
    }
}

/// The framing of a response body, given the request method it answers.
pub fn response_framing(h: &Headers, status: u16, method: Option<&str>) -> Framing {
    if method.is_some_and(|m| m.eq_ignore_ascii_case("HEAD"))
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Framing::Empty;
    }
    if method.is_some_and(|m| m.eq_ignore_ascii_case("CONNECT")) && (200..300).contains(&status) {
        return Framing::Empty;
    }
    match is_chunked(h) {
        Some(true) => Framing::Chunked,
        Some(false) => Framing::UntilClose,
        None => content_length(h).map_or(Framing::UntilClose, Framing::Length),
    }
}

/// A body framing problem, at a byte offset from the start of the framed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError {
    /// Offset in the body as framed on the wire.
    pub offset: u64,
    /// What was wrong.
    pub message: String,
}

impl std::fmt::Display for FramingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at body byte {}", self.message, self.offset)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex size (`digits` so far, `line` bytes of the size line).
    Size { value: u64, digits: u8, line: usize },
    /// Skipping a chunk extension up to the line end.
    Ext { value: u64, line: usize },
    /// Chunk data still to come.
    Data(u64),
    /// The CRLF after chunk data.
    DataEnd { cr: bool },
    /// Trailer section: bytes of the current line, bytes in total.
    Trailer { line: usize, total: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
    Failed,
}

/// Removes a body's framing as its bytes arrive.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    /// Framed bytes consumed so far.
    offset: u64,
}

impl BodyDecoder {
    /// A decoder for `framing`.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
                line: 0,
            }),
            Framing::UntilClose => State::UntilClose,
        };
        Self { state, offset: 0 }
    }

    /// Whether the body is complete.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the body ends where the stream ends (read until close).
    pub fn ends_at_close(&self) -> bool {
        self.state == State::UntilClose
    }

    /// Framed bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Consumes framed bytes from `input`, passing the body's bytes to `out`. Returns how
    /// many bytes of `input` belong to this body (the rest is the next message).
    ///
    /// # Errors
    /// When the chunked framing is broken; the decoder then stays failed.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, FramingError> {
        let mut i = 0;
        while i < input.len() {
            match &mut self.state {
                State::Done | State::Failed => break,
                State::UntilClose => {
                    out(&input[i..]);
                    i = input.len();
                }
                State::Length(rem) => {
                    if take(rem, input, &mut i, out) {
                        self.state = State::Done;
                    }
                }
                State::Chunked(c) => {
                    let step = chunk_step(c, &input[i..], out);
                    match step {
                        Ok((used, done)) => {
                            i += used;
                            if done {
                                self.state = State::Done;
                            }
                        }
                        Err((used, message)) => {
                            self.state = State::Failed;
                            let offset = self.offset + (i + used) as u64;
                            self.offset += i as u64;
                            return Err(FramingError { offset, message });
                        }
                    }
                }
            }
        }
        self.offset += i as u64;
        Ok(i)
    }

    /// `n` framed bytes are missing (a gap in a capture). Returns whether the decoder is
    /// still in step afterwards: a gap inside a known length or inside chunk data keeps
    /// it; one in a chunk-size line does not.
    pub fn skip(&mut self, n: u64) -> bool {
        self.offset += n;
        match &mut self.state {
            State::Length(rem) => {
                if n >= *rem {
                    let over = n > *rem;
                    self.state = State::Done;
                    return !over;
                }
                *rem -= n;
                true
            }
            State::Chunked(Chunk::Data(rem)) if n <= *rem => {
                *rem -= n;
                if *rem == 0 {
                    self.state = State::Chunked(Chunk::DataEnd { cr: false });
                }
                true
            }
            State::UntilClose => true,
            _ => {
                self.state = State::Failed;
                false
            }
        }
    }
}

/// One step of the chunked-coding state machine over `input`. Returns (bytes used,
/// body done) or (bytes used before the error, message).
/// Passes up to `rem` bytes of `input` from `i` to `out`; true when `rem` reached 0.
fn take(rem: &mut u64, input: &[u8], i: &mut usize, out: &mut dyn FnMut(&[u8])) -> bool {
    let n = usize::try_from(*rem)
        .unwrap_or(usize::MAX)
        .min(input.len() - *i);
    out(&input[*i..*i + n]);
    *i += n;
    *rem -= n as u64;
    *rem == 0
}

fn chunk_step(
    c: &mut Chunk,
    input: &[u8],
    out: &mut dyn FnMut(&[u8]),
) -> Result<(usize, bool), (usize, String)> {
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        match c {
            Chunk::Size {
                value,
                digits,
                line,
            } => {
                *line += 1;
                if *line > MAX_CHUNK_LINE {
                    return Err((i, "chunk-size line too long".into()));
                }
                if let Some(d) = (b as char).to_digit(16) {
                    if *digits >= 16 {
                        return Err((i, "chunk size does not fit in 64 bits".into()));
                    }
                    *value = (*value << 4) | u64::from(d);
                    *digits += 1;
                } else if *digits == 0 {
                    return Err((i, format!("chunk size expected, found byte 0x{b:02x}")));
                } else if b == b'\n' {
                    let v = *value;
                    i += 1;
                    *c = if v == 0 {
                        Chunk::Trailer { line: 0, total: 0 }
                    } else {
                        Chunk::Data(v)
                    };
                    continue;
                } else if matches!(b, b';' | b' ' | b'\t' | b'\r') {
                    *c = Chunk::Ext {
                        value: *value,
                        line: *line,
                    };
                } else {
                    return Err((i, format!("bad byte 0x{b:02x} in chunk size")));
                }
                i += 1;
            }
            Chunk::Ext { value, line } => {
                *line += 1;
                if *line > MAX_CHUNK_LINE {
                    return Err((i, "chunk extension too long".into()));
                }
                i += 1;
                if b == b'\n' {
                    let v = *value;
                    *c = if v == 0 {
                        Chunk::Trailer { line: 0, total: 0 }
                    } else {
                        Chunk::Data(v)
                    };
                }
            }
            Chunk::Data(rem) => {
                if take(rem, input, &mut i, out) {
                    *c = Chunk::DataEnd { cr: false };
                }
            }
            Chunk::DataEnd { cr } => {
                if b == b'\r' && !*cr {
                    *cr = true;
                    i += 1;
                } else if b == b'\n' {
                    i += 1;
                    *c = Chunk::Size {
                        value: 0,
                        digits: 0,
                        line: 0,
                    };
                } else {
                    return Err((
                        i,
                        format!("CRLF expected after chunk data, found byte 0x{b:02x}"),
                    ));
                }
            }
            Chunk::Trailer { line, total } => {
                i += 1;
                *total += 1;
                if *total > MAX_TRAILER {
                    return Err((i, "trailer section too long".into()));
                }
                if b == b'\n' {
                    if *line == 0 {
                        return Ok((i, true));
                    }
                    *line = 0;
                } else if b != b'\r' {
                    *line += 1;
                }
            }
        }
    }
    Ok((i, false))
}

/// Keeps at most `limit` bytes of a body, its whole length, and (once past the limit)
/// the SHA-256 of the whole body, as the proxy does.
pub struct BodyStore {
    limit: u64,
    bytes: Vec<u8>,
    len: u64,
    /// Bytes not stored for want of `budget` (not the limit).
    starved: bool,
    /// Bytes are missing (a capture gap): nothing after them is stored and no hash is
    /// given, so the stored bytes stay a true prefix of the body.
    gapped: bool,
    hasher: Option<ring::digest::Context>,
}

impl std::fmt::Debug for BodyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStore")
            .field("limit", &self.limit)
            .field("stored", &self.bytes.len())
            .field("len", &self.len)
            .field("gapped", &self.gapped)
            .finish_non_exhaustive()
    }
}

impl BodyStore {
    /// A store keeping at most `limit` bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            bytes: Vec::new(),
            len: 0,
            starved: false,
            gapped: false,
            hasher: None,
        }
    }

    /// `n` bytes of the body are missing from the capture.
    pub fn gap(&mut self, n: u64) {
        self.len += n;
        self.gapped = true;
        self.hasher = None;
    }

    /// Bytes stored so far.
    pub fn stored(&self) -> usize {
        self.bytes.len()
    }

    /// The whole length so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing arrived.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds body bytes; at most `budget` more bytes are stored (it is decreased by what
    /// is stored), the rest only counted and hashed.
    pub fn push(&mut self, data: &[u8], budget: &mut u64) {
        self.len += data.len() as u64;
        if self.gapped {
            return;
        }
        let room = self
            .limit
            .saturating_sub(self.bytes.len() as u64)
            .min(*budget);
        let take = usize::try_from(room).unwrap_or(usize::MAX).min(data.len());
        if take < data.len() && self.hasher.is_none() {
            if *budget < self.limit.saturating_sub(self.bytes.len() as u64) {
                self.starved = true;
            }
            let mut h = ring::digest::Context::new(&ring::digest::SHA256);
            h.update(&self.bytes);
            self.hasher = Some(h);
        }
        self.bytes.extend_from_slice(&data[..take]);
        *budget -= take as u64;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&data[..take]);
            h.update(&data[take..]);
        }
    }

    /// Whether bytes were left unstored because the shared budget ran out.
    pub fn starved(&self) -> bool {
        self.starved
    }

    /// The body; `complete` says whether it ended as its framing said.
    pub fn finish(self, complete: bool) -> Body {
        let stored = self.bytes.len() as u64;
        let truncated = stored < self.len;
        let sha256 = if truncated && complete && !self.gapped {
            self.hasher.map(|h| crate::util::hex(h.finish().as_ref()))
        } else {
            None
        };
        Body {
            bytes: self.bytes,
            len: self.len,
            truncated,
            sha256,
            incomplete: !complete,
            stored,
            chunked: false,
        }
    }
}

/// Writes `body` in chunked framing (one chunk, then the last chunk), for exports whose
/// headers say `Transfer-Encoding: chunked` while the body is stored unchunked.
pub fn chunk(body: &[u8], out: &mut Vec<u8>) {
    if !body.is_empty() {
        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
}

/// Whether headers say the body is chunked.
pub fn says_chunked(h: &Headers) -> bool {
    is_chunked(h) == Some(true)
}

/// The `Content-Length` the headers agree on, if any.
pub fn declared_length(h: &Headers) -> Option<u64> {
    content_length(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(
        framing: Framing,
        input: &[u8],
        step: usize,
    ) -> (Vec<u8>, usize, bool, Option<String>) {
        let mut d = BodyDecoder::new(framing);
        let mut out = Vec::new();
        let mut used = 0;
        for piece in input.chunks(step.max(1)) {
            match d.feed(piece, &mut |b| out.extend_from_slice(b)) {
                Ok(n) => {
                    used += n;
                    if n < piece.len() {
                        break;
                    }
                }
                Err(e) => return (out, used, false, Some(e.to_string())),
            }
        }
        (out, used, d.is_done(), None)
    }

    #[test]
    fn chunked_bodies_decode_at_every_split_point() {
        let wire = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1";
        for step in 1..wire.len() {
            let (out, used, done, err) = decode(Framing::Chunked, wire, step);
            assert_eq!(err, None, "step {step}");
            assert!(done, "step {step}");
            assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
            assert_eq!(&wire[used..], b"GET / HTTP/1.1", "step {step}");
        }
    }

    #[test]
    fn broken_chunking_names_the_offset() {
        let (_, _, done, err) = decode(Framing::Chunked, b"4\r\nWikiXX", 100);
        assert!(!done);
        assert_eq!(
            err.as_deref(),
            Some("CRLF expected after chunk data, found byte 0x58 at body byte 7")
        );
        let (_, _, _, err) = decode(Framing::Chunked, b"zz\r\n", 100);
        assert!(err.is_some_and(|e| e.contains("body byte 0")));
        let (_, _, _, err) = decode(Framing::Chunked, b"11111111111111111\r\n", 100);
        assert!(err.is_some_and(|e| e.contains("64 bits")));
    }

    #[test]
    fn length_framing_stops_at_the_length() {
        let (out, used, done, _) = decode(Framing::Length(3), b"abcdef", 2);
        assert_eq!((out.as_slice(), used, done), (&b"abc"[..], 3, true));
    }

    #[test]
    fn gaps_keep_step_only_where_lengths_are_known() {
        let mut d = BodyDecoder::new(Framing::Length(10));
        assert!(d.skip(4));
        assert!(!d.is_done());
        assert!(d.skip(6));
        assert!(d.is_done());
        let mut d = BodyDecoder::new(Framing::Chunked);
        let mut sink = |_: &[u8]| {};
        d.feed(b"a\r\n12", &mut sink).expect("ok");
        assert!(d.skip(8));
        assert_eq!(d.feed(b"\r\n0\r\n\r\n", &mut sink), Ok(7));
        assert!(d.is_done());
        let mut d = BodyDecoder::new(Framing::Chunked);
        assert!(!d.skip(1));
    }

    #[test]
    fn heads_are_lenient_and_keep_octets() {
        let h = parse_request_head(
            b"POST http://h/p HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n  b\r\nbad line\r\nX-L: caf\xe9",
        )
        .expect("head");
        assert_eq!(
            (h.first.as_str(), h.second.as_str(), h.third.as_str()),
            ("POST", "http://h/p", "HTTP/1.1")
        );
        assert_eq!(h.headers.get("x-fold"), Some("a b"));
        assert_eq!(h.headers.get("x-l"), Some("caf\u{e9}"));
        assert_eq!(h.problems.len(), 1);
        let r = parse_response_head(b"HTTP/1.1 200\r\nA: b").expect("head");
        assert_eq!((r.status(), r.third.as_str()), (Some(200), ""));
        assert!(parse_response_head(b"HTTP/1.1 2000 OK").is_err());
        assert!(parse_request_head(b"\x16\x03\x01 x").is_err());
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"),
            Some((20, 24))
        );
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\nA: b\n\nbody"),
            Some((19, 21))
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let h = |pairs: &[(&str, &str)]| Headers::from(pairs);
        assert_eq!(request_framing(&h(&[])), Framing::Empty);
        assert_eq!(
            request_framing(&h(&[("Content-Length", "5")])),
            Framing::Length(5)
        );
        assert_eq!(
            request_framing(&h(&[
                ("Transfer-Encoding", "gzip, chunked"),
                ("Content-Length", "5")
            ])),
            Framing::Chunked
        );
        assert_eq!(
            response_framing(&h(&[]), 200, Some("GET")),
            Framing::UntilClose
        );
        assert_eq!(
            response_framing(&h(&[("Content-Length", "5")]), 200, Some("HEAD")),
            Framing::Empty
        );
        assert_eq!(response_framing(&h(&[]), 204, None), Framing::Empty);
        assert_eq!(response_framing(&h(&[]), 100, None), Framing::Empty);
        assert_eq!(
            response_framing(&h(&[("Content-Length", "5, 6")]), 200, None),
            Framing::UntilClose
        );
    }

    #[test]
    fn the_store_keeps_the_limit_and_hashes_the_rest() {
        let mut s = BodyStore::new(4);
        let mut budget = u64::MAX;
        s.push(b"abc", &mut budget);
        s.push(b"defg", &mut budget);
        let b = s.finish(true);
        assert_eq!(
            (b.bytes.as_slice(), b.len, b.truncated),
            (&b"abcd"[..], 7, true)
        );
        let want =
            crate::util::hex(ring::digest::digest(&ring::digest::SHA256, b"abcdefg").as_ref());
        assert_eq!(b.sha256.as_deref(), Some(want.as_str()));
        let mut s = BodyStore::new(100);
        let mut budget = 2;
        s.push(b"abc", &mut budget);
        assert!(s.starved());
        assert_eq!(budget, 0);
        let mut out = Vec::new();
        chunk(b"hello", &mut out);
        assert_eq!(out, b"5\r\nhello\r\n0\r\n\r\n");
    }
}
