//! The timeline engine and `synctap timeline` / `synctap check` over scenario captures
//! built with the MS-FSSHTTP, MS-FSSHTTPB and WebDAV encoders and written with the
//! capture writer. Times are deterministic (2026-01-01 09:00:00 UTC plus offsets).

use std::path::Path;

use synctap::capture::{CaptureReader, CaptureWriter, Record};
use synctap::decode::exchange::decode_recorded;
use synctap::decode::fsshttp::{
    CellPayload, CoauthRequestType, CoauthStatus, EditorsTableRequestType, EncodeOptions,
    ErrorCode, ExclusiveLockRequestType, HResult, LockType, PayloadOrigin, SchemaLockRequestType,
    SubRequest, SubRequestData, SubRequestType, SubResponse, SubResponseData,
};
use synctap::decode::fsshttpb::{
    self, build_put_changes_request, build_query_changes_response, ErrorDetail, FilePackageOptions,
    FsshttpbResponse, ResponseError, CELL_ERROR_GUID,
};
use synctap::decode::webdav::{encode_lockdiscovery, ActiveLock, DavTimeout};
use synctap::model::{
    Body, Exchange, ExchangeKind, Headers, ProxyMode, Request, Response, Timings,
};
use synctap::timeline::{
    format_rfc3339, parse_rfc3339, render_text, EventKind, LaneKind, Severity, SpanEnd, Timeline,
    TimelineOptions, TimelineReport,
};

use crate::util::scenario::{
    cell_storage_post, cell_subrequest, client_subrequest, coauth, coauth_schema,
    put_changes_response, query_changes_request, request_envelope, response_envelope, success,
    ENDPOINT, SCHEMA, SOAP_ACTION,
};
use crate::util::TestResult;

const FILE: &str = "https://contoso.example/sites/team/Shared%20Documents/Plan.docx";
const OTHER_SCHEMA: &str = "11111111-2222-3333-4444-555555555555";
const TRANSITION: &str = "5c6e1f00-0000-4000-8000-000000000001";

/// A capture under construction.
struct Cap {
    xs: Vec<Exchange>,
    base: i64,
}

type Pair = (SubRequest, Option<SubResponse>);

impl Cap {
    fn new() -> Self {
        Self {
            xs: Vec::new(),
            base: parse_rfc3339("2026-01-01T09:00:00Z").unwrap_or(0),
        }
    }

    fn exchange(
        &mut self,
        at: i64,
        conn: u64,
        request: Request,
        response: Option<Response>,
    ) -> u64 {
        let id = self.xs.len() as u64 + 1;
        self.xs.push(Exchange {
            id,
            kind: ExchangeKind::Http,
            connection_id: conn,
            client_addr: format!("127.0.0.1:{}", 50000 + conn),
            mode: ProxyMode::Other,
            tls: None,
            server: "contoso.example:443".to_owned(),
            http_version: "HTTP/1.1".to_owned(),
            request: Some(request),
            response,
            tunnel: None,
            timings: Timings {
                start: format_rfc3339(self.base + at * 1000),
                ..Timings::default()
            },
            error: None,
            imported: None,
            modified: None,
        });
        id
    }

    /// One cell storage request for FILE with these subrequests and subresponses
    /// (tokens are numbered from 1 where not set).
    fn fss(&mut self, at: i64, conn: u64, pairs: Vec<Pair>) -> u64 {
        let mut subs = Vec::new();
        let mut resps = Vec::new();
        for (i, (mut q, r)) in pairs.into_iter().enumerate() {
            let token = i as u64 + 1;
            if q.sub_request_token.is_none() {
                q.sub_request_token = Some(token);
            }
            if let Some(mut r) = r {
                if r.sub_request_token.is_none() {
                    r.sub_request_token = Some(token);
                }
                resps.push(r);
            }
            subs.push(q);
        }
        self.fss_raw(at, conn, subs, resps)
    }

    /// `fss` with one subrequest and its answer.
    fn fss1(&mut self, at: i64, conn: u64, q: SubRequest, a: Option<SubResponse>) -> u64 {
        self.fss(at, conn, vec![(q, a)])
    }

    /// One MS-FSSHTTP coauthoring subrequest from `client` and its answer.
    fn coauth(
        &mut self,
        at: i64,
        conn: u64,
        t: CoauthRequestType,
        client: &str,
        timeout: Option<i64>,
        answer: Option<SubResponse>,
    ) -> u64 {
        self.fss1(at, conn, coauth(t, client, timeout), answer)
    }

    /// One exclusive lock subrequest for lock `id` and its answer.
    fn lock(
        &mut self,
        at: i64,
        conn: u64,
        t: ExclusiveLockRequestType,
        id: &str,
        timeout: Option<i64>,
        answer: Option<SubResponse>,
    ) -> u64 {
        self.fss1(at, conn, exclusive(t, id, None, timeout), answer)
    }

    fn fss_raw(
        &mut self,
        at: i64,
        conn: u64,
        subs: Vec<SubRequest>,
        resps: Vec<SubResponse>,
    ) -> u64 {
        let req = request_envelope(FILE, format!("{{c0ffee00-0000-4000-8000-{at:012}}}"), subs);
        let resp = response_envelope(FILE, resps);
        let (request, response) = cell_storage_post(&req, &resp, EncodeOptions::default());
        self.exchange(at, conn, request, Some(response))
    }

    #[allow(clippy::too_many_arguments)]
    fn dav(
        &mut self,
        at: i64,
        conn: u64,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        status: u16,
        resp_headers: &[(&str, &str)],
        resp_body: &[u8],
    ) -> u64 {
        let h = |v: &[(&str, &str)]| Headers::from(v);
        self.exchange(
            at,
            conn,
            Request {
                method: method.to_owned(),
                url: if path.starts_with("https://") {
                    path.to_owned()
                } else {
                    format!("https://dav.example{path}")
                },
                headers: h(headers),
                body: Body::complete(body.to_vec()),
            },
            Some(Response {
                status,
                reason: String::new(),
                headers: h(resp_headers),
                body: Body::complete(resp_body.to_vec()),
            }),
        )
    }

    /// A WebDAV LOCK of `path` (lockinfo body, `Timeout: Second-SECS` and `headers`)
    /// granted: lock `token` for `secs` in `Lock-Token` (then `answer_headers`) and in the
    /// lockdiscovery body.
    #[allow(clippy::too_many_arguments)]
    fn dav_lock(
        &mut self,
        at: i64,
        conn: u64,
        path: &str,
        token: &str,
        secs: u64,
        headers: &[(&str, &str)],
        answer_headers: &[(&str, &str)],
    ) -> u64 {
        let timeout = format!("Second-{secs}");
        let lock_token = format!("<{token}>");
        let mut q = vec![("Timeout", timeout.as_str())];
        q.extend_from_slice(headers);
        let mut a = vec![("Lock-Token", lock_token.as_str())];
        a.extend_from_slice(answer_headers);
        let body = lockdiscovery(token, secs);
        self.dav(
            at,
            conn,
            "LOCK",
            path,
            &q,
            LOCKINFO.as_bytes(),
            200,
            &a,
            &body,
        )
    }

    /// A WebDAV request answered `status` with no headers and no body.
    #[allow(clippy::too_many_arguments)]
    fn dav_bare(
        &mut self,
        at: i64,
        conn: u64,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        status: u16,
    ) -> u64 {
        self.dav(at, conn, method, path, headers, body, status, &[], b"")
    }

