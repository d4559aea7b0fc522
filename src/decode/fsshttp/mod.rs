//! MS-FSSHTTP: the cell storage web service (SOAP 1.1 over plain XML or MTOM/XOP).
//!
//! Specification: [MS-FSSHTTP] File Synchronization via SOAP over HTTP Protocol
//! (<https://learn.microsoft.com/openspecs/sharepoint_protocols/ms-fsshttp/>), sections
//! 2.1–2.3.3. This module recognises cell storage traffic, decodes request and response
//! envelopes into [`RequestEnvelope`] / [`ResponseEnvelope`] (joining each SubResponse
//! to its SubRequest by SubRequestToken), encodes them back, and renders a tree and one
//! summary phrase per subrequest.
//!
//! Cell payloads (FSSHTTPB, [MS-FSSHTTPB]) are exposed as bytes with their origin by
//! [`SubRequest::cell_payload`] / [`SubResponse::cell_payload`]; decoding them is left to
//! `crate::decode::fsshttpb`. MIME splitting lives in [`crate::decode::mtom`].
//!
//! Decoding never fails: whatever could not be decoded is listed in `diagnostics` with a
//! byte offset into the HTTP body; what decoded but is not named by the specification
//! is listed in `unknown`. No IO happens here.

mod decode;
mod encode;
pub mod model;
mod render;
pub mod values;
mod xml;

#[cfg(test)]
mod tests;

pub use decode::{decode_request, decode_response, MAX_DIAGNOSTICS, MAX_XML_LEN};
pub use encode::{encode_request, encode_response, EncodeOptions};
pub use model::*;
pub use render::{render_tree, summarize};
pub use values::*;
pub use xml::{invalid_attribute, MAX_ATTRIBUTES, MAX_BINDINGS, MAX_DEPTH, MAX_ELEMENTS};

/// SOAP 1.1 envelope namespace.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The FSSHTTP (WCF contract) namespace of every FSSHTTP element.
pub const TNS: &str = "http://schemas.microsoft.com/sharepoint/soap/";
/// The XOP namespace of `Include`.
pub const XOP_NS: &str = "http://www.w3.org/2004/08/xop/include";
/// The SOAPAction of cell storage requests, without quotes.
pub const SOAP_ACTION: &str =
    "http://schemas.microsoft.com/sharepoint/soap/ICellStorages/ExecuteCellStorageRequest";

/// Whether an HTTP request is MS-FSSHTTP traffic.
///
/// True for a `SOAPAction` ending in `ExecuteCellStorageRequest` (quoted or not), a URL
/// path ending in `cellstorage.svc` or `cellstorage.svc/CellStorageService` (any case),
/// `X-WOPI-Override: COBALT`, or a body prefix holding a `RequestCollection` /
/// `ResponseCollection` together with the FSSHTTP namespace. `method` is not
/// constrained beyond what these imply.
pub fn recognise(method: &str, url: &str, headers: &[(&str, &str)], body_prefix: &[u8]) -> bool {
    let _ = method;
    for (name, value) in headers {
        let v = value.trim().trim_matches('"');
        if name.eq_ignore_ascii_case("soapaction")
            && (v.ends_with("/ExecuteCellStorageRequest") || v == "ExecuteCellStorageRequest")
        {
            return true;
        }
        if name.eq_ignore_ascii_case("x-wopi-override") && v.eq_ignore_ascii_case("cobalt") {
            return true;
        }
    }
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('/');
    let lower = path.to_ascii_lowercase();
    if lower.ends_with("cellstorage.svc/cellstorageservice") || lower.ends_with("cellstorage.svc") {
        return true;
    }
    let finder = |needle: &[u8]| memchr::memmem::find(body_prefix, needle).is_some();
    (finder(b"RequestCollection") || finder(b"ResponseCollection")) && finder(TNS.as_bytes())
}
