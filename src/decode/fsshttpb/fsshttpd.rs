//! MS-FSSHTTPD: a plain file stored as FSSHTTPB objects — the intermediate/leaf/data node
//! tree, its signatures and sizes, reassembly of the file bytes, and a builder that lays a
//! file out as a Data Element Package.
//!
//! Spec: <https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-fsshttpd/a8d1d44c-4a5b-4ab0-9adf-f5b69a3ac65c>
//!
//! Resolution path ([MS-FSSHTTPB] 3.1.1): Storage Manifest root → Storage Index cell mapping
//! → Cell Manifest → current revision → Storage Index revision mapping → Revision Manifest →
//! root object {84DEFAB9-AAA3-4A0D-A3A8-520C77AC7073},2 → node tree in the Object Groups.
//! The builder uses simple chunking ([MS-FSSHTTPD] 2.4.3) with SHA-1 signatures.

use super::cursor::Cursor;
use super::decode::{done, end, payload, start};
use super::encode::W;
use super::model::*;
use super::names::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Deepest node tree followed.
const MAX_NODE_DEPTH: usize = 32;

/// One chunk of a file: a data node reached through leaf/intermediate nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileChunk {
    /// Offset of the chunk in the file.
    pub file_offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// The leaf node's signature bytes.
    pub signature: Bytes,
    /// Object id of the leaf node.
    pub leaf_id: ExGuid,
    /// Object id of the data node.
    pub data_id: ExGuid,
}

/// The file described by a data element package per MS-FSSHTTPD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileLayout {
    /// Data Size of the root node.
    pub total_size: u64,
    /// Root node object id.
    pub root_id: ExGuid,
    /// Root node signature.
    pub root_signature: Bytes,
    /// Chunks in file order.
    pub chunks: Vec<FileChunk>,
}

/// A node object decoded from its object data ([MS-FSSHTTPD] 2.2.2, 2.2.3).
struct Node {
    leaf: bool,
    signature: Vec<u8>,
    size: u64,
}

fn node(data: &[u8]) -> Option<Node> {
    let mut c = Cursor::new(data);
    let h = c.peek_header()?;
    let ty = h.object_type;
    if h.is_end() || (ty != INTERMEDIATE_NODE && ty != LEAF_NODE) {
        return None;
    }
    let h = start(&mut c, ty).ok()?;
    payload(&mut c, &h).ok()?;
    let mut signature = None;
    let mut size = None;
    loop {
        let h = c.peek_header()?;
        if h.is_end() {
            break;
        }
        let h = c.header("").ok()?;
        let mut p = payload(&mut c, &h).ok()?;
        match h.object_type {
            SIGNATURE => signature = Some(p.rest("signature").to_vec()),
            DATA_SIZE => {
                size = Some(p.u64("").ok()?);
                done(&p, DATA_SIZE).ok()?;
            }
            // The optional Data Hash of a leaf (SP2016+) is not needed to rebuild the file.
            DATA_HASH => {}
            _ => {}
        }
    }
    end(&mut c, ty).ok()?;
    Some(Node {
        leaf: ty == LEAF_NODE,
        signature: signature.unwrap_or_default(),
        size: size?,
    })
}

struct Objects<'a> {
    map: HashMap<ExGuid, (&'a [ExGuid], &'a [u8])>,
}

fn objects(pkg: &DataElementPackage) -> Objects<'_> {
    let mut map = HashMap::new();
    for e in &pkg.elements {
        if let DataElementBody::ObjectGroup(g) = &e.body {
            for (d, data) in g.declarations.iter().zip(&g.data) {
                if let ObjectData::Data {
                    object_refs, data, ..
                } = data
                {
                    map.insert(d.id(), (object_refs.as_slice(), data.0.as_slice()));
                }
            }
        }
    }
    Objects { map }
}

