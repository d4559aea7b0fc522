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

/// `decode --fields` maps every byte of a binary message to its field, Wireshark-style.
#[test]
fn decode_fields_maps_every_byte() -> TestResult {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/fsshttpb/every-sub-response.bin"
    );
    let out = synctap().args(["decode", "--fields", path]).output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/fsshttpb/every-sub-response.bin"
    );
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
