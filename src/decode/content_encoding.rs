//! HTTP content codings (RFC 9110 8.4): undoing `Content-Encoding: gzip`, `deflate`
//! (zlib, or raw deflate as some servers send it), `br` and `zstd`, also stacked
//! (`gzip, br`), before a body reaches the protocol decoders.
//!
//! The capture keeps the wire bytes; this runs when a body is read. It works on bytes in
//! memory (no IO) and is bounded: at most [`decode_limit`] decoded bytes per body
//! (default 256 MiB, `--decode-limit`), so a decompression bomb gives a diagnostic and
//! the part decoded so far. A corrupt stream gives a diagnostic with the input offset at
//! which the decompressor stopped, and the bytes decoded up to there.

use std::borrow::Cow;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::decode::Diagnostic;

/// The default cap on decoded bytes per body: 256 MiB.
pub const DEFAULT_DECODE_LIMIT: usize = 256 << 20;

static DECODE_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_DECODE_LIMIT);

/// The cap on decoded bytes per body for this process.
pub fn decode_limit() -> usize {
    DECODE_LIMIT.load(Ordering::Relaxed)
}

/// Sets the cap on decoded bytes per body for this process (`--decode-limit`).
pub fn set_decode_limit(bytes: usize) {
    DECODE_LIMIT.store(bytes.max(1), Ordering::Relaxed);
}

/// A content coding synctap can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Coding {
    /// `gzip` or `x-gzip` (RFC 1952).
    Gzip,
    /// `deflate`: zlib (RFC 1950), or raw deflate (RFC 1951) when there is no zlib header.
    Deflate,
    /// `br` (RFC 7932).
    Br,
    /// `zstd` (RFC 8878).
    Zstd,
}

impl Coding {
    /// Parses one coding name; `identity` and unknown names give `None`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Self::Gzip),
            "deflate" => Some(Self::Deflate),
            "br" => Some(Self::Br),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The coding's name as written in `Content-Encoding`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Br => "br",
            Self::Zstd => "zstd",
        }
    }
}

/// What undoing a body's content codings gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The decoded body (the input itself when it had no coding to undo).
    pub bytes: Cow<'a, [u8]>,
    /// The codings undone, in the order they were applied (as listed in the header).
    pub codings: Vec<Coding>,
    /// False when a stream was corrupt or truncated, or the limit was reached.
    pub complete: bool,
    /// Problems, with offsets into the input of the layer that failed.
    pub diagnostics: Vec<Diagnostic>,
}

impl Decoded<'_> {
    /// Whether any coding was undone.
    pub fn is_decoded(&self) -> bool {
        !self.codings.is_empty()
    }
}

/// What a body's `Content-Encoding` did, for the decoded form of an exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BodyEncoding {
    /// `request` or `response`.
    pub side: crate::decode::diag::Side,
    /// The `Content-Encoding` header as sent.
    #[serde(rename = "Content-Encoding")]
    pub content_encoding: String,
    /// Bytes on the wire (as stored).
    pub wire_len: usize,
    /// Bytes after decoding.
    pub decoded_len: usize,
    /// False when decoding stopped early (corrupt, truncated, or over the limit).
    pub complete: bool,
}

/// Undoes the codings `content_encoding` lists (applied left to right, so undone right to
/// left), keeping at most `limit` decoded bytes.
///
/// Unknown codings stop the decoding with a diagnostic (the body is passed on as it is at
/// that layer); `identity` is skipped. A layer that fails keeps what it decoded, and the
/// layers below it are not attempted on partial data when nothing came out.
pub fn decode<'a>(content_encoding: Option<&str>, body: &'a [u8], limit: usize) -> Decoded<'a> {
    let mut out = Decoded {
        bytes: Cow::Borrowed(body),
        codings: Vec::new(),
        complete: true,
        diagnostics: Vec::new(),
    };
    let Some(header) = content_encoding else {
        return out;
    };
    let names: Vec<&str> = header
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("identity"))
        .collect();
    let mut undone = Vec::new();
    for name in names.iter().rev() {
        let Some(coding) = Coding::parse(name) else {
            out.diagnostics.push(Diagnostic::encoding(
                0,
                format!("Content-Encoding {name:?} is not one synctap decodes; the body is shown as it is at that layer"),
            ));
            out.complete = false;
            break;
        };
        if out.bytes.is_empty() {
            break;
        }
        let layer = decode_one(coding, &out.bytes, limit);
        undone.push(coding);
        let stop = !layer.complete;
        out.diagnostics.extend(layer.diagnostics);
        out.bytes = Cow::Owned(layer.bytes);
        if stop {
            out.complete = false;
            break;
        }
    }
    undone.reverse();
    out.codings = undone;
    out
}

