//! One client connection: plain HTTP, CONNECT (intercept or tunnel), or reverse-mode TLS;
//! and the answer to a client over its connection limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tracing::Instrument as _;

use super::ctx::ConnCtx;
use super::error::{BadConnect, Fault};
use super::forward;
use super::head::HeadTap;
use super::io::Rewind;
use super::limits::{ClientSlot, Limits};
use super::respond::{empty, simple, RespBody};
use super::shape::request_head;
use super::shared::{ActiveGuard, Shared};
use super::timeouts::{ActivityIo, Expiry};
use super::upstream::{connect_upstream, Dial, Opened};
use crate::model::{ExchangeKind, ProxyMode, TlsInfo, TunnelInfo};
use crate::net::{error_chain, tls, Target};

/// Serves one accepted TCP connection until it closes.
#[tracing::instrument(level = "debug", name = "connection", skip_all, fields(conn = tracing::field::Empty, client = %peer))]
pub(crate) async fn handle(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: ClientSlot,
) {
    let id = shared.connection_id();
    tracing::Span::current().record("conn", id);
    tracing::debug!("client connected");
    let slot = Some(Arc::new(slot));
    match shared.config.reverse.clone() {
        Some(target) if !shared.config.listen_plain => {
            let mut base = ConnCtx::new(&shared, id, peer, ProxyMode::Reverse);
            base.slot = slot;
            intercept_tls(base, Rewind::new(Bytes::new(), stream), target).await;
        }
        Some(target) => {
            let mut ctx = ConnCtx::new(&shared, id, peer, ProxyMode::Reverse);
            ctx.slot = slot;
            ctx.target = Some(target);
            let (io, window) = HeadTap::new(stream);
            ctx.client_head = Some(window);
            serve(Arc::new(ctx), io, None).await;
        }
        None => {
            let mut ctx = ConnCtx::new(&shared, id, peer, ProxyMode::Forward);
            ctx.slot = slot;
            let (io, window) = HeadTap::new(stream);
            ctx.client_head = Some(window);
            serve(Arc::new(ctx), io, None).await;
        }
    }
    tracing::debug!("client connection closed");
}

/// Serves HTTP/1.1 or HTTP/2 on `io` until the connection ends, times out, or shutdown.
async fn serve<T>(ctx: Arc<ConnCtx>, io: T, alpn: Option<&[u8]>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = ctx.shared.config.limits;
    let timeouts = ctx.shared.config.timeouts;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .preserve_header_case(true)
        .timer(hyper_util::rt::TokioTimer::new())
        // The watchdog below times heads: hyper's timer would also end idle keep-alive
        // connections, and does not cover the HTTP/1-or-2 sniffing.
        .header_read_timeout(Option::<Duration>::None)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.h1_buffer());
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_header_list_size(limits.h2_header_list());
    let builder = match alpn {
        Some(b"h2") => builder.http2_only(),
        Some(b"http/1.1") => builder.http1_only(),
        _ => builder,
    };
    let svc_ctx = Arc::clone(&ctx);
    let svc = service_fn(move |req: Request<Incoming>| {
        let ctx = Arc::clone(&svc_ctx);
        async move { route(ctx, req).await }
    });
    let io = TokioIo::new(ActivityIo::new(io, Arc::clone(&ctx.activity)));
    let conn = builder.serve_connection_with_upgrades(io, svc);
    tokio::pin!(conn);
    let mut shutdown = ctx.shared.shutdown.clone();
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    tokio::pin!(stop);
    let result = loop {
        let at = ctx.activity.wake_at(&timeouts);
        tokio::select! {
            r = conn.as_mut() => break r,
            () = &mut stop => {
                conn.as_mut().graceful_shutdown();
                break conn.as_mut().await;
            }
            () = tokio::time::sleep_until(at.into()) => {
                if let Some(why) = ctx.activity.expired(&timeouts) {
                    // Dropping the connection closes it.
                    expire(&ctx, why);
                    return;
                }
            }
        }
    };
    if let Err(e) = result {
        if let Some(msg) = connection_error(&*e, &limits) {
            tracing::debug!(error = %msg, "client connection ended with an error");
            ctx.emit_client_error(&msg);
        }
    }
}

