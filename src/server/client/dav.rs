//! [`DavClient`]: a scripted WebDAV replication client on one collection: `SEARCH`
//! manifests with `collblob`s, `GET`/`PUT` with resourcetags and `If`, `LOCK`/`UNLOCK`.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Method;

use super::{expect_status, Error};
use crate::decode::webdav::{self, DavBody, MultiStatus};
use crate::net::client::HttpClient;

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
    pub tags: BTreeMap<String, String>,
}

impl DavClient {
    /// A client for the library `{site_url}/Shared Documents/`.
    pub fn new(http: Arc<HttpClient>, site_url: &str) -> Self {
        Self {
            http,
            collection: format!("{}/Shared%20Documents/", site_url.trim_end_matches('/')),
            collblob: String::new(),
            tags: BTreeMap::new(),
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
    pub async fn search(&mut self) -> Result<MultiStatus, Error> {
        let mut body = String::from(
            r#"<?xml version="1.0" encoding="utf-8"?><D:searchrequest xmlns:D="DAV:" xmlns:R="http://schemas.microsoft.com/repl/"><R:repl><R:collblob>"#,
        );
        body.push_str(&self.collblob);
        body.push_str(r#"</R:collblob></R:repl><D:sql>SELECT "R:resourcetag", "R:repl-uid" FROM SCOPE('shallow traversal of "/"')</D:sql></D:searchrequest>"#);
        let r = self
            .http
            .send(
                dav_method(b"SEARCH"),
                &self.collection,
                &[("content-type", "text/xml; charset=\"utf-8\"")],
                body.into_bytes(),
            )
            .await?;
        expect_status(|| format!("SEARCH {}", self.collection), r.status, 207)?;
        match webdav::decode_body(&r.body).0 {
            Some(DavBody::MultiStatus(ms)) => {
                if let Some(c) = ms.repl.as_ref().and_then(|r| r.collblob.clone()) {
                    self.collblob = c;
                }
                Ok(ms)
            }
            _ => Err(Error::Answer {
                request: format!("SEARCH {}", self.collection),
                missing: "no multistatus",
            }),
        }
    }

    /// `GET href` with `Translate: f`; remembers the returned resourcetag.
    ///
    /// # Errors
    /// Network errors, a status other than 200.
    pub async fn get(&mut self, href: &str) -> Result<Vec<u8>, Error> {
        let url = self.url_of(href);
        let r = self
            .http
            .send(Method::GET, &url, &[("translate", "f")], Vec::new())
            .await?;
        expect_status(|| format!("GET {url}"), r.status, 200)?;
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
    ) -> Result<u16, Error> {
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
    pub async fn lock(&self, href: &str, secs: u64) -> Result<(u16, Option<String>), Error> {
        let body = r#"<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>synctap demo</D:href></D:owner></D:lockinfo>"#;
        let timeout = format!("Second-{secs}");
        let headers = [
            ("content-type", "text/xml; charset=\"utf-8\""),
            ("depth", "0"),
            ("timeout", timeout.as_str()),
        ];
        let r = self
            .send_to(b"LOCK", href, &headers, body.as_bytes().to_vec())
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
    pub async fn unlock(&self, href: &str, token: &str) -> Result<u16, Error> {
        let coded = format!("<{token}>");
        let r = self
            .send_to(
                b"UNLOCK",
                href,
                &[("lock-token", coded.as_str())],
                Vec::new(),
            )
            .await?;
        Ok(r.status)
    }

    /// Sends the WebDAV method `method` to `href`.
    async fn send_to(
        &self,
        method: &'static [u8],
        href: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<crate::net::client::HttpResponse, Error> {
        Ok(self
            .http
            .send(dav_method(method), &self.url_of(href), headers, body)
            .await?)
    }
}

/// A WebDAV method by name.
fn dav_method(name: &'static [u8]) -> Method {
    // The names passed are HTTP tokens, which always make a method.
    Method::from_bytes(name).expect("an HTTP token")
}
