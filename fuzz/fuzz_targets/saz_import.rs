//! Fuzz SAZ import: arbitrary bytes as a `.saz` file (ZIP members, local headers only
//! when cut short, `_m.xml` XML, raw HTTP messages). Nothing may panic, every exchange
//! must serialize, and the report must render without control characters.
//!
//! Input layout: the whole input is the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::capture::import::ImportOptions;
use synctap::capture::saz;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("synctap-fuzz-saz-{}", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(file) = std::fs::File::open(&path) else {
        return;
    };
    let opts = ImportOptions { body_limit: 1 << 16 };
    let mut sink = |x: synctap::model::Exchange| {
        let _ = serde_json::to_string(&x);
        Ok(())
    };
    if let Ok(report) = saz::import(file, &opts, 1, &mut sink, &|_, _| {}) {
        for line in report.lines() {
            assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        }
    }
});
