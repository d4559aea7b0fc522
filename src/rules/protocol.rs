//! Protocol actions: rewrite a cell storage response in MS-FSSHTTP and MS-FSSHTTPB
//! terms (issue 19 item 3).
//!
//! [`apply`] decodes the request and response once (undoing Content-Encoding), picks the
//! SubRequests the rule's filter selects ([`Filter::selected_subrequests`]), changes
//! their SubResponses and encodes the response again with the crate's encoders, so that
//! Content-Length, the MTOM parts and their `xop:Include` references agree and the
//! crate's own decoders read the result without a diagnostic. SubResponses that are not
//! selected keep their decoded content. Pure: no IO.
//!
//! | action | on the wire |
//! |---|---|
//! | `errorcode NAME` | `SubResponse@ErrorCode=NAME`, `HResult` as the server sends it, no `SubResponseData` (MS-FSSHTTP 2.2.4.8, 2.2.5.4) |
//! | `cell-error NAME` | the Cell SubResponse's MS-FSSHTTPB sub-responses fail with Cell Error NAME (MS-FSSHTTPB 2.2.3.2.1), `ErrorCode=CellRequestFail` |
//! | `coauthstatus Alone\|Coauthoring\|None` | `SubResponseData@CoauthStatus` (MS-FSSHTTP 2.2.5.1) |
//! | `locktype None\|SchemaLock\|ExclusiveLock` | `SubResponseData@LockType` (MS-FSSHTTP 2.2.5.9) |
//! | `fault [TEXT]` | HTTP 500 with a SOAP 1.1 Fault (MS-FSSHTTP 2.2.2.3) |

use crate::decode::exchange::{decode_exchange, FsshttpExchange, Meta, Side};
use crate::decode::fsshttp::{
    self, CellPayload, CoauthStatus, EncodeOptions, ErrorCode, HResult, LockType, PayloadOrigin,
    ResponseEnvelope, SoapFault, SubResponse,
};
use crate::decode::fsshttpb::{self as b, CellErrorCode};
use crate::filter::{body_matches_parts, Facts, Filter, SelectedSubRequest};
use crate::model::{Headers, Request, Response};

/// HResult of a failed subrequest: E_FAIL, written unsigned as SharePoint writes it.
pub const E_FAIL: u32 = 0x8000_4005;

/// The `faultstring` of [`ProtocolAction::Fault`] without text: what SharePoint's SOAP
/// services say for a server-side exception.
pub const DEFAULT_FAULTSTRING: &str =
    "Exception of type 'Microsoft.SharePoint.SoapServer.SoapServerException' was thrown.";

/// One protocol action of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolAction {
    /// `errorcode NAME`: the selected SubResponses carry this ErrorCode, its HResult and
    /// no SubResponseData.
    ErrorCode(ErrorCode),
    /// `cell-error NAME`: the selected Cell SubResponses carry this MS-FSSHTTPB error.
    CellError(CellErrorCode),
    /// `coauthstatus NAME`: override `SubResponseData@CoauthStatus`.
    CoauthStatus(CoauthStatus),
    /// `locktype NAME`: override `SubResponseData@LockType`.
    LockType(LockType),
    /// `fault [TEXT]`: answer with a SOAP fault, status 500; TEXT is the `faultstring`.
    Fault(Option<String>),
}

/// `arg` matched case-insensitively against `names`, as the name is spelled there.
fn one_of<'a>(
    what: &str,
    arg: &str,
    names: impl Iterator<Item = &'a str> + Clone,
) -> Result<&'a str, String> {
    if let Some(n) = names.clone().find(|n| n.eq_ignore_ascii_case(arg)) {
        return Ok(n);
    }
    let list: Vec<&str> = names.collect();
    let got = if arg.is_empty() {
        "nothing".to_owned()
    } else {
        format!("{arg:?}")
    };
    Err(format!(
        "{what} expects one of {}; got {got}",
        list.join(", ")
    ))
}

