//! Bad input and faults: malformed HTTP and CONNECT targets, peers that stall, reset,
//! vanish or answer garbage mid-body, timeouts, header and connection limits, a failing
//! capture disk, non-TLS CONNECT streams, passthrough hosts, and the key log. Each
//! asserts the answer, the record (with the side to blame) and that the proxy stays up.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::util::{
    client, runtime, start_upstream, tls_setup, wait_for_exchanges, ProxyProcess, TestResult,
};

fn raw(addr: std::net::SocketAddr, send: &[u8]) -> Result<String, Box<dyn std::error::Error>> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(send)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Asserts that a raw HTTP answer has status `status` and says `says`.
fn assert_answer(answer: &str, status: &str, says: &str) {
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status}")) && answer.contains(says),
        "expected {status} saying {says}: {answer:?}"
    );
}

#[test]
fn malformed_request_gets_400_and_is_recorded() -> TestResult {
    let proxy = ProxyProcess::start(&[]);
    let answer = raw(proxy.addr, b"THIS IS NOT HTTP\x01\x02\r\n\r\n")?;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert!(
        xs.iter().any(|x| x
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("client: connection error"))),
        "{xs:?}"
    );
    // Still serving.
    still_answers(&proxy, "/", "400")?;
    Ok(())
}

