//! Fiddler SAZ import and export through the real binary: archives built here from
//! synctap's own fixtures in every shape the issue names (proxy-form request lines, a
//! CONNECT tunnel, an aborted session, a missing or garbage `_m.xml`, chunked and gzip
//! responses, the process flag), hostile ones (password-protected, truncated, hostile
//! member names, a zip bomb), and export → import round trips.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use synctap::capture::write_capture;
use synctap::decode::exchange::decode_recorded;
use synctap::model::{Exchange, ExchangeKind, Headers, ProxyMode, Request, Response, TunnelInfo};

use crate::util::{
    assert_ran, export, fsshttp_fixture as fixture, import, read_capture, synctap, timings,
    TestResult,
};

fn head(line: &str, headers: &[(String, String)]) -> Vec<u8> {
    let mut out = format!("{line}\r\n").into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size) {
        out.extend_from_slice(format!("{:x};ext=1\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
    out
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body).expect("gzip");
    e.finish().expect("gzip")
}

fn meta(sid: u32, bits: &str, flags: &[(&str, &str)]) -> Vec<u8> {
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Session SID=\"{sid}\" BitFlags=\"{bits}\">\r\n  <SessionTimers ClientConnected=\"2026-11-21T11:00:00.0000000+01:00\" ClientBeginRequest=\"2026-11-21T11:00:0{sid}.1000000+01:00\" GotRequestHeaders=\"2026-11-21T11:00:0{sid}.1000000+01:00\" ClientDoneRequest=\"2026-11-21T11:00:0{sid}.1010000+01:00\" GatewayTime=\"0\" DNSTime=\"0\" TCPConnectTime=\"3\" HTTPSHandshakeTime=\"12\" ServerConnected=\"2026-11-21T11:00:0{sid}.1100000+01:00\" FiddlerBeginRequest=\"2026-11-21T11:00:0{sid}.1100000+01:00\" ServerGotRequest=\"2026-11-21T11:00:0{sid}.1200000+01:00\" ServerBeginResponse=\"2026-11-21T11:00:0{sid}.1500000+01:00\" GotResponseHeaders=\"2026-11-21T11:00:0{sid}.1500000+01:00\" ServerDoneResponse=\"2026-11-21T11:00:0{sid}.1600000+01:00\" ClientBeginResponse=\"2026-11-21T11:00:0{sid}.1600000+01:00\" ClientDoneResponse=\"2026-11-21T11:00:0{sid}.1650000+01:00\" />\r\n  <PipeInfo CltReuse=\"true\" />\r\n"
    );
    if bits == "1000" {
        s.push_str("  <TunnelInfo BytesEgress=\"517\" BytesIngress=\"4096\" />\r\n");
    }
    s.push_str("  <SessionFlags>\r\n");
    for (n, v) in flags {
        s.push_str(&format!("    <SessionFlag N=\"{n}\" V=\"{v}\" />\r\n"));
    }
    s.push_str("  </SessionFlags>\r\n</Session>");
    s.into_bytes()
}

/// A ZIP of `members` (deflated), as Fiddler's archives are.
fn zip_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(name.as_str(), opts).expect("member");
        w.write_all(data).expect("write");
    }
    w.finish().expect("zip").into_inner()
}

const CELL: &str = "/_vti_bin/cellstorage.svc/CellStorageService";
const SOAP_ACTION: &str =
    "\"http://schemas.microsoft.com/sharepoint/soap/ICellStorages/ExecuteCellStorageRequest\"";

