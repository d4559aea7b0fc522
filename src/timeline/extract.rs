//! Reducing one decoded exchange to the few facts the timeline needs ([`Obs`]): one
//! [`Op`] per MS-FSSHTTP subrequest with its subresponse, one [`DavLockOp`] for WebDAV
//! locking, the per-exchange structural findings (unjoined subrequests and subresponses,
//! ErrorCode values outside the enumerations, decoding diagnostics), and the WebDAV /
//! SPFileSync model for the cross-exchange rules. Observations are small, so the engine
//! can hold a few back to put them in time order without keeping whole exchanges.

use crate::decode::exchange::{DecodedExchange, FsshttpExchange, ProtocolModel};
use crate::decode::findings::{Finding, Rule, Severity};
use crate::decode::fsshttp::{
    CoauthRequestType, EditorsTableRequestType, ErrorCategory, ErrorCode, ExclusiveLockRequestType,
    LockType, SchemaLockRequestType, SubRequestData, SubRequestType,
};
use crate::decode::fsshttpb::{self, CellErrorCode, FsshttpbResponse, ResponseError};
use crate::decode::webdav::{DavBody, DavTimeout};

const SPEC_JOIN: &str = "MS-FSSHTTP 2.2.3.5, 2.2.3.10 (SubResponse@SubRequestToken matches a SubRequest; one SubResponse per SubRequest)";
const SPEC_CODES: &str = "MS-FSSHTTP 2.2.5.4 (ErrorCodeTypes: the six groups of values)";
const SPEC_DIAG: &str = "MS-FSSHTTP 2.2, MS-FSSHTTPB 2.2 (message syntax)";
const SPEC_DEPENDENCY: &str =
    "MS-FSSHTTP 2.2.5.2 (DependencyCheckRelatedErrorCodeTypes), 2.2.5.3 (DependencyTypes)";
const SPEC_REQUEST_TOKEN: &str =
    "MS-FSSHTTP 2.2.3.5 (Response@RequestToken names the Request it answers)";

/// One exchange, reduced.
#[derive(Debug)]
pub(crate) struct Obs {
    pub id: u64,
    pub time: i64,
    pub connection: Option<u64>,
    pub ops: Vec<Op>,
    pub dav_lock: Option<DavLockOp>,
    /// The WebDAV or SPFileSync model, for the cross-exchange rules (applied in time
    /// order, so kept until the exchange leaves the reorder window).
    pub dav: Option<ProtocolModel>,
    pub findings: Vec<Finding>,
}

impl Obs {
    /// Adds an info-level finding about this exchange.
    fn info(&mut self, rule: Rule, sentence: String, spec: &str) {
        self.findings.push(Finding {
            severity: Severity::Info,
            rule,
            exchanges: vec![self.id],
            sentence,
            spec: spec.to_owned(),
        });
    }
}

/// The sub-operation of one MS-FSSHTTP subrequest.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OpKind {
    Coauth(CoauthRequestType),
    SchemaLock(SchemaLockRequestType),
    Exclusive(ExclusiveLockRequestType),
    Editors(EditorsTableRequestType),
    Cell(CellOp),
    AmIAlone,
    LockStatus,
    Other,
}

/// What a Cell subrequest did, from its FSSHTTPB payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CellOp {
    pub upload: bool,
    pub download: bool,
    pub coherency_failure: bool,
    pub fsshttpb_failed: bool,
}

/// One MS-FSSHTTP subrequest and what the server answered.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub file: String,
    pub kind: OpKind,
    pub operation: String,
    pub client_id: Option<String>,
    pub schema_lock_id: Option<String>,
    pub exclusive_lock_id: Option<String>,
    pub timeout: Option<i64>,
    pub result: Option<OpResult>,
}

/// The SubResponse of an [`Op`].
#[derive(Debug, Clone)]
pub(crate) struct OpResult {
    /// The SubResponse's ErrorCode; `None` when it carries none.
    pub error_code: Option<ErrorCode>,
    pub error_message: Option<String>,
    pub lock_type: Option<LockType>,
    pub coauth_status: Option<String>,
    pub transition_id: Option<String>,
    pub am_i_alone: Option<bool>,
    /// The subrequest's `DependsOn` and `DependencyType`, as one phrase.
    pub depends_on: Option<String>,
}

impl OpResult {
    pub(super) fn success(&self) -> bool {
        self.error_code.as_ref().is_some_and(ErrorCode::is_success)
    }

    /// The server did not run the subrequest because of its dependency.
    pub(super) fn not_run_by_dependency(&self) -> bool {
        self.error_code
            .as_ref()
            .is_some_and(ErrorCode::is_not_run_by_dependency)
    }

