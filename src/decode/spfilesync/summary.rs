//! One-line summaries of SPFileSync exchanges.

use super::*;
use crate::decode::text::shorten;

/// One line describing the exchange, e.g.
/// `SPFileSync RootFolder changes (SyncToken 4;#4;#1;3;…) → 37 items, more data`.
pub fn summarize(x: &SpFileSyncExchange) -> String {
    let mut s = String::from("SPFileSync ");
    let Some(op) = &x.operation else {
        s.push_str(&format!("{} {} (unrecognised URL)", x.method, x.url));
        return s;
    };
    match op.kind {
        OperationKind::RootFolderChanges => {
            s.push_str("RootFolder changes (");
            match op.param("SyncToken") {
                Some(t) if !t.is_empty() => {
                    match op.sync_token_fields.as_ref().and_then(|f| f.change_number) {
                        Some(n) => s.push_str(&format!("SyncToken change {n}")),
                        None => s.push_str(&format!("SyncToken {}", shorten(t))),
                    }
                }
                _ => s.push_str("full, no SyncToken"),
            }
            if let Some(n) = op.param("MaxItemCount") {
                s.push_str(&format!(", MaxItemCount {n}"));
            }
            s.push(')');
        }
        OperationKind::Policy => s.push_str("policy"),
        OperationKind::Upload => {
            s.push_str("upload");
            if let Some(SyncBody::Multipart(m)) = &x.request.body {
                for p in &m.parts {
                    match p.body.as_deref() {
                        Some(SyncBody::Items(items)) => {
                            for i in items {
                                s.push_str(&format!(
                                    " {} {}",
                                    i.get("WriteMode").unwrap_or("?"),
                                    i.get("RelationshipName").unwrap_or("?")
                                ));
                            }
                        }
                        Some(SyncBody::Content { length }) => {
                            s.push_str(&format!(" ({length} bytes)"));
                        }
                        _ => {}
                    }
                }
            }
        }
        OperationKind::Download => {
            s.push_str(&format!(
                "download UniqueId {}",
                op.param("UniqueId").unwrap_or("?")
            ));
        }
        OperationKind::Items => {
            s.push_str("Items");
            let ps: Vec<String> = ["View", "Depth", "FoldersOnly", "web3s.paging"]
                .iter()
                .filter_map(|k| op.param(k).map(|v| format!("{k} {v}")))
                .collect();
            if !ps.is_empty() {
                s.push_str(&format!(" ({})", ps.join(", ")));
            }
        }
        OperationKind::Subscription => s.push_str("Subscription"),
        OperationKind::QuotaState => s.push_str("QuotaState"),
        OperationKind::RootFolder => s.push_str("RootFolder"),
        OperationKind::GetMyProperties => s.push_str("sign-in getmyproperties"),
        OperationKind::DefaultDocumentLibraryId => {
            s.push_str("discovery DefaultDocumentLibrary/ID")
        }
        OperationKind::SiteId => s.push_str("discovery Site/Id"),
        OperationKind::Authenticate => s.push_str("sign-in NativeClient/Authenticate"),
        OperationKind::Other => {
            s.push_str(op.resource.as_deref().unwrap_or("(no resource)"));
        }
    }
    let Some(resp) = &x.response else {
        s.push_str(" (no response)");
        return s;
    };
    s.push_str(" →");
    if let Some(c) = resp.status.filter(|c| *c != 200) {
        s.push_str(&format!(" {c}"));
    }
    match &resp.body {
        Some(SyncBody::PolicyDocument(p)) => {
            s.push_str(&format!(" {} rule{}", p.rules.len(), plural(p.rules.len())));
        }
        Some(SyncBody::Folder(_) | SyncBody::Items(_) | SyncBody::Document(_)) => {
            let items = x.response_items();
            let deleted = items.iter().filter(|i| i.is_deleted()).count();
            s.push_str(&format!(" {} item{}", items.len(), plural(items.len())));
            if deleted > 0 {
                s.push_str(&format!(" ({deleted} deleted)"));
            }
            if op.kind == OperationKind::Upload {
                for i in &items {
                    if let Some(w) = i.get("WriteStatus") {
                        s.push_str(&format!(", {w}"));
                    }
                }
            }
        }
        Some(SyncBody::Discovery(d)) => {
            let v = ["value", "Id", "AccountName", "DisplayName"]
                .iter()
                .find_map(|k| d.get(*k));
            match v {
                Some(v) => s.push_str(&format!(" {}", crate::decode::text::shorten_to(v, 64))),
                None => s.push_str(&format!(" {} values", d.len())),
            }
        }
        Some(SyncBody::Content { length }) => s.push_str(&format!(" {length} bytes")),
        Some(SyncBody::OtherXml(root)) => s.push_str(&format!(" <{root}>")),
        Some(SyncBody::Multipart(m)) => s.push_str(&format!(" {} parts", m.parts.len())),
        None => {
            if resp.status.is_none_or(|c| c == 200) {
                s.push_str(" empty");
            }
        }
    }
    if let Some(n) = resp
        .sync_token_fields
        .as_ref()
        .and_then(|f| f.change_number)
    {
        s.push_str(&format!(", next change {n}"));
    }
    match resp.has_more_data() {
        Some(true) => s.push_str(", more data"),
        Some(false) if op.kind == OperationKind::RootFolderChanges => s.push_str(", complete"),
        _ => {}
    }
    if resp.status == Some(403) && resp.header("X-RequestDigest").is_some() {
        s.push_str(" (X-RequestDigest issued)");
    }
    let n = x.request.diagnostics.len() + resp.diagnostics.len();
    if n > 0 {
        s.push_str(&format!(" [{n} diagnostics]"));
    }
    s
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
