//! `multipart/related` uploads: splitting into parts and checking each `DocumentStream`
//! against the binary part it names.

use std::collections::BTreeMap;

use super::body::decode_body;
use super::token::quick_xor_hash;
use super::{Multipart, Part, SyncBody};
use crate::decode::Diagnostic;

pub(super) fn boundary_of(ct: &str) -> Option<String> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

pub(super) fn decode_multipart(ct: &str, body: &[u8]) -> (Multipart, Vec<Diagnostic>) {
    let mut d = Vec::new();
    let Some(boundary) = boundary_of(ct).filter(|b| !b.is_empty()) else {
        d.push(Diagnostic::malformed(
            0,
            "multipart content type has no boundary",
        ));
        return (Multipart::default(), d);
    };
    let mut m = Multipart {
        boundary: boundary.clone(),
        parts: Vec::new(),
    };
    let delim = format!("--{boundary}");
    let finder = memchr::memmem::Finder::new(delim.as_bytes());
    let starts: Vec<usize> = finder.find_iter(body).collect();
    if starts.is_empty() {
        d.push(Diagnostic::malformed(0, "multipart boundary not found"));
        return (m, d);
    }
    let mut closed = false;
    for (i, &s) in starts.iter().enumerate() {
        let after = s + delim.len();
        if body[after..].starts_with(b"--") {
            closed = true;
            break;
        }
        let Some(next) = starts.get(i + 1).copied() else {
            d.push(Diagnostic::truncated(
                after,
                "multipart part is not terminated by a boundary",
            ));
            break;
        };
        let seg_start = after + line_end_len(&body[after..]);
        let mut seg_end = next;
        if body[..seg_end].ends_with(b"\r\n") {
            seg_end -= 2;
        } else if body[..seg_end].ends_with(b"\n") {
            seg_end -= 1;
        }
        let seg = body.get(seg_start..seg_end.max(seg_start)).unwrap_or(&[]);
        let (hdr_len, sep) = match memchr::memmem::find(seg, b"\r\n\r\n") {
            Some(p) => (p, 4),
            None => match memchr::memmem::find(seg, b"\n\n") {
                Some(p) => (p, 2),
                None => {
                    d.push(Diagnostic::truncated(
                        seg_start,
                        "multipart part has no header terminator",
                    ));
                    continue;
                }
            },
        };
        let mut headers = BTreeMap::new();
        for line in String::from_utf8_lossy(&seg[..hdr_len]).lines() {
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
        let content = &seg[hdr_len + sep..];
        let offset = seg_start + hdr_len + sep;
        let part_ct = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Type"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        let xml_part = part_ct.contains("xml");
        let body_dec = if xml_part {
            let (b, pd) = decode_body(Some(&part_ct), content, None, false);
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
    if !closed {
        d.push(Diagnostic::truncated(
            body.len(),
            "multipart body has no closing boundary",
        ));
    }
    (m, d)
}

/// Compare each metadata `DocumentStream` (`FragmentSessionId`, `DataSize`, `XORHash`)
/// with the binary part whose `Content-ID` names its fragment session.
pub(super) fn check_streams(m: &Multipart, d: &mut Vec<Diagnostic>) {
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

pub(super) fn line_end_len(b: &[u8]) -> usize {
    if b.starts_with(b"\r\n") {
        2
    } else if b.starts_with(b"\n") {
        1
    } else {
        0
    }
}