impl ProtocolAction {
    /// The action words this module knows.
    pub const VERBS: &'static [&'static str] = &[
        "errorcode",
        "cell-error",
        "coauthstatus",
        "locktype",
        "fault",
    ];

    /// Parses an action: `verb` is its first word, `arg` the rest (trimmed). `None` when
    /// `verb` is not a protocol verb; `Err` names what was expected.
    pub fn parse(verb: &str, arg: &str) -> Option<Result<Self, String>> {
        let arg = arg.trim();
        let verb = verb.to_ascii_lowercase();
        Some(match verb.as_str() {
            "errorcode" => one_of(
                "errorcode (an MS-FSSHTTP ErrorCode)",
                arg,
                ErrorCode::ALL.iter().copied(),
            )
            .map(|n| Self::ErrorCode(ErrorCode::from(n))),
            "cell-error" => one_of(
                "cell-error (an MS-FSSHTTPB Cell Error)",
                arg,
                CellErrorCode::ALL.iter().map(|c| c.name()),
            )
            .and_then(|n| {
                CellErrorCode::ALL
                    .iter()
                    .find(|c| c.name() == n)
                    .copied()
                    .map(Self::CellError)
                    .ok_or_else(|| format!("unknown Cell Error {n}"))
            }),
            "coauthstatus" => one_of("coauthstatus", arg, CoauthStatus::ALL.iter().copied())
                .map(|n| Self::CoauthStatus(CoauthStatus::from(n))),
            "locktype" => one_of(
                "locktype",
                arg,
                ["None", "SchemaLock", "ExclusiveLock"].into_iter(),
            )
            .map(|n| Self::LockType(LockType::from(n.to_owned()))),
            "fault" => Ok(Self::Fault((!arg.is_empty()).then(|| arg.to_owned()))),
            _ => return None,
        })
    }
}

impl std::fmt::Display for ProtocolAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ErrorCode(c) => write!(f, "errorcode {c}"),
            Self::CellError(c) => write!(f, "cell-error {c}"),
            Self::CoauthStatus(c) => write!(f, "coauthstatus {c}"),
            Self::LockType(c) => write!(f, "locktype {c}"),
            Self::Fault(None) => f.write_str("fault"),
            Self::Fault(Some(t)) => write!(f, "fault {t}"),
        }
    }
}

/// What [`apply`] made of an exchange.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The response to send instead (Content-Length/Content-Type consistent;
    /// Content-Encoding and Transfer-Encoding removed), and how many SubResponses changed
    /// (1 for a fault).
    Rewritten {
        /// HTTP status.
        status: u16,
        /// Header fields.
        headers: Headers,
        /// The body, as sent (no Content-Encoding).
        body: Vec<u8>,
        /// How many SubResponses changed.
        changed: usize,
    },
    /// The action does not fit this exchange: why (for the one warning per rule).
    NotApplicable(String),
}

/// The HResult a server sends with `code`: 0 for Success, else E_FAIL.
pub fn hresult_for(code: &ErrorCode) -> HResult {
    HResult::from_u32(if code.is_success() { 0 } else { E_FAIL })
}

