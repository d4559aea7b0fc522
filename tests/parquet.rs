//! `synctap export --parquet` read back by DuckDB (the Python package, installed by
//! .ci/run): the demo capture's row counts equal what `show --json` holds, the columns
//! named by the specifications answer queries, times are timestamps, a damaged capture
//! exports the rest and names the bad line, and `--filter` narrows every table.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{export, record_demo, synctap, TestResult};

/// Runs one SQL statement with DuckDB in `dir` and returns its rows as JSON arrays.
fn duckdb(dir: &Path, sql: &str) -> Result<Vec<Vec<Value>>, Box<dyn std::error::Error>> {
    let out = Command::new("python3")
        .current_dir(dir)
        .args([
            "-c",
            "import duckdb, json, sys; print(json.dumps(duckdb.sql(sys.argv[1]).fetchall(), default=str))",
            sql,
        ])
        .output()?;
    assert!(
        out.status.success(),
        "duckdb failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// The single number a `SELECT count(*) ...` returns.
fn count(dir: &Path, sql: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let rows = duckdb(dir, sql)?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_u64)
        .ok_or("no count")?)
}

/// The capture's exchanges as `show --json` writes them, counted without synctap's
/// Parquet code.
fn show_json(capture: &Path) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let out = synctap().arg("show").arg(capture).arg("--json").output()?;
    assert!(out.status.success());
    String::from_utf8(out.stdout)?
        .lines()
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}

/// Every SubRequest (`side` "request") or SubResponse ("response") of every exchange, as
/// JSON.
fn sub_elements<'a>(show: &'a [Value], side: &str) -> Vec<&'a Value> {
    let (collection, message, sub) = if side == "request" {
        ("RequestCollection", "Request", "SubRequest")
    } else {
        ("ResponseCollection", "Response", "SubResponse")
    };
    show.iter()
        .flat_map(|x| {
            x["decoded"]["fsshttp"][side][collection][message]
                .as_array()
                .into_iter()
                .flatten()
        })
        .flat_map(|m| m[sub].as_array().into_iter().flatten())
        .collect()
}

