//! The command line as a user runs it: `ca`, `show`.

use crate::util::{synctap, TestResult};

#[test]
fn ca_init_show_export() -> TestResult {
    let dir = tempfile::tempdir()?;
    let certs = dir.path().join("certs");
    let out = synctap()
        .arg("--certs")
        .arg(&certs)
        .args(["ca", "init"])
        .output()?;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("created a new CA"), "{text}");
    assert!(text.contains("SHA-256"), "{text}");
    let pem = std::fs::read_to_string(certs.join("synctap-ca.pem"))?;
    let out = synctap()
        .arg("--certs")
        .arg(&certs)
        .args(["ca", "init"])
        .output()?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("already exists"));
    assert_eq!(pem, std::fs::read_to_string(certs.join("synctap-ca.pem"))?);
    let show = synctap()
        .arg("--certs")
        .arg(&certs)
        .args(["ca", "show"])
        .output()?;
    let text = String::from_utf8_lossy(&show.stdout);
    for needle in [
        "certutil -addstore Root",
        "security add-trusted-cert",
        "--cacert",
        "synctap CA",
    ] {
        assert!(text.contains(needle), "missing {needle}: {text}");
    }
    let der = dir.path().join("ca.der");
    let out = synctap()
        .arg("--certs")
        .arg(&certs)
        .args(["ca", "export", "--der"])
        .arg(&der)
        .output()?;
    assert!(out.status.success());
    let der_bytes = std::fs::read(&der)?;
    assert_eq!(der_bytes[0], 0x30, "DER starts with a SEQUENCE");
    Ok(())
}

#[test]
fn show_refuses_a_newer_capture_version_clearly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let f = dir.path().join("new.jsonl");
    std::fs::write(
        &f,
        "{\"type\":\"header\",\"data\":{\"format\":\"synctap-capture\",\"version\":99,\"created\":\"x\",\"writer\":\"future\",\"extra\":1}}\n",
    )?;
    let out = synctap().arg("show").arg(&f).output()?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("version 99 is newer"), "{err}");
    Ok(())
}

#[test]
fn show_tolerates_a_torn_last_line() -> TestResult {
    let dir = tempfile::tempdir()?;
    let f = dir.path().join("torn.jsonl");
    let header = serde_json::to_string(&synctap::capture::Record::Header(
        synctap::capture::format::CaptureHeader::now(),
    ))?;
    let x = synctap::model::Exchange {
        id: 1,
        kind: synctap::model::ExchangeKind::Http,
        connection_id: 1,
        client_addr: "127.0.0.1:1".into(),
        mode: synctap::model::ProxyMode::Forward,
        tls: None,
        server: "h:443".into(),
        http_version: "HTTP/1.1".into(),
        request: Some(synctap::model::Request {
            method: "GET".into(),
            url: "https://h/a".into(),
            headers: synctap::model::Headers::default(),
            body: synctap::model::Body::default(),
        }),
        response: None,
        tunnel: None,
        timings: synctap::model::Timings {
            start: "2026-11-21T00:00:00.000Z".into(),
            ..Default::default()
        },
        error: None,
        imported: None,
        modified: None,
    };
    let line = serde_json::to_string(&synctap::capture::Record::Exchange(Box::new(x)))?;
    std::fs::write(&f, format!("{header}\n{line}\n{}", &line[..line.len() / 2]))?;
    let out = synctap().arg("show").arg(&f).output()?;
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("torn"));
    let out = synctap().args(["show", "--json"]).arg(&f).output()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["request"]["url"], "https://h/a");
    Ok(())
}

#[test]
fn show_filters_and_reports_bad_filters_by_column() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = crate::util::record_demo(dir.path());
    let show = |filter: &str| {
        synctap()
            .arg("show")
            .arg(&capture)
            .args(["--filter", filter])
            .output()
    };
    let all = synctap().arg("show").arg(&capture).output()?;
    let total = String::from_utf8_lossy(&all.stdout).lines().count();
    let locked = show("~p FSSHTTP & ~e FileAlreadyLockedOnServer")?;
    assert!(locked.status.success());
    let text = String::from_utf8_lossy(&locked.stdout);
    let n = text.lines().count();
    assert!(n >= 1 && n < total, "{n} of {total}:\n{text}");
    assert!(
        text.lines()
            .all(|l| l.contains("FileAlreadyLockedOnServer")),
        "{text}"
    );
    let not_locked = show("!(~p FSSHTTP & ~e FileAlreadyLockedOnServer)")?;
    assert_eq!(
        String::from_utf8_lossy(&not_locked.stdout).lines().count(),
        total - n
    );
    let dav = show("~p WebDAV & ~c 423")?;
    assert!(String::from_utf8_lossy(&dav.stdout)
        .lines()
        .all(|l| l.contains(" 423 ")));
    let bad = show("~m GET & (~x 1")?;
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("column 11") && err.contains("unknown filter ~x"),
        "{err}"
    );
    Ok(())
}

