//! Fuzz target: MS-FSSHTTP request and response decoding must never panic, whatever the
//! body and content type, and decoded models must re-encode without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::decode::fsshttp::{self, EncodeOptions};

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("text/xml; charset=utf-8"),
    Some("multipart/related; type=\"application/xop+xml\"; start=\"<http://tempuri.org/0>\"; start-info=\"text/xml\"; boundary=\"uuid:b+id=1\""),
    Some("multipart/related; boundary=b"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ct = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let req = fsshttp::decode_request(ct, body);
    let resp = fsshttp::decode_response(ct, body, Some(&req));
    let _ = fsshttp::summarize(Some(&req), Some(&resp));
    let _ = fsshttp::render_tree(Some(&req), Some(&resp));
    let opts = EncodeOptions {
        mtom: selector & 0x80 != 0,
        cell_inline: selector & 0x40 != 0,
    };
    let _ = fsshttp::encode_request(&req, opts);
    let _ = fsshttp::encode_response(&resp, opts);
});
