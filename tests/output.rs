//! Output a user can act on and trust, from the real binary: text from the wire is
//! escaped before it reaches a terminal (issue 14.7), findings cite public specifications
//! only, logs carry no colour codes when stderr is not a terminal, and a reader that goes
//! away (`synctap show --json … | head`) ends the command quietly (issue 16.6).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use crate::util::{record_demo, synctap, TestResult};

/// A capture whose URLs, headers, error text and SOAP attribute values hold ESC, BEL, CR
/// and LF (testdata/captures/README.md).
fn hostile_capture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/terminal_escapes.jsonl")
}

fn run(args: &[&str], capture: &Path) -> std::io::Result<Output> {
    synctap().args(args).arg(capture).output()
}

/// The bytes a terminal acts on: ESC (CSI, OSC), BEL, CR, and the 8-bit CSI.
fn control_bytes(out: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(out);
    text.chars()
        .filter(|&c| c != '\n' && (c.is_control()))
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(0xFF))
        .collect()
}

/// Issue 14.7: show, timeline and check printed ESC, BEL and CR from URLs and from SOAP
/// attribute values (`ClientID="&#27;[41m…"`) unescaped.
#[test]
fn show_timeline_and_check_escape_text_from_the_wire() -> TestResult {
    let capture = hostile_capture();
    for args in [
        &["show"][..],
        &["show", "--filter", "~m POST"],
        &["timeline"],
        &["check"],
    ] {
        let out = run(args, &capture)?;
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{args:?}: {out:?}"
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            control_bytes(&out.stdout),
            Vec::<u8>::new(),
            "{args:?}:\n{text}"
        );
        assert_eq!(control_bytes(&out.stderr), Vec::<u8>::new(), "{args:?}");
        // The values are shown, escaped, not dropped.
        assert!(
            text.contains("\\u{1b}[41mEVIL\\u{7}\\r\\n"),
            "{args:?}:\n{text}"
        );
        if args[0] == "show" {
            assert!(text.contains("?\\u{1b}[2J\\u{7}\\r"), "{args:?}:\n{text}");
        }
        if args == ["timeline"] {
            assert!(text.contains("Pl\\u{1b}]0;pwned\\u{7}an.docx"), "{text}");
        }
    }
    // Exchange 2's error text, with a CR LF that would fake a second line.
    let out = run(&["show"], &capture)?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("reset\\u{7}\\r\\nfake line"), "{text}");
    // JSON escapes by itself and keeps the values exact.
    let out = run(&["show", "--json"], &capture)?;
    let first: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap_or_default())?;
    assert!(first["request"]["url"]
        .as_str()
        .is_some_and(|u| u.ends_with("?\u{1b}[2J\u{7}\r")));
    Ok(())
}

/// Issue 14.7: `decode` printed attribute values such as `ErrorCode` raw in its tree.
#[test]
fn decode_escapes_text_from_the_wire() -> TestResult {
    let dir = tempfile::tempdir()?;
    let fixture = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fsshttp/coauth_join.response"),
    )?;
    let split = fixture
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no blank line in the fixture")?;
    let head = String::from_utf8_lossy(&fixture[..split]).into_owned();
    let content_type = head
        .split_once(':')
        .ok_or("no Content-Type")?
        .1
        .trim()
        .to_owned();
    let body = String::from_utf8_lossy(&fixture[split + 4..])
        .replacen("ErrorCode=\"Success\"", "ErrorCode=\"&#27;[31mX&#13;\"", 1)
        .replacen("HResult=\"0\"", "HResult=\"&#27;[32m\"", 1);
    let file = dir.path().join("response.bin");
    std::fs::write(&file, body)?;
    let out = synctap()
        .args(["decode", "--response", "--content-type", &content_type])
        .arg(&file)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(control_bytes(&out.stdout), Vec::<u8>::new(), "{text}");
    assert!(text.contains("ErrorCode=\\u{1b}[31mX"), "{text}");
    assert!(text.contains("diagnostic:"), "{text}");
    Ok(())
}

/// Issue 16.6: findings cited `REFERENCE.md`, a file no user has.
#[test]
fn findings_cite_public_specifications_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = crate::util::demo_command(&dir.path().join("certs"), &dir.path().join("demo.jsonl"))
        .output()?;
    crate::util::assert_ran("demo", &out);
    let demo = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(demo.contains("== timeline and findings"), "{demo}");
    let capture = dir.path().join("demo.jsonl");
    let hostile = hostile_capture();
    let mut texts = vec![("demo".to_owned(), demo)];
    for (args, c) in [
        (&["timeline"][..], &capture),
        (&["check"], &capture),
        (&["timeline", "--json"], &capture),
        (&["check", "--json"], &capture),
        (&["check"], &hostile),
    ] {
        let out = run(args, c)?;
        texts.push((
            format!("{args:?} {}", c.display()),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ));
    }
    let mut cited = 0;
    for (what, text) in &texts {
        assert!(!text.contains("REFERENCE"), "{what}:\n{text}");
        cited += text.matches("MS-FSSHTTP").count() + text.matches("RFC 4918").count();
    }
    assert!(cited > 0, "no finding cited a specification at all");
    Ok(())
}

/// Issue 16.6: log lines carried ANSI colour codes into files and pipes.
#[test]
fn logs_have_no_colour_codes_when_stderr_is_piped() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut serve = synctap()
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdout = serve.stdout.take().ok_or("no stdout")?;
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while !first.ends_with(b"\n") && stdout.read(&mut byte)? == 1 {
        first.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&first);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .ok_or_else(|| format!("no URL in {line:?}"))?
        .to_owned();
    // One request the server logs at info level (its default for `serve`).
    let status = synctap_http_get(&format!("{url}/nothing-here"))?;
    assert_eq!(status, 404);
    serve.kill()?;
    let out = serve.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing-here"),
        "the request was not logged: {err}"
    );
    assert!(!out.stderr.contains(&0x1b), "ESC in piped stderr: {err:?}");
    Ok(())
}

/// A plain HTTP GET over a std TCP stream; returns the status code.
fn synctap_http_get(url: &str) -> Result<u16, Box<dyn std::error::Error>> {
    use std::io::Write as _;
    let rest = url.strip_prefix("http://").ok_or("not http")?;
    let (authority, path) = rest.split_once('/').ok_or("no path")?;
    let mut s = std::net::TcpStream::connect(authority)?;
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("no status")?;
    Ok(code)
}

/// Issue 16.6: `synctap show --json CAPTURE | head` printed `error: Broken pipe` and
/// exited 2. Every command that writes a report ends with 0 and says nothing when its
/// reader is gone. The read end is closed before the command writes (and the outputs are
/// larger than a pipe buffer), so each write really fails with EPIPE.
#[test]
fn a_reader_going_away_ends_commands_quietly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = record_demo(dir.path());
    let size = run(&["show", "--json"], &capture)?.stdout.len();
    assert!(size > 1 << 17, "show --json gives only {size} bytes");
    for args in [
        &["show", "--json"][..],
        &["show"],
        &["timeline", "--json"],
        &["timeline"],
        &["check", "--json"],
        &["check"],
    ] {
        let mut child = synctap()
            .args(args)
            .arg(&capture)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        drop(child.stdout.take());
        let out = child.wait_with_output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status
                .code()
                .is_some_and(|c| c == 0 || (args[0] == "check" && c == 1)),
            "{args:?}: {:?} {err}",
            out.status
        );
        assert!(
            !err.contains("Broken pipe") && !err.contains("error"),
            "{args:?}: {err}"
        );
    }
    Ok(())
}
