//! A mock server answering requests with a capture's recorded responses.
//!
//! Requests are matched by meaning, not bytes, in the manner of mitmproxy's server
//! playback (a key per request, recorded answers queued per key):
//!
//! - cell storage: the `Request@Url` path and the sequence of subrequests, each as its
//!   Type, sub-operation (CoauthRequestType...), ClientID, SchemaLockID and
//!   ExclusiveLockID, plus the FSSHTTPB sub-request kinds of Cell payloads;
//! - SPFileSync: method, path and query (the operation and its parameters);
//! - anything else: method, path with query, and the SHA-256 of the body.
//!
//! Repeated identical requests get the recorded answers in recorded order (the last one
//! again when they run out). An unmatched request gets a SOAP fault (cell storage) or an
//! HTTP 502 naming the closest recorded request and why it did not match, and is logged.
//! The recorded server's origin is replaced by the mock's in response headers and bodies,
//! so URLs the server handed out (PreAuthURL, discovery) lead back to the mock.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::decode::exchange::decoded_body;
use crate::decode::fsshttp::{self, EncodeOptions, ResponseEnvelope, SoapFault};
use crate::decode::fsshttpb as b;
use crate::model::Exchange;
use crate::net::listen::{HttpListener, LocalTls};

/// The largest request body the mock reads.
const MAX_BODY: usize = 256 << 20;

/// How to run the mock.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Serve HTTPS with a leaf minted by synctap's CA.
    pub tls: bool,
    /// The folder holding synctap's CA.
    pub certs_dir: PathBuf,
}

/// A bound mock server.
pub struct Mock {
    listener: HttpListener,
    state: Arc<State>,
}

impl std::fmt::Debug for Mock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mock")
            .field("url", &self.state.base)
            .finish_non_exhaustive()
    }
}

struct Entry {
    key: Key,
    exchange: Exchange,
    origin: Option<String>,
}

struct State {
    base: String,
    entries: Vec<Entry>,
    queues: Mutex<HashMap<String, (VecDeque<usize>, usize)>>,
    unmatched: Mutex<u64>,
}

/// A request's matching key: its kind, the key text, and a description for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `cell`, `sync` or `http`.
    pub kind: &'static str,
    /// The parts compared, in order.
    pub parts: Vec<String>,
}

impl Key {
    fn text(&self) -> String {
        format!("{} {}", self.kind, self.parts.join(" | "))
    }
}

impl Mock {
    /// Binds the mock and indexes the recorded exchanges that have a response.
    ///
    /// # Errors
    /// When the address cannot be bound or the CA cannot be loaded (with `tls`).
    pub async fn bind(config: MockConfig, recorded: Vec<Exchange>) -> anyhow::Result<Self> {
        let tls = config.tls.then_some(LocalTls {
            certs_dir: &config.certs_dir,
            alpn: &[b"http/1.1"],
        });
        let listener = HttpListener::bind(config.listen, tls).await?;
        let base = listener.url();
        let mut entries = Vec::new();
        let mut queues: HashMap<String, (VecDeque<usize>, usize)> = HashMap::new();
        for x in recorded {
            let (Some(req), Some(_)) = (&x.request, &x.response) else {
                continue;
            };
            let ct = req.headers.get("content-type");
            let body = decoded_body(&req.headers.pairs(), &req.body.bytes);
            let key = request_key(&req.method, &req.url, ct, &body);
            let i = entries.len();
            let q = queues.entry(key.text()).or_default();
            q.0.push_back(i);
            q.1 = i;
            entries.push(Entry {
                key,
                origin: origin_of(&req.url),
                exchange: x,
            });
        }
        Ok(Self {
            listener,
            state: Arc::new(State {
                base,
                entries,
                queues: Mutex::new(queues),
                unmatched: Mutex::new(0),
            }),
        })
    }

    /// The base URL, e.g. `https://127.0.0.1:8443`.
    pub fn url(&self) -> String {
        self.state.base.clone()
    }

    /// How many recorded exchanges can be served.
    pub fn len(&self) -> usize {
        self.state.entries.len()
    }

