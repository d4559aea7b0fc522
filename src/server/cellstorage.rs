//! The MS-FSSHTTP cell storage service of the reference server: one decoded
//! [`RequestEnvelope`] in, one [`ResponseEnvelope`] out, with the rules of
//! REFERENCE.md A.7 (per subrequest), A.9 (error codes) and A.10 (locking).
//!
//! Subrequests run in document order; `DependsOn`/`DependencyType` are evaluated
//! against the subrequests already run. Cell payloads are decoded with the FSSHTTPB
//! decoder and answered with the FSSHTTPB encoder (file content laid out per
//! MS-FSSHTTPD). HTTP framing is left to the parent module.
//!
//! Deliberate simplifications: lock `Timeout`s are honoured as sent (SharePoint
//! substitutes a default below 3600 s), so demos and tests can use short ones; there is
//! one user per request (`X-Synctap-User`), no checkout and no IRM; a Put Changes with a
//! null expected Storage Index only succeeds on an empty file; the CoherencyFailure
//! (FSSHTTPB Cell Error 12) is reported with `CellRequestFail` on the SubResponse.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::store::{check_name, guid, Clock, Document, Editor, Lock, Store, Version};
use crate::decode::fsshttp::{
    CellPayload, CoauthRequestType, CoauthStatus, DependencyType, DotNetTicks,
    EditorsTableRequestType, ErrorCode, ExclusiveLockRequestType, ExclusiveLockReturnReason,
    FileOperationRequestType, FileTime, FileVersion, GetVersionsResults, HResult, LockType,
    MetaProperty, PayloadOrigin, PropertiesRequestType, PropertyValue, Request, RequestEnvelope,
    Response, ResponseCollection, ResponseEnvelope, SchemaLockRequestType, SubRequest,
    SubRequestData, SubRequestType, SubResponse, SubResponseData, VersionInfo, VersionResult,
    VersionUser, VersioningRequestType,
};
use crate::decode::fsshttpb::{
    self as b, AllocateExtendedGuidRangeResponse, AppliedStorageIndex, CellErrorCode,
    CellKnowledgeItem, ErrorDetail, FsshttpbResponse, Knowledge, PutChangesResponse,
    QueryChangesResponse, ResponseError, SpecializedKnowledge, HRESULT_ERROR_GUID,
    RESPONSE_SIGNATURE,
};

/// Server-wide settings of the cell storage service.
#[derive(Debug, Clone)]
pub struct CellSettings {
    /// Coauthoring enabled (`--coauth on`). When off, Join/GetLock fall back to an
    /// exclusive lock if the client allows it, else answer FileNotLockedOnServer.
    pub coauth: bool,
    /// Coauthor limit per file (`--max-coauthors`, 2..=99 in SharePoint).
    pub max_coauthors: usize,
    /// Seed of every generated GUID.
    pub seed: u64,
}

impl Default for CellSettings {
    fn default() -> Self {
        Self {
            coauth: true,
            max_coauthors: 10,
            seed: 1,
        }
    }
}

/// The service state: documents, settings, clock and id counters.
#[derive(Debug)]
pub struct CellService {
    /// The documents.
    pub store: Store,
    /// Settings.
    pub settings: CellSettings,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    next_id: u32,
}

/// Default lock timeout when a request sends none, in seconds.
const DEFAULT_TIMEOUT_SECS: i64 = 3600;
/// HResult of failed subrequests (E_FAIL, printed unsigned like SharePoint).
const E_FAIL: u32 = 0x8000_4005;

/// The result of one subrequest.
#[derive(Debug, Clone)]
struct Outcome {
    code: &'static str,
    message: Option<String>,
    data: Option<Box<SubResponseData>>,
    versions: Option<Box<GetVersionsResults>>,
}

impl Outcome {
    fn ok(data: SubResponseData) -> Self {
        Self {
            code: "Success",
            message: None,
            data: Some(Box::new(data)),
            versions: None,
        }
    }

    fn err(code: &'static str) -> Self {
        Self {
            code,
            message: None,
            data: None,
            versions: None,
        }
    }

    fn err_msg(code: &'static str, message: String) -> Self {
        Self {
            message: Some(message),
            ..Self::err(code)
        }
    }

    fn with_data(mut self, data: SubResponseData) -> Self {
        self.data = Some(Box::new(data));
        self
    }

    fn success(&self) -> bool {
        self.code == "Success"
    }

    fn not_supported(&self) -> bool {
        matches!(self.code, "RequestNotSupported" | "InvalidSubRequest")
    }
}

/// What one subrequest needs from its Request.
struct Call<'a> {
    url: &'a str,
    user: &'a str,
    sub: &'a SubRequest,
    data: SubRequestData,
}

impl Call<'_> {
    fn client(&self) -> String {
        self.data.client_id.clone().unwrap_or_default()
    }

    fn timeout_ms(&self) -> u64 {
        let secs = self.data.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS).max(1);
        u64::try_from(secs).unwrap_or(1).saturating_mul(1000)
    }

    fn holder(&self) -> String {
        format!("{} (ClientID {})", self.user, self.client())
    }
}

enum Joined {
    Shared(usize),
    Exclusive,
}

