//! Decoding SPFileSync bodies: `web3s` XML items, policy XML and JSON, by content type.

use std::collections::BTreeMap;

use super::multipart::decode_multipart;
use super::*;
use crate::decode::webdav::xml;

pub(super) fn decode_body(
    content_type: Option<&str>,
    body: &[u8],
    kind: Option<OperationKind>,
    response: bool,
) -> (Option<SyncBody>, Vec<Diagnostic>) {
    if body.is_empty() {
        return (None, Vec::new());
    }
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("multipart/") {
        let (m, d) = decode_multipart(content_type.unwrap_or(""), body, |ct, part| {
            decode_body(Some(ct), part, None, false)
        });
        return (Some(SyncBody::Multipart(m)), d);
    }
    if kind == Some(OperationKind::Download) && response {
        return (Some(SyncBody::Content { length: body.len() }), Vec::new());
    }
    let trimmed = body
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(body)
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .map(|i| body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)[i]);
    if ct.contains("json") || trimmed == Some(b'{') {
        return decode_json(body);
    }
    if !xml::looks_like_xml(body) {
        return (Some(SyncBody::Content { length: body.len() }), Vec::new());
    }
    let mut diags = Vec::new();
    let read = xml::read_root(body, |_, root| match root.tag_name().name() {
        "Folder" => SyncBody::Folder(read_item(root, 0, &mut diags)),
        "Document" => SyncBody::Document(read_item(root, 0, &mut diags)),
        "Items" => SyncBody::Items(read_items(root, 0, &mut diags)),
        "PolicyDocument" => SyncBody::PolicyDocument(read_policy(root)),
        name => {
            let discovery = matches!(
                kind,
                Some(
                    OperationKind::GetMyProperties
                        | OperationKind::DefaultDocumentLibraryId
                        | OperationKind::SiteId
                        | OperationKind::Authenticate
                )
            );
            if kind == Some(OperationKind::Policy)
                && root.descendants().any(|n| n.has_tag_name("Rule"))
            {
                SyncBody::PolicyDocument(read_policy(root))
            } else if discovery {
                SyncBody::Discovery(xml_leaves(root))
            } else {
                SyncBody::OtherXml(name.to_owned())
            }
        }
    });
    match read {
        Ok(b) => (Some(b), diags),
        Err(d) => (Some(SyncBody::Content { length: body.len() }), vec![d]),
    }
}

pub(super) fn decode_json(body: &[u8]) -> (Option<SyncBody>, Vec<Diagnostic>) {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let obj = v.get("d").filter(|d| d.is_object()).unwrap_or(&v);
            let mut out = BTreeMap::new();
            if let Some(map) = obj.as_object() {
                for (k, v) in map {
                    let s = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        _ => continue,
                    };
                    out.insert(k.clone(), s);
                }
            }
            (Some(SyncBody::Discovery(out)), Vec::new())
        }
        Err(e) => {
            let off = match std::str::from_utf8(body) {
                Ok(t) => xml::byte_offset(
                    t,
                    e.line().try_into().unwrap_or(u32::MAX),
                    e.column().try_into().unwrap_or(u32::MAX),
                ),
                Err(u) => u.valid_up_to(),
            };
            let msg = e.to_string();
            let msg = msg.rsplit_once(" at line").map_or(msg.as_str(), |(m, _)| m);
            (
                Some(SyncBody::Content { length: body.len() }),
                vec![Diagnostic::malformed(
                    off.min(body.len()),
                    format!("malformed json: {msg}"),
                )],
            )
        }
    }
}

type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

pub(super) fn xml_leaves(root: Node<'_, '_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if !root.children().any(|c| c.is_element()) {
        out.insert(root.tag_name().name().to_owned(), xml::text(root));
        return out;
    }
    for n in root
        .descendants()
        .filter(|n| n.is_element() && !n.children().any(|c| c.is_element()))
    {
        out.entry(n.tag_name().name().to_owned())
            .or_insert_with(|| xml::text(n));
    }
    out
}

pub(super) fn unknown(n: Node<'_, '_>) -> UnknownElement {
    UnknownElement {
        name: n.tag_name().name().to_owned(),
        text: xml::text(n),
    }
}

pub(super) fn is_item_element(name: &str) -> bool {
    matches!(name, "Folder" | "Document") || name.starts_with("Deleted")
}

