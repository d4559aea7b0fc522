//! Test helpers: a test CA, a hyper TLS upstream that reports what it received, and the
//! synctap binary started as a real process.

#![allow(dead_code)]

use std::convert::Infallible;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::net::TcpListener;

pub mod demo;
pub mod fixture;
// benches/gen/capture.rs (which tests/stream.rs includes) loads scenario.rs too.
#[allow(clippy::duplicate_mod)]
pub mod scenario;

pub use demo::DemoSetup;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A CA for the upstream test server, separate from synctap's.
pub struct TestCa {
    pub pem_path: PathBuf,
    pub leaf_cert: Vec<u8>,
    pub leaf_key: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "upstream test CA");
        let ca_cert = params.self_signed(&ca_key).expect("self sign");
        let issuer = Issuer::new(params, ca_key);
        let leaf_key = KeyPair::generate().expect("key");
        let leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("params");
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("sign");
        let pem_path = dir.path().join("upstream-ca.pem");
        std::fs::write(&pem_path, ca_cert.pem()).expect("write");
        Self {
            pem_path,
            leaf_cert: leaf.der().to_vec(),
            leaf_key: leaf_key.serialize_der(),
            _dir: dir,
        }
    }
}

impl TestCa {
    /// A server identity from PEM files made elsewhere (e.g. by the `openssl` binary):
    /// `pem_path` is the certificate itself, for `--upstream-ca`.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pem_path = dir.path().join("server.pem");
        std::fs::copy(cert, &pem_path).expect("copy certificate");
        let cert_pem = std::fs::read(cert).expect("read certificate");
        let leaf_cert = rustls_pemfile::certs(&mut &cert_pem[..])
            .next()
            .expect("a certificate")
            .expect("PEM")
            .to_vec();
        let key_pem = std::fs::read(key).expect("read key");
        let leaf_key = rustls_pemfile::pkcs8_private_keys(&mut &key_pem[..])
            .next()
            .expect("a PKCS#8 key")
            .expect("PEM")
            .secret_pkcs8_der()
            .to_vec();
        Self {
            pem_path,
            leaf_cert,
            leaf_key,
            _dir: dir,
        }
    }
}

/// A running upstream: HTTPS (HTTP/1.1 and HTTP/2) or plain HTTP.
pub struct Upstream {
    pub addr: SocketAddr,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl Upstream {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

/// Starts the upstream on the caller's runtime. Every response carries `x-conn` (the
/// upstream connection number), `x-version`, `x-host`, `x-body-bytes` and
/// `x-body-sha256` of the request body (and `x-got-debug`, the request's `X-Debug`,
/// when it has one). `/echo` echoes the body; `/download?n=N` sends
/// N bytes; anything else answers `ok`.
pub async fn start_upstream(ca: Option<&TestCa>) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = ca.map(|ca| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![ca.leaf_cert.clone().into()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(ca.leaf_key.clone().into()),
        )
        .expect("cert");
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    });
    let conns = Arc::new(AtomicU64::new(0));
    let handle = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let conn_no = conns.fetch_add(1, Ordering::SeqCst) + 1;
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(req, conn_no));
                let mut builder = auto::Builder::new(TokioExecutor::new());
                // Title-case on the wire, so tests can tell recorded case from hyper's.
                builder.http1().title_case_headers(true);
                match acceptor {
                    Some(a) => {
                        let Ok(tls) = a.accept(stream).await else {
                            return;
                        };
                        let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            });
        }
    });
    Upstream { addr, handle }
}

async fn handle(req: Request<Incoming>, conn_no: u64) -> Result<Response<Full<Bytes>>, Infallible> {
    let version = format!("{:?}", req.version());
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let host = header_text(req.headers(), "host");
    let debug = header_text(req.headers(), "x-debug");
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut len = 0u64;
    let mut echo = Vec::new();
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(d) = frame.data_ref() {
            len += d.len() as u64;
            ctx.update(d);
            if path == "/echo" {
                echo.extend_from_slice(d);
            }
        }
    }
    let out = if path == "/echo" {
        echo
    } else if path == "/download" {
        let n: usize = query
            .strip_prefix("n=")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        (0..n).map(|i| (i % 251) as u8).collect()
    } else {
        b"ok".to_vec()
    };
    let mut resp = Response::builder();
    if !debug.is_empty() {
        // What the proxy sent in `X-Debug` (rules that set request headers).
        resp = resp.header("x-got-debug", debug);
    }
    let resp = resp
        .header("x-conn", conn_no.to_string())
        .header("x-version", version)
        .header("x-host", host)
        .header("x-body-bytes", len.to_string())
        .header("x-body-sha256", hex(ctx.finish().as_ref()))
        .header("Content-Type", "application/octet-stream")
        .body(Full::new(Bytes::from(out)))
        .expect("response");
    Ok(resp)
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn sha256(b: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, b).as_ref())
}

/// The proxy variables curl honours, in both cases.
pub const PROXY_VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The synctap binary under test.
pub fn synctap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_synctap"))
}

