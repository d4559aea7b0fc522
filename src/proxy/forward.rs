//! Forwarding one request upstream on the connection's own upstream connection, and
//! streaming the response back, with both bodies tapped for the capture.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::{HeaderMap, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use tracing::Instrument as _;

use super::conn::{simple, ConnCtx};
use super::error::{error_chain, Fault, Timeout, UpstreamError};
use super::head::{HeadTap, SharedWindow};
use super::tap::{Recorder, TapBody, TapPolicy};
use super::timeouts::{await_response, BoxError, IdleBody, InFlight, Progress, ProgressBody};
use super::{Limits, Target};
use crate::capture::format::Side;
use crate::model::{Body, ExchangeKind, Headers, ProxyMode};

/// The body type sent to clients.
pub(crate) type RespBody = BoxBody<Bytes, BoxError>;
/// The body type sent upstream.
pub(crate) type ReqBody = TapBody<ProgressBody<Incoming>>;

type ResponseFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = hyper::Result<Response<Incoming>>> + Send>>;

/// A full body.
pub(crate) fn full(b: Bytes) -> RespBody {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// An empty body.
pub(crate) fn empty() -> RespBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A client connection's upstream connection.
pub(crate) struct Upstream {
    key: String,
    sender: Sender,
    alpn: Option<Vec<u8>>,
    /// Recent bytes from the server (HTTP/1), to record heads as sent.
    head: Option<SharedWindow>,
    /// The HTTP proxy this plain-HTTP connection goes to (requests in absolute form).
    via: Option<super::upstream::UpstreamProxy>,
}

enum Sender {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::SendRequest<ReqBody>),
}

impl Upstream {
    pub(crate) fn alpn(&self) -> Option<Vec<u8>> {
        self.alpn.clone()
    }

    fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }

    fn is_closed(&self) -> bool {
        match &self.sender {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// Opens a TCP (and TLS, for https) connection to `target` and does the HTTP handshake,
/// all within the upstream connect timeout. Returns the upstream, the TCP connect time
/// and the TLS handshake time in ms.
pub(crate) async fn connect_upstream(
    ctx: &ConnCtx,
    target: &Target,
) -> Result<(Upstream, f64, Option<f64>), UpstreamError> {
    let after = ctx.shared.config.timeouts.upstream_connect;
    tokio::time::timeout(after, open_upstream(ctx, target))
        .await
        .unwrap_or_else(|_| {
            Err(UpstreamError::ConnectTimeout {
                authority: target.authority(),
                after,
            })
        })
}

async fn open_upstream(
    ctx: &ConnCtx,
    target: &Target,
) -> Result<(Upstream, f64, Option<f64>), UpstreamError> {
    let authority = target.authority();
    let t0 = Instant::now();
    let (tcp, via) = ctx
        .shared
        .config
        .upstream_proxy
        .connect(&target.host, target.port, target.is_tls())
        .await
        .map_err(UpstreamError::Route)?;
    let connect_ms = ms(t0);
    let key = format!("{}://{}", target.scheme, authority);
    let limits = ctx.shared.config.limits;
    if !target.is_tls() {
        let (io, window) = HeadTap::new(tcp);
        let sender = handshake_h1(io, &limits, &authority).await?;
        let up = Upstream {
            key,
            sender,
            alpn: None,
            head: Some(window),
            via,
        };
        return Ok((up, connect_ms, None));
    }
    let t1 = Instant::now();
    let config = ctx.shared.upstream_tls.for_client_alpn(&ctx.client_alpn);
    let sni = ctx
        .upstream_sni
        .clone()
        .unwrap_or_else(|| target.host.clone());
    let name = ServerName::try_from(sni.clone())
        .map_err(|source| UpstreamError::ServerName { name: sni, source })?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| UpstreamError::Refused(super::trust::handshake_failure(&e, &authority)))?;
    let tls_ms = ms(t1);
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let mut head = None;
    let sender = if alpn.as_deref() == Some(b"h2") {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .max_header_list_size(limits.h2_header_list())
            .handshake(TokioIo::new(tls))
            .await
            .map_err(handshake_failed(&authority))?;
        drive(conn);
        Sender::H2(sender)
    } else {
        let (io, window) = HeadTap::new(tls);
        head = Some(window);
        handshake_h1(io, &limits, &authority).await?
    };
    let up = Upstream {
        key,
        sender,
        alpn,
        head,
        via: None,
    };
    Ok((up, connect_ms, Some(tls_ms)))
}

/// The HTTP/1 client handshake on a new upstream connection, with the header limits.
async fn handshake_h1<T>(io: T, limits: &Limits, authority: &str) -> Result<Sender, UpstreamError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new()
        .preserve_header_case(true)
        .max_headers(limits.max_headers)
        .max_header_size(limits.max_header_bytes)
        .handshake(TokioIo::new(io))
        .await
        .map_err(handshake_failed(authority))?;
    drive(conn);
    Ok(Sender::H1(sender))
}

