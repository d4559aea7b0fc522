//! WebDAV decoder: replication (manifests, resourcetags, collblobs), locking and the plain
//! RFC 4918 methods, plus the Microsoft WebDAV extension headers.
//!
//! Specifications: [RFC 4918](https://www.rfc-editor.org/rfc/rfc4918) (methods, `If`,
//! `Timeout`, `Lock-Token`, `lockdiscovery`), the Exchange Server 2003 SDK "WebDAV
//! replication" topics (namespace `http://schemas.microsoft.com/repl/`: `repl`,
//! `collblob`, `resourcetaglist`, `resourcetag`, `repl-uid`, `changetype`),
//! [MS-WDV](https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wdv/) and
//! [MS-WDVSE](https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-wdvse/)
//! (`X-MSDAVEXT*`, `MS-Author-Via`, `Translate`). See RFC 4918 and MS-WDV.
//!
//! Decoding is lenient: [`decode`] always returns a [`WebDavExchange`]; what could not be
//! understood is reported as [`Diagnostic`]s with byte offsets into the body concerned, and
//! elements the decoder does not know are kept under `unknown`. Header names whose exact
//! spelling is unconfirmed (`ResourceTag`, `Repl-UID`) are matched case-insensitively.
//! This module does no IO; cross-exchange facts live in `crate::timeline::cross`. Header
//! parsers are in `headers`, XML readers in `read`, encoders in `encode`, and the generic
//! XML helpers (shared with SPFileSync) in `xml`.

use serde::{Deserialize, Serialize};

use crate::decode::meta::Meta;
use crate::decode::text::{percent_decode, shorten};
use crate::decode::Diagnostic;

mod encode;
mod headers;
mod read;
pub(crate) mod xml;

pub use encode::{encode_lockdiscovery, encode_multistatus};
use headers::*;
pub use headers::{parse_if, parse_timeouts};
pub use read::status_code;
use read::*;

/// The `DAV:` namespace (RFC 4918).
pub const DAV_NS: &str = "DAV:";
/// The Exchange WebDAV replication namespace (wire value, `http://`).
pub const REPL_NS: &str = "http://schemas.microsoft.com/repl/";

/// Methods that only WebDAV uses (RFC 4918 plus SEARCH, RFC 5323 and Exchange).
const DAV_METHODS: &[&str] = &[
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "SEARCH",
];

/// Request headers that only WebDAV clients send.
const DAV_HEADERS: &[&str] = &[
    "depth",
    "destination",
    "overwrite",
    "lock-token",
    "timeout",
    "translate",
    "x-msdavext",
    "x-msdavextlocktimeout",
    "resourcetag",
    "repl-uid",
];

/// One decoded WebDAV exchange: request, optional response, and the replication manifest
/// when the response carries one.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
pub struct WebDavExchange {
    /// HTTP method as sent.
    pub method: String,
    /// Request URL as sent.
    pub url: String,
    /// What family of WebDAV operation this is.
    pub kind: DavKind,
    /// The decoded request.
    pub request: DavMessage,
    /// The decoded response; `None` when no response was seen (yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<DavMessage>,
    /// For replication responses: which resources changed and how, in server order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
}

/// The family a WebDAV exchange belongs to.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
pub enum DavKind {
    /// SEARCH/PROPFIND carrying `repl`, or a response carrying a manifest or collblob.
    Replication,
    /// LOCK, UNLOCK, or a request piggy-backing a lock (`X-MSDAVEXTLockTimeout`).
    Locking,
    /// PROPFIND and PROPPATCH without replication.
    Properties,
    /// MKCOL, COPY, MOVE, DELETE.
    Namespace,
    /// GET, HEAD, PUT, POST.
    Content,
    /// OPTIONS.
    Options,
    /// Anything else.
    Other,
}

/// One side (request or response) of a WebDAV exchange.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
pub struct DavMessage {
    /// HTTP status (responses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The WebDAV-relevant headers.
    pub headers: DavHeaders,
    /// The decoded body; `None` when the body is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<DavBody>,
    /// What could not be decoded, with byte offsets into this body.
    pub diagnostics: Vec<Diagnostic>,
}

/// WebDAV and Microsoft-extension headers, named as on the wire.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
pub struct DavHeaders {
    /// `Depth` (`0`, `1`, `infinity`).
    #[serde(rename = "Depth", default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<String>,
    /// `Timeout`: the client's preferences in order, or the granted value.
    #[serde(rename = "Timeout", default, skip_serializing_if = "Vec::is_empty")]
    pub timeout: Vec<DavTimeout>,
    /// `If`: parsed condition lists.
    #[serde(rename = "If", default, skip_serializing_if = "Option::is_none")]
    pub if_header: Option<IfHeader>,
    /// `Lock-Token`, without the angle brackets.
    #[serde(
        rename = "Lock-Token",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub lock_token: Option<String>,
    /// `Destination` (COPY/MOVE).
    #[serde(
        rename = "Destination",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub destination: Option<String>,
    /// `Overwrite` (`T`/`F`).
    #[serde(rename = "Overwrite", default, skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<String>,
    /// Replication `resourcetag` response header (header name unconfirmed; matched as
    /// `ResourceTag` case-insensitively).
    #[serde(
        rename = "resourcetag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resourcetag: Option<String>,
    /// Replication `repl-uid` response header (matched as `Repl-UID`).
    #[serde(rename = "repl-uid", default, skip_serializing_if = "Option::is_none")]
    pub repl_uid: Option<String>,
    /// `DAV` compliance classes (OPTIONS).
    #[serde(rename = "DAV", default, skip_serializing_if = "Option::is_none")]
    pub dav: Option<String>,
    /// `MS-Author-Via` (MS-WDVSE 2.2.2).
    #[serde(
        rename = "MS-Author-Via",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ms_author_via: Option<String>,
    /// `Public-Extension` (OPTIONS, e.g. `http://schemas.microsoft.com/repl-2`).
    #[serde(
        rename = "Public-Extension",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_extension: Option<String>,
    /// `X-MSDAVEXT` (MS-WDV 2.2.1).
    #[serde(
        rename = "X-MSDAVEXT",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub x_msdavext: Option<String>,
    /// `X-MSDAVEXTLockTimeout` (MS-WDV 2.2.4); `Second(0)` means unlock.
    #[serde(
        rename = "X-MSDAVEXTLockTimeout",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub x_msdavext_lock_timeout: Vec<DavTimeout>,
    /// `X-MSDAVEXT_ERROR` (MS-WDV 2.2.3).
    #[serde(
        rename = "X-MSDAVEXT_ERROR",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub x_msdavext_error: Option<MsDavExtError>,
    /// `Translate` (MS-WDV 2.2.2; `f` asks for the raw entity).
    #[serde(rename = "Translate", default, skip_serializing_if = "Option::is_none")]
    pub translate: Option<String>,
    /// `MS-BinDiff` (MS-WDVMODUU; servers answer 415).
    #[serde(
        rename = "MS-BinDiff",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ms_bindiff: Option<String>,
    /// `ETag`.
    #[serde(rename = "ETag", default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `Content-Type`.
    #[serde(
        rename = "Content-Type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_type: Option<String>,
}

