//! Capture files as the commands read them: appending to a capture left by a killed
//! proxy, bad lines in the middle of a file, and the reader's line limit, all through the
//! real `synctap` binary.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use synctap::capture::format::CaptureHeader;
use synctap::capture::Record;
use synctap::model::{Body, Exchange};

use crate::util::{client, runtime, sha256, start_upstream, synctap, ProxyProcess, TestResult};

fn exchange(id: u64, url: &str, body: Body) -> Exchange {
    let mut x: Exchange = serde_json::from_value(serde_json::json!({
        "id": id, "kind": "http", "connection_id": 1, "client_addr": "127.0.0.1:1",
        "mode": "forward", "server": "h:443", "http_version": "HTTP/1.1",
        "request": {"method": "PUT", "url": url, "headers": [], "body": {"len": 0}},
        "timings": {"start": format!("2026-11-21T00:00:0{id}.000Z")},
    }))
    .expect("an exchange");
    if let Some(r) = x.request.as_mut() {
        r.body = body;
    }
    x
}

/// Two small POSTs through `proxy` to the upstream at `up`.
fn two_echoes(
    rt: &tokio::runtime::Runtime,
    proxy: &ProxyProcess,
    up: &str,
    tag: &str,
) -> TestResult {
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    for i in 0..2 {
        let r = send(
            rt,
            c.post(format!("http://{up}/echo"))
                .body(format!("{tag}{i}")),
        )?;
        rt.block_on(r.bytes())?;
    }
    Ok(())
}

fn send(
    rt: &tokio::runtime::Runtime,
    rb: reqwest::RequestBuilder,
) -> reqwest::Result<reqwest::Response> {
    rt.block_on(async move { rb.send().await })
}

fn line(x: Exchange) -> String {
    serde_json::to_string(&Record::Exchange(Box::new(x))).expect("json")
}

fn header() -> String {
    serde_json::to_string(&Record::Header(CaptureHeader::now())).expect("json")
}

/// `show --json` of a capture: every exchange object, and stderr.
fn show_json(path: &Path) -> Result<(Vec<serde_json::Value>, String), Box<dyn std::error::Error>> {
    let out = synctap().args(["show", "--json"]).arg(path).output()?;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let xs = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice)
        .collect::<Result<_, _>>()?;
    Ok((xs, err))
}

