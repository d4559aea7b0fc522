//! The domain model: what synctap saw on the wire, independent of how it is stored.
//!
//! An [`Exchange`] is one HTTP request with its response (or the error that prevented
//! one), or one tunnelled connection that synctap did not intercept. Bodies are kept as
//! the bytes seen, up to a per-body limit; beyond it a [`Body`] says how long the whole
//! body was and its SHA-256. No IO and no async here: every other layer depends on this
//! one and it depends on nothing in the crate.

use serde::{Deserialize, Serialize};

/// One observed exchange: an HTTP request/response pair or a tunnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Exchange {
    /// Stable id, unique within one capture (1, 2, 3... in the order exchanges started).
    pub id: u64,
    /// What kind of traffic this is.
    pub kind: ExchangeKind,
    /// The client connection this exchange arrived on (unique within one capture).
    pub connection_id: u64,
    /// The client's socket address, `ip:port`.
    pub client_addr: String,
    /// How the proxy was running when it saw this exchange.
    pub mode: ProxyMode,
    /// The TLS session between the client and the proxy, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// The upstream server this exchange was forwarded to, `host:port`.
    pub server: String,
    /// HTTP version on the client side: `HTTP/1.0`, `HTTP/1.1` or `HTTP/2`.
    #[serde(default)]
    pub http_version: String,
    /// The request as the client sent it. Absent for tunnels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// The response as the server sent it; absent when none arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// For tunnels: bytes each way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<TunnelInfo>,
    /// When things happened.
    pub timings: Timings,
    /// What went wrong, when something did (transport errors; distinct from HTTP status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where an imported exchange came from and what the other tool recorded about it
    /// (Fiddler's session flags, such as the client process). Absent for the proxy's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<Imported>,
    /// How proxy rules changed this exchange; absent when none did. `request` and
    /// `response` are then what the upstream got and what the client got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<Modified>,
}

/// What proxy rules changed in an exchange (`synctap proxy --rule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Modified {
    /// The rules that changed it, in the order they applied.
    pub rules: Vec<RuleRef>,
    /// The request as the client sent it, when a rule changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_request: Option<Request>,
    /// The response as the upstream sent it, when a rule changed it (absent when a rule
    /// answered without contacting the upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_response: Option<Response>,
    /// What happened to the exchange when it was paused in the UI's intercept
    /// (`synctap proxy --ui`, keys `i` and `I`); absent when it was not paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intercept: Option<Intercepted>,
}

/// An exchange paused by the UI's intercept, and how it went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Intercepted {
    /// Which message was paused: `request` (before it went upstream) or `response`
    /// (before it went to the client).
    pub side: InterceptSide,
    /// The user edited the message; `request`/`response` are what was sent on, the
    /// original is in `original_request`/`original_response`.
    pub edited: bool,
    /// It was held longer than `--intercept-timeout` and went on unchanged.
    pub timed_out: bool,
    /// The user killed it: a request was answered 502 by synctap, a response's client
    /// connection was closed.
    pub killed: bool,
}

/// Which message of an exchange the intercept pauses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum InterceptSide {
    /// The request, before it goes upstream.
    #[default]
    Request,
    /// The response, before it goes to the client.
    Response,
}

/// What the UI tells the proxy's intercept (`synctap proxy --ui`). The UI only sends
/// these over a channel; the proxy owns the paused exchanges and their connections.
#[derive(Debug, Clone, PartialEq)]
pub enum InterceptCmd {
    /// Pause requests (or responses) matching this filter expression; `None` clears it.
    /// The text has been parsed by the sender already.
    Filter(InterceptSide, Option<String>),
    /// Let the paused exchange go, with the message as edited when there is one.
    Release(u64, Option<Edited>),
    /// Let every paused exchange go unchanged.
    ReleaseAll,
    /// Kill the paused exchange.
    Kill(u64),
}

/// An edited message: the request (method, URL, headers, body) or the response (status,
/// reason, headers, body) to send on instead of the paused one.
#[derive(Debug, Clone, PartialEq)]
pub enum Edited {
    Request(Request),
    Response(Response),
}

/// What the proxy's intercept tells the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum InterceptNotice {
    /// An exchange is paused; the exchange so far, with the paused message's body whole.
    Paused(InterceptSide, Box<Exchange>),
    /// A paused exchange is over (released, killed, timed out, client gone): why.
    Ended(u64, String),
    /// An exchange matched but could not be paused (its body is over the hold cap).
    NotPaused(u64, String),
}

/// One rule, as written on the command line or in the rules file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuleRef {
    /// 0-based position among the proxy's rules (`--rule`s first, then the file's).
    pub index: usize,
    /// The rule's text.
    pub text: String,
}