/// A `Timeout` / `X-MSDAVEXTLockTimeout` value (RFC 4918 10.7).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, schemars::JsonSchema)]
pub enum DavTimeout {
    /// `Infinite`.
    Infinite,
    /// `Second-<n>`.
    Second(u64),
    /// Anything that does not follow the grammar, verbatim.
    Invalid(String),
}

/// `X-MSDAVEXT_ERROR: <code>; <percent-encoded text>` (MS-WDV 2.2.3).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, schemars::JsonSchema)]
pub struct MsDavExtError {
    /// The decimal code (implementation-specific); `None` if it did not parse.
    pub code: Option<i64>,
    /// The percent-decoded text.
    pub text: String,
}

/// A parsed `If` header (RFC 4918 10.4).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct IfHeader {
    /// The lists, in order; each applies to `resource` (tagged) or the request URL.
    pub lists: Vec<IfList>,
}

/// One parenthesised `If` list.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct IfList {
    /// The tagged resource (`<url>` before the list), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The conditions, all of which must hold.
    pub conditions: Vec<IfCondition>,
}

/// One `If` condition: a state token (lock token, resourcetag, repl-uid) or an entity tag.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct IfCondition {
    /// Preceded by `Not`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not: bool,
    /// `<state-token>` without the angle brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_token: Option<String>,
    /// `["etag"]` without the square brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

impl IfHeader {
    /// Every state token named in the header, in order.
    pub fn state_tokens(&self) -> impl Iterator<Item = &str> {
        self.lists
            .iter()
            .flat_map(|l| l.conditions.iter())
            .filter_map(|c| c.state_token.as_deref())
    }

    /// State tokens that look like lock tokens (`opaquelocktoken:`, `urn:uuid:`).
    pub fn lock_tokens(&self) -> impl Iterator<Item = &str> {
        self.state_tokens().filter(|t| is_lock_token(t))
    }
}

/// Whether `token` has a lock-token URI scheme (RFC 4918 6.5, App. C).
pub fn is_lock_token(token: &str) -> bool {
    let t = token.to_ascii_lowercase();
    t.starts_with("opaquelocktoken:") || t.starts_with("urn:uuid:")
}

/// A decoded WebDAV XML body, by root element (names verbatim from the specs).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
pub enum DavBody {
    /// `D:searchrequest` (SEARCH), optionally with `R:repl`.
    #[serde(rename = "searchrequest")]
    SearchRequest(SearchRequest),
    /// `D:propfind`.
    #[serde(rename = "propfind")]
    PropFind(PropFind),
    /// `D:propertyupdate` (PROPPATCH).
    #[serde(rename = "propertyupdate")]
    PropertyUpdate(PropertyUpdate),
    /// `D:lockinfo` (LOCK).
    #[serde(rename = "lockinfo")]
    LockInfo(LockInfo),
    /// `D:multistatus` (207).
    #[serde(rename = "multistatus")]
    MultiStatus(MultiStatus),
    /// `D:prop` (LOCK response with `lockdiscovery`).
    #[serde(rename = "prop")]
    Prop(Prop),
    /// `D:error` with its precondition/postcondition elements (e.g. 423 bodies).
    #[serde(rename = "error")]
    Error(DavError),
    /// Some other XML document; only the root name is kept.
    #[serde(rename = "xml")]
    OtherXml(QName),
    /// Non-XML content (GET/PUT entity bodies): length only.
    #[serde(rename = "content")]
    Content {
        /// Body length in bytes.
        length: usize,
    },
}

/// An expanded XML name.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct QName {
    /// Namespace URI (empty when none).
    pub namespace: String,
    /// Local name.
    pub name: String,
}

/// An element the decoder does not know, kept by name with its text.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct Unknown {
    /// Namespace URI (empty when none).
    pub namespace: String,
    /// Local name.
    pub name: String,
    /// Concatenated text content, trimmed.
    pub text: String,
}

/// `R:repl` (replication state in a SEARCH/PROPFIND request or a multistatus response).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct Repl {
    /// `R:collblob`: empty on a first sync; `None` when the element is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collblob: Option<String>,
    /// `R:resourcetaglist/R:resourcetag`: tags the client fetched out of band.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resourcetaglist: Vec<String>,
}

/// `D:searchrequest`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
pub struct SearchRequest {
    /// The replication element, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repl: Option<Repl>,
    /// The query (`sql`, `basicsearch`...): grammar name and text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<SearchQuery>,
    /// Unknown children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
}

/// A SEARCH query grammar element and its text.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct SearchQuery {
    /// Element local name (`sql`, `basicsearch`).
    pub grammar: String,
    /// Text content, trimmed.
    pub text: String,
}

/// `D:propfind`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
pub struct PropFind {
    /// `prop`, `allprop` or `propname`; `allprop` when the body is empty (RFC 4918 9.1).
    pub mode: String,
    /// Requested properties (`prop` mode) or `include` names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prop: Vec<QName>,
    /// Replication state, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repl: Option<Repl>,
    /// Unknown children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
}

/// `D:propertyupdate`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
pub struct PropertyUpdate {
    /// Properties in `D:set`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<Property>,
    /// Property names in `D:remove`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<QName>,
    /// Unknown children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
}

/// A property with its value.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct Property {
    /// Namespace URI.
    pub namespace: String,
    /// Local name.
    pub name: String,
    /// Text content (trimmed); `None` for an empty element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Raw inner XML when the value has element children (e.g. `resourcetype`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xml: Option<String>,
}

/// `D:lockinfo`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct LockInfo {
    /// `exclusive` or `shared`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockscope: Option<String>,
    /// `write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locktype: Option<String>,
    /// The owner's text (often a `D:href`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Unknown children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
}

/// `D:activelock` (RFC 4918 14.1).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct ActiveLock {
    /// `exclusive` or `shared`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockscope: Option<String>,
    /// `write`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locktype: Option<String>,
    /// `0` or `infinity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<String>,
    /// Owner text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Granted timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<DavTimeout>,
    /// `locktoken/href`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locktoken: Option<String>,
    /// `lockroot/href`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockroot: Option<String>,
    /// Unknown children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
}

/// `D:prop`: properties, with `lockdiscovery` decoded into active locks.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct Prop {
    /// `lockdiscovery/activelock` entries (not repeated in `properties`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lockdiscovery: Vec<ActiveLock>,
    /// Every other property.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<Property>,
}

/// `D:error` (RFC 4918 16).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct DavError {
    /// Condition element names, e.g. `lock-token-submitted`.
    pub conditions: Vec<String>,
    /// `href`s inside the conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub href: Vec<String>,
}

/// `D:multistatus`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
pub struct MultiStatus {
    /// `R:repl` with the new `collblob` (replication manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repl: Option<Repl>,
    /// The `D:response` elements in server order.
    pub response: Vec<MultiStatusResponse>,
    /// `D:responsedescription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responsedescription: Option<String>,
    /// Unknown children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
}

