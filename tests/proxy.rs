//! End-to-end proxy tests: real synctap processes, a hyper TLS upstream with its own CA,
//! reqwest and curl as clients.

use crate::util::{
    client, have_curl, runtime, sha256, start_upstream, tls_setup, wait_for_exchanges,
    ProxyProcess, TestResult,
};

fn send(
    rt: &tokio::runtime::Runtime,
    rb: reqwest::RequestBuilder,
) -> reqwest::Result<reqwest::Response> {
    rt.block_on(async move { rb.send().await })
}

fn header(r: &reqwest::Response, name: &str) -> String {
    crate::util::header_text(r.headers(), name)
}

#[test]
fn forward_reqwest_http1_records_the_exchange() -> TestResult {
    let (rt, _ca, up, proxy) = tls_setup(&[]);
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let body = "<s:Envelope>hello</s:Envelope>";
    let r = send(
        &rt,
        c.post(format!("{}/echo?x=1", up.url()))
            .header("SOAPAction", "\"http://schemas.microsoft.com/sharepoint/soap/ICellStorages/ExecuteCellStorageRequest\"")
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(body),
    )?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-version"), "HTTP/1.1");
    assert_eq!(rt.block_on(r.text())?, body);
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert_eq!(xs.len(), 1, "{xs:#?}");
    let x = &xs[0];
    let req = x.request.as_ref().ok_or("no request")?;
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, format!("{}/echo?x=1", up.url()));
    assert_eq!(req.body.bytes, body.as_bytes());
    // Original case and order, as reqwest sent them.
    let names: Vec<&str> = req.headers.0.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"SOAPAction") || names.contains(&"soapaction"),
        "{names:?}"
    );
    let resp_names: Vec<&str> = x
        .response
        .as_ref()
        .map(|r| r.headers.0.iter().map(|(n, _)| n.as_str()).collect())
        .unwrap_or_default();
    assert!(
        resp_names.contains(&"X-Body-Sha256"),
        "server's case kept: {resp_names:?}"
    );
    let resp = x.response.as_ref().ok_or("no response")?;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.bytes, body.as_bytes());
    assert_eq!(
        x.tls.as_ref().and_then(|t| t.alpn.clone()).as_deref(),
        Some("http/1.1")
    );
    assert!(x.tls.as_ref().and_then(|t| t.version.clone()).is_some());
    assert!(x.timings.first_response_byte_ms.is_some() && x.timings.done_ms.is_some());
    assert!(
        x.timings.tls_ms.is_some(),
        "first exchange carries the upstream TLS time"
    );
    assert!(x.error.is_none(), "{:?}", x.error);
    let status = proxy.stop();
    assert!(status.success(), "proxy exit: {status:?}");
    Ok(())
}

#[test]
fn forward_http2_on_both_legs() -> TestResult {
    let (rt, _ca, up, proxy) = tls_setup(&[]);
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), true);
    let r = send(&rt, c.post(format!("{}/echo", up.url())).body("h2 body"))?;
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(header(&r, "x-version"), "HTTP/2.0");
    assert_eq!(rt.block_on(r.text())?, "h2 body");
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert_eq!(xs[0].http_version, "HTTP/2");
    assert_eq!(
        xs[0].tls.as_ref().and_then(|t| t.alpn.clone()).as_deref(),
        Some("h2")
    );
    Ok(())
}

#[test]
fn reverse_mode_stands_in_for_the_server() -> TestResult {
    let (rt, _ca, up, proxy) = tls_setup(&["--reverse", "{up}"]);
    let c = client(&proxy.ca_pem(), None, false);
    let url = format!("https://localhost:{}/echo", proxy.addr.port());
    let r = send(&rt, c.put(&url).body("reverse"))?;
    assert_eq!(r.status(), 200);
    // Host is rewritten to the upstream's authority.
    assert_eq!(header(&r, "x-host"), up.addr.to_string());
    assert_eq!(rt.block_on(r.text())?, "reverse");
    let xs = wait_for_exchanges(&proxy.capture, 1);
    let req = xs[0].request.as_ref().ok_or("no request")?;
    assert_eq!(req.url, format!("{}/echo", up.url()));
    assert_eq!(xs[0].mode, synctap::model::ProxyMode::Reverse);
    assert_eq!(
        xs[0].tls.as_ref().and_then(|t| t.sni.clone()).as_deref(),
        Some("localhost")
    );
    Ok(())
}

