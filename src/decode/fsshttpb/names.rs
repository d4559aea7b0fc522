//! Spec constants and names: stream object types, GUIDs, flag bits and error codes of
//! [MS-FSSHTTPB] sections 2.2.1.5, 2.2.2 and 2.2.3.2.
//!
//! Spec: <https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-fsshttpb/f59fc37d-2232-4b14-baac-25f98e9e7b5a>

use super::cell_error::CellErrorCode;
use super::model::Guid;

/// Request signature 0x9B069439F329CF9C.
pub const REQUEST_SIGNATURE: u64 = 0x9B06_9439_F329_CF9C;
/// Response signature 0x9B069439F329CF9D.
pub const RESPONSE_SIGNATURE: u64 = 0x9B06_9439_F329_CF9D;

// Stream object types ([MS-FSSHTTPB] 2.2.1.5).
pub(crate) const DATA_ELEMENT: u16 = 0x01;
pub(crate) const OBJECT_DATA_BLOB: u16 = 0x02;
pub(crate) const EXCLUDED_DATA: u16 = 0x03;
pub(crate) const WATERLINE_ENTRY: u16 = 0x04;
pub(crate) const BLOB_DECLARATION: u16 = 0x05;
pub(crate) const DATA_ELEMENT_HASH: u16 = 0x06;
pub(crate) const STORAGE_MANIFEST_ROOT: u16 = 0x07;
pub(crate) const REVISION_MANIFEST_ROOT: u16 = 0x0A;
pub(crate) const CELL_MANIFEST_CURRENT: u16 = 0x0B;
pub(crate) const STORAGE_MANIFEST_SCHEMA: u16 = 0x0C;
pub(crate) const REVISION_MAPPING: u16 = 0x0D;
pub(crate) const CELL_MAPPING: u16 = 0x0E;
pub(crate) const CELL_KNOWLEDGE_RANGE: u16 = 0x0F;
pub(crate) const KNOWLEDGE: u16 = 0x10;
pub(crate) const MANIFEST_MAPPING: u16 = 0x11;
pub(crate) const CELL_KNOWLEDGE: u16 = 0x14;
pub(crate) const DATA_ELEMENT_PACKAGE: u16 = 0x15;
pub(crate) const OBJECT_DATA: u16 = 0x16;
pub(crate) const CELL_KNOWLEDGE_ENTRY: u16 = 0x17;
pub(crate) const OBJECT_DECLARATION: u16 = 0x18;
pub(crate) const OBJECT_GROUP_REFERENCES: u16 = 0x19;
pub(crate) const REVISION_MANIFEST: u16 = 0x1A;
pub(crate) const BLOB_REFERENCE: u16 = 0x1C;
pub(crate) const OBJECT_GROUP_DECLARATIONS: u16 = 0x1D;
pub(crate) const OBJECT_GROUP_DATA: u16 = 0x1E;
pub(crate) const LEAF_NODE: u16 = 0x1F;
pub(crate) const INTERMEDIATE_NODE: u16 = 0x20;
pub(crate) const SIGNATURE: u16 = 0x21;
pub(crate) const DATA_SIZE: u16 = 0x22;
pub(crate) const WATERLINE_KNOWLEDGE: u16 = 0x29;
pub(crate) const CONTENT_TAG_KNOWLEDGE: u16 = 0x2D;
pub(crate) const CONTENT_TAG_ENTRY: u16 = 0x2E;
pub(crate) const DATA_HASH: u16 = 0x2F;
pub(crate) const QUERY_CHANGES_VERSIONING: u16 = 0x30;
pub(crate) const REQUEST: u16 = 0x40;
pub(crate) const SUB_RESPONSE: u16 = 0x41;
pub(crate) const SUB_REQUEST: u16 = 0x42;
pub(crate) const READ_ACCESS_RESPONSE: u16 = 0x43;
pub(crate) const SPECIALIZED_KNOWLEDGE: u16 = 0x44;
pub(crate) const WRITE_ACCESS_RESPONSE: u16 = 0x46;
pub(crate) const QUERY_CHANGES_FILTER: u16 = 0x47;
pub(crate) const ERROR_WIN32: u16 = 0x49;
pub(crate) const ERROR_PROTOCOL: u16 = 0x4B;
pub(crate) const ERROR: u16 = 0x4D;
pub(crate) const ERROR_STRING: u16 = 0x4E;
pub(crate) const USER_AGENT_VERSION: u16 = 0x4F;
pub(crate) const FILTER_SCHEMA_SPECIFIC: u16 = 0x50;
pub(crate) const QUERY_CHANGES_REQUEST: u16 = 0x51;
pub(crate) const ERROR_HRESULT: u16 = 0x52;
pub(crate) const FILTER_DATA_ELEMENT_IDS: u16 = 0x54;
pub(crate) const USER_AGENT_GUID: u16 = 0x55;
pub(crate) const FILTER_DATA_ELEMENT_TYPE: u16 = 0x57;
pub(crate) const QUERY_CHANGES_DATA_CONSTRAINT: u16 = 0x59;
pub(crate) const PUT_CHANGES_REQUEST: u16 = 0x5A;
pub(crate) const QUERY_CHANGES_ARGUMENTS: u16 = 0x5B;
pub(crate) const FILTER_CELL_ID: u16 = 0x5C;
pub(crate) const USER_AGENT: u16 = 0x5D;
pub(crate) const QUERY_CHANGES_RESPONSE: u16 = 0x5F;
pub(crate) const FILTER_HIERARCHY: u16 = 0x60;
pub(crate) const RESPONSE: u16 = 0x62;
pub(crate) const ERROR_CELL: u16 = 0x66;
pub(crate) const FILTER_FLAGS: u16 = 0x68;
pub(crate) const DATA_ELEMENT_FRAGMENT: u16 = 0x6A;
pub(crate) const FRAGMENT_KNOWLEDGE: u16 = 0x6B;
pub(crate) const FRAGMENT_KNOWLEDGE_ENTRY: u16 = 0x6C;
pub(crate) const OBJECT_METADATA: u16 = 0x78;
pub(crate) const OBJECT_METADATA_DECLARATIONS: u16 = 0x79;
pub(crate) const ALTERNATIVE_PACKAGING: u16 = 0x7A;
pub(crate) const ALLOCATE_REQUEST: u16 = 0x80;
pub(crate) const ALLOCATE_RESPONSE: u16 = 0x81;
pub(crate) const TARGET_PARTITION_ID: u16 = 0x83;
pub(crate) const LOCK_ID: u16 = 0x85;
pub(crate) const ADDITIONAL_FLAGS: u16 = 0x86;
pub(crate) const PUT_CHANGES_RESPONSE: u16 = 0x87;
pub(crate) const REQUEST_HASHING_OPTIONS: u16 = 0x88;
pub(crate) const DIAGNOSTIC_OUTPUT: u16 = 0x89;
pub(crate) const DIAGNOSTIC_INPUT: u16 = 0x8A;
pub(crate) const USER_AGENT_CLIENT_PLATFORM: u16 = 0x8B;
pub(crate) const VERSION_TOKEN_KNOWLEDGE: u16 = 0x8C;
pub(crate) const CELL_ROUNDTRIP_OPTIONS: u16 = 0x8D;
pub(crate) const FILE_HASH: u16 = 0x8E;

