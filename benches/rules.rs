//! What a matching protocol rule adds to one exchange of about 100 KiB (issue 19: at most
//! 1 ms). With a protocol rule configured, the proxy holds both bodies and then, on a
//! blocking thread, decodes the exchange once to decide the rule's filter
//! (`decode_recorded`, `Facts::of`, `Filter::decide`) and lets `rules::protocol::apply`
//! rewrite the response. This bench times that chain over a real pair: a Coauth join, a
//! ServerTime and a Cell download of a 100 KiB file in one MS-FSSHTTP request, answered
//! by the reference server and encoded (MTOM) by its encoder.
//!
//! Run: `cargo bench --bench rules`.
// criterion_group! expands to an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use synctap::decode::exchange::decode_recorded;
use synctap::decode::fsshttp::{
    self, decode_request, encode_request, CellPayload, CoauthRequestType, EncodeOptions,
    PayloadOrigin, SubRequestData, SubRequestType, SOAP_ACTION,
};
use synctap::decode::fsshttpb as b;
use synctap::filter::{Facts, Filter, Known};
use synctap::model::{Exchange, Headers, Request, Response};
use synctap::rules::protocol::{apply, Outcome, ProtocolAction};
use synctap::server::client::{query_changes_request, request_envelope, CellClient};
use synctap::server::{CellService, CellSettings, ManualClock, Store};

const ENDPOINT: &str = "https://h/sites/s/_vti_bin/cellstorage.svc/CellStorageService";
const FILE: &str = "https://h/sites/s/Shared%20Documents/a.docx";

/// The exchange: a join, a server time and a download of a 100 KiB file.
fn exchange() -> Exchange {
    let mut store = Store::new(None);
    // Not compressible, as a real .docx is not.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let content: Vec<u8> = (0..100 * 1024)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect();
    store.insert("a.docx", content, 0, "u");
    let mut svc = CellService::new(store, CellSettings::default(), ManualClock::new(0));
    let query = b::encode_request(&query_changes_request());
    let mut subs = vec![
        CellClient::sub(
            SubRequestType::Coauth,
            Some(SubRequestData {
                coauth_request_type: Some(CoauthRequestType::JoinCoauthoring),
                client_id: Some("A0000000-0000-4000-8000-00000000000A".to_owned()),
                schema_lock_id: Some("S".to_owned()),
                timeout: Some(3600),
                ..SubRequestData::default()
            }),
        ),
        CellClient::sub(SubRequestType::ServerTime, None),
        CellClient::sub(
            SubRequestType::Cell,
            Some(SubRequestData {
                client_id: Some("A0000000-0000-4000-8000-00000000000A".to_owned()),
                get_file_props: Some(true),
                binary_data_size: Some(query.len() as i64),
                payload: Some(CellPayload {
                    bytes: query.into(),
                    origin: PayloadOrigin::Inline,
                }),
                ..SubRequestData::default()
            }),
        ),
    ];
    for (i, s) in subs.iter_mut().enumerate() {
        s.sub_request_token = Some(i as u64 + 1);
    }
    let env = request_envelope(FILE, "corr-1".to_owned(), 1, subs);
    let (ct, body) = encode_request(&env, EncodeOptions::default());
    let answer = svc.handle(&decode_request(Some(&ct), &body), "https://h/sites/s", "u");
    let (rct, rbody) = fsshttp::encode_response(&answer, EncodeOptions::default());
    let request = Request::new(
        "POST",
        ENDPOINT,
        Headers::from(&[("Content-Type", ct.as_str()), ("SOAPAction", SOAP_ACTION)][..]),
        body,
    );
    let len = rbody.len().to_string();
    let response = Response::new(
        200,
        Headers::from(
            &[
                ("Content-Type", rct.as_str()),
                ("Content-Length", len.as_str()),
            ][..],
        ),
        rbody,
    );
    Exchange::http(1, request, Some(response))
}

fn action(text: &str) -> ProtocolAction {
    let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
    match ProtocolAction::parse(verb, arg) {
        Some(Ok(a)) => a,
        _ => panic!("{text} does not parse"),
    }
}

/// Decide the filter on the decoded exchange, then rewrite: the work a matching
/// protocol rule adds, beyond holding the bodies.
fn matched_rewrite(x: &Exchange, filter: &Filter, actions: &[ProtocolAction]) -> usize {
    let d = decode_recorded(x);
    let facts = Facts::of(x, &d);
    let known = Known {
        status: true,
        request: true,
        bodies: true,
    };
    assert_eq!(filter.decide(&facts, known, &mut |_| false), Some(true));
    let (Some(q), Some(r)) = (&x.request, &x.response) else {
        unreachable!("the bench exchange has both sides")
    };
    match apply(q, r, filter, actions) {
        Outcome::Rewritten { body, .. } => body.len(),
        Outcome::NotApplicable(why) => panic!("not applicable: {why}"),
    }
}

fn bench(c: &mut Criterion) {
    let x = exchange();
    let bytes = x.request.as_ref().map_or(0, |r| r.body.bytes.len())
        + x.response.as_ref().map_or(0, |r| r.body.bytes.len());
    assert!(bytes > 100 * 1024, "the exchange is {bytes} bytes");
    let mut g = c.benchmark_group("protocol_rule_100KiB");
    g.throughput(Throughput::Bytes(bytes as u64));
    for (name, filter, act) in [
        (
            "errorcode_on_coauth",
            "~t Coauth & ~client A0000000",
            "errorcode NumberOfCoauthorsReachedMax",
        ),
        (
            "cell_error_on_download",
            "~t QueryChanges",
            "cell-error CoherencyFailure",
        ),
    ] {
        let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{e}"));
        let a = vec![action(act)];
        g.bench_function(name, |bch| bch.iter(|| matched_rewrite(&x, &f, &a)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
