//! MS-FSSHTTPB responses (2.2.3): sub-responses, PutChanges responses and the chained
//! response errors.

use super::*;

/// Decodes a response; see [`crate::decode::fsshttpb::decode_response`].
pub(crate) fn response(
    bytes: &[u8],
    request: Option<&FsshttpbRequest>,
    trace: Option<Trace>,
) -> FsshttpbResponse {
    let mut c = match trace {
        Some(t) => Cursor::traced(bytes, t),
        None => Cursor::new(bytes),
    };
    let mut ctx = Ctx::default();
    let mut resp = FsshttpbResponse::default();
    if let Err(e) = response_body(&mut c, &mut ctx, &mut resp, request) {
        ctx.fail(e);
    } else if !c.is_empty() {
        ctx.fail(Fail::new(
            c.pos(),
            format!(
                "{} unexpected bytes after the end of the response",
                c.remaining()
            ),
        ));
    }
    if let Some(req) = request {
        for s in &mut resp.sub_responses {
            s.sub_request = req
                .sub_requests
                .iter()
                .find(|r| r.request_id == s.request_id)
                .map(|r| Box::new(r.clone()));
        }
    }
    resp.diagnostics = ctx.diags;
    resp.unknown = ctx.unknown;
    resp
}

pub(super) fn response_body(
    c: &mut Cursor<'_>,
    ctx: &mut Ctx,
    resp: &mut FsshttpbResponse,
    request: Option<&FsshttpbRequest>,
) -> R<()> {
    let (v, m, s) = preamble(c)?;
    resp.protocol_version = v;
    resp.minimum_version = m;
    resp.signature = s;
    if s != RESPONSE_SIGNATURE {
        ctx.fail(Fail::of(
            DiagnosticKind::InvalidValue,
            4,
            format!(
                "expected the response signature 0x{RESPONSE_SIGNATURE:016X} but found 0x{s:016X}"
            ),
        ));
    }
    let h = start(c, RESPONSE)?;
    let mut p = payload(c, &h)?;
    resp.status = p.u8("response status")?;
    done(&p, RESPONSE)?;
    while let Some(h) = next_child(c, "a response part or the end of the Response (0x62)")? {
        match h.object_type {
            ERROR => resp.error = Some(response_error(c, ctx, 0)?),
            DATA_ELEMENT_PACKAGE => {
                let mut pkg = DataElementPackage::default();
                let r = package(c, ctx, &mut pkg);
                resp.data_element_package = Some(pkg);
                r?;
            }
            SUB_RESPONSE => {
                if let Some(s) = recover(c, ctx, |c, ctx| sub_response(c, ctx, request))? {
                    resp.sub_responses.push(s);
                }
            }
            _ => unknown(c, ctx, "Response")?,
        }
    }
    end(c, RESPONSE)
}