    /// One cell storage POST to `url` from a decoder fixture pair (header block, blank
    /// line, body), answered 200.
    fn fixture_exchange(&mut self, at: i64, conn: u64, url: &str, q: &[u8], a: &[u8]) -> u64 {
        let (mut qh, qb) = fixture(q);
        qh.0.push(("SOAPAction".to_owned(), SOAP_ACTION.to_owned()));
        let (ah, ab) = fixture(a);
        self.exchange(
            at,
            conn,
            Request {
                method: "POST".to_owned(),
                url: url.to_owned(),
                headers: qh,
                body: Body::complete(qb),
            },
            Some(Response {
                status: 200,
                reason: "OK".to_owned(),
                headers: ah,
                body: Body::complete(ab),
            }),
        )
    }

    /// Writes the capture with the capture writer, reads it back, folds it.
    fn fold(self) -> Result<TimelineReport, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("scenario.jsonl");
        write_capture(&path, self.xs)?;
        fold_file(&path, TimelineOptions::default())
    }
}

fn write_capture(path: &Path, xs: Vec<Exchange>) -> TestResult {
    let (writer, sink) = CaptureWriter::start(path)?;
    for x in xs {
        assert!(
            sink.try_send(Record::Exchange(Box::new(x)), 0),
            "writer behind"
        );
    }
    drop(sink);
    writer.finish();
    Ok(())
}

fn fold_file(
    path: &Path,
    opts: TimelineOptions,
) -> Result<TimelineReport, Box<dyn std::error::Error>> {
    let mut reader = CaptureReader::open(path)?;
    let mut t = Timeline::new(opts);
    while let Some(x) = reader.next_exchange()? {
        t.push(&x, &decode_recorded(&x));
    }
    Ok(t.report())
}

// ---------------------------------------------------------------------------------------
// Subrequest and subresponse builders.

fn data() -> SubRequestData {
    SubRequestData::default()
}

fn exclusive(
    t: ExclusiveLockRequestType,
    lock_id: &str,
    client: Option<&str>,
    timeout: Option<i64>,
) -> SubRequest {
    SubRequest {
        type_: Some(SubRequestType::ExclusiveLock),
        sub_request_data: Some(SubRequestData {
            exclusive_lock_request_type: Some(t),
            exclusive_lock_id: Some(lock_id.to_owned()),
            client_id: client.map(str::to_owned),
            schema_lock_id: client.map(|_| SCHEMA.to_owned()),
            timeout,
            ..data()
        }),
        ..SubRequest::default()
    }
}

fn cell(payload: Vec<u8>) -> SubRequest {
    cell_subrequest(payload.into(), Some(SCHEMA))
}

fn put_changes() -> SubRequest {
    let opts = FilePackageOptions::default();
    cell(fsshttpb::encode_request(&build_put_changes_request(
        b"hello, world",
        &opts,
    )))
}

fn query_changes() -> SubRequest {
    cell(fsshttpb::encode_request(&query_changes_request()))
}

fn ok() -> Option<SubResponse> {
    Some(success(SubResponseData::default()))
}

fn fail(code: &str) -> Option<SubResponse> {
    Some(SubResponse {
        error_code: Some(ErrorCode::from(code)),
        h_result: Some(HResult::from_u32(0x8000_4005)),
        error_message: (code == "FileAlreadyLockedOnServer").then(|| "CONTOSO\\bob".to_owned()),
        ..SubResponse::default()
    })
}

fn shared(status: &str) -> Option<SubResponse> {
    Some(success(SubResponseData {
        lock_type: Some(LockType::SchemaLock),
        coauth_status: Some(CoauthStatus::from(status)),
        transition_id: Some(TRANSITION.to_owned()),
        ..SubResponseData::default()
    }))
}

fn status(status: &str) -> Option<SubResponse> {
    Some(success(SubResponseData {
        coauth_status: Some(CoauthStatus::from(status)),
        ..SubResponseData::default()
    }))
}

fn cell_answer(code: &str, r: &FsshttpbResponse) -> Option<SubResponse> {
    Some(SubResponse {
        error_code: Some(ErrorCode::from(code)),
        h_result: Some(HResult::from_u32(0)),
        sub_response_data: Some(SubResponseData {
            etag: Some("\"{5C6E1F00-0000-4000-8000-000000000002},3\"".to_owned()),
            payload: Some(CellPayload {
                bytes: fsshttpb::encode_response(r).into(),
                origin: PayloadOrigin::Inline,
            }),
            ..SubResponseData::default()
        }),
        ..SubResponse::default()
    })
}

fn put_ok() -> Option<SubResponse> {
    cell_answer("Success", &put_changes_response())
}

fn coherency_failure() -> Option<SubResponse> {
    let mut r = put_changes_response();
    for s in &mut r.sub_responses {
        s.status = 1;
        s.error = Some(ResponseError {
            error_type: CELL_ERROR_GUID,
            detail: ErrorDetail::CellError {
                code: 12,
                name: "CoherencyFailure".to_owned(),
            },
            ..ResponseError::default()
        });
    }
    cell_answer("CellRequestFail", &r)
}

fn query_ok() -> Option<SubResponse> {
    cell_answer(
        "Success",
        &build_query_changes_response(b"hello, world!", &FilePackageOptions::default(), 1),
    )
}

// ---------------------------------------------------------------------------------------
// Assertions.

/// (start HH:MM:SS, end HH:MM:SS, how ended) of the spans of one lane of the only file.
fn spans(
    r: &TimelineReport,
    kind: LaneKind,
    holder: &str,
) -> Vec<(String, Option<String>, SpanEnd)> {
    let clock = |s: &str| s.get(11..19).unwrap_or(s).to_owned();
    r.files
        .iter()
        .flat_map(|f| f.lanes.iter())
        .filter(|l| l.kind == kind && l.holder == holder)
        .flat_map(|l| l.spans.iter())
        .map(|s| (clock(&s.start), s.end.as_deref().map(clock), s.ended))
        .collect()
}

fn span(start: &str, end: Option<&str>, ended: SpanEnd) -> (String, Option<String>, SpanEnd) {
    (start.to_owned(), end.map(str::to_owned), ended)
}

fn events(r: &TimelineReport, kind: LaneKind, holder: &str) -> Vec<(EventKind, u64, String)> {
    r.files
        .iter()
        .flat_map(|f| f.lanes.iter())
        .filter(|l| l.kind == kind && l.holder == holder)
        .flat_map(|l| l.events.iter())
        .map(|e| (e.kind, e.exchange, e.result.clone()))
        .collect()
}

fn rules(r: &TimelineReport) -> Vec<(Severity, String)> {
    r.findings
        .iter()
        .map(|f| (f.severity, f.rule.to_string()))
        .collect()
}

