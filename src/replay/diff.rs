//! Semantic comparison of a replayed exchange with its recording, and of two sessions'
//! timelines.
//!
//! Bytes are not compared: what a client would act on is. The HTTP status; for cell
//! storage each SubResponse joined by SubRequestToken (ErrorCode, HResult, LockType,
//! CoauthStatus, ExclusiveLockReturnReason) and for Cell subrequests the FSSHTTPB status,
//! errors and shape (sub-response statuses, data element counts by type, the reassembled
//! file's size and SHA-256); for SPFileSync and WebDAV the status, the item sets
//! (names, ChangeTypes, per-resource statuses) and what the typed decoders say of the
//! answer (granted lock Timeout, lockscope, owner, error conditions, X-MSDAVEXT_ERROR,
//! the replication manifest by name and change, X-HasMoreData, item counts, and whether a
//! lock token, collblob or sync token came back). Values a server mints on its own (times,
//! GUIDs, correlation ids, health scores, ETags, TransitionIDs, storage index ids) are
//! volatile: compared only with `strict`. Any field can be ignored by name.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::decode::exchange::{DecodedExchange, DecodedRecord, Protocol};
use crate::decode::file_key::file_name;
use crate::decode::fsshttp::{SubRequest, SubRequestData, SubResponse};
use crate::decode::fsshttpb::{self as b, ErrorDetail, FsshttpbResponse};
use crate::model::Exchange;
use crate::replay::remap::Remap;
use crate::timeline::{FileTimeline, Timeline, TimelineOptions, TimelineReport};

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Field names never compared (case-insensitive), e.g. `HResult`.
    pub ignore: Vec<String>,
    /// Compare volatile values too (ETag, TransitionID, ServerCorrelationId, HealthScore,
    /// storage index ids).
    pub strict: bool,
}

impl DiffOptions {
    fn wants(&self, field: &str, volatile: bool) -> bool {
        (self.strict || !volatile) && !self.ignore.iter().any(|i| i.eq_ignore_ascii_case(field))
    }
}

/// One changed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Change {
    /// The field (`ErrorCode`, `LockType`, `status`...).
    pub field: String,
    /// The recorded value (`-` when absent).
    pub recorded: String,
    /// The replayed value (`-` when absent).
    pub replayed: String,
}

/// Everything that differs at one place of one exchange (or of the timeline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Difference {
    /// The file (last URL path segment, decoded), or the request path.
    pub file: String,
    /// The client (`ClientID {…}`, `connection N`, or `timeline`).
    pub client: String,
    /// The recorded exchange id (0 for timeline differences).
    pub exchange: u64,
    /// Where: `HTTP`, `SubRequest 2 Coauth JoinCoauthoring`, `Coauth lane {…}`...
    pub place: String,
    /// The changed fields.
    pub changes: Vec<Change>,
}

/// How one comparison runs: the options, and for two recordings (`synctap diff`) the
/// first-seen pairing of volatile values.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    opts: &'a DiffOptions,
    pairing: Option<&'a RefCell<Remap>>,
}

impl<'a> Ctx<'a> {
    fn acc(self) -> Acc<'a> {
        Acc {
            ctx: self,
            changes: Vec::new(),
        }
    }
}

struct Acc<'a> {
    ctx: Ctx<'a>,
    changes: Vec<Change>,
}

impl Acc<'_> {
    /// Records a change of `field`. A volatile value compared across two recordings
    /// (`pairing`) is the same when it pairs with its counterpart first-seen to
    /// first-seen ([`Remap::pair`]); otherwise values are compared as they are.
    fn cmp(&mut self, field: &str, old: Option<String>, new: Option<String>, volatile: bool) {
        if !self.ctx.opts.wants(field, volatile) {
            return;
        }
        let same = match (self.ctx.pairing, &old, &new) {
            (Some(p), Some(o), Some(n)) if volatile => p.borrow_mut().pair(o, n),
            _ => old == new,
        };
        if !same {
            self.changes.push(Change {
                field: field.to_owned(),
                recorded: old.unwrap_or_else(|| "-".to_owned()),
                replayed: new.unwrap_or_else(|| "-".to_owned()),
            });
        }
    }
}

