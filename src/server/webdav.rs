//! WebDAV for the reference server (RFC 4918, MS-WDV): replication `SEARCH` with
//! `collblob` manifests and `resourcetag`s that change when a file changes, `PROPFIND`,
//! `GET`/`PUT` with the `ResourceTag` header and `If: (<resourcetag>)` checks, and RFC 4918
//! `LOCK`/`UNLOCK` sharing the file's lock with MS-FSSHTTP (a WebDAV lock is an exclusive
//! lock whose id is the lock token).
//!
//! Tests run against this server, so it is as strict as RFC 4918 and MS-WDV are: the `If`
//! header is evaluated list by list against the resource each list names (RFC 4918 10.4),
//! a write to a locked file needs that file's lock token (RFC 4918 7.5, MS-WDV 3.2.5.2), a
//! LOCK body must be a well-formed `lockinfo` (RFC 4918 8.2, 14.11), and UNLOCK needs
//! `Lock-Token` (RFC 4918 9.11.1).
//!
//! Bodies are written with `crate::decode::webdav`'s encoders and requests read with its
//! decoder. The collection is the document library `{site}/Shared Documents/`.

use crate::decode::webdav::{
    self as dav, ActiveLock, DavBody, DavTimeout, MultiStatus, MultiStatusResponse, Prop, PropStat,
    Property, Repl,
};

use super::store::{guid, Document, Lock, Store, Version};

/// An answer: status, extra headers, body.
pub(crate) type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

const REPL_NS: &str = "http://schemas.microsoft.com/repl/";
const LIBRARY: &str = "/shared documents/";

/// The `resourcetag` of a document's current state.
pub(crate) fn resourcetag(seed: u64, d: &Document) -> String {
    format!(
        "rt:{}:{}",
        guid(seed, 0xD0C, d.doc_id)
            .to_string()
            .trim_matches(['{', '}'])
            .to_ascii_lowercase(),
        d.current().number
    )
}

fn repl_uid(seed: u64, d: &Document) -> String {
    format!(
        "rid:{}",
        guid(seed, 0xD0C, d.doc_id)
            .to_string()
            .trim_matches(['{', '}'])
            .to_ascii_lowercase()
    )
}

/// What a WebDAV request needs.
pub(crate) struct DavRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// The URL path (percent-encoded, as sent).
    pub path: &'a str,
    /// The header fields.
    pub headers: &'a [(String, String)],
    /// The whole body.
    pub body: &'a [u8],
    /// The caller's login.
    pub user: &'a str,
    /// The time (ms since the epoch).
    pub now_ms: u64,
    /// The server seed.
    pub seed: u64,
}

impl DavRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        crate::decode::text::value_of(self.headers.iter().map(|(k, v)| (k, v)), name)
    }
}

/// Answers a WebDAV request on the library, or `None` when it is not one.
pub(crate) fn answer(store: &mut Store, r: &DavRequest<'_>) -> Option<Answer> {
    let lower = r.path.to_ascii_lowercase();
    let decoded = crate::decode::text::percent_decode(&lower);
    let at = decoded.find(LIBRARY)?;
    let collection_path = r.path;
    let is_collection = decoded.len() == at + LIBRARY.len();
    match (r.method, is_collection) {
        ("SEARCH", true) => Some(search(store, r, collection_path)),
        ("PROPFIND", true) => Some(propfind(store, r, collection_path)),
        ("OPTIONS", _) => Some((
            200,
            vec![
                ("dav", "1, 2".to_owned()),
                ("ms-author-via", "DAV".to_owned()),
                (
                    "allow",
                    "OPTIONS, GET, PUT, PROPFIND, SEARCH, LOCK, UNLOCK".to_owned(),
                ),
                (
                    "public-extension",
                    "http://schemas.microsoft.com/repl-2".to_owned(),
                ),
            ],
            Vec::new(),
        )),
        (_, true) => Some((405, Vec::new(), Vec::new())),
        ("GET", false) => Some(get(store, r)),
        ("PUT", false) => Some(put(store, r)),
        ("LOCK", false) => Some(lock(store, r)),
        ("UNLOCK", false) => Some(unlock(store, r)),
        _ => None,
    }
}

fn multistatus(ms: &MultiStatus) -> Answer {
    (
        207,
        vec![("content-type", "text/xml; charset=\"utf-8\"".to_owned())],
        dav::encode_multistatus(ms),
    )
}

fn prop(name: &str, ns: &str, value: String) -> Property {
    Property {
        namespace: ns.to_owned(),
        name: name.to_owned(),
        value: Some(value),
        xml: None,
    }
}