    /// Whether there is nothing to serve.
    pub fn is_empty(&self) -> bool {
        self.state.entries.is_empty()
    }

    /// Serves until `stop` completes.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let state = self.state;
        self.listener
            .serve(stop, move |req, _| {
                let state = Arc::clone(&state);
                async move { handle(&state, req).await }
            })
            .await;
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_owned();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let url = format!("{}{path}", state.base);
    let ct = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let codings: Vec<(String, String)> = req
        .headers()
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| ("content-encoding".to_owned(), v.to_owned()))
        .collect();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return plain(400, &format!("cannot read the request body: {e}")),
    };
    let pairs: Vec<(&str, &str)> = codings
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let body = decoded_body(&pairs, &body);
    let key = request_key(&method, &url, ct.as_deref(), &body);
    let found = state.queues.lock().ok().and_then(|mut q| {
        let (queue, last) = q.get_mut(&key.text())?;
        Some(queue.pop_front().unwrap_or(*last))
    });
    match found {
        Some(i) => recorded_response(state, &state.entries[i]),
        None => unmatched(state, &method, &path, &key),
    }
}

fn recorded_response(state: &State, e: &Entry) -> Response<Full<Bytes>> {
    let Some(r) = &e.exchange.response else {
        return plain(502, "the recorded exchange has no response");
    };
    // A compressed recorded answer is served decoded (without its Content-Encoding), so
    // the origin rewrite below works on text and the client gets a consistent message.
    let pairs = r.headers.pairs();
    let encoded = pairs
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-encoding"));
    let mut body = decoded_body(&pairs, &r.body.bytes).into_owned();
    if let Some(o) = &e.origin {
        super::remap::replace_bytes(&mut body, o.as_bytes(), state.base.as_bytes());
    }
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = http::StatusCode::from_u16(r.status).unwrap_or(http::StatusCode::OK);
    for (n, v) in &r.headers.0 {
        let l = n.to_ascii_lowercase();
        if matches!(
            l.as_str(),
            "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "date"
        ) || (encoded && l == "content-encoding")
        {
            continue;
        }
        let v = match &e.origin {
            Some(o) => v.replace(o.as_str(), &state.base),
            None => v.clone(),
        };
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n.as_bytes()),
            http::HeaderValue::from_bytes(&crate::util::from_latin1(&v)),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}

