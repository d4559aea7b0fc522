//! `synctap show CAPTURE --id N --as curl|raw|har` (issue 19.6): the printed curl command,
//! run by a real shell and curl against a fresh `synctap serve`, gets the answer that was
//! recorded; raw and har export the same exchange.

use std::process::Command;

use serde_json::Value;
use synctap::decode::exchange::{decode_recorded as decode, DecodedExchange, Protocol};

use crate::util::{
    assert_ran, drop_keys, read_capture, record_demo, serve, synctap, DemoSetup, TestResult,
};

/// The decoded SubResponses as JSON without what changes from run to run or server to
/// server: times, where parts sit in the body, the server's port.
fn comparable(d: &DecodedExchange, port: &str) -> String {
    let subs: Vec<_> = d
        .fsshttp_response()
        .map(|r| r.sub_responses().map(|(_, s)| s.clone()).collect())
        .unwrap_or_default();
    let mut v = serde_json::to_value(subs).unwrap_or_default();
    drop_keys(&mut v, &|k| k.ends_with("Time") || k == "origin");
    v.to_string().replace(port, ":PORT")
}

/// A response as curl printed it: status, header fields, body.
type CurlResponse = (u16, Vec<(String, String)>, Vec<u8>);

/// `curl --include` output: the last response head (after any 100 Continue) and body.
fn parse_curl_output(out: &[u8]) -> Result<CurlResponse, String> {
    let mut rest = out;
    loop {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("no response head in curl's output")?;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or("no status line")?;
        if status == 100 {
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        return Ok((status, headers, rest.to_vec()));
    }
}

#[test]
fn curl_export_run_against_a_fresh_serve_gets_the_recorded_answer() -> TestResult {
    let dir = tempfile::tempdir()?;
    // A demo capture recorded against a `synctap serve` process, stopped afterwards.
    let run = DemoSetup::new(&["--seed", "3"])
        .data("first")
        .capture("c.jsonl")
        .run(dir.path())?;
    let (capture, first_url) = (run.capture, run.serve.url.clone());
    drop(run.serve);
    let xs = read_capture(&capture);
    // The first cell storage exchange: a fresh server with the same seed is in the state
    // the recorded one was in when it answered.
    let x = xs
        .iter()
        .filter(|x| decode(x).protocol() == Protocol::Fsshttp)
        .min_by_key(|x| x.id)
        .ok_or("no cell storage exchange")?;
    let recorded = decode(x);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir)?;
    let printed = synctap()
        .arg("show")
        .arg(&capture)
        .args(["--id", &x.id.to_string(), "--as", "curl", "--out"])
        .arg(&out_dir)
        .output()?;
    assert_ran("show --as curl", &printed);
    let cmd = String::from_utf8(printed.stdout)?;
    assert!(cmd.starts_with("curl "), "{cmd}");
    let body = out_dir.join(format!("synctap-exchange-{}.body", x.id));
    let sent = x
        .request
        .as_ref()
        .map(|r| r.body.bytes.clone())
        .unwrap_or_default();
    assert_eq!(std::fs::read(&body)?, sent);

    let fresh = serve(dir.path(), "second", &["--seed", "3"])?;
    let port_of = |url: &str| {
        url.rsplit_once(':')
            .map(|(_, p)| format!(":{p}"))
            .unwrap_or_default()
    };
    let (old_port, new_port) = (port_of(&first_url), port_of(&fresh.url));
    let run = Command::new("bash")
        .arg("-c")
        .arg(cmd.replace(&old_port, &new_port))
        .output()?;
    drop(fresh);
    assert_ran("the printed curl command", &run);
    let (status, headers, body) = parse_curl_output(&run.stdout)?;
    let mut replayed = x.clone();
    if let Some(r) = replayed.response.as_mut() {
        r.status = status;
        r.headers = synctap::model::Headers(headers);
        r.body = synctap::model::Body::complete(body);
    }
    let answer = decode(&replayed);
    assert!(answer.diagnostics.is_empty(), "{:?}", answer.diagnostics);
    assert_eq!(Some(status), x.response.as_ref().map(|r| r.status));
    let (want, got) = (
        comparable(&recorded, &old_port),
        comparable(&answer, &new_port),
    );
    assert!(want.contains("ErrorCode"), "{want}");
    assert_eq!(got, want);

    // raw: the request line and the recorded response, byte for byte after the heads.
    let raw = synctap()
        .arg("show")
        .arg(&capture)
        .args(["--id", &x.id.to_string(), "--as", "raw"])
        .output()?;
    assert!(raw.status.success());
    assert!(raw
        .stdout
        .starts_with(b"POST /sites/remote/_vti_bin/cellstorage.svc"));
    let resp_body = x
        .response
        .as_ref()
        .map(|r| r.body.bytes.clone())
        .unwrap_or_default();
    assert!(raw.stdout.ends_with(&resp_body));
    // har: one entry.
    let har = synctap()
        .arg("show")
        .arg(&capture)
        .args(["--id", &x.id.to_string(), "--as", "har"])
        .output()?;
    let doc: Value = serde_json::from_slice(&har.stdout)?;
    assert_eq!(doc["log"]["entries"].as_array().map(Vec::len), Some(1));
    // An id the capture does not hold is an error.
    let none = synctap()
        .arg("show")
        .arg(&capture)
        .args(["--id", "999999", "--as", "raw"])
        .output()?;
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no exchange 999999"));
    Ok(())
}

/// Issue 19.2: `~t` names MS-FSSHTTPB operations in `show`.
#[test]
fn show_filters_by_fsshttpb_operation() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = record_demo(dir.path());
    let lines = |expr: &str| -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let o = synctap()
            .arg("show")
            .arg(&capture)
            .args(["--filter", expr])
            .output()?;
        assert!(o.status.success());
        Ok(String::from_utf8(o.stdout)?
            .lines()
            .map(str::to_owned)
            .collect())
    };
    let puts = lines("~t PutChanges")?;
    assert!(!puts.is_empty());
    assert!(
        puts.iter()
            .all(|l| l.contains("Put Changes") || l.contains("PutChanges")),
        "{puts:#?}"
    );
    let queries = lines("~t querychanges")?;
    assert!(!queries.is_empty());
    let both = lines("~t PutChanges | ~t QueryChanges")?;
    assert!(both.len() >= puts.len().max(queries.len()));
    assert!(lines("~t PutChanges & ~p WebDAV")?.is_empty());
    Ok(())
}
