//! One client connection: plain HTTP, CONNECT (intercept or tunnel), or reverse-mode TLS.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::net::TcpStream;

use super::forward::{self, full, RespBody, Upstream};
use super::head::{HeadTap, SharedWindow};
use super::tls::Rewind;
use super::{tls, ActiveGuard, Shared, Target};
use crate::model::{Exchange, ExchangeKind, ProxyMode, Timings, TlsInfo, TunnelInfo};

/// What every request on one client connection shares.
pub(crate) struct ConnCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) id: u64,
    pub(crate) client_addr: SocketAddr,
    pub(crate) mode: ProxyMode,
    pub(crate) tls: Option<TlsInfo>,
    /// The fixed upstream (CONNECT authority or reverse target); `None` for plain
    /// forward-proxy connections, where each request names its own.
    pub(crate) target: Option<Target>,
    /// SNI to send upstream.
    pub(crate) upstream_sni: Option<String>,
    /// The ALPN protocols the client offered, offered upstream in turn.
    pub(crate) client_alpn: Vec<Vec<u8>>,
    /// This connection's own upstream connection (connection affinity).
    pub(crate) upstream: tokio::sync::Mutex<Option<Upstream>>,
    /// Timings of a connection made before the first request, given to that request.
    pub(crate) first_timings: Mutex<Option<(f64, Option<f64>)>>,
    /// Recent bytes from the client (HTTP/1), to record heads as sent.
    pub(crate) client_head: Option<SharedWindow>,
}

impl ConnCtx {
    fn new(shared: &Arc<Shared>, id: u64, client_addr: SocketAddr, mode: ProxyMode) -> Self {
        Self {
            shared: Arc::clone(shared),
            id,
            client_addr,
            mode,
            tls: None,
            target: None,
            upstream_sni: None,
            client_alpn: Vec::new(),
            upstream: tokio::sync::Mutex::new(None),
            first_timings: Mutex::new(None),
            client_head: None,
        }
    }

    /// A skeleton exchange on this connection.
    pub(crate) fn exchange(&self, id: u64, kind: ExchangeKind, server: String) -> Exchange {
        Exchange {
            id,
            kind,
            connection_id: self.id,
            client_addr: self.client_addr.to_string(),
            mode: self.mode,
            tls: self.tls.clone(),
            server,
            http_version: String::new(),
            request: None,
            response: None,
            tunnel: None,
            timings: Timings {
                start: crate::util::now_rfc3339(),
                ..Timings::default()
            },
            error: None,
        }
    }

    /// Emits a record straight away (errors before any request, tunnels).
    pub(crate) fn emit(&self, x: Exchange) {
        if let Some(live) = &self.shared.live {
            let _ = live.send(Arc::new(x.clone()));
        }
        self.shared
            .sink
            .try_send(crate::capture::Record::Exchange(Box::new(x)), 0);
    }
}

/// Serves one accepted TCP connection until it closes.
pub(crate) async fn handle(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    let id = shared
        .next_connection
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match shared.config.reverse.clone() {
        Some(target) if !shared.config.listen_plain => {
            let base = ConnCtx::new(&shared, id, peer, ProxyMode::Reverse);
            intercept_tls(base, Rewind::new(Bytes::new(), stream), target).await;
        }
        Some(target) => {
            let mut ctx = ConnCtx::new(&shared, id, peer, ProxyMode::Reverse);
            ctx.target = Some(target);
            let (io, window) = HeadTap::new(stream);
            ctx.client_head = Some(window);
            serve(Arc::new(ctx), TokioIo::new(io), None).await;
        }
        None => {
            let mut ctx = ConnCtx::new(&shared, id, peer, ProxyMode::Forward);
            let (io, window) = HeadTap::new(stream);
            ctx.client_head = Some(window);
            serve(Arc::new(ctx), TokioIo::new(io), None).await;
        }
    }
}

/// Serves HTTP/1.1 or HTTP/2 on `io` until the connection ends or shutdown.
async fn serve<I>(ctx: Arc<ConnCtx>, io: I, alpn: Option<&[u8]>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .preserve_header_case(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(120));
    builder.http2().timer(hyper_util::rt::TokioTimer::new());
    let builder = match alpn {
        Some(b"h2") => builder.http2_only(),
        Some(b"http/1.1") => builder.http1_only(),
        _ => builder,
    };
    let svc_ctx = Arc::clone(&ctx);
    let svc = service_fn(move |req: Request<Incoming>| {
        let ctx = Arc::clone(&svc_ctx);
        async move { Ok::<_, Infallible>(route(ctx, req).await) }
    });
    let conn = builder.serve_connection_with_upgrades(io, svc);
    tokio::pin!(conn);
    let mut shutdown = ctx.shared.shutdown.clone();
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stop => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        let msg = error_chain(&*e);
        // A client that goes away between requests is normal; say nothing then.
        let benign = msg.contains("connection closed before message completed")
            || msg.contains("connection reset")
            || msg.contains("broken pipe")
            || msg.contains("error shutting down connection");
        if !benign {
            tracing::debug!(connection = ctx.id, error = %msg, "client connection ended with an error");
            let mut x = ctx.exchange(
                ctx.shared.exchange_id(),
                ExchangeKind::Http,
                ctx.target
                    .as_ref()
                    .map(Target::authority)
                    .unwrap_or_default(),
            );
            x.error = Some(format!("client connection: {msg}"));
            ctx.emit(x);
        }
    }
}

