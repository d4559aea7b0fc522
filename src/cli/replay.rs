//! `synctap replay`: re-send a capture to another server, record the new exchanges and
//! compare them semantically with the recorded ones (see [`crate::replay`]).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, ValueEnum};

use crate::net::tls::UpstreamTrust;
use crate::replay::report::{self, Note, Report};
use crate::replay::{compare, diff, DiffOptions, ReplayConfig, Timing};

/// Pacing of a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum TimingArg {
    /// Keep the recorded gaps between requests (lock expiries behave as recorded).
    Original,
    /// Send as fast as the order allows.
    Fast,
}

/// Arguments of `synctap replay`.
///
/// Exit codes: 0 nothing differs; 1 differences (listed); 2 could not run (capture
/// unreadable, target unreachable).
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The capture to replay.
    capture: PathBuf,
    /// The server to replay against, e.g. `https://127.0.0.1:8443`.
    #[arg(long, value_name = "URL")]
    target: String,
    /// Record the new exchanges in this capture file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    compare: CompareArgs,
    /// Rewrite a path prefix, `FROM=TO` (e.g. `/sites/team=/sites/test`); repeatable.
    #[arg(long = "map", value_name = "FROM=TO")]
    maps: Vec<String>,
    /// Pacing: `original` keeps the recorded gaps, `fast` only the order.
    #[arg(long, value_enum, default_value = "original")]
    timing: TimingArg,
    /// Speed factor for `--timing original` (2 = twice as fast).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Most requests in flight at once (independent clients only).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Set a header on every request, `NAME:VALUE`; repeatable.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// Drop a recorded header from every request; repeatable.
    #[arg(long = "drop-header", value_name = "NAME")]
    drop_headers: Vec<String>,
    /// Extra CA certificate (PEM) to trust for the target; repeatable.
    #[arg(long, value_name = "PEM")]
    upstream_ca: Vec<PathBuf>,
    /// Do not verify the target's certificate.
    #[arg(long)]
    insecure_upstream: bool,
    /// Reach the target through this HTTP proxy (`http://[user:pass@]host:port`).
    /// Without it, HTTPS_PROXY/HTTP_PROXY/NO_PROXY are honoured.
    #[arg(long, value_name = "URL")]
    upstream_proxy: Option<String>,
}

/// The comparison and report options `replay` and `diff` share.
#[derive(Debug, Args)]
pub(super) struct CompareArgs {
    /// Also write the report to FILE (markdown when it ends in `.md`, JSON with --json).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// A field never compared (e.g. `HResult`, `ErrorCode`, `items`); repeatable.
    #[arg(long = "ignore", value_name = "FIELD")]
    ignore: Vec<String>,
    /// Compare volatile values too (ETags, TransitionIDs, correlation ids, storage ids).
    #[arg(long)]
    strict: bool,
}

impl CompareArgs {
    pub(super) fn options(&self) -> DiffOptions {
        DiffOptions {
            ignore: self.ignore.clone(),
            strict: self.strict,
        }
    }

    /// Prints the report (text, or JSON with --json), writes it to --report (markdown
    /// for `.md`), and returns the exit code: 1 when something differs.
    pub(super) fn emit(&self, rep: &Report) -> anyhow::Result<i32> {
        let text = if self.json {
            serde_json::to_string_pretty(&super::schema::Versioned::new(rep))? + "\n"
        } else {
            report::render_text(rep)
        };
        out!("{text}");
        if let Some(path) = &self.report {
            let body = if !self.json
                && path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("md"))
            {
                report::render_markdown(rep)
            } else {
                text
            };
            std::fs::write(path, body)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(i32::from(rep.differs()))
    }
}

