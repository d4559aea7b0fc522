//! Replay throughput: a generated capture of 10 000 cell storage exchanges (20 clients on
//! the reference server's four sample documents, each joining the coauthoring session
//! then refreshing) replayed with `--timing fast` against the in-process reference server
//! over TLS, then compared semantically. The clients are independent in the capture (their
//! exchanges overlap), so they run concurrently (8 in flight).
//!
//! Pass 1 replays the generated requests (the capture has no responses yet) and records
//! the answers; pass 2 replays pass 1's recording, as `synctap replay` would, and diffs
//! every exchange. Target: at least 2 000 exchanges/s.
//!
//! Run: `cargo bench --bench replay` (a plain binary: one pass is the measurement).
//! `REPLAY_BENCH_EXCHANGES` overrides the count.
// A bench binary prints its figures.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use synctap::decode::fsshttp::{encode_request, CoauthRequestType, EncodeOptions};
use synctap::model::{Body, Exchange, ExchangeKind, Headers, ProxyMode, Request, Timings};
use synctap::net::tls::UpstreamTrust;
use synctap::net::HttpClient;
use synctap::replay::{compare, DiffOptions, ReplayConfig, Timing};
use synctap::server::client::{request_envelope, CellClient};
use synctap::server::{CellSettings, Server, ServerConfig, SystemClock};
use synctap::timeline::format_rfc3339;

const CLIENTS: usize = 20;
const DOCS: &[&str] = &["Report.docx", "Budget.xlsx", "Inventory.csv", "Notes.txt"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("REPLAY_BENCH_EXCHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let server = Server::bind(ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            certs_dir: dir.path().join("certs"),
            cell: CellSettings {
                coauth: true,
                max_coauthors: 99,
                seed: 1,
            },
            data_dir: None,
            clock: Arc::new(SystemClock),
        })
        .await?;
        let url = server.url();
        let ca = server.ca_cert_path().ok_or("no CA")?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        let capture = generate(&url, n)?;
        let cfg = ReplayConfig {
            target: url.clone(),
            maps: Vec::new(),
            timing: Timing::Fast,
            speed: 1.0,
            concurrency: 8,
            set_headers: Vec::new(),
            drop_headers: Vec::new(),
            trust: UpstreamTrust {
                extra_roots: synctap::net::ca::load_pem_certs(&ca)?,
                insecure: false,
            },
            upstream_proxy: Default::default(),
        };
        let t = Instant::now();
        let first = synctap::replay::replay(capture, &cfg, Arc::new(|_| {})).await?;
        let s1 = t.elapsed().as_secs_f64();
        println!(
            "pass 1 (generated requests): {} exchanges in {s1:.2} s = {:.0} exchanges/s",
            first.len(),
            first.len() as f64 / s1
        );
        let recorded: Vec<Exchange> = first.into_iter().map(|r| r.new.exchange).collect();
        let t = Instant::now();
        let second = synctap::replay::replay(recorded, &cfg, Arc::new(|_| {})).await?;
        let s2 = t.elapsed().as_secs_f64();
        let opts = DiffOptions::default();
        let mut differing = 0;
        for r in &second {
            if !compare(&r.original, &r.new, &r.client, &opts).is_empty() {
                differing += 1;
            }
        }
        let s3 = t.elapsed().as_secs_f64();
        println!(
            "pass 2 (replay of pass 1): {} exchanges in {s2:.2} s = {:.0} exchanges/s; with the semantic diff {s3:.2} s = {:.0} exchanges/s; {differing} differ",
            second.len(),
            second.len() as f64 / s2,
            second.len() as f64 / s3
        );
        let _ = tx.send(());
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

/// `n` exchanges: client k joins, then refreshes; its exchanges overlap the other clients'.
fn generate(url: &str, n: usize) -> Result<Vec<Exchange>, Box<dyn std::error::Error>> {
    let http = Arc::new(HttpClient::new(&[], None, "bench")?);
    let site = format!("{url}/sites/bench");
    let clients: Vec<CellClient> = (0..CLIENTS)
        .map(|k| {
            CellClient::new(
                Arc::clone(&http),
                &site,
                DOCS[k % DOCS.len()],
                &format!("{k:08X}-0000-4000-8000-000000000000"),
            )
        })
        .collect();
    let t0 = 1_795_000_000_000i64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % CLIENTS;
        let round = i / CLIENTS;
        let c = &clients[k];
        let kind = if round == 0 {
            CoauthRequestType::JoinCoauthoring
        } else {
            CoauthRequestType::RefreshCoauthoring
        };
        let mut sub = c.coauth(kind);
        sub.sub_request_token = Some(1);
        let env = request_envelope(
            &c.file_url,
            format!("bench-{i}"),
            round as u64 + 1,
            vec![sub],
        );
        let (ct, body) = encode_request(&env, EncodeOptions::default());
        out.push(Exchange {
            id: i as u64 + 1,
            kind: ExchangeKind::Http,
            connection_id: k as u64 + 1,
            client_addr: "127.0.0.1:1".to_owned(),
            mode: ProxyMode::Other,
            tls: None,
            server: url.trim_start_matches("https://").to_owned(),
            http_version: "HTTP/1.1".to_owned(),
            request: Some(Request {
                method: "POST".to_owned(),
                url: c.endpoint.clone(),
                headers: Headers(vec![
                    ("Content-Type".to_owned(), ct),
                    (
                        "SOAPAction".to_owned(),
                        synctap::decode::fsshttp::SOAP_ACTION.to_owned(),
                    ),
                ]),
                body: Body::complete(body),
            }),
            response: None,
            tunnel: None,
            timings: Timings {
                start: format_rfc3339(t0 + i as i64),
                // Long enough that no exchange ends before another client's next starts.
                done_ms: Some(1e9),
                ..Timings::default()
            },
            error: None,
            imported: None,
            modified: None,
        });
    }
    Ok(out)
}