/// The sessions of the archive every import test starts from.
fn members() -> Vec<(String, Vec<u8>)> {
    let (mut qh, qb) = fixture("coauth_join.request");
    qh.insert(0, ("Host".into(), "contoso.example".into()));
    qh.push(("SOAPAction".into(), SOAP_ACTION.into()));
    let (mut rh, rb) = fixture("coauth_join.response");
    let mut m = Vec::new();
    // 1: proxy-form request line, chunked response, Word's process flag.
    let mut c1 = head(&format!("POST https://contoso.example{CELL} HTTP/1.1"), &qh);
    c1.extend_from_slice(&qb);
    rh.retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
    rh.push(("Transfer-Encoding".into(), "chunked".into()));
    let mut s1 = head("HTTP/1.1 200 OK", &rh);
    s1.extend_from_slice(&chunked(&rb, 100));
    m.push(("raw/01_c.txt".into(), c1));
    m.push(("raw/01_s.txt".into(), s1));
    m.push((
        "raw/01_m.xml".into(),
        meta(
            1,
            "1",
            &[
                ("x-clientip", "10.1.2.3"),
                ("x-clientport", "50100"),
                ("x-processinfo", "winword:7188"),
                ("x-hostip", "20.190.1.1"),
                ("ui-comments", "opened from SharePoint"),
            ],
        ),
    ));
    // 2: origin-form request, gzip response body stored as it came.
    let c2 = head(
        "GET /sites/team/_api/web/DefaultDocumentLibrary/ID HTTP/1.1",
        &[
            ("Host".into(), "contoso.example".into()),
            ("Accept".into(), "application/json".into()),
        ],
    );
    let json = br#"{"d":{"Id":"6c1f2c8c-0000-4000-8000-000000000001"}}"#;
    let z = gzip(json);
    let mut s2 = head(
        "HTTP/1.1 200 OK",
        &[
            ("Content-Type".into(), "application/json".into()),
            ("Content-Encoding".into(), "gzip".into()),
            ("Content-Length".into(), z.len().to_string()),
        ],
    );
    s2.extend_from_slice(&z);
    m.push(("raw/02_c.txt".into(), c2));
    m.push(("raw/02_s.txt".into(), s2));
    m.push((
        "raw/02_m.xml".into(),
        meta(2, "1", &[("x-processinfo", "onedrive:4242")]),
    ));
    // 3: a CONNECT tunnel.
    m.push((
        "raw/03_c.txt".into(),
        head(
            "CONNECT login.microsoftonline.com:443 HTTP/1.1",
            &[("Host".into(), "login.microsoftonline.com:443".into())],
        ),
    ));
    m.push((
        "raw/03_s.txt".into(),
        head(
            "HTTP/1.1 200 Connection Established",
            &[("FiddlerGateway".into(), "Direct".into())],
        ),
    ));
    m.push(("raw/03_m.xml".into(), meta(3, "1000", &[])));
    // 4: aborted: no _s.txt.
    let (wh, wb) = fixture("whoami_servertime.request");
    let mut wh = wh;
    wh.insert(0, ("Host".into(), "contoso.example".into()));
    let mut c4 = head(&format!("POST http://contoso.example{CELL} HTTP/1.1"), &wh);
    c4.extend_from_slice(&wb);
    m.push(("raw/04_c.txt".into(), c4.clone()));
    m.push((
        "raw/04_m.xml".into(),
        meta(4, "0", &[("x-processinfo", "excel:99")]),
    ));
    // 5: no _m.xml.
    let (wrh, wrb) = fixture("whoami_servertime.response");
    let mut s5 = head("HTTP/1.1 200 OK", &wrh);
    s5.extend_from_slice(&wrb);
    m.push(("raw/05_c.txt".into(), c4.clone()));
    m.push(("raw/05_s.txt".into(), s5.clone()));
    // 6: garbage _m.xml.
    m.push(("raw/06_c.txt".into(), c4));
    m.push(("raw/06_s.txt".into(), s5));
    m.push((
        "raw/06_m.xml".into(),
        b"<Session SID=\"6\" BitFlags=\"zz\"><SessionTimers ClientBeginRequest=\"2026-".to_vec(),
    ));
    // Hostile member names: never paths, only counted.
    m.push((
        "raw/../../evil_c.txt".into(),
        b"GET /evil HTTP/1.1\r\n\r\n".to_vec(),
    ));
    m.push(("/tmp/synctap-evil.txt".into(), b"x".to_vec()));
    m.push(("raw/7_c.txt\u{1b}[31m".into(), b"x".to_vec()));
    m.push(("[Content_Types].xml".into(), b"<Types/>".to_vec()));
    m.push(("_index.htm".into(), b"<html></html>".to_vec()));
    m
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

#[test]
fn every_kind_of_session_imports() -> TestResult {
    let dir = tempfile::tempdir()?;
    // Not named .saz: the format is read from the content.
    let file = dir.path().join("from-customer.dat");
    std::fs::write(&file, zip_of(&members()))?;
    let out = dir.path().join("imported.jsonl");
    let run = import(&file, &out);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(
        err.contains("read 6 SAZ sessions, 6 exchanges, skipped 0"),
        "{err}"
    );
    assert!(
        err.contains("session metadata (_m.xml) is not well-formed XML"),
        "{err}"
    );
    assert!(err.contains("sessions without _m.xml"), "{err}");
    // Hostile names are reported (escaped), and nothing was written anywhere.
    assert!(
        err.contains("raw/../../evil_c.txt is not part of a session"),
        "{err}"
    );
    assert!(err.contains("raw/7_c.txt\\u{1b}[31m"), "escaped: {err}");
    assert!(!err.contains('\u{1b}'), "{err}");
    assert_eq!(files_in(dir.path()), [file, out.clone()]);
    assert!(!Path::new("/tmp/synctap-evil.txt").exists());

    let xs = read_capture(&out);
    assert_eq!(xs.len(), 6);
    let ids: Vec<u64> = xs.iter().map(|x| x.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);
    // 1: the URL from the proxy-form line, chunking removed, flags kept.
    let x = &xs[0];
    let req = x.request.as_ref().ok_or("request")?;
    assert_eq!(req.url, format!("https://contoso.example{CELL}"));
    assert_eq!(x.server, "contoso.example:443");
    assert_eq!(x.client_addr, "10.1.2.3:50100");
    let resp = x.response.as_ref().ok_or("response")?;
    assert_eq!(
        resp.body.bytes,
        fixture("coauth_join.response").1,
        "unchunked"
    );
    assert_eq!(
        resp.headers.get("transfer-encoding"),
        Some("chunked"),
        "headers as sent"
    );
    let imp = x.imported.as_ref().ok_or("imported")?;
    assert_eq!(imp.process.as_deref(), Some("winword:7188"));
    assert_eq!(imp.number, Some(1));
    assert!(imp
        .flags
        .contains(&("ui-comments".into(), "opened from SharePoint".into())));
    assert_eq!(x.timings.start, "2026-11-21T10:00:01.1Z");
    assert_eq!(x.timings.request_sent_ms, Some(20.0));
    assert_eq!(x.timings.first_response_byte_ms, Some(50.0));
    assert_eq!(x.timings.done_ms, Some(65.0));
    assert_eq!(
        (x.timings.connect_ms, x.timings.tls_ms),
        (Some(3.0), Some(12.0))
    );
    let d = decode_recorded(x);
    assert_eq!(d.protocol().name(), "FSSHTTP");
    // The fixture's own findings, no more: chunking and the archive added none.
    assert_eq!(
        d.diagnostics,
        decode_recorded(&sample(1, "coauth_join")).diagnostics
    );
    assert!(x.error.is_none(), "{:?}", x.error);
    // 2: origin form joined to Host; the gzip body stays as sent and still decodes.
    let x = &xs[1];
    assert_eq!(
        x.request.as_ref().ok_or("request")?.url,
        "https://contoso.example/sites/team/_api/web/DefaultDocumentLibrary/ID"
    );
    let resp = x.response.as_ref().ok_or("response")?;
    assert_eq!(&resp.body.bytes[..2], &[0x1f, 0x8b]);
    assert_eq!(decode_recorded(x).protocol().name(), "SPFileSync");
    // 3: a tunnel with its byte counts.
    let x = &xs[2];
    assert_eq!(x.kind, ExchangeKind::Tunnel);
    assert_eq!(x.server, "login.microsoftonline.com:443");
    assert_eq!(
        x.tunnel,
        Some(TunnelInfo {
            bytes_up: 517,
            bytes_down: 4096
        })
    );
    // 4: aborted: the request, no response, an error.
    let x = &xs[3];
    assert!(x.request.is_some() && x.response.is_none());
    assert!(
        x.error.as_deref().unwrap_or("").contains("aborted"),
        "{:?}",
        x.error
    );
    // 5 and 6: without (usable) metadata, still whole exchanges.
    for x in &xs[4..] {
        assert_eq!(x.response.as_ref().ok_or("response")?.status, 200);
        assert_eq!(decode_recorded(x).protocol().name(), "FSSHTTP");
        assert_eq!(x.timings.start, "1970-01-01T00:00:00Z");
    }

    // `show` names the process.
    let show = synctap().arg("show").arg(&out).output()?;
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success());
    assert!(
        text.lines().next().unwrap_or("").contains("[winword:7188]"),
        "{text}"
    );
    assert!(text.contains("[onedrive:4242]"), "{text}");
    Ok(())
}

