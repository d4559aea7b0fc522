//! Fuzz HAR import: arbitrary bytes as a HAR file. Nothing may panic and every exchange
//! must serialize.
//!
//! Input layout: the whole input is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::capture::har;

fuzz_target!(|data: &[u8]| {
    if let Ok((xs, _)) = har::import(data) {
        for x in &xs {
            let _ = serde_json::to_string(x);
        }
    }
});
