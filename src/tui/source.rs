//! Where the UI's exchanges come from: a capture file followed like `tail -f`, or the
//! proxy's broadcast channel. Each source runs on its own thread, decodes every exchange
//! once into a compact [`Row`], folds it into a [`Timeline`], and sends batches to the UI
//! over a channel. Full exchanges are not kept: the UI loads one on demand from the file
//! offset in its row (or from a bounded in-memory ring in live mode).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::capture::CaptureReader;
use crate::decode::exchange::{decode_recorded, DecodedExchange, Protocol};
use crate::decode::fsshttp::ErrorCode;
use crate::decode::text::truncate_bytes;
use crate::filter::{body_matches, Facts, Filter};
use crate::model::{Exchange, ExchangeKind};
use crate::timeline::{parse_rfc3339, Timeline, TimelineOptions, TimelineReport};

/// How many rows a source sends in one message at most.
const BATCH: usize = 256;
/// How often a source sends a fresh timeline snapshot while exchanges keep coming.
const REPORT_EVERY: Duration = Duration::from_millis(500);
/// Longest summary kept in a row, in bytes.
const SUMMARY_MAX: usize = 160;
/// How many full exchanges live mode keeps for the detail pane.
pub(crate) const LIVE_RING: usize = 2_000;

/// Where the full exchange behind a row can be found again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loc {
    /// In the capture file: `start` is the first line to read (its first body chunk, or
    /// the exchange line itself).
    File {
        /// Byte offset to start reading from.
        start: u64,
    },
    /// In the live ring (evicted once older than [`LIVE_RING`] exchanges).
    Memory,
}

/// One exchange reduced to what the table shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// Exchange id.
    pub id: u64,
    /// `HH:MM:SS.mmm` of the start.
    pub time: String,
    /// Start in ms since the epoch, when parseable.
    pub time_ms: Option<i64>,
    /// ClientID (first 8 characters) when known, else `c<connection>`.
    pub client: String,
    /// HTTP method or `TUNNEL`.
    pub method: String,
    /// Host and path.
    pub target: String,
    /// Protocol name.
    pub protocol: &'static str,
    /// Decoded summary.
    pub summary: String,
    /// HTTP status, first non-success ErrorCode, or the transport error.
    pub status: String,
    /// The row is an error (transport error, HTTP >= 400, failing ErrorCode).
    pub error: bool,
    /// Decoder diagnostics.
    pub diagnostics: usize,
    /// A proxy rule changed the exchange.
    pub modified: bool,
    /// Request + response body length.
    pub size: u64,
    /// Total duration in ms.
    pub duration_ms: Option<f64>,
    /// Where to load the exchange from.
    pub loc: Loc,
}

/// What a source sends to the UI.
#[derive(Debug)]
pub(crate) enum SourceMsg {
    /// New rows (already filtered), in capture order.
    Rows(Vec<Row>),
    /// Forget all rows: a rescan under a new filter follows.
    Reset,
    /// The timeline and findings so far.
    Report(Box<TimelineReport>),
    /// Something worth showing in the status line (bad lines, follow errors).
    Status(String),
    /// The source read everything there is for now (caught up).
    CaughtUp,
}

/// What the UI sends to a source.
#[derive(Debug)]
pub(crate) enum SourceCmd {
    /// Re-emit rows under this filter (None: all).
    SetFilter(Option<Filter>),
}

