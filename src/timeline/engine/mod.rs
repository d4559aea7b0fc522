//! The state machine: per-file lanes, lock spans, expiry, conversions, CoauthStatus, the
//! coherency failure story, and the checks that compare each answer with the state.
//!
//! Facts about locking come from MS-FSSHTTP 3.1.4.1–3.1.4.5 and 3.1.4.13
//! (MS-FSSHTTP 2.3.1, 3.1.4) and RFC 4918 6, 9.10, 9.11.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};

use super::cross::CrossExchange;
use super::extract::{extract, CellOp, DavLockOp, Obs, Op, OpKind, OpResult};
use super::{
    Event, EventKind, FileTimeline, Finding, Lane, LaneKind, LaneRef, Refresh, Severity, Span,
    SpanEnd, SpanRow, StatusChange, TimelineOptions, TimelineReport, NOT_RUN_RESULT,
};
use crate::decode::exchange::DecodedExchange;
use crate::decode::file_key::FileKey;
use crate::decode::findings::Rule;
use crate::decode::fsshttp::{
    CoauthRequestType, EditorsTableRequestType, ErrorCode, ExclusiveLockRequestType, LockType,
    SchemaLockRequestType,
};
use crate::model::Exchange;
use crate::util::{clock, parse_rfc3339};
use compact::{EventState, Names, RefreshState, SpanState, StatusState};

mod checks;
mod compact;
mod fsshttp;
mod lanes;
mod webdav;

const SPEC_SCHEMA: &str = "MS-FSSHTTP 2.2.8.1 (SchemaLockID), 3.1.4.3.1, 3.1.4.4.1";
const SPEC_EXCLUSIVE: &str = "MS-FSSHTTP 3.1.4.1, 3.1.4.3.1, 3.1.4.5.1";
const SPEC_STATUS: &str = "MS-FSSHTTP 2.2.5.1 (CoauthStatusType), 3.1.4.3.1, 3.1.4.3.7, 3.1.4.13";
const SPEC_TIMEOUT: &str = "MS-FSSHTTP 2.3.1.5, 2.3.1.9, 2.3.1.13, 2.3.1.23 (Timeout ranges)";
const SPEC_EXPIRY: &str =
    "MS-FSSHTTP 3.1.4.1 (clients MUST refresh before the timeout), 3.1.4.3.3, 3.1.4.4.3, 3.1.4.5.3";
const SPEC_RELEASE: &str = "MS-FSSHTTP 3.1.4.3.2, 3.1.4.4.2, 3.1.4.5.2 (release without a lock)";
const SPEC_REFUSAL: &str =
    "MS-FSSHTTP 2.2.5.8 (FileAlreadyLockedOnServer: existing exclusive lock or other SchemaLockID)";
const SPEC_COHERENCY: &str = "MS-FSSHTTPB 2.2.3.2.1 (Cell Error 12, coherency failure), 2.2.2.1.4";
const SPEC_DAV_LOCK: &str = "RFC 4918 6.1 (lock compatibility), 9.10 (LOCK)";

/// How many refreshes a span lists (all are counted).
const MAX_REFRESH_LOG: usize = 32;

/// Caps a finding of a rule that rests on observed client behaviour rather than on a
/// Microsoft specification ([`Rule::is_unspecified`]) at warning, and names what in the
/// capture explains it as well as a misbehaving client would: the proxy started
/// mid-session, or exchanges between the ones involved are missing from the capture.
fn cap_unspecified(f: &mut Finding) {
    if !f.rule.is_unspecified() {
        return;
    }
    // Severity orders Error < Warning < Info: the larger is the milder.
    f.severity = f.severity.max(Severity::Warning);
    let between = match f.exchanges.as_slice() {
        [a, .., b] => format!(" between #{a} and #{b}"),
        _ => String::new(),
    };
    f.sentence = format!(
        "{}; no Microsoft specification defines this rule, and the capture may explain it instead: exchanges{between} may be missing (sent over a connection that bypassed the proxy, or not recorded), or the proxy started in the middle of the client's session",
        f.sentence
    );
}
/// How many connection → ClientID associations are remembered.
const MAX_CONNECTIONS: usize = 65_536;

