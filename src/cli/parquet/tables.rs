//! The seven tables of `export --parquet`: their columns (named by docs/json.md's rule:
//! the specifications' names, synctap's own annotations lowercase) and how one decoded
//! exchange, one lock span or one finding becomes rows. docs/parquet.md lists them.

use std::collections::HashMap;

use super::columns::{col, key, Column, Fit, Kind, V};
use crate::decode::exchange::{CellExchange, DecodedExchange, FsshttpExchange};
use crate::decode::fsshttp::{self, RequestEnvelope, ResponseEnvelope, SubRequest, SubResponse};
use crate::decode::fsshttpb::{
    request_type_name, DataElementPackage, ErrorDetail, FsshttpbRequest, FsshttpbResponse,
    ResponseError,
};
use crate::decode::spfilesync::SpFileSyncExchange;
use crate::decode::webdav::{DavTimeout, WebDavExchange};
use crate::model::Exchange;
use crate::timeline::{Finding, SpanRow};

use Kind::{Bool, I64List, Str, Time, F64, I32, I64};

/// `exchanges.parquet`: one row per exchange.
pub(super) const EXCHANGES: &[Column] = &[
    key("id", I64),
    col("start", Time),
    col("connection_id", I64),
    col("client_addr", Str),
    col("server", Str),
    col("process", Str),
    col("ClientID", Str),
    col("protocol", Str),
    col("method", Str),
    col("url", Str),
    col("file", Str),
    col("status", I32),
    col("request_bytes", I64),
    col("response_bytes", I64),
    col("connect_ms", F64),
    col("tls_ms", F64),
    col("first_response_byte_ms", F64),
    col("done_ms", F64),
    col("summary", Str),
    col("diagnostics", I64),
    col("error", Str),
    col("modified", Bool),
    col("modified_rules", I64List),
];

/// `subrequests.parquet`: one row per MS-FSSHTTP SubRequest and its SubResponse (joined
/// by SubRequestToken; either may be missing).
pub(super) const SUBREQUESTS: &[Column] = &[
    key("exchange", I64),
    col("start", Time),
    col("file", Str),
    col("ClientID", Str),
    col("Type", Str),
    col("CoauthRequestType", Str),
    col("SchemaLockRequestType", Str),
    col("ExclusiveLockRequestType", Str),
    col("EditorsTableRequestType", Str),
    col("FileOperation", Str),
    col("VersioningRequestType", Str),
    col("Properties", Str),
    col("SubRequestToken", I64),
    col("SchemaLockID", Str),
    col("ExclusiveLockID", Str),
    col("Timeout", I64),
    col("DependsOn", I64),
    col("DependencyType", Str),
    col("BinaryDataSize", I64),
    col("ErrorCode", Str),
    col("ErrorMessage", Str),
    col("HResult", I64),
    col("HResult_hex", Str),
    col("LockType", Str),
    col("CoauthStatus", Str),
    col("TransitionID", Str),
    col("ExclusiveLockReturnReason", Str),
    col("AmIAlone", Bool),
    col("Etag", Str),
];

/// `fsshttpb.parquet`: one row per MS-FSSHTTPB sub-request and its sub-response (joined
/// by Request ID) of a Cell subrequest.
pub(super) const FSSHTTPB: &[Column] = &[
    key("exchange", I64),
    col("start", Time),
    col("file", Str),
    col("ClientID", Str),
    col("SubRequestToken", I64),
    col("RequestID", I64),
    col("RequestType", Str),
    col("RequestTypeNumber", I64),
    col("Priority", I64),
    col("Status", I32),
    col("CellError", Str),
    col("CellErrorNumber", I64),
    col("ProtocolError", Str),
    col("ProtocolErrorNumber", I64),
    col("DataElements", I64),
    col("DataElementPackageBytes", I64),
    col("request_bytes", I64),
    col("response_bytes", I64),
];

