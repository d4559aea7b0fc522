//! Reaching upstream servers through another HTTP proxy (a corporate proxy):
//! `--upstream-proxy http://[user:pass@]host:port`, or, without it, the `HTTPS_PROXY`,
//! `HTTP_PROXY` and `NO_PROXY` variables (either case; lowercase first) as curl reads
//! them. HTTPS goes through `CONNECT`; plain HTTP is sent in absolute form. Each call
//! opens its own connection (one CONNECT per client connection), so connection-bound
//! authentication such as NTLM keeps working through the chain.

use std::time::Duration;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::decode::text::percent_decode;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// One HTTP proxy to send upstream traffic through.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamProxy {
    /// Host name or IP literal (without brackets).
    pub host: String,
    /// Port (default 3128 when the URL names none, as curl's 1080 is for SOCKS).
    pub port: u16,
    /// The user name, if the URL carries credentials.
    pub user: Option<String>,
    /// The `Proxy-Authorization` value (`Basic …`), if the URL carries credentials.
    pub authorization: Option<String>,
}

impl std::fmt::Debug for UpstreamProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password.
        f.write_str(&self.display())
    }
}

impl UpstreamProxy {
    /// Parses `http://[user:pass@]host[:port]` (a bare `host:port` is taken as http).
    ///
    /// # Errors
    /// When the URL is not an http:// URL with a host.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let text = url.trim();
        let rest = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => bail!(
                "upstream proxy {:?}: only http:// proxies are supported, not {scheme}://",
                redact(text)
            ),
            None => text,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (creds, hostport) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .with_context(|| format!("upstream proxy {:?}: bad IPv6 literal", redact(text)))?;
            (h.to_owned(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        if host.is_empty() {
            bail!("upstream proxy {:?}: no host", redact(text));
        }
        let port =
            match port {
                Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).with_context(|| {
                    format!("upstream proxy {:?}: bad port {p:?}", redact(text))
                })?,
                None => 3128,
            };
        let (user, authorization) = match creds {
            Some(c) => {
                let (u, p) = c.split_once(':').unwrap_or((c, ""));
                let (u, p) = (percent_decode(u), percent_decode(p));
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                (Some(u), Some(format!("Basic {token}")))
            }
            None => (None, None),
        };
        Ok(Self {
            host,
            port,
            user,
            authorization,
        })
    }

    /// `http://[user@]host:port`, without the password.
    pub fn display(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match &self.user {
            Some(u) => format!("http://{u}@{host}:{}", self.port),
            None => format!("http://{host}:{}", self.port),
        }
    }

    /// Opens a TCP connection to the proxy.
    ///
    /// # Errors
    /// A text naming the proxy, when it cannot be reached.
    pub async fn open(&self) -> Result<TcpStream, String> {
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| format!("upstream proxy {} did not answer in time", self.display()))?
        .map_err(|e| format!("cannot connect to upstream proxy {}: {e}", self.display()))?;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }

    /// Opens a connection to the proxy and a `CONNECT host:port` tunnel through it.
    ///
    /// # Errors
    /// A text naming the proxy and its answer, when it cannot be reached or refuses.
    pub async fn tunnel(&self, host: &str, port: u16) -> Result<TcpStream, String> {
        let mut tcp = self.open().await?;
        tokio::time::timeout(CONNECT_TIMEOUT, self.connect_on(&mut tcp, host, port))
            .await
            .map_err(|_| {
                format!(
                    "upstream proxy {} did not answer CONNECT in time",
                    self.display()
                )
            })??;
        Ok(tcp)
    }

    /// Sends `CONNECT host:port` on `tcp` and reads the answer head.
    async fn connect_on(&self, tcp: &mut TcpStream, host: &str, port: u16) -> Result<(), String> {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(a) = &self.authorization {
            head.push_str(&format!("Proxy-Authorization: {a}\r\n"));
        }
        head.push_str("\r\n");
        let who = self.display();
        tcp.write_all(head.as_bytes())
            .await
            .map_err(|e| format!("upstream proxy {who}: cannot send CONNECT: {e}"))?;
        let mut buf = Vec::with_capacity(256);
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            if buf.len() > 16 * 1024 {
                return Err(format!(
                    "upstream proxy {who}: CONNECT answer head too long"
                ));
            }
            let n = tcp
                .read(&mut byte)
                .await
                .map_err(|e| format!("upstream proxy {who}: reading the CONNECT answer: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "upstream proxy {who} closed the connection during CONNECT {authority}"
                ));
            }
            buf.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.lines().next().unwrap_or("").trim();
        let status = line.split_whitespace().nth(1).unwrap_or("");
        if status.len() == 3 && status.starts_with('2') {
            return Ok(());
        }
        let hint = match status {
            "407" if self.authorization.is_none() => {
                " (it wants credentials: --upstream-proxy http://USER:PASS@host:port)"
            }
            "407" => " (it refused the credentials)",
            _ => "",
        };
        Err(format!(
            "upstream proxy {who} refused CONNECT {authority}: {}{hint}",
            line.escape_debug()
        ))
    }
}