pub(super) fn sub_response(
    c: &mut Cursor<'_>,
    ctx: &mut Ctx,
    request: Option<&FsshttpbRequest>,
) -> R<SubResponse> {
    let h = start(c, SUB_RESPONSE)?;
    let mut p = payload(c, &h)?;
    let mut s = SubResponse {
        offset: h.offset,
        request_id: p.compact("request id")?,
        request_type: p.compact("request type")?,
        status: p.u8("sub-response status")?,
        ..SubResponse::default()
    };
    done(&p, SUB_RESPONSE)?;
    let mut qc: Option<QueryChangesResponse> = None;
    let mut pc: Option<PutChangesResponse> = None;
    let mut access: Option<(Option<ResponseError>, Option<ResponseError>)> = None;
    let mut alloc = None;
    let known = matches!(s.request_type, 1 | 2 | 5 | 11);
    if !known && s.status & 1 == 0 {
        s.data = SubResponseData::Unknown {
            raw: raw_children(c, SUB_RESPONSE)?,
        };
    }
    while let Some(h) = next_child(
        c,
        "a sub-response part or the end of the SubResponse (0x41)",
    )? {
        match h.object_type {
            ERROR => s.error = Some(response_error(c, ctx, 0)?),
            READ_ACCESS_RESPONSE | WRITE_ACCESS_RESPONSE => {
                let ty = h.object_type;
                let hh = start(c, ty)?;
                payload(c, &hh)?;
                let mut err = None;
                while let Some(h2) =
                    next_child(c, "a response error or the end of the access response")?
                {
                    if h2.object_type == ERROR {
                        err = Some(response_error(c, ctx, 0)?);
                    } else {
                        unknown(c, ctx, object_type_name(ty))?;
                    }
                }
                end(c, ty)?;
                let a = access.get_or_insert((None, None));
                if ty == READ_ACCESS_RESPONSE {
                    a.0 = err;
                } else {
                    a.1 = err;
                }
            }
            QUERY_CHANGES_RESPONSE => {
                let (storage_index_id, flags) = single_with(c, h.object_type, |p| {
                    Ok((
                        p.exguid("storage index extended guid")?,
                        p.u8("query changes response flags")?,
                    ))
                })?;
                qc = Some(QueryChangesResponse {
                    offset: h.offset,
                    storage_index_id,
                    flags,
                    partial: flags & 1 == 1,
                    knowledge: None,
                    file_hash: None,
                });
            }
            FILE_HASH => {
                let (hash_type, hash) = single_with(c, h.object_type, |p| {
                    Ok((p.compact("hash type")?, p.binary_item("file hash")?))
                })?;
                qc.get_or_insert_with(Default::default).file_hash =
                    Some(FileHash { hash_type, hash });
            }
            KNOWLEDGE => {
                let k = knowledge(c, ctx)?;
                if s.request_type == 2 {
                    qc.get_or_insert_with(Default::default).knowledge = Some(k);
                } else {
                    pc.get_or_insert_with(Default::default).resultant_knowledge = Some(k);
                }
            }
            PUT_CHANGES_RESPONSE => {
                let asked = put_changes_asked(request, s.request_id);
                put_changes_response(c, ctx, pc.get_or_insert_with(Default::default), asked)?;
            }
            DIAGNOSTIC_OUTPUT => {
                pc.get_or_insert_with(Default::default).diagnostic_output =
                    Some(diagnostic_output(c)?);
            }
            ALLOCATE_RESPONSE => {
                let mut p = single(c, h.object_type)?;
                let guid = p.guid("guid component")?;
                let min = p.compact("integer range min")?;
                let max = p.compact("integer range max")?;
                done(&p, h.object_type)?;
                alloc = Some(AllocateExtendedGuidRangeResponse { guid, min, max });
            }
            _ => unknown(c, ctx, "SubResponse")?,
        }
    }
    end(c, SUB_RESPONSE)?;
    s.end = c.pos();
    if let Some(q) = qc {
        s.data = SubResponseData::QueryChanges(q);
    } else if let Some(p) = pc {
        s.data = SubResponseData::PutChanges(p);
    } else if let Some((read, write)) = access {
        s.data = SubResponseData::QueryAccess { read, write };
    } else if let Some(a) = alloc {
        s.data = SubResponseData::AllocateExtendedGuidRange(a);
    } else if s.request_type == 5 && s.status & 1 == 0 {
        s.data = SubResponseData::PutChanges(PutChangesResponse::default());
    }
    Ok(s)
}

/// What the paired Put Changes request asked the response to hold: its Additional Flags
/// ([MS-FSSHTTPB] 2.2.2.1.4.1) A "Return Applied Storage Index Id Entries" and B "Return
/// Data Elements Added" (no Additional Flags object: neither). `None` without the request.
pub(super) fn put_changes_asked(
    request: Option<&FsshttpbRequest>,
    request_id: u64,
) -> Option<(bool, bool)> {
    let sub = request?
        .sub_requests
        .iter()
        .find(|r| r.request_id == request_id)?;
    let SubRequestData::PutChanges(p) = &sub.data else {
        return None;
    };
    let f = p.additional_flags.unwrap_or(0);
    Some((f & 1 != 0, f & 2 != 0))
}

/// Diagnostic Request Option Output (0x89, [MS-FSSHTTPB] 2.2.3.1.3.1): F "Forced" and 7
/// reserved bits.
pub(super) fn diagnostic_output(c: &mut Cursor<'_>) -> R<u8> {
    let mut p = single(c, DIAGNOSTIC_OUTPUT)?;
    let f = p.u8("diagnostic request option output")?;
    done(&p, DIAGNOSTIC_OUTPUT)?;
    Ok(f)
}