impl CellService {
    /// A service over `store`.
    pub fn new(store: Store, settings: CellSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            settings,
            clock,
            next_id: 1,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    fn fresh_guid(&mut self, kind: u32) -> String {
        let n = self.next_id;
        self.next_id += 1;
        guid(self.settings.seed, kind, n)
            .to_string()
            .trim_matches(['{', '}'])
            .to_owned()
    }

    /// Answers one request message. `web_url` is the site URL, `user` the caller's login.
    pub fn handle(&mut self, req: &RequestEnvelope, web_url: &str, user: &str) -> ResponseEnvelope {
        let version = VersionInfo {
            version: Some(2),
            minor_version: Some(3),
            ..VersionInfo::default()
        };
        let Some(rc) = &req.request_collection else {
            return ResponseEnvelope {
                response_version: Some(VersionInfo {
                    error_code: Some(ErrorCode::from("InvalidArgument")),
                    error_message: Some("no RequestCollection".to_owned()),
                    ..version
                }),
                ..ResponseEnvelope::default()
            };
        };
        if req
            .request_version
            .as_ref()
            .and_then(|v| v.version)
            .is_some_and(|v| v < 2)
        {
            return ResponseEnvelope {
                response_version: Some(VersionInfo {
                    error_code: Some(ErrorCode::from("IncompatibleVersion")),
                    error_message: Some("RequestVersion must be 2".to_owned()),
                    ..version
                }),
                ..ResponseEnvelope::default()
            };
        }
        let responses = rc
            .requests
            .iter()
            .map(|r| self.handle_request(r, rc.correlation_id.as_deref(), user))
            .collect();
        ResponseEnvelope {
            response_version: Some(version),
            response_collection: Some(ResponseCollection {
                web_url: Some(web_url.to_owned()),
                web_url_is_encoded: Some(false),
                responses,
            }),
            ..ResponseEnvelope::default()
        }
    }

    fn handle_request(&mut self, r: &Request, correlation: Option<&str>, user: &str) -> Response {
        let mut resp = Response {
            url: r.url.clone(),
            url_is_encoded: Some(false),
            request_token: r.request_token,
            health_score: Some(0),
            ..Response::default()
        };
        let Some(url) = r.url.as_deref().filter(|u| !u.is_empty()) else {
            resp.error_code = Some(ErrorCode::from("InvalidUrl"));
            resp.error_message = Some("the Request has no Url".to_owned());
            return resp;
        };
        let now = self.now();
        if let Some(d) = self.store.find_mut(url) {
            d.expire(now);
        }
        let mut done: BTreeMap<u64, Outcome> = BTreeMap::new();
        for sub in &r.sub_requests {
            let call = Call {
                url,
                user,
                sub,
                data: sub.sub_request_data.clone().unwrap_or_default(),
            };
            let outcome = match dependency_block(sub, &done) {
                Some(o) => o,
                None => self.run(&call),
            };
            tracing::debug!(
                url,
                kind = sub.type_.as_ref().map_or("?", |t| t.as_str()),
                code = outcome.code,
                "subrequest"
            );
            let token = sub.sub_request_token.unwrap_or(0);
            resp.sub_responses.push(SubResponse {
                sub_request_token: Some(token),
                error_code: Some(ErrorCode::from(outcome.code)),
                h_result: Some(HResult::from_u32(if outcome.success() {
                    0
                } else {
                    E_FAIL
                })),
                error_message: outcome.message.clone(),
                server_correlation_id: correlation.map(str::to_owned),
                request_type: None,
                sub_response_data: outcome.data.as_deref().cloned(),
                sub_response_stream_invalid: false,
                get_versions_response: outcome.versions.as_deref().cloned(),
            });
            done.insert(token, outcome);
        }
        resp
    }

    fn run(&mut self, c: &Call<'_>) -> Outcome {
        let Some(t) = &c.sub.type_ else {
            return Outcome::err("InvalidSubRequest");
        };
        match t {
            SubRequestType::Cell => self.cell(c),
            SubRequestType::Coauth => self.coauth(c),
            SubRequestType::SchemaLock => self.schema_lock(c),
            SubRequestType::ExclusiveLock => self.exclusive_lock(c),
            SubRequestType::WhoAmI => Outcome::ok(SubResponseData {
                user_name: Some(c.user.rsplit('\\').next().unwrap_or(c.user).to_owned()),
                user_email_address: Some(format!(
                    "{}@synctap.invalid",
                    c.user.rsplit('\\').next().unwrap_or("user")
                )),
                user_sip_address: Some(String::new()),
                user_is_anonymous: Some(false),
                user_login: Some(c.user.to_owned()),
                ..SubResponseData::default()
            }),
            SubRequestType::ServerTime => Outcome::ok(SubResponseData {
                server_time: Some(DotNetTicks::new(
                    621_355_968_000_000_000 + self.now().saturating_mul(10_000),
                )),
                ..SubResponseData::default()
            }),
            SubRequestType::EditorsTable => self.editors_table(c),
            SubRequestType::AmIAlone => self.with_doc(c, "SubRequestFail", |_, d, _| {
                Outcome::ok(SubResponseData {
                    am_i_alone: Some(d.coauthors() <= 1),
                    ..SubResponseData::default()
                })
            }),
            SubRequestType::LockStatus => self.with_doc(c, "SubRequestFail", |_, d, _| {
                let (lock_type, lock_id, by) = match &d.lock {
                    Lock::None => (LockType::None, None, None),
                    Lock::Shared { schema_lock_id, .. } => (
                        LockType::SchemaLock,
                        Some(schema_lock_id.clone()),
                        Some(d.holder()),
                    ),
                    Lock::Exclusive { id, holder, .. } => (
                        LockType::ExclusiveLock,
                        Some(id.clone()),
                        Some(holder.clone()),
                    ),
                };
                Outcome::ok(SubResponseData {
                    lock_type: Some(lock_type),
                    lock_id,
                    locked_by: by,
                    ..SubResponseData::default()
                })
            }),
            SubRequestType::GetDocMetaInfo => self.with_doc(c, "SubRequestFail", |s, d, _| {
                let v = d.current();
                let prop = |k: &str, v: String| MetaProperty {
                    key: Some(k.to_owned()),
                    value: Some(v),
                };
                Outcome::ok(SubResponseData {
                    doc_props: Some(vec![
                        prop("vti_etag", d.etag(s.seed)),
                        prop("vti_filesize", v.content.len().to_string()),
                        prop("vti_timecreated", filetime(d.created_ms).ticks.to_string()),
                        prop(
                            "vti_timelastmodified",
                            filetime(v.modified_ms).ticks.to_string(),
                        ),
                        prop("vti_modifiedby", v.modified_by.clone()),
                    ]),
                    folder_props: Some(vec![prop("vti_listtitle", "Documents".to_owned())]),
                    ..SubResponseData::default()
                })
            }),
            SubRequestType::GetVersions => self.with_doc(c, "SubRequestFail", |s, d, url| {
                let n = d.versions.len();
                let result = d
                    .versions
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, v)| VersionResult {
                        version: Some(format!(
                            "{}{}.0",
                            if i + 1 == n { "@" } else { "" },
                            v.number
                        )),
                        url: Some(url.to_owned()),
                        created: Some(rfc3339(v.modified_ms)),
                        created_raw: Some(rfc3339(v.modified_ms)),
                        created_by: Some(v.modified_by.clone()),
                        created_by_name: Some(v.modified_by.clone()),
                        size: Some(v.content.len() as u64),
                        comments: Some(String::new()),
                    })
                    .collect();
                Outcome {
                    versions: Some(Box::new(GetVersionsResults {
                        list: Some(guid(s.seed, 0x115, 1).to_string()),
                        versioning: Some("1".to_owned()),
                        settings: Some("/_layouts/15/LstSetng.aspx".to_owned()),
                        result,
                    })),
                    ..Outcome::err("Success")
                }
            }),
            SubRequestType::Versioning => self.versioning(c),
            SubRequestType::FileOperation => self.file_operation(c),
            SubRequestType::Properties => {
                self.with_doc(c, "SubRequestFail", |s, d, _| properties(s.seed, d, c))
            }
            SubRequestType::Other(_) => Outcome::err("InvalidSubRequest"),
        }
    }

    fn with_doc(
        &mut self,
        c: &Call<'_>,
        missing: &'static str,
        f: impl FnOnce(&CellSettings, &mut Document, &str) -> Outcome,
    ) -> Outcome {
        let settings = self.settings.clone();
        match self.store.find_mut(c.url) {
            Some(d) => f(&settings, d, c.url),
            None => Outcome::err_msg(missing, format!("{} does not exist", c.url)),
        }
    }

    // ---------------------------------------------------------------- locks

    fn coauth(&mut self, c: &Call<'_>) -> Outcome {
        let Some(kind) = c.data.coauth_request_type.clone() else {
            return Outcome::err("InvalidArgument");
        };
        if self.store.find_mut(c.url).is_none() {
            return Outcome::err("FileNotExistsOrCannotBeCreated");
        }
        match kind {
            CoauthRequestType::JoinCoauthoring => self.join(c, true),
            CoauthRequestType::RefreshCoauthoring => self.refresh(c, true),
            CoauthRequestType::ExitCoauthoring => self.release_share(c, true),
            CoauthRequestType::ConvertToExclusive => self.convert_to_exclusive(c),
            CoauthRequestType::CheckLockAvailability => self.check_shared(c),
            CoauthRequestType::MarkTransitionComplete => {
                self.with_doc(c, "FileNotExistsOrCannotBeCreated", |_, d, _| {
                    if !in_session(d, c) {
                        return Outcome::err("InvalidCoauthSession");
                    }
                    d.transition_pending = false;
                    Outcome::ok(SubResponseData::default())
                })
            }
            CoauthRequestType::GetCoauthoringStatus => {
                self.with_doc(c, "FileNotExistsOrCannotBeCreated", |_, d, _| {
                    let status = in_session(d, c).then(|| status_of(d.coauthors()));
                    Outcome::ok(SubResponseData {
                        coauth_status: status,
                        ..SubResponseData::default()
                    })
                })
            }
            CoauthRequestType::Other(_) => Outcome::err("InvalidArgument"),
        }
    }

    fn schema_lock(&mut self, c: &Call<'_>) -> Outcome {
        let Some(kind) = c.data.schema_lock_request_type.clone() else {
            return Outcome::err("InvalidArgument");
        };
        if self.store.find_mut(c.url).is_none() {
            return Outcome::err("FileNotExistsOrCannotBeCreated");
        }
        match kind {
            SchemaLockRequestType::GetLock => self.join(c, false),
            SchemaLockRequestType::RefreshLock => self.refresh(c, false),
            SchemaLockRequestType::ReleaseLock => self.release_share(c, false),
            SchemaLockRequestType::ConvertToExclusive => self.convert_to_exclusive(c),
            SchemaLockRequestType::CheckLockAvailability => self.check_shared(c),
            SchemaLockRequestType::Other(_) => Outcome::err("InvalidArgument"),
        }
    }

    /// Coauth JoinCoauthoring (`coauth`) or SchemaLock GetLock.
    fn join(&mut self, c: &Call<'_>, coauth: bool) -> Outcome {
        let coauth_on = self.settings.coauth;
        let max = self.settings.max_coauthors;
        let tid = self.fresh_guid(0x7A);
        let now = self.now();
        self.with_doc(
            c,
            "FileNotExistsOrCannotBeCreated",
            |_, d, _| match join_doc(d, c, coauth_on, max, now) {
                Err(o) => o,
                Ok(joined) => {
                    let transition = d.transition_id.get_or_insert(tid).clone();
                    let mut data = SubResponseData::default();
                    match joined {
                        Joined::Shared(n) => {
                            data.lock_type = Some(LockType::SchemaLock);
                            if coauth {
                                data.coauth_status = Some(status_of(n));
                                data.transition_id = Some(transition);
                            }
                        }
                        Joined::Exclusive => {
                            data.lock_type = Some(LockType::ExclusiveLock);
                            data.exclusive_lock_return_reason =
                                Some(ExclusiveLockReturnReason::CoauthoringDisabled);
                            if coauth {
                                data.coauth_status = Some(CoauthStatus::None);
                                data.transition_id = Some(transition);
                            }
                        }
                    }
                    Outcome::ok(data)
                }
            },
        )
    }

    fn refresh(&mut self, c: &Call<'_>, coauth: bool) -> Outcome {
        let now = self.now();
        let client = c.client();
        let schema = c.data.schema_lock_id.clone().unwrap_or_default();
        let timeout = c.timeout_ms();
        let mut rejoin = false;
        let r = self.with_doc(c, "FileNotExistsOrCannotBeCreated", |_, d, _| {
            match &mut d.lock {
                Lock::Shared {
                    schema_lock_id,
                    clients,
                } if *schema_lock_id == schema && clients.contains_key(&client) => {
                    if let Some(exp) = clients.get_mut(&client) {
                        // Refresh never shortens a timeout (A.10.2).
                        *exp = (*exp).max(now.saturating_add(timeout));
                    }
                    let n = clients.len();
                    let mut data = SubResponseData {
                        lock_type: Some(LockType::SchemaLock),
                        ..SubResponseData::default()
                    };
                    if coauth {
                        data.coauth_status = Some(status_of(n));
                    }
                    Outcome::ok(data)
                }
                Lock::Exclusive { id, expires, .. }
                    if c.data.exclusive_lock_id.as_deref() == Some(id.as_str()) =>
                {
                    // A client that fell back to an exclusive lock refreshes it here.
                    *expires = (*expires).max(now.saturating_add(timeout));
                    let mut data = SubResponseData {
                        lock_type: Some(LockType::ExclusiveLock),
                        ..SubResponseData::default()
                    };
                    if coauth {
                        data.coauth_status = Some(CoauthStatus::None);
                    }
                    Outcome::ok(data)
                }
                _ => {
                    rejoin = true;
                    Outcome::err("Success")
                }
            }
        });
        if !rejoin {
            return r;
        }
        // The client's share expired (or it never had one): treated as a Join when
        // coauthoring is enabled, FileNotLockedOnServer otherwise (A.7.2).
        if !self.settings.coauth {
            return Outcome::err("FileNotLockedOnServer");
        }
        let mut o = self.join(c, coauth);
        if let Some(d) = o.data.as_mut() {
            d.transition_id = None;
        }
        o
    }

    /// Coauth ExitCoauthoring (`coauth`) or SchemaLock ReleaseLock.
    fn release_share(&mut self, c: &Call<'_>, coauth: bool) -> Outcome {
        let client = c.client();
        let schema = c.data.schema_lock_id.clone().unwrap_or_default();
        self.with_doc(c, "FileNotExistsOrCannotBeCreated", |_, d, _| {
            let holder = d.holder();
            match &mut d.lock {
                Lock::None => {
                    if coauth {
                        Outcome::err("FileNotLockedOnServer")
                    } else {
                        Outcome::ok(SubResponseData::default())
                    }
                }
                Lock::Exclusive { .. } => Outcome::err_msg("FileAlreadyLockedOnServer", holder),
                Lock::Shared { schema_lock_id, .. } if *schema_lock_id != schema => {
                    Outcome::err_msg("FileAlreadyLockedOnServer", holder)
                }
                Lock::Shared { clients, .. } => {
                    if clients.remove(&client).is_none() && !coauth {
                        return Outcome::err("InvalidCoauthSession");
                    }
                    if clients.is_empty() {
                        d.lock = Lock::None;
                        d.transition_pending = false;
                        d.transition_id = None;
                    } else if clients.len() == 1 {
                        d.transition_pending = false;
                    }
                    Outcome::ok(SubResponseData::default())
                }
            }
        })
    }

    fn convert_to_exclusive(&mut self, c: &Call<'_>) -> Outcome {
        let client = c.client();
        let holder = c.holder();
        let now = self.now();
        let timeout = c.timeout_ms();
        let release = c
            .data
            .release_lock_on_conversion_to_exclusive_failure
            .unwrap_or(false);
        let Some(excl) = c.data.exclusive_lock_id.clone() else {
            return Outcome::err("InvalidArgument");
        };
        self.with_doc(c, "FileNotExistsOrCannotBeCreated", |_, d, _| {
            if !in_session(d, c) {
                return Outcome::err("InvalidCoauthSession");
            }
            let Lock::Shared { clients, .. } = &mut d.lock else {
                return Outcome::err("InvalidCoauthSession");
            };
            if clients.len() > 1 {
                if release {
                    clients.remove(&client);
                    if clients.len() == 1 {
                        d.transition_pending = false;
                    }
                    return Outcome::err("ExitCoauthSessionAsConvertToExclusiveFailed");
                }
                return Outcome::err("MultipleClientsInCoauthSession");
            }
            // The exclusive lock lives for the Timeout of the conversion request.
            let expires = now.saturating_add(timeout);
            d.lock = Lock::Exclusive {
                id: excl,
                expires,
                holder,
            };
            d.transition_pending = false;
            d.transition_id = None;
            Outcome::ok(SubResponseData {
                lock_type: Some(LockType::ExclusiveLock),
                ..SubResponseData::default()
            })
        })
    }

    fn check_shared(&mut self, c: &Call<'_>) -> Outcome {
        let schema = c.data.schema_lock_id.clone().unwrap_or_default();
        self.with_doc(c, "FileNotExistsOrCannotBeCreated", |_, d, _| {
            match &d.lock {
                Lock::Exclusive { .. } => Outcome::err_msg("FileAlreadyLockedOnServer", d.holder()),
                Lock::Shared { schema_lock_id, .. } if *schema_lock_id != schema => {
                    Outcome::err_msg("FileAlreadyLockedOnServer", d.holder())
                }
                _ => Outcome::ok(SubResponseData::default()),
            }
        })
    }

    fn exclusive_lock(&mut self, c: &Call<'_>) -> Outcome {
        let Some(kind) = c.data.exclusive_lock_request_type.clone() else {
            return Outcome::err("InvalidArgument");
        };
        let Some(id) = c.data.exclusive_lock_id.clone() else {
            return Outcome::err("InvalidArgument");
        };
        let coauth_on = self.settings.coauth;
        let now = self.now();
        let timeout = c.timeout_ms();
        let holder = c.holder();
        let tid = self.fresh_guid(0x7A);
        self.with_doc(c, "FileNotExistsOrCannotBeCreated", |_, d, _| {
            let held = d.holder();
            let same = matches!(&d.lock, Lock::Exclusive { id: x, .. } if *x == id);
            let free = d.lock == Lock::None;
            let empty = || Outcome::ok(SubResponseData::default());
            match &kind {
                ExclusiveLockRequestType::GetLock | ExclusiveLockRequestType::RefreshLock => {
                    if same || free {
                        take_exclusive(d, &id, now.saturating_add(timeout), &holder);
                        empty()
                    } else {
                        Outcome::err_msg("FileAlreadyLockedOnServer", held)
                            .with_data(SubResponseData::default())
                    }
                }
                ExclusiveLockRequestType::ReleaseLock => {
                    if free {
                        Outcome::err("FileNotLockedOnServer")
                    } else if same {
                        d.lock = Lock::None;
                        empty()
                    } else {
                        Outcome::err_msg("FileAlreadyLockedOnServer", held)
                    }
                }
                ExclusiveLockRequestType::CheckLockAvailability => {
                    if same || free {
                        empty()
                    } else {
                        Outcome::err_msg("FileAlreadyLockedOnServer", held)
                    }
                }
                ExclusiveLockRequestType::ConvertToSchema
                | ExclusiveLockRequestType::ConvertToSchemaJoinCoauth => {
                    if !coauth_on || !d.coauthorable {
                        return Outcome::err("LockNotConvertedAsCoauthDisabled");
                    }
                    if free {
                        return Outcome::err("FileNotLockedOnServer");
                    }
                    if !same {
                        return Outcome::err_msg("FileAlreadyLockedOnServer", held);
                    }
                    let Some(schema) = c.data.schema_lock_id.clone() else {
                        return Outcome::err("InvalidArgument");
                    };
                    let mut clients = BTreeMap::new();
                    clients.insert(c.client(), now.saturating_add(timeout));
                    d.lock = Lock::Shared {
                        schema_lock_id: schema,
                        clients,
                    };
                    let transition = d.transition_id.get_or_insert(tid).clone();
                    if kind == ExclusiveLockRequestType::ConvertToSchemaJoinCoauth {
                        Outcome::ok(SubResponseData {
                            coauth_status: Some(CoauthStatus::Alone),
                            transition_id: Some(transition),
                            ..SubResponseData::default()
                        })
                    } else {
                        empty()
                    }
                }
                ExclusiveLockRequestType::Other(_) => Outcome::err("InvalidArgument"),
            }
        })
    }

    // ---------------------------------------------------------------- other types

    fn editors_table(&mut self, c: &Call<'_>) -> Outcome {
        let Some(kind) = c.data.editors_table_request_type.clone() else {
            return Outcome::err("InvalidArgument");
        };
        let now = self.now();
        let client = c.client();
        let timeout = c.timeout_ms();
        self.with_doc(c, "FileNotExistsOrCannotBeCreated", |_, d, _| {
            let empty = Outcome::ok(SubResponseData::default());
            match kind {
                EditorsTableRequestType::JoinEditingSession
                | EditorsTableRequestType::RefreshEditingSession => {
                    let e = d.editors.entry(client).or_insert_with(|| Editor {
                        expires: 0,
                        as_editor: c.data.as_editor.unwrap_or(true),
                        metadata: BTreeMap::new(),
                    });
                    e.expires = e.expires.max(now.saturating_add(timeout));
                    empty
                }
                EditorsTableRequestType::LeaveEditingSession => {
                    d.editors.remove(&client);
                    empty
                }
                EditorsTableRequestType::UpdateEditorMetadata => {
                    let Some(e) = d.editors.get_mut(&client) else {
                        return Outcome::err("EditorClientIdNotFound");
                    };
                    let key = c.data.key.clone().unwrap_or_default();
                    let value = c
                        .data
                        .value
                        .clone()
                        .or_else(|| c.data.text.clone())
                        .unwrap_or_default();
                    if key.len() > 64 || value.len() > 1024 {
                        return Outcome::err("EditorMetadataStringExceedsLengthLimit");
                    }
                    if !e.metadata.contains_key(&key) && e.metadata.len() >= 4 {
                        return Outcome::err("EditorMetadataQuotaReached");
                    }
                    e.metadata.insert(key, value);
                    empty
                }
                EditorsTableRequestType::RemoveEditorMetadata => {
                    let Some(e) = d.editors.get_mut(&client) else {
                        return Outcome::err("EditorClientIdNotFound");
                    };
                    e.metadata.remove(c.data.key.as_deref().unwrap_or_default());
                    empty
                }
                EditorsTableRequestType::Other(_) => Outcome::err("InvalidSubRequest"),
            }
        })
    }

    fn versioning(&mut self, c: &Call<'_>) -> Outcome {
        let now = self.now();
        let user = c.user.to_owned();
        self.with_doc(c, "FileNotExistsOrCannotBeCreated", |_, d, _| {
            match c.data.versioning_request_type.clone() {
                Some(VersioningRequestType::GetVersionList) => {
                    let n = d.versions.len();
                    let mut users: Vec<String> = Vec::new();
                    let mut versions = Vec::new();
                    for (i, v) in d.versions.iter().enumerate().rev() {
                        let uid = match users.iter().position(|u| *u == v.modified_by) {
                            Some(p) => p,
                            None => {
                                users.push(v.modified_by.clone());
                                users.len() - 1
                            }
                        };
                        versions.push(FileVersion {
                            is_current: (i + 1 == n).then_some(true),
                            number: Some(format!("{}.0", v.number)),
                            last_modified_time: Some(filetime(v.modified_ms)),
                            user_id: Some(uid as i64),
                            events: None,
                        });
                    }
                    let user_table = users
                        .into_iter()
                        .enumerate()
                        .map(|(i, u)| VersionUser {
                            user_id: Some(i as i64),
                            user_name: Some(u.rsplit('\\').next().unwrap_or(&u).to_owned()),
                            user_login: Some(u),
                            user_email_address: None,
                        })
                        .collect();
                    Outcome::ok(SubResponseData {
                        user_table: Some(user_table),
                        versions: Some(versions),
                        ..SubResponseData::default()
                    })
                }
                Some(VersioningRequestType::RestoreVersion) => {
                    let wanted = c.data.version.clone().unwrap_or_default();
                    let found = d
                        .versions
                        .iter()
                        .find(|v| {
                            format!("{}.0", v.number) == wanted || v.number.to_string() == wanted
                        })
                        .map(|v| v.content.clone());
                    let Some(content) = found else {
                        return Outcome::err("VersionNotFound");
                    };
                    let number = d.current().number + 1;
                    d.versions.push(Version {
                        number,
                        content,
                        modified_ms: now,
                        modified_by: user,
                    });
                    Outcome::ok(SubResponseData::default())
                }
                _ => Outcome::err("InvalidArgument"),
            }
        })
    }

    fn file_operation(&mut self, c: &Call<'_>) -> Outcome {
        if c.data.file_operation != Some(FileOperationRequestType::Rename) {
            return Outcome::err("InvalidArgument");
        }
        let Some(new_name) = c.data.new_file_name.clone() else {
            return Outcome::err("InvalidArgument");
        };
        let Some(d) = self.store.find_mut(c.url) else {
            return Outcome::err("FileNotExistsOrCannotBeCreated");
        };
        if let Lock::Exclusive { id, .. } = &d.lock {
            if c.data.exclusive_lock_id.as_deref() != Some(id.as_str()) {
                return Outcome::err_msg("FileAlreadyLockedOnServer", d.holder());
            }
        }
        if let Err(why) = check_name(&new_name) {
            return Outcome::err_msg(
                "InvalidArgument",
                format!("{why}: {}", new_name.escape_debug()),
            );
        }
        if self.store.rename(c.url, &new_name) {
            Outcome::ok(SubResponseData::default())
        } else {
            Outcome::err_msg("SubRequestFail", format!("cannot rename to {new_name}"))
        }
    }

    // ---------------------------------------------------------------- Cell

    fn cell(&mut self, c: &Call<'_>) -> Outcome {
        let Some(payload) = c.data.payload.as_ref() else {
            return Outcome::err("InvalidArgument");
        };
        let fb = b::decode_request(&payload.bytes);
        if !fb.diagnostics.is_empty() {
            let mut r = fb_response();
            r.status = 1;
            r.error = Some(b::cell_error(CellErrorCode::RequestStreamSchemaError));
            return cell_outcome("CellRequestFail", &r, None);
        }
        let seed = self.settings.seed;
        let now = self.now();
        let user = c.user.to_owned();
        let has_put = fb
            .sub_requests
            .iter()
            .any(|s| matches!(s.data, b::SubRequestData::PutChanges(_)));
        if self.store.find_mut(c.url).is_none() {
            if !has_put {
                let mut r = fb_response();
                r.status = 1;
                r.error = Some(hresult_error(E_FAIL));
                return cell_outcome("CellRequestFail", &r, None);
            }
            // A Put Changes to a missing Url creates the file (A.7.1).
            // The name comes from the wire: it must be a plain file name (issue 14.1).
            let path = c.url.split(['?', '#']).next().unwrap_or("");
            let name = crate::decode::text::percent_decode(path.rsplit('/').next().unwrap_or(""));
            if let Err(why) = check_name(&name) {
                return Outcome::err_msg("InvalidUrl", format!("{why}: {}", name.escape_debug()));
            }
            self.store.insert(&name, Vec::new(), now, &user);
        }
        let range_guid = self.fresh_guid(0xA11);
        let Some(d) = self.store.find_mut(c.url) else {
            return Outcome::err("FileNotExistsOrCannotBeCreated");
        };
        // Etag present and not matching ⇒ CellRequestFail (A.10.6).
        if let Some(etag) = c.data.etag.as_deref().filter(|e| !e.is_empty()) {
            if etag != d.etag(seed) {
                return Outcome::err_msg(
                    "CellRequestFail",
                    format!("Etag {etag} does not match {}", d.etag(seed)),
                );
            }
        }
        if has_put {
            if let Some(o) = write_lock_check(d, c) {
                return o;
            }
        }
        let mut resp = fb_response();
        let mut code = "Success";
        let mut changed: Option<Vec<u8>> = None;
        for s in &fb.sub_requests {
            let mut sr = b::SubResponse {
                request_id: s.request_id,
                request_type: s.request_type,
                ..b::SubResponse::default()
            };
            match &s.data {
                b::SubRequestData::QueryAccess => {
                    sr.data = b::SubResponseData::QueryAccess {
                        read: Some(hresult_error(0)),
                        write: Some(hresult_error(0)),
                    };
                }
                b::SubRequestData::QueryChanges(_) => {
                    let default_partition = s.target_partition_id.is_none_or(|g| g == b::Guid::NIL);
                    if default_partition {
                        let built = b::build_query_changes_response(
                            d.content(),
                            &d.package_options(seed),
                            s.request_id,
                        );
                        if resp.data_element_package.is_none() {
                            resp.data_element_package = built.data_element_package;
                        }
                        if let Some(first) = built.sub_responses.into_iter().next() {
                            sr.data = first.data;
                        }
                    } else {
                        sr.data = b::SubResponseData::QueryChanges(QueryChangesResponse::default());
                    }
                }
                b::SubRequestData::PutChanges(put) => {
                    let current = d.storage_index(seed);
                    let exists = !d.content().is_empty() || d.versions.len() > 1;
                    let expected = put.expected_storage_index_id;
                    let coherent = if expected.is_null() {
                        // No expectation: only a new (empty) file may be written blind.
                        !exists
                    } else {
                        expected == current
                    };
                    let expect_none = c.data.expect_no_file_exists == Some(true) && exists;
                    if !coherent || expect_none {
                        sr.status = 1;
                        sr.error = Some(b::cell_error(CellErrorCode::CoherencyFailure));
                        code = "CellRequestFail";
                    } else {
                        let file = fb.data_element_package.as_ref().and_then(b::extract_file);
                        match file {
                            Some(bytes) => {
                                let number = d.current().number + 1;
                                d.versions.push(Version {
                                    number,
                                    content: bytes.clone(),
                                    modified_ms: now,
                                    modified_by: user.clone(),
                                });
                                let added = fb
                                    .data_element_package
                                    .as_ref()
                                    .map(|p| p.elements.iter().map(|e| e.id).collect())
                                    .unwrap_or_default();
                                sr.data = b::SubResponseData::PutChanges(PutChangesResponse {
                                    applied: Some(AppliedStorageIndex {
                                        applied_storage_index_id: d.storage_index(seed),
                                        data_elements_added: added,
                                        ..AppliedStorageIndex::default()
                                    }),
                                    resultant_knowledge: Some(knowledge(&d.package_options(seed))),
                                    diagnostic_output: None,
                                });
                                changed = Some(bytes);
                            }
                            None => {
                                sr.status = 1;
                                sr.error = Some(b::cell_error(
                                    CellErrorCode::ReferencedDataElementNotFound,
                                ));
                                code = "CellRequestFail";
                            }
                        }
                    }
                }
                b::SubRequestData::AllocateExtendedGuidRange(a) => {
                    let g = b::Guid::parse(&range_guid).unwrap_or(b::Guid::NIL);
                    sr.data = b::SubResponseData::AllocateExtendedGuidRange(
                        AllocateExtendedGuidRangeResponse {
                            guid: g,
                            min: 1,
                            max: 1 + a.count.max(1),
                        },
                    );
                }
                b::SubRequestData::Unknown { .. } => {
                    sr.status = 1;
                    sr.error = Some(b::cell_error(CellErrorCode::UnknownRequest));
                    code = "CellRequestFail";
                }
            }
            resp.sub_responses.push(sr);
        }
        let name = d.name.clone();
        let lock_type = match (&d.lock, &c.data.exclusive_lock_id) {
            (Lock::Exclusive { id, .. }, Some(x)) if id == x && has_put => {
                Some(LockType::ExclusiveLock)
            }
            _ => None,
        };
        let mut data = SubResponseData {
            etag: Some(d.etag(seed)),
            modified_by: Some(d.current().modified_by.clone()),
            coalesce_h_result: Some(HResult::from_u32(0)),
            contains_hotbox_data: Some(false),
            have_only_demotion_changes: Some(false),
            lock_type,
            ..SubResponseData::default()
        };
        if c.data.get_file_props == Some(true) {
            data.create_time = Some(filetime(d.created_ms));
            data.last_modified_time = Some(filetime(d.current().modified_ms));
        }
        if let Some(bytes) = changed {
            self.store.write_back(&name, &bytes);
            self.store.touch(&name.to_ascii_lowercase());
        }
        cell_outcome(code, &resp, Some(data))
    }
}