/// `webdav.parquet`: one row per WebDAV exchange.
pub(super) const WEBDAV: &[Column] = &[
    key("exchange", I64),
    col("start", Time),
    col("method", Str),
    col("url", Str),
    col("kind", Str),
    col("status", I32),
    col("Depth", Str),
    col("Timeout", I64),
    col("Lock-Token", Str),
    col("Destination", Str),
    col("Overwrite", Str),
    col("ETag", Str),
    col("resourcetag", Str),
    col("repl-uid", Str),
    col("request_collblob", Str),
    col("collblob", Str),
    col("changes", I64),
    col("X-MSDAVEXT_ERROR", I64),
    col("X-MSDAVEXT_ERROR_text", Str),
    col("diagnostics", I64),
];

/// `spfilesync.parquet`: one row per SPFileSync exchange.
pub(super) const SPFILESYNC: &[Column] = &[
    key("exchange", I64),
    col("start", Time),
    col("method", Str),
    col("url", Str),
    col("operation", Str),
    col("listId", Str),
    col("resource", Str),
    col("SyncToken", Str),
    col("status", I32),
    col("X-SyncToken", Str),
    col("X-HasMoreData", Bool),
    col("items", I64),
    col("diagnostics", I64),
];

/// `spans.parquet`: one row per timeline lock span.
pub(super) const SPANS: &[Column] = &[
    col("file", Str),
    col("key", Str),
    col("kind", Str),
    col("holder", Str),
    col("ClientID", Str),
    col("SchemaLockID", Str),
    col("start", Time),
    col("end", Time),
    col("ended", Str),
    col("granted_by", Str),
    col("start_seen", Bool),
    col("opened_by", I64),
    col("closed_by", I64),
    col("refreshes", I64),
    col("Timeout", I64),
    col("expires", Time),
    col("converted_from", Str),
    col("converted_to", Str),
];

/// `findings.parquet`: one row per finding.
pub(super) const FINDINGS: &[Column] = &[
    col("severity", Str),
    col("rule", Str),
    col("exchange", I64),
    col("exchanges", I64List),
    col("sentence", Str),
    col("spec", Str),
];

/// What every row of one exchange shares.
pub(super) struct Context<'a> {
    pub(super) id: V<'static>,
    pub(super) start: V<'static>,
    pub(super) x: &'a Exchange,
    pub(super) d: &'a DecodedExchange,
}

impl<'a> Context<'a> {
    pub(super) fn new(x: &'a Exchange, d: &'a DecodedExchange, fit: &mut Fit) -> Self {
        Self {
            id: fit.int("exchanges.id", x.id),
            start: fit.time("exchanges.start", &x.timings.start),
            x,
            d,
        }
    }

    fn method(&self) -> Option<&'a str> {
        self.x.request.as_ref().map(|r| r.method.as_str())
    }
}

fn count(n: usize) -> V<'static> {
    V::I64(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The row of `exchanges.parquet`; `client_id` is the sender's ClientID (its own, else
/// its connection's, see [`super::Senders`]).
pub(super) fn exchange_row(
    c: &Context<'_>,
    client_id: Option<&str>,
    fit: &mut Fit,
) -> Vec<V<'static>> {
    let x = c.x;
    let t = &x.timings;
    vec![
        c.id.clone(),
        c.start.clone(),
        fit.int("exchanges.connection_id", x.connection_id),
        V::Text(x.client_addr.clone()),
        V::Text(x.server.clone()),
        x.imported
            .as_ref()
            .and_then(|i| i.process.clone())
            .map_or(V::Null, V::Text),
        client_id.map_or(V::Null, |s| V::Text(s.to_owned())),
        V::Str(c.d.protocol().name()),
        c.method().map_or(V::Null, |s| V::Text(s.to_owned())),
        x.request
            .as_ref()
            .map_or(V::Null, |r| V::Text(r.url.clone())),
        x.request
            .as_ref()
            .map_or(V::Null, |r| V::Text(c.d.file_url(&r.url).to_owned())),
        x.response
            .as_ref()
            .map_or(V::Null, |r| V::I64(i64::from(r.status))),
        fit.opt_int(
            "exchanges.request_bytes",
            x.request.as_ref().map(|r| r.body.len),
        ),
        fit.opt_int(
            "exchanges.response_bytes",
            x.response.as_ref().map(|r| r.body.len),
        ),
        t.connect_ms.into(),
        t.tls_ms.into(),
        t.first_response_byte_ms.into(),
        t.done_ms.into(),
        V::Text(c.d.summary.join("; ")),
        count(c.d.diagnostics.len()),
        x.error.clone().map_or(V::Null, V::Text),
        V::Bool(x.modified.is_some()),
        x.modified.as_ref().map_or(V::Null, |m| {
            V::List(
                m.rules
                    .iter()
                    .map(|r| i64::try_from(r.index).unwrap_or(i64::MAX))
                    .collect(),
            )
        }),
    ]
}

