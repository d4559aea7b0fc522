//! The lenient MS-FSSHTTPB decoder: requests ([MS-FSSHTTPB] 2.2.2), responses (2.2.3),
//! data element packages (2.2.1.12) and knowledge (2.2.1.13).
//!
//! Spec: <https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-fsshttpb/f59fc37d-2232-4b14-baac-25f98e9e7b5a>
//!
//! Every known stream object's payload is read from a sub-cursor of exactly its declared
//! length, so a wrong field never desynchronises its neighbours. A sub-request, sub-response
//! or data element that fails to decode is reported and skipped with the generic stream
//! object walk; truncated input stops decoding with one diagnostic saying where it ends.

use super::cursor::{Cursor, Fail, Header, Trace, R};
use super::model::*;
use super::names::*;
use crate::decode::DiagnosticKind;

/// Deepest nesting of compound stream objects accepted by the generic walk.
pub(crate) const MAX_DEPTH: usize = 64;

/// Decoder state: diagnostics and unknown objects collected so far.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub diags: Vec<crate::decode::Diagnostic>,
    pub unknown: Vec<UnknownObject>,
}

impl Ctx {
    pub(crate) fn fail(&mut self, f: Fail) {
        self.diags.push(f.into());
    }
}

fn describe(h: &Header) -> String {
    if h.is_end() {
        format!(
            "the end of {} (0x{:02X})",
            object_type_name(h.object_type),
            h.object_type
        )
    } else {
        format!(
            "{} (0x{:02X})",
            object_type_name(h.object_type),
            h.object_type
        )
    }
}

/// Reads a header; the message naming what was expected is only built on failure.
fn header_or(c: &mut Cursor<'_>, what: impl FnOnce() -> String) -> R<Header> {
    let at = c.pos();
    c.header("").or_else(|_| {
        c.seek(at);
        c.header(&what())
    })
}

/// Reads a start header of type `ty`.
pub(crate) fn start(c: &mut Cursor<'_>, ty: u16) -> R<Header> {
    let at = c.pos();
    let h = c.header("").or_else(|_| {
        c.seek(at);
        c.header(&format!("{} (0x{ty:02X}) start", object_type_name(ty)))
    })?;
    if h.is_end() || h.object_type != ty {
        c.seek(at);
        return Err(Fail::new(
            at,
            format!(
                "expected {} (0x{ty:02X}) but found {}",
                object_type_name(ty),
                describe(&h)
            ),
        ));
    }
    Ok(h)
}

/// Reads the end header of type `ty`.
pub(crate) fn end(c: &mut Cursor<'_>, ty: u16) -> R<()> {
    let name = object_type_name(ty);
    let at = c.pos();
    let h = c.header("").or_else(|_| {
        c.seek(at);
        c.header(&format!("the end of {name} (0x{ty:02X})"))
    })?;
    if !h.is_end() || h.object_type != ty {
        c.seek(at);
        return Err(Fail::new(
            at,
            format!(
                "expected the end of {name} (0x{ty:02X}) but found {}",
                describe(&h)
            ),
        ));
    }
    Ok(())
}

/// The payload of `h` as a sub-cursor.
pub(crate) fn payload<'a>(c: &mut Cursor<'a>, h: &Header) -> R<Cursor<'a>> {
    c.sub(
        h.length,
        &format!("{} data", object_type_name(h.object_type)),
    )
}

/// Fails when `p` has bytes left.
pub(crate) fn done(p: &Cursor<'_>, ty: u16) -> R<()> {
    if p.is_empty() {
        Ok(())
    } else {
        Err(Fail::new(
            p.pos(),
            format!(
                "{} unexpected bytes at the end of {} (0x{ty:02X}) data",
                p.remaining(),
                object_type_name(ty)
            ),
        ))
    }
}

/// Peeks the next header; at the end of data, fails with "expected `what`".
fn next(c: &Cursor<'_>, what: &str) -> R<Header> {
    c.peek().header(what)
}

