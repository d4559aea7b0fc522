//! Behind a corporate proxy: synctap's upstream traffic through a real tinyproxy
//! (Debian package `tinyproxy`), started by each test with its own config and log on
//! 127.0.0.1. One CONNECT per client connection (read from tinyproxy's log), Basic proxy
//! authentication, the environment route, NO_PROXY, a 407 and an unreachable proxy.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::TestResult;
use crate::util::{client, start_upstream, tls_setup, wait_for_exchanges, ProxyProcess};

/// A tinyproxy process; killed when dropped.
struct Tinyproxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tinyproxy {
    /// Starts tinyproxy in the foreground; with `auth`, it demands `BasicAuth user pass`.
    fn start(auth: Option<(&str, &str)>) -> Self {
        Self::start_allowing(auth, "127.0.0.1")
    }

    /// Like `start`, accepting clients from `allow` only (others get 403).
    fn start_allowing(auth: Option<(&str, &str)>, allow: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // tinyproxy cannot report a port it picked: take a free one and release it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = dir.path().join("tinyproxy.log");
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 50\nAllow {allow}\n",
            log.display()
        );
        if let Some((u, p)) = auth {
            conf.push_str(&format!("BasicAuth {u} {p}\n"));
        }
        let conf_path = dir.path().join("tinyproxy.conf");
        std::fs::write(&conf_path, conf).expect("write config");
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy is installed (apt-get install tinyproxy)");
        // Ready when it accepts connections.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines tinyproxy logged (`CONNECT host:port HTTP/1.1`, `GET http://…`).
    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once("): ").map(|(_, r)| r.to_owned()))
            .filter(|r| r.ends_with("HTTP/1.1") || r.ends_with("HTTP/1.0"))
            .collect()
    }

    fn connects(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with("CONNECT "))
            .count()
    }
}

#[test]
fn one_connect_per_client_connection_with_basic_auth() -> TestResult {
    let (rt, server, up) = crate::util::tls_upstream();
    let plain = rt.block_on(start_upstream(None));
    let tp = Tinyproxy::start(Some(("alice", "s3cret")));
    let via = format!("http://alice:s3cret@127.0.0.1:{}", tp.port);
    let proxy = ProxyProcess::start(&[
        "--upstream-ca",
        server.pem_path.to_str().unwrap_or(""),
        "--upstream-proxy",
        &via,
    ]);
    assert!(
        proxy
            .banner
            .contains(&format!("via http://alice@127.0.0.1:{}", tp.port)),
        "{}",
        proxy.banner
    );
    assert!(!proxy.banner.contains("s3cret"), "{}", proxy.banner);
    // Client A (curl): three requests on one connection; client B (curl): one. curl
    // reuses its connection strictly in turn, so it opens no spare connections.
    let curl = |urls: &[String]| -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let mut cmd = Command::new("curl");
        for u in urls {
            cmd.args(["-o", "/dev/null", u.as_str()]);
        }
        let out = cmd
            .args(["-s", "-w", "%{http_code} %{num_connects}\\n", "--proxy"])
            .arg(proxy.proxy_url())
            .arg("--cacert")
            .arg(proxy.ca_pem())
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect())
    };
    let x = format!("{}/x", up.url());
    let a = curl(&[x.clone(), x.clone(), x.clone()])?;
    // One new connection for the first request, none for the next two.
    assert_eq!(a, ["200 1", "200 0", "200 0"]);
    let b = curl(&[x])?;
    assert_eq!(b, ["200 1"]);
    assert_eq!(
        tp.connects(),
        2,
        "{}",
        std::fs::read_to_string(&tp.log).unwrap_or_default()
    );
    let xs = wait_for_exchanges(&proxy.capture, 4);
    let mut ids: Vec<u64> = xs.iter().map(|x| x.connection_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let a = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    // Plain HTTP goes in absolute form, with the credentials.
    let r = rt.block_on(async { a.get(format!("http://{}/plain", plain.addr)).send().await })?;
    assert_eq!(r.status(), 200);
    let want = format!("GET http://{}/plain HTTP/1.1", plain.addr);
    assert!(tp.requests().contains(&want), "{:?}", tp.requests());
    Ok(())
}

#[test]
fn a_407_gives_a_502_naming_the_proxy() -> TestResult {
    let tp = Tinyproxy::start(Some(("alice", "s3cret")));
    let text = refused_connect_gives_a_502(&tp, "407")?;
    assert!(text.contains("USER:PASS"), "{text}");
    Ok(())
}

