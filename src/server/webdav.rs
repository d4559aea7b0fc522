//! WebDAV for the reference server (REFERENCE.md Part D): replication `SEARCH` with
//! `collblob` manifests and `resourcetag`s that change when a file changes, `PROPFIND`,
//! `GET`/`PUT` with the `ResourceTag` header and `If: (<resourcetag>)` checks, and RFC 4918
//! `LOCK`/`UNLOCK` sharing the file's lock with MS-FSSHTTP (a WebDAV lock is an exclusive
//! lock whose id is the lock token).
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
pub fn resourcetag(seed: u64, d: &Document) -> String {
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
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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

/// The state tokens of an `If` header (`(<token>)` lists), verbatim.
fn if_tokens(r: &DavRequest<'_>) -> Vec<String> {
    let Some(v) = r.header("if") else {
        return Vec::new();
    };
    dav::parse_if(v)
        .lists
        .iter()
        .flat_map(|l| l.conditions.iter())
        .filter(|c| !c.not)
        .filter_map(|c| c.state_token.clone())
        .collect()
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
    let Some(d) = store.find_mut(r.path) else {
        return (404, Vec::new(), b"not found\n".to_vec());
    };
    d.expire(r.now_ms);
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

/// `PUT`: `If: (<resourcetag>)` must match the current tag when given (412 otherwise);
/// a locked file needs the lock token (423 otherwise).
fn put(store: &mut Store, r: &DavRequest<'_>) -> Answer {
    let Some(d) = store.find_mut(r.path) else {
        return (
            409,
            Vec::new(),
            b"creating files over WebDAV is not supported\n".to_vec(),
        );
    };
    d.expire(r.now_ms);
    let tokens = if_tokens(r);
    let tag = resourcetag(r.seed, d);
    if tokens.iter().any(|t| t.starts_with("rt:")) && !tokens.contains(&tag) {
        return (412, Vec::new(), Vec::new());
    }
    let allowed = match &d.lock {
        Lock::None => true,
        Lock::Exclusive { id, .. } => {
            tokens.contains(id) || lock_token(r).as_deref() == Some(id.as_str())
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

fn lock(store: &mut Store, r: &DavRequest<'_>) -> Answer {
    let Some(d) = store.find_mut(r.path) else {
        return (404, Vec::new(), Vec::new());
    };
    d.expire(r.now_ms);
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
    let refresh = r.body.is_empty();
    let token = match (&d.lock, refresh) {
        (Lock::Exclusive { id, .. }, true) if if_tokens(r).contains(id) => id.clone(),
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
    let owner = match dav::decode_body(r.body).0 {
        Some(DavBody::LockInfo(li)) => li.owner,
        _ => None,
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

fn unlock(store: &mut Store, r: &DavRequest<'_>) -> Answer {
    let Some(d) = store.find_mut(r.path) else {
        return (404, Vec::new(), Vec::new());
    };
    d.expire(r.now_ms);
    match (&d.lock, lock_token(r)) {
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
