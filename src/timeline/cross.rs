//! Cross-exchange WebDAV and SPFileSync rules: a fold over decoded exchanges in capture
//! order that finds what only shows over a sequence of them. Rules:
//!
//! * `webdav.repl.redownload`: the client re-downloaded a resource whose resourcetag it
//!   already had (Exchange SDK, "resourcetag": equal tags mean identical state).
//! * `webdav.repl.unchanged-resourcetag`: a manifest listed a resource as changed but
//!   its resourcetag did not change.
//! * `webdav.repl.collblob-continuity`: a replication SEARCH did not send the collblob the
//!   previous manifest of that collection returned.
//! * `webdav.lock.token-not-submitted`: a write was refused with 423 Locked although a
//!   lock token granted earlier in the capture for that resource was not submitted.
//! * `webdav.lock.stale-token`: a request submitted a lock token that an earlier UNLOCK
//!   (or `X-MSDAVEXTLockTimeout: Second-0`) already released.
//! * `spfilesync.synctoken-continuity`: a change enumeration did not use the
//!   `X-SyncToken` the previous response gave.
//! * `spfilesync.synctoken-reset`: a change enumeration restarted without a SyncToken.
//!
//! Resources are keyed by [`FileKey`] path (a WebDAV href may be path-only while the
//! request URL is absolute); sentences show the path as the client wrote it. Pure, no IO.

use std::collections::HashMap;

use crate::decode::exchange::ProtocolModel;
use crate::decode::file_key::{display_path, FileKey};
use crate::decode::findings::{Finding, Rule, Severity};
use crate::decode::spfilesync::{OperationKind, SpFileSyncExchange};
use crate::decode::text::{percent_decode, shorten};
use crate::decode::webdav::{self, ChangeType, WebDavExchange};

const SPEC_RESOURCETAG: &str = "Exchange Server 2003 SDK, WebDAV replication: resourcetag";
const SPEC_MANIFEST: &str =
    "Exchange Server 2003 SDK, WebDAV replication: Manifest of a Collection, resourcetag";
const SPEC_COLLBLOB: &str = "Exchange Server 2003 SDK, WebDAV replication: collblob";
const SPEC_SYNCTOKEN: &str =
    "SPFileSync RootFolder change enumeration: repeat with the response's X-SyncToken (observed behaviour of SharePoint and the OneDrive sync client; no Microsoft specification)";

/// Where a resourcetag was learnt.
#[derive(Clone)]
struct Seen {
    tag: String,
    exchange: u64,
    how: &'static str,
}

/// Compute the cross-exchange findings over exchanges in capture order. Each item is the
/// exchange id the caller assigned and the decoded exchange's protocol model.
pub fn cross_exchange_findings<'a>(
    exchanges: impl IntoIterator<Item = (u64, &'a ProtocolModel)>,
) -> Vec<Finding> {
    let mut state = CrossExchange::default();
    let mut out = Vec::new();
    for (id, x) in exchanges {
        state.push(id, x, &mut out);
    }
    out
}

/// The state of the cross-exchange rules, for callers that see exchanges one at a time
/// (the timeline engine). Memory grows with the resources, lock tokens, collections and
/// lists seen, not with the number of exchanges.
#[derive(Default)]
pub struct CrossExchange {
    // Resource (path or repl-uid) → tag of the content the client holds.
    had: HashMap<String, Seen>,
    // Resource → last tag the client was told about (content or manifest).
    told: HashMap<String, Seen>,
    // Collection path → (collblob returned, exchange).
    collblobs: HashMap<String, (String, u64)>,
    locks: LockBook,
    // List → (X-SyncToken returned, exchange).
    tokens: HashMap<String, (String, u64)>,
}

impl CrossExchange {
    /// Applies the rules to the next exchange in capture order, appending what they find
    /// to `out`.
    pub fn push(&mut self, id: u64, x: &ProtocolModel, out: &mut Vec<Finding>) {
        match x {
            ProtocolModel::WebDav(w) => self.push_webdav(id, w, out),
            ProtocolModel::SpFileSync(s) => self.push_spfilesync(id, s, out),
            ProtocolModel::Fsshttp(_) | ProtocolModel::Http => {}
        }
    }