/// What to record for an error that ended a client connection; `None` when there is
/// nothing to add.
fn connection_error(
    e: &(dyn std::error::Error + Send + Sync + 'static),
    limits: &Limits,
) -> Option<String> {
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        // A body or service of ours failed: its exchange has recorded why already.
        if h.is_user() {
            return None;
        }
        if h.is_parse_too_large() {
            return Some(limits.head_too_large("request"));
        }
    }
    let msg = error_chain(e);
    // A client that goes away between requests is normal; say nothing then.
    let benign = msg.contains("connection closed before message completed")
        || msg.contains("connection reset")
        || msg.contains("broken pipe")
        || msg.contains("error shutting down connection");
    (!benign).then(|| format!("connection error: {msg}"))
}

/// A client connection's watchdog fired: log it, and record a half-sent head.
fn expire(ctx: &ConnCtx, why: Expiry) {
    let text = why.describe(&ctx.shared.config.timeouts);
    tracing::debug!(reason = %text, "closing the client connection");
    if matches!(why, Expiry::Header { bytes: true }) {
        ctx.emit_client_error(&text);
    }
}

/// Routes one request; `Err` closes the client connection without an answer (a rule's
/// `reset`).
async fn route(
    ctx: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, super::error::Reset> {
    let in_flight = ctx.activity.begin();
    if req.method() == http::Method::CONNECT && ctx.mode == ProxyMode::Forward && ctx.tls.is_none()
    {
        return Ok(connect(ctx, req));
    }
    forward::forward(ctx, req, in_flight).await
}

/// Answers CONNECT with 200 and takes over the upgraded stream; 400 when the target is
/// not `host:port` with a port from 1 to 65535.
fn connect(ctx: Arc<ConnCtx>, req: Request<Incoming>) -> Response<RespBody> {
    let (host, port) = match connect_target(req.uri()) {
        Ok(t) => t,
        Err(e) => {
            let url = req.uri().to_string();
            let head = request_head(req.method(), url.clone(), req.headers());
            ctx.emit_error(url, Fault::Client.blame(&e), |x| x.request = Some(head));
            return simple(StatusCode::BAD_REQUEST, &format!("synctap: {e}\n"));
        }
    };
    // The tunnelled connection outlives this request: count it as active so that
    // shutdown waits for its exchanges too.
    let guard = ActiveGuard::new(&ctx.shared);
    tokio::spawn(
        async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => after_connect(ctx, TokioIo::new(upgraded), host, port).await,
                Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
            }
            drop(guard);
        }
        .in_current_span(),
    );
    Response::new(empty())
}

/// The host and port of a CONNECT request-target (`host:port`, `[v6]:port`).
fn connect_target(uri: &http::Uri) -> Result<(String, u16), BadConnect> {
    let target = uri.authority().ok_or(BadConnect::NoAuthority)?.as_str();
    let (host, port) = match target.strip_prefix('[') {
        Some(rest) => {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| BadConnect::BadHost(target.to_owned()))?;
            (host, after.strip_prefix(':'))
        }
        None => match target.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (target, None),
        },
    };
    if host.is_empty() || host.contains('@') || (host.contains(':') && !target.starts_with('[')) {
        return Err(BadConnect::BadHost(target.to_owned()));
    }
    let port = port.ok_or_else(|| BadConnect::NoPort(target.to_owned()))?;
    let number = port
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| port.parse::<u16>().ok())
        .flatten()
        .filter(|p| *p != 0);
    let port = number.ok_or_else(|| BadConnect::BadPort {
        target: target.to_owned(),
        port: port.to_owned(),
    })?;
    Ok((host.to_owned(), port))
}

async fn after_connect<T>(ctx: Arc<ConnCtx>, mut io: T, host: String, port: u16)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let target = Target {
        scheme: "https".into(),
        host,
        port,
    };
    let shared = Arc::clone(&ctx.shared);
    let cfg = &shared.config;
    if let super::scope::Decision::Tunnel(why) =
        super::scope::decide(&cfg.intercept, &cfg.passthrough, &target.host)
    {
        tunnel(&ctx, io, Bytes::new(), &target, why).await;
        return;
    }
    // Peek: TLS starts with a handshake record (0x16). Protocols where the server
    // speaks first send nothing; tunnel those after a short wait.
    let mut first = vec![0u8; 1];
    let n = match tokio::time::timeout(Duration::from_secs(3), io.read(&mut first)).await {
        Ok(Ok(n)) => n,
        Ok(Err(_)) => return,
        Err(_) => 0,
    };
    first.truncate(n);
    if first.first() == Some(&0x16) {
        let mut base = ConnCtx::new(&shared, ctx.id, ctx.client_addr, ProxyMode::Forward);
        base.slot.clone_from(&ctx.slot);
        intercept_tls(base, Rewind::new(Bytes::from(first), io), target).await;
    } else {
        tunnel(
            &ctx,
            io,
            Bytes::from(first),
            &target,
            "not TLS after CONNECT",
        )
        .await;
    }
}

