//! A client connection's own upstream connection ([`Upstream`]): opened once per client
//! connection (connection affinity) directly or through an upstream HTTP proxy, over TLS
//! when the target is https, with HTTP/1.1 or HTTP/2 as the server's ALPN says; and
//! sending one request on it.
//!
//! The task driving the connection logs how it ended, errors included.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use tracing::Instrument as _;

use super::error::UpstreamError;
use super::head::{HeadTap, SharedWindow};
use super::limits::Limits;
use super::shared::Shared;
use super::tap::TapBody;
use super::timeouts::ProgressBody;
use crate::net::{error_chain, Target, TlsError, UpstreamProxy};

/// The body type sent upstream.
pub(crate) type ReqBody = TapBody<ProgressBody<super::held::Prefixed<Incoming>>>;

/// The response head to come, from a request sent on an [`Upstream`].
pub(crate) type ResponseFuture =
    Pin<Box<dyn Future<Output = hyper::Result<Response<Incoming>>> + Send>>;

/// A client connection's upstream connection.
pub(crate) struct Upstream {
    /// Where it goes: a request to another target needs another connection.
    pub(crate) target: Target,
    sender: Sender,
    alpn: Option<Vec<u8>>,
    /// Recent bytes from the server (HTTP/1), to record heads as sent.
    pub(crate) head: Option<SharedWindow>,
    /// The HTTP proxy this plain-HTTP connection goes to (requests in absolute form).
    pub(crate) via: Option<UpstreamProxy>,
}

enum Sender {
    H1(http1::SendRequest<ReqBody>),
    H2(http2::SendRequest<ReqBody>),
}

/// What [`connect_upstream`] opened: the connection and its TCP connect and TLS
/// handshake times in ms.
pub(crate) struct Opened {
    pub(crate) upstream: Upstream,
    pub(crate) connect_ms: f64,
    pub(crate) tls_ms: Option<f64>,
}

impl Upstream {
    /// The protocol the server chose by ALPN, if any.
    pub(crate) fn alpn(&self) -> Option<Vec<u8>> {
        self.alpn.clone()
    }

    pub(crate) fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }

    pub(crate) fn is_closed(&self) -> bool {
        match &self.sender {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    /// Sends the request once the connection is ready; the future yields the response
    /// head.
    pub(crate) async fn send(&mut self, req: Request<ReqBody>) -> hyper::Result<ResponseFuture> {
        Ok(match &mut self.sender {
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
}

/// How to reach one target: the name to send as SNI and the ALPN protocols the client
/// offered (offered upstream in turn).
pub(crate) struct Dial<'a> {
    pub(crate) target: &'a Target,
    pub(crate) sni: Option<&'a str>,
    pub(crate) client_alpn: &'a [Vec<u8>],
}

/// Opens a TCP (and TLS, for https) connection to the target and does the HTTP
/// handshake, all within the upstream connect timeout.
pub(crate) async fn connect_upstream(
    shared: &Shared,
    dial: Dial<'_>,
) -> Result<Opened, UpstreamError> {
    let after = shared.config.timeouts.upstream_connect;
    let authority = dial.target.authority();
    let opened = tokio::time::timeout(after, open_upstream(shared, &dial, &authority)).await;
    opened.unwrap_or_else(|_| Err(UpstreamError::ConnectTimeout { authority, after }))
}

async fn open_upstream(
    shared: &Shared,
    dial: &Dial<'_>,
    authority: &str,
) -> Result<Opened, UpstreamError> {
    let target = dial.target;
    let t0 = Instant::now();
    let (tcp, via) = shared
        .config
        .upstream_proxy
        .connect(&target.host, target.port, target.is_tls())
        .await?;
    let connect_ms = ms(t0);
    let limits = shared.config.limits;
    if !target.is_tls() {
        let (io, window) = HeadTap::new(tcp);
        let sender = handshake_h1(io, &limits, authority).await?;
        let upstream = Upstream {
            target: target.clone(),
            sender,
            alpn: None,
            head: Some(window),
            via,
        };
        return Ok(Opened {
            upstream,
            connect_ms,
            tls_ms: None,
        });
    }
    let t1 = Instant::now();
    let config = shared.upstream_tls.for_client_alpn(dial.client_alpn);
    let sni = dial.sni.unwrap_or(&target.host);
    let name =
        ServerName::try_from(sni.to_owned()).map_err(|source| UpstreamError::ServerName {
            name: sni.to_owned(),
            source,
        })?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            let e = TlsError::new(e, authority);
            if let TlsError::Untrusted { .. } = e {
                tracing::warn!(upstream = authority, "{}", error_chain(&e));
            }
            e
        })?;
    let tls_ms = ms(t1);
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let mut head = None;
    let sender = if alpn.as_deref() == Some(b"h2") {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .max_header_list_size(limits.h2_header_list())
            .handshake(TokioIo::new(tls))
            .await
            .map_err(handshake_failed(authority))?;
        drive(conn);
        Sender::H2(sender)
    } else {
        let (io, window) = HeadTap::new(tls);
        head = Some(window);
        handshake_h1(io, &limits, authority).await?
    };
    let upstream = Upstream {
        target: target.clone(),
        sender,
        alpn,
        head,
        via: None,
    };
    Ok(Opened {
        upstream,
        connect_ms,
        tls_ms: Some(tls_ms),
    })
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
    C: Future<Output = hyper::Result<()>> + Send + 'static,
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