#[test]
fn reverse_mode_plain_listener() -> TestResult {
    let (rt, _ca, _up, proxy) = tls_setup(&["--reverse", "{up}", "--listen-plain"]);
    let c = reqwest::Client::builder().no_proxy().build()?;
    let r = send(&rt, c.get(format!("http://{}/download?n=1000", proxy.addr)))?;
    assert_eq!(r.status(), 200);
    assert_eq!(rt.block_on(r.bytes())?.len(), 1000);
    Ok(())
}

#[test]
fn one_upstream_connection_per_client_connection() -> TestResult {
    let (rt, _ca, up, proxy) = tls_setup(&[]);
    let conns_of = |c: &reqwest::Client| -> Result<Vec<String>, reqwest::Error> {
        let mut v = Vec::new();
        for i in 0..4 {
            let r = send(&rt, c.get(format!("{}/n{i}", up.url())))?;
            v.push(header(&r, "x-conn"));
            rt.block_on(r.bytes())?;
        }
        Ok(v)
    };
    let a = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let b = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    conns_of(&a)?;
    conns_of(&b)?;
    conns_of(&a)?;
    // Affinity, from the capture: every client connection saw exactly one upstream
    // connection (the upstream's X-Conn), and no two client connections shared one.
    let xs = wait_for_exchanges(&proxy.capture, 12);
    assert_eq!(xs.len(), 12);
    let mut map: std::collections::BTreeMap<u64, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    for x in &xs {
        let up_conn = x
            .response
            .as_ref()
            .and_then(|r| r.headers.get("x-conn"))
            .ok_or("no X-Conn")?
            .to_owned();
        map.entry(x.connection_id).or_default().insert(up_conn);
    }
    assert!(
        map.len() >= 2,
        "two clients, two connections at least: {map:?}"
    );
    let mut seen = std::collections::BTreeSet::new();
    for ups in map.values() {
        assert_eq!(
            ups.len(),
            1,
            "one upstream connection per client connection: {map:?}"
        );
        assert!(
            seen.insert(ups.iter().next().cloned()),
            "shared upstream: {map:?}"
        );
    }
    Ok(())
}

#[test]
fn upstream_refused_gives_502_and_a_recorded_error() -> TestResult {
    let rt = runtime();
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let proxy = ProxyProcess::start(&[]);
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let r = send(&rt, c.get(format!("https://127.0.0.1:{port}/x")))?;
    assert_eq!(r.status(), 502);
    let text = rt.block_on(r.text())?;
    assert!(text.contains("cannot connect"), "{text}");
    let xs = wait_for_exchanges(&proxy.capture, 1);
    let err = xs[0].error.clone().unwrap_or_default();
    assert!(err.contains("cannot connect"), "{err}");
    // The proxy is still serving.
    let r = send(&rt, c.get(format!("https://127.0.0.1:{port}/y")))?;
    assert_eq!(r.status(), 502);
    Ok(())
}

#[test]
fn untrusted_upstream_certificate_gives_502() -> TestResult {
    let (rt, _ca, up) = crate::util::tls_upstream();
    let proxy = ProxyProcess::start(&[]); // no --upstream-ca
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let r = send(&rt, c.get(format!("{}/x", up.url())))?;
    assert_eq!(r.status(), 502);
    let text = rt.block_on(r.text())?;
    assert!(text.contains("TLS handshake"), "{text}");
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert!(xs[0]
        .error
        .as_deref()
        .is_some_and(|e| e.contains("TLS handshake")));
    Ok(())
}

