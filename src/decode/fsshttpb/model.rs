//! The decoded model of MS-FSSHTTPB messages: requests ([MS-FSSHTTPB] 2.2.2), responses
//! (2.2.3), data element packages (2.2.1.12) and knowledge (2.2.1.13).
//!
//! Spec: <https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-fsshttpb/f59fc37d-2232-4b14-baac-25f98e9e7b5a>
//!
//! Names follow the specification without spaces. Every node that stands for a stream
//! object carries `offset`, the byte offset of its stream object header in the payload,
//! and most carry `end`, the offset just past the object. Stream object type numbers are
//! kept where the spec leaves a choice. Flag bytes are kept raw (`flags`) and explained in
//! `flag_names`; the encoder writes the raw value.

use super::cell_error::CellErrorCode;
use crate::decode::Diagnostic;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A GUID shown as `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}` (uuid `from_bytes_le` order).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub uuid::Uuid);

impl Guid {
    /// The all-zero GUID.
    pub const NIL: Guid = Guid(uuid::Uuid::nil());

    /// Builds a GUID from its 16 wire bytes (`Guid.ToByteArray()` order).
    pub fn from_bytes_le(b: [u8; 16]) -> Self {
        Guid(uuid::Uuid::from_bytes_le(b))
    }

    /// The 16 wire bytes.
    pub fn to_bytes_le(self) -> [u8; 16] {
        self.0.to_bytes_le()
    }

    /// Parses `{...}` or bare hyphenated text; `None` when it is not a GUID.
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::parse_str(s.trim_start_matches('{').trim_end_matches('}'))
            .ok()
            .map(Guid)
    }

    /// A GUID from its value as written in text, e.g.
    /// `Guid::from_u128(0x327A35F6_0761_4414_9686_51E900667A4D)`.
    pub const fn from_u128(v: u128) -> Self {
        Guid(uuid::Uuid::from_u128(v))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{:X}}}", self.0)
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Guid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Guid::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a guid: {s}")))
    }
}

/// Extended GUID ([MS-FSSHTTPB] 2.2.1.7): a GUID and a 32-bit value, shown `{GUID},n`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ExGuid {
    /// The GUID part; nil only for the null Extended GUID.
    pub guid: Guid,
    /// The value part.
    pub value: u32,
}

impl ExGuid {
    /// The null Extended GUID (one `0x00` byte on the wire).
    pub const NULL: ExGuid = ExGuid {
        guid: Guid::NIL,
        value: 0,
    };

    /// An Extended GUID from its parts.
    pub fn new(guid: Guid, value: u32) -> Self {
        Self { guid, value }
    }

    /// True for the null Extended GUID.
    pub fn is_null(&self) -> bool {
        self.guid == Guid::NIL
    }
}

impl fmt::Display for ExGuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.guid, self.value)
    }
}

impl fmt::Debug for ExGuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn parse_pair(s: &str) -> Option<(Guid, u64)> {
    let (g, n) = s.rsplit_once(',')?;
    Some((Guid::parse(g)?, n.trim().parse().ok()?))
}

impl Serialize for ExGuid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ExGuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_pair(&s)
            .and_then(|(guid, v)| Some(ExGuid::new(guid, u32::try_from(v).ok()?)))
            .ok_or_else(|| serde::de::Error::custom(format!("not an extended guid: {s}")))
    }
}

/// A non-null Serial Number ([MS-FSSHTTPB] 2.2.1.9), shown `{GUID},n`. The null serial
/// number is `None` wherever a serial number is optional.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SerialNumber {
    /// The GUID part.
    pub guid: Guid,
    /// The 64-bit value.
    pub value: u64,
}

impl fmt::Display for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.guid, self.value)
    }
}

impl fmt::Debug for SerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for SerialNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SerialNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_pair(&s)
            .map(|(guid, value)| SerialNumber { guid, value })
            .ok_or_else(|| serde::de::Error::custom(format!("not a serial number: {s}")))
    }
}

/// Cell ID ([MS-FSSHTTPB] 2.2.1.10): two Extended GUIDs; both null for the null cell.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct CellId {
    /// EXGUID1.
    #[serde(rename = "EXGUID1")]
    pub ex1: ExGuid,
    /// EXGUID2.
    #[serde(rename = "EXGUID2")]
    pub ex2: ExGuid,
}

impl fmt::Display for CellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({} {})", self.ex1, self.ex2)
    }
}

impl fmt::Debug for CellId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Implements `JsonSchema` for a type written as one string, with its pattern.
macro_rules! string_schema {
    ($($t:ident => $schema:tt,)*) => {$(
        impl schemars::JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($t).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    )*};
}

string_schema! {
    Guid => {"type": "string", "pattern": "^\\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\\}$", "description": "GUID in braces, uppercase"},
    ExGuid => {"type": "string", "pattern": "^\\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\\},[0-9]{1,10}$", "description": "Extended GUID: {GUID},value (MS-FSSHTTPB 2.2.1.7)"},
    SerialNumber => {"type": "string", "pattern": "^\\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\\},[0-9]{1,20}$", "description": "Serial Number: {GUID},value with the 64-bit value in decimal (MS-FSSHTTPB 2.2.1.9)"},
    Bytes => {"type": "string", "contentEncoding": "base64", "description": "bytes, base64"},
}

/// Opaque bytes, serialized as base64 text.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Bytes)
            .map_err(serde::de::Error::custom)
    }
}

