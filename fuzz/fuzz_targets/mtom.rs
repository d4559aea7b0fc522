//! Fuzz target: MIME splitting (`multipart/related`, RFC 2387) and XOP `cid:`
//! resolution must never panic, every part range must lie inside the body, and the MTOM
//! decode of an MS-FSSHTTP envelope must hold payload bytes linear in the body (each
//! `xop:Include` shares its part).
//!
//! Input layout: `content-type \n body`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::decode::{fsshttp, mtom};

fuzz_target!(|data: &[u8]| {
    let (ct, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let ct = String::from_utf8_lossy(ct);
    let _ = mtom::is_multipart_related(&ct);
    let _ = mtom::header_param(&ct, "boundary");
    if let Some(params) = mtom::parse_content_type(&ct) {
        let mp = mtom::split(body, &params);
        for p in &mp.parts {
            assert!(p.range.start <= p.range.end && p.range.end <= body.len(), "{p:?}");
            if let Some(id) = &p.content_id {
                let _ = mp.resolve_cid(&format!("cid:{id}"));
            }
        }
        let _ = mp.root_part();
        let _ = serde_json::to_string(&mp);
    }
    let _ = mtom::cid_from_href(&ct);
    let ct = (!ct.is_empty()).then_some(&*ct);
    let req = fsshttp::decode_request(ct, body);
    let mut seen = Vec::new();
    let mut held = 0usize;
    for (_, p) in req.cell_payloads() {
        if p.repeats(&mut seen, ()).is_none() {
            held += p.bytes.len();
        }
    }
    // Distinct parts hold at most the body; inline base64 at most 3/4 of the root part.
    assert!(held <= 2 * body.len(), "{held} payload bytes from {} body bytes", body.len());
    let resp = fsshttp::decode_response(ct, body, Some(&req));
    let _ = fsshttp::render_tree(Some(&req), Some(&resp));
});
