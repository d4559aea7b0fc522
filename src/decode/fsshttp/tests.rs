//! Tests over the fixture folder `testdata/fsshttp/` (golden JSON and tree snapshots,
//! exact values and diagnostic offsets), plus encode/decode round trips with proptest.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::decode::Diagnostic;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fsshttp")
}

/// A fixture: its Content-Type and its HTTP body.
struct Fixture {
    content_type: Option<String>,
    body: Vec<u8>,
}

fn load(name: &str) -> Fixture {
    let raw = std::fs::read(fixture_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let split = memchr::memmem::find(&raw, b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{name}: no header block"));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let content_type = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-type")
            .then(|| v.trim().to_owned())
    });
    Fixture {
        content_type,
        body: raw[split + 4..].to_vec(),
    }
}

fn request(name: &str) -> RequestEnvelope {
    let f = load(&format!("{name}.request"));
    decode_request(f.content_type.as_deref(), &f.body)
}

fn response(name: &str) -> (RequestEnvelope, ResponseEnvelope, Fixture) {
    let req = fixture_dir()
        .join(format!("{name}.request"))
        .exists()
        .then(|| request(name));
    let f = load(&format!("{name}.response"));
    let resp = decode_response(f.content_type.as_deref(), &f.body, req.as_ref());
    let req = req.unwrap_or_default();
    (req, resp, f)
}

fn offset_of(body: &[u8], needle: &str, nth: usize) -> usize {
    let mut from = 0;
    let mut found = 0;
    for _ in 0..=nth {
        let p = memchr::memmem::find(&body[from..], needle.as_bytes())
            .unwrap_or_else(|| panic!("{needle} not in body"));
        found = from + p;
        from = found + 1;
    }
    found
}

#[test]
fn fixtures_snapshots() {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".request") || n.ends_with(".response"))
        .collect();
    names.sort();
    assert!(names.len() >= 25, "fixtures missing: {names:?}");
    for name in names {
        if let Some(stem) = name.strip_suffix(".request") {
            let req = request(stem);
            insta::assert_json_snapshot!(name.clone(), req);
            let text = format!(
                "{}\n{}",
                render_tree(Some(&req), None),
                summarize(Some(&req), None).join("\n")
            );
            insta::assert_snapshot!(format!("{name}.tree"), text);
        } else if let Some(stem) = name.strip_suffix(".response") {
            let (req, resp, _) = response(stem);
            insta::assert_json_snapshot!(name.clone(), resp);
            let has_req = req.request_collection.is_some();
            let text = format!(
                "{}\n{}",
                render_tree(None, Some(&resp)),
                summarize(has_req.then_some(&req), Some(&resp)).join("\n")
            );
            insta::assert_snapshot!(format!("{name}.tree"), text);
        }
    }
}

#[test]
fn well_formed_fixtures_have_no_diagnostics() {
    for name in [
        "coauth_join",
        "exclusive_lock_conflict",
        "schema_lock_fallback",
        "whoami_servertime",
        "editors_table",
        "docmeta_getversions",
        "file_versioning_properties",
        "cell_upload_two_parts",
        "dependency_unknown",
    ] {
        let (req, resp, _) = response(name);
        assert_eq!(req.diagnostics, vec![], "{name}.request");
        assert_eq!(resp.diagnostics, vec![], "{name}.response");
    }
}

#[test]
fn coauth_join_values() {
    let (req, resp, f) = response("coauth_join");
    let subs: Vec<_> = resp.sub_responses().map(|(_, s)| s).collect();
    assert_eq!(subs.len(), 2);
    let d = subs[0].sub_response_data.as_ref().expect("data");
    assert_eq!(d.coauth_status, Some(CoauthStatus::Alone));
    assert_eq!(d.lock_type, Some(LockType::SchemaLock));
    assert_eq!(subs[0].request_type, Some(SubRequestType::Coauth));
    assert_eq!(subs[1].request_type, Some(SubRequestType::Cell));
    let cell = subs[1].cell_payload().expect("cell payload");
    match &cell.origin {
        PayloadOrigin::Part { content_id, range } => {
            assert_eq!(content_id, "http://tempuri.org/1/638000000000000001");
            assert_eq!(&f.body[range.clone()], &cell.bytes[..]);
        }
        PayloadOrigin::Inline => panic!("expected an XOP part"),
    }
    assert_eq!(&cell.bytes[..4], &[0x0E, 0x00, 0x0B, 0x00]);
    let ct = subs[1]
        .sub_response_data
        .as_ref()
        .and_then(|d| d.create_time.clone());
    assert_eq!(
        ct.and_then(|t| t.utc).as_deref(),
        Some("2024-01-17T21:20:00Z")
    );
    let req_cell = req
        .sub_requests()
        .nth(1)
        .and_then(|(_, s)| s.cell_payload())
        .expect("req payload");
    assert_eq!(req_cell.origin, PayloadOrigin::Inline);
    assert_eq!(req_cell.bytes.len(), 32);
    let summary = summarize(Some(&req), Some(&resp));
    assert_eq!(
        summary[0],
        "Coauth JoinCoauthoring ClientID={7a1f5c3e-0d44-4b8a-9f51-3c2e6b0d9a11} → Success Alone LockType=SchemaLock"
    );
}