/// Applies `actions` to the SubResponses of the SubRequests `select` selects. Bodies are
/// complete. A `fault` among the actions answers with the fault whatever else is asked.
pub fn apply(
    request: &Request,
    response: &Response,
    select: &Filter,
    actions: &[ProtocolAction],
) -> Outcome {
    let na = |why: &str| Outcome::NotApplicable(why.to_owned());
    if actions.is_empty() {
        return na("no protocol action");
    }
    if request.body.truncated || response.body.truncated {
        return na("the body was not stored whole");
    }
    let req_headers = request.headers.pairs();
    let resp_headers = response.headers.pairs();
    let meta = Meta::request(&request.method, &request.url, &req_headers)
        .with_response(Some(response.status), &resp_headers);
    let d = decode_exchange(&meta, &request.body.bytes, &response.body.bytes);
    let Some(fx) = d.fsshttp() else {
        return na("not a cell storage (MS-FSSHTTP) exchange");
    };
    let Some(env) = fx.response.as_ref() else {
        return na("the response has no SOAP envelope");
    };
    if let Some(x) = d.diagnostics.iter().find(|x| x.side == Side::Response) {
        return Outcome::NotApplicable(format!(
            "the response does not decode cleanly (offset {}: {}); left as sent",
            x.offset, x.message
        ));
    }
    if d.content_encoding
        .iter()
        .any(|e| e.side == Side::Response && !e.complete)
    {
        return na("the response's Content-Encoding could not be undone");
    }
    if env.fault.is_some() {
        return na("the response is already a SOAP fault");
    }
    let facts = Facts::of_parts(Some(request), Some(response), 0, &d);
    let mut body = |re: &regex::bytes::Regex| body_matches_parts(re, Some(request), Some(response));
    let selected = select.selected_subrequests(&facts, fx, &mut body);
    if selected.is_empty() {
        return na("the filter selects no SubRequest of this request");
    }
    let mtom = env.mtom.is_some();
    if let Some(text) = actions.iter().find_map(|a| match a {
        ProtocolAction::Fault(t) => Some(t),
        _ => None,
    }) {
        let fault = ResponseEnvelope {
            fault: Some(SoapFault {
                faultcode: Some("s:Server".to_owned()),
                faultstring: Some(
                    text.clone()
                        .unwrap_or_else(|| DEFAULT_FAULTSTRING.to_owned()),
                ),
                ..SoapFault::default()
            }),
            ..ResponseEnvelope::default()
        };
        let opts = EncodeOptions {
            mtom,
            cell_inline: false,
        };
        let (ct, bytes) = fsshttp::encode_response(&fault, opts);
        return Outcome::Rewritten {
            status: 500,
            headers: rewritten_headers(&response.headers, &ct, bytes.len()),
            body: bytes,
            changed: 1,
        };
    }
    let mut out = env.clone();
    let mut changed = vec![false; out.sub_responses().count()];
    for a in actions {
        let mut fit = false;
        for sel in &selected {
            let Some((n, sr)) = sub_response_mut(&mut out, fx, sel) else {
                continue;
            };
            if change(sr, fx, sel, a) {
                fit = true;
                if let Some(c) = changed.get_mut(n) {
                    *c = true;
                }
            }
        }
        if !fit {
            return Outcome::NotApplicable(format!(
                "{a}: {}",
                match a {
                    ProtocolAction::CellError(_) =>
                        "no selected SubRequest is a Cell SubRequest with an MS-FSSHTTPB response",
                    ProtocolAction::CoauthStatus(_) | ProtocolAction::LockType(_) =>
                        "no selected SubResponse has SubResponseData",
                    _ => "no selected SubRequest has a SubResponse",
                }
            ));
        }
    }
    let opts = EncodeOptions {
        mtom,
        cell_inline: mtom
            && env
                .cell_payloads()
                .all(|(_, p)| p.origin == PayloadOrigin::Inline)
            && env.cell_payloads().next().is_some(),
    };
    let (ct, bytes) = fsshttp::encode_response(&out, opts);
    let (ct, bytes) = keep_boundary(response.headers.get("content-type"), ct, bytes);
    Outcome::Rewritten {
        status: response.status,
        headers: rewritten_headers(&response.headers, &ct, bytes.len()),
        body: bytes,
        changed: changed.iter().filter(|c| **c).count(),
    }
}

/// The SubResponse answering `sel`, with its position among all SubResponses: the
/// Response with the Request's RequestToken (else at the Request's position), then the
/// SubResponse with the SubRequestToken (else at the SubRequest's position).
fn sub_response_mut<'e>(
    env: &'e mut ResponseEnvelope,
    fx: &FsshttpExchange,
    sel: &SelectedSubRequest,
) -> Option<(usize, &'e mut SubResponse)> {
    let request = fx
        .request
        .as_ref()?
        .request_collection
        .as_ref()?
        .requests
        .get(sel.request)?;
    let responses = &mut env.response_collection.as_mut()?.responses;
    let ri = request
        .request_token
        .and_then(|t| responses.iter().position(|r| r.request_token == Some(t)))
        .or_else(|| (sel.request < responses.len()).then_some(sel.request))?;
    let before: usize = responses[..ri].iter().map(|r| r.sub_responses.len()).sum();
    let subs = &mut responses[ri].sub_responses;
    let si = match sel.token {
        Some(t) => subs.iter().position(|s| s.sub_request_token == Some(t))?,
        None => (sel.index < subs.len()).then_some(sel.index)?,
    };
    Some((before + si, &mut subs[si]))
}

/// Applies `a` to one SubResponse; whether it fit.
fn change(
    sr: &mut SubResponse,
    fx: &FsshttpExchange,
    sel: &SelectedSubRequest,
    a: &ProtocolAction,
) -> bool {
    match a {
        ProtocolAction::ErrorCode(code) => {
            sr.error_code = Some(code.clone());
            sr.h_result = Some(hresult_for(code));
            sr.error_message = None;
            sr.sub_response_data = None;
            sr.sub_response_stream_invalid = false;
            sr.get_versions_response = None;
            true
        }
        ProtocolAction::CellError(code) => cell_error(sr, fx, sel, *code),
        ProtocolAction::CoauthStatus(s) => match sr.sub_response_data.as_mut() {
            Some(d) => {
                d.coauth_status = Some(s.clone());
                true
            }
            None => false,
        },
        ProtocolAction::LockType(t) => match sr.sub_response_data.as_mut() {
            Some(d) => {
                d.lock_type = Some(t.clone());
                true
            }
            None => false,
        },
        ProtocolAction::Fault(_) => false,
    }
}

