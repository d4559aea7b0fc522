//! A real WebDAV peer: wsgidav (PyPI) on loopback, real LOCK/PROPFIND/PUT/UNLOCK traffic
//! from curl through `synctap proxy`, and the capture decoded back.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use synctap::decode::exchange::{decode_recorded, Protocol};
use synctap::decode::webdav::DavTimeout;

use crate::util::{have_curl, wait_for_exchanges, ProxyProcess, TestResult};

struct Wsgidav(Child);

impl Drop for Wsgidav {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_wsgidav(root: &std::path::Path) -> Result<(Wsgidav, u16), Box<dyn std::error::Error>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new("wsgidav")
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--auth",
            "anonymous",
            "--root",
        ])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!("cannot start wsgidav (pip install wsgidav cheroot; .ci/run does): {e}")
        })?;
    let server = Wsgidav(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((server, port));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("wsgidav did not start listening".into())
}

/// curl through `proxy`, with the response head in the output.
fn curl(proxy: &ProxyProcess, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    crate::util::curl_via(proxy, &["-i"], args)
}

#[test]
fn wsgidav_lock_propfind_put_unlock_through_the_proxy() -> TestResult {
    if !have_curl() {
        return Err("curl is not installed (.ci/run installs it)".into());
    }
    let root = tempfile::tempdir()?;
    std::fs::write(root.path().join("plan.docx"), b"version 1")?;
    let (_server, port) = start_wsgidav(root.path())?;
    let proxy = ProxyProcess::start(&[]);
    let url = format!("http://127.0.0.1:{port}/plan.docx");
    let lockinfo = r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>alice</D:owner></D:lockinfo>"#;
    let lock = curl(
        &proxy,
        &[
            "-X",
            "LOCK",
            "-H",
            "Timeout: Second-600",
            "-H",
            "Content-Type: application/xml",
            "--data",
            lockinfo,
            &url,
        ],
    )?;
    assert!(lock.starts_with("HTTP/1.1 200"), "{lock}");
    let token = lock
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("lock-token").then(|| {
                value
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
        })
        .ok_or("no Lock-Token")?;
    let if_token = format!("If: (<{token}>)");
    let lock_token = format!("Lock-Token: <{token}>");
    let propfind_body = r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/><D:getetag/></D:prop></D:propfind>"#;
    // Each step: curl's arguments and the status line it must get.
    let steps: [(Vec<&str>, &str); 4] = [
        (
            vec![
                "-X",
                "PROPFIND",
                "-H",
                "Depth: 0",
                "-H",
                "Content-Type: application/xml",
                "--data",
                propfind_body,
            ],
            "HTTP/1.1 207",
        ),
        (
            vec!["-X", "PUT", "--data", "version 2 without token"],
            "HTTP/1.1 423",
        ),
        (
            vec!["-X", "PUT", "-H", &if_token, "--data", "version 2"],
            "HTTP/1.1 20",
        ),
        (vec!["-X", "UNLOCK", "-H", &lock_token], "HTTP/1.1 204"),
    ];
    for (mut args, want) in steps {
        args.push(&url);
        let got = curl(&proxy, &args)?;
        assert!(got.starts_with(want), "{args:?}: {got}");
    }

    let xs = wait_for_exchanges(&proxy.capture, 5);
    assert_eq!(xs.len(), 5);
    let decoded: Vec<_> = xs.iter().map(decode_recorded).collect();
    for (x, d) in xs.iter().zip(&decoded) {
        assert_eq!(d.protocol(), Protocol::WebDav, "{:?}", x.request);
        assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
    }
    // LOCK: the granted lock, its token and timeout, from the lockdiscovery body.
    let lock_x = decoded[0].webdav().ok_or("LOCK not decoded")?;
    assert_eq!(lock_x.response.as_ref().and_then(|r| r.status), Some(200));
    assert_eq!(
        lock_x.request.headers.timeout,
        vec![DavTimeout::Second(600)]
    );
    let locks = lock_x.active_locks();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[0].locktoken.as_deref(), Some(token.as_str()));
    assert_eq!(locks[0].owner.as_deref().map(str::trim), Some("alice"));
    assert!(matches!(locks[0].timeout, Some(DavTimeout::Second(s)) if (590..=600).contains(&s)));
    assert_eq!(
        lock_x
            .response
            .as_ref()
            .and_then(|r| r.headers.lock_token.clone())
            .as_deref(),
        Some(token.as_str())
    );
    // PROPFIND reports the same lock; the PUT without the token got 423; UNLOCK names it.
    let pf = decoded[1].webdav().ok_or("PROPFIND not decoded")?;
    assert_eq!(
        pf.active_locks()
            .first()
            .and_then(|l| l.locktoken.as_deref()),
        Some(token.as_str())
    );
    assert_eq!(
        decoded[2]
            .webdav()
            .and_then(|w| w.response.as_ref()?.status),
        Some(423)
    );
    let put_x = decoded[3].webdav().ok_or("PUT not decoded")?;
    assert!(put_x.request.headers.if_header.is_some());
    let un = decoded[4].webdav().ok_or("UNLOCK not decoded")?;
    assert_eq!(
        un.request.headers.lock_token.as_deref(),
        Some(token.as_str())
    );
    assert_eq!(un.response.as_ref().and_then(|r| r.status), Some(204));
    Ok(())
}