fn entry(seed: u64, d: &Document, collection: &str, changetype: bool) -> MultiStatusResponse {
    MultiStatusResponse {
        href: vec![format!(
            "{}{}",
            collection,
            crate::decode::text::percent_encode(&d.name)
        )],
        propstat: vec![PropStat {
            prop: Prop {
                lockdiscovery: Vec::new(),
                properties: vec![
                    prop("resourcetag", REPL_NS, resourcetag(seed, d)),
                    prop("repl-uid", REPL_NS, repl_uid(seed, d)),
                    prop("getcontentlength", "DAV:", d.content().len().to_string()),
                    prop("displayname", "DAV:", d.name.clone()),
                ],
            },
            status: Some("HTTP/1.1 200 OK".to_owned()),
        }],
        changetype: changetype.then(|| "change".to_owned()),
        ..MultiStatusResponse::default()
    }
}

/// `SEARCH` with `repl/collblob`: a manifest of the documents changed since the collblob
/// (`cb:<change number>`; empty = everything), and the new collblob.
fn search(store: &Store, r: &DavRequest<'_>, collection: &str) -> Answer {
    let repl = match dav::decode_body(r.body).0 {
        Some(DavBody::SearchRequest(s)) => s.repl,
        _ => None,
    };
    let Some(repl) = repl else {
        return (
            400,
            Vec::new(),
            b"a replication SEARCH needs repl\n".to_vec(),
        );
    };
    let blob = repl.collblob.unwrap_or_default();
    let since = if blob.trim().is_empty() {
        0
    } else {
        match blob
            .trim()
            .strip_prefix("cb:")
            .and_then(|n| n.parse::<u64>().ok())
        {
            Some(n) => n,
            // An invalid collblob: the client must start over.
            None => return (409, Vec::new(), b"invalid collblob\n".to_vec()),
        }
    };
    let mut changed: Vec<&Document> = store.docs.values().filter(|d| d.change > since).collect();
    changed.sort_by_key(|d| d.change);
    multistatus(&MultiStatus {
        repl: Some(Repl {
            collblob: Some(format!("cb:{}", store.change_counter)),
            resourcetaglist: Vec::new(),
        }),
        response: changed
            .iter()
            .map(|d| entry(r.seed, d, collection, true))
            .collect(),
        ..MultiStatus::default()
    })
}

fn propfind(store: &Store, r: &DavRequest<'_>, collection: &str) -> Answer {
    multistatus(&MultiStatus {
        response: store
            .docs
            .values()
            .map(|d| entry(r.seed, d, collection, false))
            .collect(),
        ..MultiStatus::default()
    })
}

/// What the `If` header of a request says about the resource it addresses.
struct IfCheck {
    /// False when the header is present and no list holds: RFC 4918 10.4.1, "the request
    /// MUST fail with a 412 (Precondition Failed) status".
    holds: bool,
    /// State tokens (lock tokens, resourcetags) named for the request's own resource, in
    /// untagged lists or lists tagged with its URL: the lock tokens "submitted"
    /// (RFC 4918 7.5, 10.4.1).
    submitted: Vec<String>,
}

/// Evaluates the `If` header (RFC 4918 10.4.2–10.4.4): a tagged list applies to the
/// resource its tag names (10.4.2), an untagged one to the request URL; a list holds when
/// all its conditions do (`Not` inverts one); a state token matches a resource when it is
/// the token of a lock on it (10.4.4), or its resourcetag or repl-uid (Exchange WebDAV
/// replication, `If: (<resourcetag>)`). This server sends no entity tags on WebDAV
/// resources, so an entity-tag condition never matches; nor does an unmapped resource's
/// list (10.4.3). Without an `If` header the check holds and submits nothing.
fn check_if(store: &Store, r: &DavRequest<'_>) -> IfCheck {
    let Some(v) = r.header("if") else {
        return IfCheck {
            holds: true,
            submitted: Vec::new(),
        };
    };
    let own = doc_key_in_library(r.path);
    let mut holds = false;
    let mut submitted = Vec::new();
    for list in dav::parse_if(v).lists {
        let target = match &list.resource {
            Some(tag) => doc_key_in_library(tag),
            None => own.clone(),
        };
        if target.is_some() && target == own {
            submitted.extend(
                list.conditions
                    .iter()
                    .filter(|c| !c.not)
                    .filter_map(|c| c.state_token.clone()),
            );
        }
        let state = target
            .as_deref()
            .and_then(|k| store.docs.get(k))
            .map(|d| state_tokens(r.seed, d, r.now_ms));
        let list_holds = state.as_ref().is_some_and(|state| {
            !list.conditions.is_empty()
                && list.conditions.iter().all(|c| {
                    let matches = c.state_token.as_ref().is_some_and(|t| state.contains(t));
                    matches != c.not
                })
        });
        holds |= list_holds;
    }
    IfCheck { holds, submitted }
}

