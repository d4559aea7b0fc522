//! Watching bodies as they stream, and turning what was seen into one capture record.
//!
//! [`TapBody`] wraps a hyper body and passes every frame on unchanged; on the side it
//! counts bytes, hashes them when the whole-body hash may be needed, and copies at most
//! `body_limit` bytes for the capture: inline while small, as chunk records once large.
//! [`Recorder`] holds the exchange being built; it is shared by the request body, the
//! response body and the forwarding task, and emits the record when the last of them is
//! dropped, i.e. when everything about the exchange is over. Nothing here waits: chunk
//! records that the writer cannot take are dropped and the body is marked truncated.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use super::error::Fault;
use super::head::SharedWindow;
use super::shape::{content_length, headers_of};
use crate::capture::format::{Chunk, Record, Side, INLINE_LIMIT};
use crate::capture::CaptureSink;
use crate::model::{Body, Exchange};
use crate::net::error_chain;
use http::Response;
use hyper::body::Incoming;

/// Size of the chunk records written for large bodies.
const CHUNK_RECORD: usize = 256 << 10;

/// The exchange under construction, emitted when dropped.
#[derive(Debug)]
pub(crate) struct Recorder {
    sink: CaptureSink,
    started: Instant,
    exchange: Mutex<Exchange>,
    live: Option<tokio::sync::broadcast::Sender<Arc<Exchange>>>,
    /// Why the client broke the exchange (its request body failed), if it did.
    client_fault: Mutex<Option<String>>,
}

impl Recorder {
    /// Starts recording `exchange`; `started` is the zero of its timings.
    pub(crate) fn new(
        sink: CaptureSink,
        exchange: Exchange,
        started: Instant,
        live: Option<tokio::sync::broadcast::Sender<Arc<Exchange>>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            sink,
            started,
            exchange: Mutex::new(exchange),
            live,
            client_fault: Mutex::new(None),
        })
    }

    /// Milliseconds since the exchange started.
    pub(crate) fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// Changes the exchange under construction.
    pub(crate) fn update(&self, f: impl FnOnce(&mut Exchange)) {
        if let Ok(mut x) = self.exchange.lock() {
            f(&mut x);
        }
    }

    /// A copy of the exchange so far (for rules, which decode it).
    pub(crate) fn snapshot(&self) -> Option<Exchange> {
        self.exchange.lock().ok().map(|x| x.clone())
    }

    /// The exchange id.
    pub(crate) fn id(&self) -> u64 {
        self.exchange.lock().map(|x| x.id).unwrap_or(0)
    }

    /// The sink, for chunk records.
    pub(crate) fn sink(&self) -> &CaptureSink {
        &self.sink
    }

    /// Records that `fault`'s side broke the exchange, unless an error is recorded
    /// already. The exchange error reads `client: ...` or `upstream: ...`.
    pub(crate) fn fail(&self, fault: Fault, what: &str) {
        let text = fault.blame(what);
        tracing::debug!(error = %text, "exchange failed");
        if fault == Fault::Client {
            if let Ok(mut f) = self.client_fault.lock() {
                f.get_or_insert_with(|| text.clone());
            }
        }
        self.update(|x| {
            x.error.get_or_insert(text);
        });
    }

    /// Why the client broke the exchange, if it did: what the proxy then answers and
    /// records instead of blaming the upstream.
    pub(crate) fn client_fault(&self) -> Option<String> {
        self.client_fault.lock().ok()?.clone()
    }
}

/// Errors whose whole chain of causes goes into the record.
pub(crate) trait ErrorText {
    /// The error and its causes, `: `-joined.
    fn text(&self) -> String;
}

impl ErrorText for hyper::Error {
    fn text(&self) -> String {
        error_chain(self)
    }
}