/// The root object id of the file: the revision manifest root declared for
/// {84DEFAB9-AAA3-4A0D-A3A8-520C77AC7073},2, following the storage index when possible.
fn root_object(pkg: &DataElementPackage) -> Option<ExGuid> {
    let root_key = ExGuid::new(FSSHTTPD_ROOT_GUID, 2);
    let mut cell_map = HashMap::new();
    let mut rev_map = HashMap::new();
    let mut cell_manifests = HashMap::new();
    let mut rev_manifests = HashMap::new();
    let mut manifest_root = None;
    for e in &pkg.elements {
        match &e.body {
            DataElementBody::StorageIndex(entries) => {
                for en in entries {
                    match en {
                        StorageIndexEntry::CellMapping { cell_id, id, .. } => {
                            cell_map.insert(*cell_id, *id);
                        }
                        StorageIndexEntry::RevisionMapping {
                            revision_id, id, ..
                        } => {
                            rev_map.insert(*revision_id, *id);
                        }
                        StorageIndexEntry::ManifestMapping { .. } => {}
                    }
                }
            }
            DataElementBody::StorageManifest(m) if m.schema == FSSHTTPD_SCHEMA_GUID => {
                manifest_root = m
                    .roots
                    .iter()
                    .find(|(r, _)| *r == root_key)
                    .or(m.roots.first())
                    .map(|(_, c)| *c);
            }
            DataElementBody::CellManifest(rev) => {
                cell_manifests.insert(e.id, *rev);
            }
            DataElementBody::RevisionManifest(m) => {
                rev_manifests.insert(e.id, m);
            }
            _ => {}
        }
    }
    let via_index = manifest_root
        .and_then(|cell| cell_map.get(&cell))
        .and_then(|cm| cell_manifests.get(cm))
        .and_then(|rev| rev_map.get(rev))
        .and_then(|rm| rev_manifests.get(rm));
    let manifest = via_index.copied().or_else(|| {
        rev_manifests
            .values()
            .find(|m| m.roots.iter().any(|(r, _)| *r == root_key))
            .copied()
    })?;
    manifest
        .roots
        .iter()
        .find(|(r, _)| *r == root_key)
        .map(|(_, o)| *o)
}

/// Describes the file stored in `pkg` per MS-FSSHTTPD: total size and chunks. `None` when
/// the package does not hold a complete MS-FSSHTTPD node tree.
pub fn file_layout(pkg: &DataElementPackage) -> Option<FileLayout> {
    let root_id = root_object(pkg)?;
    let objs = objects(pkg);
    let (_, root_data) = objs.map.get(&root_id)?;
    let root = node(root_data)?;
    let mut chunks = Vec::new();
    let mut offset = 0u64;
    // A tree visits each node once; allow some reuse of nodes but never exponential work on
    // a hostile DAG.
    let mut budget = objs.map.len().saturating_mul(4).saturating_add(64);
    walk(&objs, root_id, &mut chunks, &mut offset, 0, &mut budget)?;
    Some(FileLayout {
        total_size: root.size,
        root_id,
        root_signature: Bytes(root.signature),
        chunks,
    })
}

fn walk(
    objs: &Objects<'_>,
    id: ExGuid,
    chunks: &mut Vec<FileChunk>,
    offset: &mut u64,
    depth: usize,
    budget: &mut usize,
) -> Option<()> {
    if depth > MAX_NODE_DEPTH || *budget == 0 {
        return None;
    }
    *budget -= 1;
    let (refs, data) = objs.map.get(&id)?;
    let n = node(data)?;
    if n.leaf {
        // A leaf holds one data node, or sub-leaves for big chunks.
        if let [only] = refs {
            let (_, d) = objs.map.get(only)?;
            if node(d).is_none() {
                chunks.push(FileChunk {
                    file_offset: *offset,
                    size: d.len() as u64,
                    signature: Bytes(n.signature),
                    leaf_id: id,
                    data_id: *only,
                });
                *offset = offset.saturating_add(d.len() as u64);
                return Some(());
            }
        }
    }
    for r in refs.iter() {
        walk(objs, *r, chunks, offset, depth + 1, budget)?;
    }
    Some(())
}

/// Reassembles the file bytes stored in `pkg` per MS-FSSHTTPD. `None` when the package
/// holds no complete node tree or the chunk sizes do not add up to the root Data Size.
pub fn extract_file(pkg: &DataElementPackage) -> Option<Vec<u8>> {
    let layout = file_layout(pkg)?;
    let objs = objects(pkg);
    let total = layout
        .chunks
        .iter()
        .try_fold(0u64, |acc, c| acc.checked_add(c.size))?;
    // Chunks may share data nodes, but a file 16 times larger than all object data in the
    // package is a hostile package, not a file: refuse before allocating.
    let all_data: u64 = objs.map.values().map(|(_, d)| d.len() as u64).sum();
    if total != layout.total_size || total > all_data.saturating_mul(16).saturating_add(1 << 20) {
        return None;
    }
    let mut out = Vec::with_capacity(usize::try_from(total).ok()?);
    for c in &layout.chunks {
        out.extend_from_slice(objs.map.get(&c.data_id)?.1);
    }
    Some(out)
}