pub(super) fn run(args: &ReplayArgs) -> anyhow::Result<i32> {
    let recorded = super::read_capture(&args.capture)
        .map_err(|e| anyhow!("cannot read the capture {}: {e}", args.capture.display()))?;
    let mut extra_roots = Vec::new();
    for p in &args.upstream_ca {
        extra_roots.extend(crate::net::ca::load_pem_certs(p)?);
    }
    let maps = args
        .maps
        .iter()
        .map(|m| {
            m.split_once('=')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| anyhow!("--map {m}: expected FROM=TO"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let set_headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
                .ok_or_else(|| anyhow!("--header {h}: expected NAME:VALUE"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cfg = ReplayConfig {
        target: args.target.trim_end_matches('/').to_owned(),
        maps,
        timing: match args.timing {
            TimingArg::Original => Timing::Original,
            TimingArg::Fast => Timing::Fast,
        },
        speed: args.speed,
        concurrency: args.concurrency,
        set_headers,
        drop_headers: args.drop_headers.clone(),
        trust: UpstreamTrust {
            extra_roots,
            insecure: args.insecure_upstream,
        },
        upstream_proxy: crate::net::route::ProxyRoute::from_flag_or_env(
            args.upstream_proxy.as_deref(),
        )?,
    };
    if let Some(via) = cfg.upstream_proxy.describe() {
        eprintln!("synctap replay: {via}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let total = recorded.len();
    let started = Instant::now();
    let replayed = rt.block_on(async {
        check_reachable(&cfg.target, &cfg.upstream_proxy).await?;
        crate::replay::replay(recorded, &cfg, progress(total)).await
    })?;
    let seconds = started.elapsed().as_secs_f64();
    // Nothing answered at all: the target is not usable (TLS trust, wrong scheme...).
    if !replayed.is_empty() && replayed.iter().all(|r| r.new.exchange.response.is_none()) {
        let first = replayed
            .iter()
            .find_map(|r| r.new.exchange.error.clone())
            .unwrap_or_default();
        bail!(
            "no request got an answer from {} (first error: {first}); check --target, --upstream-ca or --insecure-upstream",
            args.target
        );
    }
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    if let Some(out) = &args.out {
        crate::capture::write_capture(out, replayed.iter().map(|r| &r.new.exchange), true)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let opts = args.compare.options();
    let mut rep = Report {
        capture: args.capture.display().to_string(),
        target: cfg.target,
        exchanges: replayed.len(),
        seconds,
        ..Report::default()
    };
    for r in &replayed {
        let ds = compare(&r.original, &r.new, &r.client, &opts);
        if !ds.is_empty() {
            rep.exchanges_differing += 1;
        }
        rep.differences.extend(ds);
        if !r.notes.is_empty() {
            let file = diff::file_of(&r.original.exchange, &r.original.decoded);
            for n in &r.notes {
                rep.notes.push(Note {
                    file: file.clone(),
                    client: r.client.clone(),
                    exchange: r.original.exchange.id,
                    text: n.clone(),
                });
            }
        }
    }
    let old_t = diff::timeline_of(replayed.iter().map(|r| &r.original));
    let new_t = diff::timeline_of(replayed.iter().map(|r| &r.new));
    rep.differences
        .extend(diff::compare_timelines(&old_t, &new_t));
    rep.group();
    args.compare.emit(&rep)
}

/// Fails with a clear sentence when nothing listens at the target.
async fn check_reachable(
    target: &str,
    route: &crate::net::route::ProxyRoute,
) -> anyhow::Result<()> {
    let uri: http::Uri = target
        .parse()
        .with_context(|| format!("invalid --target URL {target}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => bail!("--target {target}: use an http:// or https:// URL"),
    };
    let host = uri
        .host()
        .ok_or_else(|| anyhow!("--target {target}: no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    match tokio::time::timeout(Duration::from_secs(10), route.connect(&host, port, https)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(anyhow!(
            "the target {target} is unreachable ({e}); start the server or check --target"
        )),
        Err(_) => Err(anyhow!(
            "the target {target} did not answer within 10 s; check --target"
        )),
    }
}

/// A progress callback: a one-line counter on a terminal, nothing otherwise.
fn progress(total: usize) -> Arc<dyn Fn(usize) + Send + Sync> {
    if !std::io::stderr().is_terminal() {
        return Arc::new(|_| {});
    }
    let last = Arc::new(std::sync::Mutex::new(Instant::now()));
    let shown = Arc::new(AtomicBool::new(false));
    Arc::new(move |done| {
        let Ok(mut t) = last.lock() else { return };
        if done == total
            || t.elapsed() > Duration::from_millis(100)
            || !shown.load(Ordering::Relaxed)
        {
            *t = Instant::now();
            shown.store(true, Ordering::Relaxed);
            let width = 30;
            let filled = (done * width)
                .checked_div(total)
                .unwrap_or(width)
                .min(width);
            eprint!(
                "\rreplaying [{}{}] {done}/{total}",
                "#".repeat(filled),
                "-".repeat(width - filled)
            );
        }
    })
}