fn handshake_failed(authority: &str) -> impl FnOnce(hyper::Error) -> UpstreamError + '_ {
    move |source| UpstreamError::Handshake {
        authority: authority.to_owned(),
        source,
    }
}

/// Runs an upstream connection until it ends, logging how it ended.
fn drive<C>(conn: C)
where
    C: std::future::Future<Output = hyper::Result<()>> + Send + 'static,
{
    tokio::spawn(
        async move {
            match conn.await {
                Ok(()) => tracing::debug!("upstream connection closed"),
                Err(e) => tracing::debug!(error = %error_chain(&e), "upstream connection ended with an error"),
            }
        }
        .in_current_span(),
    );
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Forwards one request and returns the response to send to the client. `in_flight`
/// keeps the client connection counted as busy until the response body is over.
#[tracing::instrument(skip_all, fields(conn = ctx.id, client = %ctx.client_addr, exchange = tracing::field::Empty, method = %req.method(), url = %req.uri()))]
pub(crate) async fn forward(
    ctx: Arc<ConnCtx>,
    req: Request<Incoming>,
    in_flight: InFlight,
) -> Response<RespBody> {
    let started = Instant::now();
    let id = ctx.shared.exchange_id();
    tracing::Span::current().record("exchange", id);
    let (mut parts, body) = req.into_parts();
    let Some(target) = ctx.target.clone().or_else(|| target_of(&parts.uri)) else {
        return not_a_proxy_request(&ctx, id, &parts);
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str)
        .to_owned();
    let rec = start_record(&ctx, id, &parts, &target, &path, started);
    // What the client thinks the origin is, for reverse-mode rewriting.
    let client_origin = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            let scheme = if ctx.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{h}")
        });

    let mut slot = ctx.upstream.lock().await;
    if let Err(e) = take_upstream(&ctx, &mut slot, &target, &rec).await {
        *slot = None;
        return failure(&rec, StatusCode::BAD_GATEWAY, &error_chain(&e));
    }
    let Some(up) = slot.as_mut() else {
        return failure(&rec, StatusCode::BAD_GATEWAY, "no upstream connection");
    };
    let upstream_head = up.head.clone();
    shape_request(
        &ctx,
        &mut parts,
        &target,
        &path,
        (up.is_h2(), up.via.as_ref()),
        client_origin.as_deref(),
    );
    let progress = Progress::new();
    let body = ProgressBody::new(body, Arc::clone(&progress));
    let body = TapBody::new(
        body,
        Arc::clone(&rec),
        Side::Request,
        policy(&ctx, &parts.headers),
    );
    let fut = match send(up, Request::from_parts(parts, body)).await {
        Ok(f) => f,
        Err(e) => {
            *slot = None;
            drop(slot);
            let why = format!("connection: {}", error_chain(&e));
            return failure(&rec, StatusCode::BAD_GATEWAY, &why);
        }
    };
    // HTTP/1 allows one request at a time; HTTP/2 multiplexes. Either way the slot
    // lock can go now: `ready()` will wait for the previous exchange to finish.
    drop(slot);
    tracing::debug!("request sent upstream");
    let timeouts = ctx.shared.config.timeouts;
    let resp = match await_response(fut, &progress, &timeouts).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) if e.is_parse_too_large() => {
            let why = ctx.shared.config.limits.head_too_large("response");
            return failure(&rec, StatusCode::BAD_GATEWAY, &why);
        }
        Ok(Err(e)) => return failure(&rec, StatusCode::BAD_GATEWAY, &error_chain(&e)),
        Err(t) => return timed_out(&rec, t),
    };
    let first_byte = rec.elapsed_ms();
    let mut resp = record_response(&ctx, &rec, resp, upstream_head, first_byte);
    strip_hop_by_hop(resp.headers_mut());
    if ctx.mode == ProxyMode::Reverse {
        rewrite_response_urls(resp.headers_mut(), client_origin.as_deref(), &target);
    }
    // The client's version decides the framing hyper uses towards it.
    *resp.version_mut() = Version::HTTP_11;
    let resp_policy = policy(&ctx, resp.headers());
    resp.map(|body| {
        let body = IdleBody::new(body, timeouts.upstream_idle, Some(in_flight));
        TapBody::new(body, rec, Side::Response, resp_policy).boxed()
    })
}

