//! Errors of the network layer that callers can match on: a URL that names no server
//! ([`BadUrl`]), a TCP connection that could not be opened directly or through an
//! upstream HTTP proxy ([`ConnectError`]), a failed request of the HTTP client
//! ([`ClientError`]). Each `Display` describes its own layer only; the cause is in
//! `source()`, and [`error_chain`] joins the whole chain for a log line or a record.

use std::time::Duration;

/// A URL that does not name an `http` or `https` server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BadUrl {
    /// Not a URL at all.
    #[error("invalid URL {url:?}")]
    Invalid {
        /// The text given.
        url: String,
        /// Why it does not parse.
        #[source]
        source: http::uri::InvalidUri,
    },
    /// An absolute URL was needed.
    #[error("{url:?} has no scheme: use http:// or https://")]
    NoScheme {
        /// The text given.
        url: String,
    },
    /// A scheme other than http and https.
    #[error("unsupported scheme {scheme:?} in {url:?}: use http:// or https://")]
    Scheme {
        /// The text given.
        url: String,
        /// Its scheme, lowercase.
        scheme: String,
    },
    /// No host part.
    #[error("no host in {url:?}")]
    NoHost {
        /// The text given.
        url: String,
    },
}

/// Why a TCP connection towards a server could not be opened, directly or through an
/// upstream HTTP proxy. `proxy` is the proxy's URL without its password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The server did not accept the connection in time.
    #[error("connect to {authority} timed out")]
    Timeout {
        /// `host:port`.
        authority: String,
    },
    /// The server refused the connection, or the name did not resolve.
    #[error("cannot connect to {authority}")]
    Io {
        /// `host:port`.
        authority: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The upstream proxy did not accept the connection in time.
    #[error("upstream proxy {proxy} did not answer in time")]
    ProxyTimeout {
        /// The proxy.
        proxy: String,
    },
    /// The upstream proxy refused the connection, or its name did not resolve.
    #[error("cannot connect to upstream proxy {proxy}")]
    ProxyIo {
        /// The proxy.
        proxy: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The upstream proxy did not answer the CONNECT in time.
    #[error("upstream proxy {proxy} did not answer CONNECT in time")]
    ConnectTimeout {
        /// The proxy.
        proxy: String,
    },
    /// Sending the CONNECT or reading its answer failed.
    #[error("upstream proxy {proxy}: {doing}")]
    ConnectIo {
        /// The proxy.
        proxy: String,
        /// `cannot send CONNECT` or `reading the CONNECT answer`.
        doing: &'static str,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The proxy's answer head to the CONNECT is longer than 16 KiB.
    #[error("upstream proxy {proxy}: CONNECT answer head too long")]
    ConnectHeadTooLong {
        /// The proxy.
        proxy: String,
    },
    /// The proxy closed the connection before its answer head was complete.
    #[error("upstream proxy {proxy} closed the connection during CONNECT {authority}")]
    ConnectClosed {
        /// The proxy.
        proxy: String,
        /// The `host:port` asked for.
        authority: String,
    },
    /// The proxy answered the CONNECT with a status other than 2xx.
    #[error("upstream proxy {proxy} refused CONNECT {authority}: {status_line}{}", refusal_hint(status, *credentials_sent))]
    ConnectRefused {
        /// The proxy.
        proxy: String,
        /// The `host:port` asked for.
        authority: String,
        /// The status code, as sent (`407`).
        status: String,
        /// The status line, escaped for one line of text.
        status_line: String,
        /// Whether `Proxy-Authorization` was sent.
        credentials_sent: bool,
    },
}

impl ConnectError {
    /// The upstream proxy at fault, if the failure was at or through one.
    pub fn proxy(&self) -> Option<&str> {
        match self {
            Self::Timeout { .. } | Self::Io { .. } => None,
            Self::ProxyTimeout { proxy }
            | Self::ProxyIo { proxy, .. }
            | Self::ConnectTimeout { proxy }
            | Self::ConnectIo { proxy, .. }
            | Self::ConnectHeadTooLong { proxy }
            | Self::ConnectClosed { proxy, .. }
            | Self::ConnectRefused { proxy, .. } => Some(proxy),
        }
    }
}

/// What a refusal of CONNECT suggests, after its status line.
fn refusal_hint(status: &str, credentials_sent: bool) -> &'static str {
    match status {
        "407" if !credentials_sent => {
            " (it wants credentials: --upstream-proxy http://USER:PASS@host:port)"
        }
        "407" => " (it refused the credentials)",
        _ => "",
    }
}

/// A failed TLS handshake with a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate was refused; the cause says why in words and names the
    /// option that fixes it.
    #[error("TLS handshake with {authority} failed")]
    Untrusted {
        /// `host:port`.
        authority: String,
        /// Why the certificate was refused.
        #[source]
        source: super::trust::Untrusted,
    },
    /// Any other handshake failure.
    #[error("TLS handshake with {authority} failed")]
    Handshake {
        /// `host:port`.
        authority: String,
        /// What rustls said.
        #[source]
        source: std::io::Error,
    },
}