    /// The ErrorCode as written, or `(no ErrorCode)`.
    pub(super) fn code_text(&self) -> &str {
        self.error_code
            .as_ref()
            .map_or("(no ErrorCode)", ErrorCode::as_str)
    }
}

/// A WebDAV locking exchange (LOCK, UNLOCK, or a request carrying X-MSDAVEXTLockTimeout).
#[derive(Debug, Clone)]
pub(crate) struct DavLockOp {
    pub file: String,
    pub method: String,
    pub status: Option<u16>,
    pub unlock: bool,
    pub refresh: bool,
    pub submitted: Vec<String>,
    pub granted: Option<String>,
    pub timeout: Option<i64>,
    pub owner: Option<String>,
    pub scope: Option<String>,
}

/// Reduces a decoded exchange. `url` is the HTTP request URL.
pub(crate) fn extract(
    id: u64,
    time: i64,
    connection: Option<u64>,
    d: &DecodedExchange,
    url: &str,
) -> Obs {
    let mut obs = Obs {
        id,
        time,
        connection,
        ops: Vec::new(),
        dav_lock: None,
        dav: None,
        findings: Vec::new(),
    };
    if let Some(first) = d.diagnostics.first() {
        obs.findings.push(Finding {
            severity: Severity::Warning,
            rule: Rule::DecodeDiagnostics,
            exchanges: vec![id],
            sentence: format!(
                "exchange {id} could not be fully decoded ({} diagnostic{}; first: {:?} body offset {}: {})",
                d.diagnostics.len(),
                if d.diagnostics.len() == 1 { "" } else { "s" },
                first.side,
                first.offset,
                first.message
            ),
            spec: SPEC_DIAG.to_owned(),
        });
    }
    match &d.model {
        ProtocolModel::Fsshttp(x) => fsshttp_ops(&mut obs, x, url),
        ProtocolModel::WebDav(w) => {
            obs.dav_lock = dav_lock(w);
            obs.dav = Some(d.model.clone());
        }
        ProtocolModel::SpFileSync(_) => obs.dav = Some(d.model.clone()),
        ProtocolModel::Http => {}
    }
    obs
}

