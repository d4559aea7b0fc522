//! Choosing the decoder for one exchange and decoding both of its sides, once.
//!
//! Takes the request and response bytes plus a [`Meta`] (method, URL, headers, status),
//! never the capture's exchange type, and returns one [`DecodedExchange`]: one summary
//! phrase per operation, every diagnostic located by side and byte offset, and the
//! [`ProtocolModel`]: exactly one protocol with its model. [`classify`] is the one place
//! that says which protocol an exchange speaks. MS-FSSHTTP Cell payloads are decoded with
//! the MS-FSSHTTPB decoder and joined to their subrequest by SubRequestToken, so a
//! consumer sees one tree: SOAP subrequest → FSSHTTPB sub-requests → data elements.
//!
//! The decoded form is made where an exchange enters (capture reader consumers, the UI's
//! source, import) and handed on as is to the timeline, checks, filters, UI rows, replay,
//! mock and export: none of them decodes again.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::content_encoding::{self, BodyEncoding};
pub use super::diag::Side;
use super::fsshttp::{self, PayloadOrigin, RequestEnvelope, ResponseEnvelope};
use super::fsshttpb::{self, FsshttpbRequest, FsshttpbResponse};
pub use super::meta::{header, Meta};
use super::spfilesync::{self, SpFileSyncExchange};
use super::webdav::{self, WebDavExchange};
use super::{Diagnostic, DiagnosticKind};

/// Which protocol an exchange speaks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
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
    #[default]
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

/// A diagnostic with the body it points into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SideDiagnostic {
    /// Request or response body.
    pub side: Side,
    /// Byte offset into that HTTP body (for an inline base64 Cell payload, into the
    /// decoded payload, as `within` says).
    pub offset: usize,
    /// What kind of problem it is.
    pub kind: DiagnosticKind,
    /// What was wrong.
    pub message: String,
    /// Where the offset is relative to, when not the HTTP body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<String>,
}

/// The protocol an exchange speaks, with that protocol's model of it. Exactly one: an
/// exchange is never two protocols at once, and a protocol never lacks its model.
#[derive(Debug, Clone, PartialEq)]
pub enum ProtocolModel {
    /// MS-FSSHTTP cell storage: the SOAP envelopes and the Cell payloads.
    Fsshttp(Box<FsshttpExchange>),
    /// SharePoint SPFileSync REST.
    SpFileSync(Box<SpFileSyncExchange>),
    /// WebDAV (RFC 4918, replication, MS-WDV).
    WebDav(Box<WebDavExchange>),
    /// Anything else: no protocol model.
    Http,
}

impl ProtocolModel {
    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        match self {
            Self::Fsshttp(_) => Protocol::Fsshttp,
            Self::SpFileSync(_) => Protocol::SpFileSync,
            Self::WebDav(_) => Protocol::WebDav,
            Self::Http => Protocol::Http,
        }
    }
}

/// One decoded exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedExchange {
    /// The protocol and its model.
    pub model: ProtocolModel,
    /// One phrase per operation (per subrequest for MS-FSSHTTP).
    pub summary: Vec<String>,
    /// Everything that could not be decoded, by side and offset.
    pub diagnostics: Vec<SideDiagnostic>,
    /// The bodies whose `Content-Encoding` was undone before decoding (the models and the
    /// offsets of their diagnostics then refer to the decoded bytes).
    pub content_encoding: Vec<BodyEncoding>,
}

/// The JSON form of [`DecodedExchange`] as written: `protocol`, `summary`,
/// `diagnostics`, the model under the protocol's key (`fsshttp`, `spfilesync`, `webdav`)
/// and `content_encoding`.
#[derive(Serialize, schemars::JsonSchema)]
struct DecodedJsonOut<'a> {
    protocol: Protocol,
    summary: &'a [String],
    diagnostics: &'a [SideDiagnostic],
    #[serde(skip_serializing_if = "Option::is_none")]
    fsshttp: Option<&'a FsshttpExchange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spfilesync: Option<&'a SpFileSyncExchange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    webdav: Option<&'a WebDavExchange>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    content_encoding: &'a [BodyEncoding],
}

/// The JSON form of [`DecodedExchange`] as read back.
#[derive(Deserialize)]
struct DecodedJsonIn {
    protocol: Protocol,
    summary: Vec<String>,
    diagnostics: Vec<SideDiagnostic>,
    #[serde(default)]
    fsshttp: Option<FsshttpExchange>,
    #[serde(default)]
    spfilesync: Option<SpFileSyncExchange>,
    #[serde(default)]
    webdav: Option<WebDavExchange>,
    #[serde(default)]
    content_encoding: Vec<BodyEncoding>,
}

