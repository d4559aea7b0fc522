//! `multipart/related` bodies carrying XOP packages (MTOM), as used by MS-FSSHTTP.
//!
//! The cell storage service answers with MTOM (MS-FSSHTTP 2.1) and clients usually send
//! it too: the SOAP envelope is the root part and each `xop:Include href="cid:…"` in it
//! refers to a binary part by Content-ID (RFC 2387, RFC 2392, W3C XOP 1.0 §2.1,
//! MS-FSSHTTP 2.2.3.1). This module only splits a body into parts and resolves `cid:`
//! references; reading the SOAP envelope is left to [`crate::decode::fsshttp`]. Its
//! [`split`] is the crate's one multipart splitter, with part and header limits; the
//! SPFileSync upload decoder uses it too.
//!
//! Every part keeps its byte range in the HTTP body so that diagnostics and payload
//! origins can point into the original bytes. The boundary always comes from the
//! `Content-Type` header, never from a constant. Truncated bodies (a missing closing
//! delimiter, headers cut short) still yield the parts seen so far, plus diagnostics.

use std::ops::Range;

use memchr::memmem;
use serde::{Deserialize, Serialize};

use crate::decode::text::percent_decode;
use crate::decode::Diagnostic;

/// Most parts accepted in one body; more are reported and ignored.
pub const MAX_PARTS: usize = 4096;
/// Most headers accepted in one part header block.
pub const MAX_PART_HEADERS: usize = 32;

/// The parameters of a `multipart/related` Content-Type (RFC 2387 §3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MultipartParams {
    /// The `boundary` parameter, unquoted.
    pub boundary: String,
    /// The `type` parameter (`application/xop+xml` for MTOM), if present.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// The `start` parameter: the root part's Content-ID, with its angle brackets removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// The `start-info` parameter (`text/xml` for SOAP 1.1), if present.
    #[serde(rename = "start-info", skip_serializing_if = "Option::is_none")]
    pub start_info: Option<String>,
}

/// One MIME part of a multipart body, located by byte ranges in that body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Part {
    /// The Content-ID header without angle brackets, if present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    /// The Content-Type header, if present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The Content-Transfer-Encoding header, if present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_encoding: Option<String>,
    /// Every header field of the part as (name, value), in order (not serialized: the
    /// three above are the ones MTOM reads).
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    /// Where the part's header block starts (just after the boundary line).
    pub header_start: usize,
    /// The part's content: from after the blank line to before the CRLF of the next
    /// delimiter (or the end of a truncated body).
    pub range: Range<usize>,
}

/// A multipart body split into parts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Multipart {
    /// The Content-Type parameters the body was split with.
    pub params: MultipartParams,
    /// The parts in body order.
    pub parts: Vec<Part>,
    /// Index into `parts` of the root part: the one named by `start`, else the first.
    pub root: Option<usize>,
    /// What could not be split, with offsets into the body.
    pub diagnostics: Vec<Diagnostic>,
}

impl Multipart {
    /// The root part, if any part was found.
    pub fn root_part(&self) -> Option<&Part> {
        self.root.and_then(|i| self.parts.get(i))
    }

    /// The part a `cid:` URL (as found in `xop:Include@href`) refers to.
    ///
    /// The URL is percent-decoded and matched against Content-IDs with their angle
    /// brackets removed (RFC 2392); a raw, undecoded match is accepted as well.
    pub fn resolve_cid(&self, href: &str) -> Option<(usize, &Part)> {
        let want = cid_from_href(href);
        let raw = strip_cid_scheme(href.trim());
        self.parts.iter().enumerate().find(|(_, p)| {
            p.content_id
                .as_deref()
                .is_some_and(|id| id == want || id == raw)
        })
    }
}

/// Whether `content_type` is `multipart/related` (any case, any parameters).
pub fn is_multipart_related(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("multipart/related")
}

/// Parses the parameters of a `multipart/related` Content-Type.
///
/// Parameter names are matched case-insensitively, in any order; values may be quoted
/// (with backslash escapes) or bare. Returns `None` when the type is not
/// `multipart/related` or has no usable `boundary`.
pub fn parse_content_type(content_type: &str) -> Option<MultipartParams> {
    if !is_multipart_related(content_type) {
        return None;
    }
    let mut params = MultipartParams::default();
    for (name, value) in split_params(content_type).into_iter().skip(1) {
        match name.to_ascii_lowercase().as_str() {
            "boundary" => params.boundary = value,
            "type" => params.type_ = Some(value),
            "start" => params.start = Some(strip_angle(&value).to_owned()),
            "start-info" => params.start_info = Some(value),
            _ => {}
        }
    }
    if params.boundary.is_empty() || params.boundary.len() > 200 {
        return None;
    }
    Some(params)
}

