//! `synctap export CAPTURE --parquet DIR`: the capture as seven Parquet tables (exchanges,
//! subrequests, fsshttpb, webdav, spfilesync, spans, findings) for DuckDB, Spark and any
//! Parquet reader. docs/parquet.md lists the columns.
//!
//! The capture streams through once: each exchange is read, filtered, redacted and decoded
//! once, its rows appended to the tables' builders (written out every few thousand rows,
//! a row group every 65,536), and folded into a [`Timeline`] whose closed spans and
//! findings are written out as they become known. One thread reads, two decode, one
//! writes; exchanges travel between them in batches, dealt out and taken back in turn so
//! that the capture's order holds. Memory holds a few hundred exchanges in flight, the
//! tables' current row groups and the timeline's live state, whatever the capture's size.

mod columns;
mod tables;

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
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
/// How many exchanges go through the stages together (one channel message, one wake-up).
const BATCH: usize = 64;
/// How many batches may wait between two stages.
const IN_FLIGHT: usize = 2;
/// How many threads decode. With the reading and the writing thread this keeps two
/// cores busy; the decoders do the most work per exchange.
const DECODERS: usize = 2;

/// Decoded exchanges on their way to the writer.
type Batch = Vec<(Exchange, DecodedExchange)>;

/// Reads the capture and deals it out in batches to `decoders` in turn; returns the
/// input (for its warnings) or the read error. Dropping the senders tells the decoders
/// that the capture is over.
fn read_batches(
    mut input: CaptureInput,
    decoders: Vec<SyncSender<Vec<Exchange>>>,
) -> anyhow::Result<CaptureInput> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut turn = 0usize;
    loop {
        let next = input.next()?;
        let end = next.is_none();
        if let Some(x) = next {
            batch.push(x);
        }
        if batch.len() == BATCH || (end && !batch.is_empty()) {
            let Some(tx) = decoders.get(turn % decoders.len()) else {
                break;
            };
            turn += 1;
            if tx
                .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .is_err()
            {
                // The writer stopped (an error it reports).
                break;
            }
        }
        if end {
            break;
        }
    }
    Ok(input)
}

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

/// Writes the rows of the batches the decoding threads bring, taking them from the
/// threads in turn (the reader dealt the capture out in that order), and folds them into
/// the timeline whose spans and findings are written as they become known.
fn write_rows(
    decoded: Vec<Receiver<Batch>>,
    out: &mut Tables,
    fit: &mut Fit,
) -> anyhow::Result<()> {
    let mut timeline = Timeline::new(TimelineOptions::default());
    let mut seen = 0u64;
    let mut senders = Senders::default();
    'batches: for turn in 0.. {
        let Some(rx) = decoded.get(turn % decoded.len()) else {
            break;
        };
        let Ok(batch) = rx.recv() else {
            // That thread is done: the reader dealt out everything (or stopped).
            break 'batches;
        };
        for (x, d) in &batch {
            let client = senders.client_id(x, d);
            out.exchange(x, d, client.as_deref(), fit)?;
            timeline.push(x, d);
            seen += 1;
            if seen % DRAIN_EVERY == 0 {
                out.drain(&mut timeline, false, fit)?;
            }
        }
        // Freed here, by the thread that writes; the allocator takes frees from other
        // threads without a lock.
        drop(batch);
    }
    out.drain(&mut timeline, true, fit)
}

/// Decodes the batches the reader deals this thread, drops those the filter rejects,
/// redacts the rest (and decodes them again: the rows describe what is exported).
fn decode_batches(
    rx: Receiver<Vec<Exchange>>,
    tx: SyncSender<Batch>,
    opts: &ParquetOptions<'_>,
) -> RedactReport {
    let mut redacted = RedactReport::default();
    for batch in rx {
        let mut out = Vec::with_capacity(batch.len());
        for mut x in batch {
            let mut d = decode_recorded(&x);
            if opts.filter.is_some_and(|f| !f.matches(&x, &d)) {
                continue;
            }
            if let Some(r) = opts.redact {
                redact_exchange(&mut x, r, &mut redacted);
                d = decode_recorded(&x);
            }
            out.push((x, d));
        }
        // An empty batch still goes: the writer takes batches in turn.
        if tx.send(out).is_err() {
            break;
        }
    }
    redacted
}

/// Exports `capture` into `dir` (created if missing); prints the row counts, the values
/// written as nulls and the reader's warnings (bad lines with their numbers) on stderr.
pub(super) fn export(capture: &Path, dir: &Path, opts: &ParquetOptions<'_>) -> anyhow::Result<i32> {
    let input = CaptureInput::open(capture, "exporting Parquet")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut out = Tables::create(dir)?;
    let mut fit = Fit::default();
    // Three stages: this thread's reader parses the capture's lines and deals them out
    // in batches, in turn, to DECODERS threads that decode, filter and redact; the
    // writing thread takes the decoded batches back in the same turn (so the capture's
    // order holds) and writes the rows and the timeline. Bounded channels keep at most a
    // few batches in flight at each stage.
    let mut to_decode = Vec::with_capacity(DECODERS);
    let mut from_decode = Vec::with_capacity(DECODERS);
    let mut decoder_ends = Vec::with_capacity(DECODERS);
    for _ in 0..DECODERS {
        let (tx, rx) = sync_channel::<Vec<Exchange>>(IN_FLIGHT);
        to_decode.push(tx);
        decoder_ends.push(rx);
        let (tx, rx) = sync_channel::<Batch>(IN_FLIGHT);
        from_decode.push((tx, rx));
    }
    let (decoded_tx, decoded_rx): (Vec<_>, Vec<_>) = from_decode.into_iter().unzip();
    let mut redacted = RedactReport::default();
    let (input, written) = std::thread::scope(|s| {
        let decoders: Vec<_> = decoder_ends
            .into_iter()
            .zip(decoded_tx)
            .map(|(rx, tx)| s.spawn(move || decode_batches(rx, tx, opts)))
            .collect();
        let writer = s.spawn(|| write_rows(decoded_rx, &mut out, &mut fit));
        let input = read_batches(input, to_decode);
        for d in decoders {
            match d.join() {
                Ok(r) => redacted.merge(r),
                Err(_) => return (input, Err(anyhow::anyhow!("a decoding thread stopped"))),
            }
        }
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the writing thread stopped")));
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
