//! The reference server used by `synctap serve`, `synctap demo` and the tests: a small
//! SharePoint stand-in speaking MS-FSSHTTP cell storage (locks, coauthoring, Cell
//! download/upload) over HTTP/1.1 or HTTP/2, with or without TLS.
//!
//! Layout: [`store`] holds documents and lock state with an injectable [`Clock`];
//! [`cellstorage`] applies the MS-FSSHTTP rules to decoded requests; this module does
//! the HTTP side (routing, MTOM framing through the crate's encoder, one tracing line per
//! request); [`client`] holds the scripted clients that talk to it, directly or through
//! a forward proxy. Protocol facts come from MS-FSSHTTP and MS-FSSHTTPB; the decoders and
//! encoders in `crate::decode` are reused, never duplicated.

mod cellstorage;
pub mod client;
mod spfilesync;
pub mod store;
mod webdav;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;

pub use cellstorage::{CellService, CellSettings};
pub use store::{Clock, ManualClock, Store, SystemClock};

use crate::decode::fsshttp::{self, EncodeOptions};
use crate::net::listen::{HttpListener, LocalTls};

/// The largest request body the server reads.
pub const MAX_BODY: usize = 256 << 20;
/// The login reported for requests without an `X-Synctap-User` header.
pub const DEFAULT_USER: &str = "synctap\\user";

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address (port 0 picks a free port). Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Serve HTTPS with a leaf minted by synctap's CA. Default true.
    pub tls: bool,
    /// The folder holding synctap's CA. Default `certs`.
    pub certs_dir: PathBuf,
    /// Cell storage settings (coauth on/off, coauthor limit, seed).
    pub cell: CellSettings,
    /// Data folder; `None` keeps the sample documents in memory only. Default `None`.
    pub data_dir: Option<PathBuf>,
    /// The clock. Default the system clock.
    pub clock: Arc<dyn Clock>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            certs_dir: PathBuf::from("certs"),
            cell: CellSettings::default(),
            data_dir: None,
            clock: Arc::new(SystemClock),
        }
    }
}

/// A bound server, ready to run.
pub struct Server {
    listener: HttpListener,
    state: Arc<Shared>,
}

struct Shared {
    service: Mutex<CellService>,
    local_addr: SocketAddr,
    scheme: &'static str,
}

impl Server {
    /// Loads the documents (seeding samples), mints the TLS leaf and binds.
    ///
    /// # Errors
    /// When the data folder, the CA or the listen address cannot be used.
    pub async fn bind(config: ServerConfig) -> anyhow::Result<Self> {
        let now = config.clock.now_ms();
        let store = match &config.data_dir {
            Some(dir) => Store::load(dir, now)
                .with_context(|| format!("cannot use the data folder {}", dir.display()))?,
            None => {
                let mut s = Store::new(None);
                for (name, text) in store::SAMPLES {
                    s.insert(name, text.as_bytes().to_vec(), now, "synctap\\seed");
                }
                s
            }
        };
        let tls = config.tls.then_some(LocalTls {
            certs_dir: &config.certs_dir,
            alpn: &[b"h2", b"http/1.1"],
        });
        let listener = HttpListener::bind(config.listen, tls).await?;
        let service = CellService::new(store, config.cell.clone(), Arc::clone(&config.clock));
        let state = Arc::new(Shared {
            service: Mutex::new(service),
            local_addr: listener.local_addr(),
            scheme: listener.scheme(),
        });
        Ok(Self { listener, state })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// The base URL, e.g. `https://127.0.0.1:8443`.
    pub fn url(&self) -> String {
        self.listener.url()
    }

    /// The CA certificate clients must trust (TLS only).
    pub fn ca_cert_path(&self) -> Option<PathBuf> {
        self.listener.ca_cert_path().map(Path::to_path_buf)
    }

    /// Serves until `stop` completes.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let state = self.state;
        self.listener
            .serve(stop, move |req, peer| {
                let state = Arc::clone(&state);
                async move { handle(&state, req, peer).await }
            })
            .await;
    }
}

fn reply(status: StatusCode, ct: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str(ct) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r.headers_mut().insert(
        "x-sharepointhealthscore",
        http::HeaderValue::from_static("0"),
    );
    r
}

async fn handle(state: &Shared, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), ToString::to_string);
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(ToString::to_string))
        .unwrap_or_else(|| state.local_addr.to_string());
    let user = req
        .headers()
        .get("x-synctap-user")
        .and_then(|h| h.to_str().ok())
        .unwrap_or(DEFAULT_USER)
        .to_owned();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let ct = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            tracing::info!(%peer, %method, path = %path, status = 400, "request body: {e}");
            return reply(StatusCode::BAD_REQUEST, "text/plain", "bad request body\n");
        }
    };
    let lower = path.to_ascii_lowercase();
    // Computed apart so the lock is released before any other branch takes it.
    let sync_answer = state.service.lock().ok().and_then(|s| {
        spfilesync::answer(
            &s.store,
            s.settings.seed,
            s.clock.now_ms(),
            method.as_str(),
            &path_and_query,
            &format!("{}://{host}", state.scheme),
        )
    });
    let dav_answer = if sync_answer.is_none() && !lower.contains("/_vti_bin/") {
        state.service.lock().ok().and_then(|mut s| {
            let (now_ms, seed) = (s.clock.now_ms(), s.settings.seed);
            webdav::answer(
                &mut s.store,
                &webdav::DavRequest {
                    method: method.as_str(),
                    path: &path,
                    headers: &headers,
                    body: &body,
                    user: &user,
                    now_ms,
                    seed,
                },
            )
        })
    } else {
        None
    };
    let resp = if let Some(i) = lower.find("/_vti_bin/cellstorage.svc") {
        if method != http::Method::POST {
            reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "POST only\n")
        } else {
            let site = path.get(..i).unwrap_or("");
            let web_url = format!("{}://{host}{site}", state.scheme);
            let env = fsshttp::decode_request(ct.as_deref(), &body);
            let out = match state.service.lock() {
                Ok(mut s) => s.handle(&env, &web_url, &user),
                Err(_) => {
                    return reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        "poisoned\n",
                    )
                }
            };
            let summary = fsshttp::summarize(Some(&env), Some(&out)).join("; ");
            // The summary quotes the request (Url, ClientID): no control characters in logs.
            let summary = crate::decode::text::escape_terminal(&summary);
            tracing::info!(%peer, %method, path = %path, status = 200, "{summary}");
            let (ct, body) = fsshttp::encode_response(&out, EncodeOptions::default());
            return reply(StatusCode::OK, &ct, body);
        }
    } else if let Some((status, headers, body)) = sync_answer.or(dav_answer) {
        let mut r = reply(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            "text/plain",
            body,
        );
        for (k, v) in headers {
            if let Ok(v) = http::HeaderValue::from_str(&v) {
                r.headers_mut().insert(k, v);
            }
        }
        r
    } else if method == http::Method::GET {
        let found = state
            .service
            .lock()
            .ok()
            .and_then(|mut s| s.store.find_mut(&path).map(|d| d.content().to_vec()));
        match found {
            Some(bytes) => reply(StatusCode::OK, "application/octet-stream", bytes),
            None => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        }
    } else {
        reply(StatusCode::NOT_FOUND, "text/plain", "not found\n")
    };
    tracing::info!(%peer, %method, path = %path, status = resp.status().as_u16(), "request");
    resp
}
