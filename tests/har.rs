//! HAR export/import and credential redaction, through the real binary.

use std::path::Path;

use synctap::capture::write_capture;
use synctap::decode::exchange::decode_recorded;
use synctap::model::{Exchange, Headers, ProxyMode, Request, Response};

use crate::util::{
    assert_ran, export, fsshttp_fixture, import, read_capture, redact, synctap, timings, TestResult,
};

/// Headers and body of a fixture in testdata/fsshttp.
fn fixture(name: &str) -> (Headers, Vec<u8>) {
    let (headers, body) = fsshttp_fixture(name);
    (Headers(headers), body)
}

fn exchange(id: u64, name: &str, secrets: bool) -> Exchange {
    let (mut qh, qb) = fixture(&format!("{name}.request"));
    let (mut rh, rb) = fixture(&format!("{name}.response"));
    qh.0.insert(0, ("Host".into(), "contoso.example".into()));
    qh.0.push((
        "SOAPAction".into(),
        "\"http://schemas.microsoft.com/sharepoint/soap/ICellStorages/ExecuteCellStorageRequest\""
            .into(),
    ));
    let mut url = "https://contoso.example/_vti_bin/cellstorage.svc/CellStorageService".to_owned();
    if secrets {
        qh.0.push((
            "Authorization".into(),
            "Bearer eyJhbGciOi.secret-token".into(),
        ));
        qh.0.push((
            "Cookie".into(),
            "FedAuth=77u/PD94bWwgdmVyc2lvbj0; rtFa=S3cr3tRtFa".into(),
        ));
        qh.0.push((
            "X-RequestDigest".into(),
            "0xABCDEF0123456789,21 Nov 2026 10:00:00 -0000".into(),
        ));
        rh.0.push((
            "Set-Cookie".into(),
            "FedAuth=77u/PD94bWwgdmVyc2lvbj0; path=/; secure; HttpOnly".into(),
        ));
        url.push_str("?access_token=tok123&access_token_ttl=1700000000&keep=yes");
    }
    let request = Request::new("POST", &url, qh, qb);
    let response = Response {
        reason: "OK".into(),
        ..Response::new(200, rh, rb)
    };
    Exchange {
        client_addr: "127.0.0.1:50000".into(),
        mode: ProxyMode::Forward,
        connection_id: id,
        server: "contoso.example:443".into(),
        timings: timings(
            format!("2026-11-21T10:00:0{id}.000000Z"),
            [1.5, 3.0, 5.0, 9.0, 10.0],
        ),
        ..Exchange::http(id, request, Some(response))
    }
}

fn sample_capture(
    dir: &Path,
) -> Result<(std::path::PathBuf, Vec<Exchange>), Box<dyn std::error::Error>> {
    let mut xs = vec![
        exchange(1, "whoami_servertime", true),
        exchange(2, "cell_upload_two_parts", true),
        exchange(3, "coauth_join", false),
    ];
    // A truncated binary body: its stored prefix, length and hash survive the trip.
    let mut big = exchange(4, "coauth_join", false);
    if let Some(r) = big.response.as_mut() {
        r.body = crate::util::truncated_binary_body();
    }
    xs.push(big);
    let path = dir.join("sample.jsonl");
    write_capture(&path, &xs, false)?;
    Ok((path, xs))
}

#[test]
fn capture_to_har_to_capture_is_lossless() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (capture, original) = sample_capture(dir.path())?;
    let har = dir.path().join("out.har");
    export(&capture, "har", &har, &[]);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&har)?)?;
    let entries = doc["log"]["entries"].as_array().ok_or("no entries")?;
    assert_eq!(entries.len(), 4);
    assert_eq!(doc["log"]["version"], "1.2");
    assert_eq!(entries[0]["_synctap"]["protocol"], "FSSHTTP");
    assert!(entries[0]["_synctap"]["summary"][0]
        .as_str()
        .unwrap_or("")
        .contains("WhoAmI"));
    // Binary MTOM bodies go base64 with `_encoding` (request) / `encoding` (response).
    assert_eq!(entries[3]["response"]["content"]["encoding"], "base64");
    assert!(entries[3]["response"]["content"]["comment"]
        .as_str()
        .unwrap_or("")
        .contains("truncated"));
    let back = dir.path().join("back.jsonl");
    let out = import(&har, &back);
    assert_ran("import", &out);
    let restored = read_capture(&back);
    assert_eq!(
        restored, original,
        "every field, header order and body byte"
    );
    Ok(())
}