#[test]
fn exclusive_lock_conflict_values() {
    let (req, resp, _) = response("exclusive_lock_conflict");
    let s = resp.sub_responses().next().map(|(_, s)| s).expect("sub");
    assert_eq!(
        s.h_result.as_ref().map(|h| h.hex.as_str()),
        Some("0x80004005")
    );
    assert_eq!(
        s.error_code.as_ref().map(ErrorCode::category),
        Some(ErrorCategory::LockAndCoauthRelated)
    );
    let summary = summarize(Some(&req), Some(&resp));
    assert_eq!(
        summary[0],
        "ExclusiveLock GetLock → FileAlreadyLockedOnServer (LockAndCoauthRelated) HResult=0x80004005 \"CONTOSO\\\\megan\""
    );
    assert!(
        summary[1].starts_with("Cell 32 bytes (DependsOn 1 OnExecute) → Success"),
        "{}",
        summary[1]
    );
}

#[test]
fn lock_type_digit_hresult_spellings_and_unknowns() {
    let (_, resp, _) = response("schema_lock_fallback");
    let d = resp
        .sub_responses()
        .next()
        .and_then(|(_, s)| s.sub_response_data.clone());
    assert_eq!(
        d.as_ref().and_then(|d| d.lock_type.clone()),
        Some(LockType::ExclusiveLock)
    );
    let (_, resp, _) = response("dependency_unknown");
    let hex: Vec<_> = resp
        .sub_responses()
        .map(|(_, s)| {
            s.h_result
                .as_ref()
                .map(|h| h.hex.clone())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(hex, ["0x80070005", "0x80070005", "0x00000001"]);
    let codes: Vec<_> = resp
        .sub_responses()
        .filter_map(|(_, s)| s.error_code.clone())
        .map(|e| e.category())
        .collect();
    assert_eq!(
        codes,
        [
            ErrorCategory::LockAndCoauthRelated,
            ErrorCategory::DependencyCheckRelated,
            ErrorCategory::Unknown
        ]
    );
    let names: Vec<_> = resp.unknown.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["IntendedUrl", "FutureElement"]);
    assert!(resp.diagnostics.is_empty());
    let req = request("dependency_unknown");
    assert_eq!(req.unknown.len(), 1);
    assert_eq!(req.unknown[0].name, "FutureFlag");
    assert_eq!(
        req.unknown[0].path,
        "RequestCollection/Request[0]/SubRequest[2]/SubRequestData"
    );
}

#[test]
fn whoami_servertime_values() {
    let (_, resp, _) = response("whoami_servertime");
    let d: Vec<_> = resp
        .sub_responses()
        .filter_map(|(_, s)| s.sub_response_data.clone())
        .collect();
    assert_eq!(d[0].user_login.as_deref(), Some("i:0#.w|contoso\\megan"));
    assert_eq!(d[0].user_is_anonymous, Some(false));
    assert_eq!(
        d[1].server_time.as_ref().and_then(|t| t.utc.as_deref()),
        Some("2022-09-28T22:13:20Z")
    );
    assert_eq!(d[2].locked_by.as_deref(), Some("CONTOSO\\megan"));
    assert_eq!(d[3].am_i_alone, Some(true));
}

#[test]
fn two_xop_parts_unquoted_boundary_raw_cids() {
    let f = load("cell_upload_two_parts.request");
    let req = decode_request(f.content_type.as_deref(), &f.body);
    let mp = req.mtom.as_ref().expect("mtom");
    assert_eq!(
        mp.params.boundary,
        "urn:uuid:9a8b7c6d-5e4f-4321-9876-fedcba987654"
    );
    assert_eq!(mp.parts.len(), 3);
    let payloads: Vec<_> = req
        .sub_requests()
        .filter_map(|(_, s)| s.cell_payload())
        .collect();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[1].bytes.len(), 768);
    // Part A contains CRLF and a fake delimiter; both belong to the payload.
    assert!(memchr::memmem::find(&payloads[0].bytes, b"\r\n--not-a-boundary\r\n").is_some());
    let (_, resp, _) = response("cell_upload_two_parts");
    assert_eq!(resp.mtom.as_ref().map(|m| m.parts.len()), Some(1));
}