/// A binary MS-FSSHTTPB response with one sub-response of every kind.
const EVERY_SUB_RESPONSE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/fsshttpb/every-sub-response.bin"
);

/// `decode --fields` maps every byte of a binary message to its field, Wireshark-style.
#[test]
fn decode_fields_maps_every_byte() -> TestResult {
    let path = EVERY_SUB_RESPONSE;
    let out = synctap().args(["decode", "--fields", path]).output()?;
    crate::util::assert_ran("synctap", &out);
    let text = String::from_utf8(out.stdout)?;
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("000000  0E 00")
            && lines[0].ends_with("protocol version = 14 (0x000E)"),
        "{text}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.ends_with("Response end = 16-bit end: type 0x62")),
        "{text}"
    );
    assert!(!text.contains("bytes not decoded)"), "{text}");
    // The JSON form tiles the whole file.
    let out = synctap()
        .args(["decode", "--fields", "--json", path])
        .output()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut at = 0;
    for f in v["fields"].as_array().ok_or("fields")? {
        assert_eq!(f["offset"].as_u64(), Some(at), "{f}");
        at += f["len"].as_u64().ok_or("len")?;
    }
    assert_eq!(at, std::fs::metadata(path)?.len());
    Ok(())
}

/// A reader that goes away (`synctap decode … | head -1`) ends the command quietly with
/// exit 0, not with a panic about a broken pipe.
#[test]
fn closed_stdout_is_a_quiet_exit() -> TestResult {
    let path = EVERY_SUB_RESPONSE;
    let mut child = synctap()
        .args(["decode", "--fields", path])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Close the read end before the child has had time to write.
    drop(child.stdout.take());
    let out = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    Ok(())
}

/// Issue 14.2: a web3s body of ~9,150 nested `<Folder><Items>` overflowed the stack and
/// aborted `decode`, `show` and `proxy --ui`. 100,000 levels now decode to the nesting
/// limit with a diagnostic (exit 1), in text and JSON, and the process survives.
#[test]
fn deeply_nested_web3s_is_a_diagnostic_not_a_crash() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("deep.xml");
    let depth = 100_000;
    let mut body = String::from("<?xml version=\"1.0\"?>");
    body.push_str(&"<Folder><Items>".repeat(depth));
    body.push_str(&"</Items></Folder>".repeat(depth));
    std::fs::write(&path, &body)?;
    for json in [false, true] {
        let mut cmd = synctap();
        cmd.args(["decode", "--content-type", "application/web3s+xml"]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.arg(&path).output()?;
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "json={json}: {}",
            &all[..all.len().min(2000)]
        );
        assert!(all.contains("nested more than 256 levels"), "json={json}");
        assert!(
            out.stdout.len() < 8 << 20,
            "output {} bytes",
            out.stdout.len()
        );
    }
    Ok(())
}

/// Splits a fixture (`Content-Type: …` header block, blank line, body) into its
/// Content-Type and body.
fn split_fixture(raw: &[u8]) -> (String, Vec<u8>) {
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_default();
    let head = String::from_utf8_lossy(&raw[..at]);
    let ct = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type:"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    (ct, raw[at + 4..].to_vec())
}

/// Issue 16.5: without a URL, a multipart/related body whose root part is
/// application/web3s+xml is an SPFileSync upload, not MS-FSSHTTP; binary data that
/// happens to contain `<` is not SPFileSync XML.
#[test]
fn decode_sniffs_web3s_multipart_and_refuses_binary() -> TestResult {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/spfilesync/upload_request.multipart"
    );
    let out = synctap().args(["decode", "--json", path]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("RequestCollection"), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["kind"], "SpFileSync", "{text}");
    assert!(v["message"]["body"]["Multipart"].is_object(), "{text}");
    let out = synctap().args(["decode", path]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("soap Body"), "{text}");
    // Random bytes with `<` in them (xorshift, fixed seed).
    let dir = tempfile::tempdir()?;
    let bin = dir.path().join("random.bin");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    bytes[0] = b'<';
    bytes[100] = b'<';
    std::fs::write(&bin, &bytes)?;
    let out = synctap().arg("decode").arg(&bin).output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot tell what this is"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("SpFileSync"));
    Ok(())
}