/// Splits a header value like `a/b; k=v; k2="v;2"` into (name, value) pairs; the first
/// pair is the media type with an empty value.
fn split_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    let mut current = String::new();
    let mut pieces = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                current.push('"');
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            if let Some(e) = chars.next() {
                                current.push(e);
                            }
                        }
                        '"' => break,
                        _ => current.push(q),
                    }
                }
                current.push('"');
            }
            ';' => pieces.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    pieces.push(current);
    for (i, piece) in pieces.iter().enumerate() {
        let piece = piece.trim();
        if i == 0 {
            out.push((piece.to_owned(), String::new()));
            continue;
        }
        if let Some((name, value)) = piece.split_once('=') {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            out.push((name.trim().to_owned(), value.to_owned()));
        }
    }
    out
}

/// A parameter of a simple header value such as a part's
/// `application/xop+xml;charset=utf-8;type="text/xml"`, matched case-insensitively.
pub fn header_param(value: &str, name: &str) -> Option<String> {
    split_params(value)
        .into_iter()
        .skip(1)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn strip_angle(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(s)
}

fn strip_cid_scheme(href: &str) -> &str {
    match href.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("cid:") => href.get(4..).unwrap_or(""),
        _ => href,
    }
}

/// The Content-ID a `cid:` URL names: scheme removed, percent-decoded, angle brackets removed.
pub fn cid_from_href(href: &str) -> String {
    let decoded = percent_decode(strip_cid_scheme(href.trim()));
    strip_angle(&decoded).to_owned()
}

