//! `synctap proxy`: run the intercepting proxy until Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::capture::{CaptureSink, CaptureWriter};
use crate::net::Target;
use crate::proxy::{Limits, Proxy, ProxyConfig, Timeouts};
use crate::rules::Rule;

/// Arguments of `synctap proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Reverse mode: stand in for this server (`https://host[:port]`).
    #[arg(long, value_name = "URL")]
    reverse: Option<String>,
    /// Reverse mode: accept plain HTTP from clients instead of TLS.
    #[arg(long, requires = "reverse")]
    listen_plain: bool,
    /// Capture file (JSON lines). Default: captures/<timestamp>.jsonl.
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// Record nothing.
    #[arg(long, conflicts_with = "capture")]
    no_capture: bool,
    /// Extra CA certificates (PEM) to trust for upstream servers; repeatable.
    #[arg(long, value_name = "PEM")]
    upstream_ca: Vec<PathBuf>,
    /// Do not verify upstream certificates (prints a warning).
    #[arg(long)]
    insecure_upstream: bool,
    /// Write TLS secrets of both legs to this file (NSS key log format, for Wireshark).
    #[arg(long, value_name = "FILE", env = "SSLKEYLOGFILE")]
    keylog: Option<PathBuf>,
    /// Store at most this much of each body in the capture (e.g. 64MiB, 1MiB, 1000).
    #[arg(long, value_name = "BYTES", default_value = "64MiB", value_parser = parse_size)]
    body_limit: u64,
    /// Tunnel CONNECTs to hosts matching this glob untouched (e.g. *.live.com); repeatable.
    #[arg(long, value_name = "HOST")]
    passthrough: Vec<String>,
    /// Decrypt only CONNECTs to hosts matching this glob (e.g. *.sharepoint.com) and
    /// tunnel the rest; repeatable. With --passthrough, the more specific glob wins.
    #[arg(long, value_name = "HOST")]
    intercept: Vec<String>,
    /// Send upstream traffic through this HTTP proxy (`http://[user:pass@]host:port`;
    /// CONNECT for https). Without it, HTTPS_PROXY/HTTP_PROXY/NO_PROXY are honoured.
    #[arg(long, value_name = "URL")]
    upstream_proxy: Option<String>,
    /// Show the terminal UI with exchanges as they happen (quit with q, which stops the
    /// proxy). The proxy never waits on the UI.
    #[arg(long)]
    ui: bool,
    /// With --ui: an exchange paused by the intercept (keys i and I) longer than this
    /// goes on unchanged, and its record says so (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    intercept_timeout: Duration,
    /// How long shutdown waits for exchanges in flight, in seconds.
    #[arg(long, default_value_t = 10)]
    grace: u64,
    /// Upstream: TCP connect plus TLS and HTTP handshakes (e.g. 15s, 500ms). The client
    /// gets 502.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    upstream_connect_timeout: Duration,
    /// Upstream: from the end of the request body to the response head. Long enough for
    /// Office's long polls (SPFileSync subscriptions, coauthoring refreshes). The client
    /// gets 504, and the exchange is recorded as timed out.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    upstream_timeout: Duration,
    /// Upstream: longest gap in a response body; then the body is cut and the exchange
    /// recorded as timed out.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    upstream_idle_timeout: Duration,
    /// Client: time to send a complete request head (from its first byte, or from the
    /// connection's start) and to finish the TLS handshake; then the connection is closed.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    client_header_timeout: Duration,
    /// Client: a keep-alive connection with no exchange in flight, a request body that
    /// stops (the client gets 408), or a client that stops reading; then it is closed.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    client_idle_timeout: Duration,
    /// Most header fields in a request or response head (a client gets 431, a response
    /// over it gives 502).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    max_headers: u32,
    /// Most bytes in a request or response head, start line included (at least 8KiB).
    #[arg(long, value_name = "BYTES", default_value = "64KiB", value_parser = parse_head_size)]
    max_header_bytes: u64,
    /// Most open connections from one client IP address; more get 503.
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    max_client_connections: u32,
    /// A rule, `FILTER => ACTION[; ACTION]...` (e.g. `~c 423 => status 409; times 1`);
    /// repeatable, applied in order, every matching rule applies. See the README's
    /// "Rules" section.
    #[arg(long = "rule", value_name = "RULE")]
    rules: Vec<String>,
    /// A file of rules, one per line (`#` comments); reread when it changes, and a
    /// version that does not parse keeps the previous rules.
    #[arg(long = "rules", value_name = "FILE")]
    rules_file: Option<PathBuf>,
}

/// The rules file and its rules.
type FileRules = Option<(PathBuf, Vec<Rule>)>;

/// The `--rule`s and the `--rules` file's rules; the first that does not parse stops
/// the proxy from starting.
fn read_rules(inline: &[String], file: Option<&Path>) -> anyhow::Result<(Vec<Rule>, FileRules)> {
    let rules = inline
        .iter()
        .enumerate()
        .map(|(i, r)| {
            crate::rules::parse_rule(r).with_context(|| format!("--rule number {}", i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let file = match file {
        None => None,
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the rules file {}", p.display()))?;
            let parsed = crate::rules::parse_rules(&text)
                .with_context(|| format!("rules file {}", p.display()))?;
            Some((p.to_path_buf(), parsed))
        }
    };
    Ok((rules, file))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?} (e.g. 30s, 5m, 500ms): {e}"))?;
    if d.is_zero() {
        return Err("a timeout must be more than 0".into());
    }
    Ok(d)
}

fn parse_head_size(s: &str) -> Result<u64, String> {
    let n = parse_size(s)?;
    if n < Limits::MIN_HEADER_BYTES as u64 {
        return Err(format!(
            "{s:?} is too small: a head limit must be at least {} bytes",
            Limits::MIN_HEADER_BYTES
        ));
    }
    Ok(n)
}

pub(super) fn parse_size(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("invalid size {s:?}: {e}"))
}

/// The default capture path: `captures/<UTC timestamp>.jsonl`.
pub(crate) fn default_capture(prefix: &str) -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    PathBuf::from("captures").join(format!("{prefix}{stamp}.jsonl"))
}