/// Answers an origin-form request to a forward proxy, and records it.
fn not_a_proxy_request(ctx: &ConnCtx, id: u64, parts: &http::request::Parts) -> Response<RespBody> {
    let mut x = ctx.exchange(id, ExchangeKind::Http, String::new());
    x.http_version = version_str(parts.version);
    x.request = Some(crate::model::Request {
        method: parts.method.to_string(),
        url: parts.uri.to_string(),
        headers: headers_of(&parts.headers),
        body: Body::default(),
    });
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

/// How much of a body with these headers the capture stores, and whether it is hashed.
fn policy(ctx: &ConnCtx, headers: &HeaderMap) -> TapPolicy {
    let limit = ctx.shared.config.body_limit;
    TapPolicy {
        body_limit: limit,
        hash: content_length(headers).is_none_or(|n| n > limit),
    }
}

/// Makes sure `slot` holds a live upstream connection to `target`, opening one if needed.
async fn take_upstream(
    ctx: &ConnCtx,
    slot: &mut Option<Upstream>,
    target: &Target,
    rec: &Recorder,
) -> Result<(), UpstreamError> {
    let key = format!("{}://{}", target.scheme, target.authority());
    let reusable = slot
        .as_ref()
        .is_some_and(|u| u.key == key && !u.is_closed());
    if reusable {
        // A connection opened at the TLS handshake: its timings go to the first request.
        if let Some(t) = ctx.first_timings.lock().ok().and_then(|mut t| t.take()) {
            rec.update(|x| {
                x.timings.connect_ms = Some(t.0);
                x.timings.tls_ms = t.1;
            });
        }
        return Ok(());
    }
    let (up, c, t) = connect_upstream(ctx, target).await?;
    tracing::debug!(upstream = %key, connect_ms = c, tls_ms = t, "upstream connected");
    rec.update(|x| {
        x.timings.connect_ms = Some(c);
        x.timings.tls_ms = t;
    });
    *slot = Some(up);
    Ok(())
}

/// Shapes the request head for the upstream leg: hop-by-hop fields, Host, reverse-mode
/// URL rewriting, and the target form for HTTP/1 or HTTP/2.
fn shape_request(
    ctx: &ConnCtx,
    parts: &mut http::request::Parts,
    target: &Target,
    path: &str,
    (upstream_h2, via): (bool, Option<&super::upstream::UpstreamProxy>),
    client_origin: Option<&str>,
) {
    strip_hop_by_hop(&mut parts.headers);
    if ctx.mode == ProxyMode::Reverse {
        rewrite_request_urls(&mut parts.headers, client_origin, target);
        if let Ok(v) = HeaderValue::from_str(&host_header(target)) {
            parts.headers.insert(HOST, v);
        }
    }
    if upstream_h2 {
        parts.version = Version::HTTP_2;
        parts.headers.remove(HOST);
        if let Ok(uri) = format!("{}{}", target.origin(), path).parse() {
            parts.uri = uri;
        }
    } else {
        if !parts.headers.contains_key(HOST) {
            let host = parts
                .uri
                .authority()
                .map_or_else(|| host_header(target), ToString::to_string);
            if let Ok(v) = HeaderValue::from_str(&host) {
                parts.headers.insert(HOST, v);
            }
        }
        parts.version = Version::HTTP_11;
        parts.uri = path.parse().unwrap_or_else(|_| Uri::from_static("/"));
        if let Some(p) = via {
            super::upstream::to_absolute_form(parts, &target.origin(), p);
        }
    }
}

/// Sends the request once the connection is ready; the future yields the response head.
async fn send(up: &mut Upstream, req: Request<ReqBody>) -> hyper::Result<ResponseFuture> {
    Ok(match &mut up.sender {
        Sender::H1(s) => {
            s.ready().await?;
            Box::pin(s.send_request(req)) as ResponseFuture
        }
        Sender::H2(s) => {
            s.ready().await?;
            Box::pin(s.send_request(req)) as ResponseFuture
        }
    })
}

/// Records the response head as the server sent it.
fn record_response(
    ctx: &ConnCtx,
    rec: &Recorder,
    resp: Response<Incoming>,
    upstream_head: Option<SharedWindow>,
    first_byte: f64,
) -> Response<Incoming> {
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
    tracing::debug!(status, conn = ctx.id, "response head from upstream");
    rec.update(|x| {
        x.timings.first_response_byte_ms = Some(first_byte);
        x.response = Some(crate::model::Response {
            status,
            reason,
            headers,
            body: Body::default(),
        });
    });
    resp
}

/// An exchange that failed before a response head: the client's fault when its request
/// body broke (400), else the upstream's (`status`, 502).
fn failure(rec: &Recorder, status: StatusCode, reason: &str) -> Response<RespBody> {
    if let Some(why) = rec.client_fault() {
        tracing::debug!(exchange = rec.id(), reason = %why, "client failure");
        return error_response(StatusCode::BAD_REQUEST, Fault::Client, &why);
    }
    let reason = Fault::Upstream.blame(reason);
    tracing::debug!(exchange = rec.id(), %reason, "upstream failure");
    rec.update(|x| x.error = Some(reason.clone()));
    error_response(status, Fault::Upstream, &reason)
}

/// A timeout before the response head: 408 when the client stopped sending its body,
/// 504 when the upstream did not answer.
fn timed_out(rec: &Recorder, t: Timeout) -> Response<RespBody> {
    let fault = t.fault();
    let reason = fault.blame(t);
    tracing::debug!(exchange = rec.id(), %reason, "timeout");
    rec.update(|x| x.error = Some(reason.clone()));
    let status = match fault {
        Fault::Client => StatusCode::REQUEST_TIMEOUT,
        Fault::Upstream => StatusCode::GATEWAY_TIMEOUT,
    };
    error_response(status, fault, &reason)
}

/// A small text response naming the side at fault in `x-synctap-error`.
fn error_response(status: StatusCode, fault: Fault, reason: &str) -> Response<RespBody> {
    let mut r = simple(status, &format!("synctap: {}\n", reason.replace('\n', " ")));
    let side = match fault {
        Fault::Client => HeaderValue::from_static("client"),
        Fault::Upstream => HeaderValue::from_static("upstream"),
    };
    r.headers_mut().insert("x-synctap-error", side);
    r
}

fn target_of(uri: &Uri) -> Option<Target> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    (scheme == "http" || scheme == "https").then(|| Target {
        scheme,
        host: host.to_owned(),
        port,
    })
}