/// The dependency verdict of a subrequest: `Some` when it must not run (A.5.4).
fn dependency_block(sub: &SubRequest, done: &BTreeMap<u64, Outcome>) -> Option<Outcome> {
    let on = sub.depends_on?;
    let Some(other) = done.get(&on) else {
        return Some(Outcome::err("DependentRequestNotExecuted"));
    };
    let executed = !other.code.starts_with("Dependent");
    let ty = sub
        .dependency_type
        .clone()
        .unwrap_or(DependencyType::OnExecute);
    match ty {
        DependencyType::OnExecute => {
            (!executed).then(|| Outcome::err("DependentRequestNotExecuted"))
        }
        DependencyType::OnSuccess => {
            (!other.success()).then(|| Outcome::err("DependentOnlyOnSuccessRequestFailed"))
        }
        DependencyType::OnFail => (other.success() || !executed)
            .then(|| Outcome::err("DependentOnlyOnFailRequestSucceeded")),
        DependencyType::OnNotSupported => (!other.not_supported())
            .then(|| Outcome::err("DependentOnlyOnNotSupportedRequestGetSupported")),
        DependencyType::OnSuccessOrNotSupported => (!other.success() && !other.not_supported())
            .then(|| Outcome::err("DependentOnlyOnSuccessRequestFailed")),
        DependencyType::Other(_) => Some(Outcome::err("InvalidRequestDependencyType")),
    }
}