fn fsshttp_ops(obs: &mut Obs, x: &FsshttpExchange, http_url: &str) {
    let id = obs.id;
    let Some(req) = &x.request else {
        return;
    };
    let resp = x.response.as_ref();
    let mut whole_failed = false;
    for n in resp.map(|r| r.notes.as_slice()).unwrap_or_default() {
        obs.info(
            Rule::FsshttpRequestTokenPaired,
            format!("exchange {id}: {}", n.message),
            SPEC_REQUEST_TOKEN,
        );
    }
    if let Some(r) = resp {
        if let Some(v) = &r.response_version {
            if let Some(e) = &v.error_code {
                unknown_code(obs, Some(e), "ResponseVersion");
                whole_failed |= !e.is_success();
            }
        }
        whole_failed |= r.fault.is_some() || r.response_collection.is_none();
    }
    let requests = req
        .request_collection
        .as_ref()
        .map(|c| c.requests.as_slice())
        .unwrap_or_default();
    let responses = resp
        .and_then(|r| r.response_collection.as_ref())
        .map(|c| c.responses.as_slice())
        .unwrap_or_default();
    for (i, request) in requests.iter().enumerate() {
        let file = request
            .url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| http_url.to_owned());
        let response = responses
            .iter()
            .find(|r| r.request_token.is_some() && r.request_token == request.request_token)
            .or_else(|| responses.get(i));
        let mut file_failed = whole_failed;
        if let Some(r) = response {
            if let Some(e) = &r.error_code {
                unknown_code(obs, Some(e), "Response");
                file_failed |= !e.is_success();
            }
        } else {
            file_failed = true;
        }
        let mut used = vec![false; response.map_or(0, |r| r.sub_responses.len())];
        let no_data = SubRequestData::default();
        for sub in &request.sub_requests {
            let data = sub.sub_request_data.as_ref().unwrap_or(&no_data);
            let token = sub.sub_request_token;
            let found = response.and_then(|r| {
                r.sub_responses.iter().enumerate().find(|(k, s)| {
                    token.is_some()
                        && s.sub_request_token == token
                        && !used.get(*k).copied().unwrap_or(true)
                })
            });
            if let Some((k, _)) = found {
                if let Some(u) = used.get_mut(k) {
                    *u = true;
                }
            } else if !file_failed {
                obs.findings.push(Finding {
                    severity: Severity::Error,
                    rule: Rule::FsshttpSubrequestWithoutSubresponse,
                    exchanges: vec![id],
                    sentence: format!("{} got no SubResponse", the_sub_request(sub)),
                    spec: SPEC_JOIN.to_owned(),
                });
            }
            let result = found.map(|(_, s)| {
                unknown_code(obs, s.error_code.as_ref(), "SubResponse");
                let rd = s.sub_response_data.as_ref();
                OpResult {
                    error_code: s.error_code.clone(),
                    error_message: s.error_message.clone(),
                    lock_type: rd.and_then(|d| d.lock_type.clone()),
                    coauth_status: rd
                        .and_then(|d| d.coauth_status.as_ref())
                        .map(|c| c.as_str().to_owned()),
                    transition_id: rd.and_then(|d| d.transition_id.clone()),
                    am_i_alone: rd.and_then(|d| d.am_i_alone),
                    depends_on: sub.depends_on.map(|t| {
                        format!(
                            "DependsOn SubRequestToken {t}{}",
                            sub.dependency_type
                                .as_ref()
                                .map(|d| format!(" with DependencyType {}", d.as_str()))
                                .unwrap_or_default()
                        )
                    }),
                }
            });
            if let Some(r) = &result {
                if r.not_run_by_dependency() {
                    let meaning = r.error_code.as_ref().and_then(ErrorCode::meaning);
                    obs.info(
                        Rule::FsshttpDependencyNotRun,
                        format!(
                            "{} was not run (dependency): {}; ErrorCode {}{}",
                            the_sub_request(sub),
                            r.depends_on.as_deref().unwrap_or("no DependsOn"),
                            r.code_text(),
                            meaning.map(|m| format!(" ({m})")).unwrap_or_default()
                        ),
                        SPEC_DEPENDENCY,
                    );
                }
            }
            let (kind, operation) = match &sub.type_ {
                Some(SubRequestType::Coauth) => match &data.coauth_request_type {
                    Some(t) => (OpKind::Coauth(t.clone()), t.as_str().to_owned()),
                    None => (OpKind::Other, "Coauth".to_owned()),
                },
                Some(SubRequestType::SchemaLock) => match &data.schema_lock_request_type {
                    Some(t) => (OpKind::SchemaLock(t.clone()), t.as_str().to_owned()),
                    None => (OpKind::Other, "SchemaLock".to_owned()),
                },
                Some(SubRequestType::ExclusiveLock) => match &data.exclusive_lock_request_type {
                    Some(t) => (OpKind::Exclusive(t.clone()), t.as_str().to_owned()),
                    None => (OpKind::Other, "ExclusiveLock".to_owned()),
                },
                Some(SubRequestType::EditorsTable) => match &data.editors_table_request_type {
                    Some(t) => (OpKind::Editors(t.clone()), t.as_str().to_owned()),
                    None => (OpKind::Other, "EditorsTable".to_owned()),
                },
                Some(SubRequestType::Cell) => {
                    let c = cell_op(x, token);
                    let name = match (c.upload, c.download) {
                        (true, _) => "PutChanges",
                        (false, true) => "QueryChanges",
                        _ => "Cell",
                    };
                    (OpKind::Cell(c), name.to_owned())
                }
                Some(SubRequestType::AmIAlone) => (OpKind::AmIAlone, "AmIAlone".to_owned()),
                Some(SubRequestType::LockStatus) => (OpKind::LockStatus, "LockStatus".to_owned()),
                Some(t) => (OpKind::Other, t.as_str().to_owned()),
                None => (OpKind::Other, "SubRequest".to_owned()),
            };
            obs.ops.push(Op {
                file: file.clone(),
                kind,
                operation,
                client_id: data.client_id.clone(),
                schema_lock_id: data.schema_lock_id.clone(),
                exclusive_lock_id: data.exclusive_lock_id.clone(),
                timeout: data.timeout,
                result,
            });
        }
        if let Some(r) = response {
            for (k, s) in r.sub_responses.iter().enumerate() {
                if used.get(k).copied().unwrap_or(true) {
                    continue;
                }
                obs.findings.push(Finding {
                    severity: Severity::Error,
                    rule: Rule::FsshttpSubresponseWithoutSubrequest,
                    exchanges: vec![id],
                    sentence: format!(
                        "a SubResponse with SubRequestToken {} (ErrorCode {}) answers no SubRequest of the request for {file}",
                        s.sub_request_token
                            .map_or_else(|| "(none)".to_owned(), |t| t.to_string()),
                        s.error_code.as_ref().map_or("(none)", ErrorCode::as_str)
                    ),
                    spec: SPEC_JOIN.to_owned(),
                });
            }
        }
    }
    // Responses beyond the requests answer nothing.
    for r in responses.iter().skip(requests.len()) {
        if requests
            .iter()
            .any(|q| q.request_token.is_some() && q.request_token == r.request_token)
        {
            continue;
        }
        for s in &r.sub_responses {
            obs.findings.push(Finding {
                severity: Severity::Error,
                rule: Rule::FsshttpSubresponseWithoutSubrequest,
                exchanges: vec![id],
                sentence: format!(
                    "a SubResponse with SubRequestToken {} belongs to a Response with no matching Request",
                    s.sub_request_token
                        .map_or_else(|| "(none)".to_owned(), |t| t.to_string())
                ),
                spec: SPEC_JOIN.to_owned(),
            });
        }
    }
}