/// Cell Knowledge GUID {327A35F6-0761-4414-9686-51E900667A4D}.
pub const CELL_KNOWLEDGE_GUID: Guid = Guid::from_u128(0x327A35F6_0761_4414_9686_51E900667A4D);
/// Waterline Knowledge GUID {3A76E90E-8032-4D0C-B9DD-F3C65029433E}.
pub const WATERLINE_KNOWLEDGE_GUID: Guid = Guid::from_u128(0x3A76E90E_8032_4D0C_B9DD_F3C65029433E);
/// Fragment Knowledge GUID {0ABE4F35-01DF-4134-A24A-7C79F0859844}.
pub const FRAGMENT_KNOWLEDGE_GUID: Guid = Guid::from_u128(0x0ABE4F35_01DF_4134_A24A_7C79F0859844);
/// Content Tag Knowledge GUID {10091F13-C882-40FB-9886-6533F934C21D}.
pub const CONTENT_TAG_KNOWLEDGE_GUID: Guid =
    Guid::from_u128(0x10091F13_C882_40FB_9886_6533F934C21D);
/// Version Token Knowledge GUID {BF12E2C1-E64F-4959-8282-73B9A24A7C44}.
pub const VERSION_TOKEN_KNOWLEDGE_GUID: Guid =
    Guid::from_u128(0xBF12E2C1_E64F_4959_8282_73B9A24A7C44);