fn join_doc(
    d: &mut Document,
    c: &Call<'_>,
    coauth_on: bool,
    max: usize,
    now: u64,
) -> Result<Joined, Outcome> {
    let client = c.client();
    let timeout = now.saturating_add(c.timeout_ms());
    if !coauth_on || !d.coauthorable {
        if c.data.allow_fallback_to_exclusive != Some(true) {
            return Err(Outcome::err("FileNotLockedOnServer"));
        }
        let id = c
            .data
            .exclusive_lock_id
            .clone()
            .or_else(|| c.data.schema_lock_id.clone())
            .unwrap_or_else(|| client.clone());
        return match &d.lock {
            Lock::None => {
                take_exclusive(d, &id, timeout, &c.holder());
                Ok(Joined::Exclusive)
            }
            Lock::Exclusive { id: x, .. } if *x == id => {
                take_exclusive(d, &id, timeout, &c.holder());
                Ok(Joined::Exclusive)
            }
            _ => Err(Outcome::err_msg("FileAlreadyLockedOnServer", d.holder())),
        };
    }
    let Some(schema) = c.data.schema_lock_id.clone() else {
        return Err(Outcome::err("InvalidArgument"));
    };
    let holder = d.holder();
    match &mut d.lock {
        Lock::Exclusive { .. } => Err(Outcome::err_msg("FileAlreadyLockedOnServer", holder)),
        Lock::Shared { schema_lock_id, .. } if *schema_lock_id != schema => {
            Err(Outcome::err_msg("FileAlreadyLockedOnServer", holder))
        }
        Lock::Shared { clients, .. } => {
            if let Some(exp) = clients.get_mut(&client) {
                *exp = (*exp).max(timeout);
                return Ok(Joined::Shared(clients.len()));
            }
            if clients.len() >= max {
                return Err(Outcome::err_msg(
                    "NumberOfCoauthorsReachedMax",
                    format!("at most {max} coauthors"),
                ));
            }
            clients.insert(client, timeout);
            let n = clients.len();
            if n == 2 {
                d.transition_pending = true;
            }
            Ok(Joined::Shared(n))
        }
        Lock::None => {
            let mut clients = BTreeMap::new();
            clients.insert(client, timeout);
            d.lock = Lock::Shared {
                schema_lock_id: schema,
                clients,
            };
            d.transition_id = None;
            Ok(Joined::Shared(1))
        }
    }
}

