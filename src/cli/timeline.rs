//! `synctap timeline CAPTURE` (lock and coauthoring spans per file and holder) and
//! `synctap check CAPTURE` (protocol findings; exit 1 when any is error-level). Both
//! stream the capture through [`crate::timeline::Timeline`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::progress::CaptureInput;
use super::schema::{CheckReport, Versioned};
use crate::decode::exchange::decode_recorded;
use crate::timeline::{
    render_findings, render_text_parts, ReportView, Severity, Timeline, TimelineOptions,
};

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
    let t = fold(&args.capture, TimelineOptions::default(), "timeline")?;
    // Written file by file from the timeline's compact history: the report is never
    // held whole.
    let view = ReportView::new(&t, args.file.as_deref());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &Versioned::new(&view))?;
        writeln!(out)?;
    } else {
        let mut result = Ok(());
        render_text_parts(
            t.files(),
            t.findings(),
            t.findings_dropped(),
            args.file.as_deref(),
            |part| {
                if result.is_ok() {
                    result = out.write_all(part.as_bytes());
                }
            },
        );
        result?;
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
    let t = fold(&args.capture, opts, "checking")?;
    let findings = t.findings();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &Versioned::new(CheckReport {
                exchanges: t.exchanges(),
                findings,
                findings_dropped: t.findings_dropped(),
            }),
        )?;
        writeln!(out)?;
    } else {
        out.write_all(render_findings(findings).as_bytes())?;
    }
    out.flush()?;
    Ok(i32::from(
        findings.iter().any(|f| f.severity == Severity::Error),
    ))
}

/// Folds the capture into a timeline, one exchange at a time, and settles it: what is
/// kept is the timeline's live state per file and lane, its bounded history and the
/// findings.
fn fold(path: &Path, opts: TimelineOptions, what: &str) -> anyhow::Result<Timeline> {
    let mut input = CaptureInput::open(path, what)?;
    let mut t = Timeline::new(opts);
    while let Some(x) = input.next()? {
        t.push(&x, &decode_recorded(&x));
    }
    input.finish();
    t.settle();
    Ok(t)
}
