//! The UI's intercept (`synctap proxy --ui`, keys `i` and `I`): a request matching the
//! request filter stops before it goes upstream, a response matching the response
//! filter before it goes to the client, until the UI lets it go (perhaps edited), kills
//! it, or `--intercept-timeout` passes.
//!
//! The proxy owns every paused exchange: [`Intercept`] keeps one oneshot sender per
//! paused exchange, and the forwarding task of that exchange waits on the receiver. The
//! UI only sends [`InterceptCmd`]s over a channel ([`Intercept::serve`]) and receives
//! [`InterceptNotice`]s; it never touches a socket. With no filter set, forwarding reads
//! one atomic flag ([`Intercept::active`]) and nothing else. Bodies are held whole with
//! the rules' [`hold`] up to [`HOLD_CAP`]; a longer body is not paused, and the UI is
//! told so. Filters that need decoding are decided on a blocking thread, never on the
//! forwarding task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderValue, Method, Response, StatusCode};
use http_body::Body as HttpBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::oneshot;

use super::error::Reset;
use super::held::{hold, Held, Prefixed, HOLD_CAP};
use super::respond::RespBody;
use super::rules::run_blocking;
use super::shape::header_map;
use super::tap::Recorder;
use super::timeouts::BoxError;
use crate::decode::exchange::decode_recorded;
use crate::filter::{Facts, Filter, Known};
use crate::model::{
    Body, Edited, Exchange, InterceptCmd, InterceptNotice, InterceptSide, Intercepted,
};

/// What the UI decided for one paused exchange.
#[derive(Debug)]
enum Verdict {
    Go(Option<Edited>),
    Kill,
}

/// How a pause ended.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// Let go, edited or not.
    Go(Option<Edited>),
    /// Killed in the UI.
    Kill,
    /// Held longer than the timeout: goes on unchanged.
    TimedOut,
}

/// The intercept filters and the paused exchanges of one proxy.
pub(crate) struct Intercept {
    /// Whether any filter is set: the one thing forwarding reads when none is.
    on: AtomicBool,
    /// The request and response filters.
    filters: RwLock<[Option<Arc<Filter>>; 2]>,
    paused: Mutex<HashMap<u64, oneshot::Sender<Verdict>>>,
    notices: std::sync::mpsc::Sender<InterceptNotice>,
    timeout: Duration,
}

fn slot(side: InterceptSide) -> usize {
    match side {
        InterceptSide::Request => 0,
        InterceptSide::Response => 1,
    }
}

impl Intercept {
    /// An intercept with no filter set that tells the UI on `notices`.
    pub(crate) fn new(
        timeout: Duration,
        notices: std::sync::mpsc::Sender<InterceptNotice>,
    ) -> Self {
        Self {
            on: AtomicBool::new(false),
            filters: RwLock::new([None, None]),
            paused: Mutex::new(HashMap::new()),
            notices,
            timeout,
        }
    }

