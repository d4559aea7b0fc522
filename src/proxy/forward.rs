//! Forwarding one request upstream on the connection's own upstream connection, and
//! streaming the response back, with both bodies tapped for the capture.
//!
//! [`forward`] reads as its steps: find the target, start the record, send the request
//! ([`Leg::send`]: take the upstream connection, shape the head, wrap the body), wait
//! for the response head ([`Leg::response_head`]), then shape the response and wrap its
//! body ([`Leg::respond`]). A step that fails returns a [`Failed`], which
//! [`Failed::answer`] turns into the error response and the record's error.

use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderValue, HOST};
use http::{HeaderMap, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::ctx::ConnCtx;
use super::error::{Fault, Reset, Timeout, UpstreamError};
use super::head::SharedWindow;
use super::held::Prefixed;
use super::intercept::{self, Going};
use super::respond::{error_response, simple, RespBody};
use super::ruled::{request_rules, respond_ruled, Ruled, RuledResponse, Way};
use super::rules::Plan;
use super::shape::{
    headers_of, request_head, rewrite_request_urls, rewrite_response_urls, strip_hop_by_hop,
    version_str,
};
use super::tap::{policy, record_response, Recorder, TapBody};
use super::timeouts::{await_response, IdleBody, InFlight, Progress, ProgressBody};
use super::upstream::{connect_upstream, Dial, ResponseFuture, Upstream};
use crate::capture::format::Side;
use crate::model::{Body, ExchangeKind, ProxyMode};
use crate::net::{error_chain, route, Target};

/// Forwards one request and returns the response to send to the client, or [`Reset`]
/// when a rule closes the client connection instead. `in_flight` keeps the client
/// connection counted as busy until the response body is over.
#[tracing::instrument(level = "debug", name = "exchange", skip_all, fields(conn = ctx.id, client = %ctx.client_addr, exchange = tracing::field::Empty, method = %req.method(), url = %req.uri()))]
pub(crate) async fn forward(
    ctx: Arc<ConnCtx>,
    req: Request<Incoming>,
    in_flight: InFlight,
) -> Result<Response<RespBody>, Reset> {
    let started = Instant::now();
    let id = ctx.shared.exchange_id();
    tracing::Span::current().record("exchange", id);
    let (mut parts, body) = req.into_parts();
    let Some(mut target) = ctx.target.clone().or_else(|| target_of(&parts.uri)) else {
        return Ok(not_a_proxy_request(&ctx, id, &parts));
    };
    let mut path = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str)
        .to_owned();
    let rec = start_record(&ctx, id, &parts, &target, &path, started);
    // As the client sent them, before rules or the intercept change the head.
    let origin = client_origin(&ctx, &parts.headers);
    let client_host = parts.headers.get(HOST).cloned();
    // Rules: `None` unless a rule may match this request head.
    let mut plan = ctx.shared.rules.as_ref().and_then(|book| {
        let url = format!("{}{}", target.origin(), path);
        Plan::start(book.current(), parts.method.as_str(), &url, ctx.id)
    });
    let (mut body, mut held_request) = match plan.as_mut() {
        None => (Prefixed::wire(body), None),
        Some(plan) => match request_rules(plan, &mut parts, body, &mut target, &path, &rec).await {
            Ruled::Go(b, held) => (b, held),
            Ruled::Answer(a) => return Ok(a.send(&ctx, &rec)),
            Ruled::Reset => return Err(Reset),
        },
    };
    // The UI's intercept: one atomic load when no intercept filter is set.
    let intercept = ctx.shared.intercept.as_deref().filter(|i| i.active());
    if let Some(ic) = intercept {
        match intercept::request(ic, &mut parts, &mut path, body, held_request, &rec).await {
            Going::Go(b, held) => (body, held_request) = (b, held),
            Going::Kill => return Ok(killed(&ctx, &rec)),
        }
    }
    let leg = Leg {
        client_origin: origin,
        client_host,
        ctx: &ctx,
        target: &target,
        path: &path,
    };
    let (pending, progress, upstream_head) = match leg.send(parts, body, &rec).await {
        Ok(sent) => sent,
        Err(e) => return Ok(e.answer(&ctx, &rec)),
    };
    tracing::debug!("request sent upstream");
    match leg.response_head(pending, &progress).await {
        Ok(resp) => match plan {
            None if intercept.is_some_and(|i| i.active()) => {
                record_response(&rec, &resp, upstream_head);
                let idle = ctx.shared.config.timeouts.upstream_idle;
                let resp = resp.map(|b| IdleBody::new(b, idle, Some(in_flight)));
                let ic = ctx.shared.intercept.as_deref();
                let resp = match ic {
                    Some(ic) => intercept::response(ic, resp, held_request.as_ref(), &rec).await?,
                    None => resp.map(http_body_util::BodyExt::boxed),
                };
                Ok(leg.finish(resp, rec))
            }
            None => Ok(leg.respond(resp, rec, upstream_head, in_flight)),
            Some(plan) => {
                let ruled = RuledResponse { plan, held_request };
                let way = Way {
                    ctx: leg.ctx,
                    target: leg.target,
                    client_origin: leg.client_origin.as_deref(),
                };
                respond_ruled(way, resp, rec, upstream_head, in_flight, ruled).await
            }
        },
        Err(e) => Ok(e.answer(&ctx, &rec)),
    }
}