#[test]
fn big_upload_is_forwarded_whole_and_recorded_truncated() -> TestResult {
    let (rt, _ca, up, proxy) = tls_setup(&["--body-limit", "1MiB"]);
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let data: Vec<u8> = (0..50u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let digest = sha256(&data);
    let r = send(&rt, c.post(format!("{}/upload", up.url())).body(data))?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-body-bytes"), (50u64 << 20).to_string());
    assert_eq!(header(&r, "x-body-sha256"), digest);
    let xs = wait_for_exchanges(&proxy.capture, 1);
    let body = &xs[0].request.as_ref().ok_or("no request")?.body;
    assert!(body.truncated);
    assert_eq!(body.len, 50 << 20);
    assert_eq!(body.bytes.len(), 1 << 20);
    assert_eq!(body.sha256.as_deref(), Some(digest.as_str()));
    Ok(())
}

#[test]
fn big_download_streams_and_is_stored_in_chunks() -> TestResult {
    let (rt, _ca, up, proxy) = tls_setup(&[]);
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let n = 3 << 20;
    let r = send(&rt, c.get(format!("{}/download?n={n}", up.url())))?;
    let got = rt.block_on(r.bytes())?;
    assert_eq!(got.len(), n);
    let xs = wait_for_exchanges(&proxy.capture, 1);
    let body = &xs[0].response.as_ref().ok_or("no response")?.body;
    assert!(!body.truncated);
    assert_eq!(
        body.bytes,
        got.to_vec(),
        "chunk records reassemble to the body"
    );
    Ok(())
}

/// curl through `proxy`, trusting its CA.
fn curl(proxy: &ProxyProcess, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let ca = proxy.ca_pem().display().to_string();
    crate::util::curl_via(proxy, &["--cacert", &ca], args)
}

#[test]
fn curl_chunked_upload_and_expect_100_continue() -> TestResult {
    if !have_curl() {
        return Err("curl is not installed (.ci/run installs it)".into());
    }
    let (_rt, _ca, up, proxy) = tls_setup(&[]);
    // curl makes the CA file before the proxy writes it? No: the proxy creates it at start.
    let file = proxy.dir.path().join("upload.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file, &data)?;
    let hdrs = curl(
        &proxy,
        &[
            "--http1.1",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &format!("@{}", file.display()),
            &format!("{}/upload", up.url()),
        ],
    )?;
    let hdrs = hdrs.to_ascii_lowercase();
    assert!(hdrs.contains("x-body-bytes: 300000"), "{hdrs}");
    assert!(
        hdrs.contains(&format!("x-body-sha256: {}", sha256(&data))),
        "{hdrs}"
    );
    let xs = wait_for_exchanges(&proxy.capture, 1);
    let req = xs[0].request.as_ref().ok_or("no request")?;
    assert_eq!(req.body.bytes, data);
    assert!(req.headers.get("expect").is_some());
    // As curl sent them: original case, and Transfer-Encoding (which hyper hides) kept.
    assert_eq!(req.headers.get("Transfer-Encoding"), Some("chunked"));
    assert!(req.headers.0.iter().any(|(n, _)| n == "Transfer-Encoding"));
    Ok(())
}

#[test]
fn kill_9_leaves_a_readable_capture() -> TestResult {
    let (rt, _ca, up, mut proxy) = tls_setup(&[]);
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    for i in 0..20 {
        let r = send(
            &rt,
            c.post(format!("{}/echo", up.url())).body(format!("n{i}")),
        )?;
        rt.block_on(r.bytes())?;
    }
    let _ = wait_for_exchanges(&proxy.capture, 20);
    // A large upload in flight when the proxy dies.
    let big: Vec<u8> = vec![7u8; 30 << 20];
    let url = format!("{}/upload", up.url());
    let inflight = rt.spawn(async move { c.post(url).body(big).send().await });
    std::thread::sleep(std::time::Duration::from_millis(300));
    proxy.child.kill()?; // SIGKILL
    proxy.child.wait()?;
    let _ = rt.block_on(inflight);
    let out = crate::util::synctap()
        .arg("show")
        .arg(&proxy.capture)
        .output()?;
    crate::util::assert_ran("synctap", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    let complete = text
        .lines()
        .filter(|l| l.contains("POST") && l.contains(" 200 "))
        .count();
    assert!(complete >= 20, "{text}");
    Ok(())
}

/// Issue 15.6: with `RUST_LOG=synctap=debug` every line the proxy logs while forwarding
/// an exchange carries that exchange's span fields (connection, client, method, URL), so
/// one exchange's story can be picked out of the log.
#[test]
fn debug_log_lines_of_an_exchange_carry_its_span_fields() -> TestResult {
    let rt = runtime();
    let up = rt.block_on(start_upstream(None));
    let proxy = ProxyProcess::start_with(&[], &[("RUST_LOG", "synctap=debug")], true);
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let url = format!("http://{}/story?n=1", up.addr);
    let r = send(&rt, c.get(&url))?;
    assert_eq!(r.status(), 200);
    assert_eq!(rt.block_on(r.text())?, "ok");
    wait_for_exchanges(&proxy.capture, 1);
    let log = proxy.log();
    assert!(proxy.stop().success());
    let story: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("url={url}")))
        .collect();
    for event in [
        "request sent upstream",
        "upstream connected",
        "response head from upstream",
    ] {
        let line = story
            .iter()
            .find(|l| l.contains(event))
            .ok_or_else(|| format!("no {event:?} line in the exchange's story:\n{log}"))?;
        for field in ["exchange{", "conn=1", "client=127.0.0.1:", "method=GET"] {
            assert!(line.contains(field), "{field} missing from {line:?}");
        }
    }
    Ok(())
}
