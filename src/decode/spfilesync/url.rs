//! Recognising SPFileSync URLs: which operation a method and URL name, with its query
//! parameters; GUID spellings.

use std::collections::BTreeMap;

use super::*;
use crate::decode::text::percent_decode;

/// Name the SPFileSync operation of a URL, or `None` when it is not one.
pub fn recognise(method: &str, url: &str) -> Option<Operation> {
    let (path, query) = split_url(url);
    let lower = path.to_ascii_lowercase();
    let query = parse_query(query);
    let simple = |kind| Operation {
        kind,
        list_id: None,
        list_guid: None,
        resource: None,
        query: query.clone(),
        sync_token_fields: None,
    };
    let trimmed = lower.trim_end_matches('/');
    if trimmed.ends_with("/_api/sp.userprofiles.peoplemanager/getmyproperties") {
        return Some(simple(OperationKind::GetMyProperties));
    }
    if trimmed.ends_with("/_api/web/defaultdocumentlibrary/id") {
        return Some(simple(OperationKind::DefaultDocumentLibraryId));
    }
    if trimmed.ends_with("/_api/site/id") {
        return Some(simple(OperationKind::SiteId));
    }
    if trimmed.ends_with("/_api/sp.oauth.nativeclient/authenticate") {
        return Some(simple(OperationKind::Authenticate));
    }
    if trimmed.contains("/_layouts/") && trimmed.ends_with("/download.aspx") {
        let op = simple(OperationKind::Download);
        if op.param("UniqueId").is_some() {
            return Some(op);
        }
        return None;
    }
    let idx = lower.find("/_api/spfilesync")?;
    let mut rest = &path[idx + "/_api/spfilesync".len()..];
    if rest.len() >= 4 && rest.is_char_boundary(4) && rest[..4].eq_ignore_ascii_case(".svc") {
        rest = &rest[4..];
    }
    let rest = rest.trim_start_matches('/');
    let mut list_id = None;
    let mut resource = rest;
    if rest.len() >= 5 && rest.is_char_boundary(5) && rest[..5].eq_ignore_ascii_case("sync/") {
        let after = &rest[5..];
        let (id, res) = after.split_once('/').unwrap_or((after, ""));
        if !id.is_empty() {
            list_id = Some(percent_decode(id));
        }
        resource = res;
    }
    let resource = resource.trim_end_matches('/');
    let res_lower = resource.to_ascii_lowercase();
    let mut op = Operation {
        kind: OperationKind::Other,
        list_guid: list_id.as_deref().and_then(normalise_guid),
        list_id,
        resource: (!resource.is_empty()).then(|| resource.to_owned()),
        query,
        sync_token_fields: None,
    };
    op.sync_token_fields = op.param("SyncToken").and_then(parse_sync_token);
    let changes = op
        .param("Filter")
        .is_some_and(|f| f.eq_ignore_ascii_case("changes"));
    let quota = op
        .param("web3s.expand")
        .is_some_and(|e| e.to_ascii_lowercase().contains("quotastate"));
    let last = res_lower.rsplit('/').next().unwrap_or("");
    op.kind = if res_lower == "policy" {
        OperationKind::Policy
    } else if quota {
        OperationKind::QuotaState
    } else if last == "items" {
        OperationKind::Items
    } else if last.starts_with("subscription") || res_lower.starts_with("subscription") {
        OperationKind::Subscription
    } else if res_lower == "rootfolder" || res_lower.starts_with("rootfolder/") {
        if ["POST", "PUT"]
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method.trim()))
        {
            OperationKind::Upload
        } else if changes {
            OperationKind::RootFolderChanges
        } else {
            OperationKind::RootFolder
        }
    } else {
        OperationKind::Other
    };
    Some(op)
}

pub(super) fn split_url(url: &str) -> (&str, &str) {
    let url = url.split('#').next().unwrap_or(url);
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = match path.split_once("://") {
        Some((_, r)) => r.find('/').map_or("/", |i| &r[i..]),
        None => path,
    };
    (path, query)
}

pub(super) fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// A GUID in any common spelling (dashes or not, braces, any case) as 32 lowercase hex.
pub fn normalise_guid(s: &str) -> Option<String> {
    let t = s.trim().trim_start_matches('{').trim_end_matches('}');
    let hex: String = t.chars().filter(|c| *c != '-').collect();
    let dashed_ok = !t.contains('-')
        || (t.len() == 36 && [8, 13, 18, 23].iter().all(|i| t.as_bytes()[*i] == b'-'));
    (hex.len() == 32 && dashed_ok && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}