/// Sets the "encrypted" bit of every member, in local and central headers, as a
/// password-protected archive has it.
fn mark_encrypted(zip: &mut [u8]) {
    let mut i = 0;
    while i + 8 < zip.len() {
        match &zip[i..i + 4] {
            b"PK\x03\x04" => zip[i + 6] |= 1,
            b"PK\x01\x02" => zip[i + 8] |= 1,
            _ => {}
        }
        i += 1;
    }
}

#[test]
fn a_password_protected_archive_gets_a_clear_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut bytes = zip_of(&members());
    mark_encrypted(&mut bytes);
    let file = dir.path().join("protected.saz");
    std::fs::write(&file, bytes)?;
    let out = dir.path().join("imported.jsonl");
    let run = import(&file, &out);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("password-protected"), "{err}");
    assert!(err.contains("without a password"), "says what to do: {err}");
    assert!(!out.exists(), "no half capture left behind");
    Ok(())
}

#[test]
fn a_truncated_archive_imports_what_it_holds() -> TestResult {
    let dir = tempfile::tempdir()?;
    let whole = zip_of(&members());
    // Cut inside the members, far before the central directory.
    let at = whole
        .windows(12)
        .position(|w| w == b"raw/05_c.txt")
        .ok_or("member 5")?;
    let file = dir.path().join("cut.saz");
    std::fs::write(&file, &whole[..at + 40])?;
    let out = dir.path().join("imported.jsonl");
    let run = import(&file, &out);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("truncated or damaged"), "{err}");
    let xs = read_capture(&out);
    assert!(xs.len() >= 4, "{err}");
    assert_eq!(
        xs[0].response.as_ref().ok_or("response")?.body.bytes,
        fixture("coauth_join.response").1
    );
    assert_eq!(xs[2].kind, ExchangeKind::Tunnel);
    Ok(())
}