/// Put Changes Response (0x87, [MS-FSSHTTPB] 2.2.3.1.3): the optional Applied Storage
/// Index Id (Extended GUID) and Data Elements Added (Extended GUID Array), then, when the
/// object's length covers them, the Resultant Knowledge and the Diagnostic Request Option
/// Output that the section draws under the same header.
///
/// Which optional fields are there follows the request's Additional Flags (`asked`); when
/// the request is unknown, or the bytes do not fit what it asked for, the first layout that
/// explains every byte of the object wins.
pub(super) fn put_changes_response(
    c: &mut Cursor<'_>,
    ctx: &mut Ctx,
    pc: &mut PutChangesResponse,
    asked: Option<(bool, bool)>,
) -> R<()> {
    let h = start(c, PUT_CHANGES_RESPONSE)?;
    let mut p = payload(c, &h)?;
    // A request that asked for neither says nothing about an object the server sent anyway.
    let candidates = asked.filter(|&a| a != (false, false)).into_iter().chain([
        (true, true),
        (true, false),
        (false, true),
        (false, false),
    ]);
    let (applied, added) = candidates
        .into_iter()
        .find(|&(a, b)| put_changes_fits(&p, a, b))
        .unwrap_or((true, true));
    let mut a = AppliedStorageIndex {
        layout: PutChangesResponseLayout {
            applied_storage_index_id: applied,
            data_elements_added: added,
            frames_knowledge: false,
        },
        ..AppliedStorageIndex::default()
    };
    if applied {
        a.applied_storage_index_id = p.exguid("applied storage index id")?;
    }
    if added {
        a.data_elements_added = p.exguid_array("data elements added")?;
    }
    let framed = !p.is_empty();
    a.layout.frames_knowledge = framed;
    pc.applied = Some(a);
    while !p.is_empty() {
        match p.peek().header("a stream object")?.object_type {
            KNOWLEDGE if pc.resultant_knowledge.is_none() => {
                pc.resultant_knowledge = Some(knowledge(&mut p, ctx)?);
            }
            DIAGNOSTIC_OUTPUT if pc.diagnostic_output.is_none() => {
                pc.diagnostic_output = Some(diagnostic_output(&mut p)?);
            }
            _ => unknown(&mut p, ctx, "PutChangesResponse")?,
        }
    }
    Ok(())
}

/// True when the 0x87 data in `p` reads as the optional fields `applied` and `added`
/// followed by nothing or by a whole Knowledge and Diagnostic Request Option Output.
pub(super) fn put_changes_fits(p: &Cursor<'_>, applied: bool, added: bool) -> bool {
    let mut q = p.peek();
    if applied && q.exguid("").is_err() {
        return false;
    }
    if added && q.exguid_array("").is_err() {
        return false;
    }
    while !q.is_empty() {
        let fits = q.header("").and_then(|h| {
            if h.is_end() || !matches!(h.object_type, KNOWLEDGE | DIAGNOSTIC_OUTPUT) {
                Err(Fail::of(
                    DiagnosticKind::Unexpected,
                    h.offset,
                    "not part of a Put Changes response",
                ))
            } else {
                skip_rest(&mut q, &h)
            }
        });
        if fits.is_err() {
            return false;
        }
    }
    true
}

pub(super) fn response_error(c: &mut Cursor<'_>, ctx: &mut Ctx, depth: usize) -> R<ResponseError> {
    if depth >= MAX_ERROR_CHAIN {
        return Err(Fail::of(
            DiagnosticKind::Limit,
            c.pos(),
            format!("response errors chain deeper than {MAX_ERROR_CHAIN} levels"),
        ));
    }
    let h = start(c, ERROR)?;
    let mut p = payload(c, &h)?;
    let error_type = p.guid("error type guid")?;
    done(&p, ERROR)?;
    let mut e = ResponseError {
        offset: h.offset,
        error_type,
        ..ResponseError::default()
    };
    while let Some(h) = next_child(c, "error data or the end of the Error (0x4D)")? {
        match h.object_type {
            ERROR_CELL | ERROR_PROTOCOL | ERROR_WIN32 | ERROR_HRESULT => {
                let code = single_with(c, h.object_type, |p| p.u32("error code"))?;
                e.detail = match h.object_type {
                    ERROR_CELL => ErrorDetail::CellError {
                        code,
                        name: cell_error_name(code).to_string(),
                    },
                    ERROR_PROTOCOL => ErrorDetail::ProtocolError {
                        code,
                        name: protocol_error_name(code).to_string(),
                    },
                    ERROR_WIN32 => ErrorDetail::Win32Error { code },
                    _ => ErrorDetail::HresultError { code },
                };
            }
            ERROR_STRING => {
                let mut p = single(c, h.object_type)?;
                let n = p.compact("string item count")?;
                let raw = p.take(n.saturating_mul(2), "string item")?;
                let units: Vec<u16> = raw
                    .chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect();
                e.supplemental_info = Some(String::from_utf16_lossy(&units));
                done(&p, h.object_type)?;
            }
            ERROR => e.chained = Some(Box::new(response_error(c, ctx, depth + 1)?)),
            _ => unknown(c, ctx, "Error")?,
        }
    }
    end(c, ERROR)?;
    Ok(e)
}
