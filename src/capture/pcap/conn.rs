//! One TCP connection of a packet capture, turned into exchanges: HTTP/1.x requests and
//! responses paired in order (keep-alive, pipelining, `100 Continue`), or one tunnel
//! record for a TLS connection (with the SNI of its ClientHello).

use std::collections::VecDeque;

use super::tcp::{Piece, Reassembler};
use super::tls::{client_hello, Hello};
use crate::capture::http1::{self, BodyDecoder, BodyStore, Head};
use crate::capture::import::{authority_with_port, ImportReport};
use crate::model::{
    Exchange, ExchangeKind, Imported, ProxyMode, Request, Response, Timings, TlsInfo, TunnelInfo,
};

/// Most bytes of out-of-order segments buffered per direction.
pub const REASSEMBLY_LIMIT: usize = 4 << 20;
/// Most bytes of a ClientHello (or of the first bytes) looked at to tell TLS from HTTP.
const SNIFF_LIMIT: usize = 64 << 10;
/// Bytes kept while looking for the next message start after a gap.
const RESYNC_TAIL: usize = 8 << 10;

/// Shared by every connection of one import: where exchanges go and the counters.
pub struct Emit<'a, 'b> {
    /// The sink.
    pub sink: &'a mut crate::capture::import::Sink<'b>,
    /// The report.
    pub report: &'a mut ImportReport,
    /// The next exchange id.
    pub next_id: u64,
    /// Body bytes that may still be stored across all connections.
    pub budget: u64,
    /// Most bytes stored per body.
    pub body_limit: u64,
    /// The format name for [`Imported`].
    pub format: &'static str,
    /// The first sink error; once set, nothing more is written.
    pub error: Option<std::io::Error>,
}