async fn route(ctx: Arc<ConnCtx>, req: Request<Incoming>) -> Response<RespBody> {
    if req.method() == http::Method::CONNECT && ctx.mode == ProxyMode::Forward && ctx.tls.is_none()
    {
        return connect(ctx, req);
    }
    forward::forward(ctx, req).await
}

/// Answers CONNECT with 200 and takes over the upgraded stream.
fn connect(ctx: Arc<ConnCtx>, req: Request<Incoming>) -> Response<RespBody> {
    let Some(auth) = req.uri().authority().cloned() else {
        return simple(StatusCode::BAD_REQUEST, "CONNECT needs host:port\n");
    };
    let host = auth
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = auth.port_u16().unwrap_or(443);
    // The tunnelled connection outlives this request: count it as active so that
    // shutdown waits for its exchanges too.
    let guard = ActiveGuard::new(&ctx.shared);
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => after_connect(ctx, TokioIo::new(upgraded), host, port).await,
            Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
        }
        drop(guard);
    });
    Response::new(forward::empty())
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
        let base = ConnCtx::new(&shared, ctx.id, ctx.client_addr, ProxyMode::Forward);
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
        Err(e) => x.error = Some(e),
    }
    x.timings.done_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    ctx.emit(x);
}

/// Terminates the client's TLS with a minted leaf and serves HTTP inside it.
async fn intercept_tls<T>(mut ctx: ConnCtx, io: Rewind<T>, target: Target)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = Arc::clone(&ctx.shared);
    let started =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io).await;
    let start = match started {
        Ok(s) => s,
        Err(e) => {
            let mut x = ctx.exchange(shared.exchange_id(), ExchangeKind::Http, target.authority());
            x.error = Some(format!("client TLS: not a valid ClientHello: {e}"));
            ctx.emit(x);
            return;
        }
    };
    let hello = start.client_hello();
    let sni = hello.server_name().map(str::to_owned);
    let client_alpn: Vec<Vec<u8>> = hello
        .alpn()
        .map(|it| it.map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let reverse = ctx.mode == ProxyMode::Reverse;
    let upstream_sni = if reverse {
        target.host.clone()
    } else {
        sni.clone().unwrap_or_else(|| target.host.clone())
    };
    ctx.upstream_sni = Some(upstream_sni);
    ctx.client_alpn.clone_from(&client_alpn);
    ctx.target = Some(target.clone());

    // Learn what the server speaks before choosing what we speak to the client.
    let pre = forward::connect_upstream(&ctx, &target).await;
    let upstream_alpn: Option<Vec<u8>> = match &pre {
        Ok((up, _, _)) => up.alpn(),
        Err(_) => None,
    };
    let wanted: Vec<Vec<u8>> = match upstream_alpn {
        Some(p) if client_alpn.contains(&p) => vec![p],
        _ if client_alpn.iter().any(|p| p == b"http/1.1") => vec![b"http/1.1".to_vec()],
        _ => Vec::new(),
    };
    let mut names = Vec::new();
    if reverse {
        if let Some(s) = &sni {
            names.push(s.clone());
        }
        names.push(shared.local_addr.ip().to_string());
        names.push("localhost".to_owned());
        names.dedup();
    } else {
        names.push(sni.clone().unwrap_or_else(|| target.host.clone()));
    }
    let config = match shared
        .ca
        .leaf(&names)
        .and_then(|k| tls::server_config(k, wanted, shared.keylog.clone()))
    {
        Ok(c) => c,
        Err(e) => {
            let mut x = ctx.exchange(shared.exchange_id(), ExchangeKind::Http, target.authority());
            x.error = Some(format!("cannot mint a certificate for {names:?}: {e:#}"));
            ctx.emit(x);
            return;
        }
    };
    let tls_stream = match start.into_stream(config).await {
        Ok(s) => s,
        Err(e) => {
            let mut x = ctx.exchange(shared.exchange_id(), ExchangeKind::Http, target.authority());
            x.tls = Some(TlsInfo {
                sni,
                ..TlsInfo::default()
            });
            x.error = Some(format!(
                "client TLS handshake failed: {e} (does the client trust synctap's CA? see `synctap ca show`)"
            ));
            ctx.emit(x);
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
        Ok((up, connect_ms, tls_ms)) => {
            *ctx.upstream.get_mut() = Some(up);
            if let Ok(mut t) = ctx.first_timings.lock() {
                *t = Some((connect_ms, tls_ms));
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "upstream not reachable at handshake; requests will get 502")
        }
    }
    if alpn.as_deref() == Some(b"h2") {
        serve(Arc::new(ctx), TokioIo::new(tls_stream), alpn.as_deref()).await;
    } else {
        let (io, window) = HeadTap::new(tls_stream);
        ctx.client_head = Some(window);
        serve(Arc::new(ctx), TokioIo::new(io), alpn.as_deref()).await;
    }
}

/// A small text response.
pub(crate) fn simple(status: StatusCode, text: &str) -> Response<RespBody> {
    let mut r = Response::new(full(Bytes::from(text.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// An error and its causes, `: `-joined.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}
