//! The intercepting proxy: hyper + tokio + rustls + rcgen.
//!
//! Forward mode accepts HTTP proxy requests: `CONNECT` (TLS intercepted with a leaf minted
//! by synctap's CA, or tunnelled untouched for passthrough hosts and non-TLS streams) and
//! absolute-form `http://` requests. Reverse mode stands in for one server. Every client
//! connection gets its own upstream connection (connection affinity, so NTLM/Negotiate,
//! which authenticate the connection, keep working). Bodies stream through; a copy goes
//! to the capture writer through a non-blocking sink, and forwarding never waits for it.
//!
//! Layout, in the order a request meets it: this module binds and accepts ([`Proxy`]);
//! `conn` serves one client connection (plain, CONNECT, TLS interception, tunnels) in
//! a `ConnCtx` (`ctx`) over the proxy-wide `Shared` state (`shared`); `forward` forwards
//! one request as small steps over the connection's own upstream connection (`upstream`),
//! shaping heads (`shape`) and answering failures (`respond`); `tap` copies bodies to the
//! capture; `head`, `io` and `timeouts` wrap the connections' IO; `limits`, `scope` and
//! `config` hold what the flags set; `error` says which side failed. CA, TLS configs and
//! routes to upstream proxies come from [`crate::net`].
//!
//! Tracing: each client connection runs in a `connection` span (`conn`, `client`) and each
//! exchange in an `exchange` span (`conn`, `client`, `exchange`, `method`, `url`), at
//! debug level, so `RUST_LOG=synctap=debug` tells one exchange's story.

mod config;
mod conn;
mod ctx;
mod error;
mod forward;
mod head;
mod held;
mod intercept;
mod io;
mod limits;
mod respond;
mod ruled;
mod rules;
mod scope;
mod shape;
mod shared;
mod tap;
mod timeouts;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::capture::CaptureSink;
use crate::model::Exchange;
use crate::net::ca::{self, CertificateAuthority};
use crate::net::listen::accept_until;
use crate::net::tls;
use shared::{ActiveGuard, Shared};

pub use config::ProxyConfig;
pub use limits::Limits;
pub use timeouts::Timeouts;

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
        let rules = rules::RuleBook::new(config.rules.clone(), config.rules_file.clone());
        if let Some(book) = &rules {
            Arc::clone(book).watch(shutdown_rx.clone());
        }
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
            rules,
            intercept: None,
        });
        Ok(Self {
            listener,
            shared,
            shutdown_tx,
        })
    }

    /// Turns on the UI's intercept (`proxy --ui`): returns the channel the UI sends its
    /// commands on and the one it hears about paused exchanges from. A paused exchange
    /// held longer than `timeout` goes on unchanged. Call before [`Proxy::run`], inside
    /// the runtime; `None` when the proxy is shared already.
    pub fn intercept(
        &mut self,
        timeout: std::time::Duration,
    ) -> Option<(
        tokio::sync::mpsc::UnboundedSender<crate::model::InterceptCmd>,
        std::sync::mpsc::Receiver<crate::model::InterceptNotice>,
    )> {
        let shared = Arc::get_mut(&mut self.shared)?;
        let (notice_tx, notice_rx) = std::sync::mpsc::channel();
        let (cmd_tx, cmd_rx) = tokio::sync::mpsc::unbounded_channel();
        let ic = Arc::new(intercept::Intercept::new(timeout, notice_tx));
        Arc::clone(&ic).serve(cmd_rx);
        shared.intercept = Some(ic);
        Some((cmd_tx, notice_rx))
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
        accept_until(&listener, stop, |stream, peer| {
            let guard = ActiveGuard::new(&shared);
            let max = shared.config.limits.max_client_connections;
            let slot = shared.clients.acquire(peer.ip(), max);
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                match slot {
                    Ok(slot) => conn::handle(shared, stream, peer, slot).await,
                    Err(open) => conn::refuse(shared, stream, peer, open).await,
                }
                drop(guard);
            });
        })
        .await;
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
