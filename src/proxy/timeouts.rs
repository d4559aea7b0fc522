//! Timeouts: how long the proxy waits for each side before it gives up.
//!
//! Upstream: connecting (TCP, TLS and HTTP handshakes), the response head after the
//! request has been sent, and each gap in the response body. Client: a request head
//! (from the first byte, or from the accept for a new connection), and a keep-alive
//! connection with nothing in flight, or one whose client stopped reading.
//!
//! Only waiting counts. A body that the other side does not read (backpressure) does not
//! run its sender's clock, and an exchange in flight keeps its client connection open, so
//! Office's long polls (SPFileSync subscriptions and coauthoring refreshes hold a request
//! for tens of seconds to minutes) work under the defaults. The connection-level watchdog
//! lives in [`ClientActivity`]; the exchange-level ones in [`await_response`] (response
//! head) and [`IdleBody`] (response body).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::Timeout;

/// A boxed error, the error type of bodies sent to clients.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The proxy's timeouts (see the `synctap proxy` flags of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect plus TLS and HTTP handshakes with the upstream. Default 15 s.
    pub upstream_connect: Duration,
    /// From the end of the request body to the response head. Default 5 min (long polls).
    pub upstream_response: Duration,
    /// Longest gap between two pieces of a response body. Default 5 min.
    pub upstream_idle: Duration,
    /// From the first byte of a request head (or the accept, or the TLS handshake's
    /// start) until the head is complete. Default 30 s.
    pub client_header: Duration,
    /// A client connection with nothing in flight, a request body that stops, or a client
    /// that stops reading its response. Default 5 min.
    pub client_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            upstream_connect: Duration::from_secs(15),
            upstream_response: Duration::from_secs(300),
            upstream_idle: Duration::from_secs(300),
            client_header: Duration::from_secs(30),
            client_idle: Duration::from_secs(300),
        }
    }
}

/// What a client connection is doing, for its watchdog.
#[derive(Debug)]
pub(crate) struct ClientActivity {
    state: Mutex<ActivityState>,
}

#[derive(Debug)]
struct ActivityState {
    in_flight: usize,
    last: Instant,
    /// When the head now being read started (the accept for a new connection).
    head_started: Option<Instant>,
    /// Whether any byte arrived since `head_started`.
    head_bytes: bool,
    /// Since when a write to the client has been waiting.
    write_blocked: Option<Instant>,
}

/// Why a client connection's watchdog closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// A request head did not complete in time; `bytes` tells whether any arrived.
    Header { bytes: bool },
    /// Nothing in flight for the idle timeout.
    Idle,
    /// The client did not read what it was sent for the idle timeout.
    WriteStalled,
}

impl Expiry {
    /// A sentence for the capture and the log.
    pub(crate) fn describe(self, t: &Timeouts) -> String {
        match self {
            Self::Header { .. } => format!(
                "timed out: request head not complete within {}s (--client-header-timeout)",
                t.client_header.as_secs_f64()
            ),
            Self::Idle => format!(
                "idle for {}s with no request (--client-idle-timeout)",
                t.client_idle.as_secs_f64()
            ),
            Self::WriteStalled => format!(
                "timed out: the client read nothing for {}s (--client-idle-timeout)",
                t.client_idle.as_secs_f64()
            ),
        }
    }
}

impl ClientActivity {
    /// A new connection: its first head is being waited for.
    pub(crate) fn new() -> Arc<Self> {
        let now = Instant::now();
        Arc::new(Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                last: now,
                head_started: Some(now),
                head_bytes: false,
                write_blocked: None,
            }),
        })
    }

    /// A request head is complete: an exchange is in flight until the guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        if let Ok(mut s) = self.state.lock() {
            s.in_flight += 1;
            s.head_started = None;
            s.head_bytes = false;
        }
        InFlight(Arc::clone(self))
    }

    /// When the watchdog must look again: what expires next, but no later than the
    /// shortest client timeout from now, since a new state (a head begun, a write
    /// blocked) can start at any moment.
    pub(crate) fn wake_at(&self, t: &Timeouts) -> Instant {
        let (at, _) = self.deadline(t);
        at.min(Instant::now() + t.client_header.min(t.client_idle))
    }

    /// When the current state expires, and what expires then.
    fn deadline(&self, t: &Timeouts) -> (Instant, Option<Expiry>) {
        let now = Instant::now();
        let Ok(s) = self.state.lock() else {
            return (now + t.client_idle, None);
        };
        if let Some(w) = s.write_blocked {
            (w + t.client_idle, Some(Expiry::WriteStalled))
        } else if s.in_flight > 0 {
            // The exchange's own timeouts watch it; look again later.
            (now + t.client_header.min(t.client_idle), None)
        } else if let Some(h) = s.head_started {
            (
                h + t.client_header,
                Some(Expiry::Header {
                    bytes: s.head_bytes,
                }),
            )
        } else {
            (s.last + t.client_idle, Some(Expiry::Idle))
        }
    }

    /// What expired by now, if anything.
    pub(crate) fn expired(&self, t: &Timeouts) -> Option<Expiry> {
        let (at, what) = self.deadline(t);
        what.filter(|_| Instant::now() >= at)
    }

    fn read(&self) {
        if let Ok(mut s) = self.state.lock() {
            let now = Instant::now();
            s.last = now;
            if s.in_flight == 0 {
                s.head_started.get_or_insert(now);
                s.head_bytes = true;
            }
        }
    }

    fn write(&self, blocked: bool) {
        if let Ok(mut s) = self.state.lock() {
            let s = &mut *s;
            mark(&mut s.write_blocked, &mut s.last, blocked);
        }
    }
}