/// Copies bytes both ways untouched and records the tunnel.
async fn tunnel<T>(ctx: &ConnCtx, io: T, pre: Bytes, target: &Target, why: &str)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let started = Instant::now();
    let mut x = ctx.exchange(
        ctx.shared.exchange_id(),
        ExchangeKind::Tunnel,
        target.authority(),
    );
    x.http_version = format!("tunnel ({why})");
    let mut client = Rewind::new(pre, io);
    let route = &ctx.shared.config.upstream_proxy;
    match route.connect(&target.host, target.port, true).await {
        Ok((mut server, _)) => {
            x.timings.connect_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            match tokio::io::copy_bidirectional(&mut client, &mut server).await {
                Ok((up, down)) => {
                    x.tunnel = Some(TunnelInfo {
                        bytes_up: up,
                        bytes_down: down,
                    });
                }
                Err(e) => x.error = Some(format!("tunnel: {e}")),
            }
        }
        Err(e) => x.error = Some(Fault::Upstream.blame(error_chain(&e))),
    }
    x.timings.done_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    ctx.emit(x);
}

/// Terminates the client's TLS with a minted leaf and serves HTTP inside it.
///
/// The upstream connection is opened before the handshake with the client completes:
/// what the server speaks (its ALPN choice) decides what is offered to the client.
async fn intercept_tls<T>(mut ctx: ConnCtx, io: Rewind<T>, target: Target)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(start) = read_client_hello(&ctx, io, &target).await else {
        return;
    };
    let hello = start.client_hello();
    let sni = hello.server_name().map(str::to_owned);
    ctx.client_alpn = hello
        .alpn()
        .map(|it| it.map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    ctx.upstream_sni = Some(match (&sni, ctx.mode) {
        (Some(s), ProxyMode::Forward) => s.clone(),
        _ => target.host.clone(),
    });
    ctx.target = Some(target.clone());
    let dial = Dial {
        target: &target,
        sni: ctx.upstream_sni.as_deref(),
        client_alpn: &ctx.client_alpn,
    };
    let pre = connect_upstream(&ctx.shared, dial).await;
    let upstream_alpn = pre.as_ref().ok().and_then(|o| o.upstream.alpn());
    let Some(config) = client_config(&ctx, &target, sni.as_deref(), upstream_alpn) else {
        return;
    };
    let timeout = ctx.shared.config.timeouts.client_header;
    let handshake = tokio::time::timeout(timeout, start.into_stream(config))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "timed out after {}s (--client-header-timeout)",
                    timeout.as_secs_f64()
                ),
            ))
        });
    let tls_stream = match handshake {
        Ok(s) => s,
        Err(e) => {
            let why = Fault::Client.blame(format!(
                "TLS handshake failed: {e} (does the client trust synctap's CA? see `synctap ca show`)"
            ));
            ctx.emit_error(target.authority(), why, |x| {
                x.tls = Some(TlsInfo {
                    sni,
                    ..TlsInfo::default()
                });
            });
            return;
        }
    };
    let (_, session) = tls_stream.get_ref();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    ctx.tls = Some(TlsInfo {
        sni,
        alpn: alpn
            .as_ref()
            .map(|a| String::from_utf8_lossy(a).into_owned()),
        version: session.protocol_version().map(|v| format!("{v:?}")),
    });
    match pre {
        Ok(Opened {
            upstream,
            connect_ms,
            tls_ms,
        }) => {
            *ctx.upstream.get_mut() = Some(upstream);
            if let Ok(mut t) = ctx.first_timings.lock() {
                *t = Some((connect_ms, tls_ms));
            }
        }
        Err(e) => {
            tracing::debug!(error = %error_chain(&e), "upstream not reachable at handshake; requests will get 502");
        }
    }
    if alpn.as_deref() == Some(b"h2") {
        serve(Arc::new(ctx), tls_stream, alpn.as_deref()).await;
    } else {
        let (io, window) = HeadTap::new(tls_stream);
        ctx.client_head = Some(window);
        serve(Arc::new(ctx), io, alpn.as_deref()).await;
    }
}

