//! The intercepting proxy: hyper + tokio + rustls + rcgen.
//!
//! Forward mode accepts HTTP proxy requests: `CONNECT` (TLS intercepted with a leaf minted
//! by synctap's CA, or tunnelled untouched for passthrough hosts and non-TLS streams) and
//! absolute-form `http://` requests. Reverse mode stands in for one server. Every client
//! connection gets its own upstream connection (connection affinity, so NTLM/Negotiate,
//! which authenticate the connection, keep working). Bodies stream through; a copy goes
//! to the capture writer through a non-blocking sink, and forwarding never waits for it.

pub mod ca;
mod conn;
mod error;
mod forward;
mod head;
mod limits;
pub mod scope;
pub mod tap;
mod timeouts;
pub mod tls;
pub mod trust;
pub mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::capture::CaptureSink;
use crate::model::Exchange;

pub use ca::CertificateAuthority;
pub use error::Fault;
pub use limits::Limits;
pub use timeouts::Timeouts;

/// Where reverse mode sends traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Target {
    /// Parses `https://host[:port]` (a path, if any, is ignored).
    ///
    /// # Errors
    /// When the URL has no host or an unsupported scheme.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = url
            .parse()
            .with_context(|| format!("invalid URL {url:?}"))?;
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            bail!("unsupported scheme {scheme:?} in {url:?}: use http:// or https://");
        }
        let host = uri
            .host()
            .with_context(|| format!("no host in {url:?}"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        Ok(Self { scheme, host, port })
    }

    /// `host:port`, with brackets around IPv6 literals.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether TLS is used upstream.
    pub fn is_tls(&self) -> bool {
        self.scheme == "https"
    }

    /// `scheme://host[:port]`, the port omitted when it is the scheme's default.
    pub fn origin(&self) -> String {
        let default = if self.is_tls() { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            format!("{}://{host}", self.scheme)
        } else {
            format!("{}://{host}:{}", self.scheme, self.port)
        }
    }
}

/// Everything the proxy needs to run.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Reverse mode target; forward mode when `None`.
    pub reverse: Option<Target>,
    /// Reverse mode: accept plain HTTP from clients instead of TLS.
    pub listen_plain: bool,
    /// The folder holding the CA.
    pub certs_dir: PathBuf,
    /// Extra roots for upstream verification.
    pub upstream_ca: Vec<PathBuf>,
    /// Skip upstream certificate verification.
    pub insecure_upstream: bool,
    /// Where to write TLS secrets (NSS key log format), both legs.
    pub keylog: Option<PathBuf>,
    /// At most this many bytes of each body are stored in the capture.
    pub body_limit: u64,
    /// CONNECT hosts (globs with `*` and `?`) tunnelled without interception.
    pub passthrough: Vec<String>,
    /// When not empty, only CONNECT hosts matching one of these globs are intercepted
    /// (see `scope` for how it combines with `passthrough`).
    pub intercept: Vec<String>,
    /// How long shutdown waits for exchanges in flight.
    pub shutdown_grace: Duration,
    /// How long each side may keep the proxy waiting.
    pub timeouts: Timeouts,
    /// Header and connection limits.
    pub limits: Limits,
    /// Which upstream connections go through another HTTP proxy.
    pub upstream_proxy: upstream::ProxyRoute,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            reverse: None,
            listen_plain: false,
            certs_dir: PathBuf::from("certs"),
            upstream_ca: Vec::new(),
            insecure_upstream: false,
            keylog: None,
            body_limit: 64 << 20,
            passthrough: Vec::new(),
            intercept: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            upstream_proxy: upstream::ProxyRoute::default(),
        }
    }
}

/// State shared by every connection.
pub(crate) struct Shared {
    pub(crate) config: ProxyConfig,
    pub(crate) ca: CertificateAuthority,
    pub(crate) upstream_tls: tls::UpstreamConfigs,
    pub(crate) keylog: Option<Arc<dyn rustls::KeyLog>>,
    pub(crate) sink: CaptureSink,
    pub(crate) live: Option<tokio::sync::broadcast::Sender<Arc<Exchange>>>,
    pub(crate) next_exchange: AtomicU64,
    pub(crate) next_connection: AtomicU64,
    pub(crate) active: AtomicUsize,
    pub(crate) idle: Notify,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) local_addr: SocketAddr,
    pub(crate) clients: Arc<limits::ClientCounts>,
}

impl Shared {
    pub(crate) fn exchange_id(&self) -> u64 {
        self.next_exchange.fetch_add(1, Ordering::Relaxed)
    }
}

/// Counts a connection as active while alive.
pub(crate) struct ActiveGuard(Arc<Shared>);

impl ActiveGuard {
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        shared.active.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(shared))
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A bound proxy, ready to run.
pub struct Proxy {
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown_tx: watch::Sender<bool>,
}

