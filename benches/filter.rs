//! A filter change in the UI over 100 000 exchanges. The UI's source decodes every exchange
//! once and keeps its row and its filter facts ([`synctap::filter::Facts`]); a new filter
//! is evaluated over those, reading no capture and running no decoder. This bench decodes
//! the fixture exchanges of testdata/ (MS-FSSHTTP pairs, WebDAV, SPFileSync) once, repeats
//! their facts up to 100 000, and times each of a set of filter changes over all of them.
//! `~b` needs bodies and is not in the set: the UI reads bodies back only for it.
//! Target: every filter change under 300 ms.
//!
//! Run: `cargo bench --bench filter` (a plain binary: one pass per filter is the
//! measurement). `FILTER_BENCH_EXCHANGES` overrides the count.
// A bench binary prints its figures.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::time::{Duration, Instant};

use synctap::decode::exchange::decode_recorded;
use synctap::filter::{Facts, Filter};
use synctap::model::{Body, Exchange, ExchangeKind, Headers, ProxyMode, Request, Response};

#[path = "../tests/util/fixture.rs"]
mod fixture;
use fixture::split_fixture;

const FILTERS: &[&str] = &[
    "~p webdav",
    "~p fsshttp & ~t coauth",
    "~e FileAlreadyLockedOnServer | ~e CellRequestFail",
    "~m POST & !~c 200",
    "~file docx | ~u _api/SPFileSync",
    "(~p fsshttpb | ~t GetLock) & !~client c7",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("FILTER_BENCH_EXCHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let samples = samples(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .as_path(),
    )?;
    let t0 = Instant::now();
    let kinds: Vec<Facts> = samples
        .iter()
        .map(|x| Facts::of(x, &decode_recorded(x)))
        .collect();
    let facts: Vec<Facts> = (0..n)
        .map(|i| {
            let mut f = kinds[i % kinds.len()].clone();
            f.connection_id = (i / kinds.len()) as u64 % 100;
            f
        })
        .collect();
    println!(
        "{n} exchanges ({} kinds) decoded and reduced in {:.2?}",
        kinds.len(),
        t0.elapsed()
    );
    let mut worst = Duration::ZERO;
    for text in FILTERS {
        let filter = Filter::parse(text).map_err(|e| format!("{text}: {e}"))?;
        let t = Instant::now();
        let shown = facts
            .iter()
            .filter(|f| filter.matches_facts(f, &mut |_| false))
            .count();
        let took = t.elapsed();
        worst = worst.max(took);
        println!("filter change {text:?}: {shown} of {n} rows in {took:.2?}");
    }
    println!("slowest filter change: {worst:.2?} (target < 300 ms)");
    Ok(())
}

/// The fixture exchanges: every MS-FSSHTTP request/response pair, WebDAV and SPFileSync.
fn samples(testdata: &Path) -> Result<Vec<Exchange>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    let cell = "https://contoso.example/sites/team/_vti_bin/cellstorage.svc/CellStorageService";
    for entry in std::fs::read_dir(testdata.join("fsshttp"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "request") {
            let (rh, rb) = fixture(&path)?;
            let resp = path.with_extension("response");
            let response = match resp.exists() {
                true => Some(fixture(&resp)?),
                false => None,
            };
            out.push(exchange("POST", cell, (rh, rb), response));
        }
    }
    let dav = "https://contoso.example/sites/team/Shared%20Documents/Plan.docx";
    let xml = |name: &str| -> Result<(Headers, Vec<u8>), std::io::Error> {
        let body = std::fs::read(testdata.join(name))?;
        Ok((header("Content-Type", "text/xml"), body))
    };
    out.push(exchange(
        "LOCK",
        dav,
        xml("webdav/lockinfo.xml")?,
        Some(xml("webdav/lock_response.xml")?),
    ));
    out.push(exchange(
        "PROPFIND",
        "https://contoso.example/sites/team/Shared%20Documents/",
        (Headers::default(), Vec::new()),
        Some(xml("webdav/manifest_207.xml")?),
    ));
    out.push(exchange(
        "GET",
        "https://contoso.example/sites/team/_api/SPFileSync/sync/items",
        (Headers::default(), Vec::new()),
        Some(xml("spfilesync/items.xml")?),
    ));
    Ok(out)
}

/// A fixture file: header lines, a blank line, the body.
fn fixture(path: &Path) -> Result<(Headers, Vec<u8>), Box<dyn std::error::Error>> {
    let raw = std::fs::read(path)?;
    Ok(split_fixture(&raw).ok_or_else(|| format!("{}: no blank line", path.display()))?)
}

fn header(name: &str, value: &str) -> Headers {
    Headers(vec![(name.to_owned(), value.to_owned())])
}

fn exchange(
    method: &str,
    url: &str,
    (req_headers, req_body): (Headers, Vec<u8>),
    response: Option<(Headers, Vec<u8>)>,
) -> Exchange {
    Exchange {
        id: 1,
        kind: ExchangeKind::Http,
        connection_id: 1,
        client_addr: "10.0.0.1:50000".to_owned(),
        mode: ProxyMode::Reverse,
        tls: None,
        server: "contoso.example:443".to_owned(),
        http_version: "HTTP/1.1".to_owned(),
        request: Some(Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: req_headers,
            body: Body::complete(req_body),
        }),
        response: response.map(|(headers, body)| Response {
            status: 200,
            reason: "OK".to_owned(),
            headers,
            body: Body::complete(body),
        }),
        tunnel: None,
        timings: Default::default(),
        error: None,
        imported: None,
        modified: None,
    }
}