/// A `synctap serve` or `synctap mock` process, which prints its URL as the last word of
/// its first line; killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// The first line it printed.
    pub banner: String,
    /// The base URL from the banner.
    pub url: String,
}

impl ServerProcess {
    /// Spawns `cmd` with stdout piped, reads the banner and keeps draining stdout.
    pub fn spawn(mut cmd: Command) -> Result<Self, Box<dyn std::error::Error>> {
        let mut child = cmd.stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let banner = match lines.next() {
            Some(line) => line?,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the server printed nothing".into());
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let url = banner.split_whitespace().last().unwrap_or("").to_owned();
        Ok(Self { child, banner, url })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `synctap serve --listen 127.0.0.1:0 --tls --data DIR/NAME EXTRA…` with its CA in
/// `DIR/certs`.
pub fn serve(
    dir: &Path,
    name: &str,
    extra: &[&str],
) -> Result<ServerProcess, Box<dyn std::error::Error>> {
    let mut cmd = synctap();
    cmd.arg("--certs")
        .arg(dir.join("certs"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls", "--data"])
        .arg(dir.join(name))
        .args(extra)
        .stderr(Stdio::null());
    ServerProcess::spawn(cmd)
}

/// A runtime and a TLS upstream whose certificate comes from its own CA (which the proxy
/// does not trust unless told to with `--upstream-ca`).
pub fn tls_upstream() -> (tokio::runtime::Runtime, TestCa, Upstream) {
    let rt = runtime();
    let ca = TestCa::new();
    let up = rt.block_on(start_upstream(Some(&ca)));
    (rt, ca, up)
}

/// The usual end-to-end setup: a runtime, a TLS upstream with its own CA, and a proxy
/// that trusts that CA, started with `--upstream-ca` and `args`; `{up}` in an argument
/// stands for the upstream's URL (for `--reverse`).
pub fn tls_setup(args: &[&str]) -> (tokio::runtime::Runtime, TestCa, Upstream, ProxyProcess) {
    let (rt, ca, up) = tls_upstream();
    let url = up.url();
    let mut all = vec![
        "--upstream-ca".to_owned(),
        ca.pem_path.display().to_string(),
    ];
    all.extend(args.iter().map(|a| a.replace("{up}", &url)));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let proxy = ProxyProcess::start(&all);
    (rt, ca, up, proxy)
}

/// A synctap proxy running as a real process; killed when dropped.
pub struct ProxyProcess {
    pub child: Child,
    /// The first line the proxy printed (address and mode).
    pub banner: String,
    pub addr: SocketAddr,
    pub capture: PathBuf,
    pub certs: PathBuf,
    pub dir: tempfile::TempDir,
}

impl ProxyProcess {
    /// Starts `synctap proxy --listen 127.0.0.1:0` with `extra` arguments, in a fresh
    /// folder with its own certs and capture.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_at(None, extra, &[], false)
    }

    /// As [`ProxyProcess::start`], but capturing into `capture` (appending when it exists).
    pub fn start_appending(capture: &Path, extra: &[&str]) -> Self {
        Self::start_at(Some(capture), extra, &[], false)
    }

    /// Like `start`, with environment variables set (the proxy variables are removed
    /// first) and, when `log` is set, stderr written to `stderr.log` (see `log`).
    pub fn start_with(extra: &[&str], env: &[(&str, &str)], log: bool) -> Self {
        Self::start_at(None, extra, env, log)
    }

    fn start_at(capture: Option<&Path>, extra: &[&str], env: &[(&str, &str)], log: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = dir.path().join("certs");
        let capture = capture.map_or_else(|| dir.path().join("capture.jsonl"), Path::to_path_buf);
        let mut cmd = synctap();
        cmd.arg("--certs")
            .arg(&certs)
            .args(["proxy", "--listen", "127.0.0.1:0", "--capture"])
            .arg(&capture)
            .args(extra)
            .env_remove("SSLKEYLOGFILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for v in PROXY_VARS {
            cmd.env_remove(v);
        }
        cmd.envs(env.iter().copied());
        if log {
            let f = std::fs::File::create(dir.path().join("stderr.log")).expect("log file");
            cmd.stderr(f);
        }
        let mut child = cmd.spawn().expect("spawn synctap");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("a line").expect("read");
        let addr: SocketAddr = first
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no address in {first:?}"));
        // Keep draining stdout so the proxy never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            banner: first,
            addr,
            capture,
            certs,
            dir,
        }
    }

    /// What the proxy wrote to stderr so far (started with `log`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.certs.join("synctap-ca.pem")
    }

    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..300 {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().expect("wait")
    }

    /// Reads every exchange of the capture.
    pub fn exchanges(&self) -> Vec<synctap::model::Exchange> {
        read_capture(&self.capture)
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn read_capture(path: &Path) -> Vec<synctap::model::Exchange> {
    synctap::capture::CaptureReader::open(path)
        .expect("open capture")
        .collect::<Result<Vec<_>, _>>()
        .expect("read capture")
}

/// Waits until the capture holds `n` exchanges (the writer runs on its own thread).
pub fn wait_for_exchanges(path: &Path, n: usize) -> Vec<synctap::model::Exchange> {
    for _ in 0..200 {
        let xs = read_capture(path);
        if xs.len() >= n {
            return xs;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    read_capture(path)
}

/// A reqwest client that trusts `ca_pem` and goes through `proxy` (if any).
pub fn client(ca_pem: &Path, proxy: Option<&str>, h2: bool) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca_pem).expect("read ca");
    for c in rustls_pemfile::certs(&mut &pem[..]) {
        roots.add(c.expect("pem")).expect("add root");
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = if h2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(cfg)
        .timeout(Duration::from_secs(120));
    b = match proxy {
        Some(p) => b.proxy(reqwest::Proxy::all(p).expect("proxy")),
        None => b.no_proxy(),
    };
    if !h2 {
        b = b.http1_only();
    }
    b.build().expect("client")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Whether `curl` is installed.
pub fn have_curl() -> bool {
    Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `synctap --certs CERTS demo --no-ui --capture CAPTURE`, for the caller to add to
/// (`--server`, `--upstream-ca`...) and run.
pub fn demo_command(certs: &Path, capture: &Path) -> Command {
    let mut cmd = synctap();
    cmd.arg("--certs")
        .arg(certs)
        .args(["demo", "--no-ui", "--capture"])
        .arg(capture);
    cmd
}

/// Asserts that a process `what` ran to success, with its stdout and stderr in the
/// message when it did not.
pub fn assert_ran(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of header `name` as text; empty when it is absent or not visible ASCII.
pub fn header_text(headers: &http::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Asserts that a process exited with `code`, with its stderr in the message when not.
pub fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs curl through `proxy` with `options` and then `args`: its stdout, or an error
/// with its stderr.
pub fn curl_via(
    proxy: &ProxyProcess,
    options: &[&str],
    args: &[&str],
) -> Result<String, Box<dyn std::error::Error>> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "--proxy", &proxy.proxy_url()])
        .args(options)
        .args(args)
        .output()?;
    if !out.status.success() {
        return Err(format!("curl: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `synctap demo --no-ui` into `dir` and returns the capture's path.
pub fn record_demo(dir: &Path) -> PathBuf {
    let capture = dir.join("demo.jsonl");
    let out = demo_command(&dir.join("certs"), &capture)
        .output()
        .expect("run synctap demo");
    assert_ran("demo", &out);
    capture
}

/// Head fields and body of a fixture in testdata/fsshttp (header lines, blank line, body).
pub fn fsshttp_fixture(name: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/fsshttp")
        .join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (headers, body) = fixture::split_fixture(&data).expect("blank line after the headers");
    (headers.0, body)
}

/// Removes, at every depth of `v`, the object members whose name `unwanted` selects.
pub fn drop_keys(v: &mut serde_json::Value, unwanted: &dyn Fn(&str) -> bool) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| !unwanted(k));
            m.values_mut().for_each(|v| drop_keys(v, unwanted));
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|v| drop_keys(v, unwanted)),
        _ => {}
    }
}

/// A truncated binary body, as a capture stores one: a 4-byte prefix of 1,000,000 bytes,
/// with the whole body's length and hash.
pub fn truncated_binary_body() -> synctap::model::Body {
    synctap::model::Body {
        bytes: vec![0xff, 0x00, 0x10, 0x80],
        len: 1_000_000,
        truncated: true,
        sha256: Some("ab".repeat(32)),
        incomplete: false,
        stored: 4,
        chunked: false,
    }
}

/// `synctap import FILE --out CAPTURE`: its output, whether it succeeded or not.
pub fn import(file: &Path, out: &Path) -> std::process::Output {
    synctap()
        .arg("import")
        .arg(file)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run synctap import")
}

/// `synctap export CAPTURE --FORMAT TARGET EXTRA…`, asserted to succeed: what it printed
/// on stderr.
pub fn export(capture: &Path, format: &str, target: &Path, extra: &[&str]) -> String {
    let out = synctap()
        .arg("export")
        .arg(capture)
        .arg(format!("--{format}"))
        .arg(target)
        .args(extra)
        .output()
        .expect("run synctap export");
    assert_ran("export", &out);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `synctap redact CAPTURE --out OUT EXTRA…`: its output, whether it succeeded or not.
pub fn redact(capture: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    synctap()
        .arg("redact")
        .arg(capture)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run synctap redact")
}

/// Timings starting at `start` (RFC 3339) with connect, TLS, request sent, first
/// response byte and done at these milliseconds.
pub fn timings(start: String, ms: [f64; 5]) -> synctap::model::Timings {
    let [connect, tls, sent, first_byte, done] = ms;
    synctap::model::Timings {
        start,
        connect_ms: Some(connect),
        tls_ms: Some(tls),
        request_sent_ms: Some(sent),
        first_response_byte_ms: Some(first_byte),
        done_ms: Some(done),
    }
}