/// The request body bytes of a `show --json` exchange object.
fn request_body(x: &serde_json::Value) -> Vec<u8> {
    use base64::Engine as _;
    let b = &x["request"]["body"];
    match (b["text"].as_str(), b["base64"].as_str()) {
        (Some(t), _) => t.as_bytes().to_vec(),
        (None, Some(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .unwrap_or_default(),
        (None, None) => Vec::new(),
    }
}

/// Issue 14.5: a second proxy session appending to the capture of a session killed
/// mid-upload restarted exchange ids at 1, and the killed upload's chunk lines attached
/// their bytes to the new session's exchange with the same id.
#[test]
fn appending_after_a_kill_continues_ids_and_never_attaches_stale_chunks() -> TestResult {
    let rt = runtime();
    let up = rt.block_on(start_upstream(None));
    let first = ProxyProcess::start(&[]);
    two_echoes(&rt, &first, &up.addr.to_string(), "a")?;
    // A 3 MiB upload that stops after 1.5 MiB, so chunk lines reach the file...
    let mut s = TcpStream::connect(first.addr)?;
    write!(
        s,
        "POST http://{0}/upload HTTP/1.1\r\nHost: {0}\r\nContent-Length: {1}\r\n\r\n",
        up.addr,
        3 << 20
    )?;
    s.write_all(&vec![b'X'; 3 << 19])?;
    s.flush()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read(&first.capture)?;
        // A complete chunk line (not the last, possibly unfinished, piece).
        let needle = b"\"type\":\"chunk\"";
        let mut pieces: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
        pieces.pop();
        if pieces
            .iter()
            .any(|l| l.windows(needle.len()).any(|w| w == needle))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no chunk line was written");
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...and the proxy dies with it.
    let mut first = first;
    first.child.kill()?; // SIGKILL
    first.child.wait()?;
    drop(s);

    let second = ProxyProcess::start_appending(&first.capture, &[]);
    two_echoes(&rt, &second, &up.addr.to_string(), "b")?;
    let c = client(&second.ca_pem(), Some(&second.proxy_url()), false);
    let big: Vec<u8> = (0..2u32 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    let r = send(
        &rt,
        c.post(format!("http://{}/big", up.addr)).body(big.clone()),
    )?;
    assert_eq!(r.status(), 200);
    rt.block_on(r.bytes())?;
    assert!(second.stop().success());

    let (xs, err) = show_json(&first.capture)?;
    let big_x = xs
        .iter()
        .find(|x| {
            x["request"]["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/big"))
        })
        .ok_or("no /big exchange")?;
    let got = request_body(big_x);
    assert_eq!(got.len(), big.len(), "stored {} bytes", got.len());
    assert_eq!(sha256(&got), sha256(&big));
    assert_ne!(big_x["request"]["body"]["truncated"], true);
    let ids: Vec<u64> = xs.iter().filter_map(|x| x["id"].as_u64()).collect();
    assert_eq!(ids.len(), 5, "two + three exchanges: {ids:?}");
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "ids repeat: {ids:?}");
    assert!(
        ids[2..].iter().all(|&id| id > 3),
        "the second session's ids continue: {ids:?}"
    );
    assert!(err.contains("never found their exchange line"), "{err}");
    Ok(())
}

/// Issue 14.8: one bad line aborted show, timeline, check, export and redact.
#[test]
fn every_command_skips_bad_lines_and_reports_contradictions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bad.jsonl");
    let b64 = line(exchange(
        5,
        "https://h/b64",
        Body::complete(vec![0xff, 0xfe, 0x00]),
    ));
    let b64 = b64.replace("\"base64\":\"//4A\"", "\"base64\":\"!not base64!\"");
    assert!(b64.contains("!not base64!"));
    let mut short = Body::complete(b"abc".to_vec());
    short.len = 2 << 20;
    let cut = line(exchange(6, "https://h/cut", Body::default()));
    let lines: Vec<Vec<u8>> = vec![
        header().into_bytes(),                                            // 1
        line(exchange(1, "https://h/one", Body::default())).into_bytes(), // 2
        b"{\"type\":\"exchange\",\"data\":{\"id\":7,\"server\":\"\xff\xfe\"}}".to_vec(), // 3
        line(exchange(2, "https://h/two", Body::default())).into_bytes(), // 4
        b64.into_bytes(),                                                 // 5
        cut.as_bytes()[..cut.len() / 2].to_vec(),                         // 6
        header().into_bytes(),                                            // 7
        line(exchange(2, "https://h/again", Body::default())).into_bytes(), // 8
        line(exchange(3, "https://h/short", short)).into_bytes(),         // 9
        br#"{"type":"\u001b[41m\u0007evil","data":{}}"#.to_vec(),         // 10
        line(exchange(4, "https://h/four", Body::default())).into_bytes(), // 11
    ];
    let mut text = lines.join(&b'\n');
    text.push(b'\n');
    std::fs::write(&path, text)?;
    let expected = [
        "line 3 (byte ",
        "line 5 (byte ",
        "line 6 (byte ",
        "line 7 is a second header",
        "line 8: exchange id 2 appeared before",
        "line 9: exchange 3 request body: len says 2097152 bytes, 3 are stored",
        "line 10 (byte ",
    ];
    let check_stderr = |what: &str, err: &str| {
        for e in expected {
            assert!(err.contains(e), "{what}: no {e:?} in {err}");
        }
        assert!(
            !err.contains('\x1b') && !err.contains('\x07'),
            "{what}: {err:?}"
        );
    };

    let (xs, err) = show_json(&path)?;
    check_stderr("show", &err);
    let urls: Vec<&str> = xs
        .iter()
        .filter_map(|x| x["request"]["url"].as_str())
        .collect();
    assert_eq!(
        urls,
        [
            "https://h/one",
            "https://h/two",
            "https://h/again",
            "https://h/short",
            "https://h/four"
        ]
    );
    let out = synctap().arg("show").arg(&path).output()?;
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);

    for cmd in ["timeline", "check"] {
        let out = synctap().arg(cmd).arg(&path).output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(2), "{cmd}: {err}");
        check_stderr(cmd, &err);
    }

    let har = dir.path().join("out.har");
    let red = dir.path().join("red.jsonl");
    for (cmd, flag, written) in [("export", "--har", &har), ("redact", "--out", &red)] {
        let out = synctap()
            .arg(cmd)
            .arg(&path)
            .arg(flag)
            .arg(written)
            .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cmd}: {err}");
        check_stderr(cmd, &err);
    }
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&har)?)?;
    assert_eq!(doc["log"]["entries"].as_array().map(Vec::len), Some(5));
    let (xs, _) = show_json(&red)?;
    assert_eq!(xs.len(), 5);
    Ok(())
}

/// The reader's line limit at limit+1: the line is skipped with a warning (never held
/// whole) and the lines after it are read. (At the limit itself: the reader's unit test.)
#[test]
fn a_line_over_the_limit_is_skipped_and_the_rest_read() -> TestResult {
    use synctap::capture::reader::MAX_LINE;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("long.jsonl");
    let head = header();
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(f, "{head}")?;
    writeln!(
        f,
        "{}",
        line(exchange(1, "https://h/before", Body::default()))
    )?;
    let before = head.len() + 1 + line(exchange(1, "https://h/before", Body::default())).len() + 1;
    // Starts like a record, so only its length can be the reason it is skipped.
    let mut long = br#"{"type":"exchange","data":{"id":2,"server":""#.to_vec();
    long.resize(MAX_LINE + 1, b'x');
    f.write_all(&long)?;
    f.write_all(b"\n")?;
    writeln!(
        f,
        "{}",
        line(exchange(3, "https://h/after", Body::default()))
    )?;
    f.flush()?;
    drop(f);
    let out = synctap().arg("show").arg(&path).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("https://h/before"), "{text}");
    assert!(text.contains("https://h/after"), "{text}");
    assert_eq!(text.lines().count(), 2, "{text}");
    let want = format!("line 3 (byte {before}) is {} bytes, over the", MAX_LINE + 1);
    assert!(err.contains(&want), "{err}");
    Ok(())
}

/// Appending refuses a file that is not a capture instead of writing into it.
#[test]
fn the_proxy_refuses_to_append_to_a_file_that_is_not_a_capture() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "my notes\n")?;
    let out = synctap()
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--capture"])
        .arg(&path)
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot append to") && err.contains("not a synctap capture"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path)?, "my notes\n");
    Ok(())
}
