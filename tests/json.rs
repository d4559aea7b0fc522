//! The JSON outputs as data (docs/json.md): the shipped schemas are current, every
//! `--json` output over every test capture and testdata file validates against its schema
//! (Python's jsonschema, installed by .ci/run) and holds no number above 2^53−1, the
//! MS-FSSHTTPB keys are the specification's names, and the jq recipes of docs/json.md
//! run with real `jq` over the demo capture.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::util::{record_demo, serve, synctap, TestResult};

const SCHEMAS: [&str; 7] = [
    "show", "decode", "fields", "timeline", "check", "replay", "diff",
];

/// The largest integer JSON readers hold exactly.
const MAX_SAFE: u64 = (1 << 53) - 1;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], file: Option<&Path>) -> Result<Output, Box<dyn std::error::Error>> {
    let mut cmd = synctap();
    cmd.args(args);
    if let Some(f) = file {
        cmd.arg(f);
    }
    Ok(cmd.stderr(Stdio::piped()).output()?)
}

/// Fails on a JSON number outside ±(2^53−1), naming where it is.
fn no_big_numbers(v: &Value, at: &str, errors: &mut Vec<String>) {
    match v {
        Value::Number(n) => {
            let big = n.as_u64().map_or_else(
                || {
                    n.as_i64().map_or_else(
                        || n.as_f64().is_some_and(|f| f.abs() > MAX_SAFE as f64),
                        |i| i.unsigned_abs() > MAX_SAFE,
                    )
                },
                |u| u > MAX_SAFE,
            );
            if big {
                errors.push(format!("{at}: {n}"));
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                no_big_numbers(x, &format!("{at}/{i}"), errors);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                no_big_numbers(x, &format!("{at}/{k}"), errors);
            }
        }
        _ => {}
    }
}

/// Every testdata file a decoder reads: this repository's and the shared external ones.
fn testdata_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                if name != "snapshots" {
                    walk(&p, out);
                }
            } else if !(name.ends_with(".md")
                || name.ends_with(".py")
                || name.ends_with(".snap")
                || name == "SHA256SUMS"
                || name.ends_with(".jsonl"))
            {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for d in ["fsshttp", "fsshttpb", "spfilesync", "webdav"] {
        walk(&repo().join("testdata").join(d), &mut out);
    }
    walk(&repo().join("../shared/testdata/external"), &mut out);
    out.sort();
    out
}

/// The test captures: the demo's and those under testdata/captures.
fn captures(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let mut out = vec![record_demo(dir)];
    for e in std::fs::read_dir(repo().join("testdata/captures"))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
    Ok(out)
}

#[test]
fn docs_schema_is_what_synctap_schema_prints() -> TestResult {
    for name in SCHEMAS {
        let out = run(&["schema", name], None)?;
        assert!(out.status.success(), "synctap schema {name}");
        let shipped = std::fs::read_to_string(repo().join(format!("docs/schema/{name}.json")))?;
        assert!(
            shipped == String::from_utf8(out.stdout)?,
            "docs/schema/{name}.json is stale: run `synctap schema {name} > docs/schema/{name}.json`"
        );
    }
    Ok(())
}

