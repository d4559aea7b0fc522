//! Protocol actions over real request/response pairs: requests built and encoded as the
//! scripted client builds them, answered by the reference cell storage service and
//! encoded with its encoder, then rewritten and decoded again by the crate's decoders.

use std::io::Write as _;

use super::*;
use crate::decode::exchange::{decode_exchange, DecodedExchange};
use crate::decode::fsshttp::{
    decode_request, encode_request, CoauthRequestType, SubRequest, SubRequestData, SubRequestType,
    SOAP_ACTION,
};
use crate::model::Body;
use crate::server::client::{query_changes_request, request_envelope, CellClient};
use crate::server::store::{ManualClock, Store};
use crate::server::{CellService, CellSettings};

const ENDPOINT: &str = "https://h/sites/s/_vti_bin/cellstorage.svc/CellStorageService";
const FILE: &str = "https://h/sites/s/Shared%20Documents/a.docx";

fn service() -> CellService {
    let mut store = Store::new(None);
    store.insert("a.docx", b"hello, world".to_vec(), 0, "u");
    CellService::new(store, CellSettings::default(), ManualClock::new(0))
}

fn join(client: &str) -> SubRequest {
    CellClient::sub(
        SubRequestType::Coauth,
        Some(SubRequestData {
            coauth_request_type: Some(CoauthRequestType::JoinCoauthoring),
            client_id: Some(client.to_owned()),
            schema_lock_id: Some("S".to_owned()),
            timeout: Some(3600),
            ..SubRequestData::default()
        }),
    )
}

fn server_time() -> SubRequest {
    CellClient::sub(SubRequestType::ServerTime, None)
}

fn download(client: &str) -> SubRequest {
    let bytes = b::encode_request(&query_changes_request());
    CellClient::sub(
        SubRequestType::Cell,
        Some(SubRequestData {
            client_id: Some(client.to_owned()),
            get_file_props: Some(true),
            binary_data_size: Some(bytes.len() as i64),
            payload: Some(CellPayload {
                bytes: bytes.into(),
                origin: PayloadOrigin::Inline,
            }),
            ..SubRequestData::default()
        }),
    )
}

/// One message carrying `subs` (tokens 1, 2, ...), answered by `svc`.
fn exchange(svc: &mut CellService, mut subs: Vec<SubRequest>) -> (Request, Response) {
    for (i, s) in subs.iter_mut().enumerate() {
        s.sub_request_token = Some(i as u64 + 1);
    }
    let env = request_envelope(FILE, "corr-1".to_owned(), 1, subs);
    let (ct, body) = encode_request(&env, EncodeOptions::default());
    let decoded = decode_request(Some(&ct), &body);
    let answer = svc.handle(&decoded, "https://h/sites/s", "DOMAIN\\u");
    let (rct, rbody) = fsshttp::encode_response(&answer, EncodeOptions::default());
    let request = Request {
        method: "POST".to_owned(),
        url: ENDPOINT.to_owned(),
        headers: Headers(vec![
            ("Content-Type".to_owned(), ct),
            ("SOAPAction".to_owned(), format!("\"{SOAP_ACTION}\"")),
        ]),
        body: Body::complete(body),
    };
    let response = Response {
        status: 200,
        reason: "OK".to_owned(),
        headers: Headers(vec![
            ("Content-Type".to_owned(), rct),
            ("Content-Length".to_owned(), rbody.len().to_string()),
            ("Server".to_owned(), "synctap".to_owned()),
        ]),
        body: Body::complete(rbody),
    };
    (request, response)
}

fn rule(filter: &str, action: &str) -> (Filter, Vec<ProtocolAction>) {
    let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{e}"));
    let (verb, arg) = action.split_once(' ').unwrap_or((action, ""));
    let a = ProtocolAction::parse(verb, arg)
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("{action} does not parse"));
    (f, vec![a])
}