/// One field of a message as [`super::fields`] lists it: which bytes, what they are.
///
/// The list covers every byte the decoder understood, in order, so a user can point at
/// any byte and see the field (and the stream object) it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Field {
    /// Offset of the field's first byte in the payload.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// The field, named after the specification (stream object headers are named after
    /// their object type, e.g. `Knowledge start`, `CellKnowledge end`).
    pub name: String,
    /// The decoded value.
    pub value: String,
    /// Header, end or value.
    pub kind: FieldKind,
    /// How many stream objects enclose the field.
    pub depth: usize,
}

/// What a [`Field`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum FieldKind {
    /// A stream object start header.
    Start {
        /// Compound bit: the object ends with an end header.
        compound: bool,
        /// Declared length of the object's own data.
        length: u64,
    },
    /// A stream object end header.
    End,
    /// A decoded value.
    Value,
    /// Bytes kept as they are (names, opaque data, skipped objects' data).
    Bytes,
}

/// A well-formed stream object that the specification does not name at this place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UnknownObject {
    /// Offset of its header.
    pub offset: usize,
    /// Offset just past it (after its end header when compound).
    pub end: usize,
    /// Stream object type number.
    pub object_type: u16,
    /// Compound bit.
    pub compound: bool,
    /// Where it was found, e.g. `Sub-request`.
    pub parent: String,
}

// ---------------------------------------------------------------------------------------
// Request ([MS-FSSHTTPB] 2.2.2)
// ---------------------------------------------------------------------------------------

/// An FSSHTTPB request ([MS-FSSHTTPB] 2.2.2).
///
/// ```text
/// u16 Protocol Version | u16 Minimum Version | u64 Signature 0x9B069439F329CF9C
/// 0x40 Request start (32-bit, compound)
///   0x5D User Agent { 0x55 GUID | 0x8B Client and Platform ; 0x4F Version } end
///   [0x88 Request Hashing Options] [0x8D Cell Roundtrip Options]
///   0x42 Sub-request*   [0x15 Data Element Package]
/// 0x40 Request end (16-bit)
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct FsshttpbRequest {
    /// Protocol Version (12, 13 or 14).
    #[serde(rename = "ProtocolVersion")]
    pub protocol_version: u16,
    /// Minimum Version (11).
    #[serde(rename = "MinimumVersion")]
    pub minimum_version: u16,
    /// Signature (0x9B069439F329CF9C for requests).
    #[serde(rename = "Signature", with = "crate::decode::json::hex")]
    #[schemars(schema_with = "crate::decode::json::schema::hex")]
    pub signature: u64,
    /// User Agent (0x5D).
    #[serde(rename = "UserAgent")]
    pub user_agent: Option<UserAgent>,
    /// Request Hashing Options (0x88).
    #[serde(rename = "RequestHashingOptions")]
    pub hashing_options: Option<RequestHashingOptions>,
    /// Cell Roundtrip Options (0x8D).
    #[serde(rename = "CellRoundtripOptions")]
    pub roundtrip_options: Option<FlagsObject>,
    /// Sub-requests (0x42) in wire order.
    #[serde(rename = "SubRequests")]
    pub sub_requests: Vec<SubRequest>,
    /// The Data Element Package (0x15), referenced by Put Changes.
    #[serde(rename = "DataElementPackage")]
    pub data_element_package: Option<DataElementPackage>,
    /// Well-formed objects the spec does not name at their place (not re-encoded).
    pub unknown: Vec<UnknownObject>,
    /// What could not be decoded; empty when everything was.
    pub diagnostics: Vec<Diagnostic>,
}

/// User Agent ([MS-FSSHTTPB] 2.2.2.1.1 area, 0x5D).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct UserAgent {
    /// Header offset.
    pub offset: usize,
    /// User Agent GUID (0x55).
    #[serde(rename = "UserAgentGUID")]
    pub guid: Option<Guid>,
    /// User Agent Client and Platform (0x8B).
    #[serde(rename = "UserAgentClientAndPlatform")]
    pub client_and_platform: Option<ClientAndPlatform>,
    /// User Agent Version (0x4F).
    #[serde(rename = "UserAgentVersion")]
    pub version: Option<u32>,
}

/// User Agent Client and Platform (0x8B): two counted UTF-8 strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct ClientAndPlatform {
    /// Client name.
    #[serde(rename = "Client")]
    pub client: String,
    /// Platform name.
    #[serde(rename = "Platform")]
    pub platform: String,
}

/// Request Hashing Options (0x88).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct RequestHashingOptions {
    /// Header offset.
    pub offset: usize,
    /// Hashing schema (1 = MS-PCCRC Content Information 1.0).
    #[serde(
        rename = "RequestHashingSchema",
        with = "crate::decode::json::quantity"
    )]
    #[schemars(schema_with = "crate::decode::json::schema::quantity")]
    pub schema: u64,
    /// Raw flag byte.
    pub flags: u8,
    /// Names of the set flags.
    pub flag_names: Vec<String>,
}

/// A single-object carrying only a flag byte (Cell Roundtrip Options, Filter Flags...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct FlagsObject {
    /// Header offset.
    pub offset: usize,
    /// Raw flag byte.
    pub flags: u8,
    /// Names of the set flags.
    pub flag_names: Vec<String>,
}