    /// [`CrossExchange::push`] for a WebDAV exchange.
    pub fn push_webdav(&mut self, id: u64, w: &WebDavExchange, out: &mut Vec<Finding>) {
        lock_step(id, w, &mut self.locks, out);
        webdav_step(
            id,
            w,
            &mut self.had,
            &mut self.told,
            &mut self.collblobs,
            out,
        );
    }

    /// [`CrossExchange::push`] for an SPFileSync exchange.
    pub fn push_spfilesync(&mut self, id: u64, s: &SpFileSyncExchange, out: &mut Vec<Finding>) {
        sync_step(id, s, &mut self.tokens, out);
    }
}

/// The key of a resource named by a URL or a (possibly path-only) href.
fn resource_key(url: &str) -> String {
    FileKey::of_url(url).path().to_owned()
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
    let shown = display_path(&w.url);
    let Some(resp) = &w.response else {
        return;
    };

    // Collblob continuity: the request's collblob against the last one returned.
    if let Some(m) = &w.manifest {
        if let (Some(sent), Some((prev, prev_id))) = (&m.request_collblob, collblobs.get(&path)) {
            if sent != prev {
                out.push(Finding {
                    severity: Severity::Warning,
                    rule: Rule::WebDavReplCollblobContinuity,
                    exchanges: vec![*prev_id, id],
                    sentence: format!(
                        "{method} {shown} sent collblob {} but the previous manifest returned {}",
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
                    rule: Rule::WebDavReplUnchangedResourcetag,
                    exchanges: vec![p.exchange, id],
                    sentence: format!(
                        "the manifest listed {} as {} but its resourcetag {} is the one the client already {}",
                        e.href.as_deref().unwrap_or("(no href)"),
                        e.change_type.as_str(),
                        shorten(tag),
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
    let mut keys = vec![path];
    if let Some(u) = &resp.headers.repl_uid {
        keys.push(format!("repl-uid:{u}"));
    }
    match method.as_str() {
        "GET" if ok(resp.status) => {
            let Some(tag) = tag else {
                return;
            };
            let prior = keys
                .iter()
                .find_map(|k| had.get(k).filter(|s| &s.tag == tag));
            if let Some(p) = prior {
                out.push(Finding {
                    severity: Severity::Warning,
                    rule: Rule::WebDavReplRedownload,
                    exchanges: vec![p.exchange, id],
                    sentence: format!(
                        "the client re-downloaded {shown} whose resourcetag {} it already had ({})",
                        shorten(tag),
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

const SPEC_LOCK_SUBMIT: &str =
    "RFC 4918 7.5 (write locks and lock tokens), 10.4 (If header); MS-WDV 2.2.4 (Lock-Token with X-MSDAVEXTLockTimeout)";
const SPEC_LOCK_RELEASED: &str = "RFC 4918 9.11 (UNLOCK), 6.5 (lock tokens); MS-WDV 3.1.5.4";

/// Lock tokens seen granted and released, by resource.
#[derive(Default)]
struct LockBook {
    /// Resource → (token, exchange that granted or refreshed it).
    held: HashMap<String, (String, u64)>,
    /// Token → exchange that released it.
    released: HashMap<String, u64>,
}

fn lock_step(id: u64, w: &WebDavExchange, book: &mut LockBook, out: &mut Vec<Finding>) {
    let method = w.method.to_ascii_uppercase();
    let path = resource_key(&w.url);
    let shown = display_path(&w.url);
    let req = &w.request.headers;
    let submitted: Vec<&str> = req
        .if_header
        .iter()
        .flat_map(|h| h.lock_tokens())
        .chain(req.lock_token.as_deref())
        .collect();
    for t in &submitted {
        if let Some(rel) = book.released.get(*t) {
            out.push(Finding {
                severity: Severity::Warning,
                rule: Rule::WebDavLockStaleToken,
                exchanges: vec![*rel, id],
                sentence: format!(
                    "{method} {shown} submitted lock token {} which exchange {rel} already released",
                    shorten(t)
                ),
                spec: SPEC_LOCK_RELEASED.to_owned(),
            });
        }
    }
    let Some(resp) = &w.response else {
        return;
    };
    if resp.status == Some(423) && method != "LOCK" {
        if let Some((token, lock_id)) = book.held.get(&path) {
            if !submitted.contains(&token.as_str()) {
                out.push(Finding {
                    severity: Severity::Warning,
                    rule: Rule::WebDavLockTokenNotSubmitted,
                    exchanges: vec![*lock_id, id],
                    sentence: format!(
                        "{method} {shown} was refused with 423 Locked without submitting lock token {} granted in exchange {lock_id}",
                        shorten(token)
                    ),
                    spec: SPEC_LOCK_SUBMIT.to_owned(),
                });
            }
        }
    }
    if !ok(resp.status) {
        return;
    }
    let granted = resp
        .headers
        .lock_token
        .clone()
        .or_else(|| w.active_locks().first().and_then(|l| l.locktoken.clone()));
    let piggy_unlock = req
        .x_msdavext_lock_timeout
        .first()
        .is_some_and(|t| *t == webdav::DavTimeout::Second(0));
    if method == "UNLOCK" || piggy_unlock {
        for t in &submitted {
            book.released.insert((*t).to_owned(), id);
        }
        if book
            .held
            .get(&path)
            .is_some_and(|(t, _)| submitted.contains(&t.as_str()))
        {
            book.held.remove(&path);
        }
    } else if method == "LOCK" || !req.x_msdavext_lock_timeout.is_empty() {
        if let Some(t) = granted.or_else(|| submitted.first().map(|t| (*t).to_owned())) {
            book.released.remove(&t);
            book.held.insert(path, (t, id));
        }
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
        shorten(s)
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
                rule: Rule::SpFileSyncSynctokenReset,
                exchanges: vec![*prev_id, id],
                sentence: format!(
                    "the change enumeration of list {list} restarted without a SyncToken although the previous response gave {}",
                    shorten(prev)
                ),
                spec: SPEC_SYNCTOKEN.to_owned(),
            }),
            Some(t) if percent_decode(t) != *prev => out.push(Finding {
                severity: Severity::Error,
                rule: Rule::SpFileSyncSynctokenContinuity,
                exchanges: vec![*prev_id, id],
                sentence: format!(
                    "the change enumeration of list {list} sent SyncToken {} but the previous response gave X-SyncToken {}",
                    shorten(t),
                    shorten(prev)
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

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;
    use crate::decode::exchange::{decode_exchange, DecodedExchange, Meta, Protocol};
    use crate::decode::{spfilesync, testdata};

    type TestResult = Result<(), Box<dyn Error>>;

    /// One exchange for a test: a method and a URL, then only what differs from an empty
    /// request and an answer without status, headers or body.
    #[derive(Default)]
    struct Ex<'a> {
        method: &'a str,
        url: &'a str,
        req: &'a [(&'a str, &'a str)],
        body: &'a [u8],
        status: Option<u16>,
        resp: &'a [(&'a str, &'a str)],
        resp_body: &'a [u8],
    }

    impl<'a> Ex<'a> {
        fn new(method: &'a str, url: &'a str) -> Self {
            Ex {
                method,
                url,
                ..Ex::default()
            }
        }

        fn req(self, req: &'a [(&'a str, &'a str)]) -> Self {
            Ex { req, ..self }
        }

        fn body(self, body: &'a [u8]) -> Self {
            Ex { body, ..self }
        }

        fn status(self, status: u16) -> Self {
            Ex {
                status: Some(status),
                ..self
            }
        }

        fn resp(self, resp: &'a [(&'a str, &'a str)]) -> Self {
            Ex { resp, ..self }
        }

        fn resp_body(self, resp_body: &'a [u8]) -> Self {
            Ex { resp_body, ..self }
        }

        /// Decoded as WebDAV, whatever the classifier would say.
        fn dav(&self) -> ProtocolModel {
            let meta = Meta::request(self.method, self.url, self.req)
                .with_response(self.status, self.resp);
            ProtocolModel::WebDav(Box::new(webdav::decode(&meta, self.body, self.resp_body)))
        }

        /// Through the one classifier and decoder.
        fn decode(&self) -> DecodedExchange {
            let meta = Meta::request(self.method, self.url, self.req)
                .with_response(self.status, self.resp);
            decode_exchange(&meta, self.body, self.resp_body)
        }
    }

    fn rules(f: &[Finding]) -> Vec<(&str, Vec<u64>)> {
        f.iter()
            .map(|f| (f.rule.as_str(), f.exchanges.clone()))
            .collect()
    }

    const BUDGET: &str = "http://mail.contoso.com/exchange/adele/Inbox/Budget.EML";
    const BUDGET_TAG: &str = "rt:89960b10e0a5c64ebbd6b5b1a1ee3db20000000001a7";

    #[test]
    fn redownload_with_same_resourcetag() {
        let a = Ex::new("GET", BUDGET)
            .status(200)
            .resp(&[("ResourceTag", "rt:1")])
            .resp_body(b"mail")
            .dav();
        let b = Ex::new("GET", "/exchange/adele/Inbox/Budget.EML")
            .status(200)
            .resp(&[("resourcetag", "rt:1")])
            .resp_body(b"mail")
            .dav();
        let c = Ex::new("GET", BUDGET)
            .status(200)
            .resp(&[("ResourceTag", "rt:2")])
            .resp_body(b"mail2")
            .dav();
        let f = cross_exchange_findings([(1, &a), (2, &b), (3, &c)]);
        assert_eq!(rules(&f), [("webdav.repl.redownload", vec![1, 2])]);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(
            f[0].sentence,
            "the client re-downloaded /exchange/adele/Inbox/Budget.EML whose resourcetag rt:1 it already had (downloaded)"
        );
        // A 304/412 answer is not a download.
        let d = Ex::new("GET", BUDGET)
            .req(&[("If", "(<rt:2>)")])
            .status(412)
            .resp(&[("ResourceTag", "rt:2")])
            .dav();
        assert!(cross_exchange_findings([(3, &c), (4, &d)]).is_empty());
    }

    #[test]
    fn manifest_lists_unchanged_resourcetag() -> TestResult {
        let get = Ex::new("GET", BUDGET)
            .status(200)
            .resp(&[("ResourceTag", BUDGET_TAG)])
            .resp_body(b"mail")
            .dav();
        let search = Ex::new("SEARCH", "http://mail.contoso.com/exchange/adele/Inbox/")
            .body(&testdata::fixture("webdav", "search_repl_initial.xml")?)
            .status(207)
            .resp_body(&testdata::fixture("webdav", "manifest_207.xml")?)
            .dav();
        let f = cross_exchange_findings([(7, &get), (9, &search)]);
        assert_eq!(
            rules(&f),
            [("webdav.repl.unchanged-resourcetag", vec![7, 9])]
        );
        assert!(f[0]
            .sentence
            .contains("listed http://mail.contoso.com/exchange/adele/Inbox/Budget.EML as change"));
        // The same manifest twice: the second listing repeats every tag.
        let f = cross_exchange_findings([(1, &search), (2, &search)]);
        assert_eq!(
            rules(&f),
            [
                ("webdav.repl.collblob-continuity", vec![1, 2]),
                ("webdav.repl.unchanged-resourcetag", vec![1, 2]),
                ("webdav.repl.unchanged-resourcetag", vec![1, 2]),
            ]
        );
        Ok(())
    }

    #[test]
    fn collblob_continuity() -> TestResult {
        let first = Ex::new("SEARCH", "/exchange/adele/Inbox/")
            .body(&testdata::fixture("webdav", "search_repl_initial.xml")?)
            .status(207)
            .resp_body(&testdata::fixture("webdav", "manifest_207.xml")?)
            .dav();
        // search_repl_next.xml sends state-1, but the manifest returned state-2.
        let stale = Ex::new("SEARCH", "/exchange/adele/Inbox").body(&testdata::fixture("webdav", "search_repl_next.xml")?).status(207).resp_body(br#"<D:multistatus xmlns:D="DAV:" xmlns:R="http://schemas.microsoft.com/repl/"><R:repl><R:collblob>s3</R:collblob></R:repl></D:multistatus>"#).dav();
        let f = cross_exchange_findings([(1, &first), (2, &stale)]);
        assert_eq!(rules(&f), [("webdav.repl.collblob-continuity", vec![1, 2])]);
        assert_eq!(
            f[0].sentence,
            "SEARCH /exchange/adele/Inbox sent collblob AQAAAHJlcGwtc3RhdGUtMQ== but the previous manifest returned AQAAAHJlcGwtc3RhdGUtMg=="
        );
        Ok(())
    }

    const TOKEN: &str = "opaquelocktoken:e71d4fae-5dec-22d6-fea5-00a0c91e6be4";

    #[test]
    fn lock_token_not_submitted_and_stale() -> TestResult {
        let coded = format!("<{TOKEN}>");
        let lock = Ex::new("LOCK", "http://dav.contoso.com/docs/Report.docx")
            .req(&[("Timeout", "Second-3600")])
            .body(&testdata::fixture("webdav", "lockinfo.xml")?)
            .status(200)
            .resp(&[("Lock-Token", &coded)])
            .resp_body(&testdata::fixture("webdav", "lock_response.xml")?)
            .dav();
        let put_without = Ex::new("PUT", "/docs/Report.docx")
            .body(b"x")
            .status(423)
            .dav();
        let if_value = format!("({coded})");
        let put_with = Ex::new("PUT", "/docs/Report.docx")
            .req(&[("If", &if_value)])
            .body(b"x")
            .status(204)
            .dav();
        let unlock = Ex::new("UNLOCK", "/docs/Report.docx")
            .req(&[("Lock-Token", &coded)])
            .status(204)
            .dav();
        let refresh = Ex::new("LOCK", "/docs/Report.docx")
            .req(&[("If", &if_value)])
            .status(412)
            .dav();
        let f = cross_exchange_findings([
            (1, &lock),
            (2, &put_without),
            (3, &put_with),
            (4, &unlock),
            (5, &refresh),
        ]);
        assert_eq!(
            rules(&f),
            [
                ("webdav.lock.token-not-submitted", vec![1, 2]),
                ("webdav.lock.stale-token", vec![4, 5]),
            ]
        );
        assert_eq!(
            f[0].sentence,
            "PUT /docs/Report.docx was refused with 423 Locked without submitting lock token opaquelocktoken:e71d4fae-5d… granted in exchange 1"
        );
        // A new LOCK after the UNLOCK makes the (new) token live again.
        let relock = Ex::new("LOCK", "/docs/Report.docx")
            .body(&testdata::fixture("webdav", "lockinfo.xml")?)
            .status(200)
            .resp(&[("Lock-Token", &coded)])
            .dav();
        let put = Ex::new("PUT", "/docs/Report.docx")
            .req(&[("If", &if_value)])
            .body(b"x")
            .status(204)
            .dav();
        assert!(
            cross_exchange_findings([(1, &lock), (4, &unlock), (6, &relock), (7, &put)]).is_empty()
        );
        Ok(())
    }

    #[test]
    fn msdavext_piggyback_locks() {
        let coded = format!("<{TOKEN}>");
        let get = Ex::new("GET", "/docs/a.docx")
            .req(&[("X-MSDAVEXTLockTimeout", "Second-3600")])
            .status(200)
            .resp(&[
                ("Lock-Token", &coded),
                ("X-MSDAVEXTLockTimeout", "Second-3600"),
            ])
            .resp_body(b"data")
            .dav();
        let unlock = Ex::new("PUT", "/docs/a.docx")
            .req(&[
                ("X-MSDAVEXTLockTimeout", "Second-0"),
                ("Lock-Token", &coded),
            ])
            .body(b"data")
            .status(200)
            .dav();
        let again = Ex::new("PUT", "/docs/a.docx")
            .req(&[("Lock-Token", &coded)])
            .body(b"data")
            .status(200)
            .dav();
        let f = cross_exchange_findings([(1, &get), (2, &unlock), (3, &again)]);
        assert_eq!(rules(&f), [("webdav.lock.stale-token", vec![2, 3])]);
    }

    fn changes(token: Option<&str>, status: u16, next: &str) -> ProtocolModel {
        let mut url = "https://contoso.sharepoint.com/_api/SPFileSync/sync/5D2445A6-F48D-4C1E-9B0A-1C2D3E4F5A6B/RootFolder?Filter=changes&MaxItemCount=500&View=SkyDriveSync".to_owned();
        if let Some(t) = token {
            url.push_str("&SyncToken=");
            url.push_str(t);
        }
        let resp = [("X-SyncToken", next), ("X-HasMoreData", "True")];
        let meta = Meta::request("GET", &url, &[]).with_response(Some(status), &resp);
        ProtocolModel::SpFileSync(Box::new(spfilesync::decode(&meta, b"", b"")))
    }

    #[test]
    fn synctoken_continuity() {
        let x1 = changes(None, 200, "4;%234;%231;100");
        let x2 = changes(Some("4%3B%234%3B%231%3B100"), 200, "4;%234;%231;200");
        let x3 = changes(Some("4%3B%234%3B%231%3B200"), 503, "");
        let x4 = changes(Some("4%3B%234%3B%231%3B200"), 200, "4;%234;%231;300");
        let x5 = changes(Some("4%3B%234%3B%231%3B200"), 200, "4;%234;%231;400");
        let x6 = changes(None, 200, "4;%234;%231;500");
        let f =
            cross_exchange_findings([(1, &x1), (2, &x2), (3, &x3), (4, &x4), (5, &x5), (6, &x6)]);
        assert_eq!(
            rules(&f),
            [
                ("spfilesync.synctoken-continuity", vec![4, 5]),
                ("spfilesync.synctoken-reset", vec![5, 6]),
            ]
        );
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[1].severity, Severity::Info);
        assert_eq!(
            f[0].sentence,
            "the change enumeration of list 5d2445a6f48d4c1e9b0a1c2d3e4f5a6b sent SyncToken 4;#4;#1;200 but the previous response gave X-SyncToken 4;#4;#1;300"
        );
    }

    /// The signals the WebDAV / SPFileSync sniffer used are those of the one classifier
    /// (`decode::exchange::classify`).
    #[test]
    fn the_classifier_tells_the_families_apart() -> TestResult {
        let s = Ex::new("GET", "https://contoso.sharepoint.com/_api/SPFileSync/sync/5d2445a6f48d4c1e9b0a1c2d3e4f5a6b/policy").status(200).resp(&[("Content-Type", "application/xml")]).resp_body(&testdata::fixture("spfilesync", "policy.xml")?).decode();
        assert_eq!(s.protocol(), Protocol::SpFileSync);
        assert_eq!(s.summary, ["SPFileSync policy → 12 rules"]);
        let body = testdata::fixture("webdav", "propfind.xml")?;
        let x = Ex::new("PROPFIND", "/docs/").body(&body).decode();
        assert_eq!(x.protocol(), Protocol::WebDav);
        let x = Ex::new("GET", "/docs/a")
            .status(200)
            .resp(&[("ResourceTag", "rt:1")])
            .resp_body(b"x")
            .decode();
        assert_eq!(x.protocol(), Protocol::WebDav);
        let x = Ex::new("GET", "/docs/a")
            .req(&[("User-Agent", "Microsoft-WebDAV-MiniRedir/10.0.19045")])
            .decode();
        assert_eq!(x.protocol(), Protocol::WebDav);
        let x = Ex::new("GET", "/index.html")
            .req(&[("Accept", "*/*")])
            .status(200)
            .resp_body(b"<html/>")
            .decode();
        assert_eq!(x.protocol(), Protocol::Http);
        let x = Ex::new("POST", "/_vti_bin/cellstorage.svc/CellStorageService").req(&[
                ("SOAPAction", "\"http://schemas.microsoft.com/sharepoint/soap/ICellStorages/ExecuteCellStorageRequest\""),
                ("Content-Type", "multipart/related"),
            ]).body(b"--x").decode();
        assert_eq!(x.protocol(), Protocol::Fsshttp);
        Ok(())
    }

    #[test]
    fn decoded_exchanges_survive_json() -> TestResult {
        let sync = Ex::new("GET", "https://c.sharepoint.com/_api/SPFileSync/sync/5d2445a6f48d4c1e9b0a1c2d3e4f5a6b/RootFolder?Filter=changes&SyncToken=4%3B%234%3B%231%3B3%3B5d2445a6f48d4c1e9b0a1c2d3e4f5a6b%3B638981500204270000%3B1417").status(200).resp(&[("X-SyncToken", "x"), ("X-HasMoreData", "False")]).resp_body(&testdata::fixture("spfilesync", "rootfolder_changes.xml")?).decode();
        let dav = Ex::new("PROPFIND", "/docs/")
            .req(&[("Depth", "1")])
            .body(&testdata::fixture("webdav", "propfind.xml")?)
            .status(207)
            .resp_body(&testdata::fixture("webdav", "propfind_207.xml")?)
            .decode();
        for x in [sync, dav, DecodedExchange::plain_http()] {
            let json = serde_json::to_string(&x)?;
            assert_eq!(serde_json::from_str::<DecodedExchange>(&json)?, x);
        }
        // A protocol without its model is refused, not read as another protocol.
        assert!(serde_json::from_str::<DecodedExchange>(
            r#"{"protocol":"WebDAV","summary":[],"diagnostics":[]}"#
        )
        .is_err());
        Ok(())
    }
}
