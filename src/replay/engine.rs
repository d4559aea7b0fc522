//! Re-sending a capture's requests to another server.
//!
//! Each recorded request is sent again with its body byte-exact unless something in it
//! had to change: the origin (scheme, host, port) is the target's, path prefixes are
//! rewritten by the `--map` pairs, URLs inside bodies follow (cell storage `Url`
//! attributes, SPFileSync and WebDAV hrefs), hop-by-hop headers are dropped and Host and
//! Content-Length are set by the client. Values the recorded server minted are replaced
//! by what the new server minted ([`super::remap`]).
//!
//! Order: a client (its ClientID when the exchange names one, else its original
//! connection) sends its requests one after the other, in recorded order. Between clients,
//! an exchange waits for every exchange that had ended before it started in the
//! recording, so the interleaving the recording shows is kept; exchanges that overlapped
//! in the recording may overlap again, up to `concurrency` in flight. With
//! [`Timing::Original`] the gaps between request starts are kept too (divided by
//! `speed`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use tokio::sync::{watch, Semaphore};

use super::remap::{Minted, Remap};
use crate::decode::exchange::DecodedRecord;
use crate::model::{Body, Exchange, ExchangeKind, Headers, ProxyMode, Request, Response, Timings};
use crate::net::tls::{UpstreamConfigs, UpstreamTrust};
use crate::net::HttpClient;

/// How the replay paces requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Keep the recorded gaps between request starts (divided by the speed factor).
    Original,
    /// Keep only the order.
    Fast,
}

/// What to replay against and how.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// The target's base URL: scheme, host and port (a path here is ignored; use `maps`).
    pub target: String,
    /// Path prefix rewrites `FROM=TO`, applied in order, the first match wins.
    pub maps: Vec<(String, String)>,
    /// Pacing.
    pub timing: Timing,
    /// Speed factor for [`Timing::Original`] (1.0 = recorded pace).
    pub speed: f64,
    /// Most requests in flight at once (at least 1).
    pub concurrency: usize,
    /// Headers to set on every request (replacing recorded ones of the same name).
    pub set_headers: Vec<(String, String)>,
    /// Headers to drop from every request.
    pub drop_headers: Vec<String>,
    /// How the target's certificate is verified.
    pub trust: UpstreamTrust,
    /// Which connections go through an upstream HTTP proxy.
    pub upstream_proxy: crate::net::route::ProxyRoute,
}

/// One replayed exchange: the recording, what happened now (each decoded once), and
/// remapping notes.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The recorded exchange.
    pub original: DecodedRecord,
    /// The exchange sent now (same id as the recorded one).
    pub new: DecodedRecord,
    /// The client key the exchange was replayed under (`ClientID {…}` or `connection N`).
    pub client: String,
    /// Values that could not be remapped, and similar remarks.
    pub notes: Vec<String>,
}

