//! Forwarding one request upstream on the connection's own upstream connection, and
//! streaming the response back, with both bodies tapped for the capture.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST};
use http::{HeaderMap, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;

use super::conn::{error_chain, simple, ConnCtx};
use super::head::{HeadTap, SharedWindow};
use super::tap::{Recorder, TapBody, TapPolicy};
use super::Target;
use crate::capture::format::Side;
use crate::model::{Body, ExchangeKind, Headers, ProxyMode};

/// The body type sent to clients.
pub(crate) type RespBody = BoxBody<Bytes, hyper::Error>;
/// The body type sent upstream.
pub(crate) type ReqBody = TapBody<Incoming>;

type ResponseFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = hyper::Result<Response<Incoming>>> + Send>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

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

/// Opens a TCP (and TLS, for https) connection to `target` and does the HTTP handshake.
/// Returns the upstream, the TCP connect time and the TLS handshake time in ms.
pub(crate) async fn connect_upstream(
    ctx: &ConnCtx,
    target: &Target,
) -> Result<(Upstream, f64, Option<f64>), String> {
    let t0 = Instant::now();
    let (tcp, via) = ctx
        .shared
        .config
        .upstream_proxy
        .connect(&target.host, target.port, target.is_tls())
        .await?;
    let connect_ms = ms(t0);
    let key = format!("{}://{}", target.scheme, target.authority());
    if !target.is_tls() {
        let (io, window) = HeadTap::new(tcp);
        let (sender, conn) = http1::Builder::new()
            .preserve_header_case(true)
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("upstream HTTP handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        return Ok((
            Upstream {
                key,
                sender: Sender::H1(sender),
                alpn: None,
                head: Some(window),
                via,
            },
            connect_ms,
            None,
        ));
    }
    let t1 = Instant::now();
    let config = ctx.shared.upstream_tls.for_client_alpn(&ctx.client_alpn);
    let sni = ctx
        .upstream_sni
        .clone()
        .unwrap_or_else(|| target.host.clone());
    let name = ServerName::try_from(sni.clone())
        .map_err(|e| format!("invalid upstream server name {sni:?}: {e}"))?;
    let tls = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| format!("TLS handshake with {} timed out", target.authority()))?
    .map_err(|e| super::trust::handshake_failure(&e, &target.authority()))?;
    let tls_ms = ms(t1);
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let mut head = None;
    let sender = if alpn.as_deref() == Some(b"h2") {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("upstream HTTP/2 handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Sender::H2(sender)
    } else {
        let (io, window) = HeadTap::new(tls);
        head = Some(window);
        let (sender, conn) = http1::Builder::new()
            .preserve_header_case(true)
            .handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("upstream HTTP handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Sender::H1(sender)
    };
    Ok((
        Upstream {
            key,
            sender,
            alpn,
            head,
            via: None,
        },
        connect_ms,
        Some(tls_ms),
    ))
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Forwards one request and returns the response to send to the client.
pub(crate) async fn forward(ctx: Arc<ConnCtx>, req: Request<Incoming>) -> Response<RespBody> {
    let started = Instant::now();
    let shared = Arc::clone(&ctx.shared);
    let id = shared.exchange_id();
    let (mut parts, body) = req.into_parts();

    let Some(target) = ctx.target.clone().or_else(|| target_of(&parts.uri)) else {
        {
            let mut x = ctx.exchange(id, ExchangeKind::Http, String::new());
            x.http_version = version_str(parts.version);
            x.request = Some(crate::model::Request {
                method: parts.method.to_string(),
                url: parts.uri.to_string(),
                headers: headers_of(&parts.headers),
                body: Body::default(),
            });
            x.error = Some("not a proxy request: a forward proxy needs absolute-form URLs or CONNECT (use --reverse to stand in for a server)".into());
            ctx.emit(x);
            return simple(
                StatusCode::BAD_REQUEST,
                "synctap: this is a forward proxy; send absolute-form requests or CONNECT, or run synctap with --reverse URL\n",
            );
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str)
        .to_owned();
    let url = format!("{}{}", target.origin(), path);

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
        url,
        headers: raw_headers.unwrap_or_else(|| headers_of(&parts.headers)),
        body: Body::default(),
    });
    let rec = Recorder::new(shared.sink.clone(), x, started, shared.live.clone());
    let limit = shared.config.body_limit;
    let policy_for = |headers: &HeaderMap| TapPolicy {
        body_limit: limit,
        hash: content_length(headers).is_none_or(|n| n > limit),
    };
    let req_policy = policy_for(&parts.headers);

    // What the client thinks the origin is, for reverse-mode rewriting.
    let client_origin = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            let scheme = if ctx.tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{h}")
        });

    // Take (or open) this connection's upstream.
    let mut slot = ctx.upstream.lock().await;
    let key = format!("{}://{}", target.scheme, target.authority());
    let reusable = slot
        .as_ref()
        .is_some_and(|u| u.key == key && !u.is_closed());
    if reusable {
        if let Some(t) = ctx.first_timings.lock().ok().and_then(|mut t| t.take()) {
            rec.update(|x| {
                x.timings.connect_ms = Some(t.0);
                x.timings.tls_ms = t.1;
            });
        }
    } else {
        match connect_upstream(&ctx, &target).await {
            Ok((up, c, t)) => {
                rec.update(|x| {
                    x.timings.connect_ms = Some(c);
                    x.timings.tls_ms = t;
                });
                *slot = Some(up);
            }
            Err(e) => {
                *slot = None;
                drop(slot);
                return bad_gateway(&rec, &e);
            }
        }
    }
    let Some(up) = slot.as_mut() else {
        return bad_gateway(&rec, "no upstream connection");
    };
    let upstream_h2 = up.is_h2();
    let via = up.via.clone();
    let upstream_head = up.head.clone();

    // Shape the request for the upstream leg.
    strip_hop_by_hop(&mut parts.headers);
    if ctx.mode == ProxyMode::Reverse {
        rewrite_request_urls(&mut parts.headers, client_origin.as_deref(), &target);
        if let Ok(v) = HeaderValue::from_str(&host_header(&target)) {
            parts.headers.insert(HOST, v);
        }
    }
    if upstream_h2 {
        parts.version = Version::HTTP_2;
        parts.headers.remove(HOST);
        parts.uri = format!("{}{}", target.origin(), path)
            .parse()
            .unwrap_or(parts.uri);
    } else {
        if !parts.headers.contains_key(HOST) {
            let host = parts
                .uri
                .authority()
                .map_or_else(|| host_header(&target), ToString::to_string);
            if let Ok(v) = HeaderValue::from_str(&host) {
                parts.headers.insert(HOST, v);
            }
        }
        parts.version = Version::HTTP_11;
        parts.uri = path.parse().unwrap_or_else(|_| Uri::from_static("/"));
        if let Some(p) = &via {
            super::upstream::to_absolute_form(&mut parts, &target.origin(), p);
        }
    }
    let body = TapBody::new(body, Arc::clone(&rec), Side::Request, req_policy);
    let upstream_req = Request::from_parts(parts, body);

    let sent = match &mut up.sender {
        Sender::H1(s) => match s.ready().await {
            Ok(()) => Ok(Box::pin(s.send_request(upstream_req)) as ResponseFuture),
            Err(e) => Err(e),
        },
        Sender::H2(s) => match s.ready().await {
            Ok(()) => Ok(Box::pin(s.send_request(upstream_req)) as ResponseFuture),
            Err(e) => Err(e),
        },
    };
    let fut = match sent {
        Ok(f) => f,
        Err(e) => {
            *slot = None;
            drop(slot);
            return bad_gateway(&rec, &format!("upstream connection: {}", error_chain(&e)));
        }
    };
    // HTTP/1 allows one request at a time; HTTP/2 multiplexes. Either way the slot
    // lock can go now: `ready()` will wait for the previous exchange to finish.
    drop(slot);
    let resp = match fut.await {
        Ok(r) => r,
        Err(e) => return bad_gateway(&rec, &format!("upstream: {}", error_chain(&e))),
    };
    let first_byte = rec.elapsed_ms();
    let (mut parts, body) = resp.into_parts();
    let reason = parts
        .extensions
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| parts.status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    let resp_policy = policy_for(&parts.headers);
    let status = parts.status.as_u16();
    let resp_headers = upstream_head
        .and_then(|w| w.lock().ok()?.response_headers(status))
        .unwrap_or_else(|| headers_of(&parts.headers));
    rec.update(|x| {
        x.timings.first_response_byte_ms = Some(first_byte);
        x.response = Some(crate::model::Response {
            status,
            reason,
            headers: resp_headers,
            body: Body::default(),
        });
    });
    strip_hop_by_hop(&mut parts.headers);
    if ctx.mode == ProxyMode::Reverse {
        rewrite_response_urls(&mut parts.headers, client_origin.as_deref(), &target);
    }
    // The client's version decides the framing hyper uses towards it.
    parts.version = Version::HTTP_11;
    let body = TapBody::new(body, rec, Side::Response, resp_policy);
    Response::from_parts(parts, body.boxed())
}

fn bad_gateway(rec: &Recorder, reason: &str) -> Response<RespBody> {
    tracing::debug!(exchange = rec.id(), %reason, "upstream failure");
    rec.update(|x| x.error = Some(reason.to_owned()));
    let mut r = simple(
        StatusCode::BAD_GATEWAY,
        &format!("synctap: {}\n", reason.replace('\n', " ")),
    );
    r.headers_mut()
        .insert("x-synctap-error", HeaderValue::from_static("upstream"));
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