#[test]
fn import_devtools_and_mitmproxy_har() -> TestResult {
    // Shaped like Chrome devtools and mitmproxy's hardump output: `_` fields, -1 timings,
    // text without encoding, base64 binary, params-only postData, compression, and one
    // entry with no URL (skipped).
    let har = r#"{"log":{"version":"1.2","creator":{"name":"WebInspector","version":"537.36"},
      "pages":[{"startedDateTime":"2026-11-21T10:00:00.000Z","id":"page_1","title":"x","pageTimings":{}}],
      "entries":[
       {"_initiator":{"type":"other"},"_priority":"High","_resourceType":"fetch","cache":{},"connection":"4711","pageref":"page_1",
        "request":{"method":"POST","url":"https://contoso.example/_vti_bin/cellstorage.svc/CellStorageService","httpVersion":"http/2.0",
          "headers":[{"name":":authority","value":"contoso.example"},{"name":"content-type","value":"text/xml; charset=utf-8"},{"name":"soapaction","value":"http://schemas.microsoft.com/sharepoint/soap/ICellStorages/ExecuteCellStorageRequest"}],
          "queryString":[],"cookies":[],"headersSize":-1,"bodySize":120,
          "postData":{"mimeType":"text/xml; charset=utf-8","text":"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>"}},
        "response":{"status":200,"statusText":"","httpVersion":"http/2.0","headers":[{"name":"content-type","value":"text/xml"},{"name":"content-encoding","value":"gzip"}],
          "cookies":[],"content":{"size":10,"mimeType":"text/xml","compression":-5,"text":"<ok/>"},"redirectURL":"","headersSize":-1,"bodySize":-1,"_transferSize":120,"_error":null},
        "serverIPAddress":"10.0.0.1","startedDateTime":"2026-11-21T10:00:00.100Z","time":12.5,
        "timings":{"blocked":0.5,"dns":-1,"ssl":-1,"connect":-1,"send":0.2,"wait":10.1,"receive":1.7,"_blocked_queueing":0.3}},
       {"startedDateTime":"2026-11-21T10:00:01Z","time":5,
        "request":{"method":"GET","url":"https://contoso.example/file.bin","httpVersion":"HTTP/1.1","headers":[],"queryString":[],"cookies":[],"headersSize":-1,"bodySize":0},
        "response":{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","headers":[{"name":"Content-Type","value":"application/octet-stream"}],"cookies":[],
          "content":{"size":4,"mimeType":"application/octet-stream","text":"AP8QgA==","encoding":"base64"},"redirectURL":"","headersSize":-1,"bodySize":4},
        "cache":{},"timings":{"send":0,"wait":4,"receive":1}},
       {"startedDateTime":"2026-11-21T10:00:02Z","time":5,
        "request":{"method":"POST","url":"https://contoso.example/token","httpVersion":"HTTP/1.1","headers":[{"name":"Content-Type","value":"application/x-www-form-urlencoded"}],"queryString":[],"cookies":[],"headersSize":-1,"bodySize":30,
          "postData":{"mimeType":"application/x-www-form-urlencoded","params":[{"name":"grant_type","value":"x"},{"name":"access_token","value":"abc"}]}},
        "response":{"status":204,"statusText":"No Content","httpVersion":"HTTP/1.1","headers":[],"cookies":[],"content":{"size":0,"mimeType":""},"redirectURL":"","headersSize":-1,"bodySize":0},
        "cache":{},"timings":{"send":0,"wait":4,"receive":1}},
       {"startedDateTime":"2026-11-21T10:00:03Z","time":1,"request":{"method":"GET"},"response":{"status":0}}
      ]}}"#;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("devtools.har");
    std::fs::write(&file, har)?;
    let out_path = dir.path().join("imported.jsonl");
    let out = import(&file, &out_path);
    assert_ran("import", &out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("read 4 HAR entries, 3 exchanges, skipped 1"),
        "{err}"
    );
    assert!(err.contains("without request.url"), "{err}");
    let xs = read_capture(&out_path);
    assert_eq!(xs.len(), 3);
    let first = xs[0].request.as_ref().ok_or("request")?;
    assert!(
        first.headers.get(":authority").is_none(),
        "pseudo-headers dropped"
    );
    assert_eq!(xs[0].connection_id, 4711);
    let resp0 = xs[0].response.as_ref().ok_or("response")?;
    assert_eq!(resp0.body.bytes, b"<ok/>");
    assert!(
        resp0.headers.get("content-encoding").is_none(),
        "decoded body: encoding header removed"
    );
    let done = xs[0].timings.done_ms.ok_or("no done time")?;
    assert!((done - 12.0).abs() < 1e-9, "{done}");
    assert_eq!(decode_recorded(&xs[0]).protocol().name(), "FSSHTTP");
    assert_eq!(
        xs[1].response.as_ref().ok_or("response")?.body.bytes,
        vec![0, 0xff, 0x10, 0x80]
    );
    assert_eq!(
        xs[2].request.as_ref().ok_or("request")?.body.bytes,
        b"grant_type=x&access_token=abc"
    );
    // Every command works on the result.
    let show = synctap().arg("show").arg(&out_path).output()?;
    assert!(show.status.success());
    assert_eq!(String::from_utf8_lossy(&show.stdout).lines().count(), 3);
    Ok(())
}