/// Skips the data and children of an object whose start header was read.
pub(crate) fn skip_rest(c: &mut Cursor<'_>, h: &Header) -> R<()> {
    payload(c, h)?.rest("data (not decoded here)");
    if !h.compound {
        return Ok(());
    }
    let mut stack = vec![h.object_type];
    while let Some(&top) = stack.last() {
        let at = c.pos();
        let h2 = header_or(c, || {
            format!(
                "a stream object or the end of {} (0x{top:02X})",
                object_type_name(top)
            )
        })?;
        if h2.is_end() {
            if h2.object_type != top {
                return Err(Fail::new(
                    at,
                    format!(
                        "expected the end of {} (0x{top:02X}) but found {}",
                        object_type_name(top),
                        describe(&h2)
                    ),
                ));
            }
            stack.pop();
        } else {
            payload(c, &h2)?.rest("data (not decoded here)");
            if h2.compound {
                if stack.len() >= MAX_DEPTH {
                    return Err(Fail::of(
                        DiagnosticKind::Limit,
                        at,
                        format!("stream objects nest deeper than {MAX_DEPTH} levels"),
                    ));
                }
                stack.push(h2.object_type);
            }
        }
    }
    Ok(())
}

/// Records and skips an object not named at this place.
fn unknown(c: &mut Cursor<'_>, ctx: &mut Ctx, parent: &str) -> R<()> {
    let h = c.header("a stream object")?;
    skip_rest(c, &h)?;
    ctx.unknown.push(UnknownObject {
        offset: h.offset,
        end: c.pos(),
        object_type: h.object_type,
        compound: h.compound,
        parent: parent.to_string(),
    });
    Ok(())
}

/// Raw bytes of the children up to (not including) the end header of `ty`.
fn raw_children(c: &mut Cursor<'_>, ty: u16) -> R<Bytes> {
    let from = c.pos();
    loop {
        let h = next(
            c,
            &format!("a stream object or the end of {}", object_type_name(ty)),
        )?;
        if h.is_end() {
            break;
        }
        let h = c.header("a stream object")?;
        skip_rest(c, &h)?;
    }
    Ok(Bytes(c.between(from, c.pos()).to_vec()))
}

/// Runs `f`; on a non-truncation failure, reports it, rewinds and skips the whole object.
fn recover<'a, T>(
    c: &mut Cursor<'a>,
    ctx: &mut Ctx,
    f: impl FnOnce(&mut Cursor<'a>, &mut Ctx) -> R<T>,
) -> R<Option<T>> {
    let at = c.pos();
    match f(c, ctx) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_eof() => Err(e),
        Err(e) => {
            c.seek(at);
            let skipped = c.header("a stream object").and_then(|h| skip_rest(c, &h));
            if skipped.is_err() {
                return Err(e);
            }
            ctx.fail(e);
            Ok(None)
        }
    }
}

fn single<'a>(c: &mut Cursor<'a>, ty: u16) -> R<Cursor<'a>> {
    let h = start(c, ty)?;
    payload(c, &h)
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------
// Message framing
// ---------------------------------------------------------------------------------------

fn preamble(c: &mut Cursor<'_>) -> R<(u16, u16, u64)> {
    Ok((
        c.u16("protocol version")?,
        c.u16("minimum version")?,
        c.u64("signature")?,
    ))
}

/// Decodes a request; see [`super::decode_request`].
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

