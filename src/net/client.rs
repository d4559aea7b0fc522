//! [`HttpClient`]: an HTTP/1.1 client keeping one connection open, as Office does, and
//! reopening it when the server closed it. It connects directly, through synctap's own
//! proxy (CONNECT for https, absolute form for http), or through the upstream HTTP
//! proxies of a [`ProxyRoute`]; TLS trusts the given CA certificates.
//!
//! Replay sends recorded requests with it (`raw`: only the recorded headers and Host);
//! the scripted clients of `server::client` build protocol requests on top of it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;
use tracing::Instrument as _;

use super::error::{error_chain, ClientError, TlsError};
use super::route::{ProxyRoute, UpstreamProxy};
use super::target::Target;
use super::{ca, tls};

/// The largest response body the client reads.
const MAX_RESPONSE: usize = 256 << 20;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP response as the client returns it: read whole.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// An HTTP/1.1 client keeping one connection, direct or through a forward proxy.
pub struct HttpClient {
    proxy: Option<SocketAddr>,
    tls: Arc<ClientConfig>,
    user: String,
    /// Sends only the caller's headers (plus Host): no login or User-Agent of its own.
    raw: bool,
    /// Without `proxy`: which connections go through an upstream HTTP proxy.
    route: ProxyRoute,
    conn: Mutex<Option<(String, ClientConn)>>,
}

/// An open connection and the upstream HTTP proxy its plain-HTTP requests go to.
type ClientConn = (http1::SendRequest<Full<Bytes>>, Option<UpstreamProxy>);

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("proxy", &self.proxy)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client trusting the certificates in the PEM files `trust` (synctap's CA, the
    /// server's CA), sending requests through `proxy` when given, as `user` (sent in
    /// `X-Synctap-User`, which the reference server reports as the login).
    ///
    /// # Errors
    /// When a PEM file cannot be read or holds an invalid certificate.
    pub fn new(trust: &[&Path], proxy: Option<SocketAddr>, user: &str) -> anyhow::Result<Self> {
        tls::install_default_provider();
        let mut roots = rustls::RootCertStore::empty();
        for p in trust {
            for c in ca::load_pem_certs(p)? {
                roots.add(c).context("invalid CA certificate")?;
            }
        }
        let mut cfg = ClientConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            proxy,
            user: user.to_owned(),
            raw: false,
            ..Self::raw(Arc::new(cfg))
        })
    }

    /// A direct client with a prepared TLS configuration that adds no header of its own
    /// besides Host (replay sends the recorded headers as they were).
    pub fn raw(tls: Arc<ClientConfig>) -> Self {
        Self {
            proxy: None,
            tls,
            user: String::new(),
            raw: true,
            route: ProxyRoute::default(),
            conn: Mutex::new(None),
        }
    }

    /// Reaches servers through the upstream HTTP proxies of `route` (for a client that
    /// does not go through synctap's own proxy).
    #[must_use]
    pub fn with_route(mut self, route: ProxyRoute) -> Self {
        self.route = route;
        self
    }

    /// The login sent with each request.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Sends one request and reads the whole response.
    ///
    /// # Errors
    /// When the URL is invalid, the connection or TLS handshake fails, the proxy refuses
    /// the CONNECT, or the request takes longer than 30 s.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<HttpResponse, ClientError> {
        let sent = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let uri: http::Uri = url.parse().map_err(|source| super::BadUrl::Invalid {
                url: url.to_owned(),
                source,
            })?;
            let target = Target::from_uri(&uri, url)?;
            let authority = target.authority();
            let key = target.key();
            let mut guard = self.conn.lock().await;
            let (_, (sender, via)) = match &mut *guard {
                Some(open) if open.0 == key && !open.1 .0.is_closed() => open,
                slot => slot.insert((key, self.connect(&target).await?)),
            };
            // Through a proxy, plain HTTP uses the absolute form; everything else the origin form.
            let request_target = if (self.proxy.is_some() || via.is_some()) && !target.is_tls() {
                url.to_owned()
            } else {
                uri.path_and_query()
                    .map_or("/".to_owned(), ToString::to_string)
            };
            let proxy_auth = via.as_ref().and_then(|v| v.authorization.clone());
            let http_failed = |doing| {
                let authority = authority.clone();
                move |source| ClientError::Http {
                    authority,
                    doing,
                    source,
                }
            };
            sender.ready().await.map_err(http_failed("request"))?;
            let mut rb = Request::builder()
                .method(method)
                .uri(request_target)
                .header(http::header::HOST, authority.as_str());
            if let Some(a) = proxy_auth {
                rb = rb.header(http::header::PROXY_AUTHORIZATION, a);
            }
            if !self.raw {
                rb = rb
                    .header("x-synctap-user", self.user.as_str())
                    .header(http::header::USER_AGENT, "synctap-scripted-client/0.1");
            }
            for (k, v) in headers {
                rb = rb.header(*k, *v);
            }
            let req = rb
                .body(Full::new(Bytes::from(body)))
                .map_err(ClientError::Build)?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(http_failed("request"))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = Limited::new(resp.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|source| ClientError::Body {
                    authority: authority.clone(),
                    source,
                })?
                .to_bytes();
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        })
        .await;
        sent.map_err(|_| ClientError::Timeout {
            url: url.to_owned(),
            after: REQUEST_TIMEOUT,
        })?
    }

    async fn connect(&self, target: &Target) -> Result<ClientConn, ClientError> {
        let (host, port, https) = (target.host.as_str(), target.port, target.is_tls());
        let (tcp, via) = match self.proxy {
            // synctap's own proxy: a tunnel for https, the proxy itself for http.
            Some(p) => {
                let p = UpstreamProxy {
                    host: p.ip().to_string(),
                    port: p.port(),
                    user: None,
                    authorization: None,
                };
                let tcp = if https {
                    p.tunnel(host, port).await?
                } else {
                    p.open().await?
                };
                (tcp, None)
            }
            None => self.route.connect(host, port, https).await?,
        };
        let authority = target.authority();
        if !https {
            return Ok((handshake(tcp, &authority).await?, via));
        }
        let name =
            ServerName::try_from(host.to_owned()).map_err(|source| ClientError::ServerName {
                name: host.to_owned(),
                source,
            })?;
        let tls = TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, tcp)
            .await
            .map_err(|e| TlsError::new(e, &authority))?;
        Ok((handshake(tls, &authority).await?, None))
    }
}

/// The HTTP/1 handshake on a new connection, whose task logs how the connection ended.
async fn handshake<S>(
    io: S,
    authority: &str,
) -> Result<http1::SendRequest<Full<Bytes>>, ClientError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) =
        http1::handshake(TokioIo::new(io))
            .await
            .map_err(|source| ClientError::Http {
                authority: authority.to_owned(),
                doing: "HTTP handshake",
                source,
            })?;
    tokio::spawn(
        async move {
            match conn.await {
                Ok(()) => tracing::debug!("connection closed"),
                Err(e) => {
                    tracing::debug!(error = %error_chain(&e), "connection ended with an error")
                }
            }
        }
        .instrument(tracing::debug_span!("http_client", server = %authority)),
    );
    Ok(sender)
}