/// Headers never forwarded as recorded (hop-by-hop, or set by the client).
const SKIP_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Replays the HTTP exchanges of `recorded` (tunnels and exchanges without a request are
/// skipped) and returns them with their new counterparts, in recorded order. `progress`
/// is called with the number of exchanges done so far.
///
/// # Errors
/// When the target URL is invalid or its TLS configuration cannot be built. Transport
/// errors on single requests are recorded in the new exchange's `error`.
pub async fn replay(
    recorded: Vec<Exchange>,
    cfg: &ReplayConfig,
    progress: Arc<dyn Fn(usize) + Send + Sync>,
) -> anyhow::Result<Vec<Replayed>> {
    let target = Origin::parse(&cfg.target).ok_or_else(|| {
        anyhow!(
            "invalid --target URL {}: use scheme://host:port",
            cfg.target
        )
    })?;
    let tls = UpstreamConfigs::new(&cfg.trust, None)?.h1;
    // Each recorded exchange is decoded once, here; grouping, remapping and the
    // comparison all read that form.
    let mut xs: Vec<DecodedRecord> = recorded
        .into_iter()
        .filter(|x| x.kind == ExchangeKind::Http && x.request.is_some())
        .map(DecodedRecord::new)
        .collect();
    xs.sort_by_key(|x| (start_us(&x.exchange), x.exchange.id));
    let n = xs.len();
    let starts: Vec<i64> = xs.iter().map(|x| start_us(&x.exchange)).collect();
    let ends: Vec<i64> = xs
        .iter()
        .zip(&starts)
        .map(|(x, s)| {
            s + x
                .exchange
                .timings
                .done_ms
                .map_or(0, |d| (d * 1000.0).ceil() as i64)
                .max(1)
        })
        .collect();
    let (deps, rank) = plan(&starts, &ends);

    // Group by client, keeping start order inside each.
    let mut clients: Vec<(String, Vec<usize>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, x) in xs.iter().enumerate() {
        let key = match x.decoded.client_id() {
            Some(c) => format!("ClientID {c}"),
            None => format!("connection {}", x.exchange.connection_id),
        };
        let slot = *index.entry(key.clone()).or_insert_with(|| {
            clients.push((key, Vec::new()));
            clients.len() - 1
        });
        clients[slot].1.push(i);
    }

    let xs = Arc::new(xs);
    let shared = Arc::new(Shared {
        remap: Mutex::new(Remap::default()),
        done: Mutex::new(Done {
            flags: vec![false; n],
            watermark: 0,
        }),
        results: Mutex::new((0..n).map(|_| None).collect()),
        finished: AtomicUsize::new(0),
    });
    let (wm_tx, wm_rx) = watch::channel(0usize);
    let wm_tx = Arc::new(wm_tx);
    let sem = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let t0 = Instant::now();
    let first_start = starts.first().copied().unwrap_or(0);
    let ctx = Arc::new(Ctx {
        cfg: cfg.clone(),
        target,
        deps,
        rank,
        starts,
        first_start,
        t0,
    });
    let mut tasks = Vec::new();
    for (client_no, (key, idx)) in clients.into_iter().enumerate() {
        let http =
            Arc::new(HttpClient::raw(Arc::clone(&tls)).with_route(cfg.upstream_proxy.clone()));
        let (xs, shared, ctx, sem) = (
            Arc::clone(&xs),
            Arc::clone(&shared),
            Arc::clone(&ctx),
            Arc::clone(&sem),
        );
        let (wm_tx, mut wm_rx) = (Arc::clone(&wm_tx), wm_rx.clone());
        let progress = Arc::clone(&progress);
        tasks.push(tokio::spawn(async move {
            for i in idx {
                let need = ctx.deps[i];
                while *wm_rx.borrow_and_update() < need {
                    if wm_rx.changed().await.is_err() {
                        break;
                    }
                }
                if ctx.cfg.timing == Timing::Original {
                    let speed = if ctx.cfg.speed > 0.0 {
                        ctx.cfg.speed
                    } else {
                        1.0
                    };
                    let offset = (ctx.starts[i] - ctx.first_start).max(0) as f64 / speed;
                    let due = ctx.t0 + Duration::from_secs_f64(offset / 1_000_000.0);
                    tokio::time::sleep_until(due.into()).await;
                }
                let permit = sem.acquire().await;
                let r = send_one(&ctx, &shared, &http, &xs[i], client_no as u64, &key).await;
                drop(permit);
                if let Ok(mut res) = shared.results.lock() {
                    res[i] = r;
                }
                let wm = {
                    let Ok(mut d) = shared.done.lock() else {
                        break;
                    };
                    d.flags[ctx.rank[i]] = true;
                    while d.watermark < d.flags.len() && d.flags[d.watermark] {
                        d.watermark += 1;
                    }
                    d.watermark
                };
                wm_tx.send_replace(wm);
                progress(shared.finished.fetch_add(1, Ordering::Relaxed) + 1);
            }
        }));
    }
    for t in tasks {
        t.await.context("a replay task failed")?;
    }
    let results = std::mem::take(
        &mut *shared
            .results
            .lock()
            .map_err(|_| anyhow!("a replay task panicked"))?,
    );
    Ok(results.into_iter().flatten().collect())
}

struct Ctx {
    cfg: ReplayConfig,
    target: Origin,
    deps: Vec<usize>,
    rank: Vec<usize>,
    starts: Vec<i64>,
    first_start: i64,
    t0: Instant,
}

struct Done {
    /// Done flags indexed by rank in end order.
    flags: Vec<bool>,
    /// Length of the done prefix in end order.
    watermark: usize,
}

struct Shared {
    remap: Mutex<Remap>,
    done: Mutex<Done>,
    results: Mutex<Vec<Option<Replayed>>>,
    finished: AtomicUsize,
}

async fn send_one(
    ctx: &Ctx,
    shared: &Shared,
    http: &HttpClient,
    recorded: &DecodedRecord,
    client_no: u64,
    key: &str,
) -> Option<Replayed> {
    let x = &recorded.exchange;
    let req = x.request.as_ref()?;
    let mut url = req.url.clone();
    let mut headers: Vec<(String, String)> = req
        .headers
        .0
        .iter()
        .filter(|(n, _)| {
            let l = n.to_ascii_lowercase();
            !SKIP_HEADERS.contains(&l.as_str())
                && !ctx
                    .cfg
                    .drop_headers
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(n))
                && !ctx
                    .cfg
                    .set_headers
                    .iter()
                    .any(|(s, _)| s.eq_ignore_ascii_case(n))
        })
        .cloned()
        .collect();
    headers.extend(ctx.cfg.set_headers.iter().cloned());
    let mut body = req.body.bytes.clone();
    let mut notes = Vec::new();
    if req.body.truncated {
        notes.push(format!(
            "the recorded request body was truncated ({} of {} bytes); sent what was stored",
            req.body.stored, req.body.len
        ));
    }
    if let Ok(remap) = shared.remap.lock() {
        notes.extend(remap.apply(&mut url, &mut headers, &mut body, &recorded.decoded));
    }
    let old_origin = Origin::parse(&req.url);
    url = ctx.rewrite_url(&url);
    if let Some(o) = &old_origin {
        ctx.rewrite_body(o, &mut body);
        for (_, v) in &mut headers {
            if v.contains(&o.base) {
                *v = ctx.rewrite_url(v);
            }
        }
    }
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let started = crate::util::now_rfc3339();
    let t = Instant::now();
    let method = http::Method::from_bytes(req.method.as_bytes()).unwrap_or(http::Method::GET);
    let result = http.send(method, &url, &pairs, body.clone()).await;
    let done_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut sent_headers = vec![("Host".to_owned(), ctx.target.authority.clone())];
    sent_headers.extend(headers);
    let (response, error) = match result {
        Ok(r) => {
            let hs = r
                .headers
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), crate::util::latin1(v.as_bytes())))
                .collect();
            (
                Some(Response {
                    status: r.status,
                    reason: http::StatusCode::from_u16(r.status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("")
                        .to_owned(),
                    headers: Headers(hs),
                    body: Body::complete(r.body.to_vec()),
                }),
                None,
            )
        }
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let new = Exchange {
        id: x.id,
        kind: ExchangeKind::Http,
        connection_id: client_no + 1,
        client_addr: "replay".to_owned(),
        mode: ProxyMode::Other,
        tls: None,
        server: ctx.target.authority.clone(),
        http_version: "HTTP/1.1".to_owned(),
        request: Some(Request {
            method: req.method.clone(),
            url,
            headers: Headers(sent_headers),
            body: Body::complete(body),
        }),
        response,
        tunnel: None,
        timings: Timings {
            start: started,
            done_ms: Some(done_ms),
            ..Timings::default()
        },
        error,
        imported: None,
        modified: None,
    };
    // The new exchange is decoded once, here.
    let new = DecodedRecord::new(new);
    if new.exchange.response.is_some() {
        let old_m = Minted::of(recorded);
        let new_m = Minted::of(&new);
        if let Ok(mut remap) = shared.remap.lock() {
            remap.learn(&old_m, &new_m);
        }
    }
    Some(Replayed {
        original: recorded.clone(),
        new,
        client: key.to_owned(),
        notes,
    })
}

