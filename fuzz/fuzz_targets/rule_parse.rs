//! Fuzz target: proxy rules (`synctap proxy --rule`, `--rules FILE`). Parsing a rule or
//! a rules file must never panic or overflow the stack, and a rejected rule's error must
//! point inside the rule text (or just after it) and name its line in a file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::rules::{parse_rule, parse_rules};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = parse_rule(&text) {
        assert!(
            (1..=text.chars().count() + 1).contains(&e.column),
            "column {} outside {text:?}",
            e.column
        );
        let _ = e.to_string();
    }
    if let Err(e) = parse_rules(&text) {
        let line = e.line.unwrap_or(0);
        assert!((1..=text.lines().count()).contains(&line), "line {line}");
        let _ = e.to_string();
    }
});