impl Emit<'_, '_> {
    fn send(&mut self, x: Exchange) {
        if self.error.is_some() {
            return;
        }
        let stored = x.request.as_ref().map_or(0, |r| r.body.bytes.len())
            + x.response.as_ref().map_or(0, |r| r.body.bytes.len());
        self.budget += stored as u64;
        self.report.exchanges += 1;
        if let Err(e) = (self.sink)(x) {
            self.error = Some(e);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unknown,
    Http,
    Tls,
    Other,
}

/// A request or response parser's state.
#[derive(Debug)]
enum Parse {
    /// Reading a head; the bytes so far and the time its first byte came.
    Head(Vec<u8>, Option<i64>),
    /// Reading a body into the pending exchange with this sequence number.
    Body(BodyDecoder, u64),
    /// Out of step after a gap: looking for the next message start.
    Lost(Vec<u8>),
    /// Not HTTP any more (after `101 Switching Protocols` or a CONNECT): bytes counted.
    Raw,
}

/// An exchange being assembled.
#[derive(Debug)]
struct Pending {
    seq: u64,
    id: u64,
    start: i64,
    packet: u64,
    request: Option<(Head, String)>,
    req_body: BodyStore,
    req_done: bool,
    req_complete: bool,
    req_sent: Option<i64>,
    response: Option<Head>,
    resp_body: Option<BodyStore>,
    resp_done: bool,
    resp_complete: bool,
    first_byte: Option<i64>,
    done: Option<i64>,
    problems: Vec<String>,
}

/// One TCP connection.
pub struct Conn {
    /// The connection id.
    pub id: u64,
    client: String,
    server: String,
    /// Capture time (ns) of the first packet, and of the last.
    pub first_ts: i64,
    /// Capture time (ns) of the last packet.
    pub last_ts: i64,
    first_packet: u64,
    syn_ts: Option<i64>,
    connect_ms: Option<f64>,
    /// Client-to-server and server-to-client reassembly.
    pub up: Reassembler,
    /// Server-to-client reassembly.
    pub down: Reassembler,
    /// FINs seen (client, server) and a reset.
    pub fin: (bool, bool),
    /// A RST was seen.
    pub reset: bool,
    kind: Kind,
    sniff: Vec<u8>,
    sni: Option<String>,
    alpn: Vec<String>,
    bytes: (u64, u64),
    req: Parse,
    resp: Parse,
    queue: VecDeque<Pending>,
    next_seq: u64,
    first_exchange: bool,
    lost_bytes: (u64, u64),
    /// The response stream lost its place in a gap: the next response's pairing with
    /// the oldest unanswered request is a guess, and says so.
    resp_resynced: bool,
}

impl Conn {
    /// A connection from `client` to `server` (`ip:port`), first seen at `ts`.
    pub fn new(id: u64, client: String, server: String, ts: i64, packet: u64) -> Self {
        Self {
            id,
            client,
            server,
            first_ts: ts,
            last_ts: ts,
            first_packet: packet,
            syn_ts: None,
            connect_ms: None,
            up: Reassembler::new(REASSEMBLY_LIMIT),
            down: Reassembler::new(REASSEMBLY_LIMIT),
            fin: (false, false),
            reset: false,
            kind: Kind::Unknown,
            sniff: Vec::new(),
            sni: None,
            alpn: Vec::new(),
            bytes: (0, 0),
            req: Parse::Head(Vec::new(), None),
            resp: Parse::Head(Vec::new(), None),
            queue: VecDeque::new(),
            next_seq: 0,
            first_exchange: true,
            lost_bytes: (0, 0),
            resp_resynced: false,
        }
    }

    /// The client's SYN at `ts`.
    pub fn syn(&mut self, ts: i64) {
        self.syn_ts.get_or_insert(ts);
    }

    /// The server's SYN-ACK at `ts`: the connect time is known.
    pub fn syn_ack(&mut self, ts: i64) {
        if let (Some(s), None) = (self.syn_ts, self.connect_ms) {
            self.connect_ms = Some((ts - s) as f64 / 1e6);
        }
    }

    /// A segment from the client (`up`) or the server, at capture time `ts`.
    #[allow(clippy::too_many_arguments)]
    pub fn segment(
        &mut self,
        up: bool,
        seq: u32,
        data: &[u8],
        cut: u64,
        ts: i64,
        packet: u64,
        emit: &mut Emit<'_, '_>,
    ) {
        self.last_ts = ts;
        let mut pieces: Vec<(bool, Option<Vec<u8>>, u64)> = Vec::new();
        let r = if up { &mut self.up } else { &mut self.down };
        r.segment(seq, data, cut, &mut |p| match p {
            Piece::Data(d) => pieces.push((up, Some(d.to_vec()), d.len() as u64)),
            Piece::Gap(n) => pieces.push((up, None, n)),
        });
        for (up, data, n) in pieces {
            self.piece(up, data.as_deref(), n, ts, packet, emit);
        }
    }

    /// The connection is over (FIN both ways, RST, or the capture ended): delivers what
    /// reassembly still holds, ends what is in flight and emits everything.
    pub fn finish(mut self, emit: &mut Emit<'_, '_>) {
        let ts = self.last_ts;
        for up in [true, false] {
            let mut pieces: Vec<(Option<Vec<u8>>, u64)> = Vec::new();
            let r = if up { &mut self.up } else { &mut self.down };
            r.finish(&mut |p| match p {
                Piece::Data(d) => pieces.push((Some(d.to_vec()), d.len() as u64)),
                Piece::Gap(n) => pieces.push((None, n)),
            });
            for (data, n) in pieces {
                self.piece(up, data.as_deref(), n, ts, self.first_packet, emit);
            }
        }
        for s in [&self.up.stats, &self.down.stats] {
            if s.gaps > 0 {
                emit.report.problem(
                    "TCP gaps (bytes missing from the capture), marked on their exchanges",
                );
            }
        }
        match self.kind {
            Kind::Tls => self.emit_tunnel(emit),
            Kind::Other => {
                emit.report
                    .skip("TCP connections that are neither HTTP/1.x nor TLS (not recorded)");
            }
            Kind::Unknown => emit.report.skip("TCP connections that carried no data"),
            Kind::Http => self.end_http(emit),
        }
    }

    fn emit_tunnel(&mut self, emit: &mut Emit<'_, '_>) {
        if self.sni.is_none() {
            emit.report
                .note("TLS connections whose ClientHello could not be read (tunnel without SNI)");
        }
        emit.report.note(
            "TLS connections recorded as tunnels with their SNI (encrypted: their HTTP cannot be read)",
        );
        let port = self.server.rsplit_once(':').map_or("443", |(_, p)| p);
        let server = self
            .sni
            .as_ref()
            .map_or_else(|| self.server.clone(), |s| format!("{s}:{port}"));
        let id = emit.next_id;
        emit.next_id += 1;
        let x = Exchange {
            id,
            kind: ExchangeKind::Tunnel,
            connection_id: self.id,
            client_addr: self.client.clone(),
            mode: ProxyMode::Other,
            tls: Some(TlsInfo {
                sni: self.sni.clone(),
                alpn: None,
                version: None,
            }),
            server,
            http_version: String::new(),
            request: None,
            response: None,
            tunnel: Some(TunnelInfo {
                bytes_up: self.bytes.0,
                bytes_down: self.bytes.1,
            }),
            timings: Timings {
                start: rfc3339_ns(self.first_ts),
                connect_ms: self.connect_ms,
                done_ms: Some(ms(self.first_ts, self.last_ts)),
                ..Timings::default()
            },
            error: (self.up.stats.gaps + self.down.stats.gaps > 0).then(|| {
                "capture gap: bytes of this connection are missing from the capture".into()
            }),
            imported: Some(Imported {
                format: emit.format.into(),
                number: Some(self.first_packet),
                ..Imported::default()
            }),
            modified: None,
        };
        emit.send(x);
    }

    /// One piece of a direction's stream: bytes, or a gap of `n` bytes.
    fn piece(
        &mut self,
        up: bool,
        data: Option<&[u8]>,
        n: u64,
        ts: i64,
        packet: u64,
        emit: &mut Emit<'_, '_>,
    ) {
        if up {
            self.bytes.0 += n;
        } else {
            self.bytes.1 += n;
        }
        if self.kind == Kind::Unknown {
            match data {
                None => {
                    // A gap before anything was read: nothing tells what this is.
                    self.kind = Kind::Other;
                    return;
                }
                Some(d) if up => {
                    self.sniff.extend_from_slice(&d[..d.len().min(SNIFF_LIMIT)]);
                    match client_hello(&self.sniff) {
                        Hello::NeedMore if self.sniff.len() < SNIFF_LIMIT => return,
                        Hello::ClientHello { sni, alpn } => {
                            self.sni = sni;
                            self.alpn = alpn;
                            self.kind = Kind::Tls;
                            return;
                        }
                        Hello::NeedMore | Hello::Unreadable => {
                            self.kind = Kind::Tls;
                            return;
                        }
                        Hello::NotTls => {
                            self.kind = if http1::looks_like_request(&self.sniff) {
                                Kind::Http
                            } else {
                                Kind::Other
                            };
                            let buffered = std::mem::take(&mut self.sniff);
                            if self.kind == Kind::Http {
                                self.message_bytes(true, &buffered, ts, packet, emit);
                            }
                            return;
                        }
                    }
                }
                Some(d) => {
                    self.kind = if http1::looks_like_response(d) {
                        Kind::Http
                    } else if d.first() == Some(&0x16) {
                        Kind::Tls
                    } else {
                        Kind::Other
                    };
                }
            }
        }
        if self.kind != Kind::Http {
            return;
        }
        match (up, data) {
            (true, Some(d)) => self.message_bytes(true, d, ts, packet, emit),
            (false, Some(d)) => self.message_bytes(false, d, ts, packet, emit),
            (true, None) => self.gap(true, n),
            (false, None) => self.gap(false, n),
        }
        self.flush_ready(emit);
    }

    fn pending_mut(&mut self, seq: u64) -> Option<&mut Pending> {
        self.queue.iter_mut().find(|p| p.seq == seq)
    }

    /// Reads the bytes of one direction (`request`: client to server) in step: heads,
    /// then bodies, looking for the next message after a gap.
    fn message_bytes(
        &mut self,
        request: bool,
        mut d: &[u8],
        ts: i64,
        packet: u64,
        emit: &mut Emit<'_, '_>,
    ) {
        while !d.is_empty() {
            let (state, lost) = if request {
                (&mut self.req, &mut self.lost_bytes.0)
            } else {
                (&mut self.resp, &mut self.lost_bytes.1)
            };
            if let Parse::Body(..) = state {
                match self.body_bytes(request, d, ts, emit) {
                    Some(used) => d = &d[used..],
                    None => return,
                }
                continue;
            }
            match read_head(state, d, ts, request, lost, emit.report) {
                HeadRead::Stop => return,
                HeadRead::Resynced(rest) => {
                    self.message_bytes(request, &rest, ts, packet, emit);
                    return;
                }
                HeadRead::Unreadable { used } => d = &d[used..],
                HeadRead::Head {
                    head,
                    started,
                    used,
                } => {
                    d = &d[used..];
                    if request {
                        self.request_head(head, started, ts, packet, emit);
                    } else if !self.response_head(head, started, ts, emit) {
                        return;
                    }
                }
            }
        }
    }

    /// A new pending exchange, numbered next, whose first byte came at `started` in
    /// packet `packet`.
    fn new_pending(&mut self, started: i64, packet: u64, emit: &mut Emit<'_, '_>) -> Pending {
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = emit.next_id;
        emit.next_id += 1;
        Pending::new(seq, id, started, packet, emit.body_limit)
    }

    /// A request head: a new pending exchange, and its body next unless it has none.
    fn request_head(
        &mut self,
        head: Head,
        started: i64,
        ts: i64,
        packet: u64,
        emit: &mut Emit<'_, '_>,
    ) {
        let framing = http1::request_framing(&head.headers);
        let url = request_url(&head);
        let mut p = self.new_pending(started, packet, emit);
        p.problems.extend(head.problems.iter().cloned());
        p.request = Some((head, url));
        self.req = p.body_next(true, framing, ts);
        self.queue.push_back(p);
    }

    /// A response head: paired with the oldest unanswered request (or one standing in for
    /// a request lost), its body next. `false` when the connection leaves HTTP.
    fn response_head(
        &mut self,
        head: Head,
        started: i64,
        ts: i64,
        emit: &mut Emit<'_, '_>,
    ) -> bool {
        let status = head.status().unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            // Interim (100 Continue): the final response follows.
            self.resp = Parse::Head(Vec::new(), None);
            return true;
        }
        let resynced = std::mem::take(&mut self.resp_resynced);
        let seq = match self.queue.iter().find(|p| p.response.is_none()) {
            Some(p) => p.seq,
            None => {
                let mut p = self.new_pending(started, self.first_packet, emit);
                let seq = p.seq;
                p.req_done = true;
                p.problems.push("response without its request in the capture (lost in a gap, or the capture started mid-connection)".into());
                emit.report
                    .problem("responses without their request in the capture");
                self.queue.push_back(p);
                seq
            }
        };
        let limit = emit.body_limit;
        let Some(p) = self.pending_mut(seq) else {
            return false;
        };
        let method = p.request.as_ref().map(|(h, _)| h.first.clone());
        let framing = http1::response_framing(&head.headers, status, method.as_deref());
        let upgrade = status == 101
            || (method
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"))
                && (200..300).contains(&status));
        p.problems.extend(head.problems.iter().cloned());
        if resynced {
            p.problems.push("response found after a capture gap: paired with the oldest unanswered request, which may be wrong".into());
        }
        p.first_byte = Some(started);
        p.response = Some(head);
        p.resp_body = Some(BodyStore::new(limit));
        self.resp = p.body_next(false, framing, ts);
        if upgrade {
            emit.report.note("connections switched away from HTTP (101 or CONNECT): the bytes after it are not read");
            self.resp = Parse::Raw;
            self.req = Parse::Raw;
            if let Some(p) = self.pending_mut(seq) {
                p.req_done = true;
                p.req_complete = p.req_complete || p.req_body.is_empty();
            }
            return false;
        }
        true
    }

    /// Feeds `d` to the body being read in one direction: how many bytes it took, or
    /// `None` when reading stops (a broken chunked body, or its exchange is gone).
    fn body_bytes(
        &mut self,
        request: bool,
        d: &[u8],
        ts: i64,
        emit: &mut Emit<'_, '_>,
    ) -> Option<usize> {
        let state = if request {
            &mut self.req
        } else {
            &mut self.resp
        };
        let Parse::Body(dec, seq) = state else {
            return None;
        };
        let seq = *seq;
        let Some(p) = self.queue.iter_mut().find(|p| p.seq == seq) else {
            *state = Parse::Lost(Vec::new());
            return None;
        };
        let store = if request {
            &mut p.req_body
        } else {
            p.resp_body.get_or_insert_with(|| BodyStore::new(0))
        };
        let res = dec.feed(d, &mut |b| store.push(b, &mut emit.budget));
        if !request {
            // The response lasts until its last byte, complete or not.
            p.done = Some(ts);
        }
        match res {
            Ok(used) => {
                if dec.is_done() {
                    p.body_complete(request, ts);
                    *state = Parse::Head(Vec::new(), None);
                }
                Some(used)
            }
            Err(e) => {
                let side = if request {
                    p.req_done = true;
                    "request"
                } else {
                    p.resp_done = true;
                    "response"
                };
                p.problems.push(format!("{side} body: {e}"));
                emit.report.problem(format!("broken chunked {side} bodies"));
                *state = Parse::Lost(Vec::new());
                None
            }
        }
    }

    /// `n` bytes of one direction (`request`: client to server) missing from the capture.
    fn gap(&mut self, request: bool, n: u64) {
        let (state, lost) = if request {
            (&mut self.req, &mut self.lost_bytes.0)
        } else {
            (&mut self.resp, &mut self.lost_bytes.1)
        };
        match state {
            Parse::Body(dec, seq) => {
                let seq = *seq;
                let in_step = dec.skip(n);
                let done = dec.is_done();
                if let Some(p) = self.queue.iter_mut().find(|p| p.seq == seq) {
                    p.body_gap(request, n, done || !in_step);
                }
                if in_step {
                    if done {
                        *state = Parse::Head(Vec::new(), None);
                    }
                    return;
                }
            }
            Parse::Head(buf, _) => *lost += buf.len() as u64,
            Parse::Lost(_) | Parse::Raw => return,
        }
        // Out of step: look for the next message start.
        *state = Parse::Lost(Vec::new());
        if !request {
            self.resp_resynced = true;
        }
    }

    /// Emits the exchanges at the front of the queue that are over.
    fn flush_ready(&mut self, emit: &mut Emit<'_, '_>) {
        while self
            .queue
            .front()
            .is_some_and(|p| p.req_done && p.resp_done)
        {
            if let Some(p) = self.queue.pop_front() {
                let x = self.exchange(p, emit);
                emit.send(x);
            }
        }
    }

    /// The end of an HTTP connection: what is in flight ends here.
    fn end_http(&mut self, emit: &mut Emit<'_, '_>) {
        let closed_by_server = self.fin.1 && !self.reset;
        let how = if self.reset {
            "the connection was reset"
        } else if self.fin.0 || self.fin.1 {
            "the connection closed"
        } else {
            "the capture ended"
        };
        if let Parse::Head(buf, _) = &self.req {
            if !buf.is_empty() {
                emit.report
                    .skip(format!("request heads cut short ({how} inside them)"));
            }
        }
        if let Parse::Body(_, seq) = self.req {
            if let Some(p) = self.pending_mut(seq) {
                p.req_done = true;
                p.problems.push(format!("{how} mid-request-body"));
            }
        }
        if let Parse::Head(buf, _) = &self.resp {
            if !buf.is_empty() {
                let n = buf.len();
                if let Some(p) = self.queue.iter_mut().find(|p| p.response.is_none()) {
                    p.problems
                        .push(format!("{how} inside the response head ({n} bytes)"));
                }
            }
        }
        if let Parse::Body(dec, seq) = &self.resp {
            let (until_close, seq) = (dec.ends_at_close(), *seq);
            if let Some(p) = self.pending_mut(seq) {
                p.resp_done = true;
                if until_close && closed_by_server {
                    p.resp_complete = true;
                } else {
                    p.problems
                        .push(format!("{how} mid-response-body (incomplete)"));
                }
            }
        }
        if self.lost_bytes.0 + self.lost_bytes.1 > 0 {
            emit.report
                .problem("bytes skipped after gaps while looking for the next message");
        }
        while let Some(mut p) = self.queue.pop_front() {
            p.req_done = true;
            if p.response.is_none() {
                p.problems
                    .push(format!("no response in the capture ({how} first)"));
            }
            p.resp_done = true;
            let x = self.exchange(p, emit);
            emit.send(x);
        }
    }

    fn exchange(&mut self, p: Pending, emit: &mut Emit<'_, '_>) -> Exchange {
        let start = p.start;
        let (request, http_version, server) = match p.request {
            Some((head, url)) => {
                let server = if head.headers.get("host").is_some() || url.contains("://") {
                    authority_with_port(&url)
                } else {
                    self.server.clone()
                };
                let version = head.third.clone();
                (
                    Some(Request {
                        method: head.first,
                        url,
                        headers: head.headers,
                        body: p.req_body.finish(p.req_complete),
                    }),
                    version,
                    server,
                )
            }
            None => (None, "HTTP/1.1".to_owned(), self.server.clone()),
        };
        let response = p.response.map(|head| Response {
            status: head.status().unwrap_or(0),
            reason: head.third,
            headers: head.headers,
            body: p
                .resp_body
                .unwrap_or_else(|| BodyStore::new(0))
                .finish(p.resp_complete),
        });
        if !p.problems.is_empty() {
            emit.report.problem(
                "exchanges imported with problems (gaps, cut bodies), named in their error",
            );
        }
        let connect_ms = if self.first_exchange {
            self.connect_ms
        } else {
            None
        };
        self.first_exchange = false;
        Exchange {
            id: p.id,
            kind: ExchangeKind::Http,
            connection_id: self.id,
            client_addr: self.client.clone(),
            mode: ProxyMode::Other,
            tls: None,
            server,
            http_version,
            request,
            response,
            tunnel: None,
            timings: Timings {
                start: rfc3339_ns(start),
                connect_ms,
                tls_ms: None,
                request_sent_ms: p.req_sent.map(|t| ms(start, t)),
                first_response_byte_ms: p.first_byte.map(|t| ms(start, t)),
                done_ms: p.done.map(|t| ms(start, t)),
            },
            error: (!p.problems.is_empty()).then(|| p.problems.join("; ")),
            imported: Some(Imported {
                format: emit.format.into(),
                number: Some(p.packet),
                ..Imported::default()
            }),
            modified: None,
        }
    }
}

impl Pending {
    /// `n` bytes of the request's (or the response's) body missing from the capture;
    /// `over` when the body ends with them.
    fn body_gap(&mut self, request: bool, n: u64, over: bool) {
        let (side, store, done) = if request {
            ("request", Some(&mut self.req_body), &mut self.req_done)
        } else {
            ("response", self.resp_body.as_mut(), &mut self.resp_done)
        };
        if let Some(s) = store {
            s.gap(n);
        }
        self.problems
            .push(format!("capture gap: {n} bytes of the {side} body missing"));
        if over {
            *done = true;
        }
    }

