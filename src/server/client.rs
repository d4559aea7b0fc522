//! Scripted clients for the reference server (and any real server): an HTTP client that
//! connects directly or through a forward proxy (HTTP CONNECT, then TLS trusting given CA
//! certificates), and [`CellClient`], which builds MS-FSSHTTP requests with the crate's
//! encoders (coauth, schema and exclusive locks, Cell download and upload with FSSHTTPB
//! payloads) and decodes the answers.
//!
//! Used by `synctap demo` and the integration tests; later by replay. Each client keeps
//! one connection open, like Office does, and reopens it when the server closed it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use crate::decode::fsshttp::{
    self, CellPayload, CoauthRequestType, EncodeOptions, ExclusiveLockRequestType, PayloadOrigin,
    Request as FRequest, RequestCollection, RequestEnvelope, ResponseEnvelope,
    SchemaLockRequestType, SubRequest, SubRequestData, SubRequestType, SubResponse, VersionInfo,
};
use crate::decode::fsshttpb::{
    self as b, ExGuid, FilePackageOptions, FsshttpbRequest, Guid, QueryChangesArguments,
    QueryChangesRequest, REQUEST_SIGNATURE,
};
use crate::proxy::upstream::{ProxyRoute, UpstreamProxy};
use crate::proxy::{ca, tls};

/// The largest response body a client reads.
const MAX_RESPONSE: usize = 256 << 20;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP response as the scripted clients see it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header fields.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// An HTTP/1.1 client keeping one connection, direct or through a forward proxy.
pub struct HttpClient {
    proxy: Option<SocketAddr>,
    tls: Arc<ClientConfig>,
    user: String,
    /// Sends only the caller's headers (plus Host): no login or User-Agent of its own.
    raw: bool,
    /// Without `proxy`: which connections go through an upstream HTTP proxy.
    route: ProxyRoute,
    conn: Mutex<Option<(String, ClientConn)>>,
}

