//! What the proxy is told to do: [`ProxyConfig`], built by `synctap proxy` from its flags
//! (and by the demo and the tests directly).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::limits::Limits;
use super::timeouts::Timeouts;
use crate::net::{ProxyRoute, Target};
use crate::rules::Rule;

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
    pub upstream_proxy: ProxyRoute,
    /// Rules from the command line (`--rule`), applied in order before the file's.
    pub rules: Vec<Rule>,
    /// The rules file (`--rules`) and the rules read from it at start; reread when it
    /// changes.
    pub rules_file: Option<(PathBuf, Vec<Rule>)>,
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
            upstream_proxy: ProxyRoute::default(),
            rules: Vec::new(),
            rules_file: None,
        }
    }
}
