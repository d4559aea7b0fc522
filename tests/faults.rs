//! Bad input and faults: malformed HTTP, peers that vanish mid-body, non-TLS CONNECT
//! streams, passthrough hosts, and the key log.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::util::{
    client, runtime, start_upstream, wait_for_exchanges, ProxyProcess, TestCa, TestResult,
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
            .is_some_and(|e| e.contains("client connection"))),
        "{xs:?}"
    );
    // Still serving.
    let answer = raw(
        proxy.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )?;
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "origin-form to a forward proxy: {answer:?}"
    );
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
            .is_some_and(|e| e.contains("response body")),
        "{:?}",
        x.error
    );
    Ok(())
}

#[test]
fn client_vanishing_mid_upload_is_recorded() -> TestResult {
    let rt = runtime();
    let ca = TestCa::new();
    let up = rt.block_on(start_upstream(Some(&ca)));
    let proxy = ProxyProcess::start(&[
        "--reverse",
        &up.url(),
        "--listen-plain",
        "--upstream-ca",
        ca.pem_path.to_str().unwrap_or(""),
    ]);
    {
        let mut s = TcpStream::connect(proxy.addr)?;
        s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npartial")?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let xs = wait_for_exchanges(&proxy.capture, 1);
    let body = &xs[0].request.as_ref().ok_or("no request")?.body;
    assert!(body.incomplete, "{:?}", xs[0]);
    assert_eq!(body.bytes, b"partial");
    // Other connections go on.
    let answer = raw(
        proxy.addr,
        b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
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
    let rt = runtime();
    let ca = TestCa::new();
    let up = rt.block_on(start_upstream(Some(&ca)));
    let keylog_dir = tempfile::tempdir()?;
    let keylog = keylog_dir.path().join("keys.log");
    let proxy = ProxyProcess::start(&[
        "--passthrough",
        "localhost",
        "--upstream-ca",
        ca.pem_path.to_str().unwrap_or(""),
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