/// An upstream that answers a promise of 100000 bytes with 10, then hangs up.
fn resetting_upstream() -> Result<std::net::SocketAddr, Box<dyn std::error::Error>> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    std::thread::spawn(move || {
        for s in l.incoming().take(4) {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    Ok(addr)
}

#[test]
fn upstream_hanging_up_mid_response_is_recorded() -> TestResult {
    let up = resetting_upstream()?;
    let proxy = ProxyProcess::start(&["--reverse", &format!("http://{up}"), "--listen-plain"]);
    let answer = raw(proxy.addr, b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(!answer.contains(&"x".repeat(10)));
    let xs = wait_for_exchanges(&proxy.capture, 1);
    let x = &xs[0];
    let body = &x.response.as_ref().ok_or("no response")?.body;
    assert_eq!(body.bytes, b"0123456789");
    assert!(body.incomplete);
    assert!(
        x.error
            .as_deref()
            .is_some_and(|e| e.starts_with("upstream: response body failed")),
        "{:?}",
        x.error
    );
    // Recorded once (it used to get a second "client connection" record).
    let n = recorded_after_sentinel(&proxy, "/file")?;
    assert_eq!(n.len(), 1, "{n:#?}");
    Ok(())
}

#[test]
fn client_vanishing_mid_upload_is_recorded() -> TestResult {
    let (_rt, _ca, _up, proxy) = tls_setup(&["--reverse", "{up}", "--listen-plain"]);
    {
        let mut s = TcpStream::connect(proxy.addr)?;
        s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npartial")?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let xs = wait_for_exchanges(&proxy.capture, 1);
    let body = &xs[0].request.as_ref().ok_or("no request")?.body;
    assert!(body.incomplete, "{:?}", xs[0]);
    assert_eq!(body.bytes, b"partial");
    let err = xs[0].error.as_deref().unwrap_or("");
    assert!(err.starts_with("client: request body failed"), "{err}");
    // Other connections go on.
    still_answers(&proxy, "/x", "200")?;
    Ok(())
}

#[test]
fn non_tls_stream_after_connect_is_tunnelled_and_recorded() -> TestResult {
    // An echo server speaking no HTTP at all.
    let l = TcpListener::bind("127.0.0.1:0")?;
    let echo = l.local_addr()?;
    std::thread::spawn(move || {
        if let Some(Ok(mut s)) = l.incoming().next() {
            // Echo until the client has sent its 5 bytes (they may arrive in pieces).
            let mut buf = [0u8; 64];
            let mut total = 0;
            while total < 5 {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        total += n;
                        let _ = s.write_all(&buf[..n]);
                    }
                }
            }
        }
    });
    let proxy = ProxyProcess::start(&[]);
    let mut s = TcpStream::connect(proxy.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\n").as_bytes())?;
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf)?;
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    s.write_all(b"hello")?;
    let mut got = [0u8; 5];
    s.read_exact(&mut got)?;
    assert_eq!(&got, b"hello");
    drop(s);
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert_eq!(xs[0].kind, synctap::model::ExchangeKind::Tunnel);
    let t = xs[0].tunnel.ok_or("no tunnel info")?;
    assert_eq!((t.bytes_up, t.bytes_down), (5, 5));
    Ok(())
}

#[test]
fn passthrough_hosts_are_not_intercepted_and_keylog_has_both_legs() -> TestResult {
    let keylog_dir = tempfile::tempdir()?;
    let keylog = keylog_dir.path().join("keys.log");
    let (rt, ca, up, proxy) = tls_setup(&[
        "--passthrough",
        "localhost",
        "--keylog",
        keylog.to_str().unwrap_or(""),
    ]);
    // Through the tunnel the client talks to the upstream itself: it must trust the
    // upstream's CA, not synctap's.
    let c = client(&ca.pem_path, Some(&proxy.proxy_url()), false);
    let r = rt.block_on(async {
        c.get(format!("https://localhost:{}/x", up.addr.port()))
            .send()
            .await
    })?;
    assert_eq!(r.status(), 200);
    drop(c);
    // An intercepted exchange for the key log: the client trusts synctap's CA.
    let c2 = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let r = rt.block_on(async { c2.get(format!("{}/y", up.url())).send().await })?;
    assert_eq!(r.status(), 200);
    drop(c2);
    let xs = wait_for_exchanges(&proxy.capture, 2);
    assert!(xs
        .iter()
        .any(|x| x.kind == synctap::model::ExchangeKind::Tunnel));
    let log = std::fs::read_to_string(&keylog)?;
    let randoms: std::collections::BTreeSet<&str> = log
        .lines()
        .filter(|l| l.starts_with("CLIENT_TRAFFIC_SECRET_0") || l.starts_with("CLIENT_RANDOM"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert!(randoms.len() >= 2, "client leg and upstream leg: {log}");
    Ok(())
}

/// The test upstream (plain HTTP) and a `--reverse` `--listen-plain` proxy in front of
/// it, with `extra` arguments.
fn reverse_plain(extra: &[&str]) -> (tokio::runtime::Runtime, crate::util::Upstream, ProxyProcess) {
    let rt = runtime();
    let up = rt.block_on(start_upstream(None));
    let proxy = reverse_plain_to(up.addr, extra);
    (rt, up, proxy)
}

/// A `--reverse` `--listen-plain` proxy in front of the plain HTTP upstream at `up`.
fn reverse_plain_to(up: std::net::SocketAddr, extra: &[&str]) -> ProxyProcess {
    let target = format!("http://{up}");
    let mut args = vec!["--reverse", &target, "--listen-plain"];
    args.extend_from_slice(extra);
    ProxyProcess::start(&args)
}

/// Asserts that the proxy still answers a plain GET of `path` with `status`.
fn still_answers(proxy: &ProxyProcess, path: &str, status: &str) -> TestResult {
    let get = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let answer = raw(proxy.addr, get.as_bytes())?;
    let want = format!("HTTP/1.1 {status}");
    assert!(answer.starts_with(&want), "still serving? {answer:?}");
    Ok(())
}

/// Reads one response (head, then a Content-Length body) without waiting for EOF.
fn read_response(s: &mut TcpStream) -> Result<String, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if out.len() >= end + 4 + len {
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// An upstream on 127.0.0.1:0 that runs `script` for each connection on its own thread.
fn scripted_upstream(
    script: impl Fn(TcpStream) + Send + Sync + Clone + 'static,
) -> Result<std::net::SocketAddr, Box<dyn std::error::Error>> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let script = script.clone();
            std::thread::spawn(move || script(s));
        }
    });
    Ok(addr)
}

/// Reads a request head, so that the upstream answers after it.
fn read_head(s: &mut TcpStream) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Holds the connection open without a word until the peer goes away.
fn stall(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

/// The records whose URL ends with `path`, once one more exchange (a sentinel, on a new
/// connection) and a record of `path` are in the capture: a duplicate record of `path`
/// written with the first one is in the capture by then.
fn recorded_after_sentinel(
    proxy: &ProxyProcess,
    path: &str,
) -> Result<Vec<synctap::model::Exchange>, Box<dyn std::error::Error>> {
    let _ = raw(
        proxy.addr,
        b"GET /sentinel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )?;
    // The sentinel can be recorded before the exchange under test: the proxy learns that a
    // client vanished only when a write to it fails. Wait for both (at most 10 s).
    let ends = |x: &synctap::model::Exchange, p: &str| {
        x.request.as_ref().is_some_and(|r| r.url.ends_with(p))
    };
    let mut xs = Vec::new();
    for _ in 0..200 {
        xs = crate::util::read_capture(&proxy.capture);
        if xs.iter().any(|x| ends(x, "/sentinel")) && xs.iter().any(|x| ends(x, path)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(xs.into_iter().filter(|x| ends(x, path)).collect())
}

/// The record whose URL ends with `path`.
fn record_of<'a>(
    xs: &'a [synctap::model::Exchange],
    path: &str,
) -> Result<&'a synctap::model::Exchange, String> {
    xs.iter()
        .find(|x| x.request.as_ref().is_some_and(|r| r.url.ends_with(path)))
        .ok_or_else(|| format!("no record of {path}: {xs:#?}"))
}

fn error_of(x: &synctap::model::Exchange) -> &str {
    x.error.as_deref().unwrap_or("")
}

#[test]
fn connect_to_an_invalid_port_or_without_one_is_answered_400() -> TestResult {
    let proxy = ProxyProcess::start(&[]);
    let bad = [
        "127.0.0.1:99999",
        "127.0.0.1:65536",
        "127.0.0.1:0",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:abc",
        "127.0.0.1:+443",
        "[::1]",
        ":443",
    ];
    for target in bad {
        let answer = raw(
            proxy.addr,
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )?;
        assert!(answer.starts_with("HTTP/1.1 400"), "{target}: {answer:?}");
        assert!(answer.contains("CONNECT"), "{target}: {answer:?}");
    }
    let xs = wait_for_exchanges(&proxy.capture, bad.len());
    assert_eq!(xs.len(), bad.len(), "{xs:#?}");
    for x in &xs {
        assert!(error_of(x).starts_with("client: CONNECT"), "{x:?}");
        assert!(x.tunnel.is_none(), "never tunnelled: {x:?}");
    }
    let port99999 = error_of(&xs[0]);
    assert!(port99999.contains("invalid port \"99999\""), "{port99999}");
    assert!(error_of(&xs[3]).contains("has no port"), "{:?}", xs[3]);
    // Still serving.
    still_answers(&proxy, "/", "400")?;
    Ok(())
}

#[test]
fn bad_chunk_size_from_the_client_is_answered_400_and_blamed_on_the_client() -> TestResult {
    let (_rt, _up, proxy) = reverse_plain(&[]);
    let answer = raw(
        proxy.addr,
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZZ\r\n",
    )?;
    assert_answer(&answer, "400", "x-synctap-error: client");
    let xs = recorded_after_sentinel(&proxy, "/up")?;
    assert_eq!(xs.len(), 1, "{xs:#?}");
    let err = error_of(&xs[0]);
    assert!(err.starts_with("client: request body failed"), "{err}");
    assert!(err.contains("chunk size"), "{err}");
    Ok(())
}

#[test]
fn stalled_upstream_gets_504_and_the_proxy_stays_up() -> TestResult {
    let rt = runtime();
    let good = rt.block_on(start_upstream(None));
    let stuck = scripted_upstream(|mut s| {
        read_head(&mut s);
        stall(s);
    })?;
    let proxy = ProxyProcess::start(&["--upstream-timeout", "1s"]);
    let get = |addr: std::net::SocketAddr, path: &str| {
        raw(
            proxy.addr,
            format!(
                "GET http://{addr}{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    let answer = get(stuck, "/poll")?;
    assert_answer(&answer, "504", "--upstream-timeout");
    let answer = get(good.addr, "/after")?;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "still forwarding: {answer:?}"
    );
    let xs = wait_for_exchanges(&proxy.capture, 2);
    let x = record_of(&xs, "/poll")?;
    assert!(
        error_of(x).starts_with("upstream: timed out: no response head within 1s"),
        "{x:?}"
    );
    assert!(x.response.is_none(), "{x:?}");
    Ok(())
}

#[test]
fn upstream_stalling_mid_body_is_cut_and_recorded_as_a_timeout() -> TestResult {
    let up = scripted_upstream(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        stall(s);
    })?;
    let proxy = reverse_plain_to(up, &["--upstream-idle-timeout", "1s"]);
    let answer = raw(proxy.addr, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(
        answer.ends_with("0123456789"),
        "cut after what came: {answer:?}"
    );
    let xs = recorded_after_sentinel(&proxy, "/slow")?;
    assert_eq!(xs.len(), 1, "{xs:#?}");
    let err = error_of(&xs[0]);
    assert!(
        err.starts_with("upstream: response body failed: timed out: no response body data for 1s"),
        "{err}"
    );
    let body = &xs[0].response.as_ref().ok_or("no response")?.body;
    assert!(body.incomplete && body.bytes == b"0123456789", "{body:?}");
    Ok(())
}

#[test]
fn an_exchange_in_flight_outlives_the_client_timeouts() -> TestResult {
    // A long poll: the upstream answers after longer than both client timeouts.
    let up = scripted_upstream(|mut s| {
        read_head(&mut s);
        std::thread::sleep(Duration::from_millis(2500));
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
        stall(s);
    })?;
    let proxy = reverse_plain_to(
        up,
        &[
            "--client-header-timeout",
            "1s",
            "--client-idle-timeout",
            "1s",
        ],
    );
    let mut s = TcpStream::connect(proxy.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(b"GET /subscribe HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let answer = read_response(&mut s)?;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"),
        "{answer:?}"
    );
    // Then, idle with nothing in flight, the connection is closed.
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf)?, 0, "closed when idle");
    Ok(())
}

#[test]
fn clients_that_send_nothing_or_half_a_head_are_closed() -> TestResult {
    let proxy = ProxyProcess::start(&["--client-header-timeout", "1s"]);
    let mut silent = TcpStream::connect(proxy.addr)?;
    silent.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut half = TcpStream::connect(proxy.addr)?;
    half.set_read_timeout(Some(Duration::from_secs(20)))?;
    half.write_all(b"GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127")?;
    let mut buf = [0u8; 256];
    assert_eq!(
        silent.read(&mut buf)?,
        0,
        "a client that never sends a byte"
    );
    let n = half.read(&mut buf)?;
    assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n]));
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert_eq!(xs.len(), 1, "only the half head is recorded: {xs:#?}");
    assert!(
        error_of(&xs[0]).starts_with("client: timed out: request head not complete within 1s"),
        "{xs:?}"
    );
    still_answers(&proxy, "/", "400")?;
    Ok(())
}