/// The timeline engine: push exchanges in (roughly) capture order, ask for a report.
pub struct Timeline {
    opts: TimelineOptions,
    pending: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    exchanges: u64,
    now: i64,
    files: Vec<FileState>,
    index: HashMap<FileKey, usize>,
    sink: Sink,
    cross: CrossExchange,
    conn_client: HashMap<u64, String>,
    names: Names,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new(TimelineOptions::default())
    }
}

impl Timeline {
    /// An empty timeline.
    pub fn new(opts: TimelineOptions) -> Self {
        Self {
            opts,
            pending: BinaryHeap::new(),
            seq: 0,
            exchanges: 0,
            now: i64::MIN,
            files: Vec::new(),
            index: HashMap::new(),
            sink: Sink {
                findings: Vec::new(),
                dropped: 0,
                max: opts.max_findings,
            },
            cross: CrossExchange::default(),
            conn_client: HashMap::new(),
            names: Names::default(),
        }
    }

    /// Folds in one exchange with its decoded form (decoded once, where it entered:
    /// [`crate::decode::exchange::decode_recorded`]). Its time is `timings.start`;
    /// exchanges without a parseable start take the latest time seen.
    pub fn push(&mut self, x: &Exchange, d: &DecodedExchange) {
        let time = parse_rfc3339(&x.timings.start).unwrap_or(self.latest());
        let Some(req) = &x.request else {
            self.exchanges += 1;
            return;
        };
        self.push_decoded(x.id, time, Some(x.connection_id), d, &req.url);
    }

    /// Folds in an exchange decoded elsewhere: `time_ms` is its start in milliseconds since
    /// the Unix epoch, `connection` the client connection (used to attribute Cell requests
    /// to a ClientID), `url` the HTTP request URL.
    pub fn push_decoded(
        &mut self,
        id: u64,
        time_ms: i64,
        connection: Option<u64>,
        decoded: &DecodedExchange,
        url: &str,
    ) {
        self.exchanges += 1;
        let obs = extract(id, time_ms, connection, decoded, url);
        self.seq += 1;
        self.pending.push(Reverse(Pending {
            time: time_ms,
            seq: self.seq,
            obs,
        }));
        while self.pending.len() > self.opts.reorder_window {
            match self.pending.pop() {
                Some(Reverse(p)) => self.apply(p.obs),
                None => break,
            }
        }
    }

    /// Applies every exchange held back for ordering.
    pub fn flush(&mut self) {
        while let Some(Reverse(p)) = self.pending.pop() {
            self.apply(p.obs);
        }
    }

    /// Flushes, closes the locks that expired by the latest time seen, and returns
    /// everything known so far. The timeline can keep taking exchanges afterwards.
    pub fn report(&mut self) -> TimelineReport {
        self.settle();
        TimelineReport {
            exchanges: self.exchanges,
            files: self.files().collect(),
            findings: self.sink.findings.clone(),
            findings_dropped: self.sink.dropped,
        }
    }

    /// What [`report`](Self::report) does before it collects: applies every exchange held
    /// back for ordering and closes the locks that expired by the latest time seen. Then
    /// [`files`](Self::files), [`findings`](Self::findings) and the counts are the report's,
    /// for writing it out file by file ([`super::ReportView`]).
    pub fn settle(&mut self) {
        self.flush();
        let now = self.now;
        for f in &mut self.files {
            f.sweep(now, self.opts.history_per_lane);
        }
    }