/// What a proxy run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// Connections accepted.
    pub connections: u64,
    /// Exchanges seen.
    pub exchanges: u64,
    /// Connections still open when the grace period ran out.
    pub abandoned: usize,
}

impl Proxy {
    /// Loads (or creates) the CA, builds TLS configs and binds the listener.
    ///
    /// # Errors
    /// When the CA cannot be loaded, a certificate file is invalid, or the address is
    /// taken.
    pub async fn bind(
        config: ProxyConfig,
        sink: CaptureSink,
        live: Option<tokio::sync::broadcast::Sender<Arc<Exchange>>>,
    ) -> anyhow::Result<Self> {
        tls::install_default_provider();
        // Reverse mode with a plain listener mints nothing: it needs no CA on disk, so
        // the certs folder may be missing or read-only.
        let mints = config.reverse.is_none() || !config.listen_plain;
        let ca = if mints {
            CertificateAuthority::load_or_create(&config.certs_dir)?.0
        } else {
            CertificateAuthority::ephemeral(&config.certs_dir)?
        };
        let keylog: Option<Arc<dyn rustls::KeyLog>> = match &config.keylog {
            Some(p) => Some(tls::FileKeyLog::open(p)? as Arc<dyn rustls::KeyLog>),
            None => None,
        };
        let mut trust = tls::UpstreamTrust {
            insecure: config.insecure_upstream,
            ..Default::default()
        };
        for p in &config.upstream_ca {
            trust.extra_roots.extend(ca::load_pem_certs(p)?);
        }
        let upstream_tls = tls::UpstreamConfigs::new(&trust, keylog.clone())?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let first_ids = (sink.first_exchange_id(), sink.first_connection_id());
        let shared = Arc::new(Shared {
            config,
            ca,
            upstream_tls,
            keylog,
            sink,
            live,
            // Appending to a capture: ids continue after the ones it holds.
            next_exchange: AtomicU64::new(first_ids.0),
            next_connection: AtomicU64::new(first_ids.1),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            shutdown: shutdown_rx,
            local_addr,
            clients: Arc::default(),
        });
        Ok(Self {
            listener,
            shared,
            shutdown_tx,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The CA's certificate path.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.shared.ca.cert_path()
    }

    /// Serves until `stop` completes, then stops accepting, lets exchanges in flight
    /// finish (up to the grace period) and returns.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) -> RunSummary {
        let Self {
            listener,
            shared,
            shutdown_tx,
        } = self;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let guard = ActiveGuard::new(&shared);
                        let max = shared.config.limits.max_client_connections;
                        let slot = shared.clients.acquire(peer.ip(), max);
                        let shared = Arc::clone(&shared);
                        tokio::spawn(async move {
                            match slot {
                                Ok(slot) => conn::handle(shared, stream, peer, slot).await,
                                Err(open) => limits::refuse(shared, stream, peer, open).await,
                            }
                            drop(guard);
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        drop(listener);
        let _ = shutdown_tx.send(true);
        let deadline = tokio::time::sleep(shared.config.shutdown_grace);
        tokio::pin!(deadline);
        loop {
            let notified = shared.idle.notified();
            if shared.active.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::select! {
                () = notified => {}
                () = &mut deadline => break,
            }
        }
        RunSummary {
            connections: shared.next_connection.load(Ordering::Relaxed)
                - shared.sink.first_connection_id(),
            exchanges: shared.next_exchange.load(Ordering::Relaxed)
                - shared.sink.first_exchange_id(),
            abandoned: shared.active.load(Ordering::SeqCst),
        }
    }
}

/// Whether `host` matches a glob with `*` (any run) and `?` (one character),
/// case-insensitively.
pub fn glob_match(pattern: &str, host: &str) -> bool {
    fn rec(p: &[u8], h: &[u8]) -> bool {
        match p.split_first() {
            None => h.is_empty(),
            Some((b'*', rest)) => (0..=h.len()).any(|i| rec(rest, &h[i..])),
            Some((b'?', rest)) => !h.is_empty() && rec(rest, &h[1..]),
            Some((c, rest)) => {
                h.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && rec(rest, &h[1..])
            }
        }
    }
    rec(pattern.as_bytes(), host.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.example.com", "a.b.EXAMPLE.com"));
        assert!(!glob_match("*.example.com", "example.org"));
        assert!(glob_match("login.?icrosoft.com", "login.microsoft.com"));
        assert!(glob_match("*", "anything"));
    }

    #[test]
    fn targets() -> anyhow::Result<()> {
        let t = Target::parse("https://[::1]:8443/x")?;
        assert_eq!(t.authority(), "[::1]:8443");
        assert_eq!(Target::parse("http://h")?.port, 80);
        assert!(Target::parse("ftp://h").is_err());
        Ok(())
    }
}
