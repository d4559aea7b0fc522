//! Choosing the decoder for one exchange and decoding both of its sides.
//!
//! Takes the request and response bytes plus a little metadata (method, URL, headers,
//! status), never the capture's exchange type, and returns one [`DecodedExchange`]: the
//! protocol, one summary phrase per operation, every diagnostic located by side and byte
//! offset, and the protocol's own model. MS-FSSHTTP Cell payloads are decoded with the
//! MS-FSSHTTPB decoder and joined to their subrequest by SubRequestToken, so a consumer
//! sees one tree: SOAP subrequest → FSSHTTPB sub-requests → data elements.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::content_encoding::{self, BodyEncoding};
use super::fsshttp::{self, PayloadOrigin, RequestEnvelope, ResponseEnvelope};
use super::fsshttpb::{self, FsshttpbRequest, FsshttpbResponse};
use super::spfilesync::{self, SpFileSyncExchange};
use super::webdav::{self, WebDavExchange};
use super::Diagnostic;

/// The metadata a decoder may look at besides the bodies.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    /// Request method.
    pub method: &'a str,
    /// Full request URL.
    pub url: &'a str,
    /// Request header fields in order.
    pub request_headers: &'a [(&'a str, &'a str)],
    /// Response status, when a response was seen.
    pub status: Option<u16>,
    /// Response header fields in order (empty without a response).
    pub response_headers: &'a [(&'a str, &'a str)],
}

/// Which protocol an exchange speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// MS-FSSHTTP cell storage (SOAP, with MS-FSSHTTPB inside Cell subrequests).
    #[serde(rename = "FSSHTTP")]
    Fsshttp,
    /// SharePoint SPFileSync REST.
    #[serde(rename = "SPFileSync")]
    SpFileSync,
    /// WebDAV (replication, locking, plain methods).
    #[serde(rename = "WebDAV")]
    WebDav,
    /// Anything else.
    #[serde(rename = "HTTP")]
    Http,
}

impl Protocol {
    /// The display name (`FSSHTTP`, `SPFileSync`, `WebDAV`, `HTTP`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Fsshttp => "FSSHTTP",
            Self::SpFileSync => "SPFileSync",
            Self::WebDav => "WebDAV",
            Self::Http => "HTTP",
        }
    }
}

/// Which body a diagnostic points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The request body.
    Request,
    /// The response body.
    Response,
}

/// A diagnostic with the body it points into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideDiagnostic {
    /// Request or response body.
    pub side: Side,
    /// Byte offset into that HTTP body (for an inline base64 Cell payload, into the
    /// decoded payload, as `within` says).
    pub offset: usize,
    /// What was wrong.
    pub message: String,
    /// Where the offset is relative to, when not the HTTP body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
}

/// One decoded exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodedExchange {
    /// The protocol.
    pub protocol: Protocol,
    /// One phrase per operation (per subrequest for MS-FSSHTTP).
    pub summary: Vec<String>,
    /// Everything that could not be decoded, by side and offset.
    pub diagnostics: Vec<SideDiagnostic>,
    /// MS-FSSHTTP model, for cell storage exchanges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fsshttp: Option<FsshttpExchange>,
    /// SPFileSync model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spfilesync: Option<SpFileSyncExchange>,
    /// WebDAV model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webdav: Option<WebDavExchange>,
    /// The bodies whose `Content-Encoding` was undone before decoding (the models and the
    /// offsets of their diagnostics then refer to the decoded bytes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_encoding: Vec<BodyEncoding>,
}

impl DecodedExchange {
    /// An exchange that is plain HTTP: no protocol model, no summary, no diagnostics.
    pub fn plain_http() -> Self {
        Self {
            protocol: Protocol::Http,
            summary: Vec::new(),
            diagnostics: Vec::new(),
            fsshttp: None,
            spfilesync: None,
            webdav: None,
            content_encoding: Vec::new(),
        }
    }

    /// The first ClientID named by a cell storage subrequest, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.fsshttp
            .as_ref()?
            .request
            .as_ref()?
            .sub_requests()
            .find_map(|(_, s)| s.sub_request_data.as_ref()?.client_id.as_deref())
    }
}

/// A cell storage exchange: the SOAP envelopes and the FSSHTTPB messages of every Cell
/// subrequest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FsshttpExchange {
    /// The request envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestEnvelope>,
    /// The response envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseEnvelope>,
    /// The decoded Cell payloads, one entry per Cell subrequest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cells: Vec<CellExchange>,
}