/// Reads the client's ClientHello within the client header timeout; records why not
/// when it does not come.
async fn read_client_hello<T>(
    ctx: &ConnCtx,
    io: Rewind<T>,
    target: &Target,
) -> Option<tokio_rustls::StartHandshake<Rewind<T>>>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let timeout = ctx.shared.config.timeouts.client_header;
    let acceptor = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    let why = match tokio::time::timeout(timeout, acceptor).await {
        Ok(Ok(start)) => return Some(start),
        Ok(Err(e)) => format!("TLS: not a valid ClientHello: {e}"),
        // After CONNECT the client has sent the start of a handshake: record that.
        // A reverse-mode client that never sends a byte is just closed.
        Err(_) if ctx.mode == ProxyMode::Forward => format!(
            "timed out: no complete TLS ClientHello within {}s (--client-header-timeout)",
            timeout.as_secs_f64()
        ),
        Err(_) => {
            tracing::debug!("no ClientHello in time; closing");
            return None;
        }
    };
    tracing::debug!(reason = %why, "no TLS session");
    ctx.emit_error(target.authority(), Fault::Client.blame(why), |_| {});
    None
}

/// The server config for the client's side: a leaf for the names the client may check
/// (the SNI or the CONNECT host; in reverse mode also the listening address and
/// `localhost`), offering the protocol the upstream chose when the client offered it
/// too, else HTTP/1.1 when offered. Records why when no leaf can be minted.
fn client_config(
    ctx: &ConnCtx,
    target: &Target,
    sni: Option<&str>,
    upstream_alpn: Option<Vec<u8>>,
) -> Option<Arc<rustls::ServerConfig>> {
    let client_alpn = &ctx.client_alpn;
    let wanted: Vec<Vec<u8>> = match upstream_alpn {
        Some(p) if client_alpn.contains(&p) => vec![p],
        _ if client_alpn.iter().any(|p| p == b"http/1.1") => vec![b"http/1.1".to_vec()],
        _ => Vec::new(),
    };
    let shared = &ctx.shared;
    let mut names = Vec::new();
    if ctx.mode == ProxyMode::Reverse {
        names.extend(sni.map(str::to_owned));
        names.push(shared.local_addr.ip().to_string());
        names.push("localhost".to_owned());
        names.dedup();
    } else {
        names.push(sni.unwrap_or(&target.host).to_owned());
    }
    let minted = shared
        .ca
        .leaf(&names)
        .and_then(|k| tls::server_config(k, wanted, shared.keylog.clone()));
    match minted {
        Ok(c) => Some(c),
        Err(e) => {
            let why = format!(
                "proxy: cannot mint a certificate for {names:?}: {}",
                error_chain(&e)
            );
            ctx.emit_error(target.authority(), why, |_| {});
            None
        }
    }
}

/// Answers a connection over the per-client limit with 503 (or only closes it, where the
/// client speaks TLS first), records it, and closes it.
#[tracing::instrument(level = "debug", name = "connection", skip_all, fields(client = %peer))]
pub(crate) async fn refuse(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    open: usize,
) {
    let id = shared.connection_id();
    let max = shared.config.limits.max_client_connections;
    let why = format!(
        "too many connections from {} ({open} open, limit {max}, --max-client-connections)",
        peer.ip()
    );
    tracing::warn!(client = %peer, "{why}");
    let body = format!("synctap: {why}\n");
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\nX-Synctap-Error: client\r\n\r\n",
        body.len()
    );
    let mode = if shared.config.reverse.is_some() {
        ProxyMode::Reverse
    } else {
        ProxyMode::Forward
    };
    let ctx = ConnCtx::new(&shared, id, peer, mode);
    ctx.emit_error(String::new(), Fault::Client.blame(&why), |_| {});
    // A reverse TLS listener's client speaks TLS first and would read a plain answer as
    // a corrupt record: it gets the connection closed. Forward mode (CONNECT) and a plain
    // listener read the 503.
    let tls_first = shared.config.reverse.is_some() && !shared.config.listen_plain;
    if !tls_first {
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
    }
    let _ = stream.shutdown().await;
}
