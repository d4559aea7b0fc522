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
