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

use std::time::Instant;

use synctap::capture::CaptureReader;
use synctap::decode::exchange::decode_recorded;
use synctap::timeline::{Timeline, TimelineOptions};

#[path = "gen/capture.rs"]
mod gen;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::var("TIMELINE_BENCH_EXCHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("synctap-timeline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench.jsonl");
    let t0 = Instant::now();
    gen::generate(&path, n, gen::Mix::Fsshttp)?;
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
