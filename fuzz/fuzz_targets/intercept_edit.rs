//! Fuzz target: a paused message as the text `$EDITOR` gets (`proxy --ui`, key `e`) and
//! back. Writing the text (SOAP pretty-printed, MTOM root part found) and reading any
//! edited text back must never panic, and an error's line must lie inside the text (or
//! just past it).
//!
//! Input layout: `side content-type 0x00 body 0x00 edited-text`; side `r` is the
//! response, anything else the request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::model::{Body, Exchange, Headers, InterceptSide, Request, Response};

fuzz_target!(|data: &[u8]| {
    let Some((&side, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |b| *b == 0);
    let ct = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default().to_vec();
    let edited = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let side = if side == b'r' {
        InterceptSide::Response
    } else {
        InterceptSide::Request
    };
    let headers = Headers(vec![("Content-Type".into(), ct)]);
    let Ok(mut x) = serde_json::from_str::<Exchange>(
        r#"{"id":1,"kind":"http","connection_id":1,"client_addr":"127.0.0.1:1","mode":"reverse","server":"h:443","timings":{"start":"2026-01-01T00:00:00Z"}}"#,
    ) else {
        return;
    };
    x.request = Some(Request {
        method: "POST".into(),
        url: "https://h/_vti_bin/cellstorage.svc/CellStorageService".into(),
        headers: headers.clone(),
        body: Body::complete(body.clone()),
    });
    x.response = Some(Response {
        status: 200,
        reason: "OK".into(),
        headers,
        body: Body::complete(body),
    });
    let (text, unchanged, back) = synctap::tui::edit_round_trip(side, &x, &edited);
    if let Err(e) = &back {
        assert!(e.0 >= 1 && e.0 <= edited.lines().count() + 2, "{e:?}");
    }
    if let Err(e) = &unchanged {
        assert!(e.0 >= 1 && e.0 <= text.lines().count() + 2, "{e:?}");
    }
});
