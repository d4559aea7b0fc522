//! MS-FSSHTTPB requests (2.2.2): the header, user agent, sub-requests, QueryChanges
//! filters and PutChanges.

use super::*;

pub(super) fn preamble(c: &mut Cursor<'_>) -> R<(u16, u16, u64)> {
    Ok((
        c.u16("protocol version")?,
        c.u16("minimum version")?,
        c.u64("signature")?,
    ))
}

/// Decodes a request; see [`crate::decode::fsshttpb::decode_request`].
pub(crate) fn request(payload_bytes: &[u8], trace: Option<Trace>) -> FsshttpbRequest {
    let mut c = match trace {
        Some(t) => Cursor::traced(payload_bytes, t),
        None => Cursor::new(payload_bytes),
    };
    let mut ctx = Ctx::default();
    let mut req = FsshttpbRequest::default();
    if let Err(e) = request_body(&mut c, &mut ctx, &mut req) {
        ctx.fail(e);
    } else if !c.is_empty() {
        ctx.fail(Fail::new(
            c.pos(),
            format!(
                "{} unexpected bytes after the end of the request",
                c.remaining()
            ),
        ));
    }
    req.diagnostics = ctx.diags;
    req.unknown = ctx.unknown;
    req
}

pub(super) fn request_body(c: &mut Cursor<'_>, ctx: &mut Ctx, req: &mut FsshttpbRequest) -> R<()> {
    let (v, m, s) = preamble(c)?;
    req.protocol_version = v;
    req.minimum_version = m;
    req.signature = s;
    if s != REQUEST_SIGNATURE {
        ctx.fail(Fail::of(
            DiagnosticKind::InvalidValue,
            4,
            format!(
                "expected the request signature 0x{REQUEST_SIGNATURE:016X} but found 0x{s:016X}"
            ),
        ));
    }
    let h = start(c, REQUEST)?;
    payload(c, &h)?;
    while let Some(h) = next_child(c, "a request part or the end of the Request (0x40)")? {
        match h.object_type {
            USER_AGENT => req.user_agent = recover(c, ctx, user_agent)?,
            REQUEST_HASHING_OPTIONS => {
                let (schema, flags) = single_with(c, h.object_type, |p| {
                    Ok((p.compact("hashing schema")?, p.u8("hashing flags")?))
                })?;
                req.hashing_options = Some(RequestHashingOptions {
                    offset: h.offset,
                    schema,
                    flags,
                    flag_names: flag_names(u64::from(flags), HASHING_FLAGS),
                });
            }
            CELL_ROUNDTRIP_OPTIONS => {
                req.roundtrip_options = Some(flags_object(c, h.object_type, ROUNDTRIP_FLAGS)?);
            }
            SUB_REQUEST => {
                if let Some(s) = recover(c, ctx, sub_request)? {
                    req.sub_requests.push(s);
                }
            }
            DATA_ELEMENT_PACKAGE => {
                let mut pkg = DataElementPackage::default();
                let r = package(c, ctx, &mut pkg);
                req.data_element_package = Some(pkg);
                r?;
            }
            _ => unknown(c, ctx, "Request")?,
        }
    }
    end(c, REQUEST)
}

pub(super) fn flags_object(c: &mut Cursor<'_>, ty: u16, names: &[&str]) -> R<FlagsObject> {
    let offset = c.pos();
    let mut p = single(c, ty)?;
    let flags = p.u8("flags")?;
    done(&p, ty)?;
    Ok(FlagsObject {
        offset,
        flags,
        flag_names: flag_names(u64::from(flags), names),
    })
}