/// Compares one replayed exchange with its recording (each decoded once, where it
/// entered). `client` labels the differences.
pub fn compare(
    original: &DecodedRecord,
    new: &DecodedRecord,
    client: &str,
    opts: &DiffOptions,
) -> Vec<Difference> {
    compare_in(
        original,
        new,
        client,
        Ctx {
            opts,
            pairing: None,
        },
    )
}

/// Compares two recordings' exchanges as [`compare`] does; with `strict`, volatile values
/// are the same when they pair first-seen to first-seen in `pairing` (both recordings'
/// servers minted their own).
pub fn compare_paired(
    a: &DecodedRecord,
    b: &DecodedRecord,
    client: &str,
    opts: &DiffOptions,
    pairing: &RefCell<Remap>,
) -> Vec<Difference> {
    compare_in(
        a,
        b,
        client,
        Ctx {
            opts,
            pairing: Some(pairing),
        },
    )
}

fn compare_in(
    original: &DecodedRecord,
    new: &DecodedRecord,
    client: &str,
    ctx: Ctx<'_>,
) -> Vec<Difference> {
    let (od, nd) = (&original.decoded, &new.decoded);
    let (original, new) = (&original.exchange, &new.exchange);
    let file = file_of(original, od);
    let mut out = Vec::new();
    let mut push = |place: String, changes: Vec<Change>| {
        if !changes.is_empty() {
            out.push(Difference {
                file: file.clone(),
                client: client.to_owned(),
                exchange: original.id,
                place,
                changes,
            });
        }
    };
    let mut http = ctx.acc();
    http.cmp(
        "status",
        Some(status_of(original)),
        Some(status_of(new)),
        false,
    );
    push(format!("{} {}", method_of(original), "HTTP"), http.changes);
    match od.protocol() {
        Protocol::Fsshttp => {
            for (place, changes) in compare_cell(od, nd, ctx) {
                push(place, changes);
            }
        }
        Protocol::SpFileSync | Protocol::WebDav => {
            let mut a = ctx.acc();
            let (os, ns) = (item_sets(od), item_sets(nd));
            for (i, field) in ["items", "ChangeType", "resource status"]
                .iter()
                .enumerate()
            {
                a.cmp(field, os[i].clone(), ns[i].clone(), false);
            }
            let (of, nf) = (typed_fields(od), typed_fields(nd));
            for (field, volatile) in TYPED_FIELDS {
                let get = |f: &BTreeMap<&str, String>| f.get(field).cloned();
                a.cmp(field, get(&of), get(&nf), *volatile);
            }
            push(
                format!("{} {}", method_of(original), od.protocol().name()),
                a.changes,
            );
        }
        Protocol::Http => {}
    }
    out
}

