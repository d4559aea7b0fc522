//! Comparing two recordings of the same scenario (`synctap diff`) with replay's
//! semantic comparison ([`super::diff`]).
//!
//! Exchanges are aligned per client and per file, in operation order, never by time or
//! id: both recordings' clients are numbered first-seen (a ClientID, or for exchanges
//! naming none their connection), and the n-th client of A is the n-th of B. Inside one
//! (client, file) group the two sequences are walked side by side: exchanges doing the
//! same operation (method, protocol and operation: the cell storage subrequests, the
//! SPFileSync operation, the WebDAV kind) are paired; when they do not match, skipping
//! exchanges of one side within [`WINDOW`] resynchronises them: the skip followed by the
//! longer run of matching operations wins (then the shorter skip), and the skipped
//! exchanges are only on their side. Values the servers minted (ETags, lock tokens, storage index ids) are
//! paired first-seen to first-seen in one [`Remap`], as a replay learns them; ClientIDs,
//! SchemaLockIDs and ExclusiveLockIDs by their first-seen order.
//!
//! The comparison streams: each exchange is decoded once as it is read, folded into its
//! recording's timeline and kept only until its counterpart is found (or the window says
//! it has none), so memory follows how far the two recordings drift apart and how many
//! files and clients they have, not their length. A group one side lacks entirely is
//! held until that side ends, up to [`MAX_PENDING`] exchanges per group. With `strict`,
//! the value pairs are kept too (one per value the servers minted).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use super::diff::{self, compare_paired, file_of, DiffOptions, Difference};
use super::remap::{Minted, Remap};
use super::report::{LaneRow, OnlyIn, Report, ReportKind, SideBySide, Unreadable};
use crate::decode::exchange::{DecodedRecord, ProtocolModel};
use crate::model::{Exchange, ExchangeKind};
use crate::timeline::{Timeline, TimelineOptions};

/// How many exchanges ahead, per group and side, a mismatch looks for its counterpart.
pub const WINDOW: usize = 64;

/// The most exchanges a group holds on one side while the other has none: beyond it the
/// oldest is reported as only on its side.
pub const MAX_PENDING: usize = 10_000;

/// The most unreadable-line warnings kept; further ones are counted.
pub const MAX_UNREADABLE: usize = 1_000;

/// The two recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first (the reference).
    A,
    /// The second.
    B,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::B => "B",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

/// One recording's state.
struct Recording {
    /// First-seen numbers of ClientIDs and of connections without one.
    clients: HashMap<String, usize>,
    connections: HashMap<u64, usize>,
    /// Client-chosen ids (ClientID, SchemaLockID, ExclusiveLockID) in first-seen order.
    ids: Vec<String>,
    id_set: HashMap<String, usize>,
    timeline: Timeline,
    ended: bool,
}

impl Recording {
    fn new() -> Self {
        Self {
            clients: HashMap::new(),
            connections: HashMap::new(),
            ids: Vec::new(),
            id_set: HashMap::new(),
            // The lane summaries read only the spans.
            timeline: Timeline::new(TimelineOptions {
                events: false,
                ..TimelineOptions::default()
            }),
            ended: false,
        }
    }

    /// The group key's client part and the label shown in the report.
    fn client(&mut self, x: &DecodedRecord) -> (String, String) {
        if let Some(c) = x.decoded.client_id() {
            let n = self.clients.len();
            let n = *self.clients.entry(c.to_owned()).or_insert(n);
            (format!("client {n}"), format!("ClientID {c}"))
        } else {
            let id = x.exchange.connection_id;
            let n = self.connections.len();
            let n = *self.connections.entry(id).or_insert(n);
            (format!("connection {n}"), format!("connection {id}"))
        }
    }

