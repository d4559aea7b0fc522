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
    SpanEnd, StatusChange, TimelineOptions, TimelineReport, NOT_RUN_RESULT,
};
use crate::decode::exchange::DecodedExchange;
use crate::decode::file_key::FileKey;
use crate::decode::findings::Rule;
use crate::decode::fsshttp::{
    CoauthRequestType, EditorsTableRequestType, ErrorCode, ExclusiveLockRequestType, LockType,
    SchemaLockRequestType,
};
use crate::model::Exchange;
use crate::util::{clock, format_rfc3339, parse_rfc3339};

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
        self.flush();
        let now = self.now;
        for f in &mut self.files {
            f.sweep(now, self.opts.history_per_lane);
        }
        TimelineReport {
            exchanges: self.exchanges,
            files: self.files.iter().map(FileState::snapshot).collect(),
            findings: self.sink.findings.clone(),
            findings_dropped: self.sink.dropped,
        }
    }

    /// The findings so far (exchanges held back for ordering are not included yet).
    pub fn findings(&self) -> &[Finding] {
        &self.sink.findings
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
        let hist = self.opts.history_per_lane;
        for op in &obs.ops {
            let fi = self.file(&op.file);
            let Some(file) = self.files.get_mut(fi) else {
                continue;
            };
            file.sweep(t, hist);
            let mut cx = Cx {
                t,
                id,
                hist,
                sink: &mut self.sink,
            };
            file.apply_op(&mut cx, op, &sender);
        }
        if let Some(l) = &obs.dav_lock {
            let fi = self.file(&l.file);
            if let Some(file) = self.files.get_mut(fi) {
                file.sweep(t, hist);
                let mut cx = Cx {
                    t,
                    id,
                    hist,
                    sink: &mut self.sink,
                };
                file.apply_dav(&mut cx, l);
            }
        }
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
    sink: &'a mut Sink,
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
    spans: VecDeque<Span>,
    events: VecDeque<Event>,
    dropped: u64,
    open: Option<Span>,
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

impl LaneState {
    /// `WebDAV lock <token> of <owner> granted in exchange N (<expiry>)`.
    fn describe_webdav(&self) -> String {
        format!(
            "WebDAV lock {} of {} granted in exchange {} ({})",
            self.holder,
            self.owner.as_deref().unwrap_or("unknown owner"),
            self.last_grant,
            self.live_expiry()
        )
    }

    fn new(kind: LaneKind, holder: String) -> Self {
        Self {
            kind,
            holder,
            schema_lock_id: None,
            client_id: None,
            owner: None,
            spans: VecDeque::new(),
            events: VecDeque::new(),
            dropped: 0,
            open: None,
            last_grant: 0,
            last_end: None,
            chain: None,
            last_sync: None,
        }
    }

    fn lane_ref(&self) -> LaneRef {
        LaneRef {
            kind: self.kind,
            holder: self.holder.clone(),
        }
    }

    fn close(&mut self, end: SpanEnd, at: i64, by: u64, to: Option<LaneRef>, hist: usize) {
        if let Some(mut s) = self.open.take() {
            s.end = Some(format_rfc3339(at));
            s.end_ms = Some(at);
            s.ended = end;
            s.closed_by = Some(by);
            s.converted_to = to;
            self.last_end = Some(end);
            push_capped(&mut self.spans, s, hist, &mut self.dropped);
        }
    }

    fn event(&mut self, e: Event, hist: usize) {
        push_capped(&mut self.events, e, hist, &mut self.dropped);
    }

    fn live_expiry(&self) -> String {
        self.open.as_ref().and_then(|s| s.expires_ms).map_or_else(
            || "no known expiry".to_owned(),
            |e| format!("expires {}", clock(e)),
        )
    }
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
    status: VecDeque<StatusChange>,
    last_status: Option<String>,
    events: VecDeque<Event>,
    dropped: u64,
    transition: Option<String>,
    last_upload: Option<(String, u64)>,
    timeout_warned: HashSet<(LaneKind, String)>,
}

impl FileState {
    fn new(key: String, url: String) -> Self {
        Self {
            key,
            url,
            lanes: Vec::new(),
            lane_index: HashMap::new(),
            status: VecDeque::new(),
            last_status: None,
            events: VecDeque::new(),
            dropped: 0,
            transition: None,
            last_upload: None,
            timeout_warned: HashSet::new(),
        }
    }

    fn snapshot(&self) -> FileTimeline {
        FileTimeline {
            key: self.key.clone(),
            url: self.url.clone(),
            lanes: self
                .lanes
                .iter()
                .map(|l| Lane {
                    kind: l.kind,
                    holder: l.holder.clone(),
                    schema_lock_id: l.schema_lock_id.clone(),
                    client_id: l.client_id.clone(),
                    owner: l.owner.clone(),
                    spans: l.spans.iter().chain(l.open.iter()).cloned().collect(),
                    events: l.events.iter().cloned().collect(),
                    dropped: l.dropped,
                })
                .collect(),
            status: self.status.iter().cloned().collect(),
            events: self.events.iter().cloned().collect(),
            dropped: self.dropped,
        }
    }

    fn lane(&mut self, kind: LaneKind, holder: &str) -> usize {
        if let Some(i) = self.lane_index.get(&(kind, holder.to_owned())) {
            return *i;
        }
        let i = self.lanes.len();
        self.lanes.push(LaneState::new(kind, holder.to_owned()));
        self.lane_index.insert((kind, holder.to_owned()), i);
        i
    }

    /// Closes every span whose expiry is before `t`.
    fn sweep(&mut self, t: i64, hist: usize) {
        for l in &mut self.lanes {
            let exp = l.open.as_ref().and_then(|s| s.expires_ms);
            if let Some(e) = exp.filter(|e| *e < t) {
                let by = l.last_grant;
                l.close(SpanEnd::Expired, e, by, None, hist);
            }
        }
    }

    fn file_event(&mut self, e: Event, hist: usize) {
        push_capped(&mut self.events, e, hist, &mut self.dropped);
    }

    fn live_shared(&self, except_client: Option<&str>) -> Vec<&LaneState> {
        self.lanes
            .iter()
            .filter(|l| is_shared(l.kind) && l.open.is_some())
            .filter(|l| except_client != Some(l.holder.as_str()))
            .collect()
    }

    /// Open WebDAV locks, except the one whose token is `except`.
    fn live_webdav(&self, except: Option<&str>) -> Vec<&LaneState> {
        self.lanes
            .iter()
            .filter(|l| l.kind == LaneKind::WebDavLock && l.open.is_some())
            .filter(|l| except != Some(l.holder.as_str()))
            .collect()
    }

    fn live_exclusive(&self, except: Option<&str>) -> Vec<&LaneState> {
        self.lanes
            .iter()
            .filter(|l| l.kind == LaneKind::ExclusiveLock && l.open.is_some())
            .filter(|l| except != Some(l.holder.as_str()))
            .collect()
    }

    /// Grants or refreshes the span on lane `li`.
    #[allow(clippy::too_many_arguments)]
    fn grant(
        &mut self,
        cx: &mut Cx<'_>,
        li: usize,
        op: &str,
        timeout: Option<i64>,
        schema: Option<&str>,
        refresh_op: bool,
        from: Option<LaneRef>,
    ) -> Grant {
        let Some(l) = self.lanes.get_mut(li) else {
            return Grant::New;
        };
        l.last_grant = cx.id;
        if let Some(s) = schema {
            l.schema_lock_id = Some(s.to_owned());
        }
        let new_exp = expiry(cx.t, timeout);
        if let Some(s) = &mut l.open {
            s.refreshes += 1;
            if timeout.is_some() {
                s.timeout = timeout;
            }
            // A refresh never shortens a lock (MS-FSSHTTP 3.1.4.3.3, 3.1.4.4.3).
            let e = match (s.expires_ms, new_exp) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (_, b) => b,
            };
            s.expires_ms = e;
            s.expires = e.map(format_rfc3339);
            if s.refresh_log.len() < MAX_REFRESH_LOG {
                s.refresh_log.push(Refresh {
                    exchange: cx.id,
                    time: format_rfc3339(cx.t),
                    time_ms: cx.t,
                    operation: op.to_owned(),
                    timeout,
                    expires: s.expires.clone(),
                });
            }
            if schema.is_some() {
                s.schema_lock_id = schema.map(str::to_owned);
            }
            return Grant::Refreshed;
        }
        let after_expiry = refresh_op && l.last_end == Some(SpanEnd::Expired);
        l.open = Some(Span {
            start: format_rfc3339(cx.t),
            start_ms: cx.t,
            end: None,
            end_ms: None,
            ended: SpanEnd::Open,
            granted_by: op.to_owned(),
            start_seen: !(refresh_op && l.last_end.is_none()),
            opened_by: cx.id,
            closed_by: None,
            refreshes: 0,
            refresh_log: Vec::new(),
            timeout,
            expires: new_exp.map(format_rfc3339),
            expires_ms: new_exp,
            schema_lock_id: schema.map(str::to_owned),
            converted_from: from,
            converted_to: None,
        });
        if after_expiry {
            Grant::AfterExpiry
        } else {
            Grant::New
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn marker(
        &mut self,
        cx: &mut Cx<'_>,
        li: usize,
        kind: EventKind,
        op: &str,
        result: &str,
        detail: Option<String>,
        related: Vec<u64>,
    ) {
        let hist = cx.hist;
        if let Some(l) = self.lanes.get_mut(li) {
            l.event(
                Event {
                    time: format_rfc3339(cx.t),
                    time_ms: cx.t,
                    exchange: cx.id,
                    kind,
                    operation: op.to_owned(),
                    result: result.to_owned(),
                    detail,
                    related,
                },
                hist,
            );
        }
    }

    fn check_timeout(
        &mut self,
        cx: &mut Cx<'_>,
        kind: LaneKind,
        holder: &str,
        op: &str,
        timeout: Option<i64>,
    ) {
        let Some(v) = timeout else {
            return;
        };
        let (lo, hi, substituted) = if kind == LaneKind::ExclusiveLock {
            (60, 120_000, false)
        } else {
            (3600, 120_000, (60..3600).contains(&v))
        };
        if (lo..=hi).contains(&v) {
            return;
        }
        if !self.timeout_warned.insert((kind, holder.to_owned())) {
            return;
        }
        let (sev, why) = if substituted {
            (
                Severity::Info,
                "succeeds, but the server substitutes its default".to_owned(),
            )
        } else {
            (
                Severity::Warning,
                format!("is outside the allowed range {lo}–{hi} s"),
            )
        };
        cx.sink.emit(
            sev,
            Rule::LockTimeoutRange,
            vec![cx.id],
            format!(
                "{op} for {} {holder} asked for Timeout {v} s, which {why}",
                kind.name()
            ),
            SPEC_TIMEOUT,
        );
    }

    /// Checks a shared lock grant to `client` with `schema` against the other holders.
    fn check_shared_grant(
        &self,
        cx: &mut Cx<'_>,
        client: &str,
        schema: Option<&str>,
        op: &str,
        exclusive_self: Option<&str>,
    ) {
        let others = self.live_shared(Some(client));
        if let Some(s) = schema {
            if let Some(o) = others
                .iter()
                .find(|o| o.schema_lock_id.as_deref().is_some_and(|x| x != s))
            {
                cx.sink.emit(
                    Severity::Error,
                    Rule::LockSchemaLockIdConflict,
                    vec![o.last_grant, cx.id],
                    format!(
                        "{op} granted ClientID {client} a shared lock with SchemaLockID {s} while ClientID {} held it with SchemaLockID {} ({})",
                        o.holder,
                        o.schema_lock_id.as_deref().unwrap_or("?"),
                        o.live_expiry()
                    ),
                    SPEC_SCHEMA,
                );
            }
        }
        if let Some(x) = self.live_exclusive(exclusive_self).first() {
            cx.sink.emit(
                Severity::Error,
                Rule::LockSharedWhileExclusive,
                vec![x.last_grant, cx.id],
                format!(
                    "{op} granted ClientID {client} a shared lock while exclusive lock {} was held ({})",
                    x.holder,
                    x.live_expiry()
                ),
                SPEC_EXCLUSIVE,
            );
        }
    }

    /// Checks an exclusive lock grant of `lock_id` (by `client` when known).
    fn check_exclusive_grant(
        &self,
        cx: &mut Cx<'_>,
        lock_id: &str,
        client: Option<&str>,
        op: &str,
    ) {
        if let Some(x) = self.live_exclusive(Some(lock_id)).first() {
            cx.sink.emit(
                Severity::Error,
                Rule::LockExclusiveConflict,
                vec![x.last_grant, cx.id],
                format!(
                    "{op} granted exclusive lock {lock_id} while exclusive lock {} was held ({})",
                    x.holder,
                    x.live_expiry()
                ),
                SPEC_EXCLUSIVE,
            );
        }
        if let Some(s) = self.live_shared(client).first() {
            cx.sink.emit(
                Severity::Error,
                Rule::LockExclusiveWhileShared,
                vec![s.last_grant, cx.id],
                format!(
                    "{op} granted exclusive lock {lock_id} while ClientID {} held a shared lock ({})",
                    s.holder,
                    s.live_expiry()
                ),
                SPEC_EXCLUSIVE,
            );
        }
    }

    /// Records and checks a CoauthStatus returned to `client`.
    fn status(&mut self, cx: &mut Cx<'_>, client: &str, status: &str, op: &str) {
        let others: Vec<(String, u64)> = self
            .live_shared(Some(client))
            .iter()
            .map(|l| (l.holder.clone(), l.last_grant))
            .collect();
        match status {
            "Alone" if !others.is_empty() => {
                let mut ex: Vec<u64> = others.iter().map(|o| o.1).collect();
                ex.push(cx.id);
                cx.sink.emit(
                    Severity::Error,
                    Rule::CoauthStatusAlone,
                    ex,
                    format!(
                        "{op} returned CoauthStatus Alone to ClientID {client} while {} held the shared lock",
                        others
                            .iter()
                            .map(|o| format!("ClientID {} (exchange {})", o.0, o.1))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    SPEC_STATUS,
                );
            }
            "Coauthoring" if others.is_empty() => cx.sink.emit(
                Severity::Warning,
                Rule::CoauthStatusCoauthoring,
                vec![cx.id],
                format!(
                    "{op} returned CoauthStatus Coauthoring to ClientID {client} but the proxy saw no other client holding the shared lock; the other coauthor may not pass through the proxy"
                ),
                SPEC_STATUS,
            ),
            _ => {}
        }
        if self.last_status.as_deref() != Some(status) {
            self.last_status = Some(status.to_owned());
            let hist = cx.hist;
            push_capped(
                &mut self.status,
                StatusChange {
                    time: format_rfc3339(cx.t),
                    time_ms: cx.t,
                    exchange: cx.id,
                    client_id: client.to_owned(),
                    status: status.to_owned(),
                    operation: op.to_owned(),
                },
                hist,
                &mut self.dropped,
            );
        }
    }

    fn transition(&mut self, cx: &mut Cx<'_>, id: &str, op: &str) {
        if self.transition.as_deref() == Some(id) {
            return;
        }
        self.transition = Some(id.to_owned());
        let e = Event {
            time: format_rfc3339(cx.t),
            time_ms: cx.t,
            exchange: cx.id,
            kind: EventKind::Transition,
            operation: op.to_owned(),
            result: id.to_owned(),
            detail: None,
            related: Vec::new(),
        };
        self.file_event(e, cx.hist);
    }

    /// Why a lock request was refused with FileAlreadyLockedOnServer, from the state.
    fn holders_against(
        &self,
        exclusive_req: Option<&str>,
        schema: Option<&str>,
        client: Option<&str>,
        any_shared: bool,
    ) -> Vec<String> {
        let mut out: Vec<String> = self
            .live_exclusive(exclusive_req)
            .iter()
            .map(|l| {
                format!(
                    "exclusive lock {} granted in exchange {} ({})",
                    l.holder,
                    l.last_grant,
                    l.live_expiry()
                )
            })
            .collect();
        // A WebDAV write lock on the file refuses cell storage locks too (the reference
        // server and SharePoint both answer FileAlreadyLockedOnServer).
        out.extend(
            self.live_webdav(None)
                .into_iter()
                .map(LaneState::describe_webdav),
        );
        for l in self.live_shared(client) {
            let differs = match (schema, l.schema_lock_id.as_deref()) {
                (Some(a), Some(b)) => a != b,
                _ => false,
            };
            if any_shared || differs {
                out.push(format!(
                    "shared lock of ClientID {} with SchemaLockID {} granted in exchange {} ({})",
                    l.holder,
                    l.schema_lock_id.as_deref().unwrap_or("?"),
                    l.last_grant,
                    l.live_expiry()
                ));
            }
        }
        out
    }

    fn failed(&mut self, cx: &mut Cx<'_>, li: usize, op: &Op, r: &OpResult) {
        let code = r.code_text();
        if r.not_run_by_dependency() {
            let meaning = r
                .error_code
                .as_ref()
                .and_then(ErrorCode::meaning)
                .unwrap_or_default();
            let detail = match &r.depends_on {
                Some(d) => format!("{code}: {meaning}; {d}"),
                None => format!("{code}: {meaning}"),
            };
            self.marker(
                cx,
                li,
                EventKind::NotRun,
                &op.operation,
                NOT_RUN_RESULT,
                Some(detail),
                Vec::new(),
            );
            return;
        }
        let detail = match &r.error_code {
            Some(ErrorCode::FileAlreadyLockedOnServer) => {
                let any_shared = matches!(op.kind, OpKind::Exclusive(_));
                let h = self.holders_against(
                    op.exclusive_lock_id.as_deref(),
                    op.schema_lock_id.as_deref(),
                    op.client_id.as_deref(),
                    any_shared,
                );
                if h.is_empty() {
                    cx.sink.emit(
                        Severity::Warning,
                        Rule::LockUnexplainedRefusal,
                        vec![cx.id],
                        format!(
                            "{} was refused with FileAlreadyLockedOnServer{} but the proxy saw no conflicting lock on {}; the holder may be a client that does not pass through the proxy, or a lock taken before the capture",
                            op.operation,
                            r.error_message
                                .as_deref()
                                .map(|m| format!(" (ErrorMessage {m:?})"))
                                .unwrap_or_default(),
                            self.url
                        ),
                        SPEC_REFUSAL,
                    );
                    r.error_message.clone().map(|m| format!("held by {m}"))
                } else {
                    Some(h.join("; "))
                }
            }
            Some(ErrorCode::NumberOfCoauthorsReachedMax) => {
                let live: Vec<String> = self
                    .live_shared(op.client_id.as_deref())
                    .iter()
                    .map(|l| l.holder.clone())
                    .collect();
                Some(format!(
                    "{} coauthors seen live: {}",
                    live.len(),
                    live.join(", ")
                ))
            }
            _ => r.error_message.clone(),
        };
        self.marker(
            cx,
            li,
            EventKind::Failed,
            &op.operation,
            code,
            detail,
            Vec::new(),
        );
    }

    fn apply_op(&mut self, cx: &mut Cx<'_>, op: &Op, sender: &str) {
        let client = op.client_id.clone().unwrap_or_else(|| sender.to_owned());
        match &op.kind {
            OpKind::Coauth(t) => self.coauth(cx, op, t, &client),
            OpKind::SchemaLock(t) => self.schema_lock(cx, op, t, &client),
            OpKind::Exclusive(t) => self.exclusive(cx, op, t, &client),
            OpKind::Editors(t) => self.editors(cx, op, t, &client),
            OpKind::Cell(c) => self.cell(cx, op, *c, &client),
            OpKind::AmIAlone => self.am_i_alone(cx, op),
            OpKind::LockStatus | OpKind::Other => {}
        }
    }

    fn coauth(&mut self, cx: &mut Cx<'_>, op: &Op, t: &CoauthRequestType, client: &str) {
        use CoauthRequestType as C;
        let li = self.lane(LaneKind::Coauth, client);
        if matches!(
            t,
            C::JoinCoauthoring | C::RefreshCoauthoring | C::ConvertToExclusive
        ) {
            self.check_timeout(cx, LaneKind::Coauth, client, &op.operation, op.timeout);
        }
        let Some(r) = &op.result else {
            return;
        };
        if !r.success() {
            self.shared_failed(cx, li, op, r);
            return;
        }
        match t {
            C::JoinCoauthoring | C::RefreshCoauthoring => {
                let refresh = *t == C::RefreshCoauthoring;
                self.shared_or_fallback_grant(cx, li, op, r, client, refresh);
                if let Some(s) = &r.coauth_status {
                    self.status(cx, client, s, &op.operation);
                }
                if let Some(tr) = &r.transition_id {
                    self.transition(cx, tr, &op.operation);
                }
            }
            C::ExitCoauthoring => self.release(cx, li, op, client),
            C::ConvertToExclusive => self.convert_to_exclusive(cx, li, op, client),
            C::MarkTransitionComplete => {
                let e = Event {
                    time: format_rfc3339(cx.t),
                    time_ms: cx.t,
                    exchange: cx.id,
                    kind: EventKind::TransitionComplete,
                    operation: op.operation.clone(),
                    result: "Success".to_owned(),
                    detail: Some(format!("ClientID {client} now coauthoring")),
                    related: Vec::new(),
                };
                self.file_event(e, cx.hist);
            }
            C::GetCoauthoringStatus => {
                if let Some(s) = &r.coauth_status {
                    self.status(cx, client, s, &op.operation);
                }
            }
            C::CheckLockAvailability | C::Other(_) => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn shared_grant(
        &mut self,
        cx: &mut Cx<'_>,
        li: usize,
        op: &Op,
        client: &str,
        refresh: bool,
        from: Option<LaneRef>,
        exclusive_self: Option<&str>,
    ) {
        let schema = op.schema_lock_id.as_deref();
        self.check_shared_grant(cx, client, schema, &op.operation, exclusive_self);
        let g = self.grant(cx, li, &op.operation, op.timeout, schema, refresh, from);
        if g == Grant::AfterExpiry {
            self.after_expiry(cx, li, op);
        }
    }

    fn after_expiry(&self, cx: &mut Cx<'_>, li: usize, op: &Op) {
        let Some(l) = self.lanes.get(li) else {
            return;
        };
        let prev = l.spans.back();
        let (ended, ex) = prev
            .and_then(|s| {
                s.end_ms
                    .map(|e| (clock(e), s.closed_by.unwrap_or(s.opened_by)))
            })
            .unwrap_or_else(|| ("earlier".to_owned(), cx.id));
        cx.sink.emit(
            Severity::Warning,
            Rule::LockRefreshAfterExpiry,
            vec![ex, cx.id],
            format!(
                "{} for {} {} was granted at {} although the lock had expired at {ended}; the server re-granted it as a new lock, and another client could have taken a conflicting lock in between",
                op.operation,
                l.kind.name(),
                l.holder,
                clock(cx.t)
            ),
            SPEC_EXPIRY,
        );
    }

    fn release(&mut self, cx: &mut Cx<'_>, li: usize, op: &Op, holder: &str) {
        let Some(l) = self.lanes.get_mut(li) else {
            return;
        };
        if l.open.is_some() {
            l.close(SpanEnd::Released, cx.t, cx.id, None, cx.hist);
            return;
        }
        let seen_end = l.last_end;
        let kind = l.kind;
        let exclusive = kind == LaneKind::ExclusiveLock;
        let other_exclusive = exclusive && !self.live_exclusive(Some(holder)).is_empty();
        let (sev, why) = match seen_end {
            Some(e) if exclusive => (
                Severity::Error,
                format!("its lock had already {} (an exclusive ReleaseLock without a lock must fail with FileNotLockedOnServer)", e.word()),
            ),
            _ if other_exclusive => (
                Severity::Error,
                "another exclusive lock is held (the answer must be FileAlreadyLockedOnServer)".to_owned(),
            ),
            Some(e) => (
                Severity::Warning,
                format!("its lock had already {}", e.word()),
            ),
            None => (
                Severity::Warning,
                "the proxy saw no grant; the lock may predate the capture or come from a client it does not see".to_owned(),
            ),
        };
        cx.sink.emit(
            sev,
            Rule::LockReleaseWithoutLock,
            vec![cx.id],
            format!(
                "{} for {} {holder} was answered Success but it held nothing: {why}",
                op.operation,
                kind.name()
            ),
            SPEC_RELEASE,
        );
    }

    fn convert_to_exclusive(&mut self, cx: &mut Cx<'_>, li: usize, op: &Op, client: &str) {
        let lock_id = op
            .exclusive_lock_id
            .clone()
            .unwrap_or_else(|| format!("(converted from {client})"));
        let from = self.lanes.get(li).map(LaneState::lane_ref);
        let xi = self.lane(LaneKind::ExclusiveLock, &lock_id);
        let to = self.lanes.get(xi).map(LaneState::lane_ref);
        if let Some(l) = self.lanes.get_mut(li) {
            l.close(SpanEnd::Converted, cx.t, cx.id, to, cx.hist);
        }
        self.check_exclusive_grant(cx, &lock_id, Some(client), &op.operation);
        if let Some(l) = self.lanes.get_mut(xi) {
            l.client_id = Some(client.to_owned());
        }
        self.grant(cx, xi, &op.operation, op.timeout, None, false, from);
    }

    /// A refused Coauth or SchemaLock request: a failed conversion also ends the shared
    /// lock (ExitCoauthSessionAsConvertToExclusiveFailed), then the marker.
    fn shared_failed(&mut self, cx: &mut Cx<'_>, li: usize, op: &Op, r: &OpResult) {
        if r.error_code == Some(ErrorCode::ExitCoauthSessionAsConvertToExclusiveFailed) {
            if let Some(l) = self.lanes.get_mut(li) {
                l.close(SpanEnd::Removed, cx.t, cx.id, None, cx.hist);
            }
        }
        self.failed(cx, li, op, r);
    }

    /// A granted shared lock, or the exclusive lock the server fell back to (coauthoring
    /// disabled, file checked out...), on its own ExclusiveLockID lane.
    fn shared_or_fallback_grant(
        &mut self,
        cx: &mut Cx<'_>,
        li: usize,
        op: &Op,
        r: &OpResult,
        client: &str,
        refresh: bool,
    ) {
        if r.lock_type == Some(LockType::ExclusiveLock) {
            let lock_id = op
                .exclusive_lock_id
                .clone()
                .unwrap_or_else(|| format!("(fallback of {client})"));
            self.check_exclusive_grant(cx, &lock_id, Some(client), &op.operation);
            let xi = self.lane(LaneKind::ExclusiveLock, &lock_id);
            if let Some(l) = self.lanes.get_mut(xi) {
                l.client_id = Some(client.to_owned());
            }
            self.grant(cx, xi, &op.operation, op.timeout, None, refresh, None);
        } else {
            self.shared_grant(cx, li, op, client, refresh, None, None);
        }
    }

    fn schema_lock(&mut self, cx: &mut Cx<'_>, op: &Op, t: &SchemaLockRequestType, client: &str) {
        use SchemaLockRequestType as S;
        let li = self.lane(LaneKind::SchemaLock, client);
        if matches!(t, S::GetLock | S::RefreshLock | S::ConvertToExclusive) {
            self.check_timeout(cx, LaneKind::SchemaLock, client, &op.operation, op.timeout);
        }
        let Some(r) = &op.result else {
            return;
        };
        if !r.success() {
            self.shared_failed(cx, li, op, r);
            return;
        }
        match t {
            S::GetLock | S::RefreshLock => {
                let refresh = *t == S::RefreshLock;
                self.shared_or_fallback_grant(cx, li, op, r, client, refresh);
            }
            S::ReleaseLock => self.release(cx, li, op, client),
            S::ConvertToExclusive => self.convert_to_exclusive(cx, li, op, client),
            S::CheckLockAvailability | S::Other(_) => {}
        }
    }

    fn exclusive(&mut self, cx: &mut Cx<'_>, op: &Op, t: &ExclusiveLockRequestType, client: &str) {
        use ExclusiveLockRequestType as X;
        let lock_id = op
            .exclusive_lock_id
            .clone()
            .unwrap_or_else(|| "(no ExclusiveLockID)".to_owned());
        let li = self.lane(LaneKind::ExclusiveLock, &lock_id);
        if matches!(t, X::GetLock | X::RefreshLock) {
            self.check_timeout(
                cx,
                LaneKind::ExclusiveLock,
                &lock_id,
                &op.operation,
                op.timeout,
            );
        }
        if matches!(t, X::ConvertToSchema | X::ConvertToSchemaJoinCoauth) {
            self.check_timeout(cx, LaneKind::Coauth, client, &op.operation, op.timeout);
        }
        let Some(r) = &op.result else {
            return;
        };
        if !r.success() {
            self.failed(cx, li, op, r);
            return;
        }
        match t {
            X::GetLock | X::RefreshLock => {
                let refresh = *t == X::RefreshLock;
                if self.lanes.get(li).is_some_and(|l| l.open.is_none()) {
                    self.check_exclusive_grant(
                        cx,
                        &lock_id,
                        op.client_id.as_deref(),
                        &op.operation,
                    );
                }
                let g = self.grant(cx, li, &op.operation, op.timeout, None, refresh, None);
                if g == Grant::AfterExpiry {
                    self.after_expiry(cx, li, op);
                }
            }
            X::ReleaseLock => self.release(cx, li, op, &lock_id),
            X::ConvertToSchema | X::ConvertToSchemaJoinCoauth => {
                let kind = if *t == X::ConvertToSchema {
                    LaneKind::SchemaLock
                } else {
                    LaneKind::Coauth
                };
                let from = self.lanes.get(li).map(LaneState::lane_ref);
                let si = self.lane(kind, client);
                let to = self.lanes.get(si).map(LaneState::lane_ref);
                if let Some(l) = self.lanes.get_mut(li) {
                    l.client_id = Some(client.to_owned());
                    l.close(SpanEnd::Converted, cx.t, cx.id, to, cx.hist);
                }
                self.shared_grant(cx, si, op, client, false, from, Some(lock_id.as_str()));
                if let Some(s) = &r.coauth_status {
                    self.status(cx, client, s, &op.operation);
                }
                if let Some(tr) = &r.transition_id {
                    self.transition(cx, tr, &op.operation);
                }
            }
            X::CheckLockAvailability | X::Other(_) => {}
        }
    }

    fn editors(&mut self, cx: &mut Cx<'_>, op: &Op, t: &EditorsTableRequestType, client: &str) {
        use EditorsTableRequestType as E;
        let li = self.lane(LaneKind::EditorsTable, client);
        if matches!(t, E::JoinEditingSession | E::RefreshEditingSession) {
            self.check_timeout(
                cx,
                LaneKind::EditorsTable,
                client,
                &op.operation,
                op.timeout,
            );
        }
        let Some(r) = &op.result else {
            return;
        };
        if !r.success() {
            self.failed(cx, li, op, r);
            return;
        }
        match t {
            E::JoinEditingSession | E::RefreshEditingSession => {
                let refresh = *t == E::RefreshEditingSession;
                self.grant(cx, li, &op.operation, op.timeout, None, refresh, None);
            }
            E::LeaveEditingSession => {
                if let Some(l) = self.lanes.get_mut(li) {
                    l.close(SpanEnd::Released, cx.t, cx.id, None, cx.hist);
                }
            }
            _ => {}
        }
    }

    fn am_i_alone(&mut self, cx: &mut Cx<'_>, op: &Op) {
        let Some(r) = &op.result else {
            return;
        };
        let Some(alone) = r.am_i_alone else {
            return;
        };
        let live: Vec<(String, u64)> = self
            .live_shared(None)
            .iter()
            .map(|l| (l.holder.clone(), l.last_grant))
            .collect();
        if alone && live.len() >= 2 {
            let mut ex: Vec<u64> = live.iter().map(|l| l.1).collect();
            ex.push(cx.id);
            cx.sink.emit(
                Severity::Error,
                Rule::CoauthStatusAlone,
                ex,
                format!(
                    "AmIAlone answered true while {} clients held the shared lock ({})",
                    live.len(),
                    live.iter()
                        .map(|l| l.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                SPEC_STATUS,
            );
        }
        let e = Event {
            time: format_rfc3339(cx.t),
            time_ms: cx.t,
            exchange: cx.id,
            kind: EventKind::AmIAlone,
            operation: op.operation.clone(),
            result: alone.to_string(),
            detail: None,
            related: Vec::new(),
        };
        self.file_event(e, cx.hist);
    }

    fn cell(&mut self, cx: &mut Cx<'_>, op: &Op, c: CellOp, client: &str) {
        let li = self.lane(LaneKind::Content, client);
        let Some(r) = &op.result else {
            return;
        };
        // A Cell request carrying ExclusiveLockID takes an exclusive lock (first save).
        if r.success() && r.lock_type == Some(LockType::ExclusiveLock) {
            if let Some(x) = &op.exclusive_lock_id {
                let xi = self.lane(LaneKind::ExclusiveLock, x);
                if self.lanes.get(xi).is_some_and(|l| l.open.is_none()) {
                    self.check_exclusive_grant(cx, x, Some(client), &op.operation);
                }
                if let Some(l) = self.lanes.get_mut(xi) {
                    l.client_id = Some(client.to_owned());
                }
                self.grant(cx, xi, &op.operation, op.timeout, None, false, None);
            }
        }
        let ok = r.success() && !c.fsshttpb_failed;
        let result = if c.coherency_failure {
            "CoherencyFailure".to_owned()
        } else if !r.success() {
            r.code_text().to_owned()
        } else if c.fsshttpb_failed {
            "FSSHTTPB error".to_owned()
        } else {
            "Success".to_owned()
        };
        if c.upload {
            let pending = self.lanes.get_mut(li).and_then(|l| l.chain.take());
            if let Some(ch) = pending {
                match ch.download {
                    Some(d) => {
                        self.marker(
                            cx,
                            li,
                            EventKind::CoherencyChain,
                            "PutChanges",
                            &result,
                            Some(format!(
                                "PutChanges #{} → CoherencyFailure → QueryChanges #{d} → PutChanges retry #{} → {result}",
                                ch.failed, cx.id
                            )),
                            vec![ch.failed, d, cx.id],
                        );
                    }
                    None => cx.sink.emit(
                        Severity::Warning,
                        Rule::CellRetryWithoutDownload,
                        vec![ch.failed, cx.id],
                        format!(
                            "{client} retried PutChanges on {} after a CoherencyFailure (exchange {}) without downloading (QueryChanges) first",
                            self.url, ch.failed
                        ),
                        SPEC_COHERENCY,
                    ),
                }
            }
            let detail = if c.coherency_failure {
                let since = self.lanes.get(li).and_then(|l| l.last_sync);
                match &self.last_upload {
                    Some((who, ex)) if who != client && since.is_none_or(|s| *ex > s) => Some(
                        format!(
                            "the file changed: {who} uploaded in exchange {ex} after this client's last sync{}",
                            since.map(|s| format!(" (exchange {s})")).unwrap_or_default()
                        ),
                    ),
                    _ => None,
                }
            } else {
                None
            };
            self.marker(
                cx,
                li,
                EventKind::Upload,
                "PutChanges",
                &result,
                detail,
                Vec::new(),
            );
            if let Some(l) = self.lanes.get_mut(li) {
                if c.coherency_failure {
                    l.chain = Some(Chain {
                        failed: cx.id,
                        download: None,
                    });
                } else if ok {
                    l.last_sync = Some(cx.id);
                }
            }
            if ok && !c.coherency_failure {
                self.last_upload = Some((client.to_owned(), cx.id));
            }
        } else if c.download {
            self.marker(
                cx,
                li,
                EventKind::Download,
                "QueryChanges",
                &result,
                None,
                Vec::new(),
            );
            if ok {
                if let Some(l) = self.lanes.get_mut(li) {
                    l.last_sync = Some(cx.id);
                    if let Some(ch) = &mut l.chain {
                        ch.download = Some(cx.id);
                    }
                }
            }
        } else if !ok {
            let op_name = op.operation.clone();
            self.marker(
                cx,
                li,
                EventKind::Failed,
                &op_name,
                &result,
                r.error_message.clone(),
                Vec::new(),
            );
        }
    }

    fn apply_dav(&mut self, cx: &mut Cx<'_>, l: &DavLockOp) {
        let ok = l.status.is_some_and(|s| (200..300).contains(&s));
        let holder = l
            .granted
            .clone()
            .or_else(|| l.submitted.first().cloned())
            .or_else(|| l.owner.clone())
            .unwrap_or_else(|| "(no lock token)".to_owned());
        if !ok {
            let li = self.lane(LaneKind::WebDavLock, &holder);
            let live: Vec<String> = self
                .live_webdav(Some(&holder))
                .into_iter()
                .map(LaneState::describe_webdav)
                .collect();
            let result = l
                .status
                .map_or_else(|| "no response".to_owned(), |s| s.to_string());
            let detail = (!live.is_empty()).then(|| live.join("; "));
            self.marker(
                cx,
                li,
                EventKind::Failed,
                &l.method,
                &result,
                detail,
                Vec::new(),
            );
            return;
        }
        if l.unlock {
            for t in &l.submitted {
                let li = self.lane(LaneKind::WebDavLock, t);
                if let Some(x) = self.lanes.get_mut(li) {
                    if x.open.is_some() {
                        x.close(SpanEnd::Released, cx.t, cx.id, None, cx.hist);
                    } else if x.last_end.is_none() {
                        cx.sink.emit(
                            Severity::Warning,
                            Rule::LockReleaseWithoutLock,
                            vec![cx.id],
                            format!(
                                "{} of lock token {t} was answered {} but the proxy saw no LOCK grant it; the lock may predate the capture",
                                l.method,
                                l.status.unwrap_or(0)
                            ),
                            SPEC_RELEASE,
                        );
                    }
                }
            }
            return;
        }
        let li = self.lane(LaneKind::WebDavLock, &holder);
        let new = self.lanes.get(li).is_some_and(|x| x.open.is_none());
        if new && !l.refresh {
            let exclusive = l
                .scope
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("exclusive"));
            let other = self.live_webdav(Some(&holder)).into_iter().next();
            if let Some(o) = other.filter(|_| exclusive) {
                cx.sink.emit(
                    Severity::Error,
                    Rule::WebDavLockConflict,
                    vec![o.last_grant, cx.id],
                    format!(
                        "{} granted an exclusive lock on {} while lock {} ({}) was held",
                        l.method,
                        self.url,
                        o.holder,
                        o.live_expiry()
                    ),
                    SPEC_DAV_LOCK,
                );
            }
        }
        if let Some(x) = self.lanes.get_mut(li) {
            if l.owner.is_some() {
                x.owner.clone_from(&l.owner);
            }
        }
        let op_name = if l.refresh {
            format!("{} refresh", l.method)
        } else {
            l.method.clone()
        };
        let g = self.grant(cx, li, &op_name, l.timeout, None, l.refresh, None);
        if g == Grant::AfterExpiry {
            let (kind, h) = (LaneKind::WebDavLock, holder.clone());
            cx.sink.emit(
                Severity::Warning,
                Rule::LockRefreshAfterExpiry,
                vec![cx.id],
                format!(
                    "{op_name} for {} {h} was granted at {} although the lock had expired",
                    kind.name(),
                    clock(cx.t)
                ),
                SPEC_EXPIRY,
            );
        }
    }
}
