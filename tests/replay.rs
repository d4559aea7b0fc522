//! `synctap replay` and `synctap mock` as processes: a demo session recorded through the
//! proxy against `synctap serve`, replayed against other `serve` processes (same rules,
//! coauthoring off, a coauthor limit of 1), and served back by the mock.

use std::path::Path;
use std::process::Stdio;

use synctap::decode::exchange::{decode_recorded, DecodedRecord};
use synctap::model::Exchange;

use crate::util::{
    demo_command, read_capture, serve, synctap, DemoSetup, ServerProcess, TestResult,
};

/// Records the demo story through the proxy against a fresh `serve --coauth on`.
fn record_demo(dir: &Path) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    record_demo_against(dir, "rec", &["--coauth", "on"])
}

/// Records the demo story through the proxy into `DIR/NAME.jsonl`, against a fresh
/// `serve` (data in `DIR/data-NAME`) started with `serve_args`.
pub(crate) fn record_demo_against(
    dir: &Path,
    name: &str,
    serve_args: &[&str],
) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let ca = dir.join("certs/synctap-ca.pem");
    let run = DemoSetup::new(serve_args)
        .data(&format!("data-{name}"))
        .site("demo")
        .capture(&format!("{name}.jsonl"))
        .demo_args(&["--upstream-ca", ca.to_str().ok_or("path")?])
        .run(dir)?;
    Ok(run.capture)
}

fn replay(
    dir: &Path,
    capture: &Path,
    target: &str,
    extra: &[&str],
) -> Result<(i32, String), Box<dyn std::error::Error>> {
    let mut cmd = synctap();
    cmd.arg("--certs")
        .arg(dir.join("certs"))
        .arg("replay")
        .arg(capture)
        .args(["--target", target])
        .args(extra);
    let ca = dir.join("certs/synctap-ca.pem");
    if ca.exists() {
        cmd.arg("--upstream-ca").arg(ca);
    }
    let out = cmd.stderr(Stdio::piped()).output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code().ok_or("killed")?, text))
}

#[test]
fn replay_against_serve_variants() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = record_demo(dir.path())?;

    // Same rules, another seed: every server-minted value differs, so the session only
    // replays cleanly when ETags, resourcetags, lock tokens and storage ids are remapped.
    let same = serve(dir.path(), "data-same", &["--coauth", "on", "--seed", "2"])?;
    let out = dir.path().join("replayed.jsonl");
    let report = dir.path().join("report.md");
    let (code, text) = replay(
        dir.path(),
        &capture,
        &same.url,
        &[
            "--out",
            out.to_str().ok_or("path")?,
            "--report",
            report.to_str().ok_or("path")?,
        ],
    )?;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("0 differences"), "{text}");
    assert!(std::fs::read_to_string(&report)?.contains("**Totals:**"));
    // The coherency-failure story: A's stale upload fails, the retry after the download
    // succeeds on the new server (its expected storage index was remapped).
    let xs = read_capture(&out);
    let cell_codes: Vec<String> = xs
        .iter()
        .filter_map(|x| {
            let d = decode_recorded(x);
            let f = d.fsshttp()?;
            let r = f.response.as_ref()?;
            let codes: Vec<String> = r
                .sub_responses()
                .filter_map(|(_, s)| s.error_code.as_ref().map(ToString::to_string))
                .collect();
            Some(codes.join("+"))
        })
        .collect();
    let fail = cell_codes
        .iter()
        .position(|c| c == "CellRequestFail")
        .ok_or("no CoherencyFailure in the replay")?;
    assert_eq!(
        cell_codes.get(fail + 1).map(String::as_str),
        Some("Success")
    );
    assert_eq!(
        cell_codes.get(fail + 2).map(String::as_str),
        Some("Success")
    );

    // Another site path: request URLs, cell storage `Url` attributes and hrefs follow.
    let moved = serve(dir.path(), "data-moved", &["--coauth", "on"])?;
    let out2 = dir.path().join("moved.jsonl");
    let (code, text) = replay(
        dir.path(),
        &capture,
        &moved.url,
        &[
            "--map",
            "/sites/demo=/sites/elsewhere",
            "--out",
            out2.to_str().ok_or("path")?,
        ],
    )?;
    assert_eq!(code, 0, "{text}");
    for x in read_capture(&out2) {
        let req = x.request.as_ref().ok_or("no request")?;
        assert!(req.url.contains("/sites/elsewhere/"), "{}", req.url);
        let body = String::from_utf8_lossy(&req.body.bytes);
        assert!(!body.contains("/sites/demo"), "{body}");
    }

    // Coauthoring off: the joins fall back to exclusive locks.
    let off = serve(dir.path(), "data-off", &["--coauth", "off"])?;
    let (code, text) = replay(dir.path(), &capture, &off.url, &["--timing", "fast"])?;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("LockType SchemaLock → ExclusiveLock"),
        "{text}"
    );
    assert!(text.contains("CoauthStatus"), "{text}");

    // One coauthor at most: B, who joined second, is refused.
    let one = serve(dir.path(), "data-one", &["--max-coauthors", "1"])?;
    let (code, text) = replay(dir.path(), &capture, &one.url, &["--json"])?;
    assert_eq!(code, 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let diffs = v["differences"].as_array().ok_or("no differences")?;
    assert!(
        diffs.iter().any(
            |d| d["client"].as_str().is_some_and(|c| c.contains("B0000000"))
                && d["place"]
                    .as_str()
                    .is_some_and(|p| p.contains("JoinCoauthoring"))
                && d["changes"].as_array().is_some_and(|cs| cs
                    .iter()
                    .any(|c| c["replayed"] == "NumberOfCoauthorsReachedMax"))
        ),
        "{text}"
    );
    Ok(())
}

