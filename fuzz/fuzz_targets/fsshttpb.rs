//! Fuzz target for the MS-FSSHTTPB decoder: requests, responses and OneNote alternative
//! packaging must never panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::decode::fsshttpb;

fuzz_target!(|data: &[u8]| {
    let request = fsshttpb::decode_request(data);
    let response = fsshttpb::decode_response(data, Some(&request));
    let _ = fsshttpb::summarize_request(&request);
    let _ = fsshttpb::summarize_response(&response);
    let _ = fsshttpb::render_request_tree(&request);
    let _ = fsshttpb::render_response_tree(&response);
    if let Ok(p) = fsshttpb::decode_packaging(data) {
        let _ = fsshttpb::extract_file(&p.data_element_package);
        let _ = fsshttpb::render_package_tree(&p.data_element_package);
    }
    let _ = fsshttpb::sniff(data);
    // The byte map: the same diagnostics as the plain decode, fields in order, no overlap.
    // The first byte picks a request or response preamble so the map is reached often.
    let preamble: &[u8] = match data.first() {
        Some(b) if b % 3 == 1 => &[0x0C, 0, 0x0B, 0, 0x9C, 0xCF, 0x29, 0xF3, 0x39, 0x94, 0x06, 0x9B],
        Some(b) if b % 3 == 2 => &[0x0C, 0, 0x0B, 0, 0x9D, 0xCF, 0x29, 0xF3, 0x39, 0x94, 0x06, 0x9B],
        _ => &[],
    };
    let framed = [preamble, data.get(1..).unwrap_or(&[])].concat();
    if let Some((fields, diagnostics)) = fsshttpb::fields(&framed) {
        let plain = match fsshttpb::sniff(&framed) {
            Some(fsshttpb::Kind::Request) => fsshttpb::decode_request(&framed).diagnostics,
            Some(fsshttpb::Kind::Response) => fsshttpb::decode_response(&framed, None).diagnostics,
            _ => fsshttpb::decode_packaging(&framed).map(|p| p.diagnostics).unwrap_or_default(),
        };
        assert_eq!(diagnostics, plain, "tracing changed the diagnostics");
        for w in fields.windows(2) {
            assert!(w[0].offset + w[0].len <= w[1].offset, "fields overlap: {w:?}");
        }
        let _ = fsshttpb::render_fields(&fields, &diagnostics, &framed);
    }
    // Whatever decoded cleanly must re-encode to something that decodes the same way.
    if request.diagnostics.is_empty() && request.unknown.is_empty() {
        let again = fsshttpb::decode_request(&fsshttpb::encode_request(&request));
        assert!(
            again.diagnostics.is_empty(),
            "re-encoded request failed: {:?}",
            again.diagnostics
        );
    }
});
