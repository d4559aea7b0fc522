//! The MS-FSSHTTP cell storage service of the reference server: one decoded
//! [`RequestEnvelope`] in, one [`ResponseEnvelope`] out, with the rules of
//! MS-FSSHTTP 2.3 (per subrequest), 2.2.5 (error codes) and 3.1.4 (locking).
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
//!
//! Layout: this module runs a request's subrequests and the small ones (WhoAmI,
//! ServerTime); [`locks`] holds Coauth, SchemaLock and ExclusiveLock; [`cell`] the Cell
//! subrequest and its FSSHTTPB answers; [`documents`] the subrequests about the document
//! (AmIAlone, LockStatus, GetDocMetaInfo, GetVersions, Properties, EditorsTable,
//! Versioning, FileOperation).

mod cell;
mod documents;
mod locks;

use std::collections::BTreeMap;
use std::sync::Arc;

use super::store::{guid, Clock, Document, Store};
use crate::decode::fsshttp::{
    DependencyType, DotNetTicks, ErrorCode, FileTime, GetVersionsResults, HResult, Request,
    RequestEnvelope, Response, ResponseCollection, ResponseEnvelope, SubRequest, SubRequestData,
    SubRequestType, SubResponse, SubResponseData, VersionInfo,
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
    code: ErrorCode,
    message: Option<String>,
    data: Option<Box<SubResponseData>>,
    versions: Option<Box<GetVersionsResults>>,
}

impl Outcome {
    fn ok(data: SubResponseData) -> Self {
        Self {
            data: Some(Box::new(data)),
            ..Self::done()
        }
    }

    /// `Success` with no data (yet).
    fn done() -> Self {
        Self {
            code: ErrorCode::Success,
            message: None,
            data: None,
            versions: None,
        }
    }

    fn err(code: ErrorCode) -> Self {
        Self {
            code,
            message: None,
            data: None,
            versions: None,
        }
    }

    fn err_msg(code: ErrorCode, message: String) -> Self {
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
        self.code.is_success()
    }

    fn not_supported(&self) -> bool {
        matches!(
            self.code,
            ErrorCode::RequestNotSupported | ErrorCode::InvalidSubRequest
        )
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
        // A request refused as a whole: the error in ResponseVersion, no collection.
        let refused = |code: ErrorCode, message: &str| ResponseEnvelope {
            response_version: Some(VersionInfo {
                error_code: Some(code),
                error_message: Some(message.to_owned()),
                ..version.clone()
            }),
            ..ResponseEnvelope::default()
        };
        let Some(rc) = &req.request_collection else {
            return refused(ErrorCode::InvalidArgument, "no RequestCollection");
        };
        if req
            .request_version
            .as_ref()
            .and_then(|v| v.version)
            .is_some_and(|v| v < 2)
        {
            return refused(ErrorCode::IncompatibleVersion, "RequestVersion must be 2");
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
            resp.error_code = Some(ErrorCode::InvalidUrl);
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
                code = outcome.code.as_str(),
                "subrequest"
            );
            let token = sub.sub_request_token.unwrap_or(0);
            resp.sub_responses.push(SubResponse {
                sub_request_token: Some(token),
                error_code: Some(outcome.code.clone()),
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
            return Outcome::err(ErrorCode::InvalidSubRequest);
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
            SubRequestType::AmIAlone => self.am_i_alone(c),
            SubRequestType::LockStatus => self.lock_status(c),
            SubRequestType::GetDocMetaInfo => self.doc_meta_info(c),
            SubRequestType::GetVersions => self.get_versions(c),
            SubRequestType::Versioning => self.versioning(c),
            SubRequestType::FileOperation => self.file_operation(c),
            SubRequestType::Properties => self.properties(c),
            SubRequestType::Other(_) => Outcome::err(ErrorCode::InvalidSubRequest),
        }
    }

    fn with_doc(
        &mut self,
        c: &Call<'_>,
        missing: ErrorCode,
        f: impl FnOnce(&CellSettings, &mut Document, &str) -> Outcome,
    ) -> Outcome {
        let settings = self.settings.clone();
        match self.store.find_mut(c.url) {
            Some(d) => f(&settings, d, c.url),
            None => Outcome::err_msg(missing, format!("{} does not exist", c.url)),
        }
    }
}

/// The dependency verdict of a subrequest: `Some` when it must not run (A.5.4).
fn dependency_block(sub: &SubRequest, done: &BTreeMap<u64, Outcome>) -> Option<Outcome> {
    let on = sub.depends_on?;
    let Some(other) = done.get(&on) else {
        return Some(Outcome::err(ErrorCode::DependentRequestNotExecuted));
    };
    let executed = !other.code.is_not_run_by_dependency();
    let ty = sub
        .dependency_type
        .clone()
        .unwrap_or(DependencyType::OnExecute);
    match ty {
        DependencyType::OnExecute => {
            (!executed).then(|| Outcome::err(ErrorCode::DependentRequestNotExecuted))
        }
        DependencyType::OnSuccess => {
            (!other.success()).then(|| Outcome::err(ErrorCode::DependentOnlyOnSuccessRequestFailed))
        }
        DependencyType::OnFail => (other.success() || !executed)
            .then(|| Outcome::err(ErrorCode::DependentOnlyOnFailRequestSucceeded)),
        DependencyType::OnNotSupported => (!other.not_supported())
            .then(|| Outcome::err(ErrorCode::DependentOnlyOnNotSupportedRequestGetSupported)),
        DependencyType::OnSuccessOrNotSupported => (!other.success() && !other.not_supported())
            .then(|| Outcome::err(ErrorCode::DependentOnlyOnSuccessRequestFailed)),
        DependencyType::Other(_) => Some(Outcome::err(ErrorCode::InvalidRequestDependencyType)),
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
    use crate::decode::fsshttp::CoauthRequestType;
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