/// One `D:response` in a multistatus.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
pub struct MultiStatusResponse {
    /// `D:href`s.
    pub href: Vec<String>,
    /// `D:status` (status-only responses), verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `D:propstat` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub propstat: Vec<PropStat>,
    /// `R:changetype` as a direct child of `response`, where the Exchange SDK places it
    /// ("change" or "delete"); a `changetype` property inside `prop` is also accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changetype: Option<String>,
    /// `D:error` condition names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<String>,
    /// `D:responsedescription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responsedescription: Option<String>,
    /// Unknown children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
}

/// `D:propstat`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct PropStat {
    /// The properties.
    pub prop: Prop,
    /// `D:status`, verbatim (e.g. `HTTP/1.1 200 OK`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl MultiStatusResponse {
    /// The first property named `name` (case-insensitive local name) with a 2xx (or no)
    /// propstat status.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.propstat
            .iter()
            .filter(|ps| {
                ps.status
                    .as_deref()
                    .and_then(status_code)
                    .is_none_or(|c| (200..300).contains(&c))
            })
            .flat_map(|ps| ps.prop.properties.iter())
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref().unwrap_or(""))
    }

    /// `R:resourcetag`.
    pub fn resourcetag(&self) -> Option<&str> {
        self.property("resourcetag")
    }

    /// `R:repl-uid`.
    pub fn repl_uid(&self) -> Option<&str> {
        self.property("repl-uid")
    }

    /// `R:changetype`, verbatim: the `response` child, else a property of that name.
    pub fn changetype(&self) -> Option<&str> {
        self.changetype
            .as_deref()
            .or_else(|| self.property("changetype"))
    }
}

/// Which resources a replication response says changed, and how.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct Manifest {
    /// The `collblob` the client sent (`None` when it sent none).
    #[serde(
        rename = "request_collblob",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_collblob: Option<String>,
    /// The new `collblob` returned by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collblob: Option<String>,
    /// One entry per `D:response`, in server order.
    pub changes: Vec<ManifestEntry>,
}

/// One changed resource in a manifest.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct ManifestEntry {
    /// The first `href` (may be invalid for deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    /// `change` when the server sent no `changetype` (Exchange SDK default).
    #[serde(rename = "ChangeType")]
    pub change_type: ChangeType,
    /// Whether `changetype` was present on the wire.
    pub explicit: bool,
    /// `resourcetag`, if returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resourcetag: Option<String>,
    /// `repl-uid`, if returned.
    #[serde(rename = "repl-uid", default, skip_serializing_if = "Option::is_none")]
    pub repl_uid: Option<String>,
}

/// A manifest `changetype`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(from = "String", into = "String")]
pub enum ChangeType {
    /// `new` (not defined by the Exchange SDK but seen in other dialects).
    New,
    /// `change`: new or updated (the default when absent).
    #[default]
    Change,
    /// `delete`.
    Delete,
    /// Anything else, verbatim.
    Other(String),
}

impl From<String> for ChangeType {
    fn from(s: String) -> Self {
        match s.trim().to_ascii_lowercase().as_str() {
            "new" => Self::New,
            "change" => Self::Change,
            "delete" => Self::Delete,
            _ => Self::Other(s),
        }
    }
}

impl From<ChangeType> for String {
    fn from(c: ChangeType) -> Self {
        c.as_str().to_owned()
    }
}

impl ChangeType {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::New => "new",
            Self::Change => "change",
            Self::Delete => "delete",
            Self::Other(s) => s,
        }
    }
}

impl WebDavExchange {
    /// The manifest entries reporting a resource as new or changed.
    pub fn changed(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.manifest
            .iter()
            .flat_map(|m| m.changes.iter())
            .filter(|e| matches!(e.change_type, ChangeType::New | ChangeType::Change))
    }

    /// The active locks the response reports (LOCK response body or PROPFIND lockdiscovery).
    pub fn active_locks(&self) -> Vec<&ActiveLock> {
        match self.response.as_ref().and_then(|r| r.body.as_ref()) {
            Some(DavBody::Prop(p)) => p.lockdiscovery.iter().collect(),
            Some(DavBody::MultiStatus(m)) => m
                .response
                .iter()
                .flat_map(|r| r.propstat.iter())
                .flat_map(|ps| ps.prop.lockdiscovery.iter())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Whether a request looks like WebDAV: a WebDAV-only method, a WebDAV request header, or
/// a `DAV:` namespace in the start of the body.
pub fn recognise(method: &str, headers: &[(&str, &str)], body_prefix: &[u8]) -> bool {
    if DAV_METHODS
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method.trim()))
    {
        return true;
    }
    if headers.iter().any(|(name, _)| {
        DAV_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name.trim()))
    }) {
        return true;
    }
    if headers.iter().any(|(name, value)| {
        name.trim().eq_ignore_ascii_case("if") && value.trim_start().starts_with(['(', '<'])
    }) {
        return true;
    }
    memchr::memmem::find(body_prefix, b"\"DAV:\"").is_some()
        || memchr::memmem::find(body_prefix, b"'DAV:'").is_some()
}

/// Decode one WebDAV exchange. The response side is absent when the metadata has no
/// response status or header fields and the response body is empty.
pub fn decode(meta: &Meta<'_>, req_body: &[u8], resp_body: &[u8]) -> WebDavExchange {
    let upper = meta.method.trim().to_ascii_uppercase();
    let mut request = DavMessage {
        headers: parse_headers(meta.request_headers),
        ..DavMessage::default()
    };
    let req_is_content = matches!(upper.as_str(), "PUT" | "POST");
    (request.body, request.diagnostics) = decode_part(req_body, req_is_content);
    if upper == "PROPFIND" && request.body.is_none() {
        // RFC 4918 9.1: an empty PROPFIND body means allprop.
        request.body = Some(DavBody::PropFind(PropFind {
            mode: "allprop".into(),
            ..PropFind::default()
        }));
    }
    let response = meta.has_response(resp_body).then(|| {
        let mut r = DavMessage {
            status: meta.status,
            headers: parse_headers(meta.response_headers),
            ..DavMessage::default()
        };
        let resp_is_content = matches!(upper.as_str(), "GET" | "HEAD" | "POST");
        (r.body, r.diagnostics) = decode_part(resp_body, resp_is_content);
        r
    });
    let manifest = build_manifest(request.body.as_ref(), response.as_ref());
    let kind = classify(&upper, &request, response.as_ref(), manifest.is_some());
    WebDavExchange {
        method: meta.method.to_owned(),
        url: meta.url.to_owned(),
        kind,
        request,
        response,
        manifest,
    }
}

/// Decode a WebDAV XML body on its own (used by tests and by the reference server).
/// Returns `None` for an empty body.
pub fn decode_body(body: &[u8]) -> (Option<DavBody>, Vec<Diagnostic>) {
    decode_part(body, false)
}

