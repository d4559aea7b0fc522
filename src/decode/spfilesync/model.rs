//! The SPFileSync decoded form: the exchange, its messages, operations, `web3s` items,
//! policy documents, multipart uploads and SyncToken fields, with the element names the
//! decoder knows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
pub(super) const NUMERIC_FIELDS: &[&str] = &[
    "SpaceUsed",
    "SpaceGranted",
    "ListLevelSpaceUsed",
    "ListLevelSpaceGranted",
    "TotalSubItemSize",
    "DataSize",
];

/// Headers kept in the model, spelled as observed.
pub(super) const KNOWN_HEADERS: &[&str] = &[
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
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
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
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
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
    /// The fields of `X-SyncToken`, when it has the observed shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_token_fields: Option<SyncTokenInfo>,
}

impl SyncMessage {
    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::decode::text::value_of(&self.headers, name)
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
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, schemars::JsonSchema)]
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
    /// The fields of the `SyncToken` parameter, when it has the observed shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_token_fields: Option<SyncTokenInfo>,
}

impl Operation {
    /// A query parameter by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        crate::decode::text::value_of(&self.query, name)
    }
}

/// The SPFileSync operations this decoder names.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, schemars::JsonSchema)]
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
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, schemars::JsonSchema)]
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
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
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
    #[serde(
        rename = "DocumentStreams",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub document_streams: Vec<DocumentStream>,
    /// Child items (`Items/*`).
    #[serde(rename = "Items", default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
    /// Elements this decoder does not know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<UnknownElement>,
}

/// A `DocumentStream`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct DocumentStream {
    /// Simple text children by element name (see [`STREAM_FIELDS`]).
    #[serde(flatten)]
    pub fields: BTreeMap<String, String>,
    /// Elements this decoder does not know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<UnknownElement>,
}

/// An element the decoder does not know: its name and trimmed text.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct UnknownElement {
    /// Local name.
    pub name: String,
    /// Concatenated text, trimmed.
    pub text: String,
}

/// The sync `PolicyDocument`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct PolicyDocument {
    /// Every `Rule` element, in order.
    #[serde(rename = "Rule")]
    pub rules: Vec<Rule>,
    /// Non-`Rule` elements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<UnknownElement>,
}

/// A policy `Rule`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
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
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
pub struct Multipart {
    /// The boundary from the content type.
    pub boundary: String,
    /// The parts in order.
    pub parts: Vec<Part>,
}

/// One MIME part.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default, schemars::JsonSchema)]
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
    /// QuickXorHash (base64) computed over a binary part's content, to compare with the
    /// metadata's `XORHash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quickxorhash: Option<String>,
}

/// The fields of an observed SyncToken (`4;#4;#1;3;<listGuid>;<ticks>;<change>;#;#;#0;#`,
/// shape unconfirmed; the token itself is opaque and must be echoed verbatim).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default, schemars::JsonSchema)]
pub struct SyncTokenInfo {
    /// The list GUID inside the token, 32 lowercase hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_guid: Option<String>,
    /// .NET ticks (100 ns since 0001-01-01 UTC) after the list GUID.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::decode::json::dec_opt"
    )]
    #[schemars(schema_with = "crate::decode::json::schema::dec_opt")]
    pub ticks: Option<u64>,
    /// `ticks` as an ISO 8601 UTC time with 7 fractional digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The change number after the ticks (grows as the list changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_number: Option<u64>,
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

/// `true`/`false`/`1`/`0`, any case.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}