    /// Whether a filter is set (one relaxed atomic load).
    pub(crate) fn active(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// The filter for `side`, when one is set.
    pub(crate) fn filter(&self, side: InterceptSide) -> Option<Arc<Filter>> {
        self.filters.read().ok()?[slot(side)].clone()
    }

    /// Applies commands from the UI until the channel closes.
    pub(crate) fn serve(
        self: Arc<Self>,
        mut commands: tokio::sync::mpsc::UnboundedReceiver<InterceptCmd>,
    ) {
        tokio::spawn(async move {
            while let Some(c) = commands.recv().await {
                self.command(c);
            }
            // The UI is gone: nothing can let the paused exchanges go but this.
            self.command(InterceptCmd::Filter(InterceptSide::Request, None));
            self.command(InterceptCmd::Filter(InterceptSide::Response, None));
            self.command(InterceptCmd::ReleaseAll);
        });
    }

    /// Applies one command from the UI.
    pub(crate) fn command(&self, c: InterceptCmd) {
        match c {
            InterceptCmd::Filter(side, text) => {
                let f = match text.as_deref().map(Filter::parse) {
                    None => None,
                    Some(Ok(f)) => Some(Arc::new(f)),
                    Some(Err(e)) => {
                        tracing::warn!("intercept filter refused: {e}");
                        None
                    }
                };
                if let Ok(mut g) = self.filters.write() {
                    g[slot(side)] = f;
                    self.on
                        .store(g.iter().any(Option::is_some), Ordering::Relaxed);
                }
            }
            InterceptCmd::Release(id, edit) => self.decide(id, Verdict::Go(edit)),
            InterceptCmd::Kill(id) => self.decide(id, Verdict::Kill),
            InterceptCmd::ReleaseAll => {
                let all: Vec<_> = self
                    .paused
                    .lock()
                    .map(|mut m| m.drain().collect())
                    .unwrap_or_default();
                for (_, tx) in all {
                    let _ = tx.send(Verdict::Go(None));
                }
            }
        }
    }

    fn decide(&self, id: u64, v: Verdict) {
        let tx = self.paused.lock().ok().and_then(|mut m| m.remove(&id));
        match tx {
            Some(tx) => {
                let _ = tx.send(v);
            }
            None => self.tell(InterceptNotice::Ended(id, "no longer paused".into())),
        }
    }

    fn tell(&self, n: InterceptNotice) {
        let _ = self.notices.send(n);
    }

    /// How many exchanges are paused now.
    #[cfg(test)]
    pub(crate) fn paused(&self) -> usize {
        self.paused.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Pauses `x` (its `side` message whole) until the UI decides or the timeout
    /// passes. Dropping the future (the client went away) drops the pause cleanly and
    /// tells the UI.
    pub(crate) async fn pause(&self, side: InterceptSide, x: Exchange) -> Outcome {
        let id = x.id;
        let (tx, rx) = oneshot::channel();
        if let Ok(mut m) = self.paused.lock() {
            m.insert(id, tx);
        }
        let mut pending = Pending {
            ic: self,
            id,
            over: false,
        };
        self.tell(InterceptNotice::Paused(side, Box::new(x)));
        let out = tokio::select! {
            v = rx => match v {
                Ok(Verdict::Go(e)) => Outcome::Go(e),
                Ok(Verdict::Kill) => Outcome::Kill,
                Err(_) => Outcome::Go(None),
            },
            () = tokio::time::sleep(self.timeout) => Outcome::TimedOut,
        };
        pending.over = true;
        if let Ok(mut m) = self.paused.lock() {
            m.remove(&id);
        }
        let why = match &out {
            Outcome::Go(None) => "let go",
            Outcome::Go(Some(_)) => "let go, edited",
            Outcome::Kill => "killed",
            Outcome::TimedOut => "timed out: went on unchanged",
        };
        self.tell(InterceptNotice::Ended(id, why.into()));
        out
    }
}

/// One pause in progress; dropped before it is over when the client went away.
struct Pending<'a> {
    ic: &'a Intercept,
    id: u64,
    over: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.over {
            return;
        }
        if let Ok(mut m) = self.ic.paused.lock() {
            m.remove(&self.id);
        }
        self.ic.tell(InterceptNotice::Ended(
            self.id,
            "client gone: dropped".into(),
        ));
    }
}

/// What the head alone decides of `f` (`None`: the bodies are needed).
fn decide_head(f: &Filter, x: &Exchange, status: Option<u16>) -> Option<bool> {
    let facts = Facts {
        method: x.request.as_ref().map(|q| q.method.as_str().into()),
        url: x.request.as_ref().map(|q| q.url.as_str().into()),
        status,
        connection_id: x.connection_id,
        ..Facts::default()
    };
    let known = Known {
        status: status.is_some(),
        ..Known::default()
    };
    f.decide(&facts, known, &mut |_| false)
}

/// Whether `f` matches `x`, decoded on a blocking thread (a decoder failure: no).
async fn matches(f: Arc<Filter>, x: Exchange) -> bool {
    run_blocking(move || {
        let d = decode_recorded(&x);
        f.matches(&x, &d)
    })
    .await
    .unwrap_or(false)
}

/// Records how the pause went.
fn record(rec: &Recorder, side: InterceptSide, out: &Outcome) {
    let i = Intercepted {
        side,
        edited: matches!(out, Outcome::Go(Some(_))),
        timed_out: *out == Outcome::TimedOut,
        killed: *out == Outcome::Kill,
    };
    let killed = i.killed;
    rec.update(|x| {
        x.modified.get_or_insert_with(Default::default).intercept = Some(i);
        if killed {
            x.error = Some("killed in the UI's intercept".into());
        }
    });
}