fn compare_cell(
    od: &DecodedExchange,
    nd: &DecodedExchange,
    ctx: Ctx<'_>,
) -> Vec<(String, Vec<Change>)> {
    let mut out = Vec::new();
    let Some(of) = od.fsshttp() else { return out };
    let nf = nd.fsshttp();
    let Some(oreq) = &of.request else { return out };
    let new_subs: BTreeMap<u64, &SubResponse> = nf
        .and_then(|f| f.response.as_ref())
        .map(|r| {
            r.sub_responses()
                .filter_map(|(_, s)| Some((s.sub_request_token?, s)))
                .collect()
        })
        .unwrap_or_default();
    let old_subs: BTreeMap<u64, &SubResponse> = of
        .response
        .as_ref()
        .map(|r| {
            r.sub_responses()
                .filter_map(|(_, s)| Some((s.sub_request_token?, s)))
                .collect()
        })
        .unwrap_or_default();
    let mut a = ctx.acc();
    let fault = |f: Option<&crate::decode::fsshttp::ResponseEnvelope>| {
        f.and_then(|r| r.fault.as_ref())
            .map(|f| format!("{f:?}").chars().take(80).collect())
    };
    a.cmp(
        "SOAP fault",
        fault(of.response.as_ref()).map(|_: String| "fault".to_owned()),
        fault(nf.and_then(|f| f.response.as_ref())).map(|_: String| "fault".to_owned()),
        false,
    );
    let responses = |f: Option<&crate::decode::fsshttp::ResponseEnvelope>| {
        f.and_then(|r| r.response_collection.as_ref())
            .map(|c| c.responses.clone())
            .unwrap_or_default()
    };
    let (ors, nrs) = (
        responses(of.response.as_ref()),
        responses(nf.and_then(|f| f.response.as_ref())),
    );
    for (i, o) in ors.iter().enumerate() {
        let n = nrs.get(i);
        a.cmp(
            "Response ErrorCode",
            o.error_code.as_ref().map(ToString::to_string),
            n.and_then(|n| n.error_code.as_ref())
                .map(ToString::to_string),
            false,
        );
        a.cmp(
            "HealthScore",
            o.health_score.map(|h| h.to_string()),
            n.and_then(|n| n.health_score).map(|h| h.to_string()),
            true,
        );
    }
    if !a.changes.is_empty() {
        out.push(("SOAP".to_owned(), a.changes));
    }
    for (_, sr) in oreq.sub_requests() {
        let Some(token) = sr.sub_request_token else {
            continue;
        };
        let place = sub_label(token, sr);
        let mut a = ctx.acc();
        let (o, n) = (old_subs.get(&token), new_subs.get(&token));
        match (o, n) {
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                a.cmp(
                    "SubResponse",
                    o.map(|_| "present".into()),
                    n.map(|_| "present".into()),
                    false,
                );
            }
            (Some(o), Some(n)) => {
                for (field, get, volatile) in SUB_RESPONSE_FIELDS {
                    a.cmp(field, get(o), get(n), *volatile);
                }
            }
        }
        let cell = |f: Option<&crate::decode::exchange::FsshttpExchange>| {
            f.and_then(|f| {
                f.cells
                    .iter()
                    .find(|c| c.sub_request_token == Some(token))
                    .and_then(|c| c.response.clone())
            })
        };
        let (oc, nc) = (cell(Some(of)), cell(nf));
        if oc.is_some() || nc.is_some() {
            let (os, ns) = (oc.as_ref().map(cell_shape), nc.as_ref().map(cell_shape));
            for (i, field) in CELL_FIELDS.iter().enumerate() {
                a.cmp(
                    field.0,
                    os.as_ref().and_then(|s| s[i].clone()),
                    ns.as_ref().and_then(|s| s[i].clone()),
                    field.1,
                );
            }
        }
        if !a.changes.is_empty() {
            out.push((place, a.changes));
        }
    }
    out
}

