//! `synctap export CAPTURE --parquet DIR`: the capture as seven Parquet tables (exchanges,
//! subrequests, fsshttpb, webdav, spfilesync, spans, findings) for DuckDB, Spark and any
//! Parquet reader. docs/parquet.md lists the columns.
//!
//! The capture streams through once: each exchange is read, filtered, redacted and decoded
//! once, its rows appended to the tables' builders (written out every few thousand rows,
//! a row group every 65,536), and folded into a [`Timeline`] whose closed spans and
//! findings are written out as they become known. Memory holds one exchange, the tables'
//! current row groups and the timeline's live state, whatever the capture's size.

mod columns;
mod tables;

use std::path::Path;

use anyhow::Context as _;

use columns::{Fit, Table};
use tables::Context;

use crate::capture::redact::{redact_exchange, RedactOptions, RedactReport};
use crate::decode::exchange::{decode_recorded, ProtocolModel};
use crate::filter::Filter;
use crate::timeline::{Timeline, TimelineOptions};

/// How many exchanges pass between two hand-outs of the timeline's spans and findings.
const DRAIN_EVERY: u64 = 4_096;

/// What `export --parquet` does besides writing: the filter and redaction of `--har`.
pub(super) struct ParquetOptions<'a> {
    pub(super) filter: Option<&'a Filter>,
    pub(super) redact: Option<RedactOptions>,
}

/// The seven tables being written.
struct Tables {
    exchanges: Table,
    subrequests: Table,
    fsshttpb: Table,
    webdav: Table,
    spfilesync: Table,
    spans: Table,
    findings: Table,
}

impl Tables {
    fn create(dir: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            exchanges: Table::create(dir, "exchanges", tables::EXCHANGES)?,
            subrequests: Table::create(dir, "subrequests", tables::SUBREQUESTS)?,
            fsshttpb: Table::create(dir, "fsshttpb", tables::FSSHTTPB)?,
            webdav: Table::create(dir, "webdav", tables::WEBDAV)?,
            spfilesync: Table::create(dir, "spfilesync", tables::SPFILESYNC)?,
            spans: Table::create(dir, "spans", tables::SPANS)?,
            findings: Table::create(dir, "findings", tables::FINDINGS)?,
        })
    }

    /// Writes the timeline's spans and findings made since the last call.
    fn drain(&mut self, t: &mut Timeline, finish: bool, fit: &mut Fit) -> anyhow::Result<()> {
        let mut result = Ok(());
        let spans = &mut self.spans;
        let findings = t.drain(finish, |s| {
            if result.is_ok() {
                result = spans.row(&tables::span_row(&s, fit));
            }
        });
        result?;
        for f in &findings {
            self.findings.row(&tables::finding_row(f, fit))?;
        }
        Ok(())
    }
}

/// Exports `capture` into `dir` (created if missing); prints the row counts, the values
/// written as nulls and the reader's warnings (bad lines with their numbers) on stderr.
pub(super) fn export(capture: &Path, dir: &Path, opts: &ParquetOptions<'_>) -> anyhow::Result<i32> {
    let mut reader = super::open_capture(capture)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut out = Tables::create(dir)?;
    let mut fit = Fit::default();
    let mut redacted = RedactReport::default();
    let mut timeline = Timeline::new(TimelineOptions::default());
    let mut seen = 0u64;
    while let Some(mut x) = reader.next_exchange()? {
        let mut d = decode_recorded(&x);
        if opts.filter.is_some_and(|f| !f.matches(&x, &d)) {
            continue;
        }
        if let Some(r) = opts.redact {
            redact_exchange(&mut x, r, &mut redacted);
            // Redaction changed the bytes: the rows describe what is exported.
            d = decode_recorded(&x);
        }
        let c = Context::new(&x, &d, &mut fit);
        out.exchanges.row(&tables::exchange_row(&c, &mut fit))?;
        match &d.model {
            ProtocolModel::Fsshttp(f) => {
                for row in tables::subrequest_rows(&c, f, &mut fit) {
                    out.subrequests.row(&row)?;
                }
                for row in tables::fsshttpb_rows(&c, f, &mut fit) {
                    out.fsshttpb.row(&row)?;
                }
            }
            ProtocolModel::WebDav(w) => out.webdav.row(&tables::webdav_row(&c, w))?,
            ProtocolModel::SpFileSync(s) => out.spfilesync.row(&tables::spfilesync_row(&c, s))?,
            ProtocolModel::Http => {}
        }
        timeline.push(&x, &d);
        seen += 1;
        if seen % DRAIN_EVERY == 0 {
            out.drain(&mut timeline, false, &mut fit)?;
        }
    }
    out.drain(&mut timeline, true, &mut fit)?;
    super::print_capture_warnings(capture, &reader);
    if opts.redact.is_some() {
        eprintln!("redacted: {}", redacted.summary());
    }
    let counts = [
        ("exchanges", out.exchanges.finish()?),
        ("subrequests", out.subrequests.finish()?),
        ("fsshttpb", out.fsshttpb.finish()?),
        ("webdav", out.webdav.finish()?),
        ("spfilesync", out.spfilesync.finish()?),
        ("spans", out.spans.finish()?),
        ("findings", out.findings.finish()?),
    ];
    let rows: Vec<String> = counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
    eprintln!("wrote {} ({})", dir.display(), rows.join(", "));
    let nulls = fit.lines();
    if nulls.is_empty() {
        eprintln!("values written as null: none");
    } else {
        eprintln!("values written as null: {}", nulls.join("; "));
    }
    Ok(0)
}
