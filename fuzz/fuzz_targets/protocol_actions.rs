//! Fuzz target: protocol actions (`synctap::rules::protocol::apply`) over arbitrary
//! request and response bytes must never panic, and whatever they rewrite must decode
//! again without a response diagnostic.
//!
//! Input layout: `ct action len:u32le request response`. `ct` picks the request (low
//! two bits) and response (next two bits) Content-Type ([`content_type`]) and bit 4 labels the response `Content-Encoding: gzip`;
//! `action` picks the filter (low nibble) and the action (high nibble); `len` is the
//! request body's length (the rest is the response body).
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::decode::exchange::{decode_exchange, Meta, Side};
use synctap::filter::Filter;
use synctap::model::{Body, Headers, Request, Response};
use synctap::rules::protocol::{apply, Outcome, ProtocolAction};

/// The Content-Type `sel` picks for `body`: plain XML, MTOM whose boundary is the
/// body's first line (so seeds from real messages split), MTOM with a fixed boundary,
/// or none.
fn content_type(sel: u8, body: &[u8]) -> String {
    match sel & 3 {
        0 => "text/xml; charset=utf-8".to_owned(),
        1 => {
            let line = body.split(|b| *b == b'\r').next().unwrap_or_default();
            let boundary = String::from_utf8_lossy(line.strip_prefix(b"--").unwrap_or(b"b"));
            format!("multipart/related; type=\"application/xop+xml\"; start=\"<http://tempuri.org/0>\"; start-info=\"text/xml\"; boundary=\"{boundary}\"")
        }
        2 => "multipart/related; boundary=b".to_owned(),
        _ => String::new(),
    }
}

const FILTERS: &[&str] = &[
    "~t Coauth",
    "~t Cell",
    "~t PutChanges",
    "~t QueryChanges",
    "~client A",
    "~m POST",
    "!~t ServerTime",
    "~file docx & ~t Cell",
];

const ACTIONS: &[(&str, &str)] = &[
    ("errorcode", "NumberOfCoauthorsReachedMax"),
    ("errorcode", "Success"),
    ("cell-error", "CoherencyFailure"),
    ("coauthstatus", "Coauthoring"),
    ("locktype", "ExclusiveLock"),
    ("fault", ""),
];

fuzz_target!(|data: &[u8]| {
    let [ct, act, a, b, c, d, rest @ ..] = data else {
        return;
    };
    let len = (u32::from_le_bytes([*a, *b, *c, *d]) as usize).min(rest.len());
    let (req_body, resp_body) = rest.split_at(len);
    let req_ct = content_type(*ct, req_body);
    let resp_ct = content_type(ct >> 2, resp_body);
    let mut resp_headers = vec![("Content-Type".to_owned(), resp_ct)];
    if ct & 0x10 != 0 {
        // A Content-Encoding the body does not have: decoding fails, nothing is rewritten.
        resp_headers.push(("Content-Encoding".to_owned(), "gzip".to_owned()));
    }
    let request = Request {
        method: "POST".to_owned(),
        url: "https://h/_vti_bin/cellstorage.svc/CellStorageService".to_owned(),
        headers: Headers(vec![("Content-Type".to_owned(), req_ct)]),
        body: Body::complete(req_body.to_vec()),
    };
    let response = Response {
        status: 200,
        reason: "OK".to_owned(),
        headers: Headers(resp_headers),
        body: Body::complete(resp_body.to_vec()),
    };
    let Ok(filter) = Filter::parse(FILTERS[usize::from(act & 0xF) % FILTERS.len()]) else {
        return;
    };
    let (verb, arg) = ACTIONS[usize::from(act >> 4) % ACTIONS.len()];
    let Some(Ok(action)) = ProtocolAction::parse(verb, arg) else {
        return;
    };
    if let Outcome::Rewritten { status, headers, body, .. } =
        apply(&request, &response, &filter, &[action])
    {
        let q = request.headers.pairs();
        let r = headers.pairs();
        let meta = Meta::request(&request.method, &request.url, &q).with_response(Some(status), &r);
        let d = decode_exchange(&meta, &request.body.bytes, &body);
        let bad: Vec<_> = d.diagnostics.iter().filter(|x| x.side == Side::Response).collect();
        assert!(bad.is_empty(), "rewritten response does not decode: {bad:?}");
    }
});