/// Through `tp`, which refuses the CONNECT with `status`: the client gets a 502 naming
/// the proxy and its answer, and the record says the same. Returns the 502's text.
fn refused_connect_gives_a_502(
    tp: &Tinyproxy,
    status: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let (rt, _ca, up, proxy) = tls_setup(&["--upstream-proxy", &tp.url()]);
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let r = rt.block_on(async { c.get(format!("{}/x", up.url())).send().await })?;
    assert_eq!(r.status(), 502);
    let text = rt.block_on(r.text())?;
    let want = format!(
        "upstream proxy {} refused CONNECT {}: HTTP/1.",
        tp.url(),
        up.addr
    );
    assert!(text.contains(&want) && text.contains(status), "{text}");
    let xs = wait_for_exchanges(&proxy.capture, 1);
    let err = xs[0].error.clone().unwrap_or_default();
    assert!(err.contains(&want) && err.contains(status), "{err}");
    Ok(text)
}

#[test]
fn an_unreachable_proxy_gives_a_502_naming_it() -> TestResult {
    let (rt, server, up) = crate::util::tls_upstream();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let via = format!("http://127.0.0.1:{port}");
    let proxy = ProxyProcess::start(&[
        "--upstream-ca",
        server.pem_path.to_str().unwrap_or(""),
        "--upstream-proxy",
        &via,
    ]);
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let r = rt.block_on(async { c.get(format!("{}/x", up.url())).send().await })?;
    assert_eq!(r.status(), 502);
    let text = rt.block_on(r.text())?;
    assert!(
        text.contains(&format!("cannot connect to upstream proxy {via}")),
        "{text}"
    );
    let xs = wait_for_exchanges(&proxy.capture, 1);
    assert!(xs[0].error.as_deref().is_some_and(|e| e.contains(&via)));
    Ok(())
}

#[test]
fn https_proxy_variable_is_honoured_and_no_proxy_bypasses_it() -> TestResult {
    let (rt, server, up) = crate::util::tls_upstream();
    let tp = Tinyproxy::start(None);
    let pem = server.pem_path.to_str().unwrap_or("").to_owned();
    let url = tp.url();

    let proxy = ProxyProcess::start_with(&["--upstream-ca", &pem], &[("https_proxy", &url)], false);
    assert!(
        proxy.banner.contains(&format!("via {url}")) && proxy.banner.contains("https_proxy"),
        "{}",
        proxy.banner
    );
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let r = rt.block_on(async { c.get(format!("{}/x", up.url())).send().await })?;
    assert_eq!(r.status(), 200);
    assert_eq!(tp.connects(), 1, "{:?}", tp.requests());
    drop(proxy);

    // Uppercase names count too; NO_PROXY sends 127.0.0.1 direct.
    let proxy = ProxyProcess::start_with(
        &["--upstream-ca", &pem],
        &[("HTTPS_PROXY", &url), ("NO_PROXY", "localhost,127.0.0.1")],
        false,
    );
    assert!(
        proxy.banner.contains("direct for localhost,127.0.0.1"),
        "{}",
        proxy.banner
    );
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let r = rt.block_on(async { c.get(format!("{}/x", up.url())).send().await })?;
    assert_eq!(r.status(), 200);
    assert_eq!(
        tp.connects(),
        1,
        "NO_PROXY host went through the proxy: {:?}",
        tp.requests()
    );
    Ok(())
}

#[test]
fn demo_server_and_replay_go_through_the_upstream_proxy() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tp = Tinyproxy::start(Some(("alice", "s3cret")));
    let via = format!("http://alice:s3cret@127.0.0.1:{}", tp.port);
    let ca = dir.path().join("certs/synctap-ca.pem");
    let run = crate::util::DemoSetup::new(&["--coauth", "on"])
        .site("demo")
        .demo_args(&[
            "--upstream-ca",
            ca.to_str().ok_or("path")?,
            "--upstream-proxy",
            &via,
        ])
        .run(dir.path())?;
    let (s, capture) = (run.serve, run.capture);
    let after_demo = tp.connects();
    assert!(after_demo > 0, "{:?}", tp.requests());

    // Replay through the proxy found in the environment.
    let out = crate::util::synctap()
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .arg("replay")
        .arg(&capture)
        .args(["--target", &s.url, "--timing", "fast", "--upstream-ca"])
        .arg(&ca)
        .env("HTTPS_PROXY", &via)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("via http://alice@127.0.0.1:{}", tp.port)),
        "{stderr}"
    );
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 1),
        "{stderr}"
    );
    assert!(tp.connects() > after_demo, "{:?}", tp.requests());
    Ok(())
}

#[test]
fn a_403_gives_a_502_naming_the_proxy() -> TestResult {
    // tinyproxy answers 403 to clients outside its Allow list.
    let tp = Tinyproxy::start_allowing(None, "192.0.2.1");
    refused_connect_gives_a_502(&tp, "403")?;
    Ok(())
}
