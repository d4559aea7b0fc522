//! `multipart/related` uploads: splitting into parts and checking each `DocumentStream`
//! against the binary part it names.

use std::collections::BTreeMap;

use super::token::quick_xor_hash;
use super::{Multipart, Part, SyncBody};
use crate::decode::mtom::{self, MultipartParams};
use crate::decode::Diagnostic;

/// Splits an upload with [`mtom::split`], the crate's one multipart splitter (with its
/// part and header limits), and decodes each part: `web3s` XML parts as items, binary
/// parts hashed with QuickXorHash. `decode_xml` decodes an XML part's content given its
/// content type (the body decoder, passed in so that the two do not import each other).
pub(super) fn decode_multipart(
    ct: &str,
    body: &[u8],
    decode_xml: impl Fn(&str, &[u8]) -> (Option<SyncBody>, Vec<Diagnostic>),
) -> (Multipart, Vec<Diagnostic>) {
    let Some(boundary) = mtom::header_param(ct, "boundary").filter(|b| !b.is_empty()) else {
        let d = Diagnostic::malformed(0, "multipart content type has no boundary");
        return (Multipart::default(), vec![d]);
    };
    let params = MultipartParams {
        boundary: boundary.clone(),
        ..MultipartParams::default()
    };
    let split = mtom::split(body, &params);
    let mut d = split.diagnostics;
    let mut m = Multipart {
        boundary,
        parts: Vec::with_capacity(split.parts.len()),
    };
    for p in &split.parts {
        let content = body.get(p.range.clone()).unwrap_or(&[]);
        let offset = p.range.start;
        let headers: BTreeMap<String, String> = p.headers.iter().cloned().collect();
        let part_ct = p
            .content_type
            .as_deref()
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let xml_part = part_ct.contains("xml");
        let body_dec = if xml_part {
            let (b, pd) = decode_xml(&part_ct, content);
            d.extend(pd.into_iter().map(|x| x.rebased(offset)));
            b.map(Box::new)
        } else {
            Some(Box::new(SyncBody::Content {
                length: content.len(),
            }))
        };
        m.parts.push(Part {
            offset,
            length: content.len(),
            headers,
            body: body_dec,
            quickxorhash: (!xml_part).then(|| quick_xor_hash(content)),
        });
    }
    check_streams(&m, &mut d);
    (m, d)
}

/// Compare each metadata `DocumentStream` (`FragmentSessionId`, `DataSize`, `XORHash`)
/// with the binary part whose `Content-ID` names its fragment session.
fn check_streams(m: &Multipart, d: &mut Vec<Diagnostic>) {
    let streams = m.parts.iter().filter_map(|p| match p.body.as_deref() {
        Some(SyncBody::Items(items)) => Some(items),
        _ => None,
    });
    for ds in streams.flatten().flat_map(|i| i.document_streams.iter()) {
        let Some(session) = ds.fields.get("FragmentSessionId").filter(|s| !s.is_empty()) else {
            continue;
        };
        let part = m.parts.iter().find(|p| {
            p.quickxorhash.is_some()
                && p.headers.iter().any(|(k, v)| {
                    k.eq_ignore_ascii_case("Content-ID") && v.contains(session.as_str())
                })
        });
        let Some(part) = part else {
            d.push(Diagnostic::missing(
                0,
                format!("no part carries the content of FragmentSessionId {session}"),
            ));
            continue;
        };
        if let Some(size) = ds.fields.get("DataSize") {
            if size.parse::<usize>().ok() != Some(part.length) {
                d.push(Diagnostic::invalid_value(
                    part.offset,
                    format!("DataSize {size} but the part holds {} bytes", part.length),
                ));
            }
        }
        if let (Some(claimed), Some(computed)) = (ds.fields.get("XORHash"), &part.quickxorhash) {
            if claimed != computed {
                d.push(Diagnostic::invalid_value(
                    part.offset,
                    format!(
                        "XORHash {claimed} does not match the content's QuickXorHash {computed}"
                    ),
                ));
            }
        }
    }
}