#[test]
fn malformed_diagnostics_and_offsets() {
    // Broken XML: the mismatched end tag.
    let f = load("malformed_broken_xml.request");
    let req = decode_request(f.content_type.as_deref(), &f.body);
    let at = offset_of(&f.body, "</Requets>", 0);
    assert_eq!(
        req.diagnostics.first().map(|d| d.offset),
        Some(at),
        "{:?}",
        req.diagnostics
    );
    assert!(req.diagnostics[0].message.starts_with("malformed xml"));
    // The subrequest before the error is still decoded.
    assert_eq!(req.sub_requests().count(), 1);

    // Duplicate attribute: points at the second ErrorCode, first value kept.
    let (_, resp, f) = response("malformed_duplicate_attribute");
    let at = offset_of(&f.body, "ErrorCode=", 1);
    assert_eq!(
        resp.diagnostics,
        vec![Diagnostic::unexpected(
            at,
            "duplicate attribute ErrorCode on Response; first value kept"
        )]
    );
    let r = &resp
        .response_collection
        .as_ref()
        .expect("collection")
        .responses[0];
    assert_eq!(
        r.error_code.as_ref().map(ErrorCode::as_str),
        Some("InvalidUrl")
    );

    // Missing required attribute.
    let f = load("malformed_missing_required.request");
    let req = decode_request(f.content_type.as_deref(), &f.body);
    let at = offset_of(&f.body, "<SubRequest Type=\"ServerTime\"", 0);
    assert_eq!(
        req.diagnostics[0],
        Diagnostic::missing(
            at,
            "missing required attribute SubRequestToken on SubRequest"
        )
    );
    let at = offset_of(&f.body, "<SubRequestData>", 0);
    assert_eq!(
        req.diagnostics[1],
        Diagnostic::missing(
            at,
            "missing required attribute BinaryDataSize on SubRequestData"
        )
    );

    // Wrong namespace: decoded anyway, one diagnostic per element in the wrong namespace.
    let f = load("malformed_wrong_namespace.request");
    let req = decode_request(f.content_type.as_deref(), &f.body);
    assert_eq!(req.sub_requests().count(), 1);
    let at = offset_of(&f.body, "<RequestCollection", 0);
    assert_eq!(req.diagnostics.len(), 3);
    assert_eq!(req.diagnostics[0].offset, at);
    assert!(req.diagnostics[0]
        .message
        .contains("expected http://schemas.microsoft.com/sharepoint/soap/"));

    // Truncated MTOM: the binary part is cut; the diagnostic points at the end of the body.
    let (_, resp, f) = response("malformed_truncated_mtom");
    assert!(resp.diagnostics.contains(&Diagnostic::truncated(
        f.body.len(),
        "truncated multipart body: closing boundary not found"
    )));
    assert_eq!(resp.sub_responses().count(), 1);

    // Bad values.
    let (_, resp, f) = response("malformed_bad_values");
    let at = offset_of(&f.body, "HResult=\"notanumber\"", 0);
    assert_eq!(resp.diagnostics[0].offset, at);
    assert!(resp.diagnostics[0]
        .message
        .starts_with("invalid value \"notanumber\" for attribute HResult of SubResponse"));
    // The diagnostic points at the invalid byte itself, past the space in the text.
    let at = offset_of(&f.body, "*AAA", 0);
    assert!(
        resp.diagnostics.contains(&Diagnostic::malformed(
            at,
            "invalid base64 in SubResponseData: invalid byte 0x2a"
        )),
        "{:?}",
        resp.diagnostics
    );
}

#[test]
fn version_error_and_fault() {
    let (_, resp, _) = response("version_error");
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    assert_eq!(
        resp.response_version.and_then(|v| v.error_code),
        Some(ErrorCode::IncompatibleVersion)
    );
    let (_, resp, _) = response("soap_fault");
    let fault = resp.fault.expect("fault");
    assert_eq!(fault.faultcode.as_deref(), Some("s:Client"));
    assert_eq!(fault.error_code.as_deref(), Some("0x80131600"));
}

#[test]
fn unmatched_token_is_diagnosed() {
    let (req, _, f) = response("exclusive_lock_conflict");
    let body =
        String::from_utf8_lossy(&f.body).replace("SubRequestToken=\"2\"", "SubRequestToken=\"7\"");
    let resp = decode_response(f.content_type.as_deref(), body.as_bytes(), Some(&req));
    let at = offset_of(body.as_bytes(), "<SubResponse SubRequestToken=\"7\"", 0);
    assert!(resp.diagnostics.contains(&Diagnostic::unexpected(
        at,
        "SubResponse SubRequestToken 7 matches no SubRequest"
    )));
    assert!(resp
        .diagnostics
        .iter()
        .any(|d| d.message == "no SubResponse for SubRequestToken 2"));
}