/// Choices for [`build_file_package`].
#[derive(Debug, Clone, PartialEq)]
pub struct FilePackageOptions {
    /// GUID part of every generated Extended GUID (values count up from 1).
    pub id_guid: Guid,
    /// GUID part of every serial number (values count up from 1).
    pub serial_guid: Guid,
    /// Chunk size; MS-FSSHTTPD simple chunking uses 1 MiB. Default 1 MiB.
    pub chunk_size: usize,
}

impl Default for FilePackageOptions {
    fn default() -> Self {
        Self {
            id_guid: Guid::from_u128(0x5A0E0001_0000_4000_8000_000000000001),
            serial_guid: Guid::from_u128(0x5A0E0002_0000_4000_8000_000000000002),
            chunk_size: 1 << 20,
        }
    }
}

fn node_bytes(ty: u16, signature: &[u8], size: u64) -> Vec<u8> {
    let mut w = W::default();
    w.compound(
        ty,
        |_| {},
        |w| {
            w.single(SIGNATURE, |w| w.buf.extend_from_slice(signature));
            w.single(DATA_SIZE, |w| w.u64(size));
        },
    );
    w.buf
}

/// Lays `file` out as a Data Element Package per MS-FSSHTTPD: Storage Index, Storage
/// Manifest, Cell Manifest, Revision Manifest and one Object Group with a root
/// Intermediate Node, one Leaf Node per chunk and its Data Node. Returns the package and
/// the Storage Index data element id. [`extract_file`] reads it back to the same bytes.
pub fn build_file_package(file: &[u8], opts: &FilePackageOptions) -> (DataElementPackage, ExGuid) {
    let mut next_id = 0u32;
    let mut id = || {
        next_id += 1;
        ExGuid::new(opts.id_guid, next_id)
    };
    let mut next_sn = 0u64;
    let mut sn = || {
        next_sn += 1;
        Some(SerialNumber {
            guid: opts.serial_guid,
            value: next_sn,
        })
    };
    let chunk_size = opts.chunk_size.max(1);
    let cell = CellId {
        ex1: ExGuid::new(FSSHTTPD_ROOT_GUID, 1),
        ex2: ExGuid::new(FSSHTTPD_CELL2_GUID, 1),
    };
    let root_key = ExGuid::new(FSSHTTPD_ROOT_GUID, 2);
    let (storage_index, storage_manifest, cell_manifest, revision_manifest, object_group) =
        (id(), id(), id(), id(), id());
    let revision_id = id();
    let root_obj = id();

    let mut declarations = Vec::new();
    let mut data = Vec::new();
    let mut leaves = Vec::new();
    for chunk in file.chunks(chunk_size) {
        let leaf = id();
        let data_node = id();
        leaves.push(leaf);
        let sig = sha1(chunk);
        let leaf_bytes = node_bytes(LEAF_NODE, &sig, chunk.len() as u64);
        declarations.push(decl(leaf, leaf_bytes.len(), 1));
        data.push(obj(vec![data_node], leaf_bytes));
        declarations.push(decl(data_node, chunk.len(), 0));
        data.push(obj(Vec::new(), chunk.to_vec()));
    }
    let root_sig = sha1(file);
    let root_bytes = node_bytes(INTERMEDIATE_NODE, &root_sig, file.len() as u64);
    declarations.insert(0, decl(root_obj, root_bytes.len(), leaves.len()));
    data.insert(0, obj(leaves, root_bytes));

    let el = |id: ExGuid, sn: Option<SerialNumber>, t: u64, body| DataElement {
        offset: 0,
        end: 0,
        id,
        serial_number: sn,
        element_type: t,
        body,
    };
    let elements = vec![
        el(
            storage_index,
            sn(),
            1,
            DataElementBody::StorageIndex(vec![
                StorageIndexEntry::ManifestMapping {
                    id: storage_manifest,
                    serial_number: sn(),
                },
                StorageIndexEntry::CellMapping {
                    cell_id: cell,
                    id: cell_manifest,
                    serial_number: sn(),
                },
                StorageIndexEntry::RevisionMapping {
                    revision_id,
                    id: revision_manifest,
                    serial_number: sn(),
                },
            ]),
        ),
        el(
            storage_manifest,
            sn(),
            2,
            DataElementBody::StorageManifest(StorageManifest {
                schema: FSSHTTPD_SCHEMA_GUID,
                roots: vec![(root_key, cell)],
            }),
        ),
        el(
            cell_manifest,
            sn(),
            3,
            DataElementBody::CellManifest(revision_id),
        ),
        el(
            revision_manifest,
            sn(),
            4,
            DataElementBody::RevisionManifest(RevisionManifest {
                revision_id,
                base_revision_id: ExGuid::NULL,
                roots: vec![(root_key, root_obj)],
                object_groups: vec![object_group],
            }),
        ),
        el(
            object_group,
            sn(),
            5,
            DataElementBody::ObjectGroup(ObjectGroup {
                hash: None,
                declarations,
                metadata: None,
                data,
            }),
        ),
    ];
    (
        DataElementPackage {
            offset: 0,
            end: 0,
            reserved: 0,
            elements,
        },
        storage_index,
    )
}

