//! One-line summaries and an indented tree view of decoded MS-FSSHTTPB messages, with spec
//! names and byte ranges ([MS-FSSHTTPB] 2.2).
//!
//! Spec: <https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-fsshttpb/f59fc37d-2232-4b14-baac-25f98e9e7b5a>

use super::fsshttpd::file_layout;
use super::model::*;
use super::names::{data_element_type_name, request_type_name};
use std::fmt::Write as _;

/// `1536` → `1.5 KiB`.
pub(crate) fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in UNITS.iter().skip(1) {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

fn partition(s: Option<&SubRequest>) -> String {
    match s.and_then(|s| s.target_partition_id) {
        Some(g) if g != Guid::NIL => format!(" (partition {g})"),
        _ => String::new(),
    }
}

fn package_phrase(p: Option<&DataElementPackage>) -> String {
    match p {
        Some(p) => {
            let n = p.elements.len();
            format!(
                "{n} data element{}, {}",
                if n == 1 { "" } else { "s" },
                human_size(p.end.saturating_sub(p.offset) as u64)
            )
        }
        None => "no data elements".to_string(),
    }
}

fn error_phrase(e: &ResponseError) -> String {
    match &e.detail {
        ErrorDetail::CellError { name, .. } => name.clone(),
        ErrorDetail::ProtocolError { code, name } => format!("ProtocolError {code} {name}"),
        ErrorDetail::Win32Error { code } => format!("Win32Error 0x{code:08X}"),
        ErrorDetail::HresultError { code } => format!("HRESULT 0x{code:08X}"),
        ErrorDetail::Unknown { object_type, .. } => {
            format!("error {} (object 0x{object_type:02X})", e.error_type)
        }
        ErrorDetail::None => format!("error {}", e.error_type),
    }
}

/// One line per sub-request, e.g. `Cell QueryChanges (partition {…})`, plus a line for the
/// data element package and one for decoding problems.
pub fn summarize_request(r: &FsshttpbRequest) -> Vec<String> {
    let mut out: Vec<String> = r
        .sub_requests
        .iter()
        .map(|s| {
            let name = request_type_name(s.request_type);
            let detail = match &s.data {
                SubRequestData::PutChanges(_) => {
                    format!(" → {}", package_phrase(r.data_element_package.as_ref()))
                }
                SubRequestData::QueryChanges(q) => match q.max_data_elements {
                    Some(m) => format!(", up to {}", human_size(m)),
                    None => String::new(),
                },
                SubRequestData::AllocateExtendedGuidRange(a) => format!(", {} ids", a.count),
                SubRequestData::Unknown { .. } => format!(" type {}", s.request_type),
                SubRequestData::QueryAccess => String::new(),
            };
            format!("Cell {name}{}{detail}", partition(Some(s)))
        })
        .collect();
    if out.is_empty() {
        out.push("Cell request with no sub-requests".to_string());
    }
    if !r.diagnostics.is_empty() {
        out.push(format!("{} decoding problem(s)", r.diagnostics.len()));
    }
    out
}

/// One line per sub-response, e.g. `Cell QueryChanges (partition {…}) → 12 data elements,
/// 3.2 MiB` or `Cell PutChanges → CoherencyFailure`.
pub fn summarize_response(r: &FsshttpbResponse) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(e) = &r.error {
        out.push(format!("Cell request failed → {}", error_phrase(e)));
    }
    for s in &r.sub_responses {
        let name = request_type_name(s.request_type);
        let part = partition(s.sub_request.as_deref());
        let result = if let Some(e) = &s.error {
            error_phrase(e)
        } else {
            match &s.data {
                SubResponseData::QueryChanges(q) => format!(
                    "{}{}",
                    package_phrase(r.data_element_package.as_ref()),
                    if q.partial { ", partial" } else { "" }
                ),
                SubResponseData::PutChanges(p) => match &p.applied {
                    Some(a) => format!("ok, {} data elements added", a.data_elements_added.len()),
                    None => "ok".to_string(),
                },
                SubResponseData::QueryAccess { read, write } => {
                    let f = |e: &Option<ResponseError>| match e {
                        None => "ok".to_string(),
                        Some(e) => match &e.detail {
                            ErrorDetail::HresultError { code: 0 }
                            | ErrorDetail::Win32Error { code: 0 } => "ok".to_string(),
                            _ => error_phrase(e),
                        },
                    };
                    format!("read {}, write {}", f(read), f(write))
                }
                SubResponseData::AllocateExtendedGuidRange(a) => {
                    format!("{} values {}..{}", a.guid, a.min, a.max)
                }
                SubResponseData::Unknown { .. } => format!("type {}", s.request_type),
                SubResponseData::None if s.status & 1 == 1 => "failed".to_string(),
                SubResponseData::None => "ok".to_string(),
            }
        };
        out.push(format!("Cell {name}{part} → {result}"));
    }
    if out.is_empty() {
        out.push(format!(
            "Cell response with no sub-responses, {}",
            package_phrase(r.data_element_package.as_ref())
        ));
    }
    if !r.diagnostics.is_empty() {
        out.push(format!("{} decoding problem(s)", r.diagnostics.len()));
    }
    out
}