#[test]
fn nesting_is_capped() {
    let body = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
    let req = decode_request(Some("text/xml"), body.as_bytes());
    let at = 3 * MAX_DEPTH;
    assert_eq!(
        req.diagnostics[0],
        Diagnostic::limit(
            at,
            format!(
                "xml nested deeper than {} elements; subtree skipped",
                MAX_DEPTH
            )
        )
    );
    assert_eq!(req.diagnostics.len(), 2, "{:?}", req.diagnostics);
    assert_eq!(req.unknown.len(), 1);
}

/// A SOAP body with `depth` nested unknown elements inside `s:Body`.
fn deep_soap(depth: usize) -> String {
    let mut body =
        String::from(r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>"#);
    body.push_str(&"<a>".repeat(depth));
    body.push_str(&"</a>".repeat(depth));
    body.push_str("</s:Body></s:Envelope>");
    body
}

/// Issue 14.2: 100,000 nested elements, plain SOAP and as the MTOM root part, decode
/// to the depth limit with a diagnostic at the first skipped element, and every consumer
/// (JSON, summary, tree, encoder, drop) copes on a normal test thread.
#[test]
fn hundred_thousand_nested_elements() {
    let soap = deep_soap(100_000);
    let first_cut = soap.find("<a>").unwrap_or(0) + 3 * (MAX_DEPTH - 2);
    let mtom_head = "--b\r\nContent-ID: <root>\r\nContent-Type: application/xop+xml\r\n\r\n";
    let mtom = format!("{mtom_head}{soap}\r\n--b--\r\n");
    for (ct, body, base) in [
        ("text/xml", soap.as_str(), 0),
        (
            "multipart/related; type=\"application/xop+xml\"; boundary=b; start=\"<root>\"",
            mtom.as_str(),
            mtom_head.len(),
        ),
    ] {
        let req = decode_request(Some(ct), body.as_bytes());
        let resp = decode_response(Some(ct), body.as_bytes(), Some(&req));
        for d in [&req.diagnostics, &resp.diagnostics] {
            let cut = d
                .iter()
                .find(|d| d.message.contains("nested deeper than"))
                .map(|d| d.offset);
            assert_eq!(cut, Some(base + first_cut), "{ct}: {d:?}");
        }
        let json = serde_json::to_string(&req).unwrap_or_default();
        assert!(json.len() < 64 << 10, "{}", json.len());
        assert!(serde_json::to_string(&resp).is_ok());
        let tree = render_tree(Some(&req), Some(&resp));
        assert!(tree.len() < 64 << 10, "{}", tree.len());
        let _ = summarize(Some(&req), Some(&resp));
        for mtom in [false, true] {
            let opts = EncodeOptions {
                mtom,
                cell_inline: false,
            };
            let _ = encode_request(&req, opts);
            let _ = encode_response(&resp, opts);
        }
    }
}

/// Issue 14.4: one 64 KiB MIME part named by 400 `xop:Include`s. The payloads share one
/// copy of the part (the decoded form holds no more payload bytes than the body), and the
/// tree does not grow with the part's size.
#[test]
fn one_part_included_many_times_is_shared() {
    let part: Vec<u8> = (0..64 << 10).map(|i| (i % 251) as u8).collect();
    let mut soap = String::from(
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><RequestCollection CorrelationId="{c0ffee00-1234-4abc-8def-0123456789ab}" xmlns="http://schemas.microsoft.com/sharepoint/soap/"><Request Url="https://contoso.example/a.docx" RequestToken="1">"#,
    );
    for i in 1..=400 {
        soap.push_str(&format!(
            r#"<SubRequest Type="Cell" SubRequestToken="{i}"><SubRequestData BinaryDataSize="65536"><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:p"/></SubRequestData></SubRequest>"#
        ));
    }
    soap.push_str("</Request></RequestCollection></s:Body></s:Envelope>");
    let mut body =
        format!("--b\r\nContent-ID: <root>\r\n\r\n{soap}\r\n--b\r\nContent-ID: <p>\r\n\r\n")
            .into_bytes();
    body.extend_from_slice(&part);
    body.extend_from_slice(b"\r\n--b--\r\n");
    let req = decode_request(Some("multipart/related; boundary=b"), &body);
    assert_eq!(req.diagnostics.first(), None);
    let payloads: Vec<&CellPayload> = req.cell_payloads().map(|(_, p)| p).collect();
    assert_eq!(payloads.len(), 400);
    // Payload bytes held by the decoded form: each distinct buffer counted once.
    let mut buffers: Vec<(usize, usize)> = payloads
        .iter()
        .map(|p| (p.bytes.as_ptr().addr(), p.bytes.len()))
        .collect();
    buffers.sort_unstable();
    buffers.dedup();
    let held: usize = buffers.iter().map(|(_, len)| len).sum();
    assert!(
        held <= body.len(),
        "{held} payload bytes for a {}-byte body",
        body.len()
    );
    assert!(payloads.iter().all(|p| &p.bytes[..] == part.as_slice()));
    let tree = render_tree(Some(&req), None);
    assert!(tree.len() < 400 * 256, "{}", tree.len());
}

#[test]
fn recognise_variants() {
    let quoted = format!("\"{SOAP_ACTION}\"");
    assert!(recognise(
        "POST",
        "https://h/x",
        &[("SOAPAction", &quoted)],
        b""
    ));
    assert!(recognise(
        "POST",
        "https://h/x",
        &[("soapaction", SOAP_ACTION)],
        b""
    ));
    assert!(recognise(
        "POST",
        "https://h/_vti_bin/CellStorage.svc/CellStorageService",
        &[],
        b""
    ));
    assert!(recognise(
        "POST",
        "https://h/wopi/files/1",
        &[("X-WOPI-Override", "COBALT")],
        b""
    ));
    let body = format!("<s:Envelope><s:Body><RequestCollection xmlns=\"{TNS}\"");
    assert!(recognise("POST", "https://h/x", &[], body.as_bytes()));
    assert!(!recognise(
        "POST",
        "https://h/x",
        &[("SOAPAction", "\"urn:other\"")],
        b"<a/>"
    ));
}

#[test]
fn every_fixture_round_trips_through_the_encoder() {
    for name in [
        "coauth_join",
        "cell_upload_two_parts",
        "file_versioning_properties",
        "docmeta_getversions",
    ] {
        let (req, resp, _) = response(name);
        for opts in [
            EncodeOptions {
                mtom: true,
                cell_inline: false,
            },
            EncodeOptions {
                mtom: false,
                cell_inline: true,
            },
        ] {
            let (ct, body) = encode_request(&req, opts);
            let again = decode_request(Some(&ct), &body);
            assert_eq!(
                strip(again.clone()).request_collection,
                strip(req.clone()).request_collection,
                "{name}"
            );
            assert!(
                again.diagnostics.is_empty(),
                "{name}: {:?}",
                again.diagnostics
            );
            let (ct, body) = encode_response(&resp, opts);
            let again = decode_response(Some(&ct), &body, Some(&req));
            assert_eq!(
                strip_resp(again.clone()).response_collection,
                strip_resp(resp.clone()).response_collection,
                "{name}"
            );
            assert!(
                again.diagnostics.is_empty(),
                "{name}: {:?}",
                again.diagnostics
            );
        }
    }
}

/// Clears what depends on the encoding rather than the content: MIME layout and
/// payload origins.
fn strip(mut env: RequestEnvelope) -> RequestEnvelope {
    env.mtom = None;
    env.unknown.clear();
    for r in env
        .request_collection
        .iter_mut()
        .flat_map(|c| c.requests.iter_mut())
    {
        for s in &mut r.sub_requests {
            if let Some(p) = s.sub_request_data.as_mut().and_then(|d| d.payload.as_mut()) {
                p.origin = PayloadOrigin::Inline;
            }
        }
    }
    env
}

fn strip_resp(mut env: ResponseEnvelope) -> ResponseEnvelope {
    env.mtom = None;
    env.unknown.clear();
    for r in env
        .response_collection
        .iter_mut()
        .flat_map(|c| c.responses.iter_mut())
    {
        for s in &mut r.sub_responses {
            if let Some(p) = s
                .sub_response_data
                .as_mut()
                .and_then(|d| d.payload.as_mut())
            {
                p.origin = PayloadOrigin::Inline;
            }
        }
    }
    env
}

// ---- proptest strategies -------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    // Printable text including XML specials and non-ASCII; no leading/trailing space.
    "[a-zA-Z0-9{}&<>\"'=;:/\\\\é€-]{1,12}"
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    proptest::option::of(s).boxed()
}