/// "the SchemaLock SubRequest with SubRequestToken 2".
fn the_sub_request(sub: &crate::decode::fsshttp::SubRequest) -> String {
    format!(
        "the {} SubRequest with SubRequestToken {}",
        sub.type_.as_ref().map_or("untyped", |t| t.as_str()),
        sub.sub_request_token
            .map_or_else(|| "(none)".to_owned(), |t| t.to_string())
    )
}

fn unknown_code(obs: &mut Obs, e: Option<&ErrorCode>, element: &str) {
    let text = match e {
        Some(e) if e.category() != ErrorCategory::Unknown => return,
        Some(e) => e.as_str(),
        None => "(no ErrorCode)",
    };
    let id = obs.id;
    obs.findings.push(Finding {
        severity: Severity::Error,
        rule: Rule::FsshttpUnknownErrorCode,
        exchanges: vec![id],
        sentence: format!("{element}@ErrorCode {text:?} is not a value of ErrorCodeTypes"),
        spec: SPEC_CODES.to_owned(),
    });
}

fn cell_op(x: &FsshttpExchange, token: Option<u64>) -> CellOp {
    let mut c = CellOp::default();
    let Some(cell) = x.cells.iter().find(|c| c.sub_request_token == token) else {
        return c;
    };
    if let Some(q) = &cell.request {
        for s in &q.sub_requests {
            match s.data {
                fsshttpb::SubRequestData::PutChanges(_) => c.upload = true,
                fsshttpb::SubRequestData::QueryChanges(_) => c.download = true,
                _ => {}
            }
        }
    }
    if let Some(r) = &cell.response {
        c.fsshttpb_failed = r.error.is_some() || r.sub_responses.iter().any(|s| s.error.is_some());
        c.coherency_failure = coherency(r);
    }
    c
}

fn coherency(r: &FsshttpbResponse) -> bool {
    let cf = |e: &ResponseError| e.has_cell_error(CellErrorCode::CoherencyFailure);
    r.error.as_ref().is_some_and(cf)
        || r.sub_responses
            .iter()
            .any(|s| s.error.as_ref().is_some_and(cf))
}

fn seconds(t: &DavTimeout) -> Option<i64> {
    match t {
        DavTimeout::Second(n) => i64::try_from(*n).ok(),
        _ => None,
    }
}

fn dav_lock(w: &crate::decode::webdav::WebDavExchange) -> Option<DavLockOp> {
    let method = w.method.trim().to_ascii_uppercase();
    let req = &w.request.headers;
    let piggy = !req.x_msdavext_lock_timeout.is_empty();
    if method != "LOCK" && method != "UNLOCK" && !piggy {
        return None;
    }
    let submitted: Vec<String> = req
        .if_header
        .iter()
        .flat_map(|h| h.lock_tokens())
        .chain(req.lock_token.as_deref())
        .map(|t| t.trim().trim_matches(['<', '>']).to_owned())
        .collect();
    let unlock = method == "UNLOCK"
        || req
            .x_msdavext_lock_timeout
            .first()
            .is_some_and(|t| *t == DavTimeout::Second(0));
    let lockinfo = match &w.request.body {
        Some(DavBody::LockInfo(l)) => Some(l),
        _ => None,
    };
    let active = w.active_locks();
    let first = active.first();
    let resp = w.response.as_ref();
    let granted = resp
        .and_then(|r| r.headers.lock_token.clone())
        .or_else(|| first.and_then(|l| l.locktoken.clone()))
        .map(|t| t.trim().trim_matches(['<', '>']).to_owned());
    let timeout = first
        .and_then(|l| l.timeout.as_ref())
        .and_then(seconds)
        .or_else(|| {
            resp.and_then(|r| r.headers.x_msdavext_lock_timeout.first())
                .and_then(seconds)
        })
        .or_else(|| req.timeout.first().and_then(seconds))
        .or_else(|| req.x_msdavext_lock_timeout.first().and_then(seconds));
    Some(DavLockOp {
        file: w.url.clone(),
        refresh: !unlock && lockinfo.is_none() && !submitted.is_empty(),
        method,
        status: resp.and_then(|r| r.status),
        unlock,
        submitted,
        granted,
        timeout,
        owner: lockinfo
            .and_then(|l| l.owner.clone())
            .or_else(|| first.and_then(|l| l.owner.clone())),
        scope: lockinfo
            .and_then(|l| l.lockscope.clone())
            .or_else(|| first.and_then(|l| l.lockscope.clone())),
    })
}