fn unmatched(state: &State, method: &str, path: &str, key: &Key) -> Response<Full<Bytes>> {
    if let Ok(mut n) = state.unmatched.lock() {
        *n += 1;
    }
    let closest = state
        .entries
        .iter()
        .filter(|e| e.key.kind == key.kind)
        .max_by_key(|e| similarity(&e.key, key));
    let why = match closest {
        Some(e) => {
            let (rm, rp) = e
                .exchange
                .request
                .as_ref()
                .map_or(("", ""), |r| (r.method.as_str(), r.url.as_str()));
            format!(
                "closest recorded request: #{} {rm} {rp}; {}",
                e.exchange.id,
                difference(&e.key, key)
            )
        }
        None => format!("no recorded {} request at all", key.kind),
    };
    let msg = format!("synctap mock: no recorded answer for {method} {path} ({why})");
    let shown = crate::decode::text::escape_terminal(&msg);
    tracing::warn!("{shown}");
    eprintln!("{shown}");
    if key.kind == "cell" {
        let env = ResponseEnvelope {
            fault: Some(SoapFault {
                faultcode: Some("s:Client".to_owned()),
                faultstring: Some(msg),
                ..SoapFault::default()
            }),
            ..ResponseEnvelope::default()
        };
        let (ct, body) = fsshttp::encode_response(
            &env,
            EncodeOptions {
                mtom: false,
                cell_inline: true,
            },
        );
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        if let Ok(v) = http::HeaderValue::from_str(&ct) {
            resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
        return resp;
    }
    plain(502, &msg)
}

fn plain(status: u16, text: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *resp.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn similarity(a: &Key, b: &Key) -> usize {
    let same = a.parts.iter().zip(&b.parts).filter(|(x, y)| x == y).count();
    same * 2 + usize::from(a.parts.len() == b.parts.len())
}

fn difference(recorded: &Key, got: &Key) -> String {
    for (i, (r, g)) in recorded.parts.iter().zip(&got.parts).enumerate() {
        if r != g {
            let what = if i == 0 { "target" } else { "part" };
            return format!("{what} {i} differs: recorded {r:?}, received {g:?}");
        }
    }
    format!(
        "recorded {} parts, received {}",
        recorded.parts.len(),
        got.parts.len()
    )
}

/// The matching key of a request.
pub fn request_key(method: &str, url: &str, content_type: Option<&str>, body: &[u8]) -> Key {
    let path = path_of(url);
    let headers: Vec<(&str, &str)> = content_type
        .map(|c| vec![("content-type", c)])
        .unwrap_or_default();
    let prefix = &body[..body.len().min(4096)];
    if fsshttp::recognise(method, url, &headers, prefix) {
        let env = fsshttp::decode_request(content_type, body);
        let mut parts = Vec::new();
        for r in env
            .request_collection
            .iter()
            .flat_map(|c| c.requests.iter())
        {
            parts.push(format!(
                "Url {}",
                r.url.as_deref().map(path_of).unwrap_or_default()
            ));
            for s in &r.sub_requests {
                let d = s.sub_request_data.as_ref();
                let op = d.and_then(super::diff::request_type);
                let cell = d
                    .and_then(|d| d.payload.as_ref())
                    .map(|p| {
                        let fb = b::decode_request(&p.bytes);
                        fb.sub_requests
                            .iter()
                            .map(|s| match s.data {
                                b::SubRequestData::QueryChanges(_) => "QueryChanges",
                                b::SubRequestData::PutChanges(_) => "PutChanges",
                                b::SubRequestData::QueryAccess => "QueryAccess",
                                b::SubRequestData::AllocateExtendedGuidRange(_) => "Allocate",
                                b::SubRequestData::Unknown { .. } => "other",
                            })
                            .collect::<Vec<_>>()
                            .join("+")
                    })
                    .unwrap_or_default();
                parts.push(format!(
                    "{} {} {} {} {} {} {cell}",
                    s.type_.as_ref().map_or("?", |t| t.as_str()),
                    op.unwrap_or("-"),
                    d.and_then(|d| d.client_id.as_deref()).unwrap_or("-"),
                    d.and_then(|d| d.schema_lock_id.as_deref()).unwrap_or("-"),
                    d.and_then(|d| d.exclusive_lock_id.as_deref())
                        .unwrap_or("-"),
                    s.depends_on.map_or("-".to_owned(), |n| n.to_string()),
                ));
            }
        }
        return Key {
            kind: "cell",
            parts,
        };
    }
    if crate::decode::spfilesync::recognise(method, url).is_some() {
        let (p, q) = path.split_once('?').unwrap_or((path.as_str(), ""));
        let mut query: Vec<&str> = q.split('&').filter(|s| !s.is_empty()).collect();
        query.sort_unstable();
        return Key {
            kind: "sync",
            parts: vec![format!("{method} {p}"), query.join("&")],
        };
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    Key {
        kind: "http",
        parts: vec![
            format!("{method} {path}"),
            format!("body sha256 {}", &crate::util::hex(digest.as_ref())[..16]),
        ],
    }
}

/// The path and query of a URL (the URL itself when it has no origin).
fn path_of(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => rest[i..].to_owned(),
            None => "/".to_owned(),
        },
        None => url.to_owned(),
    }
}

fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find('/').unwrap_or(rest.len());
    Some(format!("{scheme}://{}", &rest[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_requests_key_on_method_path_and_body() {
        let a = request_key("PUT", "https://a:1/x/y.txt?q=1", None, b"one");
        let b = request_key("PUT", "https://b:2/x/y.txt?q=1", None, b"one");
        let c = request_key("PUT", "https://b:2/x/y.txt?q=1", None, b"two");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(difference(&a, &c).contains("part 1"));
    }

    #[test]
    fn origins() {
        assert_eq!(origin_of("https://h:1/p").as_deref(), Some("https://h:1"));
        assert_eq!(path_of("https://h:1/p?q"), "/p?q");
    }
}
