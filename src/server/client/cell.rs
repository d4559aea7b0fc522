//! [`CellClient`]: a scripted MS-FSSHTTP client, one ClientID working on one file. It
//! builds requests with the crate's encoders (coauth, schema and exclusive locks, Cell
//! download and upload with FSSHTTPB payloads laid out per MS-FSSHTTPD) and decodes the
//! answers with the crate's decoders.

use std::sync::Arc;

use http::Method;

use super::{expect_status, Error};
use crate::decode::fsshttp::{
    self, CellPayload, CoauthRequestType, EncodeOptions, ExclusiveLockRequestType, PayloadOrigin,
    Request as FRequest, RequestCollection, RequestEnvelope, ResponseEnvelope,
    SchemaLockRequestType, SubRequest, SubRequestData, SubRequestType, SubResponse, VersionInfo,
};
use crate::decode::fsshttpb::{
    self as b, ExGuid, FilePackageOptions, FsshttpbRequest, Guid, QueryChangesArguments,
    QueryChangesRequest,
};
use crate::net::client::HttpClient;

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

/// The Word 2010 well-known SchemaLockID.
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
    pub async fn call(&mut self, mut subs: Vec<SubRequest>) -> Result<CellReply, Error> {
        for (i, s) in subs.iter_mut().enumerate() {
            s.sub_request_token = Some(i as u64 + 1);
        }
        let token = self.next_token;
        self.next_token += 1;
        let env = request_envelope(
            &self.file_url,
            format!("{}-{token:04}", self.client_id),
            token,
            subs,
        );
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
        expect_status(|| self.endpoint.clone(), resp.status, 200)?;
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
    pub async fn download(&mut self) -> Result<(CellReply, Option<Vec<u8>>), Error> {
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
    let agent = b::UserAgent::with_guid(
        Guid::from_u128(0x5A0E_0003_0000_4000_8000_0000_0000_0003),
        None,
    );
    let query = b::SubRequest {
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
    };
    FsshttpbRequest::v14(Some(agent), vec![query])
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One MS-FSSHTTP Request for `url` (version 2.3) carrying `subs`, in an envelope with
/// `correlation_id`.
pub fn request_envelope(
    url: &str,
    correlation_id: String,
    request_token: u64,
    subs: Vec<SubRequest>,
) -> RequestEnvelope {
    RequestEnvelope {
        request_version: Some(VersionInfo {
            version: Some(2),
            minor_version: Some(3),
            ..VersionInfo::default()
        }),
        request_collection: Some(RequestCollection {
            correlation_id: Some(correlation_id),
            requests: vec![FRequest {
                url: Some(url.to_owned()),
                request_token: Some(request_token),
                sub_requests: subs,
                ..FRequest::default()
            }],
        }),
        ..RequestEnvelope::default()
    }
}