    /// Notes the client-chosen ids an exchange names, in order.
    fn note_ids(&mut self, x: &DecodedRecord) {
        let Some(req) = x.decoded.fsshttp_request() else {
            return;
        };
        for (_, s) in req.sub_requests() {
            let Some(d) = &s.sub_request_data else {
                continue;
            };
            for v in [&d.client_id, &d.schema_lock_id, &d.exclusive_lock_id]
                .into_iter()
                .flatten()
            {
                if !self.id_set.contains_key(v) {
                    self.id_set.insert(v.clone(), self.ids.len());
                    self.ids.push(v.clone());
                }
            }
        }
    }
}

struct Pending {
    record: DecodedRecord,
    operation: String,
    label: String,
    file: String,
}

/// A streaming comparison of two recordings: [`push`](Self::push) exchanges of either
/// side as they are read, [`end`](Self::end) each side, then [`finish`](Self::finish).
pub struct Recordings {
    opts: DiffOptions,
    sides: [Recording; 2],
    groups: HashMap<(String, String), [VecDeque<Pending>; 2]>,
    pairing: RefCell<Remap>,
    report: Report,
    unreadable_dropped: u64,
}

impl Recordings {
    /// A comparison of recording `a` with recording `b` (their names, for the report).
    pub fn new(a: &str, b: &str, opts: DiffOptions) -> Self {
        Self {
            opts,
            sides: [Recording::new(), Recording::new()],
            groups: HashMap::new(),
            pairing: RefCell::new(Remap::default()),
            report: Report {
                kind: ReportKind::Diff,
                capture: a.to_owned(),
                target: b.to_owned(),
                ..Report::default()
            },
            unreadable_dropped: 0,
        }
    }

    /// Takes one exchange of `side`, in the recording's order. Tunnels and exchanges
    /// without a request are not compared (as in a replay).
    pub fn push(&mut self, side: Side, x: Exchange) {
        if x.kind != ExchangeKind::Http || x.request.is_none() {
            return;
        }
        // Decoded once, here; the timeline, the alignment and the comparison read it.
        let record = DecodedRecord::new(x);
        let rec = &mut self.sides[side.index()];
        rec.timeline.push(&record.exchange, &record.decoded);
        rec.note_ids(&record);
        let (client, label) = rec.client(&record);
        let file = file_of(&record.exchange, &record.decoded);
        let key = (client, file.clone());
        let pending = Pending {
            operation: operation(&record),
            record,
            label,
            file,
        };
        self.groups.entry(key.clone()).or_default()[side.index()].push_back(pending);
        self.align(&key);
    }

    /// Notes that a recording skipped a line it could not read.
    pub fn unreadable(&mut self, side: Side, warning: String) {
        if self.report.diff.unreadable.len() >= MAX_UNREADABLE {
            self.unreadable_dropped += 1;
            return;
        }
        self.report.diff.unreadable.push(Unreadable {
            side: side.name(),
            warning,
        });
    }

    /// Notes that `side` has no more exchanges.
    pub fn end(&mut self, side: Side) {
        self.sides[side.index()].ended = true;
        let keys: Vec<(String, String)> = self.groups.keys().cloned().collect();
        for k in keys {
            self.align(&k);
        }
    }