impl Serialize for DecodedExchange {
    fn serialize<Z: Serializer>(&self, z: Z) -> Result<Z::Ok, Z::Error> {
        let mut out = DecodedJsonOut {
            protocol: self.protocol(),
            summary: &self.summary,
            diagnostics: &self.diagnostics,
            fsshttp: None,
            spfilesync: None,
            webdav: None,
            content_encoding: &self.content_encoding,
        };
        match &self.model {
            ProtocolModel::Fsshttp(x) => out.fsshttp = Some(x),
            ProtocolModel::SpFileSync(x) => out.spfilesync = Some(x),
            ProtocolModel::WebDav(x) => out.webdav = Some(x),
            ProtocolModel::Http => {}
        }
        out.serialize(z)
    }
}

impl schemars::JsonSchema for DecodedExchange {
    fn schema_name() -> Cow<'static, str> {
        "DecodedExchange".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        DecodedJsonOut::<'static>::json_schema(g)
    }
}

impl<'de> Deserialize<'de> for DecodedExchange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = DecodedJsonIn::deserialize(d)?;
        let protocol = j.protocol;
        let missing =
            || serde::de::Error::custom(format!("protocol {} without its model", protocol.name()));
        let model = match j.protocol {
            Protocol::Fsshttp => ProtocolModel::Fsshttp(Box::new(j.fsshttp.ok_or_else(missing)?)),
            Protocol::SpFileSync => {
                ProtocolModel::SpFileSync(Box::new(j.spfilesync.ok_or_else(missing)?))
            }
            Protocol::WebDav => ProtocolModel::WebDav(Box::new(j.webdav.ok_or_else(missing)?)),
            Protocol::Http => ProtocolModel::Http,
        };
        Ok(Self {
            model,
            summary: j.summary,
            diagnostics: j.diagnostics,
            content_encoding: j.content_encoding,
        })
    }
}

impl DecodedExchange {
    /// An exchange that is plain HTTP: no protocol model, no summary, no diagnostics.
    pub fn plain_http() -> Self {
        Self::of(ProtocolModel::Http, Vec::new(), Vec::new())
    }

    fn of(model: ProtocolModel, summary: Vec<String>, diagnostics: Vec<SideDiagnostic>) -> Self {
        Self {
            model,
            summary,
            diagnostics,
            content_encoding: Vec::new(),
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.model.protocol()
    }

    /// The MS-FSSHTTP model of a cell storage exchange.
    pub fn fsshttp(&self) -> Option<&FsshttpExchange> {
        match &self.model {
            ProtocolModel::Fsshttp(x) => Some(x),
            _ => None,
        }
    }

    /// The SPFileSync model.
    pub fn spfilesync(&self) -> Option<&SpFileSyncExchange> {
        match &self.model {
            ProtocolModel::SpFileSync(x) => Some(x),
            _ => None,
        }
    }

    /// The WebDAV model.
    pub fn webdav(&self) -> Option<&WebDavExchange> {
        match &self.model {
            ProtocolModel::WebDav(x) => Some(x),
            _ => None,
        }
    }

    /// The request envelope of a cell storage exchange.
    pub fn fsshttp_request(&self) -> Option<&RequestEnvelope> {
        self.fsshttp()?.request.as_ref()
    }

    /// The response envelope of a cell storage exchange.
    pub fn fsshttp_response(&self) -> Option<&ResponseEnvelope> {
        self.fsshttp()?.response.as_ref()
    }

    /// The first ClientID named by a cell storage subrequest, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.fsshttp_request()?
            .sub_requests()
            .find_map(|(_, s)| s.sub_request_data.as_ref()?.client_id.as_deref())
    }

    /// The file URLs a cell storage request names (`Request@Url`), in order.
    pub fn file_urls(&self) -> impl Iterator<Item = &str> {
        self.fsshttp_request()
            .into_iter()
            .flat_map(|env| env.request_collection.iter())
            .flat_map(|c| c.requests.iter())
            .filter_map(|q| q.url.as_deref())
    }

    /// The URL of the file the exchange is about: the first `Request@Url` of a cell
    /// storage request, else `http_url` (the request URL).
    pub fn file_url<'a>(&'a self, http_url: &'a str) -> &'a str {
        self.file_urls().next().unwrap_or(http_url)
    }
}

/// A cell storage exchange: the SOAP envelopes and the FSSHTTPB messages of every Cell
/// subrequest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// How many body bytes the classifier looks at.
const CLASSIFY_PREFIX: usize = 4096;

/// Response header fields that only WebDAV servers send (RFC 4918, MS-WDV, Exchange
/// replication).
const DAV_RESPONSE_HEADERS: &[&str] = &[
    "resourcetag",
    "repl-uid",
    "lock-token",
    "dav",
    "ms-author-via",
    "x-msdavext",
    "x-msdavextlocktimeout",
    "x-msdavext_error",
    "public-extension",
];

