//! Accepting connections: [`accept_until`] is the one accept loop (the proxy, the
//! reference server and the mock all use it), and [`HttpListener`] serves HTTP/1.1 and
//! HTTP/2, plain or over TLS with a leaf minted by synctap's CA, to a request handler
//! (the reference server and the mock).
//!
//! Each connection of an [`HttpListener`] runs in a `connection` span (`conn`, `client`)
//! and each request in a `request` span (`method`, `url`), both at debug level, so
//! `RUST_LOG=synctap=debug` tells one exchange's story and they cost nothing otherwise.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tracing::Instrument as _;

use super::ca::CertificateAuthority;
use super::error::error_chain;
use super::tls;

/// How long the loop pauses after a failed accept (out of file descriptors and the like).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts connections on `listener` until `stop` completes and hands each one, with
/// `TCP_NODELAY` set, to `on_accept` (which spawns what serves it). A failed accept is
/// logged and retried after a short pause.
pub(crate) async fn accept_until(
    listener: &TcpListener,
    stop: impl Future<Output = ()>,
    mut on_accept: impl FnMut(TcpStream, SocketAddr),
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    on_accept(stream, peer);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
}

/// TLS for an [`HttpListener`]: a leaf from the CA in `certs_dir` for `localhost` and the
/// listening address, offering `alpn`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalTls<'a> {
    /// The folder holding synctap's CA (created when missing).
    pub certs_dir: &'a Path,
    /// The ALPN protocols offered, in order of preference.
    pub alpn: &'a [&'a [u8]],
}

/// A bound listener serving HTTP to a handler.
pub(crate) struct HttpListener {
    tcp: TcpListener,
    acceptor: Option<TlsAcceptor>,
    ca_cert: Option<PathBuf>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for HttpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpListener")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.acceptor.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpListener {
    /// Binds `listen` and, with `tls`, mints the leaf.
    ///
    /// # Errors
    /// When the address is taken, or the CA cannot be loaded or created.
    pub(crate) async fn bind(
        listen: SocketAddr,
        tls: Option<LocalTls<'_>>,
    ) -> anyhow::Result<Self> {
        let tcp = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let local_addr = tcp.local_addr()?;
        let (acceptor, ca_cert) = match tls {
            Some(t) => {
                let (config, ca_cert) = local_server_config(t, local_addr)?;
                (Some(TlsAcceptor::from(config)), Some(ca_cert))
            }
            None => (None, None),
        };
        Ok(Self {
            tcp,
            acceptor,
            ca_cert,
            local_addr,
        })
    }

    /// The address actually bound.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `https` or `http`.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.acceptor.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The base URL, e.g. `https://127.0.0.1:8443`.
    pub(crate) fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.local_addr)
    }

    /// The CA certificate clients must trust (TLS only).
    pub(crate) fn ca_cert_path(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// Serves every connection with `handler` (given each request and the client's
    /// address) until `stop` completes.
    pub(crate) async fn serve<H, F>(self, stop: impl Future<Output = ()>, handler: H)
    where
        H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let next_conn = AtomicU64::new(1);
        accept_until(&self.tcp, stop, |stream, peer| {
            let conn = next_conn.fetch_add(1, Ordering::Relaxed);
            let span = tracing::debug_span!("connection", conn, client = %peer);
            let acceptor = self.acceptor.clone();
            let handler = handler.clone();
            tokio::spawn(serve_connection(acceptor, stream, peer, handler).instrument(span));
        })
        .await;
    }
}

/// A server config presenting a leaf from the CA in `t.certs_dir` for `localhost` and
/// `addr` (and 127.0.0.1 when `addr` is unspecified), and the CA certificate's path.
fn local_server_config(
    t: LocalTls<'_>,
    addr: SocketAddr,
) -> anyhow::Result<(Arc<rustls::ServerConfig>, PathBuf)> {
    tls::install_default_provider();
    let (ca, _) = CertificateAuthority::load_or_create(t.certs_dir)?;
    let mut names = vec!["localhost".to_owned(), addr.ip().to_string()];
    if addr.ip().is_unspecified() {
        names.push("127.0.0.1".to_owned());
    }
    let key = ca.leaf(&names)?;
    let alpn = t.alpn.iter().map(|p| p.to_vec()).collect();
    Ok((tls::server_config(key, alpn, None)?, ca.cert_path()))
}

async fn serve_connection<H, F>(
    acceptor: Option<TlsAcceptor>,
    stream: TcpStream,
    peer: SocketAddr,
    handler: H,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tracing::debug!("client connected");
    let svc = service_fn(move |req: Request<Incoming>| {
        let span = tracing::debug_span!("request", method = %req.method(), url = %req.uri());
        let answer = handler(req, peer);
        async move { Ok::<_, Infallible>(answer.await) }.instrument(span)
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let result = match acceptor {
        Some(a) => match a.accept(stream).await {
            Ok(tls) => builder.serve_connection(TokioIo::new(tls), svc).await,
            Err(e) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
        },
        None => builder.serve_connection(TokioIo::new(stream), svc).await,
    };
    match result {
        Ok(()) => tracing::debug!("client connection closed"),
        Err(e) => tracing::debug!(error = %error_chain(&*e), "connection ended with an error"),
    }
}