impl ErrorText for Box<dyn std::error::Error + Send + Sync> {
    fn text(&self) -> String {
        error_chain(self.as_ref())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let done = self.elapsed_ms();
        let Ok(mut x) = self.exchange.lock() else {
            return;
        };
        if x.timings.done_ms.is_none() {
            x.timings.done_ms = Some(done);
        }
        let x = std::mem::replace(
            &mut *x,
            Exchange {
                id: 0,
                kind: crate::model::ExchangeKind::Http,
                connection_id: 0,
                client_addr: String::new(),
                mode: crate::model::ProxyMode::Other,
                tls: None,
                server: String::new(),
                http_version: String::new(),
                request: None,
                response: None,
                tunnel: None,
                timings: crate::model::Timings::default(),
                error: None,
                imported: None,
                modified: None,
            },
        );
        let mut x = x;
        fill_originals(&mut x);
        tracing::debug!(
            exchange = x.id,
            status = x.response.as_ref().map(|r| r.status),
            error = x.error.as_deref(),
            "exchange recorded"
        );
        if let Some(live) = &self.live {
            // No subscriber is fine; a slow one loses old entries, never blocks us.
            let _ = live.send(Arc::new(x.clone()));
        }
        self.sink.try_send(Record::Exchange(Box::new(x)), 0);
    }
}

/// A rule that changed only a head leaves the original's body empty: it is the body
/// recorded (when stored inline; a chunked body is described by its length alone).
fn fill_originals(x: &mut Exchange) {
    let Some(m) = x.modified.as_mut() else {
        return;
    };
    let same = |o: &mut Body, b: &Body| {
        if *o != Body::default() {
            return;
        }
        *o = if b.chunked {
            Body {
                len: b.len,
                truncated: b.len > 0,
                sha256: b.sha256.clone(),
                ..Body::default()
            }
        } else {
            b.clone()
        };
    };
    if let (Some(o), Some(q)) = (m.original_request.as_mut(), x.request.as_ref()) {
        same(&mut o.body, &q.body);
    }
    if let (Some(o), Some(r)) = (m.original_response.as_mut(), x.response.as_ref()) {
        same(&mut o.body, &r.body);
    }
}

/// Per-body capture policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TapPolicy {
    /// At most this many bytes are stored per body.
    pub body_limit: u64,
    /// Whether the whole-body SHA-256 is computed (needed when the body may exceed the
    /// limit).
    pub hash: bool,
}

/// A body passed through unchanged while its bytes are counted, hashed and copied.
pub(crate) struct TapBody<B: HttpBody> {
    inner: B,
    state: Option<TapState>,
}

struct TapState {
    rec: Arc<Recorder>,
    side: Side,
    policy: TapPolicy,
    len: u64,
    stored: u64,
    inline: Vec<u8>,
    chunked: bool,
    pending: Vec<u8>,
    chunk_offset: u64,
    dropped: bool,
    hasher: Option<ring::digest::Context>,
}

impl<B: HttpBody> TapBody<B> {
    /// Wraps `inner`, recording into `rec` as `side`.
    pub(crate) fn new(inner: B, rec: Arc<Recorder>, side: Side, policy: TapPolicy) -> Self {
        Self {
            inner,
            state: Some(TapState {
                rec,
                side,
                policy,
                len: 0,
                stored: 0,
                inline: Vec::new(),
                chunked: false,
                pending: Vec::new(),
                chunk_offset: 0,
                dropped: false,
                hasher: policy
                    .hash
                    .then(|| ring::digest::Context::new(&ring::digest::SHA256)),
            }),
        }
    }
}

impl TapState {
    fn observe(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        if let Some(h) = self.hasher.as_mut() {
            h.update(data);
        }
        let room = self.policy.body_limit.saturating_sub(self.stored);
        if room == 0 || self.dropped {
            return;
        }
        let take = &data[..data.len().min(usize::try_from(room).unwrap_or(usize::MAX))];
        self.stored += take.len() as u64;
        if !self.chunked && self.inline.len() + take.len() <= INLINE_LIMIT {
            self.inline.extend_from_slice(take);
            return;
        }
        if !self.chunked {
            self.chunked = true;
            self.pending = std::mem::take(&mut self.inline);
        }
        self.pending.extend_from_slice(take);
        if self.pending.len() >= CHUNK_RECORD {
            self.flush_chunk();
        }
    }

