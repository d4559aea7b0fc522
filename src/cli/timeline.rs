//! `synctap timeline CAPTURE` (lock and coauthoring spans per file and holder) and
//! `synctap check CAPTURE` (protocol findings; exit 1 when any is error-level). Both
//! stream the capture through [`crate::timeline::Timeline`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::progress::CaptureInput;
use super::schema::{CheckReport, Versioned};
use crate::decode::exchange::decode_recorded;
use crate::timeline::{render_findings, render_text, Timeline, TimelineOptions, TimelineReport};

/// Arguments of `synctap timeline`.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The capture file.
    capture: PathBuf,
    /// Only files whose URL contains this (compared case-insensitively, percent-decoded).
    #[arg(long, value_name = "URL")]
    file: Option<String>,
    /// The report as one JSON object: files, lanes, spans, events, findings.
    #[arg(long)]
    json: bool,
}

/// Arguments of `synctap check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The capture file.
    capture: PathBuf,
    /// The findings as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(super) fn run_timeline(args: &TimelineArgs) -> anyhow::Result<i32> {
    let report = fold(&args.capture, TimelineOptions::default(), "timeline")?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        let mut report = report;
        if let Some(f) = &args.file {
            let k = crate::decode::file_key::FileKey::of_url(f);
            report.files.retain(|x| x.key.contains(k.as_str()));
        }
        serde_json::to_writer_pretty(&mut out, &Versioned::new(&report))?;
        writeln!(out)?;
    } else {
        out.write_all(render_text(&report, args.file.as_deref()).as_bytes())?;
    }
    out.flush()?;
    Ok(0)
}

pub(super) fn run_check(args: &CheckArgs) -> anyhow::Result<i32> {
    // Checks need no history: only live state and findings are kept.
    let opts = TimelineOptions {
        history_per_lane: 0,
        ..TimelineOptions::default()
    };
    let report = fold(&args.capture, opts, "checking")?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &Versioned::new(CheckReport {
                exchanges: report.exchanges,
                findings: &report.findings,
                findings_dropped: report.findings_dropped,
            }),
        )?;
        writeln!(out)?;
    } else {
        out.write_all(render_findings(&report.findings).as_bytes())?;
    }
    out.flush()?;
    Ok(i32::from(report.has_errors()))
}

/// Folds the capture into a timeline, one exchange at a time: what is kept is the
/// timeline's live state per file and lane, its bounded history and the findings.
fn fold(path: &Path, opts: TimelineOptions, what: &str) -> anyhow::Result<TimelineReport> {
    let mut input = CaptureInput::open(path, what)?;
    let mut t = Timeline::new(opts);
    while let Some(x) = input.next()? {
        t.push(&x, &decode_recorded(&x));
    }
    input.finish();
    Ok(t.report())
}
