//! [`ConnCtx`]: what every request on one client connection shares (the connection's
//! id, client, TLS facts, fixed upstream target, its own upstream connection, its
//! watchdog), and how records that belong to no request are emitted.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use super::error::Fault;
use super::head::SharedWindow;
use super::limits::ClientSlot;
use super::shared::Shared;
use super::timeouts::ClientActivity;
use super::upstream::Upstream;
use crate::model::{Exchange, ExchangeKind, ProxyMode, Timings, TlsInfo};
use crate::net::Target;

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
    /// What the client connection is doing, for its timeouts.
    pub(crate) activity: Arc<ClientActivity>,
    /// This connection's place in the per-client connection count.
    pub(crate) slot: Option<Arc<ClientSlot>>,
}

impl ConnCtx {
    pub(crate) fn new(
        shared: &Arc<Shared>,
        id: u64,
        client_addr: SocketAddr,
        mode: ProxyMode,
    ) -> Self {
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
            activity: ClientActivity::new(),
            slot: None,
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
            imported: None,
            modified: None,
        }
    }

    /// Records a failure that belongs to no request (a broken or timed-out head, a
    /// refused connection, a failed TLS handshake): an exchange to `server` carrying
    /// `error`, changed by `fill` first.
    pub(crate) fn emit_error(
        &self,
        server: String,
        error: String,
        fill: impl FnOnce(&mut Exchange),
    ) {
        let mut x = self.exchange(self.shared.exchange_id(), ExchangeKind::Http, server);
        x.error = Some(error);
        fill(&mut x);
        self.emit(x);
    }

    /// Records a client's fault that belongs to no request (a broken or timed-out head).
    pub(crate) fn emit_client_error(&self, what: &str) {
        let server = self
            .target
            .as_ref()
            .map(Target::authority)
            .unwrap_or_default();
        self.emit_error(server, Fault::Client.blame(what), |_| {});
    }

    /// Emits a record straight away (errors before any request, tunnels).
    pub(crate) fn emit(&self, x: Exchange) {
        tracing::debug!(
            exchange = x.id,
            error = x.error.as_deref(),
            "exchange recorded"
        );
        if let Some(live) = &self.shared.live {
            let _ = live.send(Arc::new(x.clone()));
        }
        self.shared
            .sink
            .try_send(crate::capture::Record::Exchange(Box::new(x)), 0);
    }
}
