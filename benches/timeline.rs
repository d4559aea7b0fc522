//! Timeline and check over a generated capture of 100 000 exchanges: 50 files, two
//! coauthoring clients each, joins, refreshes, Cell downloads and uploads, exits. The
//! capture is written in the capture format to a temporary file, then read back and folded
//! twice: once as `synctap timeline` does (full history) and once as `synctap check` does
//! (no history). Prints the time of each pass and the resident set size as it goes, to
//! show that memory stays flat. Target: both passes under 5 s.
//!
//! Run: `cargo bench --bench timeline` (a plain binary, not criterion: one pass over 100 000
//! exchanges is the measurement). `TIMELINE_BENCH_EXCHANGES` overrides the count.
// A bench binary prints its figures.
#![allow(clippy::print_stdout)]

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::time::Instant;

use synctap::capture::format::CaptureHeader;
use synctap::capture::{CaptureReader, Record};
use synctap::decode::exchange::decode_recorded;
use synctap::decode::fsshttp::{
    CellPayload, CoauthRequestType, CoauthStatus, EncodeOptions, LockType, PayloadOrigin,
    SubRequest, SubResponse, SubResponseData,
};
use synctap::decode::fsshttpb::{
    self, build_put_changes_request, build_query_changes_response, FilePackageOptions,
};
use synctap::model::{Exchange, ExchangeKind, ProxyMode, Request, Response, Timings};
use synctap::timeline::{format_rfc3339, Timeline, TimelineOptions};

#[path = "../tests/util/scenario.rs"]
mod scenario;
use scenario::{
    cell_storage_post, cell_subrequest, coauth, put_changes_response, query_changes_request,
    request_envelope, response_envelope, success,
};

