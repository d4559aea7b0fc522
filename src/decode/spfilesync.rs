//! SharePoint `SPFileSync` REST decoder (the OneDrive sync client's change enumeration,
//! policy, uploads and downloads).
//!
//! There is no Microsoft specification for SPFileSync; see `REFERENCE.md` part C, built
//! from [Microsoft Learn's OneDrive sync page](https://learn.microsoft.com/en-us/sharepoint/sync-network-traffic),
//! the AADInternals OneDrive client emulation and one public capture. Much of it is
//! unconfirmed, so this decoder is lenient: URLs are recognised case-insensitively with
//! the list id with or without dashes, every `web3s` element it does not know is kept
//! under `unknown`, and problems become [`Diagnostic`]s with byte offsets into the body.
//!
//! The `web3s` XML dialect (root `Folder`, `Items`, `Document`) is decoded into [`Item`]s
//! whose simple text children are kept verbatim under their element names
//! (`ResourceID`, `ETag`, `Path`...). This module does no IO; SyncToken continuity across
//! exchanges is checked in [`crate::decode::findings`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::decode::webdav::{percent_decode, xml};
use crate::decode::Diagnostic;

/// Simple text elements of a `web3s` item, in the order the encoder writes them (observed
/// order first, then upload-only and unconfirmed names).
pub const ITEM_FIELDS: &[&str] = &[
    "ItemType",
    "ResourceID",
    "ETag",
    "DateCreated",
    "DateModified",
    "RelationshipName",
    "Path",
    "ParentResourceID",
    "QuotaState",
    "SpaceUsed",
    "SpaceGranted",
    "ListLevelQuotaState",
    "ListLevelSpaceUsed",
    "ListLevelSpaceGranted",
    "TotalSubItemSize",
    "WriteMode",
    "WriteStatus",
    "DateCreatedOnClient",
    "DateModifiedOnClient",
    "LabelHash",
    "LabelHashScope",
    "IsLabelProtected",
    "SubstrateFileId",
    "CreatedBy",
    "LastModifiedBy",
    "ChangeTime",
    "IsDeleted",
    "Deleted",
    "ChangeType",
];

/// Simple text elements of a `DocumentStream`.
pub const STREAM_FIELDS: &[&str] = &[
    "DocumentStreamName",
    "MimeType",
    "DataSize",
    "PreAuthURL",
    "XORHash",
    "FragmentSessionId",
    "WriteValidationToken",
    "StreamSyncToken",
    "StreamProtocolSupport",
];

/// The element holding FSSHTTP version state on a `Document`.
pub const FSSHTTP_STATE: &str = "fsshttpstate.xschema.storage.live.com";

/// Numeric item/stream fields: a diagnostic is raised when they are not decimal.
const NUMERIC_FIELDS: &[&str] = &[
    "SpaceUsed",
    "SpaceGranted",
    "ListLevelSpaceUsed",
    "ListLevelSpaceGranted",
    "TotalSubItemSize",
    "DataSize",
];

/// Headers kept in the model, spelled as observed.
const KNOWN_HEADERS: &[&str] = &[
    "User-Agent",
    "Accept",
    "Application",
    "Scenario",
    "ScenarioType",
    "Prefer",
    "Content-Type",
    "MicrosoftSharePointTeamServices",
    "SPRequestGuid",
    "request-id",
];

/// One decoded SPFileSync exchange.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SpFileSyncExchange {
    /// HTTP method as sent.
    pub method: String,
    /// Request URL as sent.
    pub url: String,
    /// The operation named from the URL; `None` when the URL is not an SPFileSync one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// The decoded request.
    pub request: SyncMessage,
    /// The decoded response; `None` when no response was seen (yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<SyncMessage>,
}

/// One side of an SPFileSync exchange.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct SyncMessage {
    /// HTTP status (responses only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Sync-relevant headers (`X-*` and a few others), by their wire name.
    pub headers: BTreeMap<String, String>,
    /// The decoded body; `None` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<SyncBody>,
    /// What could not be decoded, with byte offsets into this body.
    pub diagnostics: Vec<Diagnostic>,
}

impl SyncMessage {
    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `X-HasMoreData`, parsed (`True`/`False`, any case).
    pub fn has_more_data(&self) -> Option<bool> {
        self.header("X-HasMoreData").and_then(parse_bool)
    }

    /// `X-SyncToken`, verbatim.
    pub fn sync_token(&self) -> Option<&str> {
        self.header("X-SyncToken")
    }
}