/// Runs every JSON output over every test capture and testdata file, checks each document
/// for numbers above 2^53−1 and for `schema_version`, then validates them all against
/// the schemas with Python's jsonschema.
#[test]
fn every_json_output_validates_and_holds_no_number_above_2_53() -> TestResult {
    let dir = tempfile::tempdir()?;
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs)?;
    let mut written: Vec<(&str, PathBuf)> = Vec::new();
    let mut errors = Vec::new();
    let mut n = 0;
    let mut keep = |schema: &'static str,
                    what: String,
                    out: &Output,
                    lines: bool|
     -> Result<(), Box<dyn std::error::Error>> {
        let text = String::from_utf8(out.stdout.clone())?;
        let values: Vec<Value> = if lines {
            text.lines()
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()?
        } else {
            vec![serde_json::from_str(&text)?]
        };
        for v in &values {
            no_big_numbers(v, &what, &mut errors);
            assert!(
                v["schema_version"].as_u64().is_some(),
                "{what}: no schema_version"
            );
        }
        n += 1;
        let path = docs.join(format!("{n}.{}", if lines { "jsonl" } else { "json" }));
        std::fs::write(&path, text)?;
        written.push((schema, path));
        Ok(())
    };

    let caps = captures(dir.path())?;
    for c in &caps {
        let shown = c.display().to_string();
        let out = run(&["show", "--json"], Some(c))?;
        assert!(out.status.success(), "show --json {shown}");
        keep("show", format!("show {shown}"), &out, true)?;
        let out = run(&["timeline", "--json"], Some(c))?;
        assert!(out.status.success(), "timeline --json {shown}");
        keep("timeline", format!("timeline {shown}"), &out, false)?;
        let out = run(&["check", "--json"], Some(c))?;
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "check --json {shown}"
        );
        keep("check", format!("check {shown}"), &out, false)?;
    }

    let files = testdata_files();
    assert!(files.len() > 40, "testdata files: {files:?}");
    let mut decoded = 0;
    for f in &files {
        let shown = f.display().to_string();
        // Exit 2 means "not a message this command decodes" (a JSON REST body, hex text,
        // bytes that are no MS-FSSHTTPB): nothing is printed to validate.
        let out = run(&["decode", "--json"], Some(f))?;
        if out.status.code() != Some(2) {
            keep("decode", format!("decode {shown}"), &out, false)?;
            decoded += 1;
        }
        let out = run(&["decode", "--fields", "--json"], Some(f))?;
        if out.status.code() != Some(2) {
            keep("fields", format!("decode --fields {shown}"), &out, false)?;
        }
    }
    assert!(decoded > 40, "{decoded} files decoded");

    // The replay report: the demo replayed against a reference server with one coauthor
    // at most, so it has differences to report.
    let server = serve(dir.path(), "data", &["--max-coauthors", "1"])?;
    let out = synctap()
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .arg("replay")
        .arg(&caps[0])
        .args(["--target", &server.url, "--json", "--upstream-ca"])
        .arg(dir.path().join("certs/synctap-ca.pem"))
        .stderr(Stdio::piped())
        .output()?;
    crate::util::assert_exit(&out, 1);
    keep("replay", "replay --json".to_owned(), &out, false)?;
    drop(server);

    // The diff report: the demo against itself with a line that cannot be read, so the
    // diff-only parts are filled.
    let b = dir.path().join("b.jsonl");
    let mut text = std::fs::read(&caps[0])?;
    text.extend_from_slice(b"{not json\n");
    std::fs::write(&b, text)?;
    let out = synctap()
        .arg("diff")
        .arg(&caps[0])
        .arg(&b)
        .arg("--json")
        .stderr(Stdio::piped())
        .output()?;
    crate::util::assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"unreadable\""));
    keep("diff", "diff --json".to_owned(), &out, false)?;

    assert!(errors.is_empty(), "numbers above 2^53-1: {errors:#?}");
    for schema in SCHEMAS {
        let files: Vec<&PathBuf> = written
            .iter()
            .filter(|(s, _)| *s == schema)
            .map(|(_, p)| p)
            .collect();
        assert!(!files.is_empty(), "no {schema} output");
        let out = Command::new("python3")
            .arg(repo().join("tests/json/validate.py"))
            .arg(repo().join(format!("docs/schema/{schema}.json")))
            .args(&files)
            .output()?;
        crate::util::assert_ran(&format!("validating {schema}"), &out);
    }
    Ok(())
}

/// The lowercase keys an MS-FSSHTTPB message may hold: synctap's own annotations, listed
/// in docs/json.md. Every other key is a specification name.
const FSSHTTPB_ANNOTATIONS: [&str; 20] = [
    "offset",
    "end",
    "diagnostics",
    "unknown",
    "kind",
    "name",
    "value",
    "raw",
    "body",
    "flags",
    "flag_names",
    "flags_second_byte",
    "trailing",
    "additional_flag_names",
    "additional_flags_trailing",
    "layout",
    "applied_storage_index_id",
    "data_elements_added",
    "frames_knowledge",
    "sub_request",
];

fn keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.insert(k.clone());
                keys(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
        _ => {}
    }
}