impl Ctx {
    /// The target URL for a recorded one: origin replaced, path prefix mapped.
    fn rewrite_url(&self, url: &str) -> String {
        let (rest, _) = match Origin::parse(url) {
            Some(o) => (url[o.base.len()..].to_owned(), Some(o)),
            None => (url.to_owned(), None),
        };
        let rest = if rest.starts_with('/') || rest.is_empty() {
            self.map_path(&rest)
        } else {
            return url.to_owned();
        };
        format!("{}{rest}", self.target.base)
    }

    fn map_path(&self, path: &str) -> String {
        for (from, to) in &self.cfg.maps {
            if let Some(tail) = path.strip_prefix(from.as_str()) {
                return format!("{to}{tail}");
            }
        }
        path.to_owned()
    }

    /// Rewrites URLs inside a body: absolute URLs on `old`'s origin and, with maps,
    /// path-only hrefs (`>/path` or `"/path`).
    fn rewrite_body(&self, old: &Origin, body: &mut Vec<u8>) {
        if body.is_empty() {
            return;
        }
        for (from, to) in &self.cfg.maps {
            let (a, b) = (
                format!("{}{from}", old.base),
                format!("{}{to}", self.target.base),
            );
            super::remap::replace_bytes(body, a.as_bytes(), b.as_bytes());
            for lead in [">", "\""] {
                super::remap::replace_bytes(
                    body,
                    format!("{lead}{from}").as_bytes(),
                    format!("{lead}{to}").as_bytes(),
                );
            }
        }
        if old.base != self.target.base {
            super::remap::replace_bytes(body, old.base.as_bytes(), self.target.base.as_bytes());
        }
    }
}

