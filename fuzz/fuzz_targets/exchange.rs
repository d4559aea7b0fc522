//! Fuzz target: a whole exchange through `decode::exchange`, the way `show`, `timeline`,
//! `check`, the UI and the reference server see it. The fuzzer picks the method, URL,
//! request and response Content-Type, Content-Encoding, SOAPAction and status, then both
//! bodies; nothing may panic.
//!
//! Input layout: one selector byte each for method, URL, content types, encoding and
//! status, then `req-body 0xFF resp-body`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::decode::exchange::{decode_exchange, Meta};

const METHODS: &[&str] = &[
    "POST", "GET", "PUT", "PROPFIND", "SEARCH", "LOCK", "UNLOCK", "PROPPATCH",
];
const URLS: &[&str] = &[
    "https://contoso.example/sites/team/_vti_bin/cellstorage.svc/CellStorageService",
    "https://contoso.sharepoint.com/_api/SPFileSync/sync/3fa6e3a5f1f84d2e9d4fbd8f0ba6a1d2/RootFolder?Filter=changes",
    "https://contoso.sharepoint.com/_api/SPFileSync/sync/3fa6e3a5f1f84d2e9d4fbd8f0ba6a1d2/upload",
    "https://contoso.example/sites/team/Shared%20Documents/Plan.docx",
    "https://contoso.example/sites/team/Shared%20Documents/",
    "https://contoso.example/wopi/files/1/contents",
    "http://[::1]:8080/%E2%82%AC/?a=%zz",
    "",
];
const CONTENT_TYPES: &[&str] = &[
    "",
    "text/xml; charset=utf-8",
    "multipart/related; type=\"application/xop+xml\"; start=\"<http://tempuri.org/0>\"; start-info=\"text/xml\"; boundary=\"uuid:b+id=1\"",
    "multipart/related; boundary=b",
    "application/web3s+xml",
    "application/json;odata=verbose",
    "application/octet-stream",
    "application/xml",
];
const ENCODINGS: &[&str] = &["", "gzip", "deflate", "br", "identity", "gzip, br", "x-bogus", "GZIP"];
const STATUSES: &[Option<u16>] = &[
    Some(200), Some(207), Some(423), Some(500), Some(401), Some(412), None, Some(204),
];

fuzz_target!(|data: &[u8]| {
    let Some((sel, rest)) = data.split_first_chunk::<5>() else {
        return;
    };
    let pick = |list_len: usize, b: u8| usize::from(b) % list_len;
    let method = METHODS[pick(METHODS.len(), sel[0])];
    let url = URLS[pick(URLS.len(), sel[1])];
    let req_ct = CONTENT_TYPES[pick(CONTENT_TYPES.len(), sel[2])];
    let resp_ct = CONTENT_TYPES[pick(CONTENT_TYPES.len(), sel[2] >> 3)];
    let req_enc = ENCODINGS[pick(ENCODINGS.len(), sel[3])];
    let resp_enc = ENCODINGS[pick(ENCODINGS.len(), sel[3] >> 3)];
    let status = STATUSES[pick(STATUSES.len(), sel[4])];
    let soap = sel[4] & 0x80 != 0;
    let (req_body, resp_body) = match rest.iter().position(|b| *b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let mut request_headers: Vec<(&str, &str)> = Vec::new();
    if !req_ct.is_empty() {
        request_headers.push(("Content-Type", req_ct));
    }
    if !req_enc.is_empty() {
        request_headers.push(("Content-Encoding", req_enc));
    }
    if soap {
        request_headers.push((
            "SOAPAction",
            "\"http://schemas.microsoft.com/sharepoint/soap/ICellStorages/ExecuteCellStorageRequest\"",
        ));
    }
    if sel[0] & 0x80 != 0 {
        request_headers.push(("Depth", "1"));
        request_headers.push(("If", "(<opaquelocktoken:1>)"));
    }
    let mut response_headers: Vec<(&str, &str)> = Vec::new();
    if status.is_some() {
        if !resp_ct.is_empty() {
            response_headers.push(("Content-Type", resp_ct));
        }
        if !resp_enc.is_empty() {
            response_headers.push(("Content-Encoding", resp_enc));
        }
    }
    let meta = Meta {
        method,
        url,
        request_headers: &request_headers,
        status,
        response_headers: &response_headers,
    };
    let d = decode_exchange(&meta, req_body, resp_body);
    let _ = serde_json::to_string(&d);
    let _ = d.client_id();
});