    /// Ends both sides and returns the report: the differences grouped by file and
    /// client, the exchanges only one side has, and the timelines side by side where they
    /// diverge.
    pub fn finish(mut self) -> Report {
        self.end(Side::A);
        self.end(Side::B);
        if self.unreadable_dropped > 0 {
            let more = self.unreadable_dropped;
            self.report.diff.unreadable.push(Unreadable {
                side: "A/B",
                warning: format!("{more} more warnings"),
            });
        }
        // Each timeline is reduced to its lane summaries file by file, never copied whole.
        self.sides[0].timeline.settle();
        self.sides[1].timeline.settle();
        // B's client-chosen ids shown as A's counterpart (first seen to first seen).
        let (ids_a, ids_b) = (&self.sides[0].ids, &self.sides[1].id_set);
        let as_a = |h: &str| {
            ids_b
                .get(h)
                .and_then(|&i| ids_a.get(i))
                .cloned()
                .unwrap_or_else(|| h.to_owned())
        };
        let same = |h: &str| h.to_owned();
        let (la, lb) = (
            diff::lane_summaries(self.sides[0].timeline.files(), &same),
            diff::lane_summaries(self.sides[1].timeline.files(), &as_a),
        );
        let lanes = diff::compare_lanes(&la, &lb);
        let mut files: Vec<&str> = lanes.iter().map(|d| d.file.as_str()).collect();
        files.dedup();
        for file in files {
            let mut rows: Vec<LaneRow> = Vec::new();
            for ((f, lane), v) in la.iter().filter(|((f, _), _)| f == file) {
                let other = lb.get(&(f.clone(), lane.clone()));
                rows.push(LaneRow {
                    lane: lane.clone(),
                    a: v.clone(),
                    b: other.cloned().unwrap_or_else(|| "-".to_owned()),
                    differs: other != Some(v),
                });
            }
            for ((_, lane), v) in lb
                .iter()
                .filter(|((f, l), _)| f == file && !la.contains_key(&(f.clone(), l.clone())))
            {
                rows.push(LaneRow {
                    lane: lane.clone(),
                    a: "-".to_owned(),
                    b: v.clone(),
                    differs: true,
                });
            }
            rows.sort_by(|x, y| x.lane.cmp(&y.lane));
            self.report.diff.timelines.push(SideBySide {
                file: file.to_owned(),
                lanes: rows,
            });
        }
        self.report.differences.extend(lanes);
        self.report.group();
        self.report
    }

    /// Pairs what can be paired in one group and reports what one side lacks.
    fn align(&mut self, key: &(String, String)) {
        let ended = [self.sides[0].ended, self.sides[1].ended];
        let Some(queues) = self.groups.get_mut(key) else {
            return;
        };
        let mut out: Vec<Step> = Vec::new();
        loop {
            let [qa, qb] = &mut *queues;
            let step = match (qa.front(), qb.front()) {
                (None, None) => break,
                (Some(_), None) if ended[1] || qa.len() > MAX_PENDING => Step::Only(Side::A),
                (None, Some(_)) if ended[0] || qb.len() > MAX_PENDING => Step::Only(Side::B),
                (Some(_), None) | (None, Some(_)) => break,
                (Some(a), Some(b)) if a.operation == b.operation => Step::Pair,
                (Some(_), Some(_)) => {
                    let complete = |q: &VecDeque<Pending>, end: bool| end || q.len() >= WINDOW;
                    if !(complete(qa, ended[0]) && complete(qb, ended[1])) {
                        break;
                    }
                    // Skipping i exchanges of one side makes the other's next operation
                    // come next; the skip followed by the longer run of matches wins,
                    // then the shorter skip.
                    let best = |skipped: &VecDeque<Pending>, other: &VecDeque<Pending>| {
                        let target = &other[0].operation;
                        let i = skipped
                            .iter()
                            .take(WINDOW)
                            .position(|p| &p.operation == target)?;
                        let run = skipped
                            .iter()
                            .skip(i)
                            .zip(other.iter())
                            .take(WINDOW)
                            .take_while(|(x, y)| x.operation == y.operation)
                            .count();
                        Some((run, std::cmp::Reverse(i)))
                    };
                    match (best(qa, qb), best(qb, qa)) {
                        (Some(sa), Some(sb)) if sb > sa => Step::Only(Side::B),
                        (Some(_), _) => Step::Only(Side::A),
                        (None, Some(_)) => Step::Only(Side::B),
                        (None, None) => Step::Pair,
                    }
                }
            };
            match step {
                Step::Pair => {
                    if let (Some(a), Some(b)) = (qa.pop_front(), qb.pop_front()) {
                        out.push(Step::Paired(Box::new((a, b))));
                    }
                }
                Step::Only(side) => {
                    let q = if side == Side::A { qa } else { qb };
                    if let Some(p) = q.pop_front() {
                        out.push(Step::Alone(side, Box::new(p)));
                    }
                }
                Step::Paired(_) | Step::Alone(..) => {}
            }
        }
        if queues.iter().all(VecDeque::is_empty) {
            self.groups.remove(key);
        }
        for s in out {
            match s {
                Step::Paired(pair) => self.compare(&pair.0, &pair.1),
                Step::Alone(side, p) => self.report.diff.only_in.push(OnlyIn {
                    side: side.name(),
                    file: p.file,
                    client: p.label,
                    exchange: p.record.exchange.id,
                    operation: p.operation,
                }),
                Step::Pair | Step::Only(_) => {}
            }
        }
    }

