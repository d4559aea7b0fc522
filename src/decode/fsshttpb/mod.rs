//! MS-FSSHTTPB binary messages (the payload of FSSHTTP Cell sub-requests), MS-FSSHTTPD
//! file chunking, and the MS-ONESTORE alternative packaging that stores an FSSHTTPB Data
//! Element Package in a OneNote file.
//!
//! Specs:
//! [MS-FSSHTTPB] <https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-fsshttpb/f59fc37d-2232-4b14-baac-25f98e9e7b5a>,
//! [MS-FSSHTTPD] <https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-fsshttpd/a8d1d44c-4a5b-4ab0-9adf-f5b69a3ac65c>,
//! [MS-ONESTORE] 2.8 <https://learn.microsoft.com/en-us/openspecs/office_file_formats/ms-onestore/ae670cd2-4b38-4b24-82d1-87cfb2cc3725>.
//!
//! Everything here is a pure function over bytes: no IO. Decoders are lenient: they return
//! the model plus `diagnostics` (byte offsets into the payload) and never panic. The
//! encoder writes the same model back ([`encode_request`], [`encode_response`]), and
//! [`build_file_package`] lays out a whole file per MS-FSSHTTPD for a reference server.
//! SOAP/MTOM framing is left to the SOAP decoder, which hands Cell payloads to this module.

mod cell_error;
mod cursor;
mod decode;
mod encode;
mod fsshttpd;
mod model;
mod names;
mod packaging;
mod render;
#[cfg(test)]
mod tests;

pub use cell_error::CellErrorCode;
pub use encode::{cell_error, encode_package, encode_request, encode_response};
pub use fsshttpd::{
    build_file_package, build_put_changes_request, build_query_changes_response, extract_file,
    file_layout, FileChunk, FileLayout, FilePackageOptions,
};
pub use model::*;
pub use names::{
    cell_error_name, data_element_type_name, object_type_name, protocol_error_name,
    request_type_name, CELL_ERROR_GUID, CELL_KNOWLEDGE_GUID, CONTENT_TAG_KNOWLEDGE_GUID,
    FRAGMENT_KNOWLEDGE_GUID, FSSHTTPD_CELL2_GUID, FSSHTTPD_ROOT_GUID, FSSHTTPD_SCHEMA_GUID,
    HRESULT_ERROR_GUID, PACKAGING_FORMAT_GUID, PROTOCOL_ERROR_GUID, REQUEST_SIGNATURE,
    RESPONSE_SIGNATURE, VERSION_TOKEN_KNOWLEDGE_GUID, WATERLINE_KNOWLEDGE_GUID, WIN32_ERROR_GUID,
};
pub use packaging::{PackagedFile, PackagingRefusal, ONETOC2_FILE_TYPE, ONE_FILE_TYPE};
pub use render::{
    render_fields, render_package_tree, render_request_tree, render_response_tree,
    summarize_package, summarize_request, summarize_response,
};

use serde::{Deserialize, Serialize};

/// What [`sniff`] recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Kind {
    /// An FSSHTTPB request (signature 0x9B069439F329CF9C).
    Request,
    /// An FSSHTTPB response (signature 0x9B069439F329CF9D).
    Response,
    /// A OneNote file in MS-FSSHTTPB alternative packaging.
    Packaging,
    /// A OneNote file in the desktop revision-store format (not decodable here).
    RevisionStore,
}

/// Decodes an FSSHTTPB request payload ([MS-FSSHTTPB] 2.2.2). Never panics; problems are
/// listed in `diagnostics` with offsets into `payload`.
pub fn decode_request(payload: &[u8]) -> FsshttpbRequest {
    decode::request(payload, None)
}

/// Decodes an FSSHTTPB response payload ([MS-FSSHTTPB] 2.2.3). When `request` is given,
/// each sub-response gets a copy of the sub-request with the same Request ID.
pub fn decode_response(payload: &[u8], request: Option<&FsshttpbRequest>) -> FsshttpbResponse {
    decode::response(payload, request, None)
}

/// Decodes a OneNote file in alternative packaging ([MS-ONESTORE] 2.8.1).
///
/// # Errors
/// [`PackagingRefusal::RevisionStore`] for the older desktop format and
/// [`PackagingRefusal::NotPackaging`] for anything else that is not alternative packaging.
/// Damage inside a packaging file is reported in its `diagnostics`, not as an error.
pub fn decode_packaging(file: &[u8]) -> Result<PackagedFile, PackagingRefusal> {
    packaging::decode(file, None)
}

/// Every field of an FSSHTTPB request or response, or of a OneNote packaging file: which
/// bytes, what they are, and the stream object nesting, in byte order (what Wireshark's
/// byte pane shows). `None` when [`sniff`] does not recognise the bytes or the file is in
/// the revision-store format. Bytes the decoder could not place are absent; the returned
/// diagnostics (the same as the decoder's) say why.
pub fn fields(bytes: &[u8]) -> Option<(Vec<Field>, Vec<crate::decode::Diagnostic>)> {
    let trace = cursor::Trace::default();
    let diagnostics = match sniff(bytes)? {
        Kind::Request => decode::request(bytes, Some(trace.clone())).diagnostics,
        Kind::Response => decode::response(bytes, None, Some(trace.clone())).diagnostics,
        Kind::Packaging => {
            packaging::decode(bytes, Some(trace.clone()))
                .ok()?
                .diagnostics
        }
        Kind::RevisionStore => return None,
    };
    let mut fields = trace.take();
    fields.sort_by_key(|f| f.offset);
    nest(&mut fields);
    Some((fields, diagnostics))
}

/// Sets each field's `depth` from the start and end headers around it: a compound object
/// lasts until its end header, any other object for its declared length.
fn nest(fields: &mut [Field]) {
    // For each open object: `Some(end offset)` when it has no end header.
    let mut open: Vec<Option<usize>> = Vec::new();
    for f in fields {
        while let Some(Some(end)) = open.last() {
            if f.offset < *end {
                break;
            }
            open.pop();
        }
        if f.kind == FieldKind::End {
            open.pop();
        }
        f.depth = open.len();
        if let FieldKind::Start { compound, length } = f.kind {
            open.push(if compound {
                None
            } else {
                Some(
                    f.offset
                        .saturating_add(f.len)
                        .saturating_add(usize::try_from(length).unwrap_or(usize::MAX)),
                )
            });
        }
    }
}

/// Recognises an FSSHTTPB request or response (protocol version 12..=14, minimum version
/// 11, signature) or a OneNote file (alternative packaging or revision store).
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if let (Some(v), Some(m), Some(sig)) = (
        bytes.get(0..2),
        bytes.get(2..4),
        bytes.get(4..12).and_then(|s| <[u8; 8]>::try_from(s).ok()),
    ) {
        let v = u16::from_le_bytes([v[0], v[1]]);
        let m = u16::from_le_bytes([m[0], m[1]]);
        let sig = u64::from_le_bytes(sig);
        if (12..=14).contains(&v) && m == 11 {
            if sig == REQUEST_SIGNATURE {
                return Some(Kind::Request);
            }
            if sig == RESPONSE_SIGNATURE {
                return Some(Kind::Response);
            }
        }
    }
    let [file_type, _, _, format] = packaging::header_guids(bytes)?;
    if format == PACKAGING_FORMAT_GUID {
        Some(Kind::Packaging)
    } else if format == packaging::REVISION_STORE_FORMAT
        || file_type == ONE_FILE_TYPE
        || file_type == ONETOC2_FILE_TYPE
    {
        Some(Kind::RevisionStore)
    } else {
        None
    }
}