/// Why an exchange ended before a response head.
#[derive(Debug, thiserror::Error)]
enum Failed {
    /// No upstream connection could be opened.
    #[error(transparent)]
    Connect(#[from] UpstreamError),
    /// The upstream connection broke while the request was being sent.
    #[error("connection")]
    Send(#[source] hyper::Error),
    /// The upstream connection broke before the response head.
    #[error(transparent)]
    Response(hyper::Error),
    /// The response head is over the header limits.
    #[error("response head too large")]
    HeadTooLarge,
    /// A side did not send in time.
    #[error(transparent)]
    Timeout(Timeout),
}

impl Failed {
    /// The answer to the client, and the record's error: the client's fault when its
    /// request body broke (400) or stalled (408), else the upstream's (502, 504).
    fn answer(self, ctx: &ConnCtx, rec: &Recorder) -> Response<RespBody> {
        let reason = match self {
            Self::Timeout(t) => return timed_out(rec, t),
            Self::HeadTooLarge => ctx.shared.config.limits.head_too_large("response"),
            other => error_chain(&other),
        };
        if let Some(why) = rec.client_fault() {
            tracing::debug!(reason = %why, "client failure");
            return error_response(StatusCode::BAD_REQUEST, Fault::Client, &why);
        }
        let reason = Fault::Upstream.blame(reason);
        tracing::debug!(%reason, "upstream failure");
        rec.update(|x| x.error = Some(reason.clone()));
        error_response(StatusCode::BAD_GATEWAY, Fault::Upstream, &reason)
    }
}

/// A timeout before the response head: 408 when the client stopped sending its body,
/// 504 when the upstream did not answer.
fn timed_out(rec: &Recorder, t: Timeout) -> Response<RespBody> {
    let fault = t.fault();
    let reason = fault.blame(t);
    tracing::debug!(%reason, "timeout");
    rec.update(|x| x.error = Some(reason.clone()));
    let status = match fault {
        Fault::Client => StatusCode::REQUEST_TIMEOUT,
        Fault::Upstream => StatusCode::GATEWAY_TIMEOUT,
    };
    error_response(status, fault, &reason)
}

/// One request's way upstream and back.
struct Leg<'a> {
    ctx: &'a ConnCtx,
    target: &'a Target,
    /// The request-target's path and query.
    path: &'a str,
    /// What the client thinks the origin is, for reverse-mode rewriting.
    client_origin: Option<String>,
    /// The Host the client sent: reverse mode rewrites it to the upstream's unless a
    /// rule or the intercept set another.
    client_host: Option<HeaderValue>,
}

impl Leg<'_> {
    /// Sends the request on the connection's upstream connection (opening one when
    /// needed). Returns the response head to come, the request body's progress (for the
    /// response timeout) and the upstream's head window.
    async fn send(
        &self,
        mut parts: http::request::Parts,
        body: Prefixed<Incoming>,
        rec: &Arc<Recorder>,
    ) -> Result<(ResponseFuture, Arc<Progress>, Option<SharedWindow>), Failed> {
        let mut slot = self.ctx.upstream.lock().await;
        let up = take_upstream(self.ctx, &mut slot, self.target, rec).await?;
        let upstream_head = up.head.clone();
        self.shape_request(&mut parts, up);
        let progress = Progress::new();
        let body = ProgressBody::new(body, Arc::clone(&progress));
        let policy = policy(self.ctx, &parts.headers);
        let body = TapBody::new(body, Arc::clone(rec), Side::Request, policy);
        match up.send(Request::from_parts(parts, body)).await {
            // HTTP/1 allows one request at a time; HTTP/2 multiplexes. Either way the
            // slot lock can go now: `ready()` waits for the previous exchange to finish.
            Ok(pending) => Ok((pending, progress, upstream_head)),
            Err(e) => {
                *slot = None;
                Err(Failed::Send(e))
            }
        }
    }