fn no_errors(r: &TimelineReport) {
    let errors: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

// ---------------------------------------------------------------------------------------
// Scenarios.

fn coauthoring_capture() -> Cap {
    use CoauthRequestType::*;
    let mut c = Cap::new();
    c.coauth(
        0,
        1,
        JoinCoauthoring,
        "client-1",
        Some(3600),
        shared("Alone"),
    );
    c.coauth(
        60,
        2,
        JoinCoauthoring,
        "client-2",
        Some(3600),
        shared("Coauthoring"),
    );
    c.coauth(90, 1, MarkTransitionComplete, "client-1", None, ok());
    c.coauth(
        120,
        3,
        JoinCoauthoring,
        "client-3",
        Some(3600),
        fail("NumberOfCoauthorsReachedMax"),
    );
    c.coauth(
        600,
        1,
        RefreshCoauthoring,
        "client-1",
        Some(3600),
        shared("Coauthoring"),
    );
    c.coauth(
        700,
        2,
        RefreshCoauthoring,
        "client-2",
        Some(3600),
        shared("Coauthoring"),
    );
    c.coauth(1200, 2, ExitCoauthoring, "client-2", None, ok());
    c.coauth(
        1300,
        1,
        GetCoauthoringStatus,
        "client-1",
        None,
        status("Alone"),
    );
    c.coauth(1500, 1, ExitCoauthoring, "client-1", None, ok());
    c
}

#[test]
fn two_clients_coauthor_and_a_third_is_refused() -> TestResult {
    let r = coauthoring_capture().fold()?;
    assert_eq!(r.exchanges, 9);
    assert_eq!(r.files.len(), 1);
    assert_eq!(
        spans(&r, LaneKind::Coauth, "client-1"),
        vec![span("09:00:00", Some("09:25:00"), SpanEnd::Released)]
    );
    assert_eq!(
        spans(&r, LaneKind::Coauth, "client-2"),
        vec![span("09:01:00", Some("09:20:00"), SpanEnd::Released)]
    );
    assert_eq!(spans(&r, LaneKind::Coauth, "client-3"), vec![]);
    assert_eq!(
        events(&r, LaneKind::Coauth, "client-3"),
        vec![(
            EventKind::Failed,
            4,
            "NumberOfCoauthorsReachedMax".to_owned()
        )]
    );
    let f = &r.files[0];
    let statuses: Vec<(&str, u64)> = f
        .status
        .iter()
        .map(|s| (s.status.as_str(), s.exchange))
        .collect();
    assert_eq!(
        statuses,
        vec![("Alone", 1), ("Coauthoring", 2), ("Alone", 8)]
    );
    let file_events: Vec<(EventKind, u64)> =
        f.events.iter().map(|e| (e.kind, e.exchange)).collect();
    assert_eq!(
        file_events,
        vec![
            (EventKind::Transition, 1),
            (EventKind::TransitionComplete, 3)
        ]
    );
    let lane1 = f
        .lanes
        .iter()
        .find(|l| l.holder == "client-1")
        .ok_or("lane")?;
    assert_eq!(lane1.spans[0].refreshes, 1);
    assert_eq!(lane1.schema_lock_id.as_deref(), Some(SCHEMA));
    assert_eq!(r.findings, vec![]);
    insta::assert_snapshot!("coauthoring", render_text(&r, None));
    Ok(())
}

#[test]
fn schema_lock_id_conflict_refused_and_granted() -> TestResult {
    use CoauthRequestType::*;
    // Well-behaved: the second SchemaLockID is refused, and the refusal is explained.
    let mut c = Cap::new();
    c.coauth(
        0,
        1,
        JoinCoauthoring,
        "client-1",
        Some(3600),
        shared("Alone"),
    );
    c.fss1(
        10,
        2,
        coauth_schema(JoinCoauthoring, "client-2", OTHER_SCHEMA, Some(3600)),
        fail("FileAlreadyLockedOnServer"),
    );
    let r = c.fold()?;
    assert_eq!(r.findings, vec![]);
    let lane = r.files[0]
        .lanes
        .iter()
        .find(|l| l.holder == "client-2")
        .ok_or("lane")?;
    let detail = lane.events[0].detail.clone().unwrap_or_default();
    assert!(detail.contains("ClientID client-1"), "{detail}");
    assert!(detail.contains(SCHEMA), "{detail}");

    // Misbehaving: the server grants it.
    let mut c = Cap::new();
    c.coauth(
        0,
        1,
        JoinCoauthoring,
        "client-1",
        Some(3600),
        shared("Alone"),
    );
    c.fss1(
        10,
        2,
        coauth_schema(JoinCoauthoring, "client-2", OTHER_SCHEMA, Some(3600)),
        shared("Coauthoring"),
    );
    let r = c.fold()?;
    assert_eq!(
        rules(&r),
        vec![(Severity::Error, "lock.schema-lock-id-conflict".to_owned())]
    );
    assert_eq!(r.findings[0].exchanges, vec![1, 2]);
    assert!(r.has_errors());
    Ok(())
}

fn exclusive_capture() -> Cap {
    use CoauthRequestType::*;
    use ExclusiveLockRequestType as X;
    let mut c = Cap::new();
    c.coauth(
        0,
        1,
        JoinCoauthoring,
        "client-1",
        Some(3600),
        shared("Alone"),
    );
    let mut conv = coauth(ConvertToExclusive, "client-1", Some(3600));
    if let Some(d) = &mut conv.sub_request_data {
        d.exclusive_lock_id = Some("{X-1}".to_owned());
        d.release_lock_on_conversion_to_exclusive_failure = Some(false);
    }
    c.fss1(30, 1, conv, ok());
    c.lock(600, 1, X::RefreshLock, "{X-1}", Some(3600), ok());
    c.lock(
        700,
        2,
        X::GetLock,
        "{Y-2}",
        Some(3600),
        fail("FileAlreadyLockedOnServer"),
    );
    c.lock(900, 1, X::ReleaseLock, "{X-1}", None, ok());
    c.lock(1000, 2, X::GetLock, "{Y-2}", Some(3600), ok());
    c.fss1(
        1100,
        2,
        exclusive(
            X::ConvertToSchemaJoinCoauth,
            "{Y-2}",
            Some("client-2"),
            Some(3600),
        ),
        shared("Alone"),
    );
    c.coauth(1200, 2, ExitCoauthoring, "client-2", None, ok());
    c
}

#[test]
fn exclusive_lock_get_refresh_release_and_conversions() -> TestResult {
    let r = exclusive_capture().fold()?;
    assert_eq!(
        spans(&r, LaneKind::Coauth, "client-1"),
        vec![span("09:00:00", Some("09:00:30"), SpanEnd::Converted)]
    );
    assert_eq!(
        spans(&r, LaneKind::ExclusiveLock, "{X-1}"),
        vec![span("09:00:30", Some("09:15:00"), SpanEnd::Released)]
    );
    assert_eq!(
        spans(&r, LaneKind::ExclusiveLock, "{Y-2}"),
        vec![span("09:16:40", Some("09:18:20"), SpanEnd::Converted)]
    );
    assert_eq!(
        spans(&r, LaneKind::Coauth, "client-2"),
        vec![span("09:18:20", Some("09:20:00"), SpanEnd::Released)]
    );
    let f = &r.files[0];
    let x1 = f.lanes.iter().find(|l| l.holder == "{X-1}").ok_or("lane")?;
    assert_eq!(x1.spans[0].refreshes, 1);
    assert_eq!(
        x1.spans[0]
            .converted_from
            .as_ref()
            .map(|l| l.holder.as_str()),
        Some("client-1")
    );
    let y2 = f.lanes.iter().find(|l| l.holder == "{Y-2}").ok_or("lane")?;
    assert_eq!(
        y2.spans[0].converted_to.as_ref().map(|l| l.kind),
        Some(LaneKind::Coauth)
    );
    assert_eq!(y2.events[0].kind, EventKind::Failed);
    let why = y2.events[0].detail.clone().unwrap_or_default();
    assert!(why.contains("exclusive lock {X-1}"), "{why}");
    assert_eq!(r.findings, vec![]);
    insta::assert_snapshot!("exclusive", render_text(&r, None));
    Ok(())
}

#[test]
fn an_unrefreshed_lock_expires_and_a_late_refresh_is_flagged() -> TestResult {
    use CoauthRequestType::*;
    let mut c = Cap::new();
    c.coauth(
        0,
        1,
        JoinCoauthoring,
        "client-1",
        Some(3600),
        shared("Alone"),
    );
    c.coauth(
        4000,
        1,
        RefreshCoauthoring,
        "client-1",
        Some(3600),
        shared("Alone"),
    );
    c.lock(
        4100,
        2,
        ExclusiveLockRequestType::GetLock,
        "{Z}",
        Some(600),
        fail("FileAlreadyLockedOnServer"),
    );
    let r = c.fold()?;
    assert_eq!(
        spans(&r, LaneKind::Coauth, "client-1"),
        vec![
            span("09:00:00", Some("10:00:00"), SpanEnd::Expired),
            span("10:06:40", None, SpanEnd::Open),
        ]
    );
    assert_eq!(
        rules(&r),
        vec![(Severity::Warning, "lock.refresh-after-expiry".to_owned())]
    );
    assert_eq!(r.findings[0].exchanges, vec![1, 2]);
    insta::assert_snapshot!("expiry", render_text(&r, None));
    Ok(())
}

fn coherency_capture(download: bool) -> Cap {
    use CoauthRequestType::*;
    let mut c = Cap::new();
    c.coauth(
        0,
        1,
        JoinCoauthoring,
        "client-1",
        Some(3600),
        shared("Alone"),
    );
    c.coauth(
        10,
        2,
        JoinCoauthoring,
        "client-2",
        Some(3600),
        shared("Coauthoring"),
    );
    c.fss1(20, 2, put_changes(), put_ok());
    c.fss1(30, 1, put_changes(), coherency_failure());
    if download {
        c.fss1(40, 1, query_changes(), query_ok());
    }
    c.fss1(50, 1, put_changes(), put_ok());
    c
}

#[test]
fn a_coherency_failure_chain_is_one_story() -> TestResult {
    let r = coherency_capture(true).fold()?;
    assert_eq!(
        events(&r, LaneKind::Content, "client-1"),
        vec![
            (EventKind::Upload, 4, "CoherencyFailure".to_owned()),
            (EventKind::Download, 5, "Success".to_owned()),
            (EventKind::CoherencyChain, 6, "Success".to_owned()),
            (EventKind::Upload, 6, "Success".to_owned()),
        ]
    );
    let lane = r.files[0]
        .lanes
        .iter()
        .find(|l| l.kind == LaneKind::Content && l.holder == "client-1")
        .ok_or("lane")?;
    assert_eq!(lane.events[2].related, vec![4, 5, 6]);
    let why = lane.events[0].detail.clone().unwrap_or_default();
    assert!(why.contains("client-2 uploaded in exchange 3"), "{why}");
    assert_eq!(r.findings, vec![]);
    insta::assert_snapshot!("coherency", render_text(&r, None));

    let r = coherency_capture(false).fold()?;
    assert_eq!(
        rules(&r),
        vec![(Severity::Warning, "cell.retry-without-download".to_owned())]
    );
    assert_eq!(r.findings[0].exchanges, vec![4, 5]);
    Ok(())
}

const LOCKINFO: &str = r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>alice</D:href></D:owner></D:lockinfo>"#;
const TOKEN: &str = "opaquelocktoken:e71d4fae-5dec-22d6-fea5-00a0c91e6be4";

fn lockdiscovery(token: &str, secs: u64) -> Vec<u8> {
    encode_lockdiscovery(&[ActiveLock {
        lockscope: Some("exclusive".to_owned()),
        locktype: Some("write".to_owned()),
        depth: Some("0".to_owned()),
        owner: Some("alice".to_owned()),
        timeout: Some(DavTimeout::Second(secs)),
        locktoken: Some(token.to_owned()),
        lockroot: Some("https://dav.example/docs/Plan.docx".to_owned()),
        ..ActiveLock::default()
    }])
}

fn webdav_capture() -> Cap {
    let mut c = Cap::new();
    let lt = format!("<{TOKEN}>");
    let if_h = format!("(<{TOKEN}>)");
    let xml = [("Content-Type", "text/xml; charset=utf-8")];
    c.dav_lock(
        0,
        1,
        "/docs/Plan.docx",
        TOKEN,
        3600,
        &[("Depth", "0")],
        &xml,
    );
    c.dav(
        600,
        1,
        "LOCK",
        "/docs/Plan.docx",
        &[("Timeout", "Second-3600"), ("If", if_h.as_str())],
        b"",
        200,
        &xml,
        &lockdiscovery(TOKEN, 3600),
    );
    let bob = LOCKINFO.replace("alice", "bob");
    c.dav_bare(
        700,
        2,
        "LOCK",
        "/docs/Plan.docx",
        &[("Timeout", "Second-3600")],
        bob.as_bytes(),
        423,
    );
    c.dav_bare(
        1800,
        1,
        "UNLOCK",
        "/docs/Plan.docx",
        &[("Lock-Token", lt.as_str())],
        b"",
        204,
    );
    c
}

#[test]
fn webdav_lock_refresh_unlock() -> TestResult {
    let r = webdav_capture().fold()?;
    assert_eq!(
        spans(&r, LaneKind::WebDavLock, TOKEN),
        vec![span("09:00:00", Some("09:30:00"), SpanEnd::Released)]
    );
    let f = &r.files[0];
    let lane = f.lanes.iter().find(|l| l.holder == TOKEN).ok_or("lane")?;
    assert_eq!(lane.spans[0].refreshes, 1);
    assert_eq!(lane.owner.as_deref(), Some("alice"));
    let refused: Vec<_> = f.lanes.iter().flat_map(|l| l.events.iter()).collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].result, "423");
    assert!(refused[0].detail.as_deref().unwrap_or("").contains(TOKEN));
    no_errors(&r);
    insta::assert_snapshot!("webdav", render_text(&r, None));
    Ok(())
}