/// A sub-request ([MS-FSSHTTPB] 2.2.2.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct SubRequest {
    /// Header offset.
    pub offset: usize,
    /// Offset just past the sub-request end.
    pub end: usize,
    /// Request ID.
    #[serde(rename = "RequestID", with = "crate::decode::json::dec")]
    #[schemars(schema_with = "crate::decode::json::schema::dec")]
    pub request_id: u64,
    /// Request Type (1, 2, 5, 11).
    #[serde(rename = "RequestType", with = "super::names::request_type_json")]
    #[schemars(schema_with = "crate::decode::json::named::schema")]
    pub request_type: u64,
    /// Priority.
    #[serde(rename = "Priority", with = "crate::decode::json::quantity")]
    #[schemars(schema_with = "crate::decode::json::schema::quantity")]
    pub priority: u64,
    /// Target Partition Id (0x83).
    #[serde(rename = "TargetPartitionId")]
    pub target_partition_id: Option<Guid>,
    /// Type-specific data.
    #[serde(rename = "SubRequestData")]
    pub data: SubRequestData,
}

/// Sub-request data by Request Type ([MS-FSSHTTPB] 2.2.1.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub enum SubRequestData {
    /// Query Access (1): no data.
    #[default]
    QueryAccess,
    /// Query Changes (2).
    QueryChanges(QueryChangesRequest),
    /// Put Changes (5).
    PutChanges(PutChangesRequest),
    /// Allocate Extended GUID Range (11).
    AllocateExtendedGuidRange(AllocateExtendedGuidRangeRequest),
    /// Any other type: the raw bytes between the sub-request header data and its end.
    #[serde(rename = "unknown")]
    Unknown {
        /// Raw bytes (stream objects of the unknown request), re-encoded verbatim.
        raw: Bytes,
    },
}

/// Query Changes request data ([MS-FSSHTTPB] 2.2.2.1.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct QueryChangesRequest {
    /// Offset of the 0x51 header.
    pub offset: usize,
    /// First flag byte.
    pub flags: u8,
    /// Optional second flag byte (I User Content Equivalent Version OK).
    #[serde(rename = "flags_second_byte")]
    pub flags2: Option<u8>,
    /// Names of the set flags.
    pub flag_names: Vec<String>,
    /// Query Changes Request Arguments (0x5B).
    #[serde(rename = "QueryChangesRequestArguments")]
    pub arguments: Option<QueryChangesArguments>,
    /// Query Changes Data Constraints (0x59): Maximum Data Elements.
    #[serde(
        rename = "MaximumDataElements",
        with = "crate::decode::json::quantity_opt"
    )]
    #[schemars(schema_with = "crate::decode::json::schema::quantity_opt")]
    pub max_data_elements: Option<u64>,
    /// Query Changes Versioning (0x30) payload.
    #[serde(rename = "QueryChangesVersioning")]
    pub versioning: Option<Bytes>,
    /// Filters (0x47) in order.
    #[serde(rename = "QueryChangesFilters")]
    pub filters: Vec<QueryChangesFilter>,
    /// Knowledge the client already has.
    #[serde(rename = "Knowledge")]
    pub knowledge: Option<Knowledge>,
}

/// Query Changes Request Arguments (0x5B).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct QueryChangesArguments {
    /// Raw flag byte (F Include Storage Manifest, G Include Cell Changes).
    pub flags: u8,
    /// Names of the set flags.
    pub flag_names: Vec<String>,
    /// Cell ID scoping the query (null = whole file).
    #[serde(rename = "CellID")]
    pub cell_id: CellId,
}

/// Query Changes Filter ([MS-FSSHTTPB] 2.2.2.1.3.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct QueryChangesFilter {
    /// Header offset.
    pub offset: usize,
    /// Filter Type.
    #[serde(rename = "FilterType")]
    pub filter_type: u8,
    /// Filter Operation (0 exclude, 1 include).
    #[serde(rename = "FilterOperation")]
    pub operation: u8,
    /// Filter data.
    #[serde(rename = "FilterData")]
    pub data: FilterData,
    /// Query Changes Filter Flags (0x68) following the filter.
    #[serde(rename = "QueryChangesFilterFlags")]
    pub flags: Option<u8>,
}

/// Filter data by Filter Type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub enum FilterData {
    /// No data (All, Storage-Index-referenced).
    #[default]
    None,
    /// Data Element Type filter (0x57).
    DataElementType(u64),
    /// Cell ID filter (0x5C).
    #[serde(rename = "CellID")]
    CellId(CellId),
    /// Custom filter (0x50).
    #[serde(rename = "CustomFilter")]
    Custom {
        /// Schema GUID.
        #[serde(rename = "Schema")]
        schema: Guid,
        /// Opaque filter bytes.
        #[serde(rename = "Data")]
        data: Bytes,
    },
    /// Data Element IDs filter (0x54).
    #[serde(rename = "DataElementIDs")]
    DataElementIds(Vec<ExGuid>),
    /// Hierarchy filter (0x60).
    #[serde(rename = "HierarchyFilter")]
    Hierarchy {
        /// Depth.
        #[serde(rename = "Depth")]
        depth: u8,
        /// Root index key bytes.
        #[serde(rename = "RootIndexKey")]
        key: Bytes,
    },
    /// Unknown filter data: raw stream objects.
    #[serde(rename = "unknown")]
    Unknown {
        /// Raw bytes.
        raw: Bytes,
    },
}