fn enum_of<T: From<String> + std::fmt::Debug + Clone + 'static>(
    all: &'static [&'static str],
) -> BoxedStrategy<T> {
    prop_oneof![
        proptest::sample::select(all).prop_map(|s| T::from(s.to_owned())),
        "Future[A-Z][a-z]{1,6}".prop_map(T::from),
    ]
    .boxed()
}

fn payload() -> impl Strategy<Value = CellPayload> {
    proptest::collection::vec(any::<u8>(), 1..300).prop_map(|bytes| CellPayload {
        bytes: bytes.into(),
        origin: PayloadOrigin::Inline,
    })
}

fn sub_request_data() -> impl Strategy<Value = SubRequestData> {
    (
        (
            opt(enum_of::<CoauthRequestType>(CoauthRequestType::ALL)),
            opt(enum_of::<ExclusiveLockRequestType>(
                ExclusiveLockRequestType::ALL,
            )),
            opt(enum_of::<PropertiesRequestType>(PropertiesRequestType::ALL)),
            opt(text()),
            opt(text()),
            opt(any::<bool>()),
            opt(any::<i64>()),
        ),
        (
            opt(any::<i64>().prop_map(FileTime::new)),
            opt(proptest::collection::vec(text(), 0..3)),
            prop_oneof![
                Just((None, None)),
                text().prop_map(|t| (Some(t), None)),
                payload().prop_map(|p| (None, Some(p))),
            ],
        ),
    )
        .prop_map(
            |((crt, elrt, props, client, etag, coalesce, timeout), (lmt, ids, (text, payload)))| {
                SubRequestData {
                    coauth_request_type: crt,
                    exclusive_lock_request_type: elrt,
                    properties: props,
                    client_id: client,
                    etag,
                    coalesce,
                    timeout,
                    last_modified_time: lmt,
                    property_ids: ids,
                    text,
                    payload,
                    ..SubRequestData::default()
                }
            },
        )
}