/// Splits `body` into parts using `params.boundary`.
///
/// Never fails: a missing opening delimiter, a header block cut short or a missing
/// closing delimiter each add a diagnostic and keep what was found.
pub fn split(body: &[u8], params: &MultipartParams) -> Multipart {
    let mut mp = Multipart {
        params: params.clone(),
        ..Multipart::default()
    };
    let dash_boundary = format!("--{}", params.boundary);
    let delim = format!("\n--{}", params.boundary);
    let delim_finder = memmem::Finder::new(delim.as_bytes());

    // The first delimiter may start the body (no preceding CRLF).
    let first = if body.starts_with(dash_boundary.as_bytes()) {
        Some(0)
    } else {
        delim_finder.find(body).map(|p| p + 1)
    };
    let Some(mut pos) = first else {
        mp.diagnostics.push(Diagnostic::malformed(
            0,
            format!("multipart boundary {:?} not found in body", params.boundary),
        ));
        return mp;
    };
    let mut closed = false;
    loop {
        // `pos` is at "--boundary".
        let after = pos + dash_boundary.len();
        if body.get(after..after + 2) == Some(b"--") {
            closed = true;
            break;
        }
        if mp.parts.len() >= MAX_PARTS {
            mp.diagnostics.push(Diagnostic::limit(
                pos,
                format!("more than {MAX_PARTS} multipart parts; the rest are ignored"),
            ));
            break;
        }
        // Skip transport padding up to the end of the boundary line.
        let header_start = match memchr::memchr(b'\n', body.get(after..).unwrap_or(&[])) {
            Some(nl) => after + nl + 1,
            None => {
                mp.diagnostics.push(Diagnostic::truncated(
                    after,
                    "truncated multipart body: boundary line not terminated",
                ));
                break;
            }
        };
        let rest = body.get(header_start..).unwrap_or(&[]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_PART_HEADERS];
        let mut part = Part {
            content_id: None,
            content_type: None,
            transfer_encoding: None,
            headers: Vec::new(),
            header_start,
            range: header_start..header_start,
        };
        let content_start = match httparse::parse_headers(rest, &mut headers) {
            Ok(httparse::Status::Complete((len, hs))) => {
                for h in hs.iter() {
                    let value = String::from_utf8_lossy(h.value).trim().to_owned();
                    part.headers.push((h.name.to_owned(), value.clone()));
                    if h.name.eq_ignore_ascii_case("content-id") {
                        part.content_id = Some(strip_angle(&value).to_owned());
                    } else if h.name.eq_ignore_ascii_case("content-type") {
                        part.content_type = Some(value);
                    } else if h.name.eq_ignore_ascii_case("content-transfer-encoding") {
                        part.transfer_encoding = Some(value);
                    }
                }
                header_start + len
            }
            Ok(httparse::Status::Partial) => {
                mp.diagnostics.push(Diagnostic::truncated(
                    header_start,
                    format!(
                        "truncated multipart body: headers of part {} are incomplete",
                        mp.parts.len()
                    ),
                ));
                part.range = body.len()..body.len();
                mp.parts.push(part);
                break;
            }
            Err(e) => {
                mp.diagnostics.push(Diagnostic::malformed(
                    header_start,
                    format!(
                        "malformed headers in multipart part {}: {e}",
                        mp.parts.len()
                    ),
                ));
                // Fall back to the first blank line.
                match memmem::find(rest, b"\r\n\r\n") {
                    Some(p) => header_start + p + 4,
                    None => header_start,
                }
            }
        };
        match delim_finder.find(body.get(content_start..).unwrap_or(&[])) {
            Some(p) => {
                let nl = content_start + p;
                let end = if nl > content_start && body.get(nl - 1) == Some(&b'\r') {
                    nl - 1
                } else {
                    nl
                };
                part.range = content_start..end;
                mp.parts.push(part);
                pos = nl + 1;
            }
            None => {
                part.range = content_start.min(body.len())..body.len();
                mp.parts.push(part);
                break;
            }
        }
    }
    if !closed {
        mp.diagnostics.push(Diagnostic::truncated(
            body.len(),
            "truncated multipart body: closing boundary not found",
        ));
    }
    mp.root = match &params.start {
        Some(start) => {
            let found = mp
                .parts
                .iter()
                .position(|p| p.content_id.as_deref() == Some(start.as_str()));
            if found.is_none() && !mp.parts.is_empty() {
                mp.diagnostics.push(Diagnostic::missing(
                    0,
                    format!("root part {start:?} named by start not found; using the first part"),
                ));
            }
            found.or(if mp.parts.is_empty() { None } else { Some(0) })
        }
        None if mp.parts.is_empty() => None,
        None => Some(0),
    };
    mp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::text::percent_encode;

    #[test]
    fn content_type_params_any_order_quoted_or_not() {
        let p = parse_content_type(
            "Multipart/Related;boundary=urn:uuid:abc;START=\"<http://tempuri.org/0>\";type=\"application/xop+xml\";start-info=\"text/xml\"",
        );
        let p = p.as_ref();
        assert_eq!(p.map(|p| p.boundary.as_str()), Some("urn:uuid:abc"));
        assert_eq!(
            p.and_then(|p| p.start.as_deref()),
            Some("http://tempuri.org/0")
        );
        assert_eq!(
            p.and_then(|p| p.type_.as_deref()),
            Some("application/xop+xml")
        );
        assert_eq!(parse_content_type("text/xml; boundary=x"), None);
        assert_eq!(parse_content_type("multipart/related; type=x"), None);
    }

    #[test]
    fn cid_decoding() {
        for (href, cid) in [
            (
                "cid:http%3A%2F%2Ftempuri.org%2F1%2F42",
                "http://tempuri.org/1/42",
            ),
            ("CID:<a@b>", "a@b"),
            // A bad escape is kept as it is.
            ("cid:%4", "%4"),
            ("cid:%zz%41", "%zzA"),
        ] {
            assert_eq!(cid_from_href(href), cid, "{href}");
        }
        assert_eq!(percent_encode("http://t/1"), "http%3A%2F%2Ft%2F1");
    }

    #[test]
    fn split_two_parts_and_truncation() {
        let params = parse_content_type("multipart/related; boundary=b1").unwrap_or_default();
        let body = b"--b1\r\nContent-ID: <r>\r\n\r\n<x/>\r\n--b1\r\nContent-ID: <p>\r\n\r\nBIN\r\n--b1--\r\n";
        let mp = split(body, &params);
        assert!(mp.diagnostics.is_empty(), "{:?}", mp.diagnostics);
        assert_eq!(mp.parts.len(), 2);
        assert_eq!(&body[mp.parts[1].range.clone()], b"BIN");
        assert_eq!(mp.resolve_cid("cid:p").map(|(i, _)| i), Some(1));
        let cut = &body[..50];
        let mp = split(cut, &params);
        assert_eq!(mp.diagnostics.last().map(|d| d.offset), Some(50));
        assert_eq!(mp.parts.len(), 2);
    }
}