    /// Shapes the request head for the upstream leg: hop-by-hop fields, Host,
    /// reverse-mode URL rewriting, and the target form for HTTP/1 or HTTP/2.
    fn shape_request(&self, parts: &mut http::request::Parts, up: &Upstream) {
        let target = self.target;
        strip_hop_by_hop(&mut parts.headers);
        if self.ctx.mode == ProxyMode::Reverse {
            rewrite_request_urls(&mut parts.headers, self.client_origin.as_deref(), target);
            // The rewrite comes first: a Host a rule (`set-request-header Host: …`) or
            // an edit set stays.
            if parts.headers.get(HOST) == self.client_host.as_ref() {
                if let Ok(v) = HeaderValue::from_str(&target.host_header()) {
                    parts.headers.insert(HOST, v);
                }
            }
        }
        if up.is_h2() {
            parts.version = Version::HTTP_2;
            parts.headers.remove(HOST);
            if let Ok(uri) = format!("{}{}", target.origin(), self.path).parse() {
                parts.uri = uri;
            }
            return;
        }
        if !parts.headers.contains_key(HOST) {
            let host = parts
                .uri
                .authority()
                .map_or_else(|| target.host_header(), ToString::to_string);
            if let Ok(v) = HeaderValue::from_str(&host) {
                parts.headers.insert(HOST, v);
            }
        }
        parts.version = Version::HTTP_11;
        parts.uri = self.path.parse().unwrap_or_else(|_| Uri::from_static("/"));
        if let Some(p) = &up.via {
            route::to_absolute_form(parts, &target.origin(), p);
        }
    }

    /// Waits for the response head, within the upstream response timeout counted from
    /// the request body's last progress.
    async fn response_head(
        &self,
        pending: ResponseFuture,
        progress: &Progress,
    ) -> Result<Response<Incoming>, Failed> {
        let timeouts = &self.ctx.shared.config.timeouts;
        match await_response(pending, progress, timeouts).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) if e.is_parse_too_large() => Err(Failed::HeadTooLarge),
            Ok(Err(e)) => Err(Failed::Response(e)),
            Err(t) => Err(Failed::Timeout(t)),
        }
    }

    /// Records the response head, shapes it for the client and streams its body back
    /// through the idle timeout and the tap.
    fn respond(
        &self,
        resp: Response<Incoming>,
        rec: Arc<Recorder>,
        upstream_head: Option<SharedWindow>,
        in_flight: InFlight,
    ) -> Response<RespBody> {
        record_response(&rec, &resp, upstream_head);
        let idle = self.ctx.shared.config.timeouts.upstream_idle;
        self.finish(resp.map(|b| IdleBody::new(b, idle, Some(in_flight))), rec)
    }

    /// Shapes the response for the client and streams its body back through the tap.
    fn finish<B>(&self, mut resp: Response<B>, rec: Arc<Recorder>) -> Response<RespBody>
    where
        B: http_body::Body<Data = bytes::Bytes, Error = super::timeouts::BoxError>
            + Send
            + Sync
            + Unpin
            + 'static,
    {
        strip_hop_by_hop(resp.headers_mut());
        if self.ctx.mode == ProxyMode::Reverse {
            rewrite_response_urls(
                resp.headers_mut(),
                self.client_origin.as_deref(),
                self.target,
            );
        }
        // The client's version decides the framing hyper uses towards it.
        *resp.version_mut() = Version::HTTP_11;
        let policy = policy(self.ctx, resp.headers());
        resp.map(|body| TapBody::new(body, rec, Side::Response, policy).boxed())
    }
}