/// The FSSHTTPB messages of one Cell subrequest and its subresponse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellExchange {
    /// The SubRequestToken joining them.
    #[serde(
        rename = "SubRequestToken",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sub_request_token: Option<u64>,
    /// The FSSHTTPB request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<FsshttpbRequest>,
    /// The FSSHTTPB response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<FsshttpbResponse>,
}

/// The first value of header `name` (case-insensitive).
pub fn header<'a>(headers: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Decodes one exchange. `response_body` is ignored when `meta.status` is `None` and no
/// response headers are given.
pub fn decode_exchange(
    meta: &Meta<'_>,
    request_body: &[u8],
    response_body: &[u8],
) -> DecodedExchange {
    let limit = content_encoding::decode_limit();
    let req_ce = content_encoding_header(meta.request_headers);
    let resp_ce = content_encoding_header(meta.response_headers);
    let req = content_encoding::decode(req_ce.as_deref(), request_body, limit);
    let resp = content_encoding::decode(resp_ce.as_deref(), response_body, limit);
    let mut d = decode_plain(meta, &req.bytes, &resp.bytes);
    for (side, ce, wire, dec) in [
        (Side::Request, &req_ce, request_body, &req),
        (Side::Response, &resp_ce, response_body, &resp),
    ] {
        let Some(ce) = ce else { continue };
        if !dec.is_decoded() && dec.diagnostics.is_empty() {
            continue;
        }
        if dec.is_decoded() {
            let within = format!("decoded body (Content-Encoding: {ce})");
            for x in d
                .diagnostics
                .iter_mut()
                .filter(|x| x.side == side && x.within.is_none())
            {
                x.within = Some(within.clone());
            }
        }
        d.diagnostics.extend(located(
            &dec.diagnostics,
            side,
            Some(&format!("body as sent (Content-Encoding: {ce})")),
        ));
        d.content_encoding.push(BodyEncoding {
            side,
            content_encoding: ce.clone(),
            wire_len: wire.len(),
            decoded_len: dec.bytes.len(),
            complete: dec.complete,
        });
    }
    d
}

/// Every `Content-Encoding` field of `headers`, joined as one list.
fn content_encoding_header(headers: &[(&str, &str)]) -> Option<String> {
    let mut all = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty());
    let first = all.next()?;
    Some(all.fold(first.to_owned(), |acc, v| format!("{acc}, {v}")))
}

/// `body` with the codings its `Content-Encoding` fields list undone (up to the decode
/// limit), for consumers that read a body themselves: the `~b` filter, mock matching,
/// replay's comparison, HAR export. Borrowed when there was nothing to undo.
pub fn decoded_body<'a>(headers: &[(&str, &str)], body: &'a [u8]) -> Cow<'a, [u8]> {
    match content_encoding_header(headers) {
        None => Cow::Borrowed(body),
        Some(ce) => {
            content_encoding::decode(Some(&ce), body, content_encoding::decode_limit()).bytes
        }
    }
}

fn decode_plain(meta: &Meta<'_>, request_body: &[u8], response_body: &[u8]) -> DecodedExchange {
    let prefix = &request_body[..request_body.len().min(4096)];
    if fsshttp::recognise(meta.method, meta.url, meta.request_headers, prefix)
        || (request_body.is_empty()
            && fsshttp::recognise(
                meta.method,
                meta.url,
                meta.request_headers,
                &response_body[..response_body.len().min(4096)],
            ))
    {
        return decode_fsshttp(meta, request_body, response_body);
    }
    if spfilesync::recognise(meta.method, meta.url).is_some() {
        let x = spfilesync::decode(
            meta.method,
            meta.url,
            meta.request_headers,
            header(meta.request_headers, "content-type"),
            request_body,
            meta.status,
            meta.response_headers,
            header(meta.response_headers, "content-type"),
            response_body,
        );
        let mut diagnostics = located(&x.request.diagnostics, Side::Request, None);
        if let Some(r) = &x.response {
            diagnostics.extend(located(&r.diagnostics, Side::Response, None));
        }
        return DecodedExchange {
            protocol: Protocol::SpFileSync,
            summary: vec![spfilesync::summarize(&x)],
            diagnostics,
            fsshttp: None,
            spfilesync: Some(x),
            webdav: None,
            content_encoding: Vec::new(),
        };
    }
    // A WebDAV status (207 Multi-Status, 423 Locked, 424 Failed Dependency) marks a plain
    // method as WebDAV too.
    if webdav::recognise(meta.method, meta.request_headers, prefix)
        || matches!(meta.status, Some(207 | 423 | 424))
    {
        let x = webdav::decode(
            meta.method,
            meta.url,
            meta.request_headers,
            request_body,
            meta.status,
            meta.response_headers,
            response_body,
        );
        let mut diagnostics = located(&x.request.diagnostics, Side::Request, None);
        if let Some(r) = &x.response {
            diagnostics.extend(located(&r.diagnostics, Side::Response, None));
        }
        return DecodedExchange {
            protocol: Protocol::WebDav,
            summary: vec![webdav::summarize(&x)],
            diagnostics,
            fsshttp: None,
            spfilesync: None,
            webdav: Some(x),
            content_encoding: Vec::new(),
        };
    }
    DecodedExchange::plain_http()
}

