//! Bodies that rules hold or pace: [`Prefixed`] replays frames already read before the
//! rest of a body (a request body held for a rule, or a response body over the hold
//! cap), [`hold`] reads a body whole up to a cap, and [`Throttled`] paces a body to a
//! byte rate. Without rules, a request body is a `Prefixed` with nothing held: the wire
//! body itself, no allocation.

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt as _;

/// Most bytes of one body held for rules; a longer body is passed on unchanged.
pub(crate) const HOLD_CAP: usize = 64 << 20;

/// Frames read already, then the rest of the body.
pub(crate) struct Prefixed<B: HttpBody> {
    prefix: VecDeque<Bytes>,
    error: Option<B::Error>,
    rest: Option<B>,
}

impl<B: HttpBody> Prefixed<B> {
    /// The body as it comes.
    pub(crate) fn wire(body: B) -> Self {
        Self {
            prefix: VecDeque::new(),
            error: None,
            rest: Some(body),
        }
    }

    /// The wire body back, when nothing was read from it yet.
    pub(crate) fn into_wire(self) -> Result<B, Self> {
        match self {
            Self {
                prefix,
                error: None,
                rest: Some(rest),
            } if prefix.is_empty() => Ok(rest),
            other => Err(other),
        }
    }

    /// Bytes held whole.
    pub(crate) fn whole(bytes: Bytes) -> Self {
        Self {
            prefix: std::iter::once(bytes).filter(|b| !b.is_empty()).collect(),
            error: None,
            rest: None,
        }
    }
}

impl<B> HttpBody for Prefixed<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Some(b) = this.prefix.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if let Some(e) = this.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        match this.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_empty()
            && self.error.is_none()
            && self.rest.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let held: u64 = self.prefix.iter().map(|b| b.len() as u64).sum();
        match &self.rest {
            None => SizeHint::with_exact(held),
            Some(r) if held == 0 => r.size_hint(),
            Some(r) => {
                let mut h = SizeHint::new();
                h.set_lower(r.size_hint().lower() + held);
                h
            }
        }
    }
}

/// A body read for rules: whole, or not (over the cap, or it failed), then to be passed
/// on as it came.
pub(crate) enum Held<B: HttpBody> {
    /// The whole body.
    Whole(Bytes),
    /// What was read, and the rest (or the error that ended it).
    Partial(Prefixed<B>),
}

/// Reads `body` whole, up to `cap` bytes.
pub(crate) async fn hold<B>(mut body: B, cap: usize) -> Held<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    let mut frames = VecDeque::new();
    let mut len = 0;
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(f)) => {
                if let Ok(data) = f.into_data() {
                    len += data.len();
                    frames.push_back(data);
                }
                if len > cap {
                    return Held::Partial(Prefixed {
                        prefix: frames,
                        error: None,
                        rest: Some(body),
                    });
                }
            }
            Some(Err(e)) => {
                return Held::Partial(Prefixed {
                    prefix: frames,
                    error: Some(e),
                    rest: None,
                })
            }
        }
    }
    let mut all = bytes::BytesMut::with_capacity(len);
    for f in frames {
        all.extend_from_slice(&f);
    }
    Held::Whole(all.freeze())
}

/// A body sent at most `rate` bytes per second: frames are cut to a tenth of a second's
/// worth and each waits for its time.
pub(crate) struct Throttled<B> {
    inner: B,
    rate: u64,
    started: Option<tokio::time::Instant>,
    sent: u64,
    pending: Option<Bytes>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<B> Throttled<B> {
    pub(crate) fn new(inner: B, rate: u64) -> Self {
        Self {
            inner,
            rate: rate.max(1),
            started: None,
            sent: 0,
            pending: None,
            sleep: None,
        }
    }
}

impl<B> HttpBody for Throttled<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(s) = this.sleep.as_mut() {
                if s.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            if let Some(mut data) = this.pending.take() {
                let now = tokio::time::Instant::now();
                let started = *this.started.get_or_insert(now);
                // A piece may go once the bytes before it have had their time.
                let due = started + Duration::from_secs_f64(this.sent as f64 / this.rate as f64);
                if due > now {
                    this.pending = Some(data);
                    this.sleep = Some(Box::pin(tokio::time::sleep_until(due)));
                    continue;
                }
                let slice = usize::try_from((this.rate / 10).max(1)).unwrap_or(usize::MAX);
                let piece = if data.len() > slice {
                    let p = data.split_to(slice);
                    this.pending = Some(data);
                    p
                } else {
                    data
                };
                this.sent += piece.len() as u64;
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(f))) => match f.into_data() {
                    Ok(d) if d.is_empty() => {}
                    Ok(d) => this.pending = Some(d),
                    Err(f) => return Poll::Ready(Some(Ok(f))),
                },
                other => return other,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let mut h = self.inner.size_hint();
        let p = self.pending.as_ref().map_or(0, |p| p.len() as u64);
        h.set_lower(h.lower() + p);
        if let Some(u) = h.upper() {
            h.set_upper(u + p);
        }
        h
    }
}
