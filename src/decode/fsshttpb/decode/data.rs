//! MS-FSSHTTPB data element packages (2.2.1.12): data elements and object groups.

use super::*;

/// Decodes a Data Element Package into `pkg` (filled as far as decoding got).
pub(crate) fn package(c: &mut Cursor<'_>, ctx: &mut Ctx, pkg: &mut DataElementPackage) -> R<()> {
    let h = start(c, DATA_ELEMENT_PACKAGE)?;
    pkg.offset = h.offset;
    let mut p = payload(c, &h)?;
    pkg.reserved = if p.is_empty() { 0 } else { p.u8("reserved")? };
    done(&p, DATA_ELEMENT_PACKAGE)?;
    while let Some(h) = next_child(
        c,
        "a data element or the end of the DataElementPackage (0x15)",
    )? {
        if h.object_type != DATA_ELEMENT {
            unknown(c, ctx, "DataElementPackage")?;
            continue;
        }
        if let Some(e) = recover(c, ctx, data_element)? {
            pkg.elements.push(e);
        }
    }
    end(c, DATA_ELEMENT_PACKAGE)?;
    pkg.end = c.pos();
    Ok(())
}

pub(super) fn data_element(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<DataElement> {
    let h = start(c, DATA_ELEMENT)?;
    let mut p = payload(c, &h)?;
    let id = p.exguid("data element extended guid")?;
    let serial_number = p.serial("data element serial number")?;
    let element_type = p.compact("data element type")?;
    done(&p, DATA_ELEMENT)?;
    let body = match element_type {
        1 => DataElementBody::StorageIndex(children(c, ctx, "StorageIndex", |c, h| {
            let mut p = payload(c, h)?;
            let e = match h.object_type {
                MANIFEST_MAPPING => StorageIndexEntry::ManifestMapping {
                    id: p.exguid("manifest mapping extended guid")?,
                    serial_number: p.serial("serial number")?,
                },
                CELL_MAPPING => StorageIndexEntry::CellMapping {
                    cell_id: p.cell_id("cell id")?,
                    id: p.exguid("cell mapping extended guid")?,
                    serial_number: p.serial("serial number")?,
                },
                REVISION_MAPPING => StorageIndexEntry::RevisionMapping {
                    revision_id: p.exguid("revision extended guid")?,
                    id: p.exguid("revision mapping extended guid")?,
                    serial_number: p.serial("serial number")?,
                },
                _ => return Ok(None),
            };
            done(&p, h.object_type)?;
            Ok(Some(e))
        })?),
        2 => {
            let mut m = StorageManifest::default();
            let mut schema_seen = false;
            children(c, ctx, "StorageManifest", |c, h| {
                let mut p = payload(c, h)?;
                match h.object_type {
                    STORAGE_MANIFEST_SCHEMA => {
                        m.schema = p.guid("schema guid")?;
                        schema_seen = true;
                    }
                    STORAGE_MANIFEST_ROOT => m
                        .roots
                        .push((p.exguid("root extended guid")?, p.cell_id("cell id")?)),
                    _ => return Ok(None),
                }
                done(&p, h.object_type)?;
                Ok(Some(()))
            })?;
            if !schema_seen {
                ctx.fail(Fail::of(
                    DiagnosticKind::Missing,
                    h.offset,
                    "storage manifest without a schema guid (0x0C)",
                ));
            }
            DataElementBody::StorageManifest(m)
        }
        3 => {
            let mut rev = None;
            children(c, ctx, "CellManifest", |c, h| {
                if h.object_type != CELL_MANIFEST_CURRENT {
                    return Ok(None);
                }
                let mut p = payload(c, h)?;
                rev = Some(p.exguid("current revision extended guid")?);
                done(&p, h.object_type)?;
                Ok(Some(()))
            })?;
            DataElementBody::CellManifest(rev.unwrap_or_default())
        }
        4 => {
            let mut m = RevisionManifest::default();
            children(c, ctx, "RevisionManifest", |c, h| {
                let mut p = payload(c, h)?;
                match h.object_type {
                    REVISION_MANIFEST => {
                        m.revision_id = p.exguid("revision id")?;
                        m.base_revision_id = p.exguid("base revision id")?;
                    }
                    REVISION_MANIFEST_ROOT => m.roots.push((
                        p.exguid("root extended guid")?,
                        p.exguid("object extended guid")?,
                    )),
                    OBJECT_GROUP_REFERENCES => m
                        .object_groups
                        .push(p.exguid("object group extended guid")?),
                    _ => return Ok(None),
                }
                done(&p, h.object_type)?;
                Ok(Some(()))
            })?;
            DataElementBody::RevisionManifest(m)
        }
        5 => DataElementBody::ObjectGroup(object_group(c, ctx)?),
        6 => {
            let mut f = None;
            children(c, ctx, "DataElementFragment", |c, h| {
                if h.object_type != DATA_ELEMENT_FRAGMENT {
                    return Ok(None);
                }
                let mut p = payload(c, h)?;
                f = Some(DataElementFragment {
                    id: p.exguid("fragment extended guid")?,
                    size: p.compact("data element size")?,
                    start: p.compact("chunk start")?,
                    length: p.compact("chunk length")?,
                    data: Bytes(p.rest("fragment data").to_vec()),
                });
                Ok(Some(()))
            })?;
            DataElementBody::DataElementFragment(f.unwrap_or_default())
        }
        10 => {
            let mut b = None;
            children(c, ctx, "ObjectDataBlob", |c, h| {
                if h.object_type != OBJECT_DATA_BLOB {
                    return Ok(None);
                }
                let mut p = payload(c, h)?;
                b = Some(Bytes(p.rest("object data blob").to_vec()));
                Ok(Some(()))
            })?;
            DataElementBody::ObjectDataBlob(b.unwrap_or_default())
        }
        _ => DataElementBody::Unknown {
            raw: raw_children(c, DATA_ELEMENT)?,
        },
    };
    end(c, DATA_ELEMENT)?;
    Ok(DataElement {
        offset: h.offset,
        end: c.pos(),
        id,
        serial_number,
        element_type,
        body,
    })
}

/// Children of the current data element up to its end (not consumed); each start header is
/// read and passed to `item`, which decodes its payload or returns `None` (kept unknown).
pub(super) fn children<'a, T>(
    c: &mut Cursor<'a>,
    ctx: &mut Ctx,
    parent: &str,
    item: impl FnMut(&mut Cursor<'a>, &Header) -> R<Option<T>>,
) -> R<Vec<T>> {
    items_until_end(
        c,
        ctx,
        parent,
        || format!("a {parent} part or the end of the DataElement (0x01)"),
        item,
    )
}

pub(super) fn object_group(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<ObjectGroup> {
    let mut g = ObjectGroup::default();
    while let Some(h) = next_child(
        c,
        "an ObjectGroup part or the end of the DataElement (0x01)",
    )? {
        match h.object_type {
            DATA_ELEMENT_HASH => {
                let (scheme, hash) = single_with(c, h.object_type, |p| {
                    Ok((
                        p.compact("hash scheme")?,
                        p.binary_item("data element hash")?,
                    ))
                })?;
                g.hash = Some((scheme, hash));
            }
            OBJECT_GROUP_DECLARATIONS => {
                let decls = list(c, ctx, OBJECT_GROUP_DECLARATIONS, |c, h| {
                    let mut p = payload(c, h)?;
                    let d = match h.object_type {
                        OBJECT_DECLARATION => ObjectDeclaration::Object {
                            id: p.exguid("object extended guid")?,
                            partition_id: p.compact("object partition id")?,
                            data_size: p.compact("object data size")?,
                            object_references: p.compact("object references count")?,
                            cell_references: p.compact("cell references count")?,
                        },
                        BLOB_DECLARATION => ObjectDeclaration::Blob {
                            id: p.exguid("object extended guid")?,
                            blob_id: p.exguid("object data blob extended guid")?,
                            partition_id: p.compact("object partition id")?,
                            object_references: p.compact("object references count")?,
                            cell_references: p.compact("cell references count")?,
                        },
                        _ => return Ok(None),
                    };
                    done(&p, h.object_type)?;
                    Ok(Some(d))
                })?;
                g.declarations.extend(decls);
            }
            OBJECT_METADATA_DECLARATIONS => {
                let m = list(c, ctx, OBJECT_METADATA_DECLARATIONS, |c, h| {
                    if h.object_type != OBJECT_METADATA {
                        return Ok(None);
                    }
                    let mut p = payload(c, h)?;
                    let v = p.compact("object change frequency")?;
                    done(&p, h.object_type)?;
                    Ok(Some(v))
                })?;
                g.metadata.get_or_insert_with(Vec::new).extend(m);
            }
            OBJECT_GROUP_DATA => {
                let d = list(c, ctx, OBJECT_GROUP_DATA, |c, h| {
                    let mut p = payload(c, h)?;
                    let d = match h.object_type {
                        OBJECT_DATA => ObjectData::Data {
                            offset: h.offset,
                            object_refs: p.exguid_array("object references")?,
                            cell_refs: p.cell_id_array("cell references")?,
                            data: p.binary_item("object data")?,
                        },
                        EXCLUDED_DATA => ObjectData::ExcludedData {
                            object_refs: p.exguid_array("object references")?,
                            cell_refs: p.cell_id_array("cell references")?,
                            size: p.compact("data size")?,
                        },
                        BLOB_REFERENCE => ObjectData::BlobReference {
                            object_refs: p.exguid_array("object references")?,
                            cell_refs: p.cell_id_array("cell references")?,
                            blob_id: p.exguid("blob extended guid")?,
                        },
                        _ => return Ok(None),
                    };
                    done(&p, h.object_type)?;
                    Ok(Some(d))
                })?;
                g.data.extend(d);
            }
            _ => unknown(c, ctx, "ObjectGroup")?,
        }
    }
    Ok(g)
}
