//! The commands that read a whole capture stream it: a generated capture of a few
//! thousand exchanges (the scale benchmark's mix: SOAP/MTOM with Cell payloads, WebDAV,
//! SPFileSync) gives, through the real binary, the same output as the whole-capture forms
//! built in memory; piped, no progress bar is drawn; a line that cannot be read is
//! reported with its number and the command goes on. Memory is measured by
//! `benches/scale.sh`, not here.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use synctap::capture::har;
use synctap::cli::schema::{ShowLine, Versioned};
use synctap::decode::exchange::{decode_recorded, DecodedRecord};
use synctap::model::{Exchange, ExchangeKind, TunnelInfo};

use crate::util::{read_capture, synctap, TestResult};

#[path = "../benches/gen/capture.rs"]
mod gen;

/// Exchanges in the generated capture.
const N: u64 = 3_000;

/// A generated capture with a tunnel and an exchange without a response appended (what
/// HAR leaves out or writes as status 0).
fn capture(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let path = dir.join("big.jsonl");
    gen::generate(&path, N, gen::Mix::Realistic)?;
    let xs = read_capture(&path);
    let mut tunnel = xs[0].clone();
    tunnel.id = N + 1;
    tunnel.kind = ExchangeKind::Tunnel;
    tunnel.request = None;
    tunnel.response = None;
    tunnel.tunnel = Some(TunnelInfo::default());
    let mut failed = xs[1].clone();
    failed.id = N + 2;
    failed.response = None;
    failed.error = Some("upstream: connection refused".into());
    let mut f = std::fs::OpenOptions::new().append(true).open(&path)?;
    for x in [tunnel, failed] {
        serde_json::to_writer(&mut f, &synctap::capture::Record::Exchange(Box::new(x)))?;
        f.write_all(b"\n")?;
    }
    Ok(path)
}

fn run(args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
    let out = synctap().args(args).output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{args:?}: {err}");
    no_progress(args, &out);
    Ok(out)
}

/// Piped stderr never gets the progress bar: no escape sequences, no carriage returns,
/// no bar text.
fn no_progress(args: &[&str], out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.stderr.contains(&0x1b) && !out.stderr.contains(&b'\r'),
        "{args:?}: terminal control in piped stderr: {err:?}"
    );
    assert!(
        !err.contains("elapsed") && !err.contains("[="),
        "{args:?}: progress text in piped stderr: {err:?}"
    );
}

#[test]
fn a_large_capture_exports_to_the_same_har_as_the_whole_document() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = capture(dir.path())?;
    let har_path = dir.path().join("out.har");
    let out = run(&[
        "export",
        path.to_str().ok_or("path")?,
        "--har",
        har_path.to_str().ok_or("path")?,
    ])?;
    // The document as the whole-capture export builds it, pretty-printed as before.
    let records: Vec<DecodedRecord> = read_capture(&path)
        .into_iter()
        .map(DecodedRecord::new)
        .collect();
    let whole = serde_json::to_vec_pretty(&har::export(&records))?;
    let streamed = std::fs::read(&har_path)?;
    assert!(
        streamed == whole,
        "the streamed HAR differs from the whole document"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("({} entries)", N + 1)), "{err}");
    // And it reads back as the same exchanges (HTTP ones: a tunnel has no HAR entry).
    let back = dir.path().join("back.jsonl");
    run(&[
        "import",
        har_path.to_str().ok_or("path")?,
        "--out",
        back.to_str().ok_or("path")?,
    ])?;
    let http: Vec<Exchange> = records
        .into_iter()
        .map(|r| r.exchange)
        .filter(|x| x.kind == ExchangeKind::Http)
        .collect();
    let restored = read_capture(&back);
    assert_eq!(restored.len(), http.len());
    for (a, b) in http.iter().zip(&restored) {
        let mut b = b.clone();
        b.id = a.id;
        assert!(*a == b, "exchange {} changed through HAR", a.id);
    }
    Ok(())
}

#[test]
fn an_empty_capture_exports_to_an_empty_har() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("empty.jsonl");
    synctap::capture::write_capture(&path, &[], false)?;
    let har_path = dir.path().join("out.har");
    run(&[
        "export",
        path.to_str().ok_or("path")?,
        "--har",
        har_path.to_str().ok_or("path")?,
    ])?;
    let whole = serde_json::to_vec_pretty(&har::export(&[]))?;
    assert_eq!(std::fs::read(&har_path)?, whole);
    Ok(())
}

#[test]
fn show_json_of_a_large_capture_is_one_line_per_exchange_as_decoded() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = capture(dir.path())?;
    let out = run(&["show", "--json", path.to_str().ok_or("path")?])?;
    let mut want = Vec::new();
    for x in read_capture(&path) {
        let decoded = decode_recorded(&x);
        let line = ShowLine {
            exchange: &x,
            decoded: &decoded,
        };
        serde_json::to_writer(&mut want, &Versioned::new(line))?;
        want.push(b'\n');
    }
    assert!(
        out.stdout == want,
        "show --json differs from the exchanges' JSON"
    );
    Ok(())
}

#[test]
fn every_streaming_command_goes_past_a_bad_line_and_names_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bad.jsonl");
    gen::generate(&path, 200, gen::Mix::Realistic)?;
    // Line 3 becomes garbage: the second exchange is lost, nothing else.
    let text = std::fs::read_to_string(&path)?;
    let mut lines: Vec<&str> = text.lines().collect();
    lines[2] = "{\"type\":\"exchange\",\"data\":{\"id\":";
    std::fs::write(&path, lines.join("\n") + "\n")?;
    let p = path.to_str().ok_or("path")?;
    let out_dir = dir.path();
    let har_path = out_dir.join("out.har");
    let red = out_dir.join("red.jsonl");
    let runs: Vec<Vec<String>> = vec![
        vec!["show".into(), p.into()],
        vec!["show".into(), "--json".into(), p.into()],
        vec!["timeline".into(), p.into()],
        vec!["check".into(), p.into()],
        vec![
            "export".into(),
            p.into(),
            "--har".into(),
            har_path.display().to_string(),
        ],
        vec![
            "redact".into(),
            p.into(),
            "--out".into(),
            red.display().to_string(),
        ],
    ];
    for args in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args)?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("line 3 (byte") && err.contains("skipped"),
            "{args:?}: {err}"
        );
    }
    let json = run(&["show", "--json", p])?;
    assert_eq!(json.stdout.iter().filter(|b| **b == b'\n').count(), 199);
    assert_eq!(read_capture(&red).len(), 199);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&har_path)?)?;
    assert_eq!(doc["log"]["entries"].as_array().map(Vec::len), Some(199));
    // diff reports the line in its report and compares the rest.
    let out = synctap().args(["diff", p, p]).output()?;
    no_progress(&["diff"], &out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("line 3"), "{text}");
    Ok(())
}