fn sub_request() -> impl Strategy<Value = SubRequest> {
    (
        enum_of::<SubRequestType>(SubRequestType::ALL),
        any::<u32>(),
        opt(any::<u64>()),
        opt(enum_of::<DependencyType>(DependencyType::ALL)),
        opt(sub_request_data()),
    )
        .prop_map(|(t, tok, dep, dt, data)| {
            // Text content is a payload for Cell subrequests, plain text otherwise.
            let data = data.map(|mut d| {
                if t == SubRequestType::Cell {
                    d.text = None;
                    d.binary_data_size =
                        Some(d.payload.as_ref().map_or(0, |p| p.bytes.len() as i64));
                } else {
                    d.payload = None;
                }
                d
            });
            SubRequest {
                type_: Some(t),
                sub_request_token: Some(u64::from(tok)),
                depends_on: dep,
                dependency_type: dt,
                sub_request_data: data,
            }
        })
}

fn request_env() -> impl Strategy<Value = RequestEnvelope> {
    (
        opt(text()),
        proptest::collection::vec(
            (
                text(),
                any::<u32>(),
                opt(any::<bool>()),
                opt(proptest::collection::vec((text(), text()), 0..3)),
                proptest::collection::vec(sub_request(), 0..5),
            ),
            0..3,
        ),
    )
        .prop_map(|(corr, reqs)| RequestEnvelope {
            request_version: Some(VersionInfo {
                version: Some(2),
                minor_version: Some(2),
                ..VersionInfo::default()
            }),
            request_collection: Some(RequestCollection {
                correlation_id: corr.or_else(|| Some("x".to_owned())),
                requests: reqs
                    .into_iter()
                    .map(|(url, tok, use_rid, gp, subs)| Request {
                        url: Some(url),
                        request_token: Some(u64::from(tok)),
                        use_resource_id: use_rid,
                        generic_properties: gp.map(|v| {
                            v.into_iter()
                                .map(|(id, value)| GenericProperty {
                                    id: Some(id),
                                    value: Some(value),
                                })
                                .collect()
                        }),
                        sub_requests: subs,
                        ..Request::default()
                    })
                    .collect(),
            }),
            ..RequestEnvelope::default()
        })
}