fn has_response(meta: &Meta<'_>, body: &[u8]) -> bool {
    meta.status.is_some() || !meta.response_headers.is_empty() || !body.is_empty()
}

fn decode_fsshttp(meta: &Meta<'_>, request_body: &[u8], response_body: &[u8]) -> DecodedExchange {
    let req_ct = header(meta.request_headers, "content-type");
    let request = (!request_body.is_empty()).then(|| fsshttp::decode_request(req_ct, request_body));
    let response = has_response(meta, response_body)
        .then(|| {
            // Errors without a SOAP body (401, 500 with HTML) are not cell storage answers.
            let ct = header(meta.response_headers, "content-type").unwrap_or("");
            let soapish = ct.contains("xml") || ct.contains("multipart") || ct.is_empty();
            (soapish && !response_body.is_empty()).then(|| {
                fsshttp::decode_response(
                    Some(ct).filter(|c| !c.is_empty()),
                    response_body,
                    request.as_ref(),
                )
            })
        })
        .flatten();
    let mut diagnostics = Vec::new();
    if let Some(r) = &request {
        diagnostics.extend(located(&r.diagnostics, Side::Request, None));
    }
    if let Some(r) = &response {
        diagnostics.extend(located(&r.diagnostics, Side::Response, None));
    }
    let mut summary = fsshttp::summarize(request.as_ref(), response.as_ref());
    let (cells, cell_diagnostics) = decode_cells(request.as_ref(), response.as_ref());
    diagnostics.extend(cell_diagnostics);
    for c in &cells {
        let mut phrase = match (&c.request, &c.response) {
            (Some(q), Some(r)) => {
                let a = fsshttpb::summarize_request(q);
                let b = fsshttpb::summarize_response(r);
                format!("{} → {}", a.join("; "), b.join("; "))
            }
            (Some(q), None) => fsshttpb::summarize_request(q).join("; "),
            (None, Some(r)) => fsshttpb::summarize_response(r).join("; "),
            (None, None) => continue,
        };
        if let Some(t) = c.sub_request_token {
            phrase = format!("  SubRequest {t}: {phrase}");
        }
        summary.push(phrase);
    }
    DecodedExchange {
        protocol: Protocol::Fsshttp,
        summary,
        diagnostics,
        fsshttp: Some(FsshttpExchange {
            request,
            response,
            cells,
        }),
        spfilesync: None,
        webdav: None,
        content_encoding: Vec::new(),
    }
}

/// Decodes the Cell payloads (MS-FSSHTTPB) of a request and its response: each request's
/// first, then each response joined to the request of the same SubRequestToken (whose
/// flags some response layouts depend on). Either side may be missing, as when one lone
/// message is decoded. Returns the cells and their diagnostics, located in the HTTP bodies.
pub fn decode_cells(
    request: Option<&RequestEnvelope>,
    response: Option<&ResponseEnvelope>,
) -> (Vec<CellExchange>, Vec<SideDiagnostic>) {
    let mut diagnostics = Vec::new();
    let mut cells: Vec<CellExchange> = Vec::new();
    // A MIME part named by several xop:Includes is decoded once (no amplification).
    let mut seen = Vec::new();
    if let Some(req) = request {
        for (_, sub) in req.sub_requests() {
            let Some(p) = sub.cell_payload() else {
                continue;
            };
            let token = sub.sub_request_token;
            if let Some(first) = p.repeats(&mut seen, token) {
                diagnostics.push(repeated_part(Side::Request, p, token, first));
                cells.push(CellExchange {
                    sub_request_token: token,
                    request: None,
                    response: None,
                });
                continue;
            }
            let b = fsshttpb::decode_request(&p.bytes);
            diagnostics.extend(payload_diags(
                &b.diagnostics,
                Side::Request,
                &p.origin,
                token,
            ));
            cells.push(CellExchange {
                sub_request_token: token,
                request: Some(b),
                response: None,
            });
        }
    }
    if let Some(resp) = response {
        for (_, sub) in resp.sub_responses() {
            let Some(p) = sub.cell_payload() else {
                continue;
            };
            let token = sub.sub_request_token;
            if let Some(first) = p.repeats(&mut seen, token) {
                diagnostics.push(repeated_part(Side::Response, p, token, first));
                continue;
            }
            let idx = cells
                .iter()
                .position(|c| c.sub_request_token == token && c.response.is_none());
            let b =
                fsshttpb::decode_response(&p.bytes, idx.and_then(|i| cells[i].request.as_ref()));
            diagnostics.extend(payload_diags(
                &b.diagnostics,
                Side::Response,
                &p.origin,
                token,
            ));
            match idx {
                Some(i) => cells[i].response = Some(b),
                None => cells.push(CellExchange {
                    sub_request_token: token,
                    request: None,
                    response: Some(b),
                }),
            }
        }
    }
    (cells, diagnostics)
}