/// What an archive from another tool said about an exchange (`synctap import`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Imported {
    /// The archive's format: `saz`, `pcap` or `pcapng`.
    pub format: String,
    /// The session's number in a SAZ archive (`raw/NNN_c.txt`), or the first packet of
    /// the exchange in a packet capture (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u64>,
    /// The client process as `name:pid` (Fiddler's `x-processinfo` session flag), e.g.
    /// `winword:7188`: it tells Word from OneDrive from the browser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// Fiddler's session flags (`<SessionFlag N= V=/>`), in archive order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<(String, String)>,
}

impl Exchange {
    /// An HTTP exchange on connection 1 holding `request` and `response` and nothing
    /// else (no client or server address, TLS, timings, error or origin): what importers
    /// and tests fill in.
    pub fn http(id: u64, request: Request, response: Option<Response>) -> Self {
        Self {
            id,
            kind: ExchangeKind::Http,
            connection_id: 1,
            client_addr: String::new(),
            mode: ProxyMode::Other,
            tls: None,
            server: String::new(),
            http_version: "HTTP/1.1".to_owned(),
            request: Some(request),
            response,
            tunnel: None,
            timings: Timings::default(),
            error: None,
            imported: None,
            modified: None,
        }
    }
}

/// What kind of traffic an [`Exchange`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeKind {
    /// An HTTP request and its response, decrypted when TLS.
    Http,
    /// A connection tunnelled untouched (passthrough host, or not TLS after CONNECT).
    Tunnel,
}

/// The proxy mode an exchange was recorded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// HTTP proxy: CONNECT (intercepted or tunnelled) and absolute-form requests.
    Forward,
    /// The proxy stood in for one server.
    Reverse,
    /// Not recorded by the proxy (imported, or built by a test).
    Other,
}

/// The client-side TLS session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct TlsInfo {
    /// Server Name Indication the client sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// The negotiated ALPN protocol (`h2`, `http/1.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// The negotiated TLS version (`TLSv1_3`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// An HTTP request as seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Request {
    /// The method, verbatim.
    pub method: String,
    /// The full URL (`https://host/path?query`), reconstructed for origin-form requests.
    pub url: String,
    /// Header fields in the order received, with their original case where known.
    pub headers: Headers,
    /// The body.
    pub body: Body,
}

impl Request {
    /// A request with a complete body.
    pub fn new(method: &str, url: &str, headers: Headers, body: Vec<u8>) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            headers,
            body: Body::complete(body),
        }
    }
}

/// An HTTP response as seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase as sent (HTTP/1), else the canonical one.
    #[serde(default)]
    pub reason: String,
    /// Header fields in the order received.
    pub headers: Headers,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A response with no reason phrase and a complete body.
    pub fn new(status: u16, headers: Headers, body: Vec<u8>) -> Self {
        Self {
            status,
            reason: String::new(),
            headers,
            body: Body::complete(body),
        }
    }
}

/// Header fields in order: (name, value) pairs, names with their original case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Headers(pub Vec<(String, String)>);

impl From<&[(&str, &str)]> for Headers {
    fn from(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

impl Headers {
    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The pairs as borrowed strings, the shape decoders take.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }
}

/// A message body: the bytes stored, and what is known about the whole body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Body {
    /// The bytes stored (the whole body, or its first `stored` bytes when truncated).
    pub bytes: Vec<u8>,
    /// The length of the whole body as it went over the wire (after transfer decoding).
    pub len: u64,
    /// True when `bytes` holds less than the whole body (over the body limit, or the
    /// capture writer fell behind and copies were dropped).
    pub truncated: bool,
    /// SHA-256 of the whole body, lowercase hex, when the body was truncated.
    pub sha256: Option<String>,
    /// True when the stream ended early (client or server went away mid-body).
    pub incomplete: bool,
    /// How many bytes were stored; equals `bytes.len()` once a reader has reassembled a
    /// chunked body.
    pub stored: u64,
    /// Storage detail: the bytes were written as separate chunk records ahead of the
    /// exchange record. Readers reassemble them and clear this flag.
    pub chunked: bool,
}

impl Body {
    /// A complete body holding `bytes`.
    pub fn complete(bytes: Vec<u8>) -> Self {
        Self {
            len: bytes.len() as u64,
            stored: bytes.len() as u64,
            bytes,
            ..Self::default()
        }
    }
}

/// Tunnel byte counts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
pub struct TunnelInfo {
    /// Bytes from client to server.
    pub bytes_up: u64,
    /// Bytes from server to client.
    pub bytes_down: u64,
}

/// Timings of one exchange. `start` is wall-clock; the rest are milliseconds after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Timings {
    /// When the request head arrived (RFC 3339, UTC).
    pub start: String,
    /// Upstream TCP connect time, when this exchange opened the upstream connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<f64>,
    /// Upstream TLS handshake time, when this exchange opened the upstream connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ms: Option<f64>,
    /// When the whole request had been sent upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sent_ms: Option<f64>,
    /// When the response head arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_byte_ms: Option<f64>,
    /// When the exchange ended (response body done, or error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_ms: Option<f64>,
}