/// The FSSHTTPB fields compared, with their volatility.
/// A compared field of a SubResponse: its name, how to read it, whether it is volatile.
type SubResponseField = (&'static str, fn(&SubResponse) -> Option<String>, bool);

/// The SubResponse fields compared, in report order.
const SUB_RESPONSE_FIELDS: &[SubResponseField] = &[
    (
        "ErrorCode",
        |s| s.error_code.as_ref().map(ToString::to_string),
        false,
    ),
    (
        "HResult",
        |s| s.h_result.as_ref().map(|h| h.raw.clone()),
        false,
    ),
    ("ErrorMessage", |s| s.error_message.clone(), true),
    (
        "ServerCorrelationId",
        |s| s.server_correlation_id.clone(),
        true,
    ),
    (
        "LockType",
        |s| {
            Some(
                s.sub_response_data
                    .as_ref()?
                    .lock_type
                    .as_ref()?
                    .as_str()
                    .to_owned(),
            )
        },
        false,
    ),
    (
        "CoauthStatus",
        |s| {
            Some(
                s.sub_response_data
                    .as_ref()?
                    .coauth_status
                    .as_ref()?
                    .as_str()
                    .to_owned(),
            )
        },
        false,
    ),
    (
        "ExclusiveLockReturnReason",
        |s| {
            Some(
                s.sub_response_data
                    .as_ref()?
                    .exclusive_lock_return_reason
                    .as_ref()?
                    .as_str()
                    .to_owned(),
            )
        },
        false,
    ),
    ("Etag", |s| s.sub_response_data.as_ref()?.etag.clone(), true),
    (
        "TransitionID",
        |s| s.sub_response_data.as_ref()?.transition_id.clone(),
        true,
    ),
];

const CELL_FIELDS: &[(&str, bool)] = &[
    ("FSSHTTPB status", false),
    ("FSSHTTPB error", false),
    ("FSSHTTPB sub-responses", false),
    ("data elements", false),
    ("file", false),
    ("storage index", true),
];

fn cell_shape(r: &FsshttpbResponse) -> Vec<Option<String>> {
    let err = |e: &Option<b::ResponseError>| {
        e.as_ref().map(|e| match &e.detail {
            ErrorDetail::CellError { name, .. } | ErrorDetail::ProtocolError { name, .. } => {
                name.clone()
            }
            ErrorDetail::Win32Error { code } => format!("Win32 {code:#x}"),
            ErrorDetail::HresultError { code } => format!("HRESULT {code:#010x}"),
            ErrorDetail::None | ErrorDetail::Unknown { .. } => "error".to_owned(),
        })
    };
    let subs: Vec<String> = r
        .sub_responses
        .iter()
        .map(|s| {
            let kind = match s.data {
                b::SubResponseData::QueryChanges(_) => "QueryChanges",
                b::SubResponseData::PutChanges(_) => "PutChanges",
                b::SubResponseData::QueryAccess { .. } => "QueryAccess",
                b::SubResponseData::AllocateExtendedGuidRange(_) => "AllocateExtendedGuidRange",
                _ => "other",
            };
            match err(&s.error) {
                Some(e) => format!("{kind} {e}"),
                None => format!("{kind} ok"),
            }
        })
        .collect();
    let elements = r.data_element_package.as_ref().map(|p| {
        let mut by_type: BTreeMap<u64, usize> = BTreeMap::new();
        for e in &p.elements {
            *by_type.entry(e.element_type).or_default() += 1;
        }
        by_type
            .iter()
            .map(|(t, n)| format!("{n}×type {t:#x}"))
            .collect::<Vec<_>>()
            .join(" ")
    });
    let file = r
        .data_element_package
        .as_ref()
        .and_then(b::extract_file)
        .map(|f| format!("{} bytes sha256 {}", f.len(), &sha256(&f)[..12]));
    let index = r.sub_responses.iter().find_map(|s| match &s.data {
        b::SubResponseData::QueryChanges(q) => Some(format!("{:?}", q.storage_index_id)),
        b::SubResponseData::PutChanges(p) => p
            .applied
            .as_ref()
            .map(|a| format!("{:?}", a.applied_storage_index_id)),
        _ => None,
    });
    vec![
        Some(r.status.to_string()),
        err(&r.error),
        Some(subs.join(", ")),
        elements,
        file,
        index,
    ]
}

fn sha256(b: &[u8]) -> String {
    crate::util::hex(ring::digest::digest(&ring::digest::SHA256, b).as_ref())
}

fn sub_label(token: u64, sr: &SubRequest) -> String {
    format!("SubRequest {token} {}", sub_operation(sr))
}

/// The request type a subrequest's data names (CoauthRequestType, SchemaLockRequestType,
/// ExclusiveLockRequestType or EditorsTableRequestType), if any.
pub fn request_type(d: &SubRequestData) -> Option<&str> {
    d.coauth_request_type
        .as_ref()
        .map(|v| v.as_str())
        .or(d.schema_lock_request_type.as_ref().map(|v| v.as_str()))
        .or(d.exclusive_lock_request_type.as_ref().map(|v| v.as_str()))
        .or(d.editors_table_request_type.as_ref().map(|v| v.as_str()))
}

/// A subrequest's type and request type (`Coauth JoinCoauthoring`, `Cell`).
pub fn sub_operation(sr: &SubRequest) -> String {
    let ty = sr.type_.as_ref().map_or("?", |t| t.as_str());
    match sr.sub_request_data.as_ref().and_then(request_type) {
        Some(op) => format!("{ty} {op}"),
        None => ty.to_owned(),
    }
}

/// The typed WebDAV and SPFileSync fields compared, and whether each is volatile.
const TYPED_FIELDS: &[(&str, bool)] = &[
    ("Timeout", false),
    ("lockscope", false),
    ("locktype", false),
    ("Depth", false),
    ("owner", false),
    ("Lock-Token", false),
    ("error condition", false),
    ("X-MSDAVEXT_ERROR", false),
    ("collblob", false),
    ("manifest", false),
    ("X-HasMoreData", false),
    ("item count", false),
    ("X-SyncToken", false),
];

/// What the typed decoders say of a WebDAV or SPFileSync response, by field name.
/// Server-minted values (lock tokens, collblobs, sync tokens) are reduced to whether
/// they are there; manifest entries to `name change` pairs in name order.
fn typed_fields(d: &DecodedExchange) -> BTreeMap<&'static str, String> {
    use crate::decode::spfilesync::SyncBody;
    use crate::decode::webdav::{DavBody, DavTimeout};
    let mut f = BTreeMap::new();
    let timeout = |t: &DavTimeout| match t {
        DavTimeout::Infinite => "Infinite".to_owned(),
        DavTimeout::Second(n) => format!("Second-{n}"),
        DavTimeout::Invalid(s) => s.clone(),
    };
    if let Some(w) = d.webdav() {
        if let Some(r) = &w.response {
            if let Some(t) = r.headers.timeout.first() {
                f.insert("Timeout", timeout(t));
            }
            if r.headers.lock_token.is_some() {
                f.insert("Lock-Token", "present".to_owned());
            }
            if let Some(e) = &r.headers.x_msdavext_error {
                f.insert(
                    "X-MSDAVEXT_ERROR",
                    e.code.map_or_else(|| e.text.clone(), |c| c.to_string()),
                );
            }
            match &r.body {
                Some(DavBody::Prop(p)) => {
                    if let Some(l) = p.lockdiscovery.first() {
                        let mut put = |k, v: &Option<String>| {
                            if let Some(v) = v {
                                f.insert(k, v.clone());
                            }
                        };
                        put("lockscope", &l.lockscope);
                        put("locktype", &l.locktype);
                        put("Depth", &l.depth);
                        put("owner", &l.owner);
                        if let Some(t) = &l.timeout {
                            f.entry("Timeout").or_insert_with(|| timeout(t));
                        }
                    }
                }
                Some(DavBody::Error(e)) => {
                    f.insert("error condition", e.conditions.join(", "));
                }
                _ => {}
            }
        }
        if let Some(m) = &w.manifest {
            if m.collblob.is_some() {
                f.insert("collblob", "present".to_owned());
            }
            let mut entries: Vec<String> = m
                .changes
                .iter()
                .map(|c| {
                    let name = c.href.as_deref().map_or_else(|| "?".to_owned(), file_name);
                    format!("{name} {:?}", c.change_type)
                })
                .collect();
            entries.sort();
            f.insert("manifest", entries.join(", "));
        }
    }
    if let Some(s) = d.spfilesync() {
        if let Some(r) = &s.response {
            if let Some(m) = r.has_more_data() {
                f.insert("X-HasMoreData", m.to_string());
            }
            if r.sync_token().is_some() {
                f.insert("X-SyncToken", "present".to_owned());
            }
            let count = match &r.body {
                Some(SyncBody::Folder(i) | SyncBody::Document(i)) => Some(i.items.len()),
                Some(SyncBody::Items(v)) => Some(v.len()),
                _ => None,
            };
            if let Some(n) = count {
                f.insert("item count", n.to_string());
            }
        }
    }
    f
}

