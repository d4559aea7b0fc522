//! Cross-exchange findings: facts that only show over a sequence of decoded exchanges,
//! and the sniffer that tells SPFileSync from WebDAV.
//!
//! [`Finding`] is generic (severity, rule id, the exchanges involved, one sentence, the
//! specification it rests on) so the timeline engine can reuse it for other protocols.
//! [`cross_exchange_findings`] computes the WebDAV replication and SPFileSync SyncToken
//! rules over [`DavOrSync`] exchanges in capture order. Rules:
//!
//! * `webdav.repl.redownload`: the client re-downloaded a resource whose resourcetag it
//!   already had (Exchange SDK, "resourcetag": equal tags mean identical state).
//! * `webdav.repl.unchanged-resourcetag`: a manifest listed a resource as changed but
//!   its resourcetag did not change.
//! * `webdav.repl.collblob-continuity`: a replication SEARCH did not send the collblob the
//!   previous manifest of that collection returned.
//! * `spfilesync.synctoken-continuity`: a change enumeration did not use the
//!   `X-SyncToken` the previous response gave (`REFERENCE.md` C.1, C.2).
//! * `spfilesync.synctoken-reset`: a change enumeration restarted without a SyncToken.
//!
//! Pure functions, no IO.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::decode::spfilesync::{self, OperationKind, SpFileSyncExchange};
use crate::decode::webdav::{self, percent_decode, ChangeType, WebDavExchange};

/// How serious a finding is.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// A protocol violation or a state that cannot be right.
    Error,
    /// Wasteful or suspicious but legal behaviour.
    Warning,
    /// Worth knowing.
    Info,
}

/// One fact about a sequence of exchanges.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// Stable rule id, e.g. `webdav.repl.redownload`.
    pub rule: Cow<'static, str>,
    /// The exchanges involved, earliest first.
    pub exchanges: Vec<u64>,
    /// One sentence saying what happened.
    pub sentence: String,
    /// The specification (document and section) the rule rests on.
    pub spec: String,
}

/// A decoded exchange of either family this module covers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum DavOrSync {
    /// SharePoint SPFileSync REST (boxed: both exchanges are large).
    SpFileSync(Box<SpFileSyncExchange>),
    /// WebDAV (RFC 4918, replication, MS-WDV).
    WebDav(Box<WebDavExchange>),
}

impl DavOrSync {
    /// One line describing the exchange.
    pub fn summarize(&self) -> String {
        match self {
            Self::SpFileSync(x) => spfilesync::summarize(x),
            Self::WebDav(x) => webdav::summarize(x),
        }
    }
}

/// Response headers that only WebDAV servers send.
const DAV_RESPONSE_HEADERS: &[&str] = &[
    "resourcetag",
    "repl-uid",
    "lock-token",
    "dav",
    "ms-author-via",
    "x-msdavext",
    "x-msdavextlocktimeout",
    "x-msdavext_error",
    "public-extension",
];

/// How many body bytes the WebDAV sniffer looks at.
const SNIFF_PREFIX: usize = 1024;

/// Say whether an exchange is SPFileSync or WebDAV and decode it; `None` when it is
/// neither. SPFileSync is decided by URL, WebDAV by method, request headers, a `DAV:`
/// namespace near the start of the request body, WebDAV-only response headers, or the
/// Windows mini-redirector's User-Agent.
#[allow(clippy::too_many_arguments)]
pub fn sniff(
    method: &str,
    url: &str,
    req_headers: &[(&str, &str)],
    req_content_type: Option<&str>,
    req_body: &[u8],
    status: Option<u16>,
    resp_headers: &[(&str, &str)],
    resp_content_type: Option<&str>,
    resp_body: &[u8],
) -> Option<DavOrSync> {
    if spfilesync::recognise(method, url).is_some() {
        return Some(DavOrSync::SpFileSync(Box::new(spfilesync::decode(
            method,
            url,
            req_headers,
            req_content_type,
            req_body,
            status,
            resp_headers,
            resp_content_type,
            resp_body,
        ))));
    }
    let prefix = &req_body[..req_body.len().min(SNIFF_PREFIX)];
    let dav = webdav::recognise(method, req_headers, prefix)
        || resp_headers
            .iter()
            .any(|(n, _)| DAV_RESPONSE_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(n.trim())))
        || req_headers.iter().any(|(n, v)| {
            n.trim().eq_ignore_ascii_case("user-agent")
                && (v.contains("Microsoft-WebDAV-MiniRedir") || v.contains("DavClnt"))
        });
    dav.then(|| {
        DavOrSync::WebDav(Box::new(webdav::decode(
            method,
            url,
            req_headers,
            req_body,
            status,
            resp_headers,
            resp_body,
        )))
    })
}