/// Builds the row of an exchange.
pub(crate) fn make_row(x: &Exchange, d: &DecodedExchange, loc: Loc) -> Row {
    let time = x
        .timings
        .start
        .get(11..23)
        .unwrap_or(x.timings.start.as_str())
        .to_owned();
    // Without a ClientID, an imported exchange's client process (e.g. `winword` from
    // Fiddler's x-processinfo) names the client better than the connection.
    let process = x.imported.as_ref().and_then(|i| i.process.as_deref());
    let client = d.client_id().map_or_else(
        || match process {
            Some(p) => p.split(':').next().unwrap_or(p).to_owned(),
            None => format!("c{}", x.connection_id),
        },
        |id| id.trim_matches(['{', '}']).chars().take(8).collect(),
    );
    let (method, target, req_len) = match (&x.request, x.kind) {
        (_, ExchangeKind::Tunnel) | (None, _) => ("TUNNEL".to_owned(), x.server.clone(), 0),
        (Some(r), _) => (r.method.clone(), host_path(&r.url), r.body.len),
    };
    let resp_len = x.response.as_ref().map_or(0, |r| r.body.len);
    let tunnel = x.tunnel.map_or(0, |t| t.bytes_up + t.bytes_down);
    // The first ErrorCode other than Success, else a SOAP fault's.
    let code = d.fsshttp_response().and_then(|r| {
        r.error_codes()
            .find(|c| !c.is_success())
            .map(ToString::to_string)
            .or_else(|| {
                r.fault
                    .as_ref()
                    .and_then(|f| f.error_code.clone())
                    .filter(|c| !ErrorCode::from(c.as_str()).is_success())
            })
    });
    let (status, error) = match (&x.error, &x.response, code) {
        (Some(e), _, _) => (e.clone(), true),
        (None, Some(r), Some(c)) => (format!("{} {c}", r.status), true),
        (None, Some(r), None) => (r.status.to_string(), r.status >= 400),
        (None, None, _) if x.kind == ExchangeKind::Tunnel => ("tunnel".to_owned(), false),
        (None, None, _) => ("---".to_owned(), true),
    };
    let mut summary = if d.protocol() == Protocol::Http {
        String::new()
    } else {
        d.summary.join(" | ")
    };
    // Rows are kept for every exchange: cap what one row holds.
    truncate_bytes(&mut summary, SUMMARY_MAX);
    Row {
        id: x.id,
        time,
        time_ms: parse_rfc3339(&x.timings.start),
        client,
        method,
        target,
        protocol: d.protocol().name(),
        summary,
        status,
        error,
        diagnostics: d.diagnostics.len(),
        modified: x.modified.is_some(),
        size: req_len + resp_len + tunnel,
        duration_ms: x.timings.done_ms,
        loc,
    }
}

/// `host/path` of a URL, without scheme and query.
fn host_path(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['?', '#']).next().unwrap_or(rest).to_owned()
}

/// Reads one exchange back from a capture at `start` (its row's [`Loc::File`]).
///
/// # Errors
/// When the file cannot be read or holds no exchange `id` from there.
pub(crate) fn load_exchange(path: &Path, start: u64, id: u64) -> anyhow::Result<Exchange> {
    CaptureReader::open(path)?
        .read_at(start, id)?
        .ok_or_else(|| anyhow::anyhow!("exchange {id} not found in the capture"))
}

/// What a row or the detail pane shows for an exchange whose decoding panicked.
pub(crate) const DECODE_FAILED: &str = "decode failed";

/// Stack of the source threads. The decoders bound their recursion (see "Resource
/// limits" in ARCHITECTURE.md); this is headroom on top, far above what they need.
const SOURCE_STACK: usize = 64 << 20;

/// Decodes `x`, or `None` when a decoder panicked. Decoders must never panic; if one
/// does, the UI (and the proxy running it) loses that exchange's decoding, nothing more.
pub(crate) fn decode_guarded(x: &Exchange) -> Option<DecodedExchange> {
    guarded(decode_recorded, x)
}

/// `decode(x)`, or `None` when it panicked.
fn guarded(decode: Decoder, x: &Exchange) -> Option<DecodedExchange> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decode(x))).ok()
}

/// The decoder a source uses (tests substitute one that panics).
type Decoder = fn(&Exchange) -> DecodedExchange;

/// One exchange as a source keeps it after decoding it once: its row, what a filter looks
/// at, and (in live mode) the exchange itself for `~b`. A filter change is evaluated over
/// these, without reading or decoding the capture again.
struct Kept {
    row: Row,
    /// `None` when decoding failed: the row is shown under every filter.
    facts: Option<Facts>,
    /// The full exchange (live mode only); a capture's is read back from `row.loc`.
    exchange: Option<Arc<Exchange>>,
}

/// Shared state of one source thread: the timeline, the filter, the kept rows and the
/// outbox.
struct Fold {
    tx: Sender<SourceMsg>,
    decode: Decoder,
    timeline: Timeline,
    filter: Option<Filter>,
    batch: Vec<Row>,
    dirty: bool,
    last_report: Instant,
    kept: VecDeque<Kept>,
    /// Most exchanges kept (live mode keeps as many as its ring).
    keep_max: usize,
}

impl Fold {
    fn new(tx: Sender<SourceMsg>, keep_max: usize) -> Self {
        Self {
            tx,
            decode: decode_recorded,
            timeline: Timeline::new(TimelineOptions::default()),
            filter: None,
            batch: Vec::new(),
            dirty: false,
            last_report: Instant::now(),
            kept: VecDeque::new(),
            keep_max,
        }
    }