/// Cell Error GUID {5A66A756-87CE-4290-A38B-C61C5BA05A67}.
pub const CELL_ERROR_GUID: Guid = Guid::from_u128(0x5A66A756_87CE_4290_A38B_C61C5BA05A67);
/// Protocol Error GUID {7AFEAEBF-033D-4828-9C31-3977AFE58249}.
pub const PROTOCOL_ERROR_GUID: Guid = Guid::from_u128(0x7AFEAEBF_033D_4828_9C31_3977AFE58249);
/// Win32 Error GUID {32C39011-6E39-46C4-AB78-DB41929D679E}.
pub const WIN32_ERROR_GUID: Guid = Guid::from_u128(0x32C39011_6E39_46C4_AB78_DB41929D679E);
/// HRESULT Error GUID {8454C8F2-E401-405A-A198-A10B6991B56E}.
pub const HRESULT_ERROR_GUID: Guid = Guid::from_u128(0x8454C8F2_E401_405A_A198_A10B6991B56E);
/// MS-FSSHTTPD schema GUID {0EB93394-571D-41E9-AAD3-880D92D31955}.
pub const FSSHTTPD_SCHEMA_GUID: Guid = Guid::from_u128(0x0EB93394_571D_41E9_AAD3_880D92D31955);
/// MS-FSSHTTPD root/cell GUID {84DEFAB9-AAA3-4A0D-A3A8-520C77AC7073}.
pub const FSSHTTPD_ROOT_GUID: Guid = Guid::from_u128(0x84DEFAB9_AAA3_4A0D_A3A8_520C77AC7073);
/// MS-FSSHTTPD second cell GUID {6F2A4665-42C8-46C7-BAB4-E28FDCE1E32B}.
pub const FSSHTTPD_CELL2_GUID: Guid = Guid::from_u128(0x6F2A4665_42C8_46C7_BAB4_E28FDCE1E32B);
/// MS-ONESTORE alternative packaging file format GUID {638DE92F-A6D4-4BC1-9A36-B3FC2511A5B7}.
pub const PACKAGING_FORMAT_GUID: Guid = Guid::from_u128(0x638DE92F_A6D4_4BC1_9A36_B3FC2511A5B7);

/// Spec name of a Request Type ([MS-FSSHTTPB] 2.2.1.6).
pub fn request_type_name(t: u64) -> &'static str {
    match t {
        1 => "QueryAccess",
        2 => "QueryChanges",
        5 => "PutChanges",
        11 => "AllocateExtendedGuidRange",
        _ => "Unknown",
    }
}

/// Declares a module writing a numbered enumeration as `{"name", "value"}` (see
/// [`crate::decode::json::named`]) with the name `$name` gives it.
macro_rules! named_json {
    ($($(#[$m:meta])* $module:ident => $name:ident,)*) => {$(
        $(#[$m])*
        pub(crate) mod $module {
            use serde::{Deserializer, Serializer};

            /// Writes the name and number.
            pub(crate) fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
                let name = super::$name(*v);
                crate::decode::json::named::serialize(*v, (name != "Unknown").then_some(name), s)
            }

            /// Reads the object or a bare number.
            pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
                crate::decode::json::named::deserialize(d)
            }
        }
    )*};
}

