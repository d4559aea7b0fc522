//! Fuzz target: filter expressions (`show --filter`, `export --filter`, the UI's `/`).
//! Parsing must never panic or overflow the stack, a rejected expression's error must
//! point inside the expression (or just after it), and a parsed filter must evaluate on
//! any exchange without panicking.
//!
//! Input layout: `expression 0x00 body`; the body becomes the request and response body
//! of an exchange the filter is also evaluated on (for `~b`). The other exchanges are the
//! hostile capture `testdata/captures/terminal_escapes.jsonl`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use synctap::capture::Record;
use synctap::decode::exchange::{decode_recorded, DecodedExchange};
use synctap::filter::Filter;
use synctap::model::{Body, Exchange};

const CAPTURE: &str = include_str!("../../testdata/captures/terminal_escapes.jsonl");

fn exchanges() -> &'static [(Exchange, DecodedExchange)] {
    static XS: OnceLock<Vec<(Exchange, DecodedExchange)>> = OnceLock::new();
    XS.get_or_init(|| {
        CAPTURE
            .lines()
            .filter_map(|l| match serde_json::from_str::<Record>(l) {
                Ok(Record::Exchange(x)) => Some(*x),
                _ => None,
            })
            .map(|x| {
                let d = decode_recorded(&x);
                (x, d)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let (expr, body) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let expr = String::from_utf8_lossy(expr);
    match Filter::parse(&expr) {
        Ok(f) => {
            for (x, d) in exchanges() {
                let _ = f.matches(x, d);
            }
            if let Some((x, _)) = exchanges().first() {
                let mut x = x.clone();
                if let Some(r) = x.request.as_mut() {
                    r.body = Body::complete(body.to_vec());
                }
                if let Some(r) = x.response.as_mut() {
                    r.body = Body::complete(body.to_vec());
                }
                let d = decode_recorded(&x);
                let _ = f.matches(&x, &d);
            }
        }
        Err(e) => {
            assert!(
                (1..=expr.len() + 1).contains(&e.column),
                "column {} outside {expr:?}",
                e.column
            );
            let _ = e.to_string();
        }
    }
});