/// One line describing a package: element counts by type and, for MS-FSSHTTPD content,
/// the file size and chunk count.
pub fn summarize_package(p: &DataElementPackage) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for e in &p.elements {
        let n = data_element_type_name(e.element_type);
        match counts.iter_mut().find(|(k, _)| *k == n) {
            Some((_, c)) => *c += 1,
            None => counts.push((n, 1)),
        }
    }
    let mut s = format!("DataElementPackage: {}", package_phrase(Some(p)));
    for (k, c) in counts {
        let _ = write!(s, ", {c} {k}");
    }
    if let Some(l) = file_layout(p) {
        let _ = write!(
            s,
            "; file {} in {} chunks",
            human_size(l.total_size),
            l.chunks.len()
        );
    }
    s
}

struct Tree {
    out: String,
}

impl Tree {
    fn line(&mut self, depth: usize, name: &str, start: usize, end: Option<usize>, detail: &str) {
        let range = match end {
            Some(e) => format!("[{start}..{e})"),
            None => format!("@{start}"),
        };
        let _ = writeln!(
            self.out,
            "{:indent$}{name} {range}{}{detail}",
            "",
            if detail.is_empty() { "" } else { " " },
            indent = depth * 2
        );
    }
    fn text(&mut self, depth: usize, text: &str) {
        let _ = writeln!(self.out, "{:indent$}{text}", "", indent = depth * 2);
    }
}

fn knowledge(t: &mut Tree, d: usize, k: &Knowledge) {
    t.line(d, "Knowledge", k.offset, None, "");
    for e in &k.entries {
        match e {
            SpecializedKnowledge::CellKnowledge(items) => {
                t.text(d + 1, "CellKnowledge");
                for i in items {
                    match i {
                        CellKnowledgeItem::Range { guid, from, to } => {
                            t.text(d + 2, &format!("CellKnowledgeRange {guid} {from}..{to}"))
                        }
                        CellKnowledgeItem::Entry(s) => t.text(
                            d + 2,
                            &format!(
                                "CellKnowledgeEntry {}",
                                s.map(|s| s.to_string()).unwrap_or("null".into())
                            ),
                        ),
                    }
                }
            }
            SpecializedKnowledge::WaterlineKnowledge(es) => {
                t.text(d + 1, "WaterlineKnowledge");
                for e in es {
                    t.text(
                        d + 2,
                        &format!(
                            "WaterlineKnowledgeEntry {} waterline {}",
                            e.cell_storage, e.waterline
                        ),
                    );
                }
            }
            SpecializedKnowledge::FragmentKnowledge(es) => {
                t.text(d + 1, "FragmentKnowledge");
                for e in es {
                    t.text(
                        d + 2,
                        &format!(
                            "FragmentKnowledgeEntry {} size {} chunk {}+{}",
                            e.data_element, e.size, e.start, e.length
                        ),
                    );
                }
            }
            SpecializedKnowledge::ContentTagKnowledge(es) => {
                t.text(d + 1, "ContentTagKnowledge");
                for e in es {
                    t.text(
                        d + 2,
                        &format!(
                            "ContentTagKnowledgeEntry {} clock {} bytes",
                            e.blob_heap_id,
                            e.clock_data.0.len()
                        ),
                    );
                }
            }
            SpecializedKnowledge::VersionTokenKnowledge(b) => {
                t.text(d + 1, &format!("VersionTokenKnowledge {} bytes", b.0.len()))
            }
            SpecializedKnowledge::Unknown { guid, raw } => t.text(
                d + 1,
                &format!("SpecializedKnowledge {guid} ({} raw bytes)", raw.0.len()),
            ),
        }
    }
}