/// Raw deflate of `head` then `zeros` zero bytes, built from a repeated flushed block so
/// that a gigabyte costs a few kilobytes to make.
fn deflate_bomb(head: &[u8], mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let mut c = Compress::new(Compression::best(), false);
    let zeros = vec![0u8; 1 << 20];
    let mut out = Vec::with_capacity(1 << 16);
    let mut step = |input: &[u8], flush: FlushCompress| {
        let mut buf = vec![0u8; 1 << 21];
        let before = c.total_out();
        c.compress(input, &mut buf, flush).expect("deflate");
        buf.truncate((c.total_out() - before) as usize);
        buf
    };
    out.extend(step(head, FlushCompress::Sync));
    out.extend(step(&zeros, FlushCompress::Sync));
    let steady = step(&zeros, FlushCompress::Sync);
    for _ in 2..mib {
        out.extend_from_slice(&steady);
    }
    out.extend(step(&[], FlushCompress::Finish));
    out
}

/// A one-member ZIP whose member is the raw deflate stream `data` (sizes declared as
/// given; the CRC is never reached).
fn zip_raw(name: &str, data: &[u8], size: u32) -> Vec<u8> {
    let mut z = Vec::new();
    let n = name.len() as u16;
    z.extend_from_slice(b"PK\x03\x04");
    z.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0x21, 0]);
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&n.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(data);
    let cd = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02");
    z.extend_from_slice(&[20, 0, 20, 0, 0, 0, 8, 0, 0, 0, 0x21, 0]);
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(&(data.len() as u32).to_le_bytes());
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&n.to_le_bytes());
    z.extend_from_slice(&[0; 12]);
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() as u32 - cd;
    z.extend_from_slice(b"PK\x05\x06");
    z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