pub(super) fn user_agent(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<UserAgent> {
    let h = start(c, USER_AGENT)?;
    payload(c, &h)?;
    let mut ua = UserAgent {
        offset: h.offset,
        ..UserAgent::default()
    };
    while let Some(h) = next_child(c, "a user agent part or the end of the UserAgent (0x5D)")? {
        match h.object_type {
            USER_AGENT_GUID => {
                ua.guid = Some(single_with(c, h.object_type, |p| {
                    p.guid("user agent guid")
                })?);
            }
            USER_AGENT_CLIENT_PLATFORM => {
                let mut p = single(c, h.object_type)?;
                let n = p.compact("client count")?;
                let client = utf8(p.take(n, "client name")?);
                let n = p.compact("platform count")?;
                let platform = utf8(p.take(n, "platform name")?);
                done(&p, h.object_type)?;
                ua.client_and_platform = Some(ClientAndPlatform { client, platform });
            }
            USER_AGENT_VERSION => {
                ua.version = Some(single_with(c, h.object_type, |p| {
                    p.u32("user agent version")
                })?);
            }
            _ => unknown(c, ctx, "UserAgent")?,
        }
    }
    end(c, USER_AGENT)?;
    Ok(ua)
}

pub(super) fn sub_request(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<SubRequest> {
    let h = start(c, SUB_REQUEST)?;
    let mut p = payload(c, &h)?;
    let mut s = SubRequest {
        offset: h.offset,
        request_id: p.compact("request id")?,
        request_type: p.compact("request type")?,
        priority: p.compact("priority")?,
        ..SubRequest::default()
    };
    done(&p, SUB_REQUEST)?;
    let h = next(c, "a sub-request part or the end of the SubRequest (0x42)")?;
    if !h.is_end() && h.object_type == TARGET_PARTITION_ID {
        let mut p = single(c, TARGET_PARTITION_ID)?;
        s.target_partition_id = Some(p.guid("partition id")?);
        done(&p, TARGET_PARTITION_ID)?;
    }
    s.data = match s.request_type {
        1 => SubRequestData::QueryAccess,
        2 => SubRequestData::QueryChanges(query_changes(c, ctx)?),
        5 => SubRequestData::PutChanges(put_changes(c, ctx)?),
        11 => {
            let mut p = single(c, ALLOCATE_REQUEST)?;
            let count = p.compact("request id count")?;
            let reserved = p.u8("reserved")?;
            done(&p, ALLOCATE_REQUEST)?;
            SubRequestData::AllocateExtendedGuidRange(AllocateExtendedGuidRangeRequest {
                count,
                reserved,
            })
        }
        _ => SubRequestData::Unknown {
            raw: raw_children(c, SUB_REQUEST)?,
        },
    };
    unknown_until_end(c, ctx, "the end of the SubRequest (0x42)", "SubRequest")?;
    end(c, SUB_REQUEST)?;
    s.end = c.pos();
    Ok(s)
}

pub(super) fn query_changes(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<QueryChangesRequest> {
    let offset = c.pos();
    let mut p = single(c, QUERY_CHANGES_REQUEST)?;
    let flags = p.u8("query changes flags")?;
    let flags2 = if p.is_empty() {
        None
    } else {
        Some(p.u8("query changes flags")?)
    };
    done(&p, QUERY_CHANGES_REQUEST)?;
    let mut q = QueryChangesRequest {
        offset,
        flags,
        flags2,
        flag_names: flag_names(
            u64::from(flags) | u64::from(flags2.unwrap_or(0)) << 8,
            QUERY_CHANGES_FLAGS,
        ),
        ..QueryChangesRequest::default()
    };
    while let Some(h) = next_child(
        c,
        "a query changes part or the end of the SubRequest (0x42)",
    )? {
        match h.object_type {
            QUERY_CHANGES_ARGUMENTS => {
                let (flags, cell_id) = single_with(c, h.object_type, |p| {
                    Ok((p.u8("arguments flags")?, p.cell_id("cell id")?))
                })?;
                q.arguments = Some(QueryChangesArguments {
                    flags,
                    flag_names: flag_names(u64::from(flags), ARGUMENT_FLAGS),
                    cell_id,
                });
            }
            QUERY_CHANGES_DATA_CONSTRAINT => {
                q.max_data_elements = Some(single_with(c, h.object_type, |p| {
                    p.compact("maximum data elements")
                })?);
            }
            QUERY_CHANGES_VERSIONING => {
                let mut p = single(c, h.object_type)?;
                q.versioning = Some(Bytes(p.rest("versioning").to_vec()));
            }
            QUERY_CHANGES_FILTER => q.filters.push(filter(c)?),
            FILTER_FLAGS => {
                let f = single_with(c, h.object_type, |p| p.u8("filter flags"))?;
                match q.filters.last_mut() {
                    Some(last) if last.flags.is_none() => last.flags = Some(f),
                    _ => ctx.fail(Fail::new(
                        h.offset,
                        "query changes filter flags without a filter before them",
                    )),
                }
            }
            KNOWLEDGE => q.knowledge = Some(knowledge(c, ctx)?),
            _ => unknown(c, ctx, "QueryChanges")?,
        }
    }
    Ok(q)
}

pub(super) fn filter(c: &mut Cursor<'_>) -> R<QueryChangesFilter> {
    let h = start(c, QUERY_CHANGES_FILTER)?;
    let mut p = payload(c, &h)?;
    let filter_type = p.u8("filter type")?;
    let operation = p.u8("filter operation")?;
    done(&p, QUERY_CHANGES_FILTER)?;
    let expected = match filter_type {
        2 => Some(FILTER_DATA_ELEMENT_TYPE),
        4 => Some(FILTER_CELL_ID),
        5 => Some(FILTER_SCHEMA_SPECIFIC),
        6 => Some(FILTER_DATA_ELEMENT_IDS),
        7 => Some(FILTER_HIERARCHY),
        _ => None,
    };
    let first = next(c, "filter data or the end of the QueryChangesFilter (0x47)")?;
    let data = match expected {
        Some(ty) if !first.is_end() && first.object_type == ty => {
            let mut p = single(c, ty)?;
            let d = match ty {
                FILTER_DATA_ELEMENT_TYPE => {
                    FilterData::DataElementType(p.compact("data element type")?)
                }
                FILTER_CELL_ID => FilterData::CellId(p.cell_id("cell id")?),
                FILTER_SCHEMA_SPECIFIC => FilterData::Custom {
                    schema: p.guid("schema guid")?,
                    data: Bytes(p.rest("filter data").to_vec()),
                },
                FILTER_DATA_ELEMENT_IDS => {
                    FilterData::DataElementIds(p.exguid_array("data element ids")?)
                }
                _ => {
                    let depth = p.u8("depth")?;
                    let n = p.compact("root index key count")?;
                    FilterData::Hierarchy {
                        depth,
                        key: Bytes(p.take(n, "root index key")?.to_vec()),
                    }
                }
            };
            done(&p, ty)?;
            d
        }
        _ if first.is_end() => FilterData::None,
        _ => FilterData::Unknown {
            raw: raw_children(c, QUERY_CHANGES_FILTER)?,
        },
    };
    end(c, QUERY_CHANGES_FILTER)?;
    Ok(QueryChangesFilter {
        offset: h.offset,
        filter_type,
        operation,
        data,
        flags: None,
    })
}

pub(super) fn put_changes(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<PutChangesRequest> {
    let offset = c.pos();
    let mut p = single(c, PUT_CHANGES_REQUEST)?;
    let storage_index_id = p.exguid("storage index extended guid")?;
    let expected_storage_index_id = p.exguid("expected storage index extended guid")?;
    let flags = p.u8("put changes flags")?;
    let mut pc = PutChangesRequest {
        offset,
        storage_index_id,
        expected_storage_index_id,
        flags,
        flag_names: flag_names(u64::from(flags), PUT_CHANGES_FLAGS),
        trailing: Bytes(p.rest("trailing bytes").to_vec()),
        ..PutChangesRequest::default()
    };
    while let Some(h) = next_child(c, "a put changes part or the end of the SubRequest (0x42)")? {
        match h.object_type {
            ADDITIONAL_FLAGS => {
                let mut p = single(c, h.object_type)?;
                let f = p.u16("additional flags")?;
                pc.additional_flags = Some(f);
                pc.additional_flag_names = flag_names(u64::from(f), ADDITIONAL_FLAGS_NAMES);
                pc.additional_flags_trailing =
                    Bytes(p.rest("additional flags trailing bytes").to_vec());
            }
            LOCK_ID => {
                pc.lock_id = Some(single_with(c, h.object_type, |p| p.guid("lock id"))?);
            }
            KNOWLEDGE => pc.client_knowledge = Some(knowledge(c, ctx)?),
            DIAGNOSTIC_INPUT => {
                pc.diagnostic_input = Some(single_with(c, h.object_type, |p| {
                    p.u8("diagnostic request option input")
                })?);
            }
            _ => unknown(c, ctx, "PutChanges")?,
        }
    }
    Ok(pc)
}
