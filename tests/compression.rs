//! Compressed bodies (issue 16.2): an upstream answers SOAP (MTOM), a WebDAV multistatus
//! and a web3s folder in each Content-Encoding and in a stacked one, through a real
//! `synctap proxy`. The capture keeps the wire bytes; show, decode, timeline, replay and
//! mock see the decoded forms; a bomb stays under the decode limit.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::util::{runtime, sha256, synctap, wait_for_exchanges, ProxyProcess, TestResult};

const ENCODINGS: [&str; 6] = ["gzip", "deflate", "br", "zstd", "gzip, br", "zstd, deflate"];

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(rel),
    )
    .expect("fixture")
}

/// A fixture file with header lines, a blank line, then the body.
fn split_fixture(rel: &str) -> (String, Vec<u8>) {
    let all = fixture(rel);
    let at = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("blank line");
    let head = String::from_utf8_lossy(&all[..at]).into_owned();
    let ct = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .expect("content type")
        .to_owned();
    (ct, all[at + 4..].to_vec())
}

/// Applies `codings` left to right, as a sender does.
fn compress(codings: &str, body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    for c in codings.split(',').map(str::trim) {
        b = match c {
            "gzip" => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&b).expect("gzip");
                e.finish().expect("gzip")
            }
            "deflate" => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&b).expect("zlib");
                e.finish().expect("zlib")
            }
            "br" => {
                let mut out = Vec::new();
                {
                    let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                    w.write_all(&b).expect("br");
                }
                out
            }
            "zstd" => zstd::encode_all(&b[..], 3).expect("zstd"),
            other => panic!("unknown coding {other}"),
        };
    }
    b
}

/// What the upstream answers for a request, uncompressed: (content type, body).
fn answer(method: &str, path: &str) -> (String, Vec<u8>) {
    if path.ends_with("CellStorageService") {
        split_fixture("fsshttp/coauth_join.response")
    } else if method == "SEARCH" {
        ("text/xml".into(), fixture("webdav/manifest_207.xml"))
    } else if path.contains("/_api/SPFileSync/") {
        (
            "application/web3s+xml".into(),
            fixture("spfilesync/rootfolder_changes.xml"),
        )
    } else {
        ("text/plain".into(), b"ok".to_vec())
    }
}

/// A plain-HTTP upstream that compresses each answer with the codings named in the
/// request's `x-test-encoding` (none when absent), or always with `force`, and reports
/// the SHA-256 of the bytes it sent in `x-sent-sha256`.
async fn start_upstream(force: Option<&'static str>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handle = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = service_fn(move |r| serve(r, force));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, handle)
}

