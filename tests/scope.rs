//! `--intercept` and `--passthrough` together in forward mode: the capture holds
//! decrypted exchanges for intercepted hosts and tunnel records for the rest.

use crate::util::TestResult;
use crate::util::{client, wait_for_exchanges, ProxyProcess};
use synctap::model::ExchangeKind;

#[test]
fn intercept_decrypts_only_matching_hosts() -> TestResult {
    let (rt, server, up) = crate::util::tls_upstream();
    let proxy = ProxyProcess::start(&[
        "--upstream-ca",
        server.pem_path.to_str().unwrap_or(""),
        "--intercept",
        "localhost",
        // Less specific than the exact name: localhost is still intercepted.
        "--passthrough",
        "local*",
    ]);
    // The client trusts synctap's CA (intercepted) and the server's (tunnelled).
    let both = proxy.dir.path().join("both.pem");
    let mut pem = std::fs::read_to_string(proxy.ca_pem())?;
    pem.push_str(&std::fs::read_to_string(&server.pem_path)?);
    std::fs::write(&both, pem)?;
    let port = up.addr.port();
    for url in [
        format!("https://localhost:{port}/echo"),
        format!("https://127.0.0.1:{port}/echo"),
    ] {
        let c = client(&both, Some(&proxy.proxy_url()), false);
        let r = rt.block_on(async { c.put(&url).body("scoped").send().await })?;
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(rt.block_on(r.text())?, "scoped");
    }
    let xs = wait_for_exchanges(&proxy.capture, 2);
    let http: Vec<_> = xs.iter().filter(|x| x.kind == ExchangeKind::Http).collect();
    let tunnels: Vec<_> = xs
        .iter()
        .filter(|x| x.kind == ExchangeKind::Tunnel)
        .collect();
    assert_eq!(http.len(), 1, "{xs:?}");
    assert_eq!(tunnels.len(), 1, "{xs:?}");
    let req = http[0].request.as_ref().ok_or("no request")?;
    assert_eq!(req.url, format!("https://localhost:{port}/echo"));
    assert_eq!(tunnels[0].server, format!("127.0.0.1:{port}"));
    assert!(
        tunnels[0].http_version.contains("not in --intercept"),
        "{}",
        tunnels[0].http_version
    );
    assert!(tunnels[0].tunnel.as_ref().is_some_and(|t| t.bytes_up > 0));
    Ok(())
}
