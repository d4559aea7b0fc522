//! Where a connection goes: a scheme, a host and a port, parsed once from a URL and
//! turned into the forms HTTP needs (`host:port` for TCP and CONNECT, the `Host` header,
//! the origin `scheme://host[:port]`). Used by the proxy (reverse target, absolute-form
//! requests), the HTTP client and replay.

use std::fmt;

use super::error::BadUrl;

/// A server to connect to: `http` or `https`, a host, a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Target {
    /// Parses `https://host[:port]` (a path, if any, is ignored; no scheme means https).
    ///
    /// # Errors
    /// When the URL is invalid, has no host or an unsupported scheme.
    pub fn parse(url: &str) -> Result<Self, BadUrl> {
        Self::resolve(&parse_uri(url)?, url, Some("https"))
    }

    /// The target of an absolute URL (`http` or `https`).
    ///
    /// # Errors
    /// When the URL is invalid, has no scheme, another scheme than http/https, or no host.
    pub fn from_url(url: &str) -> Result<Self, BadUrl> {
        Self::from_uri(&parse_uri(url)?, url)
    }

    /// The target of an absolute URI (`http` or `https`); `url` names it in errors.
    ///
    /// # Errors
    /// When the URI has no scheme, another scheme than http/https, or no host.
    pub fn from_uri(uri: &http::Uri, url: &str) -> Result<Self, BadUrl> {
        Self::resolve(uri, url, None)
    }

    fn resolve(uri: &http::Uri, url: &str, default_scheme: Option<&str>) -> Result<Self, BadUrl> {
        let scheme = uri
            .scheme_str()
            .or(default_scheme)
            .ok_or_else(|| BadUrl::NoScheme {
                url: url.to_owned(),
            })?
            .to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(BadUrl::Scheme {
                url: url.to_owned(),
                scheme,
            });
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| BadUrl::NoHost {
                url: url.to_owned(),
            })?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(default_port(&scheme));
        Ok(Self { scheme, host, port })
    }

    /// `host:port`, with brackets around IPv6 literals.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.bracketed_host(), self.port)
    }

    /// Whether TLS is used.
    pub fn is_tls(&self) -> bool {
        self.scheme == "https"
    }

    /// The `Host` header value: `host[:port]`, the port omitted when it is the scheme's
    /// default.
    pub fn host_header(&self) -> String {
        if self.port == default_port(&self.scheme) {
            self.bracketed_host()
        } else {
            self.authority()
        }
    }

    /// `scheme://host[:port]`, the port omitted when it is the scheme's default.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host_header())
    }

    /// `scheme://host:port`, the port always given: one key per connection.
    pub fn key(&self) -> String {
        format!("{}://{}", self.scheme, self.authority())
    }

    fn bracketed_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())
    }
}

fn parse_uri(url: &str) -> Result<http::Uri, BadUrl> {
    url.parse().map_err(|source| BadUrl::Invalid {
        url: url.to_owned(),
        source,
    })
}

/// 443 for https, 80 otherwise.
fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() -> Result<(), BadUrl> {
        let t = Target::parse("https://[::1]:8443/x")?;
        assert_eq!(t.authority(), "[::1]:8443");
        assert_eq!(t.origin(), "https://[::1]:8443");
        assert_eq!(Target::parse("http://h")?.port, 80);
        assert_eq!(Target::parse("h:8443")?.key(), "https://h:8443");
        assert_eq!(Target::parse("https://h:443/")?.host_header(), "h");
        assert!(matches!(
            Target::from_url("/x"),
            Err(BadUrl::NoScheme { .. })
        ));
        assert!(matches!(
            Target::parse("ftp://h"),
            Err(BadUrl::Scheme { scheme, .. }) if scheme == "ftp"
        ));
        let e = Target::parse("ftp://h").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("unsupported scheme \"ftp\" in \"ftp://h\": use http:// or https://")
        );
        Ok(())
    }
}