fn decl(id: ExGuid, size: usize, refs: usize) -> ObjectDeclaration {
    ObjectDeclaration::Object {
        id,
        partition_id: 1,
        data_size: size as u64,
        object_references: refs as u64,
        cell_references: 0,
    }
}

fn obj(object_refs: Vec<ExGuid>, data: Vec<u8>) -> ObjectData {
    ObjectData::Data {
        offset: 0,
        object_refs,
        cell_refs: Vec::new(),
        data: Bytes(data),
    }
}

/// A Put Changes request (protocol 14) uploading `file` in one sub-request (Request ID 1),
/// with the file's Data Element Package.
pub fn build_put_changes_request(file: &[u8], opts: &FilePackageOptions) -> FsshttpbRequest {
    let (pkg, storage_index_id) = build_file_package(file, opts);
    let put = SubRequest {
        request_id: 1,
        request_type: 5,
        data: SubRequestData::PutChanges(PutChangesRequest {
            storage_index_id,
            flags: 0x01,
            flag_names: vec!["ImplyNullExpectedIfNoMapping".to_string()],
            ..PutChangesRequest::default()
        }),
        ..SubRequest::default()
    };
    FsshttpbRequest {
        data_element_package: Some(pkg),
        ..FsshttpbRequest::v14(Some(UserAgent::with_guid(opts.id_guid, None)), vec![put])
    }
}

/// A successful Query Changes response (protocol 14) carrying `file` for sub-request
/// `request_id`, with cell knowledge covering the serial numbers it used.
pub fn build_query_changes_response(
    file: &[u8],
    opts: &FilePackageOptions,
    request_id: u64,
) -> FsshttpbResponse {
    let (pkg, storage_index_id) = build_file_package(file, opts);
    let max_sn = pkg
        .elements
        .iter()
        .filter_map(|e| e.serial_number.map(|s| s.value))
        .max()
        .unwrap_or(0);
    FsshttpbResponse {
        protocol_version: 14,
        minimum_version: 11,
        signature: RESPONSE_SIGNATURE,
        status: 0,
        data_element_package: Some(pkg),
        sub_responses: vec![SubResponse {
            request_id,
            request_type: 2,
            data: SubResponseData::QueryChanges(QueryChangesResponse {
                storage_index_id,
                knowledge: Some(Knowledge {
                    offset: 0,
                    entries: vec![SpecializedKnowledge::CellKnowledge(vec![
                        CellKnowledgeItem::Range {
                            guid: opts.serial_guid,
                            from: 1,
                            to: max_sn + 1,
                        },
                    ])],
                }),
                ..QueryChangesResponse::default()
            }),
            ..SubResponse::default()
        }],
        ..FsshttpbResponse::default()
    }
}

/// SHA-1 (FIPS 180-4), for MS-FSSHTTPD chunk signatures.
pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let bit_len = (data.len() as u64).wrapping_mul(8);
    let mut tail = Vec::with_capacity(128);
    let full = data.len() / 64 * 64;
    tail.extend_from_slice(data.get(full..).unwrap_or(&[]));
    tail.push(0x80);
    while tail.len() % 64 != 56 {
        tail.push(0);
    }
    tail.extend_from_slice(&bit_len.to_be_bytes());
    let blocks = data
        .get(..full)
        .unwrap_or(&[])
        .chunks_exact(64)
        .chain(tail.chunks_exact(64));
    for block in blocks {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (o, v) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&v.to_be_bytes());
    }
    out
}