/// The state tokens of a document now: its live WebDAV/exclusive lock token, its
/// resourcetag and its repl-uid.
fn state_tokens(seed: u64, d: &Document, now_ms: u64) -> Vec<String> {
    let mut out = vec![resourcetag(seed, d), repl_uid(seed, d)];
    if let Lock::Exclusive { id, expires, .. } = &d.lock {
        if *expires > now_ms {
            out.push(id.clone());
        }
    }
    out
}

/// The store key of a URL or path inside the library, `None` for anything else (another
/// folder, another site, the library itself).
fn doc_key_in_library(url: &str) -> Option<String> {
    // An absolute URL (`If` tags are absolute URIs, RFC 4918 10.4.2): keep its path.
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => url,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let decoded = crate::decode::text::percent_decode(&path.to_ascii_lowercase());
    let at = decoded.find(LIBRARY)?;
    let name = &decoded[at + LIBRARY.len()..];
    (!name.trim_end_matches('/').is_empty()).then(|| super::store::doc_key(path))
}

fn lock_token(r: &DavRequest<'_>) -> Option<String> {
    r.header("lock-token").map(|t| {
        t.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned()
    })
}

fn get(store: &mut Store, r: &DavRequest<'_>) -> Answer {
    if let Some(d) = store.find_mut(r.path) {
        d.expire(r.now_ms);
    }
    let holds = check_if(store, r).holds;
    let Some(d) = store.find_mut(r.path) else {
        return (404, Vec::new(), b"not found\n".to_vec());
    };
    if !holds {
        return (412, Vec::new(), Vec::new());
    }
    (
        200,
        vec![
            ("content-type", "application/octet-stream".to_owned()),
            ("resourcetag", resourcetag(r.seed, d)),
            ("repl-uid", repl_uid(r.seed, d)),
        ],
        d.content().to_vec(),
    )
}

/// `PUT`: the `If` header must hold (412 otherwise; a stale `If: (<resourcetag>)` is the
/// replication conflict); a `Lock-Token` header (MS-WDV 2.2.4.2) must name this file's
/// lock (412 otherwise: MS-WDV 3.2.5.2, "SHOULD fail the request if the token does not
/// match or the file is not locked"); a locked file needs its lock token submitted in `If`
/// or `Lock-Token` (423 `lock-token-submitted` otherwise, RFC 4918 7.5 and 16).
fn put(store: &mut Store, r: &DavRequest<'_>) -> Answer {
    if let Some(d) = store.find_mut(r.path) {
        d.expire(r.now_ms);
    }
    let cond = check_if(store, r);
    let Some(d) = store.find_mut(r.path) else {
        return (
            409,
            Vec::new(),
            b"creating files over WebDAV is not supported\n".to_vec(),
        );
    };
    if !cond.holds {
        return (412, Vec::new(), Vec::new());
    }
    let header_token = lock_token(r);
    let lock_id = match &d.lock {
        Lock::Exclusive { id, .. } => Some(id.as_str()),
        _ => None,
    };
    if header_token.is_some() && header_token.as_deref() != lock_id {
        return (412, Vec::new(), Vec::new());
    }
    let allowed = match &d.lock {
        Lock::None => true,
        Lock::Exclusive { id, .. } => {
            cond.submitted.contains(id) || header_token.as_deref() == Some(id.as_str())
        }
        Lock::Shared { .. } => false,
    };
    if !allowed {
        return (
            423,
            vec![("content-type", "text/xml; charset=\"utf-8\"".to_owned())],
            br#"<?xml version="1.0" encoding="utf-8"?><D:error xmlns:D="DAV:"><D:lock-token-submitted/></D:error>"#.to_vec(),
        );
    }
    let number = d.current().number + 1;
    d.versions.push(Version {
        number,
        content: r.body.to_vec(),
        modified_ms: r.now_ms,
        modified_by: r.user.to_owned(),
    });
    let headers = vec![
        ("resourcetag", resourcetag(r.seed, d)),
        ("repl-uid", repl_uid(r.seed, d)),
    ];
    let (name, key) = (d.name.clone(), d.name.to_ascii_lowercase());
    store.write_back(&name, r.body);
    store.touch(&key);
    (204, headers, Vec::new())
}