/// Makes the selected MS-FSSHTTPB sub-responses of a Cell SubResponse fail with `code`,
/// framed as the reference server frames its own Cell errors: the sub-response's status
/// bit set and a Cell Error in its Response Error, no sub-response data; the SOAP
/// SubResponse `CellRequestFail` with E_FAIL and the other SubResponseData attributes
/// kept. A response with no sub-responses carries the error for the whole request.
fn cell_error(
    sr: &mut SubResponse,
    fx: &FsshttpExchange,
    sel: &SelectedSubRequest,
    code: CellErrorCode,
) -> bool {
    if sel.token.is_none() || sr.cell_payload().is_none() {
        return false;
    }
    let decoded = fx
        .cells
        .iter()
        .find(|c| c.sub_request_token == sel.token)
        .and_then(|c| c.response.clone());
    let Some(mut fb) = decoded else {
        return false;
    };
    let mut any = false;
    for s in &mut fb.sub_responses {
        if sel.cell_request_ids.is_empty() || sel.cell_request_ids.contains(&s.request_id) {
            s.status = 1;
            s.error = Some(b::cell_error(code));
            s.data = b::SubResponseData::None;
            any = true;
        }
    }
    if !any {
        fb.status = 1;
        fb.error = Some(b::cell_error(code));
    }
    if fb.sub_responses.iter().all(|s| s.status & 1 == 1) {
        // Nothing succeeded: no data elements to deliver.
        fb.data_element_package = None;
    }
    let Some(data) = sr.sub_response_data.as_mut() else {
        return false;
    };
    data.payload = Some(CellPayload {
        bytes: b::encode_response(&fb).into(),
        origin: PayloadOrigin::Inline,
    });
    sr.error_code = Some(ErrorCode::CellRequestFail);
    sr.h_result = Some(HResult::from_u32(E_FAIL));
    sr.error_message = Some("the FSSHTTPB request failed".to_owned());
    true
}

/// The response's header fields for a new body: Content-Type and Content-Length set (in
/// place when present), Content-Encoding and Transfer-Encoding removed.
fn rewritten_headers(original: &Headers, content_type: &str, len: usize) -> Headers {
    let mut out = Vec::with_capacity(original.0.len() + 2);
    let (mut ct, mut cl) = (false, false);
    for (n, v) in &original.0 {
        if n.eq_ignore_ascii_case("content-encoding") || n.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        if n.eq_ignore_ascii_case("content-type") {
            if !ct {
                out.push((n.clone(), content_type.to_owned()));
                ct = true;
            }
        } else if n.eq_ignore_ascii_case("content-length") {
            if !cl {
                out.push((n.clone(), len.to_string()));
                cl = true;
            }
        } else {
            out.push((n.clone(), v.clone()));
        }
    }
    if !ct {
        out.push(("Content-Type".to_owned(), content_type.to_owned()));
    }
    if !cl {
        out.push(("Content-Length".to_owned(), len.to_string()));
    }
    Headers(out)
}

/// An MTOM body re-encoded with the original message's boundary, when that boundary is a
/// safe token that occurs in no part of the new body; else the encoder's own.
fn keep_boundary(original_ct: Option<&str>, ct: String, body: Vec<u8>) -> (String, Vec<u8>) {
    let (Some(old), Some(new)) = (
        original_ct.and_then(crate::decode::mtom::parse_content_type),
        crate::decode::mtom::parse_content_type(&ct),
    ) else {
        return (ct, body);
    };
    let (old, new) = (old.boundary, new.boundary);
    let safe = !old.is_empty()
        && old
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=?".contains(&c));
    let old_delim = format!("--{old}");
    if !safe || old == new || memchr::memmem::find(&body, old_delim.as_bytes()).is_some() {
        return (ct, body);
    }
    let new_delim = format!("--{new}");
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut rest = &body[..];
    while let Some(i) = memchr::memmem::find(rest, new_delim.as_bytes()) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(old_delim.as_bytes());
        rest = &rest[i + new_delim.len()..];
    }
    out.extend_from_slice(rest);
    let ct = ct.replace(
        &format!("boundary=\"{new}\""),
        &format!("boundary=\"{old}\""),
    );
    (ct, out)
}

#[cfg(test)]
mod tests;