/// Put Changes request data ([MS-FSSHTTPB] 2.2.2.1.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct PutChangesRequest {
    /// Offset of the 0x5A header.
    pub offset: usize,
    /// Storage Index Extended GUID.
    #[serde(rename = "StorageIndexExtendedGUID")]
    pub storage_index_id: ExGuid,
    /// Expected Storage Index Extended GUID (null = none).
    #[serde(rename = "ExpectedStorageIndexExtendedGUID")]
    pub expected_storage_index_id: ExGuid,
    /// Raw flag byte.
    pub flags: u8,
    /// Names of the set flags.
    pub flag_names: Vec<String>,
    /// Bytes of the 0x5A payload after the flags (ContentVersionCoherencyCheck, Author
    /// Logins, Reserved), kept raw.
    pub trailing: Bytes,
    /// Additional Flags (0x86): the 16-bit flags.
    #[serde(rename = "AdditionalFlags")]
    pub additional_flags: Option<u16>,
    /// Names of the set additional flags.
    pub additional_flag_names: Vec<String>,
    /// Bytes of the 0x86 payload after the 16-bit flags (reserved).
    pub additional_flags_trailing: Bytes,
    /// Lock Id (0x85).
    #[serde(rename = "LockId")]
    pub lock_id: Option<Guid>,
    /// Client knowledge.
    #[serde(rename = "ClientKnowledge")]
    pub client_knowledge: Option<Knowledge>,
    /// Diagnostic Request Option Input (0x8A) flag byte.
    #[serde(rename = "DiagnosticRequestOptionInput")]
    pub diagnostic_input: Option<u8>,
}

/// Allocate Extended GUID Range request data ([MS-FSSHTTPB] 2.2.2.1.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct AllocateExtendedGuidRangeRequest {
    /// Request Id Count.
    #[serde(rename = "RequestIdCount", with = "crate::decode::json::quantity")]
    #[schemars(schema_with = "crate::decode::json::schema::quantity")]
    pub count: u64,
    /// Reserved byte.
    #[serde(rename = "Reserved")]
    pub reserved: u8,
}

// ---------------------------------------------------------------------------------------
// Response ([MS-FSSHTTPB] 2.2.3)
// ---------------------------------------------------------------------------------------

/// An FSSHTTPB response ([MS-FSSHTTPB] 2.2.3).
///
/// ```text
/// u16 Protocol Version | u16 Minimum Version | u64 Signature 0x9B069439F329CF9D
/// 0x62 Response start (32-bit, compound, 1 status byte)
///   status=1: Response Error   else: [Data Element Package] Sub-response*
/// 0x62 Response end (16-bit)
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct FsshttpbResponse {
    /// Protocol Version.
    #[serde(rename = "ProtocolVersion")]
    pub protocol_version: u16,
    /// Minimum Version.
    #[serde(rename = "MinimumVersion")]
    pub minimum_version: u16,
    /// Signature (0x9B069439F329CF9D for responses).
    #[serde(rename = "Signature", with = "crate::decode::json::hex")]
    #[schemars(schema_with = "crate::decode::json::schema::hex")]
    pub signature: u64,
    /// Raw status byte (bit 0: the request failed).
    #[serde(rename = "Status")]
    pub status: u8,
    /// The Response Error when the whole request failed.
    #[serde(rename = "ResponseError")]
    pub error: Option<ResponseError>,
    /// Data Element Package.
    #[serde(rename = "DataElementPackage")]
    pub data_element_package: Option<DataElementPackage>,
    /// Sub-responses in wire order.
    #[serde(rename = "SubResponses")]
    pub sub_responses: Vec<SubResponse>,
    /// Well-formed objects the spec does not name at their place (not re-encoded).
    pub unknown: Vec<UnknownObject>,
    /// What could not be decoded.
    pub diagnostics: Vec<Diagnostic>,
}

/// A sub-response ([MS-FSSHTTPB] 2.2.3.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct SubResponse {
    /// Header offset.
    pub offset: usize,
    /// Offset just past its end.
    pub end: usize,
    /// Request ID (joins it to the sub-request).
    #[serde(rename = "RequestID", with = "crate::decode::json::dec")]
    #[schemars(schema_with = "crate::decode::json::schema::dec")]
    pub request_id: u64,
    /// Request Type.
    #[serde(rename = "RequestType", with = "super::names::request_type_json")]
    #[schemars(schema_with = "crate::decode::json::named::schema")]
    pub request_type: u64,
    /// Raw status byte (bit 0: failed).
    #[serde(rename = "Status")]
    pub status: u8,
    /// The error when the sub-request failed.
    #[serde(rename = "ResponseError")]
    pub error: Option<ResponseError>,
    /// Type-specific data when it succeeded.
    #[serde(rename = "SubResponseData")]
    pub data: SubResponseData,
    /// The sub-request with the same Request ID, when the request was given to the decoder
    /// (not encoded).
    #[serde(rename = "sub_request")]
    pub sub_request: Option<Box<SubRequest>>,
}

/// Sub-response data by Request Type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub enum SubResponseData {
    /// No data (failed sub-request).
    #[default]
    None,
    /// Query Access (1): read and write access responses.
    QueryAccess {
        /// Read Access Response (0x43).
        #[serde(rename = "ReadAccessResponse")]
        read: Option<ResponseError>,
        /// Write Access Response (0x46).
        #[serde(rename = "WriteAccessResponse")]
        write: Option<ResponseError>,
    },
    /// Query Changes (2).
    QueryChanges(QueryChangesResponse),
    /// Put Changes (5).
    PutChanges(PutChangesResponse),
    /// Allocate Extended GUID Range (11).
    AllocateExtendedGuidRange(AllocateExtendedGuidRangeResponse),
    /// Unknown request type: raw bytes up to the sub-response end.
    #[serde(rename = "unknown")]
    Unknown {
        /// Raw bytes, re-encoded verbatim.
        raw: Bytes,
    },
}