fn error(t: &mut Tree, d: usize, e: &ResponseError) {
    t.line(
        d,
        "Error",
        e.offset,
        None,
        &format!("{} {}", e.error_type, error_phrase(e)),
    );
    if let Some(s) = &e.supplemental_info {
        t.text(d + 1, &format!("ErrorStringSupplementalInfo {s:?}"));
    }
    if let Some(c) = &e.chained {
        error(t, d + 1, c);
    }
}

fn package(t: &mut Tree, d: usize, p: &DataElementPackage) {
    t.line(
        d,
        "DataElementPackage",
        p.offset,
        Some(p.end),
        &format!("{} elements", p.elements.len()),
    );
    for e in &p.elements {
        let sn = e
            .serial_number
            .map(|s| s.to_string())
            .unwrap_or("null".into());
        t.line(
            d + 1,
            data_element_type_name(e.element_type),
            e.offset,
            Some(e.end),
            &format!("id {} sn {sn}", e.id),
        );
        let d2 = d + 2;
        match &e.body {
            DataElementBody::StorageIndex(entries) => {
                for en in entries {
                    match en {
                        StorageIndexEntry::ManifestMapping { id, .. } => {
                            t.text(d2, &format!("StorageIndexManifestMapping {id}"))
                        }
                        StorageIndexEntry::CellMapping { cell_id, id, .. } => {
                            t.text(d2, &format!("StorageIndexCellMapping {cell_id} → {id}"))
                        }
                        StorageIndexEntry::RevisionMapping {
                            revision_id, id, ..
                        } => t.text(
                            d2,
                            &format!("StorageIndexRevisionMapping {revision_id} → {id}"),
                        ),
                    }
                }
            }
            DataElementBody::StorageManifest(m) => {
                t.text(d2, &format!("StorageManifestSchemaGuid {}", m.schema));
                for (r, c) in &m.roots {
                    t.text(d2, &format!("StorageManifestRootDeclare {r} {c}"));
                }
            }
            DataElementBody::CellManifest(r) => {
                t.text(d2, &format!("CellManifestCurrentRevision {r}"))
            }
            DataElementBody::RevisionManifest(m) => {
                t.text(
                    d2,
                    &format!(
                        "RevisionManifest {} base {}",
                        m.revision_id, m.base_revision_id
                    ),
                );
                for (r, o) in &m.roots {
                    t.text(d2, &format!("RevisionManifestRootDeclare {r} → {o}"));
                }
                for g in &m.object_groups {
                    t.text(d2, &format!("RevisionManifestObjectGroupReferences {g}"));
                }
            }
            DataElementBody::ObjectGroup(g) => {
                if let Some((s, h)) = &g.hash {
                    t.text(
                        d2,
                        &format!("DataElementHash scheme {s}, {} bytes", h.0.len()),
                    );
                }
                t.text(
                    d2,
                    &format!("ObjectGroupDeclarations ({})", g.declarations.len()),
                );
                for (i, decl) in g.declarations.iter().enumerate() {
                    let data = g.data.get(i);
                    let detail = match data {
                        Some(ObjectData::Data {
                            object_refs, data, ..
                        }) => {
                            format!("data {} bytes, {} refs", data.0.len(), object_refs.len())
                        }
                        Some(ObjectData::ExcludedData { size, .. }) => {
                            format!("excluded, {size} bytes")
                        }
                        Some(ObjectData::BlobReference { blob_id, .. }) => {
                            format!("blob {blob_id}")
                        }
                        None => "no data".to_string(),
                    };
                    let (kind, id, part) = match decl {
                        ObjectDeclaration::Object {
                            id, partition_id, ..
                        } => ("ObjectGroupObjectDeclare", id, partition_id),
                        ObjectDeclaration::Blob {
                            id, partition_id, ..
                        } => ("ObjectGroupObjectBlobDataDeclaration", id, partition_id),
                    };
                    match data {
                        Some(ObjectData::Data { offset, .. }) => t.line(
                            d2 + 1,
                            kind,
                            *offset,
                            None,
                            &format!("{id} partition {part}: {detail}"),
                        ),
                        _ => t.text(d2 + 1, &format!("{kind} {id} partition {part}: {detail}")),
                    }
                }
                if let Some(m) = &g.metadata {
                    t.text(d2, &format!("ObjectGroupMetadataDeclarations {m:?}"));
                }
            }
            DataElementBody::DataElementFragment(f) => t.text(
                d2,
                &format!(
                    "DataElementFragment {} size {} chunk {}+{}",
                    f.id, f.size, f.start, f.length
                ),
            ),
            DataElementBody::ObjectDataBlob(b) => {
                t.text(d2, &format!("ObjectDataBlob {} bytes", b.0.len()))
            }
            DataElementBody::Unknown { raw } => {
                t.text(d2, &format!("unknown body, {} bytes", raw.0.len()))
            }
        }
    }
    if let Some(l) = file_layout(p) {
        t.text(
            d + 1,
            &format!(
                "MS-FSSHTTPD file: {} bytes in {} chunks, root {}",
                l.total_size,
                l.chunks.len(),
                l.root_id
            ),
        );
        for c in &l.chunks {
            t.text(
                d + 2,
                &format!(
                    "chunk @{} {} bytes leaf {}",
                    c.file_offset, c.size, c.leaf_id
                ),
            );
        }
    }
}

