//! SharePoint `SPFileSync` REST decoder (the OneDrive sync client's change enumeration,
//! policy, uploads and downloads).
//!
//! There is no Microsoft specification for SPFileSync; it is built
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

mod body;
mod encode;
mod model;
mod multipart;
mod summary;
#[cfg(test)]
mod tests;
mod token;
mod url;

use std::collections::BTreeMap;

pub use encode::{encode_folder, encode_items, encode_policy};
pub use model::*;
pub use summary::summarize;
pub use token::{dotnet_ticks_to_iso, parse_sync_token, quick_xor_hash};
pub use url::{normalise_guid, recognise};

use crate::decode::meta::Meta;
use crate::decode::Diagnostic;
use body::decode_body;
pub use body::MAX_ITEM_NESTING;

/// Decode one SPFileSync exchange. The response side is absent when the metadata has no
/// response status or header fields and the response body is empty.
pub fn decode(meta: &Meta<'_>, req_body: &[u8], resp_body: &[u8]) -> SpFileSyncExchange {
    let operation = recognise(meta.method, meta.url);
    let kind = operation.as_ref().map(|o| o.kind);
    let mut request = SyncMessage {
        headers: keep_headers(meta.request_headers),
        ..SyncMessage::default()
    };
    let req_ct = meta.request_header("Content-Type").map(str::trim);
    (request.body, request.diagnostics) = decode_body(req_ct, req_body, kind, false);
    let response = meta.has_response(resp_body).then(|| {
        let ct = meta.response_header("Content-Type").map(str::trim);
        let (body, diagnostics) = decode_body(ct, resp_body, kind, true);
        let headers = keep_headers(meta.response_headers);
        let sync_token_fields = headers.get("X-SyncToken").and_then(|t| parse_sync_token(t));
        SyncMessage {
            status: meta.status,
            headers,
            body,
            diagnostics,
            sync_token_fields,
        }
    });
    SpFileSyncExchange {
        method: meta.method.to_owned(),
        url: meta.url.to_owned(),
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

/// Decode a lone body by its Content-Type: a `multipart/related` upload, else `web3s` or
/// policy XML (used by `synctap decode`). `None` for an empty body.
pub fn decode_message(
    content_type: Option<&str>,
    body: &[u8],
) -> (Option<SyncBody>, Vec<Diagnostic>) {
    decode_body(
        content_type.or(Some("application/web3s+xml")),
        body,
        None,
        false,
    )
}

pub(super) fn keep_headers(headers: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (n, v) in headers {
        let n = n.trim();
        let known = KNOWN_HEADERS.iter().find(|k| k.eq_ignore_ascii_case(n));
        let name = match known {
            Some(k) => (*k).to_owned(),
            None if n.len() > 2 && n.is_char_boundary(2) && n[..2].eq_ignore_ascii_case("x-") => {
                n.to_owned()
            }
            None => continue,
        };
        out.entry(name).or_insert_with(|| v.trim().to_owned());
    }
    out
}