#[test]
fn redaction_replaces_each_secret_consistently_and_nothing_else() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (capture, original) = sample_capture(dir.path())?;
    let out_path = dir.path().join("redacted.jsonl");
    let out = redact(&capture, &out_path, &["--redact-identities"]);
    assert_ran("redact", &out);
    let report = String::from_utf8_lossy(&out.stderr);
    for kind in [
        "Authorization ×2",
        "Cookie value ×4",
        "Set-Cookie value ×2",
        "X-RequestDigest ×2",
        "access_token ×2",
        "UserLogin ×1",
        "UserEmailAddress ×1",
    ] {
        assert!(report.contains(kind), "missing {kind} in {report}");
    }
    let all = std::fs::read_to_string(&out_path)?;
    for secret in [
        "secret-token",
        "77u/PD94bWwgdmVyc2lvbj0",
        "S3cr3tRtFa",
        "0xABCDEF0123456789",
        "tok123",
        "1700000000",
        "megan@contoso.example",
        "contoso\\\\megan",
    ] {
        assert!(!all.contains(secret), "{secret} survived redaction");
    }
    let red = read_capture(&out_path);
    assert_eq!(red.len(), original.len());
    // The same secret gets the same placeholder everywhere.
    let cookie = |x: &Exchange| {
        x.request
            .as_ref()
            .and_then(|r| r.headers.get("cookie").map(str::to_owned))
    };
    assert_eq!(cookie(&red[0]), cookie(&red[1]));
    let fedauth_req = cookie(&red[0]).unwrap_or_default();
    let set_cookie = red[0]
        .response
        .as_ref()
        .and_then(|r| r.headers.get("set-cookie"))
        .unwrap_or("");
    let placeholder = fedauth_req
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .trim_start_matches("FedAuth=")
        .to_owned();
    assert!(placeholder.starts_with("redacted-"), "{fedauth_req}");
    assert!(
        set_cookie.starts_with(&format!("FedAuth={placeholder};")),
        "{set_cookie}"
    );
    assert!(red[0]
        .request
        .as_ref()
        .and_then(|r| r.headers.get("authorization"))
        .unwrap_or("")
        .starts_with("Bearer redacted-"));
    assert!(red[0]
        .request
        .as_ref()
        .is_some_and(|r| r.url.contains("keep=yes")));
    for (a, b) in original.iter().zip(&red) {
        let (qa, qb) = (
            a.request.as_ref().ok_or("req")?,
            b.request.as_ref().ok_or("req")?,
        );
        // Nothing else touched: same header names in the same order, same non-secret values,
        // bodies the same length (offsets and Content-Length stay valid).
        assert_eq!(
            qa.headers.0.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            qb.headers.0.iter().map(|(n, _)| n).collect::<Vec<_>>()
        );
        for ((n, va), (_, vb)) in qa.headers.0.iter().zip(&qb.headers.0) {
            if !["authorization", "cookie", "x-requestdigest"]
                .contains(&n.to_ascii_lowercase().as_str())
            {
                assert_eq!(va, vb, "{n} changed");
            }
        }
        assert_eq!(
            qa.body, qb.body,
            "request bodies without secrets are untouched"
        );
        let (ra, rb) = (
            a.response.as_ref().ok_or("resp")?,
            b.response.as_ref().ok_or("resp")?,
        );
        assert_eq!(ra.body.bytes.len(), rb.body.bytes.len());
        // Still decodes, with no new diagnostics.
        let (da, db) = (decode_recorded(a), decode_recorded(b));
        assert_eq!(da.diagnostics, db.diagnostics, "exchange {}", a.id);
        assert_eq!(da.protocol(), db.protocol());
    }
    // Identities stay unless asked for.
    let plain = dir.path().join("plain.jsonl");
    let out = redact(&capture, &plain, &[]);
    assert!(out.status.success());
    assert!(std::fs::read_to_string(&plain)?.contains("megan@contoso.example"));
    Ok(())
}

#[test]
fn demo_capture_round_trips_through_har() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = crate::util::record_demo(dir.path());
    let har = dir.path().join("demo.har");
    export(&capture, "har", &har, &[]);
    let back = dir.path().join("back.jsonl");
    let out = import(&har, &back);
    assert_ran("import", &out);
    let original = read_capture(&capture);
    let restored = read_capture(&back);
    assert!(original.len() >= 40, "{} exchanges", original.len());
    assert_eq!(
        restored, original,
        "byte-exact bodies, headers in order, all metadata"
    );
    // A redacted export of the same capture still decodes without new diagnostics.
    let red = dir.path().join("red.jsonl");
    let out = redact(&capture, &red, &["--redact-identities"]);
    assert!(out.status.success());
    for (a, b) in original.iter().zip(read_capture(&red).iter()) {
        assert_eq!(
            decode_recorded(a).diagnostics,
            decode_recorded(b).diagnostics,
            "exchange {}",
            a.id
        );
    }
    Ok(())
}
