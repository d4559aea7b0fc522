//! The MS-FSSHTTPB encoder: writes the decoded model back to bytes ([MS-FSSHTTPB] 2.2).
//!
//! Spec: <https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-fsshttpb/f59fc37d-2232-4b14-baac-25f98e9e7b5a>
//!
//! Compact integers and Extended GUIDs use the smallest form. A stream object gets a
//! 16-bit start header when its type is below 0x40 and its data is under 127 bytes, else a
//! 32-bit one (with a Large Length from 32767 bytes); compound objects end with an 8-bit
//! end below type 0x40 and a 16-bit end from 0x40. Offsets, `flag_names`, joined
//! sub-requests and `unknown` lists are not written: the raw flag values are.

use super::model::*;
use super::names::*;

/// A byte sink with the FSSHTTPB primitive writers.
#[derive(Debug, Default)]
pub(crate) struct W {
    pub buf: Vec<u8>,
}

impl W {
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn guid(&mut self, g: &Guid) {
        self.buf.extend_from_slice(&g.to_bytes_le());
    }

    /// Compact unsigned 64-bit integer, smallest form ([MS-FSSHTTPB] 2.2.1.1).
    pub(crate) fn compact(&mut self, v: u64) {
        if v == 0 {
            self.u8(0);
            return;
        }
        for n in 1..=7u32 {
            if v < 1u64 << (7 * n) {
                let enc = (v << n) | (1 << (n - 1));
                self.buf.extend_from_slice(&enc.to_le_bytes()[..n as usize]);
                return;
            }
        }
        self.u8(0x80);
        self.u64(v);
    }

    /// Extended GUID, smallest form ([MS-FSSHTTPB] 2.2.1.7).
    pub(crate) fn exguid(&mut self, e: &ExGuid) {
        if e.is_null() {
            self.u8(0);
            return;
        }
        let v = e.value;
        if v < 0x20 {
            self.u8(((v as u8) << 3) | 0x04);
        } else if v < 0x400 {
            self.u16(((v as u16) << 6) | 0x20);
        } else if v < 0x20000 {
            let x = (v << 7) | 0x40;
            self.buf.extend_from_slice(&x.to_le_bytes()[..3]);
        } else {
            self.u8(0x80);
            self.u32(v);
        }
        self.guid(&e.guid);
    }

