//! Upstream trust with certificates made by the `openssl` binary, the way test servers
//! are set up: `openssl req -x509` (CA:TRUE by default), CA:FALSE, expired, wrong name.
//! Each one works or fails with a 502 that names the cause and the option that fixes it,
//! in forward and in reverse mode.

use std::path::Path;
use std::process::Command;

use crate::util::TestResult;
use crate::util::{client, runtime, start_upstream, wait_for_exchanges, ProxyProcess, TestCa};

/// Which certificate the upstream presents.
#[derive(Clone, Copy)]
enum Kind {
    /// `openssl req -x509` with default extensions: CA:TRUE.
    CaTrue,
    /// `-addext basicConstraints=critical,CA:FALSE`.
    CaFalse,
    /// CA:FALSE, valid 2020..2021 (`openssl ca -selfsign -startdate -enddate`).
    Expired,
    /// CA:TRUE, for `other.example` only.
    WrongName,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    crate::util::assert_ran(&format!("openssl {args:?}"), &out);
}

/// Makes the certificate with openssl and returns it as the upstream's identity.
fn make(kind: Kind) -> TestCa {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let base = [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "30",
        "-subj",
        "/CN=localhost",
    ];
    match kind {
        Kind::CaTrue => openssl(
            d,
            &[
                &base[..],
                &["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            ]
            .concat(),
        ),
        Kind::CaFalse => openssl(
            d,
            &[
                &base[..],
                &[
                    "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-addext",
                    "basicConstraints=critical,CA:FALSE",
                ],
            ]
            .concat(),
        ),
        Kind::WrongName => openssl(
            d,
            &[&base[..], &["-addext", "subjectAltName=DNS:other.example"]].concat(),
        ),
        Kind::Expired => {
            std::fs::write(
                d.join("ca.cnf"),
                "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\n\
                 default_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n\
                 [req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=localhost\n\
                 [ext]\nbasicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
            )
            .expect("write config");
            std::fs::write(d.join("index.txt"), "").expect("index");
            std::fs::write(d.join("serial"), "01\n").expect("serial");
            openssl(
                d,
                &[
                    "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out",
                    "req.csr", "-config", "ca.cnf",
                ],
            );
            openssl(
                d,
                &[
                    "ca",
                    "-batch",
                    "-config",
                    "ca.cnf",
                    "-selfsign",
                    "-keyfile",
                    "key.pem",
                    "-in",
                    "req.csr",
                    "-out",
                    "cert.pem",
                    "-notext",
                    "-extensions",
                    "ext",
                    "-startdate",
                    "20200101000000Z",
                    "-enddate",
                    "20210101000000Z",
                ],
            );
        }
    }
    TestCa::from_pem_files(&d.join("cert.pem"), &d.join("key.pem"))
}

/// Sends GET /x through a proxy started with `pin` (the certificate with --upstream-ca)
/// in forward or reverse mode; returns status, body, the recorded error and the log.
fn run(
    kind: Kind,
    pin: bool,
    reverse: bool,
) -> Result<(u16, String, String, String), Box<dyn std::error::Error>> {
    let rt = runtime();
    let server = make(kind);
    let up = rt.block_on(start_upstream(Some(&server)));
    let upstream_url = up.url();
    let mut args: Vec<&str> = Vec::new();
    let pem = server.pem_path.to_str().unwrap_or("");
    if pin {
        args.extend(["--upstream-ca", pem]);
    }
    if reverse {
        args.extend(["--reverse", &upstream_url]);
    }
    let proxy = ProxyProcess::start_with(&args, &[], true);
    let (c, url) = if reverse {
        (
            client(&proxy.ca_pem(), None, false),
            format!("https://localhost:{}/x", proxy.addr.port()),
        )
    } else {
        (
            client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false),
            format!("{upstream_url}/x"),
        )
    };
    let r = rt.block_on(async { c.get(&url).send().await })?;
    let status = r.status().as_u16();
    let body = rt.block_on(r.text())?;
    let xs = wait_for_exchanges(&proxy.capture, 1);
    let error = xs.first().and_then(|x| x.error.clone()).unwrap_or_default();
    let proxy_log = proxy.log();
    Ok((status, body, error, proxy_log))
}

/// A 502 whose text, recorded error and log line all carry `words` and `option`, and no
/// rustls debug text.
fn assert_refused(got: &(u16, String, String, String), words: &str, option: &str) {
    let (status, body, error, log) = got;
    assert_eq!(*status, 502, "{body}");
    for (what, text) in [("502 text", body), ("recorded error", error), ("log", log)] {
        assert!(text.contains(words), "{what} lacks {words:?}: {text}");
        assert!(text.contains(option), "{what} lacks {option:?}: {text}");
        assert!(!text.contains("OtherError"), "{what}: {text}");
        assert!(!text.contains("Other("), "{what}: {text}");
    }
}

fn assert_ok(got: &(u16, String, String, String)) {
    let (status, body, error, _) = got;
    assert_eq!(*status, 200, "{body}");
    assert_eq!(body, "ok");
    assert!(error.is_empty(), "{error}");
}

#[test]
fn openssl_default_self_signed_ca_true_is_pinned_forward() -> TestResult {
    assert_ok(&run(Kind::CaTrue, true, false)?);
    Ok(())
}

#[test]
fn openssl_default_self_signed_ca_true_is_pinned_reverse() -> TestResult {
    assert_ok(&run(Kind::CaTrue, true, true)?);
    Ok(())
}

#[test]
fn ca_false_self_signed_works_forward_and_reverse() -> TestResult {
    assert_ok(&run(Kind::CaFalse, true, false)?);
    assert_ok(&run(Kind::CaFalse, true, true)?);
    Ok(())
}

#[test]
fn unpinned_self_signed_certificates_name_the_cause() -> TestResult {
    for (kind, words) in [
        (Kind::CaTrue, "CA certificate used as a server certificate"),
        (Kind::CaFalse, "unknown issuer"),
    ] {
        for reverse in [false, true] {
            assert_refused(&run(kind, false, reverse)?, words, "--upstream-ca");
        }
    }
    Ok(())
}

#[test]
fn expired_pinned_certificate_is_refused() -> TestResult {
    for reverse in [false, true] {
        let got = run(Kind::Expired, true, reverse)?;
        assert_refused(&got, "expired", "--insecure-upstream");
        assert!(got.1.contains("2021-01-01"), "{}", got.1);
    }
    Ok(())
}

#[test]
fn wrong_name_pinned_certificate_is_refused() -> TestResult {
    for reverse in [false, true] {
        let got = run(Kind::WrongName, true, reverse)?;
        assert_refused(&got, "name mismatch", "--insecure-upstream");
        assert!(got.1.contains("other.example"), "{}", got.1);
        assert!(got.1.contains("not 127.0.0.1"), "{}", got.1);
    }
    Ok(())
}

#[test]
fn upstream_ca_file_with_several_certificates() -> TestResult {
    // The pinned certificate second in a bundle after an unrelated CA.
    let rt = runtime();
    let server = make(Kind::CaTrue);
    let other = TestCa::new();
    let up = rt.block_on(start_upstream(Some(&server)));
    let dir = tempfile::tempdir()?;
    let bundle = dir.path().join("bundle.pem");
    let mut text = std::fs::read_to_string(&other.pem_path)?;
    text.push_str(&std::fs::read_to_string(&server.pem_path)?);
    std::fs::write(&bundle, text)?;
    let proxy = ProxyProcess::start(&["--upstream-ca", bundle.to_str().unwrap_or("")]);
    let c = client(&proxy.ca_pem(), Some(&proxy.proxy_url()), false);
    let r = rt.block_on(async { c.get(format!("{}/x", up.url())).send().await })?;
    assert_eq!(r.status(), 200);
    Ok(())
}