fn diagnostics(t: &mut Tree, diags: &[crate::decode::Diagnostic], unknown: &[UnknownObject]) {
    for u in unknown {
        t.line(
            1,
            &format!("unknown object 0x{:02X} in {}", u.object_type, u.parent),
            u.offset,
            Some(u.end),
            "",
        );
    }
    for d in diags {
        t.text(0, &format!("! {d}"));
    }
}

/// An indented tree of the request with spec names and byte ranges.
pub fn render_request_tree(r: &FsshttpbRequest) -> String {
    let mut t = Tree { out: String::new() };
    t.text(
        0,
        &format!(
            "Request (protocol {}, minimum {}, signature 0x{:016X})",
            r.protocol_version, r.minimum_version, r.signature
        ),
    );
    if let Some(ua) = &r.user_agent {
        let mut s = String::new();
        if let Some(g) = ua.guid {
            let _ = write!(s, "guid {g} ");
        }
        if let Some(cp) = &ua.client_and_platform {
            let _ = write!(s, "client {:?} platform {:?} ", cp.client, cp.platform);
        }
        if let Some(v) = ua.version {
            let _ = write!(s, "version 0x{v:08X}");
        }
        t.line(1, "UserAgent", ua.offset, None, s.trim_end());
    }
    if let Some(h) = &r.hashing_options {
        t.line(
            1,
            "RequestHashingOptions",
            h.offset,
            None,
            &format!("schema {} {:?}", h.schema, h.flag_names),
        );
    }
    if let Some(o) = &r.roundtrip_options {
        t.line(
            1,
            "CellRoundtripOptions",
            o.offset,
            None,
            &format!("{:?}", o.flag_names),
        );
    }
    for s in &r.sub_requests {
        t.line(
            1,
            &format!("SubRequest {}", request_type_name(s.request_type)),
            s.offset,
            Some(s.end),
            &format!(
                "id {} priority {}{}",
                s.request_id,
                s.priority,
                partition(Some(s))
            ),
        );
        match &s.data {
            SubRequestData::QueryChanges(q) => {
                t.line(
                    2,
                    "QueryChangesRequest",
                    q.offset,
                    None,
                    &format!("{:?}", q.flag_names),
                );
                if let Some(a) = &q.arguments {
                    t.text(
                        3,
                        &format!(
                            "QueryChangesRequestArguments {:?} cell {}",
                            a.flag_names, a.cell_id
                        ),
                    );
                }
                if let Some(m) = q.max_data_elements {
                    t.text(3, &format!("QueryChangesDataConstraint {m}"));
                }
                if let Some(v) = &q.versioning {
                    t.text(3, &format!("QueryChangesVersioning {} bytes", v.0.len()));
                }
                for f in &q.filters {
                    t.line(
                        3,
                        "QueryChangesFilter",
                        f.offset,
                        None,
                        &format!(
                            "type {} operation {} {:?}",
                            f.filter_type, f.operation, f.data
                        ),
                    );
                }
                if let Some(k) = &q.knowledge {
                    knowledge(&mut t, 3, k);
                }
            }
            SubRequestData::PutChanges(p) => {
                t.line(
                    2,
                    "PutChangesRequest",
                    p.offset,
                    None,
                    &format!(
                        "storage index {} expected {} {:?}",
                        p.storage_index_id, p.expected_storage_index_id, p.flag_names
                    ),
                );
                if p.additional_flags.is_some() {
                    t.text(3, &format!("AdditionalFlags {:?}", p.additional_flag_names));
                }
                if let Some(l) = p.lock_id {
                    t.text(3, &format!("PutChangesLockId {l}"));
                }
                if let Some(k) = &p.client_knowledge {
                    knowledge(&mut t, 3, k);
                }
            }
            SubRequestData::AllocateExtendedGuidRange(a) => t.text(
                2,
                &format!("AllocateExtendedGuidRangeRequest count {}", a.count),
            ),
            SubRequestData::Unknown { raw } => {
                t.text(2, &format!("unknown data, {} bytes", raw.0.len()))
            }
            SubRequestData::QueryAccess => {}
        }
    }
    if let Some(p) = &r.data_element_package {
        package(&mut t, 1, p);
    }
    diagnostics(&mut t, &r.diagnostics, &r.unknown);
    t.out
}