fn sub_response_data() -> impl Strategy<Value = SubResponseData> {
    (
        (
            opt(text()),
            opt(any::<i64>().prop_map(FileTime::new)),
            opt(any::<u32>().prop_map(HResult::from_u32)),
            opt(any::<u64>().prop_map(DotNetTicks::new)),
            opt(prop_oneof![
                Just(LockType::SchemaLock),
                Just(LockType::ExclusiveLock),
                Just(LockType::None)
            ]),
            opt(enum_of::<CoauthStatus>(CoauthStatus::ALL)),
            opt(enum_of::<ExclusiveLockReturnReason>(
                ExclusiveLockReturnReason::ALL,
            )),
            opt(any::<bool>()),
        ),
        (
            opt(proptest::collection::vec((text(), text()), 0..3)),
            opt(proptest::collection::vec((any::<i64>(), text()), 0..3)),
            opt(proptest::collection::vec(
                (
                    text(),
                    any::<bool>(),
                    opt(proptest::collection::vec((text(), any::<u32>()), 1..3)),
                ),
                0..3,
            )),
            opt(proptest::collection::vec((text(), text()), 0..3)),
            opt(payload()),
        ),
    )
        .prop_map(
            |((etag, ct, chr, st, lt, cs, elrr, alone), (docp, users, versions, pv, payload))| {
                SubResponseData {
                    etag,
                    create_time: ct,
                    coalesce_h_result: chr,
                    server_time: st,
                    lock_type: lt,
                    coauth_status: cs,
                    exclusive_lock_return_reason: elrr,
                    am_i_alone: alone,
                    doc_props: docp.map(|v| {
                        v.into_iter()
                            .map(|(k, v)| MetaProperty {
                                key: Some(k),
                                value: Some(v),
                            })
                            .collect()
                    }),
                    user_table: users.map(|v| {
                        v.into_iter()
                            .map(|(id, login)| VersionUser {
                                user_id: Some(id),
                                user_login: Some(login),
                                ..VersionUser::default()
                            })
                            .collect()
                    }),
                    versions: versions.map(|v| {
                        v.into_iter()
                            .map(|(n, cur, evs)| FileVersion {
                                number: Some(n),
                                is_current: Some(cur),
                                events: evs.map(|e| {
                                    e.into_iter()
                                        .map(|(id, t)| VersionEvent {
                                            id: Some(id),
                                            type_: Some(t),
                                            ..VersionEvent::default()
                                        })
                                        .collect()
                                }),
                                ..FileVersion::default()
                            })
                            .collect()
                    }),
                    property_values: pv.map(|v| {
                        v.into_iter()
                            .map(|(id, value)| PropertyValue {
                                id: Some(id),
                                value: Some(value),
                            })
                            .collect()
                    }),
                    payload,
                    ..SubResponseData::default()
                }
            },
        )
}

fn response_env() -> impl Strategy<Value = ResponseEnvelope> {
    let codes: Vec<&'static str> = ErrorCode::ALL.to_vec();
    (
        opt(text()),
        proptest::collection::vec(
            (
                opt(text()),
                any::<u32>(),
                0i64..11,
                proptest::collection::vec(
                    (
                        any::<u32>(),
                        proptest::sample::select(codes),
                        any::<u32>(),
                        opt(text()),
                        opt(sub_response_data()),
                        any::<bool>(),
                    ),
                    0..5,
                ),
            ),
            0..3,
        ),
    )
        .prop_map(|(web, resps)| ResponseEnvelope {
            response_version: Some(VersionInfo {
                version: Some(2),
                minor_version: Some(3),
                ..VersionInfo::default()
            }),
            response_collection: Some(ResponseCollection {
                web_url: web,
                web_url_is_encoded: None,
                responses: resps
                    .into_iter()
                    .map(|(url, tok, health, subs)| Response {
                        url,
                        request_token: Some(u64::from(tok)),
                        health_score: Some(health),
                        sub_responses: subs
                            .into_iter()
                            .map(|(t, code, hr, msg, data, invalid)| SubResponse {
                                sub_request_token: Some(u64::from(t)),
                                error_code: Some(ErrorCode::from(code)),
                                h_result: Some(HResult::from_u32(hr)),
                                error_message: msg,
                                sub_response_data: data,
                                sub_response_stream_invalid: invalid,
                                ..SubResponse::default()
                            })
                            .collect(),
                        ..Response::default()
                    })
                    .collect(),
            }),
            ..ResponseEnvelope::default()
        })
}

fn opts() -> impl Strategy<Value = EncodeOptions> {
    (any::<bool>(), any::<bool>())
        .prop_map(|(mtom, cell_inline)| EncodeOptions { mtom, cell_inline })
}