/// Builds a capture with `steps`, folds it, and returns the rules found.
fn found(
    steps: impl FnOnce(&mut Cap),
) -> Result<Vec<(Severity, String)>, Box<dyn std::error::Error>> {
    let mut c = Cap::new();
    steps(&mut c);
    Ok(rules(&c.fold()?))
}

/// Steps that build one misbehaving exchange sequence.
type Steps = Box<dyn FnOnce(&mut Cap)>;

#[test]
fn a_misbehaving_server_breaks_each_rule_once() -> TestResult {
    use CoauthRequestType::*;
    use ExclusiveLockRequestType as X;
    use Severity::{Error, Info, Warning};
    let cases: Vec<(&str, Severity, Steps)> = vec![
        (
            "lock.shared-while-exclusive",
            Error,
            Box::new(|c: &mut Cap| {
                c.lock(0, 1, X::GetLock, "{X}", Some(3600), ok());
                c.coauth(
                    10,
                    2,
                    JoinCoauthoring,
                    "client-2",
                    Some(3600),
                    shared("Alone"),
                );
            }),
        ),
        (
            "lock.exclusive-while-shared",
            Error,
            Box::new(|c: &mut Cap| {
                c.coauth(
                    0,
                    1,
                    JoinCoauthoring,
                    "client-1",
                    Some(3600),
                    shared("Alone"),
                );
                c.lock(10, 2, X::GetLock, "{Y}", Some(3600), ok());
            }),
        ),
        (
            "lock.exclusive-conflict",
            Error,
            Box::new(|c: &mut Cap| {
                c.lock(0, 1, X::GetLock, "{X}", Some(3600), ok());
                c.lock(10, 2, X::GetLock, "{Y}", Some(3600), ok());
            }),
        ),
        (
            "coauth.status-alone",
            Error,
            Box::new(|c: &mut Cap| {
                c.coauth(
                    0,
                    1,
                    JoinCoauthoring,
                    "client-1",
                    Some(3600),
                    shared("Alone"),
                );
                c.coauth(
                    10,
                    2,
                    JoinCoauthoring,
                    "client-2",
                    Some(3600),
                    shared("Alone"),
                );
            }),
        ),
        (
            "coauth.status-coauthoring",
            Warning,
            Box::new(|c: &mut Cap| {
                c.coauth(
                    0,
                    1,
                    JoinCoauthoring,
                    "client-1",
                    Some(3600),
                    shared("Coauthoring"),
                );
            }),
        ),
        (
            "lock.refresh-after-expiry",
            Warning,
            Box::new(|c: &mut Cap| {
                c.lock(0, 1, X::GetLock, "{X}", Some(60), ok());
                c.lock(120, 1, X::RefreshLock, "{X}", Some(60), ok());
            }),
        ),
        (
            "lock.timeout-range",
            Warning,
            Box::new(|c: &mut Cap| {
                c.coauth(0, 1, JoinCoauthoring, "client-1", Some(30), shared("Alone"));
            }),
        ),
        (
            "lock.timeout-range",
            Info,
            Box::new(|c: &mut Cap| {
                c.coauth(
                    0,
                    1,
                    JoinCoauthoring,
                    "client-1",
                    Some(600),
                    shared("Alone"),
                );
            }),
        ),
        (
            "lock.release-without-lock",
            Error,
            Box::new(|c: &mut Cap| {
                c.lock(0, 1, X::GetLock, "{X}", Some(3600), ok());
                c.lock(10, 1, X::ReleaseLock, "{X}", None, ok());
                c.lock(20, 1, X::ReleaseLock, "{X}", None, ok());
            }),
        ),
        (
            "lock.release-without-lock",
            Warning,
            Box::new(|c: &mut Cap| {
                c.coauth(0, 1, ExitCoauthoring, "client-9", None, ok());
            }),
        ),
        (
            "lock.unexplained-refusal",
            Warning,
            Box::new(|c: &mut Cap| {
                c.coauth(
                    0,
                    1,
                    JoinCoauthoring,
                    "client-1",
                    Some(3600),
                    fail("FileAlreadyLockedOnServer"),
                );
            }),
        ),
        (
            "fsshttp.subresponse-without-subrequest",
            Error,
            Box::new(|c: &mut Cap| {
                let mut extra = status("Alone");
                if let Some(s) = &mut extra {
                    s.sub_request_token = Some(99);
                }
                let mut q = coauth(GetCoauthoringStatus, "client-1", None);
                q.sub_request_token = Some(1);
                let mut a = status("Alone");
                if let Some(s) = &mut a {
                    s.sub_request_token = Some(1);
                }
                c.fss_raw(0, 1, vec![q], a.into_iter().chain(extra).collect());
            }),
        ),
        (
            "fsshttp.subrequest-without-subresponse",
            Error,
            Box::new(|c: &mut Cap| {
                c.fss(
                    0,
                    1,
                    vec![
                        (
                            coauth(JoinCoauthoring, "client-1", Some(3600)),
                            shared("Alone"),
                        ),
                        (coauth(GetCoauthoringStatus, "client-1", None), None),
                    ],
                );
            }),
        ),
        (
            "fsshttp.unknown-error-code",
            Error,
            Box::new(|c: &mut Cap| {
                c.coauth(
                    0,
                    1,
                    JoinCoauthoring,
                    "client-1",
                    Some(3600),
                    fail("TotallyBogus"),
                );
            }),
        ),
        (
            "cell.retry-without-download",
            Warning,
            Box::new(|c: &mut Cap| {
                c.fss1(0, 1, put_changes(), coherency_failure());
                c.fss1(10, 1, put_changes(), put_ok());
            }),
        ),
        (
            "webdav.lock.conflict",
            Error,
            Box::new(|c: &mut Cap| {
                let other = "opaquelocktoken:00000000-0000-0000-0000-000000000002";
                c.dav_lock(0, 1, "/d.docx", TOKEN, 600, &[], &[]);
                c.dav_lock(10, 2, "/d.docx", other, 600, &[], &[]);
            }),
        ),
        (
            "webdav.lock.stale-token",
            Warning,
            Box::new(|c: &mut Cap| {
                let a = format!("<{TOKEN}>");
                let if_h = format!("(<{TOKEN}>)");
                c.dav_lock(0, 1, "/d.docx", TOKEN, 600, &[], &[]);
                c.dav_bare(
                    10,
                    1,
                    "UNLOCK",
                    "/d.docx",
                    &[("Lock-Token", a.as_str())],
                    b"",
                    204,
                );
                c.dav_bare(
                    20,
                    1,
                    "PUT",
                    "/d.docx",
                    &[("If", if_h.as_str())],
                    b"data",
                    204,
                );
            }),
        ),
    ];
    for (rule, sev, steps) in cases {
        let got = found(steps)?;
        assert_eq!(
            got.iter().filter(|(s, r)| r == rule && *s == sev).count(),
            1,
            "{rule} ({sev:?}): {got:?}"
        );
    }
    Ok(())
}

