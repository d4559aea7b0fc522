//! `synctap demo`: the reference server and the intercepting proxy in one process, with
//! scripted clients telling a coauthoring story through the proxy; then the recorded
//! capture is printed with decoded summaries ([`print_report`]).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use clap::Args;

use crate::capture::{CaptureReader, CaptureWriter};
use crate::decode::fsshttp::{
    CoauthRequestType, DependencyType, ExclusiveLockRequestType, SubRequestType,
};
use crate::net::HttpClient;
use crate::proxy::{Proxy, ProxyConfig};
use crate::server::client::{CellClient, CellReply, DavClient, SyncClient};
use crate::server::{CellSettings, Server, ServerConfig, SystemClock};

/// Arguments of `synctap demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Print the report only; without it the terminal UI opens on the capture at the end
    /// when stdout is a terminal.
    #[arg(long)]
    no_ui: bool,
    /// Capture file. Default: captures/demo-TIMESTAMP.jsonl.
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// Run the clients (through the proxy) against this server instead of the built-in
    /// one, e.g. `https://contoso.sharepoint.com/sites/team`.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Extra CA certificate (PEM) the proxy trusts for --server.
    #[arg(long, value_name = "PEM")]
    upstream_ca: Vec<PathBuf>,
    /// With --server: reach it through this HTTP proxy (`http://[user:pass@]host:port`).
    /// Without it, HTTPS_PROXY/HTTP_PROXY/NO_PROXY are honoured for --server.
    #[arg(long, value_name = "URL", requires = "server")]
    upstream_proxy: Option<String>,
}

/// The coauthor limit of the built-in server, so the third client is refused.
const DEMO_MAX_COAUTHORS: usize = 2;