fn take_exclusive(d: &mut Document, id: &str, expires: u64, holder: &str) {
    let expires = match &d.lock {
        Lock::Exclusive { expires: e, .. } => (*e).max(expires),
        _ => expires,
    };
    d.lock = Lock::Exclusive {
        id: id.to_owned(),
        expires,
        holder: holder.to_owned(),
    };
}

fn in_session(d: &Document, c: &Call<'_>) -> bool {
    matches!(&d.lock, Lock::Shared { schema_lock_id, clients }
        if Some(schema_lock_id.as_str()) == c.data.schema_lock_id.as_deref()
            && clients.contains_key(&c.client()))
}

fn status_of(n: usize) -> CoauthStatus {
    if n <= 1 {
        CoauthStatus::Alone
    } else {
        CoauthStatus::Coauthoring
    }
}

/// Whether an upload may write: the lock id it carries must match the file's lock
/// (A.10.5). `None` when it may.
fn write_lock_check(d: &Document, c: &Call<'_>) -> Option<Outcome> {
    let ids = [
        c.data.bypass_lock_id.as_deref(),
        c.data.schema_lock_id.as_deref(),
        c.data.exclusive_lock_id.as_deref(),
    ];
    let ok = match &d.lock {
        Lock::None => true,
        Lock::Shared {
            schema_lock_id,
            clients,
        } => ids.contains(&Some(schema_lock_id.as_str())) && clients.contains_key(&c.client()),
        Lock::Exclusive { id, .. } => ids.contains(&Some(id.as_str())),
    };
    (!ok).then(|| Outcome::err_msg("FileAlreadyLockedOnServer", d.holder()))
}

