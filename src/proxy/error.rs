//! Errors of the proxy that callers can match on, and which side of an exchange is to
//! blame for a failure.
//!
//! Every error recorded in a capture starts with the side at fault (`client: ...` or
//! `upstream: ...`), so a reader can tell at once whether the client or the server broke
//! the exchange. The causes are joined with `: ` by [`crate::net::error_chain`].

use std::fmt;
use std::time::Duration;

use crate::net::{ConnectError, TlsError};

/// Which side of an exchange caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The client (what connects to the proxy).
    Client,
    /// The upstream server (what the proxy connects to).
    Upstream,
}

impl Fault {
    /// `"client: {what}"` or `"upstream: {what}"`, the form every recorded error has.
    pub(crate) fn blame(self, what: impl fmt::Display) -> String {
        format!("{self}: {what}")
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Client => "client",
            Self::Upstream => "upstream",
        })
    }
}

/// Why an upstream connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpstreamError {
    /// TCP, TLS and HTTP handshakes together took longer than the connect timeout.
    #[error("connecting to {authority} timed out after {} (--upstream-connect-timeout)", secs(*after))]
    ConnectTimeout { authority: String, after: Duration },
    /// The name to send as SNI is not a valid server name.
    #[error("invalid upstream server name {name:?}")]
    ServerName {
        name: String,
        #[source]
        source: rustls_pki_types::InvalidDnsNameError,
    },
    /// The TCP connection, directly or through the upstream HTTP proxy, failed (the
    /// error names the proxy and its answer when there is one).
    #[error(transparent)]
    Route(#[from] ConnectError),
    /// The TLS handshake failed; a refused certificate is described in words with the
    /// option that fixes it.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The HTTP/1 or HTTP/2 handshake on the new connection failed.
    #[error("upstream HTTP handshake with {authority} failed")]
    Handshake {
        authority: String,
        #[source]
        source: hyper::Error,
    },
}

/// A timeout that ended an exchange or a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Timeout {
    /// The upstream sent no response head in time after the request was sent.
    #[error("timed out: no response head within {} after the request (--upstream-timeout)", secs(*.0))]
    UpstreamResponse(Duration),
    /// The upstream stopped sending the response body.
    #[error("timed out: no response body data for {} (--upstream-idle-timeout)", secs(*.0))]
    UpstreamIdle(Duration),
    /// The client stopped sending the request body.
    #[error("timed out: no request body data for {} (--client-idle-timeout)", secs(*.0))]
    ClientBody(Duration),
}

impl Timeout {
    /// The side that did not send in time.
    pub(crate) fn fault(self) -> Fault {
        match self {
            Self::UpstreamResponse(_) | Self::UpstreamIdle(_) => Fault::Upstream,
            Self::ClientBody(_) => Fault::Client,
        }
    }
}

/// A CONNECT request-target that cannot be tunnelled to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadConnect {
    /// No `host:port` at all.
    #[error("CONNECT needs host:port")]
    NoAuthority,
    /// `host` without `:port`.
    #[error("CONNECT {0:?} has no port: send host:port")]
    NoPort(String),
    /// A port that is not a number from 1 to 65535.
    #[error("CONNECT {target:?} has an invalid port {port:?}: use 1-65535")]
    BadPort { target: String, port: String },
    /// An empty host, or user information.
    #[error("CONNECT {0:?} has no valid host")]
    BadHost(String),
}

/// Seconds with up to three decimals, as the flags take them (`1.5s`, `300s`).
fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_side_and_the_flag() {
        let t = Timeout::UpstreamResponse(Duration::from_millis(1500));
        assert_eq!(
            t.fault().blame(t),
            "upstream: timed out: no response head within 1.5s after the request (--upstream-timeout)"
        );
        let e = UpstreamError::Route(ConnectError::Io {
            authority: "h:1".into(),
            source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        });
        assert_eq!(
            crate::net::error_chain(&e),
            "cannot connect to h:1: refused"
        );
        assert_eq!(
            Timeout::ClientBody(Duration::from_secs(2)).fault(),
            Fault::Client
        );
    }
}

/// A rule closed the client connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("reset by a rule")]
pub(crate) struct Reset;
