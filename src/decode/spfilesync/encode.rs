//! Encoders for `web3s` XML (folders, item lists) and policy documents, used by the
//! reference server.

use super::*;
use crate::decode::webdav::xml;

/// Encode a `web3s` root `Folder` (RootFolder response) with its items.
/// `unknown` elements are written back as simple text elements.
pub fn encode_folder(folder: &Item) -> Vec<u8> {
    let mut w = String::from(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    write_item(&mut w, folder, "Folder");
    w.into_bytes()
}

/// Encode a `web3s` `Items` list (upload metadata or upload response).
pub fn encode_items(items: &[Item]) -> Vec<u8> {
    let mut w = String::from(r#"<?xml version="1.0" encoding="utf-8"?><Items>"#);
    for i in items {
        write_item(&mut w, i, "Document");
    }
    w.push_str("</Items>");
    w.into_bytes()
}

/// Encode a `PolicyDocument` with its rules.
pub fn encode_policy(p: &PolicyDocument) -> Vec<u8> {
    let mut w = String::from(r#"<?xml version="1.0" encoding="utf-8"?><PolicyDocument>"#);
    for r in &p.rules {
        w.push_str("<Rule name=\"");
        xml::escape_into(&mut w, &r.name);
        w.push_str("\" value=\"");
        xml::escape_into(&mut w, &r.value);
        w.push('"');
        for (k, v) in &r.unknown {
            w.push_str(&format!(" {}=\"", xml::safe_name(k)));
            xml::escape_into(&mut w, v);
            w.push('"');
        }
        w.push_str("/>");
    }
    for u in &p.unknown {
        text_el(&mut w, &u.name, &u.text);
    }
    w.push_str("</PolicyDocument>");
    w.into_bytes()
}

/// Append `<name>text</name>` with `name` (from the model) made safe first.
pub(super) fn text_el(w: &mut String, name: &str, text: &str) {
    xml::text_el(w, &xml::safe_name(name), text);
}

pub(super) fn write_item(w: &mut String, item: &Item, default_element: &str) {
    let el = if item.element.is_empty() {
        default_element.to_owned()
    } else {
        xml::safe_name(&item.element)
    };
    w.push_str(&format!("<{el}>"));
    for f in ITEM_FIELDS {
        if let Some(v) = item.fields.get(*f) {
            text_el(w, f, v);
        }
    }
    // Fields outside ITEM_FIELDS (only possible when a caller builds the model by hand)
    // come back as unknown elements on decode; write them after the known ones.
    for (k, v) in &item.fields {
        if !ITEM_FIELDS.contains(&k.as_str()) {
            text_el(w, k, v);
        }
    }
    if let Some(st) = &item.fsshttpstate {
        w.push_str(&format!("<{FSSHTTP_STATE}>"));
        for (k, v) in st {
            text_el(w, k, v);
        }
        w.push_str(&format!("</{FSSHTTP_STATE}>"));
    }
    if !item.document_streams.is_empty() {
        w.push_str("<DocumentStreams>");
        for ds in &item.document_streams {
            w.push_str("<DocumentStream>");
            for f in STREAM_FIELDS {
                if let Some(v) = ds.fields.get(*f) {
                    text_el(w, f, v);
                }
            }
            for u in &ds.unknown {
                text_el(w, &u.name, &u.text);
            }
            w.push_str("</DocumentStream>");
        }
        w.push_str("</DocumentStreams>");
    }
    for u in &item.unknown {
        text_el(w, &u.name, &u.text);
    }
    if !item.items.is_empty() {
        w.push_str("<Items>");
        for c in &item.items {
            write_item(w, c, "Document");
        }
        w.push_str("</Items>");
    }
    w.push_str(&format!("</{el}>"));
}