    /// Decodes once, folds into the timeline when `fold`, keeps the row and queues it if
    /// it matches. A decoder panic loses only this exchange's decoding: its row says so.
    /// `shared` is the exchange when live mode holds it in memory.
    fn push(&mut self, x: &Exchange, shared: Option<Arc<Exchange>>, loc: Loc, fold: bool) -> bool {
        let kept = match guarded(self.decode, x) {
            None => {
                let mut row = make_row(x, &DecodedExchange::plain_http(), loc);
                row.summary = DECODE_FAILED.to_owned();
                row.error = true;
                Kept {
                    row,
                    facts: None,
                    exchange: shared,
                }
            }
            Some(d) => {
                if fold {
                    let t = parse_rfc3339(&x.timings.start).unwrap_or(0);
                    let url = x.request.as_ref().map_or("", |r| r.url.as_str());
                    self.timeline
                        .push_decoded(x.id, t, Some(x.connection_id), &d, url);
                    self.dirty = true;
                }
                Kept {
                    row: make_row(x, &d, loc),
                    facts: Some(Facts::of(x, &d)),
                    exchange: shared,
                }
            }
        };
        let matches = self.matches(&kept, &mut |re| body_matches(re, x));
        if matches {
            self.batch.push(kept.row.clone());
        }
        self.kept.push_back(kept);
        while self.kept.len() > self.keep_max {
            self.kept.pop_front();
        }
        self.batch.len() < BATCH || self.flush(false)
    }

    /// Whether a kept exchange passes the filter; `body` answers `~b` terms.
    fn matches(&self, k: &Kept, body: &mut dyn FnMut(&regex::bytes::Regex) -> bool) -> bool {
        match (&self.filter, &k.facts) {
            (None, _) | (_, None) => true,
            (Some(f), Some(facts)) => f.matches_facts(facts, body),
        }
    }

    /// Applies a new filter to the kept rows: the UI forgets its rows and gets the
    /// matching ones again. Bodies are read only for a `~b` filter: from memory in live
    /// mode, else from the capture at `capture`. False when the UI is gone.
    fn refilter(&mut self, filter: Option<Filter>, capture: Option<&Path>) -> bool {
        self.filter = filter;
        self.batch.clear();
        if self.tx.send(SourceMsg::Reset).is_err() {
            return false;
        }
        let mut reader = match capture {
            Some(p) if self.filter.as_ref().is_some_and(Filter::needs_bodies) => {
                CaptureReader::open(p).ok()
            }
            _ => None,
        };
        let kept = std::mem::take(&mut self.kept);
        let mut ok = true;
        for k in &kept {
            let mut body = |re: &regex::bytes::Regex| match (&k.exchange, k.row.loc, &mut reader) {
                (Some(x), _, _) => body_matches(re, x),
                (None, Loc::File { start }, Some(r)) => r
                    .read_at(start, k.row.id)
                    .ok()
                    .flatten()
                    .is_some_and(|x| body_matches(re, &x)),
                _ => false,
            };
            if self.matches(k, &mut body) {
                self.batch.push(k.row.clone());
                if self.batch.len() >= BATCH && !self.flush(false) {
                    ok = false;
                    break;
                }
            }
        }
        self.kept = kept;
        ok && self.flush(true)
    }

    /// Sends queued rows, and a report when due (or `force`). False when the UI is gone.
    fn flush(&mut self, force: bool) -> bool {
        if !self.batch.is_empty() {
            let rows = std::mem::take(&mut self.batch);
            if self.tx.send(SourceMsg::Rows(rows)).is_err() {
                return false;
            }
        }
        if self.dirty && (force || self.last_report.elapsed() >= REPORT_EVERY) {
            self.dirty = false;
            self.last_report = Instant::now();
            let report = self.timeline.report();
            if self.tx.send(SourceMsg::Report(Box::new(report))).is_err() {
                return false;
            }
        }
        true
    }
}