/// Which protocol an exchange speaks; the one classifier every consumer relies on.
///
/// - MS-FSSHTTP: the `SOAPAction`, the cell storage URL, or a `RequestCollection` in the
///   request body (the response body's, when the request has none);
/// - SPFileSync: the `_api/SPFileSync` URL;
/// - WebDAV: a WebDAV method or request header field, a `DAV:` namespace near the start
///   of the request body, a WebDAV status (207 Multi-Status, 423 Locked, 424 Failed
///   Dependency), a response header field only WebDAV servers send, or the Windows
///   WebDAV mini-redirector's User-Agent;
/// - anything else is HTTP.
pub fn classify(meta: &Meta<'_>, request_body: &[u8], response_body: &[u8]) -> Protocol {
    let prefix = |b: &'_ [u8]| -> usize { b.len().min(CLASSIFY_PREFIX) };
    let req_prefix = &request_body[..prefix(request_body)];
    if fsshttp::recognise(meta.method, meta.url, meta.request_headers, req_prefix)
        || (request_body.is_empty()
            && fsshttp::recognise(
                meta.method,
                meta.url,
                meta.request_headers,
                &response_body[..prefix(response_body)],
            ))
    {
        return Protocol::Fsshttp;
    }
    if spfilesync::recognise(meta.method, meta.url).is_some() {
        return Protocol::SpFileSync;
    }
    let dav_response_header = || {
        meta.response_headers.iter().any(|(n, _)| {
            DAV_RESPONSE_HEADERS
                .iter()
                .any(|h| h.eq_ignore_ascii_case(n.trim()))
        })
    };
    let mini_redirector = || {
        meta.request_header("user-agent")
            .is_some_and(|v| v.contains("Microsoft-WebDAV-MiniRedir") || v.contains("DavClnt"))
    };
    if webdav::recognise(meta.method, meta.request_headers, req_prefix)
        || matches!(meta.status, Some(207 | 423 | 424))
        || dav_response_header()
        || mini_redirector()
    {
        return Protocol::WebDav;
    }
    Protocol::Http
}

fn decode_plain(meta: &Meta<'_>, request_body: &[u8], response_body: &[u8]) -> DecodedExchange {
    // SPFileSync and WebDAV models have the same request/response shape.
    macro_rules! two_sided {
        ($module:ident, $variant:ident) => {{
            let x = $module::decode(meta, request_body, response_body);
            let diagnostics = both_sides(
                &x.request.diagnostics,
                x.response.as_ref().map(|r| &r.diagnostics[..]),
            );
            let summary = vec![$module::summarize(&x)];
            DecodedExchange::of(ProtocolModel::$variant(Box::new(x)), summary, diagnostics)
        }};
    }
    match classify(meta, request_body, response_body) {
        Protocol::Fsshttp => decode_fsshttp(meta, request_body, response_body),
        Protocol::SpFileSync => two_sided!(spfilesync, SpFileSync),
        Protocol::WebDav => two_sided!(webdav, WebDav),
        Protocol::Http => DecodedExchange::plain_http(),
    }
}

/// The diagnostics of a request and (when there is one) its response, located by side.
fn both_sides(request: &[Diagnostic], response: Option<&[Diagnostic]>) -> Vec<SideDiagnostic> {
    let mut out = located(request, Side::Request, None);
    if let Some(r) = response {
        out.extend(located(r, Side::Response, None));
    }
    out
}

fn decode_fsshttp(meta: &Meta<'_>, request_body: &[u8], response_body: &[u8]) -> DecodedExchange {
    let req_ct = meta.request_header("content-type");
    let request = (!request_body.is_empty()).then(|| fsshttp::decode_request(req_ct, request_body));
    let response = meta
        .has_response(response_body)
        .then(|| {
            // Errors without a SOAP body (401, 500 with HTML) are not cell storage answers.
            let ct = meta.response_header("content-type").unwrap_or("");
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
    let model = ProtocolModel::Fsshttp(Box::new(FsshttpExchange {
        request,
        response,
        cells,
    }));
    DecodedExchange::of(model, summary, diagnostics)
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
        for (token, p) in req.cell_payloads() {
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
        for (token, p) in resp.cell_payloads() {
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
            kind: d.kind,
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
        kind: DiagnosticKind::Note,
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
                kind: d.kind,
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
        return DecodedExchange::plain_http();
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

/// A recorded exchange with its decoded form, decoded once where it entered: what the
/// consumers that need both (replay, its comparison and timelines) hand each other.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRecord {
    /// The exchange as recorded.
    pub exchange: crate::model::Exchange,
    /// Its decoded form.
    pub decoded: DecodedExchange,
}

impl DecodedRecord {
    /// Decodes `exchange`.
    pub fn new(exchange: crate::model::Exchange) -> Self {
        let decoded = decode_recorded(&exchange);
        Self { exchange, decoded }
    }
}