/// Which upstream proxy (if any) each upstream connection goes through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyRoute {
    /// For `https://` targets.
    pub https: Option<UpstreamProxy>,
    /// For `http://` targets.
    pub http: Option<UpstreamProxy>,
    /// `NO_PROXY` entries: hosts reached directly.
    pub no_proxy: Vec<String>,
    /// Where the setting came from (`--upstream-proxy`, `HTTPS_PROXY`…).
    pub source: String,
}

impl ProxyRoute {
    /// Everything through `proxy` (`--upstream-proxy`).
    pub fn explicit(proxy: UpstreamProxy) -> Self {
        Self {
            https: Some(proxy.clone()),
            http: Some(proxy),
            no_proxy: Vec::new(),
            source: "--upstream-proxy".to_owned(),
        }
    }

    /// `--upstream-proxy URL` when given, else the environment.
    ///
    /// # Errors
    /// When the URL (or a variable) is not a valid proxy URL.
    pub fn from_flag_or_env(flag: Option<&str>) -> anyhow::Result<Self> {
        match flag {
            Some(url) => Ok(Self::explicit(UpstreamProxy::parse(url)?)),
            None => Self::from_env(),
        }
    }

    /// From the process environment, as curl reads it.
    ///
    /// # Errors
    /// When a variable holds an invalid proxy URL.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// From variables looked up by `get` (lowercase names win over uppercase ones).
    ///
    /// # Errors
    /// When a variable holds an invalid proxy URL.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| -> Option<(String, String)> {
            [name.to_ascii_lowercase(), name.to_ascii_uppercase()]
                .into_iter()
                .find_map(|n| get(&n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
        };
        let mut sources = Vec::new();
        let mut pick = |name: &str| -> anyhow::Result<Option<UpstreamProxy>> {
            let Some((n, v)) = var(name).or_else(|| var("all_proxy")) else {
                return Ok(None);
            };
            let p = UpstreamProxy::parse(&v).with_context(|| format!("in {n}"))?;
            if !sources.contains(&n) {
                sources.push(n);
            }
            Ok(Some(p))
        };
        let https = pick("https_proxy")?;
        let http = pick("http_proxy")?;
        let no_proxy = var("no_proxy")
            .map(|(n, v)| {
                if https.is_some() || http.is_some() {
                    sources.push(n);
                }
                v.split([',', ' '])
                    .map(|e| e.trim().to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            https,
            http,
            no_proxy,
            source: sources.join(", "),
        })
    }

    /// The proxy for a connection to `host` (`https`: TLS upstream), `None` for direct.
    pub fn for_target(&self, https: bool, host: &str) -> Option<&UpstreamProxy> {
        let p = if https {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }?;
        (!no_proxy_matches(&self.no_proxy, host)).then_some(p)
    }

    /// One line for the startup banner, `None` when everything goes direct.
    pub fn describe(&self) -> Option<String> {
        if self.https.is_none() && self.http.is_none() {
            return None;
        }
        let mut parts = Vec::new();
        match (&self.https, &self.http) {
            (Some(a), Some(b)) if a == b => parts.push(format!("via {}", a.display())),
            (a, b) => {
                if let Some(a) = a {
                    parts.push(format!("https via {}", a.display()));
                }
                if let Some(b) = b {
                    parts.push(format!("http via {}", b.display()));
                }
            }
        }
        if !self.no_proxy.is_empty() {
            parts.push(format!("direct for {}", self.no_proxy.join(",")));
        }
        Some(format!(
            "upstream {} (from {})",
            parts.join(", "),
            self.source
        ))
    }

    /// A TCP connection towards `host:port`: direct, or through the proxy (a CONNECT
    /// tunnel for TLS, a plain connection to the proxy otherwise). The second value is the
    /// proxy used for plain HTTP, whose requests must then be sent in absolute form.
    ///
    /// # Errors
    /// A text naming the server or the proxy.
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
        tls: bool,
    ) -> Result<(TcpStream, Option<UpstreamProxy>), String> {
        match self.for_target(tls, host) {
            Some(p) if tls => Ok((p.tunnel(host, port).await?, None)),
            Some(p) => Ok((p.open().await?, Some(p.clone()))),
            None => {
                let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
                    .await
                    .map_err(|_| format!("connect to {host}:{port} timed out"))?
                    .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
                let _ = tcp.set_nodelay(true);
                Ok((tcp, None))
            }
        }
    }
}