/// A cell storage lock refused while a WebDAV client holds a write lock on the same file
/// is explained by that lock, not reported as a refusal with no holder.
#[test]
fn webdav_lock_explains_a_cell_storage_refusal() -> TestResult {
    let mut c = Cap::new();
    c.dav_lock(0, 1, FILE, TOKEN, 3600, &[("Depth", "0")], &[]);
    c.lock(
        10,
        2,
        ExclusiveLockRequestType::GetLock,
        "{X}",
        Some(3600),
        fail("FileAlreadyLockedOnServer"),
    );
    let r = c.fold()?;
    assert!(
        !r.findings
            .iter()
            .any(|f| f.rule == "lock.unexplained-refusal"),
        "{:?}",
        r.findings
    );
    assert_eq!(r.files.len(), 1, "one file for both protocols");
    let refusal = r.files[0]
        .lanes
        .iter()
        .flat_map(|l| l.events.iter())
        .find(|e| e.result == "FileAlreadyLockedOnServer")
        .ok_or("refusal")?;
    let detail = refusal.detail.as_deref().unwrap_or("");
    assert!(
        detail.contains(&format!("WebDAV lock {TOKEN} of alice")),
        "{detail}"
    );
    Ok(())
}

#[test]
fn well_behaved_runs_have_no_error_findings() -> TestResult {
    for cap in [
        coauthoring_capture(),
        exclusive_capture(),
        coherency_capture(true),
        webdav_capture(),
    ] {
        no_errors(&cap.fold()?);
    }
    Ok(())
}