/// `scheme://authority` of a URL.
#[derive(Debug, Clone)]
struct Origin {
    /// `scheme://authority`, as written.
    base: String,
    /// `host:port`.
    authority: String,
}

impl Origin {
    fn parse(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        if !matches!(scheme, "http" | "https") {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty() {
            return None;
        }
        Some(Self {
            base: format!("{scheme}://{authority}"),
            authority: authority.to_owned(),
        })
    }
}

/// The happens-before plan: for each exchange, how many exchanges (the first in end
/// order) must be done before it starts (`deps`), and each exchange's place in end order
/// (`rank`). An exchange depends exactly on those that ended, in the recording, no later
/// than it started.
fn plan(starts: &[i64], ends: &[i64]) -> (Vec<usize>, Vec<usize>) {
    let n = starts.len();
    let mut end_order: Vec<usize> = (0..n).collect();
    end_order.sort_by_key(|&i| (ends[i], i));
    let sorted_ends: Vec<i64> = end_order.iter().map(|&i| ends[i]).collect();
    let deps = starts
        .iter()
        .map(|s| sorted_ends.partition_point(|e| e <= s))
        .collect();
    let mut rank = vec![0usize; n];
    for (r, &i) in end_order.iter().enumerate() {
        rank[i] = r;
    }
    (deps, rank)
}

/// The recorded start in microseconds since the epoch (milliseconds are too coarse:
/// on loopback one exchange often ends and the next starts within the same one).
fn start_us(x: &Exchange) -> i64 {
    time::OffsetDateTime::parse(
        &x.timings.start,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| (t.unix_timestamp_nanos() / 1000) as i64)
    .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_orders_by_what_had_ended() {
        // 0: [0, 10); 1: [5, 20) overlaps 0; 2: [10, 30) starts as 0 ends; 3: [25, 26).
        let (deps, rank) = plan(&[0, 5, 10, 25], &[10, 20, 30, 26]);
        assert_eq!(deps, vec![0, 0, 1, 2]);
        assert_eq!(rank, vec![0, 1, 3, 2]);
    }

    #[test]
    fn origins_parse() {
        let o = Origin::parse("https://contoso:8443/sites/a?x").expect("origin");
        assert_eq!(o.base, "https://contoso:8443");
        assert_eq!(o.authority, "contoso:8443");
        assert!(Origin::parse("/relative").is_none());
    }
}