/// Rewrites an origin-form request for an HTTP proxy: absolute-form target and the
/// proxy's credentials.
pub(crate) fn to_absolute_form(
    parts: &mut http::request::Parts,
    origin: &str,
    via: &UpstreamProxy,
) {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    if let Ok(u) = format!("{origin}{path}").parse() {
        parts.uri = u;
    }
    if let Some(v) = via
        .authorization
        .as_deref()
        .and_then(|a| http::HeaderValue::from_str(a).ok())
    {
        parts.headers.insert(http::header::PROXY_AUTHORIZATION, v);
    }
}

/// curl's `NO_PROXY` rule: `*` matches everything; an entry matches the host itself and
/// its subdomains (a leading dot is ignored); IP literals match exactly.
pub fn no_proxy_matches(entries: &[String], host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    entries.iter().any(|e| {
        let e = e.trim_start_matches('.').trim_start_matches('[');
        let e = e.split(']').next().unwrap_or(e);
        // An entry may carry a port (curl ignores it for matching).
        let e = if e.matches(':').count() == 1 {
            e.split(':').next().unwrap_or(e)
        } else {
            e
        };
        e == "*"
            || host == e
            || (host.len() > e.len()
                && host.ends_with(e)
                && host.as_bytes()[host.len() - e.len() - 1] == b'.')
    })
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        (None, Some(at)) => format!("***{}", &url[at..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proxy_urls_and_hides_the_password() -> anyhow::Result<()> {
        let p = UpstreamProxy::parse("http://al%40x:s3cret@proxy.corp:8080")?;
        assert_eq!((p.host.as_str(), p.port), ("proxy.corp", 8080));
        assert_eq!(p.user.as_deref(), Some("al@x"));
        assert_eq!(p.display(), "http://al@x@proxy.corp:8080");
        assert!(!format!("{p:?}").contains("s3cret"));
        assert_eq!(UpstreamProxy::parse("proxy:3128")?.port, 3128);
        assert_eq!(UpstreamProxy::parse("http://[::1]:9")?.host, "::1");
        let e = UpstreamProxy::parse("socks5://u:pw@h:1")
            .err()
            .map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|e| !e.contains("pw")), "{e:?}");
        assert!(UpstreamProxy::parse("http://h:99999").is_err());
        Ok(())
    }

    #[test]
    fn env_as_curl_reads_it() -> anyhow::Result<()> {
        let vars = |list: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                list.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let r = ProxyRoute::from_vars(vars(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("https_proxy", "http://q:2"),
            ("NO_PROXY", ".corp.example, 10.0.0.1"),
        ]))?;
        assert_eq!(r.https.as_ref().map(|p| p.port), Some(2));
        assert!(r.http.is_none());
        assert!(r.for_target(true, "a.corp.example").is_none());
        assert!(r.for_target(true, "corp.example").is_none());
        assert!(r.for_target(true, "10.0.0.1").is_none());
        assert!(r.for_target(true, "xcorp.example").is_some());
        assert!(r.for_target(false, "x").is_none());
        let d = r.describe().unwrap_or_default();
        assert!(d.contains("https_proxy") && d.contains("NO_PROXY"), "{d}");
        assert!(ProxyRoute::from_vars(|_| None)?.describe().is_none());
        Ok(())
    }
}