/// A request killed in the UI's intercept: 502 from synctap, recorded.
fn killed(ctx: &ConnCtx, rec: &Arc<Recorder>) -> Response<RespBody> {
    super::ruled::local_answer(
        ctx,
        rec,
        502,
        Err("killed in the UI's intercept".into()),
        None,
    )
}

/// The target of an absolute-form request (`http://host/...` to a forward proxy).
fn target_of(uri: &Uri) -> Option<Target> {
    Target::from_uri(uri, "").ok()
}

/// `scheme://Host` as the client sees it, when it sent a Host.
fn client_origin(ctx: &ConnCtx, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(HOST)?.to_str().ok()?;
    let scheme = if ctx.tls.is_some() { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

/// Answers an origin-form request to a forward proxy, and records it.
fn not_a_proxy_request(ctx: &ConnCtx, id: u64, parts: &http::request::Parts) -> Response<RespBody> {
    let mut x = ctx.exchange(id, ExchangeKind::Http, String::new());
    x.http_version = version_str(parts.version);
    x.request = Some(request_head(
        &parts.method,
        parts.uri.to_string(),
        &parts.headers,
    ));
    x.error = Some(Fault::Client.blame("not a proxy request: a forward proxy needs absolute-form URLs or CONNECT (use --reverse to stand in for a server)"));
    ctx.emit(x);
    simple(
        StatusCode::BAD_REQUEST,
        "synctap: this is a forward proxy; send absolute-form requests or CONNECT, or run synctap with --reverse URL\n",
    )
}

/// The record of this exchange, with the request head as the client sent it.
fn start_record(
    ctx: &ConnCtx,
    id: u64,
    parts: &http::request::Parts,
    target: &Target,
    path: &str,
    started: Instant,
) -> Arc<Recorder> {
    let raw_headers = (parts.version != Version::HTTP_2)
        .then_some(ctx.client_head.as_ref())
        .flatten()
        .and_then(|w| {
            w.lock()
                .ok()?
                .request_headers(parts.method.as_str(), &parts.uri.to_string())
        });
    let mut x = ctx.exchange(id, ExchangeKind::Http, target.authority());
    x.http_version = version_str(parts.version);
    x.request = Some(crate::model::Request {
        method: parts.method.to_string(),
        url: format!("{}{}", target.origin(), path),
        headers: raw_headers.unwrap_or_else(|| headers_of(&parts.headers)),
        body: Body::default(),
    });
    let shared = &ctx.shared;
    Recorder::new(shared.sink.clone(), x, started, shared.live.clone())
}

/// The live upstream connection to `target` in `slot`, opened now when there is none
/// (or it is closed, or it goes elsewhere). A failed open leaves the slot empty.
async fn take_upstream<'s>(
    ctx: &ConnCtx,
    slot: &'s mut Option<Upstream>,
    target: &Target,
    rec: &Recorder,
) -> Result<&'s mut Upstream, UpstreamError> {
    let up = match slot.take() {
        Some(up) if !up.is_closed() && up.target == *target => {
            // A connection opened at the TLS handshake: its timings go to the first
            // request.
            if let Some((c, t)) = ctx.first_timings.lock().ok().and_then(|mut t| t.take()) {
                record_timings(rec, c, t);
            }
            up
        }
        _ => {
            let dial = Dial {
                target,
                sni: ctx.upstream_sni.as_deref(),
                client_alpn: &ctx.client_alpn,
            };
            let opened = connect_upstream(&ctx.shared, dial).await?;
            tracing::debug!(upstream = %target, connect_ms = opened.connect_ms, tls_ms = opened.tls_ms, "upstream connected");
            record_timings(rec, opened.connect_ms, opened.tls_ms);
            opened.upstream
        }
    };
    Ok(slot.insert(up))
}

fn record_timings(rec: &Recorder, connect_ms: f64, tls_ms: Option<f64>) {
    rec.update(|x| {
        x.timings.connect_ms = Some(connect_ms);
        x.timings.tls_ms = tls_ms;
    });
}