/// Query Changes response ([MS-FSSHTTPB] 2.2.3.1.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct QueryChangesResponse {
    /// Offset of the 0x5F header.
    pub offset: usize,
    /// Storage Index Extended GUID.
    #[serde(rename = "StorageIndexExtendedGUID")]
    pub storage_index_id: ExGuid,
    /// Raw flag byte (P partial result, A user-content-equivalent version).
    pub flags: u8,
    /// True when the result is partial (more Query Changes needed).
    #[serde(rename = "PartialResult")]
    pub partial: bool,
    /// Knowledge of the returned data.
    #[serde(rename = "Knowledge")]
    pub knowledge: Option<Knowledge>,
    /// File Hash (0x8E): hash type and hash.
    #[serde(rename = "FileHash")]
    pub file_hash: Option<FileHash>,
}

/// File Hash (0x8E).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct FileHash {
    /// Hash type.
    #[serde(rename = "HashType", with = "crate::decode::json::quantity")]
    #[schemars(schema_with = "crate::decode::json::schema::quantity")]
    pub hash_type: u64,
    /// The hash.
    #[serde(rename = "Hash")]
    pub hash: Bytes,
}

/// Put Changes response ([MS-FSSHTTPB] 2.2.3.1.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct PutChangesResponse {
    /// Put Changes Response object (0x87), when present.
    #[serde(rename = "PutChangesResponse")]
    pub applied: Option<AppliedStorageIndex>,
    /// Resultant Knowledge.
    #[serde(rename = "ResultantKnowledge")]
    pub resultant_knowledge: Option<Knowledge>,
    /// Diagnostic Request Option Output (0x89) flag byte.
    #[serde(rename = "DiagnosticRequestOptionOutput")]
    pub diagnostic_output: Option<u8>,
}

/// Put Changes Response (0x87, [MS-FSSHTTPB] 2.2.3.1.3).
///
/// Both fields are optional: the request's Additional Flags (2.2.2.1.4.1) A "Return
/// Applied Storage Index Id Entries" and B "Return Data Elements Added" ask for them.
/// [`PutChangesResponseLayout`] records which ones the 0x87 data held, so that the
/// encoder writes the same bytes back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct AppliedStorageIndex {
    /// Applied Storage Index Id (null when the data did not hold it).
    #[serde(rename = "AppliedStorageIndexId")]
    pub applied_storage_index_id: ExGuid,
    /// Data Elements Added (empty when the data did not hold it).
    #[serde(rename = "DataElementsAdded")]
    pub data_elements_added: Vec<ExGuid>,
    /// Which optional fields the 0x87 data held, and what else it framed.
    #[serde(default)]
    pub layout: PutChangesResponseLayout,
}

/// The shape of one Put Changes Response object (0x87) on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PutChangesResponseLayout {
    /// The data holds the Applied Storage Index Id (Extended GUID).
    pub applied_storage_index_id: bool,
    /// The data holds Data Elements Added (Extended GUID Array).
    pub data_elements_added: bool,
    /// The object's length also covers the Resultant Knowledge and the Diagnostic Request
    /// Option Output that 2.2.3.1.3 draws under the same header (some servers frame them
    /// so; others send them after the object).
    pub frames_knowledge: bool,
}

impl Default for PutChangesResponseLayout {
    /// Both fields, nothing else framed: what [MS-FSSHTTPB] 4.x servers send when the
    /// request asks for both.
    fn default() -> Self {
        Self {
            applied_storage_index_id: true,
            data_elements_added: true,
            frames_knowledge: false,
        }
    }
}

/// Allocate Extended GUID Range response (0x81).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct AllocateExtendedGuidRangeResponse {
    /// GUID component.
    #[serde(rename = "GUIDComponent")]
    pub guid: Guid,
    /// Integer Range Min.
    #[serde(rename = "IntegerRangeMin", with = "crate::decode::json::dec")]
    #[schemars(schema_with = "crate::decode::json::schema::dec")]
    pub min: u64,
    /// Integer Range Max (exclusive).
    #[serde(rename = "IntegerRangeMax", with = "crate::decode::json::dec")]
    #[schemars(schema_with = "crate::decode::json::schema::dec")]
    pub max: u64,
}

/// Most Response Errors one chain holds: deeper chains are cut with a diagnostic.
pub const MAX_ERROR_CHAIN: usize = 16;

/// Response Error ([MS-FSSHTTPB] 2.2.3.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct ResponseError {
    /// Header offset.
    pub offset: usize,
    /// Error Type GUID.
    #[serde(rename = "ErrorTypeGUID")]
    pub error_type: Guid,
    /// Error data.
    #[serde(rename = "ErrorData")]
    pub detail: ErrorDetail,
    /// Error String Supplemental Info (0x4E).
    #[serde(rename = "ErrorStringSupplementalInfo")]
    pub supplemental_info: Option<String>,
    /// A chained Response Error.
    #[serde(rename = "ChainedError")]
    pub chained: Option<Box<ResponseError>>,
}

impl ResponseError {
    /// This error and the errors chained to it, outermost first (at most
    /// [`MAX_ERROR_CHAIN`] of them, as the decoder keeps).
    pub fn chain(&self) -> impl Iterator<Item = &Self> {
        std::iter::successors(Some(self), |e| e.chained.as_deref()).take(MAX_ERROR_CHAIN)
    }

    /// Whether this error or one chained to it is the Cell Error `code`.
    pub fn has_cell_error(&self, code: CellErrorCode) -> bool {
        self.chain()
            .any(|e| e.detail.cell_error_code() == Some(code))
    }
}

