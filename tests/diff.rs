//! `synctap diff` as a process over real recordings: the demo story recorded through the
//! proxy against several `synctap serve` processes (another seed, coauthoring off, a
//! coauthor limit of 1), a recording with one exchange removed, and unreadable input.

use std::path::Path;
use std::process::Stdio;

use synctap::decode::exchange::decode_recorded;

use crate::replay::record_demo_against;
use crate::util::{read_capture, synctap, TestResult};

/// Runs `synctap diff A B EXTRA…`; returns the exit code, stdout and stderr.
fn diff(
    a: &Path,
    b: &Path,
    extra: &[&str],
) -> Result<(i32, String, String), Box<dyn std::error::Error>> {
    let out = synctap()
        .arg("diff")
        .arg(a)
        .arg(b)
        .args(extra)
        .stderr(Stdio::piped())
        .output()?;
    Ok((
        out.status.code().ok_or("killed")?,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Asserts that `text` contains every one of `parts`.
fn has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "{p:?} missing in:\n{text}");
    }
}

/// Runs `synctap diff A B` and asserts its exit code and that its text report says
/// every one of `parts`.
fn diff_says(a: &Path, b: &Path, code: i32, parts: &[&str]) -> TestResult {
    let (got, text, err) = diff(a, b, &[])?;
    assert_eq!(got, code, "{text}{err}");
    has(&text, parts);
    Ok(())
}

#[test]
fn diff_of_demo_recordings() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let a = record_demo_against(d, "a", &["--coauth", "on"])?;
    // Another seed: every ETag, storage index id and lock token differs.
    let b = record_demo_against(d, "b", &["--coauth", "on", "--seed", "2"])?;

    // The same scenario: nothing differs, in text, markdown and JSON.
    let md = d.join("same.md");
    let (code, text, err) = diff(&a, &b, &["--report", md.to_str().ok_or("path")?])?;
    assert_eq!(code, 0, "{text}{err}");
    has(
        &text,
        &["0 differ; 0 differences", "0 only in A, 0 only in B"],
    );
    assert!(std::fs::read_to_string(&md)?.starts_with("# Diff of A"));
    let (code, text, err) = diff(&a, &b, &["--json"])?;
    assert_eq!(code, 0, "{text}{err}");
    let v: serde_json::Value = serde_json::from_str(&text)?;
    assert_eq!(v["differences"].as_array().map(Vec::len), Some(0), "{text}");
    assert!(v["exchanges"].as_u64().is_some_and(|n| n > 30), "{text}");
    // Strict: the volatile values are compared too, paired first-seen to first-seen, so
    // the other seed's values still correspond one to one.
    let (code, text, err) = diff(&a, &b, &["--strict"])?;
    assert_eq!(code, 0, "{text}{err}");

    // One coauthor at most: B's JoinCoauthoring is refused. The report names the
    // SubRequest, the file and the client.
    let one = record_demo_against(d, "one", &["--max-coauthors", "1"])?;
    let (code, text, err) = diff(&a, &one, &["--json"])?;
    assert_eq!(code, 1, "{text}{err}");
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let refused = |v: &serde_json::Value| {
        v["differences"].as_array().is_some_and(|ds| {
            ds.iter().any(|d| {
                d["file"] == "Report.docx"
                    && d["client"]
                        .as_str()
                        .is_some_and(|c| c.contains("B0000000-0000-4000-8000-00000000000B"))
                    && d["place"]
                        .as_str()
                        .is_some_and(|p| p.contains("Coauth JoinCoauthoring"))
                    && d["changes"].as_array().is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c["field"] == "ErrorCode"
                                && c["recorded"] == "Success"
                                && c["replayed"] == "NumberOfCoauthorsReachedMax"
                        })
                    })
            })
        })
    };
    assert!(refused(&v), "{text}");
    // --ignore removes that field's differences.
    let (_, text, err) = diff(&a, &one, &["--json", "--ignore", "ErrorCode"])?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {err}"))?;
    assert!(!refused(&v), "{text}");
    assert!(
        !text.contains("\"field\": \"ErrorCode\""),
        "ErrorCode still compared: {text}"
    );

    // Coauthoring off: the joins fall back to exclusive locks; the timelines diverge.
    let off = record_demo_against(d, "off", &["--coauth", "off"])?;
    diff_says(
        &a,
        &off,
        1,
        &[
            "LockType SchemaLock → ExclusiveLock",
            "CoauthStatus",
            "timelines of Report.docx side by side",
        ],
    )?;

    // B without D's ReleaseLock: listed as only in A, the rest still pairs.
    let released = |x: &synctap::model::Exchange| {
        decode_recorded(x)
            .summary
            .iter()
            .any(|s| s.contains("ReleaseLock"))
    };
    let xs = read_capture(&b);
    assert_eq!(xs.iter().filter(|x| released(x)).count(), 1);
    let cut = d.join("cut.jsonl");
    synctap::capture::write_capture(&cut, xs.iter().filter(|x| !released(x)), true)?;
    let a_release = read_capture(&a)
        .into_iter()
        .find(|x| released(x))
        .ok_or("no ReleaseLock in A")?;
    let (code, text, err) = diff(&a, &cut, &["--json"])?;
    assert_eq!(code, 1, "{text}{err}");
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let only = v["only_in"].as_array().ok_or("no only_in")?;
    assert_eq!(only.len(), 1, "{text}");
    assert_eq!(only[0]["side"], "A", "{text}");
    assert_eq!(only[0]["exchange"].as_u64(), Some(a_release.id), "{text}");
    assert_eq!(only[0]["file"], "Inventory.csv", "{text}");
    assert!(
        v["differences"]
            .as_array()
            .is_some_and(|ds| ds.iter().all(|d| d["client"] == "timeline")),
        "only the timeline may differ besides: {text}"
    );
    diff_says(&a, &cut, 1, &["only in A:", "ReleaseLock"])?;

    // A line that cannot be read is reported with its number and skipped.
    let mut lines: Vec<String> = std::fs::read_to_string(&b)?
        .lines()
        .map(str::to_owned)
        .collect();
    lines.insert(2, "{\"type\":\"exchange\", this is not json".to_owned());
    let torn = d.join("bad-line.jsonl");
    std::fs::write(&torn, lines.join("\n") + "\n")?;
    diff_says(
        &a,
        &torn,
        0,
        &[
            "unreadable lines (skipped):",
            "line 3",
            "1 unreadable lines",
        ],
    )?;

    Ok(())
}

#[test]
fn diff_cannot_compare() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let garbage = d.join("garbage.jsonl");
    std::fs::write(&garbage, b"\x00\x01 this is not a capture\n\xff\xfe\n")?;
    let empty = d.join("empty.jsonl");
    synctap::capture::write_capture(&empty, std::iter::empty(), true)?;
    let (code, text, err) = diff(&empty, &garbage, &[])?;
    assert_eq!(code, 2, "{text}{err}");
    has(
        &err,
        &["cannot compare", "garbage.jsonl", "not a synctap capture"],
    );
    let (code, _, err) = diff(&d.join("missing.jsonl"), &empty, &[])?;
    assert_eq!(code, 2, "{err}");
    has(&err, &["cannot compare", "missing.jsonl"]);
    // Two empty recordings compare equal.
    let (code, text, err) = diff(&empty, &empty, &[])?;
    assert_eq!(code, 0, "{text}{err}");
    Ok(())
}