#[test]
fn a_zip_bomb_stops_at_the_member_cap() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut bomb = zip_of(&[(
        "raw/1_c.txt".into(),
        b"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
    )]);
    // Replace the archive by one whose response member inflates to 1 GiB + 1 MiB.
    let data = deflate_bomb(b"HTTP/1.1 200 OK\r\n\r\n", 1025);
    assert!(data.len() < 8 << 20, "{}", data.len());
    bomb = {
        let _ = bomb;
        zip_raw("raw/1_s.txt", &data, u32::MAX)
    };
    let file = dir.path().join("bomb.saz");
    std::fs::write(&file, &bomb)?;
    let out = dir.path().join("imported.jsonl");
    let run = import(&file, &out);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("zip bomb"), "{err}");
    let xs = read_capture(&out);
    let body = &xs[0].response.as_ref().ok_or("response")?.body;
    assert!(body.truncated && body.incomplete, "{body:?}");
    assert_eq!(body.bytes.len(), 64 << 20, "stored up to the body limit");
    assert!(body.len <= 1 << 30);
    Ok(())
}

fn sample(id: u64, name: &str) -> Exchange {
    let (mut qh, qb) = fixture(&format!("{name}.request"));
    let (rh, rb) = fixture(&format!("{name}.response"));
    qh.insert(0, ("Host".into(), "contoso.example".into()));
    qh.push(("SOAPAction".into(), SOAP_ACTION.into()));
    let url = format!("https://contoso.example{CELL}?x=1");
    let request = Request::new("POST", &url, Headers(qh), qb);
    let response = Response {
        reason: "OK".into(),
        ..Response::new(200, Headers(rh), rb)
    };
    Exchange {
        client_addr: "127.0.0.1:50000".into(),
        mode: ProxyMode::Forward,
        connection_id: 1 + id / 2,
        server: "contoso.example:443".into(),
        timings: timings(
            format!("2026-11-21T10:00:0{id}.123456Z"),
            [1.25, 3.5, 5.0, 9.125, 10.5],
        ),
        ..Exchange::http(id, request, Some(response))
    }
}

fn sample_capture(dir: &Path) -> Result<(PathBuf, Vec<Exchange>), Box<dyn std::error::Error>> {
    let mut xs = vec![
        sample(1, "coauth_join"),
        sample(2, "cell_upload_two_parts"),
        sample(3, "whoami_servertime"),
    ];
    // A chunked response stored unchunked; a truncated body; a tunnel; an error.
    if let Some(r) = xs[2].response.as_mut() {
        r.headers
            .0
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
        r.headers
            .0
            .push(("Transfer-Encoding".into(), "chunked".into()));
    }
    let mut big = sample(4, "coauth_join");
    if let Some(r) = big.response.as_mut() {
        r.body = crate::util::truncated_binary_body();
    }
    xs.push(big);
    let mut tunnel = sample(5, "coauth_join");
    tunnel.kind = ExchangeKind::Tunnel;
    tunnel.request = None;
    tunnel.response = None;
    tunnel.server = "login.live.com:443".into();
    tunnel.tunnel = Some(TunnelInfo {
        bytes_up: 10,
        bytes_down: 20,
    });
    xs.push(tunnel);
    let mut failed = sample(6, "whoami_servertime");
    failed.response = None;
    failed.error = Some("upstream: connection refused".into());
    xs.push(failed);
    let path = dir.join("sample.jsonl");
    write_capture(&path, &xs, false)?;
    Ok((path, xs))
}

/// ZIP members: name and bytes.
type Members = Vec<(String, Vec<u8>)>;

fn members_of(saz: &Path) -> Result<Members, Box<dyn std::error::Error>> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(saz)?)?;
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i)?;
        let mut data = Vec::new();
        f.read_to_end(&mut data)?;
        out.push((f.name().to_owned(), data));
    }
    Ok(out)
}