const SPEC_RESOURCETAG: &str =
    "Exchange Server 2003 SDK, WebDAV replication: resourcetag (REFERENCE.md D.1)";
const SPEC_MANIFEST: &str =
    "Exchange Server 2003 SDK, WebDAV replication: Manifest of a Collection, resourcetag (REFERENCE.md D.1)";
const SPEC_COLLBLOB: &str =
    "Exchange Server 2003 SDK, WebDAV replication: collblob (REFERENCE.md D.1)";
const SPEC_SYNCTOKEN: &str =
    "SPFileSync RootFolder change enumeration: repeat with the response's X-SyncToken (REFERENCE.md C.1, C.2; unconfirmed, no Microsoft specification)";

/// Where a resourcetag was learnt.
#[derive(Clone)]
struct Seen {
    tag: String,
    exchange: u64,
    how: &'static str,
}

/// Compute the cross-exchange findings over exchanges in capture order. Each item is the
/// exchange id the caller assigned and the decoded exchange.
pub fn cross_exchange_findings<'a>(
    exchanges: impl IntoIterator<Item = (u64, &'a DavOrSync)>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    // Resource (path or repl-uid) → tag of the content the client holds.
    let mut had: HashMap<String, Seen> = HashMap::new();
    // Resource → last tag the client was told about (content or manifest).
    let mut told: HashMap<String, Seen> = HashMap::new();
    // Collection path → (collblob returned, exchange).
    let mut collblobs: HashMap<String, (String, u64)> = HashMap::new();
    // List → (X-SyncToken returned, exchange).
    let mut tokens: HashMap<String, (String, u64)> = HashMap::new();

    for (id, x) in exchanges {
        match x {
            DavOrSync::WebDav(w) => {
                webdav_step(id, w, &mut had, &mut told, &mut collblobs, &mut out);
            }
            DavOrSync::SpFileSync(s) => sync_step(id, s, &mut tokens, &mut out),
        }
    }
    out
}

fn resource_key(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    let path = match no_query.split_once("://") {
        Some((_, r)) => r.find('/').map_or("/", |i| &r[i..]),
        None => no_query,
    };
    let p = percent_decode(path);
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        "/".to_owned()
    } else {
        t.to_owned()
    }
}

fn ok(status: Option<u16>) -> bool {
    status.is_some_and(|c| (200..300).contains(&c))
}