fn host_header(t: &Target) -> String {
    let default = if t.is_tls() { 443 } else { 80 };
    let host = if t.host.contains(':') {
        format!("[{}]", t.host)
    } else {
        t.host.clone()
    };
    if t.port == default {
        host
    } else {
        format!("{host}:{}", t.port)
    }
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn version_str(v: Version) -> String {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
    .to_owned()
}

/// Header fields in map order (the order received, grouped by name).
pub(crate) fn headers_of(h: &HeaderMap) -> Headers {
    Headers(
        h.iter()
            .map(|(n, v)| (n.as_str().to_owned(), crate::util::latin1(v.as_bytes())))
            .collect(),
    )
}

fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "transfer-encoding",
        "upgrade",
        "te",
    ] {
        h.remove(n);
    }
}

fn rewrite_request_urls(h: &mut HeaderMap, client_origin: Option<&str>, t: &Target) {
    let Some(from) = client_origin else { return };
    replace_prefix(h, &["destination", "origin", "referer"], from, &t.origin());
}

fn rewrite_response_urls(h: &mut HeaderMap, client_origin: Option<&str>, t: &Target) {
    let Some(to) = client_origin else { return };
    replace_prefix(h, &["location", "content-location"], &t.origin(), to);
}

fn replace_prefix(h: &mut HeaderMap, names: &[&'static str], from: &str, to: &str) {
    for name in names {
        let Some(v) = h.get(*name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if v.len() >= from.len() && v[..from.len()].eq_ignore_ascii_case(from) {
            let new = format!("{to}{}", &v[from.len()..]);
            if let Ok(v) = HeaderValue::from_str(&new) {
                h.insert(*name, v);
            }
        }
    }
}