#[test]
fn export_then_import_gives_the_same_exchanges() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (capture, original) = sample_capture(dir.path())?;
    let saz = dir.path().join("out.saz");
    export(&capture, "saz", &saz, &[]);
    // Fiddler's layout: content types, padded session files, an index.
    let ms = members_of(&saz)?;
    let names: Vec<&str> = ms.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[0], "[Content_Types].xml");
    assert_eq!(*names.last().ok_or("empty")?, "_index.htm");
    for n in [
        "raw/01_c.txt",
        "raw/01_m.xml",
        "raw/01_s.txt",
        "raw/05_c.txt",
        "raw/06_m.xml",
    ] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    assert!(
        !names.contains(&"raw/06_s.txt"),
        "the failed exchange has no response"
    );
    let m1 = String::from_utf8(
        ms.iter()
            .find(|(n, _)| n == "raw/01_m.xml")
            .ok_or("m")?
            .1
            .clone(),
    )?;
    assert!(m1.contains("<Session SID=\"1\" BitFlags=\"401\">"), "{m1}");
    assert!(
        m1.contains("ClientBeginRequest=\"2026-11-21T10:00:01.1234560+00:00\""),
        "{m1}"
    );
    assert!(
        m1.contains("ClientDoneResponse=\"2026-11-21T10:00:01.1339560+00:00\""),
        "{m1}"
    );
    assert!(
        m1.contains("<SessionFlag N=\"x-clientip\" V=\"127.0.0.1\" />"),
        "{m1}"
    );
    let c1 = &ms.iter().find(|(n, _)| n == "raw/01_c.txt").ok_or("c")?.1;
    assert!(c1.starts_with(
        format!("POST https://contoso.example{CELL}?x=1 HTTP/1.1\r\nHost: contoso.example\r\n")
            .as_bytes()
    ));
    let s3 = &ms.iter().find(|(n, _)| n == "raw/03_s.txt").ok_or("s")?.1;
    assert!(s3.ends_with(b"\r\n0\r\n\r\n"), "re-chunked on the way out");
    let index = String::from_utf8(ms.last().ok_or("index")?.1.clone())?;
    assert!(
        index.contains("raw\\01_c.txt") && index.contains("contoso.example"),
        "{index}"
    );

    let back = dir.path().join("back.jsonl");
    let run = import(&saz, &back);
    assert_ran("export", &run);
    assert_eq!(
        read_capture(&back),
        original,
        "every field, header order and body byte"
    );

    // Without synctap's own flag (as after Fiddler re-saves it), the SAZ fields alone
    // give the same requests and responses.
    let stripped: Vec<(String, Vec<u8>)> = ms
        .into_iter()
        .map(|(n, d)| {
            if !n.ends_with("_m.xml") {
                return (n, d);
            }
            let text = String::from_utf8_lossy(&d).into_owned();
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| !l.contains("x-synctap-exchange"))
                .collect();
            (n, kept.join("\n").into_bytes())
        })
        .collect();
    let plain = dir.path().join("plain.saz");
    std::fs::write(&plain, zip_of(&stripped))?;
    let back2 = dir.path().join("back2.jsonl");
    let run = import(&plain, &back2);
    assert_ran("export", &run);
    let got = read_capture(&back2);
    assert_eq!(got.len(), original.len());
    for (g, o) in got.iter().zip(&original) {
        assert_eq!(g.kind, o.kind);
        assert_eq!(g.server, o.server);
        assert_eq!(g.client_addr, o.client_addr);
        assert_eq!(g.timings.start, o.timings.start);
        for (a, b) in [
            (g.timings.done_ms, o.timings.done_ms),
            (
                g.timings.first_response_byte_ms,
                o.timings.first_response_byte_ms,
            ),
        ] {
            assert!(
                (a.unwrap_or(-1.0) - b.unwrap_or(-1.0)).abs() < 0.001,
                "{a:?} {b:?}"
            );
        }
        assert_eq!(
            g.request
                .as_ref()
                .map(|r| (&r.method, &r.url, &r.headers, &r.body.bytes)),
            o.request
                .as_ref()
                .map(|r| (&r.method, &r.url, &r.headers, &r.body.bytes))
        );
        assert_eq!(
            g.response
                .as_ref()
                .map(|r| (r.status, &r.reason, &r.headers, &r.body.bytes)),
            o.response
                .as_ref()
                .map(|r| (r.status, &r.reason, &r.headers, &r.body.bytes))
        );
    }
    assert_eq!(got[4].tunnel, original[4].tunnel);
    assert!(got[5].error.as_deref().unwrap_or("").contains("aborted"));
    Ok(())
}