const FILES: u64 = 50;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::var("TIMELINE_BENCH_EXCHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("synctap-timeline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench.jsonl");
    let t0 = Instant::now();
    generate(&path, n)?;
    let size = std::fs::metadata(&path)?.len();
    println!(
        "generated {n} exchanges ({:.1} MiB) in {:.2?}; RSS {} KiB",
        size as f64 / 1048576.0,
        t0.elapsed(),
        rss_kib("VmRSS")
    );
    for (name, history) in [("check", 0usize), ("timeline", 100_000)] {
        let opts = TimelineOptions {
            history_per_lane: history,
            ..TimelineOptions::default()
        };
        let start = Instant::now();
        let mut t = Timeline::new(opts);
        let mut reader = CaptureReader::open(&path)?;
        let mut seen = 0u64;
        while let Some(x) = reader.next_exchange()? {
            t.push(&x, &decode_recorded(&x));
            seen += 1;
            if seen % (n / 4).max(1) == 0 {
                println!("  {name}: {seen} exchanges, RSS {} KiB", rss_kib("VmRSS"));
            }
        }
        let report = t.report();
        let spans: usize = report
            .files
            .iter()
            .flat_map(|f| f.lanes.iter())
            .map(|l| l.spans.len())
            .sum();
        let elapsed = start.elapsed();
        let mut rules: std::collections::BTreeMap<String, usize> = Default::default();
        for f in &report.findings {
            *rules.entry(f.rule.to_string()).or_default() += 1;
        }
        if let Some(f) = report.findings.first() {
            println!("  first finding: {} {}", f.rule, f.sentence);
        }
        println!("  findings by rule: {rules:?}");
        println!(
            "{name}: {seen} exchanges in {elapsed:.2?} ({:.0} exchanges/s), {} files, {spans} spans kept, {} findings; peak RSS {} KiB",
            seen as f64 / elapsed.as_secs_f64(),
            report.files.len(),
            report.findings.len(),
            rss_kib("VmHWM")
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A /proc/self/status field in KiB (0 where unavailable).
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn generate(path: &Path, n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = BufWriter::new(File::create(path)?);
    serde_json::to_writer(&mut out, &Record::Header(CaptureHeader::now()))?;
    out.write_all(b"\n")?;
    // One template exchange per (file, step), cloned with a new id and time.
    let templates: Vec<Vec<(u64, Request, Response)>> = (0..FILES).map(file_templates).collect();
    let base = 1_767_258_000_000i64; // 2026-01-01T09:00:00Z
    for i in 0..n {
        let file = (i % FILES) as usize;
        let round = i / FILES;
        let steps = &templates[file];
        let (conn, req, resp) = &steps[(round % steps.len() as u64) as usize];
        let x = Exchange {
            id: i + 1,
            kind: ExchangeKind::Http,
            connection_id: *conn,
            client_addr: format!("10.0.0.{}:5{conn:04}", conn % 250),
            mode: ProxyMode::Reverse,
            tls: None,
            server: "contoso.example:443".to_owned(),
            http_version: "HTTP/1.1".to_owned(),
            request: Some(req.clone()),
            response: Some(resp.clone()),
            tunnel: None,
            timings: Timings {
                start: format_rfc3339(base + i as i64 * 100),
                done_ms: Some(12.0),
                ..Timings::default()
            },
            error: None,
            imported: None,
        };
        serde_json::to_writer(&mut out, &Record::Exchange(Box::new(x)))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn file_templates(f: u64) -> Vec<(u64, Request, Response)> {
    use CoauthRequestType::*;
    let url = format!("https://contoso.example/sites/team/Shared Documents/File{f:03}.docx");
    let (c1, c2) = (f * 2 + 1, f * 2 + 2);
    let status = |s: &str, lock: bool| {
        success(SubResponseData {
            lock_type: lock.then_some(LockType::SchemaLock),
            coauth_status: (!s.is_empty()).then(|| CoauthStatus::from(s)),
            transition_id: lock.then(|| "5c6e1f00-0000-4000-8000-000000000001".to_owned()),
            ..SubResponseData::default()
        })
    };
    let opts = FilePackageOptions::default();
    let put = fsshttpb::encode_request(&build_put_changes_request(b"hello, world", &opts));
    let query = fsshttpb::encode_request(&query_changes_request());
    let put_ok = fsshttpb::encode_response(&put_changes_response());
    let query_ok = fsshttpb::encode_response(&build_query_changes_response(b"hello", &opts, 1));
    let cell = |payload: &[u8]| cell_subrequest(bytes::Bytes::copy_from_slice(payload), None);
    let cell_ok = |payload: &[u8]| {
        success(SubResponseData {
            payload: Some(CellPayload {
                bytes: bytes::Bytes::copy_from_slice(payload),
                origin: PayloadOrigin::Inline,
            }),
            ..SubResponseData::default()
        })
    };
    // A Coauth step: connection, request type, client, the CoauthStatus answered. Joins
    // and refreshes ask for an hour and hold the lock.
    let co = |conn, t: CoauthRequestType, client: &str, s: &str| {
        let lock = matches!(t, JoinCoauthoring | RefreshCoauthoring);
        (
            conn,
            coauth(t, client, lock.then_some(3600)),
            status(s, lock),
        )
    };
    let steps: Vec<(u64, SubRequest, SubResponse)> = vec![
        co(c1, JoinCoauthoring, "client-1", "Alone"),
        co(c2, JoinCoauthoring, "client-2", "Coauthoring"),
        (c1, cell(&query), cell_ok(&query_ok)),
        (c1, cell(&put), cell_ok(&put_ok)),
        co(c2, RefreshCoauthoring, "client-2", "Coauthoring"),
        co(c1, RefreshCoauthoring, "client-1", "Coauthoring"),
        (c2, cell(&put), cell_ok(&put_ok)),
        co(c2, ExitCoauthoring, "client-2", ""),
        co(c1, GetCoauthoringStatus, "client-1", "Alone"),
        co(c1, ExitCoauthoring, "client-1", ""),
    ];
    steps
        .into_iter()
        .map(|(conn, mut q, mut r)| {
            q.sub_request_token = Some(1);
            r.sub_request_token = Some(1);
            let req = request_envelope(
                &url,
                "{c0ffee00-0000-4000-8000-000000000001}".to_owned(),
                vec![q],
            );
            let resp = response_envelope(&url, vec![r]);
            let plain = EncodeOptions {
                mtom: false,
                cell_inline: true,
            };
            let (req, resp) = cell_storage_post(&req, &resp, plain);
            (conn, req, resp)
        })
        .collect()
}