/// The item sets of a WebDAV or SPFileSync response, from its typed model: the names
/// (multistatus, error and lock-root hrefs by last segment; SPFileSync items'
/// `RelationshipName`), the ChangeTypes, and the per-resource statuses of a
/// multistatus (RFC 4918 14.28: `HTTP/1.1 NNN`), each as a sorted, counted set.
/// Server-minted lock tokens (`opaquelocktoken:` hrefs) are left out.
fn item_sets(d: &DecodedExchange) -> [Option<String>; 3] {
    use crate::decode::spfilesync::{Item, SyncBody};
    use crate::decode::webdav::DavBody;
    let (mut names, mut changes, mut statuses) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(body) = d
        .webdav()
        .and_then(|w| w.response.as_ref())
        .and_then(|r| r.body.as_ref())
    {
        match body {
            DavBody::MultiStatus(ms) => {
                for r in &ms.response {
                    names.extend(r.href.iter().map(String::as_str));
                    changes.extend(r.changetype.as_deref());
                    statuses.extend(r.status.as_deref());
                    statuses.extend(r.propstat.iter().filter_map(|p| p.status.as_deref()));
                }
            }
            DavBody::Prop(p) => {
                names.extend(p.lockdiscovery.iter().filter_map(|l| l.lockroot.as_deref()));
            }
            DavBody::Error(e) => names.extend(e.href.iter().map(String::as_str)),
            _ => {}
        }
    }
    if let Some(body) = d
        .spfilesync()
        .and_then(|s| s.response.as_ref())
        .and_then(|r| r.body.as_ref())
    {
        fn walk<'a>(b: &'a SyncBody, out: &mut Vec<&'a Item>) {
            match b {
                SyncBody::Folder(i) | SyncBody::Document(i) => {
                    out.push(i);
                    out.extend(i.descendants());
                }
                SyncBody::Items(v) => {
                    for i in v {
                        out.push(i);
                        out.extend(i.descendants());
                    }
                }
                // Parts nest one level: a part's body is never multipart again.
                SyncBody::Multipart(mp) => {
                    for p in mp.parts.iter().filter_map(|p| p.body.as_deref()) {
                        if !matches!(p, SyncBody::Multipart(_)) {
                            walk(p, out);
                        }
                    }
                }
                _ => {}
            }
        }
        let mut items = Vec::new();
        walk(body, &mut items);
        for i in items {
            names.extend(i.get("RelationshipName"));
            changes.extend(i.get("ChangeType"));
        }
    }
    let names = names
        .into_iter()
        .filter(|v| !v.starts_with("opaquelocktoken:"))
        .map(|v| v.rsplit('/').find(|s| !s.is_empty()).unwrap_or(v));
    let statuses = statuses
        .into_iter()
        .filter_map(|s| s.split_whitespace().nth(1).filter(|c| c.len() == 3));
    [set_of(names), set_of(changes.into_iter()), set_of(statuses)]
}