fn properties(seed: u64, d: &Document, c: &Call<'_>) -> Outcome {
    let all = [
        ("vti_etag", d.etag(seed)),
        ("vti_filesize", d.content().len().to_string()),
        ("vti_title", d.name.clone()),
    ];
    match c.data.properties.clone() {
        Some(PropertiesRequestType::PropertyEnumerate) => Outcome::ok(SubResponseData {
            property_ids: Some(all.iter().map(|(k, _)| (*k).to_owned()).collect()),
            ..SubResponseData::default()
        }),
        Some(PropertiesRequestType::PropertyGet) => {
            let wanted = c.data.property_ids.clone().unwrap_or_default();
            let property_values = all
                .iter()
                .filter(|(k, _)| wanted.is_empty() || wanted.iter().any(|w| w == k))
                .map(|(k, v)| PropertyValue {
                    id: Some((*k).to_owned()),
                    value: Some(v.clone()),
                })
                .collect();
            Outcome::ok(SubResponseData {
                property_values: Some(property_values),
                ..SubResponseData::default()
            })
        }
        _ => Outcome::err("InvalidArgument"),
    }
}

fn fb_response() -> FsshttpbResponse {
    FsshttpbResponse {
        protocol_version: 14,
        minimum_version: 11,
        signature: RESPONSE_SIGNATURE,
        ..FsshttpbResponse::default()
    }
}