named_json! {
    /// A Request Type as `{"name", "value"}`.
    request_type_json => request_type_name,
    /// A Data Element Type as `{"name", "value"}`.
    data_element_type_json => data_element_type_name,
}

/// Spec name of a Data Element Type ([MS-FSSHTTPB] 2.2.1.12.1).
pub fn data_element_type_name(t: u64) -> &'static str {
    match t {
        1 => "StorageIndex",
        2 => "StorageManifest",
        3 => "CellManifest",
        4 => "RevisionManifest",
        5 => "ObjectGroup",
        6 => "DataElementFragment",
        10 => "ObjectDataBlob",
        _ => "Unknown",
    }
}

/// Name of a stream object type, for the tree renderer and diagnostics.
pub fn object_type_name(t: u16) -> &'static str {
    match t {
        0x01 => "DataElement",
        0x02 => "ObjectDataBlob",
        0x03 => "ObjectGroupObjectExcludedData",
        0x04 => "WaterlineKnowledgeEntry",
        0x05 => "ObjectGroupObjectBlobDataDeclaration",
        0x06 => "DataElementHash",
        0x07 => "StorageManifestRootDeclare",
        0x0A => "RevisionManifestRootDeclare",
        0x0B => "CellManifestCurrentRevision",
        0x0C => "StorageManifestSchemaGuid",
        0x0D => "StorageIndexRevisionMapping",
        0x0E => "StorageIndexCellMapping",
        0x0F => "CellKnowledgeRange",
        0x10 => "Knowledge",
        0x11 => "StorageIndexManifestMapping",
        0x14 => "CellKnowledge",
        0x15 => "DataElementPackage",
        0x16 => "ObjectGroupObjectData",
        0x17 => "CellKnowledgeEntry",
        0x18 => "ObjectGroupObjectDeclare",
        0x19 => "RevisionManifestObjectGroupReferences",
        0x1A => "RevisionManifest",
        0x1C => "ObjectGroupObjectDataBlobReference",
        0x1D => "ObjectGroupDeclarations",
        0x1E => "ObjectGroupData",
        0x1F => "LeafNodeObject",
        0x20 => "IntermediateNodeObject",
        0x21 => "SignatureObject",
        0x22 => "DataSizeObject",
        0x29 => "WaterlineKnowledge",
        0x2D => "ContentTagKnowledge",
        0x2E => "ContentTagKnowledgeEntry",
        0x2F => "DataHashObject",
        0x30 => "QueryChangesVersioning",
        0x40 => "Request",
        0x41 => "SubResponse",
        0x42 => "SubRequest",
        0x43 => "ReadAccessResponse",
        0x44 => "SpecializedKnowledge",
        0x46 => "WriteAccessResponse",
        0x47 => "QueryChangesFilter",
        0x49 => "ErrorWin32",
        0x4B => "ErrorProtocol",
        0x4D => "Error",
        0x4E => "ErrorStringSupplementalInfo",
        0x4F => "UserAgentVersion",
        0x50 => "QueryChangesFilterSchemaSpecific",
        0x51 => "QueryChangesRequest",
        0x52 => "ErrorHresult",
        0x54 => "QueryChangesFilterDataElementIds",
        0x55 => "UserAgentGuid",
        0x57 => "QueryChangesFilterDataElementType",
        0x59 => "QueryChangesDataConstraint",
        0x5A => "PutChangesRequest",
        0x5B => "QueryChangesRequestArguments",
        0x5C => "QueryChangesFilterCellId",
        0x5D => "UserAgent",
        0x5F => "QueryChangesResponse",
        0x60 => "QueryChangesFilterHierarchy",
        0x62 => "Response",
        0x66 => "ErrorCell",
        0x68 => "QueryChangesFilterFlags",
        0x6A => "DataElementFragment",
        0x6B => "FragmentKnowledge",
        0x6C => "FragmentKnowledgeEntry",
        0x78 => "ObjectGroupMetadata",
        0x79 => "ObjectGroupMetadataDeclarations",
        0x7A => "AlternativePackaging",
        0x80 => "AllocateExtendedGuidRangeRequest",
        0x81 => "AllocateExtendedGuidRangeResponse",
        0x83 => "TargetPartitionId",
        0x85 => "PutChangesLockId",
        0x86 => "AdditionalFlags",
        0x87 => "PutChangesResponse",
        0x88 => "RequestHashingOptions",
        0x89 => "DiagnosticRequestOptionOutput",
        0x8A => "DiagnosticRequestOptionInput",
        0x8B => "UserAgentClientAndPlatform",
        0x8C => "VersionTokenKnowledge",
        0x8D => "CellRoundtripOptions",
        0x8E => "FileHash",
        _ => "Unknown",
    }
}