/// A sorted set with counts (`a.txt×2, b.txt`), `None` when empty.
fn set_of<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut set: BTreeMap<&str, usize> = BTreeMap::new();
    for v in values {
        *set.entry(v).or_default() += 1;
    }
    if set.is_empty() {
        return None;
    }
    Some(
        set.iter()
            .map(|(k, n)| {
                if *n > 1 {
                    format!("{k}×{n}")
                } else {
                    (*k).to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn status_of(x: &Exchange) -> String {
    match (&x.response, &x.error) {
        (Some(r), _) => r.status.to_string(),
        (None, Some(e)) => format!("error ({e})"),
        (None, None) => "no response".to_owned(),
    }
}

fn method_of(x: &Exchange) -> &str {
    x.request.as_ref().map_or("", |r| r.method.as_str())
}

/// The file an exchange is about: the cell storage `Url`'s last segment, else the
/// request path's, percent-decoded.
pub fn file_of(x: &Exchange, d: &DecodedExchange) -> String {
    let http_url = x.request.as_ref().map_or("", |r| r.url.as_str());
    file_name(d.file_url(http_url))
}

/// The timeline of a sequence of decoded exchanges.
pub fn timeline_of<'a>(xs: impl IntoIterator<Item = &'a DecodedRecord>) -> TimelineReport {
    let mut t = Timeline::new(TimelineOptions::default());
    for x in xs {
        t.push(&x.exchange, &x.decoded);
    }
    t.report()
}

/// Each file's lanes (by file name and `KIND lane HOLDER`) with their spans' granting
/// operations and how they ended. WebDAV lock lanes are numbered in order (their holders
/// are server-minted lock tokens); other holders go through `holder` (identity for a
/// replay, the other recording's ClientIDs for a diff).
pub fn lane_summaries<F: std::borrow::Borrow<FileTimeline>>(
    files: impl IntoIterator<Item = F>,
    holder: &dyn Fn(&str) -> String,
) -> BTreeMap<(String, String), String> {
    let mut m = BTreeMap::new();
    for f in files {
        let f = f.borrow();
        let name = file_name(&f.url);
        let mut dav = 0;
        for l in &f.lanes {
            let who = if l.kind == crate::timeline::LaneKind::WebDavLock {
                dav += 1;
                format!("#{dav}")
            } else {
                holder(&l.holder)
            };
            let spans: Vec<String> = l
                .spans
                .iter()
                .map(|s| format!("{}→{}", s.granted_by, s.ended.word()))
                .collect();
            m.insert(
                (name.clone(), format!("{} lane {who}", l.kind.name())),
                if spans.is_empty() {
                    "no spans".to_owned()
                } else {
                    spans.join(", ")
                },
            );
        }
    }
    m
}

/// Compares two sessions' timelines: per file (by name) and lane, the spans' granting
/// operations and how they ended ([`lane_summaries`]).
pub fn compare_timelines(old: &TimelineReport, new: &TimelineReport) -> Vec<Difference> {
    let same = |h: &str| h.to_owned();
    compare_lanes(
        &lane_summaries(&old.files, &same),
        &lane_summaries(&new.files, &same),
    )
}

/// The differences between two sets of [`lane_summaries`].
pub fn compare_lanes(
    a: &BTreeMap<(String, String), String>,
    b: &BTreeMap<(String, String), String>,
) -> Vec<Difference> {
    let keys: BTreeSet<&(String, String)> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (o, n) = (a.get(k), b.get(k));
            (o != n).then(|| Difference {
                file: k.0.clone(),
                client: "timeline".to_owned(),
                exchange: 0,
                place: k.1.clone(),
                changes: vec![Change {
                    field: "spans".to_owned(),
                    recorded: o.cloned().unwrap_or_else(|| "-".to_owned()),
                    replayed: n.cloned().unwrap_or_else(|| "-".to_owned()),
                }],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::{Headers, Request, Response};

    fn h(v: &[(&str, &str)]) -> Headers {
        Headers::from(v)
    }

    fn dav_exchange(
        method: &str,
        url: &str,
        req: Headers,
        req_body: Vec<u8>,
        status: u16,
        resp: Headers,
        resp_body: Vec<u8>,
    ) -> DecodedRecord {
        let request = Request::new(method, url, req, req_body);
        let response = Response::new(status, resp, resp_body);
        DecodedRecord::new(Exchange {
            client_addr: "127.0.0.1:50000".to_owned(),
            server: "dav.example:443".to_owned(),
            ..Exchange::http(1, request, Some(response))
        })
    }

    /// Issue 14.3: a target answering a replication SEARCH with an href holding `%` before
    /// a multibyte character (`N%Kä`) made the comparison panic ("byte index is not a char
    /// boundary"). It is now a manifest difference like any other.
    #[test]
    fn hostile_href_with_percent_before_multibyte_character(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/webdav/");
        let search = std::fs::read(format!("{dir}search_repl_initial.xml"))?;
        let manifest = std::fs::read_to_string(format!("{dir}manifest_207.xml"))?;
        let hostile = manifest.replace("Inbox/Budget.EML", "Inbox/N%K\u{e4}");
        assert_ne!(hostile, manifest);
        let x = |body: &str| {
            dav_exchange(
                "SEARCH",
                "http://mail.contoso.com/exchange/adele/Inbox/",
                h(&[("Content-Type", "text/xml"), ("Depth", "1")]),
                search.clone(),
                207,
                h(&[("Content-Type", "text/xml")]),
                body.as_bytes().to_vec(),
            )
        };
        let d = compare(&x(&manifest), &x(&hostile), "c", &DiffOptions::default());
        let manifest_change = d
            .iter()
            .flat_map(|d| &d.changes)
            .find(|c| c.field == "manifest")
            .ok_or("no manifest difference")?;
        assert!(
            manifest_change.replayed.contains("N%K\u{e4}"),
            "{manifest_change:?}"
        );
        assert!(
            manifest_change.recorded.contains("Budget.EML"),
            "{manifest_change:?}"
        );
        Ok(())
    }

    fn lock(timeout: &str, scope: &str, token: &str) -> DecodedRecord {
        use crate::decode::webdav::{encode_lockdiscovery, ActiveLock, DavTimeout};
        let secs = timeout.trim_start_matches("Second-").parse().unwrap_or(0);
        let body = encode_lockdiscovery(&[ActiveLock {
            lockscope: Some(scope.to_owned()),
            locktype: Some("write".to_owned()),
            depth: Some("0".to_owned()),
            owner: Some("alice".to_owned()),
            timeout: Some(DavTimeout::Second(secs)),
            locktoken: Some(token.to_owned()),
            ..ActiveLock::default()
        }]);
        let lock_token = format!("<{token}>");
        dav_exchange(
            "LOCK",
            "https://dav.example/docs/Plan.docx",
            h(&[("Timeout", "Second-3600"), ("Depth", "0")]),
            br#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>alice</D:owner></D:lockinfo>"#.to_vec(),
            200,
            h(&[
                ("Lock-Token", lock_token.as_str()),
                ("Timeout", timeout),
                ("Content-Type", "text/xml; charset=utf-8"),
            ]),
            body,
        )
    }

    /// A WebDAV LOCK is compared through its decoded answer: a new lock token is not a
    /// difference, a shorter granted Timeout or another lockscope is.
    #[test]
    fn webdav_lock_answers_are_compared_typed() {
        let opts = DiffOptions::default();
        let a = lock("Second-3600", "exclusive", "opaquelocktoken:aaaa-1");
        let same = lock("Second-3600", "exclusive", "opaquelocktoken:bbbb-2");
        assert_eq!(compare(&a, &same, "c", &opts), vec![]);
        let other = lock("Second-600", "shared", "opaquelocktoken:cccc-3");
        let d = compare(&a, &other, "c", &opts);
        assert_eq!(d.len(), 1, "{d:?}");
        let fields: Vec<(&str, &str, &str)> = d[0]
            .changes
            .iter()
            .map(|c| (c.field.as_str(), c.recorded.as_str(), c.replayed.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("Timeout", "Second-3600", "Second-600"),
                ("lockscope", "exclusive", "shared"),
            ]
        );
        assert_eq!(d[0].place, "LOCK WebDAV");
    }

    #[test]
    fn sets_are_sorted_and_counted() {
        let body = br#"<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">
<D:response><D:href>/s/a.txt</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>
<D:response><D:href>/s/b.txt</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
<D:response><D:href>/s/a.txt</D:href><D:status>HTTP/1.1 200 OK</D:status></D:response>
</D:multistatus>"#;
        let x = dav_exchange(
            "PROPFIND",
            "https://dav.example/s/",
            h(&[("Depth", "1")]),
            Vec::new(),
            207,
            h(&[("Content-Type", "text/xml")]),
            body.to_vec(),
        );
        let [names, changes, statuses] = item_sets(&x.decoded);
        assert_eq!(names.as_deref(), Some("a.txt×2, b.txt"));
        assert_eq!(changes, None);
        assert_eq!(statuses.as_deref(), Some("200×2, 404"));
    }
}
