//! The MS-FSSHTTP message model (MS-FSSHTTP 2.2.2–2.3.3): request and response
//! envelopes down to `SubRequestData` / `SubResponseData`, with the specification's
//! element and attribute names kept verbatim in JSON.
//!
//! `SubRequestData` and `SubResponseData` are the unions of the attributes of every
//! subrequest type (MS-FSSHTTP 2.2.8.1, 2.2.8.2): only the attributes present on the
//! wire are set. Cell payload bytes carry their origin (inline base64 or XOP part).

use std::ops::Range;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::values::*;
use crate::decode::mtom::Multipart;
use crate::decode::Diagnostic;

/// Declares a struct whose `Option` fields are XML attributes, with readers and writers.
macro_rules! attr_struct {
    (
        $(#[$m:meta])* pub struct $name:ident {
            $( $(#[$fm:meta])* $field:ident : $ty:ty = $attr:literal, )*
        }
        $( extra { $( $(#[$em:meta])* $efield:ident : $ety:ty, )* } )?
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(
                    rename = $attr,
                    default,
                    skip_serializing_if = "Option::is_none",
                    serialize_with = "super::values::attr_json"
                )]
                pub $field: Option<$ty>,
            )*
            $($( $(#[$em])* pub $efield: $ety, )*)?
        }
        impl $name {
            /// The attribute names this element defines, in specification order.
            pub const ATTRIBUTES: &'static [&'static str] = &[$($attr),*];

            pub(crate) fn read_attrs(&mut self, bag: &mut impl AttrSource) {
                // One pass over the attributes present (duplicates were dropped when
                // the tree was built), rather than one search per known name.
                for i in 0..bag.len() {
                    match bag.unqualified_name(i) {
                        $( Some($attr) => self.$field = bag.take_at(i, $attr), )*
                        _ => {}
                    }
                }
            }

            pub(crate) fn write_attrs(&self, out: &mut Vec<(&'static str, String)>) {
                $( if let Some(v) = &self.$field { out.push(($attr, v.format_attr())); } )*
            }
        }
    };
}

/// Where a Cell payload came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind")]
pub enum PayloadOrigin {
    /// Base64 text content of `SubRequestData` / `SubResponseData`.
    Inline,
    /// An XOP part referenced by `xop:Include`.
    Part {
        /// The part's Content-ID (without angle brackets).
        content_id: String,
        /// The part's content bytes in the HTTP body.
        range: Range<usize>,
    },
}

/// The binary content of a Cell `SubRequestData` / `SubResponseData`: one FSSHTTPB
/// message (MS-FSSHTTPB), decoded by another module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CellPayload {
    /// The payload bytes (base64 in JSON). Shared, not copied: every `xop:Include` of
    /// the same MIME part refers to one buffer, so memory stays proportional to the body
    /// however often a part is included.
    #[serde(with = "b64")]
    #[schemars(with = "String")]
    pub bytes: Bytes,
    /// Where the bytes came from.
    pub origin: PayloadOrigin,
}

impl CellPayload {
    /// Whether this payload holds the very bytes of `other` (one MIME part named by two
    /// `xop:Include`s), not merely equal bytes.
    pub fn same_part(&self, other: &CellPayload) -> bool {
        !self.bytes.is_empty()
            && self.bytes.as_ptr() == other.bytes.as_ptr()
            && self.bytes.len() == other.bytes.len()
    }

    /// When this payload is the same MIME part as one in `seen`, the key recorded with
    /// that first one; else records this payload under `key` and returns `None`. Callers
    /// decode and print a part once, however often a hostile body includes it.
    pub fn repeats<'a, K: Clone>(
        &'a self,
        seen: &mut Vec<(&'a CellPayload, K)>,
        key: K,
    ) -> Option<K> {
        if let Some((_, first)) = seen.iter().find(|(p, _)| self.same_part(p)) {
            return Some(first.clone());
        }
        seen.push((self, key));
        None
    }

    /// A heading naming the payload: `SubRequest 2: Cell payload, 1234 bytes, …` (`kind`
    /// is `SubRequest` or `SubResponse`).
    pub fn heading(&self, kind: &str, token: Option<u64>) -> String {
        let token = token.map_or_else(|| "?".to_owned(), |t| t.to_string());
        format!("{kind} {token}: Cell payload, {}", self.describe())
    }

    /// Its size and origin, e.g. `1234 bytes, XOP part <cid> at body bytes 560..1794` or
    /// `1234 bytes, inline base64`.
    pub fn describe(&self) -> String {
        match &self.origin {
            PayloadOrigin::Inline => format!("{} bytes, inline base64", self.bytes.len()),
            PayloadOrigin::Part { content_id, range } => format!(
                "{} bytes, XOP part <{content_id}> at body bytes {}..{}",
                self.bytes.len(),
                range.start,
                range.end
            ),
        }
    }
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bytes::Bytes, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(bytes::Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

/// Whether an unknown node was an attribute or an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum UnknownKind {
    /// An attribute the specification does not name.
    Attribute,
    /// An element the specification does not name.
    Element,
}

/// An attribute or element that decoded fine but that the specification does not name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnknownNode {
    /// Where it was: the spec path of its parent, e.g. `RequestCollection/Request[0]`.
    pub path: String,
    /// Attribute or element.
    pub kind: UnknownKind,
    /// Its qualified name as written.
    pub name: String,
    /// Its namespace URI, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The attribute value, or the element's trimmed text content if not empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The element's attributes as (name, value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<(String, String)>,
    /// The element's children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<UnknownNode>,
    /// Byte offset in the HTTP body.
    pub offset: usize,
}

attr_struct! {
    /// `RequestVersion` / `ResponseVersion` (MS-FSSHTTP 2.2.3.4, 2.2.3.7).
    pub struct VersionInfo {
        /// Protocol version, 2.
        version: u16 = "Version",
        /// 0, 2 or 3 (editors-table and ResourceID capabilities).
        minor_version: u16 = "MinorVersion",
        /// Whole-message error (responses only).
        error_code: ErrorCode = "ErrorCode",
        /// Its description.
        error_message: String = "ErrorMessage",
    }
}

/// A SOAP 1.1 Fault (SOAP 1.1 §4.4, MS-FSSHTTP 2.2.2.3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SoapFault {
    /// `faultcode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faultcode: Option<String>,
    /// `faultstring`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faultstring: Option<String>,
    /// `faultactor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faultactor: Option<String>,
    /// `detail/ErrorString`.
    #[serde(
        rename = "ErrorString",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_string: Option<String>,
    /// `detail/ErrorCode`.
    #[serde(rename = "ErrorCode", default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

attr_struct! {
    /// `GenericProperties/Property` (MS-FSSHTTP 2.2.4.2).
    pub struct GenericProperty {
        /// Property id.
        id: String = "Id",
        /// Property value.
        value: String = "Value",
    }
}

attr_struct! {
    /// `RequestCollection` (MS-FSSHTTP 2.2.3.3).
    pub struct RequestCollection {
        /// Client-generated id of this message.
        correlation_id: String = "CorrelationId",
    }
    extra {
        /// One `Request` per file.
        #[serde(rename = "Request", default)]
        requests: Vec<Request>,
    }
}

attr_struct! {
    /// `Request` (MS-FSSHTTP 2.2.3.2).
    pub struct Request {
        /// File URL.
        url: String = "Url",
        /// Echoed by `Response@RequestToken`.
        request_token: u64 = "RequestToken",
        /// Seconds between repetitions.
        interval: u64 = "Interval",
        /// Throttling hints bitfield.
        meta_data: i64 = "MetaData",
        /// User-agent GUID.
        user_agent: String = "UserAgent",
        /// User-agent client name.
        user_agent_client: String = "UserAgentClient",
        /// User-agent platform.
        user_agent_platform: String = "UserAgentPlatform",
        /// Client build.
        build: String = "Build",
        /// Folder to create the file in.
        parent_folder_resource_id: String = "ParentFolderResourceID",
        /// Ask for `SuggestedFileName` on coherency failures.
        should_return_disambiguated_file_name: bool = "ShouldReturnDisambiguatedFileName",
        /// Invariant file id.
        resource_id: String = "ResourceID",
        /// Locate the file by ResourceID.
        use_resource_id: bool = "UseResourceID",
    }
    extra {
        /// `GenericProperties/Property` list, if the element is present.
        #[serde(rename = "GenericProperties", default, skip_serializing_if = "Option::is_none")]
        generic_properties: Option<Vec<GenericProperty>>,
        /// The subrequests.
        #[serde(rename = "SubRequest", default)]
        sub_requests: Vec<SubRequest>,
    }
}

attr_struct! {
    /// `SubRequest` (MS-FSSHTTP 2.2.3.8, 2.2.4.4).
    pub struct SubRequest {
        /// Operation.
        type_: SubRequestType = "Type",
        /// Echoed by `SubResponse@SubRequestToken`.
        sub_request_token: u64 = "SubRequestToken",
        /// Token of the subrequest this one depends on.
        depends_on: u64 = "DependsOn",
        /// How the dependency is evaluated.
        dependency_type: DependencyType = "DependencyType",
    }
    extra {
        /// `SubRequestData`, if present.
        #[serde(rename = "SubRequestData", default, skip_serializing_if = "Option::is_none")]
        sub_request_data: Option<SubRequestData>,
    }
}

impl SubRequest {
    /// The FSSHTTPB request bytes of a Cell subrequest, with their origin.
    pub fn cell_payload(&self) -> Option<&CellPayload> {
        self.sub_request_data.as_ref()?.payload.as_ref()
    }
}

attr_struct! {
    /// `SubRequestData`: union of the attributes of every subrequest type (MS-FSSHTTP 2.2.8.1).
    pub struct SubRequestData {
        /// Coauth sub-operation.
        coauth_request_type: CoauthRequestType = "CoauthRequestType",
        /// SchemaLock sub-operation.
        schema_lock_request_type: SchemaLockRequestType = "SchemaLockRequestType",
        /// ExclusiveLock sub-operation.
        exclusive_lock_request_type: ExclusiveLockRequestType = "ExclusiveLockRequestType",
        /// EditorsTable sub-operation.
        editors_table_request_type: EditorsTableRequestType = "EditorsTableRequestType",
        /// FileOperation sub-operation.
        file_operation: FileOperationRequestType = "FileOperation",
        /// Versioning sub-operation.
        versioning_request_type: VersioningRequestType = "VersioningRequestType",
        /// Properties sub-operation.
        properties: PropertiesRequestType = "Properties",
        /// Per-client id.
        client_id: String = "ClientID",
        /// Shared lock identity.
        schema_lock_id: String = "SchemaLockID",
        /// Exclusive lock identity.
        exclusive_lock_id: String = "ExclusiveLockID",
        /// May fall back to an exclusive lock.
        allow_fallback_to_exclusive: bool = "AllowFallbackToExclusive",
        /// Leave the session when conversion fails.
        release_lock_on_conversion_to_exclusive_failure: bool = "ReleaseLockOnConversionToExclusiveFailure",
        /// Lock or entry lifetime in seconds.
        timeout: i64 = "Timeout",
        /// Payload size (Cell, required).
        binary_data_size: i64 = "BinaryDataSize",
        /// Join the editors table as editor.
        as_editor: bool = "AsEditor",
        /// Editors-table metadata key.
        key: String = "Key",
        /// Editors-table metadata value.
        value: String = "Value",
        /// New name for Rename.
        new_file_name: String = "NewFileName",
        /// Version to restore.
        version: String = "Version",
        /// Transition id for AmIAlone.
        transition_id: String = "TransitionID",
        /// Persist fully.
        coalesce: bool = "Coalesce",
        /// Ask for CreateTime/LastModifiedTime.
        get_file_props: bool = "GetFileProps",
        /// Coauthoring upload.
        coauth_versioning: bool = "CoauthVersioning",
        /// Expected ETag.
        etag: String = "Etag",
        /// `vti_contentchangeunit`.
        content_change_unit: String = "ContentChangeUnit",
        /// `vti_clientid`.
        client_file_id: String = "ClientFileID",
        /// Partition.
        partition_id: String = "PartitionID",
        /// Expect the file not to exist.
        expect_no_file_exists: bool = "ExpectNoFileExists",
        /// Lock id authorising the write.
        bypass_lock_id: String = "BypassLockID",
        /// Last-modified time to store.
        last_modified_time: FileTime = "LastModifiedTime",
    }
    extra {
        /// `PropertyIds/PropertyId@id` (PropertyGet).
        #[serde(rename = "PropertyIds", default, skip_serializing_if = "Option::is_none")]
        property_ids: Option<Vec<String>>,
        /// Text content that is not a Cell payload (e.g. UpdateEditorMetadata's base64 value).
        #[serde(rename = "text", default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Cell payload (FSSHTTPB request).
        #[serde(rename = "payload", default, skip_serializing_if = "Option::is_none")]
        payload: Option<CellPayload>,
    }
}

impl SubRequestData {
    /// The sub-operation (`JoinCoauthoring`, `GetLock`, `Rename`...), whichever request
    /// type attribute the subrequest carries.
    pub fn request_type(&self) -> Option<&str> {
        self.coauth_request_type
            .as_ref()
            .map(CoauthRequestType::as_str)
            .or(self.schema_lock_request_type.as_ref().map(|v| v.as_str()))
            .or(self
                .exclusive_lock_request_type
                .as_ref()
                .map(|v| v.as_str()))
            .or(self.editors_table_request_type.as_ref().map(|v| v.as_str()))
            .or(self.file_operation.as_ref().map(|v| v.as_str()))
            .or(self.versioning_request_type.as_ref().map(|v| v.as_str()))
            .or(self.properties.as_ref().map(|v| v.as_str()))
    }
}

/// A request message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestEnvelope {
    /// The MIME structure when the body was MTOM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtom: Option<Multipart>,
    /// `RequestVersion`.
    #[serde(
        rename = "RequestVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_version: Option<VersionInfo>,
    /// `RequestCollection`.
    #[serde(
        rename = "RequestCollection",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_collection: Option<RequestCollection>,
    /// A SOAP Fault instead of a body.
    #[serde(rename = "Fault", default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<SoapFault>,
    /// What could not be decoded.
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
    /// What decoded but the specification does not name.
    #[serde(default)]
    pub unknown: Vec<UnknownNode>,
}

impl RequestEnvelope {
    /// All subrequests with their Request, in document order.
    pub fn sub_requests(&self) -> impl Iterator<Item = (&Request, &SubRequest)> {
        self.request_collection
            .iter()
            .flat_map(|c| c.requests.iter())
            .flat_map(|r| r.sub_requests.iter().map(move |s| (r, s)))
    }

    /// The Cell payloads with their SubRequestToken, in document order.
    pub fn cell_payloads(&self) -> impl Iterator<Item = (Option<u64>, &CellPayload)> {
        self.sub_requests()
            .filter_map(|(_, s)| Some((s.sub_request_token, s.cell_payload()?)))
    }
}

attr_struct! {
    /// `ResponseCollection` (MS-FSSHTTP 2.2.3.6).
    pub struct ResponseCollection {
        /// Site URL.
        web_url: String = "WebUrl",
        /// Whether WebUrl is percent-encoded.
        web_url_is_encoded: bool = "WebUrlIsEncoded",
    }
    extra {
        /// One `Response` per `Request`.
        #[serde(rename = "Response", default)]
        responses: Vec<Response>,
    }
}

attr_struct! {
    /// `Response` (MS-FSSHTTP 2.2.3.5).
    pub struct Response {
        /// File URL.
        url: String = "Url",
        /// Whether Url is percent-encoded.
        url_is_encoded: bool = "UrlIsEncoded",
        /// Echo of `Request@RequestToken`.
        request_token: u64 = "RequestToken",
        /// 0 (excellent) … 10 (very poor).
        health_score: i64 = "HealthScore",
        /// Per-file error.
        error_code: ErrorCode = "ErrorCode",
        /// Its description.
        error_message: String = "ErrorMessage",
        /// Disambiguated file name.
        suggested_file_name: String = "SuggestedFileName",
        /// Invariant file id.
        resource_id: String = "ResourceID",
        /// Suggested request interval.
        interval_override: u64 = "IntervalOverride",
    }
    extra {
        /// The subresponses.
        #[serde(rename = "SubResponse", default)]
        sub_responses: Vec<SubResponse>,
    }
}

attr_struct! {
    /// `SubResponse` (MS-FSSHTTP 2.2.3.10, 2.2.4.8).
    pub struct SubResponse {
        /// Echo of `SubRequest@SubRequestToken`.
        sub_request_token: u64 = "SubRequestToken",
        /// Result.
        error_code: ErrorCode = "ErrorCode",
        /// HRESULT hint.
        h_result: HResult = "HResult",
        /// Description (lock holder for FileAlreadyLockedOnServer).
        error_message: String = "ErrorMessage",
        /// Echo of the CorrelationId.
        server_correlation_id: String = "ServerCorrelationId",
    }
    extra {
        /// The `Type` of the SubRequest this answers, joined by SubRequestToken (not on the wire).
        #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
        request_type: Option<SubRequestType>,
        /// `SubResponseData`, if present.
        #[serde(rename = "SubResponseData", default, skip_serializing_if = "Option::is_none")]
        sub_response_data: Option<SubResponseData>,
        /// `SubResponseStreamInvalid` present.
        #[serde(rename = "SubResponseStreamInvalid", default, skip_serializing_if = "std::ops::Not::not")]
        sub_response_stream_invalid: bool,
        /// `GetVersionsResponse/GetVersionsResult/results` (MS-VERSS 2.2.4.1).
        #[serde(rename = "GetVersionsResponse", default, skip_serializing_if = "Option::is_none")]
        get_versions_response: Option<GetVersionsResults>,
    }
}

impl SubResponse {
    /// The FSSHTTPB response bytes of a Cell subresponse, with their origin.
    pub fn cell_payload(&self) -> Option<&CellPayload> {
        self.sub_response_data.as_ref()?.payload.as_ref()
    }
}

attr_struct! {
    /// `SubResponseData`: union of the attributes of every subresponse type (MS-FSSHTTP 2.2.8.2).
    pub struct SubResponseData {
        /// New file version (Cell).
        etag: String = "Etag",
        /// Creation time, FILETIME ticks (Cell).
        create_time: FileTime = "CreateTime",
        /// Last-modified time, FILETIME ticks (Cell).
        last_modified_time: FileTime = "LastModifiedTime",
        /// Last modifier (Cell).
        modified_by: String = "ModifiedBy",
        /// Coalesce error (Cell).
        coalesce_error_message: String = "CoalesceErrorMessage",
        /// Coalesce HRESULT (Cell).
        coalesce_h_result: HResult = "CoalesceHResult",
        /// Includes unpersisted data (Cell).
        contains_hotbox_data: bool = "ContainsHotboxData",
        /// Only property-demotion changes (Cell).
        have_only_demotion_changes: bool = "HaveOnlyDemotionChanges",
        /// WhoAmI friendly name.
        user_name: String = "UserName",
        /// WhoAmI e-mail.
        user_email_address: String = "UserEmailAddress",
        /// WhoAmI SIP address.
        user_sip_address: String = "UserSIPAddress",
        /// WhoAmI anonymous guest.
        user_is_anonymous: bool = "UserIsAnonymous",
        /// WhoAmI login.
        user_login: String = "UserLogin",
        /// Server clock, .NET ticks.
        server_time: DotNetTicks = "ServerTime",
        /// Lock obtained or held.
        lock_type: LockType = "LockType",
        /// Coauthoring status.
        coauth_status: CoauthStatus = "CoauthStatus",
        /// Coauthoring transition id.
        transition_id: String = "TransitionID",
        /// Why an exclusive lock was returned.
        exclusive_lock_return_reason: ExclusiveLockReturnReason = "ExclusiveLockReturnReason",
        /// AmIAlone answer.
        am_i_alone: bool = "AmIAlone",
        /// LockStatus lock id.
        lock_id: String = "LockID",
        /// LockStatus holder.
        locked_by: String = "LockedBy",
    }
    extra {
        /// GetDocMetaInfo `DocProps/Property`.
        #[serde(rename = "DocProps", default, skip_serializing_if = "Option::is_none")]
        doc_props: Option<Vec<MetaProperty>>,
        /// GetDocMetaInfo `FolderProps/Property`.
        #[serde(rename = "FolderProps", default, skip_serializing_if = "Option::is_none")]
        folder_props: Option<Vec<MetaProperty>>,
        /// Versioning `UserTable/User`.
        #[serde(rename = "UserTable", default, skip_serializing_if = "Option::is_none")]
        user_table: Option<Vec<VersionUser>>,
        /// Versioning `Versions/Version`.
        #[serde(rename = "Versions", default, skip_serializing_if = "Option::is_none")]
        versions: Option<Vec<FileVersion>>,
        /// Properties `PropertyIds/PropertyId@id`.
        #[serde(rename = "PropertyIds", default, skip_serializing_if = "Option::is_none")]
        property_ids: Option<Vec<String>>,
        /// Properties `PropertyValues/PropertyValue`.
        #[serde(rename = "PropertyValues", default, skip_serializing_if = "Option::is_none")]
        property_values: Option<Vec<PropertyValue>>,
        /// Text content that is not a Cell payload.
        #[serde(rename = "text", default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// Cell payload (FSSHTTPB response).
        #[serde(rename = "payload", default, skip_serializing_if = "Option::is_none")]
        payload: Option<CellPayload>,
    }
}

attr_struct! {
    /// GetDocMetaInfo `Property` (MS-FSSHTTP 2.3.1.29).
    pub struct MetaProperty {
        /// Metainfo name, e.g. `vti_timecreated`.
        key: String = "Key",
        /// Its value.
        value: String = "Value",
    }
}

attr_struct! {
    /// Properties `PropertyValue` (MS-FSSHTTP 2.3.1.58).
    pub struct PropertyValue {
        /// Property id.
        id: String = "id",
        /// Property value.
        value: String = "value",
    }
}

attr_struct! {
    /// Versioning `UserTable/User` (MS-FSSHTTP 2.3.1.40).
    pub struct VersionUser {
        /// Id local to this response.
        user_id: i64 = "UserId",
        /// Login.
        user_login: String = "UserLogin",
        /// Display name.
        user_name: String = "UserName",
        /// E-mail.
        user_email_address: String = "UserEmailAddress",
    }
}

attr_struct! {
    /// Versioning `Versions/Version` (MS-FSSHTTP 2.3.1.42).
    pub struct FileVersion {
        /// Newest version.
        is_current: bool = "IsCurrent",
        /// `major.minor`.
        number: String = "Number",
        /// FILETIME ticks.
        last_modified_time: FileTime = "LastModifiedTime",
        /// Into `UserTable`.
        user_id: i64 = "UserId",
    }
    extra {
        /// `Events/Event`, if present.
        #[serde(rename = "Events", default, skip_serializing_if = "Option::is_none")]
        events: Option<Vec<VersionEvent>>,
    }
}

attr_struct! {
    /// Versioning `Events/Event` (MS-FSSHTTP 2.3.1.44).
    pub struct VersionEvent {
        /// Event id.
        id: String = "Id",
        /// 1 shared, 2 renamed, 3 restored.
        type_: u32 = "Type",
        /// FILETIME ticks.
        create_time: FileTime = "CreateTime",
        /// Into `UserTable`.
        user_id: i64 = "UserId",
    }
}

/// `GetVersionsResponse/GetVersionsResult/results` (MS-VERSS 2.2.4.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GetVersionsResults {
    /// `list@id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// `versioning@enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<String>,
    /// `settings@url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
    /// One `result` per version.
    #[serde(default)]
    pub result: Vec<VersionResult>,
}

attr_struct! {
    /// MS-VERSS `result`.
    pub struct VersionResult {
        /// Version, current one prefixed with `@`.
        version: String = "version",
        /// URL.
        url: String = "url",
        /// Creation time as text.
        created: String = "created",
        /// Creation time, raw.
        created_raw: String = "createdRaw",
        /// Creator login.
        created_by: String = "createdBy",
        /// Creator name.
        created_by_name: String = "createdByName",
        /// Size in bytes.
        size: u64 = "size",
        /// Comments.
        comments: String = "comments",
    }
}

/// A response message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ResponseEnvelope {
    /// The MIME structure when the body was MTOM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtom: Option<Multipart>,
    /// `ResponseVersion`.
    #[serde(
        rename = "ResponseVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_version: Option<VersionInfo>,
    /// `ResponseCollection`.
    #[serde(
        rename = "ResponseCollection",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_collection: Option<ResponseCollection>,
    /// A SOAP Fault instead of a body.
    #[serde(rename = "Fault", default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<SoapFault>,
    /// What could not be decoded.
    #[serde(default)]
    pub diagnostics: Vec<Diagnostic>,
    /// What decoded but the specification does not name.
    #[serde(default)]
    pub unknown: Vec<UnknownNode>,
    /// Facts worth knowing that are not decoding failures (a Response paired with its
    /// Request although their RequestTokens differ).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Diagnostic>,
}

impl ResponseEnvelope {
    /// All subresponses with their Response, in document order.
    pub fn sub_responses(&self) -> impl Iterator<Item = (&Response, &SubResponse)> {
        self.response_collection
            .iter()
            .flat_map(|c| c.responses.iter())
            .flat_map(|r| r.sub_responses.iter().map(move |s| (r, s)))
    }

    /// Every ErrorCode in the envelope, in document order: the ResponseVersion's, then
    /// each Response's followed by its SubResponses'.
    pub fn error_codes(&self) -> impl Iterator<Item = &ErrorCode> {
        let responses = self
            .response_collection
            .iter()
            .flat_map(|c| c.responses.iter())
            .flat_map(|r| {
                r.error_code
                    .iter()
                    .chain(r.sub_responses.iter().filter_map(|s| s.error_code.as_ref()))
            });
        self.response_version
            .iter()
            .filter_map(|v| v.error_code.as_ref())
            .chain(responses)
    }

    /// The Cell payloads with their SubRequestToken, in document order.
    pub fn cell_payloads(&self) -> impl Iterator<Item = (Option<u64>, &CellPayload)> {
        self.sub_responses()
            .filter_map(|(_, s)| Some((s.sub_request_token, s.cell_payload()?)))
    }
}