/// An indented tree of the response with spec names and byte ranges.
pub fn render_response_tree(r: &FsshttpbResponse) -> String {
    let mut t = Tree { out: String::new() };
    t.text(
        0,
        &format!(
            "Response (protocol {}, minimum {}, signature 0x{:016X}, status {})",
            r.protocol_version, r.minimum_version, r.signature, r.status
        ),
    );
    if let Some(e) = &r.error {
        error(&mut t, 1, e);
    }
    if let Some(p) = &r.data_element_package {
        package(&mut t, 1, p);
    }
    for s in &r.sub_responses {
        t.line(
            1,
            &format!("SubResponse {}", request_type_name(s.request_type)),
            s.offset,
            Some(s.end),
            &format!(
                "id {} status {}{}",
                s.request_id,
                s.status,
                partition(s.sub_request.as_deref())
            ),
        );
        if let Some(e) = &s.error {
            error(&mut t, 2, e);
        }
        match &s.data {
            SubResponseData::QueryChanges(q) => {
                t.line(
                    2,
                    "QueryChangesResponse",
                    q.offset,
                    None,
                    &format!("storage index {} partial {}", q.storage_index_id, q.partial),
                );
                if let Some(k) = &q.knowledge {
                    knowledge(&mut t, 3, k);
                }
                if let Some(h) = &q.file_hash {
                    t.text(
                        3,
                        &format!("FileHash type {} {} bytes", h.hash_type, h.hash.0.len()),
                    );
                }
            }
            SubResponseData::PutChanges(p) => {
                if let Some(a) = &p.applied {
                    let mut line = "PutChangesResponse".to_owned();
                    if a.layout.applied_storage_index_id {
                        line.push_str(&format!(" applied {}", a.applied_storage_index_id));
                    }
                    if a.layout.data_elements_added {
                        line.push_str(&format!(" added {}", a.data_elements_added.len()));
                    }
                    t.text(2, &line);
                }
                if let Some(k) = &p.resultant_knowledge {
                    knowledge(&mut t, 2, k);
                }
            }
            SubResponseData::QueryAccess { read, write } => {
                for (name, e) in [("ReadAccessResponse", read), ("WriteAccessResponse", write)] {
                    t.text(2, name);
                    if let Some(e) = e {
                        error(&mut t, 3, e);
                    }
                }
            }
            SubResponseData::AllocateExtendedGuidRange(a) => t.text(
                2,
                &format!(
                    "AllocateExtendedGuidRangeResponse {} {}..{}",
                    a.guid, a.min, a.max
                ),
            ),
            SubResponseData::Unknown { raw } => {
                t.text(2, &format!("unknown data, {} bytes", raw.0.len()))
            }
            SubResponseData::None => {}
        }
    }
    diagnostics(&mut t, &r.diagnostics, &r.unknown);
    t.out
}