    fn flush_chunk(&mut self) {
        if self.pending.is_empty() || self.dropped {
            return;
        }
        let bytes = std::mem::take(&mut self.pending);
        let n = bytes.len();
        let chunk = Chunk {
            exchange: self.rec.id(),
            side: self.side,
            offset: self.chunk_offset,
            base64: bytes,
        };
        if self.rec.sink().try_send(Record::Chunk(chunk), n) {
            self.chunk_offset += n as u64;
        } else {
            // The writer is behind: stop copying this body; what was written stays.
            self.dropped = true;
            self.stored = self.chunk_offset;
        }
    }

    fn finish(&mut self, complete: bool, error: Option<(Option<Fault>, String)>) {
        if self.chunked {
            self.flush_chunk();
        }
        let truncated = self.stored < self.len || self.dropped;
        let sha256 = if truncated {
            self.hasher
                .take()
                .filter(|_| complete)
                .map(|h| crate::util::hex(h.finish().as_ref()))
        } else {
            None
        };
        let body = Body {
            bytes: std::mem::take(&mut self.inline),
            len: self.len,
            truncated,
            sha256,
            incomplete: !complete,
            stored: self.stored,
            chunked: self.chunked,
        };
        let side = self.side;
        let at = self.rec.elapsed_ms();
        self.rec.update(|x| match side {
            Side::Request => {
                if let Some(r) = x.request.as_mut() {
                    r.body = body;
                }
                if complete {
                    x.timings.request_sent_ms = Some(at);
                }
            }
            Side::Response => {
                if let Some(r) = x.response.as_mut() {
                    r.body = body;
                }
                x.timings.done_ms = Some(at);
            }
        });
        match error {
            Some((Some(fault), e)) => self.rec.fail(fault, &e),
            Some((None, e)) => self.rec.update(|x| {
                x.error.get_or_insert(e);
            }),
            None => {}
        }
    }
}

impl<B> HttpBody for TapBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: ErrorText,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let res = Pin::new(&mut this.inner).poll_frame(cx);
        match &res {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(st)) = (frame.data_ref(), this.state.as_mut()) {
                    st.observe(data);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(mut st) = this.state.take() {
                    let (fault, what) = match st.side {
                        Side::Request => (Fault::Client, "request body failed"),
                        Side::Response => (Fault::Upstream, "response body failed"),
                    };
                    st.finish(false, Some((Some(fault), format!("{what}: {}", e.text()))));
                }
            }
            Poll::Ready(None) => {
                if let Some(mut st) = this.state.take() {
                    st.finish(true, None);
                }
            }
            Poll::Pending => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: HttpBody> Drop for TapBody<B> {
    fn drop(&mut self) {
        if let Some(mut st) = self.state.take() {
            if self.inner.is_end_stream() {
                st.finish(true, None);
                return;
            }
            // A response body dropped before its end: the client went away or stopped
            // reading. A request body dropped early: the upstream answered (or failed)
            // before reading it all, which is no one's fault by itself.
            let err = match st.side {
                Side::Request => {
                    (st.len > 0).then(|| (None, "request body was not completely read".to_owned()))
                }
                Side::Response => Some((
                    Some(Fault::Client),
                    "response body was not completely delivered to the client".to_owned(),
                )),
            };
            st.finish(false, err);
        }
    }
}

/// How much of a body with these headers the capture stores, and whether it is hashed.
pub(crate) fn policy(ctx: &super::ctx::ConnCtx, headers: &http::HeaderMap) -> TapPolicy {
    let limit = ctx.shared.config.body_limit;
    TapPolicy {
        body_limit: limit,
        hash: content_length(headers).is_none_or(|n| n > limit),
    }
}

/// Records the response head as the server sent it.
pub(super) fn record_response(
    rec: &Recorder,
    resp: &Response<Incoming>,
    upstream_head: Option<SharedWindow>,
) {
    let first_byte = rec.elapsed_ms();
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| resp.status().canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    let status = resp.status().as_u16();
    let headers = upstream_head
        .and_then(|w| w.lock().ok()?.response_headers(status))
        .unwrap_or_else(|| headers_of(resp.headers()));
    tracing::debug!(status, "response head from upstream");
    rec.update(|x| {
        x.timings.first_response_byte_ms = Some(first_byte);
        x.response = Some(crate::model::Response {
            status,
            reason,
            headers,
            body: Body::default(),
        });
    });
}