/// A held body over the cap is not paused: the UI says so.
fn not_paused(ic: &Intercept, rec: &Recorder) {
    ic.tell(InterceptNotice::NotPaused(
        rec.id(),
        format!(
            "body over the {} MiB hold cap: not intercepted",
            HOLD_CAP >> 20
        ),
    ));
}

/// The request's way on after the intercept.
pub(super) enum Going {
    /// Forward this body (held whole when it was looked at).
    Go(Prefixed<Incoming>, Option<Bytes>),
    /// Killed: answer 502.
    Kill,
}

/// Pauses the request when it matches the request filter; applies an edit to `parts`
/// (and `path`, the request-target).
pub(super) async fn request(
    ic: &Intercept,
    parts: &mut http::request::Parts,
    path: &mut String,
    body: Prefixed<Incoming>,
    held: Option<Bytes>,
    rec: &Arc<Recorder>,
) -> Going {
    let (Some(f), Some(mut x)) = (ic.filter(InterceptSide::Request), rec.snapshot()) else {
        return Going::Go(body, held);
    };
    let head = decide_head(&f, &x, None);
    if head == Some(false) {
        return Going::Go(body, held);
    }
    let bytes = match (held, body.into_wire()) {
        (Some(b), _) => b,
        (None, Err(body)) => return Going::Go(body, None),
        (None, Ok(wire)) => match hold(wire, HOLD_CAP).await {
            Held::Whole(b) => b,
            Held::Partial(p) => {
                not_paused(ic, rec);
                return Going::Go(p, None);
            }
        },
    };
    if let Some(q) = x.request.as_mut() {
        q.body = Body::complete(bytes.to_vec());
    }
    if head.is_none() && !matches(Arc::clone(&f), x.clone()).await {
        return Going::Go(Prefixed::whole(bytes.clone()), Some(bytes));
    }
    let original = x.request.clone();
    let out = ic.pause(InterceptSide::Request, x).await;
    record(rec, InterceptSide::Request, &out);
    match out {
        Outcome::Kill => Going::Kill,
        Outcome::Go(Some(Edited::Request(q))) => {
            if let Ok(m) = Method::from_bytes(q.method.as_bytes()) {
                parts.method = m;
            }
            *path = path_of(&q.url);
            parts.headers = header_map(&q.headers);
            let body = Bytes::from(q.body.bytes);
            set_length(&mut parts.headers, &parts.method, body.len());
            let headers = super::shape::headers_of(&parts.headers);
            rec.update(|x| {
                let m = x.modified.get_or_insert_with(Default::default);
                m.original_request = original;
                if let Some(r) = x.request.as_mut() {
                    r.method = parts.method.to_string();
                    if let Some((origin, _)) = split_origin(&r.url) {
                        r.url = format!("{origin}{path}");
                    }
                    r.headers = headers;
                }
            });
            Going::Go(Prefixed::whole(body.clone()), Some(body))
        }
        Outcome::Go(_) | Outcome::TimedOut => {
            Going::Go(Prefixed::whole(bytes.clone()), Some(bytes))
        }
    }
}

/// Content-Length for a body sent whole (none for an empty GET-like request).
fn set_length(h: &mut http::HeaderMap, method: &Method, len: usize) {
    h.remove(TRANSFER_ENCODING);
    if len == 0 && (method == Method::GET || method == Method::HEAD) {
        h.remove(CONTENT_LENGTH);
    } else {
        h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
}

/// `scheme://authority` and the rest of an absolute URL.
fn split_origin(url: &str) -> Option<(&str, &str)> {
    let after = url.find("://")? + 3;
    let slash = url[after..].find('/').map_or(url.len(), |i| after + i);
    Some((&url[..slash], &url[slash..]))
}

/// The request-target of an edited URL: its path and query when absolute, else as is.
fn path_of(url: &str) -> String {
    let p = split_origin(url).map_or(url, |(_, p)| p);
    if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    }
}