pub(super) fn read_items(n: Node<'_, '_>, depth: usize, d: &mut Vec<Diagnostic>) -> Vec<Item> {
    let mut out = Vec::new();
    for c in n.children().filter(Node::is_element) {
        if is_item_element(c.tag_name().name()) {
            out.push(read_item(c, depth, d));
        } else {
            d.push(Diagnostic::unexpected(
                c.range().start,
                format!("unexpected element {} in Items", c.tag_name().name()),
            ));
        }
    }
    out
}

pub(super) fn read_fields(
    c: Node<'_, '_>,
    known: &[&str],
    fields: &mut BTreeMap<String, String>,
    unknown_out: &mut Vec<UnknownElement>,
    d: &mut Vec<Diagnostic>,
) {
    let name = c.tag_name().name();
    if known.contains(&name) {
        let v = xml::text(c);
        if NUMERIC_FIELDS.contains(&name) && !v.is_empty() && v.parse::<u64>().is_err() {
            d.push(Diagnostic::invalid_value(
                c.range().start,
                format!("{name} is not a decimal number: {v:?}"),
            ));
        }
        if fields.contains_key(name) {
            d.push(Diagnostic::unexpected(
                c.range().start,
                format!("duplicate {name} ignored"),
            ));
        } else {
            fields.insert(name.to_owned(), v);
        }
    } else {
        unknown_out.push(unknown(c));
    }
}

/// How deeply `Items` may nest inside `Folder`s before the decoder stops descending.
///
/// A SharePoint path has at most 400 characters, so a real folder tree is far shallower;
/// the limit keeps a hostile body from overflowing the stack (the decoder, `Item`'s
/// drop and every renderer recurse once per level).
pub const MAX_ITEM_NESTING: usize = 256;

pub(super) fn read_item(n: Node<'_, '_>, depth: usize, d: &mut Vec<Diagnostic>) -> Item {
    let mut item = Item {
        element: n.tag_name().name().to_owned(),
        ..Item::default()
    };
    for c in n.children().filter(Node::is_element) {
        match c.tag_name().name() {
            "Items" if depth + 1 >= MAX_ITEM_NESTING => d.push(Diagnostic::limit(
                c.range().start,
                format!(
                    "Items nested more than {MAX_ITEM_NESTING} levels deep; the items below are not decoded"
                ),
            )),
            "Items" => item.items.extend(read_items(c, depth + 1, d)),
            "DocumentStreams" => {
                for s in c.children().filter(Node::is_element) {
                    if s.tag_name().name() != "DocumentStream" {
                        item.unknown.push(unknown(s));
                        continue;
                    }
                    let mut ds = DocumentStream::default();
                    for f in s.children().filter(Node::is_element) {
                        read_fields(f, STREAM_FIELDS, &mut ds.fields, &mut ds.unknown, d);
                    }
                    item.document_streams.push(ds);
                }
            }
            FSSHTTP_STATE => {
                let mut m = BTreeMap::new();
                for f in c.children().filter(Node::is_element) {
                    m.insert(f.tag_name().name().to_owned(), xml::text(f));
                }
                item.fsshttpstate = Some(m);
            }
            _ => read_fields(c, ITEM_FIELDS, &mut item.fields, &mut item.unknown, d),
        }
    }
    if let Some(id) = item.fields.get("ResourceID") {
        if normalise_guid(id).is_none() {
            let at = n
                .children()
                .find(|c| c.has_tag_name("ResourceID"))
                .map_or(n.range().start, |c| c.range().start);
            d.push(Diagnostic::invalid_value(
                at,
                format!("ResourceID is not a GUID: {id:?}"),
            ));
        }
    }
    item
}

pub(super) fn read_policy(root: Node<'_, '_>) -> PolicyDocument {
    let mut p = PolicyDocument::default();
    for n in root.descendants().filter(|n| n.is_element() && *n != root) {
        if n.tag_name().name() == "Rule" {
            let mut r = Rule::default();
            for a in n.attributes() {
                match a.name() {
                    "name" => r.name = a.value().to_owned(),
                    "value" => r.value = a.value().to_owned(),
                    other => {
                        r.unknown.insert(other.to_owned(), a.value().to_owned());
                    }
                }
            }
            p.rules.push(r);
        } else if n.parent() == Some(root) && !n.descendants().any(|k| k.has_tag_name("Rule")) {
            p.unknown.push(unknown(n));
        }
    }
    p
}