fn assert_origins(payloads: Vec<&CellPayload>, opts: EncodeOptions) {
    for p in payloads {
        let xop = matches!(p.origin, PayloadOrigin::Part { .. });
        assert_eq!(xop, opts.mtom && !opts.cell_inline);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn request_round_trip(env in request_env(), opts in opts()) {
        let (ct, body) = encode_request(&env, opts);
        let back = decode_request(Some(&ct), &body);
        prop_assert_eq!(&back.diagnostics, &Vec::<Diagnostic>::new());
        prop_assert_eq!(back.mtom.is_some(), opts.mtom);
        assert_origins(back.sub_requests().filter_map(|(_, s)| s.cell_payload()).collect(), opts);
        prop_assert_eq!(strip(back.clone()), env);
        // Encoding what was decoded gives the same bytes.
        prop_assert_eq!(encode_request(&back, opts), (ct, body));
    }

    #[test]
    fn response_round_trip(env in response_env(), opts in opts()) {
        let (ct, body) = encode_response(&env, opts);
        let back = decode_response(Some(&ct), &body, None);
        prop_assert_eq!(&back.diagnostics, &Vec::<Diagnostic>::new());
        assert_origins(back.sub_responses().filter_map(|(_, s)| s.cell_payload()).collect(), opts);
        prop_assert_eq!(strip_resp(back.clone()), env);
        prop_assert_eq!(encode_response(&back, opts), (ct, body));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(body in proptest::collection::vec(any::<u8>(), 0..400), mtom in any::<bool>()) {
        let ct = if mtom { "multipart/related; boundary=b" } else { "text/xml" };
        let req = decode_request(Some(ct), &body);
        let resp = decode_response(Some(ct), &body, Some(&req));
        let _ = render_tree(Some(&req), Some(&resp));
        let _ = summarize(Some(&req), Some(&resp));
    }
}

/// Cobalt.ashx answers `RequestToken="0"` with `RequestToken="1"`: with one Request and
/// one Response the two are paired (subresponses typed, no diagnostic) and noted.
#[test]
fn only_request_and_response_pair_despite_their_request_tokens() {
    let f = load("coauth_join.request");
    let body = String::from_utf8_lossy(&f.body).replace(
        "\" RequestToken=\"1\" UserAgent=",
        "\" RequestToken=\"0\" UserAgent=",
    );
    assert_ne!(
        body.as_bytes(),
        &f.body[..],
        "the fixture's Request carries RequestToken 1"
    );
    let req = decode_request(f.content_type.as_deref(), body.as_bytes());
    assert_eq!(
        req.request_collection
            .as_ref()
            .map(|c| c.requests[0].request_token),
        Some(Some(0))
    );
    let (_, paired, rf) = response("coauth_join");
    let resp = decode_response(rf.content_type.as_deref(), &rf.body, Some(&req));
    assert_eq!(
        resp.diagnostics, paired.diagnostics,
        "no diagnostic is added"
    );
    assert!(!resp
        .diagnostics
        .iter()
        .any(|d| d.message.contains("matches no Request")));
    let types = |r: &ResponseEnvelope| -> Vec<Option<SubRequestType>> {
        r.sub_responses()
            .map(|(_, s)| s.request_type.clone())
            .collect()
    };
    assert_eq!(
        types(&resp),
        types(&paired),
        "subresponses are typed from the Request"
    );
    assert!(types(&resp).iter().all(Option::is_some));
    let at = offset_of(&rf.body, "<Response ", 0);
    assert_eq!(
        resp.notes,
        vec![Diagnostic::note(
            at,
            "Response RequestToken 1 differs from the RequestToken 0 of the only Request; paired as the only Request and Response of the message"
        )]
    );
    assert_eq!(paired.notes, vec![], "matching tokens need no note");
}

/// With two Requests a Response whose RequestToken matches neither is still diagnosed.
#[test]
fn mismatched_request_token_among_several_requests_is_diagnosed() {
    let f = load("coauth_join.request");
    let text = String::from_utf8_lossy(&f.body);
    let (start, end) = (
        text.find("<Request ").expect("Request"),
        text.find("</Request>").expect("end") + "</Request>".len(),
    );
    let second = text[start..end].replace(
        "\" RequestToken=\"1\" UserAgent=",
        "\" RequestToken=\"5\" UserAgent=",
    );
    let body = format!("{}{second}{}", &text[..end], &text[end..]).replace(
        "\" RequestToken=\"1\" UserAgent=",
        "\" RequestToken=\"0\" UserAgent=",
    );
    let req = decode_request(f.content_type.as_deref(), body.as_bytes());
    assert_eq!(
        req.request_collection.as_ref().map(|c| c.requests.len()),
        Some(2)
    );
    let rf = load("coauth_join.response");
    let resp = decode_response(rf.content_type.as_deref(), &rf.body, Some(&req));
    assert!(resp
        .diagnostics
        .iter()
        .any(|d| d.message == "Response RequestToken 1 matches no Request"));
    assert_eq!(resp.notes, vec![]);
}

#[test]
fn invalid_attribute_names_the_attribute_whose_value_did_not_parse() {
    let body = br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><RequestVersion Version="2" MinorVersion="2" xmlns="http://schemas.microsoft.com/sharepoint/soap/"/><RequestCollection CorrelationId="{1}" xmlns="http://schemas.microsoft.com/sharepoint/soap/"><Request Url="http://x/a.docx" RequestToken="1"><SubRequest Type="Coauth" SubRequestToken="1"><SubRequestData CoauthRequestType="RefreshCoauthoring" ClientID="c" SchemaLockID="s" Timeout="soon"/></SubRequest></Request></RequestCollection></s:Body></s:Envelope>"#;
    let env = decode_request(Some("text/xml"), body);
    let names: Vec<&str> = env
        .diagnostics
        .iter()
        .filter_map(invalid_attribute)
        .collect();
    assert_eq!(names, ["Timeout"]);
}
