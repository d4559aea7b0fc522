//! The network layer under the proxy, the reference server, replay and the mock: what
//! they share to open connections and speak TLS.
//!
//! - [`ca`]: synctap's certificate authority and the leaves it mints;
//! - [`tls`]: server configs for a minted leaf, client configs (OS trust store, extra
//!   roots, pinning through [`trust`], or no verification), the key log;
//! - [`route`]: reaching a server directly or through an upstream HTTP proxy (CONNECT);
//! - [`target`]: a server as scheme, host and port;
//! - [`client`]: [`HttpClient`], the HTTP/1.1 client of replay and the scripted clients;
//! - [`listen`]: the accept loop and the connection server of `serve` and `mock`;
//! - [`error`]: the errors of all of these, as enums callers can match on.
//!
//! Nothing here knows about capturing, decoding or the proxy; nothing here imports the
//! layers above it (proxy, server, replay, tui, cli).

pub mod ca;
pub mod client;
pub mod error;
pub(crate) mod listen;
pub(crate) mod route;
mod target;
pub mod tls;
pub(crate) mod trust;
mod verify;

pub use client::{HttpClient, HttpResponse};
pub use error::{error_chain, BadUrl, ClientError, ConnectError, MintError, TlsError};
pub use route::{ProxyRoute, UpstreamProxy};
pub use target::Target;