fn hresult_error(code: u32) -> ResponseError {
    ResponseError {
        error_type: HRESULT_ERROR_GUID,
        detail: ErrorDetail::HresultError { code },
        ..ResponseError::default()
    }
}

fn knowledge(opts: &b::FilePackageOptions) -> Knowledge {
    Knowledge {
        offset: 0,
        entries: vec![SpecializedKnowledge::CellKnowledge(vec![
            CellKnowledgeItem::Range {
                guid: opts.serial_guid,
                from: 1,
                to: 64,
            },
        ])],
    }
}

fn cell_outcome(
    code: &'static str,
    r: &FsshttpbResponse,
    data: Option<SubResponseData>,
) -> Outcome {
    let mut data = data.unwrap_or_default();
    data.payload = Some(CellPayload {
        bytes: b::encode_response(r).into(),
        origin: PayloadOrigin::Inline,
    });
    Outcome {
        code,
        message: (code != "Success").then(|| "the FSSHTTPB request failed".to_owned()),
        data: Some(Box::new(data)),
        versions: None,
    }
}

/// FILETIME ticks of a Unix time in ms.
fn filetime(ms: u64) -> FileTime {
    let ticks = 116_444_736_000_000_000i64.saturating_add(
        i64::try_from(ms)
            .unwrap_or(i64::MAX / 20_000)
            .saturating_mul(10_000),
    );
    FileTime::new(ticks)
}

