//! SharePoint SPFileSync REST for the reference server: library
//! discovery, the sync policy, `RootFolder?Filter=changes` with SyncToken paging, and
//! PreAuthURL downloads. Bodies are written with `crate::decode::spfilesync`'s encoders
//! and URLs are read with its `recognise`, so the server and the decoder agree.
//!
//! The change feed is built from the store's change counter: every document carries the
//! counter value of its last change; a SyncToken carries the last value a client saw.

use crate::decode::spfilesync::{
    self as sp, DocumentStream, Item, OperationKind, PolicyDocument, Rule,
};

use super::store::{guid, Document, Store};

/// An answer: status, extra headers, body.
pub(crate) type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

/// The default `MaxItemCount` when a request gives none.
const DEFAULT_PAGE: usize = 500;

/// The library (list) id, 32 lowercase hex digits.
pub(crate) fn list_id(seed: u64) -> String {
    hex32(&guid(seed, 0x115, 1).to_string())
}

fn hex32(g: &str) -> String {
    g.chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn resource_id(seed: u64, d: &Document) -> String {
    hex32(&guid(seed, 0xD0C, d.doc_id).to_string())
}

fn root_id(seed: u64) -> String {
    hex32(&guid(seed, 0x200, 1).to_string())
}

/// ISO 8601 with 7 fractional digits, as SPFileSync writes times.
fn iso7(ms: u64) -> String {
    let ticks = 621_355_968_000_000_000u64.saturating_add(ms.saturating_mul(10_000));
    sp::dotnet_ticks_to_iso(ticks).unwrap_or_default()
}

/// Answers an SPFileSync request, or `None` when `path_and_query` is not one.
pub(crate) fn answer(
    store: &Store,
    seed: u64,
    now_ms: u64,
    method: &str,
    path_and_query: &str,
    origin: &str,
) -> Option<Answer> {
    let op = sp::recognise(method, path_and_query)?;
    let path = path_and_query.split('?').next().unwrap_or("");
    let lower = path.to_ascii_lowercase();
    let site = lower
        .find("/_api/")
        .or_else(|| lower.find("/_layouts/"))
        .and_then(|i| path.get(..i))
        .unwrap_or("");
    let site_url = format!("{origin}{site}");
    let xml = |body: Vec<u8>| {
        (
            200u16,
            vec![("content-type", "Application/Web3s+xml".to_owned())],
            body,
        )
    };
    match op.kind {
        OperationKind::DefaultDocumentLibraryId => {
            let g = guid(seed, 0x115, 1).to_string();
            let id = g.trim_matches(['{', '}']).to_ascii_lowercase();
            Some((
                200,
                vec![(
                    "content-type",
                    "application/json;odata=verbose;charset=utf-8".to_owned(),
                )],
                format!("{{\"d\":{{\"Id\":\"{id}\"}}}}").into_bytes(),
            ))
        }
        OperationKind::Policy => {
            let rule = |name: &str, value: String| Rule {
                name: name.to_owned(),
                value,
                ..Rule::default()
            };
            let p = PolicyDocument {
                rules: vec![
                    rule(
                        "DownloadUrlTemplate",
                        format!(
                            "{site_url}/_layouts/15/download.aspx?UniqueId={{UniqueId}}&UserAgent=SkySync"
                        ),
                    ),
                    rule("ItemCount", DEFAULT_PAGE.to_string()),
                ],
                ..PolicyDocument::default()
            };
            Some((
                200,
                vec![("content-type", "Application/xml".to_owned())],
                sp::encode_policy(&p),
            ))
        }
        OperationKind::RootFolderChanges | OperationKind::RootFolder => {
            let since = op
                .sync_token_fields
                .as_ref()
                .and_then(|t| t.change_number)
                .unwrap_or(0);
            let page = op
                .param("MaxItemCount")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(DEFAULT_PAGE)
                .clamp(1, 1000);
            let mut changed: Vec<&Document> =
                store.docs.values().filter(|d| d.change > since).collect();
            changed.sort_by_key(|d| d.change);
            let more = changed.len() > page;
            changed.truncate(page);
            let upto = if more {
                changed.last().map_or(since, |d| d.change)
            } else {
                store.change_counter
            };
            let root = root_id(seed);
            let items = changed
                .iter()
                .map(|d| document_item(seed, d, &root, &site_url))
                .collect();
            let used: usize = store.docs.values().map(|d| d.content().len()).sum();
            let mut folder = Item {
                element: "Folder".to_owned(),
                items,
                ..Item::default()
            };
            for (k, v) in [
                ("ItemType", "Folder".to_owned()),
                ("ResourceID", root.clone()),
                ("ETag", root),
                ("DateCreated", iso7(0)),
                ("DateModified", iso7(now_ms)),
                ("RelationshipName", "RootFolder".to_owned()),
                ("Path", "/RootFolder".to_owned()),
                ("ParentResourceID", list_id(seed)),
                ("QuotaState", "Normal".to_owned()),
                ("SpaceUsed", used.to_string()),
                ("SpaceGranted", (1u64 << 40).to_string()),
            ] {
                folder.fields.insert(k.to_owned(), v);
            }
            let token = sync_token(seed, now_ms, upto);
            let (status, mut headers, body) = xml(sp::encode_folder(&folder));
            headers.extend([
                ("x-synctoken", token),
                (
                    "x-hasmoredata",
                    if more { "True" } else { "False" }.to_owned(),
                ),
                (
                    "x-syncstatus",
                    if since == 0 {
                        "FullSync"
                    } else {
                        "IncrementalChanges"
                    }
                    .to_owned(),
                ),
                ("x-responsestructure", "Flat".to_owned()),
                ("x-quotastate", "Normal".to_owned()),
            ]);
            Some((status, headers, body))
        }
        OperationKind::Download => {
            let want = op.param("UniqueId").map(hex32).unwrap_or_default();
            let doc = store.docs.values().find(|d| resource_id(seed, d) == want)?;
            Some((
                200,
                vec![("content-type", "application/octet-stream".to_owned())],
                doc.content().to_vec(),
            ))
        }
        _ => Some((404, Vec::new(), b"not served by synctap serve\n".to_vec())),
    }
}

/// A SyncToken of the observed shape (percent-encoded `#`), carrying `change`.
pub(crate) fn sync_token(seed: u64, now_ms: u64, change: u64) -> String {
    let ticks = 621_355_968_000_000_000u64.saturating_add(now_ms.saturating_mul(10_000));
    format!(
        "4;%234;%231;3;{};{ticks};{change};%23;%23;%230;%23",
        list_id(seed)
    )
}

fn document_item(seed: u64, d: &Document, root: &str, site_url: &str) -> Item {
    let rid = resource_id(seed, d);
    let v = d.current();
    let mut item = Item {
        element: "Document".to_owned(),
        ..Item::default()
    };
    for (k, val) in [
        ("ItemType", "Document".to_owned()),
        ("ResourceID", rid.clone()),
        ("ETag", d.etag(seed)),
        ("DateCreated", iso7(d.created_ms)),
        ("DateModified", iso7(v.modified_ms)),
        ("RelationshipName", d.name.clone()),
        ("Path", format!("/RootFolder/{}", d.name)),
        ("ParentResourceID", root.to_owned()),
    ] {
        item.fields.insert(k.to_owned(), val);
    }
    let mut stream = DocumentStream::default();
    for (k, val) in [
        ("DocumentStreamName", "Binary".to_owned()),
        ("MimeType", "application/octet-stream".to_owned()),
        ("DataSize", v.content.len().to_string()),
        (
            "PreAuthURL",
            format!("{site_url}/_layouts/15/download.aspx?UniqueId={rid}&UserAgent=SkySync"),
        ),
        ("XORHash", sp::quick_xor_hash(&v.content)),
    ] {
        stream.fields.insert(k.to_owned(), val);
    }
    item.document_streams.push(stream);
    item
}
