//! Fuzz the capture reader: arbitrary bytes as capture lines (after a valid header) or
//! as a whole file, read streaming, following, and back with `read_at`. Nothing may
//! panic, and every warning must render without control characters.
//!
//! Input layout: the first byte picks the mode (even: a header line is put in front;
//! odd: the bytes are the whole file), the rest is the file.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use synctap::capture::format::CaptureHeader;
use synctap::capture::{CaptureReader, Record};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut file = Vec::new();
    if mode % 2 == 0 {
        let header = Record::Header(CaptureHeader {
            format: "synctap-capture".into(),
            version: 1,
            created: "2026-11-21T00:00:00Z".into(),
            writer: "fuzz".into(),
        });
        file = serde_json::to_vec(&header).unwrap_or_default();
        file.push(b'\n');
    }
    file.extend_from_slice(rest);
    // A small line limit, so the fuzzer reaches it.
    let max_line = 64 + usize::from(mode) * 16;

    let mut starts = Vec::new();
    if let Ok(r) = CaptureReader::new(Cursor::new(file.as_slice())) {
        let mut r = r.with_max_line(max_line);
        while let Ok(Some(e)) = r.next_entry() {
            let _ = serde_json::to_string(&e.exchange);
            starts.push((e.start, e.exchange.id));
        }
        for w in r.warnings() {
            let shown = w.to_string();
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
        }
        for (start, id) in starts {
            let _ = r.read_at(start, id);
        }
    }

    // Following: the same bytes, and a torn last line is never consumed.
    let mut f = CaptureReader::following(Cursor::new(file.as_slice())).with_max_line(max_line);
    for _ in 0..file.len() + 2 {
        match f.next_entry() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let _ = f.rewind();
    let _ = f.next_entry();
});