struct Layer {
    bytes: Vec<u8>,
    complete: bool,
    diagnostics: Vec<Diagnostic>,
}

fn decode_one(coding: Coding, input: &[u8], limit: usize) -> Layer {
    let mut rest: &[u8] = input;
    let result = match coding {
        Coding::Gzip => {
            // Several gzip members in a row are one body (RFC 1952 2.2).
            read_capped(flate2::bufread::MultiGzDecoder::new(&mut rest), limit)
        }
        Coding::Deflate if looks_like_zlib(input) => {
            read_capped(flate2::bufread::ZlibDecoder::new(&mut rest), limit)
        }
        Coding::Deflate => read_capped(flate2::bufread::DeflateDecoder::new(&mut rest), limit),
        Coding::Br => read_capped(brotli::Decompressor::new(&mut rest, 4096), limit),
        Coding::Zstd => match zstd::stream::read::Decoder::with_buffer(&mut rest) {
            Ok(d) => read_capped(d, limit),
            Err(e) => (Vec::new(), Err(e)),
        },
    };
    let consumed = input.len() - rest.len();
    let name = coding.name();
    let (bytes, status) = result;
    let mut diagnostics = Vec::new();
    let complete = match status {
        Ok(Stop::End) => true,
        Ok(Stop::Limit) => {
            diagnostics.push(Diagnostic::limit(
                consumed,
                format!(
                    "{name} body decodes to more than the decode limit of {limit} bytes; shown up to the limit (--decode-limit)"
                ),
            ));
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            diagnostics.push(Diagnostic::truncated(
                consumed,
                format!(
                    "{name} stream ends early after {consumed} of {} bytes; {} bytes decoded",
                    input.len(),
                    bytes.len()
                ),
            ));
            false
        }
        Err(e) => {
            diagnostics.push(Diagnostic::encoding(
                consumed.min(input.len()),
                format!(
                    "corrupt {name} stream: {e}; {} bytes decoded before it",
                    bytes.len()
                ),
            ));
            false
        }
    };
    Layer {
        bytes,
        complete,
        diagnostics,
    }
}

enum Stop {
    End,
    Limit,
}

/// Reads `r` to its end or to `limit` bytes, whichever comes first.
fn read_capped(mut r: impl Read, limit: usize) -> (Vec<u8>, std::io::Result<Stop>) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (out, Ok(Stop::End)),
            Ok(n) => {
                let room = limit - out.len();
                if n > room {
                    out.extend_from_slice(&buf[..room]);
                    return (out, Ok(Stop::Limit));
                }
                out.extend_from_slice(&buf[..n]);
                if out.len() == limit {
                    // Exactly at the limit: it is only over if more follows.
                    let mut one = [0u8; 1];
                    return match r.read(&mut one) {
                        Ok(0) => (out, Ok(Stop::End)),
                        Ok(_) => (out, Ok(Stop::Limit)),
                        Err(e) => (out, Err(e)),
                    };
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (out, Err(e)),
        }
    }
}