/// What a lone message body is, told from its bytes and its Content-Type when known
/// ([`sniff_body`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    /// MS-FSSHTTPB binary (or a OneNote packaging file).
    Fsshttpb(fsshttpb::Kind),
    /// MS-FSSHTTP SOAP or MTOM; `response` when it names a response element.
    Fsshttp {
        /// A `ResponseEnvelope` or `ResponseCollection` is in it.
        response: bool,
    },
    /// WebDAV XML.
    WebDav,
    /// SPFileSync `web3s` or policy XML, or a `multipart/related` upload whose root part
    /// is `application/web3s+xml`.
    SpFileSync,
}

/// A sniffed body: its kind and the Content-Type to decode it with (the given one, or one
/// built from the body's first MIME boundary line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    /// What it is.
    pub kind: BodyKind,
    /// The Content-Type to decode it with.
    pub content_type: Option<String>,
}

/// How much of a body the text sniffers look at.
const SNIFF_HEAD: usize = 64 << 10;

/// Tells what a lone body is without its URL (for `synctap decode`). `None` when it is
/// none of the kinds synctap decodes. Binary data that merely contains `<` is not XML.
pub fn sniff_body(bytes: &[u8], content_type: Option<&str>) -> Option<Sniffed> {
    if let Some(kind) = fsshttpb::sniff(bytes) {
        return Some(Sniffed {
            kind: BodyKind::Fsshttpb(kind),
            content_type: content_type.map(str::to_owned),
        });
    }
    let head = &bytes[..bytes.len().min(SNIFF_HEAD)];
    let has = |needle: &[u8]| memchr::memmem::find(head, needle).is_some();
    let response = has(b"ResponseEnvelope") || has(b"ResponseCollection");
    let soap = || BodyKind::Fsshttp { response };
    let given = content_type.filter(|c| super::mtom::is_multipart_related(c));
    let boundary = match given {
        Some(_) => None,
        None => first_boundary(bytes),
    };
    if given.is_some() || boundary.is_some() {
        let web3s = if let Some(b) = &boundary {
            root_is_web3s(bytes, b)
        } else {
            let ct = given.unwrap_or_default();
            super::mtom::parse_content_type(ct).is_some_and(|p| {
                p.type_.as_deref().is_some_and(is_web3s)
                    || root_part_type(bytes, &p).is_some_and(|t| is_web3s(&t))
            })
        };
        let content_type = given.map(str::to_owned).or_else(|| {
            boundary.as_ref().map(|b| {
                let ty = if web3s {
                    "application/web3s+xml"
                } else {
                    "application/xop+xml"
                };
                let info = if web3s {
                    ""
                } else {
                    "; start-info=\"text/xml\""
                };
                format!("multipart/related; type=\"{ty}\"; boundary=\"{b}\"{info}")
            })
        });
        let kind = if web3s { BodyKind::SpFileSync } else { soap() };
        return Some(Sniffed { kind, content_type });
    }
    let sniffed = |kind| {
        Some(Sniffed {
            kind,
            content_type: content_type.map(str::to_owned),
        })
    };
    if has(b"RequestCollection")
        || has(b"ResponseCollection")
        || has(b"RequestEnvelope")
        || has(b"ResponseEnvelope")
        || has(b"schemas.xmlsoap.org/soap/envelope")
    {
        return sniffed(soap());
    }
    if !looks_like_xml(head) {
        return None;
    }
    if has(b"DAV:") || has(b"xmlns:D=") || has(b"multistatus") {
        return sniffed(BodyKind::WebDav);
    }
    sniffed(BodyKind::SpFileSync)
}

fn is_web3s(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/web3s+xml"))
}