#[test]
fn replay_cannot_run() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (code, text) = replay(
        dir.path(),
        &dir.path().join("missing.jsonl"),
        "https://127.0.0.1:9",
        &[],
    )?;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("cannot read the capture"), "{text}");
    let capture = dir.path().join("empty.jsonl");
    synctap::capture::write_capture(&capture, std::iter::empty(), true)?;
    // Port 9 (discard) is closed on test machines.
    let (code, text) = replay(dir.path(), &capture, "https://127.0.0.1:9", &[])?;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("unreachable"), "{text}");

    // A server whose certificate is not trusted: nothing answers, exit 2.
    let capture = record_demo(dir.path())?;
    let s = serve(dir.path(), "data-untrusted", &[])?;
    let out = synctap()
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .arg("replay")
        .arg(&capture)
        .args(["--target", &s.url, "--timing", "fast"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("no request got an answer"), "{text}");
    Ok(())
}

/// A `synctap mock` process; killed when dropped.
fn mock(
    dir: &Path,
    capture: &Path,
    log: &Path,
) -> Result<ServerProcess, Box<dyn std::error::Error>> {
    let mut cmd = synctap();
    cmd.arg("--certs")
        .arg(dir.join("certs"))
        .arg("mock")
        .arg(capture)
        .args(["--listen", "127.0.0.1:0", "--tls"])
        .stderr(std::fs::File::create(log)?);
    ServerProcess::spawn(cmd)
}

#[test]
fn mock_serves_the_demo_to_its_clients() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = record_demo(dir.path())?;
    let log = dir.path().join("mock.log");
    let m = mock(dir.path(), &capture, &log)?;
    let again = dir.path().join("against-mock.jsonl");
    let out = demo_command(&dir.path().join("certs"), &again)
        .arg("--server")
        .arg(format!("{}/sites/demo", m.url))
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo against the mock failed:\n{stdout}"
    );
    assert!(stdout.contains("CoherencyFailure"), "{stdout}");
    let decoded = |xs: Vec<Exchange>| -> Vec<DecodedRecord> {
        xs.into_iter().map(DecodedRecord::new).collect()
    };
    let (a, b) = (
        decoded(read_capture(&capture)),
        decoded(read_capture(&again)),
    );
    assert_eq!(a.len(), b.len());
    let diffs = synctap::replay::diff::compare_timelines(
        &synctap::replay::diff::timeline_of(&a),
        &synctap::replay::diff::timeline_of(&b),
    );
    assert!(diffs.is_empty(), "{diffs:#?}");
    let logged = std::fs::read_to_string(&log)?;
    assert!(!logged.contains("no recorded answer"), "{logged}");

    // An unknown request: 502 naming the closest recorded one, and a log line.
    let rt = crate::util::runtime();
    let (status, body) = rt.block_on(async {
        let c = crate::util::client(&dir.path().join("certs/synctap-ca.pem"), None, false);
        let r = c
            .get(format!("{}/sites/demo/Shared%20Documents/Nope.txt", m.url))
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok::<_, reqwest::Error>((status, r.text().await?))
    })?;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("closest recorded request"), "{body}");

    // A cell storage request from a client the capture never saw: a SOAP fault.
    let x = a
        .iter()
        .find(|x| {
            x.exchange
                .request
                .as_ref()
                .is_some_and(|r| r.url.contains("cellstorage.svc"))
        })
        .ok_or("no cell storage exchange")?;
    let req = x.exchange.request.as_ref().ok_or("no request")?;
    let ct = req.headers.get("content-type").ok_or("no content type")?;
    let text = String::from_utf8_lossy(&req.body.bytes).replace(
        "A0000000-0000-4000-8000-00000000000A",
        "F0000000-0000-4000-8000-0000000000FF",
    );
    let (status, body) = rt.block_on(async {
        let c = crate::util::client(&dir.path().join("certs/synctap-ca.pem"), None, false);
        let r = c
            .post(format!(
                "{}/sites/demo/_vti_bin/cellstorage.svc/CellStorageService",
                m.url
            ))
            .header("content-type", ct)
            .header("soapaction", synctap::decode::fsshttp::SOAP_ACTION)
            .body(text)
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok::<_, reqwest::Error>((status, r.text().await?))
    })?;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("Fault") && body.contains("closest recorded request"),
        "{body}"
    );
    drop(m);
    assert!(std::fs::read_to_string(&log)?.contains("Nope.txt"));
    Ok(())
}
