//! [`SyncClient`]: a scripted OneDrive-like SPFileSync client: library discovery,
//! policy, the change feed with SyncToken paging, PreAuthURL downloads.

use std::sync::Arc;

use http::Method;

use super::{expect_status, Error};
use crate::decode::spfilesync::{self, Item, SyncBody};
use crate::net::client::{HttpClient, HttpResponse};

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
    pub folder: Option<Item>,
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
    pub async fn discover(&mut self) -> Result<HttpResponse, Error> {
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
        expect_status(|| url.clone(), r.status, 200)?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|_| Error::Answer {
            request: url.clone(),
            missing: "the library id answer is not JSON",
        })?;
        let id = v
            .pointer("/d/Id")
            .or_else(|| v.pointer("/value"))
            .and_then(|x| x.as_str())
            .ok_or_else(|| Error::Answer {
                request: url.clone(),
                missing: "no library id in the answer",
            })?;
        self.base = Some(format!(
            "{}/_api/SPFileSync/sync/{}",
            self.site,
            id.replace('-', "")
        ));
        Ok(r)
    }

    fn base(&self) -> Result<&str, Error> {
        self.base.as_deref().ok_or(Error::Order("discover"))
    }

    /// `GET …/policy/`.
    ///
    /// # Errors
    /// Network errors.
    pub async fn policy(&self) -> Result<HttpResponse, Error> {
        let url = format!("{}/policy/", self.base()?);
        Ok(self
            .http
            .send(
                Method::GET,
                &url,
                &[("accept", "Application/xml")],
                Vec::new(),
            )
            .await?)
    }

    /// One page of `RootFolder?Filter=changes` from the last SyncToken (a full sync when
    /// there is none); remembers the new token.
    ///
    /// # Errors
    /// Network errors, a status other than 200.
    pub async fn changes(&mut self, max_items: usize) -> Result<ChangesPage, Error> {
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
        expect_status(|| url.clone(), r.status, 200)?;
        let header = |n: &str| r.headers.get(n).and_then(|v| v.to_str().ok());
        if let Some(t) = header("x-synctoken") {
            self.token = Some(t.to_owned());
        }
        let has_more = header("x-hasmoredata").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let folder = match spfilesync::decode_xml(&r.body).0 {
            Some(SyncBody::Folder(f)) => Some(f),
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
    pub async fn download(&self, pre_auth_url: &str) -> Result<Vec<u8>, Error> {
        let r = self
            .http
            .send(Method::GET, pre_auth_url, &[], Vec::new())
            .await?;
        expect_status(|| pre_auth_url.to_owned(), r.status, 200)?;
        Ok(r.body.to_vec())
    }
}