pub(super) fn run(certs: &Path, args: ProxyArgs) -> anyhow::Result<i32> {
    let reverse = args.reverse.as_deref().map(Target::parse).transpose()?;
    let (rules, rules_file) = read_rules(&args.rules, args.rules_file.as_deref())?;
    let config = ProxyConfig {
        listen: args.listen,
        reverse,
        listen_plain: args.listen_plain,
        certs_dir: certs.to_path_buf(),
        upstream_ca: args.upstream_ca,
        insecure_upstream: args.insecure_upstream,
        keylog: args.keylog,
        body_limit: args.body_limit,
        passthrough: args.passthrough,
        intercept: args.intercept,
        shutdown_grace: Duration::from_secs(args.grace),
        timeouts: Timeouts {
            upstream_connect: args.upstream_connect_timeout,
            upstream_response: args.upstream_timeout,
            upstream_idle: args.upstream_idle_timeout,
            client_header: args.client_header_timeout,
            client_idle: args.client_idle_timeout,
        },
        limits: Limits {
            max_headers: args.max_headers as usize,
            max_header_bytes: usize::try_from(args.max_header_bytes).unwrap_or(usize::MAX),
            max_client_connections: args.max_client_connections as usize,
        },
        upstream_proxy: crate::net::route::ProxyRoute::from_flag_or_env(
            args.upstream_proxy.as_deref(),
        )?,
        rules,
        rules_file,
    };
    if config.insecure_upstream {
        eprintln!("warning: --insecure-upstream: upstream certificates are NOT verified");
    }
    let (writer, sink) = if args.no_capture {
        (None, CaptureSink::disabled())
    } else {
        let path = args.capture.unwrap_or_else(|| default_capture(""));
        let (w, s) = CaptureWriter::start(&path)?;
        (Some(w), s)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // The UI listens on a broadcast channel: a slow UI lags (and says so), the proxy
    // never waits.
    let (live_tx, live_rx) = if args.ui {
        let (tx, rx) = tokio::sync::broadcast::channel(8192);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let capture_name = writer
        .as_ref()
        .map_or_else(|| "off".to_owned(), |w| w.path().display().to_string());
    let summary = rt.block_on(async {
        let mut proxy = Proxy::bind(config.clone(), sink, live_tx).await?;
        let intercept = if args.ui {
            proxy.intercept(args.intercept_timeout)
        } else {
            None
        };
        let addr = proxy.local_addr();
        let mode = match &config.reverse {
            Some(t) => format!("reverse → {}", t.origin()),
            None => "forward".to_owned(),
        };
        let mode = match config.upstream_proxy.describe() {
            Some(via) => format!("{mode}, {via}"),
            None => mode,
        };
        outln!("synctap proxy listening on {addr} ({mode})");
        outln!(
            "CA certificate: {} (trust it: `synctap ca show`)",
            proxy.ca_cert_path().display()
        );
        outln!("capture: {capture_name}");
        let _ = std::io::stdout().flush();
        if let Some(rx) = live_rx {
            let title = format!("live {addr} ({mode}) · capture {capture_name}");
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(proxy.run(async {
                tokio::select! {
                    _ = stop_rx => {}
                    () = shutdown_signal() => {}
                }
            }));
            let ui =
                tokio::task::spawn_blocking(move || crate::tui::run_live(title, rx, intercept))
                    .await;
            let _ = stop_tx.send(());
            let summary = task.await.context("the proxy task failed")?;
            ui.context("the UI task failed")??;
            return Ok(summary);
        }
        Ok::<_, anyhow::Error>(proxy.run(shutdown_signal()).await)
    })?;
    // Give detached tasks a moment to drop their recorders, then close the capture.
    rt.shutdown_timeout(Duration::from_secs(2));
    let (file, bytes, exchanges, dropped, lost) = match writer {
        Some(w) => {
            let stats = std::sync::Arc::clone(w.stats());
            let path = w.path().display().to_string();
            w.finish();
            (
                path,
                stats.bytes_written.load(Ordering::Relaxed),
                stats.exchanges.load(Ordering::Relaxed),
                stats.dropped.load(Ordering::Relaxed),
                stats.failed.load(Ordering::Relaxed),
            )
        }
        None => ("(no capture)".to_owned(), 0, summary.exchanges, 0, 0),
    };
    let mut line = format!(
        "synctap: {exchanges} exchanges on {} connections, {} written to {file}",
        summary.connections,
        bytesize::ByteSize(bytes)
    );
    if dropped > 0 {
        line.push_str(&format!(", {dropped} records dropped (writer behind)"));
    }
    if lost > 0 {
        line.push_str(&format!(
            ", {lost} records lost: the capture file could not be written"
        ));
    }
    if summary.abandoned > 0 {
        line.push_str(&format!(
            ", {} connections cut at shutdown",
            summary.abandoned
        ));
    }
    eprintln!("{line}");
    Ok(0)
}

pub(super) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