/// Starts following the capture at `path`; returns the command sender.
pub(crate) fn spawn_file(path: PathBuf, tx: Sender<SourceMsg>, follow: bool) -> Sender<SourceCmd> {
    let (ctx, crx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("synctap-ui-file".into())
        .stack_size(SOURCE_STACK)
        .spawn(move || {
            if let Err(e) = follow_file(&path, &tx, &crx, follow) {
                let _ = tx.send(SourceMsg::Status(format!("{}: {e:#}", path.display())));
            }
        })
        .ok();
    ctx
}

fn follow_file(
    path: &Path,
    tx: &Sender<SourceMsg>,
    crx: &Receiver<SourceCmd>,
    follow: bool,
) -> anyhow::Result<()> {
    // The capture reader in follow mode never consumes a torn last line: it answers None
    // until the writer completes it.
    let mut reader = CaptureReader::follow(path)?;
    let mut fold = Fold::new(tx.clone(), usize::MAX);
    let mut bad = 0u64;
    let mut caught_up = false;
    loop {
        match crx.try_recv() {
            Ok(SourceCmd::SetFilter(f)) => {
                if !fold.refilter(f, Some(path)) {
                    return Ok(());
                }
            }
            Err(TryRecvError::Disconnected) => return Ok(()),
            Err(TryRecvError::Empty) => {}
        }
        let Some(entry) = reader.next_entry()? else {
            if !fold.flush(true) {
                return Ok(());
            }
            if !caught_up {
                caught_up = true;
                bad = bad.max(reader.skipped_lines());
                if bad > 0 {
                    let _ = tx.send(SourceMsg::Status(format!(
                        "{bad} unreadable line{} skipped",
                        if bad == 1 { "" } else { "s" }
                    )));
                }
                if tx.send(SourceMsg::CaughtUp).is_err() {
                    return Ok(());
                }
            }
            if !follow {
                // Still answer filter changes.
                match crx.recv_timeout(Duration::from_millis(100)) {
                    Ok(SourceCmd::SetFilter(f)) => {
                        if !fold.refilter(f, Some(path)) {
                            return Ok(());
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                }
            } else {
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        };
        caught_up = false;
        if !fold.push(
            &entry.exchange,
            None,
            Loc::File { start: entry.start },
            true,
        ) {
            return Ok(());
        }
    }
}

/// The live ring: the most recent full exchanges, for the detail pane.
pub(crate) type Ring = Arc<Mutex<VecDeque<Arc<Exchange>>>>;

/// Starts consuming the proxy's broadcast channel; returns the command sender and the ring.
pub(crate) fn spawn_live(
    mut rx: tokio::sync::broadcast::Receiver<Arc<Exchange>>,
    tx: Sender<SourceMsg>,
) -> (Sender<SourceCmd>, Ring) {
    let (ctx, crx) = std::sync::mpsc::channel::<SourceCmd>();
    let ring: Ring = Arc::new(Mutex::new(VecDeque::new()));
    let ring2 = ring.clone();
    std::thread::Builder::new()
        .name("synctap-ui-live".into())
        .stack_size(SOURCE_STACK)
        .spawn(move || {
            use tokio::sync::broadcast::error::TryRecvError as B;
            let mut fold = Fold::new(tx.clone(), LIVE_RING);
            let _ = tx.send(SourceMsg::CaughtUp);
            loop {
                match crx.try_recv() {
                    Ok(SourceCmd::SetFilter(f)) => {
                        if !fold.refilter(f, None) {
                            return;
                        }
                    }
                    Err(TryRecvError::Disconnected) => return,
                    Err(TryRecvError::Empty) => {}
                }
                match rx.try_recv() {
                    Ok(x) => {
                        let shared = x.clone();
                        if let Ok(mut r) = ring2.lock() {
                            r.push_back(x.clone());
                            while r.len() > LIVE_RING {
                                r.pop_front();
                            }
                        }
                        if !fold.push(&x, Some(shared), Loc::Memory, true) {
                            return;
                        }
                    }
                    Err(B::Lagged(n)) => {
                        let _ = tx.send(SourceMsg::Status(format!(
                            "UI fell behind: {n} exchanges not shown (they are in the capture)"
                        )));
                    }
                    Err(B::Closed) => {
                        let _ = fold.flush(true);
                        let _ = tx.send(SourceMsg::Status("proxy stopped".into()));
                        return;
                    }
                    Err(B::Empty) => {
                        if !fold.flush(false) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        })
        .ok();
    (ctx, ring)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(id: u64) -> Exchange {
        let json = format!(
            r#"{{"id":{id},"kind":"tunnel","connection_id":1,"client_addr":"127.0.0.1:1","mode":"forward","server":"contoso.example:443","timings":{{"start":"2026-12-04T19:00:00.000Z"}}}}"#
        );
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"))
    }

    fn panics(x: &Exchange) -> DecodedExchange {
        assert!(x.id != 2, "a decoder bug");
        decode_recorded(x)
    }

    /// Issue 14.2: a decoder panic in the UI's source thread (which `proxy --ui` runs)
    /// loses only that exchange's row, which says "decode failed"; the rows before and
    /// after it decode as usual and the thread carries on.
    #[test]
    fn a_decoder_panic_loses_only_its_row() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut fold = Fold::new(tx, usize::MAX);
        fold.decode = panics;
        for id in 1..=3 {
            assert!(fold.push(&exchange(id), None, Loc::Memory, true));
        }
        assert!(fold.flush(true));
        drop(fold);
        let rows: Vec<Row> = rx
            .iter()
            .filter_map(|m| match m {
                SourceMsg::Rows(r) => Some(r),
                _ => None,
            })
            .flatten()
            .collect();
        let summaries: Vec<(u64, &str, bool)> = rows
            .iter()
            .map(|r| (r.id, r.summary.as_str(), r.error))
            .collect();
        assert_eq!(
            summaries,
            [(1, "", false), (2, DECODE_FAILED, true), (3, "", false)]
        );
    }
}