/// The rewritten response as a Response, decoded; asserts it decodes without a
/// diagnostic and that its framing headers agree with the body.
fn rewritten(request: &Request, out: Outcome) -> (Response, DecodedExchange, usize) {
    let Outcome::Rewritten {
        status,
        headers,
        body,
        changed,
    } = out
    else {
        panic!("not rewritten: {out:?}");
    };
    assert_eq!(
        headers.get("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(headers.get_all("content-length").count(), 1);
    assert!(headers.get("content-encoding").is_none());
    let response = Response {
        status,
        reason: String::new(),
        headers,
        body: Body::complete(body),
    };
    let d = decode(request, &response);
    assert!(d.diagnostics.is_empty(), "{:#?}", d.diagnostics);
    (response, d, changed)
}

fn decode(request: &Request, response: &Response) -> DecodedExchange {
    let q = request.headers.pairs();
    let r = response.headers.pairs();
    let meta =
        Meta::request(&request.method, &request.url, &q).with_response(Some(response.status), &r);
    decode_exchange(&meta, &request.body.bytes, &response.body.bytes)
}

/// The SubResponses of a decoded exchange with payload origins cleared (the byte ranges
/// of XOP parts move when the message is encoded again).
fn subs(d: &DecodedExchange) -> Vec<SubResponse> {
    d.fsshttp_response()
        .map(|r| {
            r.sub_responses()
                .map(|(_, s)| {
                    let mut s = s.clone();
                    if let Some(p) = s
                        .sub_response_data
                        .as_mut()
                        .and_then(|d| d.payload.as_mut())
                    {
                        p.origin = PayloadOrigin::Inline;
                    }
                    s
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn errorcode_changes_only_the_selected_clients_coauth_subresponse() {
    let mut svc = service();
    let (q, r) = exchange(
        &mut svc,
        vec![join("X"), server_time(), download("X"), join("Y")],
    );
    let before = subs(&decode(&q, &r));
    assert_eq!(before.len(), 4);
    let (f, a) = rule(
        "~t Coauth & ~client X",
        "errorcode NumberOfCoauthorsReachedMax",
    );
    let (resp, d, changed) = rewritten(&q, apply(&q, &r, &f, &a));
    assert_eq!(changed, 1);
    assert_eq!(resp.status, 200);
    let after = subs(&d);
    assert_eq!(after.len(), 4);
    let x = &after[0];
    assert_eq!(x.error_code, Some(ErrorCode::NumberOfCoauthorsReachedMax));
    assert_eq!(x.h_result.as_ref().map(|h| h.value), Some(E_FAIL));
    assert_eq!(
        x.h_result.as_ref().map(|h| h.raw.as_str()),
        Some("2147500037")
    );
    assert!(x.sub_response_data.is_none());
    assert_eq!(x.sub_request_token, Some(1));
    for (i, (a, b)) in after.iter().zip(&before).enumerate().skip(1) {
        assert_eq!(a, b, "SubResponse {i} must be untouched");
    }
    // The MTOM framing stayed: same boundary, the Cell payload still an XOP part.
    assert_eq!(
        resp.headers.get("content-type"),
        r.headers.get("content-type")
    );
    let env = d.fsshttp_response().and_then(|e| e.mtom.as_ref());
    assert!(env.is_some_and(|m| m.parts.len() == 2));
    assert_eq!(resp.headers.get("server"), Some("synctap"));
}

#[test]
fn selection_binds_type_client_and_file_per_subrequest() {
    let mut svc = service();
    let (q, r) = exchange(
        &mut svc,
        vec![join("X"), server_time(), download("X"), join("Y")],
    );
    let d = decode(&q, &r);
    let fx = d.fsshttp().expect("cell storage");
    let facts = Facts::of_parts(Some(&q), Some(&r), 7, &d);
    let pick = |expr: &str| -> Vec<u64> {
        let f = Filter::parse(expr).unwrap_or_else(|e| panic!("{e}"));
        f.selected_subrequests(&facts, fx, &mut |_| false)
            .iter()
            .filter_map(|s| s.token)
            .collect()
    };
    assert_eq!(pick("~t Coauth & ~client X"), [1]);
    assert_eq!(pick("~t JoinCoauthoring"), [1, 4]);
    assert_eq!(pick("~client Y"), [4]);
    // A SubRequest without a ClientID belongs to the exchange's (first) client.
    assert_eq!(pick("~client X"), [1, 2, 3]);
    assert_eq!(pick("~t QueryChanges"), [3]);
    assert_eq!(pick("~t Cell & ~file a\\.docx & ~c 200"), [3]);
    assert_eq!(pick("~file other\\.docx"), Vec::<u64>::new());
    assert_eq!(pick("!~t Coauth & ~m POST"), [2, 3]);
    assert_eq!(pick("~client c7 & ~t ServerTime"), [2]);
    // The FSSHTTPB sub-requests of a Cell SubRequest are selected one by one.
    let f = Filter::parse("~t QueryChanges").unwrap_or_else(|e| panic!("{e}"));
    let sel = f.selected_subrequests(&facts, fx, &mut |_| false);
    assert_eq!(sel.len(), 1);
    assert_eq!(sel[0].cell_request_ids, [1]);
    let f = Filter::parse("~t PutChanges").unwrap_or_else(|e| panic!("{e}"));
    assert!(f
        .selected_subrequests(&facts, fx, &mut |_| false)
        .is_empty());
}

#[test]
fn cell_error_fails_the_cell_subresponse_as_the_server_frames_it() {
    let mut svc = service();
    let (q, r) = exchange(&mut svc, vec![server_time(), download("X")]);
    let before = subs(&decode(&q, &r));
    let (f, a) = rule("~t QueryChanges", "cell-error CoherencyFailure");
    let (_, d, changed) = rewritten(&q, apply(&q, &r, &f, &a));
    assert_eq!(changed, 1);
    let after = subs(&d);
    assert_eq!(after[0], before[0]);
    let cell = &after[1];
    assert_eq!(cell.error_code, Some(ErrorCode::CellRequestFail));
    assert_eq!(cell.h_result.as_ref().map(|h| h.value), Some(E_FAIL));
    // The other SubResponseData attributes are kept.
    let (was, now) = (
        before[1].sub_response_data.clone().unwrap_or_default(),
        cell.sub_response_data.clone().unwrap_or_default(),
    );
    assert_eq!(was.etag, now.etag);
    assert!(now.etag.is_some());
    let fx = d.fsshttp().expect("cell storage");
    let fb = fx.cells[0].response.as_ref().expect("FSSHTTPB response");
    assert!(fb.diagnostics.is_empty());
    assert_eq!(fb.sub_responses.len(), 1);
    assert_eq!(fb.sub_responses[0].status & 1, 1);
    let name = fb.sub_responses[0]
        .error
        .as_ref()
        .and_then(|e| e.detail.name());
    assert_eq!(name, Some("CoherencyFailure"));
    assert!(fb.data_element_package.is_none());
    // The filter sees the injected error.
    let facts = Facts::of_parts(Some(&q), None, 0, &d);
    assert!(facts.error_codes.iter().any(|c| &**c == "CoherencyFailure"));
}

#[test]
fn actions_that_do_not_fit_say_why() {
    let mut svc = service();
    let (q, r) = exchange(&mut svc, vec![join("X"), server_time()]);
    let why = |filter: &str, action: &str| match apply(
        &q,
        &r,
        &rule(filter, action).0,
        &rule(filter, action).1,
    ) {
        Outcome::NotApplicable(w) => w,
        o @ Outcome::Rewritten { .. } => panic!("{filter} => {action} rewrote: {o:?}"),
    };
    assert!(why("~t Coauth", "cell-error CoherencyFailure")
        .contains("no selected SubRequest is a Cell SubRequest"));
    assert!(why("~t Cell", "errorcode Unknown").contains("selects no SubRequest"));
    // Not cell storage at all.
    let plain = Request {
        method: "GET".to_owned(),
        url: "https://h/x".to_owned(),
        headers: Headers::default(),
        body: Body::default(),
    };
    let resp = Response {
        status: 200,
        reason: "OK".to_owned(),
        headers: Headers::default(),
        body: Body::complete(b"hello".to_vec()),
    };
    let (f, a) = rule("~m GET", "errorcode Unknown");
    assert!(
        matches!(apply(&plain, &resp, &f, &a), Outcome::NotApplicable(w) if w.contains("not a cell storage"))
    );
    // A body that does not decode is left alone.
    let mut broken = r.clone();
    broken.body = Body::complete(r.body.bytes[..r.body.bytes.len() / 2].to_vec());
    let (f, a) = rule("~t Coauth", "errorcode Unknown");
    assert!(
        matches!(apply(&q, &broken, &f, &a), Outcome::NotApplicable(w) if w.contains("does not decode cleanly"))
    );
}

#[test]
fn coauthstatus_and_locktype_override_attributes() {
    let mut svc = service();
    let (q, r) = exchange(&mut svc, vec![join("X"), server_time()]);
    let before = subs(&decode(&q, &r));
    let f = Filter::parse("~t JoinCoauthoring").unwrap_or_else(|e| panic!("{e}"));
    let actions = [
        ProtocolAction::parse("coauthstatus", "coauthoring"),
        ProtocolAction::parse("locktype", "ExclusiveLock"),
    ]
    .into_iter()
    .flatten()
    .collect::<Result<Vec<_>, _>>()
    .unwrap_or_else(|e| panic!("{e}"));
    let (_, d, changed) = rewritten(&q, apply(&q, &r, &f, &actions));
    assert_eq!(changed, 1);
    let after = subs(&d);
    let data = after[0].sub_response_data.clone().unwrap_or_default();
    assert_eq!(data.coauth_status, Some(CoauthStatus::Coauthoring));
    assert_eq!(data.lock_type, Some(LockType::ExclusiveLock));
    assert_eq!(after[0].error_code, before[0].error_code);
    assert_eq!(after[1], before[1]);
    // On a SubResponse without data, the override does not fit.
    let (q2, r2) = exchange(&mut svc, vec![join("X")]);
    let (f, a) = rule("~t Coauth", "errorcode FileAlreadyLockedOnServer");
    let (resp, _, _) = rewritten(&q2, apply(&q2, &r2, &f, &a));
    let (f, a) = rule("~t Coauth", "coauthstatus Alone");
    assert!(matches!(
        apply(&q2, &resp, &f, &a),
        Outcome::NotApplicable(w) if w.contains("SubResponseData")
    ));
}

#[test]
fn fault_answers_500_with_a_soap_fault() {
    let mut svc = service();
    let (q, r) = exchange(&mut svc, vec![join("X")]);
    let (f, a) = rule("~t Coauth", "fault");
    let (resp, d, changed) = rewritten(&q, apply(&q, &r, &f, &a));
    assert_eq!((resp.status, changed), (500, 1));
    let fault = d
        .fsshttp_response()
        .and_then(|e| e.fault.clone())
        .expect("a fault");
    assert_eq!(fault.faultcode.as_deref(), Some("s:Server"));
    assert_eq!(fault.faultstring.as_deref(), Some(DEFAULT_FAULTSTRING));
    let (f, a) = rule("~t Coauth", "fault the farm is down");
    let (_, d, _) = rewritten(&q, apply(&q, &r, &f, &a));
    let text = d
        .fsshttp_response()
        .and_then(|e| e.fault.clone())
        .and_then(|f| f.faultstring);
    assert_eq!(text.as_deref(), Some("the farm is down"));
}

#[test]
fn a_compressed_response_is_sent_decoded() {
    let mut svc = service();
    let (q, mut r) = exchange(&mut svc, vec![join("X"), server_time()]);
    let before = subs(&decode(&q, &r));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&r.body.bytes).expect("gzip");
    r.body = Body::complete(gz.finish().expect("gzip"));
    r.headers
        .0
        .push(("Content-Encoding".to_owned(), "gzip".to_owned()));
    r.headers.0.retain(|(n, _)| n != "Content-Length");
    r.headers
        .0
        .push(("Transfer-Encoding".to_owned(), "chunked".to_owned()));
    let (f, a) = rule("~t ServerTime", "errorcode HighLevelExceptionThrown");
    let (resp, d, _) = rewritten(&q, apply(&q, &r, &f, &a));
    assert!(resp.headers.get("transfer-encoding").is_none());
    let after = subs(&d);
    assert_eq!(after[0], before[0]);
    assert_eq!(
        after[1].error_code,
        Some(ErrorCode::HighLevelExceptionThrown)
    );
}

#[test]
fn parse_names_what_it_expects() {
    assert_eq!(ProtocolAction::parse("respond", "200"), None);
    let err = |v: &str, a: &str| match ProtocolAction::parse(v, a) {
        Some(Err(e)) => e,
        other => panic!("{v} {a}: {other:?}"),
    };
    let e = err("errorcode", "NoSuchCode");
    assert!(
        e.contains("NumberOfCoauthorsReachedMax") && e.contains("\"NoSuchCode\""),
        "{e}"
    );
    assert!(err("cell-error", "").contains("CoherencyFailure"));
    assert!(err("coauthstatus", "Busy").contains("Alone, Coauthoring"));
    assert!(err("locktype", "x").contains("SchemaLock"));
    assert_eq!(
        ProtocolAction::parse("ErrorCode", " numberofcoauthorsreachedmax "),
        Some(Ok(ProtocolAction::ErrorCode(
            ErrorCode::NumberOfCoauthorsReachedMax
        )))
    );
    assert_eq!(
        ProtocolAction::parse("cell-error", "coherencyfailure"),
        Some(Ok(ProtocolAction::CellError(
            CellErrorCode::CoherencyFailure
        )))
    );
    assert_eq!(
        ProtocolAction::parse("fault", ""),
        Some(Ok(ProtocolAction::Fault(None)))
    );
    for name in ErrorCode::ALL {
        let a = ProtocolAction::parse("errorcode", name);
        assert_eq!(
            a,
            Some(Ok(ProtocolAction::ErrorCode(ErrorCode::from(*name))))
        );
        assert_eq!(
            a.and_then(Result::ok).map(|a| a.to_string()),
            Some(format!("errorcode {name}"))
        );
    }
}