#[test]
fn duckdb_reads_the_demo_export_with_the_specifications_names() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = record_demo(dir.path());
    let out = dir.path().join("pq");
    let stderr = export(&capture, "parquet", &out, &[]);
    assert!(stderr.contains("values written as null: none"), "{stderr}");
    let show = show_json(&capture)?;

    // One row per exchange and per SubRequest (every demo SubResponse has its SubRequest).
    assert_eq!(
        count(&out, "SELECT count(*) FROM 'exchanges.parquet'")?,
        show.len() as u64
    );
    let subs = sub_elements(&show, "request");
    assert!(subs.len() > 10, "the demo has cell storage traffic");
    assert_eq!(sub_elements(&show, "response").len(), subs.len());
    assert_eq!(
        count(&out, "SELECT count(*) FROM 'subrequests.parquet'")?,
        subs.len() as u64
    );

    // Type: the SubRequest types with their counts.
    let mut types: BTreeMap<String, u64> = BTreeMap::new();
    for s in &subs {
        *types
            .entry(s["Type"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    let rows = duckdb(
        &out,
        "SELECT Type, count(*) FROM 'subrequests.parquet' GROUP BY Type ORDER BY Type",
    )?;
    let got: BTreeMap<String, u64> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or_default().to_owned(),
                r[1].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(got, types);
    assert!(types.contains_key("Coauth") && types.contains_key("Cell"));

    // ErrorCode: the demo's refused lock, on the SubResponse that carries it.
    let refused = sub_elements(&show, "response")
        .iter()
        .filter(|s| s["ErrorCode"] == "FileAlreadyLockedOnServer")
        .count();
    assert!(refused > 0, "the demo has a refused lock");
    assert_eq!(
        count(
            &out,
            "SELECT count(*) FROM 'subrequests.parquet' WHERE ErrorCode = 'FileAlreadyLockedOnServer'"
        )?,
        refused as u64
    );

    // ClientID: the set of clients, and a known client's subrequests.
    let mut clients: BTreeMap<String, u64> = BTreeMap::new();
    for s in &subs {
        if let Some(c) = s["SubRequestData"]["ClientID"].as_str() {
            *clients.entry(c.to_owned()).or_default() += 1;
        }
    }
    let (client, n) = clients.iter().next().ok_or("no ClientID in the demo")?;
    assert_eq!(
        count(
            &out,
            &format!("SELECT count(*) FROM 'subrequests.parquet' WHERE ClientID = '{client}'")
        )?,
        *n
    );
    assert_eq!(
        count(
            &out,
            "SELECT count(DISTINCT ClientID) FROM 'subrequests.parquet'"
        )?,
        clients.len() as u64
    );
    // An exchange that names no ClientID is its connection's last named one, as the
    // timeline attributes it: none is null after its connection named one, and one
    // exchange's ClientID is the one its connection named before.
    assert_eq!(
        count(
            &out,
            "SELECT count(*) FROM 'exchanges.parquet' e WHERE e.ClientID IS NULL AND EXISTS (SELECT 1 FROM 'exchanges.parquet' p WHERE p.connection_id = e.connection_id AND p.id < e.id AND p.ClientID IS NOT NULL)"
        )?,
        0
    );
    let inherited = count(
        &out,
        "SELECT count(*) FROM 'exchanges.parquet' e WHERE e.ClientID IS NOT NULL AND e.id NOT IN (SELECT exchange FROM 'subrequests.parquet' WHERE ClientID IS NOT NULL)",
    )?;
    assert!(
        inherited > 0,
        "some exchange naming no ClientID takes its connection's"
    );

    // Times are timestamps, in every table that has them.
    for (table, column) in [
        ("exchanges", "start"),
        ("subrequests", "start"),
        ("fsshttpb", "start"),
        ("spans", "start"),
        ("spans", "end"),
    ] {
        let rows = duckdb(
            &out,
            &format!("DESCRIBE SELECT \"{column}\" FROM '{table}.parquet'"),
        )?;
        let ty = rows[0][1].as_str().unwrap_or_default();
        assert!(ty.starts_with("TIMESTAMP"), "{table}.{column} is {ty}");
    }
    // ... holding the capture's times.
    let first = show[0]["timings"]["start"].as_str().ok_or("no start")?;
    let rows = duckdb(
        &out,
        "SELECT strftime(start AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f') FROM 'exchanges.parquet' ORDER BY id LIMIT 1",
    )?;
    let got = rows[0][0].as_str().unwrap_or_default();
    assert!(first.starts_with(got), "{first} vs {got}");

    // The FSSHTTPB table names request types as the specification does, with the number.
    assert!(
        count(
            &out,
            "SELECT count(*) FROM 'fsshttpb.parquet' WHERE RequestType = 'PutChanges' AND RequestTypeNumber = 5"
        )? > 0
    );
    // Spans and findings are the timeline's.
    let timeline = synctap()
        .arg("timeline")
        .arg(&capture)
        .arg("--json")
        .output()?;
    let timeline: Value = serde_json::from_slice(&timeline.stdout)?;
    let spans: usize = timeline["files"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["lanes"].as_array().into_iter().flatten())
        .map(|l| l["spans"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(spans > 0);
    assert_eq!(
        count(&out, "SELECT count(*) FROM 'spans.parquet'")?,
        spans as u64
    );
    let findings = timeline["findings"].as_array().map_or(0, Vec::len);
    assert_eq!(
        count(&out, "SELECT count(*) FROM 'findings.parquet'")?,
        findings as u64
    );
    for table in ["webdav", "spfilesync"] {
        duckdb(&out, &format!("SELECT count(*) FROM '{table}.parquet'"))?;
    }
    Ok(())
}

#[test]
fn a_damaged_capture_exports_the_rest_and_names_the_line() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = record_demo(dir.path());
    let text = std::fs::read_to_string(&capture)?;
    let lines: Vec<&str> = text.lines().collect();
    let exchanges = show_json(&capture)?.len();
    // A garbage line after the header and the first record, and a torn last line.
    let mut damaged = String::new();
    for (i, l) in lines.iter().enumerate() {
        damaged.push_str(l);
        damaged.push('\n');
        if i == 1 {
            damaged.push_str("{\"type\":\"exchange\",\"data\":{garbage\n");
        }
    }
    damaged.push_str("{\"type\":\"exchange\",\"data\":{\"id\":99");
    let bad = dir.path().join("damaged.jsonl");
    std::fs::write(&bad, damaged)?;
    let out = dir.path().join("pq");
    let stderr = export(&bad, "parquet", &out, &[]);
    assert!(stderr.contains("line 3"), "{stderr}");
    assert_eq!(
        count(&out, "SELECT count(*) FROM 'exchanges.parquet'")?,
        exchanges as u64
    );
    Ok(())
}

#[test]
fn filter_narrows_every_table() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = record_demo(dir.path());
    let all = dir.path().join("all");
    export(&capture, "parquet", &all, &[]);
    let some = dir.path().join("some");
    export(&capture, "parquet", &some, &["--filter", "~t Coauth"]);
    let n = count(&some, "SELECT count(*) FROM 'exchanges.parquet'")?;
    assert!(n > 0);
    assert!(n < count(&all, "SELECT count(*) FROM 'exchanges.parquet'")?);
    // Only exchanges with a Coauth subrequest are left, and no Cell payload rode along
    // with them.
    assert!(
        count(
            &some,
            "SELECT count(*) FROM 'subrequests.parquet' WHERE Type = 'Coauth'"
        )? > 0
    );
    assert!(
        count(&some, "SELECT count(*) FROM 'fsshttpb.parquet'")?
            < count(&all, "SELECT count(*) FROM 'fsshttpb.parquet'")?
    );
    assert_eq!(
        count(
            &some,
            "SELECT count(*) FROM 'subrequests.parquet' s WHERE s.exchange NOT IN (SELECT id FROM 'exchanges.parquet')"
        )?,
        0
    );
    Ok(())
}

#[test]
fn modified_exchanges_are_marked_with_their_rules() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = record_demo(dir.path());
    // Mark the second exchange record as changed by rules 3 and 0, as `proxy --rule`
    // records it (the capture format's optional `modified` member).
    let mut marked_id = None;
    let mut lines = Vec::new();
    for line in std::fs::read_to_string(&capture)?.lines() {
        let mut v: Value = serde_json::from_str(line)?;
        if v["type"] == "exchange" && v["data"]["id"].as_u64() == Some(2) {
            v["data"]["modified"] = serde_json::json!({"rules": [
                {"index": 3, "text": "~t Coauth => coauthstatus Alone"},
                {"index": 0, "text": "~m POST => delay 1ms"},
            ]});
            marked_id = Some(2);
        }
        lines.push(serde_json::to_string(&v)?);
    }
    assert_eq!(marked_id, Some(2), "the demo capture has no exchange 2");
    let marked = dir.path().join("marked.jsonl");
    std::fs::write(&marked, lines.join("\n") + "\n")?;
    let out = dir.path().join("pq");
    export(&marked, "parquet", &out, &[]);
    let rows = duckdb(
        &out,
        "SELECT id, modified_rules FROM 'exchanges.parquet' WHERE modified ORDER BY id",
    )?;
    assert_eq!(rows, vec![vec![Value::from(2), serde_json::json!([3, 0])]]);
    assert_eq!(
        count(
            &out,
            "SELECT count(*) FROM 'exchanges.parquet' WHERE NOT modified AND modified_rules IS NULL"
        )?,
        show_json(&capture)?.len() as u64 - 1
    );
    Ok(())
}