/// Error data by Error Type GUID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub enum ErrorDetail {
    /// No error data.
    #[default]
    None,
    /// Cell Error (0x66).
    CellError {
        /// Code.
        #[serde(rename = "value", alias = "code")]
        code: u32,
        /// Spec name of the code.
        name: String,
    },
    /// Protocol Error (0x4B).
    ProtocolError {
        /// Code.
        #[serde(rename = "value", alias = "code")]
        code: u32,
        /// Spec name of the code.
        name: String,
    },
    /// Win32 Error (0x49).
    Win32Error {
        /// Code (0 = success).
        #[serde(rename = "value", alias = "code")]
        code: u32,
    },
    /// HRESULT Error (0x52).
    #[serde(rename = "HRESULTError")]
    HresultError {
        /// Code (0 = success).
        #[serde(rename = "value", alias = "code")]
        code: u32,
    },
    /// An unknown error type: raw payload of its error object.
    #[serde(rename = "unknown")]
    Unknown {
        /// Stream object type of the error data.
        object_type: u16,
        /// Payload.
        raw: Bytes,
    },
}

impl ErrorDetail {
    /// The specification's name of a Cell or Protocol Error code.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::CellError { name, .. } | Self::ProtocolError { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The Cell Error code, when this is a Cell Error with a code the specification
    /// assigns.
    pub fn cell_error_code(&self) -> Option<CellErrorCode> {
        match self {
            Self::CellError { code, .. } => CellErrorCode::try_from(*code).ok(),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Data elements ([MS-FSSHTTPB] 2.2.1.12)
// ---------------------------------------------------------------------------------------

/// Data Element Package (0x15, [MS-FSSHTTPB] 2.2.1.12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct DataElementPackage {
    /// Header offset.
    pub offset: usize,
    /// Offset just past its end.
    pub end: usize,
    /// Reserved byte (0).
    #[serde(rename = "Reserved")]
    pub reserved: u8,
    /// Data elements in wire order.
    #[serde(rename = "DataElements")]
    pub elements: Vec<DataElement>,
}

/// A data element (0x01): id, serial number, type and type-specific body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct DataElement {
    /// Header offset.
    pub offset: usize,
    /// Offset just past its end.
    pub end: usize,
    /// Data Element Extended GUID.
    #[serde(rename = "DataElementExtendedGUID")]
    pub id: ExGuid,
    /// Serial Number (None = null).
    #[serde(rename = "SerialNumber")]
    pub serial_number: Option<SerialNumber>,
    /// Data Element Type.
    #[serde(
        rename = "DataElementType",
        with = "super::names::data_element_type_json"
    )]
    #[schemars(schema_with = "crate::decode::json::named::schema")]
    pub element_type: u64,
    /// Body.
    pub body: DataElementBody,
}

/// Data element body by Data Element Type ([MS-FSSHTTPB] 2.2.1.12.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum DataElementBody {
    /// 1 Storage Index.
    StorageIndex(Vec<StorageIndexEntry>),
    /// 2 Storage Manifest.
    StorageManifest(StorageManifest),
    /// 3 Cell Manifest: Current Revision id.
    CellManifest(ExGuid),
    /// 4 Revision Manifest.
    RevisionManifest(RevisionManifest),
    /// 5 Object Group.
    ObjectGroup(ObjectGroup),
    /// 6 Data Element Fragment.
    DataElementFragment(DataElementFragment),
    /// 10 Object Data BLOB.
    ObjectDataBlob(Bytes),
    /// Any other type: raw bytes up to the data element end, re-encoded verbatim.
    #[serde(rename = "unknown")]
    Unknown {
        /// Raw bytes.
        raw: Bytes,
    },
}

impl Default for DataElementBody {
    fn default() -> Self {
        DataElementBody::Unknown {
            raw: Bytes::default(),
        }
    }
}

/// One entry of a Storage Index ([MS-FSSHTTPB] 2.2.1.12.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum StorageIndexEntry {
    /// Storage Index Manifest Mapping (0x11).
    #[serde(rename = "StorageIndexManifestMapping")]
    ManifestMapping {
        /// Manifest Mapping Extended GUID (Storage Manifest data element id).
        #[serde(rename = "ManifestMappingExtendedGUID")]
        id: ExGuid,
        /// Serial number.
        #[serde(rename = "SerialNumber")]
        serial_number: Option<SerialNumber>,
    },
    /// Storage Index Cell Mapping (0x0E).
    #[serde(rename = "StorageIndexCellMapping")]
    CellMapping {
        /// Cell ID.
        #[serde(rename = "CellID")]
        cell_id: CellId,
        /// Cell Mapping Extended GUID (Cell Manifest data element id).
        #[serde(rename = "CellMappingExtendedGUID")]
        id: ExGuid,
        /// Serial number.
        #[serde(rename = "SerialNumber")]
        serial_number: Option<SerialNumber>,
    },
    /// Storage Index Revision Mapping (0x0D).
    #[serde(rename = "StorageIndexRevisionMapping")]
    RevisionMapping {
        /// Revision Extended GUID.
        #[serde(rename = "RevisionExtendedGUID")]
        revision_id: ExGuid,
        /// Revision Mapping Extended GUID (Revision Manifest data element id).
        #[serde(rename = "RevisionMappingExtendedGUID")]
        id: ExGuid,
        /// Serial number.
        #[serde(rename = "SerialNumber")]
        serial_number: Option<SerialNumber>,
    },
}

/// Storage Manifest ([MS-FSSHTTPB] 2.2.1.12.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct StorageManifest {
    /// Schema GUID (0x0C).
    #[serde(rename = "StorageManifestSchemaGUID")]
    pub schema: Guid,
    /// Root Declares (0x07): root id and cell id.
    #[serde(rename = "RootDeclares")]
    pub roots: Vec<(ExGuid, CellId)>,
}