#[test]
fn fsshttpb_keys_are_the_specification_names() -> TestResult {
    let mut all = BTreeSet::new();
    for f in ["every-sub-request.bin", "every-sub-response.bin"] {
        let out = run(
            &["decode", "--json"],
            Some(&repo().join("testdata/fsshttpb").join(f)),
        )?;
        let v: Value = serde_json::from_slice(&out.stdout)?;
        keys(&v["message"], &mut all);
        // The request type is a name with the number beside it.
        let first = if f.contains("request") {
            &v["message"]["SubRequests"][0]
        } else {
            &v["message"]["SubResponses"][0]
        };
        assert!(first["RequestType"]["name"].is_string(), "{first}");
        assert!(first["RequestType"]["value"].is_u64(), "{first}");
        assert!(first["RequestID"].is_string(), "{first}");
        assert!(
            v["message"]["Signature"]
                .as_str()
                .is_some_and(|s| s.starts_with("0x9B069439F329CF9")),
            "{v}"
        );
    }
    for name in [
        "ProtocolVersion",
        "MinimumVersion",
        "Signature",
        "DataElementPackage",
        "DataElements",
        "DataElementType",
        "SerialNumber",
        "RequestID",
        "RequestType",
        "StorageIndexExtendedGUID",
        "CellID",
        "SubRequests",
        "SubResponses",
        "SubRequestData",
        "SubResponseData",
        "QueryChanges",
        "PutChanges",
        "Knowledge",
        "CellKnowledge",
        "WaterlineKnowledge",
    ] {
        assert!(all.contains(name), "no {name} key in {all:?}");
    }
    let snake: Vec<&String> = all
        .iter()
        .filter(|k| k.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter(|k| !FSSHTTPB_ANNOTATIONS.contains(&k.as_str()))
        .collect();
    assert!(
        snake.is_empty(),
        "keys neither spec names nor documented annotations: {snake:?}"
    );
    let doc = std::fs::read_to_string(repo().join("docs/json.md"))?;
    for a in FSSHTTPB_ANNOTATIONS {
        assert!(
            doc.contains(&format!("`{a}`")),
            "docs/json.md does not list `{a}`"
        );
    }
    Ok(())
}

/// One jq recipe of docs/json.md: name, input (`show`, `timeline`), program.
type Recipe = (String, String, String);

/// The recipes of docs/json.md: each ```jq block after a `<!-- recipe: NAME INPUT -->`
/// line, run with `jq -s` over INPUT of the demo capture.
fn recipes() -> Result<Vec<Recipe>, Box<dyn std::error::Error>> {
    let doc = std::fs::read_to_string(repo().join("docs/json.md"))?;
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix("<!-- recipe: ") else {
            continue;
        };
        let mut words = rest.trim_end_matches("-->").split_whitespace();
        let name = words.next().ok_or("recipe name")?.to_owned();
        let input = words.next().ok_or("recipe input")?.to_owned();
        let mut program = String::new();
        let mut inside = false;
        for l in lines.by_ref() {
            if l.starts_with("```jq") {
                inside = true;
            } else if inside && l.starts_with("```") {
                break;
            } else if inside {
                program.push_str(l);
                program.push('\n');
            }
        }
        out.push((name, input, program));
    }
    Ok(out)
}

#[test]
fn jq_recipes_answer_over_the_demo_capture() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = record_demo(dir.path());
    let show = dir.path().join("show.jsonl");
    std::fs::write(&show, run(&["show", "--json"], Some(&capture))?.stdout)?;
    let timeline = dir.path().join("timeline.json");
    std::fs::write(
        &timeline,
        run(&["timeline", "--json"], Some(&capture))?.stdout,
    )?;
    let recipes = recipes()?;
    let names: Vec<&str> = recipes.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["client-locks", "errorcodes-by-type", "failed-putchanges"]
    );
    for (name, input, program) in &recipes {
        let file = match input.as_str() {
            "show" => &show,
            "timeline" => &timeline,
            other => return Err(format!("recipe {name}: unknown input {other}").into()),
        };
        let out = Command::new("jq")
            .args(["-s", "-c", "--arg", "file", "Report.docx", program])
            .arg(file)
            .output()?;
        crate::util::assert_ran(&format!("recipe {name}"), &out);
        let v: Value = serde_json::from_slice(&out.stdout)?;
        match name.as_str() {
            // A and B coauthored Report.docx; A's coauthoring lock became exclusive.
            "client-locks" => {
                let rows = v.as_array().ok_or("array")?;
                for id in ["A0000000", "B0000000"] {
                    assert!(
                        rows.iter().any(|r| r["ClientID"]
                            .as_str()
                            .is_some_and(|c| c.starts_with(id))
                            && r["spans"].as_array().is_some_and(|s| !s.is_empty())),
                        "{id} in {v}"
                    );
                }
            }
            "errorcodes-by-type" => {
                assert!(v["Coauth"]["Success"].as_u64() > Some(0), "{v}");
                assert!(v["Cell"]["CellRequestFail"].as_u64() > Some(0), "{v}");
                assert!(
                    v["ExclusiveLock"]["FileAlreadyLockedOnServer"].as_u64() > Some(0),
                    "{v}"
                );
            }
            "failed-putchanges" => {
                let rows = v.as_array().ok_or("array")?;
                assert!(
                    rows.iter().any(|r| r["CellError"] == "CoherencyFailure"
                        && r["BinaryDataSize"].as_u64() > Some(0)
                        && r["ClientID"]
                            .as_str()
                            .is_some_and(|c| c.starts_with("A0000000"))),
                    "{v}"
                );
            }
            other => return Err(format!("unexpected recipe {other}").into()),
        }
    }
    Ok(())
}