    /// What reads the request (or the response) next once its head came at `ts`: its
    /// body, unless `framing` says it has none.
    fn body_next(&mut self, request: bool, framing: http1::Framing, ts: i64) -> Parse {
        let dec = BodyDecoder::new(framing);
        if dec.is_done() {
            self.body_complete(request, ts);
            Parse::Head(Vec::new(), None)
        } else {
            Parse::Body(dec, self.seq)
        }
    }

    /// The request's (or the response's) body ended complete at `ts`.
    fn body_complete(&mut self, request: bool, ts: i64) {
        if request {
            self.req_done = true;
            self.req_complete = true;
            self.req_sent = Some(ts);
        } else {
            self.resp_done = true;
            self.resp_complete = true;
            self.done = Some(ts);
        }
    }

    fn new(seq: u64, id: u64, start: i64, packet: u64, limit: u64) -> Self {
        Self {
            seq,
            id,
            start,
            packet,
            request: None,
            req_body: BodyStore::new(limit),
            req_done: false,
            req_complete: false,
            req_sent: None,
            response: None,
            resp_body: None,
            resp_done: false,
            resp_complete: false,
            first_byte: None,
            done: None,
            problems: Vec::new(),
        }
    }
}

/// The URL of a request seen on the wire (plain HTTP): absolute form as sent, origin
/// form joined to `Host`.
fn request_url(head: &Head) -> String {
    let t = head.second.as_str();
    let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return t.to_owned();
    }
    format!("http://{}{t}", head.headers.get("host").unwrap_or(""))
}

