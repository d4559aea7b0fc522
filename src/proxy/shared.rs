//! The state every connection of one proxy shares ([`Shared`]), and the guard that counts
//! a connection as active so shutdown can wait for it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

use super::config::ProxyConfig;
use super::limits::ClientCounts;
use crate::capture::CaptureSink;
use crate::model::Exchange;
use crate::net::ca::CertificateAuthority;
use crate::net::tls::UpstreamConfigs;

/// State shared by every connection.
pub(crate) struct Shared {
    pub(crate) config: ProxyConfig,
    pub(crate) ca: CertificateAuthority,
    pub(crate) upstream_tls: UpstreamConfigs,
    pub(crate) keylog: Option<Arc<dyn rustls::KeyLog>>,
    pub(crate) sink: CaptureSink,
    pub(crate) live: Option<tokio::sync::broadcast::Sender<Arc<Exchange>>>,
    pub(crate) next_exchange: AtomicU64,
    pub(crate) next_connection: AtomicU64,
    pub(crate) active: AtomicUsize,
    pub(crate) idle: Notify,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) local_addr: SocketAddr,
    pub(crate) clients: Arc<ClientCounts>,
    /// The rules; `None` when there are none (no rules file either).
    pub(crate) rules: Option<Arc<super::rules::RuleBook>>,
    /// The UI's intercept (`proxy --ui`); `None` without the UI.
    pub(crate) intercept: Option<Arc<super::intercept::Intercept>>,
}

impl Shared {
    /// The next exchange id.
    pub(crate) fn exchange_id(&self) -> u64 {
        self.next_exchange.fetch_add(1, Ordering::Relaxed)
    }

    /// The next connection id.
    pub(crate) fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
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