#[test]
fn json_report_uses_spec_names_and_exchange_ids() -> TestResult {
    let r = exclusive_capture().fold()?;
    let v = serde_json::to_value(&r)?;
    let lanes = v["files"][0]["lanes"].as_array().ok_or("lanes")?;
    assert!(lanes.iter().any(|l| l["SchemaLockID"] == SCHEMA));
    let x1 = lanes.iter().find(|l| l["holder"] == "{X-1}").ok_or("X-1")?;
    assert_eq!(x1["kind"], "ExclusiveLock");
    assert_eq!(x1["spans"][0]["opened_by"], 2);
    assert_eq!(x1["spans"][0]["closed_by"], 5);
    assert_eq!(x1["spans"][0]["ended"], "released");
    assert_eq!(x1["spans"][0]["Timeout"], 3600);
    assert!(v["files"][0]["CoauthStatus"].is_array());
    let back: TimelineReport = serde_json::from_value(v)?;
    assert_eq!(back, r);
    Ok(())
}

#[test]
fn history_limit_keeps_memory_flat_but_findings_complete() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.jsonl");
    let mut c = coauthoring_capture();
    // Append a misbehaving pair so there is something to find.
    c.coauth(
        2000,
        1,
        CoauthRequestType::JoinCoauthoring,
        "client-1",
        Some(3600),
        shared("Alone"),
    );
    c.coauth(
        2010,
        2,
        CoauthRequestType::JoinCoauthoring,
        "client-2",
        Some(3600),
        shared("Alone"),
    );
    write_capture(&path, c.xs)?;
    let full = fold_file(&path, TimelineOptions::default())?;
    let none = fold_file(
        &path,
        TimelineOptions {
            history_per_lane: 0,
            ..TimelineOptions::default()
        },
    )?;
    assert_eq!(full.findings, none.findings);
    assert!(none.files[0].lanes.iter().all(|l| l.events.is_empty()));
    // Only the open spans remain.
    let open: usize = none.files[0].lanes.iter().map(|l| l.spans.len()).sum();
    assert_eq!(open, 2);
    Ok(())
}

#[test]
fn check_and_timeline_commands() -> TestResult {
    use clap::Parser as _;
    let dir = tempfile::tempdir()?;
    let good = dir.path().join("good.jsonl");
    let bad = dir.path().join("bad.jsonl");
    write_capture(&good, coauthoring_capture().xs)?;
    let mut c = Cap::new();
    c.coauth(
        0,
        1,
        CoauthRequestType::JoinCoauthoring,
        "client-1",
        Some(3600),
        shared("Alone"),
    );
    c.coauth(
        10,
        2,
        CoauthRequestType::JoinCoauthoring,
        "client-2",
        Some(3600),
        shared("Alone"),
    );
    write_capture(&bad, c.xs)?;
    let run = |args: &[&str], p: &Path| -> anyhow::Result<i32> {
        let mut v: Vec<String> = vec!["synctap".into()];
        v.extend(args.iter().map(|s| (*s).to_owned()));
        v.push(p.display().to_string());
        synctap::cli::run(synctap::cli::Opts::parse_from(v))
    };
    assert_eq!(run(&["check"], &good)?, 0);
    assert_eq!(run(&["check"], &bad)?, 1);
    assert_eq!(run(&["check", "--json"], &bad)?, 1);
    assert_eq!(run(&["timeline"], &good)?, 0);
    assert_eq!(
        run(&["timeline", "--json", "--file", "plan.docx"], &good)?,
        0
    );
    let out = crate::util::synctap().arg("timeline").arg(&good).output()?;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NumberOfCoauthorsReachedMax"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "too wide: {line}");
    }
    let out = crate::util::synctap().arg("check").arg(&bad).output()?;
    assert_eq!(out.status.code(), Some(1));
    Ok(())
}

fn schema_lock(t: SchemaLockRequestType, client: &str, timeout: Option<i64>) -> SubRequest {
    let data = SubRequestData {
        schema_lock_request_type: Some(t),
        schema_lock_id: Some(SCHEMA.to_owned()),
        ..data()
    };
    client_subrequest(SubRequestType::SchemaLock, client, timeout, data)
}

fn editors(t: EditorsTableRequestType, client: &str, timeout: Option<i64>) -> SubRequest {
    let data = SubRequestData {
        editors_table_request_type: Some(t),
        as_editor: Some(true),
        ..data()
    };
    client_subrequest(SubRequestType::EditorsTable, client, timeout, data)
}

#[test]
fn schema_lock_and_editors_table_lanes() -> TestResult {
    use EditorsTableRequestType as E;
    use SchemaLockRequestType as S;
    let mut c = Cap::new();
    let lock = Some(success(SubResponseData {
        lock_type: Some(LockType::SchemaLock),
        ..SubResponseData::default()
    }));
    c.fss(
        0,
        1,
        vec![
            (
                schema_lock(S::GetLock, "client-1", Some(3600)),
                lock.clone(),
            ),
            (editors(E::JoinEditingSession, "client-1", Some(3600)), ok()),
        ],
    );
    c.fss1(
        30,
        2,
        schema_lock(S::GetLock, "client-2", Some(3600)),
        lock.clone(),
    );
    c.fss1(
        60,
        1,
        schema_lock(S::RefreshLock, "client-1", Some(7200)),
        lock,
    );
    c.fss(
        90,
        1,
        vec![
            (editors(E::LeaveEditingSession, "client-1", None), ok()),
            (schema_lock(S::ReleaseLock, "client-1", None), ok()),
        ],
    );
    let r = c.fold()?;
    assert_eq!(
        spans(&r, LaneKind::SchemaLock, "client-1"),
        vec![span("09:00:00", Some("09:01:30"), SpanEnd::Released)]
    );
    assert_eq!(
        spans(&r, LaneKind::SchemaLock, "client-2"),
        vec![span("09:00:30", None, SpanEnd::Open)]
    );
    assert_eq!(
        spans(&r, LaneKind::EditorsTable, "client-1"),
        vec![span("09:00:00", Some("09:01:30"), SpanEnd::Released)]
    );
    let lane = r.files[0]
        .lanes
        .iter()
        .find(|l| l.kind == LaneKind::SchemaLock && l.holder == "client-1")
        .ok_or("lane")?;
    // The refresh asked for 7200 s: the expiry moved to 09:01:00 + 2 h.
    assert_eq!(lane.spans[0].timeout, Some(7200));
    let log = &lane.spans[0].refresh_log;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].exchange, log[0].timeout, log[0].expires.as_deref()),
        (3, Some(7200), Some("2026-01-01T11:01:00.000Z"))
    );
    assert_eq!(r.findings, vec![]);
    Ok(())
}

#[test]
fn exchanges_recorded_out_of_start_order_are_folded_in_time_order() -> TestResult {
    use CoauthRequestType::*;
    let mut c = Cap::new();
    // The capture records an exchange when it ends: the Join (started first) comes second.
    c.coauth(10, 1, ExitCoauthoring, "client-1", None, ok());
    c.coauth(
        0,
        1,
        JoinCoauthoring,
        "client-1",
        Some(3600),
        shared("Alone"),
    );
    let r = c.fold()?;
    assert_eq!(
        spans(&r, LaneKind::Coauth, "client-1"),
        vec![span("09:00:00", Some("09:00:10"), SpanEnd::Released)]
    );
    assert_eq!(r.findings, vec![]);
    Ok(())
}

mod robustness {
    use proptest::prelude::*;

    use super::*;

