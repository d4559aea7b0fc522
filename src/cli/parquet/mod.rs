//! `synctap export CAPTURE --parquet DIR`: the capture as seven Parquet tables (exchanges,
//! subrequests, fsshttpb, webdav, spfilesync, spans, findings) for DuckDB, Spark and any
//! Parquet reader. docs/parquet.md lists the columns.
//!
//! The capture streams through once: each exchange is read, filtered, redacted and decoded
//! once, its rows appended to the tables' builders (written out every few thousand rows,
//! a row group every 65,536), and folded into a [`Timeline`] whose closed spans and
//! findings are written out as they become known. One thread reads and decodes, another
//! writes (a bounded channel between them keeps the order). Memory holds a few dozen
//! exchanges in flight, the tables' current row groups and the timeline's live state,
//! whatever the capture's size.

mod columns;
mod tables;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use super::progress::CaptureInput;
use columns::{Fit, Table};
use tables::Context;

use crate::capture::redact::{redact_exchange, RedactOptions, RedactReport};
use crate::decode::exchange::{decode_recorded, DecodedExchange, ProtocolModel};
use crate::filter::Filter;
use crate::model::Exchange;
use crate::timeline::{Timeline, TimelineOptions};

/// How many exchanges pass between two hand-outs of the timeline's spans and findings.
const DRAIN_EVERY: u64 = 4_096;
/// How many decoded exchanges the reading thread may be ahead of the writing one.
const READ_AHEAD: usize = 64;

/// How many connection → ClientID associations [`Senders`] remembers (as the timeline).
const MAX_CONNECTIONS: usize = 65_536;

/// Who sent each exchange, as the timeline attributes it: the ClientID the exchange
/// names, else the last one named on the same connection (a Cell download, a WebDAV or
/// SPFileSync request of the same client).
#[derive(Default)]
struct Senders(HashMap<u64, Arc<str>>);

impl Senders {
    fn client_id(&mut self, x: &Exchange, d: &DecodedExchange) -> Option<Arc<str>> {
        let conn = x.connection_id;
        match d.client_id() {
            Some(c) => {
                let c: Arc<str> = match self.0.get(&conn) {
                    Some(known) if **known == *c => Arc::clone(known),
                    _ => Arc::from(c),
                };
                if self.0.len() >= MAX_CONNECTIONS && !self.0.contains_key(&conn) {
                    self.0.clear();
                }
                self.0.insert(conn, Arc::clone(&c));
                Some(c)
            }
            None => self.0.get(&conn).cloned(),
        }
    }
}

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

    /// Writes the rows of one exchange sent by `client_id`.
    fn exchange(
        &mut self,
        x: &Exchange,
        d: &DecodedExchange,
        client_id: Option<&str>,
        fit: &mut Fit,
    ) -> anyhow::Result<()> {
        let c = Context::new(x, d, fit);
        self.exchanges
            .row(&tables::exchange_row(&c, client_id, fit))?;
        match &d.model {
            ProtocolModel::Fsshttp(f) => {
                for row in tables::subrequest_rows(&c, f, fit) {
                    self.subrequests.row(&row)?;
                }
                for row in tables::fsshttpb_rows(&c, f, fit) {
                    self.fsshttpb.row(&row)?;
                }
            }
            ProtocolModel::WebDav(w) => self.webdav.row(&tables::webdav_row(&c, w))?,
            ProtocolModel::SpFileSync(s) => self.spfilesync.row(&tables::spfilesync_row(&c, s))?,
            ProtocolModel::Http => {}
        }
        Ok(())
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

/// Writes the rows of the exchanges `rx` brings, in order, and folds them into the
/// timeline whose spans and findings are written as they become known.
fn write_rows(
    rx: std::sync::mpsc::Receiver<(Exchange, DecodedExchange)>,
    opts: &ParquetOptions<'_>,
    out: &mut Tables,
    fit: &mut Fit,
    redacted: &mut RedactReport,
) -> anyhow::Result<()> {
    let mut timeline = Timeline::new(TimelineOptions::default());
    let mut seen = 0u64;
    let mut senders = Senders::default();
    for (mut x, mut d) in rx {
        if opts.filter.is_some_and(|f| !f.matches(&x, &d)) {
            continue;
        }
        if let Some(r) = opts.redact {
            redact_exchange(&mut x, r, redacted);
            // Redaction changed the bytes: the rows describe what is exported.
            d = decode_recorded(&x);
        }
        let client = senders.client_id(&x, &d);
        out.exchange(&x, &d, client.as_deref(), fit)?;
        timeline.push(&x, &d);
        seen += 1;
        if seen % DRAIN_EVERY == 0 {
            out.drain(&mut timeline, false, fit)?;
        }
    }
    out.drain(&mut timeline, true, fit)
}

/// Exports `capture` into `dir` (created if missing); prints the row counts, the values
/// written as nulls and the reader's warnings (bad lines with their numbers) on stderr.
pub(super) fn export(capture: &Path, dir: &Path, opts: &ParquetOptions<'_>) -> anyhow::Result<i32> {
    let input = CaptureInput::open(capture, "exporting Parquet")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut out = Tables::create(dir)?;
    let mut fit = Fit::default();
    let mut redacted = RedactReport::default();
    // Two cores: one thread reads and decodes, this one filters, redacts and writes the
    // rows and the timeline; the bounded channel keeps the capture's order and at most
    // READ_AHEAD exchanges in flight.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Exchange, DecodedExchange)>(READ_AHEAD);
    let (input, written) = std::thread::scope(|s| {
        let reader = s.spawn(move || -> anyhow::Result<CaptureInput> {
            let mut input = input;
            while let Some(x) = input.next()? {
                let d = decode_recorded(&x);
                if tx.send((x, d)).is_err() {
                    // The writer stopped (an error it reports).
                    break;
                }
            }
            Ok(input)
        });
        let written = write_rows(rx, opts, &mut out, &mut fit, &mut redacted);
        let input = reader
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the capture reader stopped")));
        (input, written)
    });
    // A read error explains a write that stopped short; it goes first.
    let input = input?;
    written?;
    // The bar goes, then the reader's warnings (bad lines with their numbers).
    input.finish();
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