    /// The files in the order they were first seen, each put in its report form only when
    /// the iterator reaches it: writing a report this way holds the timeline's compact
    /// history and one file's report form, never a copy of the whole history.
    pub fn files(&self) -> impl Iterator<Item = FileTimeline> + '_ {
        self.files.iter().map(FileState::snapshot)
    }

    /// Exchanges pushed.
    pub fn exchanges(&self) -> u64 {
        self.exchanges
    }

    /// Findings not kept because of [`TimelineOptions::max_findings`].
    pub fn findings_dropped(&self) -> u64 {
        self.sink.dropped
    }

    /// The findings so far (exchanges held back for ordering are not included yet).
    pub fn findings(&self) -> &[Finding] {
        &self.sink.findings
    }

    /// For consumers that write spans and findings out as they become known (Parquet
    /// export): hands each lock span closed since the last call to `on_span`, returns the
    /// findings made since the last call, and forgets the history kept for reports (closed
    /// spans but the last per lane, which a later finding may name; events and
    /// CoauthStatus changes). Memory then stays at the live state.
    /// With `finish`, first applies every exchange held back for ordering, closes the
    /// locks that expired by the latest time seen, and hands out the still-open spans too
    /// (once: call it last).
    pub fn drain(&mut self, finish: bool, mut on_span: impl FnMut(SpanRow<'_>)) -> Vec<Finding> {
        if finish {
            self.flush();
            let now = self.now;
            for f in &mut self.files {
                f.sweep(now, self.opts.history_per_lane);
            }
        }
        for f in &mut self.files {
            f.status.clear();
            f.events.clear();
            for l in &mut f.lanes {
                l.events.clear();
                let fresh = l.closed - l.drained;
                l.drained = l.closed;
                let skip = l
                    .spans
                    .len()
                    .saturating_sub(usize::try_from(fresh).unwrap_or(usize::MAX));
                let row = |span: &SpanState| SpanRow {
                    key: &f.key,
                    url: &f.url,
                    kind: l.kind,
                    holder: &l.holder,
                    client_id: l.client_id.as_deref(),
                    span: span.to_span(),
                };
                for span in l.spans.iter().skip(skip) {
                    on_span(row(span));
                }
                if finish {
                    if let Some(span) = &l.open {
                        on_span(row(span));
                    }
                }
                while l.spans.len() > 1 {
                    l.spans.pop_front();
                }
            }
        }
        std::mem::take(&mut self.sink.findings)
    }

    fn latest(&self) -> i64 {
        self.pending
            .iter()
            .map(|p| p.0.time)
            .chain(std::iter::once(self.now))
            .max()
            .filter(|t| *t != i64::MIN)
            .unwrap_or(0)
    }

    fn file(&mut self, url: &str) -> usize {
        let key = FileKey::of_url(url);
        if let Some(i) = self.index.get(&key) {
            return *i;
        }
        let i = self.files.len();
        self.files
            .push(FileState::new(key.as_str().to_owned(), url.to_owned()));
        self.index.insert(key, i);
        i
    }

    fn apply(&mut self, obs: Obs) {
        let t = obs.time;
        self.now = self.now.max(t);
        let id = obs.id;
        for f in obs.findings {
            self.sink.add(f);
        }
        if let Some(dav) = &obs.dav {
            let mut out = Vec::new();
            self.cross.push(id, dav, &mut out);
            for mut f in out {
                cap_unspecified(&mut f);
                self.sink.add(f);
            }
        }
        // Who sent this exchange: the first ClientID in it, else the last one seen on the
        // same connection.
        let named = obs.ops.iter().find_map(|o| o.client_id.clone());
        if let (Some(c), Some(conn)) = (&named, obs.connection) {
            if self.conn_client.len() >= MAX_CONNECTIONS && !self.conn_client.contains_key(&conn) {
                self.conn_client.clear();
            }
            self.conn_client.insert(conn, c.clone());
        }
        let sender = named
            .or_else(|| {
                obs.connection
                    .and_then(|c| self.conn_client.get(&c).cloned())
            })
            .or_else(|| obs.connection.map(|c| format!("connection {c}")))
            .unwrap_or_else(|| "(unknown client)".to_owned());
        for op in &obs.ops {
            self.on_file(&op.file, t, id, |file, cx| file.apply_op(cx, op, &sender));
        }
        if let Some(l) = &obs.dav_lock {
            self.on_file(&l.file, t, id, |file, cx| file.apply_dav(cx, l));
        }
    }

    /// Brings the lanes of the file at `url` up to `t`, then lets `apply` fold exchange
    /// `id` into it.
    fn on_file(
        &mut self,
        url: &str,
        t: i64,
        id: u64,
        apply: impl FnOnce(&mut FileState, &mut Cx<'_>),
    ) {
        let hist = self.opts.history_per_lane;
        let event_hist = if self.opts.events { hist } else { 0 };
        let fi = self.file(url);
        let Some(file) = self.files.get_mut(fi) else {
            return;
        };
        file.sweep(t, hist);
        let mut cx = Cx {
            t,
            id,
            hist,
            event_hist,
            sink: &mut self.sink,
            names: &mut self.names,
        };
        apply(file, &mut cx);
    }
}

struct Pending {
    time: i64,
    seq: u64,
    obs: Obs,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

struct Sink {
    findings: Vec<Finding>,
    dropped: u64,
    max: usize,
}

impl Sink {
    fn add(&mut self, f: Finding) {
        if self.findings.len() < self.max {
            self.findings.push(f);
        } else {
            self.dropped += 1;
        }
    }

    fn emit(
        &mut self,
        severity: Severity,
        rule: Rule,
        mut exchanges: Vec<u64>,
        sentence: String,
        spec: &str,
    ) {
        exchanges.sort_unstable();
        exchanges.dedup();
        self.add(Finding {
            severity,
            rule,
            exchanges,
            sentence,
            spec: spec.to_owned(),
        });
    }
}

/// The context of one operation.
struct Cx<'a> {
    t: i64,
    id: u64,
    hist: usize,
    /// The history kept of events and CoauthStatus changes: `hist`, or none.
    event_hist: usize,
    sink: &'a mut Sink,
    names: &'a mut Names,
}

fn push_capped<T>(dq: &mut VecDeque<T>, v: T, cap: usize, dropped: &mut u64) {
    if cap == 0 {
        *dropped += 1;
        return;
    }
    while dq.len() >= cap {
        dq.pop_front();
        *dropped += 1;
    }
    dq.push_back(v);
}

fn expiry(t: i64, timeout: Option<i64>) -> Option<i64> {
    timeout
        .filter(|s| *s > 0)
        .map(|s| t.saturating_add(s.saturating_mul(1000)))
}

fn is_shared(k: LaneKind) -> bool {
    matches!(k, LaneKind::Coauth | LaneKind::SchemaLock)
}

struct LaneState {
    kind: LaneKind,
    holder: String,
    schema_lock_id: Option<String>,
    client_id: Option<String>,
    owner: Option<String>,
    spans: VecDeque<SpanState>,
    events: VecDeque<EventState>,
    dropped: u64,
    open: Option<SpanState>,
    /// Spans closed on this lane, and how many of them [`Timeline::drain`] handed out.
    closed: u64,
    drained: u64,
    last_grant: u64,
    last_end: Option<SpanEnd>,
    chain: Option<Chain>,
    last_sync: Option<u64>,
}

/// A PutChanges that met a CoherencyFailure, waiting for its download and retry.
struct Chain {
    failed: u64,
    download: Option<u64>,
}

/// Whether a grant was new, a refresh of an open span, or a re-grant after expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    New,
    Refreshed,
    AfterExpiry,
}

struct FileState {
    key: String,
    url: String,
    lanes: Vec<LaneState>,
    lane_index: HashMap<(LaneKind, String), usize>,
    status: VecDeque<StatusState>,
    last_status: Option<String>,
    events: VecDeque<EventState>,
    dropped: u64,
    transition: Option<String>,
    last_upload: Option<(String, u64)>,
    timeout_warned: HashSet<(LaneKind, String)>,
}