    fn step(c: &mut Cap, kind: u8, client: u8, result: u8, at: i64, timeout: Option<i64>) {
        use CoauthRequestType as C;
        use ExclusiveLockRequestType as X;
        use SchemaLockRequestType as S;
        let who = format!("client-{}", client % 3);
        let lock_id = format!("{{L-{}}}", client % 2);
        let (q, good) = match kind % 14 {
            0 => (
                coauth(C::JoinCoauthoring, &who, timeout),
                shared(if client % 2 == 0 {
                    "Alone"
                } else {
                    "Coauthoring"
                }),
            ),
            1 => (
                coauth(C::RefreshCoauthoring, &who, timeout),
                shared("Coauthoring"),
            ),
            2 => (coauth(C::ExitCoauthoring, &who, None), ok()),
            3 => (coauth(C::ConvertToExclusive, &who, timeout), ok()),
            4 => (exclusive(X::GetLock, &lock_id, None, timeout), ok()),
            5 => (exclusive(X::RefreshLock, &lock_id, None, timeout), ok()),
            6 => (exclusive(X::ReleaseLock, &lock_id, None, None), ok()),
            7 => (
                exclusive(X::ConvertToSchemaJoinCoauth, &lock_id, Some(&who), timeout),
                shared("Alone"),
            ),
            8 => (schema_lock(S::GetLock, &who, timeout), ok()),
            9 => (schema_lock(S::ReleaseLock, &who, None), ok()),
            10 => (
                put_changes(),
                if client % 2 == 0 {
                    put_ok()
                } else {
                    coherency_failure()
                },
            ),
            11 => (query_changes(), query_ok()),
            12 => (
                SubRequest {
                    type_: Some(SubRequestType::AmIAlone),
                    sub_request_data: Some(data()),
                    ..SubRequest::default()
                },
                Some(success(SubResponseData {
                    am_i_alone: Some(client % 2 == 0),
                    ..SubResponseData::default()
                })),
            ),
            _ => (
                editors(EditorsTableRequestType::JoinEditingSession, &who, timeout),
                ok(),
            ),
        };
        let answer = match result % 5 {
            0 | 1 => good,
            2 => fail("FileAlreadyLockedOnServer"),
            3 => fail("NotAnErrorCode"),
            _ => None,
        };
        c.fss1(at, u64::from(client % 4), q, answer);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_sequence_folds_renders_and_round_trips(
            steps in proptest::collection::vec(
                (any::<u8>(), any::<u8>(), any::<u8>(), 0i64..20_000, proptest::option::of(-10i64..200_000)),
                0..24,
            ),
            window in 0usize..4,
        ) {
            let mut c = Cap::new();
            for (kind, client, result, at, timeout) in steps {
                step(&mut c, kind, client, result, at, timeout);
            }
            let mut t = Timeline::new(TimelineOptions { reorder_window: window, ..TimelineOptions::default() });
            for x in &c.xs {
                t.push(x, &decode_recorded(x));
            }
            let r = t.report();
            let text = render_text(&r, None);
            for line in text.lines() {
                prop_assert!(line.chars().count() <= 100, "too wide: {}", line);
            }
            let back: TimelineReport = serde_json::from_str(&serde_json::to_string(&r).map_err(|e| TestCaseError::fail(e.to_string()))?)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, r);
        }
    }
}

/// Headers and body of a `testdata/fsshttp` fixture (header lines, a blank line, the body).
fn fixture(bytes: &[u8]) -> (Headers, Vec<u8>) {
    crate::util::fixture::split_fixture(bytes)
        .unwrap_or_else(|| (Headers::default(), bytes.to_vec()))
}

#[test]
fn decoder_fixtures_fold_into_lanes_and_findings() -> TestResult {
    let pairs: [(&[u8], &[u8]); 4] = [
        (
            include_bytes!("../testdata/fsshttp/coauth_join.request"),
            include_bytes!("../testdata/fsshttp/coauth_join.response"),
        ),
        (
            include_bytes!("../testdata/fsshttp/schema_lock_fallback.request"),
            include_bytes!("../testdata/fsshttp/schema_lock_fallback.response"),
        ),
        (
            include_bytes!("../testdata/fsshttp/exclusive_lock_conflict.request"),
            include_bytes!("../testdata/fsshttp/exclusive_lock_conflict.response"),
        ),
        (
            include_bytes!("../testdata/fsshttp/dependency_unknown.request"),
            include_bytes!("../testdata/fsshttp/dependency_unknown.response"),
        ),
    ];
    let mut c = Cap::new();
    for (i, (q, a)) in pairs.iter().enumerate() {
        c.fixture_exchange(i as i64 * 60, i as u64 + 1, ENDPOINT, q, a);
    }
    let r = c.fold()?;
    let text = render_text(&r, None);
    // The fallback: SchemaLock GetLock answered with an exclusive lock (LockType 2), held
    // by the same client as the shared lock, so no conflict is reported.
    let exclusive_spans: usize = r
        .files
        .iter()
        .flat_map(|f| f.lanes.iter())
        .filter(|l| l.kind == LaneKind::ExclusiveLock)
        .map(|l| l.spans.len())
        .sum();
    assert_eq!(exclusive_spans, 1, "{text}");
    let results: Vec<String> = r
        .files
        .iter()
        .flat_map(|f| f.lanes.iter())
        .flat_map(|l| l.events.iter())
        .filter(|e| e.kind == EventKind::Failed)
        .map(|e| e.result.clone())
        .collect();
    for code in [
        "MultipleClientsInCoauthSession",
        "FileAlreadyLockedOnServer",
    ] {
        assert!(results.iter().any(|r| r == code), "{code}: {text}");
    }
    // The synthetic Cell payloads are not valid FSSHTTPB: two decoding warnings.
    assert_eq!(
        rules(&r),
        vec![
            (Severity::Warning, "decode.diagnostics".to_owned()),
            (Severity::Warning, "decode.diagnostics".to_owned()),
            (Severity::Info, "fsshttp.dependency-not-run".to_owned()),
            (Severity::Error, "fsshttp.unknown-error-code".to_owned()),
        ],
        "{text}"
    );
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "too wide: {line}");
    }
    insta::assert_snapshot!("fixtures", text);
    Ok(())
}

/// Word's usual request: JoinCoauthoring, and a SchemaLock GetLock that only runs when the
/// Coauth subrequest is not supported. The server ran the first, so it did not run the
/// second: that is "not run (dependency)", not a refused lock.
fn word_fallback_capture(code: &str, dependency: synctap::decode::fsshttp::DependencyType) -> Cap {
    let mut c = Cap::new();
    let mut fallback = schema_lock(SchemaLockRequestType::GetLock, "client-1", Some(3600));
    fallback.depends_on = Some(1);
    fallback.dependency_type = Some(dependency);
    c.fss(
        0,
        1,
        vec![
            (
                coauth(CoauthRequestType::JoinCoauthoring, "client-1", Some(3600)),
                shared("Alone"),
            ),
            (fallback, fail(code)),
        ],
    );
    c
}