    pub(crate) fn serial(&mut self, s: &Option<SerialNumber>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(0x80);
                self.guid(&s.guid);
                self.u64(s.value);
            }
        }
    }

    pub(crate) fn cell_id(&mut self, c: &CellId) {
        self.exguid(&c.ex1);
        self.exguid(&c.ex2);
    }

    pub(crate) fn exguid_array(&mut self, a: &[ExGuid]) {
        self.compact(a.len() as u64);
        a.iter().for_each(|e| self.exguid(e));
    }

    pub(crate) fn cell_id_array(&mut self, a: &[CellId]) {
        self.compact(a.len() as u64);
        a.iter().for_each(|e| self.cell_id(e));
    }

    pub(crate) fn binary_item(&mut self, b: &[u8]) {
        self.compact(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    /// A stream object start header ([MS-FSSHTTPB] 2.2.1.5.1, 2.2.1.5.2).
    pub(crate) fn start(&mut self, ty: u16, compound: bool, len: usize) {
        let c = u32::from(compound);
        // Microsoft's writers switch to the 32-bit form at 127 bytes already (seen in OneNote
        // files from OneDrive), so 16-bit is used for lengths below 127 only.
        if ty < 0x40 && len < 127 {
            self.u16(((len as u16) << 9) | ((ty & 0x3F) << 3) | ((c as u16) << 2));
        } else {
            let l = if len >= 0x7FFF { 0x7FFF } else { len as u32 };
            self.u32((l << 17) | ((u32::from(ty) & 0x3FFF) << 3) | (c << 2) | 0x2);
            if l == 0x7FFF {
                self.compact(len as u64);
            }
        }
    }

    /// A stream object end header ([MS-FSSHTTPB] 2.2.1.5.3, 2.2.1.5.4).
    pub(crate) fn end(&mut self, ty: u16) {
        if ty < 0x40 {
            self.u8(((ty as u8) << 2) | 0x1);
        } else {
            self.u16((ty << 2) | 0x3);
        }
    }

    /// A single (or compound-with-data) object: header with the length of what `f` writes.
    pub(crate) fn object(&mut self, ty: u16, compound: bool, f: impl FnOnce(&mut W)) {
        let mut inner = W::default();
        f(&mut inner);
        self.start(ty, compound, inner.buf.len());
        self.buf.extend_from_slice(&inner.buf);
    }

    pub(crate) fn single(&mut self, ty: u16, f: impl FnOnce(&mut W)) {
        self.object(ty, false, f);
    }

    /// A compound object: header and data from `data`, children from `children`, then end.
    pub(crate) fn compound(
        &mut self,
        ty: u16,
        data: impl FnOnce(&mut W),
        children: impl FnOnce(&mut W),
    ) {
        self.object(ty, true, data);
        children(self);
        self.end(ty);
    }
}

impl FsshttpbRequest {
    /// A Protocol Version 14 request (Minimum Version 11, the request signature) with
    /// `user_agent` and `sub_requests`; nothing else set.
    pub fn v14(user_agent: Option<UserAgent>, sub_requests: Vec<SubRequest>) -> Self {
        Self {
            protocol_version: 14,
            minimum_version: 11,
            signature: REQUEST_SIGNATURE,
            user_agent,
            sub_requests,
            ..Self::default()
        }
    }
}

impl UserAgent {
    /// A User Agent with GUID `guid` and User Agent Version 0x00010002, at offset 0.
    pub fn with_guid(guid: Guid, client_and_platform: Option<ClientAndPlatform>) -> Self {
        Self {
            offset: 0,
            guid: Some(guid),
            client_and_platform,
            version: Some(0x0001_0002),
        }
    }
}

/// Encodes a request ([MS-FSSHTTPB] 2.2.2).
pub fn encode_request(r: &FsshttpbRequest) -> Vec<u8> {
    let mut w = W::default();
    w.u16(r.protocol_version);
    w.u16(r.minimum_version);
    w.u64(r.signature);
    w.compound(
        REQUEST,
        |_| {},
        |w| {
            if let Some(ua) = &r.user_agent {
                w.compound(
                    USER_AGENT,
                    |_| {},
                    |w| {
                        if let Some(g) = &ua.guid {
                            w.single(USER_AGENT_GUID, |w| w.guid(g));
                        }
                        if let Some(cp) = &ua.client_and_platform {
                            w.single(USER_AGENT_CLIENT_PLATFORM, |w| {
                                w.binary_item(cp.client.as_bytes());
                                w.binary_item(cp.platform.as_bytes());
                            });
                        }
                        if let Some(v) = ua.version {
                            w.single(USER_AGENT_VERSION, |w| w.u32(v));
                        }
                    },
                );
            }
            if let Some(h) = &r.hashing_options {
                w.single(REQUEST_HASHING_OPTIONS, |w| {
                    w.compact(h.schema);
                    w.u8(h.flags);
                });
            }
            if let Some(o) = &r.roundtrip_options {
                w.single(CELL_ROUNDTRIP_OPTIONS, |w| w.u8(o.flags));
            }
            for s in &r.sub_requests {
                sub_request(w, s);
            }
            if let Some(p) = &r.data_element_package {
                package(w, p);
            }
        },
    );
    w.buf
}

fn sub_request(w: &mut W, s: &SubRequest) {
    w.compound(
        SUB_REQUEST,
        |w| {
            w.compact(s.request_id);
            w.compact(s.request_type);
            w.compact(s.priority);
        },
        |w| {
            if let Some(g) = &s.target_partition_id {
                w.single(TARGET_PARTITION_ID, |w| w.guid(g));
            }
            match &s.data {
                SubRequestData::QueryAccess => {}
                SubRequestData::QueryChanges(q) => query_changes(w, q),
                SubRequestData::PutChanges(p) => put_changes(w, p),
                SubRequestData::AllocateExtendedGuidRange(a) => w.single(ALLOCATE_REQUEST, |w| {
                    w.compact(a.count);
                    w.u8(a.reserved);
                }),
                SubRequestData::Unknown { raw } => w.buf.extend_from_slice(&raw.0),
            }
        },
    );
}

fn query_changes(w: &mut W, q: &QueryChangesRequest) {
    w.single(QUERY_CHANGES_REQUEST, |w| {
        w.u8(q.flags);
        if let Some(f) = q.flags2 {
            w.u8(f);
        }
    });
    if let Some(a) = &q.arguments {
        w.single(QUERY_CHANGES_ARGUMENTS, |w| {
            w.u8(a.flags);
            w.cell_id(&a.cell_id);
        });
    }
    if let Some(m) = q.max_data_elements {
        w.single(QUERY_CHANGES_DATA_CONSTRAINT, |w| w.compact(m));
    }
    if let Some(v) = &q.versioning {
        w.single(QUERY_CHANGES_VERSIONING, |w| w.buf.extend_from_slice(&v.0));
    }
    for f in &q.filters {
        w.compound(
            QUERY_CHANGES_FILTER,
            |w| {
                w.u8(f.filter_type);
                w.u8(f.operation);
            },
            |w| match &f.data {
                FilterData::None => {}
                FilterData::DataElementType(t) => {
                    w.single(FILTER_DATA_ELEMENT_TYPE, |w| w.compact(*t))
                }
                FilterData::CellId(c) => w.single(FILTER_CELL_ID, |w| w.cell_id(c)),
                FilterData::Custom { schema, data } => w.single(FILTER_SCHEMA_SPECIFIC, |w| {
                    w.guid(schema);
                    w.buf.extend_from_slice(&data.0);
                }),
                FilterData::DataElementIds(ids) => {
                    w.single(FILTER_DATA_ELEMENT_IDS, |w| w.exguid_array(ids))
                }
                FilterData::Hierarchy { depth, key } => w.single(FILTER_HIERARCHY, |w| {
                    w.u8(*depth);
                    w.binary_item(&key.0);
                }),
                FilterData::Unknown { raw } => w.buf.extend_from_slice(&raw.0),
            },
        );
        if let Some(fl) = f.flags {
            w.single(FILTER_FLAGS, |w| w.u8(fl));
        }
    }
    if let Some(k) = &q.knowledge {
        knowledge(w, k);
    }
}

fn put_changes(w: &mut W, p: &PutChangesRequest) {
    w.single(PUT_CHANGES_REQUEST, |w| {
        w.exguid(&p.storage_index_id);
        w.exguid(&p.expected_storage_index_id);
        w.u8(p.flags);
        w.buf.extend_from_slice(&p.trailing.0);
    });
    if let Some(f) = p.additional_flags {
        w.single(ADDITIONAL_FLAGS, |w| {
            w.u16(f);
            w.buf.extend_from_slice(&p.additional_flags_trailing.0);
        });
    }
    if let Some(g) = &p.lock_id {
        w.single(LOCK_ID, |w| w.guid(g));
    }
    if let Some(k) = &p.client_knowledge {
        knowledge(w, k);
    }
    if let Some(d) = p.diagnostic_input {
        w.single(DIAGNOSTIC_INPUT, |w| w.u8(d));
    }
}

/// Encodes a response ([MS-FSSHTTPB] 2.2.3).
pub fn encode_response(r: &FsshttpbResponse) -> Vec<u8> {
    let mut w = W::default();
    w.u16(r.protocol_version);
    w.u16(r.minimum_version);
    w.u64(r.signature);
    w.compound(
        RESPONSE,
        |w| w.u8(r.status),
        |w| {
            if let Some(e) = &r.error {
                response_error(w, e);
            }
            if let Some(p) = &r.data_element_package {
                package(w, p);
            }
            for s in &r.sub_responses {
                sub_response(w, s);
            }
        },
    );
    w.buf
}

fn sub_response(w: &mut W, s: &SubResponse) {
    w.compound(
        SUB_RESPONSE,
        |w| {
            w.compact(s.request_id);
            w.compact(s.request_type);
            w.u8(s.status);
        },
        |w| {
            if let Some(e) = &s.error {
                response_error(w, e);
            }
            match &s.data {
                SubResponseData::None => {}
                SubResponseData::QueryAccess { read, write } => {
                    for (ty, e) in [(READ_ACCESS_RESPONSE, read), (WRITE_ACCESS_RESPONSE, write)] {
                        w.compound(
                            ty,
                            |_| {},
                            |w| {
                                if let Some(e) = e {
                                    response_error(w, e);
                                }
                            },
                        );
                    }
                }
                SubResponseData::QueryChanges(q) => {
                    w.single(QUERY_CHANGES_RESPONSE, |w| {
                        w.exguid(&q.storage_index_id);
                        w.u8(q.flags);
                    });
                    if let Some(k) = &q.knowledge {
                        knowledge(w, k);
                    }
                    if let Some(h) = &q.file_hash {
                        w.single(FILE_HASH, |w| {
                            w.compact(h.hash_type);
                            w.binary_item(&h.hash.0);
                        });
                    }
                }
                SubResponseData::PutChanges(p) => put_changes_response(w, p),
                SubResponseData::AllocateExtendedGuidRange(a) => w.single(ALLOCATE_RESPONSE, |w| {
                    w.guid(&a.guid);
                    w.compact(a.min);
                    w.compact(a.max);
                }),
                SubResponseData::Unknown { raw } => w.buf.extend_from_slice(&raw.0),
            }
        },
    );
}

/// Put Changes sub-response data ([MS-FSSHTTPB] 2.2.3.1.3) in the layout it was decoded
/// with ([`PutChangesResponseLayout`]).
fn put_changes_response(w: &mut W, p: &PutChangesResponse) {
    let tail = |w: &mut W| {
        if let Some(k) = &p.resultant_knowledge {
            knowledge(w, k);
        }
        if let Some(d) = p.diagnostic_output {
            w.single(DIAGNOSTIC_OUTPUT, |w| w.u8(d));
        }
    };
    let Some(a) = &p.applied else {
        return tail(w);
    };
    let framed = a.layout.frames_knowledge;
    w.single(PUT_CHANGES_RESPONSE, |w| {
        if a.layout.applied_storage_index_id {
            w.exguid(&a.applied_storage_index_id);
        }
        if a.layout.data_elements_added {
            w.exguid_array(&a.data_elements_added);
        }
        if framed {
            tail(w);
        }
    });
    if !framed {
        tail(w);
    }
}

fn response_error(w: &mut W, e: &ResponseError) {
    w.compound(
        ERROR,
        |w| w.guid(&e.error_type),
        |w| {
            match &e.detail {
                ErrorDetail::None => {}
                ErrorDetail::CellError { code, .. } => w.single(ERROR_CELL, |w| w.u32(*code)),
                ErrorDetail::ProtocolError { code, .. } => {
                    w.single(ERROR_PROTOCOL, |w| w.u32(*code))
                }
                ErrorDetail::Win32Error { code } => w.single(ERROR_WIN32, |w| w.u32(*code)),
                ErrorDetail::HresultError { code } => w.single(ERROR_HRESULT, |w| w.u32(*code)),
                ErrorDetail::Unknown { object_type, raw } => {
                    w.single(*object_type, |w| w.buf.extend_from_slice(&raw.0))
                }
            }
            if let Some(s) = &e.supplemental_info {
                w.single(ERROR_STRING, |w| {
                    let units: Vec<u16> = s.encode_utf16().collect();
                    w.compact(units.len() as u64);
                    units.iter().for_each(|u| w.u16(*u));
                });
            }
            if let Some(c) = &e.chained {
                response_error(w, c);
            }
        },
    );
}

pub(crate) fn knowledge(w: &mut W, k: &Knowledge) {
    w.compound(
        KNOWLEDGE,
        |_| {},
        |w| {
            for e in &k.entries {
                let guid = match e {
                    SpecializedKnowledge::CellKnowledge(_) => CELL_KNOWLEDGE_GUID,
                    SpecializedKnowledge::WaterlineKnowledge(_) => WATERLINE_KNOWLEDGE_GUID,
                    SpecializedKnowledge::FragmentKnowledge(_) => FRAGMENT_KNOWLEDGE_GUID,
                    SpecializedKnowledge::ContentTagKnowledge(_) => CONTENT_TAG_KNOWLEDGE_GUID,
                    SpecializedKnowledge::VersionTokenKnowledge(_) => VERSION_TOKEN_KNOWLEDGE_GUID,
                    SpecializedKnowledge::Unknown { guid, .. } => *guid,
                };
                w.compound(
                    SPECIALIZED_KNOWLEDGE,
                    |w| w.guid(&guid),
                    |w| match e {
                        SpecializedKnowledge::CellKnowledge(items) => w.compound(
                            CELL_KNOWLEDGE,
                            |_| {},
                            |w| {
                                for i in items {
                                    match i {
                                        CellKnowledgeItem::Range { guid, from, to } => {
                                            w.single(CELL_KNOWLEDGE_RANGE, |w| {
                                                w.guid(guid);
                                                w.compact(*from);
                                                w.compact(*to);
                                            })
                                        }
                                        CellKnowledgeItem::Entry(s) => {
                                            w.single(CELL_KNOWLEDGE_ENTRY, |w| w.serial(s))
                                        }
                                    }
                                }
                            },
                        ),
                        SpecializedKnowledge::WaterlineKnowledge(es) => w.compound(
                            WATERLINE_KNOWLEDGE,
                            |_| {},
                            |w| {
                                for e in es {
                                    w.single(WATERLINE_ENTRY, |w| {
                                        w.exguid(&e.cell_storage);
                                        w.compact(e.waterline);
                                        w.compact(e.reserved);
                                    });
                                }
                            },
                        ),
                        SpecializedKnowledge::FragmentKnowledge(es) => w.compound(
                            FRAGMENT_KNOWLEDGE,
                            |_| {},
                            |w| {
                                for e in es {
                                    w.single(FRAGMENT_KNOWLEDGE_ENTRY, |w| {
                                        w.exguid(&e.data_element);
                                        w.compact(e.size);
                                        w.compact(e.start);
                                        w.compact(e.length);
                                    });
                                }
                            },
                        ),
                        SpecializedKnowledge::ContentTagKnowledge(es) => w.compound(
                            CONTENT_TAG_KNOWLEDGE,
                            |_| {},
                            |w| {
                                for e in es {
                                    w.single(CONTENT_TAG_ENTRY, |w| {
                                        w.exguid(&e.blob_heap_id);
                                        w.binary_item(&e.clock_data.0);
                                    });
                                }
                            },
                        ),
                        SpecializedKnowledge::VersionTokenKnowledge(b) => {
                            w.single(VERSION_TOKEN_KNOWLEDGE, |w| w.buf.extend_from_slice(&b.0))
                        }
                        SpecializedKnowledge::Unknown { raw, .. } => {
                            w.buf.extend_from_slice(&raw.0)
                        }
                    },
                );
            }
        },
    );
}

/// Encodes a Data Element Package on its own ([MS-FSSHTTPB] 2.2.1.12).
pub fn encode_package(p: &DataElementPackage) -> Vec<u8> {
    let mut w = W::default();
    package(&mut w, p);
    w.buf
}

pub(crate) fn package(w: &mut W, p: &DataElementPackage) {
    w.compound(
        DATA_ELEMENT_PACKAGE,
        |w| w.u8(p.reserved),
        |w| {
            for e in &p.elements {
                data_element(w, e);
            }
        },
    );
}

fn data_element(w: &mut W, e: &DataElement) {
    w.compound(
        DATA_ELEMENT,
        |w| {
            w.exguid(&e.id);
            w.serial(&e.serial_number);
            w.compact(e.element_type);
        },
        |w| match &e.body {
            DataElementBody::StorageIndex(entries) => {
                for en in entries {
                    match en {
                        StorageIndexEntry::ManifestMapping { id, serial_number } => {
                            w.single(MANIFEST_MAPPING, |w| {
                                w.exguid(id);
                                w.serial(serial_number);
                            })
                        }
                        StorageIndexEntry::CellMapping {
                            cell_id,
                            id,
                            serial_number,
                        } => w.single(CELL_MAPPING, |w| {
                            w.cell_id(cell_id);
                            w.exguid(id);
                            w.serial(serial_number);
                        }),
                        StorageIndexEntry::RevisionMapping {
                            revision_id,
                            id,
                            serial_number,
                        } => w.single(REVISION_MAPPING, |w| {
                            w.exguid(revision_id);
                            w.exguid(id);
                            w.serial(serial_number);
                        }),
                    }
                }
            }
            DataElementBody::StorageManifest(m) => {
                w.single(STORAGE_MANIFEST_SCHEMA, |w| w.guid(&m.schema));
                for (root, cell) in &m.roots {
                    w.single(STORAGE_MANIFEST_ROOT, |w| {
                        w.exguid(root);
                        w.cell_id(cell);
                    });
                }
            }
            DataElementBody::CellManifest(rev) => {
                w.single(CELL_MANIFEST_CURRENT, |w| w.exguid(rev))
            }
            DataElementBody::RevisionManifest(m) => {
                w.single(REVISION_MANIFEST, |w| {
                    w.exguid(&m.revision_id);
                    w.exguid(&m.base_revision_id);
                });
                for (root, obj) in &m.roots {
                    w.single(REVISION_MANIFEST_ROOT, |w| {
                        w.exguid(root);
                        w.exguid(obj);
                    });
                }
                for g in &m.object_groups {
                    w.single(OBJECT_GROUP_REFERENCES, |w| w.exguid(g));
                }
            }
            DataElementBody::ObjectGroup(g) => object_group(w, g),
            DataElementBody::DataElementFragment(f) => w.single(DATA_ELEMENT_FRAGMENT, |w| {
                w.exguid(&f.id);
                w.compact(f.size);
                w.compact(f.start);
                w.compact(f.length);
                w.buf.extend_from_slice(&f.data.0);
            }),
            DataElementBody::ObjectDataBlob(b) => {
                w.single(OBJECT_DATA_BLOB, |w| w.buf.extend_from_slice(&b.0))
            }
            DataElementBody::Unknown { raw } => w.buf.extend_from_slice(&raw.0),
        },
    );
}

fn object_group(w: &mut W, g: &ObjectGroup) {
    if let Some((scheme, hash)) = &g.hash {
        w.single(DATA_ELEMENT_HASH, |w| {
            w.compact(*scheme);
            w.binary_item(&hash.0);
        });
    }
    w.compound(
        OBJECT_GROUP_DECLARATIONS,
        |_| {},
        |w| {
            for d in &g.declarations {
                match d {
                    ObjectDeclaration::Object {
                        id,
                        partition_id,
                        data_size,
                        object_references,
                        cell_references,
                    } => w.single(OBJECT_DECLARATION, |w| {
                        w.exguid(id);
                        w.compact(*partition_id);
                        w.compact(*data_size);
                        w.compact(*object_references);
                        w.compact(*cell_references);
                    }),
                    ObjectDeclaration::Blob {
                        id,
                        blob_id,
                        partition_id,
                        object_references,
                        cell_references,
                    } => w.single(BLOB_DECLARATION, |w| {
                        w.exguid(id);
                        w.exguid(blob_id);
                        w.compact(*partition_id);
                        w.compact(*object_references);
                        w.compact(*cell_references);
                    }),
                }
            }
        },
    );
    if let Some(m) = &g.metadata {
        w.compound(
            OBJECT_METADATA_DECLARATIONS,
            |_| {},
            |w| {
                for f in m {
                    w.single(OBJECT_METADATA, |w| w.compact(*f));
                }
            },
        );
    }
    w.compound(
        OBJECT_GROUP_DATA,
        |_| {},
        |w| {
            for d in &g.data {
                match d {
                    ObjectData::Data {
                        object_refs,
                        cell_refs,
                        data,
                        ..
                    } => w.single(OBJECT_DATA, |w| {
                        w.exguid_array(object_refs);
                        w.cell_id_array(cell_refs);
                        w.binary_item(&data.0);
                    }),
                    ObjectData::ExcludedData {
                        object_refs,
                        cell_refs,
                        size,
                    } => w.single(EXCLUDED_DATA, |w| {
                        w.exguid_array(object_refs);
                        w.cell_id_array(cell_refs);
                        w.compact(*size);
                    }),
                    ObjectData::BlobReference {
                        object_refs,
                        cell_refs,
                        blob_id,
                    } => w.single(BLOB_REFERENCE, |w| {
                        w.exguid_array(object_refs);
                        w.cell_id_array(cell_refs);
                        w.exguid(blob_id);
                    }),
                }
            }
        },
    );
}

/// A Cell Error (MS-FSSHTTPB 2.2.3.2.1) as a server frames it in a response or
/// sub-response.
pub fn cell_error(code: super::CellErrorCode) -> ResponseError {
    ResponseError {
        error_type: CELL_ERROR_GUID,
        detail: ErrorDetail::CellError {
            code: code.into(),
            name: code.name().to_owned(),
        },
        ..ResponseError::default()
    }
}