impl TlsError {
    /// Sorts a failed handshake with `authority`: a refused certificate, or anything else.
    pub fn new(e: std::io::Error, authority: &str) -> Self {
        match super::trust::untrusted_in(&e) {
            Some(u) => Self::Untrusted {
                authority: authority.to_owned(),
                source: u.clone(),
            },
            None => Self::Handshake {
                authority: authority.to_owned(),
                source: e,
            },
        }
    }
}

/// Why synctap could not present a certificate of its own: minting a leaf with its CA
/// (`CertificateAuthority::leaf`) or building the TLS server config around it
/// (`tls::server_config`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MintError {
    /// A name to put in the certificate is neither an IP address nor a valid DNS name.
    #[error("invalid host name {name:?} for a certificate")]
    HostName {
        /// The name given.
        name: String,
        /// What rcgen said.
        #[source]
        source: rcgen::Error,
    },
    /// Signing the leaf with the CA's key failed.
    #[error("cannot sign a leaf certificate")]
    Sign(#[source] rcgen::Error),
    /// rustls refused the server config.
    #[error("cannot build a TLS server config")]
    Config(#[source] rustls::Error),
}

/// Why a request of [`super::HttpClient`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL names no http or https server.
    #[error(transparent)]
    Url(#[from] BadUrl),
    /// The TCP connection (direct, or through a proxy) failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The host is not a valid TLS server name.
    #[error("invalid server name {name:?}")]
    ServerName {
        /// The host.
        name: String,
        /// Why.
        #[source]
        source: rustls_pki_types::InvalidDnsNameError,
    },
    /// The TLS handshake failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The HTTP handshake failed, or the connection broke before the response head.
    #[error("{doing} with {authority} failed")]
    Http {
        /// `host:port`.
        authority: String,
        /// `HTTP handshake`, `request`.
        doing: &'static str,
        /// What hyper said.
        #[source]
        source: hyper::Error,
    },
    /// A header name or value could not be sent.
    #[error("cannot build the request")]
    Build(#[source] http::Error),
    /// The response body broke off or is larger than the client reads.
    #[error("reading the response body from {authority}")]
    Body {
        /// `host:port`.
        authority: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The whole request took longer than the client waits.
    #[error("{url}: timed out after {}s", after.as_secs())]
    Timeout {
        /// The URL.
        url: String,
        /// How long it waited.
        after: Duration,
    },
}

/// An error and its causes, `: `-joined (a cause whose text is already there is skipped).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_fixes_them() {
        let e = ConnectError::ConnectRefused {
            proxy: "http://p:3128".into(),
            authority: "h:443".into(),
            status: "407".into(),
            status_line: "HTTP/1.1 407 Proxy Authentication Required".into(),
            credentials_sent: false,
        };
        assert_eq!(
            e.to_string(),
            "upstream proxy http://p:3128 refused CONNECT h:443: HTTP/1.1 407 Proxy Authentication Required (it wants credentials: --upstream-proxy http://USER:PASS@host:port)"
        );
        assert_eq!(e.proxy(), Some("http://p:3128"));
        let io = ConnectError::Io {
            authority: "h:1".into(),
            source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        };
        assert_eq!(error_chain(&io), "cannot connect to h:1: refused");
    }
}