/// Where the next message starts in `buf` (a line start that reads as a request line
/// ending in `HTTP/1.x`, or a status line), if anywhere.
fn resync(buf: &[u8], request: bool) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = memchr::memchr(b'\n', &buf[at..]).map(|i| at + i)?;
        let line = &buf[at..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let ok = if request {
            http1::looks_like_request(line)
                && line.len() > 9
                && line[line.len() - 9..].starts_with(b" HTTP/1.")
        } else {
            line.starts_with(b"HTTP/1.")
                && line.len() >= 12
                && line[9..12].iter().all(u8::is_ascii_digit)
        };
        if ok {
            return Some(at);
        }
        at = line_end + 1;
    }
}

/// What [`read_head`] made of a direction's bytes.
enum HeadRead {
    /// Nothing more to do with these bytes: raw, still lost, or a head not complete yet.
    Stop,
    /// In step again after a gap: these bytes start a message and are read again.
    Resynced(Vec<u8>),
    /// A head that does not parse (reported); its `used` bytes of the input are passed.
    Unreadable { used: usize },
    /// A parsed head, when its first byte came, and how many bytes of the input were its.
    Head {
        head: Head,
        started: i64,
        used: usize,
    },
}

/// The steps both directions take before a message's body: passing raw bytes, looking
/// for the next message start after a gap, collecting and parsing a head. `state` is
/// not `Parse::Body` (the caller reads bodies); on `Head` it is an empty `Parse::Head`
/// for the caller to move on.
fn read_head(
    state: &mut Parse,
    d: &[u8],
    ts: i64,
    request: bool,
    lost: &mut u64,
    report: &mut ImportReport,
) -> HeadRead {
    let (buf, started) = match state {
        Parse::Raw | Parse::Body(..) => return HeadRead::Stop,
        Parse::Lost(buf) => {
            if let Some(rest) = lost_step(buf, d, request, lost) {
                *state = Parse::Head(Vec::new(), Some(ts));
                return HeadRead::Resynced(rest);
            }
            return HeadRead::Stop;
        }
        Parse::Head(buf, started) => (buf, *started.get_or_insert(ts)),
    };
    let (end, used) = match head_step(buf, d, request) {
        HeadStep::Found { end, used } => (end, used),
        HeadStep::Wait => return HeadRead::Stop,
        HeadStep::TooBig => {
            if request {
                report.skip("requests whose head is over 256 KiB");
            } else {
                report.problem("responses whose head is over 256 KiB");
            }
            *state = Parse::Lost(Vec::new());
            return HeadRead::Stop;
        }
        HeadStep::NotHttp => {
            *state = Parse::Lost(std::mem::take(buf));
            return HeadRead::Stop;
        }
    };
    let parsed = if request {
        http1::parse_request_head(&buf[..end])
    } else {
        http1::parse_response_head(&buf[..end])
    };
    match parsed {
        Ok(head) => {
            *state = Parse::Head(Vec::new(), None);
            HeadRead::Head {
                head,
                started,
                used,
            }
        }
        Err(e) => {
            let side = if request { "request" } else { "response" };
            report.problem(format!(
                "unreadable {side} heads skipped ({})",
                first_words(&e)
            ));
            *state = Parse::Lost(Vec::new());
            HeadRead::Unreadable { used }
        }
    }
}

