//! `synctap show CAPTURE --id N --as curl|raw|har` (issue 19.6): the printed curl command,
//! run by a real shell and curl against a fresh `synctap serve`, gets the answer that was
//! recorded; raw and har export the same exchange.

use std::process::Command;

use serde_json::Value;
use synctap::decode::exchange::{decode_exchange, DecodedExchange, Meta, Protocol};
use synctap::model::Exchange;

use crate::util::{read_capture, serve, synctap, TestResult};

/// A demo capture recorded against a `synctap serve` process at `url`.
fn demo_capture(
    dir: &std::path::Path,
) -> Result<(std::path::PathBuf, String), Box<dyn std::error::Error>> {
    let s = serve(dir, "first", &["--seed", "3"])?;
    let url = s.url.clone();
    let capture = dir.join("c.jsonl");
    let out = synctap()
        .arg("--certs")
        .arg(dir.join("certs"))
        .args(["demo", "--no-ui", "--server"])
        .arg(format!("{url}/sites/remote"))
        .arg("--capture")
        .arg(&capture)
        .output();
    drop(s);
    let out = out?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((capture, url))
}

fn decode(x: &Exchange) -> DecodedExchange {
    let q = x
        .request
        .as_ref()
        .map(|r| r.headers.pairs())
        .unwrap_or_default();
    let r = x
        .response
        .as_ref()
        .map(|r| r.headers.pairs())
        .unwrap_or_default();
    let (method, url, qb) = x.request.as_ref().map_or(("", "", &[][..]), |r| {
        (r.method.as_str(), r.url.as_str(), &r.body.bytes[..])
    });
    let (status, rb) = x
        .response
        .as_ref()
        .map_or((None, &[][..]), |r| (Some(r.status), &r.body.bytes[..]));
    let meta = Meta::request(method, url, &q).with_response(status, &r);
    decode_exchange(&meta, qb, rb)
}

/// The decoded SubResponses as JSON without what changes from run to run or server to
/// server: times, where parts sit in the body, the server's port.
fn comparable(d: &DecodedExchange, port: &str) -> String {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| !k.ends_with("Time") && k != "origin");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let subs: Vec<_> = d
        .fsshttp_response()
        .map(|r| r.sub_responses().map(|(_, s)| s.clone()).collect())
        .unwrap_or_default();
    let mut v = serde_json::to_value(subs).unwrap_or_default();
    strip(&mut v);
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
    let (capture, first_url) = demo_capture(dir.path())?;
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
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
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
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
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
    let capture = dir.path().join("demo.jsonl");
    let out = synctap()
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .args(["demo", "--no-ui", "--capture"])
        .arg(&capture)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