/// Revision Manifest ([MS-FSSHTTPB] 2.2.1.12.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct RevisionManifest {
    /// Revision ID.
    #[serde(rename = "RevisionID")]
    pub revision_id: ExGuid,
    /// Base Revision ID.
    #[serde(rename = "BaseRevisionID")]
    pub base_revision_id: ExGuid,
    /// Root Declares (0x0A): root id and object id.
    #[serde(rename = "RootDeclares")]
    pub roots: Vec<(ExGuid, ExGuid)>,
    /// Object Group References (0x19): object group data element ids.
    #[serde(rename = "ObjectGroupReferences")]
    pub object_groups: Vec<ExGuid>,
}

/// Object Group ([MS-FSSHTTPB] 2.2.1.12.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct ObjectGroup {
    /// Data Element Hash (0x06): scheme and hash.
    #[serde(rename = "DataElementHash")]
    pub hash: Option<(u64, Bytes)>,
    /// Declarations (0x1D children).
    #[serde(rename = "ObjectGroupDeclarations")]
    pub declarations: Vec<ObjectDeclaration>,
    /// Object Metadata (0x78) change frequencies, when 0x79 is present.
    #[serde(rename = "ObjectMetadata", serialize_with = "metadata_json")]
    #[schemars(schema_with = "metadata_schema")]
    pub metadata: Option<Vec<u64>>,
    /// Data (0x1E children), positionally matched to the declarations.
    #[serde(rename = "ObjectGroupData")]
    pub data: Vec<ObjectData>,
}

/// An object declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ObjectDeclaration {
    /// Object Declaration (0x18).
    #[serde(rename = "ObjectDeclaration")]
    Object {
        /// Object Extended GUID.
        #[serde(rename = "ObjectExtendedGUID")]
        id: ExGuid,
        /// Object Partition ID.
        #[serde(rename = "ObjectPartitionID", with = "crate::decode::json::quantity")]
        #[schemars(schema_with = "crate::decode::json::schema::quantity")]
        partition_id: u64,
        /// Object Data Size.
        #[serde(rename = "ObjectDataSize", with = "crate::decode::json::quantity")]
        #[schemars(schema_with = "crate::decode::json::schema::quantity")]
        data_size: u64,
        /// Object References Count.
        #[serde(
            rename = "ObjectReferencesCount",
            with = "crate::decode::json::quantity"
        )]
        #[schemars(schema_with = "crate::decode::json::schema::quantity")]
        object_references: u64,
        /// Cell References Count.
        #[serde(rename = "CellReferencesCount", with = "crate::decode::json::quantity")]
        #[schemars(schema_with = "crate::decode::json::schema::quantity")]
        cell_references: u64,
    },
    /// Object Data BLOB Declaration (0x05).
    #[serde(rename = "ObjectDataBLOBDeclaration")]
    Blob {
        /// Object Extended GUID.
        #[serde(rename = "ObjectExtendedGUID")]
        id: ExGuid,
        /// Object Data BLOB Extended GUID.
        #[serde(rename = "ObjectDataBLOBExtendedGUID")]
        blob_id: ExGuid,
        /// Object Partition ID.
        #[serde(rename = "ObjectPartitionID", with = "crate::decode::json::quantity")]
        #[schemars(schema_with = "crate::decode::json::schema::quantity")]
        partition_id: u64,
        /// Object References Count.
        #[serde(
            rename = "ObjectReferencesCount",
            with = "crate::decode::json::quantity"
        )]
        #[schemars(schema_with = "crate::decode::json::schema::quantity")]
        object_references: u64,
        /// Cell References Count.
        #[serde(rename = "CellReferencesCount", with = "crate::decode::json::quantity")]
        #[schemars(schema_with = "crate::decode::json::schema::quantity")]
        cell_references: u64,
    },
}

impl ObjectDeclaration {
    /// The declared object id.
    pub fn id(&self) -> ExGuid {
        match self {
            ObjectDeclaration::Object { id, .. } | ObjectDeclaration::Blob { id, .. } => *id,
        }
    }
}

/// Object data items of an object group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ObjectData {
    /// Object Data (0x16).
    #[serde(rename = "ObjectData")]
    Data {
        /// Header offset.
        offset: usize,
        /// Object references.
        #[serde(rename = "ObjectExtendedGUIDArray")]
        object_refs: Vec<ExGuid>,
        /// Cell references.
        #[serde(rename = "CellIDArray")]
        cell_refs: Vec<CellId>,
        /// The data.
        #[serde(rename = "Data")]
        data: Bytes,
    },
    /// Object Excluded Data (0x03).
    #[serde(rename = "ObjectExcludedData")]
    ExcludedData {
        /// Object references.
        #[serde(rename = "ObjectExtendedGUIDArray")]
        object_refs: Vec<ExGuid>,
        /// Cell references.
        #[serde(rename = "CellIDArray")]
        cell_refs: Vec<CellId>,
        /// Size of the excluded data.
        #[serde(rename = "ObjectDataSize", with = "crate::decode::json::quantity")]
        #[schemars(schema_with = "crate::decode::json::schema::quantity")]
        size: u64,
    },
    /// Object Data BLOB Reference (0x1C).
    #[serde(rename = "ObjectDataBLOBReference")]
    BlobReference {
        /// Object references.
        #[serde(rename = "ObjectExtendedGUIDArray")]
        object_refs: Vec<ExGuid>,
        /// Cell references.
        #[serde(rename = "CellIDArray")]
        cell_refs: Vec<CellId>,
        /// BLOB Extended GUID.
        #[serde(rename = "BLOBExtendedGUID")]
        blob_id: ExGuid,
    },
}