/// The rows of `subrequests.parquet` for one cell storage exchange. Attribute values
/// that did not parse (a diagnostic of the decoder) are nulls, counted under their column.
pub(super) fn subrequest_rows<'a>(
    c: &Context<'a>,
    f: &'a FsshttpExchange,
    fit: &mut Fit,
) -> Vec<Vec<V<'a>>> {
    let diags = f
        .request
        .iter()
        .flat_map(|r| r.diagnostics.iter())
        .chain(f.response.iter().flat_map(|r| r.diagnostics.iter()));
    for d in diags {
        if let Some(name) = fsshttp::invalid_attribute(d) {
            if SUBREQUESTS.iter().any(|c| c.name == name) {
                fit.null(
                    &format!("subrequests.{name}"),
                    "not a valid value (see the exchange's diagnostics)",
                );
            }
        }
    }
    let mut responses: Vec<(Option<&'a str>, &'a SubResponse)> = f
        .response
        .iter()
        .flat_map(ResponseEnvelope::sub_responses)
        .map(|(r, s)| (r.url.as_deref(), s))
        .collect();
    let mut rows = Vec::new();
    for (req, sub) in f.request.iter().flat_map(RequestEnvelope::sub_requests) {
        let answer = sub.sub_request_token.and_then(|t| {
            let i = responses
                .iter()
                .position(|(_, r)| r.sub_request_token == Some(t))?;
            Some(responses.remove(i).1)
        });
        rows.push(subrequest_row(
            c,
            req.url.as_deref(),
            Some(sub),
            answer,
            fit,
        ));
    }
    for (url, r) in responses {
        rows.push(subrequest_row(c, url, None, Some(r), fit));
    }
    rows
}

fn subrequest_row<'a>(
    c: &Context<'a>,
    file: Option<&'a str>,
    q: Option<&'a SubRequest>,
    r: Option<&'a SubResponse>,
    fit: &mut Fit,
) -> Vec<V<'a>> {
    let qd = q.and_then(|q| q.sub_request_data.as_ref());
    let rd = r.and_then(|r| r.sub_response_data.as_ref());
    let token = q
        .and_then(|q| q.sub_request_token)
        .or(r.and_then(|r| r.sub_request_token));
    let ty = q
        .and_then(|q| q.type_.as_ref())
        .or(r.and_then(|r| r.request_type.as_ref()));
    let hr = r.and_then(|r| r.h_result.as_ref());
    vec![
        c.id.clone(),
        c.start.clone(),
        file.into(),
        qd.and_then(|d| d.client_id.as_deref()).into(),
        ty.map(|t| t.as_str()).into(),
        qd.and_then(|d| d.coauth_request_type.as_ref().map(|v| v.as_str()))
            .into(),
        qd.and_then(|d| d.schema_lock_request_type.as_ref().map(|v| v.as_str()))
            .into(),
        qd.and_then(|d| d.exclusive_lock_request_type.as_ref().map(|v| v.as_str()))
            .into(),
        qd.and_then(|d| d.editors_table_request_type.as_ref().map(|v| v.as_str()))
            .into(),
        qd.and_then(|d| d.file_operation.as_ref().map(|v| v.as_str()))
            .into(),
        qd.and_then(|d| d.versioning_request_type.as_ref().map(|v| v.as_str()))
            .into(),
        qd.and_then(|d| d.properties.as_ref().map(|v| v.as_str()))
            .into(),
        fit.opt_int("subrequests.SubRequestToken", token),
        qd.and_then(|d| d.schema_lock_id.as_deref()).into(),
        qd.and_then(|d| d.exclusive_lock_id.as_deref()).into(),
        qd.and_then(|d| d.timeout).into(),
        fit.opt_int("subrequests.DependsOn", q.and_then(|q| q.depends_on)),
        q.and_then(|q| q.dependency_type.as_ref().map(|v| v.as_str()))
            .into(),
        qd.and_then(|d| d.binary_data_size).into(),
        r.and_then(|r| r.error_code.as_ref().map(|v| v.as_str()))
            .into(),
        r.and_then(|r| r.error_message.as_deref()).into(),
        hr.map(|h| i64::from(h.value)).into(),
        hr.map(|h| h.hex.as_str()).into(),
        rd.and_then(|d| d.lock_type.as_ref().map(|v| v.as_str()))
            .into(),
        rd.and_then(|d| d.coauth_status.as_ref().map(|v| v.as_str()))
            .into(),
        rd.and_then(|d| d.transition_id.as_deref())
            .or(qd.and_then(|d| d.transition_id.as_deref()))
            .into(),
        rd.and_then(|d| d.exclusive_lock_return_reason.as_ref().map(|v| v.as_str()))
            .into(),
        rd.and_then(|d| d.am_i_alone).into(),
        rd.and_then(|d| d.etag.as_deref())
            .or(qd.and_then(|d| d.etag.as_deref()))
            .into(),
    ]
}

