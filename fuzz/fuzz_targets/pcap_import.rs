//! Fuzz pcap/pcapng import: arbitrary bytes as a packet capture (link layers, IP, TCP
//! reassembly, HTTP/1.x framing, TLS ClientHellos). Nothing may panic, every exchange
//! must serialize, and the report must render without control characters.
//!
//! Input layout: the whole input is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::capture::import::ImportOptions;
use synctap::capture::pcap;

fuzz_target!(|data: &[u8]| {
    let opts = ImportOptions { body_limit: 1 << 16 };
    let mut sink = |x: synctap::model::Exchange| {
        let _ = serde_json::to_string(&x);
        Ok(())
    };
    let input = std::io::Cursor::new(data);
    if let Ok(report) = pcap::import(input, data.len() as u64, &opts, 1, &mut sink, &|_, _| {}) {
        for line in report.lines() {
            assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        }
    }
});