/// Spec name of a Cell Error code ([MS-FSSHTTPB] 2.2.3.2.1), `Unassigned` for a code the
/// specification does not assign.
pub fn cell_error_name(code: u32) -> &'static str {
    CellErrorCode::try_from(code).map_or("Unassigned", CellErrorCode::name)
}

/// Spec name of a Protocol Error code ([MS-FSSHTTPB] 2.2.3.2.2).
pub fn protocol_error_name(code: u32) -> &'static str {
    match code {
        1 => "UnknownError",
        50 => "EndOfStream",
        61 => "UnknownInternalError",
        108 => "InputStreamSchemaInvalid",
        142 => "StreamObjectInvalid",
        143 => "StreamObjectUnexpected",
        144 => "StreamObjectCompoundNestingError",
        145 => "StreamObjectSerializationError",
        _ => "UnspecifiedServerError",
    }
}

/// Names of the set bits of `flags`, from bit 0 upward; unnamed bits are reported as
/// `bitN` so nothing is hidden.
pub(crate) fn flag_names(flags: u64, names: &[&str]) -> Vec<String> {
    (0..64)
        .filter(|i| flags >> i & 1 == 1)
        .map(|i| match names.get(i) {
            Some(n) if !n.is_empty() => (*n).to_string(),
            _ => format!("bit{i}"),
        })
        .collect()
}

/// Hashing options flag byte (bits A..E).
pub(crate) const HASHING_FLAGS: &[&str] =
    &["", "", "HashesInsteadOfData", "ReturnDataElementHashes"];
/// Cell Roundtrip Options flag byte.
pub(crate) const ROUNDTRIP_FLAGS: &[&str] =
    &["RequestVersionTokenKnowledge", "NonGenericSchemaHint"];
/// Query Changes Request flag bytes (A..H then I).
pub(crate) const QUERY_CHANGES_FLAGS: &[&str] = &[
    "",
    "AllowFragments",
    "ExcludeObjectData",
    "IncludeFilteredOutDataElementsInKnowledge",
    "AllowFragments2",
    "RoundKnowledgeToWholeCellChanges",
    "ReturnFileHash",
    "CheckForFileExists",
    "UserContentEquivalentVersionOk",
];
/// Query Changes Request Arguments flag byte.
pub(crate) const ARGUMENT_FLAGS: &[&str] = &["IncludeStorageManifest", "IncludeCellChanges"];
/// Put Changes Request flag byte.
pub(crate) const PUT_CHANGES_FLAGS: &[&str] = &[
    "ImplyNullExpectedIfNoMapping",
    "Partial",
    "PartialLast",
    "FavorCoherencyFailureOverNotFound",
    "AbortRemainingPutChangesOnFailure",
    "MultiRequestPutHint",
    "ReturnCompleteKnowledgeIfPossible",
    "LastWriterWinsOnNextChange",
];
/// Put Changes Additional Flags.
pub(crate) const ADDITIONAL_FLAGS_NAMES: &[&str] = &[
    "ReturnAppliedStorageIndexIdEntries",
    "ReturnDataElementsAdded",
    "CheckForIdReuse",
    "CoherencyCheckOnlyAppliedIndexEntries",
    "FullFileReplacePut",
    "RequireStorageMappingsRooted",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_error_names() {
        assert_eq!(cell_error_name(10), "Unassigned");
        assert_eq!(cell_error_name(16), "ReferencedDataElementNotFound");
    }
}