/// An open connection and the upstream HTTP proxy its plain-HTTP requests go to.
type ClientConn = (http1::SendRequest<Full<Bytes>>, Option<UpstreamProxy>);

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("proxy", &self.proxy)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client trusting the certificates in the PEM files `trust` (synctap's CA, the
    /// server's CA), sending requests through `proxy` when given, as `user` (sent in
    /// `X-Synctap-User`, which the reference server reports as the login).
    ///
    /// # Errors
    /// When a PEM file cannot be read or holds an invalid certificate.
    pub fn new(trust: &[&Path], proxy: Option<SocketAddr>, user: &str) -> anyhow::Result<Self> {
        tls::install_default_provider();
        let mut roots = rustls::RootCertStore::empty();
        for p in trust {
            for c in ca::load_pem_certs(p)? {
                roots.add(c).context("invalid CA certificate")?;
            }
        }
        let mut cfg = ClientConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            proxy,
            tls: Arc::new(cfg),
            user: user.to_owned(),
            raw: false,
            route: ProxyRoute::default(),
            conn: Mutex::new(None),
        })
    }

    /// A direct client with a prepared TLS configuration that adds no header of its own
    /// besides Host (replay sends the recorded headers as they were).
    pub fn raw(tls: Arc<ClientConfig>) -> Self {
        Self {
            proxy: None,
            tls,
            user: String::new(),
            raw: true,
            route: ProxyRoute::default(),
            conn: Mutex::new(None),
        }
    }

    /// Reaches servers through the upstream HTTP proxies of `route` (for a client that
    /// does not go through synctap's own proxy).
    #[must_use]
    pub fn with_route(mut self, route: ProxyRoute) -> Self {
        self.route = route;
        self
    }

    /// The login sent with each request.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Sends one request and reads the whole response.
    ///
    /// # Errors
    /// When the URL is invalid, the connection or TLS handshake fails, the proxy refuses
    /// the CONNECT, or the request times out.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<HttpResponse> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.send_inner(method, url, headers, body))
            .await
            .map_err(|_| anyhow!("{url}: timed out"))?
    }

    async fn send_inner(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<HttpResponse> {
        let uri: http::Uri = url.parse().with_context(|| format!("invalid URL {url}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => bail!("{url}: only http and https URLs"),
        };
        let host = uri
            .host()
            .ok_or_else(|| anyhow!("{url}: no host"))?
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = format!("{host}:{port}");
        let key = format!("{}://{authority}", if https { "https" } else { "http" });
        let mut guard = self.conn.lock().await;
        let reuse = matches!(&*guard, Some((k, (s, _))) if *k == key && !s.is_closed());
        if !reuse {
            *guard = Some((key.clone(), self.connect(&host, port, https).await?));
        }
        let Some((_, (sender, via))) = guard.as_mut() else {
            bail!("no connection");
        };
        // Through a proxy, plain HTTP uses the absolute form; everything else the origin form.
        let target = if (self.proxy.is_some() || via.is_some()) && !https {
            url.to_owned()
        } else {
            uri.path_and_query()
                .map_or("/".to_owned(), ToString::to_string)
        };
        let proxy_auth = via.as_ref().and_then(|v| v.authorization.clone());
        sender.ready().await.context("connection not ready")?;
        let mut rb = Request::builder()
            .method(method)
            .uri(target)
            .header(http::header::HOST, authority);
        if let Some(a) = proxy_auth {
            rb = rb.header(http::header::PROXY_AUTHORIZATION, a);
        }
        if !self.raw {
            rb = rb
                .header("x-synctap-user", self.user.as_str())
                .header(http::header::USER_AGENT, "synctap-scripted-client/0.1");
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let req = rb
            .body(Full::new(Bytes::from(body)))
            .context("cannot build the request")?;
        let resp = sender.send_request(req).await.context("request failed")?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| anyhow!("reading the response body: {e}"))?
            .to_bytes();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    async fn connect(&self, host: &str, port: u16, https: bool) -> anyhow::Result<ClientConn> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let (tcp, via) = match self.proxy {
            // synctap's own proxy: a tunnel for https, the proxy itself for http.
            Some(p) => {
                let p = UpstreamProxy {
                    host: p.ip().to_string(),
                    port: p.port(),
                    user: None,
                    authorization: None,
                };
                let tcp = if https {
                    p.tunnel(bare, port).await
                } else {
                    p.open().await
                };
                (tcp.map_err(|e| anyhow!(e))?, None)
            }
            None => self
                .route
                .connect(bare, port, https)
                .await
                .map_err(|e| anyhow!(e))?,
        };
        if !https {
            return Ok((handshake(tcp).await?, via));
        }
        let name = ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
        .with_context(|| format!("invalid server name {host}"))?;
        let tls = TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {host}:{port}"))?;
        Ok((handshake(tls).await?, None))
    }
}

async fn handshake<S>(io: S) -> anyhow::Result<http1::SendRequest<Full<Bytes>>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(TokioIo::new(io))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A scripted MS-FSSHTTP client: one ClientID working on one file.
#[derive(Debug)]
pub struct CellClient {
    http: Arc<HttpClient>,
    /// The cell storage endpoint (`{site}/_vti_bin/cellstorage.svc/CellStorageService`).
    pub endpoint: String,
    /// The file URL sent in `Request@Url`.
    pub file_url: String,
    /// This client's ClientID.
    pub client_id: String,
    /// The SchemaLockID it presents (shared by every client of the same schema).
    pub schema_lock_id: String,
    /// The ExclusiveLockID it uses.
    pub exclusive_lock_id: String,
    /// Lock timeout sent with lock requests, in seconds. Default 3600.
    pub timeout: i64,
    /// The Storage Index id of the last download (the expected id of the next upload).
    pub known_storage_index: Option<ExGuid>,
    /// The ETag of the last Cell response.
    pub etag: Option<String>,
    next_token: u64,
}

/// The Word 2010 well-known SchemaLockID (REFERENCE.md A.10.3).
pub const WORD_SCHEMA_LOCK_ID: &str = "29358EC1-E813-4793-8E70-ED0344E7B73C";

/// One exchange of a [`CellClient`]: the request sent and the response decoded.
#[derive(Debug, Clone)]
pub struct CellReply {
    /// The request envelope sent.
    pub request: RequestEnvelope,
    /// The response envelope, decoded and joined to the request.
    pub response: ResponseEnvelope,
    /// The HTTP status.
    pub status: u16,
}

impl CellReply {
    /// The `n`th SubResponse.
    pub fn sub(&self, n: usize) -> Option<&SubResponse> {
        self.response.sub_responses().nth(n).map(|(_, s)| s)
    }

    /// The ErrorCode of the `n`th SubResponse (`"-"` when missing).
    pub fn code(&self, n: usize) -> String {
        self.sub(n)
            .and_then(|s| s.error_code.as_ref())
            .map_or_else(|| "-".to_owned(), ToString::to_string)
    }

    /// The decoded FSSHTTPB response of the `n`th SubResponse, if it has a Cell payload.
    pub fn cell_response(&self, n: usize) -> Option<b::FsshttpbResponse> {
        let p = self.sub(n)?.cell_payload()?;
        Some(b::decode_response(&p.bytes, None))
    }
}

impl CellClient {
    /// A client for `file` in the library `site_url/Shared Documents`.
    pub fn new(http: Arc<HttpClient>, site_url: &str, file: &str, client_id: &str) -> Self {
        let site = site_url.trim_end_matches('/');
        Self {
            http,
            endpoint: format!("{site}/_vti_bin/cellstorage.svc/CellStorageService"),
            file_url: format!("{site}/Shared%20Documents/{file}"),
            client_id: client_id.to_owned(),
            schema_lock_id: WORD_SCHEMA_LOCK_ID.to_owned(),
            exclusive_lock_id: format!("{{{client_id}-EXCL}}"),
            timeout: 3600,
            known_storage_index: None,
            etag: None,
            next_token: 1,
        }
    }

    fn data(&self) -> SubRequestData {
        SubRequestData {
            client_id: Some(self.client_id.clone()),
            schema_lock_id: Some(self.schema_lock_id.clone()),
            timeout: Some(self.timeout),
            ..SubRequestData::default()
        }
    }

    /// A SubRequest of type `ty` with `data` (token assigned by [`CellClient::call`]).
    pub fn sub(ty: SubRequestType, data: Option<SubRequestData>) -> SubRequest {
        SubRequest {
            type_: Some(ty),
            sub_request_data: data,
            ..SubRequest::default()
        }
    }

    /// A Coauth subrequest of `kind`.
    pub fn coauth(&self, kind: CoauthRequestType) -> SubRequest {
        let mut d = self.data();
        d.coauth_request_type = Some(kind.clone());
        match kind {
            CoauthRequestType::JoinCoauthoring => {
                d.allow_fallback_to_exclusive = Some(true);
                d.exclusive_lock_id = Some(self.exclusive_lock_id.clone());
            }
            CoauthRequestType::ConvertToExclusive => {
                d.exclusive_lock_id = Some(self.exclusive_lock_id.clone());
                d.release_lock_on_conversion_to_exclusive_failure = Some(false);
            }
            CoauthRequestType::RefreshCoauthoring => {
                d.exclusive_lock_id = Some(self.exclusive_lock_id.clone());
            }
            _ => {}
        }
        Self::sub(SubRequestType::Coauth, Some(d))
    }

    /// A SchemaLock subrequest of `kind`.
    pub fn schema_lock(&self, kind: SchemaLockRequestType) -> SubRequest {
        let mut d = self.data();
        d.schema_lock_request_type = Some(kind);
        d.exclusive_lock_id = Some(self.exclusive_lock_id.clone());
        d.allow_fallback_to_exclusive = Some(true);
        Self::sub(SubRequestType::SchemaLock, Some(d))
    }

    /// An ExclusiveLock subrequest of `kind`.
    pub fn exclusive(&self, kind: ExclusiveLockRequestType) -> SubRequest {
        let d = SubRequestData {
            exclusive_lock_request_type: Some(kind),
            exclusive_lock_id: Some(self.exclusive_lock_id.clone()),
            client_id: Some(self.client_id.clone()),
            schema_lock_id: Some(self.schema_lock_id.clone()),
            timeout: Some(self.timeout),
            ..SubRequestData::default()
        };
        Self::sub(SubRequestType::ExclusiveLock, Some(d))
    }

    /// A Cell subrequest carrying `payload` (an FSSHTTPB request), with the lock ids
    /// this client holds (`upload` adds the BypassLockID).
    pub fn cell(
        &self,
        payload: &FsshttpbRequest,
        upload: bool,
        lock_id: Option<&str>,
    ) -> SubRequest {
        let bytes = b::encode_request(payload);
        let d = SubRequestData {
            binary_data_size: Some(bytes.len() as i64),
            client_id: Some(self.client_id.clone()),
            schema_lock_id: Some(self.schema_lock_id.clone()),
            bypass_lock_id: if upload {
                lock_id.map(str::to_owned)
            } else {
                None
            },
            coauth_versioning: upload.then_some(true),
            get_file_props: Some(true),
            payload: Some(CellPayload {
                bytes: bytes.into(),
                origin: PayloadOrigin::Inline,
            }),
            ..SubRequestData::default()
        };
        Self::sub(SubRequestType::Cell, Some(d))
    }

    /// A download: FSSHTTPB Query Changes of the whole file.
    pub fn download_sub(&self) -> SubRequest {
        self.cell(&query_changes_request(), false, None)
    }

    /// An upload of `content`, expecting the Storage Index of the last download.
    pub fn upload_sub(&self, content: &[u8], lock_id: &str) -> SubRequest {
        let opts = FilePackageOptions {
            id_guid: Guid::from_u128(
                (u128::from(fnv(self.client_id.as_bytes())) << 64) | u128::from(self.next_token),
            ),
            serial_guid: Guid::from_u128(
                (u128::from(fnv(self.client_id.as_bytes())) << 64) | 0xFFFF,
            ),
            ..FilePackageOptions::default()
        };
        let mut req = b::build_put_changes_request(content, &opts);
        for s in &mut req.sub_requests {
            if let b::SubRequestData::PutChanges(p) = &mut s.data {
                if let Some(known) = self.known_storage_index {
                    p.expected_storage_index_id = known;
                    p.flags = 0;
                    p.flag_names.clear();
                }
            }
        }
        self.cell(&req, true, Some(lock_id))
    }

    /// Sends `subs` in one Request (tokens 1, 2, ... in order, `DependsOn` left as set)
    /// and decodes the answer. Remembers the ETag and Storage Index of Cell answers.
    ///
    /// # Errors
    /// Network errors; an HTTP status other than 200.
    pub async fn call(&mut self, mut subs: Vec<SubRequest>) -> anyhow::Result<CellReply> {
        for (i, s) in subs.iter_mut().enumerate() {
            s.sub_request_token = Some(i as u64 + 1);
        }
        let token = self.next_token;
        self.next_token += 1;
        let env = RequestEnvelope {
            request_version: Some(VersionInfo {
                version: Some(2),
                minor_version: Some(3),
                ..VersionInfo::default()
            }),
            request_collection: Some(RequestCollection {
                correlation_id: Some(format!("{}-{token:04}", self.client_id)),
                requests: vec![FRequest {
                    url: Some(self.file_url.clone()),
                    request_token: Some(token),
                    sub_requests: subs,
                    ..FRequest::default()
                }],
            }),
            ..RequestEnvelope::default()
        };
        let (ct, body) = fsshttp::encode_request(&env, EncodeOptions::default());
        let resp = self
            .http
            .send(
                Method::POST,
                &self.endpoint,
                &[
                    ("content-type", ct.as_str()),
                    ("soapaction", fsshttp::SOAP_ACTION),
                ],
                body,
            )
            .await?;
        if resp.status != 200 {
            bail!("{}: HTTP {}", self.endpoint, resp.status);
        }
        let rct = resp
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let decoded = fsshttp::decode_response(rct, &resp.body, Some(&env));
        let x = CellReply {
            request: env,
            response: decoded,
            status: resp.status,
        };
        for (_, s) in x.response.sub_responses() {
            if let Some(d) = &s.sub_response_data {
                if let Some(e) = &d.etag {
                    self.etag = Some(e.clone());
                }
            }
            if let Some(p) = s.cell_payload() {
                let fb = b::decode_response(&p.bytes, None);
                for sr in &fb.sub_responses {
                    match &sr.data {
                        b::SubResponseData::QueryChanges(q) if !q.storage_index_id.is_null() => {
                            self.known_storage_index = Some(q.storage_index_id);
                        }
                        b::SubResponseData::PutChanges(pc) => {
                            if let Some(a) = &pc.applied {
                                self.known_storage_index = Some(a.applied_storage_index_id);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(x)
    }

    /// Downloads the file; returns the exchange and the file bytes when it succeeded.
    ///
    /// # Errors
    /// As [`CellClient::call`].
    pub async fn download(&mut self) -> anyhow::Result<(CellReply, Option<Vec<u8>>)> {
        let x = self.call(vec![self.download_sub()]).await?;
        let file = x
            .cell_response(0)
            .and_then(|r| r.data_element_package)
            .and_then(|p| b::extract_file(&p));
        Ok((x, file))
    }
}

/// An FSSHTTPB request with one Query Changes sub-request for the whole file.
pub fn query_changes_request() -> FsshttpbRequest {
    FsshttpbRequest {
        protocol_version: 14,
        minimum_version: 11,
        signature: REQUEST_SIGNATURE,
        user_agent: Some(b::UserAgent {
            offset: 0,
            guid: Some(Guid::from_u128(0x5A0E_0003_0000_4000_8000_0000_0000_0003)),
            client_and_platform: None,
            version: Some(0x0001_0002),
        }),
        sub_requests: vec![b::SubRequest {
            request_id: 1,
            request_type: 2,
            data: b::SubRequestData::QueryChanges(QueryChangesRequest {
                flags: 0x02,
                arguments: Some(QueryChangesArguments {
                    flags: 0x03,
                    ..QueryChangesArguments::default()
                }),
                max_data_elements: Some(1_000_000),
                ..QueryChangesRequest::default()
            }),
            ..b::SubRequest::default()
        }],
        ..FsshttpbRequest::default()
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A scripted OneDrive-like SPFileSync client: discovery, policy, change enumeration with
/// SyncToken paging, PreAuthURL downloads.
#[derive(Debug)]
pub struct SyncClient {
    http: Arc<HttpClient>,
    site: String,
    /// `{site}/_api/SPFileSync/sync/{listId}` once discovered.
    pub base: Option<String>,
    /// The last `X-SyncToken` received.
    pub token: Option<String>,
}

/// One page of the change feed.
#[derive(Debug, Clone)]
pub struct ChangesPage {
    /// The HTTP response.
    pub response: HttpResponse,
    /// The decoded root `Folder` and its items.
    pub folder: Option<crate::decode::spfilesync::Item>,
    /// `X-HasMoreData`.
    pub has_more: bool,
}

impl SyncClient {
    /// A client for the default library of `site_url`.
    pub fn new(http: Arc<HttpClient>, site_url: &str) -> Self {
        Self {
            http,
            site: site_url.trim_end_matches('/').to_owned(),
            base: None,
            token: None,
        }
    }

    fn headers() -> [(&'static str, &'static str); 3] {
        [
            ("accept", "application/web3s+xml"),
            ("application", "SkyDriveSync"),
            ("x-responsestructure", "Flat"),
        ]
    }

    /// `GET {site}/_api/web/DefaultDocumentLibrary/ID`; remembers the sync base URL.
    ///
    /// # Errors
    /// Network errors, a status other than 200, an answer without an id.
    pub async fn discover(&mut self) -> anyhow::Result<HttpResponse> {
        let url = format!("{}/_api/web/DefaultDocumentLibrary/ID", self.site);
        let r = self
            .http
            .send(
                Method::GET,
                &url,
                &[("accept", "application/json;odata=verbose")],
                Vec::new(),
            )
            .await?;
        if r.status != 200 {
            bail!("{url}: HTTP {}", r.status);
        }
        let v: serde_json::Value =
            serde_json::from_slice(&r.body).context("library id answer is not JSON")?;
        let id = v
            .pointer("/d/Id")
            .or_else(|| v.pointer("/value"))
            .and_then(|x| x.as_str())
            .ok_or_else(|| anyhow!("no library id in the answer"))?;
        self.base = Some(format!(
            "{}/_api/SPFileSync/sync/{}",
            self.site,
            id.replace('-', "")
        ));
        Ok(r)
    }

    fn base(&self) -> anyhow::Result<&str> {
        self.base
            .as_deref()
            .ok_or_else(|| anyhow!("call discover first"))
    }

    /// `GET …/policy/`.
    ///
    /// # Errors
    /// Network errors.
    pub async fn policy(&self) -> anyhow::Result<HttpResponse> {
        let url = format!("{}/policy/", self.base()?);
        self.http
            .send(
                Method::GET,
                &url,
                &[("accept", "Application/xml")],
                Vec::new(),
            )
            .await
    }

    /// One page of `RootFolder?Filter=changes` from the last SyncToken (a full sync when
    /// there is none); remembers the new token.
    ///
    /// # Errors
    /// Network errors, a status other than 200.
    pub async fn changes(&mut self, max_items: usize) -> anyhow::Result<ChangesPage> {
        let mut url = format!(
            "{}/RootFolder?Filter=changes&InlineBlobs=false&MaxItemCount={max_items}",
            self.base()?
        );
        if let Some(t) = &self.token {
            url.push_str("&SyncToken=");
            url.push_str(t);
        }
        url.push_str("&View=SkyDriveSync");
        let r = self
            .http
            .send(Method::GET, &url, &Self::headers(), Vec::new())
            .await?;
        if r.status != 200 {
            bail!("{url}: HTTP {}", r.status);
        }
        let header = |n: &str| r.headers.get(n).and_then(|v| v.to_str().ok());
        if let Some(t) = header("x-synctoken") {
            self.token = Some(t.to_owned());
        }
        let has_more = header("x-hasmoredata").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let folder = match crate::decode::spfilesync::decode_xml(&r.body).0 {
            Some(crate::decode::spfilesync::SyncBody::Folder(f)) => Some(f),
            _ => None,
        };
        Ok(ChangesPage {
            response: r,
            folder,
            has_more,
        })
    }

    /// Downloads a `PreAuthURL`.
    ///
    /// # Errors
    /// Network errors, a status other than 200.
    pub async fn download(&self, pre_auth_url: &str) -> anyhow::Result<Vec<u8>> {
        let r = self
            .http
            .send(Method::GET, pre_auth_url, &[], Vec::new())
            .await?;
        if r.status != 200 {
            bail!("{pre_auth_url}: HTTP {}", r.status);
        }
        Ok(r.body.to_vec())
    }
}

/// A scripted WebDAV replication client on one collection: `SEARCH` manifests with
/// `collblob`s, `GET`/`PUT` with resourcetags, `LOCK`/`UNLOCK`.
#[derive(Debug)]
pub struct DavClient {
    http: Arc<HttpClient>,
    /// The collection URL, ending with `/`.
    pub collection: String,
    /// The last `collblob` received (empty before the first sync).
    pub collblob: String,
    /// The resourcetag of each resource the client holds, by href.
    pub tags: std::collections::BTreeMap<String, String>,
}

impl DavClient {
    /// A client for the library `{site_url}/Shared Documents/`.
    pub fn new(http: Arc<HttpClient>, site_url: &str) -> Self {
        Self {
            http,
            collection: format!("{}/Shared%20Documents/", site_url.trim_end_matches('/')),
            collblob: String::new(),
            tags: std::collections::BTreeMap::new(),
        }
    }

    fn origin(&self) -> &str {
        // scheme://authority, without the path.
        let after = self.collection.find("://").map_or(0, |i| i + 3);
        let end = self.collection[after..]
            .find('/')
            .map_or(self.collection.len(), |i| after + i);
        &self.collection[..end]
    }

    /// The absolute URL of an href the server returned.
    pub fn url_of(&self, href: &str) -> String {
        if href.starts_with("http://") || href.starts_with("https://") {
            href.to_owned()
        } else {
            format!("{}{href}", self.origin())
        }
    }

    /// `SEARCH` with the current collblob; remembers the new one. Returns the manifest.
    ///
    /// # Errors
    /// Network errors, a status other than 207.
    pub async fn search(&mut self) -> anyhow::Result<crate::decode::webdav::MultiStatus> {
        let mut body = String::from(
            r#"<?xml version="1.0" encoding="utf-8"?><D:searchrequest xmlns:D="DAV:" xmlns:R="http://schemas.microsoft.com/repl/"><R:repl><R:collblob>"#,
        );
        body.push_str(&self.collblob);
        body.push_str(r#"</R:collblob></R:repl><D:sql>SELECT "R:resourcetag", "R:repl-uid" FROM SCOPE('shallow traversal of "/"')</D:sql></D:searchrequest>"#);
        let r = self
            .http
            .send(
                Method::from_bytes(b"SEARCH").context("SEARCH method")?,
                &self.collection,
                &[("content-type", "text/xml; charset=\"utf-8\"")],
                body.into_bytes(),
            )
            .await?;
        if r.status != 207 {
            bail!("SEARCH {}: HTTP {}", self.collection, r.status);
        }
        match crate::decode::webdav::decode_body(&r.body).0 {
            Some(crate::decode::webdav::DavBody::MultiStatus(ms)) => {
                if let Some(c) = ms.repl.as_ref().and_then(|r| r.collblob.clone()) {
                    self.collblob = c;
                }
                Ok(ms)
            }
            _ => bail!("SEARCH {}: no multistatus", self.collection),
        }
    }

    /// `GET href` with `Translate: f`; remembers the returned resourcetag.
    ///
    /// # Errors
    /// Network errors, a status other than 200.
    pub async fn get(&mut self, href: &str) -> anyhow::Result<Vec<u8>> {
        let url = self.url_of(href);
        let r = self
            .http
            .send(Method::GET, &url, &[("translate", "f")], Vec::new())
            .await?;
        if r.status != 200 {
            bail!("GET {url}: HTTP {}", r.status);
        }
        if let Some(t) = r.headers.get("resourcetag").and_then(|v| v.to_str().ok()) {
            self.tags.insert(href.to_owned(), t.to_owned());
        }
        Ok(r.body.to_vec())
    }

    /// `PUT href` with `If: (<resourcetag>)` when the client holds a tag, and the lock
    /// token when given. Returns the HTTP status; remembers the new resourcetag.
    ///
    /// # Errors
    /// Network errors.
    pub async fn put(
        &mut self,
        href: &str,
        body: Vec<u8>,
        lock_token: Option<&str>,
    ) -> anyhow::Result<u16> {
        let url = self.url_of(href);
        let mut cond = String::new();
        if let Some(t) = self.tags.get(href) {
            cond.push_str(&format!("(<{t}>)"));
        }
        if let Some(l) = lock_token {
            cond.push_str(&format!("(<{l}>)"));
        }
        let mut headers = vec![("translate", "f")];
        if !cond.is_empty() {
            headers.push(("if", cond.as_str()));
        }
        let r = self.http.send(Method::PUT, &url, &headers, body).await?;
        if let Some(t) = r.headers.get("resourcetag").and_then(|v| v.to_str().ok()) {
            self.tags.insert(href.to_owned(), t.to_owned());
        }
        Ok(r.status)
    }

    /// `LOCK href` (exclusive write lock, `Timeout: Second-n`). Returns the status and
    /// the lock token when granted.
    ///
    /// # Errors
    /// Network errors.
    pub async fn lock(&self, href: &str, secs: u64) -> anyhow::Result<(u16, Option<String>)> {
        let url = self.url_of(href);
        let body = r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>synctap demo</D:href></D:owner></D:lockinfo>"#;
        let timeout = format!("Second-{secs}");
        let r = self
            .http
            .send(
                Method::from_bytes(b"LOCK").context("LOCK method")?,
                &url,
                &[
                    ("content-type", "text/xml; charset=\"utf-8\""),
                    ("depth", "0"),
                    ("timeout", timeout.as_str()),
                ],
                body.as_bytes().to_vec(),
            )
            .await?;
        let token = r
            .headers
            .get("lock-token")
            .and_then(|v| v.to_str().ok())
            .map(|t| t.trim_matches(['<', '>']).to_owned());
        Ok((r.status, token))
    }

    /// `UNLOCK href` with `Lock-Token`. Returns the status.
    ///
    /// # Errors
    /// Network errors.
    pub async fn unlock(&self, href: &str, token: &str) -> anyhow::Result<u16> {
        let url = self.url_of(href);
        let coded = format!("<{token}>");
        let r = self
            .http
            .send(
                Method::from_bytes(b"UNLOCK").context("UNLOCK method")?,
                &url,
                &[("lock-token", coded.as_str())],
                Vec::new(),
            )
            .await?;
        Ok(r.status)
    }
}