/// One line describing the exchange, e.g.
/// `LOCK /doc.docx exclusive write, Timeout Second-3600 → 200 locktoken opaquelocktoken:…`.
pub fn summarize(x: &WebDavExchange) -> String {
    let path = short_path(&x.url);
    let mut s = format!("{} {}", x.method, path);
    let rq = &x.request;
    match rq.body.as_ref() {
        Some(DavBody::SearchRequest(sr)) => match &sr.repl {
            Some(r) => s.push_str(&format!(
                " repl ({})",
                collblob_phrase(r.collblob.as_deref())
            )),
            None => s.push_str(" query"),
        },
        Some(DavBody::PropFind(pf)) => {
            if let Some(r) = &pf.repl {
                s.push_str(&format!(
                    " repl ({})",
                    collblob_phrase(r.collblob.as_deref())
                ));
            } else if pf.mode == "prop" {
                s.push_str(&format!(" {} props", pf.prop.len()));
            } else {
                s.push_str(&format!(" {}", pf.mode));
            }
        }
        Some(DavBody::PropertyUpdate(pu)) => {
            s.push_str(&format!(" set {} remove {}", pu.set.len(), pu.remove.len()));
        }
        Some(DavBody::LockInfo(li)) => {
            s.push_str(&format!(
                " {} {}",
                li.lockscope.as_deref().unwrap_or("?"),
                li.locktype.as_deref().unwrap_or("?")
            ));
            if let Some(o) = &li.owner {
                s.push_str(&format!(" owner {}", shorten(o)));
            }
        }
        _ => {
            if x.method.eq_ignore_ascii_case("LOCK") {
                s.push_str(" refresh");
            }
        }
    }
    if let Some(d) = &rq.headers.depth {
        s.push_str(&format!(", Depth {d}"));
    }
    if let Some(t) = rq.headers.timeout.first() {
        s.push_str(&format!(", Timeout {}", timeout_text(t)));
    }
    if let Some(t) = rq.headers.x_msdavext_lock_timeout.first() {
        s.push_str(&format!(", X-MSDAVEXTLockTimeout {}", timeout_text(t)));
    }
    if let Some(t) = &rq.headers.lock_token {
        s.push_str(&format!(", Lock-Token {}", shorten(t)));
    }
    if let Some(i) = &rq.headers.if_header {
        let toks: Vec<String> = i.state_tokens().map(shorten).collect();
        if !toks.is_empty() {
            s.push_str(&format!(", If {}", toks.join(" ")));
        }
    }
    if let Some(d) = &rq.headers.destination {
        s.push_str(&format!(" → {}", short_path(d)));
    }
    let Some(resp) = &x.response else {
        s.push_str(" (no response)");
        return s;
    };
    match resp.status {
        Some(c) => s.push_str(&format!(" → {c}")),
        None => s.push_str(" → ?"),
    }
    if resp.status == Some(423) {
        s.push_str(" Locked");
    }
    match resp.body.as_ref() {
        Some(DavBody::MultiStatus(ms)) => {
            if let Some(m) = &x.manifest {
                let count =
                    |k: &ChangeType| m.changes.iter().filter(|e| &e.change_type == k).count();
                let mut parts = Vec::new();
                for k in [ChangeType::New, ChangeType::Change, ChangeType::Delete] {
                    let n = count(&k);
                    if n > 0 {
                        parts.push(format!("{n} {}", k.as_str()));
                    }
                }
                s.push_str(&format!(
                    " manifest: {} change{}",
                    m.changes.len(),
                    if m.changes.len() == 1 { "" } else { "s" }
                ));
                if !parts.is_empty() {
                    s.push_str(&format!(" ({})", parts.join(", ")));
                }
                if let Some(c) = &m.collblob {
                    s.push_str(&format!(", new collblob {}", shorten(c)));
                }
            } else {
                s.push_str(&format!(" {} responses", ms.response.len()));
            }
        }
        Some(DavBody::Prop(p)) if !p.lockdiscovery.is_empty() => {
            let l = &p.lockdiscovery[0];
            if let Some(t) = &l.locktoken {
                s.push_str(&format!(" locktoken {}", shorten(t)));
            }
            if let Some(t) = &l.timeout {
                s.push_str(&format!(", timeout {}", timeout_text(t)));
            }
        }
        Some(DavBody::Error(e)) if !e.conditions.is_empty() => {
            s.push_str(&format!(" ({})", e.conditions.join(", ")));
        }
        _ => {}
    }
    if resp.body.is_none() || matches!(resp.body, Some(DavBody::Content { .. })) {
        if let Some(t) = &resp.headers.lock_token {
            s.push_str(&format!(" Lock-Token {}", shorten(t)));
        }
    }
    if let Some(t) = &resp.headers.resourcetag {
        s.push_str(&format!(" resourcetag {}", shorten(t)));
    }
    if let Some(t) = &resp.headers.repl_uid {
        s.push_str(&format!(" repl-uid {}", shorten(t)));
    }
    if let Some(t) = resp.headers.x_msdavext_lock_timeout.first() {
        s.push_str(&format!(" X-MSDAVEXTLockTimeout {}", timeout_text(t)));
    }
    if let Some(e) = &resp.headers.x_msdavext_error {
        s.push_str(&format!(
            " X-MSDAVEXT_ERROR {} {}",
            e.code.unwrap_or_default(),
            e.text
        ));
    }
    if !rq.diagnostics.is_empty() || !resp.diagnostics.is_empty() {
        s.push_str(&format!(
            " [{} diagnostics]",
            rq.diagnostics.len() + resp.diagnostics.len()
        ));
    }
    s
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn collblob_phrase(c: Option<&str>) -> String {
    match c {
        None => "no collblob".into(),
        Some("") => "initial, empty collblob".into(),
        Some(c) => format!("collblob {}", shorten(c)),
    }
}

fn timeout_text(t: &DavTimeout) -> String {
    match t {
        DavTimeout::Infinite => "Infinite".into(),
        DavTimeout::Second(n) => format!("Second-{n}"),
        DavTimeout::Invalid(s) => format!("invalid {s:?}"),
    }
}

fn short_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    if url.contains("://") {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        rest
    }
}

fn classify(
    method: &str,
    req: &DavMessage,
    resp: Option<&DavMessage>,
    has_manifest: bool,
) -> DavKind {
    let repl_req = match req.body.as_ref() {
        Some(DavBody::SearchRequest(s)) => s.repl.is_some(),
        Some(DavBody::PropFind(p)) => p.repl.is_some(),
        _ => false,
    };
    if repl_req || has_manifest {
        return DavKind::Replication;
    }
    let piggy = !req.headers.x_msdavext_lock_timeout.is_empty();
    match method {
        "LOCK" | "UNLOCK" => DavKind::Locking,
        _ if piggy => DavKind::Locking,
        "PROPFIND" | "PROPPATCH" => DavKind::Properties,
        "MKCOL" | "COPY" | "MOVE" | "DELETE" => DavKind::Namespace,
        "GET" | "HEAD" | "PUT" | "POST" => {
            if resp.is_some_and(|r| r.status == Some(423)) {
                DavKind::Locking
            } else {
                DavKind::Content
            }
        }
        "OPTIONS" => DavKind::Options,
        "SEARCH" => DavKind::Replication,
        _ => DavKind::Other,
    }
}