fn rfc3339(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::ManualClock;

    fn service() -> CellService {
        let mut store = Store::new(None);
        store.insert("a.docx", b"hello".to_vec(), 0, "u");
        CellService::new(store, CellSettings::default(), ManualClock::new(0))
    }

    fn coauth(kind: CoauthRequestType, client: &str, token: u64) -> SubRequest {
        SubRequest {
            type_: Some(SubRequestType::Coauth),
            sub_request_token: Some(token),
            sub_request_data: Some(SubRequestData {
                coauth_request_type: Some(kind),
                client_id: Some(client.to_owned()),
                schema_lock_id: Some("S".to_owned()),
                timeout: Some(3600),
                ..SubRequestData::default()
            }),
            ..SubRequest::default()
        }
    }

    fn codes(out: &ResponseEnvelope) -> Vec<String> {
        out.sub_responses()
            .filter_map(|(_, s)| s.error_code.as_ref().map(ToString::to_string))
            .collect()
    }

    fn request(subs: Vec<SubRequest>) -> RequestEnvelope {
        RequestEnvelope {
            request_collection: Some(crate::decode::fsshttp::RequestCollection {
                correlation_id: Some("c".to_owned()),
                requests: vec![Request {
                    url: Some("https://h/Shared%20Documents/a.docx".to_owned()),
                    request_token: Some(1),
                    sub_requests: subs,
                    ..Request::default()
                }],
            }),
            ..RequestEnvelope::default()
        }
    }

    #[test]
    fn one_message_runs_subrequests_in_order() {
        let mut s = service();
        let out = s.handle(
            &request(vec![
                coauth(CoauthRequestType::JoinCoauthoring, "A", 1),
                coauth(CoauthRequestType::JoinCoauthoring, "B", 2),
                coauth(CoauthRequestType::ConvertToExclusive, "A", 3),
                coauth(CoauthRequestType::ExitCoauthoring, "B", 4),
            ]),
            "https://h",
            "u",
        );
        assert_eq!(
            codes(&out),
            ["Success", "Success", "InvalidArgument", "Success"],
            "ConvertToExclusive without an ExclusiveLockID is an argument error"
        );
    }

    #[test]
    fn missing_url_and_old_versions_are_message_errors() {
        let mut s = service();
        let mut req = request(vec![coauth(CoauthRequestType::JoinCoauthoring, "A", 1)]);
        if let Some(rc) = req.request_collection.as_mut() {
            rc.requests[0].url = None;
        }
        let out = s.handle(&req, "https://h", "u");
        let r = &out
            .response_collection
            .as_ref()
            .map(|c| c.responses.clone())
            .unwrap_or_default()[0];
        assert_eq!(
            r.error_code.as_ref().map(ErrorCode::as_str),
            Some("InvalidUrl")
        );
        let mut req = request(Vec::new());
        req.request_version = Some(VersionInfo {
            version: Some(1),
            minor_version: Some(0),
            ..VersionInfo::default()
        });
        let out = s.handle(&req, "https://h", "u");
        assert_eq!(
            out.response_version.and_then(|v| v.error_code),
            Some(ErrorCode::IncompatibleVersion)
        );
    }
}