/// The rows of `fsshttpb.parquet` for one cell storage exchange.
pub(super) fn fsshttpb_rows<'a>(
    c: &Context<'a>,
    f: &'a FsshttpExchange,
    fit: &mut Fit,
) -> Vec<Vec<V<'a>>> {
    // The SOAP side of each Cell subrequest, by SubRequestToken.
    let mut soap: HashMap<u64, CellSoap<'a>> = HashMap::new();
    for (req, sub) in f.request.iter().flat_map(RequestEnvelope::sub_requests) {
        if let Some(t) = sub.sub_request_token {
            let e = soap.entry(t).or_default();
            e.file = req.url.as_deref();
            e.client_id = sub
                .sub_request_data
                .as_ref()
                .and_then(|d| d.client_id.as_deref());
            e.request_bytes = sub.cell_payload().map(|p| p.bytes.len());
        }
    }
    for (t, p) in f.response.iter().flat_map(ResponseEnvelope::cell_payloads) {
        if let Some(t) = t {
            soap.entry(t).or_default().response_bytes = Some(p.bytes.len());
        }
    }
    let mut rows = Vec::new();
    for cell in &f.cells {
        let s = cell
            .sub_request_token
            .and_then(|t| soap.get(&t).copied())
            .unwrap_or_default();
        for (q, r) in cell_pairs(cell) {
            let request_type = q.map(|q| q.request_type).or(r.map(|r| r.request_type));
            // Put Changes carries its data elements in the request, Query Changes gets
            // them in the response.
            let package = if request_type == Some(5) {
                cell.request
                    .as_ref()
                    .and_then(|m| m.data_element_package.as_ref())
            } else {
                cell.response
                    .as_ref()
                    .and_then(|m| m.data_element_package.as_ref())
            };
            let error = r
                .and_then(|r| r.error.as_ref())
                .or(cell.response.as_ref().and_then(|m| m.error.as_ref()));
            let cell_error = error.and_then(|e| first_error(e, true));
            let protocol_error = error.and_then(|e| first_error(e, false));
            rows.push(vec![
                c.id.clone(),
                c.start.clone(),
                s.file.into(),
                s.client_id.into(),
                fit.opt_int("fsshttpb.SubRequestToken", cell.sub_request_token),
                fit.opt_int(
                    "fsshttpb.RequestID",
                    q.map(|q| q.request_id).or(r.map(|r| r.request_id)),
                ),
                request_type.map(request_type_name).into(),
                fit.opt_int("fsshttpb.RequestTypeNumber", request_type),
                fit.opt_int("fsshttpb.Priority", q.map(|q| q.priority)),
                r.map(|r| i64::from(r.status)).into(),
                cell_error.map(|e| e.0).into(),
                cell_error.map(|e| i64::from(e.1)).into(),
                protocol_error.map(|e| e.0).into(),
                protocol_error.map(|e| i64::from(e.1)).into(),
                package.map_or(V::Null, |p| count(p.elements.len())),
                package.map_or(V::Null, package_bytes),
                s.request_bytes.map_or(V::Null, count),
                s.response_bytes.map_or(V::Null, count),
            ]);
        }
    }
    rows
}