/// The boundary of a body that starts with its MIME delimiter line (`--boundary`).
fn first_boundary(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(b"--")?;
    let end = memchr::memchr(b'\n', rest)?;
    let boundary = std::str::from_utf8(&rest[..end])
        .ok()?
        .trim_end_matches('\r');
    let ok = !boundary.is_empty()
        && boundary.len() <= 200
        && !boundary.contains(['"', '\\'])
        && !boundary.chars().any(char::is_control);
    ok.then(|| boundary.to_owned())
}

fn root_is_web3s(bytes: &[u8], boundary: &str) -> bool {
    let params = super::mtom::MultipartParams {
        boundary: boundary.to_owned(),
        ..super::mtom::MultipartParams::default()
    };
    root_part_type(bytes, &params).is_some_and(|t| is_web3s(&t))
}

/// The Content-Type of the root part of a multipart body (the `start` part, else the first).
fn root_part_type(bytes: &[u8], params: &super::mtom::MultipartParams) -> Option<String> {
    super::mtom::split(bytes, params)
        .root_part()?
        .content_type
        .clone()
}

/// True when `head` reads as the start of an XML document: after a byte order mark and
/// white space the first byte is `<`, and the text is UTF-8 without control characters
/// (a cut-off last character is allowed).
fn looks_like_xml(head: &[u8]) -> bool {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    if start.map(|i| text[i]) != Some(b'<') {
        return false;
    }
    let valid = match std::str::from_utf8(text) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&text[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !valid
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

fn located(d: &[Diagnostic], side: Side, within: Option<&str>) -> Vec<SideDiagnostic> {
    d.iter()
        .map(|d| SideDiagnostic {
            side,
            offset: d.offset,
            message: d.message.clone(),
            within: within.map(str::to_owned),
        })
        .collect()
}

/// The diagnostic for a Cell payload that is the same MIME part as an earlier one.
fn repeated_part(
    side: Side,
    p: &fsshttp::CellPayload,
    token: Option<u64>,
    first: Option<u64>,
) -> SideDiagnostic {
    let name = |t: Option<u64>| t.map_or_else(|| "?".to_owned(), |t| t.to_string());
    SideDiagnostic {
        side,
        offset: match &p.origin {
            PayloadOrigin::Part { range, .. } => range.start,
            PayloadOrigin::Inline => 0,
        },
        message: format!(
            "FSSHTTPB (SubRequestToken {}): the same MIME part as SubRequestToken {}; decoded once",
            name(token),
            name(first)
        ),
        within: None,
    }
}

fn payload_diags(
    d: &[Diagnostic],
    side: Side,
    origin: &PayloadOrigin,
    token: Option<u64>,
) -> Vec<SideDiagnostic> {
    let token = token.map_or_else(|| "?".to_owned(), |t| t.to_string());
    match origin {
        PayloadOrigin::Part { range, .. } => d
            .iter()
            .map(|d| SideDiagnostic {
                side,
                offset: range.start + d.offset,
                message: format!("FSSHTTPB (SubRequestToken {token}): {}", d.message),
                within: None,
            })
            .collect(),
        PayloadOrigin::Inline => located(
            d,
            side,
            Some(&format!(
                "inline base64 Cell payload of SubRequestToken {token}"
            )),
        ),
    }
}

/// Decodes a recorded exchange (the capture's model). Tunnels and exchanges without a
/// request decode as plain HTTP with no summary.
pub fn decode_recorded(x: &crate::model::Exchange) -> DecodedExchange {
    let Some(req) = &x.request else {
        return DecodedExchange {
            protocol: Protocol::Http,
            summary: Vec::new(),
            diagnostics: Vec::new(),
            fsshttp: None,
            spfilesync: None,
            webdav: None,
            content_encoding: Vec::new(),
        };
    };
    let req_headers = req.headers.pairs();
    let resp_headers = x
        .response
        .as_ref()
        .map(|r| r.headers.pairs())
        .unwrap_or_default();
    let meta = Meta {
        method: &req.method,
        url: &req.url,
        request_headers: &req_headers,
        status: x.response.as_ref().map(|r| r.status),
        response_headers: &resp_headers,
    };
    let resp_body = x.response.as_ref().map_or(&[][..], |r| &r.body.bytes[..]);
    let mut d = decode_exchange(&meta, &req.body.bytes, resp_body);
    // A stored prefix of a truncated body is not a decoding problem of the message.
    if req.body.truncated || x.response.as_ref().is_some_and(|r| r.body.truncated) {
        d.summary
            .push("(body truncated in capture: decoded as far as stored)".into());
    }
    d
}