async fn serve(
    req: Request<Incoming>,
    force: Option<&'static str>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let coding = force.map(str::to_owned).or_else(|| {
        req.headers()
            .get("x-test-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let _ = req.into_body().collect().await;
    let (ct, plain) = answer(&method, &path);
    let status = if method == "SEARCH" { 207 } else { 200 };
    let mut r = Response::builder()
        .status(status)
        .header("content-type", ct);
    let body = match &coding {
        Some(c) => {
            r = r.header("content-encoding", c.as_str());
            compress(c, &plain)
        }
        None => plain,
    };
    r = r.header(
        "x-sent-sha256",
        crate::util::hex(ring::digest::digest(&ring::digest::SHA256, &body).as_ref()),
    );
    Ok(r.body(Full::new(Bytes::from(body))).expect("response"))
}

struct Call {
    method: &'static str,
    path: &'static str,
    content_type: String,
    body: Vec<u8>,
}

fn calls() -> Vec<Call> {
    let (ct, soap) = split_fixture("fsshttp/coauth_join.request");
    vec![
        Call {
            method: "POST",
            path: "/sites/t/_vti_bin/cellstorage.svc/CellStorageService",
            content_type: ct,
            body: soap,
        },
        Call {
            method: "SEARCH",
            path: "/exchange/adele/Inbox/",
            content_type: "text/xml".into(),
            body: fixture("webdav/search_repl_initial.xml"),
        },
        Call {
            method: "GET",
            path: "/_api/SPFileSync/sync/3fa6e3a5f1f84d2e9d4fbd8f0ba6a1d2/RootFolder?Filter=changes&InlineBlobs=false",
            content_type: String::new(),
            body: Vec::new(),
        },
    ]
}

/// Sends every call once per encoding to `base`; returns the SHA-256 the server reported
/// for each answer, in order.
async fn send_all(
    base: &str,
    with_encoding: bool,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build()?;
    let mut sent = Vec::new();
    let encodings: Vec<Option<&str>> = if with_encoding {
        ENCODINGS.iter().map(|e| Some(*e)).collect()
    } else {
        vec![None]
    };
    for enc in encodings {
        for c in calls() {
            let mut r = client
                .request(
                    reqwest::Method::from_bytes(c.method.as_bytes())?,
                    format!("{base}{}", c.path),
                )
                .body(c.body.clone());
            if !c.content_type.is_empty() {
                r = r.header("content-type", &c.content_type);
            }
            if let Some(e) = enc {
                r = r.header("x-test-encoding", e);
            }
            let resp = r.send().await?;
            let h = crate::util::header_text(resp.headers(), "x-sent-sha256");
            let _ = resp.bytes().await?;
            sent.push(h);
        }
    }
    Ok(sent)
}

#[test]
fn compressed_bodies_are_decoded_everywhere_and_stored_as_sent() -> TestResult {
    let rt = runtime();
    let (addr, _up) = rt.block_on(start_upstream(None));
    let upstream = format!("http://{addr}");
    let proxy = ProxyProcess::start(&["--reverse", &upstream, "--listen-plain"]);
    let base = format!("http://{}", proxy.addr);
    // First each call uncompressed (the reference decode), then in every encoding.
    let mut sent = rt.block_on(send_all(&base, false))?;
    sent.extend(rt.block_on(send_all(&base, true))?);
    let n = (ENCODINGS.len() + 1) * calls().len();
    let capture = proxy.capture.clone();
    let xs = wait_for_exchanges(&capture, n);
    assert_eq!(xs.len(), n);

    // The capture keeps the compressed bytes exactly as the upstream sent them.
    for (x, want) in xs.iter().zip(&sent) {
        let r = x.response.as_ref().ok_or("no response")?;
        assert_eq!(r.headers.get("content-encoding").is_some(), x.id > 3);
        assert_eq!(&sha256(&r.body.bytes), want, "exchange {}", x.id);
    }

    // show --json: each decodes as its protocol, without a diagnostic, and says what it undid.
    let out = synctap().args(["show", "--json"]).arg(&capture).output()?;
    crate::util::assert_ran("synctap", &out);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(serde_json::from_slice)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), n);
    let want_protocols = ["FSSHTTP", "WebDAV", "SPFileSync"];
    // Diagnostics without `within` (where they point), to compare with the plain decode.
    let diags = |d: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
        d["diagnostics"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| (x["offset"].clone(), x["message"].clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (i, v) in lines.iter().enumerate().skip(3) {
        let d = &v["decoded"];
        let plain = &lines[i % 3]["decoded"];
        assert_eq!(d["protocol"], want_protocols[i % 3], "{i}: {d}");
        assert_eq!(d["summary"], plain["summary"], "{i}");
        assert_eq!(diags(d), diags(plain), "{i}");
        let enc = &d["content_encoding"][0];
        assert_eq!(enc["side"], "response", "{i}: {d}");
        assert_eq!(enc["Content-Encoding"], ENCODINGS[i / 3 - 1]);
        assert_eq!(enc["complete"], true);
    }
    assert!(lines[0]["decoded"]["content_encoding"].is_null());
    let text = String::from_utf8(synctap().arg("show").arg(&capture).output()?.stdout)?;
    assert!(text.contains("JoinCoauthoring"), "{text}");
    assert!(text.contains("manifest"), "{text}");

    // timeline: the Coauth answer inside the compressed MTOM becomes a lane.
    let out = synctap()
        .args(["timeline", "--json"])
        .arg(&capture)
        .output()?;
    let t: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let lanes = t["files"][0]["lanes"].as_array().map_or(0, Vec::len);
    assert!(lanes >= 1, "{t}");

    // ~b matches the decoded text.
    let out = synctap()
        .args(["show", "--filter", "~b JoinCoauthoring"])
        .arg(&capture)
        .output()?;
    assert_eq!(
        String::from_utf8(out.stdout)?.lines().count(),
        ENCODINGS.len() + 1
    );

    // decode --content-encoding on a stored body.
    let dir = tempfile::tempdir()?;
    // xs[6] is the SOAP answer in the second encoding, deflate.
    let soap = xs[6].response.as_ref().ok_or("no response")?;
    let file = dir.path().join("body.bin");
    std::fs::write(&file, &soap.body.bytes)?;
    let ct = soap.headers.get("content-type").unwrap_or("");
    let out = synctap()
        .args([
            "decode",
            "--response",
            "--content-encoding",
            "deflate",
            "--content-type",
            ct,
        ])
        .arg(&file)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CoauthStatus"), "{text}");
    assert!(!text.contains("content-encoding"), "{text}");

    // replay against an upstream that answers the same content, but always in zstd: the
    // bytes differ completely, the decoded answers do not, so no differences (exit 0).
    let (plain_addr, _plain) = rt.block_on(start_upstream(Some("zstd")));
    let out = synctap()
        .args(["replay", "--timing", "fast", "--target"])
        .arg(format!("http://{plain_addr}"))
        .arg("--out")
        .arg(dir.path().join("replayed.jsonl"))
        .arg(&capture)
        .output()?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // mock serves the recorded answers decoded, matched by the decoded request.
    let mut child = synctap()
        .args(["mock", "--listen", "127.0.0.1:0"])
        .arg(&capture)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("stdout")?;
    let mut reader = std::io::BufReader::new(stdout);
    let mut first = String::new();
    std::io::BufRead::read_line(&mut reader, &mut first)?;
    // Keep reading: a mock whose stdout is closed ends quietly at its next line.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let mock_addr: SocketAddr = first
        .split_whitespace()
        .find_map(|w| w.trim_start_matches("http://").parse().ok())
        .ok_or_else(|| format!("no address in {first:?}"))?;
    let result = rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().no_proxy().build()?;
        let c = &calls()[0];
        let r = client
            .post(format!("http://{mock_addr}{}", c.path))
            .header("content-type", &c.content_type)
            .body(c.body.clone())
            .send()
            .await?;
        assert!(r.headers().get("content-encoding").is_none());
        let body = r.bytes().await?;
        assert!(body
            .windows(b"CoauthStatus".len())
            .any(|w| w == b"CoauthStatus"));
        Ok::<_, Box<dyn std::error::Error>>(())
    });
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// A gzip bomb (1 GiB of zeros in about 1 MB: 1,024 gzip members of 1 MiB each) decodes
/// to the limit with a diagnostic, never to 1 GiB.
#[test]
fn gzip_bomb_stops_at_the_decode_limit() -> TestResult {
    let member = compress("gzip", &vec![0u8; 1 << 20]);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bomb.gz");
    let mut f = std::fs::File::create(&path)?;
    for _ in 0..1024 {
        f.write_all(&member)?;
    }
    drop(f);
    assert!(std::fs::metadata(&path)?.len() < 4 << 20);
    let out = synctap()
        .args([
            "--decode-limit",
            "8MiB",
            "decode",
            "--content-encoding",
            "gzip",
            "--content-type",
            "text/xml",
        ])
        .arg(&path)
        .output()?;
    // Zeros are no protocol synctap knows, so decode ends with "cannot tell" (exit 2)
    // after the diagnostic; what matters is that it stopped at the limit.
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("decode limit of 8388608 bytes"), "{err}");
    Ok(())
}