#[test]
fn client_stalling_mid_upload_gets_408() -> TestResult {
    let (_rt, _up, proxy) = reverse_plain(&["--client-idle-timeout", "1s"]);
    let mut s = TcpStream::connect(proxy.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(b"POST /put HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")?;
    let answer = read_response(&mut s)?;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    let xs = recorded_after_sentinel(&proxy, "/put")?;
    assert_eq!(xs.len(), 1, "{xs:#?}");
    assert!(
        error_of(&xs[0]).starts_with("client: timed out: no request body data for 1s"),
        "{:?}",
        xs[0]
    );
    Ok(())
}

#[test]
fn upstream_resetting_or_answering_garbage_is_blamed_on_the_upstream() -> TestResult {
    // Closing with the request unread makes the kernel send a reset.
    let reset = scripted_upstream(|s| {
        std::thread::sleep(Duration::from_millis(200));
        drop(s);
    })?;
    let garbage_head = scripted_upstream(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"SPEAKING NO HTTP\r\n\r\n");
    })?;
    let garbage_body = scripted_upstream(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nNOT A CHUNK\r\n",
        );
        stall(s);
    })?;
    let proxy = ProxyProcess::start(&[]);
    for (addr, path, status) in [
        (reset, "/reset", "502"),
        (garbage_head, "/head", "502"),
        (garbage_body, "/body", "200"),
    ] {
        let answer = raw(
            proxy.addr,
            format!("GET http://{addr}{path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
        )?;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {answer:?}"
        );
        let xs = recorded_after_sentinel(&proxy, path)?;
        assert_eq!(xs.len(), 1, "{path}: {xs:#?}");
        assert!(
            error_of(&xs[0]).starts_with("upstream: "),
            "{path}: {:?}",
            xs[0]
        );
    }
    let xs = crate::util::read_capture(&proxy.capture);
    let body = record_of(&xs, "/body")?;
    assert!(
        error_of(body).starts_with("upstream: response body failed"),
        "{body:?}"
    );
    Ok(())
}