/// A zlib stream starts with CMF/FLG: method 8, and the pair a multiple of 31 (RFC 1950).
fn looks_like_zlib(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => cmf & 0x0F == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    const TEXT: &[u8] = b"<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>";

    pub(crate) fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = e.write_all(b);
        e.finish().unwrap_or_default()
    }

    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = e.write_all(b);
        e.finish().unwrap_or_default()
    }

    fn raw_deflate(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = e.write_all(b);
        e.finish().unwrap_or_default()
    }

    fn br(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            let _ = w.write_all(b);
        }
        out
    }

    fn zstd(b: &[u8]) -> Vec<u8> {
        zstd::encode_all(b, 3).unwrap_or_default()
    }

    #[test]
    fn each_coding_and_a_stack() {
        for (ce, wire) in [
            ("gzip", gzip(TEXT)),
            ("x-gzip", gzip(TEXT)),
            ("deflate", zlib(TEXT)),
            ("deflate", raw_deflate(TEXT)),
            ("br", br(TEXT)),
            ("zstd", zstd(TEXT)),
            ("gzip, br", br(&gzip(TEXT))),
            ("identity, zstd , gzip", gzip(&zstd(TEXT))),
        ] {
            let d = decode(Some(ce), &wire, DEFAULT_DECODE_LIMIT);
            assert_eq!(&d.bytes[..], TEXT, "{ce}");
            assert!(
                d.complete && d.diagnostics.is_empty(),
                "{ce}: {:?}",
                d.diagnostics
            );
            assert!(d.is_decoded());
        }
        let wire = br(&gzip(TEXT));
        let d = decode(Some("gzip, br"), &wire, DEFAULT_DECODE_LIMIT);
        assert_eq!(d.codings, vec![Coding::Gzip, Coding::Br]);
    }

    #[test]
    fn no_header_or_identity_borrows() {
        let d = decode(None, TEXT, 10);
        assert!(matches!(d.bytes, Cow::Borrowed(_)) && !d.is_decoded());
        let d = decode(Some("identity"), TEXT, 10);
        assert!(matches!(d.bytes, Cow::Borrowed(_)) && d.diagnostics.is_empty());
    }

    #[test]
    fn unknown_coding_is_a_diagnostic() {
        let d = decode(Some("compress"), TEXT, DEFAULT_DECODE_LIMIT);
        assert_eq!(&d.bytes[..], TEXT);
        assert!(!d.complete);
        assert!(d.diagnostics[0].message.contains("\"compress\""));
    }

    #[test]
    fn corrupt_stream_has_an_offset_and_keeps_the_prefix() {
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut wire = gzip(&big);
        let cut = wire.len() / 2;
        wire.truncate(cut);
        let d = decode(Some("gzip"), &wire, DEFAULT_DECODE_LIMIT);
        assert!(!d.complete);
        assert_eq!(d.diagnostics.len(), 1);
        assert!(d.diagnostics[0].offset <= cut, "{:?}", d.diagnostics);
        assert!(
            d.diagnostics[0].message.contains("ends early"),
            "{:?}",
            d.diagnostics
        );
        assert!(!d.bytes.is_empty() && big.starts_with(&d.bytes));

        let mut bad = gzip(TEXT);
        bad[12] ^= 0xFF;
        bad[13] ^= 0xFF;
        let d = decode(Some("gzip"), &bad, DEFAULT_DECODE_LIMIT);
        assert!(!d.complete);
        assert!(d.diagnostics[0].offset <= bad.len());
        let d = decode(
            Some("br"),
            b"\xff\xff\xff\xff not brotli",
            DEFAULT_DECODE_LIMIT,
        );
        assert!(!d.complete && d.diagnostics[0].message.contains("br"));
        let d = decode(Some("zstd"), b"not zstd at all", DEFAULT_DECODE_LIMIT);
        assert!(!d.complete && d.diagnostics[0].message.contains("zstd"));
    }

    /// A bomb: 64 MiB of zeros in about 64 KB of gzip, decoded under a 1 MiB limit.
    #[test]
    fn bomb_stops_at_the_limit() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            let _ = e.write_all(&zeros);
        }
        let wire = e.finish().unwrap_or_default();
        assert!(wire.len() < 100_000);
        let d = decode(Some("gzip"), &wire, 1 << 20);
        assert_eq!(d.bytes.len(), 1 << 20);
        assert!(!d.complete);
        assert!(
            d.diagnostics[0].message.contains("decode limit"),
            "{:?}",
            d.diagnostics
        );
        // Exactly at the limit is complete.
        let at = gzip(&[7u8; 1000]);
        let d = decode(Some("gzip"), &at, 1000);
        assert!(d.complete, "{:?}", d.diagnostics);
        let over = gzip(&[7u8; 1001]);
        let d = decode(Some("gzip"), &over, 1000);
        assert!(!d.complete);
    }
}