/// Data Element Fragment ([MS-FSSHTTPB] 2.2.1.12.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct DataElementFragment {
    /// Fragmented data element id.
    #[serde(rename = "FragmentExtendedGUID")]
    pub id: ExGuid,
    /// Total size of the data element.
    #[serde(
        rename = "FragmentDataElementSize",
        with = "crate::decode::json::quantity"
    )]
    #[schemars(schema_with = "crate::decode::json::schema::quantity")]
    pub size: u64,
    /// File Chunk Reference start.
    #[serde(rename = "FileChunkStart", with = "crate::decode::json::quantity")]
    #[schemars(schema_with = "crate::decode::json::schema::quantity")]
    pub start: u64,
    /// File Chunk Reference length.
    #[serde(rename = "FileChunkLength", with = "crate::decode::json::quantity")]
    #[schemars(schema_with = "crate::decode::json::schema::quantity")]
    pub length: u64,
    /// Fragment bytes.
    #[serde(rename = "FragmentData")]
    pub data: Bytes,
}

// ---------------------------------------------------------------------------------------
// Knowledge ([MS-FSSHTTPB] 2.2.1.13)
// ---------------------------------------------------------------------------------------

/// Knowledge (0x10): a list of specialized knowledges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Knowledge {
    /// Header offset.
    pub offset: usize,
    /// Specialized knowledge entries (0x44).
    #[serde(rename = "SpecializedKnowledge")]
    pub entries: Vec<SpecializedKnowledge>,
}

/// Specialized Knowledge by GUID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum SpecializedKnowledge {
    /// Cell Knowledge.
    CellKnowledge(Vec<CellKnowledgeItem>),
    /// Waterline Knowledge.
    WaterlineKnowledge(Vec<WaterlineKnowledgeEntry>),
    /// Fragment Knowledge.
    FragmentKnowledge(Vec<FragmentKnowledgeEntry>),
    /// Content Tag Knowledge.
    ContentTagKnowledge(Vec<ContentTagKnowledgeEntry>),
    /// Version Token Knowledge (0x8C payload).
    VersionTokenKnowledge(Bytes),
    /// Unknown kind: raw bytes up to the 0x44 end.
    #[serde(rename = "unknown")]
    Unknown {
        /// Kind GUID.
        guid: Guid,
        /// Raw bytes, re-encoded verbatim.
        raw: Bytes,
    },
}

/// Cell Knowledge content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum CellKnowledgeItem {
    /// Cell Knowledge Range (0x0F): serial numbers GUID:from..GUID:to.
    #[serde(rename = "CellKnowledgeRange")]
    Range {
        /// GUID.
        #[serde(rename = "GUID")]
        guid: Guid,
        /// From.
        #[serde(rename = "From", with = "crate::decode::json::dec")]
        #[schemars(schema_with = "crate::decode::json::schema::dec")]
        from: u64,
        /// To.
        #[serde(rename = "To", with = "crate::decode::json::dec")]
        #[schemars(schema_with = "crate::decode::json::schema::dec")]
        to: u64,
    },
    /// Cell Knowledge Entry (0x17).
    #[serde(rename = "CellKnowledgeEntry")]
    Entry(Option<SerialNumber>),
}

/// Waterline Knowledge Entry (0x04).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct WaterlineKnowledgeEntry {
    /// Cell Storage Extended GUID.
    #[serde(rename = "CellStorageExtendedGUID")]
    pub cell_storage: ExGuid,
    /// Waterline.
    #[serde(rename = "Waterline", with = "crate::decode::json::dec")]
    #[schemars(schema_with = "crate::decode::json::schema::dec")]
    pub waterline: u64,
    /// Reserved.
    #[serde(rename = "Reserved", with = "crate::decode::json::dec")]
    #[schemars(schema_with = "crate::decode::json::schema::dec")]
    pub reserved: u64,
}

/// Fragment Knowledge Entry (0x6C).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct FragmentKnowledgeEntry {
    /// Data element id.
    #[serde(rename = "ExtendedGUID")]
    pub data_element: ExGuid,
    /// Data element size.
    #[serde(rename = "DataElementSize", with = "crate::decode::json::quantity")]
    #[schemars(schema_with = "crate::decode::json::schema::quantity")]
    pub size: u64,
    /// Chunk start.
    #[serde(rename = "FileChunkStart", with = "crate::decode::json::quantity")]
    #[schemars(schema_with = "crate::decode::json::schema::quantity")]
    pub start: u64,
    /// Chunk length.
    #[serde(rename = "FileChunkLength", with = "crate::decode::json::quantity")]
    #[schemars(schema_with = "crate::decode::json::schema::quantity")]
    pub length: u64,
}

/// Content Tag Knowledge Entry (0x2E).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct ContentTagKnowledgeEntry {
    /// BLOB Heap Extended GUID.
    #[serde(rename = "BLOBHeapExtendedGUID")]
    pub blob_heap_id: ExGuid,
    /// Clock data.
    #[serde(rename = "ClockData")]
    pub clock_data: Bytes,
}

fn metadata_json<S: Serializer>(v: &Option<Vec<u64>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => crate::decode::json::quantity_vec::serialize(v, s),
        None => s.serialize_none(),
    }
}

fn metadata_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let q = crate::decode::json::schema::quantity_vec(g);
    schemars::json_schema!({ "anyOf": [q, {"type": "null"}] })
}