/// What an SPFileSync URL asks for.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The operation's name.
    pub kind: OperationKind,
    /// The list id as it appears in the URL.
    #[serde(rename = "listId", default, skip_serializing_if = "Option::is_none")]
    pub list_id: Option<String>,
    /// The list id normalised to 32 lowercase hex digits, when it is a GUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_guid: Option<String>,
    /// The path after the list id (`RootFolder`, `policy`...), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Query parameters, percent-decoded, by their wire name (`SyncToken`, `MaxItemCount`,
    /// `View`, `web3s.paging`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
}

impl Operation {
    /// A query parameter by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The SPFileSync operations this decoder names.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// `POST _api/SP.OAuth.NativeClient/Authenticate` (SPO sign-in).
    Authenticate,
    /// `_api/sp.userprofiles.peoplemanager/getmyproperties` (sign-in).
    GetMyProperties,
    /// `_api/web/DefaultDocumentLibrary/ID` (discovery).
    DefaultDocumentLibraryId,
    /// `_api/Site/Id` (discovery).
    SiteId,
    /// `…/sync/<listId>/policy`.
    Policy,
    /// `…/RootFolder?Filter=changes…` (change enumeration).
    RootFolderChanges,
    /// `GET …/RootFolder` without `Filter=changes`.
    RootFolder,
    /// `POST …/RootFolder` (multipart/related upload).
    Upload,
    /// `…/Items` listing (unconfirmed).
    Items,
    /// `…/Subscription` (unconfirmed).
    Subscription,
    /// `?web3s.expand=QuotaState` (unconfirmed).
    QuotaState,
    /// `…/_layouts/15/download.aspx?UniqueId=…` (PreAuthURL download).
    Download,
    /// Some other resource under `_api/SPFileSync`.
    Other,
}

/// A decoded SPFileSync body.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum SyncBody {
    /// `web3s` root `Folder` (RootFolder responses).
    Folder(Item),
    /// `web3s` root `Document`.
    Document(Item),
    /// `web3s` root `Items` (upload metadata and upload responses).
    Items(Vec<Item>),
    /// `PolicyDocument`.
    PolicyDocument(PolicyDocument),
    /// `multipart/related` upload.
    Multipart(Multipart),
    /// Sign-in/discovery answers: scalar values by name (JSON `d`/top level or XML leaves).
    Discovery(BTreeMap<String, String>),
    /// Other XML: the root element's local name.
    OtherXml(String),
    /// File content or other non-XML bytes: length only.
    Content {
        /// Body length in bytes.
        length: usize,
    },
}

/// A `web3s` `Folder` or `Document` (or any other item element under `Items`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Item {
    /// The element name (`Folder`, `Document`...).
    pub element: String,
    /// Simple text children by element name (`ResourceID`, `ETag`, `Path`, ...; see
    /// [`ITEM_FIELDS`]). Values are verbatim: a document `ETag` keeps its double quotes.
    #[serde(flatten)]
    pub fields: BTreeMap<String, String>,
    /// `fsshttpstate.xschema.storage.live.com` children (`Hash`, `VersionToken`).
    #[serde(
        rename = "fsshttpstate.xschema.storage.live.com",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub fsshttpstate: Option<BTreeMap<String, String>>,
    /// `DocumentStreams/DocumentStream`.
    #[serde(rename = "DocumentStreams", default, skip_serializing_if = "Vec::is_empty")]
    pub document_streams: Vec<DocumentStream>,
    /// Child items (`Items/*`).
    #[serde(rename = "Items", default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
    /// Elements this decoder does not know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<UnknownElement>,
}

/// A `DocumentStream`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentStream {
    /// Simple text children by element name (see [`STREAM_FIELDS`]).
    #[serde(flatten)]
    pub fields: BTreeMap<String, String>,
    /// Elements this decoder does not know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<UnknownElement>,
}

/// An element the decoder does not know: its name and trimmed text.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct UnknownElement {
    /// Local name.
    pub name: String,
    /// Concatenated text, trimmed.
    pub text: String,
}

/// The sync `PolicyDocument`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyDocument {
    /// Every `Rule` element, in order.
    #[serde(rename = "Rule")]
    pub rules: Vec<Rule>,
    /// Non-`Rule` elements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<UnknownElement>,
}

/// A policy `Rule`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    /// `name` attribute.
    pub name: String,
    /// `value` attribute.
    pub value: String,
    /// Other attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown: BTreeMap<String, String>,
}

/// A `multipart/related` upload body.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Multipart {
    /// The boundary from the content type.
    pub boundary: String,
    /// The parts in order.
    pub parts: Vec<Part>,
}