/// An indented tree of a data element package (for packaged OneNote files).
pub fn render_package_tree(p: &DataElementPackage) -> String {
    let mut t = Tree { out: String::new() };
    package(&mut t, 0, p);
    t.out
}

/// The byte map of a message ([`super::fields`]), one line per field: offset, up to eight
/// bytes in hex, and the field indented by its stream object depth, e.g.
/// `000018  84 00        Knowledge start = 16-bit: type 0x10, length 0, compound`.
/// Bytes between fields (which the decoder could not place) get a `(not decoded)` line;
/// the decoder's `diagnostics` follow, one `diagnostic: …` line each.
pub fn render_fields(
    fields: &[Field],
    diagnostics: &[crate::decode::Diagnostic],
    bytes: &[u8],
) -> String {
    fn line(out: &mut String, bytes: &[u8], offset: usize, len: usize, depth: usize, text: &str) {
        let shown = bytes
            .get(offset..offset.saturating_add(len.min(8)))
            .unwrap_or(&[]);
        let mut hex = String::new();
        for (i, b) in shown.iter().enumerate() {
            if i > 0 {
                hex.push(' ');
            }
            let _ = write!(hex, "{b:02X}");
        }
        if len > 8 {
            hex.push_str(" …");
        }
        let _ = writeln!(
            out,
            "{offset:06X}  {hex:<25} {:width$}{text}",
            "",
            width = depth * 2
        );
    }
    let mut out = String::new();
    let mut at = 0usize;
    for f in fields {
        if f.offset > at {
            let n = f.offset - at;
            line(
                &mut out,
                bytes,
                at,
                n,
                f.depth,
                &format!("({n} bytes not decoded)"),
            );
        }
        let text = if f.name.is_empty() {
            f.value.clone()
        } else {
            format!("{} = {}", f.name, f.value)
        };
        line(&mut out, bytes, f.offset, f.len, f.depth, &text);
        at = at.max(f.offset.saturating_add(f.len));
    }
    if at < bytes.len() {
        let n = bytes.len() - at;
        line(
            &mut out,
            bytes,
            at,
            n,
            0,
            &format!("({n} bytes not decoded)"),
        );
    }
    for d in diagnostics {
        let _ = writeln!(out, "diagnostic: {d}");
    }
    out
}