pub(super) fn run(certs: &Path, args: &DemoArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    let capture = args
        .capture
        .clone()
        .unwrap_or_else(|| super::proxy::default_capture("demo-"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (writer, sink) = CaptureWriter::start(&capture)?;
    let result = rt.block_on(async {
        // The built-in server: TLS on loopback, random port, coauthor limit 2.
        let (server_url, server_stop) = match &args.server {
            Some(url) => (url.trim_end_matches('/').to_owned(), None),
            None => {
                let server = Server::bind(ServerConfig {
                    listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                    tls: true,
                    certs_dir: certs.to_path_buf(),
                    cell: CellSettings {
                        coauth: true,
                        max_coauthors: DEMO_MAX_COAUTHORS,
                        seed: 7,
                    },
                    data_dir: None,
                    clock: Arc::new(SystemClock),
                })
                .await?;
                let url = format!("{}/sites/demo", server.url());
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                tokio::spawn(server.run(async {
                    let _ = rx.await;
                }));
                (url, Some(tx))
            }
        };
        let mut upstream_ca = args.upstream_ca.clone();
        upstream_ca.push(certs.join(crate::net::ca::CA_CERT_FILE));
        let proxy = Proxy::bind(
            ProxyConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                certs_dir: certs.to_path_buf(),
                upstream_ca,
                shutdown_grace: Duration::from_secs(2),
                // The built-in server is on loopback: only --server goes through a proxy.
                upstream_proxy: if args.server.is_some() {
                    crate::net::route::ProxyRoute::from_flag_or_env(args.upstream_proxy.as_deref())?
                } else {
                    crate::net::route::ProxyRoute::default()
                },
                ..ProxyConfig::default()
            },
            sink,
            None,
        )
        .await?;
        let proxy_addr = proxy.local_addr();
        let ca_pem = proxy.ca_cert_path();
        let (ptx, prx) = tokio::sync::oneshot::channel::<()>();
        let proxy_task = tokio::spawn(proxy.run(async {
            let _ = prx.await;
        }));
        outln!(
            "synctap demo: server {server_url}, proxy {proxy_addr}, capture {}",
            capture.display()
        );
        let story = run_story(&server_url, proxy_addr, &ca_pem).await;
        let _ = ptx.send(());
        let _ = proxy_task.await;
        if let Some(tx) = server_stop {
            let _ = tx.send(());
        }
        story
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    let records = writer.stats().exchanges.load(Ordering::Relaxed);
    writer.finish();
    result?;
    outln!();
    outln!("── capture: {} ({records} exchanges) ──", capture.display());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    print_report(&capture, &mut out)?;
    writeln!(
        out,
        "demo finished in {:.1} s",
        started.elapsed().as_secs_f64()
    )?;
    out.flush()?;
    drop(out);
    if !args.no_ui && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        crate::tui::run_capture(&capture)?;
    }
    Ok(0)
}

/// Prints every exchange of the capture at `capture` in the one-line form of `synctap
/// show` (with any diagnostics), then the lock/coauthoring timeline of each file and the
/// findings, as `synctap timeline` and `synctap check` print them.
///
/// # Errors
/// When the capture cannot be read or `out` cannot be written.
pub fn print_report(capture: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut reader =
        CaptureReader::open(capture).map_err(|e| anyhow!("{}: {e}", capture.display()))?;
    let mut timeline = crate::timeline::Timeline::new(crate::timeline::TimelineOptions::default());
    writeln!(out, "== exchanges ({})", capture.display())?;
    while let Some(x) = reader.next_exchange()? {
        let d = crate::decode::exchange::decode_recorded(&x);
        writeln!(out, "{}", super::show::line(&x, &d))?;
        for diag in &d.diagnostics {
            writeln!(out, "    ! {diag:?}")?;
        }
        timeline.push(&x, &d);
    }
    let report = timeline.report();
    // The timeline text ends with the findings, which is what `synctap check` prints.
    writeln!(
        out,
        "\n== timeline and findings (synctap timeline|check {})",
        capture.display()
    )?;
    out.write_all(crate::timeline::render_text(&report, None).as_bytes())?;
    Ok(())
}

/// The MS-FSSHTTPB error inside the `n`th SubResponse's Cell payload (CoherencyFailure...).
fn cell_error(x: &CellReply, n: usize) -> Option<String> {
    x.cell_response(n).and_then(|r| {
        r.sub_responses
            .iter()
            .find_map(|s| match s.error.as_ref()?.detail {
                crate::decode::fsshttpb::ErrorDetail::CellError { ref name, .. } => {
                    Some(name.clone())
                }
                _ => None,
            })
    })
}

fn say(step: &str, x: &CellReply) -> std::io::Result<()> {
    let codes: Vec<String> = (0..x.response.sub_responses().count())
        .map(|i| match cell_error(x, i) {
            Some(n) => format!("{} ({n})", x.code(i)),
            None => x.code(i),
        })
        .collect();
    let codes = crate::decode::text::escape_terminal(&codes.join(", ")).into_owned();
    outln!("  {step:<58} → {codes}");
    Ok(())
}

/// What one upload of the story says, step by step.
struct Upload<'a> {
    /// The upload.
    step: &'a str,
    /// The download after a CoherencyFailure.
    download: &'a str,
    /// The upload of the merged file.
    retry: &'a str,
}

/// Uploads `content` as an Office client does: when the answer is a CoherencyFailure
/// (the file moved on since the client's download, or a rule injected one), it downloads
/// the current version, appends `paragraph` to it and uploads that, once.
async fn upload(
    cl: &mut CellClient,
    content: &[u8],
    paragraph: &[u8],
    schema: &str,
    say_as: &Upload<'_>,
) -> anyhow::Result<()> {
    let x = cl.call(vec![cl.upload_sub(content, schema)]).await?;
    say(say_as.step, &x)?;
    if cell_error(&x, 0).as_deref() != Some("CoherencyFailure") {
        return Ok(());
    }
    let (x, file) = cl.download().await?;
    say(say_as.download, &x)?;
    let merged = [file.unwrap_or_default(), paragraph.to_vec()].concat();
    let x = cl.call(vec![cl.upload_sub(&merged, schema)]).await?;
    say(say_as.retry, &x)?;
    Ok(())
}

/// The scripted story (README walkthrough). Every request goes through the proxy.
async fn run_story(site: &str, proxy: SocketAddr, ca_pem: &Path) -> anyhow::Result<()> {
    let http = |user: &str| HttpClient::new(&[ca_pem], Some(proxy), user).map(Arc::new);
    let (ha, hb, hc) = (
        http("contoso\\alice")?,
        http("contoso\\bob")?,
        http("contoso\\carol")?,
    );
    let doc = "Report.docx";
    let mut a = CellClient::new(ha, site, doc, "A0000000-0000-4000-8000-00000000000A");
    let mut b = CellClient::new(hb, site, doc, "B0000000-0000-4000-8000-00000000000B");
    let mut c = CellClient::new(
        Arc::clone(&hc),
        site,
        doc,
        "C0000000-0000-4000-8000-00000000000C",
    );

    outln!("Document {doc} (coauthorable, at most {DEMO_MAX_COAUTHORS} coauthors):");
    let open = |cl: &CellClient| {
        let mut dl = cl.download_sub();
        dl.depends_on = Some(1);
        dl.dependency_type = Some(DependencyType::OnExecute);
        vec![cl.coauth(CoauthRequestType::JoinCoauthoring), dl]
    };
    let x = a.call(open(&a)).await?;
    say("A opens: JoinCoauthoring + download", &x)?;
    let x = b.call(open(&b)).await?;
    say("B opens: JoinCoauthoring + download (Coauthoring)", &x)?;
    let x = a
        .call(vec![a.coauth(CoauthRequestType::RefreshCoauthoring)])
        .await?;
    say("A refreshes", &x)?;
    let x = a
        .call(vec![a.coauth(CoauthRequestType::MarkTransitionComplete)])
        .await?;
    say("A marks the transition complete", &x)?;
    let x = b
        .call(vec![b.coauth(CoauthRequestType::RefreshCoauthoring)])
        .await?;
    say("B refreshes", &x)?;
    let schema = b.schema_lock_id.clone();
    upload(
        &mut b,
        b"Quarterly report, edited by Bob.\n",
        b"Bob's paragraph.\n",
        &schema,
        &Upload {
            step: "B uploads a new version",
            download: "B downloads the current version",
            retry: "B retries the upload after merging",
        },
    )
    .await?;
    upload(
        &mut a,
        b"Quarterly report, edited by Alice.\n",
        b"Alice's paragraph.\n",
        &schema,
        &Upload {
            step: "A uploads on a stale version: CoherencyFailure",
            download: "A downloads Bob's version",
            retry: "A retries the upload after merging",
        },
    )
    .await?;
    let x = c.call(open(&c)).await?;
    say("C opens: refused, the session is full", &x)?;
    let x = a
        .call(vec![a.coauth(CoauthRequestType::ConvertToExclusive)])
        .await?;
    say("A converts to exclusive while B is present", &x)?;
    let x = b
        .call(vec![b.coauth(CoauthRequestType::ExitCoauthoring)])
        .await?;
    say("B exits", &x)?;
    a.timeout = 1;
    let x = a
        .call(vec![a.coauth(CoauthRequestType::ConvertToExclusive)])
        .await?;
    say("A converts to exclusive, alone, with a 1 s timeout", &x)?;
    let x = c
        .call(vec![CellClient::sub(SubRequestType::LockStatus, None)])
        .await?;
    say("C asks for the lock status (exclusive)", &x)?;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let x = c
        .call(vec![CellClient::sub(SubRequestType::LockStatus, None)])
        .await?;
    say("C asks again after 1.3 s: A's lock expired", &x)?;
    let x = c.call(open(&c)).await?;
    say("C opens: alone now", &x)?;
    let x = c
        .call(vec![c.coauth(CoauthRequestType::ExitCoauthoring)])
        .await?;
    say("C exits", &x)?;

    let doc2 = "Inventory.csv";
    outln!("Document {doc2} (not coauthorable):");
    let mut d = CellClient::new(
        Arc::clone(&hc),
        site,
        doc2,
        "D0000000-0000-4000-8000-00000000000D",
    );
    let hb2 = http("contoso\\bob")?;
    let mut e = CellClient::new(hb2, site, doc2, "E0000000-0000-4000-8000-00000000000E");
    let open_excl = |cl: &CellClient| {
        let mut dl = cl.download_sub();
        dl.depends_on = Some(1);
        dl.dependency_type = Some(DependencyType::OnExecute);
        vec![cl.exclusive(ExclusiveLockRequestType::GetLock), dl]
    };
    let x = d.call(open_excl(&d)).await?;
    say("D opens with an exclusive lock + download", &x)?;
    let x = e.call(open_excl(&e)).await?;
    say("E opens: FileAlreadyLockedOnServer, reads only", &x)?;
    let x = d
        .call(vec![d.exclusive(ExclusiveLockRequestType::ReleaseLock)])
        .await?;
    say("D releases the lock", &x)?;

    outln!("SPFileSync (a OneDrive-like sync client on the library):");
    let mut sync = SyncClient::new(http("contoso\\sync")?, site);
    sync.discover().await?;
    outln!(
        "  discovers the default library                              → {}",
        sync.base.as_deref().unwrap_or("-")
    );
    let r = sync.policy().await?;
    outln!(
        "  reads the sync policy                                      → HTTP {}",
        r.status
    );
    let mut page = 1;
    let mut names = Vec::new();
    loop {
        let p = sync.changes(2).await?;
        let items: Vec<String> = p
            .folder
            .iter()
            .flat_map(|f| f.items.iter())
            .filter_map(|i| i.fields.get("RelationshipName").cloned())
            .collect();
        outln!(
            "  initial sync, page {page} (MaxItemCount=2)                    → {} (HasMoreData {})",
            items.join(", "),
            p.has_more
        );
        names.extend(items);
        if !p.has_more || page >= 10 {
            break;
        }
        page += 1;
    }
    let last = sync.changes(2).await?;
    let url = last
        .folder
        .iter()
        .flat_map(|f| f.items.iter())
        .next()
        .and_then(|i| i.document_streams.first())
        .and_then(|s| s.fields.get("PreAuthURL").cloned());
    outln!(
        "  asks again: no changes                                     → {} items",
        last.folder.as_ref().map_or(0, |f| f.items.len())
    );
    let mut f = CellClient::new(
        http("contoso\\frank")?,
        site,
        "Notes.txt",
        "F0000000-0000-4000-8000-00000000000F",
    );
    f.download().await?;
    let x = f
        .call(vec![
            f.upload_sub(b"Plain text notes, edited by Frank.\n", "")
        ])
        .await?;
    say("F saves Notes.txt through cell storage", &x)?;
    let p = sync.changes(2).await?;
    let changed: Vec<(String, String)> = p
        .folder
        .iter()
        .flat_map(|f| f.items.iter())
        .map(|i| {
            (
                i.fields
                    .get("RelationshipName")
                    .cloned()
                    .unwrap_or_default(),
                i.fields.get("ETag").cloned().unwrap_or_default(),
            )
        })
        .collect();
    outln!("  incremental sync with the SyncToken                        → {changed:?}");
    if let Some((_, Some(stream))) = p
        .folder
        .iter()
        .flat_map(|f| f.items.iter())
        .map(|i| (i, i.document_streams.first()))
        .next()
    {
        if let Some(u) = stream.fields.get("PreAuthURL").or(url.as_ref()) {
            let bytes = sync.download(u).await?;
            outln!(
                "  downloads the changed file (PreAuthURL)                    → {} bytes",
                bytes.len()
            );
        }
    }
    let _ = names;

    outln!("WebDAV replication (a sync client on the library collection):");
    let mut w = DavClient::new(http("contoso\\dav")?, site);
    let ms = w.search().await?;
    let hrefs: Vec<String> = ms
        .response
        .iter()
        .filter_map(|r| r.href.first().cloned())
        .collect();
    outln!(
        "  SEARCH, empty collblob                                     → {} changes, collblob {}",
        hrefs.len(),
        w.collblob
    );
    for h in &hrefs {
        w.get(h).await?;
    }
    outln!(
        "  GETs every resource, keeping its resourcetag               → {} files",
        hrefs.len()
    );
    let notes = hrefs
        .iter()
        .find(|h| h.ends_with("Notes.txt"))
        .cloned()
        .unwrap_or_default();
    let status = w
        .put(&notes, b"Notes, edited over WebDAV.\n".to_vec(), None)
        .await?;
    outln!("  PUT Notes.txt with If: (<resourcetag>)                     → HTTP {status}");
    let mut g = CellClient::new(
        http("contoso\\gina")?,
        site,
        "Budget.xlsx",
        "G0000000-0000-4000-8000-0000000000AA",
    );
    g.download().await?;
    let x = g
        .call(vec![g.upload_sub(b"Budget, edited by Gina.\n", "")])
        .await?;
    say("G saves Budget.xlsx through cell storage", &x)?;
    let ms = w.search().await?;
    for r in &ms.response {
        let (Some(h), Some(tag)) = (r.href.first(), r.resourcetag()) else {
            continue;
        };
        let name = h.rsplit('/').next().unwrap_or(h);
        if w.tags.get(h).map(String::as_str) == Some(tag) {
            outln!("  SEARCH with collblob: {name:<20} resourcetag unchanged → skipped");
        } else {
            let bytes = w.get(h).await?;
            outln!(
                "  SEARCH with collblob: {name:<20} resourcetag changed   → GET {} bytes",
                bytes.len()
            );
        }
    }
    let inv = format!("{}Inventory.csv", w.collection);
    let (status, token) = w.lock(&inv, 120).await?;
    outln!("  LOCK Inventory.csv                                         → HTTP {status}");
    let mut e2 = CellClient::new(
        http("contoso\\erin")?,
        site,
        "Inventory.csv",
        "E0000000-0000-4000-8000-0000000000EE",
    );
    let x = e2
        .call(vec![e2.exclusive(ExclusiveLockRequestType::GetLock)])
        .await?;
    say("E asks cell storage for an exclusive lock on it", &x)?;
    let status = w.put(&inv, b"item,count\n".to_vec(), None).await?;
    outln!("  PUT Inventory.csv without the lock token                   → HTTP {status}");
    if let Some(t) = token {
        let status = w.unlock(&inv, &t).await?;
        outln!("  UNLOCK Inventory.csv                                       → HTTP {status}");
    }
    Ok(())
}