/// The SOAP side of a Cell subrequest: its file, ClientID and payload sizes.
#[derive(Debug, Clone, Copy, Default)]
struct CellSoap<'a> {
    file: Option<&'a str>,
    client_id: Option<&'a str>,
    request_bytes: Option<usize>,
    response_bytes: Option<usize>,
}

type SubPair<'a> = (
    Option<&'a crate::decode::fsshttpb::SubRequest>,
    Option<&'a crate::decode::fsshttpb::SubResponse>,
);

/// The sub-requests of a Cell message with their sub-responses (by Request ID), then the
/// sub-responses without a sub-request.
fn cell_pairs(cell: &CellExchange) -> Vec<SubPair<'_>> {
    let qs = cell
        .request
        .as_ref()
        .map_or(&[][..], |m: &FsshttpbRequest| &m.sub_requests[..]);
    let mut rs: Vec<_> = cell
        .response
        .as_ref()
        .map_or(&[][..], |m: &FsshttpbResponse| &m.sub_responses[..])
        .iter()
        .collect();
    let mut out = Vec::with_capacity(qs.len().max(rs.len()));
    for q in qs {
        let r = rs
            .iter()
            .position(|r| r.request_id == q.request_id)
            .map(|i| rs.remove(i));
        out.push((Some(q), r));
    }
    out.extend(rs.into_iter().map(|r| (None, Some(r))));
    out
}

/// The name and code of the first Cell Error (`cell`) or Protocol Error in an error chain.
fn first_error(e: &ResponseError, cell: bool) -> Option<(&str, u32)> {
    e.chain().find_map(|e| match &e.detail {
        ErrorDetail::CellError { code, name } if cell => Some((name.as_str(), *code)),
        ErrorDetail::ProtocolError { code, name } if !cell => Some((name.as_str(), *code)),
        _ => None,
    })
}

fn package_bytes(p: &DataElementPackage) -> V<'static> {
    count(p.end.saturating_sub(p.offset))
}

/// The row of `webdav.parquet`.
pub(super) fn webdav_row<'a>(c: &Context<'a>, w: &'a WebDavExchange) -> Vec<V<'a>> {
    let q = &w.request.headers;
    let r = w.response.as_ref().map(|r| &r.headers);
    // The granted Timeout when the server answered one, else the first the client asked.
    let timeout = r
        .map(|h| &h.timeout[..])
        .filter(|t| !t.is_empty())
        .unwrap_or(&q.timeout)
        .iter()
        .find_map(|t| match t {
            DavTimeout::Second(s) => i64::try_from(*s).ok(),
            _ => None,
        });
    let either = |f: fn(&crate::decode::webdav::DavHeaders) -> Option<&String>| {
        r.and_then(f).or(f(q)).map(String::as_str)
    };
    let err = r.and_then(|h| h.x_msdavext_error.as_ref());
    let diagnostics =
        w.request.diagnostics.len() + w.response.as_ref().map_or(0, |r| r.diagnostics.len());
    vec![
        c.id.clone(),
        c.start.clone(),
        V::Str(&w.method),
        V::Str(&w.url),
        V::Text(format!("{:?}", w.kind)),
        w.response
            .as_ref()
            .and_then(|r| r.status)
            .map(i64::from)
            .into(),
        q.depth.as_deref().into(),
        timeout.into(),
        either(|h| h.lock_token.as_ref()).into(),
        q.destination.as_deref().into(),
        q.overwrite.as_deref().into(),
        either(|h| h.etag.as_ref()).into(),
        r.and_then(|h| h.resourcetag.as_deref()).into(),
        r.and_then(|h| h.repl_uid.as_deref()).into(),
        w.manifest
            .as_ref()
            .and_then(|m| m.request_collblob.as_deref())
            .into(),
        w.manifest
            .as_ref()
            .and_then(|m| m.collblob.as_deref())
            .into(),
        w.manifest
            .as_ref()
            .map_or(V::Null, |m| count(m.changes.len())),
        err.and_then(|e| e.code).into(),
        err.map(|e| e.text.as_str()).into(),
        count(diagnostics),
    ]
}