fn build_manifest(req: Option<&DavBody>, resp: Option<&DavMessage>) -> Option<Manifest> {
    let request_repl = match req {
        Some(DavBody::SearchRequest(s)) => s.repl.as_ref(),
        Some(DavBody::PropFind(p)) => p.repl.as_ref(),
        _ => None,
    };
    let Some(DavBody::MultiStatus(ms)) = resp.and_then(|r| r.body.as_ref()) else {
        return None;
    };
    let any_repl_prop = ms
        .response
        .iter()
        .any(|r| r.resourcetag().is_some() || r.repl_uid().is_some() || r.changetype().is_some());
    if request_repl.is_none() && ms.repl.is_none() && !any_repl_prop {
        return None;
    }
    let changes = ms
        .response
        .iter()
        .map(|r| {
            let ct = r.changetype();
            ManifestEntry {
                href: r.href.first().cloned(),
                change_type: ct.map_or(ChangeType::Change, |c| ChangeType::from(c.to_owned())),
                explicit: ct.is_some(),
                resourcetag: r.resourcetag().map(str::to_owned),
                repl_uid: r.repl_uid().map(str::to_owned),
            }
        })
        .collect();
    Some(Manifest {
        request_collblob: request_repl.and_then(|r| r.collblob.clone()),
        collblob: ms.repl.as_ref().and_then(|r| r.collblob.clone()),
        changes,
    })
}

/// Most XML nodes (elements, text, the document itself) in one WebDAV or SPFileSync XML
/// body, so a hostile body cannot exhaust memory; beyond it the body is not decoded.
pub const MAX_XML_NODES: usize = 1_000_000;

#[cfg(test)]
mod tests {
    use std::error::Error;

    use proptest::prelude::*;

    use super::*;
    use crate::decode::testdata;

    type TestResult = Result<(), Box<dyn Error>>;

    fn fixture(name: &str) -> Result<Vec<u8>, Box<dyn Error>> {
        testdata::fixture("webdav", name)
    }

    fn snap<T: Serialize>(name: &str, value: &T) {
        testdata::snap("webdav", name, value);
    }

    const TOKEN: &str = "opaquelocktoken:e71d4fae-5dec-22d6-fea5-00a0c91e6be4";

    #[test]
    fn search_initial_manifest() -> TestResult {
        let x = decode(
            &Meta::request(
                "SEARCH",
                "http://mail.contoso.com/exchange/adele/Inbox/",
                &[("Content-Type", "text/xml"), ("Depth", "1")],
            )
            .with_response(Some(207), &[("Content-Type", "text/xml")]),
            &fixture("search_repl_initial.xml")?,
            &fixture("manifest_207.xml")?,
        );
        assert_eq!(x.kind, DavKind::Replication);
        let m = x.manifest.as_ref().ok_or("no manifest")?;
        assert_eq!(m.request_collblob.as_deref(), Some(""));
        assert_eq!(m.collblob.as_deref(), Some("AQAAAHJlcGwtc3RhdGUtMg=="));
        let types: Vec<_> = m.changes.iter().map(|c| c.change_type.clone()).collect();
        assert_eq!(
            types,
            [ChangeType::Change, ChangeType::Change, ChangeType::Delete]
        );
        assert_eq!(
            m.changes.iter().map(|c| c.explicit).collect::<Vec<_>>(),
            [true, false, true]
        );
        assert_eq!(
            m.changes[0].resourcetag.as_deref(),
            Some("rt:89960b10e0a5c64ebbd6b5b1a1ee3db20000000001a7")
        );
        assert_eq!(
            m.changes[2].repl_uid.as_deref(),
            Some("rid:89960b10e0a5c64ebbd6b5b1a1ee3db20000000000a9")
        );
        assert_eq!(x.changed().count(), 2);
        assert!(x.request.diagnostics.is_empty());
        assert_eq!(
            summarize(&x),
            "SEARCH /exchange/adele/Inbox/ repl (initial, empty collblob), Depth 1 → 207 manifest: 3 changes (2 change, 1 delete), new collblob AQAAAHJlcGwtc3RhdGUtMg=="
        );
        snap("search_initial_manifest", &x);
        Ok(())
    }

    #[test]
    fn search_no_changes() -> TestResult {
        let x = decode(
            &Meta::request("SEARCH", "/exchange/adele/Inbox/", &[]).with_response(Some(207), &[]),
            &fixture("search_repl_next.xml")?,
            &fixture("manifest_empty_207.xml")?,
        );
        let m = x.manifest.as_ref().ok_or("no manifest")?;
        assert!(m.changes.is_empty());
        assert_eq!(m.collblob, None);
        assert_eq!(
            summarize(&x),
            "SEARCH /exchange/adele/Inbox/ repl (collblob AQAAAHJlcGwtc3RhdGUtMQ==) → 207 manifest: 0 changes"
        );
        Ok(())
    }

    #[test]
    fn search_with_resourcetaglist() -> TestResult {
        let (body, diags) = decode_body(&fixture("search_repl_next.xml")?);
        assert!(diags.is_empty());
        let Some(DavBody::SearchRequest(s)) = body else {
            return Err("not a searchrequest".into());
        };
        let repl = s.repl.ok_or("no repl")?;
        assert_eq!(repl.collblob.as_deref(), Some("AQAAAHJlcGwtc3RhdGUtMQ=="));
        assert_eq!(
            repl.resourcetaglist,
            ["rt:89960b10e0a5c64ebbd6b5b1a1ee3db20000000001a7"]
        );
        assert_eq!(s.query.ok_or("no query")?.grammar, "sql");
        assert_eq!(s.unknown.len(), 1);
        assert_eq!(s.unknown[0].name, "limit");
        assert_eq!(s.unknown[0].text, "100");
        Ok(())
    }