fn webdav_step(
    id: u64,
    w: &WebDavExchange,
    had: &mut HashMap<String, Seen>,
    told: &mut HashMap<String, Seen>,
    collblobs: &mut HashMap<String, (String, u64)>,
    out: &mut Vec<Finding>,
) {
    let method = w.method.to_ascii_uppercase();
    let path = resource_key(&w.url);
    let Some(resp) = &w.response else {
        return;
    };

    // Collblob continuity: the request's collblob against the last one returned.
    if let Some(m) = &w.manifest {
        if let (Some(sent), Some((prev, prev_id))) = (&m.request_collblob, collblobs.get(&path)) {
            if sent != prev {
                out.push(Finding {
                    severity: Severity::Warning,
                    rule: Cow::Borrowed("webdav.repl.collblob-continuity"),
                    exchanges: vec![*prev_id, id],
                    sentence: format!(
                        "{method} {path} sent collblob {} but the previous manifest returned {}",
                        short_or_empty(sent),
                        short_or_empty(prev)
                    ),
                    spec: SPEC_COLLBLOB.to_owned(),
                });
            }
        }
        if ok(resp.status) {
            if let Some(c) = &m.collblob {
                collblobs.insert(path.clone(), (c.clone(), id));
            }
        }
        for e in &m.changes {
            let key = e.href.as_deref().map(resource_key);
            let keys: Vec<String> = key
                .into_iter()
                .chain(e.repl_uid.as_ref().map(|u| format!("repl-uid:{u}")))
                .collect();
            if e.change_type == ChangeType::Delete {
                for k in &keys {
                    had.remove(k);
                    told.remove(k);
                }
                continue;
            }
            let Some(tag) = &e.resourcetag else {
                continue;
            };
            let prior = keys.iter().find_map(|k| {
                had.get(k)
                    .filter(|s| &s.tag == tag)
                    .or_else(|| told.get(k).filter(|s| &s.tag == tag))
            });
            if let Some(p) = prior {
                out.push(Finding {
                    severity: Severity::Warning,
                    rule: Cow::Borrowed("webdav.repl.unchanged-resourcetag"),
                    exchanges: vec![p.exchange, id],
                    sentence: format!(
                        "the manifest listed {} as {} but its resourcetag {} is the one the client already {}",
                        e.href.as_deref().unwrap_or("(no href)"),
                        e.change_type.as_str(),
                        webdav::shorten(tag),
                        p.how
                    ),
                    spec: SPEC_MANIFEST.to_owned(),
                });
            }
            for k in keys {
                told.insert(
                    k,
                    Seen {
                        tag: tag.clone(),
                        exchange: id,
                        how: "saw in an earlier manifest",
                    },
                );
            }
        }
    }

    let tag = resp.headers.resourcetag.as_ref();
    let mut keys = vec![path.clone()];
    if let Some(u) = &resp.headers.repl_uid {
        keys.push(format!("repl-uid:{u}"));
    }
    match method.as_str() {
        "GET" if ok(resp.status) => {
            let Some(tag) = tag else {
                return;
            };
            let prior = keys.iter().find_map(|k| had.get(k).filter(|s| &s.tag == tag));
            if let Some(p) = prior {
                out.push(Finding {
                    severity: Severity::Warning,
                    rule: Cow::Borrowed("webdav.repl.redownload"),
                    exchanges: vec![p.exchange, id],
                    sentence: format!(
                        "the client re-downloaded {path} whose resourcetag {} it already had ({})",
                        webdav::shorten(tag),
                        p.how
                    ),
                    spec: SPEC_RESOURCETAG.to_owned(),
                });
            }
            remember(had, told, &keys, tag, id, "downloaded");
        }
        "PUT" | "POST" | "PROPPATCH" | "MKCOL" if ok(resp.status) => {
            if let Some(tag) = tag {
                remember(had, told, &keys, tag, id, "uploaded");
            }
        }
        "DELETE" if ok(resp.status) => {
            for k in &keys {
                had.remove(k);
                told.remove(k);
            }
        }
        _ => {}
    }
}

fn remember(
    had: &mut HashMap<String, Seen>,
    told: &mut HashMap<String, Seen>,
    keys: &[String],
    tag: &str,
    id: u64,
    how: &'static str,
) {
    for k in keys {
        let s = Seen {
            tag: tag.to_owned(),
            exchange: id,
            how,
        };
        had.insert(k.clone(), s.clone());
        told.insert(k.clone(), s);
    }
}

fn short_or_empty(s: &str) -> String {
    if s.is_empty() {
        "(empty)".to_owned()
    } else {
        webdav::shorten(s)
    }
}

fn sync_step(
    id: u64,
    s: &SpFileSyncExchange,
    tokens: &mut HashMap<String, (String, u64)>,
    out: &mut Vec<Finding>,
) {
    let Some(op) = &s.operation else {
        return;
    };
    if op.kind != OperationKind::RootFolderChanges {
        return;
    }
    let list = op
        .list_guid
        .clone()
        .or_else(|| op.list_id.clone())
        .unwrap_or_default();
    let sent = s.request_sync_token().filter(|t| !t.is_empty());
    if let Some((prev, prev_id)) = tokens.get(&list) {
        match sent {
            None => out.push(Finding {
                severity: Severity::Info,
                rule: Cow::Borrowed("spfilesync.synctoken-reset"),
                exchanges: vec![*prev_id, id],
                sentence: format!(
                    "the change enumeration of list {list} restarted without a SyncToken although the previous response gave {}",
                    webdav::shorten(prev)
                ),
                spec: SPEC_SYNCTOKEN.to_owned(),
            }),
            Some(t) if percent_decode(t) != *prev => out.push(Finding {
                severity: Severity::Error,
                rule: Cow::Borrowed("spfilesync.synctoken-continuity"),
                exchanges: vec![*prev_id, id],
                sentence: format!(
                    "the change enumeration of list {list} sent SyncToken {} but the previous response gave X-SyncToken {}",
                    webdav::shorten(t),
                    webdav::shorten(prev)
                ),
                spec: SPEC_SYNCTOKEN.to_owned(),
            }),
            Some(_) => {}
        }
    }
    if let Some(r) = &s.response {
        if ok(r.status) {
            if let Some(t) = r.sync_token().filter(|t| !t.is_empty()) {
                tokens.insert(list, (percent_decode(t), id));
            }
        }
    }
}