/// Adds `d` to the bytes of a side that lost its place; when a message start shows up,
/// what follows it (to parse again) and the bytes before it counted in `lost`.
fn lost_step(buf: &mut Vec<u8>, d: &[u8], request: bool, lost: &mut u64) -> Option<Vec<u8>> {
    buf.extend_from_slice(d);
    match resync(buf, request) {
        Some(at) => {
            *lost += at as u64;
            Some(buf.split_off(at))
        }
        None => {
            trim_tail(buf, lost);
            None
        }
    }
}

/// What adding bytes to a message head being collected gave.
enum HeadStep {
    /// The head ends at `end` in the buffer; `used` bytes of the new data were part of it.
    Found { end: usize, used: usize },
    /// Not complete yet.
    Wait,
    /// Over [`http1::MAX_HEAD`] without its end.
    TooBig,
    /// Does not start like an HTTP/1.x message of this side.
    NotHttp,
}

fn head_step(buf: &mut Vec<u8>, d: &[u8], request: bool) -> HeadStep {
    let before = buf.len();
    buf.extend_from_slice(d);
    match http1::find_head_end(buf) {
        Some((end, body_at)) => HeadStep::Found {
            end,
            used: body_at.saturating_sub(before).min(d.len()),
        },
        None if buf.len() > http1::MAX_HEAD => HeadStep::TooBig,
        None if !(if request {
            http1::looks_like_request(buf)
        } else {
            http1::looks_like_response(buf)
        }) =>
        {
            HeadStep::NotHttp
        }
        None => HeadStep::Wait,
    }
}

fn trim_tail(buf: &mut Vec<u8>, lost: &mut u64) {
    if buf.len() > RESYNC_TAIL {
        let cut = buf.len() - RESYNC_TAIL;
        *lost += cut as u64;
        buf.drain(..cut);
    }
}

fn first_words(s: &str) -> String {
    s.split(':').next().unwrap_or(s).to_owned()
}

fn ms(from: i64, to: i64) -> f64 {
    (to - from).max(0) as f64 / 1e6
}

/// Capture time (ns since the epoch) as RFC 3339 UTC.
pub fn rfc3339_ns(ns: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .map_or_else(|_| "1970-01-01T00:00:00Z".to_owned(), crate::util::rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resync_finds_the_next_message_start() {
        assert_eq!(
            resync(b"garbage\r\nmore\r\nPOST /x HTTP/1.1\r\nHost: a\r\n", true),
            Some(15)
        );
        assert_eq!(resync(b"xx\nHTTP/1.1 200 OK\r\n", false), Some(3));
        assert_eq!(resync(b"xx\nHTTP/1.1 2", false), None);
        assert_eq!(resync(b"no line end", true), None);
    }
}