    #[test]
    fn propfind_with_repl() -> TestResult {
        let x = decode(
            &Meta::request("PROPFIND", "/exchange/adele/Inbox/", &[("Depth", "1")]),
            &fixture("propfind_repl.xml")?,
            &[],
        );
        assert_eq!(x.kind, DavKind::Replication);
        assert!(x.response.is_none());
        let Some(DavBody::PropFind(p)) = &x.request.body else {
            return Err("not a propfind".into());
        };
        assert_eq!(p.mode, "prop");
        let names: Vec<_> = p.prop.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["resourcetag", "repl-uid", "changetype"]);
        assert!(p.prop.iter().all(|q| q.namespace == REPL_NS));
        assert_eq!(
            summarize(&x),
            "PROPFIND /exchange/adele/Inbox/ repl (collblob AQAAAHJlcGwtc3RhdGUtMg==), Depth 1 (no response)"
        );
        Ok(())
    }

    #[test]
    fn propfind_with_lockdiscovery() -> TestResult {
        let x = decode(
            &Meta::request(
                "PROPFIND",
                "https://contoso.sharepoint.com/sites/team/Shared%20Documents/",
                &[
                    ("Depth", "1"),
                    ("User-Agent", "Microsoft-WebDAV-MiniRedir/10.0.19045"),
                ],
            )
            .with_response(Some(207), &[]),
            &fixture("propfind.xml")?,
            &fixture("propfind_207.xml")?,
        );
        assert_eq!(x.kind, DavKind::Properties);
        assert!(x.manifest.is_none());
        let locks = x.active_locks();
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].locktoken.as_deref(), Some(TOKEN));
        assert_eq!(locks[0].timeout, Some(DavTimeout::Second(3412)));
        assert_eq!(locks[0].owner.as_deref(), Some("CONTOSO\\adele"));
        let Some(DavBody::MultiStatus(ms)) = &x.response.as_ref().ok_or("no response")?.body else {
            return Err("not a multistatus".into());
        };
        assert_eq!(ms.response.len(), 2);
        assert_eq!(
            ms.response[0].property("getetag"),
            Some("\"{5A2C0D8E-1B3F-4C6A-9E7D-2F1B0C3D4E5F},4\"")
        );
        let coll = &ms.response[1];
        assert_eq!(coll.propstat.len(), 2);
        assert_eq!(
            coll.propstat[1].status.as_deref().and_then(status_code),
            Some(404)
        );
        assert_eq!(
            coll.propstat[0].prop.properties[0].xml.as_deref(),
            Some("<D:collection/>")
        );
        // The 404 propstat's getcontentlength is not reported as a value.
        assert_eq!(coll.property("getcontentlength"), None);
        assert_eq!(
            summarize(&x),
            "PROPFIND /sites/team/Shared%20Documents/ 5 props, Depth 1 → 207 2 responses"
        );
        snap("propfind_lockdiscovery", &x);
        Ok(())
    }

    #[test]
    fn proppatch() -> TestResult {
        let x = decode(
            &Meta::request("PROPPATCH", "/docs/a.txt", &[]).with_response(Some(207), &[]),
            &fixture("proppatch.xml")?,
            &[],
        );
        let Some(DavBody::PropertyUpdate(p)) = &x.request.body else {
            return Err("not a propertyupdate".into());
        };
        assert_eq!(p.set.len(), 2);
        assert_eq!(p.set[0].name, "Win32LastModifiedTime");
        assert_eq!(
            p.set[0].value.as_deref(),
            Some("Fri, 07 Nov 2025 22:07:00 GMT")
        );
        assert_eq!(p.remove[0].name, "Win32CreationTime");
        assert_eq!(summarize(&x), "PROPPATCH /docs/a.txt set 2 remove 1 → 207");
        Ok(())
    }

    #[test]
    fn lock_create() -> TestResult {
        let x = decode(
            &Meta::request(
                "LOCK",
                "http://dav.contoso.com/docs/Report.docx",
                &[
                    ("Depth", "0"),
                    ("Timeout", "Infinite, Second-4100000000"),
                    ("Content-Type", "text/xml"),
                ],
            )
            .with_response(Some(200), &[("Lock-Token", &format!("<{TOKEN}>"))]),
            &fixture("lockinfo.xml")?,
            &fixture("lock_response.xml")?,
        );
        assert_eq!(x.kind, DavKind::Locking);
        let Some(DavBody::LockInfo(li)) = &x.request.body else {
            return Err("not a lockinfo".into());
        };
        assert_eq!(li.lockscope.as_deref(), Some("exclusive"));
        assert_eq!(li.locktype.as_deref(), Some("write"));
        assert_eq!(li.owner.as_deref(), Some("CONTOSO\\adele"));
        assert_eq!(
            x.request.headers.timeout,
            [DavTimeout::Infinite, DavTimeout::Second(4_100_000_000)]
        );
        let resp = x.response.as_ref().ok_or("no response")?;
        assert_eq!(resp.headers.lock_token.as_deref(), Some(TOKEN));
        let locks = x.active_locks();
        assert_eq!(locks[0].timeout, Some(DavTimeout::Second(3600)));
        assert_eq!(locks[0].depth.as_deref(), Some("0"));
        assert_eq!(
            locks[0].lockroot.as_deref(),
            Some("http://dav.contoso.com/docs/Report.docx")
        );
        assert_eq!(
            summarize(&x),
            "LOCK /docs/Report.docx exclusive write owner CONTOSO\\adele, Depth 0, Timeout Infinite → 200 locktoken opaquelocktoken:e71d4fae-5d…, timeout Second-3600"
        );
        snap("lock_create", &x);
        Ok(())
    }

    #[test]
    fn lock_refresh_and_unlock() -> TestResult {
        let refresh = decode(
            &Meta::request(
                "LOCK",
                "/docs/Report.docx",
                &[("If", &format!("(<{TOKEN}>)")), ("Timeout", "Second-600")],
            )
            .with_response(Some(200), &[]),
            b"",
            &fixture("lock_response.xml")?,
        );
        assert!(refresh.request.body.is_none());
        let ifh = refresh.request.headers.if_header.as_ref().ok_or("no If")?;
        assert_eq!(ifh.lock_tokens().collect::<Vec<_>>(), [TOKEN]);
        assert!(summarize(&refresh).starts_with("LOCK /docs/Report.docx refresh, Timeout Second-600, If opaquelocktoken:e71d4fae-5d… → 200"));

        let unlock = decode(
            &Meta::request(
                "UNLOCK",
                "/docs/Report.docx",
                &[("Lock-Token", &format!("<{TOKEN}>"))],
            )
            .with_response(Some(204), &[]),
            b"",
            b"",
        );
        assert_eq!(unlock.kind, DavKind::Locking);
        assert_eq!(unlock.request.headers.lock_token.as_deref(), Some(TOKEN));
        assert_eq!(
            summarize(&unlock),
            "UNLOCK /docs/Report.docx, Lock-Token opaquelocktoken:e71d4fae-5d… → 204"
        );
        Ok(())
    }

    #[test]
    fn put_locked_423() -> TestResult {
        let x = decode(
            &Meta::request(
                "PUT",
                "/docs/Report.docx",
                &[("Content-Type", "application/octet-stream")],
            )
            .with_response(
                Some(423),
                &[("Content-Type", "application/xml; charset=utf-8")],
            ),
            b"PK\x03\x04 not xml",
            &fixture("locked_423.xml")?,
        );
        assert_eq!(x.kind, DavKind::Locking);
        assert_eq!(x.request.body, Some(DavBody::Content { length: 12 }));
        let Some(DavBody::Error(e)) = &x.response.as_ref().ok_or("no response")?.body else {
            return Err("not an error body".into());
        };
        assert_eq!(e.conditions, ["lock-token-submitted"]);
        assert_eq!(e.href, ["/docs/Report.docx"]);
        assert_eq!(
            summarize(&x),
            "PUT /docs/Report.docx → 423 Locked (lock-token-submitted)"
        );
        Ok(())
    }

    #[test]
    fn msdavext_headers() {
        let x = decode(
            &Meta::request(
                "GET",
                "/docs/Report.docx",
                &[
                    ("X-MSDAVEXTLockTimeout", "Second-3600"),
                    ("Translate", "f"),
                    ("X-MSDAVEXT", "PROPFIND"),
                ],
            )
            .with_response(
                Some(200),
                &[
                    ("Lock-Token", &format!("<{TOKEN}>")),
                    ("X-MSDAVEXTLockTimeout", "Second-3599"),
                    ("X-MSDAVEXT_ERROR", "589831; File%20is%20checked%20out"),
                ],
            ),
            b"",
            b"file bytes",
        );
        assert_eq!(x.kind, DavKind::Locking);
        assert_eq!(
            x.request.headers.x_msdavext_lock_timeout,
            [DavTimeout::Second(3600)]
        );
        assert_eq!(x.request.headers.translate.as_deref(), Some("f"));
        let r = x.response.as_ref().map(|r| &r.headers);
        assert_eq!(
            r.map(|h| h.x_msdavext_lock_timeout.clone()),
            Some(vec![DavTimeout::Second(3599)])
        );
        assert_eq!(
            r.and_then(|h| h.x_msdavext_error.clone()),
            Some(MsDavExtError {
                code: Some(589_831),
                text: "File is checked out".into()
            })
        );
        assert_eq!(
            summarize(&x),
            "GET /docs/Report.docx, X-MSDAVEXTLockTimeout Second-3600 → 200 Lock-Token opaquelocktoken:e71d4fae-5d… X-MSDAVEXTLockTimeout Second-3599 X-MSDAVEXT_ERROR 589831 File is checked out"
        );
    }

    #[test]
    fn conditional_get_with_resourcetag() {
        let x = decode(
            &Meta::request(
                "GET",
                "/exchange/adele/Inbox/Budget.EML",
                &[("If", "(<rt:0001>) (Not <opaquelocktoken:x> [\"etag-1\"])")],
            )
            .with_response(
                Some(412),
                &[("ResourceTag", "<rt:0002>"), ("Repl-UID", "<rid:77>")],
            ),
            b"",
            b"",
        );
        let ifh = x.request.headers.if_header.clone().unwrap_or_default();
        assert_eq!(ifh.lists.len(), 2);
        assert_eq!(
            ifh.lists[0].conditions[0].state_token.as_deref(),
            Some("rt:0001")
        );
        assert!(ifh.lists[1].conditions[0].not);
        assert_eq!(
            ifh.lists[1].conditions[1].etag.as_deref(),
            Some("\"etag-1\"")
        );
        let h = x.response.map(|r| r.headers).unwrap_or_default();
        assert_eq!(h.resourcetag.as_deref(), Some("rt:0002"));
        assert_eq!(h.repl_uid.as_deref(), Some("rid:77"));
    }

    #[test]
    fn tagged_if_header() {
        let h = parse_if("<http://a/b> (<urn:uuid:1>) <http://a/c> ([\"x\"])");
        assert_eq!(h.lists[0].resource.as_deref(), Some("http://a/b"));
        assert_eq!(h.lists[1].resource.as_deref(), Some("http://a/c"));
        assert_eq!(h.lock_tokens().collect::<Vec<_>>(), ["urn:uuid:1"]);
        assert!(parse_if("((((<<<[[[").lists.len() <= 4);
    }

    #[test]
    fn namespace_methods_and_options() {
        let mv = decode(
            &Meta::request(
                "MOVE",
                "/docs/a.txt",
                &[
                    ("Destination", "http://dav.contoso.com/docs/b.txt"),
                    ("Overwrite", "F"),
                ],
            )
            .with_response(Some(201), &[]),
            b"",
            b"",
        );
        assert_eq!(mv.kind, DavKind::Namespace);
        assert_eq!(summarize(&mv), "MOVE /docs/a.txt → /docs/b.txt → 201");
        let mk = decode(
            &Meta::request("MKCOL", "/docs/new", &[])
                .with_response(Some(201), &[("ResourceTag", "rt:9")]),
            b"",
            b"",
        );
        assert_eq!(summarize(&mk), "MKCOL /docs/new → 201 resourcetag rt:9");
        let del = decode(&Meta::request("DELETE", "/docs/b.txt", &[]), b"", b"");
        assert_eq!(summarize(&del), "DELETE /docs/b.txt (no response)");
        let opt = decode(
            &Meta::request("OPTIONS", "/", &[]).with_response(
                Some(200),
                &[
                    ("DAV", "1,2"),
                    ("MS-Author-Via", "MS-FP/4.0,DAV"),
                    ("Public-Extension", "http://schemas.microsoft.com/repl-2"),
                    ("X-MSDAVEXT", "1"),
                ],
            ),
            b"",
            b"",
        );
        assert_eq!(opt.kind, DavKind::Options);
        let h = opt.response.map(|r| r.headers).unwrap_or_default();
        assert_eq!(h.ms_author_via.as_deref(), Some("MS-FP/4.0,DAV"));
        assert_eq!(
            h.public_extension.as_deref(),
            Some("http://schemas.microsoft.com/repl-2")
        );
        assert_eq!(h.dav.as_deref(), Some("1,2"));
    }

    #[test]
    fn recognises_webdav() {
        assert!(recognise("propfind", &[], b""));
        assert!(recognise("SEARCH", &[], b""));
        assert!(recognise("GET", &[("Translate", "f")], b""));
        assert!(recognise("PUT", &[("If", "(<opaquelocktoken:1>)")], b""));
        assert!(recognise("POST", &[], br#"<D:propfind xmlns:D="DAV:">"#));
        assert!(!recognise("GET", &[("Accept", "*/*")], b""));
        assert!(!recognise(
            "POST",
            &[("SOAPAction", "\"x\"")],
            b"<s:Envelope/>"
        ));
    }

    #[test]
    fn malformed_bodies_have_offsets() -> TestResult {
        let body = fixture("malformed_multistatus.xml")?;
        let (b, d) = decode_body(&body);
        assert_eq!(b, Some(DavBody::Content { length: body.len() }));
        assert_eq!(d.len(), 1);
        let at = body
            .windows(9)
            .position(|w| w == b"</D:resp>")
            .ok_or("no end tag")?;
        assert_eq!(d[0].offset, at);
        assert!(
            d[0].message.starts_with("malformed xml"),
            "{}",
            d[0].message
        );

        let (_, d) = decode_body(&fixture("bad_status.xml")?);
        assert_eq!(
            d,
            [
                Diagnostic::malformed(42, "unparsable status line \"garbage\""),
                Diagnostic::missing(30, "response has no href"),
            ]
        );
        let (_, d) = decode_body(&fixture("lockinfo_incomplete.xml")?);
        assert_eq!(
            d,
            [
                Diagnostic::missing(0, "lockinfo has no lockscope"),
                Diagnostic::missing(0, "lockinfo has no locktype"),
            ]
        );
        let (b, d) = decode_body(&fixture("bad_activelock.xml")?);
        assert_eq!(
            d,
            [
                Diagnostic::invalid_value(54, "invalid timeout \"Second-forever\""),
                Diagnostic::missing(91, "locktoken has no href"),
            ]
        );
        let Some(DavBody::Prop(p)) = b else {
            return Err("not a prop".into());
        };
        assert_eq!(
            p.lockdiscovery[0].timeout,
            Some(DavTimeout::Invalid("Second-forever".into()))
        );
        let body = fixture("not_utf8.xml")?;
        let (_, d) = decode_body(&body);
        assert_eq!(
            d,
            [Diagnostic::malformed(
                body.len() - 2,
                "body is not valid utf-8"
            )]
        );
        Ok(())
    }

    #[test]
    fn encoders_round_trip_fixtures() -> TestResult {
        for name in ["manifest_207.xml", "propfind_207.xml"] {
            let (Some(DavBody::MultiStatus(ms)), d) = decode_body(&fixture(name)?) else {
                return Err(format!("{name}: not a multistatus").into());
            };
            assert!(d.is_empty());
            let again = decode_body(&encode_multistatus(&ms));
            assert_eq!(again, (Some(DavBody::MultiStatus(ms)), vec![]), "{name}");
        }
        let (Some(DavBody::Prop(p)), _) = decode_body(&fixture("lock_response.xml")?) else {
            return Err("not a prop".into());
        };
        let again = decode_body(&encode_lockdiscovery(&p.lockdiscovery));
        assert_eq!(again, (Some(DavBody::Prop(p)), vec![]));
        Ok(())
    }

    fn text() -> impl Strategy<Value = String> {
        "[A-Za-z0-9:/._&<>\"'-]([A-Za-z0-9:/._&<>\"' -]{0,16}[A-Za-z0-9:/._&<>\"'-])?"
    }

    fn timeout() -> impl Strategy<Value = DavTimeout> {
        prop_oneof![
            Just(DavTimeout::Infinite),
            (0..=u64::from(u32::MAX)).prop_map(DavTimeout::Second)
        ]
    }

    fn activelock() -> impl Strategy<Value = ActiveLock> {
        (
            proptest::option::of(prop_oneof![
                Just("exclusive".to_owned()),
                Just("shared".to_owned())
            ]),
            proptest::option::of(Just("write".to_owned())),
            proptest::option::of(prop_oneof![
                Just("0".to_owned()),
                Just("infinity".to_owned())
            ]),
            proptest::option::of(text()),
            proptest::option::of(timeout()),
            proptest::option::of(text()),
            proptest::option::of(text()),
        )
            .prop_map(
                |(lockscope, locktype, depth, owner, timeout, locktoken, lockroot)| ActiveLock {
                    lockscope,
                    locktype,
                    depth,
                    owner,
                    timeout,
                    locktoken,
                    lockroot,
                    unknown: Vec::new(),
                },
            )
    }

    fn property() -> impl Strategy<Value = Property> {
        (
            prop_oneof![
                Just(DAV_NS.to_owned()),
                Just(REPL_NS.to_owned()),
                Just("urn:schemas-microsoft-com:".to_owned())
            ],
            "[a-z][a-z0-9-]{0,10}".prop_filter("special", |n| n != "lockdiscovery"),
            proptest::option::of(text()),
        )
            .prop_map(|(namespace, name, value)| Property {
                namespace,
                name,
                value,
                xml: None,
            })
    }

    fn multistatus() -> impl Strategy<Value = MultiStatus> {
        let propstat = (
            proptest::collection::vec(activelock(), 0..2),
            proptest::collection::vec(property(), 0..4),
            proptest::option::of(text()),
        )
            .prop_map(|(lockdiscovery, properties, status)| PropStat {
                prop: Prop {
                    lockdiscovery,
                    properties,
                },
                status,
            });
        let response = (
            proptest::collection::vec(text(), 0..3),
            proptest::option::of(text()),
            proptest::collection::vec(propstat, 0..3),
            proptest::option::of(prop_oneof![
                Just("change".to_owned()),
                Just("delete".to_owned()),
                text()
            ]),
            proptest::collection::vec("[a-z][a-z-]{0,10}", 0..2),
            proptest::option::of(text()),
        )
            .prop_map(
                |(href, status, propstat, changetype, error, responsedescription)| {
                    MultiStatusResponse {
                        href,
                        status,
                        propstat,
                        changetype,
                        error,
                        responsedescription,
                        unknown: Vec::new(),
                    }
                },
            );
        let repl = (
            proptest::option::of(prop_oneof![Just(String::new()), text()]),
            proptest::collection::vec(text(), 0..3),
        )
            .prop_map(|(collblob, resourcetaglist)| Repl {
                collblob,
                resourcetaglist,
            });
        (
            proptest::option::of(repl),
            proptest::collection::vec(response, 0..4),
            proptest::option::of(text()),
        )
            .prop_map(|(repl, response, responsedescription)| MultiStatus {
                repl,
                response,
                responsedescription,
                unknown: Vec::new(),
            })
    }

    /// Issue 14.2: 100,000 nested elements inside a property decode (the WebDAV decoder
    /// does not recurse; roxmltree does not either), and JSON, summary and drop cope on
    /// a normal test thread.
    #[test]
    fn hundred_thousand_nested_elements() -> TestResult {
        let depth = 100_000;
        let mut body = String::from(
            r#"<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><D:propstat><D:prop><D:x>"#,
        );
        body.push_str(&"<D:x>".repeat(depth));
        body.push_str(&"</D:x>".repeat(depth + 1));
        body.push_str("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>");
        let x = decode(
            &Meta::request("PROPFIND", "/a", &[("Depth", "0")]).with_response(Some(207), &[]),
            b"",
            body.as_bytes(),
        );
        let r = x.response.as_ref().ok_or("no response")?;
        assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics.first());
        let json = serde_json::to_string(&x)?;
        assert!(json.len() < 2 * body.len(), "{}", json.len());
        assert!(!summarize(&x).is_empty());
        Ok(())
    }

    /// Nested elements each declaring another namespace prefix: 256 in scope decode, 257
    /// are refused with a diagnostic at the element that declares the 257th (roxmltree's
    /// cost is quadratic in memory and cubic in time in this count).
    #[test]
    fn namespaces_in_scope_are_bounded() {
        let nested = |n: usize| {
            let mut body = String::from(r#"<D:multistatus xmlns:D="DAV:">"#);
            for i in 1..n {
                body.push_str(&format!(r#"<D:x xmlns:p{i}="urn:{i}">"#));
            }
            body.push_str(&"</D:x>".repeat(n - 1));
            body.push_str("</D:multistatus>");
            body
        };
        let (_, d) = decode_body(nested(xml::MAX_NAMESPACES_IN_SCOPE).as_bytes());
        assert!(d.is_empty(), "{:?}", d.first());
        let body = nested(xml::MAX_NAMESPACES_IN_SCOPE + 1);
        let (_, d) = decode_body(body.as_bytes());
        let last = body.rfind("<D:x").unwrap_or(0);
        assert_eq!(d.len(), 1, "{:?}", d.first());
        assert_eq!(d[0].offset, last);
        assert!(d[0]
            .message
            .contains("more than 256 xml namespace declarations"));
        // 10,000 levels: refused at once, not after minutes.
        let (_, d) = decode_body(nested(10_000).as_bytes());
        assert_eq!(d.len(), 1);
    }

    proptest! {
        #[test]
        fn multistatus_round_trip(ms in multistatus()) {
            let (body, _) = decode_body(&encode_multistatus(&ms));
            prop_assert_eq!(body, Some(DavBody::MultiStatus(ms)));
        }

        #[test]
        fn lockdiscovery_round_trip(locks in proptest::collection::vec(activelock(), 0..4)) {
            let (body, d) = decode_body(&encode_lockdiscovery(&locks));
            prop_assert!(d.is_empty());
            prop_assert_eq!(body, Some(DavBody::Prop(Prop { lockdiscovery: locks, properties: Vec::new() })));
        }

        #[test]
        fn never_panics(method in "[A-Z]{0,9}", body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let x = decode(&Meta::request(&method, "/x", &[("If", "(<a")]).with_response(Some(207), &[("Timeout", "Second-")]), &body, &body);
            let _ = summarize(&x);
        }
    }
}
