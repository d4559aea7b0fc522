//! The CA tells the truth: `ca show` reports the key file's real mode and warns when
//! others can read it, `proxy` refuses a key that is not the certificate's, and reverse
//! mode with a plain listener needs no certs folder at all.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use crate::util::{synctap, TestResult};

fn ca(certs: &std::path::Path, args: &[&str]) -> std::process::Output {
    synctap()
        .arg("--certs")
        .arg(certs)
        .arg("ca")
        .args(args)
        .output()
        .expect("run synctap ca")
}

#[cfg(unix)]
#[test]
fn ca_show_reports_the_real_key_mode_and_warns() -> TestResult {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir()?;
    let certs = dir.path().join("certs");
    assert!(ca(&certs, &["init"]).status.success());
    let out = ca(&certs, &["show"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mode 0600"), "{stdout}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let key = certs.join("synctap-ca.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))?;
    let out = ca(&certs, &["show"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success());
    assert!(stdout.contains("mode 0644"), "{stdout}");
    assert!(!stdout.contains("0600"), "{stdout}");
    assert!(
        stderr.contains("warning")
            && stderr.contains("group or others")
            && stderr.contains("chmod 600"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn proxy_refuses_a_key_that_does_not_match_the_certificate() -> TestResult {
    let dir = tempfile::tempdir()?;
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    assert!(ca(&a, &["init"]).status.success());
    assert!(ca(&b, &["init"]).status.success());
    std::fs::copy(b.join("synctap-ca.key"), a.join("synctap-ca.key"))?;
    let out = synctap()
        .arg("--certs")
        .arg(&a)
        .args(["proxy", "--listen", "127.0.0.1:0", "--no-capture"])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("does not match the CA certificate"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn reverse_listen_plain_needs_no_certs_folder() -> TestResult {
    let (rt, server, up) = crate::util::tls_upstream();
    let dir = tempfile::tempdir()?;
    // A certs path below a regular file can be neither read nor created, even by root.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder")?;
    let certs = file.join("certs");
    let mut child = synctap()
        .arg("--certs")
        .arg(&certs)
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--no-capture",
            "--listen-plain",
        ])
        .args(["--reverse", &up.url(), "--upstream-ca"])
        .arg(&server.pem_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next();
    // Keep draining stdout so the proxy never writes to a closed pipe.
    std::thread::spawn(move || for _ in lines {});
    let addr: Option<std::net::SocketAddr> = first
        .as_ref()
        .and_then(|l| l.as_ref().ok())
        .and_then(|l| l.split_whitespace().find_map(|w| w.parse().ok()));
    let Some(addr) = addr else {
        let _ = child.kill();
        let out = child.wait_with_output()?;
        return Err(format!(
            "the proxy did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    };
    let c = reqwest::Client::builder().no_proxy().build()?;
    let r = rt.block_on(async { c.get(format!("http://{addr}/x")).send().await });
    let _ = child.kill();
    let _ = child.wait();
    let r = r?;
    assert_eq!(r.status(), 200);
    assert!(!certs.exists());
    Ok(())
}