/// One MIME part.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Part {
    /// Byte offset of the part's content in the whole body.
    pub offset: usize,
    /// Content length in bytes.
    pub length: usize,
    /// Part headers (`Content-ID`, `Content-Type`, `Content-Transfer-Encoding`...).
    pub headers: BTreeMap<String, String>,
    /// The decoded content for `web3s` XML parts; `Content` for binary parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Box<SyncBody>>,
}

impl Item {
    /// A simple field by element name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// Whether the item is marked deleted (`IsDeleted`/`Deleted` true, `ChangeType`
    /// delete, or an element named `Deleted…`). The representation is unconfirmed.
    pub fn is_deleted(&self) -> bool {
        self.element.starts_with("Deleted")
            || ["IsDeleted", "Deleted"]
                .iter()
                .any(|f| self.get(f).and_then(parse_bool) == Some(true))
            || self
                .get("ChangeType")
                .is_some_and(|c| c.to_ascii_lowercase().starts_with("delete"))
    }

    /// This item's descendants (not itself), depth first.
    pub fn descendants(&self) -> Vec<&Item> {
        let mut out = Vec::new();
        let mut stack: Vec<&Item> = self.items.iter().rev().collect();
        while let Some(i) = stack.pop() {
            out.push(i);
            stack.extend(i.items.iter().rev());
        }
        out
    }
}

impl SpFileSyncExchange {
    /// The `SyncToken` the request sent (percent-decoded), if any.
    pub fn request_sync_token(&self) -> Option<&str> {
        self.operation.as_ref().and_then(|o| o.param("SyncToken"))
    }