/// `LOCK`: a new exclusive write lock (a well-formed `lockinfo` body, RFC 4918 9.10.1 and
/// 14.11; anything else is 400, 8.2), or a refresh (no body, the lock token in `If`,
/// 9.10.2). The `If` header must hold (412, 10.4.1).
fn lock(store: &mut Store, r: &DavRequest<'_>) -> Answer {
    if let Some(d) = store.find_mut(r.path) {
        d.expire(r.now_ms);
    }
    let cond = check_if(store, r);
    let Some(d) = store.find_mut(r.path) else {
        return (404, Vec::new(), Vec::new());
    };
    if !cond.holds {
        return (412, Vec::new(), Vec::new());
    }
    let refresh = r.body.is_empty();
    let owner = if refresh {
        None
    } else {
        match lock_info(r.body) {
            Ok(owner) => owner,
            Err(why) => return (400, vec![("content-type", "text/plain".to_owned())], why),
        }
    };
    let secs = r
        .header("timeout")
        .map(dav::parse_timeouts)
        .and_then(|t| {
            t.into_iter().find_map(|t| match t {
                DavTimeout::Second(n) => Some(n.min(3600)),
                DavTimeout::Infinite => Some(3600),
                DavTimeout::Invalid(_) => None,
            })
        })
        .unwrap_or(180);
    let token = match (&d.lock, refresh) {
        (Lock::Exclusive { id, .. }, true) if cond.submitted.contains(id) => id.clone(),
        (Lock::None, false) => format!(
            "opaquelocktoken:{}",
            guid(r.seed, 0x10C, u32::try_from(r.now_ms % 1_000_000).unwrap_or(0) ^ d.doc_id)
                .to_string()
                .trim_matches(['{', '}'])
                .to_ascii_lowercase()
        ),
        (Lock::None, true) => return (412, Vec::new(), Vec::new()),
        _ => {
            return (
                423,
                vec![("content-type", "text/xml; charset=\"utf-8\"".to_owned())],
                br#"<?xml version="1.0" encoding="utf-8"?><D:error xmlns:D="DAV:"><D:no-conflicting-lock/></D:error>"#.to_vec(),
            )
        }
    };
    d.lock = Lock::Exclusive {
        id: token.clone(),
        expires: r.now_ms.saturating_add(secs.saturating_mul(1000)),
        holder: format!("{} (WebDAV)", r.user),
    };
    let body = dav::encode_lockdiscovery(&[ActiveLock {
        lockscope: Some("exclusive".to_owned()),
        locktype: Some("write".to_owned()),
        depth: Some("0".to_owned()),
        owner,
        timeout: Some(DavTimeout::Second(secs)),
        locktoken: Some(token.clone()),
        lockroot: Some(r.path.to_owned()),
        unknown: Vec::new(),
    }]);
    let mut headers = vec![("content-type", "text/xml; charset=\"utf-8\"".to_owned())];
    if !refresh {
        headers.push(("lock-token", format!("<{token}>")));
    }
    (200, headers, body)
}

/// The owner of a LOCK request's `lockinfo` body, or why the body is refused: not
/// well-formed XML (RFC 4918 8.2: 400), not a `DAV:lockinfo`, or without the `lockscope`
/// and `locktype` that 14.11 requires (`<!ELEMENT lockinfo (lockscope, locktype,
/// owner?)>`), with values 14.13 and 14.15 define.
fn lock_info(body: &[u8]) -> Result<Option<String>, Vec<u8>> {
    let (decoded, diagnostics) = dav::decode_body(body);
    if let Some(d) = diagnostics.first() {
        return Err(
            format!("malformed lockinfo at byte {}: {}\n", d.offset, d.message).into_bytes(),
        );
    }
    let Some(DavBody::LockInfo(li)) = decoded else {
        return Err(b"a LOCK body must be a DAV:lockinfo\n".to_vec());
    };
    if !matches!(li.lockscope.as_deref(), Some("exclusive" | "shared")) {
        return Err(b"lockinfo needs lockscope exclusive or shared\n".to_vec());
    }
    if li.locktype.as_deref() != Some("write") {
        return Err(b"lockinfo needs locktype write\n".to_vec());
    }
    Ok(li.owner)
}

/// `UNLOCK`: the `Lock-Token` header is required (400 without it) and must name the lock
/// on this resource (409 `lock-token-matches-request-uri` otherwise): RFC 4918 9.11.1.
fn unlock(store: &mut Store, r: &DavRequest<'_>) -> Answer {
    let Some(d) = store.find_mut(r.path) else {
        return (404, Vec::new(), Vec::new());
    };
    d.expire(r.now_ms);
    let Some(token) = lock_token(r) else {
        return (
            400,
            vec![("content-type", "text/plain".to_owned())],
            b"UNLOCK needs a Lock-Token header\n".to_vec(),
        );
    };
    match (&d.lock, Some(token)) {
        (Lock::Exclusive { id, .. }, Some(t)) if *id == t => {
            d.lock = Lock::None;
            (204, Vec::new(), Vec::new())
        }
        _ => (
            409,
            vec![("content-type", "text/xml; charset=\"utf-8\"".to_owned())],
            br#"<?xml version="1.0" encoding="utf-8"?><D:error xmlns:D="DAV:"><D:lock-token-matches-request-uri/></D:error>"#.to_vec(),
        ),
    }
}