#[test]
fn client_vanishing_mid_download_is_blamed_on_the_client() -> TestResult {
    let (_rt, _up, proxy) = reverse_plain(&[]);
    {
        let mut s = TcpStream::connect(proxy.addr)?;
        s.write_all(b"GET /download?n=20000000 HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let mut buf = [0u8; 65536];
        let mut got = 0;
        while got < 100_000 {
            let n = s.read(&mut buf)?;
            assert!(n > 0, "the download ended early");
            got += n;
        }
    }
    let xs = recorded_after_sentinel(&proxy, "/download?n=20000000")?;
    assert_eq!(xs.len(), 1, "{xs:#?}");
    let x = &xs[0];
    assert_eq!(
        error_of(x),
        "client: response body was not completely delivered to the client"
    );
    assert!(
        x.response.as_ref().is_some_and(|r| r.body.incomplete),
        "{x:?}"
    );
    Ok(())
}

#[test]
fn request_heads_over_the_limits_get_431() -> TestResult {
    let (_rt, _up, proxy) = reverse_plain(&["--max-headers", "10", "--max-header-bytes", "8KiB"]);
    let head = |fields: usize, pad: usize| {
        let mut h = String::from("GET /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 2..fields {
            h.push_str(&format!("X-F{i}: {}\r\n", "v".repeat(pad)));
        }
        h.push_str("\r\n");
        h
    };
    let at_limit = raw(proxy.addr, head(10, 1).as_bytes())?;
    assert!(at_limit.starts_with("HTTP/1.1 200"), "{at_limit:?}");
    let over = raw(proxy.addr, head(11, 1).as_bytes())?;
    assert!(over.starts_with("HTTP/1.1 431"), "{over:?}");
    let big = raw(proxy.addr, head(3, 9000).as_bytes())?;
    assert!(big.starts_with("HTTP/1.1 431"), "{big:?}");
    let xs = wait_for_exchanges(&proxy.capture, 3);
    let refused: Vec<_> = xs
        .iter()
        .filter(|x| error_of(x).starts_with("client: request head too large"))
        .collect();
    assert_eq!(refused.len(), 2, "{xs:#?}");
    assert!(
        error_of(refused[0]).contains("--max-headers"),
        "{refused:?}"
    );
    Ok(())
}

#[test]
fn response_heads_over_the_limit_give_502() -> TestResult {
    let up = scripted_upstream(|mut s| {
        read_head(&mut s);
        let mut h = String::from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
        for i in 1..11 {
            h.push_str(&format!("X-F{i}: v\r\n"));
        }
        h.push_str("\r\nok");
        let _ = s.write_all(h.as_bytes());
        stall(s);
    })?;
    let proxy = reverse_plain_to(up, &["--max-headers", "10"]);
    still_answers(&proxy, "/many", "502")?;
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert!(
        error_of(&xs[0]).starts_with("upstream: response head too large"),
        "{xs:?}"
    );
    Ok(())
}

#[test]
fn connections_over_the_per_client_limit_get_503() -> TestResult {
    let (_rt, _up, proxy) = reverse_plain(&["--max-client-connections", "2"]);
    let first = TcpStream::connect(proxy.addr)?;
    let _second = TcpStream::connect(proxy.addr)?;
    let third = raw(
        proxy.addr,
        b"GET /third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )?;
    assert_answer(&third, "503", "--max-client-connections");
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert!(
        error_of(&xs[0])
            .starts_with("client: too many connections from 127.0.0.1 (2 open, limit 2"),
        "{xs:?}"
    );
    // A closed connection frees its place (once the proxy has seen it close).
    drop(first);
    let mut last = String::new();
    for _ in 0..100 {
        last = raw(
            proxy.addr,
            b"GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )?;
        if last.starts_with("HTTP/1.1 200") {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("never admitted again: {last:?}").into())
}

#[test]
fn a_failing_capture_disk_keeps_forwarding_and_counts_the_lost_records() -> TestResult {
    if !std::path::Path::new("/dev/full").exists() {
        return Err("this test needs /dev/full".into());
    }
    let rt = runtime();
    let up = rt.block_on(start_upstream(None));
    let dir = tempfile::tempdir()?;
    let mut child = crate::util::synctap()
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--capture", "/dev/full"])
        .args([
            "--reverse",
            &format!("http://{}", up.addr),
            "--listen-plain",
        ])
        .env_remove("SSLKEYLOGFILE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let first = lines.next().ok_or("no output")??;
    let addr: std::net::SocketAddr = first
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .ok_or_else(|| format!("no address in {first:?}"))?;
    std::thread::spawn(move || for _ in lines {});
    for _ in 0..3 {
        let answer = raw(
            addr,
            b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )?;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    }
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    let out = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("capture write failed"), "{err}");
    let lost = err
        .split(", ")
        .find_map(|p| p.strip_suffix(" records lost: the capture file could not be written\n"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("no count of lost records in {err:?}"))?;
    assert!(lost >= 4, "the header and 3 exchanges: {err}");
    Ok(())
}

#[test]
fn a_reverse_tls_client_that_never_says_hello_is_closed() -> TestResult {
    // No upstream listens there: the TLS leg to the client is what is tested.
    let dead = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let target = format!("https://{dead}");
    let proxy = ProxyProcess::start(&["--reverse", &target, "--client-header-timeout", "1s"]);
    let mut s = TcpStream::connect(proxy.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf)?, 0, "closed without a ClientHello");
    // A TLS client still gets its handshake and an answer (502: no upstream).
    let rt = runtime();
    let c = client(&proxy.ca_pem(), None, false);
    let url = format!("https://127.0.0.1:{}/x", proxy.addr.port());
    let r = rt.block_on(async { c.get(url).send().await })?;
    assert_eq!(r.status(), 502);
    Ok(())
}

#[test]
fn an_upstream_stalling_its_tls_handshake_hits_the_connect_timeout() -> TestResult {
    let up = scripted_upstream(stall)?;
    let proxy = ProxyProcess::start(&[
        "--reverse",
        &format!("https://127.0.0.1:{}", up.port()),
        "--listen-plain",
        "--upstream-connect-timeout",
        "1s",
    ]);
    still_answers(&proxy, "/x", "502")?;
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert!(
        error_of(&xs[0]).starts_with("upstream: connecting to 127.0.0.1:")
            && error_of(&xs[0]).ends_with("timed out after 1s (--upstream-connect-timeout)"),
        "{xs:?}"
    );
    Ok(())
}

#[test]
fn a_client_that_stops_reading_is_closed_and_blamed() -> TestResult {
    let (_rt, _up, proxy) = reverse_plain(&["--client-idle-timeout", "1s"]);
    let mut s = TcpStream::connect(proxy.addr)?;
    s.write_all(b"GET /download?n=50000000 HTTP/1.1\r\nHost: x\r\n\r\n")?;
    // Read nothing: the proxy's writes block, and the watchdog closes the connection.
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert_eq!(xs.len(), 1, "{xs:#?}");
    assert_eq!(
        error_of(&xs[0]),
        "client: response body was not completely delivered to the client"
    );
    drop(s);
    Ok(())
}