/// The row of `spfilesync.parquet`.
pub(super) fn spfilesync_row<'a>(c: &Context<'a>, s: &'a SpFileSyncExchange) -> Vec<V<'a>> {
    use crate::decode::spfilesync::SyncBody;
    let op = s.operation.as_ref();
    let r = s.response.as_ref();
    let items = r.and_then(|r| match &r.body {
        Some(SyncBody::Items(v)) => Some(v.len()),
        Some(SyncBody::Folder(i) | SyncBody::Document(i)) => Some(i.items.len()),
        _ => None,
    });
    let diagnostics = s.request.diagnostics.len() + r.map_or(0, |r| r.diagnostics.len());
    vec![
        c.id.clone(),
        c.start.clone(),
        V::Str(&s.method),
        V::Str(&s.url),
        op.map_or(V::Null, |o| V::Text(format!("{:?}", o.kind))),
        op.and_then(|o| o.list_id.as_deref()).into(),
        op.and_then(|o| o.resource.as_deref()).into(),
        op.and_then(|o| o.param("SyncToken")).into(),
        r.and_then(|r| r.status).map(i64::from).into(),
        r.and_then(|r| r.sync_token()).into(),
        r.and_then(|r| r.has_more_data()).into(),
        items.map_or(V::Null, count),
        count(diagnostics),
    ]
}

fn ms_time(ms: i64) -> V<'static> {
    V::Time(ms.saturating_mul(1000))
}

/// The row of `spans.parquet`.
pub(super) fn span_row<'a>(s: &SpanRow<'a>, fit: &mut Fit) -> Vec<V<'a>> {
    let span = &s.span;
    let lane = |l: &Option<crate::timeline::LaneRef>| {
        l.as_ref().map_or(V::Null, |l| {
            V::Text(format!("{} {}", l.kind.name(), l.holder))
        })
    };
    vec![
        V::Str(s.url),
        V::Str(s.key),
        V::Str(s.kind.name()),
        V::Str(s.holder),
        s.client_id.into(),
        span.schema_lock_id.clone().map_or(V::Null, V::Text),
        ms_time(span.start_ms),
        span.end_ms.map_or(V::Null, ms_time),
        V::Str(span.ended.word()),
        V::Text(span.granted_by.clone()),
        V::Bool(span.start_seen),
        fit.int("spans.opened_by", span.opened_by),
        fit.opt_int("spans.closed_by", span.closed_by),
        fit.int("spans.refreshes", span.refreshes),
        span.timeout.into(),
        span.expires_ms.map_or(V::Null, ms_time),
        lane(&span.converted_from),
        lane(&span.converted_to),
    ]
}

/// The row of `findings.parquet`.
pub(super) fn finding_row<'a>(f: &'a Finding, fit: &mut Fit) -> Vec<V<'a>> {
    let mut ids = Vec::with_capacity(f.exchanges.len());
    for id in &f.exchanges {
        if let V::I64(n) = fit.int("findings.exchanges", *id) {
            ids.push(n);
        }
    }
    vec![
        V::Text(format!("{:?}", f.severity)),
        V::Str(f.rule.as_str()),
        ids.first().copied().into(),
        V::List(ids),
        V::Str(&f.sentence),
        V::Str(&f.spec),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/parquet.md names every column of every table.
    #[test]
    fn docs_list_every_column() {
        let doc = include_str!("../../../docs/parquet.md");
        for (table, columns) in [
            ("exchanges", EXCHANGES),
            ("subrequests", SUBREQUESTS),
            ("fsshttpb", FSSHTTPB),
            ("webdav", WEBDAV),
            ("spfilesync", SPFILESYNC),
            ("spans", SPANS),
            ("findings", FINDINGS),
        ] {
            assert!(doc.contains(&format!("`{table}.parquet`")), "{table}");
            for c in columns {
                assert!(
                    doc.contains(&format!("`{}`", c.name)),
                    "docs/parquet.md does not list {table}.{}",
                    c.name
                );
            }
        }
    }
}