#[test]
fn a_subrequest_not_run_because_of_its_dependency_is_not_a_refusal() -> TestResult {
    use synctap::decode::fsshttp::DependencyType as D;
    for (code, dependency) in [
        (
            "DependentOnlyOnNotSupportedRequestGetSupported",
            D::OnNotSupported,
        ),
        ("DependentRequestNotExecuted", D::OnExecute),
        ("DependentOnlyOnSuccessRequestFailed", D::OnSuccess),
    ] {
        let r = word_fallback_capture(code, dependency.clone()).fold()?;
        no_errors(&r);
        assert_eq!(
            events(&r, LaneKind::SchemaLock, "client-1"),
            vec![(EventKind::NotRun, 1, "not run (dependency)".to_owned())],
            "{code}"
        );
        assert!(r
            .files
            .iter()
            .flat_map(|f| f.lanes.iter())
            .flat_map(|l| l.events.iter())
            .all(|e| e.kind != EventKind::Failed));
        let finding = r
            .findings
            .iter()
            .find(|f| f.rule == "fsshttp.dependency-not-run")
            .expect("a note for check");
        assert_eq!(finding.severity, Severity::Info);
        assert!(
            finding.sentence.contains(&format!(
                "the SchemaLock SubRequest with SubRequestToken 2 was not run (dependency): DependsOn SubRequestToken 1 with DependencyType {}; ErrorCode {code}",
                dependency.as_str()
            )),
            "{}",
            finding.sentence
        );
        let text = render_text(&r, None);
        assert!(text.contains("GetLock not run (dependency)"), "{text}");
        assert!(!text.contains('✗'), "{text}");
        let detail = r
            .files
            .iter()
            .flat_map(|f| f.lanes.iter())
            .flat_map(|l| l.events.iter())
            .find_map(|e| e.detail.clone())
            .unwrap_or_default();
        assert!(detail.starts_with(&format!("{code}: ")), "{detail}");
    }
    // `synctap check` names it too, and exits 0.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fallback.jsonl");
    write_capture(
        &path,
        word_fallback_capture(
            "DependentOnlyOnNotSupportedRequestGetSupported",
            D::OnNotSupported,
        )
        .xs,
    )?;
    let out = crate::util::synctap().arg("check").arg(&path).output()?;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("info fsshttp.dependency-not-run #1"),
        "{text}"
    );
    assert!(flat.contains("was not run (dependency)"), "{text}");
    Ok(())
}

/// The SPFileSync SyncToken continuity rule has no Microsoft specification behind it: a
/// break is a warning that names what in the capture could explain it.
#[test]
fn an_unspecified_rule_is_at_most_a_warning_and_names_other_explanations() -> TestResult {
    let list = "https://contoso.sharepoint.com/_api/SPFileSync/sync/5D2445A6-F48D-4C1E-9B0A-1C2D3E4F5A6B/RootFolder?Filter=changes&MaxItemCount=500&View=SkyDriveSync";
    let mut c = Cap::new();
    for (i, (sent, next)) in [
        (None, "4;%234;%231;100"),
        (Some("4%3B%234%3B%231%3B100"), "4;%234;%231;200"),
        // The client skips a token the capture never saw answered.
        (Some("4%3B%234%3B%231%3B900"), "4;%234;%231;1000"),
    ]
    .into_iter()
    .enumerate()
    {
        let url = match sent {
            Some(t) => format!("{list}&SyncToken={t}"),
            None => list.to_owned(),
        };
        c.dav(
            i as i64 * 10,
            1,
            "GET",
            &url,
            &[],
            b"",
            200,
            &[("X-SyncToken", next), ("X-HasMoreData", "True")],
            b"",
        );
    }
    let r = c.fold()?;
    let f = r
        .findings
        .iter()
        .find(|f| f.rule == "spfilesync.synctoken-continuity")
        .expect("the rule fires");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.exchanges, vec![2, 3]);
    assert!(
        f.sentence.ends_with("; no Microsoft specification defines this rule, and the capture may explain it instead: exchanges between #2 and #3 may be missing (sent over a connection that bypassed the proxy, or not recorded), or the proxy started in the middle of the client's session"),
        "{}",
        f.sentence
    );
    no_errors(&r);
    assert!(!r.has_errors());
    Ok(())
}

/// Cobalt.ashx answers `RequestToken="0"` with `RequestToken="1"`: the one Request and the
/// one Response are paired, the subresponses join their subrequests (no "matches no
/// Request" warning, no unanswered subrequest), and an info finding says so.
#[test]
fn cobalt_request_token_zero_answered_by_one_is_paired_with_a_note() -> TestResult {
    let request =
        String::from_utf8_lossy(include_bytes!("../testdata/fsshttp/coauth_join.request")).replace(
            "\" RequestToken=\"1\" UserAgent=",
            "\" RequestToken=\"0\" UserAgent=",
        );
    let mut c = Cap::new();
    c.fixture_exchange(
        0,
        1,
        "https://contoso.example/sites/team/_vti_bin/Cobalt.ashx",
        request.as_bytes(),
        include_bytes!("../testdata/fsshttp/coauth_join.response"),
    );
    let r = c.fold()?;
    let rules = rules(&r);
    assert!(
        rules.contains(&(Severity::Info, "fsshttp.request-token-paired".to_owned())),
        "{rules:?}"
    );
    // (The fixture's synthetic Cell payload is not FSSHTTPB: that diagnostic stays.)
    assert!(
        !r.findings
            .iter()
            .any(|f| f.sentence.contains("matches no Request")),
        "{:#?}",
        r.findings
    );
    no_errors(&r);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule == "fsshttp.request-token-paired")
        .ok_or("note")?;
    assert!(
        f.sentence.contains(
            "Response RequestToken 1 differs from the RequestToken 0 of the only Request"
        ),
        "{}",
        f.sentence
    );
    Ok(())
}

/// `timeline` writes its report file by file from the compact history (`ReportView`,
/// `render_text_parts`): the same JSON and text, byte for byte, as the collected
/// `TimelineReport`, with and without a file filter and with findings dropped.
#[test]
fn report_written_file_by_file_is_the_collected_report() -> TestResult {
    use synctap::timeline::{render_text_parts, ReportView};
    let mut xs = coauthoring_capture().xs;
    xs.extend(exclusive_capture().xs);
    xs.extend(webdav_capture().xs);
    for (i, x) in xs.iter_mut().enumerate() {
        x.id = i as u64 + 1;
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("all.jsonl");
    write_capture(&path, xs)?;
    for max_findings in [100_000, 1] {
        let opts = TimelineOptions {
            max_findings,
            ..TimelineOptions::default()
        };
        let mut reader = CaptureReader::open(&path)?;
        let mut t = Timeline::new(opts);
        while let Some(x) = reader.next_exchange()? {
            t.push(&x, &decode_recorded(&x));
        }
        let mut report = t.report();
        assert!(report.files.len() >= 2, "several files");
        t.settle();
        assert_eq!(
            serde_json::to_string_pretty(&ReportView::new(&t, None))?,
            serde_json::to_string_pretty(&report)?
        );
        let mut text = String::new();
        render_text_parts(t.files(), t.findings(), t.findings_dropped(), None, |p| {
            text.push_str(p)
        });
        assert_eq!(text, render_text(&report, None));
        // Filtered: the files whose key holds the second file's name.
        let url = report.files[1].url.clone();
        let mut text = String::new();
        render_text_parts(
            t.files(),
            t.findings(),
            t.findings_dropped(),
            Some(&url),
            |p| text.push_str(p),
        );
        assert_eq!(text, render_text(&report, Some(&url)));
        let filtered = serde_json::to_string_pretty(&ReportView::new(&t, Some(&url)))?;
        let key = synctap::decode::file_key::FileKey::of_url(&url);
        report.files.retain(|f| f.key.contains(key.as_str()));
        assert!(!report.files.is_empty());
        assert_eq!(filtered, serde_json::to_string_pretty(&report)?);
        if max_findings == 1 {
            assert!(report.findings_dropped > 0, "findings dropped");
        }
    }
    Ok(())
}