/// Notes a poll's outcome: `waiting` keeps the time the wait began; progress ends the
/// wait and is the new `last`.
fn mark(since: &mut Option<Instant>, last: &mut Instant, waiting: bool) {
    if waiting {
        since.get_or_insert_with(Instant::now);
    } else {
        *since = None;
        *last = Instant::now();
    }
}

/// Keeps an exchange counted as in flight on its client connection.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<ClientActivity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.last = Instant::now();
        }
    }
}

/// A client IO that reports reads and blocked writes to its [`ClientActivity`].
#[derive(Debug)]
pub(crate) struct ActivityIo<T> {
    inner: T,
    activity: Arc<ClientActivity>,
}

impl<T> ActivityIo<T> {
    pub(crate) fn new(inner: T, activity: Arc<ClientActivity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ActivityIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let filled = buf.filled().len();
        std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if buf.filled().len() > filled {
            self.activity.read();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ActivityIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.write(res.is_pending());
        res
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let res = Pin::new(&mut self.inner).poll_flush(cx);
        self.activity.write(res.is_pending());
        res
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.write(res.is_pending());
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// How far the request body has got, for [`await_response`].
#[derive(Debug)]
pub(crate) struct Progress {
    state: Mutex<ProgressState>,
}

#[derive(Debug)]
struct ProgressState {
    /// The last body frame, or the end of the body.
    last: Instant,
    /// Since when the body has been waiting for the client (polled, nothing there).
    waiting: Option<Instant>,
}

impl Progress {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(ProgressState {
                last: Instant::now(),
                waiting: None,
            }),
        })
    }

    /// When the wait for the response gives up, and whom it blames then.
    fn deadline(&self, t: &Timeouts) -> (Instant, Timeout) {
        match self.state.lock() {
            Ok(s) => match s.waiting {
                Some(w) => (w + t.client_idle, Timeout::ClientBody(t.client_idle)),
                None => (
                    s.last + t.upstream_response,
                    Timeout::UpstreamResponse(t.upstream_response),
                ),
            },
            Err(_) => (
                Instant::now() + t.upstream_response,
                Timeout::UpstreamResponse(t.upstream_response),
            ),
        }
    }

    fn frame(&self, pending: bool) {
        if let Ok(mut s) = self.state.lock() {
            let s = &mut *s;
            mark(&mut s.waiting, &mut s.last, pending);
        }
    }
}

/// A request body that reports its progress.
#[derive(Debug)]
pub(crate) struct ProgressBody<B> {
    inner: B,
    progress: Arc<Progress>,
}

impl<B> ProgressBody<B> {
    pub(crate) fn new(inner: B, progress: Arc<Progress>) -> Self {
        Self { inner, progress }
    }
}

impl<B: HttpBody + Unpin> HttpBody for ProgressBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let res = Pin::new(&mut self.inner).poll_frame(cx);
        self.progress.frame(res.is_pending());
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Waits for the response head: gives up when the client stops sending the request body
/// for the client idle timeout, or when the upstream sends no head for the response
/// timeout after the body's last progress.
///
/// # Errors
/// The [`Timeout`] that expired.
pub(crate) async fn await_response<F: Future>(
    fut: F,
    progress: &Progress,
    t: &Timeouts,
) -> Result<F::Output, Timeout> {
    tokio::pin!(fut);
    loop {
        // The body may start waiting for the client at any moment, and that deadline is
        // at least `client_idle` away: looking again that often is enough.
        let (at, _) = progress.deadline(t);
        let at = at.min(Instant::now() + t.client_idle);
        tokio::select! {
            out = &mut fut => return Ok(out),
            () = tokio::time::sleep_until(at.into()) => {
                let (at, what) = progress.deadline(t);
                if Instant::now() >= at {
                    return Err(what);
                }
            }
        }
    }
}

/// A response body that fails with [`Timeout::UpstreamIdle`] when the upstream sends
/// nothing for `idle` while the client is waiting for more. It also holds the exchange's
/// [`InFlight`] guard until the body is over.
pub(crate) struct IdleBody<B> {
    inner: B,
    idle: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    _in_flight: Option<InFlight>,
}

impl<B> IdleBody<B> {
    pub(crate) fn new(inner: B, idle: Duration, in_flight: Option<InFlight>) -> Self {
        Self {
            inner,
            idle,
            sleep: None,
            _in_flight: in_flight,
        }
    }
}

impl<B> HttpBody for IdleBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                this.sleep = None;
                Poll::Ready(r.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                if sleep.as_mut().poll(cx).is_ready() {
                    this.sleep = None;
                    return Poll::Ready(Some(Err(Box::new(Timeout::UpstreamIdle(idle)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