    /// The items the response carries (descendants of the root `Folder`, or `Items`).
    pub fn response_items(&self) -> Vec<&Item> {
        match self.response.as_ref().and_then(|r| r.body.as_ref()) {
            Some(SyncBody::Folder(f)) => f.descendants(),
            Some(SyncBody::Document(d)) => vec![d],
            Some(SyncBody::Items(items)) => items
                .iter()
                .flat_map(|i| std::iter::once(i).chain(i.descendants()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Name the SPFileSync operation of a URL, or `None` when it is not one.
pub fn recognise(method: &str, url: &str) -> Option<Operation> {
    let (path, query) = split_url(url);
    let lower = path.to_ascii_lowercase();
    let query = parse_query(query);
    let simple = |kind| Operation {
        kind,
        list_id: None,
        list_guid: None,
        resource: None,
        query: query.clone(),
    };
    let trimmed = lower.trim_end_matches('/');
    if trimmed.ends_with("/_api/sp.userprofiles.peoplemanager/getmyproperties") {
        return Some(simple(OperationKind::GetMyProperties));
    }
    if trimmed.ends_with("/_api/web/defaultdocumentlibrary/id") {
        return Some(simple(OperationKind::DefaultDocumentLibraryId));
    }
    if trimmed.ends_with("/_api/site/id") {
        return Some(simple(OperationKind::SiteId));
    }
    if trimmed.ends_with("/_api/sp.oauth.nativeclient/authenticate") {
        return Some(simple(OperationKind::Authenticate));
    }
    if trimmed.contains("/_layouts/") && trimmed.ends_with("/download.aspx") {
        let op = simple(OperationKind::Download);
        if op.param("UniqueId").is_some() {
            return Some(op);
        }
        return None;
    }
    let idx = lower.find("/_api/spfilesync")?;
    let mut rest = &path[idx + "/_api/spfilesync".len()..];
    if rest.len() >= 4 && rest.is_char_boundary(4) && rest[..4].eq_ignore_ascii_case(".svc") {
        rest = &rest[4..];
    }
    let rest = rest.trim_start_matches('/');
    let mut list_id = None;
    let mut resource = rest;
    if rest.len() >= 5 && rest.is_char_boundary(5) && rest[..5].eq_ignore_ascii_case("sync/") {
        let after = &rest[5..];
        let (id, res) = after.split_once('/').unwrap_or((after, ""));
        if !id.is_empty() {
            list_id = Some(percent_decode(id));
        }
        resource = res;
    }
    let resource = resource.trim_end_matches('/');
    let res_lower = resource.to_ascii_lowercase();
    let mut op = Operation {
        kind: OperationKind::Other,
        list_guid: list_id.as_deref().and_then(normalise_guid),
        list_id,
        resource: (!resource.is_empty()).then(|| resource.to_owned()),
        query,
    };
    let changes = op
        .param("Filter")
        .is_some_and(|f| f.eq_ignore_ascii_case("changes"));
    let quota = op
        .param("web3s.expand")
        .is_some_and(|e| e.to_ascii_lowercase().contains("quotastate"));
    let last = res_lower.rsplit('/').next().unwrap_or("");
    op.kind = if res_lower == "policy" {
        OperationKind::Policy
    } else if quota {
        OperationKind::QuotaState
    } else if last == "items" {
        OperationKind::Items
    } else if last.starts_with("subscription") || res_lower.starts_with("subscription") {
        OperationKind::Subscription
    } else if res_lower == "rootfolder" || res_lower.starts_with("rootfolder/") {
        if ["POST", "PUT"].iter().any(|m| m.eq_ignore_ascii_case(method.trim())) {
            OperationKind::Upload
        } else if changes {
            OperationKind::RootFolderChanges
        } else {
            OperationKind::RootFolder
        }
    } else {
        OperationKind::Other
    };
    Some(op)
}

/// Decode one SPFileSync exchange. The response side is absent when `status` is `None`
/// and there are no response headers or body.
#[allow(clippy::too_many_arguments)]
pub fn decode(
    method: &str,
    url: &str,
    req_headers: &[(&str, &str)],
    req_content_type: Option<&str>,
    req_body: &[u8],
    status: Option<u16>,
    resp_headers: &[(&str, &str)],
    resp_content_type: Option<&str>,
    resp_body: &[u8],
) -> SpFileSyncExchange {
    let operation = recognise(method, url);
    let kind = operation.as_ref().map(|o| o.kind);
    let mut request = SyncMessage {
        headers: keep_headers(req_headers),
        ..SyncMessage::default()
    };
    let req_ct = req_content_type.or_else(|| find_header(req_headers, "Content-Type"));
    (request.body, request.diagnostics) = decode_body(req_ct, req_body, kind, false);
    let response = (status.is_some() || !resp_headers.is_empty() || !resp_body.is_empty()).then(|| {
        let ct = resp_content_type.or_else(|| find_header(resp_headers, "Content-Type"));
        let (body, diagnostics) = decode_body(ct, resp_body, kind, true);
        SyncMessage {
            status,
            headers: keep_headers(resp_headers),
            body,
            diagnostics,
        }
    });
    SpFileSyncExchange {
        method: method.to_owned(),
        url: url.to_owned(),
        operation,
        request,
        response,
    }
}

/// Decode a `web3s` or policy XML body on its own (used by tests and the reference
/// server). `None` for an empty body.
pub fn decode_xml(body: &[u8]) -> (Option<SyncBody>, Vec<Diagnostic>) {
    decode_body(Some("application/web3s+xml"), body, None, false)
}

/// One line describing the exchange, e.g.
/// `SPFileSync RootFolder changes (SyncToken 4;#4;#1;3;…) → 37 items, more data`.
pub fn summarize(x: &SpFileSyncExchange) -> String {
    let mut s = String::from("SPFileSync ");
    let Some(op) = &x.operation else {
        s.push_str(&format!("{} {} (unrecognised URL)", x.method, x.url));
        return s;
    };
    match op.kind {
        OperationKind::RootFolderChanges => {
            s.push_str("RootFolder changes (");
            match op.param("SyncToken") {
                Some(t) if !t.is_empty() => s.push_str(&format!("SyncToken {}", short(t))),
                _ => s.push_str("full, no SyncToken"),
            }
            if let Some(n) = op.param("MaxItemCount") {
                s.push_str(&format!(", MaxItemCount {n}"));
            }
            s.push(')');
        }
        OperationKind::Policy => s.push_str("policy"),
        OperationKind::Upload => {
            s.push_str("upload");
            if let Some(SyncBody::Multipart(m)) = &x.request.body {
                for p in &m.parts {
                    if let Some(b) = &p.body {
                        if let SyncBody::Items(items) = b.as_ref() {
                            for i in items {
                                s.push_str(&format!(
                                    " {} {}",
                                    i.get("WriteMode").unwrap_or("?"),
                                    i.get("RelationshipName").unwrap_or("?")
                                ));
                            }
                        }
                    } else {
                        s.push_str(&format!(" ({} bytes)", p.length));
                    }
                }
            }
        }
        OperationKind::Download => {
            s.push_str(&format!("download UniqueId {}", op.param("UniqueId").unwrap_or("?")));
        }
        OperationKind::Items => {
            s.push_str("Items");
            let ps: Vec<String> = ["View", "Depth", "FoldersOnly", "web3s.paging"]
                .iter()
                .filter_map(|k| op.param(k).map(|v| format!("{k} {v}")))
                .collect();
            if !ps.is_empty() {
                s.push_str(&format!(" ({})", ps.join(", ")));
            }
        }
        OperationKind::Subscription => s.push_str("Subscription"),
        OperationKind::QuotaState => s.push_str("QuotaState"),
        OperationKind::RootFolder => s.push_str("RootFolder"),
        OperationKind::GetMyProperties => s.push_str("sign-in getmyproperties"),
        OperationKind::DefaultDocumentLibraryId => s.push_str("discovery DefaultDocumentLibrary/ID"),
        OperationKind::SiteId => s.push_str("discovery Site/Id"),
        OperationKind::Authenticate => s.push_str("sign-in NativeClient/Authenticate"),
        OperationKind::Other => {
            s.push_str(op.resource.as_deref().unwrap_or("(no resource)"));
        }
    }
    let Some(resp) = &x.response else {
        s.push_str(" (no response)");
        return s;
    };
    s.push_str(" →");
    if let Some(c) = resp.status.filter(|c| *c != 200) {
        s.push_str(&format!(" {c}"));
    }
    match &resp.body {
        Some(SyncBody::PolicyDocument(p)) => {
            s.push_str(&format!(" {} rule{}", p.rules.len(), plural(p.rules.len())));
        }
        Some(SyncBody::Folder(_) | SyncBody::Items(_) | SyncBody::Document(_)) => {
            let items = x.response_items();
            let deleted = items.iter().filter(|i| i.is_deleted()).count();
            s.push_str(&format!(" {} item{}", items.len(), plural(items.len())));
            if deleted > 0 {
                s.push_str(&format!(" ({deleted} deleted)"));
            }
            if op.kind == OperationKind::Upload {
                for i in &items {
                    if let Some(w) = i.get("WriteStatus") {
                        s.push_str(&format!(", {w}"));
                    }
                }
            }
        }
        Some(SyncBody::Discovery(d)) => {
            let v = ["value", "Id", "AccountName", "DisplayName"]
                .iter()
                .find_map(|k| d.get(*k));
            match v {
                Some(v) => s.push_str(&format!(" {}", short(v))),
                None => s.push_str(&format!(" {} values", d.len())),
            }
        }
        Some(SyncBody::Content { length }) => s.push_str(&format!(" {length} bytes")),
        Some(SyncBody::OtherXml(root)) => s.push_str(&format!(" <{root}>")),
        Some(SyncBody::Multipart(m)) => s.push_str(&format!(" {} parts", m.parts.len())),
        None => {
            if resp.status.is_none_or(|c| c == 200) {
                s.push_str(" empty");
            }
        }
    }
    match resp.has_more_data() {
        Some(true) => s.push_str(", more data"),
        Some(false) if op.kind == OperationKind::RootFolderChanges => s.push_str(", complete"),
        _ => {}
    }
    if resp.status == Some(403) && resp.header("X-RequestDigest").is_some() {
        s.push_str(" (X-RequestDigest issued)");
    }
    let n = x.request.diagnostics.len() + resp.diagnostics.len();
    if n > 0 {
        s.push_str(&format!(" [{n} diagnostics]"));
    }
    s
}

/// Encode a `web3s` root `Folder` (RootFolder response) with its items.
/// `unknown` elements are written back as simple text elements.
pub fn encode_folder(folder: &Item) -> Vec<u8> {
    let mut w = String::from(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    write_item(&mut w, folder, "Folder");
    w.into_bytes()
}

/// Encode a `web3s` `Items` list (upload metadata or upload response).
pub fn encode_items(items: &[Item]) -> Vec<u8> {
    let mut w = String::from(r#"<?xml version="1.0" encoding="utf-8"?><Items>"#);
    for i in items {
        write_item(&mut w, i, "Document");
    }
    w.push_str("</Items>");
    w.into_bytes()
}

/// Encode a `PolicyDocument` with its rules.
pub fn encode_policy(p: &PolicyDocument) -> Vec<u8> {
    let mut w = String::from(r#"<?xml version="1.0" encoding="utf-8"?><PolicyDocument>"#);
    for r in &p.rules {
        w.push_str("<Rule name=\"");
        xml::escape_into(&mut w, &r.name);
        w.push_str("\" value=\"");
        xml::escape_into(&mut w, &r.value);
        w.push('"');
        for (k, v) in &r.unknown {
            w.push_str(&format!(" {}=\"", xml_name(k)));
            xml::escape_into(&mut w, v);
            w.push('"');
        }
        w.push_str("/>");
    }
    for u in &p.unknown {
        text_el(&mut w, &u.name, &u.text);
    }
    w.push_str("</PolicyDocument>");
    w.into_bytes()
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn short(s: &str) -> String {
    crate::decode::webdav::shorten(s)
}

/// `true`/`false`/`1`/`0`, any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn split_url(url: &str) -> (&str, &str) {
    let url = url.split('#').next().unwrap_or(url);
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = match path.split_once("://") {
        Some((_, r)) => r.find('/').map_or("/", |i| &r[i..]),
        None => path,
    };
    (path, query)
}

fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// A GUID in any common spelling (dashes or not, braces, any case) as 32 lowercase hex.
pub fn normalise_guid(s: &str) -> Option<String> {
    let t = s.trim().trim_start_matches('{').trim_end_matches('}');
    let hex: String = t.chars().filter(|c| *c != '-').collect();
    let dashed_ok = !t.contains('-')
        || (t.len() == 36 && [8, 13, 18, 23].iter().all(|i| t.as_bytes()[*i] == b'-'));
    (hex.len() == 32 && dashed_ok && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

fn find_header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

fn keep_headers(headers: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (n, v) in headers {
        let n = n.trim();
        let known = KNOWN_HEADERS.iter().find(|k| k.eq_ignore_ascii_case(n));
        let name = match known {
            Some(k) => (*k).to_owned(),
            None if n.len() > 2 && n.is_char_boundary(2) && n[..2].eq_ignore_ascii_case("x-") => n.to_owned(),
            None => continue,
        };
        out.entry(name).or_insert_with(|| v.trim().to_owned());
    }
    out
}

fn decode_body(
    content_type: Option<&str>,
    body: &[u8],
    kind: Option<OperationKind>,
    response: bool,
) -> (Option<SyncBody>, Vec<Diagnostic>) {
    if body.is_empty() {
        return (None, Vec::new());
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("multipart/") {
        let (m, d) = decode_multipart(content_type.unwrap_or(""), body);
        return (Some(SyncBody::Multipart(m)), d);
    }
    if kind == Some(OperationKind::Download) && response {
        return (Some(SyncBody::Content { length: body.len() }), Vec::new());
    }
    let trimmed = body
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(body)
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .map(|i| body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)[i]);
    if ct.contains("json") || trimmed == Some(b'{') {
        return decode_json(body);
    }
    if !xml::looks_like_xml(body) {
        return (Some(SyncBody::Content { length: body.len() }), Vec::new());
    }
    let mut diags = Vec::new();
    let text = match xml::as_text(body) {
        Ok(t) => t,
        Err(d) => return (Some(SyncBody::Content { length: body.len() }), vec![d]),
    };
    let doc = match xml::parse(text) {
        Ok(d) => d,
        Err(d) => return (Some(SyncBody::Content { length: body.len() }), vec![d]),
    };
    let root = doc.root_element();
    let b = match root.tag_name().name() {
        "Folder" => SyncBody::Folder(read_item(root, &mut diags)),
        "Document" => SyncBody::Document(read_item(root, &mut diags)),
        "Items" => SyncBody::Items(read_items(root, &mut diags)),
        "PolicyDocument" => SyncBody::PolicyDocument(read_policy(root)),
        name => {
            let discovery = matches!(
                kind,
                Some(
                    OperationKind::GetMyProperties
                        | OperationKind::DefaultDocumentLibraryId
                        | OperationKind::SiteId
                        | OperationKind::Authenticate
                )
            );
            if kind == Some(OperationKind::Policy) && root.descendants().any(|n| n.has_tag_name("Rule")) {
                SyncBody::PolicyDocument(read_policy(root))
            } else if discovery {
                SyncBody::Discovery(xml_leaves(root))
            } else {
                SyncBody::OtherXml(name.to_owned())
            }
        }
    };
    (Some(b), diags)
}

fn decode_json(body: &[u8]) -> (Option<SyncBody>, Vec<Diagnostic>) {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let obj = v.get("d").filter(|d| d.is_object()).unwrap_or(&v);
            let mut out = BTreeMap::new();
            if let Some(map) = obj.as_object() {
                for (k, v) in map {
                    let s = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        _ => continue,
                    };
                    out.insert(k.clone(), s);
                }
            }
            (Some(SyncBody::Discovery(out)), Vec::new())
        }
        Err(e) => {
            let off = match std::str::from_utf8(body) {
                Ok(t) => xml::byte_offset(t, e.line().try_into().unwrap_or(u32::MAX), e.column().try_into().unwrap_or(u32::MAX)),
                Err(u) => u.valid_up_to(),
            };
            let msg = e.to_string();
            let msg = msg.rsplit_once(" at line").map_or(msg.as_str(), |(m, _)| m);
            (
                Some(SyncBody::Content { length: body.len() }),
                vec![Diagnostic::new(off.min(body.len()), format!("malformed json: {msg}"))],
            )
        }
    }
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

fn xml_leaves(root: Node<'_, '_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if !root.children().any(|c| c.is_element()) {
        out.insert(root.tag_name().name().to_owned(), xml::text(root));
        return out;
    }
    for n in root.descendants().filter(|n| n.is_element() && !n.children().any(|c| c.is_element())) {
        out.entry(n.tag_name().name().to_owned()).or_insert_with(|| xml::text(n));
    }
    out
}

fn unknown(n: Node<'_, '_>) -> UnknownElement {
    UnknownElement {
        name: n.tag_name().name().to_owned(),
        text: xml::text(n),
    }
}

fn is_item_element(name: &str) -> bool {
    matches!(name, "Folder" | "Document") || name.starts_with("Deleted")
}

fn read_items(n: Node<'_, '_>, d: &mut Vec<Diagnostic>) -> Vec<Item> {
    let mut out = Vec::new();
    for c in n.children().filter(Node::is_element) {
        if is_item_element(c.tag_name().name()) {
            out.push(read_item(c, d));
        } else {
            d.push(Diagnostic::new(
                c.range().start,
                format!("unexpected element {} in Items", c.tag_name().name()),
            ));
        }
    }
    out
}

fn read_fields(
    c: Node<'_, '_>,
    known: &[&str],
    fields: &mut BTreeMap<String, String>,
    unknown_out: &mut Vec<UnknownElement>,
    d: &mut Vec<Diagnostic>,
) {
    let name = c.tag_name().name();
    if known.contains(&name) {
        let v = xml::text(c);
        if NUMERIC_FIELDS.contains(&name) && !v.is_empty() && v.parse::<u64>().is_err() {
            d.push(Diagnostic::new(c.range().start, format!("{name} is not a decimal number: {v:?}")));
        }
        if fields.contains_key(name) {
            d.push(Diagnostic::new(c.range().start, format!("duplicate {name} ignored")));
        } else {
            fields.insert(name.to_owned(), v);
        }
    } else {
        unknown_out.push(unknown(c));
    }
}

fn read_item(n: Node<'_, '_>, d: &mut Vec<Diagnostic>) -> Item {
    let mut item = Item {
        element: n.tag_name().name().to_owned(),
        ..Item::default()
    };
    for c in n.children().filter(Node::is_element) {
        match c.tag_name().name() {
            "Items" => item.items.extend(read_items(c, d)),
            "DocumentStreams" => {
                for s in c.children().filter(Node::is_element) {
                    if s.tag_name().name() != "DocumentStream" {
                        item.unknown.push(unknown(s));
                        continue;
                    }
                    let mut ds = DocumentStream::default();
                    for f in s.children().filter(Node::is_element) {
                        read_fields(f, STREAM_FIELDS, &mut ds.fields, &mut ds.unknown, d);
                    }
                    item.document_streams.push(ds);
                }
            }
            FSSHTTP_STATE => {
                let mut m = BTreeMap::new();
                for f in c.children().filter(Node::is_element) {
                    m.insert(f.tag_name().name().to_owned(), xml::text(f));
                }
                item.fsshttpstate = Some(m);
            }
            _ => read_fields(c, ITEM_FIELDS, &mut item.fields, &mut item.unknown, d),
        }
    }
    if let Some(id) = item.fields.get("ResourceID") {
        if normalise_guid(id).is_none() {
            let at = n
                .children()
                .find(|c| c.has_tag_name("ResourceID"))
                .map_or(n.range().start, |c| c.range().start);
            d.push(Diagnostic::new(at, format!("ResourceID is not a GUID: {id:?}")));
        }
    }
    item
}

fn read_policy(root: Node<'_, '_>) -> PolicyDocument {
    let mut p = PolicyDocument::default();
    for n in root.descendants().filter(|n| n.is_element() && *n != root) {
        if n.tag_name().name() == "Rule" {
            let mut r = Rule::default();
            for a in n.attributes() {
                match a.name() {
                    "name" => r.name = a.value().to_owned(),
                    "value" => r.value = a.value().to_owned(),
                    other => {
                        r.unknown.insert(other.to_owned(), a.value().to_owned());
                    }
                }
            }
            p.rules.push(r);
        } else if n.parent() == Some(root) && !n.descendants().any(|k| k.has_tag_name("Rule")) {
            p.unknown.push(unknown(n));
        }
    }
    p
}

fn boundary_of(ct: &str) -> Option<String> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn decode_multipart(ct: &str, body: &[u8]) -> (Multipart, Vec<Diagnostic>) {
    let mut d = Vec::new();
    let Some(boundary) = boundary_of(ct).filter(|b| !b.is_empty()) else {
        d.push(Diagnostic::new(0, "multipart content type has no boundary"));
        return (Multipart::default(), d);
    };
    let mut m = Multipart {
        boundary: boundary.clone(),
        parts: Vec::new(),
    };
    let delim = format!("--{boundary}");
    let finder = memchr::memmem::Finder::new(delim.as_bytes());
    let starts: Vec<usize> = finder.find_iter(body).collect();
    if starts.is_empty() {
        d.push(Diagnostic::new(0, "multipart boundary not found"));
        return (m, d);
    }
    let mut closed = false;
    for (i, &s) in starts.iter().enumerate() {
        let after = s + delim.len();
        if body[after..].starts_with(b"--") {
            closed = true;
            break;
        }
        let Some(next) = starts.get(i + 1).copied() else {
            d.push(Diagnostic::new(after, "multipart part is not terminated by a boundary"));
            break;
        };
        let seg_start = after + line_end_len(&body[after..]);
        let mut seg_end = next;
        if body[..seg_end].ends_with(b"\r\n") {
            seg_end -= 2;
        } else if body[..seg_end].ends_with(b"\n") {
            seg_end -= 1;
        }
        let seg = body.get(seg_start..seg_end.max(seg_start)).unwrap_or(&[]);
        let (hdr_len, sep) = match memchr::memmem::find(seg, b"\r\n\r\n") {
            Some(p) => (p, 4),
            None => match memchr::memmem::find(seg, b"\n\n") {
                Some(p) => (p, 2),
                None => {
                    d.push(Diagnostic::new(seg_start, "multipart part has no header terminator"));
                    continue;
                }
            },
        };
        let mut headers = BTreeMap::new();
        for line in String::from_utf8_lossy(&seg[..hdr_len]).lines() {
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
        let content = &seg[hdr_len + sep..];
        let offset = seg_start + hdr_len + sep;
        let part_ct = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Type"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        let body_dec = if part_ct.contains("xml") {
            let (b, pd) = decode_body(Some(&part_ct), content, None, false);
            d.extend(pd.into_iter().map(|x| x.rebased(offset)));
            b.map(Box::new)
        } else {
            Some(Box::new(SyncBody::Content { length: content.len() }))
        };
        m.parts.push(Part {
            offset,
            length: content.len(),
            headers,
            body: body_dec,
        });
    }
    if !closed {
        d.push(Diagnostic::new(body.len(), "multipart body has no closing boundary"));
    }
    (m, d)
}

fn line_end_len(b: &[u8]) -> usize {
    if b.starts_with(b"\r\n") {
        2
    } else if b.starts_with(b"\n") {
        1
    } else {
        0
    }
}

fn xml_name(n: &str) -> String {
    let s: String = n
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        format!("x{s}")
    } else {
        s
    }
}

fn text_el(w: &mut String, name: &str, text: &str) {
    let name = xml_name(name);
    w.push_str(&format!("<{name}>"));
    xml::escape_into(w, text);
    w.push_str(&format!("</{name}>"));
}

fn write_item(w: &mut String, item: &Item, default_element: &str) {
    let el = if item.element.is_empty() {
        default_element.to_owned()
    } else {
        xml_name(&item.element)
    };
    w.push_str(&format!("<{el}>"));
    for f in ITEM_FIELDS {
        if let Some(v) = item.fields.get(*f) {
            text_el(w, f, v);
        }
    }
    // Fields outside ITEM_FIELDS (only possible when a caller builds the model by hand)
    // come back as unknown elements on decode; write them after the known ones.
    for (k, v) in &item.fields {
        if !ITEM_FIELDS.contains(&k.as_str()) {
            text_el(w, k, v);
        }
    }
    if let Some(st) = &item.fsshttpstate {
        w.push_str(&format!("<{FSSHTTP_STATE}>"));
        for (k, v) in st {
            text_el(w, k, v);
        }
        w.push_str(&format!("</{FSSHTTP_STATE}>"));
    }
    if !item.document_streams.is_empty() {
        w.push_str("<DocumentStreams>");
        for ds in &item.document_streams {
            w.push_str("<DocumentStream>");
            for f in STREAM_FIELDS {
                if let Some(v) = ds.fields.get(*f) {
                    text_el(w, f, v);
                }
            }
            for u in &ds.unknown {
                text_el(w, &u.name, &u.text);
            }
            w.push_str("</DocumentStream>");
        }
        w.push_str("</DocumentStreams>");
    }
    for u in &item.unknown {
        text_el(w, &u.name, &u.text);
    }
    if !item.items.is_empty() {
        w.push_str("<Items>");
        for c in &item.items {
            write_item(w, c, "Document");
        }
        w.push_str("</Items>");
    }
    w.push_str(&format!("</{el}>"));
}
