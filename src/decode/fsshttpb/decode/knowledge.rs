//! MS-FSSHTTPB knowledge (2.2.1.13): cell, waterline, fragment and content knowledge.

use super::*;

pub(crate) fn knowledge(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<Knowledge> {
    let h = start(c, KNOWLEDGE)?;
    payload(c, &h)?;
    let mut k = Knowledge {
        offset: h.offset,
        entries: Vec::new(),
    };
    while let Some(h) = next_child(
        c,
        "specialized knowledge or the end of the Knowledge (0x10)",
    )? {
        if h.object_type != SPECIALIZED_KNOWLEDGE {
            unknown(c, ctx, "Knowledge")?;
            continue;
        }
        let mut p = single(c, SPECIALIZED_KNOWLEDGE)?;
        let guid = p.guid("specialized knowledge guid")?;
        done(&p, SPECIALIZED_KNOWLEDGE)?;
        let entry =
            match guid {
                g if g == CELL_KNOWLEDGE_GUID => {
                    SpecializedKnowledge::CellKnowledge(list(c, ctx, CELL_KNOWLEDGE, |c, h| {
                        let mut p = payload(c, h)?;
                        let item = match h.object_type {
                            CELL_KNOWLEDGE_RANGE => CellKnowledgeItem::Range {
                                guid: p.guid("cell knowledge range guid")?,
                                from: p.compact("from")?,
                                to: p.compact("to")?,
                            },
                            CELL_KNOWLEDGE_ENTRY => {
                                CellKnowledgeItem::Entry(p.serial("serial number")?)
                            }
                            _ => return Ok(None),
                        };
                        done(&p, h.object_type)?;
                        Ok(Some(item))
                    })?)
                }
                g if g == WATERLINE_KNOWLEDGE_GUID => SpecializedKnowledge::WaterlineKnowledge(
                    list(c, ctx, WATERLINE_KNOWLEDGE, |c, h| {
                        if h.object_type != WATERLINE_ENTRY {
                            return Ok(None);
                        }
                        let mut p = payload(c, h)?;
                        let e = WaterlineKnowledgeEntry {
                            cell_storage: p.exguid("cell storage extended guid")?,
                            waterline: p.compact("waterline")?,
                            reserved: p.compact("reserved")?,
                        };
                        done(&p, h.object_type)?;
                        Ok(Some(e))
                    })?,
                ),
                g if g == FRAGMENT_KNOWLEDGE_GUID => SpecializedKnowledge::FragmentKnowledge(list(
                    c,
                    ctx,
                    FRAGMENT_KNOWLEDGE,
                    |c, h| {
                        if h.object_type != FRAGMENT_KNOWLEDGE_ENTRY {
                            return Ok(None);
                        }
                        let mut p = payload(c, h)?;
                        let e = FragmentKnowledgeEntry {
                            data_element: p.exguid("data element extended guid")?,
                            size: p.compact("data element size")?,
                            start: p.compact("chunk start")?,
                            length: p.compact("chunk length")?,
                        };
                        done(&p, h.object_type)?;
                        Ok(Some(e))
                    },
                )?),
                g if g == CONTENT_TAG_KNOWLEDGE_GUID => SpecializedKnowledge::ContentTagKnowledge(
                    list(c, ctx, CONTENT_TAG_KNOWLEDGE, |c, h| {
                        if h.object_type != CONTENT_TAG_ENTRY {
                            return Ok(None);
                        }
                        let mut p = payload(c, h)?;
                        let e = ContentTagKnowledgeEntry {
                            blob_heap_id: p.exguid("blob heap extended guid")?,
                            clock_data: p.binary_item("clock data")?,
                        };
                        done(&p, h.object_type)?;
                        Ok(Some(e))
                    })?,
                ),
                g if g == VERSION_TOKEN_KNOWLEDGE_GUID
                    && next(c, "version token knowledge")?.object_type
                        == VERSION_TOKEN_KNOWLEDGE =>
                {
                    let mut p = single(c, VERSION_TOKEN_KNOWLEDGE)?;
                    SpecializedKnowledge::VersionTokenKnowledge(Bytes(
                        p.rest("version token knowledge").to_vec(),
                    ))
                }
                _ => SpecializedKnowledge::Unknown {
                    guid,
                    raw: raw_children(c, SPECIALIZED_KNOWLEDGE)?,
                },
            };
        // Anything else before the 0x44 end is kept as unknown.
        unknown_until_end(
            c,
            ctx,
            "the end of the SpecializedKnowledge (0x44)",
            "SpecializedKnowledge",
        )?;
        end(c, SPECIALIZED_KNOWLEDGE)?;
        k.entries.push(entry);
    }
    end(c, KNOWLEDGE)?;
    Ok(k)
}

/// A compound object of type `ty` whose children are decoded by `item`; children that
/// `item` does not name (returns `None` before consuming) are kept as unknown.
pub(super) fn list<'a, T>(
    c: &mut Cursor<'a>,
    ctx: &mut Ctx,
    ty: u16,
    item: impl FnMut(&mut Cursor<'a>, &Header) -> R<Option<T>>,
) -> R<Vec<T>> {
    let h = start(c, ty)?;
    payload(c, &h)?;
    let name = object_type_name(ty);
    let out = items_until_end(
        c,
        ctx,
        name,
        || format!("an entry or the end of {name} (0x{ty:02X})"),
        item,
    )?;
    end(c, ty)?;
    Ok(out)
}