/// Issue 16.5: `decode --json` of a SOAP/MTOM message carries its Cell payloads decoded,
/// as `show --json` gives them for the same exchange.
#[test]
fn decode_json_carries_the_cell_payloads_as_show_does() -> TestResult {
    use synctap::capture::{CaptureWriter, Record};
    use synctap::model::{Body, Exchange, ExchangeKind, Headers, ProxyMode, Request, Response};
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fsshttp/");
    let (qct, qbody) = split_fixture(&std::fs::read(format!(
        "{fixtures}cell_upload_two_parts.request"
    ))?);
    let (rct, rbody) = split_fixture(&std::fs::read(format!(
        "{fixtures}cell_upload_two_parts.response"
    ))?);
    let dir = tempfile::tempdir()?;
    let capture = dir.path().join("cell.jsonl");
    let (writer, sink) = CaptureWriter::start(&capture)?;
    let x = Exchange {
        id: 1,
        kind: ExchangeKind::Http,
        connection_id: 1,
        client_addr: "127.0.0.1:50001".to_owned(),
        mode: ProxyMode::Other,
        tls: None,
        server: "contoso.example:443".to_owned(),
        http_version: "HTTP/1.1".to_owned(),
        request: Some(Request {
            method: "POST".to_owned(),
            url: "https://contoso.example/sites/team/_vti_bin/cellstorage.svc/CellStorageService"
                .to_owned(),
            headers: Headers(vec![
                ("Content-Type".to_owned(), qct.clone()),
                ("SOAPAction".to_owned(), "\"http://schemas.microsoft.com/sharepoint/soap/ICellStorages/ExecuteCellStorageRequest\"".to_owned()),
            ]),
            body: Body::complete(qbody.clone()),
        }),
        response: Some(Response {
            status: 200,
            reason: "OK".to_owned(),
            headers: Headers(vec![("Content-Type".to_owned(), rct.clone())]),
            body: Body::complete(rbody.clone()),
        }),
        tunnel: None,
        timings: synctap::model::Timings {
            start: "2026-01-01T09:00:00Z".to_owned(),
            ..synctap::model::Timings::default()
        },
        error: None,
        imported: None,
        modified: None,
    };
    assert!(sink.try_send(Record::Exchange(Box::new(x)), 0));
    drop(sink);
    writer.finish();
    let out = synctap().args(["show", "--json"]).arg(&capture).output()?;
    let line = String::from_utf8_lossy(&out.stdout);
    let shown: serde_json::Value =
        serde_json::from_str(line.lines().next().ok_or("no exchange shown")?)?;
    let shown_cells = shown["decoded"]["fsshttp"]["cells"]
        .as_array()
        .ok_or("show has cells")?
        .clone();
    assert!(!shown_cells.is_empty());
    // Fields a lone message cannot have: the response's join to its request.
    fn unjoined(mut v: serde_json::Value) -> serde_json::Value {
        if let Some(subs) = v
            .get_mut("SubResponses")
            .and_then(serde_json::Value::as_array_mut)
        {
            for s in subs {
                if let Some(m) = s.as_object_mut() {
                    m.remove("sub_request");
                }
            }
        }
        v
    }
    for (side, ct, body) in [("request", &qct, &qbody), ("response", &rct, &rbody)] {
        let file = dir.path().join(side);
        std::fs::write(&file, body)?;
        let out = synctap()
            .args([
                "decode",
                "--json",
                "--content-type",
                ct,
                &format!("--{side}"),
            ])
            .arg(&file)
            .output()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        // No Cell payload on this side: no "cells" (show has no such side either).
        let cells = v["cells"].as_array().cloned().unwrap_or_default();
        let ours: Vec<_> = cells.iter().map(|c| unjoined(c[side].clone())).collect();
        let theirs: Vec<_> = shown_cells
            .iter()
            .map(|c| unjoined(c[side].clone()))
            .filter(|c| !c.is_null())
            .collect();
        assert_eq!(
            ours.is_empty(),
            side == "response",
            "{side}: the fixture's cells"
        );
        assert_eq!(ours, theirs, "{side}");
        assert_eq!(
            cells
                .iter()
                .map(|c| c["SubRequestToken"].clone())
                .collect::<Vec<_>>(),
            shown_cells
                .iter()
                .filter(|c| !c[side].is_null())
                .map(|c| c["SubRequestToken"].clone())
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}