fn request_body(c: &mut Cursor<'_>, ctx: &mut Ctx, req: &mut FsshttpbRequest) -> R<()> {
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
    loop {
        let h = next(c, "a request part or the end of the Request (0x40)")?;
        if h.is_end() {
            break;
        }
        match h.object_type {
            USER_AGENT => req.user_agent = recover(c, ctx, user_agent)?,
            REQUEST_HASHING_OPTIONS => {
                let mut p = single(c, h.object_type)?;
                let schema = p.compact("hashing schema")?;
                let flags = p.u8("hashing flags")?;
                done(&p, h.object_type)?;
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

fn flags_object(c: &mut Cursor<'_>, ty: u16, names: &[&str]) -> R<FlagsObject> {
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

fn user_agent(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<UserAgent> {
    let h = start(c, USER_AGENT)?;
    payload(c, &h)?;
    let mut ua = UserAgent {
        offset: h.offset,
        ..UserAgent::default()
    };
    loop {
        let h = next(c, "a user agent part or the end of the UserAgent (0x5D)")?;
        if h.is_end() {
            break;
        }
        match h.object_type {
            USER_AGENT_GUID => {
                let mut p = single(c, h.object_type)?;
                ua.guid = Some(p.guid("user agent guid")?);
                done(&p, h.object_type)?;
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
                let mut p = single(c, h.object_type)?;
                ua.version = Some(p.u32("user agent version")?);
                done(&p, h.object_type)?;
            }
            _ => unknown(c, ctx, "UserAgent")?,
        }
    }
    end(c, USER_AGENT)?;
    Ok(ua)
}

fn sub_request(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<SubRequest> {
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
    loop {
        let h = next(c, "the end of the SubRequest (0x42)")?;
        if h.is_end() {
            break;
        }
        unknown(c, ctx, "SubRequest")?;
    }
    end(c, SUB_REQUEST)?;
    s.end = c.pos();
    Ok(s)
}

fn query_changes(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<QueryChangesRequest> {
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
    loop {
        let h = next(
            c,
            "a query changes part or the end of the SubRequest (0x42)",
        )?;
        if h.is_end() {
            break;
        }
        match h.object_type {
            QUERY_CHANGES_ARGUMENTS => {
                let mut p = single(c, h.object_type)?;
                let flags = p.u8("arguments flags")?;
                let cell_id = p.cell_id("cell id")?;
                done(&p, h.object_type)?;
                q.arguments = Some(QueryChangesArguments {
                    flags,
                    flag_names: flag_names(u64::from(flags), ARGUMENT_FLAGS),
                    cell_id,
                });
            }
            QUERY_CHANGES_DATA_CONSTRAINT => {
                let mut p = single(c, h.object_type)?;
                q.max_data_elements = Some(p.compact("maximum data elements")?);
                done(&p, h.object_type)?;
            }
            QUERY_CHANGES_VERSIONING => {
                let mut p = single(c, h.object_type)?;
                q.versioning = Some(Bytes(p.rest("versioning").to_vec()));
            }
            QUERY_CHANGES_FILTER => q.filters.push(filter(c)?),
            FILTER_FLAGS => {
                let mut p = single(c, h.object_type)?;
                let f = p.u8("filter flags")?;
                done(&p, h.object_type)?;
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

fn filter(c: &mut Cursor<'_>) -> R<QueryChangesFilter> {
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

fn put_changes(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<PutChangesRequest> {
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
    loop {
        let h = next(c, "a put changes part or the end of the SubRequest (0x42)")?;
        if h.is_end() {
            break;
        }
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
                let mut p = single(c, h.object_type)?;
                pc.lock_id = Some(p.guid("lock id")?);
                done(&p, h.object_type)?;
            }
            KNOWLEDGE => pc.client_knowledge = Some(knowledge(c, ctx)?),
            DIAGNOSTIC_INPUT => {
                let mut p = single(c, h.object_type)?;
                pc.diagnostic_input = Some(p.u8("diagnostic request option input")?);
                done(&p, h.object_type)?;
            }
            _ => unknown(c, ctx, "PutChanges")?,
        }
    }
    Ok(pc)
}

// ---------------------------------------------------------------------------------------
// Response
// ---------------------------------------------------------------------------------------

/// Decodes a response; see [`super::decode_response`].
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

fn response_body(
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
    loop {
        let h = next(c, "a response part or the end of the Response (0x62)")?;
        if h.is_end() {
            break;
        }
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

fn sub_response(
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
    loop {
        let h = next(
            c,
            "a sub-response part or the end of the SubResponse (0x41)",
        )?;
        if h.is_end() {
            break;
        }
        match h.object_type {
            ERROR => s.error = Some(response_error(c, ctx, 0)?),
            READ_ACCESS_RESPONSE | WRITE_ACCESS_RESPONSE => {
                let ty = h.object_type;
                let hh = start(c, ty)?;
                payload(c, &hh)?;
                let mut err = None;
                loop {
                    let h2 = next(c, "a response error or the end of the access response")?;
                    if h2.is_end() {
                        break;
                    }
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
                let mut p = single(c, h.object_type)?;
                let storage_index_id = p.exguid("storage index extended guid")?;
                let flags = p.u8("query changes response flags")?;
                done(&p, h.object_type)?;
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
                let mut p = single(c, h.object_type)?;
                let hash_type = p.compact("hash type")?;
                let hash = p.binary_item("file hash")?;
                done(&p, h.object_type)?;
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
fn put_changes_asked(request: Option<&FsshttpbRequest>, request_id: u64) -> Option<(bool, bool)> {
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
fn diagnostic_output(c: &mut Cursor<'_>) -> R<u8> {
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
fn put_changes_response(
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
fn put_changes_fits(p: &Cursor<'_>, applied: bool, added: bool) -> bool {
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

fn response_error(c: &mut Cursor<'_>, ctx: &mut Ctx, depth: usize) -> R<ResponseError> {
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
    loop {
        let h = next(c, "error data or the end of the Error (0x4D)")?;
        if h.is_end() {
            break;
        }
        match h.object_type {
            ERROR_CELL | ERROR_PROTOCOL | ERROR_WIN32 | ERROR_HRESULT => {
                let mut p = single(c, h.object_type)?;
                let code = p.u32("error code")?;
                done(&p, h.object_type)?;
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

// ---------------------------------------------------------------------------------------
// Knowledge
// ---------------------------------------------------------------------------------------

pub(crate) fn knowledge(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<Knowledge> {
    let h = start(c, KNOWLEDGE)?;
    payload(c, &h)?;
    let mut k = Knowledge {
        offset: h.offset,
        entries: Vec::new(),
    };
    loop {
        let h = next(
            c,
            "specialized knowledge or the end of the Knowledge (0x10)",
        )?;
        if h.is_end() {
            break;
        }
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
        loop {
            let h = next(c, "the end of the SpecializedKnowledge (0x44)")?;
            if h.is_end() {
                break;
            }
            unknown(c, ctx, "SpecializedKnowledge")?;
        }
        end(c, SPECIALIZED_KNOWLEDGE)?;
        k.entries.push(entry);
    }
    end(c, KNOWLEDGE)?;
    Ok(k)
}

/// A compound object of type `ty` whose children are decoded by `item`; children that
/// `item` does not name (returns `None` before consuming) are kept as unknown.
fn list<'a, T>(
    c: &mut Cursor<'a>,
    ctx: &mut Ctx,
    ty: u16,
    mut item: impl FnMut(&mut Cursor<'a>, &Header) -> R<Option<T>>,
) -> R<Vec<T>> {
    let h = start(c, ty)?;
    payload(c, &h)?;
    let mut out = Vec::new();
    loop {
        let at = c.pos();
        let h = header_or(c, || {
            format!(
                "an entry or the end of {} (0x{ty:02X})",
                object_type_name(ty)
            )
        })?;
        if h.is_end() {
            c.seek(at);
            break;
        }
        match item(c, &h)? {
            Some(v) => out.push(v),
            None => {
                c.seek(at);
                unknown(c, ctx, object_type_name(ty))?;
            }
        }
    }
    end(c, ty)?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Data elements
// ---------------------------------------------------------------------------------------

/// Decodes a Data Element Package into `pkg` (filled as far as decoding got).
pub(crate) fn package(c: &mut Cursor<'_>, ctx: &mut Ctx, pkg: &mut DataElementPackage) -> R<()> {
    let h = start(c, DATA_ELEMENT_PACKAGE)?;
    pkg.offset = h.offset;
    let mut p = payload(c, &h)?;
    pkg.reserved = if p.is_empty() { 0 } else { p.u8("reserved")? };
    done(&p, DATA_ELEMENT_PACKAGE)?;
    loop {
        let h = next(
            c,
            "a data element or the end of the DataElementPackage (0x15)",
        )?;
        if h.is_end() {
            break;
        }
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

fn data_element(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<DataElement> {
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
fn children<'a, T>(
    c: &mut Cursor<'a>,
    ctx: &mut Ctx,
    parent: &str,
    mut item: impl FnMut(&mut Cursor<'a>, &Header) -> R<Option<T>>,
) -> R<Vec<T>> {
    let mut out = Vec::new();
    loop {
        let at = c.pos();
        let h = header_or(c, || {
            format!("a {parent} part or the end of the DataElement (0x01)")
        })?;
        if h.is_end() {
            c.seek(at);
            break;
        }
        match item(c, &h)? {
            Some(v) => out.push(v),
            None => {
                c.seek(at);
                unknown(c, ctx, parent)?;
            }
        }
    }
    Ok(out)
}

fn object_group(c: &mut Cursor<'_>, ctx: &mut Ctx) -> R<ObjectGroup> {
    let mut g = ObjectGroup::default();
    loop {
        let h = next(
            c,
            "an ObjectGroup part or the end of the DataElement (0x01)",
        )?;
        if h.is_end() {
            break;
        }
        match h.object_type {
            DATA_ELEMENT_HASH => {
                let mut p = single(c, h.object_type)?;
                let scheme = p.compact("hash scheme")?;
                let hash = p.binary_item("data element hash")?;
                done(&p, h.object_type)?;
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