/// Pauses the response when it matches the response filter; applies an edit. A killed
/// response closes the client connection.
pub(super) async fn response<B>(
    ic: &Intercept,
    resp: Response<B>,
    held_request: Option<&Bytes>,
    rec: &Arc<Recorder>,
) -> Result<Response<RespBody>, Reset>
where
    B: HttpBody<Data = Bytes, Error = BoxError> + Send + Sync + Unpin + 'static,
{
    let (Some(f), Some(mut x)) = (ic.filter(InterceptSide::Response), rec.snapshot()) else {
        return Ok(resp.map(BodyExt::boxed));
    };
    let head = decide_head(&f, &x, Some(resp.status().as_u16()));
    if head == Some(false) {
        return Ok(resp.map(BodyExt::boxed));
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match hold(body, HOLD_CAP).await {
        Held::Whole(b) => b,
        Held::Partial(p) => {
            not_paused(ic, rec);
            return Ok(Response::from_parts(parts, p.boxed()));
        }
    };
    if let (Some(q), Some(b)) = (x.request.as_mut(), held_request) {
        q.body = Body::complete(b.to_vec());
    }
    if let Some(r) = x.response.as_mut() {
        r.body = Body::complete(bytes.to_vec());
    }
    if head.is_none() && !matches(Arc::clone(&f), x.clone()).await {
        return Ok(Response::from_parts(parts, whole(bytes)));
    }
    let original = x.response.clone();
    let out = ic.pause(InterceptSide::Response, x).await;
    record(rec, InterceptSide::Response, &out);
    match out {
        Outcome::Kill => Err(Reset),
        Outcome::Go(Some(Edited::Response(r))) => {
            parts.status = StatusCode::from_u16(r.status).unwrap_or(parts.status);
            parts.headers = header_map(&r.headers);
            let body = Bytes::from(r.body.bytes.clone());
            parts.headers.remove(TRANSFER_ENCODING);
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            let headers = super::shape::headers_of(&parts.headers);
            let status = parts.status;
            rec.update(|x| {
                let m = x.modified.get_or_insert_with(Default::default);
                m.original_response = original;
                if let Some(resp) = x.response.as_mut() {
                    resp.status = status.as_u16();
                    resp.reason = if r.reason.is_empty() {
                        status.canonical_reason().unwrap_or_default().to_owned()
                    } else {
                        r.reason.clone()
                    };
                    resp.headers = headers;
                }
            });
            Ok(Response::from_parts(parts, whole(body)))
        }
        Outcome::Go(_) | Outcome::TimedOut => Ok(Response::from_parts(parts, whole(bytes))),
    }
}

fn whole(b: Bytes) -> RespBody {
    crate::proxy::respond::full(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(id: u64) -> Exchange {
        let request = crate::model::Request::new(
            "POST",
            "https://example.test/a",
            crate::model::Headers::default(),
            Vec::new(),
        );
        let mut x = Exchange::http(id, request, None);
        x.client_addr = "127.0.0.1:1".to_owned();
        x.mode = crate::model::ProxyMode::Reverse;
        x.server = "example.test:443".to_owned();
        x
    }

    /// Pauses exchange `id` on its own task.
    fn spawn_pause(
        ic: &Arc<Intercept>,
        side: InterceptSide,
        id: u64,
    ) -> tokio::task::JoinHandle<Outcome> {
        let ic = Arc::clone(ic);
        tokio::spawn(async move { ic.pause(side, exchange(id)).await })
    }

    fn intercept(
        timeout: Duration,
    ) -> (Arc<Intercept>, std::sync::mpsc::Receiver<InterceptNotice>) {
        let (tx, rx) = std::sync::mpsc::channel();
        (Arc::new(Intercept::new(timeout, tx)), rx)
    }

    /// Waits until `n` exchanges are paused.
    async fn until_paused(ic: &Intercept, n: usize) {
        while ic.paused() != n {
            tokio::task::yield_now().await;
        }
    }

    fn ended(rx: &std::sync::mpsc::Receiver<InterceptNotice>) -> Vec<(u64, String)> {
        rx.try_iter()
            .filter_map(|n| match n {
                InterceptNotice::Ended(id, why) => Some((id, why)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_flag_follows_the_filters() {
        let (ic, _rx) = intercept(Duration::from_secs(1));
        assert!(!ic.active());
        ic.command(InterceptCmd::Filter(
            InterceptSide::Response,
            Some("~c 500".into()),
        ));
        assert!(ic.active());
        assert!(ic.filter(InterceptSide::Request).is_none());
        assert!(ic.filter(InterceptSide::Response).is_some());
        ic.command(InterceptCmd::Filter(InterceptSide::Response, None));
        assert!(!ic.active());
    }

    #[tokio::test]
    async fn release_with_an_edit_and_kill() {
        let (ic, rx) = intercept(Duration::from_secs(300));
        let a = spawn_pause(&ic, InterceptSide::Request, 1);
        until_paused(&ic, 1).await;
        let b = spawn_pause(&ic, InterceptSide::Response, 2);
        until_paused(&ic, 2).await;
        let paused: Vec<u64> = rx
            .try_iter()
            .filter_map(|n| match n {
                InterceptNotice::Paused(_, x) => Some(x.id),
                _ => None,
            })
            .collect();
        assert_eq!(paused, [1, 2]);
        let mut q = exchange(1).request.unwrap_or_else(|| unreachable!());
        q.method = "PUT".into();
        ic.command(InterceptCmd::Release(1, Some(Edited::Request(q.clone()))));
        ic.command(InterceptCmd::Kill(2));
        assert_eq!(a.await.ok(), Some(Outcome::Go(Some(Edited::Request(q)))));
        assert_eq!(b.await.ok(), Some(Outcome::Kill));
        assert_eq!(
            ended(&rx),
            [(1, "let go, edited".to_owned()), (2, "killed".to_owned())]
        );
        // A command for an exchange no longer paused says so.
        ic.command(InterceptCmd::Kill(2));
        assert_eq!(ended(&rx), [(2, "no longer paused".to_owned())]);
    }

    #[tokio::test]
    async fn release_all_lets_every_paused_exchange_go() {
        let (ic, rx) = intercept(Duration::from_secs(300));
        let tasks: Vec<_> = (1..=3)
            .map(|id| spawn_pause(&ic, InterceptSide::Request, id))
            .collect();
        until_paused(&ic, 3).await;
        ic.command(InterceptCmd::ReleaseAll);
        for t in tasks {
            assert_eq!(t.await.ok(), Some(Outcome::Go(None)));
        }
        assert_eq!(ic.paused(), 0);
        assert_eq!(ended(&rx).len(), 3);
    }

    #[tokio::test]
    async fn a_pause_times_out_and_goes_on_unchanged() {
        // Nobody lets it go: the timeout does (the other tests' 300 s never passes).
        let (ic, rx) = intercept(Duration::from_millis(20));
        let t = spawn_pause(&ic, InterceptSide::Request, 7);
        assert_eq!(t.await.ok(), Some(Outcome::TimedOut));
        assert_eq!(ic.paused(), 0);
        assert_eq!(ended(&rx), [(7, "timed out: went on unchanged".to_owned())]);
    }

    #[tokio::test]
    async fn a_client_gone_drops_its_pause() {
        let (ic, rx) = intercept(Duration::from_secs(300));
        let t = spawn_pause(&ic, InterceptSide::Response, 9);
        until_paused(&ic, 1).await;
        // The connection's task is dropped, as hyper drops it when the client closes.
        t.abort();
        assert!(t.await.is_err_and(|e| e.is_cancelled()));
        assert_eq!(ic.paused(), 0);
        assert_eq!(ended(&rx), [(9, "client gone: dropped".to_owned())]);
    }

    #[tokio::test]
    async fn the_ui_going_away_lets_everything_go() {
        let (ic, _rx) = intercept(Duration::from_secs(300));
        let (tx, commands) = tokio::sync::mpsc::unbounded_channel();
        Arc::clone(&ic).serve(commands);
        tx.send(InterceptCmd::Filter(
            InterceptSide::Request,
            Some("~m POST".into()),
        ))
        .ok();
        let t = spawn_pause(&ic, InterceptSide::Request, 3);
        until_paused(&ic, 1).await;
        assert!(ic.active());
        drop(tx);
        assert_eq!(t.await.ok(), Some(Outcome::Go(None)));
        assert!(!ic.active());
    }

    #[test]
    fn head_decisions_and_edited_targets() {
        let x = exchange(1);
        let f = |s: &str| Filter::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decide_head(&f("~m GET"), &x, None), Some(false));
        assert_eq!(decide_head(&f("~m POST"), &x, None), Some(true));
        assert_eq!(decide_head(&f("~t PutChanges"), &x, None), None);
        assert_eq!(decide_head(&f("~c 200"), &x, Some(500)), Some(false));
        assert_eq!(path_of("https://h.test:8443/x/y?z=1"), "/x/y?z=1");
        assert_eq!(path_of("/only?q"), "/only?q");
        assert_eq!(path_of("https://h.test"), "/");
    }
}