    fn compare(&mut self, a: &Pending, b: &Pending) {
        let ds: Vec<Difference> =
            compare_paired(&a.record, &b.record, &a.label, &self.opts, &self.pairing);
        // What the servers minted in this answer pairs first-seen to first-seen, as a
        // replay learns it. Only `strict` compares volatile values, so only it keeps
        // the pairs (one per value minted: they grow with the recording).
        if self.opts.strict {
            self.pairing
                .borrow_mut()
                .learn(&Minted::of(&a.record), &Minted::of(&b.record));
        }
        self.report.exchanges += 1;
        if !ds.is_empty() {
            self.report.exchanges_differing += 1;
        }
        self.report.differences.extend(ds);
    }
}

enum Step {
    Pair,
    Only(Side),
    Paired(Box<(Pending, Pending)>),
    Alone(Side, Box<Pending>),
}

/// What an exchange does, independent of ids, times and paths: the method, the protocol
/// and its operation (cell storage: the subrequests with their request types).
fn operation(x: &DecodedRecord) -> String {
    let method = x
        .exchange
        .request
        .as_ref()
        .map_or("", |r| r.method.as_str());
    let what = match &x.decoded.model {
        ProtocolModel::Fsshttp(f) => f
            .request
            .iter()
            .flat_map(|r| r.sub_requests())
            .map(|(_, s)| diff::sub_operation(s))
            .collect::<Vec<_>>()
            .join(" + "),
        ProtocolModel::SpFileSync(s) => s
            .operation
            .as_ref()
            .map_or_else(|| "SPFileSync".to_owned(), |o| format!("{:?}", o.kind)),
        ProtocolModel::WebDav(w) => format!("WebDAV {:?}", w.kind),
        ProtocolModel::Http => String::new(),
    };
    format!("{method} {what}").trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Headers, Request, Response};

    fn get(id: u64, path: &str, status: u16) -> Exchange {
        let method = if path.ends_with('/') { "PUT" } else { "GET" };
        let request = Request::new(
            method,
            &format!("https://h/{path}"),
            Headers::default(),
            vec![],
        );
        let response = Response::new(status, Headers::default(), vec![]);
        Exchange {
            client_addr: "127.0.0.1:1".to_owned(),
            server: "h:443".to_owned(),
            ..Exchange::http(id, request, Some(response))
        }
    }

    /// A missing exchange in the middle of a group is reported as only in A, and the
    /// exchanges after it still pair with their counterparts.
    #[test]
    fn a_missing_exchange_does_not_shift_the_rest() {
        let mut r = Recordings::new("a", "b", DiffOptions::default());
        let ops = ["f", "f/", "f", "f/", "f"];
        for (i, p) in ops.iter().enumerate() {
            r.push(Side::A, get(i as u64 + 1, p, 200));
            if i != 1 {
                r.push(Side::B, get(i as u64 + 11, p, 200));
            }
        }
        let rep = r.finish();
        assert_eq!(rep.exchanges, 4);
        assert!(rep.differences.is_empty(), "{:?}", rep.differences);
        assert_eq!(rep.diff.only_in.len(), 1, "{:?}", rep.diff.only_in);
        assert_eq!(
            (rep.diff.only_in[0].side, rep.diff.only_in[0].exchange),
            ("A", 2)
        );
    }
}
